// The gRPC engine mode's cost, in one run: the same streaming load through the compiled router to gRPC engine
// stand-ins (the router detokenizes and writes vLLM's SSE itself) and to HTTP mock engines (the byte relay);
// the router's CPU per request and per streamed token, and its TTFT; then template + tokenization time for
// 1k, 8k and 32k-token conversations in the pool, and the router's event loop while 32k-token prompts arrive.
//
//   bun run bench:grpc [--seconds 4] [--rounds 3] [--connections 16] [--tokens 128] [--long-prompts 16] [--loop-streams 8]
//
// The machine is shared: targets take turns round after round and each figure is the median over rounds.
import { parseArgs } from 'node:util';
import { TokenizerPool } from '../src/pool/pool.ts';
import { resolveTokenizerFiles } from '../src/pool/tokenizer-files.ts';
import { cpuSeconds } from '../testkit/cpu-time.ts';
import { loadStandInVocabulary, standInTokenizerDir, startGrpcEngine } from '../testkit/grpc-engine.ts';
import { buildRouterBinary } from '../testkit/router-binary.ts';
import { startRouterProcess, type RouterProcess } from '../testkit/router-process.ts';
import { spawnMockEngine } from '../testkit/spawn-mock-engine.ts';
import { availableParallelism } from 'node:os';
import { readGcLog, type GcLog, type GcPauses } from './grpc-gc-log.ts';
import { median, quantile } from './quantile.ts';

const { values: args } = parseArgs({
  options: { seconds: { type: 'string', default: '4' }, rounds: { type: 'string', default: '3' }, connections: { type: 'string', default: '16' }, tokens: { type: 'string', default: '128' }, streams: { type: 'string', default: '100' }, 'long-prompts': { type: 'string', default: '16' }, 'loop-streams': { type: 'string', default: '8' } },
});
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const CONNECTIONS = Number(args.connections);
const TOKENS = Number(args.tokens);
const STREAMS = Number(args.streams);
const LONG_PROMPTS = Number(args['long-prompts']);
const LOOP_STREAMS = Number(args['loop-streams']);
const LLAMA_DIR = standInTokenizerDir('llama3_1');
const OUTPUT = 'The quick brown fox jumps over the lazy dog and keeps running through the quiet forest';

const body = (stream: boolean) => JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'Stream to the benchmark' }], max_tokens: TOKENS, stream, stream_options: stream ? { include_usage: true } : undefined });

/** Streams one chat request to the end; its completion tokens (from the usage chunk). */
async function oneStream(url: string): Promise<number> {
  const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(true) });
  const text = await res.text();
  const usage = /"completion_tokens":(\d+)/.exec(text.slice(text.lastIndexOf('"usage"')));
  if (res.status !== 200 || usage === null) throw new Error(`stream failed: ${res.status} ${text.slice(0, 200)}`);
  return Number(usage[1]);
}

/** `CONNECTIONS` clients streaming back to back for `SECONDS`: requests, tokens, router CPU seconds. */
async function load(router: RouterProcess): Promise<{ requests: number; tokens: number; cpu: number }> {
  const until = performance.now() + SECONDS * 1000;
  const cpu0 = cpuSeconds(router.pid);
  let requests = 0;
  let tokens = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < until) {
        // Not `tokens += await …`: that reads `tokens` before the await, and concurrent clients' counts are lost.
        const got = await oneStream(router.url);
        tokens += got;
        requests++;
      }
    }),
  );
  return { requests, tokens, cpu: cpuSeconds(router.pid) - cpu0 };
}

/** Sequential streams: milliseconds to the first content chunk. */
async function ttft(url: string): Promise<{ p50: number; p99: number }> {
  const samples: number[] = [];
  for (let i = 0; i < STREAMS; i++) {
    const started = performance.now();
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(true) });
    const reader = res.body!.getReader();
    let seen = '';
    // The first chunk with text (a chat stream opens with an empty role chunk).
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
      if (/"content":"[^"]/.test(seen)) break;
    }
    samples.push(performance.now() - started);
    await reader.cancel();
  }
  samples.sort((a, b) => a - b);
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99) };
}

/** A conversation of about `tokens` tokens (turns of ~100 tokens each). */
function conversation(tokens: number): { role: string; content: string }[] {
  const turn = 'The history of the Rhine valley begins long before the Romans, with settlements along the river banks and trade across the Alps. ';
  const messages: { role: string; content: string }[] = [{ role: 'system', content: 'You are a careful historian.' }];
  for (let t = 0; t < tokens / 100; t++) messages.push({ role: t % 2 === 0 ? 'user' : 'assistant', content: turn.repeat(4) });
  return messages;
}

