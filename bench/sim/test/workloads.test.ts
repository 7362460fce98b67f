import { describe, expect, test } from 'bun:test';
import { poissonArrivals } from '../arrivals.ts';
import { createRng } from '../rng.ts';
import { renderChat, replyText } from '../tokens.ts';
import { buildWorkload, SHAPE, WORKLOADS } from '../workloads.ts';

const opts = { seed: 7, rate: 10, durationSec: 30, model: 'm' };

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
      expect(r.promptTokens).toBe(renderChat(body.messages).length);
    }
    const multi = [...bySession.values()].filter((turns) => turns.length > 1);
    expect(multi.length).toBeGreaterThan(5);
    for (const turns of multi) {
      for (let k = 1; k < turns.length; k++) {
        const prev = turns[k - 1]!;
        const cur = turns[k]!;
        expect(cur.messages.slice(0, prev.messages.length)).toEqual(prev.messages);
        expect(cur.messages[prev.messages.length]).toEqual({ role: 'assistant', content: replyText(renderChat(prev.messages), prev.max) });
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
      expect(r.headers['x-expected-output-tokens']).toBe(String(r.maxTokens));
      expect(r.headers['x-sla-target-ms']).toBe(String(r.sla.ttftMs));
      // The stream-QoE pace, so the router's QoE histogram and the client's figure expect the same timeline.
      expect(Number(r.headers['x-expected-tokens-per-second'])).toBe(1000 / r.sla.tpotMs);
      expect(r.headers['x-request-id']).toBeUndefined(); // would become the hash policies' session key
    }
    expect(mixed.find((r) => r.cls === 'batch')!.path).toBe('/v1/completions');
  });
});
