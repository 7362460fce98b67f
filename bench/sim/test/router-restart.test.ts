// bench:sim's kv_aware fleet and --restart-router-at, on real processes: simulated engines publishing KV events,
// the compiled router reading them, and a rolling restart of the router in the middle.
import { afterAll, describe, expect, test } from 'bun:test';
import { buildRouterBinary } from '../../../testkit/router-binary.ts';
import { until } from '../../../testkit/until.ts';
import { predictedCachedTokens, restartRouters, spawnEngine, spawnRouter, type ChildProc } from '../fleet.ts';
import { KV_EVENTS_ENGINE_ARGS, ROUTER_TOKENIZER_ARGS, routerKvArgs } from '../kv-fleet.ts';

const binary = buildRouterBinary();
afterAll(() => binary[Symbol.dispose]());

const chat = (router: string) =>
  fetch(`${router}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'system', content: 'You answer questions about the cache. '.repeat(40) }, { role: 'user', content: 'Which block?' }], max_tokens: 2 }),
  }).then((r) => r.text());

const engineHits = async (engine: ChildProc): Promise<number> => {
  const text = await (await fetch(`${engine.url}/metrics`)).text();
  return Number(/^vllm:prefix_cache_hits_total\{[^}]*\} (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
};

describe('a kv_aware fleet in bench:sim', () => {
  test('the router reads the engines’ events: its predicted cached tokens are the engines’ own hits', async () => {
    await using engine = await spawnEngine(['--model', 'm', '--step-base-ms', '1', ...KV_EVENTS_ENGINE_ARGS]);
    const router = await spawnRouter(binary.path, [engine.url], 'kv_aware', [...ROUTER_TOKENIZER_ARGS, ...(await routerKvArgs([engine]))]);
    if ('error' in router) throw new Error(router.error);
    await using _router = router;
    await chat(router.url);
    // The second request finds the first one's blocks, once the engine's events have reached the router.
    let predicted = 0;
    for (let i = 0; i < 50 && predicted === 0; i++) {
      await chat(router.url);
      predicted = await predictedCachedTokens([router]);
    }
    expect(predicted).toBeGreaterThan(0);
    expect(predicted).toBe(await engineHits(engine));
  });

  test('a restart puts a fresh router in each replica’s place, stops the old one, and keeps what it predicted', async () => {
    await using engine = await spawnEngine(['--model', 'm', '--step-base-ms', '1', ...KV_EVENTS_ENGINE_ARGS]);
    const args = [...ROUTER_TOKENIZER_ARGS, ...(await routerKvArgs([engine]))];
    const spawnOne = () => spawnRouter(binary.path, [engine.url], 'kv_aware', args);
    const first = await spawnOne();
    if ('error' in first) throw new Error(first.error);
    const routers: ChildProc[] = [first];
    const targets = [first.url];
    try {
      for (let i = 0; i < 3; i++) await chat(targets[0]!);
      const before = await predictedCachedTokens([first]);
      const predicted = { before: 0 };
      await restartRouters(routers, targets, spawnOne, predicted, (line) => {
        throw new Error(line);
      });
      expect(targets[0]).not.toBe(first.url);
      expect(routers[0]).not.toBe(first);
      expect(predicted.before).toBe(before);
      expect(await fetch(`${first.url}/health`).then(() => 'answered', () => 'refused')).toBe('refused');
      // The successor learns what the engine holds from its replay socket: once the replay is in, its first
      // request is predicted cached.
      const metrics = routers[0]!.second!;
      await until(async () => /^vllm_router_kv_event_replays_total\{[^}]*outcome="completed"\} [1-9]/m.test(await (await fetch(metrics)).text()), 'the successor’s replay');
      await chat(targets[0]!);
      expect(await predictedCachedTokens(routers)).toBeGreaterThan(0);
    } finally {
      await Promise.all(routers.map((r) => r.stop()));
    }
  });
});
