// An OpenAI chat or completions request as a gRPC engine is asked for it: every sampling field the protocols
// carry, checked as vLLM checks it (vllm/sampling_params.py `_verify_args`, vllm/entrypoints/openai/protocol.py
// validators), defaults from the model (generation_config.json, the engine's model info), and always a max.
import type { Sampling, StructuredOutput } from '../../grpc/generation.ts';
import { routerError, type RouterError } from '../../wire/errors.ts';
import { toolChoiceOf, type ToolChoice } from './tool-choice.ts';

type Body = Readonly<Record<string, unknown>>;

/** The model's sampling defaults (vLLM's `get_diff_sampling_param`: generation_config.json). */
export interface SamplingDefaults {
  readonly temperature?: number;
  readonly top_p?: number;
  readonly top_k?: number;
  readonly min_p?: number;
  readonly repetition_penalty?: number;
  /** `max_new_tokens` of generation_config.json: vLLM's default max_tokens when the request sets none. */
  readonly max_tokens?: number;
}

export interface OpenAiGeneration {
  readonly sampling: Omit<Sampling, 'maxTokens'> & { readonly maxTokens: number | undefined };
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly continuousUsage: boolean;
  /** Chat: `logprobs: true` (the sampled token's logprob), `top_logprobs` alternatives. */
  readonly logprobs: boolean;
  /** Completions: the prompt's text opens each choice (with logprobs, the prompt's logprobs open its logprobs). */
  readonly echo: boolean;
  /**
   * Chat `echo`: the last message's content, which opens each choice (vLLM's serving.py: only when that message's
   * role is the answer's role); undefined when there is nothing to echo.
   */
  readonly chatEcho: string | undefined;
  /** Chat: the answer's role, `assistant`, or the last message's with `add_generation_prompt: false` (vLLM's get_chat_request_role). */
  readonly role: string;
  /** `return_token_ids`: the prompt's ids and each choice's output ids in the answer. */
  readonly returnTokenIds: boolean;
  /** Chat `return_prompt_text`: the prompt as the chat template rendered it, in the answer. */
  readonly returnPromptText: boolean;
  /** Completions `echo` with `max_tokens: 0`: the prompt alone (one token is generated and not shown, as vLLM). */
  readonly echoOnly: boolean;
  /** Chat `include_reasoning: false`: the reasoning is parsed off and not sent (vLLM drops it from every delta). */
  readonly includeReasoning: boolean;
  /** `return_tokens_as_token_ids`: logprob tokens as `token_id:N`. */
  readonly tokensAsIds: boolean;
  /** `truncate_prompt_tokens` (-1: the model's context) and `truncation_side` ("left" keeps the last tokens). */
  readonly truncate: { readonly tokens: number; readonly side: 'left' | 'right' } | undefined;
  /** Chat: what `tools` / `tool_choice` ask for (completions: none). */
  readonly toolChoice: ToolChoice;
  /**
   * Chat `parallel_tool_calls: false`: only the first tool call is returned (vLLM's maybe_filter_parallel_tool_calls,
   * vllm/entrypoints/serve/utils/tool_calls_utils.py: the model's output is not constrained, later calls are dropped).
   */
  readonly parallelToolCalls: boolean;
  readonly model: string | undefined;
  /** The body's `request_id` (vLLM uses it when no X-Request-Id header is sent). */
  readonly requestId: string | undefined;
  readonly cacheSalt: string | undefined;
  readonly priority: number | undefined;
  readonly sessionId: string | undefined;
}

const bad = (message: string, param: string): RouterError => routerError('invalid_body', message, { param });

const num = (body: Body, key: string): number | undefined | RouterError => {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) return bad(`'${key}' must be a number`, key);
  return v;
};

const int = (body: Body, key: string): number | undefined | RouterError => {
  const v = num(body, key);
  if (typeof v === 'number' && !Number.isInteger(v)) return bad(`'${key}' must be an integer`, key);
  return v;
};

const bool = (body: Body, key: string): boolean | undefined | RouterError => {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') return bad(`'${key}' must be a boolean`, key);
  return v;
};

