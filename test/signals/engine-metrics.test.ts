// EngineMetrics against real engines: mock vLLM processes (current and legacy metric names, killed
// mid-run) and small servers on real sockets for the cases a mock engine cannot show (several DP engines,
// counter resets, hangs, non-vLLM replies).
import { describe, expect, test } from 'bun:test';
import { createLogger } from '../../src/log/logger.ts';
import { createEngineMetrics, type EngineMetrics, type ScrapeTarget } from '../../src/signals/engine-metrics.ts';
import { setMock } from '../../testkit/set-mock.ts';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { until } from '../../testkit/until.ts';

const PROMPT = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');

async function complete(url: string, prompt = PROMPT): Promise<void> {
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-model', prompt, max_tokens: 4, stream: true }),
  });
  expect(res.status).toBe(200);
  await res.text();
}

function scraper(targets: () => readonly ScrapeTarget[], extra: { intervalMs?: number; timeoutMs?: number; logs?: string[] } = {}): EngineMetrics {
  return createEngineMetrics({
    endpoints: targets,
    intervalMs: extra.intervalMs ?? 60_000,
    timeoutMs: extra.timeoutMs ?? 5_000,
    now: () => performance.now(),
    log: createLogger({ level: 'debug', json: true, write: (l) => extra.logs?.push(l) }),
  });
}

