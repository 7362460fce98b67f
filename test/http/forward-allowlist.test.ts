// The catch-all forwards by an allow-list: vLLM's client routes go through, its admin routes need the admin key
// (exactly like the router's own admin API), and any other path is a 404 that never reaches an engine.
import { describe, expect, test } from 'bun:test';
import { Hono } from 'hono';
import { createRegistry } from '../../src/core/registry.ts';
import { retryPolicy } from '../../src/core/retry.ts';
import { adminCheck } from '../../src/http/auth.ts';
import { pathOf, type AppEnv } from '../../src/http/context.ts';
import { forwardRules } from '../../src/wire/engine-paths.ts';
import { addFallbackRoute } from '../../src/http/routes/fallback.ts';
import { createLogger } from '../../src/log/logger.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { createPolicy } from '../../src/policies/index.ts';
import { createRegularRouter } from '../../src/routing/regular.ts';
import { createEndpointStats } from '../../src/signals/endpoint-stats.ts';
import { routedPath, startMockEngine, type MockEngine } from '../../testkit/mock-engine.ts';
import { rawExchange } from '../resilience/raw-http.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { parseEnvelope } from '../support/parse-envelope.ts';
import { startTestRouter } from '../support/router.ts';
import { ENGINE_ADMIN_PATHS } from './engine-route-lists.ts';
import { createBodyBudget } from '../../src/http/body-budget.ts';
import { Admission } from '../../src/core/admission.ts';
import { NOOP_TRACER } from '../../src/tracing/tracer.ts';

const ADMIN = 'admin-secret';
const CLIENT = 'client-key';
const ENGINE_KEY = 'engine-key';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Every path the engine routed (uvicorn decodes before Starlette matches) that is one of vLLM's admin routes. */
const adminArrivals = (engine: MockEngine) => engine.received.map((q) => routedPath(q.path)).filter((p) => (ENGINE_ADMIN_PATHS as readonly string[]).includes(p));

/** What the engine received from clients through the router (the router's own health probes left out). */
const forwarded = (engine: MockEngine) => engine.received.filter((q) => q.path !== '/health' && !(q.method === 'GET' && q.path === '/v1/models')).map((q) => q.path);

async function envelopeOf(res: Response) {
  const text = await res.text();
  const envelope = parseEnvelope(text);
  if (envelope === undefined) throw new Error(`${res.status} is not an OpenAI envelope: ${text.slice(0, 200)}`);
  return { status: res.status, ...envelope };
}

const call = (url: string, path: string, headers: Record<string, string> = {}) => fetch(`${url}${path}`, { method: path === '/is_sleeping' || path === '/metrics' ? 'GET' : 'POST', headers });

