// vLLM PD mode end to end: real mock engines in prefill and decode roles over HTTP, where the decode engine
// accepts a request only with a hand-off the same prefill engine produced for the same X-Request-Id.
import { describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { hostPort } from '../../../src/core/endpoint.ts';
import { startMockEngine, type MockEngine, type MockEngineStartOptions } from '../../../testkit/mock-engine.ts';
import { startPdTestServer, type PdHarness, type PdHarnessOptions } from './pd-harness.ts';
import { until } from '../../../testkit/until.ts';

const PROMPT = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen';
const client = (h: PdHarness) => new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'client-key', maxRetries: 0 });
const post = (h: PdHarness, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

const engines = async (prefill: MockEngineStartOptions = {}, decode: MockEngineStartOptions = {}) => {
  const p = await startMockEngine({ role: 'prefill', model: 'm', handoffCheck: 'strict', ...prefill });
  const d = await startMockEngine({ role: 'decode', model: 'm', handoffCheck: 'strict', ...decode });
  return { p, d, async [Symbol.asyncDispose]() {
    await Promise.all([p.stop(), d.stop()]);
  } };
};

const lastJson = (e: MockEngine) => e.received.at(-1)?.json as Record<string, unknown>;
const lastHeaders = (e: MockEngine) => e.received.at(-1)?.headers as Record<string, string>;
const pdIdOf = (p: MockEngine, d: MockEngine) => new RegExp(`^___prefill_addr_${hostPort(p.url)}___decode_addr_${hostPort(d.url)}_[0-9a-f]{32}$`);

/** Every request the harness saw was settled exactly once (admission slots are released once). */
const settledOnce = (h: PdHarness) => until(() => [...h.settled.values()].every((n) => n === 1), 'every request settled once');

describe('NIXL end to end', () => {
  const harness = (e: { p: MockEngine; d: MockEngine }, extra: Partial<PdHarnessOptions> = {}) =>
    startPdTestServer({ prefill: [{ url: e.p.url }], decode: [{ url: e.d.url }], connector: 'nixl', ...extra });

  test('non-streaming chat: one P/D id on both legs, the prefill’s params reach decode verbatim, the answer is decode’s', async () => {
    await using e = await engines();
    await using h = await harness(e);
    const { data, response } = await client(h).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: PROMPT }], max_tokens: 4 }).withResponse();

    const pdId = lastHeaders(e.p)['x-request-id'] as string;
    expect(pdId).toMatch(pdIdOf(e.p, e.d));
    expect(lastHeaders(e.d)['x-request-id']).toBe(pdId);
    // The client gets the router's id in the header; vLLM derives the body id from the P/D id.
    expect(response.headers.get('x-request-id')).toMatch(/^chatcmpl-[A-Za-z0-9]{24}$/);
    expect(data.id).toBe(`chatcmpl-${pdId}`);
    expect(data.choices[0]!.message.content!.split(' ')).toHaveLength(4);

    const produced = e.p.handoffs.at(-1)!.kvTransferParams as Record<string, unknown>;
    expect(produced).toMatchObject({ do_remote_prefill: true, remote_engine_id: e.p.engineId });
    expect(lastJson(e.d).kv_transfer_params).toEqual(produced);
    expect(e.d.handoffs.at(-1)).toMatchObject({ connector: 'nixl', accepted: true, xRequestId: pdId });
    expect(h.pd.outcomes()).toEqual(['success']);
    await settledOnce(h);
  });

  test('non-streaming completions', async () => {
    await using e = await engines();
    await using h = await harness(e);
    const completion = await client(h).completions.create({ model: 'm', prompt: PROMPT, max_tokens: 3 });
    expect(completion.choices[0]!.finish_reason).toBe('length');
    expect(completion.usage).toMatchObject({ prompt_tokens: 18, completion_tokens: 3 });
    expect(e.d.handoffs.at(-1)).toMatchObject({ connector: 'nixl', accepted: true });
    expect(e.p.stats().kvPullsAccepted + e.d.stats().kvPullsAccepted).toBe(1);
  });

  test('streaming chat: decode’s SSE token by token with usage; the prefill leg was not streamed', async () => {
    await using e = await engines({}, { tokens: 'alpha beta gamma delta' });
    await using h = await harness(e);
    const stream = await client(h).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: PROMPT }], max_tokens: 4, stream: true, stream_options: { include_usage: true } });
    const deltas: string[] = [];
    let usage;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) deltas.push(chunk.choices[0].delta.content);
      if (chunk.usage) usage = chunk.usage;
    }
    expect(deltas.join('').trim().split(/\s+/)).toEqual(['alpha', 'beta', 'gamma', 'delta']);
    expect(usage).toMatchObject({ completion_tokens: 4 });
    expect(lastJson(e.p)).toMatchObject({ stream: false, max_tokens: 1 });
    expect(lastJson(e.p)).not.toHaveProperty('stream_options');
    expect(lastJson(e.d)).toMatchObject({ stream: true, max_tokens: 4, stream_options: { include_usage: true } });
    expect(e.d.handoffs.at(-1)!.accepted).toBe(true);
    expect(h.pd.events.some((ev) => ev.type === 'decodeFirstToken')).toBe(true);
    await settledOnce(h);
  });

  test('streaming completions: the decode bytes reach the client unchanged', async () => {
    await using e = await engines({}, { tokens: 'red green blue' });
    await using h = await harness(e);
    const res = await post(h, '/v1/completions', { model: 'm', prompt: PROMPT, max_tokens: 3, stream: true });
    expect(res.headers.get('content-type')).toStartWith('text/event-stream');
    const text = await res.text();
    const pdId = lastHeaders(e.d)['x-request-id'];
    expect(text.split('\n\n').filter(Boolean).at(-1)).toBe('data: [DONE]');
    expect(text).toContain(`"id":"cmpl-${pdId}"`);
    expect([...text.matchAll(/"text":"([^"]*)"/g)].map((m) => m[1]).join('')).toBe(' red green blue');
  });
});

