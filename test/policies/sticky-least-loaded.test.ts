// sticky_least_loaded: first request to the endpoint with the fewest sessions, later ones stay; release, expiry, bound.
import { describe, expect, test } from 'bun:test';
import type { Endpoint } from '../../src/core/endpoint.ts';
import { stickyLeastLoaded } from '../../src/policies/sticky-least-loaded.ts';
import type { Policy, PolicyOptions } from '../../src/policies/types.ts';
import { fakeClock, type FakeClock } from '../../testkit/fake-clock.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';
import { endpoints, request } from './routing-fixtures.ts';

function sticky(clock: FakeClock, options: Partial<PolicyOptions> = {}): Policy {
  return stickyLeastLoaded({
    random: mulberry32(7),
    now: clock.now,
    options: { cacheThreshold: 0.5, balanceAbsThreshold: 64, balanceRelThreshold: 1.5, evictionIntervalSecs: 120, maxTreeSize: 1 << 20, ...options },
  });
}

const inSession = (id: string, extra: Record<string, string> = {}) => request({ headers: { 'x-session-id': id, ...extra }, body: { prompt: 'turn' } });
const pick = (p: Policy, pool: readonly Endpoint[], req = inSession('s')) => p.select({ candidates: pool, all: pool, request: req })!.id;

