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

export function chatLogprobs(tokens: readonly TokenLogprob[], vocab: Vocabulary | undefined): { content: unknown[] } {
  return {
    content: tokens.map((t) => {
      const token = tokenText(vocab, t.id);
      return {
        token,
        logprob: Math.max(t.logprob, -9999.0),
        bytes: bytesOf(vocab, t.id, token),
        top_logprobs: t.top.map((alt) => {
          const text = tokenText(vocab, alt.id);
          return { token: text, logprob: Math.max(alt.logprob, -9999.0), bytes: bytesOf(vocab, alt.id, text) };
        }),
      };
    }),
  };
}

export function completionLogprobs(tokens: readonly TokenLogprob[], vocab: Vocabulary | undefined, startOffset: number) {
  const out = { text_offset: [] as number[], token_logprobs: [] as number[], tokens: [] as string[], top_logprobs: [] as (Record<string, number> | null)[] };
  let offset = startOffset;
  for (const t of tokens) {
    const token = tokenText(vocab, t.id);
    out.text_offset.push(offset);
    out.token_logprobs.push(t.logprob);
    out.tokens.push(token);
    const top: Record<string, number> = {};
    for (const alt of t.top) top[tokenText(vocab, alt.id)] = alt.logprob;
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
