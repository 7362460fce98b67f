// production-stack's command line: told apart from this router's, every flag mapped or refused by name.
import { describe, expect, test } from 'bun:test';
import { loadConfig, type LoadResult } from '../../src/config/load.ts';
import { isProductionStackArgv, parseProductionStackArgv, translateProductionStack } from '../../src/config/production-stack.ts';
import { PS_FLAGS, type PsKey } from '../../src/config/production-stack-flags.ts';
import type { Config } from '../../src/config/schema.ts';

const STATIC = ['--service-discovery', 'static', '--static-backends', 'http://a:8000,http://b:8000', '--static-models', 'm1,m2'];
const K8S = ['--service-discovery', 'k8s', '--k8s-label-selector', 'app=vllm'];

function load(argv: string[], files: Record<string, string> = {}, env: Record<string, string> = {}): LoadResult {
  return loadConfig({
    argv,
    env,
    readFile: (path) => {
      const text = files[path];
      if (text === undefined) throw new Error(`ENOENT: ${path}`);
      return text;
    },
    version: '1.2.3',
  });
}
function config(argv: string[], files?: Record<string, string>): Config {
  const r = load(argv, files);
  if (r.kind !== 'config') throw new Error(`expected a configuration, got ${JSON.stringify(r)}`);
  return r.config;
}
function refusal(argv: string[], files?: Record<string, string>) {
  const r = load(argv, files);
  if (r.kind !== 'error') throw new Error(`expected an error, got ${r.kind}`);
  return r.error;
}

describe('telling the dialects apart', () => {
  test('by a flag only production-stack has, or by --service-discovery static|k8s', () => {
    expect(isProductionStackArgv(['--routing-logic', 'roundrobin'])).toBe(true);
    expect(isProductionStackArgv(['--static-backends=http://a:1'])).toBe(true);
    expect(isProductionStackArgv(['--service-discovery', 'k8s'])).toBe(true);
    expect(isProductionStackArgv(['--service-discovery=static'])).toBe(true);
    // This router's switch, followed by another flag; and flags both routers have.
    expect(isProductionStackArgv(['--service-discovery', '--selector', 'app=x'])).toBe(false);
    expect(isProductionStackArgv(['--worker-urls', 'http://a:1', '--port', '8001', '--host', '0.0.0.0', '--log-level', 'info'])).toBe(false);
  });

  test("this router's own command line still loads as before", () => {
    const c = config(['--worker-urls', 'http://a:1', '--policy', 'random']);
    expect(c.port).toBe(30000);
    expect(c.host).toBe('127.0.0.1');
    expect(c.metrics_on_router_port).toBe(false);
    expect(c.production_stack_api).toBe(false);
  });
});

describe('production-stack defaults', () => {
  test('all interfaces, port 8001, /metrics and its own routes on that port', () => {
    const c = config([...STATIC, '--routing-logic', 'roundrobin']);
    expect(c.host).toBe('0.0.0.0');
    expect(c.port).toBe(8001);
    expect(c.metrics_on_router_port).toBe(true);
    expect(c.production_stack_api).toBe(true);
    expect(c.worker_urls).toEqual(['http://a:8000', 'http://b:8000']);
  });

  test('--routing-logic and --service-discovery are required, as there', () => {
    expect(refusal(STATIC).flag).toBe('--routing-logic');
    expect(refusal(['--routing-logic', 'roundrobin', '--static-backends', 'http://a:1', '--static-models', 'm']).flag).toBe('--service-discovery');
  });
});

