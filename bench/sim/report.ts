// Summaries of a replay (percentiles, throughput, SLA attainment, stream QoE, engine-side prefix-cache hit
// rate) and the Markdown the benchmark writes: each cell the mean over seeds, with the min–max range when the
// seeds differ.
import type { RequestResult } from './client.ts';
import type { SeedSummary, Spread } from './seed-aggregate.ts';
import { CLASSES, type RequestClass } from './workloads.ts';

/** What the engines' own /metrics said at the end of a run, summed over the fleet. */
export interface EngineTotals {
  prefixCacheQueries: number;
  prefixCacheHits: number;
  preemptions: number;
  /** Requests each engine served, in fleet order (how evenly the policy spread the load). */
  perEngineRequests: number[];
  /** What the routers predicted the engines had cached for the requests they sent (kv_aware's
   * vllm_router_kv_predicted_cached_tokens_total, summed over the replicas); undefined for other policies. */
  predictedCachedTokens?: number;
}

export interface RunSummary {
  policy: string;
  rate: number;
  /** Requests sent (a closed-loop session's turns never sent are counted in notSent only). */
  requests: number;
  ok: number;
  failed: number;
  timedOut: number;
  /** Closed-loop turns never sent: due after the deadline, or after their session's previous turn failed. */
  notSent: number;
  hitRate: number;
  ttft: { p50: number; p90: number; p99: number };
  itl: { p50: number; p99: number };
  e2e: { p50: number; p99: number };
  outputTokPerSec: number;
  reqPerSec: number;
  sla: number;
  slaByClass: Partial<Record<RequestClass, number>>;
  /** Mean Andes stream QoE over every request (0 for those that did not complete). */
  qoe: number;
  /** The same figures per request class, i.e. per priority. */
  byClass: Partial<Record<RequestClass, ClassSummary>>;
  preemptions: number;
  perEngineRequests: number[];
  /** Requests sent to each router replica, in replica order. */
  perReplicaRequests: number[];
  /** The routers' predicted cached tokens over the engines' prefix-cache hits (1: the index saw exactly what the
   * engines found); NaN when the policy predicts nothing. */
  predictedOverHits: number;
}

export interface ClassSummary {
  priority: number;
  requests: number;
  sla: number;
  qoe: number;
  ttft: { p50: number; p99: number };
  tpot: { p50: number; p99: number };
  /** Requests of this class each engine served, in fleet order, from the router's `x-served-by`. */
  perEngine: number[];
}

/** Nearest-rank percentile; Infinity entries (requests that never got a first token) sort last. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** Engines in fleet order, by URL, so `x-served-by` can be counted per engine. Every figure is over the
 * requests sent: a closed-loop turn never sent has no latency to count (notSent says how many). */
