import { describe, expect, test } from 'bun:test';
import { Unpackr } from 'msgpackr';
import { createMsgpackWriter, type MsgpackWriter } from '../kv-events/msgpack-writer.ts';

const hex = (write: (w: MsgpackWriter) => void): string => {
  const w = createMsgpackWriter(4);
  write(w);
  return Buffer.from(w.take()).toString('hex');
};

describe('msgpack writer', () => {
  test('integers take the smallest unsigned form, as msgspec writes them; hashes up to 2^64 − 1 exactly', () => {
    expect(hex((w) => w.uint(0))).toBe('00');
    expect(hex((w) => w.uint(127))).toBe('7f');
    expect(hex((w) => w.uint(128))).toBe('cc80');
    expect(hex((w) => w.uint(256))).toBe('cd0100');
    expect(hex((w) => w.uint(65_536))).toBe('ce00010000');
    expect(hex((w) => w.uint(2 ** 32))).toBe('cf0000000100000000');
    expect(hex((w) => w.uint64(5n))).toBe('05');
    expect(hex((w) => w.uint64(2n ** 53n + 1n))).toBe('cf0020000000000001');
    expect(hex((w) => w.uint64(2n ** 64n - 1n))).toBe('cfffffffffffffffff');
    expect(() => hex((w) => w.uint64(2n ** 64n))).toThrow(/out of range/);
    expect(() => hex((w) => w.uint(-1))).toThrow(/non-negative/);
  });

  test('a float is always float64, a whole-second timestamp included (Python sends a float)', () => {
    expect(hex((w) => w.float64(3))).toBe('cb4008000000000000');
    expect(hex((w) => w.float64(1789095808.25))).toBe('cb41daa8dbe0100000');
  });

  test('strings, bytes, arrays and maps use fix, 8-, 16- and 32-bit headers', () => {
    expect(hex((w) => w.str('GPU'))).toBe('a3475055');
    expect(hex((w) => w.str('x'.repeat(32)))).toBe(`d920${'78'.repeat(32)}`);
    expect(hex((w) => w.str('é'))).toBe('a2c3a9');
    expect(hex((w) => w.bin(new Uint8Array([1, 2])))).toBe('c4020102');
    expect(hex((w) => w.bin(new Uint8Array(300))).slice(0, 6)).toBe('c5012c');
    expect(hex((w) => w.array(15))).toBe('9f');
    expect(hex((w) => w.array(16))).toBe('dc0010');
    expect(hex((w) => w.array(70_000))).toBe('dd00011170');
    expect(hex((w) => w.map(1))).toBe('81');
    expect(hex((w) => w.map(16))).toBe('de0010');
    expect(hex((w) => w.nil())).toBe('c0');
  });

  test('a document decodes back to what was written, across buffer growth and after take()', () => {
    const w = createMsgpackWriter(8);
    w.str('warm-up');
    w.take();
    const tokens = Array.from({ length: 5000 }, (_, i) => (i * 7919) % 128_256);
    w.array(4);
    w.float64(1.5);
    w.map(2);
    w.str('type');
    w.str('BlockStored');
    w.str('token_ids');
    w.array(tokens.length);
    for (const t of tokens) w.uint(t);
    w.uint64(15760518052499183552n);
    w.nil();
    const decoded = new Unpackr({ int64AsType: 'bigint', mapsAsObjects: true }).unpack(w.take());
    expect(decoded).toEqual([1.5, { type: 'BlockStored', token_ids: tokens }, 15760518052499183552n, null]);
  });
});