describe('--routing-logic', () => {
  test('roundrobin, prefixaware, qoe_centric and disaggregated_qoe become the policies of the same meaning', () => {
    expect(config([...STATIC, '--routing-logic', 'roundrobin']).policy).toBe('round_robin');
    expect(config([...STATIC, '--routing-logic', 'prefixaware']).policy).toBe('cache_aware');
    expect(config([...STATIC, '--routing-logic', 'qoe_centric']).policy).toBe('qoe_centric');
    expect(config([...STATIC, '--routing-logic', 'disaggregated_qoe']).policy).toBe('disaggregated_qoe');
  });

  test('session is consistent_hash keyed on --session-key, which it needs', () => {
    const c = config([...STATIC, '--routing-logic', 'session', '--session-key', 'x-user-id']);
    expect(c.policy).toBe('consistent_hash');
    expect(c.session_header).toBe('x-user-id');
    expect(refusal([...STATIC, '--routing-logic', 'session']).flag).toBe('--session-key');
  });

  test("kvaware is kv_aware: with this router's KV-event flags it loads; with LMCache's it is refused, pointing at kv_aware", () => {
    const c = config([...STATIC, '--routing-logic', 'kvaware', '--kv-events-port', '5557']);
    expect(c.policy).toBe('kv_aware');
    expect(c.kv_events_port).toBe(5557);
    const lmcache = refusal([...STATIC, '--routing-logic', 'kvaware', '--lmcache-controller-port', '9000']);
    expect(lmcache.flag).toBe('--lmcache-controller-port');
    expect(lmcache.reason).toContain('kv_aware');
    // Without a KV-event source, the error names the flag the user wrote.
    const bare = refusal([...STATIC, '--routing-logic', 'kvaware']);
    expect(bare.flag).toBe('--routing-logic (--policy here)');
    expect(bare.reason).toContain('--kv-events-port');
  });

  test('disaggregated_prefill puts backends in PD roles by their model labels, round robin in each', () => {
    const argv = ['--service-discovery', 'static', '--static-backends', 'http://p1:8000,http://d1:8000,http://p2:8000', '--static-models', 'm,m,m', '--static-model-labels', 'pre,dec,pre', '--prefill-model-labels', 'pre', '--decode-model-labels', 'dec'];
    for (const logic of ['disaggregated_prefill', 'disaggregated_prefill_orchestrated']) {
      const c = config([...argv, '--routing-logic', logic]);
      expect(c.vllm_pd_disaggregation).toBe(true);
      expect(c.prefill).toEqual([{ url: 'http://p1:8000', bootstrapPort: null }, { url: 'http://p2:8000', bootstrapPort: null }]);
      expect(c.decode).toEqual(['http://d1:8000']);
      expect(c.policy).toBe('round_robin');
      expect(c.worker_urls).toEqual([]);
    }
    expect(refusal([...STATIC, '--routing-logic', 'disaggregated_prefill']).flag).toBe('--prefill-model-labels');
    const none = refusal([...STATIC, '--static-model-labels', 'x,y', '--prefill-model-labels', 'pre', '--decode-model-labels', 'dec', '--routing-logic', 'disaggregated_prefill']);
    expect(none.flag).toBe('--static-model-labels');
  });

  test('an unknown value is refused with the choices', () => {
    const e = refusal([...STATIC, '--routing-logic', 'fastest']);
    expect(e).toEqual({ flag: '--routing-logic', value: 'fastest', reason: expect.stringContaining('choose from roundrobin, session') });
  });
});

