// What a request asks of the fleet, from its headers and body: priority, expected output, TTFT target, phase.
import type { QoeExpectation } from '../../stats/stream-qoe.ts';
import type { RoutingRequest } from '../types.ts';
import type { QoeOptions } from './options.ts';
import { detectPhase, type RequestPhase } from './phase.ts';

export type Priority = 1 | 2 | 3;
export type Stage = 'prefill' | 'decode';

export interface RequestProfile {
  /** The detected phase, or the PD stage when the router names one. */
  readonly phase: RequestPhase;
  /** Set in PD mode: only this stage's metric scores the endpoints. */
  readonly stage: Stage | undefined;
  readonly priority: Priority;
  readonly expectedOutputTokens: number | undefined;
  /** The TTFT the request must meet: its SLA header, else the configured target. */
  readonly slaTargetMs: number;
}

export const DEFAULT_PRIORITY: Priority = 2;

/** 1 high … 3 low; a fractional value rounds, anything outside 1..3 is clamped, garbage is the default. */
export function parsePriority(value: string | null): Priority {
  const n = value === null || value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(n)) return DEFAULT_PRIORITY;
  return Math.min(3, Math.max(1, Math.round(n))) as Priority;
}

function positive(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

export function requestProfile(request: RoutingRequest, stage: Stage | undefined, options: QoeOptions): RequestProfile {
  const h = request.headers;
  const names = options.headers;
  return {
    phase: stage ?? detectPhase(request.body),
    stage,
    priority: parsePriority(h.get(names.priority)),
    expectedOutputTokens: positive(h.get(names.expectedOutputTokens)),
    slaTargetMs: positive(h.get(names.slaTarget)) ?? options.targetTtftMs,
  };
}

/** The streaming-QoE expectation of a request: its TTFT target and reading pace, from headers or defaults. */
export function qoeExpectation(headers: Headers, options: QoeOptions): QoeExpectation {
  return {
    ttftMs: positive(headers.get(options.headers.slaTarget)) ?? options.targetTtftMs,
    tokensPerSecond: positive(headers.get(options.headers.expectedTokensPerSecond)) ?? options.expectedTokensPerSecond,
  };
}
