// Logprobs in OpenAI's shape (vllm/entrypoints/openai/protocol.py ChatCompletionLogProbs, CompletionLogProbs)
// from the engine's token ids and values; a token's text is its own decoding, as vLLM's `decoded_token`.
import type { TokenLogprob } from '../../grpc/generation.ts';
import { createDetokenizer } from '../../text/detokenizer.ts';
import type { Vocabulary } from '../../text/vocabulary.ts';

const encoder = new TextEncoder();

/** The token's text alone; `token_id:N` without a vocabulary, as vLLM writes it when it has no tokenizer. */
export function tokenText(vocab: Vocabulary | undefined, id: number): string {
  if (vocab === undefined) return `token_id:${id}`;
  const d = createDetokenizer(vocab, { skipSpecialTokens: false });
  return d.push([id]) + d.flush();
}

export function chatLogprobs(tokens: readonly TokenLogprob[], vocab: Vocabulary | undefined): { content: unknown[] } {
  return {
    content: tokens.map((t) => {
      const token = tokenText(vocab, t.id);
      return {
        token,
        logprob: Math.max(t.logprob, -9999.0),
        bytes: Array.from(encoder.encode(token)),
        top_logprobs: t.top.map((alt) => {
          const text = tokenText(vocab, alt.id);
          return { token: text, logprob: Math.max(alt.logprob, -9999.0), bytes: Array.from(encoder.encode(text)) };
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
