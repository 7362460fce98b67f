// A small Kubernetes API client on fetch: list pods, and watch them as a stream of newline-delimited JSON events.
import { ERROR_BODY_MAX_BYTES } from '../net/body-limits.ts';
import { outboundFetch } from '../net/fetch.ts';
import { readText } from '../net/read-body.ts';
import { isRedirect, redirectNote } from '../net/redirect.ts';
import type { KubeCredentials } from './kube-auth.ts';
import type { Pod } from './pod.ts';

/** Which pods: one namespace or all of them, filtered by the API server with a label selector. */
export interface PodQuery {
  readonly namespace: string | undefined;
  /** `k1=v1,k2=v2`; never empty, since an empty selector would match every pod. */
  readonly labelSelector: string;
}

export type KubeFailure =
  /** 410 Gone: the resource version is older than the server keeps; the only way on is a fresh list. */
  | { readonly kind: 'expired'; readonly message: string }
  | { readonly kind: 'http'; readonly status: number; readonly message: string }
  | { readonly kind: 'network'; readonly message: string }
  | { readonly kind: 'protocol'; readonly message: string };

export type KubeResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: KubeFailure };

export interface PodList {
  readonly resourceVersion: string;
  readonly pods: readonly Pod[];
}

export type WatchItem =
  /** The server accepted the watch (200 and headers); events follow. */
  | { readonly type: 'OPEN' }
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly pod: Pod }
  /** Progress without a change: the stream has seen everything up to this version. */
  | { readonly type: 'BOOKMARK'; readonly resourceVersion: string }
  /** The stream is over: closed by the server (no failure), or failed, including ERROR events. Always last. */
  | { readonly type: 'END'; readonly failure?: KubeFailure };

export interface KubeClient {
  listPods(query: PodQuery, signal: AbortSignal): Promise<KubeResult<PodList>>;
  /**
   * Watches from `resourceVersion`. The request is made when iteration starts; every failure, an HTTP 410
   * included, arrives as the final END item, so iterating never throws.
   */
  watchPods(query: PodQuery, resourceVersion: string, signal: AbortSignal): AsyncIterable<WatchItem>;
}

export interface KubeClientOptions {
  readonly credentials: KubeCredentials;
  /** Asks the server to end each watch after this long (client-go uses 5–10 min), so connections are renewed. */
  readonly watchTimeoutSeconds?: number;
  /** A watch that receives nothing for this long is presumed dead (a silent network drop); default timeout + 30 s. */
  readonly idleTimeoutMs?: number;
  /** A watch event line longer than this (in characters; JSON is ASCII in practice) is refused, not buffered. */
  readonly maxLineBytes?: number;
  /** A list that has not answered in this long is abandoned and retried; default 60 s. */
  readonly listTimeoutMs?: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A non-2xx answer, with the message of the Kubernetes `Status` body when there is one. A 3xx is not followed:
 * the request carries the service account's token, and the pod list decides where traffic goes.
 */
async function failureOf(response: Response): Promise<KubeFailure> {
  if (isRedirect(response.status)) {
    await response.body?.cancel().catch(() => {});
    return { kind: 'http', status: response.status, message: `HTTP ${response.status}${redirectNote(response.status)}` };
  }
  const read = await readText(response, ERROR_BODY_MAX_BYTES);
  const body = read.ok ? read.text : '';
  let message = body.slice(0, 300) || response.statusText;
  try {
    const status: unknown = JSON.parse(body);
    if (isObject(status) && typeof status['message'] === 'string') message = status['message'];
  } catch {
    // Not a Status object (a proxy in front of the API server, say): keep the text.
  }
  if (response.status === 410) return { kind: 'expired', message };
  return { kind: 'http', status: response.status, message: `HTTP ${response.status}: ${message}` };
}

/** An ERROR event carries a `Status`; code 410 means "too old resource version". */
function statusFailure(object: unknown): KubeFailure {
  const code = isObject(object) && typeof object['code'] === 'number' ? object['code'] : 0;
  const message = isObject(object) && typeof object['message'] === 'string' ? object['message'] : 'watch ERROR event';
  if (code === 410) return { kind: 'expired', message };
  return { kind: 'http', status: code, message: `watch ERROR ${code}: ${message}` };
}

function parseEvent(line: string): WatchItem {
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    return { type: 'END', failure: { kind: 'protocol', message: `watch event is not JSON: ${line.slice(0, 80)}` } };
  }
  if (!isObject(event) || !isObject(event['object'])) return { type: 'END', failure: { kind: 'protocol', message: 'watch event without an object' } };
  const object = event['object'];
  switch (event['type']) {
    case 'ADDED':
    case 'MODIFIED':
    case 'DELETED':
      return { type: event['type'], pod: object as Pod };
    case 'BOOKMARK': {
      const rv = isObject(object['metadata']) ? object['metadata']['resourceVersion'] : undefined;
      if (typeof rv !== 'string') return { type: 'END', failure: { kind: 'protocol', message: 'BOOKMARK without a resourceVersion' } };
      return { type: 'BOOKMARK', resourceVersion: rv };
    }
    case 'ERROR':
      return { type: 'END', failure: statusFailure(object) };
    default:
      return { type: 'END', failure: { kind: 'protocol', message: `unknown watch event type ${String(event['type'])}` } };
  }
}

