// OtlpExporter: batches ended spans and POSTs them as OTLP/HTTP JSON to <endpoint>/v1/traces, off the request path.
//
// The Rust router exports OTLP/gRPC (port 4317). We speak OTLP/HTTP with JSON bodies
// (https://opentelemetry.io/docs/specs/otlp/#otlphttp), so the receiver must be an OTLP/HTTP one,
// usually port 4318 of an OpenTelemetry Collector, Jaeger or Tempo.
import { ERROR_BODY_MAX_BYTES } from '../net/body-limits.ts';
import { outboundFetch } from '../net/fetch.ts';
import { readText } from '../net/read-body.ts';
import { redirectNote } from '../net/redirect.ts';
import type { Attributes, FinishedSpan, SpanKind, SpanSink, SpanStatus } from './tracer.ts';

export const DEFAULT_OTLP_TRACES_URL = 'http://localhost:4318/v1/traces';
const TRACES_PATH = '/v1/traces';
const GRPC_PORT = '4317';

export type OtlpEndpoint = { readonly kind: 'ok'; readonly url: string; readonly warning?: string } | { readonly kind: 'error'; readonly reason: string };

/**
 * The traces URL for --otlp-traces-endpoint / OTEL_EXPORTER_OTLP_ENDPOINT:
 *   `host:port` (the Rust router's form)   → `http://host:port/v1/traces`
 *   `http(s)://host[:port]` with no path  → that base + `/v1/traces`
 *   `http(s)://host[:port]/some/path`     → used as given
 * Port 4317 is accepted with a warning: it is the OTLP/gRPC port, and we send OTLP/HTTP.
 */
export function otlpTracesUrl(endpoint: string): OtlpEndpoint {
  const value = endpoint.trim();
  let url: URL;
  if (value.includes('://')) {
    if (!URL.canParse(value)) return { kind: 'error', reason: 'not a valid URL' };
    url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return { kind: 'error', reason: 'expected an http:// or https:// URL (OTLP/HTTP); gRPC is not supported' };
    if (url.pathname === '' || url.pathname === '/') url.pathname = TRACES_PATH;
  } else {
    const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
    const port = Number(m?.[2]);
    if (m === null || port < 1 || port > 65535) return { kind: 'error', reason: 'expected host:port (e.g. otel-collector:4318) or an http(s):// URL' };
    url = new URL(`http://${m[1]}:${port}${TRACES_PATH}`);
  }
  const href = url.href;
  return url.port === GRPC_PORT
    ? { kind: 'ok', url: href, warning: `port ${GRPC_PORT} is the OTLP/gRPC port; this router exports OTLP/HTTP, usually served on 4318` }
    : { kind: 'ok', url: href };
}

export interface OtlpExporterOptions {
  /** The full traces URL, e.g. from otlpTracesUrl(). */
  readonly url: string;
  readonly serviceName?: string;
  readonly serviceVersion?: string;
  /**
   * Spans waiting for export, besides the one batch in flight; more are dropped and counted
   * (a slow collector must not grow memory).
   */
  readonly maxQueueSize?: number;
  /** Spans per POST; a full batch goes on the next turn of the event loop, without waiting for the interval. */
  readonly maxBatchSize?: number;
  /** A partial batch is sent this long after its first span. */
  readonly flushIntervalMs?: number;
  /** Per POST. */
  readonly exportTimeoutMs?: number;
  /** Retries of one batch after a network error or 429/502/503/504 (the OTLP/HTTP retryable set). */
  readonly maxRetries?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** On dispose, how long the last flush may take before in-flight exports are cut. */
  readonly shutdownTimeoutMs?: number;
  /** Jitter of the retry backoff, uniform in [0, 1). */
  readonly random?: () => number;
  /** A batch was lost (after retries, or rejected); for a warn log. Not called per span. */
  readonly onError?: (message: string) => void;
}

export interface OtlpExporterStats {
  readonly exported: number;
  /** Dropped because the queue was full or the exporter closed. */
  readonly dropped: number;
  /** Lost after a failed export (retries exhausted, non-retryable status, shutdown). */
  readonly failed: number;
  readonly queued: number;
}

type PostResult = { readonly ok: true } | { readonly ok: false; readonly retryable: boolean; readonly message: string; readonly retryAfterMs?: number };

type Settings = Required<Omit<OtlpExporterOptions, 'serviceVersion'>> & Pick<OtlpExporterOptions, 'serviceVersion'>;

const DEFAULTS = {
  serviceName: 'vllm-router',
  maxQueueSize: 2048,
  maxBatchSize: 512,
  flushIntervalMs: 1000,
  exportTimeoutMs: 10_000,
  maxRetries: 5,
  initialBackoffMs: 250,
  maxBackoffMs: 5000,
  shutdownTimeoutMs: 5000,
  random: Math.random,
  onError: () => {},
} as const satisfies Omit<Settings, 'url'>;

