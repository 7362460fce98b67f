// The prompts of a completions request: vLLM's CompletionRequest.prompt is a string, a list of strings, token
// ids, or a list of token-id lists (vllm/entrypoints/openai/completion/protocol.py); each prompt of a batch is
// one engine request.
import { routerError, type RouterError } from '../../wire/errors.ts';

export type CompletionPrompt = { readonly text: string; readonly ids?: undefined } | { readonly ids: readonly number[]; readonly text?: undefined };

/**
 * At most this many prompts in one request: each is an engine request the router holds open, and a client should
 * not multiply its share of the fleet by batching (vLLM sets no bound; the engine queue is its limit).
 */
export const MAX_BATCH_PROMPTS = 256;

const bad = (message: string): RouterError => routerError('invalid_body', message, { param: 'prompt' });
const isTokenId = (t: unknown): t is number => Number.isInteger(t) && (t as number) >= 0;
const isIds = (p: unknown): p is number[] => Array.isArray(p) && p.length > 0 && p.every(isTokenId);

export function completionPrompts(prompt: unknown): CompletionPrompt[] | RouterError {
  if (typeof prompt === 'string') return [{ text: prompt }];
  if (!Array.isArray(prompt)) return bad("'prompt' must be a string, a list of strings, a list of token ids, or a list of lists of token ids");
  if (prompt.length === 0) return bad("'prompt' must not be an empty list");
  if (prompt.every((t) => typeof t === 'number')) {
    if (!prompt.every(isTokenId)) return bad("'prompt' token ids must be non-negative integers");
    return [{ ids: prompt as number[] }];
  }
  if (prompt.length > MAX_BATCH_PROMPTS) return bad(`'prompt' lists ${prompt.length} prompts: gRPC endpoints take at most ${MAX_BATCH_PROMPTS} in one request`);
  if (prompt.every((p) => typeof p === 'string')) return (prompt as string[]).map((text) => ({ text }));
  if (prompt.every(Array.isArray)) {
    const at = prompt.findIndex((p) => !isIds(p));
    if (at >= 0) return bad(`'prompt[${at}]' must be a non-empty list of non-negative integer token ids`);
    return (prompt as number[][]).map((ids) => ({ ids }));
  }
  return bad("'prompt' must not mix types: a list of strings, a list of token ids, or a list of lists of token ids");
}
