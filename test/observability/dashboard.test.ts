// Every metric the Grafana dashboard (deploy/grafana/vllm-router.json) queries exists on a real router's /metrics,
// with the labels and types its PromQL assumes.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { type Child } from '../../testkit/spawn-child.ts';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { startTestRouter, type TestRouter } from '../support/router.ts';
import { until } from '../../testkit/until.ts';

const DASHBOARD_PATH = new URL('../../deploy/grafana/vllm-router.json', import.meta.url).pathname;
const dashboard = JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8')) as Dashboard;

interface Target {
  readonly expr?: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
}
interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly datasource?: Target['datasource'];
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}
interface Variable {
  readonly name: string;
  readonly type: string;
  readonly query?: string | { readonly query?: string };
  readonly datasource?: Target['datasource'];
}
interface Dashboard {
  readonly schemaVersion: number;
  readonly uid: string;
  readonly panels: readonly Panel[];
  readonly templating: { readonly list: readonly Variable[] };
}

/** Panels of the dashboard, those inside collapsed rows included. */
const allPanels = (d: Dashboard): Panel[] => d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);

interface Query {
  readonly where: string;
  readonly expr: string;
}

/** Every PromQL expression the dashboard runs: panel targets and query variables (label_values(sel, label) as PromQL). */
function dashboardQueries(d: Dashboard): Query[] {
  const queries: Query[] = [];
  for (const p of allPanels(d)) for (const t of p.targets ?? []) if (t.expr) queries.push({ where: `panel "${p.title}"`, expr: t.expr });
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
    const labelValues = /^\s*label_values\((.+),\s*([A-Za-z_]\w*)\s*\)\s*$/.exec(q);
    const expr = labelValues ? `count by (${labelValues[2]}) (${labelValues[1]})` : /^\s*query_result\((.+)\)\s*$/.exec(q)?.[1];
    if (expr) queries.push({ where: `variable $${v.name}`, expr });
  }
  return queries;
}

// ── PromQL, as far as a dashboard uses it: selectors, functions, aggregations with by/without, vector matching.

type Token = { readonly kind: 'ident' | 'string' | 'number' | 'range' | 'punct' | 'op'; readonly text: string };

function tokenize(expr: string): Token[] {
  const rules: [Token['kind'] | null, RegExp][] = [
    [null, /^\s+/],
    ['string', /^("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)/],
    ['range', /^\[[^\]]*\]/],
    ['number', /^(\d[\w.]*|\$\w+|\$\{[^}]*\})/],
    ['ident', /^[A-Za-z_:][\w:]*/],
    ['op', /^(=~|!~|==|!=|>=|<=|[=<>+\-*/%^@])/],
    ['punct', /^[(){},]/],
  ];
  const tokens: Token[] = [];
  let rest = expr;
  outer: while (rest.length > 0) {
    for (const [kind, re] of rules) {
      const m = re.exec(rest);
      if (!m) continue;
      if (kind) tokens.push({ kind, text: m[0] });
      rest = rest.slice(m[0].length);
      continue outer;
    }
    throw new Error(`cannot read PromQL at "${rest}" in ${expr}`);
  }
  return tokens;
}

