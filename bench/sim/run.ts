// `bun run bench:sim`: the routing-quality benchmark. For each rate and each policy it starts a fresh fleet
// of simulated vLLM engines (cold caches) and the compiled router, replays a seeded open-loop workload
// through the router, and reports prefix-cache hit rate (from the engines' /metrics), TTFT, ITL, E2E,
// throughput, SLA attainment and stream QoE (overall and per priority class), as Markdown plus two PNG
// plots under bench/results/.
//
// With `--pd P:D[,P:D…]` each policy also runs on a disaggregated fleet of P prefill and D decode engines
// behind the router in vLLM P/D mode (NIXL hand-off), on the same requests.
//
//   bun run bench:sim [--workload chat|longdoc|mixed] [--policies a,b] [--rate R] [--rates a,b,c]
//                     [--duration S] [--engines N] [--seed N] [--speeds 1,1,0.5,0.5] [--engine-args="…"]
//                     [--router-args="…"] [--drain S] [--out DIR] [--tag T] [--system-prompts N]
//                     [--pd P:D,…] [--pd-only] [--pd-args="…"] [--router-binary PATH]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { replay, type RequestResult } from './client.ts';
import { DEFAULT_ENGINE_PARAMS } from './engine-params.ts';
import { ensureRouterBinary, spawnEngine, spawnPdRouter, spawnRouter, type ChildProc } from './fleet.ts';
import { slaVsRatePng, ttftCdfPng } from './plot.ts';
import { classTable, markdownTable, summarize, type EngineTotals, type RunSummary } from './report.ts';
import { buildWorkload, CLASSES, SHAPE, WORKLOADS, type WorkloadName } from './workloads.ts';

const DEFAULTS = {
  workload: 'chat',
  policies: 'round_robin,random,power_of_two,consistent_hash,cache_aware',
  rates: '12,16,20',
  duration: '15',
  engines: '4',
  seed: '1',
  drain: '15',
  out: 'bench/results',
};
const MODEL = 'sim-llama-8b';

function usage(message: string): never {
  process.stderr.write(`bench:sim: ${message}\n`);
  process.exit(2);
}

const { values: a } = (() => {
  try {
    return parseArgs({
      args: process.argv.slice(2),
      strict: true,
      options: {
        workload: { type: 'string', default: DEFAULTS.workload },
        policies: { type: 'string', default: DEFAULTS.policies },
        rate: { type: 'string' },
        rates: { type: 'string' },
        duration: { type: 'string', default: DEFAULTS.duration },
        engines: { type: 'string', default: DEFAULTS.engines },
        seed: { type: 'string', default: DEFAULTS.seed },
        speeds: { type: 'string' },
        'engine-args': { type: 'string', default: '' },
        'router-args': { type: 'string', default: '' },
        drain: { type: 'string', default: DEFAULTS.drain },
        out: { type: 'string', default: DEFAULTS.out },
        tag: { type: 'string' },
        'system-prompts': { type: 'string' },
        pd: { type: 'string' },
        'pd-only': { type: 'boolean' },
        'pd-args': { type: 'string', default: '' },
        'router-binary': { type: 'string' },
        help: { type: 'boolean' },
      },
    });
  } catch (err) {
    return usage((err as Error).message);
  }
})();
if (a.help) {
  process.stdout.write(`${(await Bun.file(new URL(import.meta.url)).text()).split('\n').slice(0, 12).map((l) => l.replace(/^\/\/ ?/, '')).join('\n')}\n\nDefaults: ${JSON.stringify(DEFAULTS)}\n`);
  process.exit(0);
}

const positive = (flag: string, v: string): number => {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) usage(`--${flag} must be a positive number, got ${JSON.stringify(v)}`);
  return n;
};
const list = (flag: string, v: string): number[] => v.split(',').map((x) => positive(flag, x.trim()));
const words = (v: string): string[] => v.split(/\s+/).filter((w) => w !== '');

