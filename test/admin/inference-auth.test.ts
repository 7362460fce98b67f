import { describe, expect, test } from 'bun:test';
import { createVerdictCache } from '../../src/http/api-key-cache.ts';
import { createApiKeyValidator } from '../../src/http/api-key-validator.ts';
import { createLogger } from '../../src/log/logger.ts';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { until } from '../../testkit/until.ts';
import { bearer, startAdminRouter } from './harness.ts';

/** A key service as --api-key-validation-urls expects: GET with the bearer token, 200 for a valid one. */
function startValidator(valid: readonly string[]) {
  const seen: { method: string; authorization: string | null }[] = [];
  let mode: 'answer' | 'fail' = 'answer';
  let release: (() => void) | undefined;
  let gate: Promise<void> | undefined;
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      seen.push({ method: req.method, authorization: req.headers.get('authorization') });
      if (gate !== undefined) await gate;
      if (mode === 'fail') return new Response('down', { status: 503 });
      const token = req.headers.get('authorization')?.replace(/^Bearer /, '') ?? '';
      return valid.includes(token) ? Response.json({ id: 1 }) : new Response('nope', { status: 401 });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/api/v4/user`,
    seen,
    fail: (on: boolean) => void (mode = on ? 'fail' : 'answer'),
    /** Holds every answer until `open` is called. */
    hold: () => void (gate = new Promise((r) => (release = r))),
    open: () => (release?.(), (gate = undefined)),
    [Symbol.asyncDispose]: () => server.stop(true),
  };
}

const completion = (url: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: 'mock-model', prompt: 'hi', max_tokens: 1 }) });

describe('--api-key-validation-urls', () => {
  test('a token the validator accepts passes; it was sent as a GET with the bearer token', async () => {
    await using engine = await spawnMockEngine();
    await using validator = startValidator(['good-token']);
    await using r = await startAdminRouter({ endpoints: [engine.url], validationUrls: [validator.url] });
    expect((await completion(r.url, bearer('good-token'))).status).toBe(200);
    expect(validator.seen).toEqual([{ method: 'GET', authorization: 'Bearer good-token' }]);
  });

  test('missing and refused tokens get 401 with a Bearer challenge in the OpenAI envelope', async () => {
    await using validator = startValidator(['good-token']);
    await using r = await startAdminRouter({ validationUrls: [validator.url] });
    for (const headers of [{}, bearer('bad-token'), { authorization: 'Basic Z29vZC10b2tlbg==' }]) {
      const res = await completion(r.url, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      const { error } = (await res.json()) as { error: { type: string; code: string } };
      expect(error).toMatchObject({ type: 'authentication_error', code: 'unauthorized' });
    }
    expect(validator.seen).toHaveLength(1);
  });

  test('verdicts are cached: repeated and concurrent requests ask the validator once; expiry asks again', async () => {
    let clock = 0;
    await using engine = await spawnMockEngine();
    await using validator = startValidator(['good-token']);
    await using r = await startAdminRouter({ endpoints: [engine.url], validationUrls: [validator.url], positiveTtlMs: 60_000, negativeTtlMs: 5_000, now: () => clock });

    // Ten requests at once with a token nobody has checked yet: one call, shared.
    validator.hold();
    const burst = Array.from({ length: 10 }, () => completion(r.url, bearer('good-token')));
    await until(() => validator.seen.length === 1, 'the first validation call');
    validator.open();
    expect((await Promise.all(burst)).map((res) => res.status)).toEqual(Array(10).fill(200));
    expect(validator.seen).toHaveLength(1);

    for (let i = 0; i < 5; i++) expect((await completion(r.url, bearer('good-token'))).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await completion(r.url, bearer('bad-token'))).status).toBe(401);
    expect(validator.seen.map((s) => s.authorization)).toEqual(['Bearer good-token', 'Bearer bad-token']);

    // The negative verdict expires first (a newly issued key works soon); the positive one is still held.
    clock = 5_000;
    expect((await completion(r.url, bearer('bad-token'))).status).toBe(401);
    expect((await completion(r.url, bearer('good-token'))).status).toBe(200);
    expect(validator.seen).toHaveLength(3);

    clock = 60_000;
    expect((await completion(r.url, bearer('good-token'))).status).toBe(200);
    expect(validator.seen.map((s) => s.authorization)).toEqual(['Bearer good-token', 'Bearer bad-token', 'Bearer bad-token', 'Bearer good-token']);
  });

  test('an unreachable validator is a 503 with Retry-After, remembered by nobody; the next request asks again', async () => {
    await using engine = await spawnMockEngine();
    await using validator = startValidator(['good-token']);
    const closed = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('') });
    const deadUrl = `http://127.0.0.1:${closed.port}/validate`;
    await closed.stop(true);
    await using r = await startAdminRouter({ endpoints: [engine.url], validationUrls: [deadUrl] });
    const res = await completion(r.url, bearer('good-token'));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('server_error');

    await using r2 = await startAdminRouter({ endpoints: [engine.url], validationUrls: [validator.url] });
    validator.fail(true);
    expect((await completion(r2.url, bearer('good-token'))).status).toBe(503);
    validator.fail(false);
    expect((await completion(r2.url, bearer('good-token'))).status).toBe(200);
    expect(validator.seen).toHaveLength(2);
  });

  test('validators are asked in order: the first yes wins, a no falls through to the next', async () => {
    await using engine = await spawnMockEngine();
    await using first = startValidator(['team-a']);
    await using second = startValidator(['team-b']);
    await using r = await startAdminRouter({ endpoints: [engine.url], validationUrls: [first.url, second.url] });
    expect((await completion(r.url, bearer('team-a'))).status).toBe(200);
    expect(second.seen).toHaveLength(0);
    expect((await completion(r.url, bearer('team-b'))).status).toBe(200);
    expect((await completion(r.url, bearer('team-c'))).status).toBe(401);
    expect([first.seen.length, second.seen.length]).toEqual([3, 2]);
  });

  test('a validator that redirects is not followed and counts as a no', async () => {
    let followed = 0;
    await using target = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => (followed++, new Response('ok')) });
    await using redirecting = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => Response.redirect(`http://127.0.0.1:${target.port}/`, 302) });
    await using r = await startAdminRouter({ validationUrls: [`http://127.0.0.1:${redirecting.port}/`] });
    expect((await completion(r.url, bearer('some-token'))).status).toBe(401);
    expect(followed).toBe(0);
  });
});