describe("vLLM's administrative routes", () => {
  test('need the admin key: without it, with a wrong one or with a client key they are refused like /flush_cache and never reach the engine', async () => {
    await using engine = await startMockEngine({ model: 'm', devMode: true });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--admin-api-key', ADMIN, '--api-keys', CLIENT]);
    for (const headers of [{}, bearer('wrong'), bearer(CLIENT)]) {
      for (const path of [...ENGINE_ADMIN_PATHS, '/flush_cache']) {
        const res = await call(r.url, path, headers);
        expect(res.headers.get('www-authenticate')).toBe('Bearer');
        const e = await envelopeOf(res);
        expect([path, e.status, e.type, e.code]).toEqual([path, 401, 'authentication_error', 'unauthorized']);
      }
    }
    expect(adminArrivals(engine)).toEqual([]);
    expect(engine.devCalls).toEqual([]);
    // Counted as admin refusals, as the router's own admin routes are.
    const refusals = metricValue(await (await fetch(r.router.metricsUrl)).text(), 'vllm_router_request_errors_total', { route: 'admin', error_type: 'unauthorized' });
    expect(refusals).toBe(3 * (ENGINE_ADMIN_PATHS.length + 1));
  });

  test('the same without client keys configured', async () => {
    await using engine = await startMockEngine({ model: 'm', devMode: true });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--admin-api-key', ADMIN]);
    for (const path of ENGINE_ADMIN_PATHS) expect([path, (await call(r.url, path)).status]).toEqual([path, 401]);
    expect(adminArrivals(engine)).toEqual([]);
  });

  test('with the admin key they are forwarded with the router --api-key, never the admin key', async () => {
    await using engine = await startMockEngine({ model: 'm', apiKey: ENGINE_KEY, devMode: true });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--admin-api-key', ADMIN, '--api-keys', CLIENT, '--api-key', ENGINE_KEY]);
    const reset = await call(r.url, '/reset_prefix_cache?reset_running_requests=true', bearer(ADMIN));
    expect(reset.status).toBe(200);
    expect((await call(r.url, '/sleep?level=1', bearer(ADMIN))).status).toBe(200);
    const sleeping = await call(r.url, '/is_sleeping', bearer(ADMIN));
    expect(await sleeping.json()).toEqual({ is_sleeping: true });
    expect(engine.devCalls).toEqual(['/reset_prefix_cache', '/sleep']);
    const arrival = engine.received.find((q) => q.path === '/reset_prefix_cache')!;
    expect(arrival.query).toBe('?reset_running_requests=true');
    expect(arrival.headers.authorization).toBe(`Bearer ${ENGINE_KEY}`);
  });

  test('without a router --api-key the admin key is not passed on to the engine', async () => {
    await using engine = await startMockEngine({ model: 'm', devMode: true });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--admin-api-key', ADMIN]);
    expect((await call(r.url, '/reset_prefix_cache', bearer(ADMIN))).status).toBe(200);
    expect(engine.received.find((q) => q.path === '/reset_prefix_cache')!.headers.authorization).toBeUndefined();
  });

  test('no spelling of an admin route gets past the check: encodings, slashes, case, dot segments, queries', async () => {
    await using engine = await startMockEngine({ model: 'm', devMode: true });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--admin-api-key', ADMIN]);
    const address = { hostname: '127.0.0.1', port: Number(new URL(r.url).port) };
    // Raw request lines: fetch would normalise these before they left the test.
    const tricks: [string, number][] = [
      ['//reset_prefix_cache', 404],
      ['///sleep', 404],
      ['/%72eset_prefix_cache', 404],
      ['/reset%5Fprefix_cache', 404],
      ['/%2Freset_prefix_cache', 404],
      ['/reset_prefix_cache/', 404],
      ['/RESET_PREFIX_CACHE', 404],
      ['/Sleep', 404],
      ['/reset_prefix_cache%00', 404],
      ['/reset_prefix_cache;x=1', 404],
      ['/v1/%2e%2e/collective_rpc', 401],
      ['/v1/../reset_prefix_cache', 401],
      ['/v1/./../sleep', 401],
      ['/tokenize/../sleep', 401],
      ['/v1\\..\\wake_up', 401],
      ['/reset_prefix_cache?x=/tokenize', 401],
      ['/reset_prefix_cache#/tokenize', 404],
      // A query is never part of the path: this is /tokenize, and the engine's own 400 for `{}` comes back.
      ['/tokenize?/../../reset_prefix_cache', 400],
      ['/v1/responses/..%2F..%2Freset_prefix_cache', 404],
      ['http://engine/reset_prefix_cache', 401],
    ];
    for (const [target, status] of tricks) {
      const answer = await rawExchange(address, `POST ${target} HTTP/1.1\r\nHost: r\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
      expect([target, answer.kind === 'response' ? answer.status : answer.kind]).toEqual([target, status]);
    }
    expect(adminArrivals(engine)).toEqual([]);
    expect(engine.devCalls).toEqual([]);
  });
});

describe('client routes and unlisted paths', () => {
  test("vLLM's inference and information routes go through with a client key", async () => {
    await using engine = await startMockEngine({ model: 'm', devMode: true });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--admin-api-key', ADMIN, '--api-keys', CLIENT]);
    const json = { ...bearer(CLIENT), 'content-type': 'application/json' };
    const tokenize = await fetch(`${r.url}/tokenize`, { method: 'POST', headers: json, body: '{"model":"m","prompt":"a b c"}' });
    expect(((await tokenize.json()) as { count: number }).count).toBe(3);
    expect((await fetch(`${r.url}/detokenize`, { method: 'POST', headers: json, body: '{"model":"m","tokens":[1,2]}' })).status).toBe(200);
    expect((await fetch(`${r.url}/v2/rerank`, { method: 'POST', headers: json, body: '{"model":"m","query":"a","documents":["a b"]}' })).status).toBe(200);
    for (const path of ['/version', '/load', '/ping']) expect([path, (await fetch(`${r.url}${path}`, { headers: bearer(CLIENT) })).status]).toEqual([path, 200]);
    // Another method on a listed route reaches the engine, whose 405 comes back in the router's envelope.
    const wrongMethod = await envelopeOf(await fetch(`${r.url}/tokenize`, { method: 'GET', headers: bearer(CLIENT) }));
    expect([wrongMethod.status, wrongMethod.code]).toEqual([405, 'method_not_allowed']);
    expect(forwarded(engine)).toEqual(['/tokenize', '/detokenize', '/v2/rerank', '/version', '/load', '/ping', '/tokenize']);
    // The client key is still required for them.
    expect((await fetch(`${r.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(401);
  });

  test('an unlisted path is a 404 that says how to allow it, and never reaches the engine', async () => {
    await using engine = await startMockEngine({ model: 'm', devMode: true });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    for (const [method, path] of [['GET', '/no/such/route'], ['POST', '/v1/files'], ['DELETE', '/custom/route?x=1'], ['PUT', '/tokenize/']] as const) {
      const e = await envelopeOf(await fetch(`${r.url}${path}`, { method, body: method === 'GET' ? undefined : '{}' }));
      expect([path, e.status, e.type, e.code]).toEqual([path, 404, 'not_found_error', 'not_found']);
      expect(e.message).toContain('--forward-paths');
    }
    expect(forwarded(engine)).toEqual([]);
    expect(metricValue(await (await fetch(r.router.metricsUrl)).text(), 'vllm_router_request_errors_total', { route: 'fallback', error_type: 'not_found' })).toBe(4);
  });

  test('--forward-paths opens exactly what it names', async () => {
    await using engine = await startMockEngine({ model: 'm', devMode: true });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin', '--admin-api-key', ADMIN, '--forward-paths', '/custom/route', '/v1/files/*']);
    const statusOf = async (path: string) => (await fetch(`${r.url}${path}`, { method: 'POST', body: '{}' })).status;
    // The mock engine has no such routes: its 404 comes back as the router's envelope, after the forward.
    expect(await statusOf('/custom/route')).toBe(404);
    expect(await statusOf('/v1/files/file-1')).toBe(404);
    expect(await statusOf('/v1/files/file-1/content')).toBe(404);
    expect(forwarded(engine)).toEqual(['/custom/route', '/v1/files/file-1', '/v1/files/file-1/content']);
    for (const path of ['/custom/route/x', '/custom', '/v1/files', '/v1/files/', '/v1/filesx', '/other']) expect([path, await statusOf(path)]).toEqual([path, 404]);
    expect(forwarded(engine).length).toBe(3);
    // An operator prefix never opens an admin route.
    expect(await statusOf('/reset_prefix_cache')).toBe(401);
    expect(adminArrivals(engine)).toEqual([]);
  });

  test('a bad --forward-paths entry is a config error that names the flag, the value and the reason', async () => {
    for (const [value, reason] of [['custom', 'must start with /'], ['/a%2Fb', 'plain path segments'], ['/sleep', 'administrative route']] as const) {
      const run = Bun.spawnSync(['bun', new URL('../../src/main.ts', import.meta.url).pathname, '--worker-urls', 'http://127.0.0.1:1', '--forward-paths', value], { stdout: 'pipe', stderr: 'pipe' });
      expect(run.exitCode).toBe(2);
      const out = run.stderr.toString() + run.stdout.toString();
      expect(out).toContain(`--forward-paths '${value}'`);
      expect(out).toContain(reason);
    }
  });
});

describe('without --admin-api-key', () => {
  /** The real fallback route and regular router, with the client's address as the admin check sees it. */
  async function routerSeenFrom(peer: string, engineUrl: string) {
    const log = createLogger({ level: 'error', json: true, write: () => {} });
    const metrics = createMetrics();
    const registry = createRegistry();
    registry.add({ url: engineUrl });
    const router = createRegularRouter({
      registry,
      policy: createPolicy('round_robin', { random: Math.random, now: Date.now, options: { cacheThreshold: 0.3, balanceAbsThreshold: 64, balanceRelThreshold: 1.5, evictionIntervalSecs: 120, maxTreeSize: 1 << 20 } })!,
      metrics,
      log,
      stats: createEndpointStats(),
      retry: retryPolicy({ maxAttempts: 1, initialBackoffMs: 1, maxBackoffMs: 1, multiplier: 1, jitter: 0 }),
      now: () => performance.now(),
      random: Math.random,
      requestTimeoutMs: 60_000,
      stallTimeoutMs: 60_000,
      apiKey: undefined,
      modelLabel: () => 'm',
    });
    const app = new Hono<AppEnv>({ getPath: pathOf });
    app.use('*', async (c, next) => {
      c.set('requestId', 'r1');
      c.set('startedAt', performance.now());
      await next();
    });
    const admission = new Admission({ capacity: 16, queueSize: 0, queueTimeoutMs: 1000 }, { now: () => performance.now() });
    addFallbackRoute(app, { router, metrics, log, admission, tracer: NOOP_TRACER, now: () => performance.now(), priorityHeader: 'x-request-priority', bodyLimits: { maxBytes: 1 << 20, budget: createBodyBudget(1 << 30) }, rules: forwardRules([]), adminCheck: adminCheck({ adminApiKey: undefined, log, peerAddress: () => peer }) });
    const server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: (req, srv) => app.fetch(req, { server: srv }) });
    return { url: `http://127.0.0.1:${server.port}`, [Symbol.asyncDispose]: () => server.stop(true) };
  }

  test('a client on another address is refused with 403 and the engine never hears of it', async () => {
    await using engine = await startMockEngine({ model: 'm', devMode: true });
    await using r = await routerSeenFrom('192.0.2.7', engine.url);
    for (const path of ENGINE_ADMIN_PATHS) {
      const e = await envelopeOf(await call(r.url, path, bearer('anything')));
      expect([path, e.status, e.message]).toEqual([path, 403, 'The admin API answers only on loopback when no --admin-api-key is configured']);
    }
    expect(forwarded(engine)).toEqual([]);
    // Client routes still go through for it.
    expect((await fetch(`${r.url}/version`)).status).toBe(200);
  });

  test('a loopback client may call them, as it may call the router admin API', async () => {
    await using engine = await startMockEngine({ model: 'm', devMode: true });
    await using r = await routerSeenFrom('127.0.0.1', engine.url);
    expect((await call(r.url, '/reset_prefix_cache')).status).toBe(200);
    expect(engine.devCalls).toEqual(['/reset_prefix_cache']);
  });
});

describe('other modes', () => {
  test('PD mode forwards the same way: admin routes need the key, unlisted paths are 404', async () => {
    await using prefill = await startMockEngine({ model: 'm', role: 'prefill', devMode: true });
    await using decode = await startMockEngine({ model: 'm', role: 'decode', devMode: true });
    await using r = await startTestRouter(['--vllm-pd-disaggregation', '--prefill', prefill.url, 'none', '--decode', decode.url, '--policy', 'round_robin', '--admin-api-key', ADMIN]);
    expect((await call(r.url, '/reset_prefix_cache')).status).toBe(401);
    expect((await fetch(`${r.url}/no/such/route`)).status).toBe(404);
    expect([...forwarded(prefill), ...forwarded(decode)]).toEqual([]);
    expect((await call(r.url, '/reset_prefix_cache', bearer(ADMIN))).status).toBe(200);
    const tokenize = await fetch(`${r.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"m","prompt":"a b"}' });
    expect(((await tokenize.json()) as { count: number }).count).toBe(2);
    expect([...prefill.devCalls, ...decode.devCalls]).toEqual(['/reset_prefix_cache']);
  });

  test('--backend openai still serves the OpenAI routes only', async () => {
    await using engine = await startMockEngine({ model: 'm', devMode: true });
    await using r = await startTestRouter(['--backend', 'openai', '--worker-urls', engine.url, '--admin-api-key', ADMIN]);
    for (const path of ['/reset_prefix_cache', '/tokenize', '/no/such/route']) expect([path, (await call(r.url, path, bearer(ADMIN))).status]).toEqual([path, 404]);
    expect(forwarded(engine).filter((p) => p !== '/v1/models')).toEqual([]);
  });
});
