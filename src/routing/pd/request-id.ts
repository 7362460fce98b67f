// The P/D request id `___prefill_addr_<P>___decode_addr_<D>_<32 hex>`, and the uuid4 strings the KV connectors use.
//
// vLLM's P2P NCCL connector parses the id with greedy regexes (`___decode_addr_(.*):(\d+)` on P,
// `___prefill_addr_(.*):(\d+)___` on D), so the addresses must be plain `host:port` (vLLM's p2p_nccl_engine.py). The
// engines build their response ids from it (`chatcmpl-<id>`, vllm/entrypoints/openai/serving_chat.py), so it also shows in the body's `id`.

const HEX = '0123456789abcdef';

/** A uuid4 as 32 lowercase hex digits, no dashes (Python's `uuid4().hex`), drawn from `random` ([0, 1)). */
export function uuid4Hex(random: () => number): string {
  let out = '';
  for (let i = 0; i < 32; i++) {
    // Version nibble 4 at position 12 and variant bits 10xx at position 16, as a real uuid4 has.
    if (i === 12) out += '4';
    else if (i === 16) out += HEX[8 + Math.floor(random() * 4)];
    else out += HEX[Math.floor(random() * 16)];
  }
  return out;
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
