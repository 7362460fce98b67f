import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainBlockHashes } from '../../src/pool/block-hash.ts';
import { TokenizerPool } from '../../src/pool/pool.ts';
import type { ChatJob, PoolJob } from '../../src/pool/protocol.ts';
import { resolveTokenizerFiles } from '../../src/pool/tokenizer-files.ts';
import { until } from '../../testkit/until.ts';
import { llamaFiles, llamaTokenizer, ok } from './tokenizer-fixture.ts';

const chat: ChatJob = {
  kind: 'chat',
  messages: [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'What is the capital of France?' },
    { role: 'assistant', content: 'Paris.' },
  ],
};
// The same conversation in the Llama 3.1 format, written out from the template.
const chatText =
  '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>' +
  '<|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|>' +
  '<|start_header_id|>assistant<|end_header_id|>\n\nParis.<|eot_id|>' +
  '<|start_header_id|>assistant<|end_header_id|>\n\n';

function longPrompt(words: number): string {
  const vocab = ['router', 'prefix', 'cache', 'vLLM', 'tokens', 'naïve', '東京', 'block', '42', 'hash', 'é', '\n\n'];
  return Array.from({ length: words }, (_, i) => vocab[(i * 7) % vocab.length]).join(' ');
}

describe('tokenizer pool', () => {
  let pool: TokenizerPool;
  const exits: number[] = [];
  beforeAll(async () => {
    pool = await TokenizerPool.start({
      files: llamaFiles(),
      blockSize: 16,
      threads: 2,
      onThreadExit: (event) => exits.push(event.retried),
    });
  });
  afterAll(() => pool.close());

  test('a chat request gives the ids the tokenizer gives in-process for the rendered template', async () => {
    const expected = llamaTokenizer().encode(chatText, { add_special_tokens: false }).ids;
    const out = ok(await pool.tokenize(chat, { returnIds: true }));
    expect(Array.from(out.ids ?? [])).toEqual(expected);
    expect(out.ids?.[0]).toBe(128000); // <|begin_of_text|> once, from the template
    expect(out.ids?.[1]).toBe(128006); // <|start_header_id|>
    expect(out.tokenCount).toBe(expected.length);
    expect(Array.from(out.blockHashes)).toEqual(Array.from(chainBlockHashes(expected, 16)));
  });

  test('a completion prompt gives the in-process ids, with the BOS token vLLM adds', async () => {
    const prompt = longPrompt(3000);
    const expected = llamaTokenizer().encode(prompt).ids;
    const out = ok(await pool.tokenize({ kind: 'completion', prompt }, { returnIds: true }));
    expect(Array.from(out.ids ?? [])).toEqual(expected);
    expect(out.ids?.[0]).toBe(128000);
    expect(out.blockHashes.length).toBe(Math.floor(expected.length / 16));
    expect(Array.from(out.blockHashes)).toEqual(Array.from(chainBlockHashes(expected, 16)));
  });

  test('token-id prompts are hashed as given; a batch is routed by its first prompt', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => 1000 + i);
    const direct = ok(await pool.tokenize({ kind: 'completion', prompt: ids }));
    const batch = ok(await pool.tokenize({ kind: 'completion', prompt: [ids, [1, 2, 3]] }));
    expect(direct.tokenCount).toBe(40);
    expect(Array.from(batch.blockHashes)).toEqual(Array.from(direct.blockHashes));
    const strings = ok(await pool.tokenize({ kind: 'completion', prompt: ['Hello world', 'other'] }, { returnIds: true }));
    expect(Array.from(strings.ids ?? [])).toEqual(llamaTokenizer().encode('Hello world').ids);
  });

  test('a longer conversation extends the shorter one block for block', async () => {
    const first = ok(await pool.tokenize({ kind: 'chat', messages: [{ role: 'user', content: longPrompt(200) }] }));
    const second = ok(
      await pool.tokenize({
        kind: 'chat',
        messages: [{ role: 'user', content: longPrompt(200) }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'more' }],
      }),
    );
    // Everything before the generation prompt of the first request is shared.
    const shared = Math.floor((first.tokenCount - 5) / 16);
    expect(Array.from(second.blockHashes.slice(0, shared))).toEqual(Array.from(first.blockHashes.slice(0, shared)));
  });

  test('cache_salt gives different hashes for the same prompt', async () => {
    const plain = ok(await pool.tokenize({ kind: 'completion', prompt: longPrompt(100) }));
    const salted = ok(await pool.tokenize({ kind: 'completion', prompt: longPrompt(100), cacheSalt: 's' }));
    expect(salted.blockHashes[0]).not.toBe(plain.blockHashes[0]);
  });

  test('bad input comes back as an error value and the thread keeps working', async () => {
    const bad = await pool.tokenize({ kind: 'chat', messages: [{ content: 'no role' }] });
    expect(bad).toEqual({ ok: false, error: 'messages[0].role is not a string' });
    expect(ok(await pool.tokenize({ kind: 'completion', prompt: 'still fine' })).tokenCount).toBeGreaterThan(0);
    expect(pool.stats().restarts).toBe(0);
  });

  test('reports the template it loaded', () => {
    expect(pool.info?.templateSource).toBe('tokenizer_config.json');
    expect(pool.info?.warnings).toEqual([]);
  });

  const crash = (how: 'exit' | 'throw', onAttempts: number): PoolJob => ({
    kind: 'crash',
    how,
    onAttempts,
    then: { kind: 'completion', prompt: 'after the crash' },
  });

  for (const how of ['exit', 'throw'] as const) {
    test(`a thread that dies (${how}) is replaced; its job is retried and later jobs complete`, async () => {
      const restarts = pool.stats().restarts;
      exits.length = 0;
      const crashed = pool.tokenize(crash(how, 1), { returnIds: true });
      const others = Array.from({ length: 6 }, (_, i) => pool.tokenize({ kind: 'completion', prompt: `job ${i}` }));
      const result = ok(await crashed);
      expect(Array.from(result.ids ?? [])).toEqual(llamaTokenizer().encode('after the crash').ids);
      for (const other of await Promise.all(others)) expect(other.ok).toBe(true);
      // The dead thread's jobs (the crashing one, maybe one queued behind it) were all re-sent.
      expect(exits.length).toBe(1);
      expect(exits[0]).toBeGreaterThanOrEqual(1);
      expect(pool.stats().restarts).toBe(restarts + 1);
      // The replacement thread loads and takes work again.
      await until(() => pool.stats().readyThreads === 2, 'the replacement thread');
      const later = await Promise.all(Array.from({ length: 4 }, () => pool.tokenize({ kind: 'completion', prompt: 'later' })));
      expect(later.every((r) => r.ok)).toBe(true);
    });
  }

  test('a job that keeps killing threads fails after the retry budget; the pool keeps serving', async () => {
    const restarts = pool.stats().restarts;
    const poison = await pool.tokenize(crash('exit', 99));
    expect(poison.ok).toBe(false);
    if (!poison.ok) expect(poison.error).toContain('died 3 times while running this job');
    expect(pool.stats().restarts).toBe(restarts + 3);
    expect(ok(await pool.tokenize({ kind: 'completion', prompt: 'fine' })).tokenCount).toBe(2);
    await until(() => pool.stats().readyThreads === 2, 'the replacement thread');
  });
});

