// Thousands of concurrent streams through the router: do they all reach the engines, do health probes keep
// passing, and how long does a small request beside them wait? Two rows in one run:
// - `router` is the compiled binary (it sizes Bun's fetch concurrency from --max-concurrent-requests);
// - `no fetch limit set` is the same router started straight from startRouter, under Bun's default of 256
//   concurrent fetches: what the router did before (issue #14).
//
//   bun run bench:concurrency [--streams 9000] [--engines 2] [--itl-ms 2000] [--hold-secs 10] [--router-only]
//                             [--forwarder] [--router-binary label=path …]
//
// --forwarder adds bench/min-proxy.ts (Bun.serve + fetch, the body passed on natively) as the runtime's floor
// per open stream; --router-binary adds another router build (e.g. the commit before) for a before/after.
//
// RSS per stream: the router's resident memory with every stream open, less its resident memory just before
// they were opened (after a warm-up request), over the streams that reached the engines; its peak is VmHWM.
//
// The streams are raw TCP connections from this process (its own fetch would be capped at 256 too).
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cpuSeconds } from '../testkit/cpu-time.ts';
import { memoryKb } from '../testkit/memory-kb.ts';
import { metricValue } from '../testkit/metric-value.ts';
import { buildRouterBinary } from '../testkit/router-binary.ts';
import { spawnChild, type Child } from '../testkit/spawn-child.ts';
import { spawnMockEngine } from '../testkit/spawn-mock-engine.ts';
import { median } from './quantile.ts';

const { values: args } = parseArgs({
  options: {
    streams: { type: 'string', default: '9000' },
    engines: { type: 'string', default: '2' },
    'itl-ms': { type: 'string', default: '2000' },
    'hold-secs': { type: 'string', default: '10' },
    /** Only the compiled router (skip the row under Bun's default fetch limit). */
    'router-only': { type: 'boolean', default: false },
    /** Also bench/min-proxy.ts: what Bun itself holds per open stream. */
    forwarder: { type: 'boolean', default: false },
    'router-binary': { type: 'string', multiple: true, default: [] },
  },
});
const STREAMS = Number(args.streams);
const ITL_MS = Number(args['itl-ms']);
const HOLD_MS = Number(args['hold-secs']) * 1000;
const root = new URL('..', import.meta.url).pathname;

const binary = buildRouterBinary();

interface Row {
  name: string;
  reached: number;
  openMs: number;
  probesOk: number;
  probesFailed: number;
  readiness: number;
  smallMs: (number | 'timeout')[];
  rssMb: number;
  /** (RSS with the streams open − RSS before them) / streams reached, KiB. */
  rssPerStreamKib: number;
  peakRssMb: number;
  fds: number;
  cpuPerStreamMs: number;
}

/** The router's URL and metrics URL from its start-up line; the forwarder prints its URL alone (no metrics). */
async function listening(child: Child): Promise<{ url: string; metrics: string | undefined }> {
  const [line, forwarderUrl] = await child.waitFor(/^\{.*"msg":"vllm-router listening".*\}$|^LISTENING (\S+)$/m);
  if (forwarderUrl !== undefined) return { url: forwarderUrl, metrics: undefined };
  return JSON.parse(line) as { url: string; metrics: string };
}

