// Logprobs in OpenAI's shape (vllm/entrypoints/openai/protocol.py ChatCompletionLogProbs, CompletionLogProbs)
// from the engine's token ids and values; a token's text is its own decoding, as vLLM's `decoded_token`.
import type { PromptTokenLogprob, TokenLogprob } from '../../grpc/generation.ts';
import { tokenBytesOf, tokenTextOf } from '../../text/token-text.ts';
import type { Vocabulary } from '../../text/vocabulary.ts';

const encoder = new TextEncoder();

/** The token's text alone; `token_id:N` without a vocabulary, as vLLM writes it when it has no tokenizer. */
export function tokenText(vocab: Vocabulary | undefined, id: number): string {
  return vocab === undefined ? `token_id:${id}` : tokenTextOf(vocab, id);
}

/** The token's own bytes (part of a character for a byte token), as OpenAI's `bytes`. */
const bytesOf = (vocab: Vocabulary | undefined, id: number, text: string): number[] => Array.from(vocab === undefined ? encoder.encode(text) : tokenBytesOf(vocab, id));

/**
 * One position's alternatives as vLLM's OpenAI server lists them: its logprob dict is the sampled token first, then
 * the engine's top ones, each id once (vllm/v1/engine/logprobs.py). Both gRPC protocols send the top ones without
 * the sampled token's own entry (smg-grpc-servicer `_build_top_logprobs` sorts and cuts the dict; vllm-project/vllm
 * rust/src/server/src/grpc/convert.rs `positions_to_proto` puts the sampled token's value apart), so it is put back
 * first. `limit`: how many the answer shows (chat: top_logprobs; completions: logprobs + 1, as vLLM's servers).
 */
export function alternativesOf(t: TokenLogprob, limit: number): { readonly id: number; readonly logprob: number }[] {
  const out = [{ id: t.id, logprob: t.logprob }];
  for (const alt of t.top) {
    if (out.length >= limit) break;
    if (alt.id !== t.id) out.push(alt);
  }
  return out.length > limit ? out.slice(0, limit) : out;
}

/**
 * `top`: the request's top_logprobs (vLLM shows that many; -1 or `logprob_token_ids`, every one the engine sent).
 */
export function chatLogprobs(tokens: readonly TokenLogprob[], vocab: Vocabulary | undefined, top: number): { content: unknown[] } {
  const limit = top < 0 ? Infinity : top;
  return {
    content: tokens.map((t) => {
      const token = tokenText(vocab, t.id);
      return {
        token,
        logprob: Math.max(t.logprob, -9999.0),
        bytes: bytesOf(vocab, t.id, token),
        top_logprobs: alternativesOf(t, limit).map((alt) => {
          const text = tokenText(vocab, alt.id);
          return { token: text, logprob: Math.max(alt.logprob, -9999.0), bytes: bytesOf(vocab, alt.id, text) };
        }),
      };
    }),
  };
}

/** `top`: the request's logprobs; vLLM's completions show one more alternative than that (OpenAI's API; -1: every one). */
export function completionLogprobs(tokens: readonly TokenLogprob[], vocab: Vocabulary | undefined, startOffset: number, top: number) {
  const limit = top < 0 ? Infinity : top + 1;
  const out = { text_offset: [] as number[], token_logprobs: [] as number[], tokens: [] as string[], top_logprobs: [] as (Record<string, number> | null)[] };
  let offset = startOffset;
  for (const t of tokens) {
    const token = tokenText(vocab, t.id);
    out.text_offset.push(offset);
    out.token_logprobs.push(t.logprob);
    out.tokens.push(token);
    // Keyed by text as vLLM's dict is (two ids of one text: one key, the later value); no prototype for a token's text.
    const top: Record<string, number> = Object.create(null);
    for (const alt of alternativesOf(t, limit)) top[tokenText(vocab, alt.id)] = Math.max(alt.logprob, -9999.0);
    out.top_logprobs.push(top);
    offset += token.length;
  }
  return out;
}

const clamp = (logprob: number): number => Math.max(logprob, -9999.0);

/** A prompt position's alternatives as vLLM keeps them: the prompt token first, then the engine's top ones. */
function promptAlternatives(t: PromptTokenLogprob): { id: number; logprob: number; rank: number | null }[] {
  const out = [{ id: t.id, logprob: t.logprob!, rank: t.rank ?? null }];
  for (const alt of t.top) if (alt.id !== t.id) out.push({ id: alt.id, logprob: alt.logprob, rank: alt.rank ?? null });
  return out;
}

/**
 * vLLM's `prompt_logprobs`: per prompt token null (the first) or `{token_id: {logprob, rank, decoded_token}}`
 * (vllm/logprobs.py Logprob; -inf clamped as clamp_prompt_logprobs does).
 */
export function promptLogprobsAnswer(entries: readonly PromptTokenLogprob[], vocab: Vocabulary | undefined): (Record<string, unknown> | null)[] {
  return entries.map((t) => {
    if (t.logprob === null) return null;
    const position: Record<string, unknown> = {};
    for (const alt of promptAlternatives(t)) position[String(alt.id)] = { logprob: clamp(alt.logprob), rank: alt.rank, decoded_token: tokenText(vocab, alt.id) };
    return position;
  });
}

/**
 * The prompt's part of an echoed completion's logprobs (serving_completion.py `_create_completion_logprobs` over
 * the prompt tokens): the first token has no logprob; each other lists the prompt token and up to `top` more.
 * Returns the offset after the prompt's tokens, where the output's logprobs continue.
 */
export function echoedPromptLogprobs(entries: readonly PromptTokenLogprob[], vocab: Vocabulary | undefined, top: number) {
  const out = { text_offset: [] as number[], token_logprobs: [] as (number | null)[], tokens: [] as string[], top_logprobs: [] as (Record<string, number> | null)[] };
  let offset = 0;
  for (const t of entries) {
    const token = tokenText(vocab, t.id);
    out.text_offset.push(offset);
    out.tokens.push(token);
    if (t.logprob === null) {
      out.token_logprobs.push(null);
      out.top_logprobs.push(null);
    } else {
      out.token_logprobs.push(clamp(t.logprob));
      const alternatives: Record<string, number> = {};
      for (const alt of promptAlternatives(t).slice(0, top + 1)) alternatives[tokenText(vocab, alt.id)] = clamp(alt.logprob);
      out.top_logprobs.push(alternatives);
    }
    offset += token.length;
  }
  return { logprobs: out, end: offset };
}
