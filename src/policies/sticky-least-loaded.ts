// `sticky_least_loaded`: a session's first request goes to the endpoint holding the fewest sessions, every later one
// to that same endpoint while it can take requests; sessions end by /finish_session, by idling past a TTL, or by a bound.
import type { Endpoint } from '../core/endpoint.ts';
import { sessionId } from './hash-key.ts';
import type { PolicyFactory, SessionStats } from './types.ts';

export const DEFAULT_SESSION_TTL_MS = 3_600_000;
export const DEFAULT_MAX_SESSIONS = 100_000;

/** A session in the table; the table is also a list in order of last use, oldest at the head. */
interface Pin {
  readonly id: string;
  readonly endpoint: string;
  lastUsed: number;
  older: Pin | undefined;
  newer: Pin | undefined;
}

/**
 * The Rust router's PR #235 (from the SkyRL / PrimeIntellect forks): load is counted in active sessions, not
 * in requests, so a new session goes where the fewest sessions live; ties go to the endpoint with fewer
 * requests in flight, then to the highest rendezvous score of the session id, so equal endpoints split new
 * sessions evenly and deterministically. A session whose endpoint is not a candidate (unhealthy, breaker open,
 * draining, gone, or already tried by this request's retry) is pinned again, to the least-loaded candidate.
 *
 * A request that names no session is not pinned: it goes to the candidate with the fewest requests in flight
 * (then fewest sessions, then at random), so it neither sticks nor counts as a session.
 *
 * The table is a Map plus a list in order of last use, so a hit moves its session to the tail, the idle expiry
 * takes from the head while the oldest is past the TTL and the bound drops the head: O(1) per request and per
 * removed session, during `select`, with no timer. (Re-inserting into the Map to keep its order would not do:
 * iterating it from the front walks over the slots of every deleted entry, which grow with the traffic.)
 */
export const stickyLeastLoaded: PolicyFactory = ({ now, random, options }) => {
  const ttlMs = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
  const maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  const { sessionHeader } = options;
  const pins = new Map<string, Pin>();
  let oldest: Pin | undefined;
  let newest: Pin | undefined;
  const unlink = (pin: Pin) => {
    if (pin.older === undefined) oldest = pin.newer;
    else pin.older.newer = pin.newer;
    if (pin.newer === undefined) newest = pin.older;
    else pin.newer.older = pin.older;
    pin.older = pin.newer = undefined;
  };
  const append = (pin: Pin) => {
    pin.older = newest;
    if (newest === undefined) oldest = pin;
    else newest.newer = pin;
    newest = pin;
  };
  const perEndpoint = new Map<string, number>();
  let evictions = 0;
  let expiries = 0;
  let released = 0;
  let repins = 0;

  const count = (endpoint: string) => perEndpoint.get(endpoint) ?? 0;
  const unpin = (pin: Pin) => {
    pins.delete(pin.id);
    unlink(pin);
    const n = count(pin.endpoint) - 1;
    if (n > 0) perEndpoint.set(pin.endpoint, n);
    else perEndpoint.delete(pin.endpoint);
  };
  const expireIdle = (t: number) => {
    while (oldest !== undefined && t - oldest.lastUsed >= ttlMs) {
      unpin(oldest);
      expiries++;
    }
  };

  /** Fewest sessions, then fewest in flight, then the highest rendezvous score of the session id. */
  const forSession = (candidates: readonly Endpoint[], id: string): Endpoint => {
    let best: Endpoint | undefined;
    let bestScore = 0n;
    for (const e of candidates) {
      const order = best === undefined ? -1 : count(e.id) - count(best.id) || e.inFlight - best.inFlight;
      if (order > 0) continue;
      const score = Bun.hash.wyhash(`${id}:${e.id}`);
      if (order < 0 || score > bestScore) {
        best = e;
        bestScore = score;
      }
    }
    return best!;
  };

  /** Fewest in flight, then fewest sessions, then a random one of those tied. */
  const forRequest = (candidates: readonly Endpoint[]): Endpoint => {
    let tied: Endpoint[] = [];
    for (const e of candidates) {
      const first = tied[0];
      const order = first === undefined ? -1 : e.inFlight - first.inFlight || count(e.id) - count(first.id);
      if (order < 0) tied = [e];
      else if (order === 0) tied.push(e);
    }
    return tied.length === 1 ? tied[0]! : tied[Math.floor(random() * tied.length)]!;
  };

  return {
    name: 'sticky_least_loaded',
    select({ candidates, request }) {
      if (candidates.length === 0) return undefined;
      const t = now();
      expireIdle(t);
      const id = sessionId(request, sessionHeader);
      if (id === undefined) return forRequest(candidates);
      const pin = pins.get(id);
      if (pin !== undefined) {
        const home = candidates.find((e) => e.id === pin.endpoint);
        if (home !== undefined) {
          pin.lastUsed = t;
          unlink(pin);
          append(pin);
          return home;
        }
        unpin(pin);
        repins++;
      }
      const chosen = forSession(candidates, id);
      const created: Pin = { id, endpoint: chosen.id, lastUsed: t, older: undefined, newer: undefined };
      pins.set(id, created);
      append(created);
      perEndpoint.set(chosen.id, count(chosen.id) + 1);
      while (pins.size > maxSessions && oldest !== undefined) {
        unpin(oldest);
        evictions++;
      }
      return chosen;
    },
    finishSession(id) {
      expireIdle(now());
      const pin = pins.get(id);
      if (pin === undefined) return false;
      unpin(pin);
      released++;
      return true;
    },
    onMembershipChange(all) {
      const present = new Set(all.map((e) => e.id));
      for (const pin of pins.values()) if (!present.has(pin.endpoint)) unpin(pin);
    },
    sessionStats(): SessionStats {
      expireIdle(now());
      return { size: pins.size, evictions, expiries, released, repins, perEndpoint: new Map(perEndpoint) };
    },
  };
};