async function measure(name: string, router: Child, engines: string[]): Promise<Row> {
  const { url, metrics } = await listening(router);
  const { hostname, port } = new URL(url);
  const pid = router.proc.pid;
  const running = async () => {
    let n = 0;
    for (const e of engines) n += metricValue(await (await fetch(`${e}/metrics`)).text(), 'vllm:num_requests_running');
    return n;
  };
  const base = await running();
  // One request first, so what is measured is the streams, not the first request's start-up (JIT, pools).
  await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 1 }) }).then((r) => r.text());
  const rssBefore = memoryKb(pid).rss;
  const body = JSON.stringify({ model: 'm', prompt: 'tell me', max_tokens: 4000, stream: true });
  const request = `POST /v1/completions HTTP/1.1\r\nHost: r\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const started = performance.now();
  const sockets: { end(): void }[] = [];
  for (let i = 0; i < STREAMS; i++) {
    const s = await Bun.connect({ hostname, port: Number(port), socket: { data() {} } });
    s.write(request);
    sockets.push(s);
  }
  // Wait until every stream runs on an engine, or the count stops moving for 5 s.
  let reached = 0;
  let still = performance.now();
  for (;;) {
    const now = (await running()) - base;
    if (now !== reached) (reached = now), (still = performance.now());
    if (reached >= STREAMS || performance.now() - still > 5000) break;
    await Bun.sleep(100);
  }
  const openMs = performance.now() - started;
  const scrape = async () => (metrics === undefined ? '' : (await fetch(metrics)).text());
  const before = await scrape();
  const cpu0 = cpuSeconds(pid);
  const smallMs: (number | 'timeout')[] = [];
  const small = JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 1 });
  const holdUntil = performance.now() + HOLD_MS;
  while (performance.now() < holdUntil || smallMs.length < 5) {
    const t = performance.now();
    const ok = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: small, signal: AbortSignal.timeout(10_000) }).then(
      async (r) => (await r.text(), r.ok),
      () => false,
    );
    smallMs.push(ok ? Math.round((performance.now() - t) * 10) / 10 : 'timeout');
    await Bun.sleep(500);
  }
  const after = await scrape();
  const cpu = cpuSeconds(pid) - cpu0;
  const readiness = (await fetch(`${url}/readiness`, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined))?.status ?? 0;
  const row: Row = {
    name,
    reached,
    openMs: Math.round(openMs),
    probesOk: metricValue(after, 'vllm_router_health_checks_total', { result: 'ok' }) - metricValue(before, 'vllm_router_health_checks_total', { result: 'ok' }),
    probesFailed: metricValue(after, 'vllm_router_health_checks_total', { result: 'failed' }),
    readiness,
    smallMs,
    rssMb: Math.round(memoryKb(pid).rss / 1024),
    rssPerStreamKib: Math.round(((memoryKb(pid).rss - rssBefore) / Math.max(1, reached)) * 10) / 10,
    peakRssMb: Math.round(memoryKb(pid).peak / 1024),
    fds: Number(Bun.spawnSync(['sh', '-c', `ls /proc/${pid}/fd | wc -l`]).stdout.toString().trim()),
    cpuPerStreamMs: Math.round((cpu * 1000 * 100) / Math.max(1, reached)) / 100,
  };
  for (const s of sockets) s.end();
  return row;
}

const engines = await Promise.all(Array.from({ length: Number(args.engines) }, () => spawnMockEngine(['--model', 'm', '--itl-ms', String(ITL_MS), '--max-num-seqs', '100000'])));
const common = ['--worker-urls', ...engines.map((e) => e.url), '--policy', 'round_robin', '--port', '0', '--prometheus-port', '0', '--log-json'];
const probes = ['--health-check-interval-secs', '2', '--health-check-timeout-secs', '2', '--health-failure-threshold', '1'];
const rows: Row[] = [];
try {
  {
    await using router = spawnChild([binary.path, ...common, ...probes]);
    rows.push(await measure('router (compiled)', router, engines.map((e) => e.url)));
  }
  for (const spec of args['router-binary'] ?? []) {
    const [label, path] = spec.split('=');
    if (!label || !path) throw new Error(`--router-binary ${spec}: expected label=path`);
    await using router = spawnChild([path, ...common, ...probes]);
    rows.push(await measure(label, router, engines.map((e) => e.url)));
  }
  if (args.forwarder) {
    // Bun's fetch limit raised as the router raises its own, so every stream reaches an engine.
    await using forwarder = spawnChild(['bun', join(root, 'bench/min-proxy.ts'), ...engines.map((e) => e.url)], { BUN_CONFIG_MAX_HTTP_REQUESTS: '65535' });
    rows.push(await measure('forwarder (bench/min-proxy.ts)', forwarder, engines.map((e) => e.url)));
  }
  if (!args['router-only']) {
    // Same router, Bun's default fetch concurrency, small enough an admission for the client side to hold.
    await using router = spawnChild(['bun', join(root, 'testkit/router-main.ts'), ...common, ...probes, '--max-concurrent-requests', String(STREAMS)]);
    rows.push(await measure('no fetch limit set (before)', router, engines.map((e) => e.url)));
  }
} finally {
  for (const e of engines) await e[Symbol.asyncDispose]();
  binary[Symbol.dispose]();
}

console.log(`\n${STREAMS} streams (one token per ${ITL_MS} ms each) to ${engines.length} mock engines; health probes every 2 s, 2 s timeout, unhealthy after 1 failure\n`);
console.log('| router | streams reaching the engines | time to open them | probes passed / failed during the hold | /readiness | small request p50 / max (ms) | timeouts (10 s) | RSS (peak) | RSS per stream | fds | CPU per stream-second |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const done = r.smallMs.filter((x): x is number => x !== 'timeout');
  const timeouts = r.smallMs.length - done.length;
  console.log(
    `| ${r.name} | ${r.reached} / ${STREAMS} | ${(r.openMs / 1000).toFixed(1)} s | ${r.probesOk} / ${r.probesFailed} | ${r.readiness || 'no answer'} | ${done.length ? `${median(done)} / ${Math.max(...done)}` : '–'} | ${timeouts} of ${r.smallMs.length} | ${r.rssMb} MiB (${r.peakRssMb}) | ${r.rssPerStreamKib} KiB | ${r.fds} | ${((r.cpuPerStreamMs * 1000) / HOLD_MS).toFixed(3)} ms |`,
  );
}
process.exit(0);
