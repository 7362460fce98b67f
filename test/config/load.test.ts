import { describe, expect, test } from 'bun:test';
import { FLAGS, cliName, type FlagKey } from '../../src/config/flags.ts';
import { loadConfig, type LoadInput, type LoadResult } from '../../src/config/load.ts';
import { configSchema } from '../../src/config/schema.ts';

const WORKER = ['--worker-urls', 'http://a:8000'];
const base: Omit<LoadInput, 'argv'> = {
  env: {},
  readFile: () => {
    throw new Error('no such file');
  },
  version: '9.9.9',
};
const load = (argv: string[], extra: Partial<LoadInput> = {}): LoadResult => loadConfig({ ...base, argv, ...extra });
const config = (argv: string[], extra: Partial<LoadInput> = {}) => {
  const r = load(argv, extra);
  if (r.kind !== 'config') throw new Error(`expected a config, got ${JSON.stringify(r)}`);
  return r.config;
};
const error = (argv: string[], extra: Partial<LoadInput> = {}) => {
  const r = load(argv, extra);
  if (r.kind !== 'error') throw new Error(`expected an error, got ${r.kind}`);
  return r.error;
};

// The Rust router's defaults (its src/main.rs flags, and py_src/vllm_router/router_args.py for the queue flags).
const RUST_DEFAULTS: Partial<Record<FlagKey, unknown>> = {
  host: '127.0.0.1',
  port: 30000,
  max_payload_size: 536870912,
  request_timeout_secs: 1800,
  max_concurrent_requests: 32768,
  queue_size: 100,
  queue_timeout_secs: 60,
  rate_limit_tokens_per_second: undefined,
  cors_allowed_origins: [],
  worker_startup_timeout_secs: 600,
  worker_startup_check_interval: 30,
  intra_node_data_parallel_size: 1,
  backend: 'vllm',
  enable_igw: false,
  history_backend: 'memory',
  profile: false,
  policy: 'cache_aware',
  prefill_policy: undefined,
  decode_policy: undefined,
  cache_threshold: 0.3,
  balance_abs_threshold: 64,
  balance_rel_threshold: 1.5,
  eviction_interval: 120,
  max_tree_size: 67108864,
  vllm_pd_disaggregation: false,
  pd_disaggregation: false,
  prefill: [],
  decode: [],
  vllm_discovery_address: undefined,
  kv_connector: 'nixl',
  service_discovery: false,
  selector: [],
  service_discovery_port: 80,
  service_discovery_namespace: undefined,
  prefill_selector: [],
  decode_selector: [],
  prometheus_port: 29000,
  prometheus_host: '127.0.0.1',
  log_dir: undefined,
  log_level: 'info',
  request_id_headers: [],
  enable_trace: false,
  otlp_traces_endpoint: undefined,
  otel_sampling_ratio: 1,
  otel_excluded_paths: [],
  retry_max_retries: 5,
  retry_initial_backoff_ms: 50,
  retry_max_backoff_ms: 30000,
  retry_backoff_multiplier: 1.5,
  retry_jitter_factor: 0.2,
  disable_retries: false,
  cb_failure_threshold: 10,
  cb_success_threshold: 3,
  cb_timeout_duration_secs: 60,
  cb_window_duration_secs: 120,
  disable_circuit_breaker: false,
  health_failure_threshold: 3,
  health_success_threshold: 2,
  health_check_timeout_secs: 5,
  health_check_interval_secs: 60,
  health_check_endpoint: '/health',
  api_key: undefined,
  api_key_validation_urls: [],
};

describe('defaults', () => {
  const c = config(WORKER) as Record<string, unknown>;
  for (const [key, expected] of Object.entries(RUST_DEFAULTS)) {
    test(`${cliName(key)} defaults to the Rust router's ${JSON.stringify(expected)}`, () => {
      expect(c[key]).toEqual(expected);
    });
  }
});

describe('validation of every flag that takes a value', () => {
  const keys = Object.keys(FLAGS) as FlagKey[];
  for (const key of keys) {
    const meta = FLAGS[key].meta;
    if (meta.arity !== 'one') continue;
    const probe = FLAGS[key].schema.safeParse('not-a-valid-value!');
    if (probe.success) continue; // free text, such as --host
    test(`${cliName(key)} refuses a bad value, naming flag, value and reason`, () => {
      const e = error([...WORKER, cliName(key), 'not-a-valid-value!']);
      expect(e.flag).toBe(cliName(key));
      expect(e.value).toBe('not-a-valid-value!');
      expect(e.reason.length).toBeGreaterThan(5);
    });
  }
});

