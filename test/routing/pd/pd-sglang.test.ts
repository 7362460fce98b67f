// The older SGLang-style PD mode: one body with bootstrap fields to both legs at once, decode's answer returned.
import { describe, expect, test } from 'bun:test';
import { isRouterError } from '../../../src/wire/errors.ts';
import { bootstrapBatchSize, bootstrapRoom, withBootstrap } from '../../../src/routing/pd/sglang-pd.ts';
import { startMockEngine, type MockEngineStartOptions } from '../../../testkit/mock-engine.ts';
import { mulberry32 } from '../../../testkit/mulberry32.ts';
import { startPdTestServer, type PdHarness } from './pd-harness.ts';
import { until } from '../../../testkit/until.ts';

const prefill = { url: 'http://prefill-0.svc:8000', bootstrapPort: 8998 };
const parse = (text: string | unknown) => JSON.parse(text as string) as Record<string, unknown>;
const MAX_ROOM = 2n ** 63n - 1n;

describe('bootstrap fields', () => {
  test('a single request gets the prefill host, its bootstrap port and one random room', () => {
    const text = withBootstrap({ model: 'm', prompt: 'hi', max_tokens: 9 }, prefill, mulberry32(1)) as string;
    expect(parse(text)).toMatchObject({ model: 'm', prompt: 'hi', max_tokens: 9, bootstrap_host: 'prefill-0.svc', bootstrap_port: 8998 });
    const room = BigInt(/"bootstrap_room":(\d+)/.exec(text)![1]!);
    expect(room >= 0n && room <= MAX_ROOM).toBe(true);
  });

  test('rooms use all 63 bits and are written exactly (beyond 2^53)', () => {
    expect(BigInt(bootstrapRoom(() => 0.999999999))).toBeGreaterThan(2n ** 62n);
    expect(BigInt(bootstrapRoom(() => 0.999999999))).toBeLessThanOrEqual(MAX_ROOM);
    expect(bootstrapRoom(() => 0)).toBe('0');
  });

  test('a prefill without a bootstrap port sends null', () => {
    expect(parse(withBootstrap({ prompt: 'x' }, { url: 'http://p:1', bootstrapPort: null }, mulberry32(2))).bootstrap_port).toBeNull();
  });

  test('batches (n > 1, prompt / text / input_ids lists) get arrays, with a different room per sequence', () => {
    expect(bootstrapBatchSize({ messages: [], n: 3 })).toBe(3);
    expect(bootstrapBatchSize({ prompt: ['a', 'b'] })).toBe(2);
    expect(bootstrapBatchSize({ prompt: [[1, 2], [3]] })).toBe(2);
    expect(bootstrapBatchSize({ text: ['a', 'b', 'c'] })).toBe(3);
    expect(bootstrapBatchSize({ input_ids: [[1], [2]] })).toBe(2);
    const body = parse(withBootstrap({ text: ['a', 'b'] }, prefill, mulberry32(3)));
    expect(body.bootstrap_host).toEqual(['prefill-0.svc', 'prefill-0.svc']);
    expect(body.bootstrap_port).toEqual([8998, 8998]);
    const rooms = body.bootstrap_room as unknown[];
    expect(rooms).toHaveLength(2);
    expect(rooms[0]).not.toEqual(rooms[1]);
  });

  test('one tokenized prompt (a flat id list) is not a batch; n = 1 is not either', () => {
    expect(bootstrapBatchSize({ prompt: [1, 2, 3] })).toBeUndefined();
    expect(bootstrapBatchSize({ input_ids: [1, 2, 3] })).toBeUndefined();
    expect(bootstrapBatchSize({ messages: [], n: 1 })).toBeUndefined();
    expect(bootstrapBatchSize({ prompt: 'p' })).toBeUndefined();
  });

  test('an empty batch is a 400', () => {
    const r = withBootstrap({ prompt: [] }, prefill, mulberry32(4));
    expect(isRouterError(r) && r.kind).toBe('invalid_body');
  });

  test('client-supplied bootstrap fields and kv_transfer_params are replaced, not forwarded', () => {
    const body = parse(withBootstrap({ prompt: 'x', bootstrap_host: 'evil', bootstrap_room: 1, kv_transfer_params: { remote_host: 'evil' } }, prefill, mulberry32(5)));
    expect(body.bootstrap_host).toBe('prefill-0.svc');
    expect(body).not.toHaveProperty('kv_transfer_params');
    expect(JSON.stringify(body)).not.toContain('evil');
  });

  test('an empty body still serialises as one JSON object', () => {
    expect(Object.keys(parse(withBootstrap({}, prefill, mulberry32(6))))).toEqual(['bootstrap_host', 'bootstrap_port', 'bootstrap_room']);
  });
});

const pair = async (p: MockEngineStartOptions = {}, d: MockEngineStartOptions = {}) => ({
  p: await startMockEngine({ role: 'prefill', model: 'm', ...p }),
  d: await startMockEngine({ role: 'decode', model: 'm', handoffCheck: 'strict', ...d }),
});
const post = (h: PdHarness, path: string, body: unknown) => fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const PROMPT = 'one two three four five six seven eight';

