// Test helper: runs one EngineModel through virtual time (no timers), with requests arriving at set times.
import type { EngineModel, RequestInput, TokenEvent } from '../engine-model.ts';
import type { ReplyVocabulary } from '../tokens.ts';

export interface Arrival {
  at: number;
  input: Omit<RequestInput, 'arrival'>;
}

export interface Timed {
  at: number;
  event: TokenEvent;
}

/** Steps the model from time 0 until it is idle and every arrival is in, or until `until` (ms).
 * `onTime(t)` runs before each arrival and each step, so tests can sample gauges over time. */
export function runVirtual(model: EngineModel, arrivals: readonly Arrival[], until = Number.POSITIVE_INFINITY, onTime?: (t: number) => void): Timed[] {
  const pending = [...arrivals].sort((a, b) => a.at - b.at);
  const out: Timed[] = [];
  let t = 0;
  let plan = null as ReturnType<EngineModel['plan']>;
  let end = Number.POSITIVE_INFINITY;
  for (;;) {
    const nextArrival = pending[0]?.at ?? Number.POSITIVE_INFINITY;
    const next = Math.min(nextArrival, end);
    if (next === Number.POSITIVE_INFINITY || next > until) break;
    t = next;
    onTime?.(t);
    if (nextArrival <= end) {
      const a = pending.shift() as Arrival;
      const err = model.add({ ...a.input, arrival: a.at });
      if (err !== null) throw new Error(err);
    } else {
      for (const event of model.commit(plan as NonNullable<typeof plan>, end)) out.push({ at: end, event });
      plan = null;
      end = Number.POSITIVE_INFINITY;
    }
    if (plan === null) {
      plan = model.plan();
      if (plan !== null) end = t + plan.durationMs;
    }
  }
  return out;
}

/** Time to first token of request `id`, from its arrival. */
export function ttftOf(events: readonly Timed[], id: string, arrival: number): number {
  const first = events.find((e) => e.event.id === id && e.event.index === 0);
  if (first === undefined) throw new Error(`request ${id} produced no token`);
  return first.at - arrival;
}

/** `n` token ids named by `prefix` (ids of different prefixes differ), so prompts can be built with exact
 * lengths and controlled sharing. */
export function ids(prefix: string, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Bun.hash.xxHash32(`${prefix}${i}`) % 128_000);
}

/** A stand-in reply vocabulary for model tests that do not look at the words (sim-tokenizer.ts has the real one):
 * replies to a prompt ending in 271 ("\n\n" in Llama 3) open a line. */
export const TEST_REPLIES: ReplyVocabulary = {
  opening: [1000, 1001, 1002, 1003],
  continuing: [2000, 2001, 2002, 2003],
  opensLine: (id) => id === 271,
  text: (id) => (id < 2000 ? `w${id}` : ` w${id}`),
};