/** A real HTTP server whose /metrics body the test sets; counts the scrapes it answers. */
function metricsServer(initial: string) {
  let body = initial;
  let status = 200;
  let hang = false;
  let hits = 0;
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(req) {
      if (new URL(req.url).pathname !== '/metrics') return new Response('not found', { status: 404 });
      hits++;
      if (hang) return new Promise<Response>(() => {});
      return new Response(body, { status, headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' } });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    set(next: { body?: string; status?: number; hang?: boolean }) {
      body = next.body ?? body;
      status = next.status ?? status;
      hang = next.hang ?? hang;
    },
    hits: () => hits,
    [Symbol.dispose]: () => void server.stop(true),
  };
}

const twoEngines = (running0: number, running1: number, ttftCount0: number, ttftSum0: number) => `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} ${running0}
vllm:num_requests_running{engine="1",model_name="m"} ${running1}
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 2.0
vllm:num_requests_waiting{engine="1",model_name="m"} 1.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.2
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.6
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="m"} ${ttftCount0}
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} ${ttftCount0}
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} ${ttftCount0}
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} ${ttftSum0}
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.1",model_name="m"} 0.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="+Inf",model_name="m"} 10.0
vllm:time_to_first_token_seconds_count{engine="1",model_name="m"} 10.0
vllm:time_to_first_token_seconds_sum{engine="1",model_name="m"} 5.0
`;

describe('EngineMetrics against a mock vLLM engine', () => {
  test('reads load, then TTFT, ITL, e2e and prefix hit rate over the last interval', async () => {
    await using engine = await spawnMockEngine(['--ttft-ms', '40', '--itl-ms', '5']);
    using em = scraper(() => [{ id: 'a', url: engine.url }]);

    await em.scrapeOnce();
    const first = em.get('a')!;
    expect(first).toMatchObject({ stale: false, lastError: undefined, running: 0, waiting: 0, engines: 1, legacyNames: false });
    expect(first.kvCacheUsage).toBe(0);
    // One scrape has no interval behind it yet.
    expect(first.ttft).toBeUndefined();
    expect(first.prefixCacheHitRate).toBeUndefined();

    // The same 40-token prompt three times: the 2nd and 3rd find its two 16-token blocks cached.
    for (let i = 0; i < 3; i++) await complete(engine.url);
    await em.scrapeOnce();
    const second = em.get('a')!;
    expect(second.ttft?.count).toBe(3);
    expect(second.ttft!.meanMs).toBeGreaterThanOrEqual(40);
    expect(second.ttft!.p50Ms).toBeGreaterThan(0);
    expect(second.itl?.count).toBe(9);
    expect(second.itl!.meanMs).toBeGreaterThanOrEqual(5);
    expect(second.e2e?.count).toBe(3);
    expect(second.e2e!.meanMs).toBeGreaterThanOrEqual(second.ttft!.meanMs);
    expect(second.prefixCacheHitRate).toBeCloseTo(64 / 120, 6);

    // Nothing happened during the next interval: the last window stays, only older, so a reader that
    // samples at its own pace cannot miss it.
    await em.scrapeOnce();
    const third = em.get('a')!;
    expect(third.ttft).toMatchObject({ count: 3, meanMs: second.ttft!.meanMs });
    expect(third.ttft!.ageMs).toBeGreaterThan(second.ttft!.ageMs);
    expect(third.prefixCacheHitRate).toBe(second.prefixCacheHitRate!);
    expect(third.scrapedAt!).toBeGreaterThan(second.scrapedAt!);

    // A new request makes a new window of its own.
    await complete(engine.url, 'a different prompt');
    await em.scrapeOnce();
    expect(em.get('a')!.ttft).toMatchObject({ count: 1 });
    expect(em.get('a')!.prefixCacheHitRate).toBe(0);

    await setMock(engine.url, { metricsOverride: { running: 7, waiting: 3, kvCacheUsage: 0.5 } });
    await em.scrapeOnce();
    expect(em.get('a')).toMatchObject({ running: 7, waiting: 3, kvCacheUsage: 0.5, stale: false });
  });

  test('reads the pre-0.11 names of a legacy engine', async () => {
    await using engine = await spawnMockEngine(['--legacy-metrics', '--itl-ms', '3']);
    using em = scraper(() => [{ id: 'old', url: engine.url }]);
    await em.scrapeOnce();
    for (let i = 0; i < 2; i++) await complete(engine.url);
    await setMock(engine.url, { metricsOverride: { kvCacheUsage: 0.25 } });
    await em.scrapeOnce();
    const s = em.get('old')!;
    expect(s.legacyNames).toBe(true);
    expect(s.kvCacheUsage).toBe(0.25);
    expect(s.itl?.count).toBe(6);
    expect(s.itl!.meanMs).toBeGreaterThanOrEqual(3);
    expect(s.prefixCacheHitRate).toBeCloseTo(32 / 80, 6);
  });

  test('a killed engine is marked stale and keeps its last values instead of reading as idle', async () => {
    const logs: string[] = [];
    await using engine = await spawnMockEngine();
    using em = scraper(() => [{ id: 'k', url: engine.url }], { logs, timeoutMs: 2_000 });
    await setMock(engine.url, { metricsOverride: { running: 5, waiting: 2, kvCacheUsage: 0.4 } });
    await em.scrapeOnce();
    const before = em.get('k')!;
    expect(before).toMatchObject({ stale: false, running: 5 });

    engine.proc.kill('SIGKILL');
    await engine.proc.exited;
    await em.scrapeOnce();
    await em.scrapeOnce();
    const after = em.get('k')!;
    expect(after.stale).toBe(true);
    expect(after.lastError).toBeString();
    expect(after).toMatchObject({ running: 5, waiting: 2, kvCacheUsage: 0.4, scrapedAt: before.scrapedAt });
    // One warning for the outage, not one per failed round.
    expect(logs.filter((l) => l.includes('engine metrics scrape failed'))).toHaveLength(1);
  });
});

describe('EngineMetrics against plain servers', () => {
  test('sums data-parallel engines, and reads one rank for an endpoint that addresses it, from one fetch', async () => {
    using server = metricsServer(twoEngines(3, 4, 2, 0.1));
    using em = scraper(() => [
      { id: 'whole', url: server.url },
      { id: 'rank1', url: server.url, dpRank: 1 },
      { id: 'rank5', url: server.url, dpRank: 5 },
    ]);
    await em.scrapeOnce();
    expect(server.hits()).toBe(1);
    expect(em.get('whole')).toMatchObject({ running: 7, waiting: 3, engines: 2 });
    expect(em.get('whole')!.kvCacheUsage).toBeCloseTo(0.4, 12);
    expect(em.get('rank1')).toMatchObject({ running: 4, waiting: 1, kvCacheUsage: 0.6, engines: 1 });
    // A rank the server does not report is not read as the sum of the others.
    expect(em.get('rank5')).toMatchObject({ stale: true, running: undefined, lastError: 'no vLLM metrics for engine 5 in the /metrics reply' });
  });

  test('histogram windows come from deltas, and a counter reset starts a new window', async () => {
    using server = metricsServer(twoEngines(0, 0, 2, 0.1));
    using em = scraper(() => [{ id: 'r0', url: server.url, dpRank: 0 }]);
    await em.scrapeOnce();
    server.set({ body: twoEngines(0, 0, 6, 0.3) });
    await em.scrapeOnce();
    // Four new observations summing to 0.2 s.
    expect(em.get('r0')!.ttft).toMatchObject({ count: 4 });
    expect(em.get('r0')!.ttft!.meanMs).toBeCloseTo(50, 9);
    // The engine restarted: its count fell from 6 to 1, so that one observation is the interval.
    server.set({ body: twoEngines(0, 0, 1, 0.08) });
    await em.scrapeOnce();
    expect(em.get('r0')!.ttft).toMatchObject({ count: 1 });
    expect(em.get('r0')!.ttft!.meanMs).toBeCloseTo(80, 9);
  });

  test('errors, non-vLLM replies and hangs mark the endpoint stale with the reason', async () => {
    using server = metricsServer('process_cpu_seconds_total 1.0\n');
    using em = scraper(() => [{ id: 'x', url: server.url }], { timeoutMs: 300 });
    await em.scrapeOnce();
    expect(em.get('x')).toMatchObject({ stale: true, lastError: 'no vLLM metrics in the /metrics reply', running: undefined, scrapedAt: undefined });

    server.set({ body: twoEngines(1, 1, 0, 0) });
    await em.scrapeOnce();
    expect(em.get('x')).toMatchObject({ stale: false, lastError: undefined, running: 2 });

    server.set({ status: 500 });
    await em.scrapeOnce();
    expect(em.get('x')).toMatchObject({ stale: true, lastError: 'HTTP 500', running: 2 });

    server.set({ status: 200, hang: true });
    await em.scrapeOnce();
    expect(em.get('x')).toMatchObject({ stale: true, lastError: 'timed out after 300 ms', running: 2 });
  });

  test('an endpoint never reached is stale with no values at all', async () => {
    const closed = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('') });
    const url = `http://127.0.0.1:${closed.port}`;
    await closed.stop(true);
    using em = scraper(() => [{ id: 'gone', url }]);
    expect(em.get('gone')).toBeUndefined();
    await em.scrapeOnce();
    const s = em.get('gone')!;
    expect(s).toMatchObject({ stale: true, scrapedAt: undefined, running: undefined, waiting: undefined, kvCacheUsage: undefined });
    expect(s.lastError).toBeString();
  });

  test('start() keeps scraping on its interval, forgets removed endpoints, and dispose stops it', async () => {
    using server = metricsServer(twoEngines(1, 0, 0, 0));
    let targets: ScrapeTarget[] = [
      { id: 'a', url: server.url },
      { id: 'b', url: server.url, dpRank: 1 },
    ];
    const em = scraper(() => targets, { intervalMs: 20 });
    em.start();
    await until(() => em.get('a')?.running === 1, 'first scrape');
    server.set({ body: twoEngines(5, 2, 0, 0) });
    await until(() => em.get('a')?.running === 7, 'a later scrape');
    expect(em.snapshots().size).toBe(2);
    targets = [{ id: 'a', url: server.url }];
    await until(() => em.get('b') === undefined, 'removed endpoint forgotten');
    em.dispose();
    // A round already in flight may still land; after it, a disposed scraper sends nothing.
    await em.scrapeOnce();
    const hits = server.hits();
    await em.scrapeOnce();
    expect(server.hits()).toBe(hits);
    expect(em.snapshots().size).toBe(1);
  });
});