describe('static discovery', () => {
  test('--static-models and --static-aliases become model-aware routing\'s flags, unchanged', () => {
    const parsed = parseProductionStackArgv([...STATIC, '--static-aliases', 'gpt-4:m1,fast:m2', '--routing-logic', 'roundrobin']);
    if ('reason' in parsed) throw new Error(parsed.reason);
    const t = translateProductionStack(parsed.ps);
    if ('reason' in t) throw new Error(t.reason);
    expect(t.values.static_models).toBe('m1,m2');
    expect(t.values.static_aliases).toBe('gpt-4:m1,fast:m2');
    expect(t.values.worker_urls).toEqual(['http://a:8000', 'http://b:8000']);
  });

  test('one model per backend, valid URLs', () => {
    expect(refusal(['--service-discovery', 'static', '--static-backends', 'http://a:1,http://b:2', '--static-models', 'm', '--routing-logic', 'roundrobin']).flag).toBe('--static-models');
    expect(refusal(['--service-discovery', 'static', '--static-backends', 'http://a:1', '--routing-logic', 'roundrobin']).flag).toBe('--static-models');
    expect(refusal(['--service-discovery', 'static', '--static-models', 'm', '--routing-logic', 'roundrobin']).flag).toBe('--static-backends');
    expect(refusal(['--service-discovery', 'static', '--static-backends', 'a:1', '--static-models', 'm', '--routing-logic', 'roundrobin'])).toEqual({ flag: '--static-backends', value: 'a:1', reason: 'must start with http:// or https://' });
  });

  test('model labels are endpoint tags, and prefill / decode labels tag the phase (disaggregated_qoe)', () => {
    const c = config([...STATIC, '--static-model-labels', 'fast-prefill,slow', '--prefill-model-labels', 'fast-prefill', '--decode-model-labels', 'slow', '--routing-logic', 'disaggregated_qoe']);
    expect(c.worker_tags).toEqual(['http://a:8000=fast-prefill+prefill', 'http://b:8000=slow+decode']);
    expect(config([...STATIC, '--routing-logic', 'roundrobin']).worker_tags).toEqual([]);
  });

  test('health checks: model types are checked, and needed with --static-backend-health-checks; interval and timeout map', () => {
    const c = config([...STATIC, '--static-backend-health-checks', '--static-model-types', 'chat,embeddings', '--static-backend-health-check-interval', '15', '--static-backend-health-check-timeout-seconds', '4', '--routing-logic', 'roundrobin']);
    expect(c.health_check_interval_secs).toBe(15);
    expect(c.health_check_timeout_secs).toBe(4);
    expect(refusal([...STATIC, '--static-backend-health-checks', '--routing-logic', 'roundrobin']).flag).toBe('--static-model-types');
    expect(refusal([...STATIC, '--static-model-types', 'chat,video', '--routing-logic', 'roundrobin'])).toMatchObject({ flag: '--static-model-types', value: 'video' });
  });
});

describe('Kubernetes discovery', () => {
  test('namespace, port and label selector map onto --service-discovery; production-stack\'s defaults apply', () => {
    const c = config([...K8S, '--k8s-service-discovery-type', 'pod-ip', '--routing-logic', 'roundrobin']);
    expect(c.service_discovery).toBe(true);
    expect(c.service_discovery_namespace).toBe('default');
    expect(c.service_discovery_port).toBe(8000);
    expect(c.selector).toEqual(['app=vllm']);
    const d = config(['--service-discovery', 'k8s', '--k8s-namespace', 'llm', '--k8s-port', '8080', '--k8s-label-selector', 'app=vllm,release==r1', '--backend-health-check-timeout-seconds', '3', '--routing-logic', 'roundrobin']);
    expect([d.service_discovery_namespace, d.service_discovery_port, d.selector, d.health_check_timeout_secs]).toEqual(['llm', 8080, ['app=vllm', 'release=r1'], 3]);
  });

  test('set-based selectors, an empty selector and service-name discovery are refused by name', () => {
    expect(refusal(['--service-discovery', 'k8s', '--k8s-label-selector', 'app in (a,b)', '--routing-logic', 'roundrobin']).flag).toBe('--k8s-label-selector');
    expect(refusal(['--service-discovery', 'k8s', '--routing-logic', 'roundrobin']).flag).toBe('--k8s-label-selector');
    expect(refusal([...K8S, '--k8s-service-discovery-type', 'service-name', '--routing-logic', 'roundrobin']).flag).toBe('--k8s-service-discovery-type');
    expect(refusal(['--service-discovery', 'external-only', '--routing-logic', 'roundrobin']).flag).toBe('--service-discovery');
    expect(refusal([...K8S, '--static-models', 'm', '--routing-logic', 'roundrobin']).flag).toBe('--static-models');
  });

  test('PD by labels selects pods by their model label', () => {
    const c = config([...K8S, '--routing-logic', 'disaggregated_prefill', '--prefill-model-labels', 'prefill', '--decode-model-labels', 'decode']);
    expect(c.vllm_pd_disaggregation).toBe(true);
    expect(c.prefill_selector).toEqual(['app=vllm', 'model=prefill']);
    expect(c.decode_selector).toEqual(['app=vllm', 'model=decode']);
  });
});

