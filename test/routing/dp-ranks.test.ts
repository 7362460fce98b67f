// --intra-node-data-parallel-size: each URL is N endpoints, one per data-parallel rank, each routed with the
// X-data-parallel-rank header to the same server, which is health-checked once.
import { describe, expect, test } from 'bun:test';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { startTestRouter } from '../support/router.ts';

describe('data-parallel ranks', () => {
  test('two URLs × 3 ranks: six endpoints, every rank used with its header, one health probe per URL', async () => {
    await using a = await startMockEngine({ model: 'm' });
    await using b = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', a.url, b.url, '--intra-node-data-parallel-size', '3', '--policy', 'round_robin']);
    expect(r.router.registry.all().map((e) => e.id).sort()).toEqual([0, 1, 2].map((n) => `${a.url}@${n}`).concat([0, 1, 2].map((n) => `${b.url}@${n}`)).sort());
    // Start-up probed each server once, not once per rank.
    expect(a.received.filter((q) => q.path === '/health').length).toBe(1);
    expect(b.received.filter((q) => q.path === '/health').length).toBe(1);

    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 1 }) });
      expect(res.status).toBe(200);
      await res.text();
    }
    const ranks = (engine: typeof a) => engine.received.filter((q) => q.path === '/v1/completions').map((q) => q.headers['x-data-parallel-rank']).sort();
    expect(ranks(a)).toEqual(['0', '1', '2']);
    expect(ranks(b)).toEqual(['0', '1', '2']);

    // The admin API removes a base URL with all its ranks.
    const removed = await fetch(`${r.url}/remove_worker?url=${encodeURIComponent(a.url)}`, { method: 'POST' });
    expect(removed.status).toBe(200);
    expect(r.router.registry.all().map((e) => e.id).sort()).toEqual([0, 1, 2].map((n) => `${b.url}@${n}`));
  });
});