const workload = a.workload as WorkloadName;
if (!WORKLOADS.includes(workload)) usage(`--workload must be one of ${WORKLOADS.join(', ')}, got ${JSON.stringify(a.workload)}`);
const policies = (a.policies as string).split(',').map((p) => p.trim()).filter((p) => p !== '');
const sweep = a.rates !== undefined ? list('rates', a.rates) : a.rate !== undefined ? [] : list('rates', DEFAULTS.rates);
const mainRate = a.rate !== undefined ? positive('rate', a.rate) : (sweep[Math.floor(sweep.length / 2)] as number);
const rates = [...new Set([...sweep, mainRate])].sort((x, y) => x - y);
const durationSec = positive('duration', a.duration as string);
const engineCount = Math.round(positive('engines', a.engines as string));
const seed = Math.round(Number(a.seed));
const drainMs = positive('drain', a.drain as string) * 1000;
const systemPrompts = a['system-prompts'] === undefined ? SHAPE.systemPrompts : Math.round(positive('system-prompts', a['system-prompts']));
const shape = { ...SHAPE, systemPrompts };
const speeds = a.speeds !== undefined ? list('speeds', a.speeds) : [];
const engineArgs = words(a['engine-args'] as string);
const routerArgs = words(a['router-args'] as string);
const pdArgs = words(a['pd-args'] as string);

/** A fleet: N engines behind the router's regular mode, or P prefill + D decode engines behind its P/D mode. */
type Fleet = { kind: 'regular'; engines: number } | { kind: 'pd'; prefill: number; decode: number };
const fleets: Fleet[] = [];
if (!a['pd-only']) fleets.push({ kind: 'regular', engines: engineCount });
if (a.pd !== undefined) {
  for (const shape of a.pd.split(',')) {
    const m = /^(\d+):(\d+)$/.exec(shape.trim());
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) usage(`--pd takes PREFILL:DECODE engine counts such as 1:3 (comma-separated for several), got ${JSON.stringify(a.pd)}`);
    fleets.push({ kind: 'pd', prefill: Number(m[1]), decode: Number(m[2]) });
  }
} else if (a['pd-only']) usage('--pd-only needs --pd P:D');
const fleetSize = (f: Fleet): number => (f.kind === 'regular' ? f.engines : f.prefill + f.decode);
for (const f of fleets) if (speeds.length > 0 && speeds.length !== fleetSize(f)) usage(`--speeds has ${speeds.length} values for a fleet of ${fleetSize(f)} engines`);
const fleetName = (f: Fleet): string => (f.kind === 'regular' ? `${f.engines} engines` : `${f.prefill}P+${f.decode}D`);
/** The row label: the policy, plus the P/D shape for a disaggregated fleet. */
const runLabel = (f: Fleet, policy: string): string => (f.kind === 'regular' ? policy : `${policy} ${fleetName(f)}${pdArgs.length > 0 ? ` (${pdArgs.join(' ')})` : ''}`);
const root = new URL('../..', import.meta.url).pathname;
const outDir = resolve(root, a.out as string);
const log = (line: string): void => void process.stdout.write(`${line}\n`);

// A binary of one's own keeps a long run on the code it started with while src/ changes under it.
const binary = a['router-binary'] !== undefined ? resolve(a['router-binary']) : ensureRouterBinary(root, log);
const started = performance.now();
log(`bench:sim ${workload}: ${fleets.map(fleetName).join(' and ')}, policies ${policies.join(', ')}, rates ${rates.join(', ')} req/s, ${durationSec} s each (seed ${seed})`);

/** Sums the engines' counters. The hit rate counts only `computes` engines: in a P/D fleet the prefill
 * engines, where a cached prefix saves computation (a decode engine's cache only shortens the KV pull). */
async function scrape(engines: readonly ChildProc[], computes: (index: number) => boolean): Promise<EngineTotals> {
  const totals: EngineTotals = { prefixCacheQueries: 0, prefixCacheHits: 0, preemptions: 0, perEngineRequests: [] };
  for (const [i, e] of engines.entries()) {
    const text = await (await fetch(`${e.url}/metrics`)).text();
    const sum = (name: string): number => {
      let s = 0;
      for (const m of text.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'gm'))) s += Number(m[1]);
      return s;
    };
    if (computes(i)) {
      totals.prefixCacheQueries += sum('vllm:prefix_cache_queries_total');
      totals.prefixCacheHits += sum('vllm:prefix_cache_hits_total');
    }
    totals.preemptions += sum('vllm:num_preemptions_total');
    totals.perEngineRequests.push(sum('vllm:request_success_total'));
  }
  return totals;
}

interface Run {
  summary: RunSummary;
  results: RequestResult[];
  /** The engines in fleet order (speeds, roles), as `servedBy` names them. */
  engineUrls: string[];
}
const runs: Run[] = [];
const skipped = new Map<string, string>();

