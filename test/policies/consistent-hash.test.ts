// consistent_hash: Rust's ring (160 fbi_hash nodes per endpoint), stickiness, ~1/N movement, and the ring walk.
import { describe, expect, test } from 'bun:test';
import type { Endpoint } from '../../src/core/endpoint.ts';
import { consistentHash } from '../../src/policies/consistent-hash.ts';
import type { Policy, RoutingRequest } from '../../src/policies/types.ts';
import { chat, deps, endpoint, endpoints, request } from './routing-fixtures.ts';

const pick = (policy: Policy, all: readonly Endpoint[], req: RoutingRequest, candidates = all) =>
  policy.select({ candidates, all, request: req })?.url;

const session = (id: string) => request({ body: { session_id: id, prompt: 'p' } });

/**
 * Choices of the Rust router's ring for http://worker1..5:8000, printed by its own fbi_hash with a
 * BTreeMap ring built as `update_hash_ring` / `find_worker_by_hash` do (consistent_hash.rs at e667ebb).
 * [request, worker with 3 endpoints, worker with 5 endpoints].
 */
const RUST_RING: [RoutingRequest, number, number][] = [
  [request({ headers: { 'x-session-id': 'alpha' } }), 3, 3],
  [request({ headers: { 'x-session-id': 'bravo' } }), 3, 3],
  [request({ headers: { 'x-user-id': 'charlie' } }), 2, 2],
  [request({ body: { session_id: 'delta' } }), 3, 3],
  [request({ body: { user: 'echo' } }), 1, 1],
  [request({ body: { session_id: 'foxtrot' } }), 1, 1],
  [request({ text: '' }), 3, 3],
  [request({ text: 'hello world' }), 3, 3],
  [request({ headers: { 'x-session-id': 'golf' } }), 1, 1],
  [request({ body: { user: 'hotel' } }), 3, 4],
  [request({ body: { session_id: 'india' } }), 1, 1],
  [request({ body: { user: 'juliet' } }), 1, 4],
];

describe('matches the Rust ring', () => {
  test('on small fleets', () => {
    const policy = consistentHash(deps());
    const five = endpoints(5);
    for (const [req, of3, of5] of RUST_RING) {
      expect(pick(policy, five.slice(0, 3), req)).toBe(`http://worker${of3}:8000`);
      expect(pick(policy, five, req)).toBe(`http://worker${of5}:8000`);
    }
  });

  test('on 1,000 endpoints, where colliding nodes go to the later endpoint as in a BTreeMap', () => {
    const all = Array.from({ length: 1000 }, (_, i) => endpoint(`http://10.0.${i >> 8}.${i & 255}:8000`));
    const policy = consistentHash(deps());
    const expected: [RoutingRequest, string][] = [
      [session('a'), 'http://10.0.1.167:8000'],
      [session('b'), 'http://10.0.3.92:8000'],
      [session('c'), 'http://10.0.0.118:8000'],
      [request({ body: { user: 'z' } }), 'http://10.0.0.86:8000'],
      [request(), 'http://10.0.2.220:8000'],
      // These land on positions two endpoints share; Rust keeps the later insert (10.0.0.253 came first).
      [session('k121'), 'http://10.0.3.154:8000'],
      [session('k131'), 'http://10.0.3.121:8000'],
      [session('k225'), 'http://10.0.1.230:8000'],
    ];
    for (const [req, url] of expected) expect(pick(policy, all, req)).toBe(url);
  });
});

test('sends the same key to the same endpoint, across calls and instances', () => {
  const all = endpoints(7);
  const first = consistentHash(deps(1));
  const second = consistentHash(deps(2));
  for (let i = 0; i < 200; i++) {
    const req = session(`s${i}`);
    const url = pick(first, all, req);
    expect(pick(first, all, req)).toBe(url);
    expect(pick(second, [...all], req)).toBe(url);
  }
});

test('sessions from headers and body stick whatever the prompt', () => {
  const policy = consistentHash(deps());
  const all = endpoints(6);
  for (let i = 0; i < 50; i++) {
    const prompts = ['a', 'b', 'c'];
    const headers = { 'x-session-id': `h${i}` };
    const byHeader = new Set(prompts.map((p) => pick(policy, all, request({ headers, body: { prompt: p } }))));
    const byBody = new Set(prompts.map((p) => pick(policy, all, request({ body: { user: `u${i}`, prompt: p } }))));
    expect(byHeader.size).toBe(1);
    expect(byBody.size).toBe(1);
  }
});

