// The incremental detokenizer against @huggingface/tokenizers' decode of the same ids, on the real byte-level
// BPE (Llama 3.1, Qwen3) and SentencePiece byte-fallback (Llama 2) tokenizers, in random chunkings.
import { describe, expect, test } from 'bun:test';
import { createDetokenizer } from '../../src/text/detokenizer.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';
import { chunked, testTokenizer, type TokenizerName } from './tokenizers.ts';

const NAMES: readonly TokenizerName[] = ['llama3_1', 'llama2', 'qwen3'];

const TEXTS = [
  'Hello, world! This is a plain English sentence.',
  ' A leading space, and  two spaces,\ttabs\nand new lines.\n\n',
  '中文测试：北京是中国的首都。日本語のテキストです。한국어 문장입니다.',
  'Emoji: 🎉🤖👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 and math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  'Rare CJK 龘靐齉 and symbols ⅧⅨ ∮ ⊕ ⌘ ␣ 〄',
  'naïve café résumé Ελληνικά русский עברית العربية',
  '```python\ndef f(x):\n    return {"a": [1, 2, 3]}\n```',
];

/** Pushes the ids in chunks and joins what comes out, checking every piece is whole text. */
function streamed(name: TokenizerName, ids: readonly number[], skip: boolean, seed: number, max: number, promptTail?: number[]): { text: string; pieces: string[] } {
  const { vocab } = testTokenizer(name);
  const detokenizer = createDetokenizer(vocab, { skipSpecialTokens: skip, promptTail });
  const pieces = chunked(ids, mulberry32(seed), max).map((chunk) => detokenizer.push(chunk));
  pieces.push(detokenizer.flush());
  return { text: pieces.join(''), pieces };
}

/** A piece split inside a character would start or end with half a surrogate pair or hold U+FFFD. */
function isWholeText(piece: string): boolean {
  return piece.isWellFormed() && !piece.includes('\uFFFD');
}

describe.each(NAMES)('%s', (name) => {
  const tokenizer = testTokenizer(name);

  test('token by token and in random chunks, the text equals decode of all the ids', () => {
    for (const [i, text] of TEXTS.entries()) {
      const ids = tokenizer.encode(text);
      const want = tokenizer.decode(ids, true);
      for (const max of [1, 2, 5, 17]) {
        const got = streamed(name, ids, true, 1000 * i + max, max);
        expect(got.text).toBe(want);
        for (const piece of got.pieces) expect(isWholeText(piece)).toBe(true);
      }
    }
  });

  test('a character split across tokens comes out whole, once its last byte arrives', () => {
    const ids = tokenizer.encode('龘🤖👨‍👩‍👧');
    // The tokenizer really splits these characters: some token alone is not whole UTF-8.
    const partial = ids.filter((id) => tokenizer.decode([id], true).includes('\uFFFD'));
    expect(partial.length).toBeGreaterThan(0);
    const detokenizer = createDetokenizer(tokenizer.vocab, { skipSpecialTokens: true });
    const pieces = ids.map((id) => detokenizer.push([id]));
    pieces.push(detokenizer.flush());
    expect(pieces.some((piece) => piece === '')).toBe(true); // held while incomplete
    for (const piece of pieces) expect(isWholeText(piece)).toBe(true);
    expect(pieces.join('')).toBe(tokenizer.decode(ids, true));
  });

  test('skip_special_tokens drops the special added tokens and keeps them otherwise', () => {
    const specials = [...tokenizer.vocab.specialIds].slice(0, 4);
    const body = tokenizer.encode(' Special 🎉 tokens in between 中文');
    const ids = [specials[0]!, ...body.slice(0, 3), specials[1] ?? specials[0]!, ...body.slice(3), ...tokenizer.vocab.eosTokenIds];
    for (const skip of [true, false]) {
      for (const max of [1, 3]) expect(streamed(name, ids, skip, 7 + max, max).text).toBe(tokenizer.decode(ids, skip));
    }
    const marker = tokenizer.vocab.tokenOf(specials[0]!)!;
    expect(streamed(name, ids, true, 1, 1).text).not.toContain(marker);
    expect(streamed(name, ids, false, 1, 1).text).toContain(marker);
  });

  test('primed with the prompt tail, the output continues the prompt text as vLLM streams it', () => {
    const prompt = tokenizer.encode('The capital of France is');
    const output = tokenizer.encode(' Paris, and of Japan 東京 🗼.').slice(name === 'llama2' ? 1 : 0);
    const all = [...prompt, ...output];
    const want = tokenizer.decode(all, true).slice(tokenizer.decode(prompt, true).length);
    expect(streamed(name, output, true, 3, 2, prompt).text).toBe(want);
    // A long prompt, passed whole, primes as its tail does.
    const long = [...tokenizer.encode('A much longer system prompt with 中文 and 🎉 in it. '.repeat(20)), ...prompt];
    const wantLong = tokenizer.decode([...long, ...output], true).slice(tokenizer.decode(long, true).length);
    expect(streamed(name, output, true, 5, 3, long).text).toBe(wantLong);
  });

  test('a prompt ending inside a character: the output that finishes it carries the whole character', () => {
    const ids = tokenizer.encode('价🤖龘𒀀');
    const cut = ids.findIndex((_, i) => tokenizer.decode(ids.slice(0, i + 1), true).endsWith('\uFFFD'));
    expect(cut).toBeGreaterThanOrEqual(0);
    const prompt = [...tokenizer.encode('Say:'), ...ids.slice(0, cut + 1)];
    const output = ids.slice(cut + 1);
    const want = tokenizer.decode([...prompt, ...output], true).slice(tokenizer.decode(prompt, true).length - 1);
    expect(streamed(name, output, true, 1, 1, prompt).text).toBe(want);
  });

  test('random ids, valid UTF-8 or not, give what decode gives', () => {
    const random = mulberry32(42);
    const size = tokenizer.vocab.size;
    for (let round = 0; round < 50; round++) {
      const ids = Array.from({ length: 1 + Math.floor(random() * 40) }, () => Math.floor(random() * size));
      for (const skip of [true, false]) expect(streamed(name, ids, skip, round, 4).text).toBe(tokenizer.decode(ids, skip));
    }
  });
});