describe('Mooncake end to end', () => {
  test('decode gets the transfer id, the prefill bootstrap address and its engine id (from GET /query)', async () => {
    await using e = await engines({ bootstrapPort: 0 });
    await using h = await startPdTestServer({ prefill: [{ url: e.p.url, bootstrapPort: e.p.bootstrapPort }], decode: [{ url: e.d.url }], connector: 'mooncake' });
    const completion = await client(h).completions.create({ model: 'm', prompt: PROMPT, max_tokens: 2 });
    expect(completion.choices[0]!.text.trim().split(' ')).toHaveLength(2);

    const toPrefill = lastJson(e.p).kv_transfer_params as Record<string, unknown>;
    expect(toPrefill).toEqual({ do_remote_decode: true, do_remote_prefill: false, transfer_id: expect.stringMatching(/^xfer-/) });
    expect(lastJson(e.d).kv_transfer_params).toEqual({
      do_remote_decode: false,
      do_remote_prefill: true,
      transfer_id: toPrefill.transfer_id,
      remote_bootstrap_addr: `http://127.0.0.1:${e.p.bootstrapPort}`,
      remote_engine_id: e.p.engineId,
    });
    expect(e.d.handoffs.at(-1)).toMatchObject({ connector: 'mooncake', accepted: true });
  });

  test('streaming chat, with a fresh transfer id per request and the engine id asked once', async () => {
    await using e = await engines({ bootstrapPort: 0 });
    await using h = await startPdTestServer({ prefill: [{ url: e.p.url, bootstrapPort: e.p.bootstrapPort }], decode: [{ url: e.d.url }], connector: 'mooncake' });
    const ids = new Set<unknown>();
    for (let i = 0; i < 2; i++) {
      const stream = await client(h).chat.completions.create({ model: 'm', messages: [{ role: 'user', content: PROMPT }], max_tokens: 3, stream: true });
      let n = 0;
      for await (const chunk of stream) if (chunk.choices[0]?.delta.content) n++;
      expect(n).toBe(3);
      ids.add((lastJson(e.d).kv_transfer_params as Record<string, unknown>).transfer_id);
    }
    expect(ids.size).toBe(2);
    expect(e.d.handoffs.every((x) => x.accepted && x.connector === 'mooncake')).toBe(true);
  });
});