/** One policy on one fresh fleet (cold caches) at one rate, or why the router refused to start. */
async function runOnce(fleet: Fleet, policy: string, specs: Parameters<typeof replay>[1], rate: number): Promise<Run | { error: string }> {
  const roles = fleet.kind === 'regular' ? Array<string>(fleet.engines).fill('both') : [...Array<string>(fleet.prefill).fill('prefill'), ...Array<string>(fleet.decode).fill('decode')];
  const engines = await Promise.all(roles.map((role, i) => spawnEngine(['--model', MODEL, '--role', role, '--engine-label', String(i), ...(speeds.length > 0 ? ['--speed', String(speeds[i])] : []), ...engineArgs])));
  try {
    const urls = engines.map((e) => e.url);
    const router =
      fleet.kind === 'regular'
        ? await spawnRouter(binary, urls, policy, routerArgs)
        : await spawnPdRouter(binary, urls.slice(0, fleet.prefill), urls.slice(fleet.prefill), policy, [...routerArgs, ...pdArgs]);
    if ('error' in router) return router;
    try {
      const r = await replay(router.url, specs, { drainMs });
      const summary = summarize(runLabel(fleet, policy), rate, r.results, r.spanMs, await scrape(engines, (i) => roles[i] !== 'decode'), urls);
      return { summary, results: r.results, engineUrls: urls };
    } finally {
      await router.stop();
    }
  } finally {
    await Promise.all(engines.map((e) => e.stop()));
  }
}

for (const rate of rates) {
  const specs = buildWorkload(workload, { seed, rate, durationSec, model: MODEL, systemPrompts });
  for (const fleet of fleets) {
    for (const policy of policies) {
      const label = runLabel(fleet, policy);
      if (skipped.has(label)) continue;
      const t = performance.now();
      const run = await runOnce(fleet, policy, specs, rate);
      if ('error' in run) {
        skipped.set(label, /error: .*/.exec(run.error)?.[0] ?? run.error);
        log(`  ${label}: skipped (${skipped.get(label)})`);
        continue;
      }
      runs.push(run);
      const { summary } = run;
      log(
        `  ${rate} req/s ${label.padEnd(22)} ${specs.length} req, hit ${(summary.hitRate * 100).toFixed(1)}%, TTFT p50/p90/p99 ${[summary.ttft.p50, summary.ttft.p90, summary.ttft.p99].map((v) => (Number.isFinite(v) ? Math.round(v) : '∞')).join('/')} ms, ITL p99 ${Math.round(summary.itl.p99)} ms, SLA ${(summary.sla * 100).toFixed(1)}%, QoE ${summary.qoe.toFixed(3)} (${((performance.now() - t) / 1000).toFixed(0)} s)`,
      );
    }
  }
}

const tenth = (v: number | null): number | null => (v === null ? null : Math.round(v * 10) / 10);
/** Per-request columns for the JSON, aligned by request: enough to recompute any figure by class or engine. */
const perRequest = (results: readonly RequestResult[]) => ({
  ttftMs: results.map((x) => tenth(x.ttftMs)),
  tpotMs: results.map((x) => tenth(x.tpotMs)),
  streamQoe: results.map((x) => Math.round(x.qoe * 1000) / 1000),
  cls: results.map((x) => x.cls),
  servedBy: results.map((x) => x.servedBy),
});