const isError = (v: unknown): v is RouterError => typeof v === 'object' && v !== null && (v as RouterError).isRouterError === true;

function stops(body: Body): string[] | RouterError {
  const v = body.stop;
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
  return bad("'stop' must be a string or a list of strings", 'stop');
}

function tokenIds(body: Body, key: string): number[] | RouterError {
  const v = body[key];
  if (v === undefined || v === null) return [];
  if (Array.isArray(v) && v.every((t) => Number.isInteger(t) && t >= 0)) return v as number[];
  return bad(`'${key}' must be a list of token ids`, key);
}

/** response_format and vLLM's structured-output fields, one constraint at most. */
function structured(body: Body): StructuredOutput | undefined | RouterError {
  const found: StructuredOutput[] = [];
  const format = body.response_format as { type?: unknown; json_schema?: { schema?: unknown } } | undefined | null;
  if (format !== undefined && format !== null) {
    if (typeof format !== 'object') return bad("'response_format' must be an object", 'response_format');
    if (format.type === 'json_object') found.push({ kind: 'json_object' });
    else if (format.type === 'json_schema') {
      const schema = format.json_schema?.schema;
      if (schema === undefined) return bad("'response_format.json_schema.schema' is required for type json_schema", 'response_format');
      found.push({ kind: 'json_schema', value: JSON.stringify(schema) });
    } else if (format.type !== 'text') return bad("'response_format.type' must be one of text, json_object, json_schema", 'response_format');
  }
  const so = (body.structured_outputs ?? {}) as Record<string, unknown>;
  const field = (key: string, legacy: string) => so[key] ?? body[legacy];
  const json = field('json', 'guided_json');
  if (json !== undefined && json !== null) found.push({ kind: 'json_schema', value: typeof json === 'string' ? json : JSON.stringify(json) });
  const regex = field('regex', 'guided_regex');
  if (typeof regex === 'string') found.push({ kind: 'regex', value: regex });
  const choice = field('choice', 'guided_choice');
  if (Array.isArray(choice)) found.push({ kind: 'choice', value: choice.map(String) });
  const grammar = field('grammar', 'guided_grammar');
  if (typeof grammar === 'string') found.push({ kind: 'grammar', value: grammar });
  const tag = so.structural_tag;
  if (typeof tag === 'string') found.push({ kind: 'structural_tag', value: tag });
  if (so.json_object === true) found.push({ kind: 'json_object' });
  if (found.length > 1) return bad('only one kind of structured output can be asked for at a time', 'response_format');
  return found[0];
}

/** vLLM's get_chat_request_role: the answer continues the last message's role unless a generation prompt is added. */
function responseRole(body: Body, addGenerationPrompt: boolean): string {
  if (addGenerationPrompt) return 'assistant';
  const last = Array.isArray(body.messages) ? (body.messages.at(-1) as { role?: unknown } | undefined) : undefined;
  return typeof last?.role === 'string' ? last.role : 'assistant';
}

/**
 * Chat `echo`: the last message's content when its role is the answer's (vLLM's serving.py; a list of parts is
 * their texts joined by newlines, as its whole-body answer writes them).
 */
function echoOfLastMessage(body: Body, role: string): string | undefined {
  const last = Array.isArray(body.messages) ? (body.messages.at(-1) as { role?: unknown; content?: unknown } | undefined) : undefined;
  if (last === undefined || last.role !== role) return undefined;
  const content = last.content;
  const text =
    typeof content === 'string'
      ? content
      : Array.isArray(content)
        ? content
            .filter((part): part is { text: string } => typeof part === 'object' && part !== null && typeof (part as { text?: unknown }).text === 'string')
            .map((part) => part.text)
            .join('\n')
        : '';
  return text === '' ? undefined : text;
}

/**
 * The generation a chat (`chat: true`) or completions body asks for, or the 400 vLLM would answer. `maxTokens`
 * stays undefined when neither the request nor the model sets one: the caller fills in what the context leaves.
 */