export function summarize(policy: string, rate: number, all: readonly RequestResult[], spanMs: number, engines: EngineTotals, engineUrls: readonly string[] = [], replicas = 1): RunSummary {
  const results = all.filter((r) => r.outcome !== 'not_sent');
  // A request with no first token by the deadline has an unbounded TTFT: it stays in the percentiles.
  const ttft = results.map((r) => r.ttftMs ?? Number.POSITIVE_INFINITY);
  const e2e = results.map((r) => (r.outcome === 'ok' ? (r.e2eMs as number) : Number.POSITIVE_INFINITY));
  const itl = results.flatMap((r) => r.itlMs);
  const ok = results.filter((r) => r.outcome === 'ok');
  const tokens = ok.reduce((sum, r) => sum + r.tokens, 0);
  const seconds = spanMs / 1000;
  const slaByClass: Partial<Record<RequestClass, number>> = {};
  const byClass: Partial<Record<RequestClass, ClassSummary>> = {};
  for (const cls of new Set(results.map((r) => r.cls))) {
    const mine = results.filter((r) => r.cls === cls);
    const sla = mine.filter((r) => r.slaMet).length / mine.length;
    slaByClass[cls] = sla;
    const ttftOf = mine.map((r) => r.ttftMs ?? Number.POSITIVE_INFINITY);
    const tpotOf = mine.map((r) => (r.outcome === 'ok' ? (r.tpotMs as number) : Number.POSITIVE_INFINITY));
    byClass[cls] = {
      priority: CLASSES[cls].priority,
      requests: mine.length,
      sla,
      qoe: mean(mine.map((r) => r.qoe)),
      ttft: { p50: percentile(ttftOf, 0.5), p99: percentile(ttftOf, 0.99) },
      tpot: { p50: percentile(tpotOf, 0.5), p99: percentile(tpotOf, 0.99) },
      perEngine: engineUrls.map((url) => mine.filter((r) => servedBy(r).includes(url)).length),
    };
  }
  return {
    policy,
    rate,
    requests: results.length,
    ok: ok.length,
    failed: results.filter((r) => r.outcome !== 'ok' && r.outcome !== 'timeout').length,
    timedOut: results.filter((r) => r.outcome === 'timeout').length,
    notSent: all.length - results.length,
    hitRate: engines.prefixCacheQueries > 0 ? engines.prefixCacheHits / engines.prefixCacheQueries : Number.NaN,
    ttft: { p50: percentile(ttft, 0.5), p90: percentile(ttft, 0.9), p99: percentile(ttft, 0.99) },
    itl: { p50: percentile(itl, 0.5), p99: percentile(itl, 0.99) },
    e2e: { p50: percentile(e2e, 0.5), p99: percentile(e2e, 0.99) },
    outputTokPerSec: seconds > 0 ? tokens / seconds : 0,
    reqPerSec: seconds > 0 ? ok.length / seconds : 0,
    sla: results.length > 0 ? results.filter((r) => r.slaMet).length / results.length : Number.NaN,
    slaByClass,
    qoe: mean(results.map((r) => r.qoe)),
    byClass,
    preemptions: engines.preemptions,
    perEngineRequests: engines.perEngineRequests,
    perReplicaRequests: Array.from({ length: replicas }, (_, i) => results.filter((r) => r.replica === i).length),
    predictedOverHits: engines.predictedCachedTokens !== undefined && engines.prefixCacheHits > 0 ? engines.predictedCachedTokens / engines.prefixCacheHits : Number.NaN,
  };
}

/** The endpoints named in `x-served-by` (two in P/D mode: the prefill and the decode engine). */
const servedBy = (r: RequestResult): string[] => (r.servedBy === null ? [] : r.servedBy.split(',').map((u) => u.trim().replace(/\/+$/, '')));

const mean = (values: readonly number[]): number => (values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length);

const ms = (v: number): string => (Number.isFinite(v) ? String(Math.round(v)) : v === Number.POSITIVE_INFINITY ? '∞' : '–');
const sec = (v: number): string => (Number.isFinite(v) ? (v / 1000).toFixed(2) : v === Number.POSITIVE_INFINITY ? '∞' : '–');
const percent = (v: number): string => (Number.isFinite(v) ? (v * 100).toFixed(1) : '–');
const qoe = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : '–');
const fixed0 = (v: number): string => v.toFixed(0);
const fixed1 = (v: number): string => v.toFixed(1);

/** The mean, then the min–max range over seeds when it is not one value at the cell's precision. */
export function withSpread(s: Spread, format: (v: number) => string, unit = ''): string {
  const mean = format(s.mean);
  const lo = format(s.min);
  const hi = format(s.max);
  return mean === '–' || lo === hi ? `${mean}${mean === '–' ? '' : unit}` : `${mean}${unit} (${lo}–${hi})`;
}
const pct = (s: Spread): string => withSpread(s, percent, '%');
/** A count: its mean over seeds, with one decimal when the seeds differ. */
const count = (s: Spread): string => (Number.isInteger(s.mean) ? String(s.mean) : s.mean.toFixed(1));
const counts = (list: readonly Spread[]): string => list.map(count).join(' / ');

