// The router's cost in vLLM prefill/decode mode: the same two-stage requests sent through the compiled
// router (`--vllm-pd-disaggregation --prefill P --decode D`, NIXL) and by a client that makes both legs
// itself, straight to the same two mock engines (what vLLM's toy proxy does), measured in one run.
//
//   bun run bench:pd [--scenarios "0/0@1,8 20/5@32"] [--seconds 4] [--rounds 4] [--max-tokens 16]
//                    [--prompt-words 64] [--handoff-check strict|record] [--out FILE]
//
// A scenario `T/I@c1,c2` sets both engines' delays (T ms to the first token, I ms between tokens) and runs
// closed-loop clients at each concurrency. The default: no delays at 1 and 8 clients (the router's own cost,
// then the 2-core machine saturated), and 20/5 ms at 32 clients (many requests in flight, CPU not saturated).
// Per request: non-streaming = send → whole body; streaming = send → first content token (TTFT) and → [DONE].
// "Added" = router percentile − direct percentile in the same case. Direct and router runs alternate
// (A B B A …) in `--rounds` blocks so that drift on the shared machine hits both alike.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cpuSeconds } from '../testkit/cpu-time.ts';
import { freePort } from '../testkit/free-port.ts';
import { buildRouterBinary } from '../testkit/router-binary.ts';
import { setMock } from '../testkit/set-mock.ts';
import { spawnChild, type Child } from '../testkit/spawn-child.ts';
import { spawnMockEngine } from '../testkit/spawn-mock-engine.ts';
import { quantile } from './quantile.ts';

const { values: args } = parseArgs({
  options: {
    scenarios: { type: 'string', default: '0/0@1,8 20/5@32' },
    seconds: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '4' },
    'max-tokens': { type: 'string', default: '16' },
    'prompt-words': { type: 'string', default: '64' },
    'handoff-check': { type: 'string', default: 'strict' },
    out: { type: 'string' },
  },
});
interface Scenario {
  ttftMs: number;
  itlMs: number;
  levels: number[];
}
const SCENARIOS: Scenario[] = args.scenarios.trim().split(/\s+/).map((s) => {
  const m = /^(\d+)\/(\d+)@([\d,]+)$/.exec(s);
  if (!m) throw new Error(`--scenarios: expected TTFT_MS/ITL_MS@C1,C2,…, got ${JSON.stringify(s)}`);
  return { ttftMs: Number(m[1]), itlMs: Number(m[2]), levels: (m[3] as string).split(',').map(Number) };
});
const SECONDS = Number(args.seconds); // per target and case, split over the rounds
const ROUNDS = Math.max(1, Number(args.rounds));
const MAX_TOKENS = Number(args['max-tokens']);
const root = new URL('..', import.meta.url).pathname;
const MODEL = 'm';
const WORDS = 'the model reads a long document about routing requests across a fleet of inference engines and answers'.split(' ');
const PROMPT = Array.from({ length: Number(args['prompt-words']) }, (_, i) => WORDS[i % WORDS.length]).join(' ');

type Mode = 'non-stream' | 'stream';
interface Sample {
  /** Send → first content token (streaming only; non-streaming: the whole body). */
  first: number;
  /** Send → last byte. */
  total: number;
}
type Send = (stream: boolean) => Promise<Sample>;

const enc = new TextEncoder();
const HEX = '0123456789abcdef';
const hex32 = (): string => Array.from({ length: 32 }, () => HEX[Math.floor(Math.random() * 16)]).join('');

function chatBody(stream: boolean): Record<string, unknown> {
  return { model: MODEL, messages: [{ role: 'user', content: PROMPT }], max_tokens: MAX_TOKENS, stream, ...(stream ? { stream_options: { include_usage: true } } : {}) };
}

/** Reads a response to its end; for SSE, notes when the first content delta arrived. */
async function readAll(res: Response, t0: number, stream: boolean): Promise<Sample> {
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
  if (!stream) {
    const text = await res.text();
    if (!text.includes('"finish_reason":"length"')) throw new Error(`unexpected body: ${text.slice(0, 300)}`);
    const t = performance.now() - t0;
    return { first: t, total: t };
  }
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let first = 0;
  let tail = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const text = decoder.decode(value, { stream: true });
    if (first === 0 && (tail + text).includes('"delta":{"content":"')) first = performance.now() - t0;
    tail = text.slice(-32);
    if (text.includes('"error"')) throw new Error(`stream error: ${text.slice(0, 300)}`);
  }
  if (!tail.includes('[DONE]')) throw new Error('stream ended without [DONE]');
  return { first, total: performance.now() - t0 };
}

