// W3C Trace Context (https://www.w3.org/TR/trace-context/): parse and format `traceparent`, carry `tracestate`.

/** Where a span sits in a trace; what crosses process boundaries in `traceparent` / `tracestate`. */
export interface SpanContext {
  /** 32 lowercase hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lowercase hex digits, not all zero. */
  readonly spanId: string;
  /** The `sampled` bit (flags & 0x01) of the trace flags. */
  readonly sampled: boolean;
  /** The vendor `tracestate` list, passed through unchanged (we add no entry of our own). */
  readonly traceState?: string;
  /** Set on contexts parsed from another process's headers; a local span's context leaves it out. */
  readonly isRemote?: boolean;
}

/**
 * The context of a span that does not exist (a disabled tracer, an excluded path). Injecting it is a
 * no-op, and a child of it is not traced either: OpenTelemetry's INVALID_SPAN_CONTEXT.
 */
export const INVALID_SPAN_CONTEXT: SpanContext = Object.freeze({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), sampled: false });

export const isValidSpanContext = (ctx: SpanContext): boolean => ctx !== INVALID_SPAN_CONTEXT && !isZero(ctx.traceId) && !isZero(ctx.spanId);

const VERSION_00_LENGTH = 55; // "00-" + 32 + "-" + 16 + "-" + 2
/** Spec §3.3.1.3.2: tracestate is at most 32 entries and 512 characters is the size a vendor must carry. */
const MAX_TRACESTATE_LENGTH = 512;

/**
 * Parses a `traceparent` header (and its `tracestate`) into the remote parent's context, or
 * undefined when the header is absent or invalid; an invalid traceparent discards tracestate too
 * (spec §3.3.1.1). Version 00 must be exactly `00-<32 hex>-<16 hex>-<2 hex>`, lowercase.
 * A later version is read by its version-00 prefix and re-sent as 00 (spec §4.3 "Versioning"):
 * `ff` is invalid, and any extra fields must follow a `-`.
 */
export function parseTraceparent(header: string | null | undefined, tracestate?: string | null): SpanContext | undefined {
  if (header === null || header === undefined) return undefined;
  const value = header.trim();
  if (value.length < VERSION_00_LENGTH) return undefined;
  const version = value.slice(0, 2);
  if (!isHex(version, 0, 2) || version === 'ff') return undefined;
  if (version === '00' ? value.length !== VERSION_00_LENGTH : value.length > VERSION_00_LENGTH && value[VERSION_00_LENGTH] !== '-') return undefined;
  if (value[2] !== '-' || value[35] !== '-' || value[52] !== '-') return undefined;
  if (!isHex(value, 3, 35) || !isHex(value, 36, 52) || !isHex(value, 53, 55)) return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  if (isZero(traceId) || isZero(spanId)) return undefined;
  const flags = Number.parseInt(value.slice(53, 55), 16);
  const sampled = (flags & 1) === 1;
  const state = validTraceState(tracestate);
  return state === undefined ? { traceId, spanId, sampled, isRemote: true } : { traceId, spanId, sampled, traceState: state, isRemote: true };
}

/** The `traceparent` value for a context: always version 00, flags 01 (sampled) or 00. */
export function formatTraceparent(ctx: SpanContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${ctx.sampled ? '01' : '00'}`;
}

/** The remote parent a client sent, if any. */
export function extractTraceContext(headers: Headers): SpanContext | undefined {
  const traceparent = headers.get('traceparent');
  return traceparent === null ? undefined : parseTraceparent(traceparent, headers.get('tracestate'));
}

/**
 * Sets `traceparent` (and `tracestate`, or removes a stale one) on an outgoing request so the
 * endpoint's spans join this trace. An invalid context (tracing off, excluded path) changes nothing,
 * so whatever the client sent passes through untouched.
 */
export function injectTraceContext(headers: Headers, ctx: SpanContext): void {
  if (!isValidSpanContext(ctx)) return;
  headers.set('traceparent', formatTraceparent(ctx));
  if (ctx.traceState === undefined) headers.delete('tracestate');
  else headers.set('tracestate', ctx.traceState);
}

/**
 * tracestate is opaque to us: passed through when it is plausible (printable ASCII, within the
 * spec's size), dropped otherwise, so a hostile header cannot make us send junk downstream.
 * Several tracestate headers arrive joined by `, ` from Headers.get, which is the list syntax anyway.
 */
function validTraceState(raw: string | null | undefined): string | undefined {
  if (raw === null || raw === undefined) return undefined;
  const value = raw.trim();
  if (value.length === 0 || value.length > MAX_TRACESTATE_LENGTH) return undefined;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return undefined;
  }
  return value;
}

/** Lowercase hex only: the spec forbids uppercase in traceparent. */
function isHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

function isZero(hex: string): boolean {
  for (let i = 0; i < hex.length; i++) if (hex.charCodeAt(i) !== 0x30) return false;
  return true;
}
