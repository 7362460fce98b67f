// What discovery wants registered (one entry per serving pod) against what it did register, applied to a sink.
import { endpointId, type EndpointSpec } from '../core/endpoint.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import type { PodRef } from './pod.ts';

/**
 * Where discovered endpoints go; the router implements it with its endpoint registry or manager. `add` may
 * refuse, by throwing, rejecting, or returning `{ error }` (the registry's way) or `{ ok: false, message }` (the
 * endpoint manager's): the URL is already registered statically, say, or failed its health probe. Discovery then
 * does not own that endpoint and never removes it; it tries again on the pod's next change and on a back-off
 * timer, since a Ready pod may not change again for days.
 */
export interface EndpointSink {
  add(spec: EndpointSpec): unknown | Promise<unknown>;
  /** `id` is `endpointId(spec)` of a spec this sink accepted from discovery. */
  remove(id: string): unknown | Promise<unknown>;
}

/**
 * Why an endpoint left: its pod was deleted or stopped matching the selector (the watch reports both as DELETED),
 * stopped serving (not ready, not running, being deleted), vanished while the watch was down (found by a
 * re-list), or changed (new role or bootstrap port, re-added at once).
 */
export type RemovalReason = 'deleted' | 'not_serving' | 'missing' | 'changed';

export type TableEvent =
  | { readonly type: 'added'; readonly id: string; readonly spec: EndpointSpec; readonly pod: PodRef }
  | { readonly type: 'removed'; readonly id: string; readonly pod: PodRef; readonly reason: RemovalReason }
  /** The sink refused the add; `attempt` counts refusals in a row, and it is tried again in `retryInMs`. */
  | { readonly type: 'refused'; readonly id: string; readonly pod: PodRef; readonly error: string; readonly attempt: number; readonly retryInMs: number };

/** A serving pod's endpoint. `rank` breaks ties when two pods claim one URL: lower wins (prefill before decode). */
export interface Desire {
  readonly spec: EndpointSpec;
  readonly pod: PodRef;
  readonly rank: number;
}

export interface EndpointTable {
  /** Sets (or with undefined, clears) what one pod of one source wants. Changes apply in call order. */
  set(source: string, podKey: string, desire: Desire | undefined, reason: RemovalReason): Promise<void>;
  /**
   * Replaces everything one source wants after a fresh list: `listed` maps every listed pod to its desire, or to
   * undefined when it is not serving. Pods that are not listed at all leave with reason `missing`.
   */
  replace(source: string, listed: ReadonlyMap<string, Desire | undefined>): Promise<void>;
  /** Endpoints the sink accepted from discovery and still holds. */
  owned(): EndpointSpec[];
  /** Cancels pending retries; later calls do nothing. Registered endpoints stay. */
  close(): void;
}

interface Owned {
  readonly key: string;
  readonly desire: Desire;
}

function sameSpec(a: EndpointSpec, b: EndpointSpec): boolean {
  return a.url === b.url && a.role === b.role && (a.bootstrapPort ?? null) === (b.bootstrapPort ?? null);
}

function refusal(result: unknown): string | undefined {
  if (result === null || typeof result !== 'object') return undefined;
  const r = result as { error?: unknown; ok?: unknown; message?: unknown };
  if (r.error !== undefined) return String(r.error);
  if (r.ok === false) return String(r.message ?? 'refused');
  return undefined;
}

