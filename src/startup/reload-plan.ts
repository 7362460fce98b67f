// What a configuration reload (SIGHUP, or the --config file changing) changes in a running router, and what
// it cannot change without a restart. Pure: old and new configuration in, a plan out.
import { baseUrl, type EndpointRole } from '../core/endpoint.ts';
import type { LogLevel } from '../log/logger.ts';
import { cliName, type FlagKey } from '../config/flags.ts';
import type { Config } from '../config/schema.ts';

/** An endpoint the configuration lists (static endpoints; admin-added and discovered ones are not its business). */
export interface ConfiguredEndpoint {
  readonly url: string;
  readonly role: EndpointRole;
  readonly bootstrapPort: number | null;
  /** Its --static-models entry, when given. */
  readonly models?: readonly string[];
}

export interface ReloadPlan {
  readonly add: readonly ConfiguredEndpoint[];
  readonly remove: readonly ConfiguredEndpoint[];
  /** Policies are rebuilt (their indexes start empty) only when one of their settings changed. */
  readonly policiesChanged: boolean;
  readonly logLevel: LogLevel | undefined;
  /** Flags whose new value waits for a restart (listener addresses, the tokenizer, PD mode…). */
  readonly needsRestart: readonly string[];
}

const ENDPOINT_KEYS = ['worker_urls', 'static_models', 'prefill', 'decode'] as const satisfies readonly FlagKey[];
/** Settings the policies are built from. */
export const POLICY_KEYS = [
  'policy',
  'prefill_policy',
  'decode_policy',
  'cache_threshold',
  'balance_abs_threshold',
  'balance_rel_threshold',
  'eviction_interval',
  'max_tree_size',
  'session_header',
  'session_ttl_secs',
  'max_sessions',
  'target_ttft_ms',
  'target_itl_ms',
  'optimal_throughput',
  'qoe_probe_interval_secs',
  'qoe_weight_min',
  'qoe_weight_max',
  'qoe_adapt_interval_secs',
] as const satisfies readonly FlagKey[];
const APPLIED: ReadonlySet<string> = new Set<string>([...ENDPOINT_KEYS, ...POLICY_KEYS, 'log_level', 'config']);

export function configuredEndpoints(c: Config): ConfiguredEndpoint[] {
  if (!c.vllm_pd_disaggregation && !c.pd_disaggregation) return c.worker_urls.map((url, i) => ({ url: baseUrl(url), role: 'regular', bootstrapPort: null, ...(c.static_models[i] !== undefined && { models: [c.static_models[i]] }) }));
  return [
    ...c.prefill.map(({ url, bootstrapPort }) => ({ url: baseUrl(url), role: 'prefill' as const, bootstrapPort })),
    ...c.decode.map((url) => ({ url: baseUrl(url), role: 'decode' as const, bootstrapPort: null })),
  ];
}

export function planReload(old: Config, next: Config): ReloadPlan {
  const key = (e: ConfiguredEndpoint) => `${e.role} ${e.url} ${e.bootstrapPort} ${e.models?.join(',') ?? ''}`;
  const before = new Map(configuredEndpoints(old).map((e) => [key(e), e]));
  const after = new Map(configuredEndpoints(next).map((e) => [key(e), e]));
  const same = (k: FlagKey) => JSON.stringify(old[k]) === JSON.stringify(next[k]);
  return {
    add: [...after].filter(([k]) => !before.has(k)).map(([, e]) => e),
    remove: [...before].filter(([k]) => !after.has(k)).map(([, e]) => e),
    policiesChanged: POLICY_KEYS.some((k) => !same(k)),
    logLevel: same('log_level') ? undefined : next.log_level,
    needsRestart: (Object.keys(next) as FlagKey[]).filter((k) => !APPLIED.has(k) && !same(k)).map(cliName),
  };
}

