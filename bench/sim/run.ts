// `bun run bench:sim`: the routing-quality benchmark. For each rate, seed and policy it starts a fresh fleet
// of simulated vLLM engines (cold caches) and the compiled router (N replicas with --replicas), replays a
// seeded workload through the router, and reports prefix-cache hit rate (from the engines' /metrics), TTFT,
// ITL, E2E, throughput, SLA attainment and stream QoE (overall and per priority class), each the mean over
// the seeds with its min–max range, as Markdown plus two PNG plots under bench/results/. A progress line
// goes to stderr while it runs.
//
// With `--pd P:D[,P:D…]` each policy also runs on a disaggregated fleet of P prefill and D decode engines
// behind the router in vLLM P/D mode (NIXL hand-off), on the same requests.
//
//   bun run bench:sim [--workload chat|longdoc|mixed|agent] [--policies a,b] [--rate R] [--rates a,b,c]
//                     [--duration S] [--engines N] [--seeds 1,2,3 | --seed N] [--speeds 1,1,0.5,0.5] [--presets a100-80g,l4,…]
//                     [--token-routing] [--restart-router-at S]
//                     [--output-estimate-noise SIGMA] [--engine-args="…"] [--router-args="…"] [--drain S] [--out DIR] [--tag T]
//                     [--system-prompts N] [--shape k=v,…] [--replicas N] [--pin-sessions]
//                     [--pd P:D,…] [--pd-only] [--pd-args="…"] [--router-binary PATH]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAgentShape } from './agent-workload.ts';
import type { RequestResult } from './client.ts';
import { DEFAULT_ENGINE_PARAMS } from './engine-params.ts';
import { isPresetName, PRESET_NAMES, presetParams } from './engine-presets.ts';
import { KV_EVENTS_ENGINE_ARGS, ROUTER_TOKENIZER_ARGS, routerKvArgs, usesKvEvents } from './kv-fleet.ts';
import { ensureRouterBinary, predictedCachedTokens, restartRouters, spawnEngine, spawnPdRouter, spawnReplicas, spawnRouter, type ChildProc } from './fleet.ts';
import { modelStamp } from './model-stamp.ts';
import { slaVsRatePng, ttftCdfPng } from './plot.ts';
import { createProgress, progressLine, type ProgressState } from './progress.ts';
import { classTable, markdownTable, summarize, type EngineTotals, type RunSummary } from './report.ts';
import { aggregateSeeds, type SeedSummary } from './seed-aggregate.ts';
import { loadSimTokenizer } from './sim-tokenizer.ts';
import { stampLine } from './stale-results.ts';
import { buildWork, lastArrivalOf, replayWork, requestsOf, type Work } from './work.ts';
import { CLASSES, SHAPE, WORKLOADS, type WorkloadName } from './workloads.ts';

const DEFAULTS = {
  workload: 'chat',
  policies: 'round_robin,random,power_of_two,consistent_hash,cache_aware',
  rates: '12,16,20',
  agentRates: '0.5,1,1.5',
  duration: '15',
  engines: '4',
  seeds: '1,2,3',
  drain: '15',
  /** Agent sessions run 8–24 turns of a few seconds each after they start: their drain has to hold one. */
  agentDrain: '120',
  replicas: '1',
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
        seed: { type: 'string' },
        seeds: { type: 'string' },
        speeds: { type: 'string' },
        presets: { type: 'string' },
        'output-estimate-noise': { type: 'string' },
        'engine-args': { type: 'string', default: '' },
        'router-args': { type: 'string', default: '' },
        drain: { type: 'string' },
        shape: { type: 'string' },
        replicas: { type: 'string', default: DEFAULTS.replicas },
        'pin-sessions': { type: 'boolean' },
        out: { type: 'string', default: DEFAULTS.out },
        tag: { type: 'string' },
        'system-prompts': { type: 'string' },
        pd: { type: 'string' },
        'pd-only': { type: 'boolean' },
        'pd-args': { type: 'string', default: '' },
        'router-binary': { type: 'string' },
        'token-routing': { type: 'boolean' },
        'restart-router-at': { type: 'string' },
        help: { type: 'boolean' },
      },
    });
  } catch (err) {
    return usage((err as Error).message);
  }
})();
if (a.help) {
  const lines = (await Bun.file(new URL(import.meta.url)).text()).split('\n');
  process.stdout.write(`${lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n')}\n\nDefaults: ${JSON.stringify(DEFAULTS)}\n`);
  process.exit(0);
}

