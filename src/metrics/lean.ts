// Counters, gauges and histograms that cost a few additions per update. prom-client's own classes validate
// and hash a label object on every call and keep histogram buckets in objects keyed by bound; at a dozen
// updates per request that was a tenth of the router's CPU. These keep plain numbers per label-value tuple
// and hand prom-client's Registry the same `get()` shape its own metrics do, so the exposition text (and
// everything that reads it) is prom-client's.
import type { Registry } from 'prom-client';

type Labels = Readonly<Record<string, string | number>>;
type LabelValue = string | number;

interface Options<N extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly N[];
  readonly registers?: readonly Registry[];
}

interface Sample {
  readonly value: number;
  readonly labels: Record<string, LabelValue>;
  readonly metricName?: string;
}

/** Children are kept per label-value tuple; the bound only guards against a bug turning into a leak. */
const MAX_CHILDREN = 10_000;

abstract class LeanMetric<N extends string, C> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly N[];
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  readonly aggregator = 'sum';
  // Children by label values, one Map level per label (no key string to build and hash per update), and
  // the same children in a list for the exposition.
  #root = new Map<string, unknown>();
  #series: { readonly values: readonly string[]; readonly child: C }[] = [];
  #only: C | undefined;
  #resetHooks: (() => void)[] = [];

  constructor(options: Options<N>) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames ?? [];
    for (const r of options.registers ?? []) r.registerMetric(this as never);
  }

  /** Without labels there is one series, shown from the start (as prom-client does: `name 0`). */
  protected init(): void {
    if (this.labelNames.length === 0) this.#only = this.newChild();
  }

  protected abstract newChild(): C;
  protected abstract samples(labels: Record<string, LabelValue>, child: C, out: Sample[]): void;

  /** The child for these label values, in `labelNames` order. Keep it: updating it is the cheap path. */
  labels(...values: LabelValue[]): C {
    const n = this.labelNames.length;
    if (values.length !== n) throw new Error(`${this.name}: ${values.length} label values for labels [${this.labelNames.join(', ')}]`);
    if (n === 0) return (this.#only ??= this.newChild());
    let level: Map<string, unknown> | undefined = this.#root;
    for (let i = 0; i < n - 1 && level !== undefined; i++) level = level.get(String(values[i])) as Map<string, unknown> | undefined;
    const series = level?.get(String(values[n - 1])) as { readonly child: C } | undefined;
    return series === undefined ? this.#add(values.map(String)) : series.child;
  }

  #add(values: readonly string[]): C {
    if (this.#series.length >= MAX_CHILDREN) this.reset();
    let level = this.#root;
    for (let i = 0; i < values.length - 1; i++) {
      let next = level.get(values[i]!) as Map<string, unknown> | undefined;
      if (next === undefined) level.set(values[i]!, (next = new Map()));
      level = next;
    }
    const entry = { values, child: this.newChild() };
    level.set(values[values.length - 1]!, entry);
    this.#series.push(entry);
    return entry.child;
  }

  /** prom-client's call form, `inc({ worker: 'a' })`: for code off the per-request path. */
  protected childFor(labels: Labels | undefined): C {
    if (labels === undefined) return this.labels();
    for (const k of Object.keys(labels)) if (!this.labelNames.includes(k as N)) throw new Error(`${this.name}: unknown label ${k}`);
    return this.labels(...this.labelNames.map((n) => labels[n] ?? ''));
  }

  /** Forgets every child (the series disappear from the exposition). */
  reset(): void {
    this.#root = new Map();
    this.#series = [];
    this.#only = undefined;
    this.init();
    for (const hook of this.#resetHooks) hook();
  }

  /** Runs `hook` after every reset: whoever keeps this metric's children forgets them (they are no longer shown). */
  onReset(hook: () => void): void {
    this.#resetHooks.push(hook);
  }

  /** What prom-client's Registry renders. */
  get() {
    const values: Sample[] = [];
    if (this.#only !== undefined) this.samples({}, this.#only, values);
    for (const { values: labelValues, child } of this.#series) {
      const labels: Record<string, LabelValue> = {};
      this.labelNames.forEach((n, i) => (labels[n] = labelValues[i]!));
      this.samples(labels, child, values);
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

export interface CounterChild {
  inc(value?: number): void;
}

class CounterCell implements CounterChild {
  value = 0;
  inc(value = 1): void {
    if (!(value >= 0)) throw new Error(`counter increment must be a non-negative number, got ${value}`);
    this.value += value;
  }
}

export class LeanCounter<N extends string = string> extends LeanMetric<N, CounterCell> {
  readonly type = 'counter';
  constructor(options: Options<N>) {
    super(options);
    this.init();
  }
  protected newChild() {
    return new CounterCell();
  }
  protected samples(labels: Record<string, LabelValue>, child: CounterCell, out: Sample[]) {
    out.push({ value: child.value, labels });
  }
  inc(labels?: Labels | number, value?: number): void {
    if (typeof labels === 'number') this.labels().inc(labels);
    else this.childFor(labels).inc(value);
  }
}

export interface GaugeChild {
  set(value: number): void;
  inc(value?: number): void;
  dec(value?: number): void;
}

class GaugeCell implements GaugeChild {
  value = 0;
  set(value: number): void {
    this.value = value;
  }
  inc(value = 1): void {
    this.value += value;
  }
  dec(value = 1): void {
    this.value -= value;
  }
}

export class LeanGauge<N extends string = string> extends LeanMetric<N, GaugeCell> {
  readonly type = 'gauge';
  constructor(options: Options<N>) {
    super(options);
    this.init();
  }
  protected newChild() {
    return new GaugeCell();
  }
  protected samples(labels: Record<string, LabelValue>, child: GaugeCell, out: Sample[]) {
    out.push({ value: child.value, labels });
  }
  set(labels: Labels | number, value?: number): void {
    if (typeof labels === 'number') this.labels().set(labels);
    else this.childFor(labels).set(value ?? 0);
  }
  inc(labels?: Labels | number, value?: number): void {
    if (typeof labels === 'number') this.labels().inc(labels);
    else this.childFor(labels).inc(value);
  }
  dec(labels?: Labels | number, value?: number): void {
    if (typeof labels === 'number') this.labels().dec(labels);
    else this.childFor(labels).dec(value);
  }
}

export interface HistogramChild {
  observe(value: number): void;
}

class HistogramCell implements HistogramChild {
  /** Per-bucket counts (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(value: number): void {
    if (Number.isNaN(value)) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class LeanHistogram<N extends string = string> extends LeanMetric<N, HistogramCell> {
  readonly type = 'histogram';
  readonly #bounds: readonly number[];
  constructor(options: Options<N> & { readonly buckets: readonly number[] }) {
    super(options);
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
    this.init();
  }
  protected newChild() {
    return new HistogramCell(this.#bounds);
  }
  protected samples(labels: Record<string, LabelValue>, child: HistogramCell, out: Sample[]) {
    let cumulative = 0;
    for (let i = 0; i <= this.#bounds.length; i++) {
      cumulative += child.counts[i]!;
      out.push({ metricName: `${this.name}_bucket`, labels: { le: i < this.#bounds.length ? this.#bounds[i]! : '+Inf', ...labels }, value: cumulative });
    }
    out.push({ metricName: `${this.name}_sum`, labels, value: child.sum });
    out.push({ metricName: `${this.name}_count`, labels, value: child.count });
  }
  observe(labels: Labels | number, value?: number): void {
    if (typeof labels === 'number') this.labels().observe(labels);
    else this.childFor(labels).observe(value ?? Number.NaN);
  }
}
