// The policy registry builds every policy itself, cache_aware on token blocks when a tokenizer is configured.
import { describe, expect, test } from 'bun:test';
import { chainBlockHashes } from '../../src/pool/block-hash.ts';
import { createPolicy } from '../../src/policies/index.ts';
import type { Policy } from '../../src/policies/types.ts';
import { deps, endpoints, request } from './routing-fixtures.ts';

function routeTwice(policy: Policy, blockHashes: Float64Array | undefined): void {
  const fleet = endpoints(2);
  for (let i = 0; i < 2; i++) policy.select({ candidates: fleet, all: fleet, request: { ...request({ text: 'a prompt routed by its characters' }), blockHashes } });
}

describe('policy registry', () => {
  test('cache_aware matches on characters without a tokenizer', () => {
    const policy = createPolicy('cache_aware', deps());
    routeTwice(policy, undefined);
    expect(policy.wantsBlockHashes).toBe(false);
    expect(policy.cacheStats?.()).toMatchObject({ unit: 'chars', hits: 1, misses: 1 });
    policy.dispose?.();
  });

  test('cache_aware matches on token blocks of the configured size when a tokenizer hashes prompts', () => {
    const policy = createPolicy('cache_aware', { ...deps(), tokenizer: { blockSize: 16 } });
    const tokens = Array.from({ length: 64 }, (_, i) => i + 1);
    routeTwice(policy, chainBlockHashes(tokens, 16));
    expect(policy.wantsBlockHashes).toBe(true);
    const stats = policy.cacheStats?.();
    expect(stats).toMatchObject({ unit: 'tokens', hits: 1, misses: 1 });
    expect([...(stats?.indexSize.values() ?? [])]).toEqual([64]);
    policy.dispose?.();
  });
});
