// Mooncake engine ids: GET <bootstrap>/query → {"<dp_rank>": {"engine_id": …}}, fetched once per bootstrap server.
//
// Rust queries every static prefill at start-up (30 tries, backoff 1 → 10 s) and refuses to start when one
// never answers (Rust src/routers/http/vllm_pd_router.rs). Here the query is lazy and shared, with an optional warm-up:
// - prefill endpoints can arrive after start-up (admin API, discovery), so a start-up-only query would miss
//   them;
// - one prefill whose bootstrap server is slow to come up must not keep the router (and every other prefill)
//   from serving;
// - `warm()` starts the query as soon as an endpoint is known, so the first request normally finds the id
//   cached; whoever wants Rust's strict start-up can await it.
// A request waits at most `maxWaitMs` for a query in progress, then fails its prefill attempt (and the
// router tries another prefill) while the query keeps retrying in the background for later requests.
import { sleep } from '../../core/retry.ts';
import { isRouterError, routerError, type RouterError } from '../../wire/errors.ts';
import { SMALL_ANSWER_MAX_BYTES } from '../../net/body-limits.ts';
import { outboundFetch } from '../../net/fetch.ts';
import { readJson } from '../../net/read-body.ts';
import { redirectNote } from '../../net/redirect.ts';
import { mooncakeBootstrapAddr } from './kv-transfer.ts';

/** The prefill endpoint fields the bootstrap lookup needs. */
export interface BootstrapTarget {
  readonly url: string;
  readonly bootstrapPort: number | null;
  readonly dpRank: number | undefined;
}

export interface MooncakeBootstrapOptions {
  /** Queries per bootstrap server before giving up until the next request asks (Rust: 30). */
  readonly attempts?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Time limit of one GET /query. */
  readonly queryTimeoutMs?: number;
  /** Longest a request waits for a query in progress. */
  readonly maxWaitMs?: number;
}

export interface MooncakeBootstrapDeps {
  readonly fetch?: (url: string, init: { signal: AbortSignal }) => Promise<Response>;
  /** Resolves true after `ms`, false if `signal` aborts first. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<boolean>;
}

export interface MooncakeBootstrap extends Disposable {
  /** The engine id of `target`'s data-parallel rank (or its first rank); an error when it cannot be had now. */
  engineId(target: BootstrapTarget, signal: AbortSignal): Promise<string | RouterError>;
  /** Starts the query now if nothing is cached or in progress; the promise settles when it does. */
  warm(target: BootstrapTarget): Promise<string | RouterError>;
  /** Drops the cached ids (the engine restarted, the endpoint was removed); the next request queries again. */
  forget(target: BootstrapTarget): void;
}

type EngineIds = ReadonlyMap<string, string>;
type Entry = { readonly kind: 'ready'; readonly ids: EngineIds } | { readonly kind: 'pending'; readonly promise: Promise<EngineIds | RouterError> };

/** `{"0":{"engine_id":"…"}, …}` → rank → engine id, or why not. */
export function parseQueryBody(body: unknown): EngineIds | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body is not a JSON object';
  const ids = new Map<string, string>();
  for (const [rank, info] of Object.entries(body)) {
    const id = typeof info === 'object' && info !== null ? (info as { engine_id?: unknown }).engine_id : undefined;
    if (typeof id === 'string' || typeof id === 'number') ids.set(rank, String(id));
  }
  return ids.size > 0 ? ids : 'no rank carries an engine_id';
}

/** The id of `dpRank` when listed, else of the lowest rank ("or first", as Rust does). */
function idFor(ids: EngineIds, dpRank: number | undefined): string {
  if (dpRank !== undefined) {
    const own = ids.get(String(dpRank));
    if (own !== undefined) return own;
  }
  const first = [...ids.keys()].sort((a, b) => Number(a) - Number(b) || a.localeCompare(b))[0] as string;
  return ids.get(first) as string;
}

export function createMooncakeBootstrap(options: MooncakeBootstrapOptions = {}, deps: MooncakeBootstrapDeps = {}): MooncakeBootstrap {
  const attempts = Math.max(1, options.attempts ?? 30);
  const initialBackoffMs = options.initialBackoffMs ?? 1000;
  const maxBackoffMs = options.maxBackoffMs ?? 10_000;
  const queryTimeoutMs = options.queryTimeoutMs ?? 5000;
  const maxWaitMs = options.maxWaitMs ?? 5000;
  const doFetch = deps.fetch ?? outboundFetch;
  const wait = deps.sleep ?? sleep;
  const cache = new Map<string, Entry>();
  const stopped = new AbortController();

  const queryOnce = async (addr: string): Promise<EngineIds | string> => {
    try {
      const res = await doFetch(`${addr}/query`, { signal: AbortSignal.any([stopped.signal, AbortSignal.timeout(queryTimeoutMs)]) });
      if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        return `answered HTTP ${res.status}${redirectNote(res.status)}`;
      }
      const body = await readJson(res, SMALL_ANSWER_MAX_BYTES);
      return body.ok ? parseQueryBody(body.value) : body.error;
    } catch (e) {
      return (e as Error).message;
    }
  };

  const load = async (addr: string): Promise<EngineIds | RouterError> => {
    let last = '';
    for (let i = 0; i < attempts; i++) {
      if (i > 0 && !(await wait(Math.min(initialBackoffMs * 2 ** (i - 1), maxBackoffMs), stopped.signal))) break;
      const result = await queryOnce(addr);
      if (typeof result !== 'string') {
        cache.set(addr, { kind: 'ready', ids: result });
        return result;
      }
      last = result;
    }
    // Not cached: the next request starts a fresh round of queries.
    cache.delete(addr);
    return routerError('upstream_unreachable', `Mooncake bootstrap server ${addr} did not give the prefill engine id (GET /query): ${last}`);
  };

  const ensure = (addr: string): Entry => {
    const known = cache.get(addr);
    if (known !== undefined) return known;
    const entry: Entry = { kind: 'pending', promise: load(addr) };
    // load() cannot settle before its first await, so this runs before it could store 'ready'.
    cache.set(addr, entry);
    return entry;
  };

  const waitFor = (promise: Promise<EngineIds | RouterError>, signal: AbortSignal, addr: string): Promise<EngineIds | RouterError> =>
    new Promise((resolve) => {
      const finish = (value: EngineIds | RouterError) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const onAbort = () => finish(routerError('client_closed', 'The request ended while waiting for the Mooncake bootstrap server'));
      const timer = setTimeout(() => finish(routerError('upstream_timeout', `Mooncake bootstrap server ${addr} has not answered /query yet`)), maxWaitMs);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(finish);
    });

  return {
    async engineId(target, signal) {
      const addr = mooncakeBootstrapAddr(target.url, target.bootstrapPort);
      const entry = ensure(addr);
      const ids = entry.kind === 'ready' ? entry.ids : await waitFor(entry.promise, signal, addr);
      return isRouterError(ids) ? ids : idFor(ids, target.dpRank);
    },
    async warm(target) {
      const entry = ensure(mooncakeBootstrapAddr(target.url, target.bootstrapPort));
      const ids = entry.kind === 'ready' ? entry.ids : await entry.promise;
      return isRouterError(ids) ? ids : idFor(ids, target.dpRank);
    },
    forget(target) {
      const addr = mooncakeBootstrapAddr(target.url, target.bootstrapPort);
      if (cache.get(addr)?.kind === 'ready') cache.delete(addr);
    },
    [Symbol.dispose]() {
      stopped.abort();
    },
  };
}
