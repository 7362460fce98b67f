// The router's cost next to other proxies, measured in one run: nginx (1 worker), haproxy (1 thread, when
// installed), a minimal Bun forwarder (bench/min-proxy.ts) and the compiled router (round_robin, cache_aware
// in character mode, vLLM PD), all in front of the same mock engines with no delays.
//
//   bun run bench [--warmup 2] [--seconds 5] [--rounds 3] [--connections 64] [--modes completions,stream,long,paced]
//                 [--peers nginx,haproxy,forwarder,round_robin,cache_aware,pd] [--ab meter,experience,…] [--c1-seconds 2] [--c1-rounds 5]
//                 [--router-binary label=path …] [--pd-binary label=path …]
//
// Each mode (non-streaming completions; streaming chat of 64 tokens; long streams of 1,024) is driven by wrk
// (1 thread, 64 connections): 2 s of warm-up then 5 s measured per peer, the peer order rotated over 3
// rounds, every figure the median over rounds. CPU per request is the proxy process's own user + system time
// (/proc/<pid>/stat, every thread) over the requests it served in the measured window. The machine is shared:
// read the ratios (×nginx, ×forwarder), which the rotation keeps fair, rather than the absolute figures.
//
// --ab adds router builds with one piece of the hot path replaced by a no-op (bench/ab-variants.ts): the
// difference to `round_robin` is what that piece costs. The switch lives here, never in the product.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cpuSeconds } from '../testkit/cpu-time.ts';
import { freePort } from '../testkit/free-port.ts';
import { memoryKb } from '../testkit/memory-kb.ts';
import { buildRouterBinary } from '../testkit/router-binary.ts';
import { spawnChild, type Child } from '../testkit/spawn-child.ts';
import { setMock } from '../testkit/set-mock.ts';
import { spawnMockEngine } from '../testkit/spawn-mock-engine.ts';
import { AB_VARIANTS, buildVariant, type AbVariant } from './ab-variants.ts';
import { median, quantile } from './quantile.ts';
import { readyRouterUrl } from './router-url.ts';

const { values: args } = parseArgs({
  options: {
    warmup: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '64' },
    modes: { type: 'string', default: 'completions,stream,long,paced' },
    peers: { type: 'string', default: 'nginx,haproxy,forwarder,round_robin,cache_aware,pd' },
    ab: { type: 'string', default: '' },
    /** Another router build as an extra round_robin row, `label=path` (e.g. the commit before, for a before/after in one run). */
    'router-binary': { type: 'string', multiple: true, default: [] },
    /** Another router build as an extra PD row, `label=path` (a before/after of PD in one run). */
    'pd-binary': { type: 'string', multiple: true, default: [] },
    'c1-seconds': { type: 'string', default: '2' },
    'c1-rounds': { type: 'string', default: '5' },
    streams: { type: 'string', default: '300' },
    out: { type: 'string' },
  },
});
const WARMUP = Number(args.warmup);
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const CONNECTIONS = Number(args.connections);
const C1_SECONDS = Number(args['c1-seconds']);
const C1_ROUNDS = Number(args['c1-rounds']);
const STREAMS = Number(args.streams);
const root = new URL('..', import.meta.url).pathname;
const which = (cmd: string) => Bun.which(cmd) ?? (existsSync(`/usr/sbin/${cmd}`) ? `/usr/sbin/${cmd}` : null);
const wrk = which('wrk');
if (!wrk) {
  process.stderr.write('bench/overhead.ts needs wrk (apt-get install wrk)\n');
  process.exit(2);
}

interface Mode {
  readonly name: string;
  readonly label: string;
  readonly path: string;
  readonly body: string;
  /** The engines' gap between tokens for this mode (0: every token at once). */
  readonly itlMs?: number;
}

const chat = (maxTokens: number) =>
  JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'Stream to the benchmark' }], max_tokens: maxTokens, stream: true, stream_options: { include_usage: true } });
const MODES: readonly Mode[] = [
  { name: 'completions', label: 'non-streaming completions (4 tokens)', path: '/v1/completions', body: JSON.stringify({ model: 'm', prompt: 'Say hello to the benchmark', max_tokens: 4 }) },
  { name: 'stream', label: 'streaming chat, 64 tokens', path: '/v1/chat/completions', body: chat(64) },
  { name: 'long', label: 'long streams, 1,024 tokens', path: '/v1/chat/completions', body: chat(1024) },
  // With no delay a 64-token stream reaches the proxy in one read of about 15 KB, so the rows above price a
  // stream's setup and end more than its relay; here every token is its own write, 1 ms apart (65+ reads).
  { name: 'paced', label: 'paced streams, 64 tokens 1 ms apart (a read per token)', path: '/v1/chat/completions', body: chat(64), itlMs: 1 },
];

