// The policy registry: every routing policy by its wire name; adding one is one file and one line here.
import { cacheAwarePolicy, kvAwarePolicy } from './cache-aware.ts';
import { consistentHash } from './consistent-hash.ts';
import { disaggregatedQoe } from './disaggregated-qoe.ts';
import { perModel } from './per-model.ts';
import { powerOfTwo } from './power-of-two.ts';
import { qoeCentric } from './qoe-centric.ts';
import { random } from './random.ts';
import { rendezvousHash } from './rendezvous-hash.ts';
import { roundRobin } from './round-robin.ts';
import { stickyLeastLoaded } from './sticky-least-loaded.ts';
import type { PolicyName } from '../config/policy-names.ts';
import type { Policy, PolicyDeps, PolicyFactory } from './types.ts';

export const POLICIES = {
  random,
  round_robin: roundRobin,
  cache_aware: cacheAwarePolicy,
  power_of_two: powerOfTwo,
  consistent_hash: consistentHash,
  rendezvous_hash: rendezvousHash,
  qoe_centric: qoeCentric,
  disaggregated_qoe: disaggregatedQoe,
  kv_aware: kvAwarePolicy,
  sticky_least_loaded: stickyLeastLoaded,
} satisfies Record<PolicyName, PolicyFactory>;

/**
 * Policies whose state holds for one model only: each model the fleet lists gets an instance (per-model.ts).
 * kv_aware is not among them: its block hashes start from a chain root per LoRA adapter (as vLLM's do), so an
 * adapter's blocks never match the base model's, and two base models never share an engine (vLLM serves one),
 * which the model filter already keeps apart.
 */
const PER_MODEL: ReadonlySet<PolicyName> = new Set(['round_robin', 'cache_aware']);

/** A fresh instance of the named policy. */
export function createPolicy(name: PolicyName, deps: PolicyDeps): Policy {
  const factory: PolicyFactory = POLICIES[name];
  return PER_MODEL.has(name) ? perModel(() => factory(deps)) : factory(deps);
}