describe('MoRI-IO', () => {
  const record = { handoffCheck: 'record' as const };

  test('READ: sequential; the prefill leg carries a tx- transfer id and the DP size', async () => {
    await using e = await engines(record, record);
    await using h = await startPdTestServer({ prefill: [{ url: e.p.url }], decode: [{ url: e.d.url }], connector: 'moriio', moriio: { mode: 'READ', dpSize: 1 } });
    expect((await post(h, '/v1/completions', { model: 'm', prompt: PROMPT, max_tokens: 2 })).status).toBe(200);
    expect(lastJson(e.p).kv_transfer_params).toMatchObject({ do_remote_decode: true, transfer_id: expect.stringMatching(/^tx-[0-9a-f]{32}$/), remote_dp_size: 1 });
    expect(e.d.received[0]!.receivedAt).toBeGreaterThanOrEqual(e.p.received[0]!.receivedAt);
  });

  test('WRITE: both legs at once, decode told the same transfer id', async () => {
    await using e = await engines({ ...record, ttftMs: 300 }, record);
    await using h = await startPdTestServer({ prefill: [{ url: e.p.url }], decode: [{ url: e.d.url }], connector: 'moriio', moriio: { mode: 'WRITE', dpSize: 1 } });
    const pending = post(h, '/v1/completions', { model: 'm', prompt: PROMPT, max_tokens: 2 });
    // The decode leg arrives while the prefill is still computing.
    await e.d.waitFor(() => e.d.received.length === 1);
    await e.p.waitFor(() => e.p.received.length === 1);
    // requestSuccess counts finished requests by finish reason; a prefill ends with "length".
    expect(e.p.stats().requestSuccess['length']).toBe(0);
    expect((await pending).status).toBe(200);
    expect(e.p.stats().requestSuccess['length']).toBe(1);
    const toPrefill = lastJson(e.p).kv_transfer_params as Record<string, unknown>;
    expect(lastJson(e.d).kv_transfer_params).toEqual({ do_remote_decode: false, do_remote_prefill: true, remote_engine_id: null, remote_block_ids: null, transfer_id: toPrefill.transfer_id, remote_dp_size: 1, remote_tp_size: 1 });
  });

  test('before any engine registered a transfer mode: 503', async () => {
    await using e = await engines(record, record);
    await using h = await startPdTestServer({ prefill: [{ url: e.p.url }], decode: [{ url: e.d.url }], connector: 'moriio', moriio: { mode: undefined, dpSize: 1 } });
    const res = await post(h, '/v1/completions', { model: 'm', prompt: PROMPT });
    expect(res.status).toBe(503);
    expect(e.p.received).toHaveLength(0);
  });
});

