// Parses and validates a simulated engine's generation request (chat or completions) as vLLM would, and
// tokenizes its prompt with the real tokenizer (sim-tokenizer.ts).
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
import type { SimTokenizer } from './sim-tokenizer.ts';

export type Api = 'chat' | 'completion';

export interface GenRequest {
  api: Api;
  model: string;
  responseId: string;
  created: number;
  /** The prompt's token ids: the chat template applied, or the completion prompt (BOS first), or the ids sent. */
  promptIds: readonly number[];
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
  tokenizer: SimTokenizer;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const isIds = (v: unknown): boolean => Array.isArray(v) && v.length > 0 && v.every(isInt);

function promptIds(api: Api, body: Record<string, unknown>, tokenizer: SimTokenizer): readonly number[] | ErrorSpec {
  if (api === 'chat') {
    const messages = body.messages;
    if (!Array.isArray(messages) || messages.length === 0 || !messages.every(isRecord)) return validationError('`messages` must be a non-empty list of messages.', 'messages');
  } else {
    // One prompt per request: a string or token ids, alone or as a one-element batch.
    const p = body.prompt;
    const one = typeof p === 'string' || isIds(p) || (Array.isArray(p) && p.length === 1 && (typeof p[0] === 'string' || isIds(p[0])));
    if (!one) return validationError('`prompt` must be a string or a list of token ids (the simulator takes one prompt per request).', 'prompt');
  }
  const encoded = tokenizer.encodeRequest(api === 'chat' ? '/v1/chat/completions' : '/v1/completions', body);
  if (!encoded.ok) return errorSpec(400, encoded.error, api === 'chat' ? 'messages' : 'prompt');
  if (encoded.ids.length === 0) return errorSpec(400, 'The decoder prompt cannot be empty', 'prompt');
  return encoded.ids;
}

export function parseGeneration(api: Api, body: Record<string, unknown>, xRequestId: string | null, o: ParseOptions): GenRequest | ErrorSpec {
  const soError = streamOptionsError(body);
  if (soError) return soError;
  const model = typeof body.model === 'string' ? body.model : o.model;
  if (model !== o.model) return modelNotFoundError(model);
  const ids = promptIds(api, body, o.tokenizer);
  if ('status' in ids) return ids;
  const n = body.n ?? 1;
  if (n !== 1) return errorSpec(400, `n must be 1 in the simulator, got ${String(n)}.`, 'n');

  const rawMax = api === 'chat' ? (body.max_completion_tokens ?? body.max_tokens) : body.max_tokens;
  const explicitMax = rawMax !== undefined && rawMax !== null;
  if (explicitMax && (!isInt(rawMax) || rawMax < 1)) return errorSpec(400, `max_tokens must be at least 1, got ${String(rawMax)}.`, 'max_tokens');
  const room = o.maxModelLen - ids.length;
  const maxTokens = explicitMax ? (rawMax as number) : Math.min(o.defaultMaxTokens, room);
  if (room < 1 || maxTokens > room) {
    return errorSpec(
      400,
      `This model's maximum context length is ${o.maxModelLen} tokens. However, you requested ${ids.length + maxTokens} tokens (${ids.length} in the messages, ${maxTokens} in the completion). Please reduce the length of the messages or completion.`,
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
    promptIds: ids,
    maxTokens,
    explicitMax,
    stream,
    usage: stream ? resolveUsageMode(body.stream_options, o.forceIncludeUsage) : { include: false, continuous: false },
    priority,
    kvParams: isRecord(body.kv_transfer_params) ? body.kv_transfer_params : null,
  };
}