const positive = (flag: string, v: string): number => {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) usage(`--${flag} must be a positive number, got ${JSON.stringify(v)}`);
  return n;
};
const list = (flag: string, v: string): number[] => v.split(',').map((x) => positive(flag, x.trim()));
const words = (v: string): string[] => v.split(/\s+/).filter((w) => w !== '');

const workload = a.workload as WorkloadName | 'agent';
if (workload !== 'agent' && !WORKLOADS.includes(workload)) usage(`--workload must be one of ${[...WORKLOADS, 'agent'].join(', ')}, got ${JSON.stringify(a.workload)}`);
const agent = workload === 'agent';
/** The agent workload's rate is of sessions (each then runs its turns closed-loop); the others' of requests. */
const rateUnit = agent ? 'sessions/s' : 'req/s';
const policies = (a.policies as string).split(',').map((p) => p.trim()).filter((p) => p !== '');
const sweep = a.rates !== undefined ? list('rates', a.rates) : a.rate !== undefined ? [] : list('rates', agent ? DEFAULTS.agentRates : DEFAULTS.rates);
const mainRate = a.rate !== undefined ? positive('rate', a.rate) : (sweep[Math.floor(sweep.length / 2)] as number);
const rates = [...new Set([...sweep, mainRate])].sort((x, y) => x - y);
const durationSec = positive('duration', a.duration as string);
const engineCount = Math.round(positive('engines', a.engines as string));
if (a.seed !== undefined && a.seeds !== undefined) usage('give --seed N (one seed) or --seeds a,b,c, not both');
const seedList = a.seed ?? a.seeds ?? DEFAULTS.seeds;
const seeds = [...new Set(seedList.split(',').map((x) => x.trim()))].map((x) => {
  if (!/^\d+$/.test(x)) usage(`--${a.seed !== undefined ? 'seed' : 'seeds'} takes whole numbers ≥ 0, got ${JSON.stringify(seedList)}`);
  return Number(x);
});
const drainMs = positive('drain', a.drain ?? (agent ? DEFAULTS.agentDrain : DEFAULTS.drain)) * 1000;
const replicas = Math.round(positive('replicas', a.replicas as string));
const pinSessions = a['pin-sessions'] === true;
if (pinSessions && replicas === 1) usage('--pin-sessions needs --replicas N with N > 1');
const systemPrompts = a['system-prompts'] === undefined ? undefined : Math.round(positive('system-prompts', a['system-prompts']));
if (a.shape !== undefined && !agent) usage('--shape sets the agent workload\'s sizes (--workload agent)');
const agentShape = agent ? parseAgentShape(`${a.shape ?? ''}${systemPrompts === undefined ? '' : `,systemPrompts=${systemPrompts}`}`) : null;
if (agentShape !== null && 'error' in agentShape) usage(agentShape.error);
const shape = agentShape ?? { ...SHAPE, systemPrompts: systemPrompts ?? SHAPE.systemPrompts };
const speeds = a.speeds !== undefined ? list('speeds', a.speeds) : [];
const presets = a.presets !== undefined ? a.presets.split(',').map((x) => x.trim()) : [];
for (const x of presets) if (!isPresetName(x)) usage(`--presets takes ${PRESET_NAMES.join(', ')}, got ${JSON.stringify(x)}`);
const outputEstimateNoise = a['output-estimate-noise'] !== undefined ? positive('output-estimate-noise', a['output-estimate-noise']) : undefined;
const engineArgs = words(a['engine-args'] as string);
const routerArgs = words(a['router-args'] as string);
const restartAtMs = a['restart-router-at'] !== undefined ? positive('restart-router-at', a['restart-router-at']) * 1000 : undefined;
/** Router flags a policy's runs add: the engines' tokenizer (kv_aware always: it matches token blocks; every
 * policy with --token-routing), and where each engine publishes its KV events. */
