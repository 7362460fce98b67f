// Request fields vLLM's OpenAI server accepts that a gRPC endpoint cannot honour: neither protocol carries them
// (proto/vllm_engine.proto, proto/inference.proto) and the router cannot do them itself, or only one protocol
// carries them. Each is a 400 naming the field and the protocol, never a field dropped silently.
import type { GrpcProtocol } from '../../grpc/generation.ts';
import { routerError, type RouterError } from '../../wire/errors.ts';
import type { OpenAiGeneration } from './openai-request.ts';

type Body = Readonly<Record<string, unknown>>;

const set = (v: unknown): boolean => v !== undefined && v !== null;
const nonEmpty = (v: unknown): boolean => (Array.isArray(v) ? v.length > 0 : typeof v === 'object' && v !== null ? Object.keys(v).length > 0 : set(v));

/** Fields no gRPC protocol carries, when they ask for something (vLLM's defaults pass). */
const NOT_CARRIED: readonly { readonly key: string; readonly active: (v: unknown) => boolean; readonly why?: string }[] = [
  { key: 'bad_words', active: nonEmpty },
  { key: 'prompt_embeds', active: set },
  { key: 'watermarking', active: (v) => v === true },
  { key: 'vllm_xargs', active: nonEmpty },
  { key: 'repetition_detection', active: set },
  { key: 'thinking_token_budget', active: (v) => set(v) && v !== -1 },
  { key: 'logits_processors', active: nonEmpty },
  { key: 'stream_interval', active: (v) => typeof v === 'number' && v > 1, why: 'the router streams every engine message as it comes' },
  { key: 'routed_experts_prompt_start', active: (v) => typeof v === 'number' && v !== 0 },
  { key: 'kv_transfer_params', active: set, why: 'prefill/decode disaggregation over gRPC is not supported' },
  { key: 'ec_transfer_params', active: set, why: 'encoder-cache disaggregation over gRPC is not supported' },
  { key: 'mm_processor_kwargs', active: nonEmpty, why: 'multimodal input is not supported on gRPC endpoints' },
  { key: 'media_io_kwargs', active: nonEmpty, why: 'multimodal input is not supported on gRPC endpoints' },
];

const bad = (message: string, param: string): RouterError => routerError('invalid_body', message, { param });

const INT32 = 2 ** 31;

/**
 * The 400 for the first field of `body` the endpoint's protocol cannot honour, or undefined. `textPrompt` is set
 * when the prompt goes to the engine as text (vllm.Inference without a tokenizer): the router cannot truncate it.
 */
export function uncarriedField(body: Body, asked: OpenAiGeneration, protocol: GrpcProtocol, textPrompt: boolean): RouterError | undefined {
  // vLLM's own answer (serving_completion.py: "suffix is not currently supported").
  if (set(body.suffix)) return bad('suffix is not currently supported', 'suffix');
  // vLLM refuses a request's own template unless started with --trust-request-chat-template (its default).
  if (set(body.chat_template))
    return bad('Chat template is passed with request, but --trust-request-chat-template is not set. Refused request with untrusted chat template.', 'chat_template');
  for (const field of NOT_CARRIED) {
    if (field.active(body[field.key])) return bad(`'${field.key}' is not supported on gRPC endpoints: ${field.why ?? 'neither gRPC protocol carries it'}; send the request to an HTTP endpoint`, field.key);
  }
  if (textPrompt && asked.returnTokenIds)
    return bad("'return_token_ids' of a text prompt needs the router to tokenize it: start it with --model-path or --tokenizer-path", 'return_token_ids');
  const s = asked.sampling;
  const name = protocol === 'vllm-engine' ? 'the VllmEngine protocol (vllm serve --grpc)' : 'the vllm.Inference protocol';
  const notOn = (key: string) => bad(`'${key}' is not supported on gRPC endpoints speaking ${name}: its request has no such field; send the request to an HTTP endpoint`, key);
  if (protocol === 'vllm-engine') {
    if (s.allowedTokenIds !== undefined) return notOn('allowed_token_ids');
    if (s.logprobTokenIds !== undefined) return notOn('logprob_token_ids');
    if (asked.cacheSalt !== undefined) return notOn('cache_salt');
    if (asked.priority !== undefined && asked.priority !== 0) return notOn('priority');
    if (asked.sessionId !== undefined) return notOn('session_id');
    if (s.seed !== undefined && (s.seed < -INT32 || s.seed >= INT32)) return bad(`'seed' must fit in 32 bits on ${name} (its seed is an int32)`, 'seed');
  } else {
    // The engine writes the text: how it joins special tokens is its own.
    if (!s.spacesBetweenSpecialTokens) return notOn('spaces_between_special_tokens');
    if (textPrompt && asked.truncate !== undefined) {
      if (asked.truncate.tokens === -1) return bad("'truncate_prompt_tokens: -1' needs the router to tokenize the prompt: start it with --model-path or --tokenizer-path", 'truncate_prompt_tokens');
      if (asked.truncate.side === 'right') return bad("'truncation_side: right' needs the router to tokenize the prompt: start it with --model-path or --tokenizer-path", 'truncation_side');
    }
  }
  return undefined;
}