export function createKubeClient(options: KubeClientOptions): KubeClient {
  const { credentials } = options;
  const timeoutSeconds = options.watchTimeoutSeconds ?? 300;
  const idleMs = options.idleTimeoutMs ?? (timeoutSeconds + 30) * 1000;
  const maxLine = options.maxLineBytes ?? 4 * 1024 * 1024;
  const listTimeoutMs = options.listTimeoutMs ?? 60_000;
  const { ca, cert, key, rejectUnauthorized, serverName } = credentials.tls;
  const tls = {
    rejectUnauthorized,
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined || key === undefined ? {} : { cert, key }),
    ...(serverName === undefined ? {} : { serverName }),
  };

  async function headers(): Promise<Record<string, string>> {
    const h: Record<string, string> = { accept: 'application/json', 'user-agent': 'vllm-router' };
    const auth = credentials.auth;
    if (auth.kind === 'token') h['authorization'] = `Bearer ${auth.token}`;
    else if (auth.kind === 'token_file') h['authorization'] = `Bearer ${(await Bun.file(auth.path).text()).trim()}`;
    else if (auth.kind === 'basic') h['authorization'] = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    return h;
  }

  function podsUrl(query: PodQuery, params: Record<string, string>): string {
    const path = query.namespace === undefined ? '/api/v1/pods' : `/api/v1/namespaces/${encodeURIComponent(query.namespace)}/pods`;
    const search = new URLSearchParams({ labelSelector: query.labelSelector, ...params });
    return `${credentials.server}${path}?${search}`;
  }

  async function get(url: string, signal: AbortSignal): Promise<KubeResult<Response>> {
    try {
      const response = await outboundFetch(url, { headers: await headers(), tls, signal });
      if (!response.ok) return { ok: false, failure: await failureOf(response) };
      return { ok: true, value: response };
    } catch (e) {
      return { ok: false, failure: { kind: 'network', message: describe(e) } };
    }
  }

  async function* watch(url: string, signal: AbortSignal): AsyncGenerator<WatchItem> {
    // The caller's signal ends the watch on dispose; the idle controller ends it when the connection goes quiet.
    const idle = new AbortController();
    // Restarted on every chunk: the server sends bookmarks about once a minute, so silence means a dead
    // connection. It also covers the wait for the response headers, which a broken proxy may never send.
    const timer = setTimeout(() => idle.abort(new Error(`watch received nothing for ${idleMs} ms`)), idleMs);
    const quiet = (e: unknown): KubeFailure => ({ kind: 'network', message: idle.signal.aborted ? describe(idle.signal.reason) : describe(e) });
    let release: (() => void) | undefined;
    try {
      const response = await get(url, AbortSignal.any([signal, idle.signal]));
      if (!response.ok) {
        yield { type: 'END', failure: response.failure.kind === 'network' ? quiet(response.failure.message) : response.failure };
        return;
      }
      if (response.value.body === null) {
        yield { type: 'END', failure: { kind: 'protocol', message: 'watch response has no body' } };
        return;
      }
      yield { type: 'OPEN' };
      const reader = response.value.body.getReader();
      release = () => reader.releaseLock();
      const decoder = new TextDecoder();
      let buffered = '';
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (e) {
          yield { type: 'END', failure: quiet(e) };
          return;
        }
        if (chunk.done) {
          yield { type: 'END' };
          return;
        }
        timer.refresh();
        buffered += decoder.decode(chunk.value, { stream: true });
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0 && newline <= maxLine) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line.length === 0) continue;
          const item = parseEvent(line);
          yield item;
          if (item.type === 'END') return;
        }
        // Either a complete line or the unfinished rest is too long.
        if (newline > maxLine || buffered.length > maxLine) {
          yield { type: 'END', failure: { kind: 'protocol', message: `watch event longer than ${maxLine} bytes` } };
          return;
        }
      }
    } finally {
      clearTimeout(timer);
      // Closes the connection when the consumer stops early, or after a failure.
      idle.abort();
      release?.();
    }
  }

  return {
    async listPods(query, signal) {
      // Without a deadline a list on a half-dead connection would stall discovery for good.
      const deadline = AbortSignal.timeout(listTimeoutMs);
      const response = await get(podsUrl(query, {}), AbortSignal.any([signal, deadline]));
      if (!response.ok) return deadline.aborted ? { ok: false, failure: { kind: 'network', message: `no answer in ${listTimeoutMs} ms` } } : response;
      let list: unknown;
      try {
        list = await response.value.json();
      } catch (e) {
        const message = deadline.aborted ? `no answer in ${listTimeoutMs} ms` : `pod list is not JSON: ${describe(e)}`;
        return { ok: false, failure: { kind: deadline.aborted ? 'network' : 'protocol', message } };
      }
      const rv = isObject(list) && isObject(list['metadata']) ? list['metadata']['resourceVersion'] : undefined;
      const items = isObject(list) ? (list['items'] ?? []) : undefined;
      if (typeof rv !== 'string' || !Array.isArray(items))
        return { ok: false, failure: { kind: 'protocol', message: 'pod list without metadata.resourceVersion or items' } };
      return { ok: true, value: { resourceVersion: rv, pods: items.filter(isObject) as Pod[] } };
    },

    watchPods(query, resourceVersion, signal) {
      const params = { watch: '1', resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds) };
      return watch(podsUrl(query, params), signal);
    },
  };
}
