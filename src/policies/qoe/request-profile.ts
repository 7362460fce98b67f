// What a request asks of the fleet, from its headers and body: priority, expected output, TTFT target, phase.
import { parsePriority, positiveHeader, type Priority } from '../../signals/qoe-expectation.ts';
import type { RoutingRequest } from '../types.ts';
import type { QoeOptions } from './options.ts';
import { detectPhase, type RequestPhase } from './phase.ts';

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

export function requestProfile(request: RoutingRequest, stage: Stage | undefined, options: QoeOptions): RequestProfile {
  const h = request.headers;
  const names = options.headers;
  return {
    phase: stage ?? detectPhase(request.body),
    stage,
    priority: parsePriority(h.get(names.priority)),
    expectedOutputTokens: positiveHeader(h.get(names.expectedOutputTokens)),
    slaTargetMs: positiveHeader(h.get(names.slaTarget)) ?? options.targetTtftMs,
  };
}
