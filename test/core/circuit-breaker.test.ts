import { describe, expect, test } from 'bun:test';
import { alwaysClosed, createCircuitBreaker, type BreakerOptions, type BreakerState } from '../../src/core/circuit-breaker.ts';

const OPTIONS: BreakerOptions = { failureThreshold: 3, successThreshold: 2, timeoutMs: 1000, windowMs: 10_000, halfOpenMaxProbes: 2 };

function setup(options: Partial<BreakerOptions> = {}) {
  let t = 0;
  const transitions: string[] = [];
  const breaker = createCircuitBreaker(
    { ...OPTIONS, ...options },
    { now: () => t, onTransition: (from: BreakerState, to: BreakerState) => transitions.push(`${from}->${to}`) },
  );
  const fail = (n = 1) => {
    for (let i = 0; i < n; i++) breaker.acquire()?.record(false);
  };
  return {
    breaker,
    transitions,
    fail,
    at: (ms: number) => {
      t = ms;
    },
  };
}

/** Opens the breaker at time 0 and moves it to half-open at time OPTIONS.timeoutMs. */
function halfOpen(options: Partial<BreakerOptions> = {}) {
  const s = setup(options);
  s.fail(OPTIONS.failureThreshold);
  s.at(OPTIONS.timeoutMs);
  expect(s.breaker.state).toBe('half_open');
  return s;
}

describe('circuit breaker: closed', () => {
  test('starts closed and lets requests through', () => {
    const { breaker } = setup();
    expect(breaker.state).toBe('closed');
    expect(breaker.allows()).toBe(true);
    expect(breaker.acquire()).toBeDefined();
  });

  test('opens after failureThreshold failures in a row within the window', () => {
    const { breaker, transitions, fail } = setup();
    fail(2);
    expect(breaker.state).toBe('closed');
    fail();
    expect(breaker.state).toBe('open');
    expect(transitions).toEqual(['closed->open']);
  });

  test('a success resets the run of failures', () => {
    const { breaker, fail } = setup();
    fail(2);
    breaker.acquire()?.record(true);
    fail(2);
    expect(breaker.state).toBe('closed');
    fail();
    expect(breaker.state).toBe('open');
  });

  test('failures older than the window do not count', () => {
    const { breaker, fail, at } = setup();
    at(0);
    fail();
    at(1000);
    fail();
    at(10_000); // the failure at 0 is now exactly one window old: expired
    fail();
    expect(breaker.state).toBe('closed');
    at(10_999); // failures at 1000, 10_000, 10_999 all lie within 10 s
    fail();
    expect(breaker.state).toBe('open');
  });

  test('a slow trickle of failures never opens it', () => {
    const { breaker, fail, at } = setup();
    for (let i = 0; i < 20; i++) {
      at(i * 5000);
      fail();
    }
    expect(breaker.state).toBe('closed');
  });

  test('ticketless record counts like a ticket in closed state', () => {
    const { breaker } = setup();
    for (let i = 0; i < 3; i++) breaker.record(false);
    expect(breaker.state).toBe('open');
  });
});

describe('circuit breaker: open', () => {
  test('refuses until the timeout, then moves to half-open lazily', () => {
    const { breaker, transitions, fail, at } = setup();
    fail(3);
    at(999);
    expect(breaker.allows()).toBe(false);
    expect(breaker.acquire()).toBeUndefined();
    expect(breaker.state).toBe('open');
    at(1000);
    expect(transitions).toEqual(['closed->open']); // nothing happens until someone asks
    expect(breaker.allows()).toBe(true);
    expect(breaker.state).toBe('half_open');
    expect(transitions).toEqual(['closed->open', 'open->half_open']);
  });

  test('the state getter also moves it to half-open', () => {
    const { breaker, fail, at } = setup();
    fail(3);
    at(5000);
    expect(breaker.state).toBe('half_open');
  });

  test('outcomes of requests admitted before the opening change nothing', () => {
    const { breaker, fail, at } = setup();
    const late = [breaker.acquire(), breaker.acquire()];
    fail(3);
    late[0]?.record(true);
    late[1]?.record(false);
    breaker.record(true);
    expect(breaker.state).toBe('open');
    at(999);
    expect(breaker.allows()).toBe(false); // the timeout was not restarted either
    at(1000);
    expect(breaker.state).toBe('half_open');
  });
});

