// The router's own metric classes must render exactly what prom-client's would for the same updates:
// dashboards, alerts and the tests that read /metrics depend on that text.
import { describe, expect, test } from 'bun:test';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { LeanCounter, LeanGauge, LeanHistogram } from '../../src/metrics/lean.ts';

const BUCKETS = [0.005, 0.1, 1, 2.5];

/** One prom-client registry and one lean registry, fed the same updates. */
function pair() {
  const reference = new Registry();
  const lean = new Registry();
  return { reference, lean, text: async () => [await reference.metrics(), await lean.metrics()] as const };
}

describe('lean metrics render as prom-client does', () => {
  test('counters: labelled, unlabelled (0 from the start), object and child forms, reset', async () => {
    const { reference, lean, text } = pair();
    const ref = new Counter({ name: 'c_total', help: 'a counter', labelNames: ['route', 'status'], registers: [reference] });
    const ours = new LeanCounter({ name: 'c_total', help: 'a counter', labelNames: ['route', 'status'], registers: [lean] });
    const refPlain = new Counter({ name: 'plain_total', help: 'no labels', registers: [reference] });
    const oursPlain = new LeanCounter({ name: 'plain_total', help: 'no labels', registers: [lean] });
    let [a, b] = await text();
    expect(b).toBe(a);
    expect(b).toContain('plain_total 0');

    ref.inc({ route: '/v1/completions', status: '2xx' });
    ours.labels('/v1/completions', '2xx').inc();
    ref.inc({ route: '/v1/completions', status: '2xx' }, 2.5);
    ours.inc({ route: '/v1/completions', status: '2xx' }, 2.5);
    // (prom-client writes labels in the caller's key order; ours always in labelNames order.)
    ref.inc({ route: 'a "quoted"\nroute', status: '5xx' });
    ours.labels('a "quoted"\nroute', '5xx').inc();
    refPlain.inc(7);
    oursPlain.inc(7);
    [a, b] = await text();
    expect(b).toBe(a);
    expect(b).toContain('c_total{route="/v1/completions",status="2xx"} 3.5');

    ref.reset();
    ours.reset();
    refPlain.reset();
    oursPlain.reset();
    [a, b] = await text();
    expect(b).toBe(a);
  });

  test('gauges: set, inc, dec per child', async () => {
    const { reference, lean, text } = pair();
    const ref = new Gauge({ name: 'g', help: 'a gauge', labelNames: ['worker'], registers: [reference] });
    const ours = new LeanGauge({ name: 'g', help: 'a gauge', labelNames: ['worker'], registers: [lean] });
    for (const [w, op] of [['a', 'inc'], ['a', 'inc'], ['b', 'inc'], ['a', 'dec']] as const) {
      ref[op]({ worker: w });
      ours.labels(w)[op]();
    }
    ref.set({ worker: 'c' }, 0.25);
    ours.set({ worker: 'c' }, 0.25);
    const [a, b] = await text();
    expect(b).toBe(a);
    expect(b).toContain('g{worker="a"} 1');
  });

  test('histograms: buckets on and between bounds, above the last, sum and count, several children', async () => {
    const { reference, lean, text } = pair();
    const ref = new Histogram({ name: 'h_seconds', help: 'a histogram', labelNames: ['worker', 'model'], buckets: BUCKETS, registers: [reference] });
    const ours = new LeanHistogram({ name: 'h_seconds', help: 'a histogram', labelNames: ['worker', 'model'], buckets: BUCKETS, registers: [lean] });
    const values = [0, 0.005, 0.0051, 0.1, 0.7, 1, 2.5, 3, 1e9];
    for (const [i, v] of values.entries()) {
      const labels = { worker: i % 2 ? 'http://a:8000' : 'http://b:8000', model: 'm' };
      ref.observe(labels, v);
      ours.labels(labels.worker, labels.model).observe(v);
    }
    ref.observe({ worker: 'x', model: 'm' }, 0.5);
    ours.observe({ model: 'm', worker: 'x' }, 0.5);
    const [a, b] = await text();
    expect(b).toBe(a);
    expect(b).toContain('h_seconds_bucket{le="+Inf",worker="http://b:8000",model="m"} 5');
  });

  test('wrong label names or counts are programming errors, refused loudly', () => {
    const c = new LeanCounter({ name: 'x_total', help: 'x', labelNames: ['worker'] });
    expect(() => c.inc({ wroker: 'a' })).toThrow(/unknown label wroker/);
    expect(() => c.labels('a', 'b')).toThrow(/2 label values/);
    expect(() => c.labels('a').inc(-1)).toThrow(/non-negative/);
  });
});