const policyRouterArgs = async (policy: string, engines: readonly ChildProc[]): Promise<string[]> => [
  ...(a['token-routing'] === true || usesKvEvents(policy, ...pdArgs) ? ROUTER_TOKENIZER_ARGS : []),
  ...(usesKvEvents(policy, ...pdArgs) ? await routerKvArgs(engines) : []),
];
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
for (const f of fleets) if (presets.length > 0 && presets.length !== fleetSize(f)) usage(`--presets has ${presets.length} values for a fleet of ${fleetSize(f)} engines`);
const fleetName = (f: Fleet): string => (f.kind === 'regular' ? `${f.engines} engines` : `${f.prefill}P+${f.decode}D`);
/** The row label: the policy, plus the P/D shape for a disaggregated fleet. */
const runLabel = (f: Fleet, policy: string): string => (f.kind === 'regular' ? policy : `${policy} ${fleetName(f)}${pdArgs.length > 0 ? ` (${pdArgs.join(' ')})` : ''}`);
const root = new URL('../..', import.meta.url).pathname;
const outDir = resolve(root, a.out as string);
const tty = process.stderr.isTTY === true;
const progress = createProgress(process.stderr, { tty, everyMs: tty ? 0 : 5000, now: () => performance.now(), columns: () => process.stderr.columns ?? 0 });
const log = (line: string): void => {
  progress.clear();
  process.stdout.write(`${line}\n`);
};

// A binary of one's own keeps a long run on the code it started with while src/ changes under it.
const binary = a['router-binary'] !== undefined ? resolve(a['router-binary']) : ensureRouterBinary(root, log);
const started = performance.now();
const stamp = modelStamp().stamp;

// The agent workload's contexts must fit the engines (their --max-model-len, or whatever sets it): a turn
// that does not fit gets a 400 and ends its session, which would read as a routing result.
if (agentShape !== null) {
  await using probe = await spawnEngine(['--model', MODEL, ...engineArgs]);
  const models = (await (await fetch(`${probe.url}/v1/models`)).json()) as { data: { max_model_len: number }[] };
  const maxModelLen = models.data[0]?.max_model_len ?? 0;
  if (maxModelLen < agentShape.maxContextTokens) {
    await probe.stop();
    usage(`--workload agent grows contexts to ${agentShape.maxContextTokens} tokens but the engines hold ${maxModelLen} (max_model_len): pass --engine-args="--max-model-len 32768 --kv-blocks N" (or a preset that holds 32k), or lower --shape maxContextTokens=N`);
  }
}
log(
  `bench:sim ${workload}: ${fleets.map(fleetName).join(' and ')}${replicas > 1 ? `, ${replicas} router replicas${pinSessions ? ' (sessions pinned)' : ''}` : ''}, policies ${policies.join(', ')}, rates ${rates.join(', ')} ${rateUnit}, ${durationSec} s each, seeds ${seeds.join(', ')} (engine model ${stamp})`,
);

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
  seed: number;
  summary: RunSummary;
  results: RequestResult[];
  /** The engines in fleet order (speeds, roles), as `servedBy` names them. */
  engineUrls: string[];
}
const runs: Run[] = [];
const skipped = new Map<string, string>();

/** Runs still to come shrink when a policy is skipped (its router refused to start). */
let plannedRuns = rates.length * seeds.length * fleets.length * policies.length;
const finishedRunsMs: number[] = [];
let live: ProgressState | null = null;
const ticker = setInterval(() => live !== null && progress.show(progressLine(live, performance.now())), 1000);

