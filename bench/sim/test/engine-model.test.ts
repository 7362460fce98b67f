import { describe, expect, test } from 'bun:test';
import { createEngineModel as createModel } from '../engine-model.ts';
import { attendedContext, DEFAULT_ENGINE_PARAMS, stepTimeMs, type EngineParams, type StepWork } from '../engine-params.ts';
import { replyIds } from '../tokens.ts';
import { ids as words, runVirtual, TEST_REPLIES, ttftOf } from './virtual-time.ts';

const createEngineModel = (overrides: Partial<EngineParams> = {}) => createModel(overrides, TEST_REPLIES);
const work = (w: Partial<StepWork>): StepWork => ({ prefillTokens: 0, prefillContextTokens: 0, decodeSeqs: 0, contextTokens: 0, transferTokens: 0, ...w });

describe('engine model: prefix caching', () => {
  test('a cached prefix gives a lower TTFT than an uncached prompt of the same length', () => {
    const model = createEngineModel();
    const shared = words('doc', 1600);
    const events = runVirtual(model, [
      { at: 0, input: { id: 'warm', promptIds: [...shared, ...words('q', 20)], maxTokens: 4 } },
      // Same length (1620 tokens): one shares 1600 tokens with the first, one shares nothing.
      { at: 5_000, input: { id: 'hit', promptIds: [...shared, ...words('r', 20)], maxTokens: 4 } },
      { at: 10_000, input: { id: 'miss', promptIds: words('other', 1620), maxTokens: 4 } },
    ]);
    const hit = ttftOf(events, 'hit', 5_000);
    const miss = ttftOf(events, 'miss', 10_000);
    expect(hit).toBeLessThan(miss / 4);
    // The uncached prompt needs the whole prefill: 1620 tokens in chunks of at most 2048, one step.
    expect(miss).toBeCloseTo(stepTimeMs(DEFAULT_ENGINE_PARAMS, work({ prefillTokens: 1620, prefillContextTokens: attendedContext(0, 1620) })), 6);
    // The hit computes only what follows the last full cached block (1600 = 100 blocks of 16), attending over it.
    expect(hit).toBeCloseTo(stepTimeMs(DEFAULT_ENGINE_PARAMS, work({ prefillTokens: 20, prefillContextTokens: attendedContext(1600, 20) })), 6);
    const c = model.counters();
    expect(c.prefixCacheHits).toBe(1600);
    expect(c.prefixCacheQueries).toBe(3 * 1620);
  });

  test('the last prompt token is always computed, even when every block is cached', () => {
    const model = createEngineModel();
    const prompt = words('w', 64); // exactly 4 blocks
    runVirtual(model, [
      { at: 0, input: { id: 'a', promptIds: prompt, maxTokens: 1 } },
      { at: 1_000, input: { id: 'b', promptIds: prompt, maxTokens: 1 } },
    ]);
    expect(model.counters().prefixCacheHits).toBe(48);
  });

  test('a later chat turn hits the blocks of the earlier turn, its reply included', () => {
    const model = createEngineModel();
    const turn1 = words('sys', 300);
    const reply = replyIds(TEST_REPLIES, turn1, 64);
    const turn2 = [...turn1, ...reply, ...words('user', 30)];
    runVirtual(model, [
      { at: 0, input: { id: 't1', promptIds: turn1, maxTokens: 64 } },
      { at: 10_000, input: { id: 't2', promptIds: turn2, maxTokens: 8 } },
    ]);
    // Turn 1 computed KV for 300 + 63 tokens (the last sampled token is never fed back): 22 full blocks.
    expect(model.counters().prefixCacheHits).toBe(22 * 16);
  });

  test('LRU eviction: once newer prompts fill the KV, an old prefix misses again', () => {
    const model = createEngineModel({ kvBlocks: 64 }); // 1024 tokens
    const old = words('old', 480);
    const arrivals = [{ at: 0, input: { id: 'old', promptIds: old, maxTokens: 1 } }];
    for (let i = 0; i < 4; i++) arrivals.push({ at: 1_000 * (i + 1), input: { id: `new${i}`, promptIds: words(`new${i}-`, 480), maxTokens: 1 } });
    arrivals.push({ at: 10_000, input: { id: 'again', promptIds: old, maxTokens: 1 } });
    runVirtual(model, arrivals);
    expect(model.counters().prefixCacheHits).toBe(0);

    // The same sequence with room for everything keeps the old prefix.
    const roomy = createEngineModel({ kvBlocks: 1024 });
    runVirtual(roomy, arrivals);
    expect(roomy.counters().prefixCacheHits).toBe(464); // floor(479 / 16) blocks
  });
});