describe('static key list', () => {
  test('listed keys pass without any validator; others and none are refused', async () => {
    await using engine = await spawnMockEngine();
    await using r = await startAdminRouter({ endpoints: [engine.url], staticKeys: ['key-one', 'key-two'] });
    expect((await completion(r.url, bearer('key-one'))).status).toBe(200);
    expect((await completion(r.url, bearer('key-two'))).status).toBe(200);
    expect((await completion(r.url, bearer('key-three'))).status).toBe(401);
    expect((await completion(r.url)).status).toBe(401);
  });

  test('static keys are checked before the validators, which still decide for other tokens', async () => {
    await using engine = await spawnMockEngine();
    await using validator = startValidator(['service-token']);
    await using r = await startAdminRouter({ endpoints: [engine.url], staticKeys: ['local-key'], validationUrls: [validator.url] });
    expect((await completion(r.url, bearer('local-key'))).status).toBe(200);
    expect(validator.seen).toHaveLength(0);
    expect((await completion(r.url, bearer('service-token'))).status).toBe(200);
    expect(validator.seen).toHaveLength(1);
  });

  test('probe paths answer without a key; everything else, unknown paths included, needs one', async () => {
    await using r = await startAdminRouter({ staticKeys: ['key-one'] });
    expect((await fetch(`${r.url}/health`)).status).toBe(200);
    expect((await fetch(`${r.url}/v1/models`)).status).toBe(401);
    expect((await fetch(`${r.url}/anything/else`)).status).toBe(401);
  });

  test('without keys or validators the client check is off', async () => {
    await using engine = await spawnMockEngine();
    await using r = await startAdminRouter({ endpoints: [engine.url] });
    expect((await completion(r.url)).status).toBe(200);
  });
});

describe('validator', () => {
  test('concurrent checks of one token share a single call', async () => {
    await using validator = startValidator(['good-token']);
    const check = createApiKeyValidator({
      urls: [validator.url],
      timeoutMs: 2000,
      log: createLogger({ level: 'error', json: true, write: () => {} }),
      cache: createVerdictCache({ positiveTtlMs: 1000, negativeTtlMs: 1000, maxEntries: 10, now: () => 0 }),
    });
    validator.hold();
    const verdicts = Promise.all(Array.from({ length: 20 }, () => check.check('good-token')));
    const other = check.check('other-token');
    await until(() => validator.seen.length === 2, 'both validation calls');
    validator.open();
    expect(new Set(await verdicts)).toEqual(new Set(['valid']));
    expect(await other).toBe('invalid');
    expect(validator.seen).toHaveLength(2);
  });
});

describe('verdict cache', () => {
  test('evicts the least recently used entry when full', () => {
    const cache = createVerdictCache({ positiveTtlMs: 1000, negativeTtlMs: 1000, maxEntries: 2, now: () => 0 });
    cache.set('a', true);
    cache.set('b', false);
    expect(cache.get('a')).toBe(true);
    cache.set('c', true);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(true);
    expect(cache.get('c')).toBe(true);
    expect(cache.size).toBe(2);
  });

  test('a zero time to live remembers nothing', () => {
    const cache = createVerdictCache({ positiveTtlMs: 1000, negativeTtlMs: 0, maxEntries: 10, now: () => 0 });
    cache.set('bad', false);
    expect(cache.get('bad')).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});
