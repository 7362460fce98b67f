// Router-side request statistics: the requests-per-second window follows --request-stats-window-secs.
import { expect, test } from 'bun:test';
import { createEndpointStats } from '../../src/signals/endpoint-stats.ts';

test('requests per second are counted over the configured window, then start again', () => {
  const short = createEndpointStats({ qpsWindowMs: 2_000 });
  const long = createEndpointStats({ qpsWindowMs: 60_000 });
  for (const stats of [short, long]) {
    for (let i = 0; i < 10; i++) stats.started('e', 0);
    stats.started('e', 4_000);
  }
  // The 2 s window closed at 4 s with 10 requests over 4 s and started again; the 60 s one still counts all 11.
  expect(short.snapshot('e', 5_000).qps).toBe(2.5);
  expect(long.snapshot('e', 5_000).qps).toBeCloseTo(11 / 5, 10);
});
