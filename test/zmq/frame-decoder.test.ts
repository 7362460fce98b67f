// Greeting and frame codec: round trips under every TCP chunking, and strict rejection of malformed input.
import { describe, expect, test } from 'bun:test';
import { createFrameDecoder, type DecodedEvent } from '../../src/zmq/frame-decoder.ts';
import {
  encodeCommand,
  encodeMessage,
  encodeProperties,
  FLAG_COMMAND,
  FLAG_LONG,
  FLAG_MORE,
  parseCommand,
  parseProperties,
} from '../../src/zmq/frames.ts';
import { encodeGreeting, GREETING_SIZE, negotiateMinor } from '../../src/zmq/greeting.ts';

function pattern(size: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i + seed) % 256);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** A tiny seeded PRNG so chunk boundaries are random but reproducible. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function decodeInChunks(bytes: Uint8Array, sizes: () => number, maxFrame = 1 << 24) {
  const decoder = createFrameDecoder(maxFrame);
  const events: DecodedEvent[] = [];
  for (let at = 0; at < bytes.byteLength; ) {
    const size = Math.max(1, Math.min(bytes.byteLength - at, sizes()));
    const result = decoder.push(bytes.subarray(at, at + size));
    events.push(...result.events);
    if (!result.ok) return { events, error: result.error };
    at += size;
  }
  return { events, error: undefined };
}

const frames = [0, 1, 254, 255, 256, 300, 70_000].map((size, i) => pattern(size, i));
const stream = concat(encodeGreeting(1), encodeCommand('READY', new Uint8Array(3)), encodeMessage(frames));

describe('greeting', () => {
  test('is 64 bytes: signature, version 3.x, NULL mechanism, as-server 0, zero filler', () => {
    const greeting = encodeGreeting(1);
    expect(greeting.byteLength).toBe(GREETING_SIZE);
    expect(greeting[0]).toBe(0xff);
    expect(greeting[9]).toBe(0x7f);
    expect([greeting[10], greeting[11]]).toEqual([3, 1]);
    expect(new TextDecoder().decode(greeting.subarray(12, 16))).toBe('NULL');
    expect(greeting.subarray(16).every((b) => b === 0)).toBe(true);
    expect(encodeGreeting(0)[11]).toBe(0);
  });

  test('negotiates the lower minor version, and keeps ours for a later major', () => {
    const peer = (major: number, minor: number) => ({ major, minor, mechanism: 'NULL', asServer: false });
    expect(negotiateMinor(1, peer(3, 0))).toBe(0);
    expect(negotiateMinor(1, peer(3, 1))).toBe(1);
    expect(negotiateMinor(0, peer(3, 1))).toBe(0);
    expect(negotiateMinor(1, peer(4, 0))).toBe(1);
  });
});

