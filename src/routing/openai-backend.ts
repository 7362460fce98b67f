// `--backend openai`: one OpenAI-compatible upstream (OpenAI itself, or any API that speaks its protocol).
// The client's own Authorization goes through, vLLM-only sampling fields are removed (a strict upstream
// rejects unknown ones), and routes that exist only on vLLM are refused here instead of failing upstream.
import { routerError, type RouterError } from '../wire/errors.ts';

/** vLLM / SGLang extensions the OpenAI API does not accept (the Rust router's list, issue #110 there). */
export const VLLM_ONLY_FIELDS: readonly string[] = [
  'top_k',
  'min_p',
  'min_tokens',
  'regex',
  'ebnf',
  'stop_token_ids',
  'no_stop_trim',
  'ignore_eos',
  'continue_final_message',
  'skip_special_tokens',
  'lora_path',
  'session_params',
  'separate_reasoning',
  'stream_reasoning',
  'chat_template_kwargs',
  'return_hidden_states',
  'repetition_penalty',
  // Also ours to remove: the PD hand-off fields never belong on a public API.
  'kv_transfer_params',
];

/**
 * Routes the OpenAI API serves. The Rust router proxies only chat completions and answers 501 for the rest;
 * completions, embeddings and responses exist on OpenAI too, so they are proxied here as well.
 */
const OPENAI_ROUTES = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/responses']);

/** The body to send upstream for `route`, or the refusal of a vLLM-only route. */
export function openAiBody(route: string, json: Readonly<Record<string, unknown>>, bytes: Uint8Array): Uint8Array | RouterError {
  if (!OPENAI_ROUTES.has(route)) return routerError('not_implemented', `${route} is a vLLM route; it is not available with --backend openai`);
  let stripped: Record<string, unknown> | undefined;
  for (const field of VLLM_ONLY_FIELDS) {
    if (!Object.hasOwn(json, field)) continue;
    stripped ??= { ...json };
    delete stripped[field];
  }
  // Untouched bodies go as the client sent them (same bytes, no re-serialisation).
  return stripped === undefined ? bytes : new TextEncoder().encode(JSON.stringify(stripped));
}

/** Health of an OpenAI-compatible API: it answered at all. 401/403 mean "up, but wants the client's key". */
export const openAiHealthy = (status: number): boolean => (status >= 200 && status < 300) || status === 401 || status === 403;
