// The JSON vLLM's OpenAI server answers chat and completions with, field by field and in its key order
// (vllm/entrypoints/openai/protocol.py: ChatCompletionResponse, ChatCompletionStreamResponse, CompletionResponse,
// CompletionStreamResponse, UsageInfo; serving_chat.py / serving_completion.py for the stream sequence).

export type OpenAiFinish = 'stop' | 'length' | 'abort' | 'tool_calls';

export interface AnswerHead {
  readonly id: string;
  readonly created: number;
  readonly model: string;
}

export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Set when the engine reports prefix-cache hits (VllmEngine's cached_tokens). */
  readonly cachedTokens: number | undefined;
}

export interface ToolCallOut {
  readonly id: string;
  readonly name: string;
  readonly arguments: string;
}

/** Non-stream usage: `prompt_tokens_details` null unless known. */
export function usageInfo(u: Usage): Record<string, unknown> {
  return {
    prompt_tokens: u.promptTokens,
    total_tokens: u.promptTokens + u.completionTokens,
    completion_tokens: u.completionTokens,
    prompt_tokens_details: u.cachedTokens === undefined ? null : { cached_tokens: u.cachedTokens },
  };
}

/** Stream usage: serialised without null keys (exclude_none). */
export function streamUsage(u: Usage): Record<string, unknown> {
  const usage: Record<string, unknown> = { prompt_tokens: u.promptTokens, total_tokens: u.promptTokens + u.completionTokens, completion_tokens: u.completionTokens };
  if (u.cachedTokens !== undefined) usage.prompt_tokens_details = { cached_tokens: u.cachedTokens };
  return usage;
}

export const sse = (payload: unknown): string => `data: ${JSON.stringify(payload)}\n\n`;
export const SSE_DONE = 'data: [DONE]\n\n';

/** What the first chunk of a chat stream says of the prompt: its ids (`return_token_ids`), its rendered text (`return_prompt_text`). */
export interface PromptEcho {
  readonly role: string;
  readonly promptIds?: readonly number[] | undefined;
  readonly promptText?: string | undefined;
}

export function chatRoleChunk(head: AnswerHead, index: number, usage: Record<string, unknown> | undefined, prompt: PromptEcho): Record<string, unknown> {
  const chunk: Record<string, unknown> = {
    id: head.id,
    object: 'chat.completion.chunk',
    created: head.created,
    model: head.model,
    choices: [{ index, delta: { role: prompt.role, content: '' }, logprobs: null, finish_reason: null }],
  };
  if (usage) chunk.usage = usage;
  chunk.prompt_token_ids = prompt.promptIds ?? null;
  if (prompt.promptText !== undefined) chunk.prompt_text = prompt.promptText;
  return chunk;
}

/** Chat `echo` in a stream: the last message's content, one chunk per choice after the role chunks (no token ids). */
export function chatEchoChunk(head: AnswerHead, index: number, content: string, usage?: Record<string, unknown>): Record<string, unknown> {
  const chunk: Record<string, unknown> = {
    id: head.id,
    object: 'chat.completion.chunk',
    created: head.created,
    model: head.model,
    choices: [{ index, delta: { content }, logprobs: null, finish_reason: null }],
  };
  if (usage) chunk.usage = usage;
  return chunk;
}

export interface ChatDelta {
  readonly content?: string;
  readonly reasoning?: string;
  readonly toolCalls?: readonly { index: number; id?: string; name?: string; arguments?: string }[];
}

export function chatDeltaChunk(
  head: AnswerHead,
  index: number,
  delta: ChatDelta,
  logprobs: unknown,
  finish: OpenAiFinish | null,
  stopReason: string | number | null,
  usage: Record<string, unknown> | undefined,
  tokenIds: readonly number[] | null,
): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  if (delta.reasoning !== undefined) d.reasoning = delta.reasoning;
  if (delta.content !== undefined) d.content = delta.content;
  if (delta.toolCalls !== undefined)
    d.tool_calls = delta.toolCalls.map((c) => ({
      ...(c.id !== undefined ? { id: c.id, type: 'function' } : {}),
      index: c.index,
      function: { ...(c.name !== undefined ? { name: c.name } : {}), ...(c.arguments !== undefined ? { arguments: c.arguments } : {}) },
    }));
  const choice: Record<string, unknown> = { index, delta: d, logprobs, finish_reason: finish };
  if (finish !== null) choice.stop_reason = stopReason;
  choice.token_ids = tokenIds;
  const chunk: Record<string, unknown> = { id: head.id, object: 'chat.completion.chunk', created: head.created, model: head.model, choices: [choice] };
  if (usage) chunk.usage = usage;
  return chunk;
}

