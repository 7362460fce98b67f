// `qoe_centric`: the endpoint with the lowest QoE cost (α·resource + β·performance + γ·reliability +
// δ·priority + SLA penalty), where performance weighs TTFT and ITL by the request's detected phase, or by
// the PD stage the router names. Cost and weights: src/policies/qoe/.
import { createQoePolicy, type QoePolicy } from './qoe/qoe-policy.ts';
import type { PolicyDeps } from './types.ts';

export const qoeCentric = (deps: PolicyDeps): QoePolicy => createQoePolicy('qoe_centric', deps);
