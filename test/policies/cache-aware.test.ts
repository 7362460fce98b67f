import { afterEach, describe, expect, test } from 'bun:test';
import type { Endpoint } from '../../src/core/endpoint.ts';
import { chainBlockHashes } from '../../src/pool/block-hash.ts';
import { cacheAware, type CacheAwarePolicy } from '../../src/policies/cache-aware.ts';
import { createRadixTree, stringOps } from '../../src/policies/radix-tree.ts';
import type { PolicyDeps, PolicyOptions, RoutingRequest } from '../../src/policies/types.ts';
import { conversationText } from '../../src/routing/routing-text.ts';
import { chat, deps, endpoints, request, tally } from './routing-fixtures.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';

const live: CacheAwarePolicy[] = [];
afterEach(() => {
  for (const policy of live.splice(0)) policy.dispose?.();
});

function make(options: Partial<PolicyOptions> = {}, mode: 'chars' | 'blocks' = 'chars', seed = 1): CacheAwarePolicy {
  const base: PolicyDeps = deps(seed);
  const policy = cacheAware({ mode, blockSize: 16 })({ ...base, options: { ...base.options, cacheThreshold: 0.3, ...options } });
  live.push(policy);
  return policy;
}

function route(policy: CacheAwarePolicy, fleet: readonly Endpoint[], req: RoutingRequest, candidates: readonly Endpoint[] = fleet) {
  return policy.select({ candidates, all: fleet, request: req });
}

/** A prompt of `words` pseudo-random words from a seeded stream. */
function prose(seed: number, words = 60): string {
  const rand = mulberry32(seed);
  return Array.from({ length: words }, () => Math.floor(rand() * 1e6).toString(36)).join(' ');
}