describe('engine model: scheduling and time', () => {
  test('the waiting queue grows while load exceeds capacity, and drains after', () => {
    const model = createEngineModel({ maxNumSeqs: 8 });
    // 40 req/s of 200-token prompts and 100-token outputs is far beyond 8 sequences at ~35 ms per step.
    const arrivals = Array.from({ length: 120 }, (_, i) => ({ at: i * 25, input: { id: `r${i}`, promptIds: words(`p${i}-`, 200), maxTokens: 100 } }));
    const samples = new Map<number, number>();
    runVirtual(model, arrivals, Number.POSITIVE_INFINITY, (t) => {
      const second = Math.floor(t / 1000);
      if (!samples.has(second)) samples.set(second, model.counters().waiting);
    });
    expect(samples.get(1)!).toBeGreaterThan(0);
    expect(samples.get(2)!).toBeGreaterThan(samples.get(1)!);
    expect(samples.get(3)!).toBeGreaterThan(samples.get(2)!);
    expect(model.counters().running).toBe(0);
    expect(model.counters().waiting).toBe(0);
    expect(model.counters().requestSuccess.length).toBe(120);
  });

  test('metrics counters match what was served', () => {
    const model = createEngineModel();
    const shared = words('system', 320);
    const inputs = Array.from({ length: 12 }, (_, i) => ({ id: `r${i}`, promptIds: [...shared, ...words(`u${i}-`, 10 + i)], maxTokens: 5 + i }));
    const events = runVirtual(model, inputs.map((input, i) => ({ at: i * 300, input })));
    const c = model.counters();
    const promptTotal = inputs.reduce((s, r) => s + r.promptIds.length, 0);
    const outputTotal = inputs.reduce((s, r) => s + r.maxTokens, 0);
    expect(events.length).toBe(outputTotal);
    expect(c.promptTokens).toBe(promptTotal);
    expect(c.generationTokens).toBe(outputTotal);
    expect(c.requestSuccess).toEqual({ stop: 0, length: 12, abort: 0 });
    expect(c.ttft.count).toBe(12);
    expect(c.itl.count).toBe(outputTotal - 12);
    expect(c.e2e.count).toBe(12);
    expect(c.prefixCacheQueries).toBe(promptTotal);
    // Every request after the first finds the 20 shared blocks.
    expect(c.prefixCacheHits).toBe(11 * 320);
    expect(c.kvCacheUsage).toBe(0);
    expect(events.filter((e) => e.event.finish === 'length').map((e) => e.event.id).sort()).toEqual(inputs.map((r) => r.id).sort());
  });

  test('a step costs more with prefill tokens than with the same number of decoding sequences', () => {
    const p = DEFAULT_ENGINE_PARAMS;
    const prefill = stepTimeMs(p, work({ prefillTokens: 64, prefillContextTokens: attendedContext(0, 64) }));
    const decode = stepTimeMs(p, work({ decodeSeqs: 64, contextTokens: 64 * 1000 }));
    expect(prefill).toBeGreaterThan(p.stepBaseMs);
    expect(decode).toBeGreaterThan(p.stepBaseMs);
    expect(stepTimeMs(p, work({ prefillTokens: 2048, prefillContextTokens: attendedContext(0, 2048) }))).toBeGreaterThan(decode);
    const mixed = work({ prefillTokens: 100, prefillContextTokens: attendedContext(3000, 100), decodeSeqs: 4, contextTokens: 4000 });
    expect(stepTimeMs({ ...p, speed: 2 }, mixed)).toBeCloseTo(stepTimeMs(p, mixed) / 2, 9);
  });

  test('a long prompt is prefilled in chunks of max_num_batched_tokens, with running decodes in the same steps', () => {
    const model = createEngineModel({ maxNumBatchedTokens: 512 });
    model.add({ id: 'decoder', promptIds: words('d', 100), maxTokens: 50, arrival: 0 });
    const first = model.plan()!;
    model.commit(first, first.durationMs);
    model.add({ id: 'long', promptIds: words('l', 1500), maxTokens: 2, arrival: first.durationMs });
    const step = model.plan()!;
    expect(step.work).toEqual({ prefillTokens: 511, prefillContextTokens: attendedContext(0, 511), decodeSeqs: 1, contextTokens: 100, transferTokens: 0 });
    // The next chunk attends over the first one too.
    model.commit(step, first.durationMs + step.durationMs);
    const next = model.plan()!;
    expect(next.work.prefillTokens).toBe(511);
    expect(next.work.prefillContextTokens).toBe(attendedContext(511, 511));

  });

  test('when the KV runs out, the newest running request is preempted and later recomputed', () => {
    const model = createEngineModel({ kvBlocks: 40 }); // 640 tokens
    const events = runVirtual(model, [
      { at: 0, input: { id: 'a', promptIds: words('a', 250), maxTokens: 100 } },
      { at: 1, input: { id: 'b', promptIds: words('b', 250), maxTokens: 100 } },
    ]);
    expect(model.counters().preemptions).toBeGreaterThan(0);
    expect(events.filter((e) => e.event.finish !== null).map((e) => e.event.id).sort()).toEqual(['a', 'b']);
    expect(events.filter((e) => e.event.id === 'b').map((e) => e.event.index)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  test('requests that can never fit are refused at once', () => {
    const model = createEngineModel({ kvBlocks: 10, maxModelLen: 8192 });
    expect(model.add({ id: 'x', promptIds: words('x', 200), maxTokens: 10, arrival: 0 })).toContain('maximum context length is 160 tokens');
    expect(model.add({ id: 'y', promptIds: [], maxTokens: 10, arrival: 0 })).toContain('cannot be empty');
    expect(model.hasWork()).toBe(false);
  });

  test('priority scheduling admits the lower priority value first', () => {
    const model = createEngineModel({ scheduling: 'priority', maxNumSeqs: 1 });
    const events = runVirtual(model, [
      { at: 0, input: { id: 'running', promptIds: words('r', 50), maxTokens: 20 } },
      { at: 1, input: { id: 'low', promptIds: words('l', 50), maxTokens: 2, priority: 3 } },
      { at: 2, input: { id: 'high', promptIds: words('h', 50), maxTokens: 2, priority: 1 } },
    ]);
    const firstTokens = events.filter((e) => e.event.index === 0).map((e) => e.event.id);
    expect(firstTokens).toEqual(['running', 'high', 'low']);
  });

  test('an abort frees the request and counts as finished_reason abort', () => {
    const model = createEngineModel();
    model.add({ id: 'a', promptIds: words('a', 100), maxTokens: 10, arrival: 0 });
    model.add({ id: 'b', promptIds: words('b', 100), maxTokens: 10, arrival: 0 });
    const plan = model.plan()!;
    expect(model.abort('a')).toBe(true);
    expect(model.abort('a')).toBe(false);
    expect(model.commit(plan, plan.durationMs).map((e) => e.id)).toEqual(['b']);
    expect(model.counters().requestSuccess.abort).toBe(1);
    expect(model.counters().running).toBe(1);
  });

  test('a decode-role request with a remote prefill skips the prompt computation', () => {
    const local = createEngineModel();
    const remote = createEngineModel();
    const prompt = words('p', 1500);
    const a = runVirtual(local, [{ at: 0, input: { id: 'x', promptIds: prompt, maxTokens: 2 } }]);
    const b = runVirtual(remote, [{ at: 0, input: { id: 'x', promptIds: prompt, maxTokens: 2, remotePrefill: true } }]);
    expect(ttftOf(b, 'x', 0)).toBeLessThan(ttftOf(a, 'x', 0) / 4);
  });

  test('the output is the deterministic reply of the prompt (what workloads put in chat histories)', () => {
    const model = createEngineModel();
    const prompt = words('hello', 40);
    const chat = [...prompt, 271]; // a chat prompt ends in the template's "\n\n": the reply opens a line
    const events = runVirtual(model, [
      { at: 0, input: { id: 'x', promptIds: prompt, maxTokens: 12 } },
      { at: 0, input: { id: 'y', promptIds: chat, maxTokens: 12 } },
    ]);
    const tokensOf = (id: string) => events.filter((e) => e.event.id === id).map((e) => e.event.token);
    expect(tokensOf('x')).toEqual(replyIds(TEST_REPLIES, prompt, 12));
    expect(tokensOf('y')).toEqual(replyIds(TEST_REPLIES, chat, 12));
    expect(TEST_REPLIES.continuing).toContain(tokensOf('x')[0]!);
    expect(TEST_REPLIES.opening).toContain(tokensOf('y')[0]!);
    expect(TEST_REPLIES.continuing).toContain(tokensOf('y')[1]!);
  });
});

describe('engine model: prefill attends over the context', () => {
  test('a prompt token computed after a 16k–30k-token context costs 1.5–2× what the linear term alone charges', () => {
    for (const p of [DEFAULT_ENGINE_PARAMS]) {
      const linear = p.prefillMsPerToken;
      const at = (context: number) => (stepTimeMs(p, work({ prefillTokens: 1000, prefillContextTokens: attendedContext(context, 1000) })) - p.stepBaseMs) / 1000;
      expect(at(16_000) / linear).toBeGreaterThan(1.5);
      expect(at(16_000) / linear).toBeLessThan(1.6);
      expect(at(30_000) / linear).toBeGreaterThan(1.95);
      expect(at(30_000) / linear).toBeLessThan(2.05);
    }
    // Token k of a chunk attends over the tokens before the chunk and the k of its own (causal attention).
    expect(attendedContext(0, 1)).toBe(1);
    expect(attendedContext(0, 4)).toBe(1 + 2 + 3 + 4);
    expect(attendedContext(100, 4)).toBe(4 * 100 + 10);
  });

  test('the same uncached question costs more behind a long cached prefix than alone, by the attention term', () => {
    const long = { maxModelLen: 32_768, kvBlocks: 4096 };
    const model = createEngineModel(long);
    const doc = words('doc', 24_000);
    const question = words('q', 1000);
    const events = runVirtual(model, [
      { at: 0, input: { id: 'warm', promptIds: [...doc, ...words('w', 10)], maxTokens: 1 } },
      { at: 60_000, input: { id: 'behind', promptIds: [...doc, ...question], maxTokens: 1 } },
      { at: 120_000, input: { id: 'alone', promptIds: question, maxTokens: 1 } },
    ]);
    const p = { ...DEFAULT_ENGINE_PARAMS, ...long };
    // 24000 tokens are cached (1500 blocks); the 1000 new ones attend over them and each other.
    expect(ttftOf(events, 'behind', 60_000)).toBeCloseTo(stepTimeMs(p, work({ prefillTokens: 1000, prefillContextTokens: attendedContext(24_000, 1000) })), 6);
    expect(ttftOf(events, 'alone', 120_000)).toBeCloseTo(stepTimeMs(p, work({ prefillTokens: 1000, prefillContextTokens: attendedContext(0, 1000) })), 6);
    expect(ttftOf(events, 'behind', 60_000) / ttftOf(events, 'alone', 120_000)).toBeGreaterThan(1.5);
    // A 24k-token miss is prefilled in 2048-token chunks, each attending over the chunks before it.
    let expected = 0;
    for (let done = 0; done < 24_010; done += 2048) {
      const n = Math.min(2048, 24_010 - done);
      expected += stepTimeMs(p, work({ prefillTokens: n, prefillContextTokens: attendedContext(done, n) }));
    }
    expect(ttftOf(events, 'warm', 0)).toBeCloseTo(expected, 6);
  });
});