export function completionChunk(
  head: AnswerHead,
  index: number,
  text: string,
  logprobs: unknown,
  finish: OpenAiFinish | null,
  stopReason: string | number | null,
  usage: Record<string, unknown> | undefined,
  ids: { readonly prompt: readonly number[] | null; readonly output: readonly number[] | null },
): Record<string, unknown> {
  const chunk: Record<string, unknown> = {
    id: head.id,
    object: 'text_completion',
    created: head.created,
    model: head.model,
    choices: [{ index, text, logprobs, finish_reason: finish, stop_reason: stopReason, prompt_token_ids: ids.prompt, token_ids: ids.output }],
  };
  if (usage) chunk.usage = usage;
  return chunk;
}

export function usageChunk(head: AnswerHead, object: 'chat.completion.chunk' | 'text_completion', usage: Record<string, unknown>): Record<string, unknown> {
  return { id: head.id, object, created: head.created, model: head.model, choices: [], usage };
}

export interface ChatChoice {
  readonly index: number;
  readonly content: string | null;
  readonly reasoning: string | null;
  readonly toolCalls: readonly ToolCallOut[];
  readonly logprobs: unknown;
  readonly finish: OpenAiFinish;
  readonly stopReason: string | number | null;
  /** `return_token_ids`: the choice's output ids (null otherwise). */
  readonly tokenIds: readonly number[] | null;
}

/** `promptLogprobs`: vLLM's prompt_logprobs list when asked for (null otherwise). */
export function chatBody(head: AnswerHead, choices: readonly ChatChoice[], usage: Usage, promptLogprobs: unknown, prompt: PromptEcho): Record<string, unknown> {
  const body: Record<string, unknown> = {
    id: head.id,
    object: 'chat.completion',
    created: head.created,
    model: head.model,
    choices: choices.map((c) => ({
      index: c.index,
      message: {
        role: prompt.role,
        content: c.content,
        refusal: null,
        annotations: null,
        audio: null,
        function_call: null,
        tool_calls: c.toolCalls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } })),
        reasoning: c.reasoning,
      },
      logprobs: c.logprobs,
      finish_reason: c.finish,
      stop_reason: c.stopReason,
      token_ids: c.tokenIds,
    })),
    service_tier: null,
    system_fingerprint: null,
    usage: usageInfo(usage),
    prompt_logprobs: promptLogprobs,
    prompt_token_ids: prompt.promptIds ?? null,
  };
  // Only when asked: older vLLM versions have no such field.
  if (prompt.promptText !== undefined) body.prompt_text = prompt.promptText;
  body.kv_transfer_params = null;
  return body;
}

export interface CompletionChoice {
  readonly index: number;
  readonly text: string;
  readonly logprobs: unknown;
  readonly finish: OpenAiFinish;
  readonly stopReason: string | number | null;
  /** vLLM's prompt_logprobs of this choice's prompt when asked for (null otherwise). */
  readonly promptLogprobs: unknown;
  /** `return_token_ids`: the prompt's ids and the choice's output ids (null otherwise). */
  readonly promptIds: readonly number[] | null;
  readonly tokenIds: readonly number[] | null;
}

export function completionBody(head: AnswerHead, choices: readonly CompletionChoice[], usage: Usage): Record<string, unknown> {
  return {
    id: head.id,
    object: 'text_completion',
    created: head.created,
    model: head.model,
    choices: choices.map((c) => ({
      index: c.index,
      text: c.text,
      logprobs: c.logprobs,
      finish_reason: c.finish,
      stop_reason: c.stopReason,
      token_ids: c.tokenIds,
      prompt_logprobs: c.promptLogprobs,
      prompt_token_ids: c.promptIds,
    })),
    service_tier: null,
    system_fingerprint: null,
    usage: usageInfo(usage),
    kv_transfer_params: null,
  };
}
