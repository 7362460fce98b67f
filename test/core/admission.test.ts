import { describe, expect, test } from 'bun:test';
import { Admission, type AdmissionError, type AdmissionOptions, type Permit } from '../../src/core/admission.ts';
import { isRouterError, statusOf } from '../../src/wire/errors.ts';
import { fakeClock, flush, peek } from '../../testkit/fake-clock.ts';

const live = () => new AbortController().signal;

function setup(options: Partial<AdmissionOptions> = {}) {
  const clock = fakeClock();
  const admission = new Admission({ capacity: 2, refillPerSecond: 1, queueSize: 10, queueTimeoutMs: 60_000, ...options }, { now: clock.now, timers: clock.timers });
  return { clock, admission };
}

async function permit(result: Promise<Permit | AdmissionError>): Promise<Permit> {
  const value = await peek(result);
  if (value === 'pending' || isRouterError(value)) throw new Error(`expected a permit, got ${JSON.stringify(value)}`);
  return value;
}

async function refusal(result: Promise<Permit | AdmissionError>): Promise<AdmissionError> {
  const value = await peek(result);
  if (value === 'pending' || !isRouterError(value)) throw new Error('expected a refusal');
  return value;
}

describe('admission: the bucket', () => {
  test('admits up to capacity at once, then makes requests wait', async () => {
    const { admission } = setup();
    await permit(admission.acquire(live()));
    await permit(admission.acquire(live()));
    const third = admission.acquire(live());
    expect(await peek(third)).toBe('pending');
    expect(admission.stats()).toEqual({ inUse: 2, available: 0, queued: 1 });
  });

  test('capacity bounds concurrency however fast the refill: a held permit keeps its token', async () => {
    const { clock, admission } = setup({ refillPerSecond: 1000 });
    const held = await permit(admission.acquire(live()));
    await permit(admission.acquire(live()));
    const third = admission.acquire(live());
    clock.advance(30_000);
    expect(await peek(third)).toBe('pending');
    held.release();
    clock.advance(1); // one token at 1000/s
    await permit(third);
  });

  test('a released token turns usable again at the refill rate', async () => {
    const { clock, admission } = setup(); // 2 tokens, 1 per second
    const a = await permit(admission.acquire(live()));
    const b = await permit(admission.acquire(live()));
    clock.advance(5000); // time while every token is held is not credited
    a.release();
    b.release();
    expect(admission.stats()).toEqual({ inUse: 0, available: 0, queued: 0 });
    clock.advance(999);
    expect(admission.stats().available).toBe(0);
    clock.advance(1);
    expect(admission.stats().available).toBe(1);
    clock.advance(1000);
    expect(admission.stats().available).toBe(2);
    clock.advance(10_000);
    expect(admission.stats().available).toBe(2); // never above capacity
  });

  test('waiters are served as tokens turn usable, one per refill interval', async () => {
    const { clock, admission } = setup();
    (await permit(admission.acquire(live()))).release();
    (await permit(admission.acquire(live()))).release();
    const c = admission.acquire(live());
    const d = admission.acquire(live());
    clock.advance(999);
    expect(await peek(c)).toBe('pending');
    clock.advance(1);
    await permit(c);
    expect(await peek(d)).toBe('pending');
    clock.advance(1000);
    await permit(d);
    expect(clock.pending).toBe(0); // no timer once nobody waits
  });

  test('release is idempotent, and `using` releases', async () => {
    const { clock, admission } = setup({ capacity: 1 });
    const p = await permit(admission.acquire(live()));
    p.release();
    p.release();
    expect(admission.stats().inUse).toBe(0);
    clock.advance(1000);
    {
      using held = await permit(admission.acquire(live()));
      expect(held).toBeDefined();
      expect(admission.stats().inUse).toBe(1);
    }
    expect(admission.stats().inUse).toBe(0);
  });

  test('refill defaults to capacity per second, as in the Rust router', async () => {
    const { clock, admission } = setup({ capacity: 4, refillPerSecond: undefined });
    const permits = [];
    for (let i = 0; i < 4; i++) permits.push(await permit(admission.acquire(live())));
    for (const p of permits) p.release();
    clock.advance(250);
    expect(admission.stats().available).toBe(1);
    clock.advance(750);
    expect(admission.stats().available).toBe(4);
  });
});

