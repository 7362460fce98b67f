// How a request reaches one endpoint. An endpoint's kind decides its upstream: an HTTP endpoint speaks vLLM's
// HTTP API and gets the byte relay below; a grpc:// endpoint gets the router's own OpenAI front
// (routing/grpc/grpc-upstream.ts), another implementation of the same interface, so a fleet may mix both.
import type { Endpoint } from '../core/endpoint.ts';
import type { TokenIds } from '../grpc/generation.ts';
import { outboundFetch } from '../net/fetch.ts';
import { routerError, type RouterError } from '../wire/errors.ts';

export interface UpstreamCall {
  readonly endpoint: Endpoint;
  /** Path and query string on the endpoint. */
  readonly path: string;
  readonly method: string;
  readonly headers: Headers;
  readonly body: Uint8Array | null;
  /** Aborts when the client goes away or the request deadline passes. */
  readonly signal: AbortSignal;
  /** Which of the two it was: a timeout, rather than a vanished client. */
  readonly timedOut: () => boolean;
  /** The router route (`/v1/chat/completions`…): a gRPC endpoint answers it itself. */
  readonly route?: string;
  /** The body as parsed once by the route. */
  readonly json?: Readonly<Record<string, unknown>>;
  /** The prompt's token ids, when the router tokenized it before the pick (shared with cache_aware). */
  readonly promptIds?: TokenIds;
  /** The same ids as protobuf packed varints, written by the pool thread (a gRPC request copies them as they are). */
  readonly promptPackedIds?: Uint8Array;
}

/** Sends one call and answers with the endpoint's response (status, headers, body stream) or an error value. */
export interface Upstream {
  send(call: UpstreamCall): Promise<Response | RouterError>;
  /** Whether this upstream can answer the route (a gRPC engine serves chat, completions and embeddings only). */
  serves?(route: string): boolean;
}

/** The upstream of each endpoint. */
export type UpstreamOf = (endpoint: Endpoint) => Upstream;

/**
 * Bodies from this size go upstream as a stream of slices of the same buffer, with their Content-Length:
 * fetch copies a buffer body whole before sending it, which for a large body is one more copy at the peak.
 */
const SLICED_BODY_FROM = 1024 * 1024;
const SLICE_BYTES = 256 * 1024;

async function callHttp(call: UpstreamCall): Promise<Response | RouterError> {
  const url = call.endpoint.url + call.path;
  const body = call.body !== null && call.body.byteLength >= SLICED_BODY_FROM ? slicedBody(call.body, call.headers) : call.body;
  try {
    return await outboundFetch(url, {
      method: call.method,
      headers: call.headers,
      body,
      signal: call.signal,
      redirect: 'manual',
      // The bytes go to the client as the endpoint sent them, content-encoding included.
      decompress: false,
    });
  } catch (e) {
    if (call.timedOut()) return routerError('upstream_timeout', `Endpoint did not answer in time (${call.endpoint.url})`);
    if (call.signal.aborted) return routerError('client_closed', 'Client closed the connection');
    return routerError('upstream_unreachable', `Endpoint ${call.endpoint.url} is unreachable: ${(e as Error).message}`);
  }
}

/** `bytes` as a stream of views (no copy); the reference is dropped once the last slice is out. */
function slicedBody(bytes: Uint8Array, headers: Headers): ReadableStream<Uint8Array> {
  headers.set('content-length', String(bytes.byteLength));
  let rest: Uint8Array | undefined = bytes;
  let offset = 0;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (rest === undefined) return;
        const end = Math.min(offset + SLICE_BYTES, rest.byteLength);
        controller.enqueue(rest.subarray(offset, end));
        offset = end;
        if (offset === rest.byteLength) {
          rest = undefined;
          controller.close();
        }
      },
      cancel() {
        rest = undefined;
      },
    },
    { highWaterMark: 0 },
  );
}

/** vLLM's HTTP API, relayed byte for byte (fetch with decompress off, redirects never followed). */
export const httpUpstream: Upstream = { send: callHttp };

/** Every endpoint speaks HTTP (until gRPC endpoints exist). */
export const httpUpstreams: UpstreamOf = () => httpUpstream;
