// The policy slot a reload refills: routers and the metrics listener see whichever policy is in it now.
import { describe, expect, test } from 'bun:test';
import { createPolicy } from '../../src/policies/index.ts';
import { swappablePolicy } from '../../src/policies/swappable.ts';
import { deps, endpoints, request } from './routing-fixtures.ts';

describe('swappable policy', () => {
  test('forwards the cache statistics of a cache_aware occupant, and none once another policy replaces it', () => {
    const fleet = endpoints(2);
    const slot = swappablePolicy(createPolicy('cache_aware', deps()));
    slot.select({ candidates: fleet, all: fleet, request: request({ text: 'some prompt' }) });
    expect(slot.cacheStats()).toMatchObject({ misses: 1, unit: 'chars' });
    slot.replace(createPolicy('round_robin', deps()), fleet);
    expect(slot.name).toBe('round_robin');
    expect(slot.cacheStats()).toBeUndefined();
    slot.dispose?.();
  });
});
