// The OTLP/HTTP JSON exporter: endpoint forms, encoding, batching, the bounded queue, retries and shutdown.
import { describe, expect, test } from 'bun:test';
import { encodeOtlpTraces, OtlpExporter, otlpTracesUrl, unixNanos, type OtlpExporterOptions } from '../../src/tracing/otlp-exporter.ts';
import type { FinishedSpan } from '../../src/tracing/tracer.ts';
import { until } from '../../testkit/until.ts';
import { attr, startOtlpReceiver, type OtlpRequestJson } from './otlp-receiver.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

let seq = 0;
function span(overrides: Partial<FinishedSpan> = {}): FinishedSpan {
  seq++;
  return {
    name: `span-${seq}`,
    kind: 'internal',
    traceId: TRACE,
    spanId: seq.toString(16).padStart(16, '0'),
    parentSpanId: undefined,
    parentIsRemote: false,
    traceState: undefined,
    startMs: 1_700_000_000_000.25,
    endMs: 1_700_000_000_001.5,
    attributes: {},
    status: { code: 'unset' },
    ...overrides,
  };
}

const exporter = (url: string, options: Partial<OtlpExporterOptions> = {}) =>
  new OtlpExporter({ url, flushIntervalMs: 20, initialBackoffMs: 5, maxBackoffMs: 20, random: () => 0.5, ...options });

describe('otlpTracesUrl', () => {
  test('host:port, the Rust router form, becomes http://host:port/v1/traces', () => {
    expect(otlpTracesUrl('otel-collector:4318')).toEqual({ kind: 'ok', url: 'http://otel-collector:4318/v1/traces' });
    expect(otlpTracesUrl('[::1]:4318')).toEqual({ kind: 'ok', url: 'http://[::1]:4318/v1/traces' });
  });

  test('a URL without a path gets /v1/traces; a URL with a path is used as given', () => {
    expect(otlpTracesUrl('http://collector:4318')).toEqual({ kind: 'ok', url: 'http://collector:4318/v1/traces' });
    expect(otlpTracesUrl('https://collector/')).toEqual({ kind: 'ok', url: 'https://collector/v1/traces' });
    expect(otlpTracesUrl('https://otlp.example.com/otlp/v1/traces')).toEqual({ kind: 'ok', url: 'https://otlp.example.com/otlp/v1/traces' });
  });

  test('the gRPC port is accepted with a warning', () => {
    const r = otlpTracesUrl('collector:4317');
    expect(r.kind).toBe('ok');
    expect(r.kind === 'ok' && r.warning).toMatch(/4317.*OTLP\/gRPC.*4318/);
  });

  test.each(['collector', 'collector:', 'collector:0', 'collector:70000', 'grpc://collector:4317', 'http://', 'a b:80'])('rejects %p', (value) => {
    expect(otlpTracesUrl(value).kind).toBe('error');
  });
});

describe('encoding', () => {
  test('nanosecond timestamps are exact decimal strings', () => {
    expect(unixNanos(1_700_000_000_000)).toBe('1700000000000000000');
    expect(unixNanos(1_700_000_000_000.25)).toBe('1700000000000250000');
    expect(unixNanos(1.000001)).toBe('1000001');
  });

  test('OTLP JSON: resource, scope, hex ids, kind, times, typed attributes and status', () => {
    const body = encodeOtlpTraces(
      [
        span({ name: 'up "quoted"', kind: 'client', parentSpanId: 'aaaaaaaaaaaaaaaa', parentIsRemote: true, traceState: 'k=v', attributes: { s: 'x\n"y"', i: 3, d: 0.5, b: true, inf: Number.POSITIVE_INFINITY }, status: { code: 'error', message: 'boom' } }),
        span({ name: 'root', kind: 'server' }),
      ],
      { serviceName: 'vllm-router', serviceVersion: '1.2.3' },
    );
    const rs = (JSON.parse(body) as OtlpRequestJson).resourceSpans[0]!;
    expect(rs.scopeSpans[0]!.scope).toEqual({ name: 'vllm-router', version: '1.2.3' });
    expect(rs.resource.attributes).toEqual([
      { key: 'service.name', value: { stringValue: 'vllm-router' } },
      { key: 'service.version', value: { stringValue: '1.2.3' } },
    ]);
    const s = rs.scopeSpans[0]!.spans[0]!;
    expect(s).toMatchObject({
      traceId: TRACE,
      parentSpanId: 'aaaaaaaaaaaaaaaa',
      traceState: 'k=v',
      flags: 0x301,
      name: 'up "quoted"',
      kind: 3,
      startTimeUnixNano: '1700000000000250000',
      endTimeUnixNano: '1700000000001500000',
      status: { code: 2, message: 'boom' },
    });
    expect(s.attributes).toEqual([
      { key: 's', value: { stringValue: 'x\n"y"' } },
      { key: 'i', value: { intValue: '3' } },
      { key: 'd', value: { doubleValue: 0.5 } },
      { key: 'b', value: { boolValue: true } },
      { key: 'inf', value: { doubleValue: 'Infinity' } },
    ]);
    const root = rs.scopeSpans[0]!.spans[1]!;
    expect(root).toMatchObject({ name: 'root', kind: 2, flags: 0x101, attributes: [], status: { code: 0 } });
    expect(root.parentSpanId).toBeUndefined();
    expect(root.traceState).toBeUndefined();
  });
});