describe('numeric ranges', () => {
  const cases: [string, string, RegExp][] = [
    ['--port', '70000', /at most 65535/],
    ['--port', '-1', /not be negative/],
    ['--request-timeout-secs', '0', /at least 1/],
    ['--cache-threshold', '1.5', /at most 1/],
    ['--balance-rel-threshold', '0.5', /at least 1/],
    ['--health-check-interval-secs', '2.5', /integer/],
    ['--max-payload-size', '', /number/],
  ];
  for (const [flag, value, reason] of cases)
    test(`${flag} ${JSON.stringify(value)} is refused`, () => {
      const e = error([...WORKER, flag, value]);
      expect(e.flag).toBe(flag);
      expect(e.reason).toMatch(reason);
    });
});

describe('command-line syntax', () => {
  test('a list flag takes several values after one flag, or repeated flags', () => {
    expect(config(['--worker-urls', 'http://a:1', 'http://b:2', '--worker-urls', 'http://c:3']).worker_urls).toEqual([
      'http://a:1',
      'http://b:2',
      'http://c:3',
    ]);
  });
  test('--flag=value works for scalars', () => {
    expect(config([...WORKER, '--port=8080']).port).toBe(8080);
  });
  test('a scalar given twice is refused', () => {
    expect(error([...WORKER, '--port', '1', '--port', '2'])).toMatchObject({ flag: '--port', reason: 'given more than once' });
  });
  test('a scalar without a value is refused', () => {
    expect(error([...WORKER, '--port'])).toMatchObject({ flag: '--port', reason: 'needs a value' });
  });
  test('unknown flags and stray arguments are refused', () => {
    expect(error([...WORKER, '--no-such-flag']).flag).toBe('--no-such-flag');
    expect(error(['stray', ...WORKER]).flag).toBe('stray');
  });
  test('a switch takes no value', () => {
    expect(error([...WORKER, '--log-json=yes']).reason).toBe('takes no value');
    expect(config([...WORKER, '--log-json']).log_json).toBe(true);
  });
  test('aliases: --runtime for --backend, --eviction-interval-secs for --eviction-interval', () => {
    expect(config([...WORKER, '--runtime', 'vllm']).backend).toBe('vllm');
    expect(config([...WORKER, '--eviction-interval-secs', '7']).eviction_interval).toBe(7);
  });
  test('--log-level accepts the Python spellings warning and critical', () => {
    expect(config([...WORKER, '--log-level', 'warning']).log_level).toBe('warn');
    expect(config([...WORKER, '--log-level', 'critical']).log_level).toBe('error');
  });
  test('--help and --version', () => {
    const help = load(['--help']);
    expect(help.kind).toBe('help');
    if (help.kind === 'help') for (const key of Object.keys(FLAGS)) expect(help.text).toContain(cliName(key));
    expect(load(['-V'])).toEqual({ kind: 'version', text: 'vllm-router 9.9.9' });
  });
});

describe('--prefill URL [PORT|none]', () => {
  // Parsing is checked directly: the PD feature itself is refused until it lands.
  const { parseArgv } = require('../../src/config/argv.ts') as typeof import('../../src/config/argv.ts');
  test('takes an optional bootstrap port or none, and repeats', () => {
    const r = parseArgv(['--prefill', 'http://p1:8000', '9000', '--prefill', 'http://p2:8000', 'none', '--prefill', 'http://p3:8000', '--decode', 'http://d:1']);
    expect('values' in r && r.values.prefill).toEqual([
      ['http://p1:8000', '9000'],
      ['http://p2:8000', 'none'],
      ['http://p3:8000', undefined],
    ]);
  });
  test('a following flag is not taken as the port', () => {
    const r = parseArgv(['--prefill', 'http://p1:8000', '--decode', 'http://d:1']);
    expect('values' in r && r.values.prefill).toEqual([['http://p1:8000', undefined]]);
  });
});

