// production-stack's command line (and its --dynamic-config file) → this router's settings, errors as values.
import type { ConfigError } from './errors.ts';
import { FLAGS, cliName, type FlagKey } from './flags.ts';
import { MODEL_TYPES, PS_FLAGS, psFlagName, type PsFlag, type PsKey } from './production-stack-flags.ts';
import { urlProblem } from './schema.ts';

/** Settings this router reads; `static_models` and `static_aliases` are model-aware routing's flags. */
export type MappedKey = FlagKey | 'static_models' | 'static_aliases';
export type PsValues = Partial<Record<PsKey, string | boolean>>;

export interface PsArgv {
  readonly ps: PsValues;
  /** This router's own flags given alongside (--admin-api-key, --kv-events-port…), for its own parser. */
  readonly rest: readonly string[];
  readonly help: boolean;
  readonly version: boolean;
}

export interface PsTranslation {
  readonly values: Partial<Record<MappedKey, unknown>>;
  /** The production-stack flag each setting came from, to name it when this router's own flag sets it too. */
  readonly origin: ReadonlyMap<MappedKey, string>;
  readonly warnings: readonly string[];
}

const byPsName: ReadonlyMap<string, PsKey> = new Map((Object.keys(PS_FLAGS) as PsKey[]).map((k) => [psFlagName(k), k]));
const rustNames: ReadonlySet<string> = new Set(
  Object.entries(FLAGS).flatMap(([key, f]) => [cliName(key), ...(('aliases' in f.meta ? f.meta.aliases : undefined) ?? []).map((a) => `--${a}`)]),
);
const flag = (k: PsKey): PsFlag => PS_FLAGS[k];
const nameOf = (token: string) => (token.includes('=') ? token.slice(0, token.indexOf('=')) : token);

/**
 * production-stack's dialect is told apart by a flag only it has (`--routing-logic`, `--static-backends`…), or
 * by a value only it gives: `--service-discovery static|k8s|external-only`, which is a switch here.
 */
export function isProductionStackArgv(argv: readonly string[]): boolean {
  return argv.some((token, i) => {
    const name = nameOf(token);
    if (name === '--service-discovery') {
      const given = token.includes('=') ? token.slice(token.indexOf('=') + 1) : argv[i + 1];
      return given !== undefined && (PS_FLAGS.service_discovery.choices ?? []).includes(given);
    }
    return byPsName.has(name) && !rustNames.has(name);
  });
}

/** argparse's syntax: `--flag VALUE`, `--flag=VALUE`, switches; tokens that are not production-stack's go to `rest`. */
export function parseProductionStackArgv(argv: readonly string[]): PsArgv | ConfigError {
  const ps: PsValues = {};
  const rest: string[] = [];
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '-h' || token === '--help') help = true;
    else if (token === '--version') version = true;
    else {
      const key = byPsName.get(nameOf(token));
      if (key === undefined) {
        rest.push(token);
        continue;
      }
      const inline = token.includes('=') ? token.slice(token.indexOf('=') + 1) : undefined;
      if (flag(key).kind === 'switch') {
        if (inline !== undefined) return { flag: psFlagName(key), value: inline, reason: 'takes no value' };
        ps[key] = true;
        continue;
      }
      const given = inline ?? argv[i + 1];
      if (given === undefined || (inline === undefined && given.startsWith('--'))) return { flag: psFlagName(key), reason: 'expected one argument' };
      if (inline === undefined) i++;
      ps[key] = given;
    }
  }
  return { ps, rest, help, version };
}

/**
 * A --dynamic-config-yaml / -json file: production-stack's argparse dest names (`routing_logic: session`), with
 * its YAML shorthand (`static_models: {MODEL: {static_backends: [URL…], static_model_type: chat}}`,
 * `static_aliases: {ALIAS: MODEL}`) expanded as parsers/yaml_utils.py does. Its values are the defaults the
 * command line overrides.
 */
