// The probe client on node:http(s): methods and headers, one deadline, a byte cap, abort, failures as values, TLS.
import { describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probe } from '../../src/net/probe.ts';
import { LOCALHOST_CERT, LOCALHOST_KEY } from '../../testkit/localhost-cert.ts';
import { until } from '../../testkit/until.ts';

function startPeer() {
  const received: string[] = [];
  const aborted: string[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const path = new URL(req.url).pathname;
      received.push(path);
      req.signal.addEventListener('abort', () => aborted.push(path));
      if (path === '/echo') return Response.json({ method: req.method, body: await req.text(), authorization: req.headers.get('authorization'), type: req.headers.get('content-type') });
      if (path === '/declared-large') return new Response('x'.repeat(2048));
      // Chunked, no length: the cap must cut it while reading.
      if (path === '/endless') return new Response(new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(1024)) }));
      if (path === '/hang') return new Promise<Response>(() => {});
      return new Response('exactly ten', { status: 503 });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, received, aborted, [Symbol.dispose]: () => server.stop(true) };
}

describe('probe', () => {
  test('GET and POST with headers and a body; any status is an answer', async () => {
    using peer = startPeer();
    const post = await probe({ url: `${peer.url}/echo`, method: 'POST', headers: { authorization: 'Bearer k', 'content-type': 'application/json' }, body: '{"a":1}', timeoutMs: 5_000, maxBodyBytes: 1024 });
    expect(post.kind === 'answer' && JSON.parse(post.body.toString())).toEqual({ method: 'POST', body: '{"a":1}', authorization: 'Bearer k', type: 'application/json' });
    const other = await probe({ url: `${peer.url}/other`, timeoutMs: 5_000, maxBodyBytes: 11 });
    expect(other.kind === 'answer' && [other.status, other.body.toString()]).toEqual([503, 'exactly ten']);
  });

  test('a body over the cap fails the probe, whether its length is declared or not, and the connection is closed', async () => {
    using peer = startPeer();
    expect(await probe({ url: `${peer.url}/declared-large`, timeoutMs: 5_000, maxBodyBytes: 2047 })).toEqual({ kind: 'failure', failure: 'too_large', message: 'the body is larger than 2047 bytes' });
    expect(await probe({ url: `${peer.url}/endless`, timeoutMs: 5_000, maxBodyBytes: 64 * 1024 })).toEqual({ kind: 'failure', failure: 'too_large', message: 'the body is larger than 64 KiB' });
    await until(() => peer.aborted.includes('/endless'), 'the endless body to be cut');
  });

  test('one deadline for the whole exchange; an abort ends it at once; both close the connection', async () => {
    using peer = startPeer();
    const began = performance.now();
    expect(await probe({ url: `${peer.url}/hang`, timeoutMs: 100, maxBodyBytes: 10 })).toEqual({ kind: 'failure', failure: 'timeout', message: 'no answer within 100 ms' });
    expect(performance.now() - began).toBeLessThan(2_000);
    const stop = new AbortController();
    const pending = probe({ url: `${peer.url}/hang`, timeoutMs: 60_000, maxBodyBytes: 10, signal: stop.signal });
    await until(() => peer.received.filter((p) => p === '/hang').length === 2, 'the second hanging call to arrive');
    stop.abort();
    expect(await pending).toEqual({ kind: 'failure', failure: 'aborted', message: 'aborted' });
    await until(() => peer.aborted.filter((p) => p === '/hang').length === 2, 'both hanging calls to be closed');
  });

  test('refused connections, bad URLs, other schemes and invalid header values are failures, not exceptions', async () => {
    const failure = (r: Awaited<ReturnType<typeof probe>>) => (r.kind === 'failure' ? r.failure : r.kind);
    expect(failure(await probe({ url: 'http://127.0.0.1:9/health', timeoutMs: 5_000, maxBodyBytes: 10 }))).toBe('unreachable');
    expect(failure(await probe({ url: 'not a url', timeoutMs: 5_000, maxBodyBytes: 10 }))).toBe('unreachable');
    expect(failure(await probe({ url: 'ftp://127.0.0.1/x', timeoutMs: 5_000, maxBodyBytes: 10 }))).toBe('unreachable');
    using peer = startPeer();
    expect(failure(await probe({ url: `${peer.url}/echo`, headers: { authorization: 'Bearer a\nb' }, timeoutMs: 5_000, maxBodyBytes: 10 }))).toBe('unreachable');
  });

  test('https: the certificate is verified, against the CAs the process trusts (NODE_EXTRA_CA_CERTS)', async () => {
    using server = Bun.serve({ port: 0, hostname: '127.0.0.1', tls: { cert: LOCALHOST_CERT, key: LOCALHOST_KEY }, fetch: () => new Response('over tls') });
    const url = `https://127.0.0.1:${server.port}/health`;
    const untrusted = await probe({ url, timeoutMs: 5_000, maxBodyBytes: 100 });
    expect(untrusted).toMatchObject({ kind: 'failure', failure: 'unreachable' });
    // The CA is read at process start, so the trusted case runs in a process started with it.
    const dir = mkdtempSync(join(tmpdir(), 'probe-ca-'));
    try {
      writeFileSync(join(dir, 'ca.pem'), LOCALHOST_CERT);
      const script = `import { probe } from ${JSON.stringify(join(import.meta.dir, '../../src/net/probe.ts'))};
        const r = await probe({ url: process.argv[1], timeoutMs: 5000, maxBodyBytes: 100 });
        console.log(JSON.stringify(r.kind === 'answer' ? { status: r.status, body: r.body.toString() } : r));`;
      const child = Bun.spawn(['bun', '-e', script, url], { env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') }, stdout: 'pipe', stderr: 'pipe' });
      const out = await new Response(child.stdout).text();
      expect(await child.exited).toBe(0);
      expect(JSON.parse(out)).toEqual({ status: 200, body: 'over tls' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
