// Which paths the catch-all forwards to the engines: vLLM's inference and information routes go to any client,
// its administrative and development routes only to callers with the admin key, and nothing else at all.
//
// The single list. Taken from vLLM's API server (vllm/entrypoints/openai/api_server.py `build_app` and the
// routers it includes: vllm/entrypoints/serve/*, openai/*, anthropic/, pooling/*, speech_to_text/,
// sagemaker/; the development routers behind VLLM_SERVER_DEV_MODE). A path is matched exactly as the
// request line spells it (Bun has already removed dot segments): uvicorn percent-decodes the path and
// Starlette routes case-sensitively on the result, so a path is forwarded only when it is one of the literal
// routes below, or a pattern whose parameter segments are plain (no `%`, `\`, empty or dot segments).
// `/%72eset_prefix_cache`, `//reset_prefix_cache` (Bun 1.4.5's fetch sends it upstream as `/reset_prefix_cache`),
// trailing slashes (Starlette would redirect) and other spellings are therefore "not listed", never an admin
// route. vLLM's own --api-key guards only paths under /v1 (serve/middleware/authenticate.py), so for
// /reset_prefix_cache, /sleep or /collective_rpc this check is the only one there is.

export type EngineRouteClass = 'forward' | 'admin' | 'closed';

/** vLLM routes any client may call: generation, pooling, tokenizer and read-only information. */
const INFERENCE_AND_INFO = [
  // OpenAI generation (the router answers POST itself; other methods come here and get the engine's 405).
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/responses',
  '/v1/chat/completions/batch',
  // Render a request into the prompt the engine would see (serve/render): no engine state involved.
  '/v1/chat/completions/render',
  '/v1/completions/render',
  // Tokens in, tokens out (serve/disagg), and SGLang-style /generate.
  '/inference/v1/generate',
  '/generate',
  // Anthropic Messages API.
  '/v1/messages',
  '/v1/messages/count_tokens',
  // Speech to text (multipart bodies).
  '/v1/audio/transcriptions',
  '/v1/audio/translations',
  // Pooling models.
  '/v1/embeddings',
  '/pooling',
  '/classify',
  '/score',
  '/v1/score',
  '/rerank',
  '/v1/rerank',
  '/v2/rerank',
  // Tokenizer (serve/tokenize; /tokenizer_info exists with --enable-tokenizer-info-endpoint).
  '/tokenize',
  '/detokenize',
  '/tokenizer_info',
  // SageMaker: /invocations dispatches to the generation and pooling handlers by body shape; /ping is /health.
  '/invocations',
  '/ping',
  // Read-only information (instrumentator/basic; the router answers GET /v1/models and /health itself).
  '/v1/models',
  '/health',
  '/version',
  '/load',
];

/**
 * Routes that change or reveal the engine as a whole: they need the admin key (or loopback, without one),
 * like the router's own admin API, and are then forwarded with the router's --api-key.
 */
const ADMINISTRATIVE = [
  // Caches (serve/cache; dev mode): a reset drops every client's prefix cache.
  '/reset_prefix_cache',
  '/reset_mm_cache',
  '/reset_encoder_cache',
  // Sleep mode (serve/sleep; dev mode): frees the GPU memory, the engine stops serving.
  '/sleep',
  '/wake_up',
  '/is_sleeping',
  // Arbitrary method calls on every worker (serve/rpc; dev mode).
  '/collective_rpc',
  // Full engine configuration and environment (serve/instrumentator/server_info), and the deployment
  // topology with master addresses and ports (serve/config).
  '/server_info',
  '/inference/v1/config',
  // Profiler (serve/profile, with --profiler-config).
  '/start_profile',
  '/stop_profile',
  // LoRA adapters (serve/lora, with VLLM_ALLOW_RUNTIME_LORA_UPDATING): loads files from a path on the host.
  // SageMaker's adapter routes register the same handlers.
  '/v1/load_lora_adapter',
  '/v1/unload_lora_adapter',
  '/adapters',
  // Elastic expert parallelism (serve/elastic_ep): rescales the data-parallel world.
  '/scale_elastic_ep',
  '/is_scaling_elastic_ep',
  // Reinforcement-learning weight updates and generation pause (serve/rlhf, serve/pause; dev mode).
  '/pause',
  '/pause/step',
  '/resume',
  '/is_paused',
  '/init_weight_transfer_engine',
  '/start_weight_update',
  '/start_draft_weight_update',
  '/update_weights',
  '/finish_weight_update',
  '/update_weight_version',
  '/weight_info',
  '/weight_checker',
  '/get_world_size',
  // Checkpoint suspend and resume, scheduler reconfiguration (dev mode).
  '/suspend',
  '/is_suspended',
  '/reconfigure',
  // Aborting requests by id, anyone's (serve/disagg with --tokens-only, serve/cancel).
  '/abort_requests',
  '/v1/requests/cancel',
  // Fault-tolerance recovery (serve/fault_tolerance).
  '/fault_tolerance/apply',
  '/fault_tolerance/status',
  // Where the engine publishes KV events (ZMQ addresses).
  '/kv_event_sources',
  // The engine's Prometheus metrics (the router scrapes them itself, and serves its own on --prometheus-port).
  '/metrics',
  // FastAPI's API documentation lists every route above; the dashboard shows configuration and environment.
  '/docs',
  '/docs/oauth2-redirect',
  '/redoc',
  '/openapi.json',
  '/dashboard',
];