export function readDynamicConfig(path: string, readFile: (path: string) => string): PsValues | ConfigError {
  const flagName = /\.ya?ml$/i.test(path) ? '--dynamic-config-yaml' : '--dynamic-config-json';
  let data: unknown;
  try {
    const text = readFile(path);
    data = /\.ya?ml$/i.test(path) ? Bun.YAML.parse(text) : JSON.parse(text);
  } catch (e) {
    return { flag: flagName, value: path, reason: `cannot read the file: ${(e as Error).message}` };
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) return { flag: flagName, value: path, reason: 'the file must hold an object of settings' };
  const out: PsValues = {};
  const entries = { ...(data as Record<string, unknown>) };
  const models = entries['static_models'];
  if (models !== null && typeof models === 'object' && !Array.isArray(models)) {
    const backends: string[] = [];
    const names: string[] = [];
    const types: string[] = [];
    for (const [model, details] of Object.entries(models as Record<string, { static_backends?: unknown; static_model_type?: unknown }>)) {
      const urls = Array.isArray(details?.static_backends) ? details.static_backends.map(String) : [];
      backends.push(...urls);
      names.push(...urls.map(() => model));
      if (typeof details?.static_model_type === 'string') types.push(...urls.map(() => details.static_model_type as string));
    }
    entries['static_backends'] = backends.join(',');
    entries['static_models'] = names.join(',');
    if (types.length > 0) entries['static_model_types'] = types.join(',');
  }
  const aliases = entries['static_aliases'];
  if (aliases !== null && typeof aliases === 'object' && !Array.isArray(aliases))
    entries['static_aliases'] = Object.entries(aliases as Record<string, unknown>).map(([a, m]) => `${a}:${String(m)}`).join(',');
  for (const [name, v] of Object.entries(entries)) {
    const key = byPsName.get(psFlagName(name));
    if (key === undefined || key === 'dynamic_config_yaml' || key === 'dynamic_config_json') return { flag: flagName, value: path, reason: `unknown setting '${name}'` };
    if (v === null || v === undefined) continue;
    out[key] = typeof v === 'boolean' ? v : Array.isArray(v) ? v.map(String).join(',') : String(v);
  }
  return out;
}

const list = (v: string | boolean | undefined) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