describe('the other flags', () => {
  test('stats, logging and failover map onto their counterparts', () => {
    const c = config([...STATIC, '--routing-logic', 'roundrobin', '--engine-stats-interval', '7', '--request-stats-window', '30', '--log-level', 'trace', '--log-format', 'json', '--max-instance-failover-reroute-attempts', '2', '--host', '10.0.0.1', '--port=9100', '--request-rewriter', 'noop']);
    expect([c.engine_metrics_interval_secs, c.request_stats_window_secs, c.log_level, c.log_json, c.retry_max_retries, c.host, c.port]).toEqual([7, 30, 'debug', true, 3, '10.0.0.1', 9100]);
    expect(config([...STATIC, '--routing-logic', 'roundrobin', '--log-level', 'critical']).log_level).toBe('error');
    expect(config([...STATIC, '--routing-logic', 'roundrobin', '--log-level', 'warning']).log_level).toBe('warn');
    expect(refusal([...STATIC, '--routing-logic', 'roundrobin', '--engine-stats-interval', '0'])).toMatchObject({ flag: '--engine-stats-interval', reason: 'must be greater than 0' });
    expect(refusal([...STATIC, '--routing-logic', 'roundrobin', '--port', 'eighty'])).toMatchObject({ flag: '--port', reason: 'invalid int value' });
  });

  /** A value for each flag with no counterpart, other than production-stack's default. */
  const REFUSED_SAMPLES: Partial<Record<PsKey, string | null>> = {
    root_path: '/vllm',
    k8s_service_discovery_type: 'service-name',
    k8s_watcher_timeout_seconds: '30',
    lmcache_controller_port: '9000',
    lmcache_controller_reply_port: '9001',
    lmcache_controller_heartbeat_port: '9002',
    callbacks: 'my.module.handler',
    enable_batch_api: null,
    file_storage_path: '/data/files',
    log_stats: null,
    log_stats_interval: '30',
    semantic_cache_model: 'other-model',
    semantic_cache_dir: '/tmp/sc',
    semantic_cache_threshold: '0.9',
    feature_gates: 'SemanticCache=true',
    sentry_dsn: 'https://key@sentry.example/1',
    sentry_traces_sample_rate: '0.5',
    sentry_profile_session_sample_rate: '0.5',
    otel_endpoint: 'collector:4317',
    otel_service_name: 'my-router',
    otel_secure: null,
    kv_aware_threshold: '500',
    prefix_min_match_length: '256',
    lmcache_health_check_interval: '10',
    lmcache_worker_timeout: '60',
    external_providers_config: '/etc/providers.yaml',
  };

  test('every flag with no counterpart is refused by name, never ignored', () => {
    const refused = (Object.keys(PS_FLAGS) as PsKey[]).filter((k) => 'refused' in PS_FLAGS[k] && !['file_storage_class', 'batch_processor'].includes(k));
    expect(refused.sort()).toEqual((Object.keys(REFUSED_SAMPLES) as PsKey[]).sort());
    for (const key of refused) {
      const sample = REFUSED_SAMPLES[key]!;
      const name = `--${key.replaceAll('_', '-')}`;
      const e = refusal([...STATIC, '--routing-logic', 'roundrobin', name, ...(sample === null ? [] : [sample])]);
      expect(e.flag).toBe(name);
      expect(e.reason).toStartWith('not supported: ');
    }
  });

  test('a flag given with production-stack\'s default asks for nothing and is accepted', () => {
    const c = config([...STATIC, '--routing-logic', 'roundrobin', '--k8s-watcher-timeout-seconds', '0', '--otel-service-name', 'vllm-router', '--file-storage-class', 'local_file', '--batch-processor', 'local', '--feature-gates', '']);
    expect(c.policy).toBe('round_robin');
  });

  test('every production-stack flag is covered by this file', () => {
    const mapped: PsKey[] = ['host', 'port', 'service_discovery', 'static_backends', 'static_models', 'static_aliases', 'static_model_types', 'static_model_labels', 'static_backend_health_checks', 'static_backend_health_check_interval', 'static_backend_health_check_timeout_seconds', 'k8s_port', 'k8s_namespace', 'k8s_label_selector', 'backend_health_check_timeout_seconds', 'routing_logic', 'session_key', 'request_rewriter', 'engine_stats_interval', 'request_stats_window', 'dynamic_config_yaml', 'dynamic_config_json', 'log_level', 'log_format', 'prefill_model_labels', 'decode_model_labels', 'max_instance_failover_reroute_attempts', 'file_storage_class', 'batch_processor'];
    expect([...mapped, ...Object.keys(REFUSED_SAMPLES)].sort()).toEqual(Object.keys(PS_FLAGS).sort());
  });

  test("this router's own flags may be added, but not for a setting a production-stack flag makes", () => {
    const c = config([...STATIC, '--routing-logic', 'roundrobin', '--admin-api-key', 'secret', '--retry-max-retries', '2']);
    expect(c.admin_api_key).toBe('secret');
    expect(refusal([...STATIC, '--routing-logic', 'roundrobin', '--policy', 'random'])).toMatchObject({ flag: '--policy', reason: expect.stringContaining('--routing-logic') });
    expect(refusal([...STATIC, '--routing-logic', 'roundrobin', '--worker-urls', 'http://c:1']).flag).toBe('--worker-urls');
    expect(refusal([...STATIC, '--routing-logic', 'roundrobin', '--config', 'x.yaml']).flag).toBe('--config');
    expect(refusal([...STATIC, '--routing-logic', 'roundrobin', '--no-such-flag']).flag).toBe('--no-such-flag');
  });

  test('--help shows both dialects; --version works in this one', () => {
    const help = load(['--routing-logic', 'roundrobin', '--help']);
    if (help.kind !== 'help') throw new Error(help.kind);
    expect(help.text).toContain('--worker-urls');
    expect(help.text).toContain("production-stack's flags:");
    expect(help.text).toContain('--static-backends');
    expect(help.text).toContain('refused: Python callbacks');
    const own = load(['--help']);
    expect(own.kind === 'help' && own.text.includes('--routing-logic')).toBe(true);
    expect(load(['--routing-logic', 'roundrobin', '--version'])).toEqual({ kind: 'version', text: 'vllm-router 1.2.3' });
  });
});

