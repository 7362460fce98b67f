// The compiled binary in front of a fleet serving several models: each request reaches only an engine that serves
// its model, unknown models are refused with 404 model_not_found, aliases are rewritten in the body's bytes.
import { afterAll, describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { startRouterProcess } from '../../testkit/router-process.ts';
import { metricSamples } from '../../testkit/metric-value.ts';
import { until } from '../../testkit/until.ts';

const build = buildRouterBinary();
afterAll(() => build[Symbol.dispose]());

const post = (url: string, path: string, body: string) => fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

describe('model-aware routing (compiled binary)', () => {
  test('two engines with different models and a LoRA adapter: requests go only where their model is served', async () => {
    await using alpha = await startMockEngine({ model: 'alpha', loras: ['alpha-lora'] });
    await using beta = await startMockEngine({ model: 'beta' });
    await using router = await startRouterProcess(build.path, ['--worker-urls', alpha.url, beta.url, '--policy', 'round_robin', '--static-aliases', 'gpt-4o:beta,house:alpha-lora']);
    const openai = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'k', maxRetries: 0 });

    // Round robin alone would alternate; the model decides instead.
    for (let i = 0; i < 4; i++) {
      const a = await openai.chat.completions.create({ model: 'alpha', messages: [{ role: 'user', content: `a${i}` }], max_tokens: 2 });
      expect(a.model).toBe('alpha');
      const lora = await openai.completions.create({ model: 'alpha-lora', prompt: `l${i}`, max_tokens: 2 });
      expect(lora.model).toBe('alpha-lora');
      const b = await openai.chat.completions.create({ model: 'beta', messages: [{ role: 'user', content: `b${i}` }], max_tokens: 2 });
      expect(b.model).toBe('beta');
    }
    const generations = (engine: typeof alpha) => engine.received.filter((r) => r.method === 'POST');
    expect(generations(alpha).map((r) => (r.json as { model: string }).model).sort()).toEqual([...Array(4).fill('alpha'), ...Array(4).fill('alpha-lora')]);
    expect(generations(beta).map((r) => (r.json as { model: string }).model)).toEqual(Array(4).fill('beta'));

    // A model nobody serves: 404 in the OpenAI envelope, naming what is served.
    const unknown = await post(router.url, '/v1/chat/completions', '{"model":"gamma","messages":[{"role":"user","content":"x"}]}');
    expect(unknown.status).toBe(404);
    const error = ((await unknown.json()) as { error: { code: string; message: string; param: string } }).error;
    expect(error.code).toBe('model_not_found');
    expect(error.param).toBe('model');
    expect(error.message).toContain("'gamma'");
    expect(error.message).toContain('alpha, alpha-lora, beta');
    expect(generations(alpha).length + generations(beta).length).toBe(12);

    // An alias: only the bytes of the model's value change; unknown roles, a tool without `parameters`,
    // unknown vLLM fields, spacing and key order reach the engine as the client wrote them.
    const sent =
      '{ "messages" : [{"role":"developer","content":"be brief"},{"role":"user","content":"hi \\u00e9"},{"role":"narrator","content":"x"}],\n' +
      '  "model":"gpt-4o", "tools":[{"type":"function","function":{"name":"f"}}], "vllm_new_field":{"a":[1,2.50,1e3]}, "max_tokens":2 }';
    beta.clearReceived();
    const aliased = await post(router.url, '/v1/chat/completions', sent);
    expect(aliased.status).toBe(200);
    expect(((await aliased.json()) as { model: string }).model).toBe('beta');
    expect(beta.received).toHaveLength(1);
    expect(beta.received[0]!.bodyText).toBe(sent.replace('"gpt-4o"', '"beta"'));
    // A LoRA adapter's alias goes to the engine that serves the adapter.
    const house = await openai.completions.create({ model: 'house', prompt: 'p', max_tokens: 1 });
    expect(house.model).toBe('alpha-lora');

    // The router's listing: every engine's cards, the adapter with its parent.
    const listing = ((await (await fetch(`${router.url}/v1/models`)).json()) as { data: { id: string; owned_by: string; parent: string | null }[] }).data;
    expect(listing.map((m) => [m.id, m.owned_by, m.parent])).toEqual([
      ['alpha', 'vllm', null],
      ['alpha-lora', 'vllm', 'alpha'],
      ['beta', 'vllm', null],
    ]);
    // And the metrics: which endpoint serves which model.
    const served = metricSamples(await router.scrape(), 'vllm_router_endpoint_models');
    expect(served.sort()).toEqual([`{worker="${alpha.url}",model="alpha"} 1`, `{worker="${alpha.url}",model="alpha-lora"} 1`, `{worker="${beta.url}",model="beta"} 1`].sort());
  });

  test('a known model whose engines are all down gets 503; a request without a model goes anywhere', async () => {
    await using alpha = await startMockEngine({ model: 'alpha' });
    await using beta = await startMockEngine({ model: 'beta' });
    await using router = await startRouterProcess(build.path, ['--worker-urls', alpha.url, beta.url, '--static-models', 'alpha,beta', '--policy', 'round_robin', '--health-check-interval-secs', '1', '--health-failure-threshold', '1']);
    beta.set({ healthy: false });
    await until(async () => !(await (await fetch(`${router.url}/health`)).text()).includes('All servers healthy'), 'beta marked unhealthy');
    const down = await post(router.url, '/v1/completions', '{"model":"beta","prompt":"x","max_tokens":1}');
    expect(down.status).toBe(503);
    expect(((await down.json()) as { error: { code: string } }).error.code).toBe('no_available_endpoints');
    beta.set({ healthy: true });
    await until(async () => (await (await fetch(`${router.url}/health`)).text()).includes('All servers healthy'), 'beta healthy again');
    // No model: round robin over both, as before models were known (the engines answer with their own model).
    const models = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const res = await post(router.url, '/v1/completions', '{"prompt":"x","max_tokens":1}');
      expect(res.status).toBe(200);
      models.add(((await res.json()) as { model: string }).model);
    }
    expect([...models].sort()).toEqual(['alpha', 'beta']);
  });
});
