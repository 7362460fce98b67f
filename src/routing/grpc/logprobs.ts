// Logprobs in OpenAI's shape (vllm/entrypoints/openai/protocol.py ChatCompletionLogProbs, CompletionLogProbs)
// from the engine's token ids and values; a token's text is its own decoding, as vLLM's `decoded_token`.
import type { TokenLogprob } from '../../grpc/generation.ts';
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
