// How fast each endpoint's engine works, learned online from what the router sees: the time to a first
// token against the prefill work it waited for (tokens), and the time per output token against the streams
// decoding beside it. Each is a straight line fitted by least squares over samples whose weight decays with
// time, so an engine that changes speed is relearned within a few samples, never held to its past.

export interface SpeedOptions {
  /** A sample's weight halves over this long. */
  readonly halfLifeMs: number;
  /** The weight the past may hold, in samples: the newest sample always moves an estimate by at least 1/(1 + this). */
  readonly maxWeight: number;
  /**
   * A sample this many times above or below what the line predicts means the engine changed (it recovered,
   * another load on it ended): the past is dropped and the sample alone is the estimate, until others join it.
   */
  readonly surpriseRatio: number;
  /** A surprise drops the past only on a sample nothing was queued ahead of (`add`'s `alone`); default: any sample. */
  readonly restartOnlyAlone?: boolean;
}

// Four seconds: an endpoint served once a second keeps about six samples' worth of history, and one probed
// after a 40 s silence is judged on its new sample alone; sixteen samples at most, however busy it is.
export const DEFAULT_SPEED_OPTIONS: SpeedOptions = { halfLifeMs: 4_000, maxWeight: 16, surpriseRatio: 2.5 };

/** y = fixed + perUnit · x, with both parts non-negative. */
export interface Line {
  readonly fixed: number;
  readonly perUnit: number;
  /** `now` of the newest sample. */
  readonly at: number;
  /** Decayed sample weight behind the line (1 for a single sample). */
  readonly weight: number;
  /** How far the newest sample moved the line at its x, relative to where it was (1 for the first sample). */
  readonly shift: number;
}

export const lineAt = (line: Pick<Line, 'fixed' | 'perUnit'>, x: number): number => line.fixed + line.perUnit * x;

/** What to assume when every sample had the same x: prefill through the origin (time ∝ work), decode flat. */
type Degenerate = 'proportional' | 'flat';

interface Sums {
  w: number;
  x: number;
  y: number;
  xx: number;
  xy: number;
  at: number;
}

/** One decayed least-squares line. */
export interface DecayedLine {
  /** `alone`: nothing was queued ahead of this sample (with `restartOnlyAlone`, only such a one may restart the line). */
  add(x: number, y: number, now: number, alone?: boolean): void;
  line(): Line | undefined;
}

export function createDecayedLine(degenerate: Degenerate, options: SpeedOptions = DEFAULT_SPEED_OPTIONS): DecayedLine {
  let s: Sums | undefined;
  let fitted: Line | undefined;
  const scale = (k: number) => {
    if (s === undefined) return;
    s.w *= k;
    s.x *= k;
    s.y *= k;
    s.xx *= k;
    s.xy *= k;
  };
  return {
    add(x, y, now, alone = false) {
      if (!(x >= 0) || !(y >= 0) || !Number.isFinite(x) || !Number.isFinite(y)) return;
      const restart = options.restartOnlyAlone !== true || alone;
      if (s === undefined) s = { w: 0, x: 0, y: 0, xx: 0, xy: 0, at: now };
      scale(Math.pow(0.5, Math.max(0, now - s.at) / options.halfLifeMs));
      if (s.w > options.maxWeight) scale(options.maxWeight / s.w);
      const expected = fitted === undefined ? undefined : lineAt(fitted, x);
      if (restart && expected !== undefined && expected > 0 && (y > expected * options.surpriseRatio || y * options.surpriseRatio < expected)) scale(0);
      s.w += 1;
      s.x += x;
      s.y += y;
      s.xx += x * x;
      s.xy += x * y;
      s.at = now;
      const line = fit(s, degenerate);
      const moved = expected === undefined || !(expected > 0) ? 1 : Math.abs(lineAt(line, x) - expected) / expected;
      fitted = { ...line, shift: moved };
    },
    line: () => fitted,
  };
}

