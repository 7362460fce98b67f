// The tracer: parent-based ratio sampling, excluded paths, span lifecycle and the no-op tracer.
import { describe, expect, test } from 'bun:test';
import { createTracer, DEFAULT_EXCLUDED_PATHS, NOOP_SPAN, NOOP_TRACER, type FinishedSpan, type TracerOptions } from '../../src/tracing/tracer.ts';
import { formatTraceparent, INVALID_SPAN_CONTEXT } from '../../src/tracing/traceparent.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

function setup(overrides: Partial<TracerOptions> = {}) {
  const spans: FinishedSpan[] = [];
  let now = 1_700_000_000_000;
  const tracer = createTracer({
    sink: { enqueue: (s) => spans.push(s) },
    samplingRatio: 1,
    random: mulberry32(7),
    clock: () => (now += 1.5),
    ...overrides,
  });
  return { tracer, spans };
}

describe('sampling', () => {
  test('ratio 1 samples every new trace', () => {
    const { tracer } = setup({ samplingRatio: 1 });
    for (let i = 0; i < 100; i++) expect(tracer.startSpan('x').recording).toBe(true);
  });

  test('ratio 0 samples no new trace, but still gives it ids to propagate', () => {
    const { tracer, spans } = setup({ samplingRatio: 0 });
    for (let i = 0; i < 100; i++) {
      const span = tracer.startSpan('x');
      expect(span.recording).toBe(false);
      expect(span.context.sampled).toBe(false);
      expect(span.context.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(span.context.spanId).toMatch(/^[0-9a-f]{16}$/);
      span.end();
    }
    expect(spans).toHaveLength(0);
  });

  test('ratio 0.5 samples about half of new traces, deterministically under a seeded random', () => {
    const count = (seed: number) => {
      const { tracer } = setup({ samplingRatio: 0.5, random: mulberry32(seed) });
      let sampled = 0;
      for (let i = 0; i < 10_000; i++) if (tracer.startSpan('x').recording) sampled++;
      return sampled;
    };
    const first = count(42);
    expect(first).toBeGreaterThan(4800);
    expect(first).toBeLessThan(5200);
    expect(count(42)).toBe(first);
  });

  test('the root decision is random() < ratio, drawn before the ids', () => {
    // Each root draws once for the decision, then 6 × 32 bits for its trace and span ids.
    const draws = [0.29, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.31];
    const { tracer } = setup({ samplingRatio: 0.3, random: () => draws.shift() ?? 0.5 });
    expect(tracer.startSpan('a').recording).toBe(true);
    expect(tracer.startSpan('b').recording).toBe(false);
  });

  test('a sampled parent is always sampled, whatever the ratio', () => {
    const { tracer } = setup({ samplingRatio: 0 });
    const child = tracer.startSpan('x', { parent: { traceId: TRACE, spanId: SPAN, sampled: true } });
    expect(child.recording).toBe(true);
    expect(tracer.startSpan('x', { parent: `00-${TRACE}-${SPAN}-01` }).recording).toBe(true);
  });

  test('an unsampled parent is never sampled, whatever the ratio', () => {
    const { tracer } = setup({ samplingRatio: 1 });
    const child = tracer.startSpan('x', { parent: `00-${TRACE}-${SPAN}-00` });
    expect(child.recording).toBe(false);
    expect(child.context.traceId).toBe(TRACE);
    expect(child.context.spanId).not.toBe(SPAN);
  });

  test('local children follow the root decision', () => {
    const { tracer } = setup({ samplingRatio: 0 });
    const root = tracer.startSpan('root');
    expect(tracer.startSpan('child', { parent: root.context }).recording).toBe(false);
    const { tracer: on } = setup({ samplingRatio: 1 });
    expect(on.startSpan('child', { parent: on.startSpan('root').context }).recording).toBe(true);
  });

  test('an unparseable traceparent starts a new trace', () => {
    const { tracer } = setup();
    const span = tracer.startSpan('x', { parent: 'not-a-traceparent' });
    expect(span.recording).toBe(true);
    expect(span.context.traceId).not.toBe(TRACE);
  });

  test('rejects a ratio outside 0..1', () => {
    expect(() => setup({ samplingRatio: 1.5 })).toThrow(/0\.\.1/);
    expect(() => setup({ samplingRatio: Number.NaN })).toThrow(/0\.\.1/);
  });
});

describe('excluded paths', () => {
  test('by default the health and readiness paths get no spans', () => {
    const { tracer } = setup();
    for (const path of DEFAULT_EXCLUDED_PATHS) expect(tracer.tracesPath(path)).toBe(false);
    expect(tracer.tracesPath('/v1/chat/completions')).toBe(true);
  });

  test('configured paths replace the defaults and match exactly', () => {
    const { tracer } = setup({ excludedPaths: ['/metrics', '/v1/models'] });
    expect(tracer.tracesPath('/metrics')).toBe(false);
    expect(tracer.tracesPath('/v1/models')).toBe(false);
    expect(tracer.tracesPath('/v1/models/x')).toBe(true);
    expect(tracer.tracesPath('/health')).toBe(true);
  });

  test('an empty list means the defaults, as in the Rust router', () => {
    const { tracer } = setup({ excludedPaths: [] });
    expect(tracer.tracesPath('/health')).toBe(false);
  });

  test('children of a span that is not traced are not traced either', () => {
    const { tracer, spans } = setup();
    const child = tracer.startSpan('admission', { parent: NOOP_SPAN.context });
    expect(child).toBe(NOOP_SPAN);
    child.end();
    expect(spans).toHaveLength(0);
  });
});

describe('spans', () => {
  test('a span records name, kind, parent, times, attributes and status when it ends', () => {
    const { tracer, spans } = setup();
    const server = tracer.startSpan('POST /v1/chat/completions', { parent: `00-${TRACE}-${SPAN}-01`, kind: 'server', attributes: { 'http.method': 'POST' } });
    server.setAttribute('http.status_code', 502);
    server.setAttribute('ignored', undefined);
    server.setStatus('upstream failed');
    expect(spans).toHaveLength(0);
    server.end();
    expect(spans).toHaveLength(1);
    const s = spans[0]!;
    expect(s).toMatchObject({
      name: 'POST /v1/chat/completions',
      kind: 'server',
      traceId: TRACE,
      spanId: server.context.spanId,
      parentSpanId: SPAN,
      parentIsRemote: true,
      attributes: { 'http.method': 'POST', 'http.status_code': 502 },
      status: { code: 'error', message: 'upstream failed' },
    });
    expect(s.endMs).toBeGreaterThan(s.startMs);
  });

  test('a local child links to its parent and is not marked remote', () => {
    const { tracer, spans } = setup();
    const root = tracer.startSpan('root', { kind: 'server' });
    const child = tracer.startSpan('upstream', { parent: root.context, kind: 'client' });
    child.setStatus();
    child.end();
    root.end();
    expect(spans.map((s) => s.name)).toEqual(['upstream', 'root']);
    expect(spans[0]).toMatchObject({ traceId: root.context.traceId, parentSpanId: root.context.spanId, parentIsRemote: false, kind: 'client', status: { code: 'ok' } });
    expect(spans[1]!.parentSpanId).toBeUndefined();
  });

  test('children carry the client tracestate for propagation', () => {
    const { tracer } = setup();
    const root = tracer.startSpan('root', { parent: { traceId: TRACE, spanId: SPAN, sampled: true, traceState: 'k=v', isRemote: true } });
    const child = tracer.startSpan('upstream', { parent: root.context });
    expect(child.context.traceState).toBe('k=v');
    expect(formatTraceparent(child.context)).toBe(`00-${TRACE}-${child.context.spanId}-01`);
  });

  test('end is idempotent and freezes the span', () => {
    const { tracer, spans } = setup();
    const span = tracer.startSpan('x');
    span.end();
    span.setAttribute('late', 1);
    span.setStatus('late');
    span.end();
    expect(spans).toHaveLength(1);
    expect(spans[0]!.attributes).toEqual({});
    expect(spans[0]!.status.code).toBe('unset');
  });

  test('ids are fresh, well-formed and never all zero even with a degenerate random', () => {
    const { tracer } = setup({ random: () => 0 });
    const span = tracer.startSpan('x');
    expect(span.context.traceId).toMatch(/^[0-9a-f]{31}1$/);
    expect(span.context.spanId).toMatch(/^[0-9a-f]{15}1$/);
    const { tracer: seeded } = setup();
    const ids = new Set(Array.from({ length: 1000 }, () => seeded.startSpan('x').context.spanId));
    expect(ids.size).toBe(1000);
  });
});

describe('no-op tracer', () => {
  test('is disabled, traces no path and hands out the one shared no-op span', () => {
    expect(NOOP_TRACER.enabled).toBe(false);
    expect(NOOP_TRACER.tracesPath('/v1/chat/completions')).toBe(false);
    const span = NOOP_TRACER.startSpan('x', { parent: `00-${TRACE}-${SPAN}-01`, kind: 'server' });
    expect(span).toBe(NOOP_SPAN);
    expect(span.context).toBe(INVALID_SPAN_CONTEXT);
    expect(span.recording).toBe(false);
    span.setAttribute('a', 1);
    span.end();
  });
});
