// round_robin: one counter per instance, candidates[counter % n], as in the Rust router.
import { expect, test } from 'bun:test';
import { roundRobin } from '../../src/policies/round-robin.ts';
import { deps, endpoints, request, tally } from './routing-fixtures.ts';

test('cycles through the candidates in order, evenly', () => {
  const policy = roundRobin(deps());
  const all = endpoints(3);
  const picks = Array.from({ length: 300 }, () => policy.select({ candidates: all, all, request: request() }));
  expect(picks.slice(0, 6).map((e) => e?.id)).toEqual([...all, ...all].map((e) => e.id));
  expect([...tally(picks).values()]).toEqual([100, 100, 100]);
});

test('keeps one counter when the candidate set changes, as Rust does', () => {
  const policy = roundRobin(deps());
  const all = endpoints(4);
  const pick = (candidates: typeof all) => policy.select({ candidates, all, request: request() })?.id;
  expect(pick(all)).toBe(all[0]!.id); // counter 0
  expect(pick(all)).toBe(all[1]!.id); // counter 1
  const fewer = [all[0]!, all[2]!, all[3]!];
  expect(pick(fewer)).toBe(all[3]!.id); // counter 2 → fewer[2]
  expect(pick(fewer)).toBe(all[0]!.id); // counter 3 → fewer[0]
});

test('instances do not share a counter', () => {
  const all = endpoints(3);
  const a = roundRobin(deps());
  const b = roundRobin(deps());
  a.select({ candidates: all, all, request: request() });
  expect(b.select({ candidates: all, all, request: request() })).toBe(all[0]!);
});
