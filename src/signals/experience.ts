// What one request was like for its user, measured on the bytes the router forwards: time to first token
// against the request's target (SLA met or missed), decode pace, stream QoE (Andes: 1 − delayed/whole area of
// the expected token timeline), and end-to-end time, all by request priority.
import type { Metrics } from '../metrics/metrics.ts';
import { parsePriority, qoeExpectation, type ExpectationOptions } from './qoe-expectation.ts';
import { createStreamQoe } from './stream-qoe.ts';

export interface Experience {
  /** A chunk left for the client at `now` (ms on the request's clock). */
  chunk(bytes: Uint8Array, now: number): void;
  /** The body is over; `served` is false when the request failed (no SLA verdict, no QoE). */
  finish(now: number, served: boolean): void;
}

export type ExperienceFactory = (headers: Headers, startedAt: number, worker: string, isStream: boolean) => Experience;

const LF = 0x0a;

/**
 * SSE events in a chunk: each ends with a blank line. vLLM sends one token per event. One native search per
 * line end, and past a blank line the search starts after it (a chunk of a thousand events costs a thousand
 * searches, not two thousand).
 */
function eventsIn(bytes: Uint8Array): number {
  let n = 0;
  let i = bytes.indexOf(LF);
  while (i !== -1 && i + 1 < bytes.length) {
    if (bytes[i + 1] === LF) {
      n++;
      i = bytes.indexOf(LF, i + 2);
    } else i = bytes.indexOf(LF, i + 1);
  }
  return n;
}

export function experienceFactory(metrics: Metrics, qoe: ExpectationOptions): ExperienceFactory {
  return (headers, startedAt, worker, isStream) => {
    const priority = String(parsePriority(headers.get(qoe.headers.priority)));
    // Only a stream has a token timeline to judge; other answers record their end-to-end time alone.
    const expected = isStream ? qoeExpectation(headers, qoe) : undefined;
    const stream = expected === undefined ? undefined : createStreamQoe(expected);
    let first: number | undefined;
    let last = 0;
    let events = 0;
    return {
      chunk(bytes, now) {
        if (stream === undefined) return;
        const n = eventsIn(bytes);
        if (n === 0) return;
        first ??= now;
        last = now;
        events += n;
        stream.tokens(now - startedAt, n);
      },
      finish(now, served) {
        metrics.e2eByPriority.labels(priority).observe((now - startedAt) / 1000);
        if (stream === undefined || expected === undefined || !served) return;
        const qoeValue = stream.finish();
        if (first === undefined || qoeValue === undefined) return;
        const ttftMs = first - startedAt;
        metrics.sla.labels(priority, ttftMs <= expected.ttftMs ? 'met' : 'missed').inc();
        metrics.streamQoe.labels(priority, worker).observe(qoeValue);
        metrics.prefillLatency.labels(worker).observe(ttftMs / 1000);
        if (events > 1 && last > first) metrics.decodingThroughput.labels(worker).observe(((events - 1) * 1000) / (last - first));
      },
    };
  };
}
