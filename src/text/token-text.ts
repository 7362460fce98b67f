// One token's text on its own and a whole sequence decoded at once: for logprobs (`token`, `bytes`) and for
// text that is not streamed (echoed prompts).
import { createDetokenizer } from './detokenizer.ts';
import { TOKEN_KNOWN, type Vocabulary } from './vocabulary.ts';

const lossy = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * The token's text as vLLM's logprobs show it (vllm/tokenizers/detokenizer_utils.py
 * `convert_ids_list_to_tokens`: `decode([id])`, with the leading spaces a SentencePiece decode strips put
 * back): half a UTF-8 character is U+FFFD, special tokens are their text, unknown ids are empty.
 */
export function tokenTextOf(vocab: Vocabulary, id: number): string {
  return lossy.decode(tokenBytesOf(vocab, id));
}

/** The token's own bytes (OpenAI's logprob `bytes` for it; may be part of a character). */
export function tokenBytesOf(vocab: Vocabulary, id: number): Uint8Array {
  if (id < 0 || id >= vocab.size || ((vocab.flags[id] ?? 0) & TOKEN_KNOWN) === 0) return new Uint8Array(0);
  return vocab.bytes.subarray(vocab.offsets[id]!, vocab.offsets[id + 1]!);
}

/** The text of all the ids at once: what the streamed pieces of `createDetokenizer` add up to. */
export function decodeIds(vocab: Vocabulary, ids: readonly number[], opts: { skipSpecialTokens: boolean }): string {
  const detokenizer = createDetokenizer(vocab, opts);
  return detokenizer.push(ids) + detokenizer.flush();
}