interface Peer {
  readonly name: string;
  /** Where each mode's requests go (PD has its own engines). */
  readonly url: string;
  readonly pid: number;
  /** The direct engine the added latency is taken against. */
  readonly engineUrl: string;
  readonly stop: () => Promise<void>;
}

/** Peak resident memory in MiB, or NaN once the process is gone. */
function peakRssMiB(pid: number): number {
  try {
    return memoryKb(pid).peak / 1024;
  } catch {
    return Number.NaN;
  }
}

async function waitHealthy(url: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) return;
    await Bun.sleep(25);
  }
  throw new Error(`${url} never answered /health`);
}

async function startNginx(upstreams: readonly string[], engineUrl: string): Promise<Peer | null> {
  const nginx = which('nginx');
  if (!nginx) return null;
  const dir = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
  const port = freePort();
  const servers = upstreams.map((u) => `server ${new URL(u).host};`).join(' ');
  // One worker process, no master (so its pid is the one serving): the same single event loop the router has.
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1; master_process off; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir};
  upstream engines { ${servers} keepalive 128; }
  server { listen 127.0.0.1:${port}; client_max_body_size 512m; keepalive_requests 1000000;
    location / { proxy_pass http://engines; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; } } }\n`,
  );
  const proc = Bun.spawn([nginx, '-p', dir, '-c', join(dir, 'nginx.conf')], { stdout: 'ignore', stderr: 'inherit' });
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url);
  return { name: 'nginx', url, pid: proc.pid, engineUrl, stop: async () => (proc.kill('SIGTERM'), void (await proc.exited)) };
}

