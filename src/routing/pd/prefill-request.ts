// The prefill leg's body, rewritten per route so the engine computes the prompt's KV and stops after one token.
//
// Rules (Rust `prepare_prefill_request` in src/routers/http/vllm_pd_router.rs; vLLM's NIXL toy proxy,
// tests/v1/kv_connector/nixl_integration/toy_proxy_server.py):
// - OpenAI routes (chat, completions, anything else): max_tokens = 1, max_completion_tokens = 1 when the
//   key is present; min_tokens and min_completion_tokens are dropped (vLLM rejects min_tokens > max_tokens,
//   and the toy proxy drops both as "not supported for P"; Rust clamps to 1, which amounts to the same).
// - Responses API: max_output_tokens = 1.
// - Generate (`/generate`, `/inference/v1/generate`): sampling_params.max_tokens = 1, its min_tokens dropped;
//   sampling_params is created when missing.
// - Always stream = false and no stream_options: the prefill answer must be one JSON body carrying
//   kv_transfer_params, and vLLM answers 400 to stream_options without stream=true (vllm/entrypoints/openai/protocol.py).
// - kv_transfer_params is removed here; the router sets the connector's own afterwards.

export type PrefillShape = 'openai' | 'responses' | 'generate';

/** Which rewrite an upstream path takes. */
export function prefillShapeOf(path: string): PrefillShape {
  const p = path.split('?', 1)[0] as string;
  if (p === '/generate' || p.includes('inference/v1/generate')) return 'generate';
  if (p.endsWith('/v1/responses')) return 'responses';
  return 'openai';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The body without client-supplied `kv_transfer_params`. They could point an engine at an arbitrary host
 * (the SSRF the toy proxy's own sanitizer guards against); only values obtained from the prefill
 * endpoint, or built by the router, may reach an engine. Returns the same object when there is nothing to strip.
 */
export function stripClientKvParams(body: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  if (!Object.hasOwn(body, 'kv_transfer_params')) return body;
  const { kv_transfer_params: _dropped, ...rest } = body;
  return rest;
}

/** The prefill body for `shape`: a new object; `body` is not modified. */
export function prefillRequest(body: Readonly<Record<string, unknown>>, shape: PrefillShape): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  delete out.kv_transfer_params;
  delete out.stream_options;
  out.stream = false;
  if (shape === 'generate') {
    const sampling: Record<string, unknown> = isObject(body.sampling_params) ? { ...body.sampling_params } : {};
    sampling.max_tokens = 1;
    delete sampling.min_tokens;
    out.sampling_params = sampling;
    return out;
  }
  if (shape === 'responses') {
    out.max_output_tokens = 1;
    return out;
  }
  out.max_tokens = 1;
  if (Object.hasOwn(body, 'max_completion_tokens')) out.max_completion_tokens = 1;
  delete out.min_tokens;
  delete out.min_completion_tokens;
  return out;
}