// Outputs.
mkdirSync(outDir, { recursive: true });
const base = join(outDir, `sim-${workload}${a.tag !== undefined ? `-${a.tag}` : ''}`);
const skippedList = [...skipped].map(([policy, reason]) => ({ policy, reason }));
const p = { ...DEFAULT_ENGINE_PARAMS };
const pngs: string[] = [];
const atMain = runs.filter((r) => r.summary.rate === mainRate);
// One TTFT target to mark on the CDF when the workload has one request class.
const workloadClasses = [...new Set(runs.flatMap((r) => r.results.map((x) => x.cls)))];
const ttftTarget = workloadClasses.length === 1 ? CLASSES[workloadClasses[0]!].sla.ttftMs : undefined;
const fleetTitle = fleets.map(fleetName).join(' vs ');
if (atMain.length > 0) {
  writeFileSync(`${base}-ttft-cdf.png`, ttftCdfPng(`TTFT CDF: ${workload} workload at ${mainRate} req/s, ${fleetTitle}`, atMain.map((r) => ({ policy: r.summary.policy, ttftMs: r.results.map((x) => x.ttftMs ?? Number.POSITIVE_INFINITY) })), ttftTarget));
  pngs.push(`${base}-ttft-cdf.png`);
}
if (rates.length > 1 && runs.length > 0) {
  writeFileSync(`${base}-sla-vs-rate.png`, slaVsRatePng(`SLA attainment vs request rate: ${workload} workload, ${fleetTitle}`, runs.map((r) => r.summary)));
  pngs.push(`${base}-sla-vs-rate.png`);
}
const md = [
  `# bench:sim ${workload}: ${new Date().toISOString()}`,
  '',
  `Fleet: ${fleets.map((f) => (f.kind === 'regular' ? `${f.engines} simulated vLLM engines` : `${f.prefill} prefill + ${f.decode} decode engines (\`--role prefill|decode\`, NIXL-style hand-off; router \`--vllm-pd-disaggregation\`${pdArgs.length > 0 ? ` ${pdArgs.join(' ')}` : ''}; rows "<policy> ${fleetName(f)}", the policy used for both stages; their hit rate counts the prefill engines only, their requests per engine list prefill engines first)`)).join(', and ')} (bench/sim/sim-engine-main.ts${speeds.length > 0 ? `, speeds ${speeds.join('/')}` : ''}${engineArgs.length > 0 ? `, ${engineArgs.join(' ')}` : ''}), each a small GPU: step ${p.stepBaseMs} ms + ${p.prefillMsPerToken} ms per prefill token + ${p.decodeMsPerSeq} ms per decoding sequence + ${p.attentionMsPerKTokens} ms per 1000 context tokens; KV ${p.kvBlocks} blocks × ${p.blockSize} tokens; max ${p.maxNumSeqs} seqs, ${p.maxNumBatchedTokens} batched tokens. Router: ${a['router-binary'] !== undefined ? `${a['router-binary']} (--router-binary)` : 'dist/vllm-router'} --policy <policy>${routerArgs.length > 0 ? ` ${routerArgs.join(' ')}` : ''}.`,
  `Workload: ${workload}, seed ${seed}, Poisson arrivals for ${durationSec} s; the same request sequence for every policy at a rate. Shape: ${JSON.stringify(shape)}.`,
  `SLA: TTFT ≤ target and mean inter-token time ≤ target; ${workloadClasses.map((c) => `${c}: TTFT ${CLASSES[c].sla.ttftMs} ms, TPOT ${CLASSES[c].sla.tpotMs} ms`).join('; ')}. Requests unfinished ${drainMs / 1000} s after the last send are cut off (timed out, SLA missed, TTFT ∞ when no token came).`,
  'Prefix-cache hit rate = Σ vllm:prefix_cache_hits_total / Σ vllm:prefix_cache_queries_total over the engines. TTFT, ITL (per token) and E2E are measured by the client from the SSE it receives through the router. Throughput = completed requests (output tokens) / time from the first send to the last completion, so it includes the drain after the last arrival.',
  `Stream QoE (Andes, src/stats/stream-qoe.ts, computed by the client on the token arrivals it saw): 1 − delayed area / whole area of the expected token timeline, the first token expected by the class's TTFT target and the rest at the pace of its TPOT target (${workloadClasses.map((c) => `${c} ${1000 / CLASSES[c].sla.tpotMs} tok/s`).join(', ')}); 1 = never behind the user's pace. A request that did not complete scores 0.`,
  '',
  ...rates.flatMap((rate) => {
    const here = runs.filter((r) => r.summary.rate === rate).map((r) => r.summary);
    const perClass = classTable(here);
    return [`## ${rate} req/s${rate === mainRate ? ' (TTFT CDF rate)' : ''}`, '', markdownTable(here, skippedList), '', ...(perClass === '' ? [] : ['Per priority class:', '', perClass, ''])];
  }),
  ...pngs.map((f) => `![${relative(outDir, f)}](${relative(outDir, f)})`),
  '',
  `Wall time: ${((performance.now() - started) / 1000).toFixed(0)} s.`,
  '',
].join('\n');
writeFileSync(`${base}.md`, md);
writeFileSync(`${base}.json`, JSON.stringify({ workload, systemPrompts, seed, durationSec, engines: engineCount, fleets, pdArgs, speeds, engineArgs, routerArgs, rates, mainRate, skipped: skippedList, runs: runs.map((r) => ({ ...r.summary, engineUrls: r.engineUrls, ...perRequest(r.results) })) }));
log(`\n${md}`);
log(`wrote ${relative(root, `${base}.md`)}, ${relative(root, `${base}.json`)}${pngs.map((f) => `, ${relative(root, f)}`).join('')}`);