export class OtlpExporter implements SpanSink, AsyncDisposable {
  readonly #o: Settings;
  readonly #abort = new AbortController();
  #queue: FinishedSpan[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The pending timer is the "full batch: export now" one, not the interval one. */
  #timerSoon = false;
  #inFlight: Promise<void> | undefined;
  #closed = false;
  #exported = 0;
  #dropped = 0;
  #failed = 0;

  constructor(options: OtlpExporterOptions) {
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as OtlpExporterOptions;
    const o = { ...DEFAULTS, ...given };
    this.#o = { ...o, maxBatchSize: Math.min(o.maxBatchSize, o.maxQueueSize) };
  }

  /**
   * On the request path: O(1), never awaits, never throws. Encoding and sending happen later on a
   * timer, never inside the span.end() that called this.
   */
  enqueue(span: FinishedSpan): void {
    if (this.#closed || this.#queue.length >= this.#o.maxQueueSize) {
      this.#dropped++;
      return;
    }
    this.#queue.push(span);
    this.#schedule(this.#queue.length >= this.#o.maxBatchSize);
  }

  stats(): OtlpExporterStats {
    return { exported: this.#exported, dropped: this.#dropped, failed: this.#failed, queued: this.#queue.length };
  }

  /** Sends everything queued now (retries included) and resolves when the queue is empty. */
  async flush(): Promise<void> {
    this.#clearTimer();
    while (this.#inFlight !== undefined || this.#queue.length > 0) {
      if (this.#inFlight === undefined) this.#start();
      await this.#inFlight;
    }
  }

  /** Refuses new spans, flushes for at most shutdownTimeoutMs, then cuts what is still in flight. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#closed = true;
    const deadline = setTimeout(() => this.#abort.abort(), this.#o.shutdownTimeoutMs);
    try {
      await this.flush();
    } finally {
      clearTimeout(deadline);
      this.#abort.abort();
    }
  }

  /** A full batch goes on the next turn of the event loop; a partial one after flushIntervalMs. */
  #schedule(soon: boolean): void {
    if (this.#inFlight !== undefined) return; // the running export looks at the queue when it ends
    if (this.#timer !== undefined) {
      if (!soon || this.#timerSoon) return;
      clearTimeout(this.#timer);
    }
    this.#timerSoon = soon;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        if (this.#inFlight === undefined) this.#start();
      },
      soon ? 0 : this.#o.flushIntervalMs,
    );
    // A pending export must not keep a finished process alive; shutdown flushes explicitly.
    this.#timer.unref();
  }

  #clearTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #start(): void {
    this.#clearTimer();
    this.#inFlight = this.#drain().finally(() => {
      this.#inFlight = undefined;
      if (this.#queue.length > 0 && !this.#closed) this.#schedule(this.#queue.length >= this.#o.maxBatchSize);
    });
  }

