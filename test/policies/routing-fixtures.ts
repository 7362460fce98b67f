// Builders the policy tests share: endpoints with simple breakers, routing requests, deps.
import type { CircuitBreaker } from '../../src/core/circuit-breaker.ts';
import { createEndpoint, type Endpoint } from '../../src/core/endpoint.ts';
import type { PolicyDeps, RoutingRequest } from '../../src/policies/types.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';

/** A breaker whose verdict the test sets. */
export function fixedBreaker(allows = true): CircuitBreaker & { open: boolean } {
  return {
    open: !allows,
    allows() {
      return !this.open;
    },
    acquire() {
      return this.open ? undefined : { record() {}, release() {} };
    },
    record() {},
    get state() {
      return this.open ? ('open' as const) : ('closed' as const);
    },
  };
}

export function endpoint(url: string, breaker: CircuitBreaker = fixedBreaker()): Endpoint {
  return createEndpoint({ url }, breaker);
}

/** `count` endpoints `http://worker<i>:8000`, numbered from 1 like the Rust tests. */
export function endpoints(count: number, first = 1): Endpoint[] {
  return Array.from({ length: count }, (_, i) => endpoint(`http://worker${first + i}:8000`));
}

export interface RequestInit {
  route?: string;
  headers?: Record<string, string>;
  body?: Record<string, unknown>;
  text?: string;
}

export function request(init: RequestInit = {}): RoutingRequest {
  return {
    route: init.route ?? '/v1/completions',
    headers: new Headers(init.headers ?? {}),
    body: init.body,
    text: init.text ?? (typeof init.body?.['prompt'] === 'string' ? init.body['prompt'] : ''),
  };
}

/** A chat request whose routing text is the whole conversation, as the router builds it. */
export function chat(
  messages: { role: string; content: unknown }[],
  extra: Record<string, unknown> = {},
): RoutingRequest {
  return request({
    route: '/v1/chat/completions',
    body: { model: 'm', messages, ...extra },
    text: messages.map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content))).join('\n'),
  });
}

export function deps(seed = 1): PolicyDeps {
  let clock = 0;
  return {
    random: mulberry32(seed),
    now: () => (clock += 1),
    options: {
      cacheThreshold: 0.5,
      balanceAbsThreshold: 64,
      balanceRelThreshold: 1.5,
      evictionIntervalSecs: 120,
      maxTreeSize: 1 << 24,
    },
  };
}

/** Counts how often each endpoint id is chosen. */
export function tally(picks: readonly (Endpoint | undefined)[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const pick of picks) {
    const id = pick?.id ?? 'none';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}