/** One request through the router: a single call, the router runs both legs. */
function viaRouter(url: string): Send {
  return async (stream) => {
    const body = enc.encode(JSON.stringify(chatBody(stream)));
    const t0 = performance.now();
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return readAll(res, t0, stream);
  };
}

/** The same request made by the client itself, as vLLM's NIXL toy proxy does: prefill with max_tokens = 1
 * and do_remote_decode, then decode with the kv_transfer_params the prefill returned, one X-Request-Id. */
function directSequential(prefillUrl: string, decodeUrl: string): Send {
  const pAddr = new URL(prefillUrl).host;
  const dAddr = new URL(decodeUrl).host;
  return async (stream) => {
    const original = chatBody(stream);
    const t0 = performance.now();
    const headers = { 'content-type': 'application/json', 'x-request-id': `___prefill_addr_${pAddr}___decode_addr_${dAddr}_${hex32()}` };
    const { stream_options: _drop, ...rest } = original;
    const prefillBody = {
      ...rest,
      max_tokens: 1,
      stream: false,
      kv_transfer_params: { do_remote_decode: true, do_remote_prefill: false, remote_engine_id: null, remote_block_ids: null, remote_host: null, remote_port: null },
    };
    const p = await fetch(`${prefillUrl}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify(prefillBody) });
    if (p.status !== 200) throw new Error(`prefill HTTP ${p.status}: ${(await p.text()).slice(0, 300)}`);
    const kv = ((await p.json()) as { kv_transfer_params?: unknown }).kv_transfer_params;
    const res = await fetch(`${decodeUrl}/v1/chat/completions`, { method: 'POST', headers, body: JSON.stringify({ ...original, kv_transfer_params: kv }) });
    return readAll(res, t0, stream);
  };
}

/** `concurrency` closed-loop clients for `seconds` (each finishes the request it has started). */
async function load(send: Send, stream: boolean, concurrency: number, seconds: number): Promise<{ samples: Sample[]; seconds: number }> {
  const samples: Sample[] = [];
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) samples.push(await send(stream));
    }),
  );
  return { samples, seconds: (performance.now() - t0) / 1000 };
}

const sortedOf = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

async function startRouter(binary: string, prefill: string, decode: string): Promise<{ child: Child; url: string }> {
  const port = freePort();
  // --log-level warn as in bench/overhead.ts: the access log line is not part of the two-stage flow's cost.
  const child = spawnChild([binary, '--vllm-pd-disaggregation', '--prefill', prefill, '--decode', decode, '--policy', 'round_robin', '--port', String(port), '--prometheus-port', '0', '--log-level', 'warn']);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 400; i++) {
    if (await fetch(`${url}/readiness`).then((r) => r.ok, () => false)) return { child, url };
    if (child.proc.exitCode !== null) break;
    await Bun.sleep(25);
  }
  throw new Error(`the router did not become ready on ${url}`);
}

interface Row {
  scenario: string;
  mode: Mode;
  concurrency: number;
  metric: string;
  direct: number[];
  router: number[];
  directRps: number;
  routerRps: number;
  /** The router process's CPU time (user + system) per request, µs. */
  routerCpuUs: number;
}

const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const us = (ms: number): string => (Number.isFinite(ms) ? `${Math.round(ms * 1000)}` : 'n/a');

/** One case: direct and router in alternating rounds; one row per latency measured. */
async function measureCase(targets: Record<'direct' | 'router', Send>, routerPid: number, scenario: string, mode: Mode, concurrency: number): Promise<Row[]> {
  const stream = mode === 'stream';
  const got = { direct: [] as Sample[], router: [] as Sample[] };
  const secs = { direct: 0, router: 0 };
  let routerCpu = 0;
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of r % 2 === 0 ? (['direct', 'router'] as const) : (['router', 'direct'] as const)) {
      const cpu0 = cpuSeconds(routerPid);
      const res = await load(targets[name], stream, concurrency, SECONDS / ROUNDS);
      if (name === 'router') routerCpu += cpuSeconds(routerPid) - cpu0;
      got[name].push(...res.samples);
      secs[name] += res.seconds;
    }
  }
  process.stdout.write(`  delays ${scenario} ms, ${concurrency} clients, ${mode}: ${got.direct.length} direct, ${got.router.length} via the router\n`);
  const metrics: [string, (s: Sample) => number][] = stream ? [['TTFT', (s) => s.first], ['end', (s) => s.total]] : [['end', (s) => s.total]];
  return metrics.map(([metric, ms]) => ({
    scenario,
    mode,
    concurrency,
    metric,
    direct: sortedOf(got.direct.map(ms)),
    router: sortedOf(got.router.map(ms)),
    directRps: got.direct.length / secs.direct,
    routerRps: got.router.length / secs.router,
    routerCpuUs: (routerCpu / got.router.length) * 1e6,
  }));
}

async function main(): Promise<void> {
  const binary = buildRouterBinary(join(root, 'dist/vllm-router')).path;
  const engineArgs = ['--model', MODEL, '--handoff-check', args['handoff-check']];
  const [prefill, decode] = await Promise.all([spawnMockEngine([...engineArgs, '--role', 'prefill']), spawnMockEngine([...engineArgs, '--role', 'decode'])]);
  const router = await startRouter(binary, prefill.url, decode.url);
  const targets = { direct: directSequential(prefill.url, decode.url), router: viaRouter(router.url) };
  try {
    // Warm-up: JIT, keep-alive pools on every hop.
    for (const send of Object.values(targets)) for (const stream of [false, true]) await load(send, stream, 4, 0.5);

    const rows: Row[] = [];
    for (const sc of SCENARIOS) {
      for (const e of [prefill, decode]) await setMock(e.url, { ttftMs: sc.ttftMs, itlMs: sc.itlMs });
      for (const concurrency of sc.levels) for (const mode of ['non-stream', 'stream'] as const) rows.push(...(await measureCase(targets, router.child.proc.pid, `${sc.ttftMs}/${sc.itlMs}`, mode, concurrency)));
    }

    const lines = [
      `Engines: two mock vLLM processes (testkit/mock-engine-main.ts), one \`--role prefill\`, one \`--role decode\` (NIXL; hand-off check ${args['handoff-check']}: the decode engine confirms and consumes each hand-off at the prefill engine over HTTP before it answers). Delays per scenario: ms to the first token / ms between tokens, on both engines.`,
      `Router: dist/vllm-router --vllm-pd-disaggregation --prefill P --decode D --policy round_robin --log-level warn. Direct: the client makes both legs itself (prefill max_tokens=1 + kv_transfer_params, then decode with the returned params).`,
      `Requests: chat completions, ${PROMPT.split(' ').length}-word prompt, max_tokens ${MAX_TOKENS}; ${SECONDS} s per target and case, in ${ROUNDS} alternating rounds; closed-loop clients. Machine: ${navigator.hardwareConcurrency} cores shared by client, router and engines.`,
      '',
      '| delays ms | mode | clients | latency | direct p50 ms | router p50 ms | **added p50 µs** | direct p99 ms | router p99 ms | added p99 µs | direct req/s | router req/s | router CPU µs/req | requests (each) |',
      '|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rows.map((r) => {
        const [d50, r50, d99, r99] = [quantile(r.direct, 0.5), quantile(r.router, 0.5), quantile(r.direct, 0.99), quantile(r.router, 0.99)];
        return `| ${r.scenario} | ${r.mode} | ${r.concurrency} | ${r.metric} | ${fmt(d50, 3)} | ${fmt(r50, 3)} | **${us(r50 - d50)}** | ${fmt(d99, 3)} | ${fmt(r99, 3)} | ${us(r99 - d99)} | ${fmt(r.directRps, 0)} | ${fmt(r.routerRps, 0)} | ${fmt(r.routerCpuUs, 0)} | ${Math.min(r.direct.length, r.router.length)} |`;
      }),
      '',
      `Target (issue #5): added p50 ≤ 1000 µs. Worst added p50 with one client: ${us(Math.max(...rows.filter((r) => r.concurrency === 1).map((r) => quantile(r.router, 0.5) - quantile(r.direct, 0.5))))} µs.`,
    ];
    const report = lines.join('\n');
    console.log(report);
    const out = args.out ?? join(root, 'bench/results/pd.md');
    await Bun.write(out, `# bench/pd.ts: ${new Date().toISOString()}\n\n${report}\n`);
  } finally {
    await router.child[Symbol.asyncDispose]();
    await prefill[Symbol.asyncDispose]();
    await decode[Symbol.asyncDispose]();
  }
}

await main();
