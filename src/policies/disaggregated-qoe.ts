// `disaggregated_qoe`: detect the request's phase (or take the PD stage), keep the endpoints tagged for it
// (prefill / decode tags in metadata or URL), and pick the lowest QoE cost with that phase's metric alone:
// TTFT and queue for prefill, ITL, speed and KV room for decode. When no endpoint is tagged for the phase,
// every candidate runs both phases of the request, so it is scored on both, as qoe_centric does.
import { createQoePolicy, type QoePolicy } from './qoe/qoe-policy.ts';
import type { PolicyDeps } from './types.ts';

export const disaggregatedQoe = (deps: PolicyDeps): QoePolicy => createQoePolicy('disaggregated_qoe', deps);