/** `{}` matches one plain path segment; a trailing `*` matches one or more plain segments. */
const INFERENCE_AND_INFO_PATTERNS = ['/v1/responses/{}', '/v1/responses/{}/cancel', '/v1/responses/{}/input_items'];
const ADMINISTRATIVE_PATTERNS = [
  '/adapters/{}',
  '/v1/requests/{}',
  '/v1/requests/{}/cancel',
  '/fault_tolerance/*',
  // Starlette mounts the Prometheus app at /metrics with the pattern ^/metrics(?P<path>.*)$.
  '/metrics/*',
  '/dashboard/*',
  '/static/*',
  // vLLM's admin control plane (serve/admin, with --enable-admin-api).
  '/v1/admin/*',
];

interface Pattern {
  readonly head: string;
  /** After the head: `''` with `rest` (any plain tail), or the literal that follows the one parameter. */
  readonly tail: string;
  readonly rest: boolean;
}

const compile = (pattern: string): Pattern => {
  if (pattern.endsWith('*')) return { head: pattern.slice(0, -1), tail: '', rest: true };
  const at = pattern.indexOf('{}');
  return { head: pattern.slice(0, at), tail: pattern.slice(at + 2), rest: false };
};

const PLAIN_SEGMENT = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]+$/;
const isPlainSegment = (s: string) => PLAIN_SEGMENT.test(s) && s !== '.' && s !== '..';

/** A path uvicorn and Starlette would route as it reads: non-empty plain segments, no encoding tricks. */
export function isPlainPath(path: string): boolean {
  if (path.charCodeAt(0) !== 47) return false;
  if (path === '/') return true;
  const segments = path.slice(1).split('/');
  return segments.every(isPlainSegment);
}

function matches(p: Pattern, path: string): boolean {
  if (!path.startsWith(p.head) || !path.endsWith(p.tail) || path.length <= p.head.length + p.tail.length) return false;
  const middle = path.slice(p.head.length, path.length - p.tail.length);
  return p.rest ? isPlainPath(`/${middle}`) : isPlainSegment(middle);
}

const ADMIN_EXACT: ReadonlySet<string> = new Set(ADMINISTRATIVE);
const ADMIN_MATCHERS: readonly Pattern[] = ADMINISTRATIVE_PATTERNS.map(compile);
const FORWARD_MATCHERS: readonly Pattern[] = INFERENCE_AND_INFO_PATTERNS.map(compile);

/** Whether `path` is one of vLLM's administrative routes (the admin check guards it). */
export function isEngineAdminPath(path: string): boolean {
  if (ADMIN_EXACT.has(path)) return true;
  for (const p of ADMIN_MATCHERS) if (matches(p, path)) return true;
  return false;
}

/** Why a --forward-paths entry cannot be used, or undefined. */
export function forwardPathProblem(entry: string): string | undefined {
  if (!entry.startsWith('/')) return 'must start with /';
  const prefix = entry.endsWith('*');
  const path = prefix ? entry.slice(0, -1) : entry;
  if (path.includes('*')) return 'a * may only end the path (a prefix: /v1/files/*)';
  if (path.includes('?') || path.includes('#')) return 'must be a path, without a query string or fragment';
  // A prefix may end with `/` (`/v1/files/*`); everything else must be plain segments.
  if (!isPlainPath(prefix && path.endsWith('/') && path.length > 1 ? path.slice(0, -1) : path))
    return 'must be plain path segments (no percent-encoding, backslashes, empty, . or .. segments)';
  if (!prefix && isEngineAdminPath(path)) return 'is a vLLM administrative route: it is forwarded already, to callers with the admin key';
  return undefined;
}

export interface ForwardRules {
  /** The class of a request path (no query string), as the request line spells it. */
  classify(path: string): EngineRouteClass;
}

/** The forwarding rules: vLLM's lists plus the operator's --forward-paths (checked by forwardPathProblem). */
export function forwardRules(extraPaths: readonly string[]): ForwardRules {
  const exact = new Set(INFERENCE_AND_INFO);
  const prefixes: string[] = [];
  for (const entry of extraPaths) {
    if (entry.endsWith('*')) prefixes.push(entry.slice(0, -1));
    // An administrative route stays behind the admin check whatever the operator lists.
    else if (!isEngineAdminPath(entry)) exact.add(entry);
  }
  return {
    classify(path) {
      // Listed inference paths first (the common case: one Set lookup); none of them is administrative.
      if (exact.has(path)) return 'forward';
      if (isEngineAdminPath(path)) return 'admin';
      for (const p of FORWARD_MATCHERS) if (matches(p, path)) return 'forward';
      for (const head of prefixes) if (path.startsWith(head) && path.length > head.length && isPlainPath(path)) return 'forward';
      return 'closed';
    },
  };
}