describe('sticky_least_loaded', () => {
  test('new sessions go to the endpoint with the fewest sessions, and each session stays where it started', () => {
    const clock = fakeClock();
    const policy = sticky(clock);
    const pool = endpoints(3);
    const homes = new Map<string, string>();
    for (let i = 0; i < 30; i++) homes.set(`s${i}`, pick(policy, pool, inSession(`s${i}`)));
    // Ten sessions each: least-loaded by sessions, whatever the order of the endpoints.
    const perEndpoint = [...homes.values()].reduce((m, id) => m.set(id, (m.get(id) ?? 0) + 1), new Map<string, number>());
    expect([...perEndpoint.values()]).toEqual([10, 10, 10]);
    // Every later turn, even with the endpoints' loads changed, goes home.
    pool[0]!.inFlight = 50;
    for (let round = 0; round < 3; round++) for (const [s, home] of homes) expect(pick(policy, pool, inSession(s))).toBe(home);
    expect(policy.sessionStats!()!.size).toBe(30);
  });

  test('the session id is read as the hash policies read it: configured header, session headers, body fields', () => {
    const clock = fakeClock();
    const policy = sticky(clock, { sessionHeader: 'x-conversation' });
    const pool = endpoints(4);
    const home = pick(policy, pool, request({ headers: { 'x-conversation': 'c1' } }));
    // The same id, carried in the body's top-level field of that name, in session_params, or as `user`.
    expect(pick(policy, pool, request({ body: { 'x-conversation': 'c1', prompt: 'p' } }))).toBe(home);
    expect(pick(policy, pool, request({ body: { session_params: { session_id: 'c1' } } }))).toBe(home);
    expect(pick(policy, pool, request({ body: { user: 'c1' } }))).toBe(home);
    expect(policy.sessionStats!()!.size).toBe(1);
    // A request id names one request, not a session: it is not pinned.
    pick(policy, pool, request({ headers: { 'x-request-id': 'r1' } }));
    expect(policy.sessionStats!()!.size).toBe(1);
  });

  test('requests without a session go to the least busy endpoint and are not pinned', () => {
    const clock = fakeClock();
    const policy = sticky(clock);
    const pool = endpoints(3);
    pool[0]!.inFlight = 2;
    pool[1]!.inFlight = 1;
    pool[2]!.inFlight = 3;
    expect(pick(policy, pool, request({ body: { prompt: 'x' } }))).toBe(pool[1]!.id);
    expect(policy.sessionStats!()!.size).toBe(0);
  });

  test('a session whose endpoint cannot take requests moves to the least-loaded one and stays there', () => {
    const clock = fakeClock();
    const policy = sticky(clock);
    const pool = endpoints(3);
    const home = pick(policy, pool, inSession('a'));
    const others = pool.filter((e) => e.id !== home);
    const moved = pick(policy, others, inSession('a'));
    expect(moved).not.toBe(home);
    // Re-pinned: back with every endpoint available, the session keeps its new endpoint.
    expect(pick(policy, pool, inSession('a'))).toBe(moved);
    const stats = policy.sessionStats!()!;
    expect(stats.repins).toBe(1);
    expect(stats.perEndpoint.get(home)).toBeUndefined();
    expect(stats.perEndpoint.get(moved)).toBe(1);
  });

  test('an endpoint that leaves the fleet takes its sessions out of the table', () => {
    const clock = fakeClock();
    const policy = sticky(clock);
    const pool = endpoints(2);
    for (const s of ['a', 'b', 'c', 'd']) pick(policy, pool, inSession(s));
    policy.onMembershipChange!([pool[1]!]);
    const stats = policy.sessionStats!()!;
    expect(stats.size).toBe(2);
    expect([...stats.perEndpoint.keys()]).toEqual([pool[1]!.id]);
  });

  test('finishSession releases a session: its endpoint counts one session less and the next request is placed afresh', () => {
    const clock = fakeClock();
    const policy = sticky(clock);
    const pool = endpoints(2);
    const home = pick(policy, pool, inSession('a'));
    pick(policy, pool, inSession('b'));
    expect(policy.finishSession!('a')).toBe(true);
    expect(policy.finishSession!('a')).toBe(false);
    const stats = policy.sessionStats!()!;
    expect(stats.size).toBe(1);
    expect(stats.released).toBe(1);
    expect(stats.perEndpoint.get(home)).toBeUndefined();
    // The endpoint freed by 'a' now holds the fewest sessions: a new session goes there.
    expect(pick(policy, pool, inSession('c'))).toBe(home);
  });

  test('a session idle past the TTL expires; one used within it does not', () => {
    const clock = fakeClock(1_000);
    const policy = sticky(clock, { sessionTtlMs: 60_000 });
    const pool = endpoints(2);
    pick(policy, pool, inSession('idle'));
    pick(policy, pool, inSession('busy'));
    clock.skip(40_000);
    pick(policy, pool, inSession('busy'));
    clock.skip(20_000);
    // 'idle' was last used 60 s ago, 'busy' 20 s ago.
    const stats = policy.sessionStats!()!;
    expect(stats.expiries).toBe(1);
    expect(stats.size).toBe(1);
    clock.skip(40_000);
    expect(policy.sessionStats!()!.size).toBe(0);
    expect(policy.sessionStats!()!.expiries).toBe(2);
  });

  test('an expired session is placed again by load, not kept on its old endpoint', () => {
    const clock = fakeClock();
    const policy = sticky(clock, { sessionTtlMs: 1_000 });
    const pool = endpoints(2);
    const home = pool.find((e) => e.id === pick(policy, pool, inSession('a')))!;
    const other = pool.find((e) => e !== home)!;
    clock.skip(1_000);
    // 'a' expires here; 'c' then lives on a's old endpoint, so that endpoint holds more sessions.
    pick(policy, [home], inSession('c'));
    expect(pick(policy, pool, inSession('a'))).toBe(other.id);
    expect(policy.sessionStats!()!.expiries).toBe(1);
  });

  test('past --max-sessions the least recently used session is forgotten first', () => {
    const clock = fakeClock();
    const policy = sticky(clock, { maxSessions: 3 });
    const pool = endpoints(2);
    for (const s of ['a', 'b', 'c']) {
      pick(policy, pool, inSession(s));
      clock.skip(1);
    }
    // 'a' is used again, so 'b' is now the least recently used.
    pick(policy, pool, inSession('a'));
    pick(policy, pool, inSession('d'));
    const stats = policy.sessionStats!()!;
    expect(stats.size).toBe(3);
    expect(stats.evictions).toBe(1);
    expect(policy.finishSession!('b')).toBe(false);
    for (const s of ['a', 'c', 'd']) expect(policy.finishSession!(s)).toBe(true);
  });

  test('ties between equally loaded endpoints split sessions by the session id, the same way every time', () => {
    const clock = fakeClock();
    const pool = endpoints(4);
    const first = sticky(clock);
    const again = sticky(clock);
    const used = new Set<string>();
    for (let i = 0; i < 40; i++) {
      // Released at once, so every session meets four empty endpoints: only the id decides.
      const a = pick(first, pool, inSession(`t${i}`));
      used.add(a);
      first.finishSession!(`t${i}`);
      expect(pick(again, pool, inSession(`t${i}`))).toBe(a);
      again.finishSession!(`t${i}`);
    }
    expect(used.size).toBe(4);
  });

  test('under a random mix of turns, releases, idling and the bound, the table holds what a plain LRU list would', () => {
    const clock = fakeClock();
    const ttlMs = 50;
    const policy = sticky(clock, { sessionTtlMs: ttlMs, maxSessions: 12 });
    const pool = endpoints(3);
    const rand = mulberry32(42);
    // The reference: sessions oldest first, each with its last use, expired and bounded the slow way.
    let model: { id: string; lastUsed: number }[] = [];
    for (let step = 0; step < 3000; step++) {
      const id = `s${Math.floor(rand() * 40)}`;
      const roll = rand();
      if (roll < 0.15) {
        const held = model.some((m) => m.id === id && clock.now() - m.lastUsed < ttlMs);
        model = model.filter((m) => clock.now() - m.lastUsed < ttlMs);
        expect(policy.finishSession!(id)).toBe(held);
        model = model.filter((m) => m.id !== id);
      } else if (roll < 0.3) {
        clock.skip(Math.floor(rand() * 20));
      } else {
        pick(policy, pool, inSession(id));
        model = model.filter((m) => m.id !== id && clock.now() - m.lastUsed < ttlMs);
        model.push({ id, lastUsed: clock.now() });
        if (model.length > 12) model = model.slice(model.length - 12);
      }
      model = model.filter((m) => clock.now() - m.lastUsed < ttlMs);
      const stats = policy.sessionStats!()!;
      expect(stats.size).toBe(model.length);
      expect([...stats.perEndpoint.values()].reduce((a, b) => a + b, 0)).toBe(model.length);
      // Every few steps, the very sessions: release them all and start the table again from the reference.
      if (step % 500 === 499) {
        for (const m of model) expect(policy.finishSession!(m.id)).toBe(true);
        expect(policy.sessionStats!()!.size).toBe(0);
        for (const m of model) pick(policy, pool, inSession(m.id));
        model = model.map((m) => ({ id: m.id, lastUsed: clock.now() }));
      }
    }
  });
});