async function tokenizationTimes(): Promise<string[]> {
  const files = resolveTokenizerFiles({ modelPath: LLAMA_DIR });
  if (!files.ok || files.value === undefined) throw new Error('no tokenizer');
  await using pool = await TokenizerPool.start({ files: files.value, blockSize: 16, threads: 1 });
  const lines: string[] = [];
  for (const size of [1_000, 8_000, 32_000]) {
    const job = { kind: 'chat' as const, messages: conversation(size) };
    const walls: number[] = [];
    const encodes: number[] = [];
    let count = 0;
    for (let i = 0; i < 7; i++) {
      const started = performance.now();
      const result = await pool.tokenize(job, { returnIds: true });
      walls.push(performance.now() - started);
      if (!result.ok) throw new Error(result.error);
      encodes.push(result.value.encodeMs);
      count = result.value.tokenCount;
    }
    lines.push(`| ${size.toLocaleString('en')} | ${count.toLocaleString('en')} | ${median(encodes).toFixed(1)} | ${median(walls).toFixed(1)} |`);
  }
  return lines;
}

interface LoopFigures {
  readonly probes: number;
  readonly answer: Quantiles;
  readonly busy: Quantiles;
  readonly waited: Quantiles;
}
interface Quantiles {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly over5: number;
}

/**
 * The router's event loop while ~32k-token chat requests go through it (two at a time, `LONG_PROMPTS` in all) and
 * `LOOP_STREAMS` clients stream short chats alongside: /liveness asked back to back by a probe in its own process
 * (the stand-in engine shares this one and would delay the answers it measures), each answer's wait split by the
 * router thread's schedstat into the time it ran (its own blocking) and the time it waited for a core.
 */