describe('cache_aware (characters)', () => {
  test('requests sharing a long prefix stick to one endpoint', () => {
    const policy = make();
    const fleet = endpoints(4);
    const system = `System: ${prose(1, 200)}\n`;
    const picks = Array.from({ length: 20 }, (_, i) => route(policy, fleet, request({ text: `${system}User: question ${i}` })));
    expect(tally(picks).size).toBe(1);
    expect(policy.cacheStats()).toMatchObject({ hits: 19, misses: 1, loadBalancingFallbacks: 0 });
  });

  test('a growing conversation stays on its endpoint (the routing text is the whole conversation)', () => {
    const policy = make();
    const fleet = endpoints(4);
    const turns: { role: string; content: string }[] = [{ role: 'system', content: prose(2, 50) }];
    const picks: (Endpoint | undefined)[] = [];
    for (let i = 0; i < 8; i++) {
      turns.push({ role: 'user', content: prose(100 + i, 20) });
      picks.push(route(policy, fleet, chat(turns)));
      turns.push({ role: 'assistant', content: prose(200 + i, 30) });
    }
    expect(tally(picks).size).toBe(1);
  });

  test('different prefixes spread across the fleet', () => {
    const policy = make();
    const fleet = endpoints(4);
    const picks = Array.from({ length: 40 }, (_, i) => route(policy, fleet, request({ text: prose(1000 + i) })));
    const counts = tally(picks);
    expect(counts.size).toBe(4);
    for (const n of counts.values()) expect(n).toBeGreaterThanOrEqual(6);
    expect(policy.cacheStats().misses).toBe(40);
  });

  test('repeat traffic over many prefixes keeps each prefix on its first endpoint', () => {
    const policy = make();
    const fleet = endpoints(5);
    const first = new Map<number, string>();
    for (let round = 0; round < 3; round++) {
      for (let p = 0; p < 25; p++) {
        const pick = route(policy, fleet, request({ text: `${prose(p)} round ${round}` }));
        if (round === 0) first.set(p, pick?.id as string);
        else expect(pick?.id).toBe(first.get(p) as string);
      }
    }
  });

  test('imbalanced load sends the request to the least-loaded endpoint and still indexes it there', () => {
    const policy = make();
    const fleet = endpoints(3);
    const text = prose(5, 100);
    const owner = route(policy, fleet, request({ text })) as Endpoint;
    owner.inFlight = 100; // max − min = 100 > 64 and 100 > 0 × 1.5
    const others = fleet.filter((e) => e !== owner);
    (others[0] as Endpoint).inFlight = 3;
    const pick = route(policy, fleet, request({ text }));
    expect(pick).toBe(others[1] as Endpoint);
    expect(policy.cacheStats()).toMatchObject({ loadBalancingFallbacks: 1, lastMaxLoad: 100, lastMinLoad: 0 });
    // The prefix is now indexed on the fallback endpoint as well.
    expect(policy.cacheStats().indexSize.get((others[1] as Endpoint).id)).toBe(text.length);
  });

  test('load counts as imbalanced only when both thresholds are exceeded', () => {
    const policy = make();
    const fleet = endpoints(2);
    const [a, b] = fleet as [Endpoint, Endpoint];
    const text = prose(6, 100);
    const owner = route(policy, fleet, request({ text })) as Endpoint;
    const other = owner === a ? b : a;
    // Absolute gap 100 > 64, but 300 is not > 200 × 1.5: balanced, so the cache wins.
    owner.inFlight = 300;
    other.inFlight = 200;
    expect(route(policy, fleet, request({ text }))).toBe(owner);
    // Relative gap 60 > 0 × 1.5, but 60 is not > 64: balanced.
    owner.inFlight = 60;
    other.inFlight = 0;
    expect(route(policy, fleet, request({ text }))).toBe(owner);
    expect(policy.cacheStats().loadBalancingFallbacks).toBe(0);
    owner.inFlight = 65;
    expect(route(policy, fleet, request({ text }))).toBe(other);
    expect(policy.cacheStats().loadBalancingFallbacks).toBe(1);
  });

  test('load is measured over the candidates: an unavailable idle endpoint does not trigger the fallback', () => {
    const policy = make();
    const fleet = endpoints(3);
    const text = prose(7, 100);
    const owner = route(policy, fleet, request({ text })) as Endpoint;
    for (const e of fleet) e.inFlight = 100;
    const down = fleet.find((e) => e !== owner) as Endpoint;
    down.inFlight = 0;
    expect(route(policy, fleet, request({ text }), fleet.filter((e) => e !== down))).toBe(owner);
    expect(policy.cacheStats().loadBalancingFallbacks).toBe(0);
  });

  test('a match at or below the cache threshold is a miss and goes to the least-loaded endpoint', () => {
    const policy = make({ cacheThreshold: 0.5 });
    const fleet = endpoints(2);
    const owner = route(policy, fleet, request({ text: 'a'.repeat(50) + 'b'.repeat(50) })) as Endpoint;
    owner.inFlight = 1;
    // Shares exactly 50 of 100 characters: ratio 0.5 is not > 0.5.
    const pick = route(policy, fleet, request({ text: 'a'.repeat(50) + 'c'.repeat(50) }));
    expect(pick).not.toBe(owner);
    expect(policy.cacheStats()).toMatchObject({ hits: 0, misses: 2 });
  });

  test('an endpoint that holds the prefix but is not a candidate now is skipped, and its index kept', () => {
    const policy = make();
    const fleet = endpoints(3);
    const text = prose(8, 100);
    const owner = route(policy, fleet, request({ text })) as Endpoint;
    const pick = route(policy, fleet, request({ text }), fleet.filter((e) => e !== owner));
    expect(pick).not.toBe(owner);
    expect(policy.cacheStats().indexSize.get(owner.id)).toBe(text.length);
  });

  test('among endpoints holding the same prefix, the least loaded wins', () => {
    const policy = make();
    const fleet = endpoints(2);
    const [a, b] = fleet as [Endpoint, Endpoint];
    const text = prose(9, 100);
    expect(route(policy, fleet, request({ text }), [a])).toBe(a);
    expect(route(policy, fleet, request({ text }), [b])).toBe(b);
    a.inFlight = 5;
    expect(route(policy, fleet, request({ text }))).toBe(b);
    a.inFlight = 0;
    b.inFlight = 5;
    expect(route(policy, fleet, request({ text }))).toBe(a);
  });

  test('eviction keeps every endpoint within the size budget, dropping the oldest prefixes', () => {
    const policy = make({ maxTreeSize: 2_000 });
    const fleet = endpoints(2);
    const texts = Array.from({ length: 60 }, (_, i) => `${i.toString().padStart(3, '0')} ${prose(300 + i, 30)}`);
    for (const text of texts) route(policy, fleet, request({ text }));
    // Between passes an endpoint may exceed the budget, but never twice it.
    for (const size of policy.cacheStats().indexSize.values()) expect(size).toBeLessThanOrEqual(4_000);
    policy.evictNow();
    for (const size of policy.cacheStats().indexSize.values()) expect(size).toBeLessThanOrEqual(2_000);
    // The most recent prefix is still indexed; the oldest is gone (a fresh pick, a miss).
    const misses = policy.cacheStats().misses;
    route(policy, fleet, request({ text: texts.at(-1) as string }));
    expect(policy.cacheStats().misses).toBe(misses);
    route(policy, fleet, request({ text: texts[0] as string }));
    expect(policy.cacheStats().misses).toBe(misses + 1);
  });

  test('the eviction timer enforces the budget on its own', async () => {
    const policy = make({ maxTreeSize: 500, evictionIntervalSecs: 0.01 });
    const fleet = endpoints(1);
    for (let i = 0; i < 8; i++) route(policy, fleet, request({ text: prose(400 + i, 15) }));
    const over = () => [...policy.cacheStats().indexSize.values()].some((size) => size > 500);
    while (over()) await Bun.sleep(5);
    expect(over()).toBe(false);
  });

  test('a membership change drops the index of removed endpoints only', () => {
    const policy = make();
    const fleet = endpoints(3);
    const texts = Array.from({ length: 9 }, (_, i) => prose(500 + i, 40));
    const owners = texts.map((text) => route(policy, fleet, request({ text })) as Endpoint);
    const removed = owners[0] as Endpoint;
    const remaining = fleet.filter((e) => e !== removed);
    policy.onMembershipChange?.(remaining);
    const sizes = policy.cacheStats().indexSize;
    expect(sizes.has(removed.id)).toBe(false);
    expect(sizes.size).toBe(2);
    // Prefixes of the remaining endpoints still hit; the removed endpoint's are fresh misses.
    const before = policy.cacheStats();
    texts.forEach((text, i) => {
      const pick = route(policy, remaining, request({ text }));
      if (owners[i] !== removed) expect(pick).toBe(owners[i] as Endpoint);
    });
    const removedCount = owners.filter((o) => o === removed).length;
    expect(policy.cacheStats().misses - before.misses).toBe(removedCount);
  });

  test('endpoints added at run time receive new prefixes', () => {
    const policy = make();
    let fleet = endpoints(2);
    for (let i = 0; i < 10; i++) route(policy, fleet, request({ text: prose(600 + i) }));
    fleet = [...fleet, ...endpoints(1, 3)];
    policy.onMembershipChange?.(fleet);
    const pick = route(policy, fleet, request({ text: prose(700) }));
    expect(pick?.id).toBe('http://worker3:8000');
  });

  test('an empty routing text still picks a candidate', () => {
    const policy = make();
    const fleet = endpoints(3);
    expect(fleet).toContain(route(policy, fleet, request({ text: '' })) as Endpoint);
  });

  test('character mode does not ask for block hashes', () => {
    expect(make().wantsBlockHashes).toBe(false);
    expect(make().name).toBe('cache_aware');
  });
});