async function startHaproxy(upstreams: readonly string[], engineUrl: string): Promise<Peer | null> {
  const haproxy = which('haproxy');
  if (!haproxy) return null;
  const dir = mkdtempSync(join(tmpdir(), 'bench-haproxy-'));
  const port = freePort();
  const servers = upstreams.map((u, i) => `  server e${i} ${new URL(u).host}`).join('\n');
  writeFileSync(
    join(dir, 'haproxy.cfg'),
    `global
  nbthread 1
  maxconn 9000
defaults
  mode http
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  option http-keep-alive
  http-reuse always
frontend front
  bind 127.0.0.1:${port}
  default_backend engines
backend engines
  balance roundrobin
${servers}
`,
  );
  const proc = Bun.spawn([haproxy, '-db', '-f', join(dir, 'haproxy.cfg')], { stdout: 'ignore', stderr: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url);
  return { name: 'haproxy', url, pid: proc.pid, engineUrl, stop: async () => (proc.kill('SIGTERM'), void (await proc.exited)) };
}

async function startChildPeer(name: string, child: Child, engineUrl: string, url?: string): Promise<Peer> {
  const at = url ?? (await readyRouterUrl(child.proc.pid));
  return { name, url: at, pid: child.proc.pid, engineUrl, stop: async () => await child[Symbol.asyncDispose]() };
}

interface LoadResult {
  readonly requests: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
}

/** wrk's latency distribution is text: read Requests/sec, the p50/p99 lines and the non-2xx and socket errors. */
function parseWrk(out: string): LoadResult {
  const ms = (label: string) => {
    const m = new RegExp(`\\s${label}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) return Number.NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) + (socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return { requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN), rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN), p50: ms('50'), p99: ms('99'), errors };
}

const scripts = new Map<string, string>();
function scriptFor(mode: Mode): string {
  let path = scripts.get(mode.name);
  if (path === undefined) {
    path = join(mkdtempSync(join(tmpdir(), 'bench-wrk-')), `${mode.name}.lua`);
    writeFileSync(path, `wrk.method = "POST"\nwrk.body = '${mode.body}'\nwrk.headers["Content-Type"] = "application/json"\n`);
    scripts.set(mode.name, path);
  }
  return path;
}

/** wrk as its own process, awaited (not spawnSync): this process keeps reading its children's pipes meanwhile. */
async function runWrk(url: string, mode: Mode, connections: number, seconds: number): Promise<LoadResult> {
  const proc = Bun.spawn([wrk!, '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', scriptFor(mode), `${url}${mode.path}`], { stdout: 'pipe', stderr: 'pipe' });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  return parseWrk(out);
}

/** Sequential streams from one client: milliseconds from sending the request to the first body chunk. */
async function ttft(url: string): Promise<number> {
  const times: number[] = [];
  const body = chat(8);
  for (let i = 0; i < STREAMS; i++) {
    const t = performance.now();
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const reader = res.body!.getReader();
    await reader.read();
    times.push(performance.now() - t);
    while (!(await reader.read()).done);
  }
  times.sort((a, b) => a - b);
  return quantile(times, 0.5);
}

interface Cell {
  rps: number[];
  p50: number[];
  p99: number[];
  cpu: number[];
  errors: number;
}

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

async function main(): Promise<void> {
  const modes = MODES.filter((m) => args.modes.split(',').includes(m.name));
  const wanted = new Set(args.peers.split(','));
  const variants: AbVariant[] = args.ab === '' ? [] : args.ab.split(',').map((name) => {
    const v = AB_VARIANTS.find((x) => x.name === name);
    if (!v) throw new Error(`--ab ${name}: unknown; one of ${AB_VARIANTS.map((x) => x.name).join(', ')}`);
    return v;
  });
  const binary = buildRouterBinary(join(root, 'dist/vllm-router')).path;
  const variantBinaries = await Promise.all(variants.map(async (v) => ({ v, path: await buildVariant(v, join(root, `dist/vllm-router-ab-${v.name}`)) })));

  const engines = await Promise.all([spawnMockEngine(['--model', 'm']), spawnMockEngine(['--model', 'm'])]);
  const needPd = wanted.has('pd');
  const pdEngines = needPd
    ? await Promise.all([spawnMockEngine(['--model', 'm', '--role', 'prefill', '--handoff-check', 'record']), spawnMockEngine(['--model', 'm', '--role', 'decode', '--handoff-check', 'record'])])
    : [];
  const urls = engines.map((e) => e.url);
  const direct = urls[0]!;
  const routerCommon = ['--port', '0', '--prometheus-port', '0', '--log-json', '--log-level', 'warn'];
  const router = (bin: string, policy: string) => spawnChild([bin, '--worker-urls', ...urls, '--policy', policy, ...routerCommon]);
  const peers: Peer[] = [];
  const add = async (name: string, start: () => Promise<Peer | null>) => {
    if (!wanted.has(name)) return;
    const p = await start();
    if (p) peers.push(p);
  };
  await add('nginx', () => startNginx(urls, direct));
  await add('haproxy', () => startHaproxy(urls, direct));
  await add('forwarder', async () => {
    const child = spawnChild(['bun', join(root, 'bench/min-proxy.ts'), ...urls]);
    const [, url] = await child.waitFor(/LISTENING (\S+)/);
    return startChildPeer('forwarder', child, direct, url);
  });
  await add('round_robin', () => startChildPeer('round_robin', router(binary, 'round_robin'), direct));
  await add('cache_aware', () => startChildPeer('cache_aware', router(binary, 'cache_aware'), direct));
  for (const spec of args['router-binary'] ?? []) {
    const [label, path] = spec.split('=');
    if (!label || !path) throw new Error(`--router-binary ${spec}: expected label=path`);
    peers.push(await startChildPeer(label, router(path, 'round_robin'), direct));
  }
  for (const { v, path } of variantBinaries) peers.push(await startChildPeer(`round_robin, ${v.label}`, router(path, 'round_robin'), direct));
  const pdRouter = (bin: string) => spawnChild([bin, '--vllm-pd-disaggregation', '--prefill', pdEngines[0]!.url, '--decode', pdEngines[1]!.url, '--policy', 'round_robin', ...routerCommon]);
  await add('pd', () => startChildPeer('pd', pdRouter(binary), pdEngines[1]!.url));
  if (needPd)
    for (const spec of args['pd-binary'] ?? []) {
      const [label, path] = spec.split('=');
      if (!label || !path) throw new Error(`--pd-binary ${spec}: expected label=path`);
      peers.push(await startChildPeer(label, pdRouter(path), pdEngines[1]!.url));
    }

  const cells = new Map<string, Cell>();
  const cell = (peer: string, mode: string) => {
    const key = `${peer}\u0000${mode}`;
    let c = cells.get(key);
    if (!c) cells.set(key, (c = { rps: [], p50: [], p99: [], cpu: [], errors: 0 }));
    return c;
  };
  const started = performance.now();
  const allEngines = [...engines, ...pdEngines];
  let pacedAt = 0;
  const pace = async (itlMs: number) => {
    if (itlMs === pacedAt) return;
    for (const e of allEngines) await setMock(e.url, { itlMs });
    pacedAt = itlMs;
  };
  for (let round = 0; round < ROUNDS; round++)
    for (const mode of modes) {
      await pace(mode.itlMs ?? 0);
      for (let k = 0; k < peers.length; k++) {
        const peer = peers[(k + round) % peers.length]!;
        await runWrk(peer.url, mode, CONNECTIONS, WARMUP);
        const cpu0 = cpuSeconds(peer.pid);
        const r = await runWrk(peer.url, mode, CONNECTIONS, SECONDS);
        const c = cell(peer.name, mode.name);
        c.rps.push(r.rps);
        c.p50.push(r.p50);
        c.p99.push(r.p99);
        c.cpu.push(((cpuSeconds(peer.pid) - cpu0) * 1e6) / r.requests);
        c.errors += r.errors;
        process.stderr.write(`round ${round + 1} ${mode.name} ${peer.name}: ${r.rps.toFixed(0)} req/s\n`);
      }
    }
  await pace(0);

  // Added latency at one client: the same request at c=1 through each peer and straight to its engine. Every
  // round measures the engines and all peers back to back (order rotated), and a peer's added latency is taken
  // against its engine *in the same round*: the machine is shared, and a load that comes and goes between one
  // peer's rounds and another's moved the old per-peer blocks by more than a proxy adds.
  const c1Targets = [{ name: 'engine', url: direct, engine: undefined as string | undefined }];
  if (needPd) c1Targets.push({ name: 'pd engine', url: pdEngines[1]!.url, engine: undefined });
  for (const p of peers) c1Targets.push({ name: p.name, url: p.url, engine: p.engineUrl === direct ? 'engine' : 'pd engine' });
  const c1Rounds: Map<string, { p50: number; ttft: number }>[] = [];
  if (C1_SECONDS > 0)
    for (let round = 0; round < C1_ROUNDS; round++) {
      const measured = new Map<string, { p50: number; ttft: number }>();
      for (let k = 0; k < c1Targets.length; k++) {
        const t = c1Targets[(k + round) % c1Targets.length]!;
        measured.set(t.name, { p50: (await runWrk(t.url, MODES[0]!, 1, C1_SECONDS)).p50, ttft: await ttft(t.url) });
      }
      c1Rounds.push(measured);
      process.stderr.write(`c=1 round ${round + 1}: ${[...measured].map(([n, r]) => `${n} ${(r.p50 * 1000).toFixed(0)}/${(r.ttft * 1000).toFixed(0)} µs`).join(', ')}\n`);
    }
  /** Per target: the median p50 and TTFT, the median over rounds of what it adds to its engine, and of that over the forwarder's addition in the same round. */
  const one = new Map<string, { p50: number; ttft: number; addedP50?: number; addedTtft?: number; p50xFwd?: number; ttftxFwd?: number }>();
  if (c1Rounds.length > 0)
    for (const t of c1Targets) {
      const of = (f: (r: Map<string, { p50: number; ttft: number }>) => number) => median(c1Rounds.map(f));
      const row: { p50: number; ttft: number; addedP50?: number; addedTtft?: number; p50xFwd?: number; ttftxFwd?: number } = { p50: of((r) => r.get(t.name)!.p50), ttft: of((r) => r.get(t.name)!.ttft) };
      if (t.engine !== undefined) {
        const engine = t.engine;
        row.addedP50 = of((r) => r.get(t.name)!.p50 - r.get(engine)!.p50);
        row.addedTtft = of((r) => r.get(t.name)!.ttft - r.get(engine)!.ttft);
        if (engine === 'engine' && c1Targets.some((x) => x.name === 'forwarder')) {
          row.p50xFwd = of((r) => (r.get(t.name)!.p50 - r.get(engine)!.p50) / (r.get('forwarder')!.p50 - r.get(engine)!.p50));
          row.ttftxFwd = of((r) => (r.get(t.name)!.ttft - r.get(engine)!.ttft) / (r.get('forwarder')!.ttft - r.get(engine)!.ttft));
        }
      }
      one.set(t.name, row);
    }
  const minutes = ((performance.now() - started) / 60_000).toFixed(1);
  const rss = new Map(peers.map((p) => [p.name, peakRssMiB(p.pid)]));
  for (const p of peers) await p.stop();
  for (const e of [...engines, ...pdEngines]) await e[Symbol.asyncDispose]();

  const lines: string[] = [
    `Load: wrk, 1 thread, ${CONNECTIONS} connections; ${WARMUP} s warm-up then ${SECONDS} s measured per peer and mode, peer order rotated over ${ROUNDS} rounds; medians (${minutes} min in all).`,
    `Engines: two mock vLLM processes (testkit/mock-engine-main.ts, no delays but in the paced mode; PD: one prefill and one decode engine). Machine: ${navigator.hardwareConcurrency} cores shared by wrk, the engines, the proxy and other work. CPU µs/req: the proxy process's own CPU time (/proc) over the requests it served.`,
    'Peers: nginx (1 worker, `proxy_buffering off`), haproxy (`nbthread 1`), `bench/min-proxy.ts` (Bun.serve + fetch, SSE bodies passed on as they are: the runtime\'s floor), the compiled router (`--log-level warn`, metrics on) with `round_robin`, `cache_aware` (character mode, no tokenizer) and `--vllm-pd-disaggregation` (2 legs).',
    '',
  ];
  const baseOf = (name: string, mode: string) => {
    const c = cells.get(`${name}\u0000${mode}`);
    return c && { rps: median(c.rps), cpu: median(c.cpu) };
  };
  for (const mode of modes) {
    const nginx = baseOf('nginx', mode.name);
    const forwarder = baseOf('forwarder', mode.name);
    lines.push(`### ${mode.label}`, '', '| peer | req/s | ×nginx | ×forwarder | CPU µs/req | CPU ×forwarder | p50 ms | p99 ms | errors | peak RSS MiB |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const p of peers) {
      const c = cells.get(`${p.name}\u0000${mode.name}`);
      if (!c) continue;
      const rps = median(c.rps);
      const cpu = median(c.cpu);
      lines.push(
        `| ${p.name} | ${fmt(rps, 0)} | ${nginx ? fmt(rps / nginx.rps) : '–'} | ${forwarder ? fmt(rps / forwarder.rps) : '–'} | ${fmt(cpu, 0)} | ${forwarder ? fmt(cpu / forwarder.cpu) : '–'} | ${fmt(median(c.p50))} | ${fmt(median(c.p99))} | ${c.errors} | ${fmt(rss.get(p.name) ?? Number.NaN, 0)} |`,
      );
    }
    lines.push('');
  }
  if (one.size > 0) {
    lines.push(
      `### One client (c=1): added latency over the engine (non-streaming p50 from wrk over ${C1_SECONDS} s; TTFT p50 of ${STREAMS} sequential 8-token chat streams; ${C1_ROUNDS} rounds, each measuring the engines and every peer back to back; medians over rounds of each round's figures: added = peer − its engine in that round, ×forwarder = that over the forwarder's addition in that round)`,
      '',
      '| peer | p50 ms | added p50 µs | ×forwarder | TTFT p50 ms | added TTFT µs | ×forwarder |',
      '|---|---:|---:|---:|---:|---:|---:|',
    );
    for (const [name, r] of one) {
      if (r.addedP50 === undefined) {
        lines.push(`| ${name} (direct) | ${fmt(r.p50, 3)} | – | – | ${fmt(r.ttft, 3)} | – | – |`);
        continue;
      }
      lines.push(
        `| ${name} | ${fmt(r.p50, 3)} | ${fmt(r.addedP50 * 1000, 0)} | ${r.p50xFwd !== undefined ? fmt(r.p50xFwd) : '–'} | ${fmt(r.ttft, 3)} | ${fmt(r.addedTtft! * 1000, 0)} | ${r.ttftxFwd !== undefined ? fmt(r.ttftxFwd) : '–'} |`,
      );
    }
    lines.push('');
  }
  const report = lines.join('\n');
  console.log(report);
  const out = args.out ?? join(root, 'bench/results/overhead.md');
  const command = `bun run bench ${process.argv.slice(2).join(' ')}`.trim();
  await Bun.write(out, `# bench/overhead.ts (\`flock /tmp/bench.lock ${command}\`), ${new Date().toISOString()}, Bun ${Bun.version}\n\n${report}\n`);
}

await main();