test('chat conversations without a session stick across turns and spread across endpoints', () => {
  const policy = consistentHash(deps());
  const all = endpoints(5);
  const used = new Set<string | undefined>();
  for (let c = 0; c < 200; c++) {
    const history = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: `Conversation ${c}: what is ${c} squared?` },
    ];
    const url = pick(policy, all, chat(history));
    used.add(url);
    for (let turn = 0; turn < 3; turn++) {
      history.push({ role: 'assistant', content: `answer ${turn}` }, { role: 'user', content: `follow-up ${turn}` });
      expect(pick(policy, all, chat(history))).toBe(url);
    }
  }
  // Rust keys all of these on `request:` and sends them to one endpoint.
  expect(used.size).toBe(all.length);
});

describe('membership changes', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => session(`key-${i}`));

  test('adding an endpoint moves about 1/N of the keys, all onto the new endpoint', () => {
    const policy = consistentHash(deps());
    const before = endpoints(10);
    const after = [...before, endpoint('http://worker11:8000')];
    const was = keys.map((req) => pick(policy, before, req));
    let moved = 0;
    keys.forEach((req, i) => {
      const now = pick(policy, after, req);
      if (now !== was[i]) {
        moved += 1;
        expect(now).toBe('http://worker11:8000');
      }
    });
    // The new endpoint's share is 1/11 on average; with 160 nodes its spread is ~8%, so allow ±50%.
    const share = moved / keys.length;
    expect(share).toBeGreaterThan(0.5 / 11);
    expect(share).toBeLessThan(1.5 / 11);
  });

  test('removing an endpoint moves only its keys', () => {
    const policy = consistentHash(deps());
    const all = endpoints(8);
    const was = keys.map((req) => pick(policy, all, req));
    const gone = all[3]!;
    const rest = all.filter((e) => e !== gone);
    policy.onMembershipChange?.(rest);
    keys.forEach((req, i) => {
      if (was[i] !== gone.url) expect(pick(policy, rest, req)).toBe(was[i]);
    });
  });
});

test('an array edited in place is picked up once onMembershipChange is called', () => {
  const policy = consistentHash(deps());
  const all = endpoints(3);
  const keys = Array.from({ length: 2000 }, (_, i) => session(`inplace-${i}`));
  policy.onMembershipChange?.(all);
  for (const req of keys) pick(policy, all, req);
  all.push(endpoint('http://worker4:8000'));
  policy.onMembershipChange?.(all);
  const reached = keys.filter((req) => pick(policy, all, req) === 'http://worker4:8000').length;
  expect(reached).toBeGreaterThan(0);
});

describe('an endpoint that is not a candidate', () => {
  const keys = Array.from({ length: 3000 }, (_, i) => session(`walk-${i}`));

  test('is skipped by walking the ring, as if it had left it', () => {
    const policy = consistentHash(deps());
    const reference = consistentHash(deps());
    const all = endpoints(6);
    const down = all[2]!;
    down.healthy = false;
    const candidates = all.filter((e) => e !== down);
    const orphansWentTo = new Set<string | undefined>();
    for (const req of keys) {
      const chosen = pick(policy, all, req, candidates);
      expect(chosen).not.toBe(down.url);
      expect(chosen).toBe(pick(reference, candidates, req));
      if (pick(policy, all, req) === down.url) orphansWentTo.add(chosen);
    }
    // Rust sends every orphan to the first healthy endpoint; the walk spreads them.
    expect(orphansWentTo.size).toBeGreaterThan(2);
  });

  test('gets its keys back when it is a candidate again', () => {
    const policy = consistentHash(deps());
    const all = endpoints(4);
    const before = keys.map((req) => pick(policy, all, req));
    keys.forEach((req) => pick(policy, all, req, all.slice(1)));
    keys.forEach((req, i) => expect(pick(policy, all, req)).toBe(before[i]));
  });

  test('falls back to the first candidate when no candidate is on the ring', () => {
    const policy = consistentHash(deps());
    const stranger = endpoint('http://elsewhere:8000');
    expect(policy.select({ candidates: [stranger], all: endpoints(3), request: session('x') })).toBe(stranger);
  });
});