describe('the prefill rewrite, as the engines receive it', () => {
  test('completions: max_tokens 1, not streamed, min_tokens and stream_options dropped; decode gets the original', async () => {
    await using e = await engines();
    await using h = await startPdTestServer({ prefill: [{ url: e.p.url }], decode: [{ url: e.d.url }] });
    const body = { model: 'm', prompt: PROMPT, max_tokens: 5, min_tokens: 2, stream: true, stream_options: { include_usage: true }, temperature: 0 };
    await (await post(h, '/v1/completions', body)).text();
    expect(lastJson(e.p)).toEqual({ model: 'm', prompt: PROMPT, max_tokens: 1, stream: false, temperature: 0, kv_transfer_params: expect.any(Object) });
    const { kv_transfer_params: _kv, ...toDecode } = lastJson(e.d);
    expect(toDecode).toEqual(body);
  });

  test('chat: max_tokens and max_completion_tokens 1, min_completion_tokens dropped', async () => {
    await using e = await engines();
    await using h = await startPdTestServer({ prefill: [{ url: e.p.url }], decode: [{ url: e.d.url }] });
    const body = { model: 'm', messages: [{ role: 'user', content: PROMPT }], max_completion_tokens: 3, min_completion_tokens: 2 };
    expect((await post(h, '/v1/chat/completions', body)).status).toBe(200);
    expect(lastJson(e.p)).toMatchObject({ max_tokens: 1, max_completion_tokens: 1, stream: false });
    expect(lastJson(e.p)).not.toHaveProperty('min_completion_tokens');
    expect(lastJson(e.d)).toMatchObject({ max_completion_tokens: 3, min_completion_tokens: 2 });
  });

  test('responses API: max_output_tokens 1', async () => {
    // The mock's responses body carries no kv_transfer_params, so its decode side only records the hand-off.
    await using e = await engines({}, { handoffCheck: 'record' });
    await using h = await startPdTestServer({ prefill: [{ url: e.p.url }], decode: [{ url: e.d.url }] });
    expect((await post(h, '/v1/responses', { model: 'm', input: PROMPT, max_output_tokens: 6 })).status).toBe(200);
    expect(lastJson(e.p)).toMatchObject({ max_output_tokens: 1, stream: false });
    expect(lastJson(e.p)).not.toHaveProperty('max_tokens');
    expect(lastJson(e.d)).toMatchObject({ max_output_tokens: 6 });
  });

  test('generate: sampling_params.max_tokens 1, at /generate and /inference/v1/generate', async () => {
    const seen: { path: string; body: Record<string, unknown> }[] = [];
    const fake = (role: string) =>
      Bun.serve({
        port: 0,
        hostname: '127.0.0.1',
        async fetch(req) {
          seen.push({ path: `${role} ${new URL(req.url).pathname}`, body: (await req.json()) as Record<string, unknown> });
          return Response.json({ text: role, kv_transfer_params: role === 'prefill' ? { remote_engine_id: 'x' } : null });
        },
      });
    await using p = fake('prefill');
    await using d = fake('decode');
    await using h = await startPdTestServer({ prefill: [{ url: `http://127.0.0.1:${p.port}` }], decode: [{ url: `http://127.0.0.1:${d.port}` }] });
    for (const path of ['/generate', '/inference/v1/generate']) {
      const res = await post(h, path, { text: PROMPT, sampling_params: { max_tokens: 8, min_tokens: 2, temperature: 0 }, stream: false });
      expect(await res.json()).toMatchObject({ text: 'decode' });
    }
    expect(seen.map((s) => s.path)).toEqual(['prefill /generate', 'decode /generate', 'prefill /inference/v1/generate', 'decode /inference/v1/generate']);
    expect(seen[0]!.body.sampling_params).toEqual({ max_tokens: 1, temperature: 0 });
    expect(seen[1]!.body).toMatchObject({ sampling_params: { max_tokens: 8, min_tokens: 2, temperature: 0 }, kv_transfer_params: { remote_engine_id: 'x' } });
  });
});

describe('client kv_transfer_params', () => {
  const evil = { do_remote_prefill: true, remote_host: '203.0.113.9', remote_port: 80, remote_engine_id: 'evil', remote_block_ids: [1], remote_request_id: 'x' };

  test('never reach an engine: prefill gets the router’s, decode only what the prefill returned', async () => {
    await using e = await engines();
    await using h = await startPdTestServer({ prefill: [{ url: e.p.url }], decode: [{ url: e.d.url }] });
    const res = await post(h, '/v1/completions', { model: 'm', prompt: PROMPT, max_tokens: 2, kv_transfer_params: evil });
    expect(res.status).toBe(200);
    expect(lastJson(e.p).kv_transfer_params).toEqual({ do_remote_decode: true, do_remote_prefill: false, remote_engine_id: null, remote_block_ids: null, remote_host: null, remote_port: null });
    expect(lastJson(e.d).kv_transfer_params).toEqual(e.p.handoffs.at(-1)!.kvTransferParams as never);
    expect(e.d.handoffs.at(-1)!.accepted).toBe(true);
    expect(JSON.stringify(e.p.received.concat(e.d.received).map((r) => r.bodyText))).not.toContain('203.0.113.9');
  });

  test('are stripped on single-leg routes too', async () => {
    await using e = await engines();
    await using h = await startPdTestServer({ prefill: [{ url: e.p.url }], decode: [{ url: e.d.url }] });
    expect((await post(h, '/v1/embeddings', { model: 'm', input: 'hi', kv_transfer_params: evil })).status).toBe(200);
    expect(lastJson(e.d)).toEqual({ model: 'm', input: 'hi' });
  });
});