/** One policy on one fresh fleet (cold caches) at one rate and seed, or why the router refused to start. */
async function runOnce(fleet: Fleet, policy: string, work: Work, rate: number, seed: number, shown: ProgressState): Promise<Run | { error: string }> {
  const roles = fleet.kind === 'regular' ? Array<string>(fleet.engines).fill('both') : [...Array<string>(fleet.prefill).fill('prefill'), ...Array<string>(fleet.decode).fill('decode')];
  const kvArgs = usesKvEvents(policy, ...pdArgs) ? KV_EVENTS_ENGINE_ARGS : [];
  const engines = await Promise.all(roles.map((role, i) => spawnEngine(['--model', MODEL, '--role', role, '--engine-label', String(i), ...(presets.length > 0 ? ['--preset', presets[i] as string] : []), ...(speeds.length > 0 ? ['--speed', String(speeds[i])] : []), ...kvArgs, ...engineArgs])));
  try {
    const urls = engines.map((e) => e.url);
    const extra = [...routerArgs, ...(await policyRouterArgs(policy, engines))];
    const spawnOne = () =>
      fleet.kind === 'regular'
        ? spawnRouter(binary, urls, policy, extra)
        : spawnPdRouter(binary, urls.slice(0, fleet.prefill), urls.slice(fleet.prefill), policy, [...extra, ...pdArgs]);
    const started = await spawnReplicas(replicas, spawnOne);
    if ('error' in started) return started;
    const routers: ChildProc[] = [...started];
    // Read at send time by the replay: a restarted replica's successor takes its place here.
    const targets = routers.map((x) => x.url);
    const predicted = { before: 0 };
    const restart = restartAtMs === undefined ? undefined : setTimeout(() => void restartRouters(routers, targets, spawnOne, predicted, log), restartAtMs);
    try {
      shown.replayStartedAt = performance.now();
      const r = await replayWork(targets, work, { drainMs, pinSessions, onProgress: (done) => void (shown.done = done) }, MODEL);
      clearTimeout(restart);
      const totals = await scrape(engines, (i) => roles[i] !== 'decode');
      if (usesKvEvents(policy, ...pdArgs)) totals.predictedCachedTokens = predicted.before + (await predictedCachedTokens(routers));
      const summary = summarize(runLabel(fleet, policy), rate, r.results, r.spanMs, totals, urls, replicas);
      return { seed, summary, results: r.results, engineUrls: urls };
    } finally {
      clearTimeout(restart);
      await Promise.all(routers.map((x) => x.stop()));
    }
  } finally {
    await Promise.all(engines.map((e) => e.stop()));
  }
}

const tokenizer = loadSimTokenizer();
for (const rate of rates) {
  for (const seed of seeds) {
    const work = buildWork(workload as WorkloadName, agentShape, { seed, rate, durationSec, model: MODEL, systemPrompts, tokenizer, outputEstimateNoise });
    const total = requestsOf(work);
    for (const fleet of fleets) {
      for (const policy of policies) {
        const label = runLabel(fleet, policy);
        if (skipped.has(label)) continue;
        const t = performance.now();
        const lastArrival = lastArrivalOf(work);
        live = { run: finishedRunsMs.length + 1, runs: plannedRuns, label, rate, rateUnit, seed, done: 0, total, replayStartedAt: null, arrivalsEndMs: lastArrival, deadlineMs: lastArrival + drainMs, finishedRunsMs, runStartedAt: t };
        progress.show(progressLine(live, t));
        const run = await runOnce(fleet, policy, work, rate, seed, live);
        finishedRunsMs.push(performance.now() - t);
        if ('error' in run) {
          skipped.set(label, /error: .*/.exec(run.error)?.[0] ?? run.error);
          plannedRuns -= rates.length * seeds.length - 1;
          log(`  ${label}: skipped (${skipped.get(label)})`);
          continue;
        }
        runs.push(run);
        const { summary } = run;
        log(
          `  ${rate} ${rateUnit} seed ${seed} ${label.padEnd(22)} ${summary.requests} req${summary.notSent > 0 ? ` (+${summary.notSent} not sent)` : ''}, hit ${(summary.hitRate * 100).toFixed(1)}%, TTFT p50/p90/p99 ${[summary.ttft.p50, summary.ttft.p90, summary.ttft.p99].map((v) => (Number.isFinite(v) ? Math.round(v) : '∞')).join('/')} ms, ITL p99 ${Math.round(summary.itl.p99)} ms, SLA ${(summary.sla * 100).toFixed(1)}%, QoE ${summary.qoe.toFixed(3)}${replicas > 1 ? `, per replica ${summary.perReplicaRequests.join('/')}` : ''} (${((performance.now() - t) / 1000).toFixed(0)} s)`,
        );
      }
    }
  }
}
clearInterval(ticker);
live = null;
progress.clear();

