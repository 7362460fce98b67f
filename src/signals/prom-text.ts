// Prometheus text exposition parser (format 0.0.4, as vLLM's prometheus_client writes it): HELP/TYPE, labels
// with escapes, +Inf/NaN, optional timestamps, and queries that sum samples and histograms over label sets.
//
// A malformed line is reported in `problems` and skipped rather than failing the whole scrape: one odd
// third-party metric must not blind the router to the engine's load.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name, e.g. `vllm:time_to_first_token_seconds_bucket`. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  /** Milliseconds since the epoch, when the line carries one. */
  readonly timestampMs: number | undefined;
}

export interface Family {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string | undefined;
  readonly samples: readonly Sample[];
}

export interface ParseProblem {
  /** 1-based line number. */
  readonly line: number;
  readonly message: string;
}

export interface Exposition {
  /** Families in document order, by family name. */
  readonly families: ReadonlyMap<string, Family>;
  /** Samples with exactly this name, in document order. */
  samples(name: string): readonly Sample[];
  readonly problems: readonly ParseProblem[];
}

const TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
// The sample names a family of each type may own besides its own name.
const SUFFIXES: Readonly<Record<MetricType, readonly string[]>> = {
  counter: ['_total', '_created'],
  gauge: [],
  histogram: ['_bucket', '_sum', '_count', '_created'],
  summary: ['_sum', '_count', '_created'],
  untyped: [],
};
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^-?\d+$/;

interface MutableFamily {
  name: string;
  type: MetricType;
  help: string | undefined;
  samples: Sample[];
  typed: boolean;
}

export function parsePromText(text: string): Exposition {
  const families = new Map<string, MutableFamily>();
  const byName = new Map<string, Sample[]>();
  const problems: ParseProblem[] = [];

  const family = (name: string): MutableFamily => {
    let f = families.get(name);
    if (f === undefined) {
      f = { name, type: 'untyped', help: undefined, samples: [], typed: false };
      families.set(name, f);
    }
    return f;
  };
  // A sample belongs to the declared family it extends (`x_bucket` → histogram `x`), else to its own name.
  const owner = (sampleName: string): MutableFamily => {
    const own = families.get(sampleName);
    if (own !== undefined) return own;
    for (const [type, suffixes] of Object.entries(SUFFIXES) as [MetricType, readonly string[]][]) {
      for (const suffix of suffixes) {
        if (!sampleName.endsWith(suffix)) continue;
        const f = families.get(sampleName.slice(0, -suffix.length));
        if (f !== undefined && f.type === type) return f;
      }
    }
    return family(sampleName);
  };

  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] as string;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    const report = (message: string) => problems.push({ line: i + 1, message });
    if (line.trimStart().startsWith('#')) {
      const meta = parseMeta(line.trimStart());
      if (meta === undefined) continue; // a plain comment
      if ('error' in meta) {
        report(meta.error);
        continue;
      }
      const f = family(meta.name);
      if (meta.kind === 'help') f.help = meta.text;
      else if (f.typed) report(`second TYPE line for ${meta.name}`);
      else {
        if (f.samples.length > 0) report(`TYPE for ${meta.name} after its samples`);
        f.type = meta.type;
        f.typed = true;
      }
      continue;
    }
    const parsed = parseSampleLine(line);
    if ('error' in parsed) {
      report(parsed.error);
      continue;
    }
    owner(parsed.name).samples.push(parsed);
    const list = byName.get(parsed.name);
    if (list === undefined) byName.set(parsed.name, [parsed]);
    else list.push(parsed);
  }

  const frozen = new Map<string, Family>();
  for (const [name, f] of families) frozen.set(name, { name, type: f.type, help: f.help, samples: f.samples });
  return { families: frozen, samples: (name) => byName.get(name) ?? [], problems };
}

type Meta = { kind: 'help'; name: string; text: string } | { kind: 'type'; name: string; type: MetricType } | { error: string };

/** `# HELP name text` or `# TYPE name type`; undefined for any other comment. */
function parseMeta(line: string): Meta | undefined {
  const m = /^#[ \t]+(HELP|TYPE)[ \t]+/.exec(line);
  if (m === null) return undefined;
  let rest = line.slice(m[0].length);
  let name: string;
  if (rest.startsWith('"')) {
    const quoted = readQuoted(rest, 0);
    if ('error' in quoted) return quoted;
    name = quoted.value;
    rest = rest.slice(quoted.end);
  } else {
    const n = METRIC_NAME.exec(rest);
    if (n === null) return { error: `bad metric name in ${m[1]} line` };
    name = n[0];
    rest = rest.slice(name.length);
  }
  if (rest !== '' && !/^[ \t]/.test(rest)) return { error: `bad metric name in ${m[1]} line` };
  rest = rest.replace(/^[ \t]+/, '');
  if (m[1] === 'HELP') return { kind: 'help', name, text: unescapeHelp(rest) };
  const type = rest.trim();
  if (!TYPES.has(type)) return { error: `unknown metric type ${JSON.stringify(type)} for ${name}` };
  return { kind: 'type', name, type: type as MetricType };
}

