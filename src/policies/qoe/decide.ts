// The QoE choice among predicted candidates: the endpoint most likely to meet the request's TTFT and TPOT
// targets at the least predicted time and the least harm to the requests already there (its uncached prompt
// is prefill work every stream beside it waits through); any near the best on both targets are equal, and
// of those, the one that must prefill the least, then the one with the fewest streams, takes it. When none can meet them, the one that misses
// them least. A low-priority request yields the best endpoints when they are scarce: it takes the endpoint
// that meets its targets with the least to spare, so the quick queues stay short for urgent requests.
import type { BreakerState } from '../../core/circuit-breaker.ts';
import type { Priority } from '../../signals/qoe-expectation.ts';
import type { Prediction } from './latency-predictor.ts';
import type { Stage } from './request-profile.ts';

export interface Targets {
  readonly ttftMs: number;
  readonly tpotMs: number;
  readonly priority: Priority;
  /** Set for a PD stage or a tagged pool: only that phase's latency counts. */
  readonly stage: Stage | undefined;
}

export interface Judged {
  /** Predicted over target: ≤ 1 meets it. Undefined when not predicted (or not this stage's). */
  readonly ttftRatio: number | undefined;
  readonly tpotRatio: number | undefined;
  readonly meets: boolean;
  /**
   * The two ratios added (each counts: a loose TTFT target must not hide a long re-prefill behind an equal
   * TPOT), each miss counted again LATE_WEIGHT times over, raised by the chance the request fails there, plus
   * the harm its prefill does to the streams there. Lower is better.
   */
  readonly score: number;
  /** The failure odds' factor in the score: 1 for a closed breaker and no recent errors. */
  readonly risk: number;
}

// A predicted miss weighs this much more than the same time within the target: meeting comes first.
const LATE_WEIGHT = 4;
// The harm of a prefill to the streams decoding beside it: each waits the prefill's time for one token, which
// raises its mean time per token by that time over its length (a typical reply, STREAM_TOKENS), counted as a
// share of this request's TPOT target, HARM times over (the streams that will join during it, and the requests
// queued behind it, wait too). Without it a conversation hopped to a slightly quicker engine and re-prefilled its
// context there, and chat at 20 req/s on an even fleet met 64% of SLAs against cache_aware's 99%; with it 97%
// (virtual fleet, means of seeds 1–3; 3 and 12 did no better across chat, longdoc and the mixed workload).
const HARM = 6;
const STREAM_TOKENS = 200;
// When the best endpoint has used this share of its margin on either target, good endpoints are scarce.
const SCARCE = 0.45;
// Endpoints that meet the targets and are predicted within this share of the best on each target are
// equal: predictions are no closer than that (the bar is 25% error), and choosing on a smaller
// difference sends everything to one endpoint at light load, however little better it is predicted to be.
// SLACK only absorbs rounding: a loose target makes a re-prefill a small ratio, and it must still count
// (0.02 of a 1 s target let chat conversations hop engines: hit rate 80% against 88%).
const NEAR = 0.2;
const SLACK = 0.001;
// Prompt work within this share (and one block) of the least is the same work.
const SAME_WORK = 0.1;
const BLOCK_TOKENS = 16;
// Otherwise scores closer than this are a tie, shared at random.
const TIE = 1e-9;
const BREAKER_RISK: Readonly<Record<BreakerState, number>> = { closed: 1, half_open: 2, open: 4 };

