// The QoE choice on given predictions: the harm a prefill does to the streams beside it, and the fewest
// streams among endpoints predicted equal.
import { describe, expect, test } from 'bun:test';
import { choose, judge, type Targets } from '../../src/policies/qoe/decide.ts';
import type { Prediction } from '../../src/policies/qoe/latency-predictor.ts';

const targets: Targets = { ttftMs: 1000, tpotMs: 100, priority: 1, stage: undefined };

function prediction(p: Partial<Prediction>): Prediction {
  return { ttftMs: 200, tpotMs: 40, ttftBasis: 'learned', tpotBasis: 'learned', uncachedTokens: 16, aheadTokens: 0, streams: 1, prefillMs: 4, tpotHarmMs: 0, prefillWindowTokens: 0, errorRate: 0, settling: false, ...p };
}

const decide = (ps: readonly Prediction[], t: Targets = targets, random = () => 0) =>
  choose(ps, ps.map((p) => judge(p, 'closed', t)), t, random);

describe('QoE choice', () => {
  test('a conversation stays where its context is cached rather than re-prefilling it beside many streams on a quicker engine', () => {
    // The holder prefills 16 new tokens behind a queue; the other is much quicker to a first token but must
    // prefill 3,000 (750 ms of engine time) while 30 streams decode there.
    const holder = prediction({ ttftMs: 600, tpotMs: 50, uncachedTokens: 16, prefillMs: 4, streams: 31 });
    const other = prediction({ ttftMs: 250, tpotMs: 45, uncachedTokens: 3000, prefillMs: 750, streams: 31 });
    expect(decide([other, holder])).toBe(1);
    // With no streams beside it the re-prefill harms no one there, and the quicker engine is taken.
    expect(decide([prediction({ ...other, streams: 1 }), prediction({ ...holder, streams: 1 })])).toBe(0);
  });

  test('a PD prefill stage has no streams of ours beside it: no harm is counted', () => {
    const prefill: Targets = { ...targets, stage: 'prefill' };
    const quick = prediction({ ttftMs: 250, tpotMs: undefined, uncachedTokens: 3000, prefillMs: 750, streams: 31 });
    const holder = prediction({ ttftMs: 400, tpotMs: undefined, uncachedTokens: 16, prefillMs: 4, streams: 31 });
    expect(decide([quick, holder], prefill)).toBe(0);
  });

  test('among endpoints predicted equal, the one holding the prompt: a little quicker is not worth a re-prefill', () => {
    const holder = prediction({ ttftMs: 300, uncachedTokens: 40, prefillMs: 10, streams: 6 });
    const quicker = prediction({ ttftMs: 270, uncachedTokens: 2600, prefillMs: 650, streams: 2 });
    for (const r of [0, 0.5, 0.99]) expect(decide([quicker, holder], targets, () => r)).toBe(1);
  });

  test('among endpoints predicted equal, the one with the fewest streams', () => {
    const ps = [prediction({ streams: 9 }), prediction({ streams: 3 }), prediction({ streams: 5 })];
    for (const r of [0, 0.5, 0.99]) expect(decide(ps, targets, () => r)).toBe(1);
  });
});
