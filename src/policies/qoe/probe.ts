// Never starve an endpoint: one that got no request from this policy for a probe interval, or whose speed
// was never measured, takes the next request, so what is known of it stays current. An engine that was
// slow and is fast again is seen to be fast at its next probe; while its speed is still settling (the last
// sample moved it by a fifth or more) it is probed again after a fifth of the interval, so a recovered
// engine is known to be fast within seconds, and takes its share back from there. The share this costs is
// bounded: one request per endpoint per interval, five while its speed moves.
import type { Endpoint } from '../../core/endpoint.ts';
import type { Priority } from '../../signals/qoe-expectation.ts';
import type { Prediction } from './latency-predictor.ts';

const SETTLING_SPEEDUP = 5;

export interface Prober {
  /** The candidate that must take this request, if one is due. */
  due(candidates: readonly Endpoint[], predictions: readonly Prediction[], priority: Priority, now: number): number | undefined;
  /** The policy sent a request to `id`. */
  sent(id: string, now: number): void;
  retain(ids: ReadonlySet<string>): void;
}

/** `createdAt` stands for "last sent" until a first request: a new policy waits one interval before probing a measured endpoint. */
export function createProber(intervalMs: number, createdAt: number): Prober {
  const lastSent = new Map<string, number>();
  return {
    due(candidates, predictions, priority, now) {
      // An urgent request is not spent on a probe unless the endpoint has waited twice as long.
      const limit = priority === 1 ? 2 * intervalMs : intervalMs;
      let chosen: number | undefined;
      let chosenNew = false;
      let chosenRank = -Infinity;
      for (let i = 0; i < candidates.length; i++) {
        const sentAt = lastSent.get((candidates[i] as Endpoint).id);
        const p = predictions[i] as Prediction;
        // Never sent anything and never measured: its first request is how it gets measured.
        const fresh = sentAt === undefined && (p.ttftBasis === 'fleet' || p.ttftBasis === 'none');
        const idle = now - (sentAt ?? createdAt);
        if (!fresh && idle < (p.settling ? limit / SETTLING_SPEEDUP : limit)) continue;
        // New endpoints first, the one with the least work queued; then the longest idle.
        const rank = fresh ? -(p.aheadTokens + p.uncachedTokens) : idle;
        if ((fresh && !chosenNew) || (fresh === chosenNew && rank > chosenRank)) {
          chosen = i;
          chosenNew = fresh;
          chosenRank = rank;
        }
      }
      return chosen;
    },
    sent(id, now) {
      lastSent.set(id, now);
    },
    retain(ids) {
      for (const id of [...lastSent.keys()]) if (!ids.has(id)) lastSent.delete(id);
    },
  };
}
