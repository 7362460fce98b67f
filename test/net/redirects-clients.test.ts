// The router's background clients never follow a redirect either: engine /metrics scrapes, the OTLP exporter, the
// Kubernetes client, the Mooncake bootstrap lookup and the API key validator, each against a redirecting peer.
import { describe, expect, test } from 'bun:test';
import { createKubeClient } from '../../src/discovery/kube-client.ts';
import { createVerdictCache } from '../../src/http/api-key-cache.ts';
import { createApiKeyValidator } from '../../src/http/api-key-validator.ts';
import { createLogger } from '../../src/log/logger.ts';
import { outboundFetch } from '../../src/net/fetch.ts';
import { probe } from '../../src/net/probe.ts';
import { createMooncakeBootstrap } from '../../src/routing/pd/mooncake-bootstrap.ts';
import { createEngineMetrics } from '../../src/signals/engine-metrics.ts';
import { OtlpExporter } from '../../src/tracing/otlp-exporter.ts';
import { FakeKubernetes } from '../fixtures/fake-k8s.ts';
import { startRedirectTrap, type RedirectStatus } from '../fixtures/redirect-trap.ts';

const STATUSES: RedirectStatus[] = [302, 307, 308];
const NOTE = '(redirects are not followed)';
const ALL_PODS = { namespace: undefined, labelSelector: 'app=vllm' };

describe.each(STATUSES)('a peer answering %d', (status) => {
  test('the one outbound fetch returns the 3xx itself, even when asked to follow', async () => {
    await using trap = startRedirectTrap({ status });
    const res = await outboundFetch(`${trap.url}/x`, { method: 'POST', body: 'secret', redirect: 'follow' as never });
    expect(res.status).toBe(status);
    expect(res.headers.get('location')).toBe(`${trap.targetUrl}/x`);
    await res.body?.cancel();
    expect(trap.contacts).toEqual([]);
  });

  test('the probe client returns the 3xx itself', async () => {
    await using trap = startRedirectTrap({ status });
    const answer = await probe({ url: `${trap.url}/health`, timeoutMs: 5_000, maxBodyBytes: 1024 });
    expect(answer).toMatchObject({ kind: 'answer', status });
    expect(trap.contacts).toEqual([]);
  });

  test('an engine /metrics scrape fails and reads nothing from behind the redirect', async () => {
    await using trap = startRedirectTrap({ status, redirects: (p) => p === '/metrics' });
    using metrics = createEngineMetrics({ endpoints: () => [{ id: trap.url, url: trap.url }], intervalMs: 60_000, timeoutMs: 5_000, now: () => performance.now() });
    await metrics.scrapeOnce();
    expect(metrics.get(trap.url)).toMatchObject({ stale: true, running: undefined, lastError: `HTTP ${status} ${NOTE}` });
    expect(trap.received).toEqual(['GET /metrics']);
    expect(trap.contacts).toEqual([]);
  });

  test('the OTLP exporter loses the batch, once, and the spans never reach the redirect target', async () => {
    await using trap = startRedirectTrap({ status });
    const errors: string[] = [];
    await using exporter = new OtlpExporter({ url: `${trap.url}/v1/traces`, flushIntervalMs: 10, initialBackoffMs: 5, maxBackoffMs: 20, random: () => 0.5, onError: (m) => errors.push(m) });
    exporter.enqueue({
      name: 'secret-span',
      kind: 'server',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      parentSpanId: undefined,
      parentIsRemote: false,
      traceState: undefined,
      startMs: 1_700_000_000_000,
      endMs: 1_700_000_000_001,
      attributes: {},
      status: { code: 'unset' },
    });
    await exporter.flush();
    expect(exporter.stats()).toMatchObject({ exported: 0, failed: 1 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`after 1 attempts: HTTP ${status} ${NOTE}`);
    expect(trap.received).toEqual(['POST /v1/traces']);
    expect(trap.contacts).toEqual([]);
  });

  test('the Kubernetes client refuses a redirected list and watch, and the API server behind it is never asked', async () => {
    await using k8s = FakeKubernetes.start();
    k8s.addPod({ name: 'a', labels: { app: 'vllm' } });
    await using trap = startRedirectTrap({ status, to: k8s.url });
    const kube = createKubeClient({ credentials: { server: trap.url, auth: { kind: 'token', token: 'service-account-token' }, tls: { rejectUnauthorized: true }, namespace: undefined, source: 'test' } });
    const failure = { kind: 'http' as const, status, message: `HTTP ${status} ${NOTE}` };
    expect(await kube.listPods(ALL_PODS, AbortSignal.timeout(5_000))).toEqual({ ok: false, failure });
    const items = [];
    for await (const item of kube.watchPods(ALL_PODS, '1', AbortSignal.timeout(5_000))) items.push(item);
    expect(items).toEqual([{ type: 'END', failure }]);
    expect(trap.received).toEqual(['GET /api/v1/pods', 'GET /api/v1/pods']);
    expect(k8s.requests).toEqual([]);
  });

  test('the Mooncake bootstrap lookup gives no engine id from behind the redirect', async () => {
    await using trap = startRedirectTrap({ status });
    using bootstrap = createMooncakeBootstrap({ attempts: 1, maxWaitMs: 5_000 });
    const id = await bootstrap.engineId({ url: trap.url, bootstrapPort: Number(new URL(trap.url).port), dpRank: undefined }, AbortSignal.timeout(5_000));
    expect(id).toMatchObject({ kind: 'upstream_unreachable' });
    expect((id as { message: string }).message).toContain(`answered HTTP ${status} ${NOTE}`);
    expect(trap.received).toEqual(['GET /query']);
    expect(trap.contacts).toEqual([]);
  });

  test('the API key validator takes a redirect for a "no", says so, and the token goes nowhere else', async () => {
    await using trap = startRedirectTrap({ status });
    const logs: string[] = [];
    const validator = createApiKeyValidator({
      urls: [`${trap.url}/validate`],
      timeoutMs: 5_000,
      cache: createVerdictCache({ positiveTtlMs: 60_000, negativeTtlMs: 60_000, maxEntries: 10, now: () => performance.now() }),
      log: createLogger({ level: 'debug', json: true, write: (l) => logs.push(l) }),
    });
    expect(await validator.check('user-token')).toBe('invalid');
    expect(logs.some((l) => l.includes('redirects are not followed') && l.includes(`"status":${status}`))).toBe(true);
    expect(trap.received).toEqual(['GET /validate']);
    expect(trap.contacts).toEqual([]);
  });
});
