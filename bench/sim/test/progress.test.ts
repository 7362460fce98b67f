import { describe, expect, test } from 'bun:test';
import { createProgress, progressLine, type ProgressState } from '../progress.ts';

const state = (over: Partial<ProgressState> = {}): ProgressState => ({
  run: 3,
  runs: 10,
  label: 'cache_aware',
  rate: 16,
  rateUnit: 'req/s',
  seed: 2,
  done: 120,
  total: 240,
  replayStartedAt: 1000,
  arrivalsEndMs: 15_000,
  deadlineMs: 30_000,
  finishedRunsMs: [],
  runStartedAt: 0,
  ...over,
});

function sink(): { out: { write(t: string): void }; text: () => string } {
  let all = '';
  return { out: { write: (t) => void (all += t) }, text: () => all };
}

describe('progress line', () => {
  test('names the run, the requests done and the time left', () => {
    expect(progressLine(state(), 6000)).toBe('[3/10] cache_aware @ 16 req/s, seed 2: 120/240 requests done, 10 s of arrivals left');
    expect(progressLine(state(), 21_000)).toBe('[3/10] cache_aware @ 16 req/s, seed 2: 120/240 requests done, draining, at most 10 s left');
    expect(progressLine(state({ replayStartedAt: null }), 0)).toBe('[3/10] cache_aware @ 16 req/s, seed 2: starting the fleet');
    // After finished runs, the rest of this run and the 7 still to come at their mean wall time (30 s each).
    expect(progressLine(state({ finishedRunsMs: [20_000, 40_000] }), 10_000)).toBe('[3/10] cache_aware @ 16 req/s, seed 2: 120/240 requests done, 6 s of arrivals left; about 4 min left in all');
    expect(progressLine(state({ run: 10, finishedRunsMs: [30_000], rateUnit: 'sessions/s', rate: 0.5 }), 25_000)).toContain('@ 0.5 sessions/s, seed 2: 120/240 requests done, draining, at most 6 s left; about 5 s left in all');
  });

  test('in a log: a line at most every few seconds', () => {
    let now = 0;
    const s = sink();
    const p = createProgress(s.out, { tty: false, everyMs: 5000, now: () => now });
    p.show('one');
    now = 4999;
    p.show('two');
    now = 5000;
    p.show('three');
    p.clear();
    now = 9999;
    p.show('four');
    now = 10_000;
    p.show('five');
    expect(s.text()).toBe('one\nthree\nfive\n');
  });

  test('on a terminal: one line rewritten in place, cut to the width, erased before other output', () => {
    const s = sink();
    const p = createProgress(s.out, { tty: true, everyMs: 0, now: () => 0, columns: () => 10 });
    p.clear(); // nothing shown yet: nothing to erase
    p.show('short');
    p.show('a line longer than ten');
    p.clear();
    p.clear();
    expect(s.text()).toBe('\r\u001b[2Kshort\r\u001b[2Ka line l…\r\u001b[2K');
  });
});
