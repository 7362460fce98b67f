import { describe, expect, test } from 'bun:test';
import { replay } from '../client.ts';
import { classTable, percentile, summarize, markdownTable } from '../report.ts';
import { aggregateSeeds } from '../seed-aggregate.ts';
import { startSimEngine } from '../sim-engine.ts';
import { loadSimTokenizer } from '../sim-tokenizer.ts';
import { buildWorkload } from '../workloads.ts';

const FAST = { stepBaseMs: 1, prefillMsPerToken: 0.01, prefillAttentionMsPerKTokens: 0, decodeMsPerSeq: 0, attentionMsPerKTokens: 0 };
const tokenizer = loadSimTokenizer();

describe('replay client and report', () => {
  test('replays a workload open-loop and times every request from the SSE it receives', async () => {
    await using engine = await startSimEngine({ model: 'm', tokenizer, params: FAST });
    const specs = buildWorkload('mixed', { seed: 3, rate: 40, durationSec: 1, model: 'm', tokenizer });
    const { results, spanMs } = await replay(engine.url, specs, { drainMs: 60_000 });
    expect(results.length).toBe(specs.length);
    for (const [i, r] of results.entries()) {
      const spec = specs[i]!;
      expect(r.outcome).toBe('ok');
      expect(r.tokens).toBe(spec.maxTokens);
      // The workload's token count and the engine's agree (usage chunk).
      expect(r.promptTokens).toBe(spec.promptTokens);
      expect(r.itlMs.length).toBe(spec.maxTokens - 1);
      expect(r.ttftMs!).toBeGreaterThan(0);
      expect(r.e2eMs!).toBeGreaterThanOrEqual(r.ttftMs!);
      expect(r.sentAt).toBeGreaterThanOrEqual(spec.at - 1);
      // Far ahead of every class's expected pace: the stream never lags, and the engine answered directly.
      expect(r.qoe).toBe(1);
      expect(r.servedBy).toBeNull();
    }
    const c = engine.counters();
    const summary = summarize('direct', 40, results, spanMs, { prefixCacheQueries: c.prefixCacheQueries, prefixCacheHits: c.prefixCacheHits, preemptions: c.preemptions, perEngineRequests: [c.requestSuccess.length!] });
    expect(summary.ok).toBe(specs.length);
    expect(summary.perEngineRequests).toEqual([specs.length]);
    expect(summary.sla).toBe(1);
    expect(summary.qoe).toBe(1);
    expect(Object.keys(summary.slaByClass).sort()).toEqual(['batch', 'chat', 'longdoc']);
    expect(summary.byClass.chat).toMatchObject({ priority: 1, sla: 1, qoe: 1, perEngine: [] });
    const row = aggregateSeeds([summary], [3]);
    const md = markdownTable([row], [{ policy: 'cache_aware', reason: 'not supported yet' }]);
    expect(md).toContain('| direct |');
    expect(md).toContain('SLA chat');
    expect(md).toContain('mean stream QoE');
    expect(md).toContain('cache_aware: skipped: not supported yet');
    expect(classTable([row])).toContain('p1 chat: SLA met');
  });

  test("stream QoE is the router's Andes measure on the tokens the client saw: below 1 when behind the expected timeline", async () => {
    // 1 ms per prompt token: a chat's 1000+ token prompt brings its first token after the 1 s the user expects.
    await using engine = await startSimEngine({ model: 'm', tokenizer, params: { ...FAST, prefillMsPerToken: 1 } });
    const specs = buildWorkload('chat', { seed: 2, rate: 4, durationSec: 0.5, model: 'm', tokenizer });
    const { results } = await replay(engine.url, specs, { drainMs: 60_000 });
    for (const r of results) {
      expect(r.outcome).toBe('ok');
      expect(r.qoe).toBeGreaterThan(0);
      expect(r.qoe).toBeLessThan(1);
    }
  });

  test('requests still running at the drain deadline are cut off and miss their SLA', async () => {
    await using engine = await startSimEngine({ model: 'm', tokenizer, params: { ...FAST, stepBaseMs: 50 } });
    const specs = buildWorkload('chat', { seed: 1, rate: 5, durationSec: 0.5, model: 'm', tokenizer });
    const { results } = await replay(engine.url, specs, { drainMs: 100 });
    expect(results.every((r) => r.outcome === 'timeout' && !r.slaMet && r.qoe === 0)).toBe(true);
  });

  test('percentiles are nearest-rank and keep requests that never got a token at the top', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(v, 0.5)).toBe(50);
    expect(percentile(v, 0.99)).toBe(99);
    expect(percentile([...v.slice(0, 98), Infinity, Infinity], 0.99)).toBe(Infinity);
  });
});