describe('cache_aware (token blocks)', () => {
  const blocks = (tokens: number[]): RoutingRequest => ({ ...request({ text: 'ignored in block mode' }), blockHashes: chainBlockHashes(tokens, 16) });
  const tokens = (seed: number, count: number): number[] => {
    const rand = mulberry32(seed);
    return Array.from({ length: count }, () => Math.floor(rand() * 128_000));
  };

  test('asks the router for block hashes', () => {
    expect(make({}, 'blocks').wantsBlockHashes).toBe(true);
  });

  test('prompts sharing token blocks stick; different prompts spread', () => {
    const policy = make({}, 'blocks');
    const fleet = endpoints(4);
    const system = tokens(1, 512);
    const same = Array.from({ length: 10 }, (_, i) => route(policy, fleet, blocks([...system, ...tokens(10 + i, 40)])));
    expect(tally(same).size).toBe(1);
    const spread = Array.from({ length: 20 }, (_, i) => route(policy, fleet, blocks(tokens(100 + i, 300))));
    expect(tally(spread).size).toBe(4);
  });

  test('sizes are reported in tokens (blocks × block size) and bounded by max-tree-size in tokens', () => {
    const policy = make({ maxTreeSize: 1_600 }, 'blocks');
    const fleet = endpoints(1);
    route(policy, fleet, blocks(tokens(2, 330))); // 20 full blocks; the partial block is not indexed
    expect(policy.cacheStats()).toMatchObject({ unit: 'tokens' });
    expect(policy.cacheStats().indexSize.get(fleet[0]?.id as string)).toBe(320);
    for (let i = 0; i < 20; i++) route(policy, fleet, blocks(tokens(50 + i, 320)));
    policy.evictNow();
    expect(policy.cacheStats().indexSize.get(fleet[0]?.id as string)).toBeLessThanOrEqual(1_600);
  });

  test('a request without block hashes (shorter than a block, or not tokenized) is a miss and indexes nothing', () => {
    const policy = make({}, 'blocks');
    const fleet = endpoints(2);
    expect(fleet).toContain(route(policy, fleet, request({ text: 'short' })) as Endpoint);
    expect(fleet).toContain(route(policy, fleet, blocks(tokens(3, 15))) as Endpoint);
    expect(policy.cacheStats().misses).toBe(2);
    expect(policy.cacheStats().indexSize.size).toBe(0);
  });
});

