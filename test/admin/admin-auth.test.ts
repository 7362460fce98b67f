import { describe, expect, test } from 'bun:test';
import { networkInterfaces } from 'node:os';
import { bearerToken, constantTimeEqual, isLoopback, parseKeyList } from '../../src/http/auth.ts';
import { bearer, startAdminRouter } from './harness.ts';

const ADMIN_CALLS: readonly [string, string][] = [
  ['POST', '/add_worker?url=http://127.0.0.1:1'],
  ['POST', '/remove_worker?url=http://127.0.0.1:1'],
  ['GET', '/list_workers'],
  ['POST', '/workers'],
  ['GET', '/workers'],
  ['GET', '/workers/http%3A%2F%2F127.0.0.1%3A1'],
  ['DELETE', '/workers/http%3A%2F%2F127.0.0.1%3A1'],
  ['POST', '/flush_cache'],
  ['GET', '/get_loads'],
  ['PATCH', '/workers'],
];

/** An address of this host that is not loopback, if it has one. */
const external = Object.values(networkInterfaces())
  .flat()
  .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;

describe('admin API with --admin-api-key', () => {
  test('every admin route refuses a missing or wrong key with 401, the envelope and a Bearer challenge', async () => {
    await using r = await startAdminRouter({ adminApiKey: 'admin-secret' });
    for (const headers of [{}, bearer('wrong'), bearer('admin-secret-and-more'), { authorization: 'Basic YWRtaW4tc2VjcmV0' }, { authorization: 'admin-secret' }]) {
      for (const [method, path] of ADMIN_CALLS) {
        const res = await fetch(`${r.url}${path}`, { method, headers });
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe('Bearer');
        const { error } = (await res.json()) as { error: { type: string; code: string } };
        expect(error.type).toBe('authentication_error');
        expect(error.code).toBe('unauthorized');
      }
    }
    expect(r.probed).toEqual([]);
    expect(r.logs.some((l) => l.includes('admin-secret'))).toBe(false);
  });

  test('the right key opens every admin route, whatever the scheme case, from any address', async () => {
    await using r = await startAdminRouter({ adminApiKey: 'admin-secret' });
    expect((await fetch(`${r.url}/list_workers`, { headers: bearer('admin-secret') })).status).toBe(200);
    expect((await fetch(`${r.url}/workers`, { headers: { authorization: 'bearer admin-secret' } })).status).toBe(200);
    expect((await fetch(`${r.url}/get_loads`, { headers: bearer('admin-secret') })).status).toBe(200);
    const dead = await fetch(`${r.url}/add_worker?url=http://127.0.0.1:1`, { method: 'POST', headers: bearer('admin-secret') });
    expect(dead.status).toBe(502);
  });

  test('a client API key does not open the admin API, and the admin key is not a client key', async () => {
    await using r = await startAdminRouter({ adminApiKey: 'admin-secret', staticKeys: ['client-key'] });
    expect((await fetch(`${r.url}/list_workers`, { headers: bearer('client-key') })).status).toBe(401);
    const asClient = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: bearer('admin-secret'), body: '{}' });
    expect(asClient.status).toBe(401);
    // The client key passes the client check (and finds no endpoint).
    expect((await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: bearer('client-key'), body: '{"prompt":"x"}' })).status).toBe(503);
  });
});

describe('admin API without --admin-api-key', () => {
  test('answers loopback peers', async () => {
    await using r = await startAdminRouter();
    expect(await (await fetch(`${r.url}/list_workers`)).json()).toEqual({ urls: [] });
  });

  test.skipIf(external === undefined)('refuses a peer on another address with 403, before doing anything', async () => {
    await using r = await startAdminRouter({ hostname: '0.0.0.0' });
    for (const [method, path] of ADMIN_CALLS) {
      const res = await fetch(`http://${external}:${r.port}${path}`, { method });
      expect(res.status).toBe(403);
      const { error } = (await res.json()) as { error: { message: string } };
      expect(error.message).toBe('The admin API answers only on loopback when no --admin-api-key is configured');
    }
    expect(r.probed).toEqual([]);
    // The same listener still answers loopback, and the refusal was about the peer, not the route.
    expect((await fetch(`${r.url}/list_workers`)).status).toBe(200);
    // A forged forwarding header changes nothing: the socket decides.
    const forged = await fetch(`http://${external}:${r.port}/list_workers`, { headers: { 'x-forwarded-for': '127.0.0.1', 'x-real-ip': '127.0.0.1' } });
    expect(forged.status).toBe(403);
  });
});

describe('auth helpers', () => {
  test('bearerToken reads the token of a Bearer header only', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer  abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(null)).toBeUndefined();
  });

  test('isLoopback knows IPv4, IPv6 and mapped loopback and nothing else', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a)).toBe(true);
    for (const a of ['192.0.2.2', '10.0.0.1', '::ffff:10.0.0.1', 'fd00::2', '0.0.0.0', '::', '1270.0.0.1', undefined]) expect(isLoopback(a)).toBe(false);
  });

  test('constantTimeEqual compares any lengths', () => {
    expect(constantTimeEqual('k', 'k')).toBe(true);
    expect(constantTimeEqual('k', 'kk')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
  });

  test('parseKeyList takes lines or commas and skips blanks and comments', () => {
    expect(parseKeyList('# team keys\nkey-one\n\n  key-two  \r\n#old-key\n')).toEqual(['key-one', 'key-two']);
    expect(parseKeyList('a,b, c')).toEqual(['a', 'b', 'c']);
  });
});
