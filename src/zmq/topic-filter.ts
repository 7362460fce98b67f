// One subscriber's topic prefixes on a PUB socket: what SUBSCRIBE and CANCEL change and what a message is matched against.

export interface TopicFilter {
  /** False when the prefix was already there (libzmq keeps one entry per prefix and peer, not a count). */
  add(prefix: Uint8Array): boolean;
  /** False when the prefix was not there. */
  remove(prefix: Uint8Array): boolean;
  /** True when some prefix starts `first` (the message's first frame); the empty prefix matches everything. */
  matches(first: Uint8Array): boolean;
  readonly size: number;
}

function keyOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

function startsWith(frame: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.byteLength > frame.byteLength) return false;
  for (let i = 0; i < prefix.byteLength; i++) if (frame[i] !== prefix[i]) return false;
  return true;
}

export function createTopicFilter(): TopicFilter {
  const prefixes = new Map<string, Uint8Array>();
  return {
    add(prefix) {
      const key = keyOf(prefix);
      if (prefixes.has(key)) return false;
      // Copied so a subscription does not pin the frame it arrived in.
      prefixes.set(key, prefix.slice());
      return true;
    },
    remove(prefix) {
      return prefixes.delete(keyOf(prefix));
    },
    matches(first) {
      for (const prefix of prefixes.values()) if (startsWith(first, prefix)) return true;
      return false;
    },
    get size() {
      return prefixes.size;
    },
  };
}
