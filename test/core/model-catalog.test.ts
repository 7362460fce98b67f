import { describe, expect, test } from 'bun:test';
import { createModelCatalog } from '../../src/core/model-catalog.ts';
import { createRegistry, type EndpointRegistry } from '../../src/core/registry.ts';
import type { Endpoint } from '../../src/core/endpoint.ts';
import { eligibleEndpoints } from '../../src/routing/eligible-endpoints.ts';
import { isRouterError } from '../../src/wire/errors.ts';
import { createPolicy } from '../../src/policies/index.ts';

const card = (id: string, parent: string | null = null) => ({ id, object: 'model', owned_by: 'vllm', parent });
const ids = (r: ReturnType<typeof eligibleEndpoints>) => (isRouterError(r) ? r.kind : r.endpoints.map((e) => e.url));

function fleet() {
  const registry = createRegistry();
  const catalog = createModelCatalog(registry);
  const add = (url: string, models?: string[]) => registry.add({ url, models }) as Endpoint;
  return { registry, catalog, add };
}

describe('the model catalog', () => {
  test('an endpoint whose models are not read yet takes any model; once read, only its own (LoRA adapters included)', () => {
    const { registry, catalog, add } = fleet();
    const a = add('http://a:1');
    const b = add('http://b:1');
    const models = { catalog };
    expect(ids(eligibleEndpoints(registry, models, 'regular', 'beta'))).toEqual(['http://a:1', 'http://b:1']);
    catalog.learn(a, [card('alpha'), card('alpha-lora', 'alpha')]);
    // b is still unknown: it may serve beta, a does not.
    expect(ids(eligibleEndpoints(registry, models, 'regular', 'beta'))).toEqual(['http://b:1']);
    expect(ids(eligibleEndpoints(registry, models, 'regular', 'alpha-lora'))).toEqual(['http://a:1', 'http://b:1']);
    catalog.learn(b, [card('beta')]);
    expect(ids(eligibleEndpoints(registry, models, 'regular', 'alpha-lora'))).toEqual(['http://a:1']);
    expect(ids(eligibleEndpoints(registry, models, 'regular', 'gamma'))).toBe('model_not_found');
    expect(catalog.served('regular')).toEqual(['alpha', 'alpha-lora', 'beta']);
    // No model named: anywhere.
    expect(ids(eligibleEndpoints(registry, models, 'regular', undefined))).toEqual(['http://a:1', 'http://b:1']);
  });

  test('a known model with nothing available is a 503; a model once served and now gone too', () => {
    const { registry, catalog, add } = fleet();
    const a = add('http://a:1', ['alpha']);
    add('http://b:1', ['beta']);
    a.healthy = false;
    expect(ids(eligibleEndpoints(registry, { catalog }, 'regular', 'alpha'))).toBe('no_available_endpoints');
    registry.remove(a.id);
    expect(ids(eligibleEndpoints(registry, { catalog }, 'regular', 'alpha'))).toBe('no_available_endpoints');
    expect(ids(eligibleEndpoints(registry, { catalog }, 'regular', 'never-seen'))).toBe('model_not_found');
  });

  test('configured models stay whatever the listing says; an empty registry is a 503, never a 404', () => {
    const { registry, catalog, add } = fleet();
    expect(ids(eligibleEndpoints(registry, { catalog }, 'regular', 'alpha'))).toBe('no_available_endpoints');
    const a = add('http://a:1', ['alpha']);
    catalog.learn(a, [card('other')]);
    expect([...a.models!]).toEqual(['alpha']);
  });

  test('a fleet serving one model passes the registry\'s list on as it is: no copy per request', () => {
    const registry = createRegistry();
    const catalog = createModelCatalog(registry);
    for (const url of ['http://a:1', 'http://b:1']) catalog.learn(registry.add({ url }) as Endpoint, [card('m')]);
    const fixed = registry.available('regular');
    const spy: EndpointRegistry = { ...registry, available: () => fixed };
    const eligible = eligibleEndpoints(spy, { catalog }, 'regular', 'm');
    expect(!isRouterError(eligible) && eligible.endpoints).toBe(fixed);
    expect(!isRouterError(eligible) && eligible.model).toBe('m');
  });
});

describe('per-model policy state', () => {
  test('round_robin keeps a counter per model: interleaved models still alternate over their own endpoints', () => {
    const { registry, catalog, add } = fleet();
    const a = [add('http://a1:1', ['alpha']), add('http://a2:1', ['alpha'])];
    const b = [add('http://b1:1', ['beta']), add('http://b2:1', ['beta'])];
    const policy = createPolicy('round_robin', { random: Math.random, now: Date.now, options: { cacheThreshold: 0.5, balanceAbsThreshold: 64, balanceRelThreshold: 1.5, evictionIntervalSecs: 60, maxTreeSize: 1000 } });
    const request = { route: '/v1/completions', headers: new Headers(), body: undefined, text: '' };
    const chosen: string[] = [];
    for (let i = 0; i < 4; i++)
      for (const model of ['alpha', 'beta']) {
        const eligible = eligibleEndpoints(registry, { catalog }, 'regular', model);
        if (isRouterError(eligible)) throw new Error(eligible.message);
        chosen.push(policy.select({ candidates: eligible.endpoints, model: eligible.model, all: registry.all(), request })!.url);
      }
    // One shared counter would send alpha to a1 every time (even turns) and beta to b2 (odd turns).
    expect(chosen.filter((u) => u.startsWith('http://a')).sort()).toEqual([a[0]!.url, a[0]!.url, a[1]!.url, a[1]!.url]);
    expect(chosen.filter((u) => u.startsWith('http://b')).sort()).toEqual([b[0]!.url, b[0]!.url, b[1]!.url, b[1]!.url]);
  });
});