const tenth = (v: number | null): number | null => (v === null ? null : Math.round(v * 10) / 10);
/** Per-request columns for the JSON, aligned by request: enough to recompute any figure by class or engine. */
const perRequest = (results: readonly RequestResult[]) => ({
  ttftMs: results.map((x) => tenth(x.ttftMs)),
  tpotMs: results.map((x) => tenth(x.tpotMs)),
  streamQoe: results.map((x) => Math.round(x.qoe * 1000) / 1000),
  cls: results.map((x) => x.cls),
  outcome: results.map((x) => x.outcome),
  servedBy: results.map((x) => x.servedBy),
  replica: results.map((x) => x.replica),
});

/** The table rows: each label at each rate over its seeds, labels in the order they ran. */
const labels = [...new Set(runs.map((r) => r.summary.policy))];
const rows: SeedSummary[] = rates.flatMap((rate) =>
  labels.flatMap((label) => {
    const mine = runs.filter((r) => r.summary.rate === rate && r.summary.policy === label);
    return mine.length === 0 ? [] : [aggregateSeeds(mine.map((r) => r.summary), mine.map((r) => r.seed))];
  }),
);

// Outputs.
mkdirSync(outDir, { recursive: true });
const base = join(outDir, `sim-${workload}${a.tag !== undefined ? `-${a.tag}` : ''}`);
const skippedList = [...skipped].map(([policy, reason]) => ({ policy, reason }));
const p = { ...DEFAULT_ENGINE_PARAMS };
const round = (v: number): number => Number(v.toPrecision(3));
const engineLine = (e: typeof p): string =>
  `step ${round(e.stepBaseMs)} ms + ${round(e.prefillMsPerToken)} ms per prefill token + ${round(e.prefillAttentionMsPerKTokens)} ms per prefill token per 1000 tokens it attends over + ${round(e.decodeMsPerSeq)} ms per decoding sequence + ${round(e.attentionMsPerKTokens)} ms per 1000 context tokens; KV ${e.kvBlocks} blocks × ${e.blockSize} tokens; max ${e.maxNumSeqs} seqs, ${e.maxNumBatchedTokens} batched tokens, max_model_len ${e.maxModelLen}`;