function fit(s: Sums, degenerate: Degenerate): Omit<Line, 'shift'> {
  const mx = s.x / s.w;
  const my = s.y / s.w;
  const varX = s.xx / s.w - mx * mx;
  const cov = s.xy / s.w - mx * my;
  const base = { at: s.at, weight: s.w };
  // The x values must spread by a few percent of their size for a slope to mean anything.
  if (varX > 1e-4 * (mx * mx + 1)) {
    const perUnit = cov / varX;
    const fixed = my - perUnit * mx;
    if (perUnit >= 0 && fixed >= 0) return { fixed, perUnit, ...base };
    // A negative intercept is noise around a proportional line; a negative slope is noise around a flat one.
    // A prefill line never falls with work: a negative slope (requests behind a cache hit answered quickly, queue
    // work the ledger over-counted) is noise around a proportional line. Fitting it flat predicted the same TTFT
    // for a 2,600-token prefill as for a cache hit, and longdoc requests left the engines holding their documents
    // (virtual fleet, longdoc at 14 req/s: hit rate 79% against cache_aware's 91%).
    if ((perUnit >= 0 || degenerate === 'proportional') && s.xx > 0) return { fixed: 0, perUnit: s.xy / s.xx, ...base };
    return { fixed: my, perUnit: 0, ...base };
  }
  if (degenerate === 'proportional' && s.xx > 0) return { fixed: 0, perUnit: s.xy / s.xx, ...base };
  return { fixed: my, perUnit: 0, ...base };
}

/**
 * Time per output token against two things: the streams decoding beside it (x1), and the prefill tokens sent
 * to its engine in the recent window (x2). vLLM's scheduler mixes prefill chunks into the decode steps
 * (chunked prefill, vllm/v1/core/sched/scheduler.py), so every token a stream waits for is a step that also
 * computes others' prompts: inter-token time rises with the prefill work arriving there, at a rate the stream
 * count cannot show (identical engines at the same stream count differ by 2× with the prefill beside them).
 */
export interface Plane extends Line {
  /** ms of inter-token time per prefill token in the window. */
  readonly perPrefill: number;
}

export const planeAt = (plane: Pick<Plane, 'fixed' | 'perUnit' | 'perPrefill'>, streams: number, prefillTokens: number): number =>
  plane.fixed + plane.perUnit * streams + plane.perPrefill * prefillTokens;

export interface DecayedPlane {
  /** `weight`: how many samples this one counts as (default 1); one worth less than a whole sample never drops the past. */
  add(streams: number, prefillTokens: number, y: number, now: number, weight?: number): void;
  plane(): Plane | undefined;
}

interface PlaneSums {
  w: number;
  a: number;
  b: number;
  y: number;
  aa: number;
  bb: number;
  ab: number;
  ay: number;
  by: number;
  yy: number;
  at: number;
}

const PLANE_KEYS = ['w', 'a', 'b', 'y', 'aa', 'bb', 'ab', 'ay', 'by', 'yy'] as const;

/** A decayed least-squares plane with every part non-negative (the best of the fits that use both, one or none of the inputs). */
export function createDecayedPlane(options: SpeedOptions = DEFAULT_SPEED_OPTIONS): DecayedPlane {
  let s: PlaneSums | undefined;
  let fitted: Plane | undefined;
  const scale = (k: number) => {
    if (s !== undefined) for (const key of PLANE_KEYS) s[key] *= k;
  };
  return {
    add(x1, x2, y, now, k = 1) {
      if (![x1, x2, y, k].every((v) => v >= 0 && Number.isFinite(v)) || k === 0) return;
      if (s === undefined) s = { w: 0, a: 0, b: 0, y: 0, aa: 0, bb: 0, ab: 0, ay: 0, by: 0, yy: 0, at: now };
      scale(Math.pow(0.5, Math.max(0, now - s.at) / options.halfLifeMs));
      if (s.w > options.maxWeight) scale(options.maxWeight / s.w);
      const expected = fitted === undefined ? undefined : planeAt(fitted, x1, x2);
      if (k >= 1 && expected !== undefined && expected > 0 && (y > expected * options.surpriseRatio || y * options.surpriseRatio < expected)) scale(0);
      s.w += k;
      s.a += k * x1;
      s.b += k * x2;
      s.y += k * y;
      s.aa += k * x1 * x1;
      s.bb += k * x2 * x2;
      s.ab += k * x1 * x2;
      s.ay += k * x1 * y;
      s.by += k * x2 * y;
      s.yy += k * y * y;
      s.at = now;
      const plane = fitPlane(s);
      const at = planeAt(plane, x1, x2);
      fitted = { ...plane, shift: expected === undefined || !(expected > 0) ? 1 : Math.abs(at - expected) / expected };
    },
    plane: () => fitted,
  };
}

// Sample weight a slope of the plane needs (twice that for both slopes at once): fitted through fewer, two early
// readings at different stream counts set slopes that predicted 600–1,300 ms per token for an engine whose
// streams then measured 100 (virtual fleet, mixed workload at 16 req/s).
const PLANE_MIN_WEIGHT = 6;

