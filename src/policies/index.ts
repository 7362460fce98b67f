// The policy registry: every routing policy by its wire name; adding one is one file and one line here.
import { cacheAwarePolicy, kvAwarePolicy } from './cache-aware.ts';
import { consistentHash } from './consistent-hash.ts';
import { disaggregatedQoe } from './disaggregated-qoe.ts';
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

/** A fresh instance of the named policy. */
export function createPolicy(name: PolicyName, deps: PolicyDeps): Policy {
  const factory: PolicyFactory = POLICIES[name];
  return factory(deps);
}