const pngs: string[] = [];
const atMain = runs.filter((r) => r.summary.rate === mainRate);
// One TTFT target to mark on the CDF when the workload has one request class.
const workloadClasses = [...new Set(runs.flatMap((r) => r.results.map((x) => x.cls)))];
const ttftTarget = workloadClasses.length === 1 ? CLASSES[workloadClasses[0]!].sla.ttftMs : undefined;
const fleetTitle = fleets.map(fleetName).join(' vs ');
const seedsTitle = seeds.length > 1 ? `, seeds ${seeds.join(', ')}` : '';
if (atMain.length > 0) {
  // Each policy's curve pools the requests of every seed.
  const ttftByLabel = labels.map((policy) => ({ policy, ttftMs: atMain.filter((r) => r.summary.policy === policy).flatMap((r) => r.results.filter((x) => x.outcome !== 'not_sent').map((x) => x.ttftMs ?? Number.POSITIVE_INFINITY)) }));
  writeFileSync(`${base}-ttft-cdf.png`, ttftCdfPng(`TTFT CDF: ${workload} workload at ${mainRate} ${rateUnit}, ${fleetTitle}${seedsTitle}`, ttftByLabel.filter((x) => x.ttftMs.length > 0), ttftTarget));
  pngs.push(`${base}-ttft-cdf.png`);
}
if (rates.length > 1 && runs.length > 0) {
  const xLabel = agent ? 'session rate (sessions/s, Poisson)' : undefined;
  writeFileSync(`${base}-sla-vs-rate.png`, slaVsRatePng(`SLA attainment vs ${agent ? 'session' : 'request'} rate: ${workload} workload, ${fleetTitle}${seedsTitle}`, rows.map((r) => ({ policy: r.policy, rate: r.rate, sla: r.sla.mean })), xLabel));
  pngs.push(`${base}-sla-vs-rate.png`);
}
const seedNote =
  seeds.length > 1
    ? `Seeds ${seeds.join(', ')}: every policy runs each seed's workload on a fresh fleet; each figure is the mean over the seeds of the per-seed figure, with the min–max range over the seeds in parentheses when they differ at the shown precision (counts: requests, per engine, per replica, are means).`
    : `Seed ${seeds[0]}: one run per policy and rate (no spread; \`--seeds 1,2,3\` gives the mean and range over seeds).`;
const workloadNote = agent
  ? `Workload: agent, sessions arriving Poisson at the rate (sessions/s) for ${durationSec} s, each then closed-loop: a turn is sent once the previous reply has arrived and a think (tool) time has passed, its history holding the reply text the engine streamed; the same session scripts for every policy at a rate and seed. Turns due more than ${drainMs / 1000} s after the last session start, or after a turn of their session that did not complete, are not sent (the "not sent" count) and are left out of every other figure. Needs engines with \`--max-model-len\` ≥ 32768 and KV for long contexts (\`--engine-args\`). Shape: ${JSON.stringify(shape)}.`
  : `Workload: ${workload}, Poisson arrivals for ${durationSec} s; the same request sequence for every policy at a rate and seed. Shape: ${JSON.stringify(shape)}.`;