describe('admission: the queue', () => {
  test('serves waiters of equal priority in arrival order', async () => {
    const { clock, admission } = setup({ capacity: 1 });
    const holder = await permit(admission.acquire(live()));
    const served: string[] = [];
    for (const name of ['a', 'b', 'c', 'd'])
      void admission.acquire(live()).then((r) => {
        served.push(name);
        if (!isRouterError(r)) r.release();
      });
    holder.release();
    for (let i = 0; i < 4; i++) {
      clock.advance(1000);
      await flush();
      expect(served.length).toBe(i + 1);
    }
    expect(served).toEqual(['a', 'b', 'c', 'd']);
  });

  test('a newcomer never overtakes a waiter, even when the refill timer is late', async () => {
    const { clock, admission } = setup({ capacity: 1 });
    (await permit(admission.acquire(live()))).release();
    const waiter = admission.acquire(live());
    clock.skip(1000); // the token is due, but the timer has not run
    const newcomer = admission.acquire(live());
    await permit(waiter);
    expect(await peek(newcomer)).toBe('pending');
  });

  test('a full queue refuses with 429 and a Retry-After computed from the refill rate', async () => {
    const { admission } = setup({ capacity: 1, refillPerSecond: 0.25, queueSize: 2 });
    await permit(admission.acquire(live()));
    admission.acquire(live());
    admission.acquire(live());
    const e = await refusal(admission.acquire(live()));
    expect(e.kind).toBe('rate_limited');
    expect(statusOf(e)).toBe(429);
    expect(e.retryAfterSecs).toBe(12); // 2 waiting + this one = 3 tokens at 0.25/s
    expect(admission.stats().queued).toBe(2);
  });

  test('Retry-After is at least one second', async () => {
    const { admission } = setup({ capacity: 1, refillPerSecond: 1000, queueSize: 1 });
    await permit(admission.acquire(live()));
    admission.acquire(live());
    expect((await refusal(admission.acquire(live()))).retryAfterSecs).toBe(1);
  });

  test('queue size 0 refuses at once when no token is usable', async () => {
    const { admission } = setup({ capacity: 1, queueSize: 0 });
    await permit(admission.acquire(live()));
    const e = await refusal(admission.acquire(live()));
    expect(e.kind).toBe('rate_limited');
    expect(e.retryAfterSecs).toBe(1);
  });

  test('a waiter gets 408 once the queue timeout has passed, not before', async () => {
    const { clock, admission } = setup({ capacity: 1, queueTimeoutMs: 5000 });
    await permit(admission.acquire(live()));
    const waiter = admission.acquire(live());
    clock.advance(4999);
    expect(await peek(waiter)).toBe('pending');
    clock.advance(1);
    const e = await refusal(waiter);
    expect(e.kind).toBe('queue_timeout');
    expect(statusOf(e)).toBe(408);
    expect(admission.stats().queued).toBe(0);
    expect(clock.pending).toBe(0);
  });

  test('a deadline wins over a token that turns usable at the same instant', async () => {
    const { clock, admission } = setup({ capacity: 1, queueTimeoutMs: 1000 });
    (await permit(admission.acquire(live()))).release();
    const waiter = admission.acquire(live());
    clock.advance(1000);
    expect((await refusal(waiter)).kind).toBe('queue_timeout');
    await permit(admission.acquire(live())); // the token is still there for the next request
  });

  test('a waiter whose client leaves is dropped at once and the next one moves up', async () => {
    const { clock, admission } = setup({ capacity: 1, queueSize: 2 });
    const holder = await permit(admission.acquire(live()));
    const client = new AbortController();
    const leaving = admission.acquire(client.signal);
    const next = admission.acquire(live());
    client.abort();
    expect((await refusal(leaving)).kind).toBe('client_closed');
    expect(admission.stats().queued).toBe(1);
    admission.acquire(live()); // the place it left is free again: no 429
    expect(admission.stats().queued).toBe(2);
    holder.release();
    clock.advance(1000);
    await permit(next);
  });

  test('a client already gone is refused without taking a token', async () => {
    const { admission } = setup({ capacity: 1 });
    expect((await refusal(admission.acquire(AbortSignal.abort()))).kind).toBe('client_closed');
    expect(admission.stats()).toEqual({ inUse: 0, available: 1, queued: 0 });
  });

  test('an abort after admission changes nothing', async () => {
    const { admission } = setup({ capacity: 1 });
    const client = new AbortController();
    await permit(admission.acquire(client.signal));
    client.abort();
    expect(admission.stats().inUse).toBe(1);
  });
});