const AGGREGATIONS = new Set(['sum', 'avg', 'min', 'max', 'count', 'group', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'limitk', 'limit_ratio']);
const GROUPING = new Set(['by', 'without']);
const MATCHING = new Set(['on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['bool', 'and', 'or', 'unless', 'offset', 'atan2', 'start', 'end']);

interface Selector {
  /** The series name as written (`x_bucket`), and where it stands among the tokens. */
  readonly name: string;
  readonly at: number;
  readonly matcherLabels: readonly string[];
}
/** A call of a function or an aggregation, with the selectors between its parentheses. */
interface Call {
  readonly fn: string;
  readonly selectors: readonly Selector[];
  readonly grouping?: { readonly kind: 'by' | 'without'; readonly labels: readonly string[] };
}
interface Parsed {
  readonly selectors: readonly Selector[];
  readonly calls: readonly Call[];
}

function parsePromQL(expr: string): Parsed {
  const t = tokenize(expr);
  const is = (i: number, text: string) => t[i]?.text === text;
  const close = (open: number, left = '(', right = ')') => {
    let depth = 0;
    for (let i = open; i < t.length; i++) {
      if (t[i]!.kind === 'punct' && t[i]!.text === left) depth++;
      if (t[i]!.kind === 'punct' && t[i]!.text === right && --depth === 0) return i;
    }
    throw new Error(`unbalanced ${left} in ${expr}`);
  };
  const labelList = (open: number) => t.slice(open + 1, close(open)).filter((x) => x.kind === 'ident').map((x) => x.text);

  const selectors: Selector[] = [];
  const spans: { fn: string; open: number; end: number; grouping?: Call['grouping'] }[] = [];
  const skip = new Set<number>();
  for (let i = 0; i < t.length; i++) {
    const tok = t[i]!;
    if (skip.has(i)) continue;
    if (tok.kind === 'ident' && (GROUPING.has(tok.text) || MATCHING.has(tok.text)) && is(i + 1, '(')) {
      for (let j = i + 1; j <= close(i + 1); j++) skip.add(j);
      continue;
    }
    if (tok.kind === 'ident' && (KEYWORDS.has(tok.text) || GROUPING.has(tok.text) || MATCHING.has(tok.text))) continue;
    if (tok.kind === 'ident' && AGGREGATIONS.has(tok.text)) {
      let grouping: Call['grouping'];
      let open = i + 1;
      if (GROUPING.has(t[open]?.text ?? '')) {
        grouping = { kind: t[open]!.text as 'by' | 'without', labels: labelList(open + 1) };
        open = close(open + 1) + 1;
      }
      if (!is(open, '(')) throw new Error(`${tok.text} without arguments in ${expr}`);
      const end = close(open);
      if (!grouping && GROUPING.has(t[end + 1]?.text ?? '')) grouping = { kind: t[end + 1]!.text as 'by' | 'without', labels: labelList(end + 2) };
      spans.push({ fn: tok.text, open, end, grouping });
      continue;
    }
    if (tok.kind === 'ident' && is(i + 1, '(')) {
      spans.push({ fn: tok.text, open: i + 1, end: close(i + 1) });
      continue;
    }
    const startsSelector = tok.kind === 'ident' || (tok.kind === 'punct' && tok.text === '{');
    if (!startsSelector) continue;
    const brace = tok.text === '{' ? i : is(i + 1, '{') ? i + 1 : -1;
    const matchers: [string, string][] = [];
    if (brace >= 0) {
      const end = close(brace, '{', '}');
      for (let j = brace + 1; j < end; j++) if (t[j]!.kind === 'ident' && t[j + 1]?.kind === 'op') matchers.push([t[j]!.text, t[j + 2]?.text ?? '']);
      for (let j = brace; j <= end; j++) skip.add(j);
    }
    const byName = matchers.find(([l]) => l === '__name__')?.[1].slice(1, -1);
    const name = tok.text === '{' ? byName : tok.text;
    if (name === undefined) throw new Error(`selector without a metric name in ${expr}`);
    selectors.push({ name, at: i, matcherLabels: matchers.map(([l]) => l).filter((l) => l !== '__name__') });
  }
  const calls = spans.map((s) => ({ fn: s.fn, grouping: s.grouping, selectors: selectors.filter((x) => x.at > s.open && x.at < s.end) }));
  return { selectors, calls };
}

// ── What /metrics declares, and what a query may ask of it.

interface Exposition {
  /** Family name → type, from the `# TYPE` lines. */
  readonly families: ReadonlyMap<string, string>;
  /** Label names a family is declared with (from the router's own registry). */
  readonly labelsOf: (family: string) => readonly string[];
}

/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['instance', 'job'];

/** The family a series name belongs to: `x_bucket` → histogram `x`; a name that is itself a family stays whole. */
function resolve(name: string, families: Exposition['families']): { family: string; part: '' | '_bucket' | '_sum' | '_count' } | undefined {
  if (families.has(name)) return { family: name, part: '' };
  for (const part of ['_bucket', '_sum', '_count'] as const) {
    if (!name.endsWith(part)) continue;
    const base = name.slice(0, -part.length);
    const type = families.get(base);
    if (type === 'histogram' || (type === 'summary' && part !== '_bucket')) return { family: base, part };
  }
  return undefined;
}

/** Everything wrong with one query against the exposition; empty when it is sound. */
function problems(expr: string, exp: Exposition): string[] {
  const out: string[] = [];
  const { selectors, calls } = parsePromQL(expr);
  const allowed = (s: Selector) => {
    const r = resolve(s.name, exp.families)!;
    return new Set([...exp.labelsOf(r.family), ...TARGET_LABELS, ...(r.part === '_bucket' ? ['le'] : [])]);
  };
  const known = selectors.filter((s) => {
    if (resolve(s.name, exp.families)) return true;
    out.push(`unknown metric ${s.name}`);
    return false;
  });
  for (const s of known) for (const l of s.matcherLabels) if (!allowed(s).has(l)) out.push(`${s.name} has no label ${l}`);
  for (const c of calls) {
    const inside = c.selectors.filter((s) => known.includes(s));
    if (c.grouping?.kind === 'by')
      for (const l of c.grouping.labels) for (const s of inside) if (!allowed(s).has(l)) out.push(`${c.fn} by (${l}) over ${s.name}, which has no label ${l}`);
    if (['rate', 'irate', 'increase'].includes(c.fn))
      for (const s of inside) {
        const r = resolve(s.name, exp.families)!;
        if (r.part === '' && exp.families.get(r.family) !== 'counter') out.push(`${c.fn}() over ${s.name}, a ${exp.families.get(r.family)}`);
      }
    if (c.fn === 'histogram_quantile') {
      for (const s of inside) if (resolve(s.name, exp.families)!.part !== '_bucket') out.push(`histogram_quantile over ${s.name}, not a _bucket series`);
      const groupings = calls.filter((g) => g !== c && g.grouping && g.selectors.some((s) => inside.includes(s)));
      for (const g of groupings) if (g.grouping!.kind === 'by' && !g.grouping!.labels.includes('le')) out.push(`histogram_quantile over ${g.fn} by (${g.grouping!.labels.join(', ')}) drops le`);
    }
  }
  return out;
}

/** Families of the text exposition format, from `# TYPE name type`. */
const familiesOf = (text: string) => new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const));

