// The contract every registered policy keeps, run for each entry of POLICIES.
import { afterEach, describe, expect, test } from 'bun:test';
import { type Endpoint, isAvailable } from '../../src/core/endpoint.ts';
import { POLICIES } from '../../src/policies/index.ts';
import type { Policy, PolicyFactory, RoutingRequest, SelectContext } from '../../src/policies/types.ts';
import { chat, deps, endpoint, endpoints, fixedBreaker, request } from './routing-fixtures.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';

const implemented: [string, PolicyFactory][] = Object.entries(POLICIES);

/** A varied stream of requests: session headers, body fields, chat turns, short and long prompts. */
function requestMix(count: number, seed: number): RoutingRequest[] {
  const rand = mulberry32(seed);
  const out: RoutingRequest[] = [];
  for (let i = 0; i < count; i++) {
    const n = Math.floor(rand() * 1000);
    switch (i % 6) {
      case 0:
        out.push(request({ headers: { 'x-session-id': `s-${n}` }, body: { prompt: 'hi' } }));
        break;
      case 1:
        out.push(request({ body: { user: `u-${n}`, prompt: `question ${n}` } }));
        break;
      case 2:
        out.push(chat([{ role: 'system', content: 'be brief' }, { role: 'user', content: `topic ${n}` }]));
        break;
      case 3:
        out.push(request({ body: { prompt: `p${n}` } }));
        break;
      case 4:
        out.push(request({ body: { prompt: `${'long prompt '.repeat(20)}${n}` } }));
        break;
      default:
        out.push(request({ headers: { 'x-request-id': `r-${n}` } }));
    }
  }
  return out;
}

/** Fake chained block hashes for policies that route on token blocks; the router would compute real ones. */
function withBlocks(policy: Policy, req: RoutingRequest): RoutingRequest {
  if (!policy.wantsBlockHashes) return req;
  const blocks = new Float64Array(Math.ceil(req.text.length / 16));
  let chained = 0;
  for (let i = 0; i < blocks.length; i++) {
    chained = Number(Bun.hash.wyhash(`${chained}:${req.text.slice(i * 16, i * 16 + 16)}`) & 0xfffffffffffffn);
    blocks[i] = chained;
  }
  return { ...req, blockHashes: blocks };
}

function context(
  policy: Policy,
  candidates: readonly Endpoint[],
  all: readonly Endpoint[],
  req: RoutingRequest,
): SelectContext {
  return { candidates, all, request: withBlocks(policy, req) };
}

for (const [name, factory] of implemented) {
  describe(`policy conformance: ${name}`, () => {
    const live: Policy[] = [];
    const make = (seed = 7): Policy => {
      const policy = factory(deps(seed));
      live.push(policy);
      return policy;
    };
    afterEach(() => {
      for (const policy of live.splice(0)) policy.dispose?.();
    });

    test('reports its registry name', () => {
      expect(make().name).toBe(name as Policy['name']);
    });

    test('never returns a non-candidate', () => {
      const policy = make();
      const all = endpoints(8);
      const rand = mulberry32(99);
      for (const req of requestMix(600, 3)) {
        const candidates = all.filter(() => rand() < 0.6);
        if (candidates.length === 0) candidates.push(all[Math.floor(rand() * all.length)]!);
        const chosen = policy.select(context(policy, candidates, all, req));
        expect(chosen).toBeDefined();
        expect(candidates).toContain(chosen!);
      }
    });

    test('skips endpoints that are unhealthy, draining or whose breaker does not allow', () => {
      const policy = make();
      const all = endpoints(3);
      const unhealthy = endpoint('http://unhealthy:8000');
      unhealthy.healthy = false;
      const draining = endpoint('http://draining:8000');
      draining.draining = true;
      const broken = endpoint('http://broken:8000', fixedBreaker(false));
      all.splice(1, 0, unhealthy, draining, broken);
      const candidates = all.filter(isAvailable);
      expect(candidates).toHaveLength(3);
      for (const req of requestMix(300, 5)) {
        const chosen = policy.select(context(policy, candidates, all, req));
        expect(chosen).toBeDefined();
        expect(isAvailable(chosen!)).toBe(true);
        expect([unhealthy, draining, broken]).not.toContain(chosen!);
      }
    });

    test('with one candidate returns it', () => {
      const policy = make();
      const all = endpoints(5);
      const only = all[3]!;
      for (const req of requestMix(60, 11)) {
        expect(policy.select(context(policy, [only], all, req))).toBe(only);
      }
    });

    test('is deterministic under a seeded random', () => {
      const run = (): string[] => {
        const policy = make(1234);
        const all = endpoints(6);
        const rand = mulberry32(4);
        return requestMix(300, 8).map((req, i) => {
          all[i % all.length]!.inFlight = Math.floor(rand() * 5);
          const candidates = all.filter((_, j) => (i + j) % 5 !== 0);
          return policy.select(context(policy, candidates, all, req))?.id ?? 'none';
        });
      };
      expect(run()).toEqual(run());
    });

    test('handles candidates that are a strict subset of all, in any order', () => {
      const policy = make();
      const all = endpoints(10);
      const candidates = [all[7]!, all[2]!, all[5]!];
      for (const req of requestMix(300, 13)) {
        expect(candidates).toContain(policy.select(context(policy, candidates, all, req))!);
      }
    });

    test('survives membership change, with or without onMembershipChange', () => {
      const policy = make();
      let all = endpoints(4);
      const reqs = requestMix(120, 17);
      for (const req of reqs) expect(all).toContain(policy.select(context(policy, all, all, req))!);

      // Two endpoints leave and three join; the policy is told.
      all = [...all.slice(2), ...endpoints(3, 10)];
      policy.onMembershipChange?.(all);
      for (const req of reqs) expect(all).toContain(policy.select(context(policy, all, all, req))!);

      // Another change the policy is not told about: it must still pick only from the new set.
      all = [all[0]!, ...endpoints(2, 20)];
      for (const req of reqs) expect(all).toContain(policy.select(context(policy, all, all, req))!);

      policy.onMembershipChange?.([]);
    });

    test('does not change endpoint state', () => {
      const policy = make();
      const all = endpoints(4);
      all[1]!.inFlight = 3;
      for (const req of requestMix(50, 19)) policy.select(context(policy, all, all, req));
      expect(all.map((e) => [e.healthy, e.draining, e.inFlight])).toEqual([
        [true, false, 0],
        [true, false, 3],
        [true, false, 0],
        [true, false, 0],
      ]);
    });
  });
}

test('the registry lists at least the basic policies', () => {
  expect(implemented.map(([name]) => name).sort()).toEqual(
    expect.arrayContaining(['consistent_hash', 'power_of_two', 'random', 'rendezvous_hash', 'round_robin']),
  );
});
