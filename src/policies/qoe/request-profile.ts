// What a request asks of the fleet, from its headers and body: priority, TTFT and TPOT targets, phase.
// The expected output length a client may send is not read: real clients do not send it, and a decision
// that trusts it is only as good as a guess nobody makes (issue #18).
import { parsePriority, positiveHeader, type Priority } from '../../signals/qoe-expectation.ts';
import type { RoutingRequest } from '../types.ts';
import type { QoeOptions } from './options.ts';
import { detectPhase, type RequestPhase } from './phase.ts';

export type Stage = 'prefill' | 'decode';

export interface RequestProfile {
  /** The detected phase, or the PD stage when the router names one. */
  readonly phase: RequestPhase;
  /** Set in PD mode (or for a tagged pool): only this stage's latency decides. */
  readonly stage: Stage | undefined;
  readonly priority: Priority;
  /** The TTFT the request must meet: its SLA header, else the configured target. */
  readonly slaTargetMs: number;
  /** The time per output token it must meet: its TPOT header, else the configured ITL target. */
  readonly tpotTargetMs: number;
}

export function requestProfile(request: RoutingRequest, stage: Stage | undefined, options: QoeOptions): RequestProfile {
  const h = request.headers;
  const names = options.headers;
  return {
    phase: stage ?? detectPhase(request.body),
    stage,
    priority: parsePriority(h.get(names.priority)),
    slaTargetMs: positiveHeader(h.get(names.slaTarget)) ?? options.targetTtftMs,
    tpotTargetMs: positiveHeader(h.get(names.slaTpot)) ?? options.targetItlMs,
  };
}