describe('OtlpExporter', () => {
  test('a partial batch is sent after the flush interval', async () => {
    using receiver = startOtlpReceiver();
    await using exp = exporter(`${receiver.url}/v1/traces`);
    exp.enqueue(span({ name: 'late', attributes: { n: 1 } }));
    expect(receiver.bodies).toHaveLength(0);
    // The receiver records the body before the exporter reads the answer: wait for the exporter's view.
    await until(() => exp.stats().exported === 1, 'the interval flush');
    expect(receiver.spans()[0]!.name).toBe('late');
    expect(attr(receiver.spans()[0]!, 'n')).toBe(1);
    expect(exp.stats()).toEqual({ exported: 1, dropped: 0, failed: 0, queued: 0 });
  });

  test('a full batch is sent on the next turn of the event loop, not after the interval, in batches of maxBatchSize', async () => {
    using receiver = startOtlpReceiver();
    await using exp = exporter(`${receiver.url}/v1/traces`, { maxBatchSize: 3, flushIntervalMs: 60_000 });
    for (let i = 0; i < 7; i++) exp.enqueue(span());
    // Never inside enqueue (that is span.end() on the request path).
    expect(receiver.attempts()).toBe(0);
    await until(() => exp.stats().exported === 7, 'the full batches');
    expect(receiver.bodies.map((b) => b.resourceSpans[0]!.scopeSpans[0]!.spans.length)).toEqual([3, 3, 1]);
  });

  test('spans that arrive during an export follow it', async () => {
    using receiver = startOtlpReceiver();
    await using exp = exporter(`${receiver.url}/v1/traces`);
    exp.enqueue(span({ name: 'first' }));
    const flushing = exp.flush();
    exp.enqueue(span({ name: 'second' }));
    await flushing;
    await until(() => exp.stats().exported === 2, 'the second export');
    expect(receiver.spans().map((s) => s.name)).toEqual(['first', 'second']);
  });

  test('a full queue drops and counts new spans instead of growing', async () => {
    using receiver = startOtlpReceiver();
    await using exp = exporter(`${receiver.url}/v1/traces`, { maxQueueSize: 4, flushIntervalMs: 60_000 });
    for (let i = 0; i < 10; i++) exp.enqueue(span());
    expect(exp.stats()).toMatchObject({ queued: 4, dropped: 6 });
    await exp.flush();
    expect(receiver.spans()).toHaveLength(4);
    expect(exp.stats()).toEqual({ exported: 4, dropped: 6, failed: 0, queued: 0 });
  });

  test('retries 429/503 with backoff, then delivers', async () => {
    using receiver = startOtlpReceiver();
    receiver.script({ status: 503 }, { status: 429, headers: { 'retry-after': '0' } });
    await using exp = exporter(`${receiver.url}/v1/traces`);
    exp.enqueue(span({ name: 'persistent' }));
    await exp.flush();
    expect(receiver.attempts()).toBe(3);
    expect(receiver.spans().map((s) => s.name)).toEqual(['persistent']);
    expect(exp.stats().failed).toBe(0);
  });

  test('a non-retryable status loses the batch once, counted and reported', async () => {
    using receiver = startOtlpReceiver();
    receiver.script({ status: 400 });
    const errors: string[] = [];
    await using exp = exporter(`${receiver.url}/v1/traces`, { onError: (m) => errors.push(m) });
    exp.enqueue(span());
    exp.enqueue(span());
    await exp.flush();
    expect(receiver.attempts()).toBe(1);
    expect(exp.stats()).toMatchObject({ exported: 0, failed: 2 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/lost 2 spans after 1 attempts: HTTP 400/);
  });

  test('gives up after maxRetries when the collector is unreachable', async () => {
    let closedPort: number;
    {
      using receiver = startOtlpReceiver();
      closedPort = Number(new URL(receiver.url).port);
    }
    const errors: string[] = [];
    await using exp = exporter(`http://127.0.0.1:${closedPort}/v1/traces`, { maxRetries: 2, onError: (m) => errors.push(m) });
    exp.enqueue(span());
    await exp.flush();
    expect(exp.stats()).toMatchObject({ exported: 0, failed: 1 });
    expect(errors[0]).toMatch(/after 3 attempts/);
  });

  test('dispose flushes what is queued, then refuses new spans', async () => {
    using receiver = startOtlpReceiver();
    const exp = exporter(`${receiver.url}/v1/traces`, { flushIntervalMs: 60_000 });
    exp.enqueue(span({ name: 'last words' }));
    await exp[Symbol.asyncDispose]();
    expect(receiver.spans().map((s) => s.name)).toEqual(['last words']);
    exp.enqueue(span());
    expect(exp.stats()).toMatchObject({ exported: 1, dropped: 1, queued: 0 });
  });

  test('dispose gives up on a collector that keeps failing after shutdownTimeoutMs', async () => {
    using receiver = startOtlpReceiver();
    receiver.script(...Array.from({ length: 100 }, () => ({ status: 503 })));
    const exp = exporter(`${receiver.url}/v1/traces`, { maxRetries: 100, initialBackoffMs: 50, maxBackoffMs: 50, shutdownTimeoutMs: 100 });
    exp.enqueue(span());
    const started = performance.now();
    await exp[Symbol.asyncDispose]();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(exp.stats()).toMatchObject({ exported: 0, failed: 1 });
  });
});
