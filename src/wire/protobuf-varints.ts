// Protobuf varints for token ids: a prompt's ids as the payload of a packed `repeated uint32` field. The pool
// threads write it next to the ids they send back, so the event loop only copies it into the request
// (src/grpc/packed-ids.ts); protobufjs would walk a 33k-element JS array on the event loop instead.

/** Bytes of a uint32 as a varint. */
export const varintLength = (v: number): number => (v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5);

/** Writes a uint32 as a varint at `at`; the index after it. */
export function writeVarint(out: Uint8Array, at: number, value: number): number {
  let v = value >>> 0;
  while (v > 0x7f) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

/** Bytes of `ids` as packed varints (the payload of a packed repeated uint32 field, without tag and length). */
export function packedVarintsLength(ids: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < ids.length; i++) n += varintLength(ids[i]! >>> 0);
  return n;
}

/** `ids` as packed varints, written into `out` at `at` (which must hold `packedVarintsLength(ids)` bytes); the index after. */
export function writePackedVarints(out: Uint8Array, at: number, ids: ArrayLike<number>): number {
  for (let i = 0; i < ids.length; i++) at = writeVarint(out, at, ids[i]! >>> 0);
  return at;
}

/** `ids` as packed varints in their own buffer. */
export function packedVarints(ids: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(packedVarintsLength(ids));
  writePackedVarints(out, 0, ids);
  return out;
}
