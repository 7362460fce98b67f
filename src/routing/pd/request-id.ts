// The P/D request id `___prefill_addr_<P>___decode_addr_<D>_<32 hex>`, and the uuid4 strings the KV connectors use.
//
// vLLM's P2P NCCL connector parses the id with greedy regexes (`___decode_addr_(.*):(\d+)` on P,
// `___prefill_addr_(.*):(\d+)___` on D), so the addresses must be plain `host:port` (vLLM's p2p_nccl_engine.py). The
// engines build their response ids from it (`chatcmpl-<id>`, vllm/entrypoints/openai/serving_chat.py), so it also shows in the body's `id`.


/** 32 random bits from `random` ([0, 1)). */
const word = (random: () => number) => Math.floor(random() * 0x1_0000_0000) >>> 0;
const hex8 = (n: number) => n.toString(16).padStart(8, '0');

/**
 * A uuid4 as 32 lowercase hex digits, no dashes (Python's `uuid4().hex`), drawn from `random` ([0, 1)): four
 * draws of 32 bits (a draw per digit cost PD two microseconds per request), with the version nibble 4 at
 * digit 12 and the variant bits 10xx at digit 16, as a real uuid4 has.
 */
export function uuid4Hex(random: () => number): string {
  const a = word(random);
  const b = ((word(random) & 0xffff0fff) | 0x00004000) >>> 0;
  const c = ((word(random) & 0x3fffffff) | 0x80000000) >>> 0;
  const d = word(random);
  return hex8(a) + hex8(b) + hex8(c) + hex8(d);
}

/** A uuid4 in its dashed form (Python's `str(uuid4())`, Rust's `Uuid::new_v4()` Display). */
export function uuid4(random: () => number): string {
  const h = uuid4Hex(random);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The id sent as X-Request-Id on both legs; `prefillAddr` / `decodeAddr` are the endpoints' KV addresses (`host:port`). */
export function pdRequestId(prefillAddr: string, decodeAddr: string, random: () => number): string {
  return `___prefill_addr_${prefillAddr}___decode_addr_${decodeAddr}_${uuid4Hex(random)}`;
}
