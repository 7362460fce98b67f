// Incremental detokenization: token ids in as the engine streams them, text out, never half a character.
//
// What vLLM does with a prefix window and a replacement-character check (vllm/v1/engine/detokenizer.py,
// vllm/transformers_utils/detokenizer_utils.py `detokenize_incrementally`: re-decode the last tokens, hold
// the new text while it ends in U+FFFD) is done here on bytes: each token's bytes are precomputed
// (`Vocabulary`), appended, and only the bytes up to the last complete UTF-8 character are decoded; the
// unfinished tail waits for the next push. The text pushed out, joined, is what the tokenizer's `decode` of
// all the ids gives (clean_up_tokenization_spaces off, as vLLM's streamed text has it).
import { incompleteTail } from './utf8.ts';
import { TOKEN_FIRST_DIFFERS, TOKEN_KNOWN, TOKEN_SPECIAL, TOKEN_WHOLE, type Vocabulary } from './vocabulary.ts';

export interface DetokenizerOptions {
  readonly skipSpecialTokens: boolean;
  /**
   * The prompt's tokens (or its last ones), decoded first and not emitted, as vLLM primes its decode stream with the prompt's
   * tail: the output then continues the prompt's text (a SentencePiece `▁Paris` after a prompt is ` Paris`,
   * where alone it would lose its leading space).
   */
  readonly promptTail?: readonly number[] | undefined;
}

export interface Detokenizer {
  /** The text the ids complete; bytes of a character still unfinished are held for the next push. */
  push(ids: readonly number[]): string;
  /** End of the stream: what is still held (an unfinished character becomes U+FFFD, as decode gives it). */
  flush(): string;
}

const INITIAL_BUFFER = 256;
const PRIMING_TOKENS = 24;

export function createDetokenizer(vocab: Vocabulary, opts: DetokenizerOptions): Detokenizer {
  const { bytes, offsets, flags, size } = vocab;
  const skip = opts.skipSpecialTokens ? TOKEN_SPECIAL : 0;
  const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  let buffer = new Uint8Array(INITIAL_BUFFER);
  let held = 0; // bytes of an unfinished character at the start of `buffer`
  let first = true; // no token kept yet: the decoder's first-token rules still apply
  let stripLeft = vocab.stripStart?.count ?? 0;
  const stripContent = vocab.stripStart?.content ?? '';
  const stripEnd = vocab.stripEnd;
  let tail = ''; // trailing strip characters held until something else follows

  const ensure = (extra: number) => {
    if (held + extra <= buffer.length) return;
    let length = buffer.length * 2;
    while (length < held + extra) length *= 2;
    const grown = new Uint8Array(length);
    grown.set(buffer.subarray(0, held));
    buffer = grown;
  };

  const finishText = (text: string, end: boolean): string => {
    if (stripLeft > 0 && text.length > 0) {
      let cut = 0;
      while (stripLeft > 0 && text.startsWith(stripContent, cut)) {
        cut += stripContent.length;
        stripLeft--;
      }
      if (cut < text.length) stripLeft = 0;
      text = text.slice(cut);
    }
    if (stripEnd !== undefined) {
      text = tail + text;
      tail = '';
      if (end) return trimEnd(text, stripEnd.content, stripEnd.count);
      let keep = text.length;
      const step = stripEnd.content.length;
      for (let i = 0; i < stripEnd.count && step > 0 && keep >= step && text.startsWith(stripEnd.content, keep - step); i++) {
        keep -= step;
      }
      tail = text.slice(keep);
      text = text.slice(0, keep);
    }
    return text;
  };

  const push = (ids: readonly number[]): string => {
    const count = ids.length;
    // The common case: one token, nothing held, decodable alone.
    if (count === 1 && held === 0 && !first && stripEnd === undefined) {
      const id = ids[0]!;
      const flag = id >= 0 && id < size ? flags[id]! : 0;
      if ((flag & TOKEN_KNOWN) === 0 || (flag & skip) !== 0) return '';
      if ((flag & TOKEN_WHOLE) !== 0) {
        // The token's text is decoded once per vocabulary: a one-token push is then a lookup.
        const text = vocab.wholeTextOf(id);
        return stripLeft > 0 ? finishText(text, false) : text;
      }
    }
    let length = held;
    for (let k = 0; k < count; k++) {
      const id = ids[k]!;
      const flag = id >= 0 && id < size ? flags[id]! : 0;
      // Ids past the vocabulary (padded embedding rows) and skipped specials add nothing, as in decode.
      if ((flag & TOKEN_KNOWN) === 0 || (flag & skip) !== 0) continue;
      if (first) {
        first = false;
        if ((flag & TOKEN_FIRST_DIFFERS) !== 0) {
          const piece = vocab.firstBytesOf(id);
          held = length;
          ensure(piece.length);
          buffer.set(piece, length);
          length += piece.length;
          continue;
        }
      }
      const from = offsets[id]!;
      const to = offsets[id + 1]!;
      if (length + (to - from) > buffer.length) {
        held = length;
        ensure(to - from);
      }
      for (let i = from; i < to; i++) buffer[length++] = bytes[i]!;
    }
    if (length === held) return '';
    const unfinished = incompleteTail(buffer, 0, length);
    const ready = length - unfinished;
    const text = ready > 0 ? decoder.decode(buffer.subarray(0, ready)) : '';
    if (unfinished > 0) buffer.copyWithin(0, ready, length);
    held = unfinished;
    return text.length > 0 ? finishText(text, false) : '';
  };

  if (opts.promptTail !== undefined && opts.promptTail.length > 0) {
    // What the prompt leaves behind (an unfinished character, whether any text came) is in its last tokens,
    // so the whole prompt may be passed; vLLM primes with 4–24 of them.
    push(opts.promptTail.length > PRIMING_TOKENS ? opts.promptTail.slice(-PRIMING_TOKENS) : opts.promptTail);
    // The prompt's text came first (unless all of its tail was skipped), so the output is not the text's start.
    if (!first) stripLeft = 0;
    tail = '';
  }

  return {
    push,
    flush() {
      const text = held > 0 ? decoder.decode(buffer.subarray(0, held)) : '';
      held = 0;
      return finishText(text, true);
    },
  };
}

function trimEnd(text: string, content: string, count: number): string {
  let end = text.length;
  for (let i = 0; i < count && content.length > 0 && end >= content.length && text.startsWith(content, end - content.length); i++) {
    end -= content.length;
  }
  return text.slice(0, end);
}