describe('cross-flag rules', () => {
  test('no endpoint at start-up is allowed (they can be added later); PD mode too', () => {
    expect(config([]).worker_urls).toEqual([]);
    expect(config(['--vllm-pd-disaggregation', '--prefill', 'http://p:1', '--decode', 'http://d:1', '--prefill-policy', 'power_of_two']).prefill_policy).toBe('power_of_two');
  });
  test('worker URLs must be http(s) with a host', () => {
    expect(error(['--worker-urls', 'ftp://x'])).toMatchObject({ flag: '--worker-urls', value: 'ftp://x' });
    expect(error(['--worker-urls', 'http://'])).toMatchObject({ flag: '--worker-urls', value: 'http://' });
  });
  test('power_of_two with one endpoint is allowed: it picks among what is there', () => {
    expect(config([...WORKER, '--policy', 'power_of_two']).policy).toBe('power_of_two');
  });
  test('--static-models: one model per --worker-urls entry, comma-separated; a count mismatch names the flag', () => {
    expect(config(['--worker-urls', 'http://a:1', 'http://b:1', '--static-models', 'm1,m2']).static_models).toEqual(['m1', 'm2']);
    const e = error(['--worker-urls', 'http://a:1', 'http://b:1', '--static-models', 'm1']);
    expect(e).toMatchObject({ flag: '--static-models', value: 'm1' });
    expect(e.reason).toContain('2 URLs, 1 models');
    expect(error(['--worker-urls', 'http://a:1', 'http://b:1', '--static-models', 'm1,']).flag).toBe('--static-models');
  });
  test("--static-aliases: production-stack's alias:model list; a model name may hold a colon", () => {
    expect(config([...WORKER, '--static-aliases', 'gpt-4:llama3:8b,small:qwen']).static_aliases).toEqual(['gpt-4:llama3:8b', 'small:qwen']);
    expect(error([...WORKER, '--static-aliases', 'gpt-4']).flag).toBe('--static-aliases');
    expect(error([...WORKER, '--static-aliases', 'a:m1,a:m2']).reason).toContain('alias twice');
  });
  test('a config file gives --static-models as a list and --static-aliases as a map', () => {
    const readFile = () => JSON.stringify({ worker_urls: ['http://a:1', 'http://b:1'], static_models: ['m1', 'm2'], static_aliases: { 'gpt-4o': 'm2' } });
    expect(config(['--config', '/c.json'], { readFile })).toMatchObject({ static_models: ['m1', 'm2'], static_aliases: ['gpt-4o:m2'] });
  });
  test('--max-inflight-body-bytes below --max-payload-size is refused, naming both; unset it follows --max-payload-size up', () => {
    const e = error([...WORKER, '--max-payload-size', '1000', '--max-inflight-body-bytes', '999']);
    expect(e).toMatchObject({ flag: '--max-inflight-body-bytes', value: '999' });
    expect(e.reason).toContain('--max-payload-size (1000)');
    expect(config([...WORKER, '--max-payload-size', '1000', '--max-inflight-body-bytes', '1000']).max_inflight_body_bytes).toBe(1000);
    expect(config(WORKER).max_inflight_body_bytes).toBeUndefined();
  });
  test('--retry-max-backoff-ms must not be below the initial backoff (schema rule)', () => {
    const r = configSchema.safeParse({ worker_urls: ['http://a:1'], retry_max_backoff_ms: 10, retry_initial_backoff_ms: 20 });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['retry_max_backoff_ms']);
  });
});

describe('Rust-router flags whose feature this router does not have are parsed but refused at start-up, with the reason', () => {
  for (const argv of [['--profile'], ['--enable-igw']]) {
    test(argv.join(' '), () => {
      const e = error([...WORKER, ...argv]);
      expect(e.flag).toBe(argv[0]!);
      expect(e.reason).toMatch(/^not supported: \w/);
    });
  }
});

describe('config file and environment', () => {
  const files: Record<string, string> = {
    '/c.json': JSON.stringify({ worker_urls: ['http://f:1'], port: 1234, policy: 'random', log_level: 'debug' }),
    '/c.yaml': 'worker-urls:\n  - http://y:1\nport: 4321\ncors_allowed_origins: [http://x.example]\n',
    '/bad.json': '{"port": ',
    '/unknown.json': '{"bogus": 1}',
  };
  const readFile = (p: string) => {
    const text = files[p];
    if (text === undefined) throw new Error('ENOENT: no such file');
    return text;
  };
  test('JSON and YAML files with snake_case keys', () => {
    expect(config(['--config', '/c.json'], { readFile })).toMatchObject({ worker_urls: ['http://f:1'], port: 1234, policy: 'random' });
    expect(config(['--config', '/c.yaml'], { readFile })).toMatchObject({ worker_urls: ['http://y:1'], port: 4321, cors_allowed_origins: ['http://x.example'] });
  });
  test('command line beats environment beats file', () => {
    const env = { VLLM_ROUTER_PORT: '2000', VLLM_ROUTER_POLICY: 'round_robin' };
    expect(config(['--config', '/c.json', '--port', '3000'], { readFile, env })).toMatchObject({ port: 3000, policy: 'round_robin' });
  });
  test('unreadable, malformed and unknown settings name the file and the reason', () => {
    expect(error(['--config', '/missing.json'], { readFile })).toMatchObject({ flag: '--config', value: '/missing.json' });
    expect(error(['--config', '/bad.json'], { readFile }).reason).toMatch(/not valid JSON/);
    expect(error(['--config', '/unknown.json'], { readFile }).reason).toMatch(/unknown setting 'bogus'/);
  });
  test('a bad value in the file names the flag', () => {
    const readBad = () => JSON.stringify({ worker_urls: ['http://a:1'], port: 'x' });
    expect(error(['--config', '/x.json'], { readFile: readBad })).toMatchObject({ flag: '--port', value: 'x' });
  });
});
