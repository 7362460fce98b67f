// `disaggregated_qoe`: detect the request's phase (or take the PD stage), keep the endpoints tagged for it
// (prefill / decode tags in metadata or URL; every candidate when none is tagged), and pick the lowest QoE
// cost with that phase's metric alone: TTFT and queue for prefill, ITL, speed and KV room for decode.
import { createQoePolicy, type QoePolicy } from './qoe/qoe-policy.ts';
import type { PolicyDeps } from './types.ts';

export const disaggregatedQoe = (deps: PolicyDeps): QoePolicy => createQoePolicy('disaggregated_qoe', deps);