// ── A real router in front of a mock engine, after a little real traffic.

let engine: Child & { url: string };
let router: TestRouter;
let scrape: string;
let exposition: Exposition;

beforeAll(async () => {
  engine = await spawnMockEngine(['--model', 'm', '--itl-ms', '2']);
  router = await startTestRouter(['--worker-urls', engine.url, '--policy', 'cache_aware']);
  const post = (path: string, body: unknown) => fetch(`${router.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const stream = await post('/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hello there' }], max_tokens: 4, stream: true, stream_options: { include_usage: true } });
  expect(stream.status).toBe(200);
  expect(await stream.text()).toContain('data: [DONE]');
  const plain = await post('/v1/completions', { model: 'm', prompt: 'one two', max_tokens: 2 });
  expect(plain.status).toBe(200);
  await plain.text();
  await until(async () => {
    scrape = await (await fetch(router.router.metricsUrl)).text();
    return /^vllm_router_inter_token_latency_seconds_count\{[^}]*\} [1-9]/m.test(scrape);
  }, 'stream histograms on /metrics');
  const registry = router.router.metrics.registry;
  exposition = {
    families: familiesOf(scrape),
    labelsOf: (family) => {
      // prom-client keeps a metric's label names on the metric (lib/metric.js), not in its typings.
      const labelNames = (registry.getSingleMetric(family) as unknown as { labelNames?: unknown } | undefined)?.labelNames;
      if (!Array.isArray(labelNames)) throw new Error(`no label names for ${family} in the router's registry`);
      return labelNames as string[];
    },
  };
});

afterAll(async () => {
  await router?.[Symbol.asyncDispose]();
  await engine?.[Symbol.asyncDispose]();
});