describe('admission: priorities', () => {
  test('a lower priority number is served first, FIFO within a priority', async () => {
    const { clock, admission } = setup({ capacity: 1, agingPerSecond: 0.001 });
    const holder = await permit(admission.acquire(live()));
    const served: string[] = [];
    const arrivals: [string, number][] = [
      ['low-1', 4],
      ['normal-1', 2],
      ['high-1', 0],
      ['normal-2', 2],
      ['high-2', 0],
    ];
    for (const [name, priority] of arrivals)
      void admission.acquire(live(), priority).then((r) => {
        served.push(name);
        if (!isRouterError(r)) r.release();
      });
    holder.release();
    for (let i = 0; i < arrivals.length; i++) {
      clock.advance(1000);
      await flush();
    }
    expect(served).toEqual(['high-1', 'high-2', 'normal-1', 'normal-2', 'low-1']);
  });

  test('the default priority is 2', async () => {
    const { clock, admission } = setup({ capacity: 1 });
    const holder = await permit(admission.acquire(live()));
    const plain = admission.acquire(live());
    const three = admission.acquire(live(), 3);
    const one = admission.acquire(live(), 1);
    holder.release();
    clock.advance(1000);
    await permit(one);
    expect(await peek(plain)).toBe('pending');
    expect(await peek(three)).toBe('pending');
  });

  test('aging: a waiter gains one level per second, so a long wait beats a newer, more urgent request', async () => {
    const { clock, admission } = setup({ capacity: 1, refillPerSecond: 1000 });
    const holder = await permit(admission.acquire(live()));
    const old = admission.acquire(live(), 4); // effective 4 − t
    clock.advance(3000);
    const urgent = admission.acquire(live(), 0); // arrived 3 s later: 4 − 3 = 1 > 0, so urgent goes first
    clock.advance(2000); // now old is at 4 − 5 = −1, urgent at 0 − 2 = −2
    holder.release();
    clock.advance(1);
    await permit(urgent);
    expect(await peek(old)).toBe('pending');

    const { clock: clock2, admission: admission2 } = setup({ capacity: 1, refillPerSecond: 1000 });
    const holder2 = await permit(admission2.acquire(live()));
    const old2 = admission2.acquire(live(), 4);
    clock2.advance(5000);
    const urgent2 = admission2.acquire(live(), 0); // arrived 5 s later: 4 − 5 < 0, so old goes first
    holder2.release();
    clock2.advance(1);
    await permit(old2);
    expect(await peek(urgent2)).toBe('pending');
  });
});

describe('admission: lifecycle', () => {
  test('dispose refuses every waiter and every newcomer, and stops the timer', async () => {
    const { clock, admission } = setup({ capacity: 1 });
    const holder = await permit(admission.acquire(live()));
    const waiter = admission.acquire(live());
    expect(clock.pending).toBe(1);
    admission[Symbol.dispose]();
    expect((await refusal(waiter)).kind).toBe('shutting_down');
    expect((await refusal(admission.acquire(live()))).kind).toBe('shutting_down');
    expect(clock.pending).toBe(0);
    holder.release(); // still safe
  });

  test('works on real timers: a queue timeout fires on its own', async () => {
    using admission = new Admission({ capacity: 1, queueSize: 1, queueTimeoutMs: 20 }, { now: () => performance.now() });
    await permit(admission.acquire(live()));
    const e = await admission.acquire(live());
    expect(isRouterError(e) && e.kind).toBe('queue_timeout');
  });

  test('refuses a nonsensical configuration at construction', () => {
    const now = () => 0;
    expect(() => new Admission({ capacity: 0, queueSize: 1, queueTimeoutMs: 1 }, { now })).toThrow('capacity');
    expect(() => new Admission({ capacity: 1, refillPerSecond: 0, queueSize: 1, queueTimeoutMs: 1 }, { now })).toThrow('refillPerSecond');
    expect(() => new Admission({ capacity: 1, queueSize: 1, queueTimeoutMs: 0 }, { now })).toThrow('queueTimeoutMs');
  });
});

describe('admission: tryAcquire, the promise-free path', () => {
  test('grants a free token at once; never one that is not usable, nor ahead of a waiter, nor after dispose', async () => {
    const { clock, admission } = setup({ refillPerSecond: 1 });
    const first = admission.tryAcquire();
    expect(first).toBeDefined();
    expect(admission.tryAcquire()).toBeDefined();
    expect(admission.tryAcquire()).toBeUndefined();
    expect(admission.stats()).toEqual({ inUse: 2, available: 0, queued: 0 });
    // A waiter is served before any newcomer, whichever path the newcomer takes.
    const waiter = admission.acquire(live());
    first!.release();
    expect(admission.tryAcquire()).toBeUndefined();
    clock.advance(1000);
    await flush();
    await permit(waiter);
    expect(admission.tryAcquire()).toBeUndefined();
    admission[Symbol.dispose]();
    expect(admission.tryAcquire()).toBeUndefined();
  });

  test('a released token cools at the refill rate from its release, as with acquire', () => {
    const { clock, admission } = setup({ capacity: 1, refillPerSecond: 2 });
    const p = admission.tryAcquire()!;
    clock.advance(10_000);
    p.release();
    expect(admission.tryAcquire()).toBeUndefined();
    clock.advance(499);
    expect(admission.tryAcquire()).toBeUndefined();
    clock.advance(1);
    expect(admission.tryAcquire()).toBeDefined();
  });
});
