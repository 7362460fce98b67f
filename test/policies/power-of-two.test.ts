// power_of_two: two distinct random candidates, the one with fewer requests in flight wins.
import { expect, test } from 'bun:test';
import type { Endpoint } from '../../src/core/endpoint.ts';
import { powerOfTwo } from '../../src/policies/power-of-two.ts';
import { deps, endpoints, request, tally } from './routing-fixtures.ts';

const selectFrom = (policy: ReturnType<typeof powerOfTwo>, candidates: Endpoint[]) =>
  policy.select({ candidates, all: candidates, request: request() });

test('prefers the less loaded of two candidates, whatever the draw', () => {
  const all = endpoints(2);
  all[0]!.inFlight = 5;
  all[1]!.inFlight = 1;
  const policy = powerOfTwo(deps(3));
  for (let i = 0; i < 200; i++) expect(selectFrom(policy, all)).toBe(all[1]!);
});

test('follows the live in-flight counts', () => {
  const all = endpoints(2);
  const policy = powerOfTwo(deps(3));
  all[0]!.inFlight = 2;
  expect(selectFrom(policy, all)).toBe(all[1]!);
  all[1]!.inFlight = 9;
  expect(selectFrom(policy, all)).toBe(all[0]!);
});

test('never picks the most loaded endpoint, and picks the least loaded as often as it is sampled', () => {
  const all = endpoints(4);
  all.forEach((e, i) => (e.inFlight = i)); // loads 0, 1, 2, 3
  const policy = powerOfTwo(deps(11));
  const picks = 10_000;
  const counts = tally(Array.from({ length: picks }, () => selectFrom(policy, all)));
  expect(counts.get(all[3]!.id)).toBeUndefined();
  // The least loaded wins whenever it is one of the two distinct draws: p = 1 - C(3,2)/C(4,2) = 1/2.
  const p = 0.5;
  const sd = Math.sqrt(picks * p * (1 - p));
  expect(Math.abs(counts.get(all[0]!.id)! - picks * p)).toBeLessThan(5 * sd);
});

test('draws two distinct candidates and breaks ties toward the first draw', () => {
  const all = endpoints(3);
  // random() = 0 draws index 0, then index 0 of the other two, i.e. candidate 1: distinct.
  const policy = powerOfTwo({ ...deps(), random: () => 0 });
  expect(selectFrom(policy, all)).toBe(all[0]!);
  all[0]!.inFlight = 1;
  expect(selectFrom(policy, all)).toBe(all[1]!);
});