/** One table for one rate: a row per policy, skipped policies named below it. */
export function markdownTable(rows: readonly SeedSummary[], skipped: readonly { policy: string; reason: string }[]): string {
  const classes = [...new Set(rows.flatMap((r) => Object.keys(r.slaByClass)))] as RequestClass[];
  const perClass = classes.length > 1;
  const closedLoop = rows.some((r) => r.notSent.max > 0);
  const replicas = rows.some((r) => r.perReplicaRequests.length > 1);
  const predicts = rows.some((r) => Number.isFinite(r.predictedOverHits?.mean));
  const head = [
    'policy',
    `requests (ok/failed/timed out${closedLoop ? '/not sent' : ''})`,
    'prefix-cache hit rate',
    'TTFT p50 ms',
    'TTFT p90 ms',
    'TTFT p99 ms',
    'ITL p50 ms',
    'ITL p99 ms',
    'E2E p50 s',
    'E2E p99 s',
    'output tok/s',
    'completed req/s',
    'SLA met',
    ...(perClass ? classes.map((c) => `SLA ${c} (p${CLASSES[c].priority})`) : []),
    'mean stream QoE',
    'preemptions',
    'requests per engine',
    ...(replicas ? ['requests per router replica'] : []),
    ...(predicts ? ['predicted / engine-reported cached tokens'] : []),
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) {
    const cells = [
      r.policy,
      `${count(r.requests)} (${count(r.ok)}/${count(r.failed)}/${count(r.timedOut)}${closedLoop ? `/${count(r.notSent)}` : ''})`,
      pct(r.hitRate),
      withSpread(r.ttft.p50, ms),
      withSpread(r.ttft.p90, ms),
      withSpread(r.ttft.p99, ms),
      withSpread(r.itl.p50, ms),
      withSpread(r.itl.p99, ms),
      withSpread(r.e2e.p50, sec),
      withSpread(r.e2e.p99, sec),
      withSpread(r.outputTokPerSec, fixed0),
      withSpread(r.reqPerSec, fixed1),
      pct(r.sla),
      ...(perClass ? classes.map((c) => { const v = r.slaByClass[c]; return v === undefined ? '–' : pct(v); }) : []),
      withSpread(r.qoe, qoe),
      withSpread(r.preemptions, fixed0),
      counts(r.perEngineRequests),
      ...(replicas ? [counts(r.perReplicaRequests)] : []),
      ...(predicts ? [r.predictedOverHits === undefined ? '–' : withSpread(r.predictedOverHits, (v) => (Number.isFinite(v) ? v.toFixed(3) : '–'))] : []),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  for (const s of skipped) lines.push('', `*${s.policy}: skipped: ${s.reason}*`);
  return lines.join('\n');
}

/** Per priority class, for a workload with several: who was protected and who paid. Empty otherwise. */
export function classTable(rows: readonly SeedSummary[]): string {
  const classes = ([...new Set(rows.flatMap((r) => Object.keys(r.byClass)))] as RequestClass[]).sort((a, b) => CLASSES[a].priority - CLASSES[b].priority);
  if (classes.length < 2) return '';
  const head = ['policy', ...classes.flatMap((c) => [`p${CLASSES[c].priority} ${c}: SLA met`, 'QoE', 'TTFT p50 / p99 ms', 'TPOT p50 / p99 ms', 'per engine'])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) {
    const cells = [r.policy];
    for (const c of classes) {
      const k = r.byClass[c];
      if (k === undefined) cells.push('–', '–', '–', '–', '–');
      else cells.push(`${pct(k.sla)} of ${count(k.requests)}`, withSpread(k.qoe, qoe), `${withSpread(k.ttft.p50, ms)} / ${withSpread(k.ttft.p99, ms)}`, `${withSpread(k.tpot.p50, ms)} / ${withSpread(k.tpot.p99, ms)}`, counts(k.perEngine));
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
