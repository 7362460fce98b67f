// The router's cost, measured in one run: the same load against an engine directly, through the compiled
// router, and through nginx (when installed), each in front of the same two mock engines.
//
//   bun run bench [--seconds 4] [--rounds 3] [--connections 32]
//
// Throughput and latency come from wrk when installed (a separate C process), else from a Bun client.
// Time to first token is measured by a Bun client on sequential streams. Figures are ratios within one
// run because the machine is shared and noisy: the targets take turns, round after round, and each figure
// is the median over rounds. CPU per request (the proxy process's user + system time over the requests it
// served, Bun's HTTP client thread included) moves least with the neighbours' load.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cpuSeconds } from '../testkit/cpu-time.ts';
import { freePort } from '../testkit/free-port.ts';
import { memoryKb } from '../testkit/memory-kb.ts';
import { buildRouterBinary } from '../testkit/router-binary.ts';
import { spawnChild, type Child } from '../testkit/spawn-child.ts';
import { spawnMockEngine } from '../testkit/spawn-mock-engine.ts';
import { median, quantile } from './quantile.ts';
import { readyRouterUrl } from './router-url.ts';

const { values: args } = parseArgs({
  options: { seconds: { type: 'string', default: '4' }, rounds: { type: 'string', default: '3' }, connections: { type: 'string', default: '32' }, streams: { type: 'string', default: '300' }, out: { type: 'string' } },
});
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const CONNECTIONS = Number(args.connections);
const STREAMS = Number(args.streams);
const root = new URL('..', import.meta.url).pathname;
const which = (cmd: string) => Bun.which(cmd) ?? (existsSync(`/usr/sbin/${cmd}`) ? `/usr/sbin/${cmd}` : null);

interface Target {
  name: string;
  url: string;
  pid?: number;
}

