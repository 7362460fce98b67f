// The last `capacity` published batches, oldest first: what vLLM's replay socket serves (a deque with maxlen
// buffer_steps in vllm/distributed/kv_events.py), as a fixed ring so memory stays bounded.

export interface ReplayBuffer {
  push(seq: number, payload: Uint8Array): void;
  /** Buffered batches with a sequence number ≥ `start`, oldest first. */
  from(start: number): Array<readonly [number, Uint8Array]>;
  readonly size: number;
}

export function createReplayBuffer(capacity: number): ReplayBuffer {
  if (!Number.isInteger(capacity) || capacity < 0) throw new Error(`replay buffer capacity must be a non-negative integer, got ${capacity}`);
  const seqs = new Float64Array(capacity);
  const payloads: (Uint8Array | undefined)[] = new Array(capacity).fill(undefined);
  let next = 0;
  let size = 0;
  return {
    push(seq, payload) {
      if (capacity === 0) return;
      seqs[next] = seq;
      payloads[next] = payload;
      next = (next + 1) % capacity;
      if (size < capacity) size++;
    },
    from(start) {
      const out: Array<readonly [number, Uint8Array]> = [];
      for (let i = 0; i < size; i++) {
        const slot = (next - size + i + capacity) % capacity;
        const seq = seqs[slot] as number;
        if (seq >= start) out.push([seq, payloads[slot] as Uint8Array]);
      }
      return out;
    },
    get size() {
      return size;
    },
  };
}