/** production-stack's settings as this router's. Every flag given is either mapped or refused by name, never dropped. */
export function translateProductionStack(ps: PsValues): PsTranslation | ConfigError {
  const values: Partial<Record<MappedKey, unknown>> = {};
  const origin = new Map<MappedKey, string>();
  const warnings: string[] = [];
  const set = (key: MappedKey, value: unknown, from: PsKey) => {
    values[key] = value;
    origin.set(key, psFlagName(from));
  };

  // Typed and checked as argparse would, then refused when they ask for something not built.
  const typed: Partial<Record<PsKey, string | number | boolean>> = {};
  for (const key of Object.keys(ps) as PsKey[]) {
    const f = flag(key);
    const raw = ps[key]!;
    const name = psFlagName(key);
    if (f.kind === 'switch') {
      if (typeof raw !== 'boolean') return { flag: name, value: String(raw), reason: 'expected true or false' };
      typed[key] = raw;
    } else {
      const text = String(raw);
      if (f.choices !== undefined && !f.choices.includes(text)) return { flag: name, value: text, reason: `invalid choice (choose from ${f.choices.join(', ')})` };
      if (f.type === 'int' && !/^[+-]?\d+$/.test(text.trim())) return { flag: name, value: text, reason: 'invalid int value' };
      if (f.type === 'float' && !Number.isFinite(Number(text))) return { flag: name, value: text, reason: 'invalid float value' };
      typed[key] = f.type === undefined ? text : Number(text);
    }
    if (f.refused !== undefined && typed[key] !== f.default) return { flag: name, value: String(raw), reason: `not supported: ${f.refused}` };
  }
  const str = (k: PsKey) => (typeof typed[k] === 'string' ? (typed[k] as string) : undefined);
  const num = (k: PsKey) => (typeof typed[k] === 'number' ? (typed[k] as number) : undefined);
  const positive = (k: PsKey): ConfigError | undefined => (num(k) !== undefined && num(k)! <= 0 ? { flag: psFlagName(k), value: String(num(k)), reason: 'must be greater than 0' } : undefined);

  // Its defaults: all interfaces, port 8001, /metrics on that port.
  set('host', str('host') ?? PS_FLAGS.host.default, 'host');
  set('port', num('port') ?? PS_FLAGS.port.default, 'port');
  values.metrics_on_router_port = true;
  values.production_stack_api = true;
  if (typed.dynamic_config_yaml !== undefined && typed.dynamic_config_json !== undefined)
    return { flag: '--dynamic-config-json', value: str('dynamic_config_json'), reason: 'not allowed with argument --dynamic-config-yaml' };
  const dynamic = typed.dynamic_config_yaml !== undefined ? 'dynamic_config_yaml' : typed.dynamic_config_json !== undefined ? 'dynamic_config_json' : undefined;
  if (dynamic !== undefined) {
    set('config', str(dynamic), dynamic);
    set('watch_config', true, dynamic);
  }

  const logic = str('routing_logic');
  if (logic === undefined) return { flag: '--routing-logic', reason: 'must be provided (production-stack\'s command line: roundrobin, session, prefixaware, kvaware, qoe_centric, disaggregated_qoe, disaggregated_prefill)' };
  const discovery = str('service_discovery');
  if (discovery === undefined) return { flag: '--service-discovery', reason: 'must be provided: static or k8s' };
  if (discovery === 'external-only') return { flag: '--service-discovery', value: discovery, reason: 'not supported: external providers are not built; run one router per provider with --backend openai' };
  for (const k of ['engine_stats_interval', 'request_stats_window', 'static_backend_health_check_interval', 'static_backend_health_check_timeout_seconds', 'backend_health_check_timeout_seconds'] as const) {
    const bad = positive(k);
    if (bad) return bad;
  }

  const pd = logic === 'disaggregated_prefill' || logic === 'disaggregated_prefill_orchestrated';
  const prefillLabels = list(str('prefill_model_labels'));
  const decodeLabels = list(str('decode_model_labels'));
  if (pd && (prefillLabels.length === 0 || decodeLabels.length === 0))
    return { flag: prefillLabels.length === 0 ? '--prefill-model-labels' : '--decode-model-labels', reason: `--routing-logic ${logic} needs the model labels of the prefill and of the decode endpoints` };

  if (discovery === 'static') {
    const backends = list(str('static_backends'));
    if (backends.length === 0) return { flag: '--static-backends', reason: 'Static backends must be provided when using static service discovery' };
    for (const url of backends) {
      const p = urlProblem(url);
      if (p) return { flag: '--static-backends', value: url, reason: p };
    }
    const models = list(str('static_models'));
    if (models.length === 0) return { flag: '--static-models', reason: 'Static models must be provided when using static service discovery' };
    if (models.length !== backends.length) return { flag: '--static-models', value: str('static_models'), reason: `names ${models.length} models for ${backends.length} backends (one per --static-backends URL, in order)` };
    // In PD mode the engines' own /v1/models say what each serves (--static-models pairs with --worker-urls only).
    if (!pd) set('static_models', str('static_models'), 'static_models');
    if (str('static_aliases') !== undefined) set('static_aliases', str('static_aliases'), 'static_aliases');
    const types = list(str('static_model_types'));
    const unknownType = types.find((t) => !MODEL_TYPES.includes(t as never));
    if (unknownType !== undefined) return { flag: '--static-model-types', value: unknownType, reason: `The model type '${unknownType}' is not supported. Supported model types are '${MODEL_TYPES.join(',')}'` };
    if (typed.static_backend_health_checks === true && types.length === 0) return { flag: '--static-model-types', reason: 'Static model types must be provided when using the backend healthcheck' };
    if (num('static_backend_health_check_interval') !== undefined) set('health_check_interval_secs', num('static_backend_health_check_interval'), 'static_backend_health_check_interval');
    if (num('static_backend_health_check_timeout_seconds') !== undefined) set('health_check_timeout_secs', num('static_backend_health_check_timeout_seconds'), 'static_backend_health_check_timeout_seconds');

    const labels = list(str('static_model_labels'));
    if (labels.length > backends.length) return { flag: '--static-model-labels', value: str('static_model_labels'), reason: `names ${labels.length} labels for ${backends.length} backends` };
    const labelOf = (i: number) => labels[i] ?? 'default';
    if (pd) {
      const prefill = backends.filter((_, i) => prefillLabels.includes(labelOf(i)));
      const decode = backends.filter((_, i) => decodeLabels.includes(labelOf(i)));
      if (prefill.length === 0 || decode.length === 0)
        return { flag: '--static-model-labels', value: str('static_model_labels'), reason: `no backend is labelled ${prefill.length === 0 ? prefillLabels.join(' or ') : decodeLabels.join(' or ')} (the ${prefill.length === 0 ? 'prefill' : 'decode'} labels)` };
      const unused = backends.filter((u) => !prefill.includes(u) && !decode.includes(u));
      if (unused.length > 0) warnings.push(`--static-backends ${unused.join(',')}: labelled neither prefill nor decode, so not routed to`);
      set('vllm_pd_disaggregation', true, 'routing_logic');
      set('prefill', prefill.map((url) => [url, undefined]), 'static_model_labels');
      set('decode', decode, 'static_model_labels');
    } else {
      set('worker_urls', backends, 'static_backends');
      // The label is a tag; a prefill or decode label also tags the endpoint with its phase (disaggregated_qoe).
      const tags = backends.map((url, i) => {
        const label = labelOf(i);
        const phase = prefillLabels.includes(label) ? ['prefill'] : decodeLabels.includes(label) ? ['decode'] : [];
        return `${url}=${[label, ...phase].join('+')}`;
      });
      if (labels.length > 0 || prefillLabels.length > 0 || decodeLabels.length > 0) set('worker_tags', tags, 'static_model_labels');
    }
  } else {
    for (const k of ['static_backends', 'static_models', 'static_aliases', 'static_model_labels', 'static_model_types'] as const)
      if (typed[k] !== undefined) return { flag: psFlagName(k), value: str(k), reason: 'is for --service-discovery static' };
    const selector = list(str('k8s_label_selector'));
    const term = selector.find((t) => !/^[^=!\s()]+=[^=!\s()]*$/.test(t.replace(/^([^=]+)==/, '$1=')));
    if (term !== undefined) return { flag: '--k8s-label-selector', value: term, reason: 'only equality terms key=value are supported' };
    if (selector.length === 0 && !pd)
      return { flag: '--k8s-label-selector', value: '', reason: 'this router watches the pods a selector names, never every pod of the namespace: give one, e.g. app=vllm' };
    const terms = selector.map((t) => t.replace('==', '='));
    set('service_discovery', true, 'service_discovery');
    set('service_discovery_namespace', str('k8s_namespace') ?? PS_FLAGS.k8s_namespace.default, 'k8s_namespace');
    set('service_discovery_port', num('k8s_port') ?? PS_FLAGS.k8s_port.default, 'k8s_port');
    if (num('backend_health_check_timeout_seconds') !== undefined) set('health_check_timeout_secs', num('backend_health_check_timeout_seconds'), 'backend_health_check_timeout_seconds');
    if (pd) {
      // Pods carry their role in the `model` label, as production-stack's discovery reads it.
      for (const [labelsOf, key, from] of [[prefillLabels, 'prefill_selector', 'prefill_model_labels'], [decodeLabels, 'decode_selector', 'decode_model_labels']] as const) {
        if (labelsOf.length > 1) return { flag: psFlagName(from), value: labelsOf.join(','), reason: 'with Kubernetes discovery, one label per role (pods are selected by model=LABEL)' };
        set(key, [...terms, `model=${labelsOf[0]}`], from);
      }
      set('vllm_pd_disaggregation', true, 'routing_logic');
    } else set('selector', terms, 'k8s_label_selector');
  }

  switch (logic) {
    case 'roundrobin':
      set('policy', 'round_robin', 'routing_logic');
      break;
    case 'session':
      if (str('session_key') === undefined) return { flag: '--session-key', reason: 'Session key must be provided when using session routing logic' };
      set('policy', 'consistent_hash', 'routing_logic');
      break;
    case 'prefixaware':
      set('policy', 'cache_aware', 'routing_logic');
      break;
    case 'kvaware':
      set('policy', 'kv_aware', 'routing_logic');
      break;
    case 'qoe_centric':
    case 'disaggregated_qoe':
      set('policy', logic, 'routing_logic');
      break;
    default:
      // production-stack's PD routers go round robin over each role's endpoints.
      set('policy', 'round_robin', 'routing_logic');
  }
  if (str('session_key') !== undefined) set('session_header', str('session_key'), 'session_key');
  if (num('engine_stats_interval') !== undefined) set('engine_metrics_interval_secs', num('engine_stats_interval'), 'engine_stats_interval');
  if (num('request_stats_window') !== undefined) set('request_stats_window_secs', num('request_stats_window'), 'request_stats_window');
  const level = str('log_level');
  if (level !== undefined) set('log_level', level === 'trace' ? 'debug' : level === 'critical' ? 'error' : level === 'warning' ? 'warn' : level, 'log_level');
  if (str('log_format') === 'json') set('log_json', true, 'log_format');
  const reroutes = num('max_instance_failover_reroute_attempts');
  if (reroutes !== undefined) {
    if (reroutes < 0) return { flag: '--max-instance-failover-reroute-attempts', value: String(reroutes), reason: 'must not be negative' };
    set('retry_max_retries', reroutes + 1, 'max_instance_failover_reroute_attempts');
  }
  return { values, origin, warnings };
}
