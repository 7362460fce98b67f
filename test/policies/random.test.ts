// random: a uniform choice among the candidates, from the injected random source.
import { expect, test } from 'bun:test';
import { random } from '../../src/policies/random.ts';
import { deps, endpoints, request, tally } from './routing-fixtures.ts';

test('spreads picks uniformly over the candidates', () => {
  const policy = random(deps(2024));
  const all = endpoints(5);
  const picks = 10_000;
  const choose = () => policy.select({ candidates: all, all, request: request() });
  const counts = tally(Array.from({ length: picks }, choose));
  // Each count is Binomial(n, p): allow 5 standard deviations (a false failure ~1 in 1.7 million per count).
  const p = 1 / all.length;
  const mean = picks * p;
  const sd = Math.sqrt(picks * p * (1 - p));
  expect(counts.size).toBe(all.length);
  for (const count of counts.values()) expect(Math.abs(count - mean)).toBeLessThan(5 * sd);
});

test('maps the injected random value onto the candidate list', () => {
  const all = endpoints(4);
  const pickWith = (value: number) =>
    random({ ...deps(), random: () => value }).select({ candidates: all, all, request: request() });
  expect(pickWith(0)).toBe(all[0]!);
  expect(pickWith(0.49)).toBe(all[1]!);
  expect(pickWith(0.999999)).toBe(all[3]!);
  expect(pickWith(1)).toBe(all[3]!); // a faulty source returning 1 still yields a candidate
});
