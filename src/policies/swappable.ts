// A policy slot whose occupant can be replaced while requests are routed: what a configuration reload
// swaps when --policy or its parameters change. Routers hold the slot, never the occupant.
import type { Endpoint } from '../core/endpoint.ts';
import type { PolicyName } from '../config/policy-names.ts';
import type { CacheAwareStats, Policy, SelectContext, SessionStats } from './types.ts';

export interface SwappablePolicy extends Policy {
  readonly current: Policy;
  /** The occupant's prefix-index counters, when it keeps an index (cache_aware). */
  cacheStats(): CacheAwareStats | undefined;
  /** The occupant's session table counters, when it pins sessions (sticky_least_loaded). */
  sessionStats(): SessionStats | undefined;
  /** Forgets a session the occupant pinned; false when it holds none (or pins none). */
  finishSession(sessionId: string): boolean;
  /** Puts `next` in the slot, tells it the current members, and disposes the one it replaces. */
  replace(next: Policy, members: readonly Endpoint[]): void;
}

export function swappablePolicy(initial: Policy): SwappablePolicy {
  let current = initial;
  return {
    get name(): PolicyName {
      return current.name;
    },
    get wantsBlockHashes(): boolean | undefined {
      return current.wantsBlockHashes;
    },
    get current() {
      return current;
    },
    select: (ctx: SelectContext) => current.select(ctx),
    onMembershipChange: (all) => current.onMembershipChange?.(all),
    dispose: () => current.dispose?.(),
    cacheStats: () => current.cacheStats?.(),
    sessionStats: () => current.sessionStats?.(),
    finishSession: (id: string) => current.finishSession?.(id) ?? false,
    replace(next, members) {
      const old = current;
      next.onMembershipChange?.(members);
      current = next;
      old.dispose?.();
    },
  };
}