async function eventLoopUnderLongPrompts(router: RouterProcess, gc: GcLog, withLong: boolean, controlMs = 0): Promise<LoopFigures & { ms: number; gc: GcPauses }> {
  const gcFrom = gc.mark();
  const long = JSON.stringify({ model: 'm', messages: conversation(32_000), max_tokens: 8 });
  const probe = Bun.spawn(['bun', new URL('./liveness-probe.ts', import.meta.url).pathname, router.url, String(router.pid)], { stdout: 'pipe', stderr: 'inherit' });
  const reader = probe.stdout.getReader();
  let out = '';
  while (!out.includes('PROBING\n')) {
    const { value, done } = await reader.read();
    if (done) throw new Error('the liveness probe did not start');
    out += new TextDecoder().decode(value);
  }
  let longDone = false;
  const streams = Promise.all(
    Array.from({ length: LOOP_STREAMS }, async () => {
      while (!longDone) await oneStream(router.url);
    }),
  );
  const sendLong = async () => {
    const res = await fetch(`${router.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: long });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`32k-token request failed: ${res.status} ${text.slice(0, 200)}`);
  };
  const started = performance.now();
  if (withLong) for (let i = 0; i < LONG_PROMPTS / 2; i++) await Promise.all([sendLong(), sendLong()]);
  else await Bun.sleep(controlMs);
  const ms = performance.now() - started;
  longDone = true;
  await streams;
  probe.kill('SIGTERM');
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  return { ...(JSON.parse(out.slice(out.indexOf('\n') + 1).trim()) as LoopFigures), ms, gc: gc.since(gcFrom) };
}

const build = buildRouterBinary();
const vocab = loadStandInVocabulary('llama3_1');
// Both engines send each token as its own write (1 ms apart): with no gap the mock would batch a whole stream into
// one chunk and the relay's per-token cost would be a per-request one.
await using grpcEngine = await startGrpcEngine({ vocab, model: 'm', output: OUTPUT, eosAtEnd: false, itlMs: 1 });
await using httpEngine = await spawnMockEngine(['--model', 'm', '--tokens', OUTPUT, '--itl-ms', '1', '--max-model-len', '131072']);
const common = ['--model-path', LLAMA_DIR, '--tokenizer-pool-size', '1'];
// Every router logs its collections (BUN_JSC_logGC=1, read by grpc-gc-log.ts). The third runs with JSC's default
// marker threads (one per core, up to 8) instead of the router's one (src/startup/gc-markers.ts): what that choice changes.
const logGc = { BUN_JSC_logGC: '1' };
await using viaGrpc = await startRouterProcess(build.path, ['--worker-urls', grpcEngine.url, ...common], logGc);
await using viaHttp = await startRouterProcess(build.path, ['--worker-urls', httpEngine.url, ...common], logGc);
const defaultMarkers = String(Math.min(8, availableParallelism()));
await using viaGrpcDefaultGc = await startRouterProcess(build.path, ['--worker-urls', grpcEngine.url, ...common], { ...logGc, BUN_JSC_numberOfGCMarkers: defaultMarkers });
const gcLogs = new Map<RouterProcess, GcLog>([viaGrpc, viaHttp, viaGrpcDefaultGc].map((r) => [r, readGcLog(r.child.proc)]));
const targets = [
  { name: 'HTTP relay → HTTP mock engine', router: viaHttp },
  { name: 'gRPC front → gRPC stand-in', router: viaGrpc },
  { name: `gRPC front, JSC's default ${defaultMarkers} GC markers`, router: viaGrpcDefaultGc },
] as const;
for (const t of targets) await oneStream(t.router.url); // warm up
const samples = new Map<string, { reqUs: number[]; tokUs: number[]; rps: number[] }>(targets.map((t) => [t.name, { reqUs: [], tokUs: [], rps: [] }]));
for (let round = 0; round < ROUNDS; round++) {
  for (const t of targets) {
    const r = await load(t.router);
    const s = samples.get(t.name)!;
    s.reqUs.push((r.cpu * 1e6) / r.requests);
    s.tokUs.push((r.cpu * 1e6) / r.tokens);
    s.rps.push(r.requests / SECONDS);
  }
}
const ttfts = new Map<string, { p50: number; p99: number }>();
for (const t of targets) ttfts.set(t.name, await ttft(t.router.url));
const rows = targets.map((t) => {
  const s = samples.get(t.name)!;
  const tt = ttfts.get(t.name)!;
  return { name: t.name, req: median(s.reqUs), tok: median(s.tokUs), rps: median(s.rps), ttft50: tt.p50, ttft99: tt.p99 };
});
const [http, grpc, grpcDefaultGc] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0]];
// Each path with the 32k-token prompts, then for as long with the streams alone: what the long prompts add.
const loops: { name: string; loop: LoopFigures & { gc: GcPauses } }[] = [];
for (const [name, router] of [
  ['gRPC front → gRPC stand-in', viaGrpc],
  ['HTTP relay → HTTP mock engine', viaHttp],
  [`gRPC front, JSC's default ${defaultMarkers} GC markers`, viaGrpcDefaultGc],
] as const) {
  const gc = gcLogs.get(router)!;
  const long = await eventLoopUnderLongPrompts(router, gc, true);
  loops.push({ name: `${name}, 32k-token prompts + streams`, loop: long });
  loops.push({ name: `${name}, streams only`, loop: await eventLoopUnderLongPrompts(router, gc, false, long.ms) });
}
const tokenization = await tokenizationTimes();
console.log(
  [
    `gRPC engine mode vs the HTTP relay (${CONNECTIONS} streaming clients, ${TOKENS} tokens per stream, one token per engine message 1 ms apart, ${SECONDS} s per case, ${ROUNDS} rounds, medians; ${STREAMS} sequential streams for TTFT)`,
    '',
    '| path | router CPU µs / request | router CPU µs / token | streams/s | TTFT p50 ms | TTFT p99 ms |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.name} | ${r.req.toFixed(0)} | ${r.tok.toFixed(2)} | ${r.rps.toFixed(0)} | ${r.ttft50.toFixed(2)} | ${r.ttft99.toFixed(2)} |`),
    '',
    `gRPC / HTTP router CPU per token: ${(grpc.tok / http.tok).toFixed(2)}× (target ≤ 3×; with JSC's default GC markers ${(grpcDefaultGc.tok / http.tok).toFixed(2)}×); added TTFT p50: ${(grpc.ttft50 - http.ttft50).toFixed(2)} ms`,
    '',
    'Chat template + tokenization in the pool (Llama 3.1, one thread, 7 runs, medians):',
    '',
    '| conversation | tokens | pool render + encode + hash ms | round trip ms |',
    '|---|---|---|---|',
    ...tokenization,
    '',
    `Router event loop while ${LONG_PROMPTS} chat requests of ~32k tokens went through it (two at a time; cache_aware in token mode, the pool tokenizing) with ${LOOP_STREAMS} clients streaming alongside; /liveness asked back to back from another process. "Router thread ran" is the router's main thread's time on a CPU while one probe waited (its own blocking: JS, GC, I/O); "waited for a core" is its time runnable with no core free (target: the event loop never blocked over 5 ms):`,
    '',
    '| path | probes | /liveness p50 / p99 / max ms | answers > 5 ms | router thread ran p99 / max ms | ran > 5 ms | waited for a core p99 / max ms | main-heap GCs (eden + full) | GC pause p50 / max ms | pauses > 3 / > 5 ms |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...loops.map(
      ({ name, loop: l }) =>
        `| ${name} | ${l.probes} | ${l.answer.p50.toFixed(2)} / ${l.answer.p99.toFixed(2)} / ${l.answer.max.toFixed(1)} | ${l.answer.over5} | ${l.busy.p99.toFixed(2)} / ${l.busy.max.toFixed(1)} | ${l.busy.over5} | ${l.waited.p99.toFixed(2)} / ${l.waited.max.toFixed(1)} | ${l.gc.eden} + ${l.gc.full} | ${l.gc.p50.toFixed(1)} / ${l.gc.max.toFixed(1)} | ${l.gc.over3} / ${l.gc.over5} |`,
    ),
    '',
    `GC: BUN_JSC_logGC=1 on every router; the main heap's collections in each window (the pool threads' heaps: ${loops.map((l) => `${l.loop.gc.otherHeaps.collections} max ${l.loop.gc.otherHeaps.max.toFixed(1)} ms`).join('; ')}; their pauses do not hold the event loop).`,
  ].join('\n'),
);
build[Symbol.dispose]();
