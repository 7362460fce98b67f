// The relay of an endpoint's answer to the client with the same bytes, chunk by chunk, with hooks for the accounting.
import { errorBody, routerError, sseErrorFrame, statusOf, type Envelope } from '../wire/errors.ts';
import { downstreamHeaders } from '../wire/forward-headers.ts';
import type { CoarseTimer } from './coarse-timer.ts';
import { createDoneWatch } from './sse-done.ts';
import { createStallGuard } from './stall-guard.ts';

/**
 * How a relayed body ended. `truncated`: a chat or completions stream that closed cleanly without
 * `data: [DONE]`, which vLLM always sends; an error, as `upstream_error` is.
 */
export type StreamOutcome = 'complete' | 'upstream_error' | 'stalled' | 'truncated' | 'client_closed';

/** Whether an outcome is the endpoint's failure (for breakers, stats and the access log). */
export const isBrokenOutcome = (outcome: StreamOutcome): boolean => outcome === 'upstream_error' || outcome === 'stalled' || outcome === 'truncated';

export interface RelayHooks {
  /** Cut a body that sends nothing for this long (0 or undefined: never). */
  readonly stallTimeoutMs?: number;
  /** Sent as `x-served-by`: the endpoint(s) that answered (end-to-end tracking, as production-stack PR #488's time-tracking router does). */
  readonly servedBy?: string;
  /** A 2xx SSE answer must end with `data: [DONE]` (chat and completions: see sse-done.ts). */
  readonly expectDone?: boolean;
  /** The shape of an error event the router writes into the stream (Anthropic's on the Messages API). */
  readonly envelope?: Envelope;
  /** The router's shared timer: the stall guard's deadline lives there, and chunks are timed on its clock. */
  readonly timer: CoarseTimer;
  /** Each chunk as it leaves for the client (same bytes, not copied), at `now` on the timer's clock. */
  onChunk?(chunk: Uint8Array, now: number): void;
  /** Exactly once, when the body is done one way or another; `now` when the relay has just read the clock. */
  onEnd(outcome: StreamOutcome, now?: number): void;
}

/**
 * Non-SSE answers up to this size (by their Content-Length, as vLLM always sends for JSON) are taken whole
 * and sent whole: piping a JS stream into the socket costs far more per request than one buffer. Larger
 * ones, and any without a length, are streamed: Bun's fetch reads the endpoint only as fast as the client
 * takes the bytes (bench/results/memory.md), so the router holds a few chunks, whatever the answer's size.
 */
const WHOLE_ANSWER_MAX_BYTES = 1024 * 1024;

/** The client's response: the endpoint's status and headers, its body passed through untouched. */
export async function relay(upstream: Response, requestId: string, hooks: RelayHooks): Promise<Response> {
  const headers = downstreamHeaders(upstream.headers, requestId);
  if (hooks.servedBy !== undefined) headers.set('x-served-by', hooks.servedBy);
  const isSse = (upstream.headers.get('content-type') ?? '').startsWith('text/event-stream');
  // `upstream.body` is touched only for a body that streams: reading it makes Bun build a JS stream, and
  // `bytes()` is then no longer its native one-buffer read (~10 µs more per request).
  const whole = !isSse && declaredLength(upstream.headers) <= WHOLE_ANSWER_MAX_BYTES;
  if (!whole && upstream.body !== null) {
    const ok = upstream.status >= 200 && upstream.status <= 299;
    return new Response(tapStream(upstream.body, hooks, isSse, isSse && ok && hooks.expectDone === true), { status: upstream.status, headers });
  }
  let bytes: Uint8Array;
  try {
    bytes = await upstream.bytes();
  } catch (e) {
    hooks.onEnd('upstream_error');
    const error = routerError('stream_interrupted', `Endpoint broke off its response: ${(e as Error).message}`);
    return new Response(errorBody(error, hooks.envelope), { status: statusOf(error), headers: { 'content-type': 'application/json', 'x-request-id': requestId } });
  }
  // The answer's one chunk and its end are the same moment: one clock read for both.
  const now = hooks.timer.now();
  if (bytes.byteLength > 0) hooks.onChunk?.(bytes, now);
  hooks.onEnd('complete', now);
  return new Response(bytes, { status: upstream.status, headers });
}