describe('circuit breaker: half-open', () => {
  test('admits at most halfOpenMaxProbes probes in flight', () => {
    const { breaker } = halfOpen();
    const first = breaker.acquire();
    expect(breaker.allows()).toBe(true);
    const second = breaker.acquire();
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    expect(breaker.allows()).toBe(false);
    expect(breaker.acquire()).toBeUndefined();
    first?.record(true); // one probe back: one slot free
    expect(breaker.allows()).toBe(true);
    expect(breaker.acquire()).toBeDefined();
    expect(breaker.acquire()).toBeUndefined();
  });

  test('allows() takes no probe slot, however often it is asked', () => {
    const { breaker } = halfOpen();
    for (let i = 0; i < 10; i++) expect(breaker.allows()).toBe(true);
    expect(breaker.acquire()).toBeDefined();
    expect(breaker.acquire()).toBeDefined();
  });

  test('release() frees a probe slot without counting an outcome', () => {
    const { breaker } = halfOpen({ successThreshold: 1 });
    const probe = breaker.acquire();
    breaker.acquire();
    probe?.release();
    probe?.record(true); // after release the ticket is spent
    expect(breaker.state).toBe('half_open');
    expect(breaker.acquire()).toBeDefined();
  });

  test('successThreshold probe successes close it', () => {
    const { breaker, transitions } = halfOpen();
    breaker.acquire()?.record(true);
    expect(breaker.state).toBe('half_open');
    breaker.acquire()?.record(true);
    expect(breaker.state).toBe('closed');
    expect(transitions).toEqual(['closed->open', 'open->half_open', 'half_open->closed']);
  });

  test('closing starts a fresh run of failures', () => {
    const { breaker, fail } = halfOpen();
    breaker.acquire()?.record(true);
    breaker.acquire()?.record(true);
    fail(2);
    expect(breaker.state).toBe('closed');
    fail();
    expect(breaker.state).toBe('open');
  });

  test('any probe failure reopens it and restarts the timeout', () => {
    const { breaker, transitions, at } = halfOpen();
    breaker.acquire()?.record(true);
    at(1500);
    breaker.acquire()?.record(false);
    expect(breaker.state).toBe('open');
    expect(transitions).toEqual(['closed->open', 'open->half_open', 'half_open->open']);
    at(2499);
    expect(breaker.allows()).toBe(false);
    at(2500);
    expect(breaker.allows()).toBe(true);
    expect(breaker.state).toBe('half_open');
  });

  test('a reopening forgets earlier probe successes', () => {
    const { breaker, at } = halfOpen();
    breaker.acquire()?.record(true);
    breaker.acquire()?.record(false);
    at(2000);
    breaker.acquire()?.record(true);
    expect(breaker.state).toBe('half_open');
    breaker.acquire()?.record(true);
    expect(breaker.state).toBe('closed');
  });

  test('a request admitted while closed that ends during half-open neither frees a slot nor decides', () => {
    const { breaker, fail, at } = setup();
    const old = breaker.acquire();
    fail(3);
    at(1000);
    const probes = [breaker.acquire(), breaker.acquire()];
    expect(probes.every((p) => p !== undefined)).toBe(true);
    old?.record(false);
    expect(breaker.state).toBe('half_open');
    expect(breaker.acquire()).toBeUndefined();
    old?.record(true);
    expect(breaker.state).toBe('half_open');
  });

  test('a probe of an earlier half-open period does not free a slot of the current one', () => {
    const { breaker, at } = halfOpen({ halfOpenMaxProbes: 1 });
    const stale = breaker.acquire();
    breaker.record(false); // reopened by an outcome reported without a ticket
    at(3000);
    const probe = breaker.acquire();
    expect(probe).toBeDefined();
    stale?.record(true);
    expect(breaker.acquire()).toBeUndefined();
    expect(breaker.state).toBe('half_open');
  });

  test('a ticket counts once', () => {
    const { breaker } = halfOpen();
    const probe = breaker.acquire();
    probe?.record(true);
    probe?.record(true);
    expect(breaker.state).toBe('half_open');
  });

  test('ticketless record counts as a probe outcome, as in the Rust router', () => {
    const { breaker } = halfOpen();
    breaker.record(true);
    breaker.record(true);
    expect(breaker.state).toBe('closed');
  });
});

describe('circuit breaker: construction', () => {
  test('refuses thresholds below 1 and non-positive durations', () => {
    expect(() => createCircuitBreaker({ ...OPTIONS, failureThreshold: 0 }, { now: () => 0 })).toThrow('failureThreshold');
    expect(() => createCircuitBreaker({ ...OPTIONS, halfOpenMaxProbes: 0 }, { now: () => 0 })).toThrow('halfOpenMaxProbes');
    expect(() => createCircuitBreaker({ ...OPTIONS, windowMs: 0 }, { now: () => 0 })).toThrow('windowMs');
  });
});

describe('alwaysClosed', () => {
  test('never opens and always hands out a ticket', () => {
    const breaker = alwaysClosed();
    for (let i = 0; i < 100; i++) {
      breaker.record(false);
      breaker.acquire()?.record(false);
    }
    expect(breaker.state).toBe('closed');
    expect(breaker.allows()).toBe(true);
    const ticket = breaker.acquire();
    expect(ticket).toBeDefined();
    ticket?.release();
  });
});