describe('cache_aware shared prefixes', () => {
  type Turn = { role: string; content: string };
  const conversation = (turns: readonly Turn[]): RoutingRequest =>
    request({ route: '/v1/chat/completions', body: { model: 'm', messages: turns }, text: conversationText(turns) });
  /** Sends `req` and keeps it in flight on the endpoint that took it, as the router's counts would. */
  const send = (policy: CacheAwarePolicy, fleet: readonly Endpoint[], req: RoutingRequest): Endpoint => {
    const pick = route(policy, fleet, req) as Endpoint;
    pick.inFlight++;
    return pick;
  };

  test('the tree tells a match that stops in shared text from one that a request extends', () => {
    const tree = createRadixTree(stringOps);
    const seen: boolean[] = [];
    const first = (tenants: Iterable<string>, shared: boolean) => {
      seen.push(shared);
      return [...tenants][0];
    };
    const sharedAt = (text: string) => {
      seen.length = 0;
      const { tenant } = tree.match(text, first);
      return tenant === undefined ? undefined : seen.at(-1);
    };
    tree.insert('system: S\nuser: alpha\n', 'a');
    tree.insert('system: S\nuser: beta\n', 'b');
    // The previous turn ends at a leaf: this request extends it.
    expect(sharedAt('system: S\nuser: alpha\nassistant: A\nuser: more\n')).toBe(false);
    // All of the request is cached, even though cached text goes on past it.
    expect(sharedAt('system: S\nuser: alpha\n')).toBe(false);
    expect(sharedAt('system: S\n')).toBe(false);
    // Diverging inside an edge ('al…' vs 'alpha'), or at the node where 'alpha' and 'beta' branch.
    expect(sharedAt('system: S\nuser: always\n')).toBe(true);
    expect(sharedAt('system: S\nuser: gamma\n')).toBe(true);
    // A tenant accepted above deeper matched nodes: the text goes on below it for someone else.
    seen.length = 0;
    expect(tree.match('system: S\nuser: alpha\nassistant: A\n', (tenants, shared) => {
      seen.push(shared);
      return [...tenants].includes('b') ? 'b' : undefined;
    })).toEqual({ matched: 'system: S\nuser: '.length, tenant: 'b' });
    expect(seen).toEqual([false, true]);
  });

  test('one system prompt in front of every conversation spreads new conversations once its holder is loaded', () => {
    const policy = make();
    const fleet = endpoints(4);
    const system = prose(20, 300);
    let spread = 0;
    for (let i = 0; i < 80; i++) {
      send(policy, fleet, conversation([{ role: 'system', content: system }, { role: 'user', content: prose(2000 + i, 30) }]));
      const loads = fleet.map((e) => e.inFlight);
      spread = Math.max(spread, Math.max(...loads) - Math.min(...loads));
    }
    // The margin is 64 / 4 = 16 in flight; without it all 80 stay on the first holder (the global guard
    // waits for 64 of difference), as 'requests sharing a long prefix stick to one endpoint' shows at no load.
    expect(spread).toBeLessThanOrEqual(17);
    for (const e of fleet) expect(e.inFlight).toBeGreaterThanOrEqual(80 / 4 - 17);
    const stats = policy.cacheStats();
    expect(stats.sharedPrefixFallbacks).toBeGreaterThan(0);
    expect(stats.loadBalancingFallbacks).toBe(stats.sharedPrefixFallbacks);
    expect(stats.hits + stats.misses + stats.loadBalancingFallbacks).toBe(80);
  });

  test("a conversation's next turn stays with its history on a loaded endpoint; a new conversation moves", () => {
    const policy = make();
    const fleet = endpoints(3);
    const system = prose(21, 300);
    const histories = [0, 1, 2].map((i): Turn[] => [
      { role: 'system', content: system },
      { role: 'user', content: prose(3000 + i, 30) },
    ]);
    const owner = route(policy, fleet, conversation(histories[0] as Turn[])) as Endpoint;
    for (const turns of histories.slice(1)) expect(route(policy, fleet, conversation(turns))).toBe(owner);
    owner.inFlight = 40; // far past the shared-prefix margin (16), short of the global guard (64)
    for (const [i, turns] of histories.entries()) {
      turns.push({ role: 'assistant', content: prose(3100 + i, 40) }, { role: 'user', content: prose(3200 + i, 20) });
      expect(route(policy, fleet, conversation(turns))).toBe(owner);
    }
    const fresh = route(policy, fleet, conversation([{ role: 'system', content: system }, { role: 'user', content: prose(3300, 30) }]));
    expect(fresh).not.toBe(owner);
    expect(policy.cacheStats()).toMatchObject({ hits: 5, misses: 1, loadBalancingFallbacks: 1, sharedPrefixFallbacks: 1 });
  });

  test('a document many questions share keeps its endpoint while the holder is within the margin', () => {
    const policy = make();
    const fleet = endpoints(4);
    const documents = [0, 1].map((d) => `Answer the question about this document. ${prose(40 + d, 500)}`);
    const ask = (d: number, q: number) =>
      route(policy, fleet, conversation([{ role: 'system', content: documents[d] as string }, { role: 'user', content: `Question: ${prose(4000 + q, 12)}` }])) as Endpoint;
    const holder = ask(0, 0);
    expect(ask(1, 1)).not.toBe(holder);
    for (let q = 2; q < 10; q++) expect(ask(0, q)).toBe(holder);
    holder.inFlight = 20;
    for (const e of fleet) if (e !== holder) e.inFlight = 4;
    expect(ask(0, 10)).toBe(holder); // 20 − 4 = 16: within the margin (64 / 4)
    holder.inFlight = 21;
    const moved = ask(0, 11);
    expect(moved).not.toBe(holder);
    expect(moved.inFlight).toBe(4);
    expect(policy.cacheStats()).toMatchObject({ sharedPrefixFallbacks: 1 });
  });

  test('the margin follows --balance-abs-threshold', () => {
    const policy = make({ balanceAbsThreshold: 32 });
    const fleet = endpoints(2);
    const system = prose(22, 300);
    const ask = (i: number) => route(policy, fleet, conversation([{ role: 'system', content: system }, { role: 'user', content: prose(5000 + i, 20) }]));
    const holder = ask(0) as Endpoint;
    expect(ask(1)).toBe(holder);
    holder.inFlight = 8;
    expect(ask(2)).toBe(holder);
    holder.inFlight = 9;
    expect(ask(3)).not.toBe(holder);
  });

  test('token blocks: one shared system prompt spreads new conversations under load', () => {
    const policy = make({}, 'blocks');
    const fleet = endpoints(4);
    const ids = (seed: number, count: number): number[] => {
      const rand = mulberry32(seed);
      return Array.from({ length: count }, () => Math.floor(rand() * 128_000));
    };
    const system = ids(30, 1024);
    for (let i = 0; i < 80; i++) {
      const req: RoutingRequest = { ...request({ text: 'ignored in block mode' }), blockHashes: chainBlockHashes([...system, ...ids(6000 + i, 64)], 16) };
      send(policy, fleet, req);
    }
    const loads = fleet.map((e) => e.inFlight);
    expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(17);
    expect(policy.cacheStats().sharedPrefixFallbacks).toBeGreaterThan(0);
  });
});