describe('SentencePiece with byte fallback (Llama 2)', () => {
  const tokenizer = testTokenizer('llama2');

  test('characters outside the vocabulary are byte tokens, decoded to whole characters', () => {
    const ids = tokenizer.encode('龘靐齉 🤖');
    const byteTokens = ids.filter((id) => /^<0x[0-9A-F]{2}>$/.test(tokenizer.vocab.tokenOf(id) ?? ''));
    expect(byteTokens.length).toBeGreaterThanOrEqual(9);
    for (const max of [1, 2, 4]) {
      const got = streamed('llama2', ids, true, max, max);
      expect(got.text).toBe(tokenizer.decode(ids, true));
      expect(got.text).toBe('龘靐齉 🤖');
      for (const piece of got.pieces) expect(isWholeText(piece)).toBe(true);
    }
  });

  test('the leading space of the first token is dropped as the Strip decoder does, after skipped specials too', () => {
    const ids = [tokenizer.vocab.bosTokenId!, ...tokenizer.encode('Hello there')];
    expect(tokenizer.vocab.tokenOf(ids[1]!)).toStartWith('\u2581');
    expect(streamed('llama2', ids, true, 1, 1).text).toBe('Hello there');
    expect(streamed('llama2', ids, false, 1, 1).text).toBe(tokenizer.decode(ids, false));
  });

  test('an unfinished byte sequence at the end becomes U+FFFD, as decode gives it', () => {
    const ids = tokenizer.encode('龘').filter((id) => tokenizer.vocab.tokenOf(id)?.startsWith('<0x'));
    const cut = ids.slice(0, 2);
    expect(streamed('llama2', cut, true, 1, 1).text).toBe(tokenizer.decode(cut, true));
    expect(streamed('llama2', cut, true, 1, 1).pieces.slice(0, -1).join('')).toBe('');
  });
});

test('ids past the vocabulary add nothing', () => {
  const { vocab } = testTokenizer('qwen3');
  const detokenizer = createDetokenizer(vocab, { skipSpecialTokens: true });
  expect(detokenizer.push([vocab.size + 10, -1, 151935])).toBe('');
  expect(detokenizer.push(testTokenizer('qwen3').encode('ok'))).toBe('ok');
});
