import { describe, expect, test } from 'bun:test';
import { retryPolicy, sleep, untriedCandidates, type RetryOptions } from '../../src/core/retry.ts';
import { routerError } from '../../src/wire/errors.ts';
import { mulberry32 as seeded } from '../../testkit/mulberry32.ts';

// The Rust router's defaults (its src/main.rs flags).
const RUST: RetryOptions = { maxAttempts: 5, initialBackoffMs: 50, maxBackoffMs: 30_000, multiplier: 1.5, jitter: 0.2 };

const middle = () => 0.5; // no jitter: 1 + (2·0.5 − 1)·j = 1

describe('retry policy', () => {
  test('counts attempts in total, at least one', () => {
    expect(retryPolicy(RUST).maxAttempts).toBe(5);
    expect(retryPolicy({ ...RUST, maxAttempts: 1 }).maxAttempts).toBe(1);
    expect(retryPolicy({ ...RUST, maxAttempts: 0 }).maxAttempts).toBe(1);
  });

  test('retries 408, 429, 500, 502, 503 and 504 only', () => {
    const policy = retryPolicy(RUST);
    const retried = [];
    for (let status = 100; status < 600; status++) if (policy.isRetryableStatus(status)) retried.push(status);
    expect(retried).toEqual([408, 429, 500, 502, 503, 504]);
  });

  test('retries transport errors and timeouts, not a vanished client or a router refusal', () => {
    const policy = retryPolicy(RUST);
    expect(policy.isRetryableError(routerError('upstream_unreachable', 'x'))).toBe(true);
    expect(policy.isRetryableError(routerError('upstream_timeout', 'x'))).toBe(true);
    expect(policy.isRetryableError(routerError('client_closed', 'x'))).toBe(false);
    expect(policy.isRetryableError(routerError('stream_interrupted', 'x'))).toBe(false);
    expect(policy.isRetryableError(routerError('no_available_endpoints', 'x'))).toBe(false);
  });

  test('backs off as min(initial · multiplier^k, max)', () => {
    const policy = retryPolicy(RUST);
    expect([0, 1, 2, 3].map((k) => policy.backoffMs(k, middle))).toEqual([50, 75, 112.5, 168.75]);
    expect(policy.backoffMs(20, middle)).toBe(30_000); // 50 · 1.5^20 ≈ 166 s, capped
    expect(policy.backoffMs(5000, middle)).toBe(30_000); // 1.5^5000 overflows to Infinity, still capped
  });

  test('jitter stays within ±jitter of the delay and spans the range', () => {
    const policy = retryPolicy(RUST);
    const random = seeded(42);
    for (const k of [0, 3, 30]) {
      const base = Math.min(50 * 1.5 ** k, 30_000);
      const samples = Array.from({ length: 2000 }, () => policy.backoffMs(k, random));
      const lo = Math.min(...samples);
      const hi = Math.max(...samples);
      expect(lo).toBeGreaterThanOrEqual(base * 0.8);
      expect(hi).toBeLessThanOrEqual(base * 1.2);
      expect(lo).toBeLessThan(base * 0.81);
      expect(hi).toBeGreaterThan(base * 1.19);
    }
  });

  test('jitter extremes: random 0 gives (1 − j)·delay, random near 1 gives (1 + j)·delay', () => {
    const policy = retryPolicy(RUST);
    expect(policy.backoffMs(0, () => 0)).toBeCloseTo(40, 9);
    expect(policy.backoffMs(0, () => 1 - 2 ** -53)).toBeCloseTo(60, 9);
  });

  test('a delay is never negative', () => {
    const policy = retryPolicy({ ...RUST, jitter: 1 });
    expect(policy.backoffMs(0, () => 0)).toBe(0);
  });

  test('the same seed gives the same delays', () => {
    const policy = retryPolicy(RUST);
    const a = seeded(7);
    const b = seeded(7);
    expect([0, 1, 2].map((k) => policy.backoffMs(k, a))).toEqual([0, 1, 2].map((k) => policy.backoffMs(k, b)));
  });
});

describe('sleep', () => {
  test('resolves true once the time has passed', async () => {
    const started = performance.now();
    expect(await sleep(5, new AbortController().signal)).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(4);
  });

  test('resolves false as soon as the client aborts', async () => {
    const client = new AbortController();
    const slept = sleep(600_000, client.signal);
    client.abort();
    expect(await slept).toBe(false);
  });

  test('resolves false at once for a client already gone, true at once for no delay', async () => {
    expect(await sleep(600_000, AbortSignal.abort())).toBe(false);
    expect(await sleep(0, new AbortController().signal)).toBe(true);
  });
});

describe('untriedCandidates', () => {
  const a = { id: 'a' };
  const b = { id: 'b' };
  const c = { id: 'c' };

  test('leaves out endpoints this request already failed on, keeping the order', () => {
    expect(untriedCandidates([a, b, c], new Set(['b']))).toEqual([a, c]);
  });

  test('keeps every candidate when all of them failed already', () => {
    expect(untriedCandidates([a, b], new Set(['a', 'b']))).toEqual([a, b]);
  });

  test('ignores failures of endpoints that are no longer candidates', () => {
    expect(untriedCandidates([a], new Set(['z']))).toEqual([a]);
  });

  test('returns the same list when nothing failed yet', () => {
    const list = [a, b];
    expect(untriedCandidates(list, new Set())).toBe(list);
  });
});