/** HELP text escapes only `\\` and `\n`; any other backslash stays as written. */
function unescapeHelp(text: string): string {
  return text.replace(/\\([\\n])/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
}

/** A double-quoted string starting at `at`, with label-value escapes (`\\`, `\"`, `\n`). */
function readQuoted(line: string, at: number): { value: string; end: number } | { error: string } {
  let out = '';
  for (let i = at + 1; i < line.length; i++) {
    const c = line[i] as string;
    if (c === '"') return { value: out, end: i + 1 };
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = line[++i];
    if (next === undefined) break;
    // Unknown escapes keep their backslash, as the Prometheus lexer does.
    out += next === 'n' ? '\n' : next === '\\' || next === '"' ? next : `\\${next}`;
  }
  return { error: 'unterminated quoted string' };
}

function skipBlanks(line: string, at: number): number {
  while (at < line.length && (line[at] === ' ' || line[at] === '\t')) at++;
  return at;
}

function parseSampleLine(line: string): Sample | { error: string } {
  let at = skipBlanks(line, 0);
  let name: string | undefined;
  if (line[at] !== '{') {
    const n = METRIC_NAME.exec(line.slice(at));
    if (n === null) return { error: 'bad metric name' };
    name = n[0];
    at = skipBlanks(line, at + name.length);
  }
  const labels: Record<string, string> = {};
  if (line[at] === '{') {
    const read = readLabels(line, at + 1, labels, name === undefined);
    if ('error' in read) return read;
    name ??= read.name;
    at = read.end;
  }
  if (name === undefined) return { error: 'sample without a metric name' };
  const fields = line.slice(at).trim().split(/[ \t]+/);
  if (fields.length === 0 || fields[0] === '') return { error: `${name}: missing value` };
  if (fields.length > 2) return { error: `${name}: unexpected text after the timestamp` };
  const value = parseValue(fields[0] as string);
  if (value === undefined) return { error: `${name}: bad value ${JSON.stringify(fields[0])}` };
  let timestampMs: number | undefined;
  if (fields.length === 2) {
    if (!INTEGER.test(fields[1] as string)) return { error: `${name}: bad timestamp ${JSON.stringify(fields[1])}` };
    timestampMs = Number(fields[1]);
  }
  return { name, labels, value, timestampMs };
}

/**
 * Reads `name="value",…}` from `at` (just past `{`) into `labels`. With `nameAllowed`, a quoted string not
 * followed by `=` is the metric name (the quoted-name form of newer Prometheus versions).
 */
function readLabels(
  line: string,
  at: number,
  labels: Record<string, string>,
  nameAllowed: boolean,
): { end: number; name: string | undefined } | { error: string } {
  let name: string | undefined;
  for (;;) {
    at = skipBlanks(line, at);
    if (line[at] === '}') return { end: at + 1, name };
    let key: string;
    if (line[at] === '"') {
      const q = readQuoted(line, at);
      if ('error' in q) return q;
      key = q.value;
      at = skipBlanks(line, q.end);
      if (line[at] !== '=' && nameAllowed && name === undefined) {
        name = key;
        if (line[at] === ',') at++;
        continue;
      }
    } else {
      const k = LABEL_NAME.exec(line.slice(at));
      if (k === null) return { error: `bad label name at column ${at + 1}` };
      key = k[0];
      at = skipBlanks(line, at + key.length);
    }
    if (line[at] !== '=') return { error: `expected = after label ${key}` };
    at = skipBlanks(line, at + 1);
    if (line[at] !== '"') return { error: `label ${key} has an unquoted value` };
    const v = readQuoted(line, at);
    if ('error' in v) return { error: `label ${key}: ${v.error}` };
    if (Object.hasOwn(labels, key)) return { error: `duplicate label ${key}` };
    labels[key] = v.value;
    at = skipBlanks(line, v.end);
    if (line[at] === ',') at++;
    else if (line[at] !== '}') return { error: `expected , or } after label ${key}` };
  }
}

/** Go's ParseFloat as Prometheus uses it: decimals, and Inf / NaN in any case with an optional sign. */
export function parseValue(text: string): number | undefined {
  const lower = text.toLowerCase();
  if (/^[+]?inf(inity)?$/.test(lower)) return Infinity;
  if (/^-inf(inity)?$/.test(lower)) return -Infinity;
  if (/^[+-]?nan$/.test(lower)) return NaN;
  return DECIMAL.test(text) ? Number(text) : undefined;
}

export type LabelFilter = (labels: Readonly<Record<string, string>>) => boolean;

/** Sum of every sample named `name` that passes `filter` (e.g. over `engine` labels); undefined when none. */
export function sumOf(exposition: Exposition, name: string, filter?: LabelFilter): number | undefined {
  let total: number | undefined;
  for (const s of exposition.samples(name)) if (filter === undefined || filter(s.labels)) total = (total ?? 0) + s.value;
  return total;
}

/** Mean of the samples named `name` that pass `filter`; for ratios like KV-cache usage, which do not add up. */
export function meanOf(exposition: Exposition, name: string, filter?: LabelFilter): number | undefined {
  let total = 0;
  let n = 0;
  for (const s of exposition.samples(name)) {
    if (filter !== undefined && !filter(s.labels)) continue;
    total += s.value;
    n++;
  }
  return n === 0 ? undefined : total / n;
}

export interface HistogramData {
  /** Cumulative counts by upper bound, ascending; the last bound is +Inf. */
  readonly buckets: readonly { readonly le: number; readonly count: number }[];
  readonly count: number;
  readonly sum: number;
}

/** The histogram `name` (its `_bucket`, `_sum`, `_count` samples) summed over the label sets passing `filter`. */
export function histogramOf(exposition: Exposition, name: string, filter?: LabelFilter): HistogramData | undefined {
  const count = sumOf(exposition, `${name}_count`, filter);
  const sum = sumOf(exposition, `${name}_sum`, filter);
  if (count === undefined || sum === undefined) return undefined;
  const byLe = new Map<number, number>();
  for (const s of exposition.samples(`${name}_bucket`)) {
    if (filter !== undefined && !filter(s.labels)) continue;
    const le = s.labels['le'] === undefined ? undefined : parseValue(s.labels['le']);
    if (le === undefined || Number.isNaN(le)) continue;
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  const buckets = [...byLe].map(([le, c]) => ({ le, count: c })).sort((a, b) => a.le - b.le);
  return { buckets, count, sum };
}
