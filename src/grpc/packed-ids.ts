// A prompt's token ids encoded by hand as a protobuf field: `outer { inner: [packed varints] }`. protobufjs takes
// 2–3 ms (up to 14 ms cold) of the event loop for a 33k-token prompt. Ids tokenized by the pool arrive already
// packed (written in the pool thread, src/pool/tokenize.worker.ts), so the event loop only copies those bytes;
// ids given in a request body are packed here. Appended after the rest of the message, which protobuf allows
// (fields may come in any order; the last of a oneof wins).
import { packedVarintsLength, varintLength, writePackedVarints, writeVarint } from '../wire/protobuf-varints.ts';

/** `head` followed by field `outer` (a message) holding field `inner` as packed uint32 varints of `ids`. */
export function withPackedIds(head: Uint8Array, outer: number, inner: number, ids: ArrayLike<number>): Buffer {
  const packed = packedVarintsLength(ids);
  const { out, at } = frame(head, outer, inner, packed);
  writePackedVarints(out, at, ids);
  return out;
}

/** The same as `withPackedIds`, from the ids already packed as varints (`packedVarints`). */
export function withPackedPayload(head: Uint8Array, outer: number, inner: number, packed: Uint8Array): Buffer {
  const { out, at } = frame(head, outer, inner, packed.byteLength);
  out.set(packed, at);
  return out;
}

/** A buffer of the whole message with `head` and the two tags and lengths written; where the payload goes. */
function frame(head: Uint8Array, outer: number, inner: number, packed: number): { out: Buffer; at: number } {
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
  return { out, at };
}
