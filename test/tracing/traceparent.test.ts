// W3C traceparent / tracestate: what is accepted from clients and what is sent to endpoints.
import { describe, expect, test } from 'bun:test';
import { extractTraceContext, formatTraceparent, injectTraceContext, INVALID_SPAN_CONTEXT, parseTraceparent } from '../../src/tracing/traceparent.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${SPAN}-01`;

describe('parseTraceparent', () => {
  test('reads a valid version-00 header as a sampled remote parent', () => {
    expect(parseTraceparent(VALID)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true, isRemote: true });
  });

  test('reads the sampled bit from the flags and ignores the other bits', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)?.sampled).toBe(false);
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-03`)?.sampled).toBe(true);
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-02`)?.sampled).toBe(false);
  });

  test('tolerates surrounding whitespace', () => {
    expect(parseTraceparent(`  ${VALID} `)?.traceId).toBe(TRACE);
  });

  test.each([
    ['absent', undefined],
    ['null', null],
    ['empty', ''],
    ['too short', `00-${TRACE}-${SPAN}-0`],
    ['trailing data on version 00', `${VALID}-extra`],
    ['uppercase hex', VALID.toUpperCase()],
    ['non-hex trace id', `00-${TRACE.slice(0, -1)}g-${SPAN}-01`],
    ['non-hex flags', `00-${TRACE}-${SPAN}-0z`],
    ['wrong separators', `00_${TRACE}_${SPAN}_01`],
    ['short trace id', `00-${TRACE.slice(1)}-${SPAN}0-01`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['version ff (forbidden)', `ff-${TRACE}-${SPAN}-01`],
    ['non-hex version', `0x-${TRACE}-${SPAN}-01`],
    ['unknown version with extra data not after a dash', `01-${TRACE}-${SPAN}-01x`],
  ])('rejects %s', (_, header) => {
    expect(parseTraceparent(header)).toBeUndefined();
  });

  test('reads an unknown later version by its version-00 prefix (W3C forward compatibility)', () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true, isRemote: true });
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01-what-the-future-adds`)?.spanId).toBe(SPAN);
  });

  test('passes tracestate through unchanged with a valid traceparent', () => {
    expect(parseTraceparent(VALID, 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE')?.traceState).toBe('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
  });

  test('drops tracestate that is empty, oversized or not printable ASCII', () => {
    expect(parseTraceparent(VALID, '  ')?.traceState).toBeUndefined();
    expect(parseTraceparent(VALID, `a=${'x'.repeat(600)}`)?.traceState).toBeUndefined();
    expect(parseTraceparent(VALID, 'a=b\u0001')?.traceState).toBeUndefined();
  });

  test('ignores tracestate when traceparent is invalid', () => {
    expect(parseTraceparent('garbage', 'a=b')).toBeUndefined();
  });
});

describe('formatTraceparent', () => {
  test('always writes version 00 with the sampled flag', () => {
    expect(formatTraceparent({ traceId: TRACE, spanId: SPAN, sampled: true })).toBe(VALID);
    expect(formatTraceparent({ traceId: TRACE, spanId: SPAN, sampled: false })).toBe(`00-${TRACE}-${SPAN}-00`);
  });

  test('round-trips through parse', () => {
    const ctx = parseTraceparent(`00-${TRACE}-${SPAN}-00`)!;
    expect(formatTraceparent(ctx)).toBe(`00-${TRACE}-${SPAN}-00`);
    expect(formatTraceparent(parseTraceparent(`7f-${TRACE}-${SPAN}-01-x`)!)).toBe(VALID);
  });
});

describe('headers', () => {
  test('extracts traceparent and tracestate from request headers', () => {
    const ctx = extractTraceContext(new Headers({ traceparent: VALID, tracestate: 'k=v' }));
    expect(ctx).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true, traceState: 'k=v', isRemote: true });
    expect(extractTraceContext(new Headers({ tracestate: 'k=v' }))).toBeUndefined();
  });

  test('injects our context and the tracestate, replacing what the client sent', () => {
    const headers = new Headers({ traceparent: VALID, tracestate: 'old=1' });
    const ours = { traceId: TRACE, spanId: 'a1b2c3d4e5f60718', sampled: true, traceState: 'k=v' };
    injectTraceContext(headers, ours);
    expect(headers.get('traceparent')).toBe(`00-${TRACE}-a1b2c3d4e5f60718-01`);
    expect(headers.get('tracestate')).toBe('k=v');
    injectTraceContext(headers, { traceId: TRACE, spanId: SPAN, sampled: false });
    expect(headers.get('tracestate')).toBeNull();
  });

  test('an invalid context leaves the client headers untouched (tracing off)', () => {
    const headers = new Headers({ traceparent: VALID, tracestate: 'k=v' });
    injectTraceContext(headers, INVALID_SPAN_CONTEXT);
    expect(headers.get('traceparent')).toBe(VALID);
    expect(headers.get('tracestate')).toBe('k=v');
  });
});
