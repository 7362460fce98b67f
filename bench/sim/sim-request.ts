// Parses and validates a simulated engine's generation request (chat or completions) as vLLM would.
import {
  baseRequestId,
  chatResponseId,
  completionResponseId,
  errorSpec,
  modelNotFoundError,
  resolveUsageMode,
  streamOptionsError,
  validationError,
  type ErrorSpec,
  type UsageMode,
} from '../../testkit/vllm-wire.ts';
import { renderChat, splitWords, type ChatMessage } from './tokens.ts';

export type Api = 'chat' | 'completion';

export interface GenRequest {
  api: Api;
  model: string;
  responseId: string;
  created: number;
  promptWords: string[];
  maxTokens: number;
  /** With no max_tokens the simulated model stops by itself ("stop"); with one it runs to it ("length"). */
  explicitMax: boolean;
  stream: boolean;
  usage: UsageMode;
  priority: number;
  kvParams: Record<string, unknown> | null;
}

export interface ParseOptions {
  model: string;
  maxModelLen: number;
  /** Output length when a request sets no max_tokens. */
  defaultMaxTokens: number;
  forceIncludeUsage: boolean;
  priorityScheduling: boolean;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((part) => (isRecord(part) && typeof part.text === 'string' ? part.text : '')).join('\n');
  return '';
}

function promptWords(api: Api, body: Record<string, unknown>): string[] | ErrorSpec {
  if (api === 'chat') {
    const messages = body.messages;
    if (!Array.isArray(messages) || messages.length === 0 || !messages.every(isRecord)) return validationError('`messages` must be a non-empty list of messages.', 'messages');
    const chat: ChatMessage[] = messages.map((m) => ({ role: typeof m.role === 'string' ? m.role : 'user', content: contentText(m.content) }));
    return renderChat(chat);
  }
  const p = Array.isArray(body.prompt) && body.prompt.length === 1 ? body.prompt[0] : body.prompt;
  if (typeof p !== 'string') return validationError('`prompt` must be a string (the simulator takes one prompt per request).', 'prompt');
  const words = splitWords(p);
  if (words.length === 0) return errorSpec(400, 'The decoder prompt cannot be empty', 'prompt');
  return words;
}

export function parseGeneration(api: Api, body: Record<string, unknown>, xRequestId: string | null, o: ParseOptions): GenRequest | ErrorSpec {
  const soError = streamOptionsError(body);
  if (soError) return soError;
  const model = typeof body.model === 'string' ? body.model : o.model;
  if (model !== o.model) return modelNotFoundError(model);
  const words = promptWords(api, body);
  if (!Array.isArray(words)) return words;
  const n = body.n ?? 1;
  if (n !== 1) return errorSpec(400, `n must be 1 in the simulator, got ${String(n)}.`, 'n');

  const rawMax = api === 'chat' ? (body.max_completion_tokens ?? body.max_tokens) : body.max_tokens;
  const explicitMax = rawMax !== undefined && rawMax !== null;
  if (explicitMax && (!isInt(rawMax) || rawMax < 1)) return errorSpec(400, `max_tokens must be at least 1, got ${String(rawMax)}.`, 'max_tokens');
  const room = o.maxModelLen - words.length;
  const maxTokens = explicitMax ? (rawMax as number) : Math.min(o.defaultMaxTokens, room);
  if (room < 1 || maxTokens > room) {
    return errorSpec(
      400,
      `This model's maximum context length is ${o.maxModelLen} tokens. However, you requested ${words.length + maxTokens} tokens (${words.length} in the messages, ${maxTokens} in the completion). Please reduce the length of the messages or completion.`,
      'max_tokens',
    );
  }

  const priority = body.priority ?? 0;
  if (!isInt(priority)) return validationError('`priority` must be an integer.', 'priority');
  if (priority !== 0 && !o.priorityScheduling) return errorSpec(400, `Got priority ${priority} but Priority scheduling is not enabled.`, 'priority');

  const stream = body.stream === true;
  const base = baseRequestId(xRequestId, body.request_id);
  return {
    api,
    model,
    responseId: api === 'chat' ? chatResponseId(base) : completionResponseId(base),
    created: Math.floor(Date.now() / 1000),
    promptWords: words,
    maxTokens,
    explicitMax,
    stream,
    usage: stream ? resolveUsageMode(body.stream_options, o.forceIncludeUsage) : { include: false, continuous: false },
    priority,
    kvParams: isRecord(body.kv_transfer_params) ? body.kv_transfer_params : null,
  };
}
