import { describe, expect, test } from 'bun:test';
import { createEngineModel } from '../engine-model.ts';
import { DEFAULT_ENGINE_PARAMS, stepTimeMs } from '../engine-params.ts';
import { replyText, splitWords } from '../tokens.ts';
import { runVirtual, ttftOf, words } from './virtual-time.ts';

describe('engine model: prefix caching', () => {
  test('a cached prefix gives a lower TTFT than an uncached prompt of the same length', () => {
    const model = createEngineModel();
    const shared = words('doc', 1600);
    const events = runVirtual(model, [
      { at: 0, input: { id: 'warm', promptWords: [...shared, ...words('q', 20)], maxTokens: 4 } },
      // Same length (1620 tokens): one shares 1600 tokens with the first, one shares nothing.
      { at: 5_000, input: { id: 'hit', promptWords: [...shared, ...words('r', 20)], maxTokens: 4 } },
      { at: 10_000, input: { id: 'miss', promptWords: words('other', 1620), maxTokens: 4 } },
    ]);
    const hit = ttftOf(events, 'hit', 5_000);
    const miss = ttftOf(events, 'miss', 10_000);
    expect(hit).toBeLessThan(miss / 4);
    // The uncached prompt needs the whole prefill: 1620 tokens in chunks of at most 2048, one step.
    expect(miss).toBeCloseTo(stepTimeMs(DEFAULT_ENGINE_PARAMS, { prefillTokens: 1620, decodeSeqs: 0, contextTokens: 0, transferTokens: 0 }), 6);
    // The hit computes only what follows the last full cached block (1600 = 100 blocks of 16).
    expect(hit).toBeCloseTo(stepTimeMs(DEFAULT_ENGINE_PARAMS, { prefillTokens: 20, decodeSeqs: 0, contextTokens: 0, transferTokens: 0 }), 6);
    const c = model.counters();
    expect(c.prefixCacheHits).toBe(1600);
    expect(c.prefixCacheQueries).toBe(3 * 1620);
  });

  test('the last prompt token is always computed, even when every block is cached', () => {
    const model = createEngineModel();
    const prompt = words('w', 64); // exactly 4 blocks
    runVirtual(model, [
      { at: 0, input: { id: 'a', promptWords: prompt, maxTokens: 1 } },
      { at: 1_000, input: { id: 'b', promptWords: prompt, maxTokens: 1 } },
    ]);
    expect(model.counters().prefixCacheHits).toBe(48);
  });

  test('a later chat turn hits the blocks of the earlier turn, its reply included', () => {
    const model = createEngineModel();
    const turn1 = words('sys', 300);
    const reply = splitWords(replyText(turn1, 64));
    const turn2 = [...turn1, ...reply, ...words('user', 30)];
    runVirtual(model, [
      { at: 0, input: { id: 't1', promptWords: turn1, maxTokens: 64 } },
      { at: 10_000, input: { id: 't2', promptWords: turn2, maxTokens: 8 } },
    ]);
    // Turn 1 computed KV for 300 + 63 tokens (the last sampled token is never fed back): 22 full blocks.
    expect(model.counters().prefixCacheHits).toBe(22 * 16);
  });

  test('LRU eviction: once newer prompts fill the KV, an old prefix misses again', () => {
    const model = createEngineModel({ kvBlocks: 64 }); // 1024 tokens
    const old = words('old', 480);
    const arrivals = [{ at: 0, input: { id: 'old', promptWords: old, maxTokens: 1 } }];
    for (let i = 0; i < 4; i++) arrivals.push({ at: 1_000 * (i + 1), input: { id: `new${i}`, promptWords: words(`new${i}-`, 480), maxTokens: 1 } });
    arrivals.push({ at: 10_000, input: { id: 'again', promptWords: old, maxTokens: 1 } });
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
    const arrivals = Array.from({ length: 120 }, (_, i) => ({ at: i * 25, input: { id: `r${i}`, promptWords: words(`p${i}-`, 200), maxTokens: 100 } }));
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
    const inputs = Array.from({ length: 12 }, (_, i) => ({ id: `r${i}`, promptWords: [...shared, ...words(`u${i}-`, 10 + i)], maxTokens: 5 + i }));
    const events = runVirtual(model, inputs.map((input, i) => ({ at: i * 300, input })));
    const c = model.counters();
    const promptTotal = inputs.reduce((s, r) => s + r.promptWords.length, 0);
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
    const prefill = stepTimeMs(p, { prefillTokens: 64, decodeSeqs: 0, contextTokens: 0, transferTokens: 0 });
    const decode = stepTimeMs(p, { prefillTokens: 0, decodeSeqs: 64, contextTokens: 64 * 1000, transferTokens: 0 });
    expect(prefill).toBeGreaterThan(p.stepBaseMs);
    expect(decode).toBeGreaterThan(p.stepBaseMs);
    expect(stepTimeMs(p, { prefillTokens: 2048, decodeSeqs: 0, contextTokens: 0, transferTokens: 0 })).toBeGreaterThan(decode);
    expect(stepTimeMs({ ...p, speed: 2 }, { prefillTokens: 100, decodeSeqs: 4, contextTokens: 4000, transferTokens: 0 })).toBeCloseTo(
      stepTimeMs(p, { prefillTokens: 100, decodeSeqs: 4, contextTokens: 4000, transferTokens: 0 }) / 2,
      9,
    );
  });

  test('a long prompt is prefilled in chunks of max_num_batched_tokens, with running decodes in the same steps', () => {
    const model = createEngineModel({ maxNumBatchedTokens: 512 });
    model.add({ id: 'decoder', promptWords: words('d', 100), maxTokens: 50, arrival: 0 });
    const first = model.plan()!;
    model.commit(first, first.durationMs);
    model.add({ id: 'long', promptWords: words('l', 1500), maxTokens: 2, arrival: first.durationMs });
    const step = model.plan()!;
    expect(step.work).toEqual({ prefillTokens: 511, decodeSeqs: 1, contextTokens: 100, transferTokens: 0 });
    const events = model.commit(step, first.durationMs + step.durationMs);
    expect(events.map((e) => e.id)).toEqual(['decoder']);
  });

  test('when the KV runs out, the newest running request is preempted and later recomputed', () => {
    const model = createEngineModel({ kvBlocks: 40 }); // 640 tokens
    const events = runVirtual(model, [
      { at: 0, input: { id: 'a', promptWords: words('a', 250), maxTokens: 100 } },
      { at: 1, input: { id: 'b', promptWords: words('b', 250), maxTokens: 100 } },
    ]);
    expect(model.counters().preemptions).toBeGreaterThan(0);
    expect(events.filter((e) => e.event.finish !== null).map((e) => e.event.id).sort()).toEqual(['a', 'b']);
    expect(events.filter((e) => e.event.id === 'b').map((e) => e.event.index)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  test('requests that can never fit are refused at once', () => {
    const model = createEngineModel({ kvBlocks: 10, maxModelLen: 8192 });
    expect(model.add({ id: 'x', promptWords: words('x', 200), maxTokens: 10, arrival: 0 })).toContain('maximum context length is 160 tokens');
    expect(model.add({ id: 'y', promptWords: [], maxTokens: 10, arrival: 0 })).toContain('cannot be empty');
    expect(model.hasWork()).toBe(false);
  });

  test('priority scheduling admits the lower priority value first', () => {
    const model = createEngineModel({ scheduling: 'priority', maxNumSeqs: 1 });
    const events = runVirtual(model, [
      { at: 0, input: { id: 'running', promptWords: words('r', 50), maxTokens: 20 } },
      { at: 1, input: { id: 'low', promptWords: words('l', 50), maxTokens: 2, priority: 3 } },
      { at: 2, input: { id: 'high', promptWords: words('h', 50), maxTokens: 2, priority: 1 } },
    ]);
    const firstTokens = events.filter((e) => e.event.index === 0).map((e) => e.event.id);
    expect(firstTokens).toEqual(['running', 'high', 'low']);
  });

  test('an abort frees the request and counts as finished_reason abort', () => {
    const model = createEngineModel();
    model.add({ id: 'a', promptWords: words('a', 100), maxTokens: 10, arrival: 0 });
    model.add({ id: 'b', promptWords: words('b', 100), maxTokens: 10, arrival: 0 });
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
    const a = runVirtual(local, [{ at: 0, input: { id: 'x', promptWords: prompt, maxTokens: 2 } }]);
    const b = runVirtual(remote, [{ at: 0, input: { id: 'x', promptWords: prompt, maxTokens: 2, remotePrefill: true } }]);
    expect(ttftOf(b, 'x', 0)).toBeLessThan(ttftOf(a, 'x', 0) / 4);
  });

  test('the output is the deterministic reply of the prompt (what workloads put in chat histories)', () => {
    const model = createEngineModel();
    const prompt = words('hello', 40);
    const events = runVirtual(model, [{ at: 0, input: { id: 'x', promptWords: prompt, maxTokens: 12 } }]);
    expect(events.map((e) => e.event.word).join(' ')).toBe(replyText(prompt, 12));
  });
});