describe('deploy/grafana/vllm-router.json', () => {
  const queries = dashboardQueries(dashboard);

  test('is a Grafana dashboard whose every panel and query uses the $datasource variable', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    expect(dashboard.uid).toBe('vllm-router');
    const panels = allPanels(dashboard);
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const p of panels.filter((x) => x.type !== 'row')) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const t of p.targets ?? []) expect(t.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
    expect(queries.length).toBeGreaterThan(40);
  });

  test('every metric family its queries reference is declared on /metrics after real traffic', () => {
    const missing = queries.flatMap((q) => parsePromQL(q.expr).selectors.filter((s) => !resolve(s.name, exposition.families)).map((s) => `${q.where}: ${s.name}`));
    expect(missing).toEqual([]);
  });

  test('labels, rate() and histogram_quantile() are used as the metrics are declared', () => {
    const found = queries.flatMap((q) => problems(q.expr, exposition).map((p) => `${q.where}: ${p}`));
    expect(found).toEqual([]);
  });

  test('covers traffic, errors, TTFT/ITL, health and breakers, cache hits, PD phases, admission, the tokenizer pool, the KV-event feeds and the QoE predictions', () => {
    const used = new Set(queries.flatMap((q) => parsePromQL(q.expr).selectors.map((s) => resolve(s.name, exposition.families)?.family)));
    for (const family of [
      'vllm_router_requests_total',
      'vllm_router_request_errors_total',
      'vllm_router_request_duration_seconds',
      'vllm_router_time_to_first_token_seconds',
      'vllm_router_inter_token_latency_seconds',
      'vllm_router_worker_health',
      'vllm_router_cb_state',
      'vllm_router_cache_hits_total',
      'vllm_router_cache_misses_total',
      'vllm_router_pd_prefill_duration_seconds',
      'vllm_router_pd_decode_first_token_seconds',
      'vllm_router_queue_depth',
      'vllm_router_tokenizer_pool_queue_depth',
      'vllm_tokenizer_encode_duration_seconds',
      'vllm_router_kv_events_total',
      'vllm_router_kv_index_blocks',
      'vllm_router_kv_event_gaps_total',
      'vllm_router_kv_predicted_cached_tokens_total',
      'vllm_router_kv_feed_connected',
      'vllm_router_qoe_ttft_seconds',
      'vllm_router_qoe_tpot_seconds',
      'vllm_router_qoe_prediction_error_ratio',
    ])
      expect(used).toContain(family);
  });

  test('the checks catch a made-up metric, a wrong label, rate() over a gauge and a quantile that drops le', () => {
    const bad = [
      'sum(rate(vllm_router_made_up_total[5m]))',
      'sum by (route) (rate(vllm_router_requests_totally[5m]))',
      'histogram_quantile(0.9, sum by (le) (rate(vllm_router_requests_total_bucket[5m])))',
      'vllm_router_queue_depth_count',
      '{__name__="vllm_router_not_there"}',
      'sum by (endpoint) (rate(vllm_router_processed_requests_total[5m]))',
      'vllm_router_worker_health{endpoint="x"}',
      'rate(vllm_router_queue_depth[5m])',
      'histogram_quantile(0.9, sum by (worker) (rate(vllm_router_time_to_first_token_seconds_bucket[5m])))',
      'histogram_quantile(0.9, rate(vllm_router_time_to_first_token_seconds_sum[5m]))',
    ];
    for (const expr of bad) expect(problems(expr, exposition), expr).not.toEqual([]);
    const good = [
      'vllm_router_requests_total',
      'sum(rate(vllm_router_time_to_first_token_seconds_sum{worker=~"$worker"}[$__rate_interval])) by (worker)',
      'histogram_quantile(0.5, sum by (le, worker) (rate(vllm_router_time_to_first_token_seconds_bucket{instance=~"$instance"}[5m])))',
      'count(vllm_router_cb_state == 1) or vector(0)',
      'sum(vllm_router_running_requests) / on(instance) group_left max(vllm_router_active_workers)',
    ];
    for (const expr of good) expect(problems(expr, exposition), expr).toEqual([]);
  });
});