function fitPlane(s: PlaneSums): Omit<Plane, 'shift'> {
  const n = s.w;
  const ma = s.a / n;
  const mb = s.b / n;
  const my = s.y / n;
  // Centred moments: the intercept is what the means leave over.
  const vaa = s.aa / n - ma * ma;
  const vbb = s.bb / n - mb * mb;
  const vab = s.ab / n - ma * mb;
  const vay = s.ay / n - ma * my;
  const vby = s.by / n - mb * my;
  const vyy = s.yy / n - my * my;
  const spread = (v: number, m: number) => v > 1e-4 * (m * m + 1);
  // Each candidate: [perUnit, perPrefill]; its residual variance is vyy − β·cov(x, y).
  const candidates: [number, number][] = [[0, 0]];
  const slopes = n >= PLANE_MIN_WEIGHT;
  if (slopes && spread(vaa, ma)) candidates.push([vay / vaa, 0]);
  if (slopes && spread(vbb, mb)) candidates.push([0, vby / vbb]);
  const det = vaa * vbb - vab * vab;
  if (n >= 2 * PLANE_MIN_WEIGHT && spread(vaa, ma) && spread(vbb, mb) && det > 1e-3 * vaa * vbb) {
    candidates.push([(vbb * vay - vab * vby) / det, (vaa * vby - vab * vay) / det]);
  }
  let best = { fixed: my, perUnit: 0, perPrefill: 0, residual: vyy };
  const consider = (fixed: number, perUnit: number, perPrefill: number, residual: number) => {
    if (perUnit >= 0 && perPrefill >= 0 && fixed >= 0 && residual < best.residual - 1e-9 * (vyy + 1)) best = { fixed, perUnit, perPrefill, residual };
  };
  for (const [pa, pb] of candidates) consider(my - pa * ma - pb * mb, pa, pb, vyy - pa * vay - pb * vby);
  // Time per token rising with the streams from a negative intercept is noise around a line through the origin
  // (as the prefill line's fit takes it).
  if (slopes && spread(vaa, ma) && vay > 0 && s.aa > 0) {
    const p = s.ay / s.aa;
    consider(0, p, 0, s.yy / n - 2 * p * (s.ay / n) + p * p * (s.aa / n));
  }
  return { fixed: best.fixed, perUnit: best.perUnit, perPrefill: best.perPrefill, at: s.at, weight: s.w };
}

/** Each endpoint's prefill line (ms against tokens of work) and decode plane (ms per token against streams and
 * the prefill tokens sent there in the window). */
export interface EndpointSpeed {
  /** `alone`: nothing was queued ahead of it (only such a sample may restart the line on a surprise). */
  prefillSample(id: string, workTokens: number, ms: number, now: number, alone?: boolean): void;
  decodeSample(id: string, streams: number, prefillTokens: number, itlMs: number, now: number, weight?: number): void;
  prefill(id: string): Line | undefined;
  decode(id: string): Plane | undefined;
  forget(id: string): void;
  ids(): IterableIterator<string>;
}

export function createEndpointSpeed(options: SpeedOptions = DEFAULT_SPEED_OPTIONS): EndpointSpeed {
  const lines = new Map<string, { prefill: DecayedLine; decode: DecayedPlane }>();
  const of = (id: string) => {
    let l = lines.get(id);
    if (l === undefined) {
      // A prefill sample that waited behind others carries the ledger's count of them, which can be wrong; one
      // wrong by 2.5× restarted the line on itself and predicted a phantom queue of seconds (bench/README.md,
      // issue #18). A sample with nothing ahead is the engine's speed alone: it may restart the line, so a probe
      // still resets an endpoint that is faster or slower than its line says.
      l = { prefill: createDecayedLine('proportional', { restartOnlyAlone: true, ...options }), decode: createDecayedPlane(options) };
      lines.set(id, l);
    }
    return l;
  };
  return {
    prefillSample: (id, work, ms, now, alone) => of(id).prefill.add(work, ms, now, alone),
    decodeSample: (id, streams, prefill, itl, now, weight) => of(id).decode.add(streams, prefill, itl, now, weight),
    prefill: (id) => lines.get(id)?.prefill.line(),
    decode: (id) => lines.get(id)?.decode.plane(),
    forget: (id) => void lines.delete(id),
    ids: () => lines.keys(),
  };
}