describe('--dynamic-config-yaml / --dynamic-config-json', () => {
  test('the file holds production-stack keys under the command line, and becomes --config with --watch-config', () => {
    const yaml = ['service_discovery: static', 'routing_logic: session', 'session_key: x-user-id', 'static_models:', '  m1:', '    static_backends: [http://a:8000, http://b:8000]', '    static_model_type: chat', 'static_aliases:', '  gpt-4: m1'].join('\n');
    const c = config(['--dynamic-config-yaml', '/etc/router.yaml', '--routing-logic', 'roundrobin'], { '/etc/router.yaml': yaml });
    expect(c.worker_urls).toEqual(['http://a:8000', 'http://b:8000']);
    // The command line wins over the file.
    expect(c.policy).toBe('round_robin');
    expect(c.session_header).toBe('x-user-id');
    expect(c.config).toBe('/etc/router.yaml');
    expect(c.watch_config).toBe(true);
    const json = config(['--dynamic-config-json', '/etc/r.json'], { '/etc/r.json': JSON.stringify({ service_discovery: 'static', routing_logic: 'prefixaware', static_backends: 'http://a:1', static_models: 'm' }) });
    expect([json.policy, json.worker_urls]).toEqual(['cache_aware', ['http://a:1']]);
  });

  test('unknown keys, unreadable files and both flags at once are refused', () => {
    expect(refusal(['--dynamic-config-json', '/r.json'], { '/r.json': '{"routing_logic":"roundrobin","colour":"red"}' })).toMatchObject({ flag: '--dynamic-config-json', reason: "unknown setting 'colour'" });
    expect(refusal(['--dynamic-config-yaml', '/missing.yaml']).flag).toBe('--dynamic-config-yaml');
    expect(refusal([...STATIC, '--routing-logic', 'roundrobin', '--dynamic-config-yaml', '/a.yaml', '--dynamic-config-json', '/b.json'], { '/a.yaml': '{}', '/b.json': '{}' }).flag).toBe('--dynamic-config-json');
  });
});
