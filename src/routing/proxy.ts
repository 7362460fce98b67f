// One upstream HTTP call, and the relay of its response to the client with the same bytes, chunk by chunk.
import { routerError, sseErrorFrame, type RouterError } from '../http/errors.ts';
import { downstreamHeaders } from '../http/forward-headers.ts';

export interface UpstreamCall {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
  readonly body: Uint8Array | null;
  /** Aborts when the client goes away or the request times out. */
  readonly signal: AbortSignal;
  /** Which of the two: lets a timeout be told from a vanished client. */
  readonly clientSignal: AbortSignal;
}

export async function callUpstream(call: UpstreamCall): Promise<Response | RouterError> {
  try {
    return await fetch(call.url, {
      method: call.method,
      headers: call.headers,
      body: call.body,
      signal: call.signal,
      redirect: 'manual',
      // The bytes go to the client as the endpoint sent them, content-encoding included.
      decompress: false,
    });
  } catch (e) {
    if (call.clientSignal.aborted) return routerError('client_closed', 'Client closed the connection');
    if (call.signal.aborted) return routerError('upstream_timeout', `Endpoint did not answer in time (${new URL(call.url).origin})`);
    return routerError('upstream_unreachable', `Endpoint ${new URL(call.url).origin} is unreachable: ${(e as Error).message}`);
  }
}

export type StreamOutcome = 'complete' | 'upstream_error' | 'client_closed';

export interface RelayHooks {
  /** Each chunk as it leaves for the client (same bytes, not copied). */
  onChunk?(chunk: Uint8Array): void;
  /** Exactly once, when the body is done one way or another. */
  onEnd(outcome: StreamOutcome): void;
}

/** The client's response: the endpoint's status and headers, its body passed through untouched. */
export function relay(upstream: Response, requestId: string, hooks: RelayHooks): Response {
  const headers = downstreamHeaders(upstream.headers, requestId);
  const source = upstream.body;
  if (source === null) {
    hooks.onEnd('complete');
    return new Response(null, { status: upstream.status, headers });
  }
  const isSse = (upstream.headers.get('content-type') ?? '').startsWith('text/event-stream');
  const reader = source.getReader();
  let ended = false;
  const end = (outcome: StreamOutcome) => {
    if (ended) return;
    ended = true;
    hooks.onEnd(outcome);
  };
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            controller.close();
            end('complete');
            return;
          }
          hooks.onChunk?.(value);
          controller.enqueue(value);
        } catch (e) {
          // The endpoint broke off mid-body: SSE clients get one error event, others a truncated body.
          if (isSse) controller.enqueue(sseErrorFrame(routerError('stream_interrupted', `Endpoint stream broke off: ${(e as Error).message}`)));
          controller.close();
          end('upstream_error');
        }
      },
      cancel(reason) {
        reader.cancel(reason).catch(() => {});
        end('client_closed');
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, { status: upstream.status, headers });
}
