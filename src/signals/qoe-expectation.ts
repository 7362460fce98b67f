// What a request's headers say it expects: its priority and, for a stream, its TTFT target and reading pace.
// Read by the QoE policies (policies/qoe/request-profile.ts), admission and the experience recorder alike.
import type { QoeExpectation } from './stream-qoe.ts';

export type Priority = 1 | 2 | 3;

export const DEFAULT_PRIORITY: Priority = 2;

/** The header names and the defaults they fall back to (a part of policies/qoe/options.ts QoeOptions). */
export interface ExpectationOptions {
  readonly targetTtftMs: number;
  readonly expectedTokensPerSecond: number;
  readonly headers: {
    readonly priority: string;
    readonly slaTarget: string;
    readonly expectedTokensPerSecond: string;
  };
}

/** 1 high … 3 low; a fractional value rounds, anything outside 1..3 is clamped, garbage is the default. */
export function parsePriority(value: string | null): Priority {
  const n = value === null || value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(n)) return DEFAULT_PRIORITY;
  return Math.min(3, Math.max(1, Math.round(n))) as Priority;
}

/** A positive number from a header, or undefined. */
export function positiveHeader(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** The streaming-QoE expectation of a request: its TTFT target and reading pace, from headers or defaults. */
export function qoeExpectation(headers: Headers, options: ExpectationOptions): QoeExpectation {
  return {
    ttftMs: positiveHeader(headers.get(options.headers.slaTarget)) ?? options.targetTtftMs,
    tokensPerSecond: positiveHeader(headers.get(options.headers.expectedTokensPerSecond)) ?? options.expectedTokensPerSecond,
  };
}
