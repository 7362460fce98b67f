// What each endpoint serves follows the engines: a LoRA adapter loaded at run time is routed to at once, and an
// endpoint whose listing cannot be read takes any model rather than none.
import { describe, expect, test } from 'bun:test';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { startTestRouter } from '../support/router.ts';

const complete = (url: string, model: string) =>
  fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, prompt: 'x', max_tokens: 1 }) });

describe('models follow the engines', () => {
  test('an adapter loaded on an engine after the last read: the router reads the listings again before refusing it', async () => {
    await using alpha = await startMockEngine({ model: 'alpha' });
    await using beta = await startMockEngine({ model: 'beta' });
    await using r = await startTestRouter(['--worker-urls', alpha.url, beta.url, '--policy', 'round_robin']);
    // Loaded on the engine directly (an RL trainer does this), so the router was not told.
    alpha.set({ loras: ['sql-lora'] });
    for (let i = 0; i < 3; i++) {
      const res = await complete(r.url, 'sql-lora');
      expect(res.status).toBe(200);
      expect(res.headers.get('x-served-by')).toBe(alpha.url);
    }
  });

  test('an adapter loaded through the router is routed to at once; unloaded, it is a model that was served and is not now (503)', async () => {
    await using alpha = await startMockEngine({ model: 'alpha', runtimeLoraUpdating: true });
    await using r = await startTestRouter(['--worker-urls', alpha.url, '--policy', 'round_robin']);
    // Asked for before it exists: a 404, and the fleet's listings were just read.
    expect((await complete(r.url, 'sql-lora')).status).toBe(404);
    const admin = (path: string, body: unknown) => fetch(r.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const loaded = await admin('/v1/load_lora_adapter', { lora_name: 'sql-lora', lora_path: '/adapters/sql' });
    expect(await loaded.text()).toBe("Success: LoRA adapter 'sql-lora' added successfully.");
    expect((await complete(r.url, 'sql-lora')).status).toBe(200);
    const listing = ((await (await fetch(`${r.url}/v1/models`)).json()) as { data: { id: string; parent: string | null }[] }).data;
    expect(listing.map((m) => [m.id, m.parent])).toEqual([['alpha', null], ['sql-lora', 'alpha']]);
    expect((await admin('/v1/unload_lora_adapter', { lora_name: 'sql-lora' })).status).toBe(200);
    const gone = await complete(r.url, 'sql-lora');
    expect(gone.status).toBe(503);
    expect(((await gone.json()) as { error: { code: string } }).error.code).toBe('no_available_endpoints');
  });

  test('an endpoint whose /v1/models cannot be read takes any model; the failure is counted', async () => {
    await using locked = await startMockEngine({ model: 'alpha', apiKey: 'engine-only' });
    await using r = await startTestRouter(['--worker-urls', locked.url, '--policy', 'round_robin']);
    const scrape = async () => (await fetch(r.router.metricsUrl)).text();
    expect(metricValue(await scrape(), 'vllm_router_model_listing_failures_total', { worker: locked.url })).toBeGreaterThan(0);
    // Not refused by the router: the engine answers for itself (here, its 401).
    const res = await complete(r.url, 'anything');
    expect(res.status).toBe(401);
  });

  test('PD mode: both stages go only to endpoints serving the model; an unknown one is a 404', async () => {
    await using p1 = await startMockEngine({ model: 'alpha', role: 'prefill' });
    await using p2 = await startMockEngine({ model: 'beta', role: 'prefill' });
    await using d1 = await startMockEngine({ model: 'alpha', role: 'decode' });
    await using d2 = await startMockEngine({ model: 'beta', role: 'decode' });
    await using r = await startTestRouter(['--vllm-pd-disaggregation', '--prefill', p1.url, '--prefill', p2.url, '--decode', d1.url, '--decode', d2.url, '--policy', 'round_robin']);
    for (let i = 0; i < 3; i++) {
      for (const model of ['alpha', 'beta']) {
        const res = await complete(r.url, model);
        expect(res.status).toBe(200);
        const [prefill, decode] = model === 'alpha' ? [p1, d1] : [p2, d2];
        expect(res.headers.get('x-served-by')).toBe(`${prefill.url}, ${decode.url}`);
      }
    }
    const unknown = await complete(r.url, 'gamma');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('model_not_found');
  });
});
