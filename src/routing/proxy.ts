// One upstream HTTP call, and the relay of its response to the client with the same bytes, chunk by chunk.
import { errorBody, routerError, sseErrorFrame, statusOf, type RouterError } from '../http/errors.ts';
import { downstreamHeaders } from '../http/forward-headers.ts';
import { outboundFetch } from '../net/fetch.ts';
import { createStallGuard } from './stall-guard.ts';

export interface UpstreamCall {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
  readonly body: Uint8Array | null;
  /** Aborts when the client goes away or the request deadline passes. */
  readonly signal: AbortSignal;
  /** Which of the two it was: a timeout, rather than a vanished client. */
  readonly timedOut: () => boolean;
}

export async function callUpstream(call: UpstreamCall): Promise<Response | RouterError> {
  try {
    return await outboundFetch(call.url, {
      method: call.method,
      headers: call.headers,
      body: call.body,
      signal: call.signal,
      redirect: 'manual',
      // The bytes go to the client as the endpoint sent them, content-encoding included.
      decompress: false,
    });
  } catch (e) {
    if (call.timedOut()) return routerError('upstream_timeout', `Endpoint did not answer in time (${new URL(call.url).origin})`);
    if (call.signal.aborted) return routerError('client_closed', 'Client closed the connection');
    return routerError('upstream_unreachable', `Endpoint ${new URL(call.url).origin} is unreachable: ${(e as Error).message}`);
  }
}

export type StreamOutcome = 'complete' | 'upstream_error' | 'stalled' | 'client_closed';

export interface RelayHooks {
  /** Cut an SSE stream that sends nothing for this long (0 or undefined: never). */
  readonly stallTimeoutMs?: number;
  /** Sent as `x-served-by`: the endpoint(s) that answered (the seeds' end-to-end tracking). */
  readonly servedBy?: string;
  /** Each chunk as it leaves for the client (same bytes, not copied). */
  onChunk?(chunk: Uint8Array): void;
  /** Exactly once, when the body is done one way or another. */
  onEnd(outcome: StreamOutcome): void;
}

/**
 * The client's response: the endpoint's status and headers, its body passed through untouched.
 * SSE streams go chunk by chunk as they arrive. Other bodies (bounded JSON) are taken whole and sent
 * whole: piping a JS stream into the socket costs far more per request than one buffer, and a
 * non-streaming client cannot use a partial body anyway.
 */
export async function relay(upstream: Response, requestId: string, hooks: RelayHooks): Promise<Response> {
  const headers = downstreamHeaders(upstream.headers, requestId);
  if (hooks.servedBy !== undefined) headers.set('x-served-by', hooks.servedBy);
  const isSse = (upstream.headers.get('content-type') ?? '').startsWith('text/event-stream');
  if (!isSse || upstream.body === null) {
    let bytes: Uint8Array;
    try {
      bytes = await upstream.bytes();
    } catch (e) {
      hooks.onEnd('upstream_error');
      const error = routerError('stream_interrupted', `Endpoint broke off its response: ${(e as Error).message}`);
      return new Response(errorBody(error), { status: statusOf(error), headers: { 'content-type': 'application/json', 'x-request-id': requestId } });
    }
    if (bytes.byteLength > 0) hooks.onChunk?.(bytes);
    hooks.onEnd('complete');
    return new Response(bytes, { status: upstream.status, headers });
  }
  return new Response(tapStream(upstream.body, hooks), { status: upstream.status, headers });
}

const frame = (kind: 'stream_interrupted' | 'upstream_stalled', message: string) => sseErrorFrame(routerError(kind, message));

/** The same chunks, in order, as a stream the client reads; ends the hooks exactly once. */
function tapStream(source: ReadableStream<Uint8Array>, hooks: RelayHooks): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let ended = false;
  let stalled = false;
  const stallMs = hooks.stallTimeoutMs ?? 0;
  const guard = createStallGuard(stallMs, () => {
    stalled = true;
    reader.cancel(new Error('stream stalled')).catch(() => {});
  });
  const end = (outcome: StreamOutcome) => {
    if (ended) return;
    ended = true;
    guard.stop();
    hooks.onEnd(outcome);
  };
  const stallFrame = () => frame('upstream_stalled', `Endpoint sent nothing for ${stallMs / 1000} s (--stream-stall-timeout-secs); stream cut`);
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (stalled) {
            controller.enqueue(stallFrame());
            controller.close();
            end('stalled');
            return;
          }
          if (done) {
            controller.close();
            end('complete');
            return;
          }
          guard.touch();
          hooks.onChunk?.(value);
          controller.enqueue(value);
        } catch (e) {
          // The endpoint broke off (or stalled) mid-stream: the client gets one error event, then [DONE].
          controller.enqueue(stalled ? stallFrame() : frame('stream_interrupted', `Endpoint stream broke off: ${(e as Error).message}`));
          controller.close();
          end(stalled ? 'stalled' : 'upstream_error');
        }
      },
      cancel(reason) {
        reader.cancel(reason).catch(() => {});
        end('client_closed');
      },
    },
    { highWaterMark: 0 },
  );
}
