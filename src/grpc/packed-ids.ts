// A prompt's token ids encoded by hand as a protobuf field: `outer { inner: [packed varints] }`. protobufjs takes
// 2–3 ms (up to 14 ms cold) of the event loop for a 33k-token prompt; this loop takes a fraction of that. Appended
// after the rest of the message, which protobuf allows (fields may come in any order; the last of a oneof wins).

/** Bytes of a uint32 as a varint. */
const varintLength = (v: number): number => (v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5);

/** Writes a uint32 as a varint at `at`; the index after it. */
function writeVarint(out: Uint8Array, at: number, value: number): number {
  let v = value >>> 0;
  while (v > 0x7f) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

/** `head` followed by field `outer` (a message) holding field `inner` as packed uint32 varints of `ids`. */
export function withPackedIds(head: Uint8Array, outer: number, inner: number, ids: readonly number[]): Buffer {
  let packed = 0;
  for (let i = 0; i < ids.length; i++) packed += varintLength(ids[i]! >>> 0);
  const innerTag = (inner << 3) | 2;
  const innerLength = varintLength(innerTag) + varintLength(packed) + packed;
  const outerTag = (outer << 3) | 2;
  const total = head.byteLength + varintLength(outerTag) + varintLength(innerLength) + innerLength;
  const out = Buffer.allocUnsafe(total);
  out.set(head, 0);
  let at = head.byteLength;
  at = writeVarint(out, at, outerTag);
  at = writeVarint(out, at, innerLength);
  at = writeVarint(out, at, innerTag);
  at = writeVarint(out, at, packed);
  for (let i = 0; i < ids.length; i++) at = writeVarint(out, at, ids[i]! >>> 0);
  return out;
}
