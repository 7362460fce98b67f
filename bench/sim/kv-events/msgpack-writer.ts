// A MessagePack writer that picks the wire types msgspec (vLLM's encoder) picks: the smallest unsigned form for a
// non-negative integer, up to uint64 for a 64-bit block hash, float64 for every float, fix/8/16/32 headers.
//
// Why not msgpackr: it writes an integral number (a timestamp on a whole second) as an integer where Python sends
// a float, and a bigint below 2^63 as int64; the bytes here are the ones vLLM's `msgspec.msgpack.Encoder` writes.

export interface MsgpackWriter {
  nil(): void;
  /** A non-negative safe integer (token ids, block sizes, ranks). */
  uint(n: number): void;
  /** An integer in [0, 2^64): block hashes. */
  uint64(n: bigint): void;
  float64(x: number): void;
  str(s: string): void;
  bin(b: Uint8Array): void;
  /** Header of an array of `length` items, which follow. */
  array(length: number): void;
  /** Header of a map of `length` key/value pairs, which follow. */
  map(length: number): void;
  /** A copy of everything written since the last take; the writer starts empty again and keeps its buffer. */
  take(): Uint8Array;
}

const encoder = new TextEncoder();

export function createMsgpackWriter(initialBytes = 4096): MsgpackWriter {
  let buf = new Uint8Array(initialBytes);
  let view = new DataView(buf.buffer);
  let at = 0;

  const reserve = (n: number): void => {
    if (at + n <= buf.byteLength) return;
    let size = buf.byteLength * 2;
    while (size < at + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(buf.subarray(0, at));
    buf = grown;
    view = new DataView(buf.buffer);
  };
  const byte = (b: number): void => {
    reserve(1);
    buf[at++] = b;
  };
  /** A length header: the fix form below `fixLimit`, else the 8-bit (when the family has one), 16- or 32-bit form. */
  const header = (n: number, fix: number, fixLimit: number, t8: number | null, t16: number, t32: number): void => {
    reserve(5);
    if (n < fixLimit) {
      buf[at++] = fix | n;
    } else if (t8 !== null && n < 0x100) {
      buf[at++] = t8;
      buf[at++] = n;
    } else if (n < 0x10000) {
      buf[at++] = t16;
      view.setUint16(at, n);
      at += 2;
    } else {
      buf[at++] = t32;
      view.setUint32(at, n);
      at += 4;
    }
  };
  const raw = (bytes: Uint8Array): void => {
    reserve(bytes.byteLength);
    buf.set(bytes, at);
    at += bytes.byteLength;
  };
  // The strings of an event batch are a handful of constants (tags, field names, "GPU"): encoded once each.
  const strings = new Map<string, Uint8Array>();
  const utf8 = (s: string): Uint8Array => {
    let bytes = strings.get(s);
    if (bytes === undefined) {
      bytes = encoder.encode(s);
      if (strings.size < 256) strings.set(s, bytes);
    }
    return bytes;
  };

  const writer: MsgpackWriter = {
    nil: () => byte(0xc0),
    uint(n) {
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`uint needs a non-negative safe integer, got ${n}`);
      reserve(9);
      if (n < 0x80) {
        buf[at++] = n;
      } else if (n < 0x100) {
        buf[at++] = 0xcc;
        buf[at++] = n;
      } else if (n < 0x10000) {
        buf[at++] = 0xcd;
        view.setUint16(at, n);
        at += 2;
      } else if (n < 0x1_0000_0000) {
        buf[at++] = 0xce;
        view.setUint32(at, n);
        at += 4;
      } else {
        buf[at++] = 0xcf;
        view.setBigUint64(at, BigInt(n));
        at += 8;
      }
    },
    uint64(n) {
      if (n < 0n || n >= 1n << 64n) throw new Error(`uint64 out of range: ${n}`);
      if (n <= 0xffff_ffffn) return writer.uint(Number(n));
      reserve(9);
      buf[at++] = 0xcf;
      view.setBigUint64(at, n);
      at += 8;
    },
    float64(x) {
      reserve(9);
      buf[at++] = 0xcb;
      view.setFloat64(at, x);
      at += 8;
    },
    str(s) {
      const bytes = utf8(s);
      header(bytes.byteLength, 0xa0, 32, 0xd9, 0xda, 0xdb);
      raw(bytes);
    },
    bin(b) {
      header(b.byteLength, 0, 0, 0xc4, 0xc5, 0xc6);
      raw(b);
    },
    array: (length) => header(length, 0x90, 16, null, 0xdc, 0xdd),
    map: (length) => header(length, 0x80, 16, null, 0xde, 0xdf),
    take() {
      const out = buf.slice(0, at);
      at = 0;
      return out;
    },
  };
  return writer;
}
