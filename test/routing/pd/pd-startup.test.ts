// PD through the real start-up path: static --prefill/--decode, and vLLM self-registration over ZMQ from libzmq.
import { describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { startMockEngine } from '../../../testkit/mock-engine.ts';
import { startTestRouter } from '../../support/router.ts';
import { until } from '../../../testkit/until.ts';
import { PythonPeer } from '../../zmq/python-peer.ts';
import { LLAMA_DIR } from '../../pool/tokenizer-fixture.ts';

const PD_ID = /^___prefill_addr_(.+)___decode_addr_(.+)_[0-9a-f]{32}$/;

describe('--vllm-pd-disaggregation', () => {
  test('static --prefill and --decode: streaming and non-streaming chat and completions, hand-offs verified by the decode engine', async () => {
    await using prefill = await startMockEngine({ model: 'm', role: 'prefill' });
    await using decode = await startMockEngine({ model: 'm', role: 'decode' });
    await using r = await startTestRouter(['--vllm-pd-disaggregation', '--prefill', prefill.url, 'none', '--decode', decode.url, '--policy', 'round_robin']);
    const openai = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'k', maxRetries: 0 });

    const chat = await openai.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen' }], max_tokens: 5 });
    expect(chat.choices[0]!.finish_reason).toBe('length');
    const stream = await openai.completions.create({ model: 'm', prompt: 'x '.repeat(40), max_tokens: 6, stream: true });
    let chunks = 0;
    for await (const _ of stream) chunks++;
    expect(chunks).toBe(6);

    expect(decode.handoffs.length).toBe(2);
    expect(decode.handoffs.every((h) => h.accepted)).toBe(true);
    const prefillLeg = prefill.received.find((q) => q.path === '/v1/completions')!;
    expect(prefillLeg.json).toMatchObject({ max_tokens: 1, stream: false, kv_transfer_params: { do_remote_decode: true, do_remote_prefill: false } });
    const ids = [prefillLeg.headers['x-request-id'], decode.received.find((q) => q.path === '/v1/completions')!.headers['x-request-id']];
    expect(ids[0]).toBe(ids[1]!);
    expect(PD_ID.exec(ids[0]!)?.slice(1, 3)).toEqual([new URL(prefill.url).host, new URL(decode.url).host]);
    expect((await (await fetch(`${r.url}/readiness`)).json()) as object).toMatchObject({ status: 'ready', prefill: { healthy: 1 }, decode: { healthy: 1 } });
  });

  test('a cache_aware PD stage matches on token blocks when a tokenizer is configured', async () => {
    await using prefill = await startMockEngine({ model: 'm', role: 'prefill' });
    await using decode = await startMockEngine({ model: 'm', role: 'decode' });
    await using r = await startTestRouter(['--vllm-pd-disaggregation', '--prefill', prefill.url, '--decode', decode.url, '--policy', 'round_robin', '--prefill-policy', 'cache_aware', '--tokenizer-path', LLAMA_DIR, '--tokenizer-pool-size', '1']);
    const res = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'word '.repeat(40), max_tokens: 2 }) });
    expect(res.status).toBe(200);
    await res.text();
    const metrics = await (await fetch(r.router.metricsUrl)).text();
    expect(metrics).toMatch(/^vllm_tokenizer_encode_duration_seconds_count 1$/m);
  });

  test('endpoints that register over ZMQ from libzmq are routed through, and dropped when their pings stop', async () => {
    await using prefill = await startMockEngine({ model: 'm', role: 'prefill' });
    await using decode = await startMockEngine({ model: 'm', role: 'decode' });
    await using r = await startTestRouter(['--vllm-pd-disaggregation', '--vllm-discovery-address', '127.0.0.1:0', '--policy', 'round_robin']);
    expect((await fetch(`${r.url}/readiness`)).status).toBe(503);
    const address = `tcp://127.0.0.1:${r.router.registrationPort}`;
    const host = (url: string) => new URL(url).host;
    // vLLM's ping thread: a DEALER whose identity is its ZMQ address, a msgpack registration every few seconds.
    await using p = PythonPeer.start(['register', '--connect', address, '--type', 'P', '--http-address', host(prefill.url), '--zmq-address', '127.0.0.1:21001', '--interval', '0.5']);
    await using d = PythonPeer.start(['register', '--connect', address, '--type', 'D', '--http-address', host(decode.url), '--zmq-address', '127.0.0.1:22001', '--interval', '0.5']);
    await until(async () => (await fetch(`${r.url}/readiness`)).status === 200, 'both registrations');

    const openai = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'k', maxRetries: 0 });
    const reply = await openai.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hello there' }], max_tokens: 3 });
    expect(reply.choices[0]!.finish_reason).toBe('length');
    const id = decode.received.find((q) => q.path === '/v1/chat/completions')!.headers['x-request-id']!;
    // The ids carry the ZMQ addresses the engines registered, as P2pNcclConnector expects.
    expect(PD_ID.exec(id)?.slice(1, 3)).toEqual(['127.0.0.1:21001', '127.0.0.1:22001']);
    expect(r.router.registry.all().map((e) => e.role).sort()).toEqual(['decode', 'prefill']);

    await p[Symbol.asyncDispose]();
    await d[Symbol.asyncDispose]();
    await until(() => r.router.registry.all().length === 0, 'registrations to expire');
    expect((await fetch(`${r.url}/readiness`)).status).toBe(503);
  });
});
