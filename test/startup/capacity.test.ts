// What --max-concurrent-requests may promise, from Bun's fetch ceiling and the open-file limit; and the re-exec that applies it.
import { describe, expect, test } from 'bun:test';
import { BUN_FETCH_LIMIT_MAX, RESERVED_FETCHES, RESERVED_FILES, parseFileLimit, planCapacity, withCapacity, type AdmissionSettings } from '../../src/startup/capacity.ts';
import { FETCH_LIMIT_VARIABLE, reexecFor } from '../../src/startup/fetch-limit.ts';

describe('planCapacity', () => {
  test('a value that fits is kept, and fetch gets a slot per leg plus the reserve', () => {
    expect(planCapacity({ requested: 1000, explicit: true, legs: 1, fileLimit: 1_048_576 })).toEqual({ capacity: 1000, fetchLimit: 1000 + RESERVED_FETCHES });
    expect(planCapacity({ requested: 1000, explicit: false, legs: 2, fileLimit: 1_048_576 })).toEqual({ capacity: 1000, fetchLimit: 2000 + RESERVED_FETCHES });
  });

  test('the default shrinks to what the open-file limit holds, and says why', () => {
    const plan = planCapacity({ requested: 32768, explicit: false, legs: 1, fileLimit: 20000 });
    if ('reason' in plan) throw new Error(plan.reason);
    expect(plan.capacity).toBe(Math.floor((20000 - RESERVED_FILES) / 2));
    expect(plan.lowered).toContain('RLIMIT_NOFILE');
    // PD: three connections per request.
    const pd = planCapacity({ requested: 32768, explicit: false, legs: 2, fileLimit: 20000 });
    expect('capacity' in pd && pd.capacity).toBe(Math.floor((20000 - RESERVED_FILES) / 3));
  });

  test("the default shrinks to Bun's fetch ceiling when files are plentiful", () => {
    const plan = planCapacity({ requested: 65535, explicit: false, legs: 2, fileLimit: undefined });
    if ('reason' in plan) throw new Error(plan.reason);
    expect(plan.capacity).toBe(Math.floor((BUN_FETCH_LIMIT_MAX - RESERVED_FETCHES) / 2));
    expect(plan.fetchLimit).toBeLessThanOrEqual(BUN_FETCH_LIMIT_MAX);
    expect(plan.lowered).toContain('65535');
  });

  test('an explicit value that cannot be held is a configuration error naming the flag, the value and the limit', () => {
    const e = planCapacity({ requested: 30000, explicit: true, legs: 1, fileLimit: 20000 });
    expect(e).toMatchObject({ flag: '--max-concurrent-requests', value: '30000' });
    expect('reason' in e && e.reason).toContain('at most 9488');
    expect(planCapacity({ requested: 1, explicit: true, legs: 1, fileLimit: 100 })).toMatchObject({ flag: '--max-concurrent-requests' });
  });

  test('a lowered capacity keeps the admission rate that was asked for (else it would cap throughput too)', () => {
    const plan = planCapacity({ requested: 32768, explicit: false, legs: 1, fileLimit: 20000 });
    if ('reason' in plan) throw new Error(plan.reason);
    expect(withCapacity<AdmissionSettings>({ max_concurrent_requests: 32768, rate_limit_tokens_per_second: undefined }, plan)).toEqual({ max_concurrent_requests: plan.capacity, rate_limit_tokens_per_second: 32768 });
    expect(withCapacity({ max_concurrent_requests: 32768, rate_limit_tokens_per_second: 50 }, plan).rate_limit_tokens_per_second).toBe(50);
  });

  test('reads the soft open-file limit of /proc/self/limits', () => {
    const limits = 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            20000                524288               files     \n';
    expect(parseFileLimit(limits)).toBe(20000);
    expect(parseFileLimit('Max open files            unlimited            unlimited            files     \n')).toBeUndefined();
    expect(parseFileLimit('')).toBeUndefined();
  });
});

describe('reexecFor', () => {
  const image = { execPath: '/usr/bin/bun', execArgv: ['--smol'], argv: ['/usr/bin/bun', '/app/src/main.ts', '--port', '0'], main: '/app/src/main.ts', env: { HOME: '/root', GONE: undefined } };

  test('re-runs the same script with the same arguments and Bun options, the limit set', () => {
    const r = reexecFor(image, 5000);
    expect(r).toEqual({ file: '/usr/bin/bun', args: ['/usr/bin/bun', '--smol', '/app/src/main.ts', '--port', '0'], env: { HOME: '/root', [FETCH_LIMIT_VARIABLE]: '5000' } });
  });

  test('a compiled binary gets its arguments without the virtual entry path', () => {
    const compiled = { execPath: '/opt/vllm-router', execArgv: [], argv: ['bun', '/$bunfs/root/vllm-router', '--policy', 'round_robin'], main: '/$bunfs/root/vllm-router', env: {} };
    expect(reexecFor(compiled, 300)?.args).toEqual(['/opt/vllm-router', '--policy', 'round_robin']);
  });

  test('nothing to do once the limit is in force; another value is overridden', () => {
    expect(reexecFor({ ...image, env: { [FETCH_LIMIT_VARIABLE]: '5000' } }, 5000)).toBeUndefined();
    expect(reexecFor({ ...image, env: { [FETCH_LIMIT_VARIABLE]: '256' } }, 5000)?.env[FETCH_LIMIT_VARIABLE]).toBe('5000');
  });
});