describe('SGLang-style PD end to end', () => {
  test('both legs get the same body and room at once; the client gets decode’s answer; the prefill answer is drained', async () => {
    const { p, d } = await pair();
    await using _p = p;
    await using _d = d;
    await using h = await startPdTestServer({ mode: 'sglang', prefill: [{ url: p.url, bootstrapPort: 8998 }], decode: [{ url: d.url }] });
    const res = await post(h, '/v1/completions', { model: 'm', prompt: PROMPT, max_tokens: 3 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { text: string }[] };
    expect(body.choices[0]!.text.trim().split(' ')).toHaveLength(3);
    expect(p.received[0]!.bodyText).toBe(d.received[0]!.bodyText);
    expect(d.handoffs.at(-1)).toMatchObject({ connector: 'sglang', accepted: true, bootstrap: { host: '127.0.0.1', port: 8998 } });
    // The prefill ran to the end (with the client's max_tokens: this mode sends one body).
    await p.waitFor(() => p.stats().requestSuccess['length'] === 1);
    await until(() => h.registry.all().every((e) => e.inFlight === 0), 'both legs released');
    expect(h.pd.outcomes()).toEqual(['success']);
  });

  test('a batch gets one room per prompt', async () => {
    const { p, d } = await pair();
    await using _p = p;
    await using _d = d;
    await using h = await startPdTestServer({ mode: 'sglang', prefill: [{ url: p.url, bootstrapPort: null }], decode: [{ url: d.url }] });
    expect((await post(h, '/v1/completions', { model: 'm', prompt: ['a b', 'c d'], max_tokens: 1 })).status).toBe(200);
    const bootstrap = d.handoffs.at(-1)!.bootstrap!;
    expect(bootstrap.port).toEqual([null, null]);
    expect(bootstrap.room).toHaveLength(2);
  });

  test('streams pass through unchanged', async () => {
    const { p, d } = await pair({}, { tokens: 'x y z' });
    await using _p = p;
    await using _d = d;
    await using h = await startPdTestServer({ mode: 'sglang', prefill: [{ url: p.url, bootstrapPort: 8998 }], decode: [{ url: d.url }] });
    const res = await post(h, '/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: PROMPT }], max_tokens: 3, stream: true });
    const text = await res.text();
    expect([...text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join('')).toBe('x y z');
    expect(text).toEndWith('data: [DONE]\n\n');
  });

  test('a prefill failing before decode answers ends the request with its error, and aborts the decode leg', async () => {
    const { p, d } = await pair({ failure: { kind: 'status', status: 500, message: 'prefill broke' } }, { ttftMs: 5000 });
    await using _p = p;
    await using _d = d;
    await using h = await startPdTestServer({ mode: 'sglang', prefill: [{ url: p.url, bootstrapPort: 8998 }], decode: [{ url: d.url }], maxAttempts: 1 });
    const started = performance.now();
    const res = await post(h, '/v1/completions', { model: 'm', prompt: PROMPT });
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(`Prefill endpoint ${p.url} answered 500: prefill broke`);
    expect(performance.now() - started).toBeLessThan(2000);
    await d.waitFor(() => (d.stats().requestSuccess.abort ?? 0) === 1);
    expect(h.pd.outcomes()).toEqual(['prefill_error']);
  });

  test('the pair is retried, with a new room, when the prefill failed first', async () => {
    const p1 = await startMockEngine({ role: 'prefill', model: 'm', failure: { kind: 'status', status: 503, times: 1 } });
    const { p: p2, d } = await pair({}, { ttftMs: 100 });
    await using _p1 = p1;
    await using _p2 = p2;
    await using _d = d;
    await using h = await startPdTestServer({ mode: 'sglang', prefill: [{ url: p1.url, bootstrapPort: 1 }, { url: p2.url, bootstrapPort: 2 }], decode: [{ url: d.url }] });
    const res = await post(h, '/v1/completions', { model: 'm', prompt: PROMPT, max_tokens: 2 });
    expect(res.status).toBe(200);
    expect(d.received).toHaveLength(2);
    const rooms = d.received.map((r) => /"bootstrap_room":(\d+)/.exec(r.bodyText)![1]);
    expect(rooms[0]).not.toBe(rooms[1]);
    expect(d.handoffs.at(-1)!.bootstrap!.port).toBe(2);
    expect(h.pd.outcomes()).toEqual(['success']);
  });

  test('return_logprob waits for both legs and puts the prefill’s input_token_logprobs first', async () => {
    const fake = (answer: unknown) => Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => Response.json(answer) });
    await using p = fake({ text: 'P', meta_info: { input_token_logprobs: [[null, 1, null], [-0.5, 2, null]] } });
    await using d = fake({ text: 'D', meta_info: { input_token_logprobs: [[-0.7, 3, null]] } });
    await using h = await startPdTestServer({ mode: 'sglang', prefill: [{ url: `http://127.0.0.1:${p.port}`, bootstrapPort: 8998 }], decode: [{ url: `http://127.0.0.1:${d.port}` }] });
    const res = await post(h, '/generate', { text: 'hi', return_logprob: true });
    expect(await res.json()).toEqual({ text: 'D', meta_info: { input_token_logprobs: [[null, 1, null], [-0.5, 2, null], [-0.7, 3, null]] } });
  });

  test('routes that are not generations go to one decode endpoint', async () => {
    const { p, d } = await pair();
    await using _p = p;
    await using _d = d;
    await using h = await startPdTestServer({ mode: 'sglang', prefill: [{ url: p.url, bootstrapPort: 8998 }], decode: [{ url: d.url }] });
    expect((await post(h, '/v1/embeddings', { model: 'm', input: 'hi' })).status).toBe(200);
    expect(p.received).toHaveLength(0);
    expect(d.received[0]!.json).toEqual({ model: 'm', input: 'hi' });
  });
});
