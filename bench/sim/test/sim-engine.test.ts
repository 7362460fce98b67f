import { describe, expect, test } from 'bun:test';
import { startSimEngine as start, type SimEngineOptions } from '../sim-engine.ts';
import { loadSimTokenizer } from '../sim-tokenizer.ts';
import { until } from '../../../testkit/until.ts';

/** A fast engine for tests: 1 ms steps plus a clearly measurable prefill cost. */
const FAST = { stepBaseMs: 1, prefillMsPerToken: 0.5, prefillAttentionMsPerKTokens: 0, decodeMsPerSeq: 0, attentionMsPerKTokens: 0 };
/** One tokenizer for every engine of the file (each would load its own, ~0.6 s). */
const tokenizer = loadSimTokenizer();
const startSimEngine = (o: Partial<SimEngineOptions>) => start({ tokenizer, ...o });
/** How many leading ids two prompts share. */
const common = (a: readonly number[], b: readonly number[]) => {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
};

const post = (url: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

/** The SSE events of a response body, `[DONE]` included. */
async function events(res: Response): Promise<string[]> {
  const text = await res.text();
  expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  return text
    .split('\n\n')
    .filter((e) => e !== '')
    .map((e) => {
      expect(e.startsWith('data: ')).toBe(true);
      return e.slice(6);
    });
}

function metric(text: string, name: string, label = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  if (line === undefined) throw new Error(`no ${name} in /metrics`);
  return Number(line.split(' ').at(-1));
}

const words = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`).join(' ');

describe('simulated engine over HTTP', () => {
  test('streams chat in vLLM framing: role chunk, one chunk per token, finish, usage, [DONE]', async () => {
    await using engine = await startSimEngine({ model: 'm', params: FAST });
    const res = await post(engine.url, '/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hello there' }], max_tokens: 4, stream: true, stream_options: {} }, { 'x-request-id': 'abc' });
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const ev = (await events(res)).map((e) => (e === '[DONE]' ? e : JSON.parse(e)));
    expect(ev[0].id).toBe('chatcmpl-abc');
    expect(ev[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    const content = ev.slice(1, 5).map((e) => e.choices[0].delta.content);
    expect(content.length).toBe(4);
    expect(ev[4].choices[0].finish_reason).toBe('length');
    // The Llama 3.1 template around "hello there": 12 tokens (sim-tokenizer.test.ts pins them).
    expect(ev[5].usage).toEqual({ prompt_tokens: 12, total_tokens: 16, completion_tokens: 4 });
    // The reply's words, as real tokens: the first opens the line, the others carry their space.
    expect(content.join('')).toBe(content.join('').trim());
    expect(content.slice(1).every((c: string) => c.startsWith(' '))).toBe(true);
    expect(ev[6]).toBe('[DONE]');
  });

  test('answers completions without streaming, and refuses what vLLM refuses', async () => {
    await using engine = await startSimEngine({ model: 'm', params: FAST });
    const ok = await post(engine.url, '/v1/completions', { model: 'm', prompt: 'one two three', max_tokens: 3 });
    const body = (await ok.json()) as { choices: { text: string; finish_reason: string }[]; usage: { prompt_tokens: number; completion_tokens: number } };
    expect(body.choices[0]!.text.split(' ').length).toBe(4); // leading space + 3 words
    expect(body.usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 3 }); // BOS + 3 words
    expect((await post(engine.url, '/v1/completions', { model: 'other', prompt: 'x' })).status).toBe(404);
    expect((await post(engine.url, '/v1/completions', { model: 'm', prompt: 'x', stream_options: { include_usage: true } })).status).toBe(400);
    expect((await post(engine.url, '/v1/completions', { model: 'm', prompt: 'x', priority: 2 })).status).toBe(400);
    expect((await post(engine.url, '/v1/completions', { model: 'm', prompt: words('w', 9000) })).status).toBe(400);
  });

  test('/metrics counters match what was served', async () => {
    await using engine = await startSimEngine({ model: 'm', params: FAST });
    const system = words('sys', 64);
    const lengths = [3, 5, 7, 9];
    let promptTotal = 0;
    const prompts: (readonly number[])[] = [];
    for (const [i, n] of lengths.entries()) {
      const messages = [
        { role: 'system', content: system },
        { role: 'user', content: words(`u${i}-`, 10) },
      ];
      prompts.push(tokenizer.chatIds(messages));
      promptTotal += prompts.at(-1)!.length;
      const res = await post(engine.url, '/v1/chat/completions', { model: 'm', messages, max_tokens: n, stream: i % 2 === 0 });
      await res.text();
    }
    const text = await (await fetch(`${engine.url}/metrics`)).text();
    expect(metric(text, 'vllm:prompt_tokens_total')).toBe(promptTotal);
    expect(metric(text, 'vllm:generation_tokens_total')).toBe(24);
    expect(metric(text, 'vllm:request_success_total', 'finished_reason="length"')).toBe(4);
    expect(metric(text, 'vllm:time_to_first_token_seconds_count')).toBe(4);
    expect(metric(text, 'vllm:inter_token_latency_seconds_count')).toBe(20);
    expect(metric(text, 'vllm:e2e_request_latency_seconds_count')).toBe(4);
    expect(metric(text, 'vllm:prefix_cache_queries_total')).toBe(promptTotal);
    // Requests 2–4 find the full blocks of what they share with the first (the template and the system prompt).
    const shared = Math.floor(common(prompts[0]!, prompts[1]!) / 16) * 16;
    expect(shared).toBeGreaterThan(64);
    expect(metric(text, 'vllm:prefix_cache_hits_total')).toBe(3 * shared);
    expect(metric(text, 'vllm:num_requests_running')).toBe(0);
    expect(metric(text, 'vllm:num_requests_waiting')).toBe(0);
    expect(metric(text, 'vllm:kv_cache_usage_perc')).toBe(0);
  });

  test('a cached prefix cuts the time to first token', async () => {
    await using engine = await startSimEngine({ model: 'm', params: FAST });
    const ttft = async (prompt: string): Promise<number> => {
      const start = performance.now();
      const res = await post(engine.url, '/v1/completions', { model: 'm', prompt, max_tokens: 2, stream: true });
      const reader = res.body!.getReader();
      await reader.read();
      const t = performance.now() - start;
      await reader.cancel();
      return t;
    };
    const shared = words('doc', 400);
    await ttft(`${shared} first`);
    const hit = await ttft(`${shared} second`);
    const miss = await ttft(`${words('fresh', 400)} third`);
    // Prefill of ~800 tokens (two per word: " doc", "12") at 0.5 ms each is ~400 ms; the hit computes ~1 block.
    expect(miss).toBeGreaterThan(300);
    expect(hit).toBeLessThan(miss / 3);
  });

  test('a client that disconnects mid-stream aborts its request in the engine', async () => {
    await using engine = await startSimEngine({ model: 'm', params: { ...FAST, stepBaseMs: 20 } });
    const res = await post(engine.url, '/v1/completions', { model: 'm', prompt: 'go', max_tokens: 1000, stream: true });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await until(() => engine.counters().requestSuccess.abort === 1, 'the abort');
    expect(engine.counters().running).toBe(0);
  });

  test('prefill/decode: the prefill engine hands off once; decode serves only a matching hand-off', async () => {
    await using prefill = await startSimEngine({ model: 'm', role: 'prefill', params: FAST });
    await using decode = await startSimEngine({ model: 'm', role: 'decode', params: FAST });
    const request = { model: 'm', messages: [{ role: 'user', content: words('q', 100) }], max_tokens: 6 };
    const leg1 = await post(prefill.url, '/v1/chat/completions', { ...request, stream: false, max_tokens: 1, kv_transfer_params: { do_remote_decode: true, do_remote_prefill: false, remote_engine_id: null, remote_block_ids: null, remote_host: null, remote_port: null } }, { 'x-request-id': 'pd-1' });
    const pBody = (await leg1.json()) as { kv_transfer_params: Record<string, unknown>; choices: { finish_reason: string }[] };
    expect(pBody.choices[0]!.finish_reason).toBe('length');
    const kv = pBody.kv_transfer_params;
    expect(kv).toMatchObject({ do_remote_prefill: true, do_remote_decode: false, remote_host: '127.0.0.1', remote_port: prefill.port, remote_request_id: 'chatcmpl-pd-1', tp_size: 1 });
    expect((kv.remote_block_ids as number[]).length).toBe(Math.floor(tokenizer.chatIds(request.messages).length / 16)); // the prompt's full blocks

    expect((await post(decode.url, '/v1/chat/completions', request)).status).toBe(400);
    const leg2 = await post(decode.url, '/v1/chat/completions', { ...request, stream: true, kv_transfer_params: kv }, { 'x-request-id': 'pd-1' });
    expect(leg2.status).toBe(200);
    const tokens = (await events(leg2)).filter((e) => e.includes('"content":"') && !e.includes('"role"'));
    expect(tokens.length).toBe(6);
    const again = await post(decode.url, '/v1/chat/completions', { ...request, kv_transfer_params: kv });
    expect(again.status).toBe(400);
    expect(((await again.json()) as { error: { message: string } }).error.message).toContain('already consumed');
  });

  test('serves /health, /v1/models and /load', async () => {
    await using engine = await startSimEngine({ model: 'm', params: FAST });
    expect((await fetch(`${engine.url}/health`)).status).toBe(200);
    const models = (await (await fetch(`${engine.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(['m']);
    expect(await (await fetch(`${engine.url}/load`)).json()).toEqual({ server_load: 0 });
  });
});
