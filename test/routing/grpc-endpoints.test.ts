// grpc:// endpoints in a running router (in-process): health from the engine's own health call, added and
// removed through the admin API, loads from GetLoads for the QoE policies, and requests refused before a call.
import { describe, expect, test } from 'bun:test';
import { loadStandInVocabulary, standInTokenizerDir, startGrpcEngine } from '../../testkit/grpc-engine.ts';
import { until } from '../../testkit/until.ts';
import { startTestRouter } from '../support/router.ts';

const vocab = loadStandInVocabulary('llama3_1');
const MODEL = ['--model-path', standInTokenizerDir('llama3_1'), '--tokenizer-pool-size', '1'];
const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('grpc:// endpoints in a running router', () => {
  test.each(['vllm-engine', 'vllm-inference'] as const)('%s: health follows the engine health call, both ways', async (protocol) => {
    await using engine = await startGrpcEngine({ vocab, protocol });
    await using r = await startTestRouter(['--worker-urls', engine.url, ...MODEL, '--health-check-interval-secs', '1', '--health-failure-threshold', '1', '--health-success-threshold', '1']);
    const endpoint = () => r.router.registry.all()[0]!;
    expect(endpoint().healthy).toBe(true);
    engine.options.healthy = false;
    await until(() => !endpoint().healthy, 'the endpoint turns unhealthy');
    expect((await fetch(`${r.url}/health`)).status).toBe(503);
    engine.options.healthy = true;
    await until(() => endpoint().healthy, 'the endpoint turns healthy again');
  });

  test('an unreachable grpc:// endpoint is unhealthy at start-up and takes no request', async () => {
    await using engine = await startGrpcEngine({ vocab, output: 'fine' });
    await using r = await startTestRouter(['--worker-urls', engine.url, 'grpc://127.0.0.1:1', ...MODEL, '--policy', 'round_robin', '--worker-startup-timeout-secs', '1']);
    expect(r.router.registry.all().map((e) => [e.url, e.healthy])).toEqual([
      [engine.url, true],
      ['grpc://127.0.0.1:1', false],
    ]);
    for (let i = 0; i < 3; i++) {
      const res = await post(`${r.url}/v1/completions`, { model: 'grpc-model', prompt: 'x', max_tokens: 3 });
      expect(((await res.json()) as { choices: { text: string }[] }).choices[0]!.text).toBe('fine');
    }
  });

  test('the admin API adds and removes a grpc:// endpoint; a malformed one is a 400 naming the form', async () => {
    await using first = await startGrpcEngine({ vocab, output: 'first' });
    await using second = await startGrpcEngine({ vocab, output: 'second' });
    await using r = await startTestRouter(['--worker-urls', first.url, ...MODEL, '--policy', 'round_robin']);
    const add = await fetch(`${r.url}/add_worker?url=${encodeURIComponent(second.url)}`, { method: 'POST' });
    expect(add.status).toBe(200);
    const texts = new Set<string>();
    for (let i = 0; i < 4; i++) texts.add(((await (await post(`${r.url}/v1/completions`, { model: 'grpc-model', prompt: 'x', max_tokens: 1 })).json()) as { choices: { text: string }[] }).choices[0]!.text);
    expect([...texts].sort()).toEqual(['first', 'second']);
    const bad = await fetch(`${r.url}/add_worker?url=${encodeURIComponent('grpc://host/path')}`, { method: 'POST' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('grpc://HOST:PORT');
    expect((await fetch(`${r.url}/remove_worker?url=${encodeURIComponent(second.url)}`, { method: 'POST' })).status).toBe(200);
    expect(r.router.registry.all().map((e) => e.url)).toEqual([first.url]);
  });

  test('GetLoads feeds the engine load the QoE policies read, and /get_loads', async () => {
    await using engine = await startGrpcEngine({ vocab, loads: { running: 3, waiting: 2, tokenUsage: 0.25 } });
    await using r = await startTestRouter(['--worker-urls', engine.url, ...MODEL, '--policy', 'qoe_centric', '--engine-metrics-interval-secs', '1']);
    const loads = (await (await fetch(`${r.url}/get_loads`)).json()) as { workers: Record<string, unknown>[] };
    expect(loads.workers).toEqual([{ worker: engine.url, worker_type: 'regular', router_in_flight: 0, draining: false, load: 5, running: 3, waiting: 2 }]);
    const parts = r.router as unknown as { parts: { engineMetrics: { get(id: string): { running?: number; waiting?: number; kvCacheUsage?: number; stale: boolean } | undefined } } };
    await until(() => parts.parts.engineMetrics.get(engine.url)?.running === 3, 'the load is read');
    expect(parts.parts.engineMetrics.get(engine.url)).toMatchObject({ running: 3, waiting: 2, kvCacheUsage: 0.25, stale: false });
  });

  test('requests are checked before the engine is called: vLLM 400s, the context limit, streams options without a stream', async () => {
    await using engine = await startGrpcEngine({ vocab, maxContextLength: 64 });
    await using r = await startTestRouter(['--worker-urls', engine.url, ...MODEL]);
    const cases: [Record<string, unknown>, string, string | null][] = [
      [{ top_p: 0 }, 'top_p must be in (0, 1], got 0.', 'top_p'],
      [{ n: 0 }, 'n must be at least 1, got 0.', 'n'],
      [{ max_tokens: 0 }, 'max_tokens must be at least 1, got 0.', 'max_tokens'],
      [{ presence_penalty: 3 }, 'presence_penalty must be in [-2, 2], got 3.', 'presence_penalty'],
      [{ stop: [1] }, "'stop' must be a string or a list of strings", 'stop'],
      [{ stream_options: { include_usage: true } }, 'Stream options can only be defined when `stream=True`.', 'stream_options'],
      [{ logprobs: -1 }, 'logprobs must be non-negative, got -1.', 'logprobs'],
      [{ max_tokens: 100 }, "This model's maximum context length is 64 tokens.", null],
    ];
    for (const [fields, message, param] of cases) {
      const res = await post(`${r.url}/v1/completions`, { model: 'grpc-model', prompt: 'hello there', ...fields });
      expect(res.status).toBe(400);
      const error = ((await res.json()) as { error: { message: string; param: string | null } }).error;
      expect(error.message).toStartWith(message);
      expect(error.param).toBe(param);
    }
    expect(engine.record.received).toEqual([]);
  });

  test('the sampling fields reach the engine as vllm_engine.proto carries them, with defaults from generation_config', async () => {
    await using engine = await startGrpcEngine({ vocab, output: 'ok' });
    await using r = await startTestRouter(['--worker-urls', engine.url, ...MODEL]);
    const res = await post(`${r.url}/v1/completions`, {
      model: 'grpc-model',
      prompt: [1, 2, 3],
      max_tokens: 5,
      temperature: 0.5,
      top_p: 0.9,
      top_k: 40,
      min_p: 0.05,
      frequency_penalty: 0.1,
      presence_penalty: 0.2,
      repetition_penalty: 1.1,
      seed: 7,
      stop: ['x'],
      stop_token_ids: [9],
      ignore_eos: true,
      n: 2,
      logprobs: 2,
      min_tokens: 1,
      logit_bias: { '5': 3 },
      response_format: { type: 'json_object' },
    });
    expect(res.status).toBe(200);
    const sent = engine.record.received[0] as { tokenized: { input_ids: number[] }; sampling_params: Record<string, unknown> };
    expect(sent.tokenized.input_ids).toEqual([1, 2, 3]);
    expect(sent.sampling_params).toMatchObject({
      max_tokens: 5,
      top_k: 40,
      stop: ['x'],
      stop_token_ids: [9],
      ignore_eos: true,
      n: 2,
      logprobs: 2,
      seed: 7,
      min_tokens: 1,
      skip_special_tokens: true,
      json_object: true,
      logit_bias: { '5': 3 },
    });
    for (const [k, v] of Object.entries({ temperature: 0.5, top_p: 0.9, min_p: 0.05, frequency_penalty: 0.1, presence_penalty: 0.2, repetition_penalty: 1.1 }))
      expect(sent.sampling_params[k] as number).toBeCloseTo(v, 5);
    const body = (await res.json()) as { choices: { logprobs: { tokens: string[]; top_logprobs: Record<string, number>[] } }[] };
    expect(body.choices[0]!.logprobs.tokens.length).toBe(5);
    expect(Object.keys(body.choices[0]!.logprobs.top_logprobs[0]!).length).toBe(2);
  });
});

test('without --model-path the router takes the tokenizer from a VllmEngine endpoint (GetTokenizer) and answers chat', async () => {
  await using engine = await startGrpcEngine({ vocab, output: 'From the engine tokenizer.' });
  await using r = await startTestRouter(['--worker-urls', engine.url, '--tokenizer-pool-size', '1']);
  expect(r.logs.some((l) => l.includes('tokenizer fetched from a gRPC engine'))).toBe(true);
  const res = await post(`${r.url}/v1/chat/completions`, { model: 'grpc-model', messages: [{ role: 'user', content: 'hi' }] });
  const body = (await res.json()) as { choices: { message: { content: string } }[] };
  expect(body.choices[0]!.message.content).toBe('From the engine tokenizer.');
  const sent = engine.record.received[0] as { tokenized: { input_ids: number[] } };
  expect(sent.tokenized.input_ids[0]).toBe(vocab.tokenizer.token_to_id('<|begin_of_text|>'));
});
