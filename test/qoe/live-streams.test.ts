// The router shows a policy each stream it is relaying, as far as it has come: the real regular router in
// front of a mock engine streaming tokens, read through the EndpointStats the policies are given.
import { describe, expect, test } from 'bun:test';
import { createRegistry } from '../../src/core/registry.ts';
import { retryPolicy } from '../../src/core/retry.ts';
import { createLogger } from '../../src/log/logger.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { createPolicy } from '../../src/policies/index.ts';
import { createRegularRouter } from '../../src/routing/regular.ts';
import { createEndpointStats, type LiveStream } from '../../src/signals/endpoint-stats.ts';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { until } from '../../testkit/until.ts';

async function routerOver(engineUrl: string) {
  const registry = createRegistry();
  registry.add({ url: engineUrl });
  const stats = createEndpointStats();
  const now = () => performance.now();
  const router = createRegularRouter({
    registry,
    policy: createPolicy('round_robin', { random: Math.random, now, options: { cacheThreshold: 0.3, balanceAbsThreshold: 64, balanceRelThreshold: 1.5, evictionIntervalSecs: 120, maxTreeSize: 1 << 20 } })!,
    metrics: createMetrics(),
    log: createLogger({ level: 'error', json: true, write: () => {} }),
    stats,
    retry: retryPolicy({ maxAttempts: 1, initialBackoffMs: 1, maxBackoffMs: 1, multiplier: 1, jitter: 0 }),
    now,
    random: Math.random,
    requestTimeoutMs: 60_000,
    stallTimeoutMs: 60_000,
    apiKey: undefined,
    modelLabel: () => 'm',
  });
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const bytes = new Uint8Array(await req.arrayBuffer());
      return router.route({
        route: '/v1/completions',
        upstreamPath: '/v1/completions',
        method: 'POST',
        headers: req.headers,
        bytes,
        json: JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>,
        requestId: 'r1',
        clientSignal: req.signal,
        startedAt: now(),
      });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, stats, id: registry.all('regular')[0]!.id, now, [Symbol.asyncDispose]: () => server.stop(true) };
}

describe('live streams', () => {
  test('a stream being relayed is visible at its endpoint with its first and latest chunk times and gaps so far, and gone when it ends', async () => {
    await using engine = await startMockEngine({ model: 'm', ttftMs: 5, itlMs: 10 });
    await using r = await routerOver(engine.url);
    expect(r.stats.live(r.id)?.size ?? 0).toBe(0);
    const res = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'p', max_tokens: 200, stream: true }) });
    expect(res.status).toBe(200);
    const stream = () => r.stats.live(r.id)?.values().next().value as LiveStream | undefined;
    // While it streams (200 tokens at 10 ms each), the policy sees it come along without its end.
    await until(() => (stream()?.gaps ?? 0) >= 3, 'three gaps relayed');
    const seen = stream()!;
    expect(r.stats.live(r.id)!.size).toBe(1);
    expect(seen.firstAt).toBeDefined();
    expect(seen.lastAt).toBeGreaterThan(seen.firstAt!);
    expect(seen.lastAt).toBeLessThanOrEqual(r.now());
    const text = await res.text();
    expect(text).toContain('[DONE]');
    await until(() => (r.stats.live(r.id)?.size ?? 0) === 0, 'the stream gone from its endpoint');
    // Its meter saw every token: 200 chunks at most, so 199 gaps at most, and more than it had mid-stream.
    expect(seen.gaps).toBeGreaterThan(3);
    expect(seen.gaps).toBeLessThanOrEqual(199);
  });

  test('a stream whose leg ended without a first byte never appears; the endpoint stats keep no set for it', () => {
    const stats = createEndpointStats();
    stats.started('e', 0);
    stats.finished('e', { ok: false, sawFirstByte: false });
    expect(stats.live('e')).toBeUndefined();
    const s: LiveStream = { firstAt: 1, lastAt: 1, gaps: 0 };
    stats.started('e', 0);
    stats.firstByte('e', 1, 1, s);
    expect([...stats.live('e')!]).toEqual([s]);
    stats.finished('e', { ok: true, sawFirstByte: true, stream: s });
    expect(stats.live('e')!.size).toBe(0);
  });
  test('a leg that ends before a first byte (a whole answer) leaves the prefill count, as a stream leaves the decode count', async () => {
    await using engine = await startMockEngine({ model: 'm', ttftMs: 1, itlMs: 1 });
    await using r = await routerOver(engine.url);
    for (const stream of [false, true]) {
      const res = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'p', max_tokens: 4, stream }) });
      expect(res.status).toBe(200);
      await res.text();
    }
    await until(() => r.stats.snapshot(r.id, r.now()).completed === 2, 'both legs finished');
    const after = r.stats.snapshot(r.id, r.now());
    expect({ inPrefill: after.inPrefill, inDecode: after.inDecode }).toEqual({ inPrefill: 0, inDecode: 0 });
  });
});
