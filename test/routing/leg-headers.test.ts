// Which headers cross the router on a leg (routing/leg.ts legHeaders over wire/forward-headers.ts) and on the
// way back (downstreamHeaders): every hop-by-hop name is dropped, everything else passes, the router's own
// values replace the client's.
import { describe, expect, test } from 'bun:test';
import { legHeaders, type Leg, type LegDeps } from '../../src/routing/leg.ts';
import { downstreamHeaders } from '../../src/wire/forward-headers.ts';
import { NOOP_SPAN } from '../../src/tracing/tracer.ts';

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'trailers', 'transfer-encoding', 'upgrade', 'host', 'content-length'];

const client = () =>
  new Headers({
    ...Object.fromEntries(HOP_BY_HOP.map((n) => [n, n === 'content-length' ? '12' : n === 'te' ? 'trailers' : 'x'])),
    'content-type': 'application/json; charset=utf-8',
    'content-encoding': 'gzip',
    'accept-encoding': 'gzip, br',
    authorization: 'Bearer client-key',
    'x-request-id': 'client-chosen',
    'x-custom': 'kept',
    'user-agent': 'test/1',
  });

const leg = (dpRank?: number) => ({ endpoint: { id: 'http://e1', dpRank }, span: NOOP_SPAN }) as unknown as Leg;
const deps = (apiKey?: string) => ({ apiKey }) as unknown as LegDeps;
const names = (h: Headers) => [...h.keys()].sort();

describe('leg headers', () => {
  test('the client headers minus every hop-by-hop one, with the request id the router chose', () => {
    const h = legHeaders(deps(), client(), leg(), 'cmpl-1');
    for (const n of HOP_BY_HOP) expect(h.has(n)).toBe(false);
    expect(names(h)).toEqual(['accept-encoding', 'authorization', 'content-encoding', 'content-type', 'user-agent', 'x-custom', 'x-request-id']);
    expect(h.get('x-request-id')).toBe('cmpl-1');
    expect(h.get('authorization')).toBe('Bearer client-key');
    expect(h.get('content-type')).toBe('application/json; charset=utf-8');
    expect(h.get('x-custom')).toBe('kept');
  });

  test("--api-key replaces the client's token; a data-parallel rank is sent as x-data-parallel-rank", () => {
    const h = legHeaders(deps('engine-key'), client(), leg(3), 'cmpl-1');
    expect(h.get('authorization')).toBe('Bearer engine-key');
    expect(h.get('x-data-parallel-rank')).toBe('3');
    expect(legHeaders(deps(), client(), leg(0), 'cmpl-1').get('x-data-parallel-rank')).toBe('0');
  });

  test('a body the router serialised is plain JSON; an answer the router reads is asked for uncompressed', () => {
    const h = legHeaders(deps(), client(), leg(), 'cmpl-1', { rewritten: true, plainBody: true });
    expect(h.get('content-type')).toBe('application/json');
    expect(h.has('content-encoding')).toBe(false);
    expect(h.has('accept-encoding')).toBe(false);
    const kept = legHeaders(deps(), client(), leg(), 'cmpl-1');
    expect(kept.get('content-encoding')).toBe('gzip');
    expect(kept.get('accept-encoding')).toBe('gzip, br');
  });

  test("the client's Headers are not modified", () => {
    const c = client();
    const before = [...c.entries()];
    legHeaders(deps('k'), c, leg(1), 'cmpl-1', { rewritten: true, plainBody: true });
    expect([...c.entries()]).toEqual(before);
  });
});

describe('downstream headers', () => {
  test("the endpoint's headers minus hop-by-hop, date and server, with the router's request id; cookies stay separate", () => {
    const up = new Headers({ ...Object.fromEntries(HOP_BY_HOP.map((n) => [n, 'x'])), date: 'Wed, 02 Dec 2026 10:00:00 GMT', server: 'uvicorn', 'content-type': 'text/event-stream', 'x-request-id': 'engine-id', 'x-engine': 'kept' });
    up.append('set-cookie', 'a=1');
    up.append('set-cookie', 'b=2');
    const h = downstreamHeaders(up, 'chatcmpl-1');
    for (const n of [...HOP_BY_HOP, 'date', 'server']) expect(h.has(n)).toBe(false);
    expect(h.get('x-request-id')).toBe('chatcmpl-1');
    expect(h.get('x-engine')).toBe('kept');
    expect(h.get('content-type')).toBe('text/event-stream');
    expect(h.getSetCookie()).toEqual(['a=1', 'b=2']);
  });
});
