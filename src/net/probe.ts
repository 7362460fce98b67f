// Small request/answer calls the router makes for itself (health probes, /metrics reads) on node:http, off fetch's queue.
//
// Bun's fetch runs at most BUN_CONFIG_MAX_HTTP_REQUESTS requests at once per process (256 by default, read at
// start-up) and queues the rest. The proxy path holds one for every open stream, so with that many streams a
// health probe made with fetch waits in the queue until it times out, and healthy engines are marked down.
// Bun's node:http client does not wait in that queue: measured on Bun 1.4.5 with the limit reached by open
// fetch streams (bench/fetch-queue.ts), one more fetch timed out after 3 s while 500 concurrent node:http GETs
// to the same server all answered within 0.25 s (node:https: 0.8 s). test/net/probe-saturation.test.ts holds
// the router to that, so a Bun upgrade that changes it fails there.
//
// A probe never follows a redirect (node:http does not), reads at most `maxBodyBytes`, has one deadline for the
// whole exchange, and returns its outcome as a value. Each probe opens its own connection (`agent: false`): a
// pooled keep-alive socket that the engine closes at the same moment it is reused (uvicorn closes idle ones
// after 5 s) would fail the probe for no fault of the engine.
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { formatBytes } from './body-limits.ts';

export interface ProbeRequest {
  readonly url: string;
  readonly method?: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent with its content-length (POST). */
  readonly body?: string;
  /** Connect, request, headers and body together. */
  readonly timeoutMs: number;
  /** The most body bytes read; a longer body fails the probe. */
  readonly maxBodyBytes: number;
  /** Ends the probe early (the owner is shutting down). */
  readonly signal?: AbortSignal;
}

export type ProbeFailureKind = 'timeout' | 'unreachable' | 'too_large' | 'aborted';

export type ProbeResult =
  /** An HTTP answer, whatever its status (a 3xx included, with its Location not followed). */
  | { readonly kind: 'answer'; readonly status: number; readonly headers: IncomingHttpHeaders; readonly body: Buffer }
  | { readonly kind: 'failure'; readonly failure: ProbeFailureKind; readonly message: string };

export function probe(request: ProbeRequest): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      resolve({ kind: 'failure', failure: 'unreachable', message: `not a URL: ${request.url}` });
      return;
    }
    const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
    if (client === undefined) {
      resolve({ kind: 'failure', failure: 'unreachable', message: `unsupported scheme ${url.protocol}` });
      return;
    }
    const headers: Record<string, string> = { ...request.headers, connection: 'close' };
    if (request.body !== undefined) headers['content-length'] = String(Buffer.byteLength(request.body));

    let settled = false;
    let req: http.ClientRequest | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (result: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
      if (result.kind === 'failure') req?.destroy();
      resolve(result);
    };
    const fail = (failure: ProbeFailureKind, message: string) => finish({ kind: 'failure', failure, message });
    const onAbort = () => fail('aborted', 'aborted');
    if (request.signal?.aborted) return onAbort();

    const tooLarge = `the body is larger than ${formatBytes(request.maxBodyBytes)}`;
    const onResponse = (res: http.IncomingMessage) => {
      if (Number(res.headers['content-length'] ?? NaN) > request.maxBodyBytes) return fail('too_large', tooLarge);
      const chunks: Buffer[] = [];
      let total = 0;
      res.on('data', (chunk: Buffer) => {
        total += chunk.byteLength;
        if (total > request.maxBodyBytes) fail('too_large', tooLarge);
        else chunks.push(chunk);
      });
      res.on('end', () => finish({ kind: 'answer', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks, total) }));
      res.on('error', (e) => fail('unreachable', `the body broke off: ${e.message}`));
      res.on('close', () => fail('unreachable', 'the connection closed before the body ended'));
    };
    try {
      req = client.request(url, { method: request.method ?? 'GET', headers, agent: false }, onResponse);
    } catch (e) {
      // Invalid header values are refused synchronously.
      return fail('unreachable', (e as Error).message);
    }
    req.on('error', (e) => fail('unreachable', e.message));
    timer = setTimeout(() => fail('timeout', `no answer within ${request.timeoutMs} ms`), request.timeoutMs);
    request.signal?.addEventListener('abort', onAbort, { once: true });
    req.end(request.body);
  });
}

/** 2xx. */
export const isSuccess = (status: number): boolean => status >= 200 && status < 300;
