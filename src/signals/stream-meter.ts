// Times one response as its chunks leave for the client: first byte, gaps between chunks, usage at the end.
// It keeps references to the last few chunks only; nothing is copied or re-parsed on the way.
import type { LiveStream } from './endpoint-stats.ts';
import { usageInTail, type Usage } from './usage.ts';

export interface StreamSummary {
  /** Request arrival to the first body byte sent (the router's time to first token). */
  readonly ttftMs: number | undefined;
  /** Mean gap between consecutive chunks after the first (inter-token latency, as seen by the client). */
  readonly meanItlMs: number | undefined;
  readonly chunks: number;
  readonly totalMs: number;
  readonly usage: Usage | undefined;
  /** Completion tokens per second of decoding (after the first token), when usage was reported. */
  readonly tokensPerSecond: number | undefined;
}

/** Also a LiveStream (signals/endpoint-stats.ts): a policy reads how far the stream has come from it. */
export interface StreamMeter extends LiveStream {
  chunk(bytes: Uint8Array, now: number): void;
  finish(now: number): StreamSummary;
}

export function createStreamMeter(startedAt: number, onGap?: (ms: number) => void): StreamMeter {
  let first: number | undefined;
  let previous = 0;
  let gapSum = 0;
  let gaps = 0;
  let chunks = 0;
  // The last three chunks (the usage event may be cut across them, [DONE] after it): three references, no array.
  let third: Uint8Array | undefined;
  let second: Uint8Array | undefined;
  let last: Uint8Array | undefined;
  return {
    get firstAt() {
      return first;
    },
    get lastAt() {
      return previous;
    },
    get gaps() {
      return gaps;
    },
    chunk(bytes, now) {
      chunks++;
      if (first === undefined) first = now;
      else {
        const gap = now - previous;
        gapSum += gap;
        gaps++;
        onGap?.(gap);
      }
      previous = now;
      third = second;
      second = last;
      last = bytes;
    },
    finish(now) {
      const usage = last === undefined ? undefined : usageInTail(third !== undefined ? [third, second!, last] : second !== undefined ? [second, last] : [last]);
      const decodeSecs = first === undefined ? 0 : (previous - first) / 1000;
      return {
        ttftMs: first === undefined ? undefined : first - startedAt,
        meanItlMs: gaps === 0 ? undefined : gapSum / gaps,
        chunks,
        totalMs: now - startedAt,
        usage,
        tokensPerSecond: usage && usage.completionTokens > 1 && decodeSecs > 0 ? (usage.completionTokens - 1) / decodeSecs : undefined,
      };
    },
  };
}
