import { describe, expect, test } from 'bun:test';
import { isRouterError } from '../../../src/wire/errors.ts';
import { createMooncakeBootstrap, parseQueryBody } from '../../../src/routing/pd/mooncake-bootstrap.ts';
import { startMockEngine } from '../../../testkit/mock-engine.ts';

const target = (port: number, dpRank?: number) => ({ url: 'http://127.0.0.1:8000', bootstrapPort: port, dpRank });
const live = () => new AbortController().signal;

/** A fake fetch that answers from a script, one entry per call, and counts calls per URL. */
function scripted(answers: (() => Response | Promise<Response>)[]) {
  const calls: string[] = [];
  return {
    calls,
    fetch: async (url: string) => {
      calls.push(url);
      const next = answers.shift();
      if (next === undefined) throw new Error('no more scripted answers');
      return next();
    },
  };
}
const json = (body: unknown) => () => Response.json(body);
const noWait = async () => true;

describe('the /query body', () => {
  test('maps each rank to its engine id', () => {
    expect(parseQueryBody({ '0': { engine_id: 'a' }, '1': { engine_id: 'b' } })).toEqual(new Map([['0', 'a'], ['1', 'b']]));
  });
  test('is refused when no rank has an engine id', () => {
    expect(typeof parseQueryBody({ '0': {} })).toBe('string');
    expect(typeof parseQueryBody([])).toBe('string');
  });
});

describe('Mooncake bootstrap lookup', () => {
  test('asks GET <http://prefill host:bootstrap port>/query once and caches the answer', async () => {
    const f = scripted([json({ '0': { engine_id: 'eng-0' } })]);
    using boot = createMooncakeBootstrap({}, { fetch: f.fetch, sleep: noWait });
    expect(await Promise.all([boot.engineId(target(8998), live()), boot.engineId(target(8998), live())])).toEqual(['eng-0', 'eng-0']);
    expect(await boot.engineId(target(8998), live())).toBe('eng-0');
    expect(f.calls).toEqual(['http://127.0.0.1:8998/query']);
  });

  test('picks the engine id of the endpoint’s data-parallel rank, else the lowest rank', async () => {
    const f = scripted([json({ '10': { engine_id: 'ten' }, '2': { engine_id: 'two' }, '1': { engine_id: 'one' } })]);
    using boot = createMooncakeBootstrap({}, { fetch: f.fetch, sleep: noWait });
    expect(await boot.engineId(target(9000, 2), live())).toBe('two');
    expect(await boot.engineId(target(9000, 7), live())).toBe('one');
    expect(await boot.engineId(target(9000), live())).toBe('one');
  });

  test('retries with growing backoff until the bootstrap server answers', async () => {
    const f = scripted([() => new Response('not yet', { status: 503 }), () => Promise.reject(new Error('ECONNREFUSED')), json({ '0': { engine_id: 'late' } })]);
    const waits: number[] = [];
    using boot = createMooncakeBootstrap({ initialBackoffMs: 100, maxBackoffMs: 150 }, { fetch: f.fetch, sleep: async (ms) => (waits.push(ms), true) });
    expect(await boot.engineId(target(8998), live())).toBe('late');
    expect(waits).toEqual([100, 150]);
  });

  test('after the last attempt the error names the bootstrap server, and the next request starts over', async () => {
    const f = scripted([() => new Response('', { status: 500 }), () => new Response('', { status: 500 }), json({ '0': { engine_id: 'back' } })]);
    using boot = createMooncakeBootstrap({ attempts: 2 }, { fetch: f.fetch, sleep: noWait });
    const first = await boot.engineId(target(8998), live());
    expect(isRouterError(first) && first.message).toContain('http://127.0.0.1:8998');
    expect(await boot.engineId(target(8998), live())).toBe('back');
  });

  test('a request waits at most maxWaitMs for a query in progress; the query goes on for later requests', async () => {
    let answer: (r: Response) => void = () => {};
    const f = scripted([() => new Promise<Response>((resolve) => (answer = resolve))]);
    using boot = createMooncakeBootstrap({ maxWaitMs: 20 }, { fetch: f.fetch, sleep: noWait });
    const waited = await boot.engineId(target(8998), live());
    expect(isRouterError(waited) && waited.kind).toBe('upstream_timeout');
    answer(Response.json({ '0': { engine_id: 'slow' } }));
    expect(await boot.warm(target(8998))).toBe('slow');
    expect(f.calls.length).toBe(1);
  });

  test('a request that ends while waiting gets client_closed at once', async () => {
    const f = scripted([() => new Promise<Response>(() => {})]);
    using boot = createMooncakeBootstrap({ maxWaitMs: 10_000 }, { fetch: f.fetch, sleep: noWait });
    const controller = new AbortController();
    const pending = boot.engineId(target(8998), controller.signal);
    controller.abort();
    const result = await pending;
    expect(isRouterError(result) && result.kind).toBe('client_closed');
  });

  test('forget drops the cached ids so a restarted engine is asked again', async () => {
    const f = scripted([json({ '0': { engine_id: 'old' } }), json({ '0': { engine_id: 'new' } })]);
    using boot = createMooncakeBootstrap({}, { fetch: f.fetch, sleep: noWait });
    expect(await boot.engineId(target(8998), live())).toBe('old');
    boot.forget(target(8998));
    expect(await boot.engineId(target(8998), live())).toBe('new');
  });

  test('against the mock engine’s bootstrap listener', async () => {
    await using engine = await startMockEngine({ role: 'prefill', model: 'm', bootstrapPort: 0 });
    using boot = createMooncakeBootstrap();
    expect(await boot.warm({ url: engine.url, bootstrapPort: engine.bootstrapPort, dpRank: undefined })).toBe(engine.engineId);
  });
});