export function judge(p: Prediction, breaker: BreakerState, t: Targets): Judged {
  const ttftRatio = t.stage === 'decode' || p.ttftMs === undefined ? undefined : p.ttftMs / t.ttftMs;
  const tpotRatio = t.stage === 'prefill' || p.tpotMs === undefined ? undefined : p.tpotMs / t.tpotMs;
  const a = ttftRatio ?? 0;
  const b = tpotRatio ?? 0;
  const lateness = a + b + LATE_WEIGHT * (Math.max(0, a - 1) + Math.max(0, b - 1));
  // A failed request is retried elsewhere, paying its latency twice: the score grows with the failure odds.
  const risk = BREAKER_RISK[breaker] / (1 - Math.min(0.9, Math.max(0, p.errorRate)));
  // A PD prefill engine runs no streams of ours beside the prefill; a decode stage prefills nothing.
  const harm = t.stage === 'prefill' ? 0 : (HARM * Math.max(0, p.streams - 1) * p.prefillMs) / (STREAM_TOKENS * t.tpotMs);
  return { ttftRatio, tpotRatio, meets: a <= 1 && b <= 1, score: lateness * risk + harm, risk };
}

/** `j` is as good as `best`: it meets the targets and is within NEAR of it on each. */
function near(j: Judged, best: Judged): boolean {
  const close = (x: number | undefined, y: number | undefined) => (x ?? 0) <= (y ?? 0) * (1 + NEAR) + SLACK;
  return j.meets && close(j.ttftRatio, best.ttftRatio) && close(j.tpotRatio, best.tpotRatio) && j.score <= best.score * (1 + NEAR) + SLACK;
}

/**
 * The index of the chosen candidate. With no prediction anywhere (nothing measured yet, or no signals),
 * the least prefill work queued there plus this request's own decides, which is least-loaded routing with
 * prefix affinity. Otherwise: a low-priority request takes the tightest fit when good endpoints are scarce;
 * else the best score, shared with any near it; among those the ones that hold the most of the prompt (a
 * quicker engine that must prefill a conversation's context again is no better than its holder within the
 * predictions' error), and of those the one with the fewest streams, so new conversations spread over the
 * fleet instead of filling one engine until its streams miss their TPOT (chat at 24 req/s on an even fleet,
 * one seed: 79% of SLAs met sharing at random, 88% to the fewest streams; cache_aware 86%).
 */
export function choose(predictions: readonly Prediction[], judged: readonly Judged[], t: Targets, random: () => number): number {
  const all = judged.map((_, i) => i);
  const predicted = judged.some((j) => j.ttftRatio !== undefined || j.tpotRatio !== undefined);
  if (!predicted) {
    const least = Math.min(...all.map((i) => work(predictions[i] as Prediction)));
    return pickAmong(all.filter((i) => work(predictions[i] as Prediction) <= least + TIE * Math.max(1, least)), random);
  }
  const best = all.reduce((b, i) => ((judged[i] as Judged).score < (judged[b] as Judged).score ? i : b), 0);
  const lead = judged[best] as Judged;
  if (t.priority === 3 && Math.max(lead.ttftRatio ?? 0, lead.tpotRatio ?? 0) >= SCARCE) {
    // Best fit: the meeting endpoint with the least margin left.
    let fit = -1;
    for (const i of all) if ((judged[i] as Judged).meets && (fit < 0 || (judged[i] as Judged).score > (judged[fit] as Judged).score)) fit = i;
    if (fit >= 0) return fit;
  }
  const ties = all.filter((i) => (lead.meets ? near(judged[i] as Judged, lead) : (judged[i] as Judged).score <= lead.score + TIE * Math.max(1, lead.score)));
  if (ties.length === 1) return ties[0] as number;
  // Among equals, the least prefill work for the fleet, then the fewest streams.
  const uncached = (i: number) => (predictions[i] as Prediction).uncachedTokens;
  const leastWork = Math.min(...ties.map(uncached));
  const holders = ties.filter((i) => uncached(i) <= leastWork * (1 + SAME_WORK) + BLOCK_TOKENS);
  const streams = (i: number) => (predictions[i] as Prediction).streams;
  const fewest = Math.min(...holders.map(streams));
  return pickAmong(holders.filter((i) => streams(i) <= fewest), random);
}

function pickAmong(ties: readonly number[], random: () => number): number {
  return ties.length === 1 ? (ties[0] as number) : (ties[Math.min(ties.length - 1, Math.floor(random() * ties.length))] as number);
}

const work = (p: Prediction): number => p.aheadTokens + p.uncachedTokens;