export function openAiGeneration(body: Body, chat: boolean, defaults: SamplingDefaults): OpenAiGeneration | RouterError {
  const values: Record<string, number | boolean | undefined> = {};
  for (const key of ['temperature', 'top_p', 'min_p', 'frequency_penalty', 'presence_penalty', 'repetition_penalty']) {
    const v = num(body, key);
    if (isError(v)) return v;
    values[key] = v;
  }
  for (const key of ['top_k', 'n', 'max_tokens', 'max_completion_tokens', 'min_tokens', 'seed', 'top_logprobs', 'prompt_logprobs', 'truncate_prompt_tokens', 'priority']) {
    const v = int(body, key);
    if (isError(v)) return v;
    values[key] = v;
  }
  for (const key of ['stream', 'ignore_eos', 'include_stop_str_in_output', 'skip_special_tokens', 'spaces_between_special_tokens', 'echo', 'use_beam_search', 'return_token_ids', 'return_prompt_text', 'add_generation_prompt']) {
    const v = bool(body, key);
    if (isError(v)) return v;
    values[key] = v;
  }
  const v = values as Record<string, any>;
  // logprobs: a boolean on chat, a count on completions.
  let logprobsFlag = false;
  let logprobCount: number | undefined;
  if (chat) {
    const lp = bool(body, 'logprobs');
    if (isError(lp)) return lp;
    logprobsFlag = lp === true;
    const top = v.top_logprobs as number | undefined;
    if (top !== undefined && top < 0) return bad('`top_logprobs` must be a positive value.', 'top_logprobs');
    if (top !== undefined && top > 0 && !logprobsFlag) return bad('when using `top_logprobs`, `logprobs` must be set to true.', 'top_logprobs');
    if (top !== undefined && top > 20) return bad('`top_logprobs` must be at most 20.', 'top_logprobs');
    if (logprobsFlag) logprobCount = top ?? 0;
  } else {
    const lp = int(body, 'logprobs');
    if (isError(lp)) return lp;
    if (lp !== undefined && lp < 0) return bad(`logprobs must be non-negative, got ${lp}.`, 'logprobs');
    logprobCount = lp;
    logprobsFlag = lp !== undefined;
  }
  if (v.use_beam_search === true) return bad('beam search is not supported on gRPC endpoints', 'use_beam_search');
  const stream = v.stream === true;
  const echo = v.echo === true;
  const role = chat ? responseRole(body, v.add_generation_prompt !== false) : 'assistant';
  const promptLogprobsAsked = v.prompt_logprobs as number | undefined;
  if (promptLogprobsAsked !== undefined && promptLogprobsAsked < 0 && promptLogprobsAsked !== -1) return bad(`prompt_logprobs must be non-negative or -1, got ${promptLogprobsAsked}.`, 'prompt_logprobs');
  if (promptLogprobsAsked !== undefined && stream) return bad('`prompt_logprobs` are not available when `stream=True`.', 'prompt_logprobs');
  // vLLM's to_sampling_params: echo with logprobs asks for the prompt's logprobs too (they open the choice's).
  // Chat takes `top_logprobs` (default 0) instead; its prompt logprobs show only in a whole body.
  const promptLogprobs = promptLogprobsAsked ?? (echo ? (chat ? (stream ? undefined : (v.top_logprobs ?? 0)) : logprobCount) : undefined);
  const n = v.n ?? 1;
  if (n < 1) return bad(`n must be at least 1, got ${n}.`, 'n');
  const temperature = v.temperature ?? defaults.temperature ?? 1.0;
  if (temperature < 0) return bad(`temperature must be non-negative, got ${temperature}.`, 'temperature');
  const topP = v.top_p ?? defaults.top_p;
  if (topP !== undefined && !(topP > 0 && topP <= 1)) return bad(`top_p must be in (0, 1], got ${topP}.`, 'top_p');
  const topK = v.top_k ?? defaults.top_k;
  if (topK !== undefined && topK < -1) return bad(`top_k must be 0 (disable), or at least 1, got ${topK}.`, 'top_k');
  const minP = v.min_p ?? defaults.min_p;
  if (minP !== undefined && !(minP >= 0 && minP <= 1)) return bad(`min_p must be in [0, 1], got ${minP}.`, 'min_p');
  for (const key of ['frequency_penalty', 'presence_penalty']) {
    const p = v[key] as number | undefined;
    if (p !== undefined && !(p >= -2 && p <= 2)) return bad(`${key} must be in [-2, 2], got ${p}.`, key);
  }
  const repetition = v.repetition_penalty ?? defaults.repetition_penalty;
  if (repetition !== undefined && !(repetition > 0)) return bad(`repetition_penalty must be greater than zero, got ${repetition}.`, 'repetition_penalty');
  const asked = chat ? (v.max_completion_tokens ?? v.max_tokens) : v.max_tokens;
  // vLLM answers `echo` with `max_tokens: 0` with the prompt alone, generating one token it does not show.
  const echoOnly = echo && asked === 0;
  const maxTokens = echoOnly ? 1 : (asked ?? defaults.max_tokens);
  if (maxTokens !== undefined && maxTokens < 1) return bad(`max_tokens must be at least 1, got ${maxTokens}.`, chat && v.max_completion_tokens !== undefined ? 'max_completion_tokens' : 'max_tokens');
  const minTokens = v.min_tokens as number | undefined;
  if (minTokens !== undefined && minTokens < 0) return bad(`min_tokens must be greater than or equal to 0, got ${minTokens}.`, 'min_tokens');
  if (minTokens !== undefined && maxTokens !== undefined && minTokens > maxTokens) return bad(`min_tokens must be less than or equal to max_tokens=${maxTokens}, got ${minTokens}.`, 'min_tokens');
  const seed = v.seed as number | undefined;
  if (seed !== undefined && !Number.isSafeInteger(seed)) return bad('seed must be an integer of at most 53 bits on gRPC endpoints', 'seed');
  const stop = stops(body);
  if (isError(stop)) return stop;
  const stopTokenIds = tokenIds(body, 'stop_token_ids');
  if (isError(stopTokenIds)) return stopTokenIds;
  let logprobTokenIds: number[] | undefined;
  if (body.logprob_token_ids !== undefined && body.logprob_token_ids !== null) {
    const ids = tokenIds(body, 'logprob_token_ids');
    if (isError(ids)) return ids;
    if (ids.length === 0) return bad('logprob_token_ids must not be empty.', 'logprob_token_ids');
    if (logprobCount === undefined) return bad(chat ? '`logprob_token_ids` requires `logprobs=True`.' : '`logprob_token_ids` requires `logprobs` to be set.', 'logprob_token_ids');
    logprobTokenIds = ids;
  }
  let allowedTokenIds: number[] | undefined;
  if (body.allowed_token_ids !== undefined && body.allowed_token_ids !== null) {
    const ids = tokenIds(body, 'allowed_token_ids');
    if (isError(ids)) return ids;
    if (ids.length === 0) return bad('allowed_token_ids is not allowed to be empty.', 'allowed_token_ids');
    allowedTokenIds = ids;
  }
  const truncateTokens = v.truncate_prompt_tokens as number | undefined;
  if (truncateTokens !== undefined && truncateTokens < -1) return bad(`truncate_prompt_tokens must be at least -1, got ${truncateTokens}.`, 'truncate_prompt_tokens');
  const side = body.truncation_side;
  if (side !== undefined && side !== null && side !== 'left' && side !== 'right') return bad("'truncation_side' must be 'left' or 'right'", 'truncation_side');
  const bias = body.logit_bias;
  let logitBias: Record<string, number> | undefined;
  if (bias !== undefined && bias !== null) {
    if (typeof bias !== 'object' || Array.isArray(bias)) return bad("'logit_bias' must be an object of token id → bias", 'logit_bias');
    logitBias = {};
    for (const [id, value] of Object.entries(bias as Record<string, unknown>)) {
      if (!/^\d+$/.test(id) || typeof value !== 'number') return bad("'logit_bias' must map token ids to numbers", 'logit_bias');
      logitBias[id] = Math.max(-100, Math.min(100, value));
    }
  }
  let constraint = structured(body);
  if (isError(constraint)) return constraint;
  const toolChoice: ToolChoice | RouterError = chat ? toolChoiceOf(body) : { kind: 'none' };
  if (isError(toolChoice)) return toolChoice;
  if (toolChoice.kind === 'named' || toolChoice.kind === 'required') {
    const so = body.structured_outputs as Record<string, unknown> | null | undefined;
    const soConstraint = so != null && typeof so === 'object' && ['json', 'regex', 'choice'].some((k) => so[k] !== undefined && so[k] !== null);
    if (toolChoice.kind === 'named' && soConstraint) return routerError('invalid_body', 'You can only either use constraints for structured outputs or tools, not both.');
    // The forced tool's schema replaces response_format and structured outputs (vLLM's ToolParser.adjust_request).
    constraint = { kind: 'json_schema', value: JSON.stringify(toolChoice.schema) };
  }
  const parallel = bool(body, 'parallel_tool_calls');
  if (isError(parallel)) return parallel;
  const streamOptions = body.stream_options as { include_usage?: unknown; continuous_usage_stats?: unknown } | null | undefined;
  if (streamOptions !== undefined && streamOptions !== null && !stream) return bad('Stream options can only be defined when `stream=True`.', 'stream_options');
  const includeUsage = streamOptions != null && typeof streamOptions === 'object' && streamOptions.include_usage !== false;
  const model = typeof body.model === 'string' ? body.model : undefined;
  return {
    sampling: {
      temperature,
      ...(topP !== undefined ? { topP } : {}),
      ...(topK !== undefined ? { topK: topK < 0 ? 0 : topK } : {}),
      ...(minP !== undefined ? { minP } : {}),
      ...(v.frequency_penalty !== undefined ? { frequencyPenalty: v.frequency_penalty } : {}),
      ...(v.presence_penalty !== undefined ? { presencePenalty: v.presence_penalty } : {}),
      ...(repetition !== undefined ? { repetitionPenalty: repetition } : {}),
      maxTokens,
      ...(minTokens !== undefined ? { minTokens } : {}),
      stop,
      stopTokenIds,
      includeStopStr: v.include_stop_str_in_output === true,
      ignoreEos: v.ignore_eos === true,
      n,
      ...(logprobCount !== undefined ? { logprobs: logprobCount } : {}),
      ...(promptLogprobs !== undefined ? { promptLogprobs } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...(logitBias !== undefined ? { logitBias } : {}),
      ...(allowedTokenIds !== undefined ? { allowedTokenIds } : {}),
      ...(logprobTokenIds !== undefined ? { logprobTokenIds } : {}),
      skipSpecialTokens: v.skip_special_tokens !== false,
      spacesBetweenSpecialTokens: v.spaces_between_special_tokens !== false,
      ...(constraint !== undefined ? { structured: constraint } : {}),
    },
    stream,
    includeUsage: stream && includeUsage,
    continuousUsage: stream && includeUsage && streamOptions?.continuous_usage_stats === true,
    logprobs: logprobsFlag,
    echo: echo && !chat,
    chatEcho: chat && echo ? echoOfLastMessage(body, role) : undefined,
    role,
    returnTokenIds: v.return_token_ids === true,
    returnPromptText: chat && v.return_prompt_text === true,
    echoOnly,
    includeReasoning: body.include_reasoning !== false,
    tokensAsIds: body.return_tokens_as_token_ids === true,
    truncate: truncateTokens === undefined ? undefined : { tokens: truncateTokens, side: side === 'right' ? 'right' : 'left' },
    toolChoice,
    parallelToolCalls: parallel !== false,
    model,
    requestId: typeof body.request_id === 'string' && body.request_id !== '' ? body.request_id : undefined,
    cacheSalt: typeof body.cache_salt === 'string' ? body.cache_salt : undefined,
    priority: v.priority,
    sessionId: typeof body.session_id === 'string' ? body.session_id : undefined,
  };
}
