// The decode leg's body when the client's carries no kv_transfer_params: the client's own bytes with the
// hand-off appended inside the top-level object, rather than the parsed body serialised again.
//
// Serialising the whole request a second time (the prefill leg's body is the first) was one of the pieces
// PD paid twice per request; splicing also keeps the client's bytes as they came (number spellings, key
// order, unknown fields), as the regular path does.

const enc = new TextEncoder();
const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

/**
 * `bytes` (a JSON object the route parsed, without `kv_transfer_params`) with `"kv_transfer_params":<json>`
 * as its last member; undefined when the bytes do not end in the object's closing brace (then the caller
 * serialises the body instead).
 */
export function withKvParams(bytes: Uint8Array, kvTransferParams: unknown): Uint8Array | undefined {
  let close = bytes.length - 1;
  while (close >= 0 && isSpace(bytes[close]!)) close--;
  if (close < 1 || bytes[close] !== 0x7d) return undefined;
  let before = close - 1;
  while (before >= 0 && isSpace(bytes[before]!)) before--;
  // Only an empty object has its opening brace right before the closing one: no comma then.
  const member = enc.encode(`${bytes[before] === 0x7b ? '' : ','}"kv_transfer_params":${JSON.stringify(kvTransferParams)}}`);
  const out = new Uint8Array(close + member.length);
  out.set(bytes.subarray(0, close));
  out.set(member, close);
  return out;
}