describe('tokenizer pool: queue and lifecycle', () => {
  test('queue depth counts jobs waiting for a thread, up to its bound; close answers pending jobs with an error', async () => {
    const pool = await TokenizerPool.start({ files: llamaFiles(), blockSize: 16, threads: 1, jobsPerThread: 1, maxQueueDepth: 4 });
    expect(pool.queueDepth).toBe(0);
    const jobs = Array.from({ length: 5 }, (_, i) => pool.tokenize({ kind: 'completion', prompt: longPrompt(500 + i) }));
    expect(pool.queueDepth).toBe(4);
    expect(pool.stats()).toMatchObject({ threads: 1, queueDepth: 4, inFlight: 1 });
    expect(await pool.tokenize({ kind: 'completion', prompt: 'one too many' })).toEqual({
      ok: false,
      error: 'tokenizer pool queue is full (4 jobs waiting)',
    });
    await jobs[0];
    expect(pool.queueDepth).toBeLessThanOrEqual(3);
    await Promise.all(jobs);
    expect(pool.stats()).toMatchObject({ queueDepth: 0, inFlight: 0 });

    const pending = [pool.tokenize({ kind: 'completion', prompt: longPrompt(2000) }), pool.tokenize({ kind: 'completion', prompt: 'x' })];
    await pool.close();
    for (const result of await Promise.all(pending)) expect(result).toEqual({ ok: false, error: 'tokenizer pool is closed' });
    expect(await pool.tokenize({ kind: 'completion', prompt: 'x' })).toEqual({ ok: false, error: 'tokenizer pool is closed' });
  });

  test('start fails with an error naming the flag and the file when tokenizer.json is invalid', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bad-tokenizer-'));
    try {
      writeFileSync(join(dir, 'tokenizer.json'), '{"version": "1.0"}');
      const resolved = resolveTokenizerFiles({ tokenizerPath: dir });
      if (!resolved.ok || !resolved.value) throw new Error('fixture did not resolve');
      await expect(TokenizerPool.start({ files: resolved.value, blockSize: 16, threads: 2 })).rejects.toThrow(
        `--tokenizer-path ${dir}: ${join(dir, 'tokenizer.json')}: not a Hugging Face tokenizer.json`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
