import { describe, expect, test } from 'bun:test';
import { poissonArrivals } from '../arrivals.ts';
import { createRng } from '../rng.ts';
import { loadSimTokenizer } from '../sim-tokenizer.ts';
import { replyText } from '../tokens.ts';
import { buildWorkload, noisyEstimate, SHAPE, WORKLOADS } from '../workloads.ts';

const tokenizer = loadSimTokenizer();
const opts = { seed: 7, rate: 10, durationSec: 30, model: 'm', tokenizer };

describe('workloads', () => {
  test('a replay with the same seed gives the same request sequence', () => {
    for (const name of WORKLOADS) {
      const a = buildWorkload(name, opts);
      const b = buildWorkload(name, opts);
      expect(a.length).toBeGreaterThan(0);
      expect(b).toEqual(a);
      const other = buildWorkload(name, { ...opts, seed: 8 });
      expect(other.map((r) => r.body)).not.toEqual(a.map((r) => r.body));
    }
  });

  test('arrivals are a Poisson process at the chosen rate', () => {
    const times = poissonArrivals(createRng(1), 20, 500);
    expect(times.length / 500).toBeGreaterThan(19);
    expect(times.length / 500).toBeLessThan(21);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    const mean = gaps.reduce((s, g) => s + g, 0) / gaps.length;
    const cv = Math.sqrt(gaps.reduce((s, g) => s + (g - mean) ** 2, 0) / gaps.length) / mean;
    expect(mean).toBeCloseTo(50, -1);
    expect(cv).toBeGreaterThan(0.9); // exponential gaps: coefficient of variation 1
    expect(cv).toBeLessThan(1.1);
  });

  test('chat turns extend their conversation word for word, with the engine\'s own reply in the history', () => {
    const reqs = buildWorkload('chat', opts);
    const bySession = new Map<string, { at: number; messages: { role: string; content: string }[]; max: number }[]>();
    for (const r of reqs) {
      const body = JSON.parse(r.body) as { messages: { role: string; content: string }[]; max_tokens: number };
      const session = r.tag.split('#')[0]!;
      bySession.set(session, [...(bySession.get(session) ?? []), { at: r.at, messages: body.messages, max: body.max_tokens }]);
      expect(r.promptTokens).toBe(tokenizer.chatIds(body.messages).length);
    }
    const multi = [...bySession.values()].filter((turns) => turns.length > 1);
    expect(multi.length).toBeGreaterThan(5);
    for (const turns of multi) {
      for (let k = 1; k < turns.length; k++) {
        const prev = turns[k - 1]!;
        const cur = turns[k]!;
        expect(cur.messages.slice(0, prev.messages.length)).toEqual(prev.messages);
        expect(cur.messages[prev.messages.length]).toEqual({ role: 'assistant', content: replyText(tokenizer.replies, tokenizer.chatIds(prev.messages), prev.max) });
        expect(cur.at - prev.at).toBeGreaterThanOrEqual(SHAPE.thinkFloorMs);
      }
    }
    // Conversations share their system prompts: far fewer distinct ones than sessions.
    const systems = new Set(reqs.map((r) => (JSON.parse(r.body) as { messages: { content: string }[] }).messages[0]!.content));
    expect(systems.size).toBeLessThanOrEqual(SHAPE.systemPrompts);
  });

  test('long-document questions share whole documents; the mix carries priorities and SLA headers', () => {
    const docs = buildWorkload('longdoc', opts);
    const hot = docs.filter((r) => r.tag === 'doc0');
    expect(hot.length).toBeGreaterThan(docs.length / 8);
    const system = (r: (typeof docs)[number]) => (JSON.parse(r.body) as { messages: { content: string }[] }).messages[0]!.content;
    expect(new Set(hot.map(system)).size).toBe(1);
    expect(system(hot[0]!).split(' ').length).toBeGreaterThanOrEqual(SHAPE.documentTokens[0]);

    const mixed = buildWorkload('mixed', opts);
    expect(new Set(mixed.map((r) => r.cls))).toEqual(new Set(['chat', 'longdoc', 'batch']));
    for (const r of mixed) {
      expect(r.headers['x-request-priority']).toBe(String(r.priority));
      // No foresight: a real client does not know the output length, so by default no estimate is sent.
      expect(r.headers['x-expected-output-tokens']).toBeUndefined();
      expect(r.headers['x-sla-target-ms']).toBe(String(r.sla.ttftMs));
      // The TPOT target, which the QoE policies predict against (--sla-tpot-header).
      expect(r.headers['x-sla-tpot-ms']).toBe(String(r.sla.tpotMs));
      // The stream-QoE pace, so the router's QoE histogram and the client's figure expect the same timeline.
      expect(Number(r.headers['x-expected-tokens-per-second'])).toBe(1000 / r.sla.tpotMs);
      expect(r.headers['x-request-id']).toBeUndefined(); // would become the hash policies' session key
    }
    expect(mixed.find((r) => r.cls === 'batch')!.path).toBe('/v1/completions');
  });

  test('with a noise level the client sends a noisy output-length estimate: unbiased in the median, rarely exact', () => {
    const plain = buildWorkload('mixed', opts);
    const noisy = buildWorkload('mixed', { ...opts, outputEstimateNoise: 0.5 });
    // The estimate has its own random stream: the requests themselves do not change.
    expect(noisy.map((r) => r.body)).toEqual(plain.map((r) => r.body));
    const ratios = noisy.map((r) => Number(r.headers['x-expected-output-tokens']) / r.maxTokens).sort((a, b) => a - b);
    expect(ratios.every((x) => x > 0)).toBe(true);
    expect(ratios[Math.floor(ratios.length / 2)]!).toBeGreaterThan(0.85);
    expect(ratios[Math.floor(ratios.length / 2)]!).toBeLessThan(1.15);
    expect(ratios.filter((x) => Math.abs(x - 1) < 0.02).length / ratios.length).toBeLessThan(0.1);
    // σ 0.5: about half the estimates within ×0.71–1.4 of the truth.
    const within = ratios.filter((x) => x > 0.71 && x < 1.4).length / ratios.length;
    expect(within).toBeGreaterThan(0.4);
    expect(within).toBeLessThan(0.6);
    const rng = createRng(1);
    expect(Array.from({ length: 100 }, () => noisyEstimate(rng, 1, 2)).every((x) => x >= 1)).toBe(true);
  });
});
