import { describe, expect, test } from 'bun:test';
import { createReplayBuffer } from '../kv-events/replay-buffer.ts';

const payload = (n: number) => new Uint8Array([n]);

describe('replay buffer', () => {
  test('keeps the last `capacity` batches, oldest first, and serves those from a sequence number on', () => {
    const b = createReplayBuffer(3);
    for (let seq = 0; seq < 5; seq++) b.push(seq, payload(seq));
    expect(b.size).toBe(3);
    expect(b.from(0).map(([seq, p]) => [seq, p[0]])).toEqual([[2, 2], [3, 3], [4, 4]]);
    expect(b.from(4).map(([seq]) => seq)).toEqual([4]);
    expect(b.from(5)).toEqual([]);
    expect(b.from(Number.POSITIVE_INFINITY)).toEqual([]);
  });

  test('capacity 0 keeps nothing; a bad capacity is refused', () => {
    const b = createReplayBuffer(0);
    b.push(0, payload(0));
    expect(b.from(0)).toEqual([]);
    expect(() => createReplayBuffer(-1)).toThrow(/capacity/);
  });
});