async function startNginx(upstreams: string[]): Promise<(Target & { stop: () => void }) | null> {
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
  server { listen 127.0.0.1:${port}; client_max_body_size 512m;
    location / { proxy_pass http://engines; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; } } }\n`,
  );
  const proc = Bun.spawn([nginx, '-p', dir, '-c', join(dir, 'nginx.conf')], { stdout: 'ignore', stderr: 'inherit' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200 && !(await fetch(`${url}/health`).then((r) => r.ok, () => false)); i++) await Bun.sleep(20);
  return { name: 'nginx', url, pid: proc.pid, stop: () => proc.kill('SIGTERM') };
}

interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
}

const BODY = JSON.stringify({ model: 'm', prompt: 'Say hello to the benchmark', max_tokens: 4 });

/** wrk's latency distribution is in text; read the p50/p99 lines and Requests/sec. */
function parseWrk(out: string): LoadResult {
  const ms = (label: string) => {
    const m = new RegExp(`${label}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) return Number.NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  return { requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN), rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN), p50: ms('50'), p99: ms('99') };
}

async function loadWithWrk(url: string, connections: number): Promise<LoadResult> {
  const script = join(mkdtempSync(join(tmpdir(), 'bench-wrk-')), 'post.lua');
  writeFileSync(script, `wrk.method = "POST"\nwrk.body = '${BODY}'\nwrk.headers["Content-Type"] = "application/json"\n`);
  const proc = Bun.spawnSync([which('wrk')!, '-t1', `-c${connections}`, `-d${SECONDS}s`, '--latency', '-s', script, `${url}/v1/completions`], { stdout: 'pipe' });
  return parseWrk(proc.stdout.toString());
}

async function loadWithBun(url: string, connections: number): Promise<LoadResult> {
  const latencies: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        const res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
        await res.arrayBuffer();
        latencies.push(performance.now() - t);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { requests: latencies.length, rps: latencies.length / SECONDS, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

/** Sequential streams: milliseconds from sending the request to the first body chunk. */
async function ttft(url: string): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  const body = JSON.stringify({ model: 'm', prompt: 'Stream to the benchmark', max_tokens: 8, stream: true });
  for (let i = 0; i < STREAMS; i++) {
    const t = performance.now();
    const res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const reader = res.body!.getReader();
    await reader.read();
    times.push(performance.now() - t);
    while (!(await reader.read()).done);
  }
  times.sort((a, b) => a - b);
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99) };
}

/** Peak resident memory, or NaN once the process is gone. */
function peakRssMiB(pid: number): number {
  try {
    return memoryKb(pid).peak / 1024;
  } catch {
    return Number.NaN;
  }
}

const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

async function main(): Promise<void> {
  const binary = buildRouterBinary(join(root, 'dist/vllm-router')).path;
  const children: Child[] = [];
  const engines = await Promise.all([spawnMockEngine(['--model', 'm']), spawnMockEngine(['--model', 'm'])]);
  children.push(...engines);
  const routerArgs = [binary, '--worker-urls', ...engines.map((e) => e.url), '--policy', 'round_robin', '--port', '0', '--prometheus-port', '0', '--log-json'];
  const router = spawnChild([...routerArgs, '--log-level', 'warn']);
  // The same router writing one JSON line per request to stdout, here a file: a pipe this process read would
  // stall while wrk runs (spawnSync), and the router would then buffer its log in memory.
  const logPath = join(mkdtempSync(join(tmpdir(), 'bench-router-log-')), 'router.log');
  const logging = Bun.spawn([...routerArgs, '--log-level', 'info'], { stdout: Bun.file(logPath), stderr: 'inherit' });
  const minimal = spawnChild(['bun', join(root, 'bench/min-proxy.ts'), ...engines.map((e) => e.url)]);
  children.push(router, minimal);
  // The listening line is at info level; with --log-level warn it is not printed, so probe readiness instead.
  const routerUrl = await readyRouterUrl(router.proc.pid);
  const loggingUrl = await readyRouterUrl(logging.pid);
  const [, minimalUrl] = await minimal.waitFor(/LISTENING (\S+)/);
  const nginx = await startNginx(engines.map((e) => e.url));
  const targets: Target[] = [
    { name: 'direct (one engine)', url: engines[0]!.url },
    { name: 'vllm-router', url: routerUrl, pid: router.proc.pid },
    { name: 'vllm-router, request logs on', url: loggingUrl, pid: logging.pid },
    { name: 'Bun minimal proxy', url: minimalUrl!, pid: minimal.proc.pid },
  ];
  if (nginx) targets.push(nginx);

  const load = which('wrk') ? loadWithWrk : loadWithBun;
  const loader = which('wrk') ? 'wrk (1 thread)' : 'Bun fetch client';
  for (const t of targets) await load(t.url, 4); // warm-up: JIT, connection pools

  const samples = targets.map(() => ({ rps: [] as number[], p50: [] as number[], p99: [] as number[], p50c1: [] as number[], cpu: [] as number[] }));
  for (let round = 0; round < ROUNDS; round++)
    for (const [i, t] of targets.entries()) {
      const cpuBefore = t.pid ? cpuSeconds(t.pid) : Number.NaN;
      const saturated = await load(t.url, CONNECTIONS);
      const cpuPerRequest = t.pid ? ((cpuSeconds(t.pid) - cpuBefore) * 1e6) / saturated.requests : Number.NaN;
      const single = await load(t.url, 1);
      const s = samples[i]!;
      s.rps.push(saturated.rps);
      s.p50.push(saturated.p50);
      s.p99.push(saturated.p99);
      s.p50c1.push(single.p50);
      s.cpu.push(cpuPerRequest);
    }
  const rows: { name: string; rps: number; p50: number; p99: number; p50c1: number; cpu: number; ttft50: number; ttft99: number; rss: number }[] = [];
  for (const [i, t] of targets.entries()) {
    const s = samples[i]!;
    const stream = await ttft(t.url);
    rows.push({ name: t.name, rps: median(s.rps), p50: median(s.p50), p99: median(s.p99), p50c1: median(s.p50c1), cpu: median(s.cpu), ttft50: stream.p50, ttft99: stream.p99, rss: t.pid ? peakRssMiB(t.pid) : Number.NaN });
  }

  const row = (name: string) => rows.find((r) => r.name === name);
  const direct = row('direct (one engine)')!;
  const routerRow = row('vllm-router')!;
  const loggingRow = row('vllm-router, request logs on')!;
  const minimalRow = row('Bun minimal proxy')!;
  const nginxRow = row('nginx');
  const lines = [
    `Load: ${loader}, ${SECONDS} s per case, ${CONNECTIONS} connections (saturated) and 1 connection, targets in turn for ${ROUNDS} rounds (medians); ${STREAMS} sequential streams for TTFT.`,
    `Engines: two mock vLLM processes (testkit/mock-engine-main.ts, no delays). Machine: ${navigator.hardwareConcurrency} cores, shared by load generator, engines and proxy.`,
    '',
    'Rows: the router as deployed (`--log-level warn`, metrics on); the same with one JSON log line per request; `bench/min-proxy.ts` (Bun.serve + fetch and nothing else: the runtime\'s ceiling); nginx with one worker.',
    '',
    '| Target | req/s (c=' + CONNECTIONS + ') | p50 ms | p99 ms | p50 ms (c=1) | CPU µs/req | TTFT p50 ms | TTFT p99 ms | peak RSS MiB |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${fmt(r.rps, 0)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.p50c1, 3)} | ${fmt(r.cpu, 0)} | ${fmt(r.ttft50, 3)} | ${fmt(r.ttft99, 3)} | ${fmt(r.rss, 0)} |`),
    '',
    `Router added p50 latency at c=1: ${fmt((routerRow.p50c1 - direct.p50c1) * 1000, 0)} µs (target ≤ 500); added TTFT p50: ${fmt((routerRow.ttft50 - direct.ttft50) * 1000, 0)} µs.`,
    `Request logs on / off: throughput ${fmt(loggingRow.rps / routerRow.rps)}, CPU per request ${fmt(loggingRow.cpu / routerRow.cpu)}.`,
    `Router / Bun minimal proxy: throughput ${fmt(routerRow.rps / minimalRow.rps)}, CPU per request ${fmt(routerRow.cpu / minimalRow.cpu)}.`,
  ];
  if (nginxRow)
    lines.push(
      `Router / nginx throughput: ${fmt(routerRow.rps / nginxRow.rps)} (target ≥ 0.9); Bun minimal proxy / nginx: ${fmt(minimalRow.rps / nginxRow.rps)}. CPU per request router / nginx: ${fmt(routerRow.cpu / nginxRow.cpu)}. nginx added p50 at c=1: ${fmt((nginxRow.p50c1 - direct.p50c1) * 1000, 0)} µs.`,
    );
  const report = lines.join('\n');
  console.log(report);
  const out = args.out ?? join(root, 'bench/results/overhead.md');
  await Bun.write(out, `# bench/overhead.ts — ${new Date().toISOString()}\n\n${report}\n`);

  nginx?.stop();
  logging.kill();
  await logging.exited;
  for (const c of children) await c[Symbol.asyncDispose]();
}

await main();