  /** One export at a time: batches go out in order and a slow collector gets no pile of parallel POSTs. */
  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#o.maxBatchSize);
      await this.#send(batch);
    }
  }

  async #send(batch: FinishedSpan[]): Promise<void> {
    const body = encodeOtlpTraces(batch, this.#o);
    for (let attempt = 0; ; attempt++) {
      const result = await this.#post(body);
      if (result.ok) {
        this.#exported += batch.length;
        return;
      }
      const giveUp = !result.retryable || attempt >= this.#o.maxRetries || this.#abort.signal.aborted;
      const wait = giveUp ? 0 : (result.retryAfterMs ?? this.#backoffMs(attempt));
      if (giveUp || !(await sleep(Math.min(wait, this.#o.maxBackoffMs), this.#abort.signal))) {
        this.#failed += batch.length;
        this.#o.onError(`OTLP export to ${this.#o.url} lost ${batch.length} spans after ${attempt + 1} attempts: ${result.message}`);
        return;
      }
    }
  }

  async #post(body: string): Promise<PostResult> {
    try {
      const res = await outboundFetch(this.#o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#o.exportTimeoutMs)]),
      });
      // Read the body so the connection goes back to the pool; a partial-success body is not acted on. A 3xx is
      // a failure, not retried: the spans go to the configured collector or nowhere.
      const read = await readText(res, ERROR_BODY_MAX_BYTES);
      const text = read.ok ? read.text : '';
      if (res.ok) return { ok: true };
      const retryable = res.status === 429 || res.status === 502 || res.status === 503 || res.status === 504;
      const retryAfter = Number(res.headers.get('retry-after'));
      const message = `HTTP ${res.status}${redirectNote(res.status)}${text ? `: ${text.slice(0, 200)}` : ''}`;
      return Number.isFinite(retryAfter) && retryAfter > 0 ? { ok: false, retryable, message, retryAfterMs: retryAfter * 1000 } : { ok: false, retryable, message };
    } catch (e) {
      return { ok: false, retryable: true, message: (e as Error).message };
    }
  }

  /** Exponential, jittered within [half, full] of the step. */
  #backoffMs(attempt: number): number {
    const step = Math.min(this.#o.maxBackoffMs, this.#o.initialBackoffMs * 2 ** attempt);
    return step / 2 + (step / 2) * this.#o.random();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

// ── OTLP/HTTP JSON encoding (opentelemetry-proto trace/v1 JSON mapping: ids as hex, int64 as decimal strings).
// Written as strings rather than objects + JSON.stringify: ~1.7× faster, and it runs on the event loop.
// Ids are hex we made or validated, so only names, tracestate and attribute keys/values need escaping.

export interface OtlpResource {
  readonly serviceName: string;
  readonly serviceVersion?: string | undefined;
}

const KIND: Record<SpanKind, number> = { internal: 1, server: 2, client: 3 };
const STATUS: Record<SpanStatus['code'], number> = { unset: 0, ok: 1, error: 2 };
// Span.flags: the low byte is the W3C trace flags (sampled: we export only sampled spans);
// bit 8 says bit 9 is meaningful; bit 9 = the parent is remote.
const FLAGS_LOCAL_PARENT = 0x101;
const FLAGS_REMOTE_PARENT = 0x301;
const q = JSON.stringify;

/** One ExportTraceServiceRequest body for a batch: one resource, one instrumentation scope. */
export function encodeOtlpTraces(spans: readonly FinishedSpan[], resource: OtlpResource): string {
  const resourceAttributes: Attributes = { 'service.name': resource.serviceName };
  if (resource.serviceVersion !== undefined) resourceAttributes['service.version'] = resource.serviceVersion;
  const scope = resource.serviceVersion === undefined ? '{"name":"vllm-router"}' : `{"name":"vllm-router","version":${q(resource.serviceVersion)}}`;
  let body = '';
  for (const s of spans) body += (body === '' ? '' : ',') + encodeSpan(s);
  return `{"resourceSpans":[{"resource":{"attributes":${encodeAttributes(resourceAttributes)}},"scopeSpans":[{"scope":${scope},"spans":[${body}]}]}]}`;
}

function encodeSpan(s: FinishedSpan): string {
  let out = `{"traceId":"${s.traceId}","spanId":"${s.spanId}"`;
  if (s.parentSpanId !== undefined) out += `,"parentSpanId":"${s.parentSpanId}"`;
  if (s.traceState !== undefined) out += `,"traceState":${q(s.traceState)}`;
  const status = s.status.code === 'error' ? `{"code":${STATUS.error},"message":${q(s.status.message)}}` : `{"code":${STATUS[s.status.code]}}`;
  return (
    `${out},"flags":${s.parentIsRemote ? FLAGS_REMOTE_PARENT : FLAGS_LOCAL_PARENT},"name":${q(s.name)},"kind":${KIND[s.kind]},` +
    `"startTimeUnixNano":"${unixNanos(s.startMs)}","endTimeUnixNano":"${unixNanos(s.endMs)}",` +
    `"attributes":${encodeAttributes(s.attributes)},"status":${status}}`
  );
}

function encodeAttributes(attributes: Attributes): string {
  let out = '';
  for (const key in attributes) {
    const v = attributes[key]!;
    const value =
      typeof v === 'string'
        ? `{"stringValue":${q(v)}}`
        : typeof v === 'boolean'
          ? `{"boolValue":${v}}`
          : Number.isSafeInteger(v)
            ? `{"intValue":"${v}"}`
            : // The proto3 JSON mapping spells non-finite doubles as strings.
              `{"doubleValue":${Number.isFinite(v) ? v : q(String(v))}}`;
    out += `${out === '' ? '' : ','}{"key":${q(key)},"value":${value}}`;
  }
  return `[${out}]`;
}

/**
 * Epoch milliseconds (fractional) → decimal nanoseconds. ms × 1e6 would pass 2^53 and lose digits, so
 * the whole milliseconds and the fraction are printed separately (a double near 1.7e12 ms still
 * resolves ~0.25 µs, which is what the clock gives anyway).
 */
export function unixNanos(ms: number): string {
  const whole = Math.floor(ms);
  const nanos = Math.min(999_999, Math.round((ms - whole) * 1e6));
  return `${whole}${String(nanos).padStart(6, '0')}`;
}