describe('frame decoder', () => {
  test('decodes the same events whatever the chunking (1 byte, random, all at once)', () => {
    const whole = decodeInChunks(stream, () => stream.byteLength);
    expect(whole.error).toBeUndefined();
    expect(whole.events.map((e) => e.kind)).toEqual(['greeting', ...Array(1 + frames.length).fill('frame')]);
    const bodies = whole.events.slice(2).map((e) => (e.kind === 'frame' ? e.body : undefined));
    expect(bodies).toEqual(frames);
    const mores = whole.events.slice(2).map((e) => e.kind === 'frame' && e.more);
    expect(mores).toEqual([true, true, true, true, true, true, false]);

    expect(decodeInChunks(stream, () => 1).events).toEqual(whole.events);
    for (const seed of [1, 2, 3, 4, 5]) {
      const random = seeded(seed);
      expect(decodeInChunks(stream, () => Math.floor(random() * 300)).events).toEqual(whole.events);
    }
  });

  test('uses the 8-byte long size above 255 bytes and the 1-byte size up to 255', () => {
    expect(encodeMessage([pattern(255, 0)]).subarray(0, 2)).toEqual(new Uint8Array([0, 255]));
    const long = encodeMessage([pattern(256, 0)]);
    expect(long[0]).toBe(FLAG_LONG);
    expect(long.subarray(1, 9)).toEqual(new Uint8Array([0, 0, 0, 0, 0, 0, 1, 0]));
  });

  test('accepts a long-size header for a small frame, as the spec allows', () => {
    const frame = concat(new Uint8Array([FLAG_LONG, 0, 0, 0, 0, 0, 0, 0, 2]), new Uint8Array([7, 8]));
    const result = decodeInChunks(concat(encodeGreeting(1), frame), () => 5);
    expect(result.error).toBeUndefined();
    expect(result.events[1]).toEqual({ kind: 'frame', command: false, more: false, body: new Uint8Array([7, 8]) });
  });

  test('rejects a non-ZMTP peer on its first byte', () => {
    const decoder = createFrameDecoder(1024);
    const result = decoder.push(new TextEncoder().encode('G'));
    expect(result.ok).toBe(false);
    // The decoder stays dead.
    expect(decoder.push(encodeGreeting(1)).ok).toBe(false);
  });

  test.each([
    ['an HTTP request', new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), /signature/],
    ['a bad signature end', concat(new Uint8Array([0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7e])), /signature/],
    ['a ZMTP 2.0 greeting', concat(new Uint8Array([0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 1, 5])), /revision 1 is not supported/],
    ['the CURVE mechanism', (() => { const g = encodeGreeting(1); g.set(new TextEncoder().encode('CURVE'), 12); return g; })(), /CURVE is not supported/],
    ['junk after the mechanism name', (() => { const g = encodeGreeting(1); g[20] = 0x41; return g; })(), /mechanism/],
    ['reserved flag bits', concat(encodeGreeting(1), new Uint8Array([0x80, 0])), /reserved/],
    ['a command frame with MORE', concat(encodeGreeting(1), new Uint8Array([FLAG_COMMAND | FLAG_MORE, 1, 1])), /MORE/],
    ['an empty command frame', concat(encodeGreeting(1), new Uint8Array([FLAG_COMMAND, 0])), /empty command/],
    ['an oversized frame, before its body arrives', concat(encodeGreeting(1), new Uint8Array([FLAG_LONG, 0, 0, 0, 0, 0, 0x10, 0, 0])), /exceeds/],
    ['a 2^63 frame size', concat(encodeGreeting(1), new Uint8Array([FLAG_LONG, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), /exceeds/],
  ])('rejects %s', (_name, bytes, message) => {
    const result = decodeInChunks(bytes, () => 3, 1024);
    expect(result.error).toMatch(message);
  });
});

describe('commands and metadata', () => {
  test('round-trip READY properties, case-insensitive names', () => {
    const data = encodeProperties([
      ['Socket-Type', new TextEncoder().encode('DEALER')],
      ['Identity', new TextEncoder().encode('10.0.0.1:21001')],
    ]);
    const parsed = parseProperties(data);
    expect(parsed.ok && new TextDecoder().decode(parsed.properties.get('socket-type'))).toBe('DEALER');
    expect(parsed.ok && new TextDecoder().decode(parsed.properties.get('identity'))).toBe('10.0.0.1:21001');
  });

  test('rejects truncated metadata and malformed command names', () => {
    const data = encodeProperties([['Socket-Type', new TextEncoder().encode('DEALER')]]);
    expect(parseProperties(data.subarray(0, data.byteLength - 1)).ok).toBe(false);
    expect(parseProperties(new Uint8Array([0])).ok).toBe(false);
    expect(parseCommand(new Uint8Array([5, 0x52])).ok).toBe(false);
    expect(parseCommand(new Uint8Array([1, 0x00])).ok).toBe(false);
    expect(parseCommand(new Uint8Array([0])).ok).toBe(false);
  });
});