export function createEndpointTable(sink: EndpointSink, onEvent: (event: TableEvent) => void, retry: BackoffOptions = {}): EndpointTable {
  /** `${source} ${podKey}` → desire. */
  const desired = new Map<string, Desire>();
  /** endpoint id → keys of desires for it; normally one, two while a pod IP is reused or a pod changes role. */
  const claims = new Map<string, Set<string>>();
  const owned = new Map<string, Owned>();
  /** Refused ids: refusals in a row and the timer that tries again. */
  const retries = new Map<string, { attempt: number; timer: ReturnType<typeof setTimeout> }>();
  let closed = false;
  // Sink calls may be slow (an add can wait for a health check); one chain keeps a remove from overtaking its add.
  let chain: Promise<void> = Promise.resolve();

  const serial = (work: () => Promise<void>): Promise<void> => {
    const next = chain.then(() => (closed ? undefined : work()));
    chain = next.catch(() => {});
    return next;
  };

  function forgetRetry(id: string): number {
    const pending = retries.get(id);
    if (pending === undefined) return 0;
    clearTimeout(pending.timer);
    retries.delete(id);
    return pending.attempt;
  }

  function scheduleRetry(id: string, attempt: number): number {
    const delay = backoffDelay(attempt, retry);
    // The entry stays until settle reads it, so the attempt count carries over to the next try.
    const timer = setTimeout(() => void serial(() => settle(id, 'not_serving')), delay);
    timer.unref();
    retries.set(id, { attempt, timer });
    return delay;
  }

  function claim(key: string, desire: Desire | undefined): string | undefined {
    const before = desired.get(key);
    const beforeId = before && endpointId(before.spec);
    if (beforeId !== undefined) {
      const keys = claims.get(beforeId);
      keys?.delete(key);
      if (keys?.size === 0) claims.delete(beforeId);
    }
    if (desire === undefined) desired.delete(key);
    else {
      desired.set(key, desire);
      const id = endpointId(desire.spec);
      const keys = claims.get(id) ?? new Set<string>();
      keys.add(key);
      claims.set(id, keys);
    }
    return beforeId;
  }

  /** Brings one endpoint id in line with the desires for it: keep the current owner if it still wants the same. */
  async function settle(id: string, reason: RemovalReason): Promise<void> {
    const current = owned.get(id);
    const candidates = [...(claims.get(id) ?? [])].map((key) => ({ key, desire: desired.get(key) as Desire }));
    const kept = current && candidates.find((c) => c.key === current.key && sameSpec(c.desire.spec, current.desire.spec));
    const winner = kept ?? candidates.sort((a, b) => a.desire.rank - b.desire.rank)[0];
    if (current !== undefined && kept === undefined) {
      owned.delete(id);
      try {
        await sink.remove(id);
      } catch {
        // The sink no longer has it; either way it is not ours any more.
      }
      const stillWanted = candidates.some((c) => c.key === current.key);
      onEvent({ type: 'removed', id, pod: current.desire.pod, reason: stillWanted ? 'changed' : reason });
    }
    const attempt = forgetRetry(id) + 1;
    if (winner === undefined || owned.has(id)) return;
    let error: string | undefined;
    try {
      error = refusal(await sink.add(winner.desire.spec));
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    if (error !== undefined) {
      if (closed) return;
      onEvent({ type: 'refused', id, pod: winner.desire.pod, error, attempt, retryInMs: scheduleRetry(id, attempt) });
      return;
    }
    owned.set(id, { key: winner.key, desire: winner.desire });
    onEvent({ type: 'added', id, spec: winner.desire.spec, pod: winner.desire.pod });
  }

  async function apply(key: string, desire: Desire | undefined, reason: RemovalReason): Promise<void> {
    const beforeId = claim(key, desire);
    const afterId = desire && endpointId(desire.spec);
    if (beforeId !== undefined && beforeId !== afterId) await settle(beforeId, reason);
    if (afterId !== undefined) await settle(afterId, reason);
  }

  return {
    set: (source, podKey, desire, reason) => serial(() => apply(`${source} ${podKey}`, desire, reason)),
    replace: (source, listed) =>
      serial(async () => {
        const prefix = `${source} `;
        for (const key of [...desired.keys()])
          if (key.startsWith(prefix) && !listed.has(key.slice(prefix.length))) await apply(key, undefined, 'missing');
        for (const [podKey, desire] of listed) await apply(`${prefix}${podKey}`, desire, 'not_serving');
      }),
    owned: () => [...owned.values()].map((o) => o.desire.spec),
    close() {
      closed = true;
      for (const id of [...retries.keys()]) forgetRetry(id);
    },
  };
}