const routerNote = replicas > 1 ? ` ${replicas} router replicas (each its own process and policy state) in front of the same engines; the client sends ${pinSessions ? 'every request of a session to one replica (sessions spread in turn, requests without a session in turn)' : 'requests to the replicas in turn, as an L4 balancer spreads the pooled connections of an API gateway'}.` : '';
const restartNote = restartAtMs === undefined ? '' : ` ${replicas > 1 ? 'Each router replica is' : 'The router is'} restarted ${restartAtMs / 1000} s into the replay (--restart-router-at): a fresh process with no state of its own starts, the client sends it every later request, the old one stops once its requests are done.`;
const md = [
  `# bench:sim ${workload}: ${new Date().toISOString()}`,
  '',
  stampLine(stamp),
  '',
  `Fleet: ${fleets.map((f) => (f.kind === 'regular' ? `${f.engines} simulated vLLM engines` : `${f.prefill} prefill + ${f.decode} decode engines (\`--role prefill|decode\`, NIXL-style hand-off; router \`--vllm-pd-disaggregation\`${pdArgs.length > 0 ? ` ${pdArgs.join(' ')}` : ''}; rows "<policy> ${fleetName(f)}", the policy used for both stages; their hit rate counts the prefill engines only, their requests per engine list prefill engines first)`)).join(', and ')} (bench/sim/sim-engine-main.ts${presets.length > 0 ? `, presets ${presets.join('/')}` : ''}${speeds.length > 0 ? `, speeds ${speeds.join('/')}` : ''}${engineArgs.length > 0 ? `, ${engineArgs.join(' ')}` : ''}), ${presets.length > 0 ? [...new Set(presets)].map((x) => `${x}: ${engineLine(presetParams(x as (typeof PRESET_NAMES)[number]))}`).join('; ') : `each a small GPU: ${engineLine(p)}`}. Prompts are tokenized with the Llama 3.1 tokenizer and chat template (bench/sim/sim-tokenizer.ts)${outputEstimateNoise !== undefined ? `; the client sends x-expected-output-tokens with a log-normal error σ ${outputEstimateNoise}` : '; the client sends no output-length estimate'}. Router: ${a['router-binary'] !== undefined ? `${a['router-binary']} (--router-binary)` : 'dist/vllm-router'} --policy <policy>${routerArgs.length > 0 ? ` ${routerArgs.join(' ')}` : ''}${a['token-routing'] === true ? ' --tokenizer-path <Llama 3.1> (--token-routing)' : ''}; kv_aware runs add the engines\' tokenizer and \`--kv-events-endpoint\`/\`--kv-events-replay-endpoint\` per engine, whose engines publish KV events (\`--kv-events-config\`).${routerNote}${restartNote}`,
  workloadNote,
  seedNote,
  `SLA: TTFT ≤ target and mean inter-token time ≤ target; ${workloadClasses.map((c) => `${c}: TTFT ${CLASSES[c].sla.ttftMs} ms, TPOT ${CLASSES[c].sla.tpotMs} ms`).join('; ')}. Requests unfinished ${drainMs / 1000} s after the last ${agent ? 'session start' : 'send'} are cut off (timed out, SLA missed, TTFT ∞ when no token came).`,
  'Prefix-cache hit rate = Σ vllm:prefix_cache_hits_total / Σ vllm:prefix_cache_queries_total over the engines. TTFT, ITL (per token) and E2E are measured by the client from the SSE it receives through the router. Throughput = completed requests (output tokens) / time from the first send to the last completion, so it includes the drain after the last arrival.',
  `Stream QoE (Andes, src/stats/stream-qoe.ts, computed by the client on the token arrivals it saw): 1 − delayed area / whole area of the expected token timeline, the first token expected by the class's TTFT target and the rest at the pace of its TPOT target (${workloadClasses.map((c) => `${c} ${1000 / CLASSES[c].sla.tpotMs} tok/s`).join(', ')}); 1 = never behind the user's pace. A request that did not complete scores 0.`,
  '',
  ...rates.flatMap((rate) => {
    const here = rows.filter((r) => r.rate === rate);
    const perClass = classTable(here);
    return [`## ${rate} ${rateUnit}${rate === mainRate ? ' (TTFT CDF rate)' : ''}`, '', markdownTable(here, skippedList), '', ...(perClass === '' ? [] : ['Per priority class:', '', perClass, ''])];
  }),
  ...pngs.map((f) => `![${relative(outDir, f)}](${relative(outDir, f)})`),
  '',
  `Wall time: ${((performance.now() - started) / 1000).toFixed(0)} s.`,
  '',
].join('\n');
writeFileSync(`${base}.md`, md);
writeFileSync(
  `${base}.json`,
  JSON.stringify({
    workload,
    modelStamp: stamp,
    seeds,
    spread: 'min-max over seeds',
    shape,
    durationSec,
    drainSec: drainMs / 1000,
    engines: engineCount,
    fleets,
    replicas,
    pinSessions,
    pdArgs,
    speeds,
    presets,
    outputEstimateNoise,
    engineArgs,
    routerArgs,
    rates,
    rateUnit,
    mainRate,
    skipped: skippedList,
    rows,
    runs: runs.map((r) => ({ seed: r.seed, ...r.summary, engineUrls: r.engineUrls, ...perRequest(r.results) })),
  }),
);
log(`\n${md}`);
log(`wrote ${relative(root, `${base}.md`)}, ${relative(root, `${base}.json`)}${pngs.map((f) => `, ${relative(root, f)}`).join('')}`);