/** The Content-Length an answer declares; NaN when it declares none (or nonsense), so every comparison is false. */
function declaredLength(headers: Headers): number {
  const value = headers.get('content-length');
  return value === null ? Number.NaN : Number(value);
}

const frame = (kind: 'stream_interrupted' | 'upstream_stalled', message: string, envelope?: Envelope) => sseErrorFrame(routerError(kind, message), envelope);

/** The error event for a stream that ended without [DONE], starting on a line of its own. */
function truncatedFrame(trailingNewlines: number): Uint8Array {
  const event = frame('stream_interrupted', 'Endpoint ended the stream without data: [DONE]; the answer is incomplete');
  if (trailingNewlines >= 2) return event;
  const out = new Uint8Array(2 - trailingNewlines + event.byteLength);
  out.fill(0x0a, 0, 2 - trailingNewlines);
  out.set(event, 2 - trailingNewlines);
  return out;
}

/**
 * The same chunks, in order, as a stream the client reads; ends the hooks exactly once. A failure after the
 * first byte reaches an SSE client as one error event (then [DONE]); any other body is cut (the client sees
 * the connection end early), since bytes appended to JSON would only corrupt it.
 *
 * One loop per answer reads the endpoint and enqueues each chunk (not a `pull` per chunk: Bun's sink takes
 * chunks already queued without a round trip through the stream's promise machinery, bench/overhead.ts
 * measures the difference). It reads one chunk ahead at most: after each enqueue it waits while the client
 * has not taken the queued chunk (highWaterMark 1), so the router still holds a chunk or two, whatever the
 * answer's size, and the endpoint is read only as fast as the client reads.
 *
 * Not a Bun `direct` stream writing each chunk into the response's sink: that holds a few objects fewer per
 * open stream but measured 10–20% more CPU per stream and lower throughput (`bun run bench --ab direct-relay`,
 * bench/results/relay-stream.md).
 */
function tapStream(source: ReadableStream<Uint8Array>, hooks: RelayHooks, sse: boolean, expectDone: boolean): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  const { timer } = hooks;
  const watch = expectDone ? createDoneWatch() : undefined;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let wake: (() => void) | undefined;
  let ended = false;
  let stalled = false;
  const stallMs = hooks.stallTimeoutMs ?? 0;
  const guard = createStallGuard(
    stallMs,
    () => {
      stalled = true;
      reader.cancel(new Error('stream stalled')).catch(() => {});
    },
    timer,
  );
  const end = (outcome: StreamOutcome) => {
    if (ended) return;
    ended = true;
    guard.stop();
    hooks.onEnd(outcome);
  };
  const resume = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const stallMessage = () => `Endpoint sent nothing for ${stallMs / 1000} s (--stream-stall-timeout-secs); stream cut`;
  const fail = (message: string) => {
    const outcome = stalled ? 'stalled' : 'upstream_error';
    if (sse) {
      controller.enqueue(stalled ? frame('upstream_stalled', stallMessage(), hooks.envelope) : frame('stream_interrupted', message, hooks.envelope));
      controller.close();
    } else controller.error(new Error(stalled ? stallMessage() : message));
    end(outcome);
  };
  const finish = () => {
    if (watch !== undefined && !watch.sawDone()) {
      controller.enqueue(truncatedFrame(watch.trailingNewlines()));
      controller.close();
      end('truncated');
      return;
    }
    controller.close();
    end('complete');
  };
  const pump = async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (ended) return; // the client left meanwhile
        if (stalled) return fail('');
        if (done) return finish();
        const now = timer.now();
        guard.touch(now);
        watch?.push(value);
        hooks.onChunk?.(value, now);
        controller.enqueue(value);
        if ((controller.desiredSize ?? 0) <= 0) await new Promise<void>((resolve) => (wake = resolve));
        if (ended) return;
      }
    } catch (e) {
      // The endpoint broke off (or stalled) mid-body.
      if (!ended) fail(`Endpoint stream broke off: ${(e as Error).message}`);
    }
  };
  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        void pump();
      },
      pull: resume,
      cancel(reason) {
        reader.cancel(reason).catch(() => {});
        end('client_closed');
        resume();
      },
    },
    { highWaterMark: 1 },
  );
}
