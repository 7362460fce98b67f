// A model's tokenizer fetched at run time from a gRPC endpoint (startup/runtime-tokenizers.ts), against the engine
// stand-in and a real pool: a bundle that does not load is a failure kept with its reason and not fetched again
// before its back-off ends, then fetched again; the front is installed only once the pool holds the tokenizer.
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGrpcEngines } from '../../../src/grpc/engines.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { createMetrics } from '../../../src/metrics/metrics.ts';
import { TokenizerPool } from '../../../src/pool/pool.ts';
import { runtimeTokenizers } from '../../../src/startup/runtime-tokenizers.ts';
import { loadStandInVocabulary, startGrpcEngine } from '../../../testkit/grpc-engine.ts';
import { metricValue } from '../../../testkit/metric-value.ts';

const scratch = mkdtempSync(join(tmpdir(), 'runtime-tokenizers-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const llama = loadStandInVocabulary('llama3_1');

describe('tokenizers fetched at run time', () => {
  test('a broken bundle: failed with its reason, not fetched again until the back-off ends; then fetched, and the front installed', async () => {
    const broken = join(scratch, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'tokenizer.json'), '{"model": {"type": "NoSuchModel"}}');
    await using engine = await startGrpcEngine({ vocab: llama, model: 'llama', tokenizerDir: broken });
    await using pool = await TokenizerPool.start({ tokenizers: [], blockSize: 16, threads: 1 });
    using engines = createGrpcEngines('auto');
    const metrics = createMetrics();
    let clock = 0;
    const installed: string[] = [];
    const runtime = runtimeTokenizers({
      engines,
      pool,
      metrics,
      log: createLogger({ level: 'error', json: true, write: () => {} }),
      timeoutMs: 5_000,
      now: () => clock,
      prepareFront: (model) => () => installed.push(model),
    });
    await runtime.examine(engine.url);
    const failed = runtime.stateOf('llama');
    expect(failed).toMatchObject({ state: 'failed', url: engine.url, failures: 1, retryAt: 30_000 });
    expect(failed?.state === 'failed' && failed.error).toContain('the tokenizer cannot be built');
    expect(metricValue(await metrics.registry.metrics(), 'vllm_router_grpc_tokenizer_fetches_total', { model: 'llama', outcome: 'failed' })).toBe(1);
    expect(pool.hasTokenizerFor('llama')).toBe(false);
    expect(installed).toEqual([]);

    // Looked at again (its next good probe) before the back-off ends: not fetched again.
    engine.options.tokenizerDir = null;
    clock = 29_000;
    await runtime.examine(engine.url);
    expect(engine.record.tokenizerFetches).toBe(1);
    expect(runtime.stateOf('llama')).toMatchObject({ state: 'failed', failures: 1 });

    clock = 30_000;
    await runtime.examine(engine.url);
    expect(runtime.stateOf('llama')).toBeUndefined();
    expect(engine.record.tokenizerFetches).toBe(2);
    expect(pool.hasTokenizerFor('llama')).toBe(true);
    expect(installed).toEqual(['llama']);
    const ids = await pool.tokenize({ kind: 'completion', prompt: 'hello world' }, { returnIds: true, model: 'llama' });
    expect(ids.ok && Array.from(ids.value.ids ?? [])).toEqual(llama.tokenizer.encode('hello world').ids);
    // Settled: looking again fetches nothing.
    await runtime.examine(engine.url);
    expect(engine.record.tokenizerFetches).toBe(2);
  });
});
