// rendezvous_hash: highest fbi_hash("<key>:<endpoint.id>") wins; stickiness and minimal reshuffling.
import { expect, test } from 'bun:test';
import type { Endpoint } from '../../src/core/endpoint.ts';
import { rendezvousHash } from '../../src/policies/rendezvous-hash.ts';
import type { RoutingRequest } from '../../src/policies/types.ts';
import { deps, endpoint, endpoints, request } from './routing-fixtures.ts';

const policy = rendezvousHash(deps());
const pick = (candidates: readonly Endpoint[], req: RoutingRequest) =>
  policy.select({ candidates, all: candidates, request: req })?.url;
const session = (id: string) => request({ body: { session_id: id, prompt: 'p' } });

test('matches the Rust router on small fleets', () => {
  // Printed by the Rust router's fbi_hash and `max_by_key` scoring (rendezvous_hash.rs at e667ebb)
  // for http://worker1..5:8000: [request, winner of 3, winner of 5].
  const cases: [RoutingRequest, number, number][] = [
    [request({ headers: { 'x-session-id': 'alpha' } }), 1, 1],
    [request({ headers: { 'x-session-id': 'bravo' } }), 3, 3],
    [request({ headers: { 'x-user-id': 'charlie' } }), 1, 5],
    [request({ body: { session_id: 'delta' } }), 2, 4],
    [request({ body: { user: 'echo' } }), 3, 3],
    [request({ body: { session_id: 'foxtrot' } }), 3, 3],
    [request({ text: '' }), 2, 2],
    [request({ text: 'hello world' }), 1, 1],
    [request({ headers: { 'x-session-id': 'golf' } }), 1, 5],
    [request({ body: { user: 'hotel' } }), 1, 1],
    [request({ body: { session_id: 'india' } }), 2, 2],
    [request({ body: { user: 'juliet' } }), 1, 1],
  ];
  const five = endpoints(5);
  for (const [req, of3, of5] of cases) {
    expect(pick(five.slice(0, 3), req)).toBe(`http://worker${of3}:8000`);
    expect(pick(five, req)).toBe(`http://worker${of5}:8000`);
  }
});

test('sends the same key to the same endpoint, whatever the candidate order', () => {
  const all = endpoints(6);
  for (let i = 0; i < 200; i++) {
    const req = session(`s${i}`);
    expect(pick([...all].reverse(), req)).toBe(pick(all, req));
  }
});

test('adding an endpoint moves about 1/(N+1) of the keys, all onto it', () => {
  const before = endpoints(9);
  const after = [...before, endpoint('http://worker10:8000')];
  const keys = 10_000;
  let moved = 0;
  for (let i = 0; i < keys; i++) {
    const req = session(`k${i}`);
    const was = pick(before, req);
    const now = pick(after, req);
    if (now !== was) {
      moved += 1;
      expect(now).toBe('http://worker10:8000');
    }
  }
  // Each key lands on the newcomer with p = 1/10: a Binomial count, allowed 5 standard deviations.
  const p = 1 / after.length;
  expect(Math.abs(moved - keys * p)).toBeLessThan(5 * Math.sqrt(keys * p * (1 - p)));
});

test('an endpoint that leaves or stops being a candidate gives up only its own keys', () => {
  const all = endpoints(6);
  const rest = all.filter((_, i) => i !== 4);
  const orphansWentTo = new Set<string | undefined>();
  for (let i = 0; i < 3000; i++) {
    const req = session(`k${i}`);
    const was = pick(all, req);
    const now = pick(rest, req);
    if (was === all[4]!.url) orphansWentTo.add(now);
    else expect(now).toBe(was);
  }
  expect(orphansWentTo.size).toBe(rest.length);
});