describe('logprobs', () => {
  test('completions with echo, logprobs and prompt_logprobs: prompt entries once, then the generated ones', async () => {
    await using e = await engines();
    await using h = await startPdTestServer({ prefill: [{ url: e.p.url }], decode: [{ url: e.d.url }] });
    const res = await post(h, '/v1/completions', { model: 'm', prompt: PROMPT, max_tokens: 3, echo: true, logprobs: 1, prompt_logprobs: 1 });
    const body = (await res.json()) as { choices: { text: string; logprobs: { tokens: string[]; token_logprobs: unknown[]; text_offset: number[] }; prompt_logprobs: unknown[] }[] };
    const choice = body.choices[0]!;
    expect(choice.logprobs.tokens).toHaveLength(18 + 3);
    expect(choice.logprobs.token_logprobs).toHaveLength(18 + 3);
    expect(choice.logprobs.tokens.slice(0, 2)).toEqual(['one', ' two']);
    expect(choice.prompt_logprobs).toHaveLength(18);
    expect(choice.text.startsWith(PROMPT)).toBe(true);
    // The prefill computed the prompt's logprobs (it was asked, with max_tokens 1).
    expect(lastJson(e.p)).toMatchObject({ echo: true, logprobs: 1, prompt_logprobs: 1, max_tokens: 1 });
  });

  test('chat with prompt_logprobs: the top-level prompt_logprobs are the prefill’s', async () => {
    await using e = await engines();
    await using h = await startPdTestServer({ prefill: [{ url: e.p.url }], decode: [{ url: e.d.url }] });
    const res = await post(h, '/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: PROMPT }], max_tokens: 2, logprobs: true, top_logprobs: 1, prompt_logprobs: 1 });
    const body = (await res.json()) as { prompt_logprobs: unknown[]; choices: { logprobs: { content: unknown[] } }[] };
    expect(body.prompt_logprobs).toHaveLength(18);
    expect(body.choices[0]!.logprobs.content).toHaveLength(2);
  });
});

describe('routes that are not generations', () => {
  test('embeddings and GET /v1/models go to one decode endpoint with the router’s request id', async () => {
    await using e = await engines();
    await using h = await startPdTestServer({ prefill: [{ url: e.p.url }], decode: [{ url: e.d.url }] });
    expect((await post(h, '/v1/embeddings', { model: 'm', input: 'hi' }, { 'x-request-id': 'my-id' })).status).toBe(200);
    expect(lastHeaders(e.d)['x-request-id']).toBe('my-id');
    const models = (await (await fetch(`${h.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data[0]!.id).toBe('m');
    expect(e.p.received).toHaveLength(0);
    await settledOnce(h);
  });
});

describe('stage policies', () => {
  test('prefill and decode endpoints are chosen by their own policies', async () => {
    await using e1 = await engines();
    await using e2 = await engines();
    await using h = await startPdTestServer({ prefill: [{ url: e1.p.url }, { url: e2.p.url }], decode: [{ url: e1.d.url }, { url: e2.d.url }], policy: 'round_robin' });
    for (let i = 0; i < 4; i++) expect((await post(h, '/v1/completions', { model: 'm', prompt: PROMPT, max_tokens: 1 })).status).toBe(200);
    // Two round-robin counters, one per stage: each request pairs the i-th prefill with the i-th decode.
    expect([e1.p, e2.p, e1.d, e2.d].map((x) => x.received.length)).toEqual([2, 2, 2, 2]);
    for (const e of [e1, e2]) expect(e.d.handoffs.every((x) => x.accepted && x.peer?.port === Number(new URL(e.p.url).port))).toBe(true);
  });
});
