// The --policy values, as the Rust router spells them: the configuration's vocabulary, which policies/index.ts implements one by one.
export const POLICY_NAMES = [
  'random',
  'round_robin',
  'cache_aware',
  'power_of_two',
  'consistent_hash',
  'rendezvous_hash',
  'qoe_centric',
  'disaggregated_qoe',
  'kv_aware',
  'sticky_least_loaded',
] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];
