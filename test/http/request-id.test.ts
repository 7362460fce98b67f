import { describe, expect, test } from 'bun:test';
import { DEFAULT_REQUEST_ID_HEADERS, requestIdFor, requestIdSource } from '../../src/http/request-id.ts';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { startTestRouter } from '../support/router.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';

describe('request ids', () => {
  test('every generated id of one source is distinct and has the Rust shape (route prefix, 24 alphanumerics)', () => {
    const ids = requestIdSource(mulberry32(1));
    const seen = new Set<string>();
    for (let i = 0; i < 50_000; i++) seen.add(ids('/v1/chat/completions'));
    expect(seen.size).toBe(50_000);
    for (const id of [...seen].slice(0, 100)) expect(id).toMatch(/^chatcmpl-[A-Za-z0-9]{24}$/);
    expect(ids('/v1/completions')).toMatch(/^cmpl-[A-Za-z0-9]{24}$/);
    expect(ids('/generate')).toMatch(/^gnt-[A-Za-z0-9]{24}$/);
    expect(ids('/v1/embeddings')).toMatch(/^req-[A-Za-z0-9]{24}$/);
  });

  test('two sources (two processes) drawing differently never share an id', () => {
    const a = requestIdSource(mulberry32(1));
    const b = requestIdSource(mulberry32(2));
    const fromA = new Set(Array.from({ length: 1000 }, () => a('/v1/completions')));
    for (let i = 0; i < 1000; i++) expect(fromA.has(b('/v1/completions'))).toBe(false);
  });

  test("the client's id wins, in the configured header order", () => {
    const ids = requestIdSource(mulberry32(3));
    const headers = new Headers({ 'x-trace-id': 'trace-1', 'x-correlation-id': 'corr-1' });
    expect(requestIdFor(headers, DEFAULT_REQUEST_ID_HEADERS, '/v1/completions', ids)).toBe('corr-1');
    expect(requestIdFor(new Headers(), DEFAULT_REQUEST_ID_HEADERS, '/v1/completions', ids)).toMatch(/^cmpl-/);
  });

  test('through the router: each request gets its own id, in the response header, at the engine and in the access log', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    const body = JSON.stringify({ model: 'm', prompt: 'hi', max_tokens: 1 });
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })),
    );
    const ids = answers.map((a) => a.headers.get('x-request-id')!);
    await Promise.all(answers.map((a) => a.text()));
    expect(new Set(ids).size).toBe(40);
    for (const id of ids) expect(id).toMatch(/^cmpl-[A-Za-z0-9]{24}$/);
    expect(new Set(engine.received.filter((q) => q.path === '/v1/completions').map((q) => q.headers['x-request-id']))).toEqual(new Set(ids));
    const logged = new Set(r.logs.map((l) => JSON.parse(l) as { msg?: string; request_id?: string }).filter((l) => l.msg === 'request').map((l) => l.request_id));
    for (const id of ids) expect(logged.has(id)).toBe(true);
  });
});
