// A line chart with axes, ticks, grid, labels and a legend, rasterised to PNG (linear or log-10 x axis).
import { createCanvas, type Rgb } from './canvas.ts';

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  xLog?: boolean;
  xRange?: readonly [number, number];
  yRange?: readonly [number, number];
  /** Draw a marker at every point (for sparse series such as a rate sweep). */
  markers?: boolean;
  /** Draw each series as a staircase (for CDFs). */
  steps?: boolean;
  /** Dashed horizontal reference line, e.g. an attainment target (labelled at the left, below the line). */
  yReference?: { value: number; label: string };
  /** Dashed vertical reference line, e.g. a latency target (labelled mid-height, right of the line). */
  xReference?: { value: number; label: string };
  /** Where the legend goes: pick the corner the curves leave empty. */
  legend?: 'top-left' | 'bottom-left' | 'bottom-right';
  formatY?: (v: number) => string;
  formatX?: (v: number) => string;
  width?: number;
  height?: number;
}

/** Colour-blind-safe palette (Okabe–Ito), darkest first. */
export const PALETTE: readonly Rgb[] = [
  [0, 114, 178],
  [213, 94, 0],
  [0, 158, 115],
  [204, 121, 167],
  [230, 159, 0],
  [86, 180, 233],
  [0, 0, 0],
];

const INK: Rgb = [30, 30, 30];
const GRID: Rgb = [225, 225, 225];

/** About `count` round tick values (1, 2 or 5 × 10^k apart) covering [lo, hi]. */
export function linearTicks(lo: number, hi: number, count = 6): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step || 0);
  return out;
}

/** 1-2-5 ticks per decade within [lo, hi] (both > 0). */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
    }
  }
  return out;
}

const compact = (v: number): string => (Math.abs(v) >= 1000 && v % 1000 === 0 ? `${v / 1000}k` : String(Number(v.toPrecision(6))));

export function renderChart(spec: ChartSpec): Uint8Array {
  const width = spec.width ?? 960;
  const height = spec.height ?? 600;
  const c = createCanvas(width, height);
  const left = 90;
  const right = width - 30;
  const top = 60;
  const bottom = height - 80;
  const all = spec.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!spec.xLog || x > 0));
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  let [x0, x1] = spec.xRange ?? [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = spec.yRange ?? [Math.min(0, ...ys), Math.max(...ys)];
  if (!Number.isFinite(x0) || !Number.isFinite(x1)) [x0, x1] = spec.xLog ? [1, 10] : [0, 1];
  if (!Number.isFinite(y0) || !Number.isFinite(y1)) [y0, y1] = [0, 1];
  if (spec.xLog) {
    x0 = 10 ** (Math.floor(Math.log10(x0) * 10) / 10);
    x1 = 10 ** (Math.ceil(Math.log10(x1) * 10) / 10);
  }
  if (x1 <= x0) x1 = spec.xLog ? x0 * 10 : x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  const xTicks = spec.xLog ? logTicks(x0, x1) : linearTicks(x0, x1);
  const yTicks = linearTicks(y0, y1);
  if (!spec.xLog && !spec.xRange) [x0, x1] = [Math.min(x0, xTicks[0] ?? x0), Math.max(x1, xTicks.at(-1) ?? x1)];
  if (spec.markers && !spec.xLog) {
    // Room for the markers at both ends.
    const pad = (x1 - x0) * 0.04;
    [x0, x1] = [x0 - pad, x1 + pad];
  }
  if (!spec.yRange) [y0, y1] = [Math.min(y0, yTicks[0] ?? y0), Math.max(y1, yTicks.at(-1) ?? y1)];
  const px = (x: number): number => (spec.xLog ? left + ((Math.log10(x) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0))) * (right - left) : left + ((x - x0) / (x1 - x0)) * (right - left));
  const py = (y: number): number => bottom - ((y - y0) / (y1 - y0)) * (bottom - top);
  const fx = spec.formatX ?? compact;
  const fy = spec.formatY ?? compact;

  // Grid, ticks and tick labels.
  for (const t of yTicks) {
    if (t < y0 || t > y1) continue;
    c.line(left, py(t), right, py(t), GRID);
    const label = fy(t);
    c.text(left - 8 - c.textWidth(label, 2), py(t) - 7, label, INK, 2);
  }
  for (const t of xTicks) {
    if (t < x0 || t > x1) continue;
    c.line(px(t), top, px(t), bottom, GRID);
    c.line(px(t), bottom, px(t), bottom + 5, INK);
    const label = fx(t);
    c.text(px(t) - c.textWidth(label, 2) / 2, bottom + 10, label, INK, 2);
  }
  c.line(left, top, left, bottom, INK, 2);
  c.line(left, bottom, right, bottom, INK, 2);
  if (spec.yReference && spec.yReference.value >= y0 && spec.yReference.value <= y1) {
    const y = py(spec.yReference.value);
    c.line(left, y, right, y, [120, 120, 120], 1, 6);
    c.text(left + 8, y + 6, spec.yReference.label, [90, 90, 90], 2);
  }
  const xRef = spec.xReference;
  if (xRef && xRef.value >= x0 && xRef.value <= x1) {
    const x = px(xRef.value);
    c.line(x, top, x, bottom, [120, 120, 120], 1, 6);
    // Right of the line, or left of it when the label would run past the plot area.
    const w = c.textWidth(xRef.label, 2);
    c.text(x + 6 + w > right ? x - 6 - w : x + 6, (top + bottom) / 2 - 30, xRef.label, [90, 90, 90], 2);
  }

  // Titles.
  c.text((width - c.textWidth(spec.title, 2)) / 2, 18, spec.title, INK, 2);
  c.text((left + right - c.textWidth(spec.xLabel, 2)) / 2, height - 34, spec.xLabel, INK, 2);
  c.text(18, (top + bottom + c.textWidth(spec.yLabel, 2)) / 2, spec.yLabel, INK, 2, true);

  // Series, clipped to the plot area.
  const clipX = (x: number): number => Math.min(right, Math.max(left, x));
  const clipY = (y: number): number => Math.min(bottom, Math.max(top, y));
  spec.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length] as Rgb;
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!spec.xLog || x > 0)).map(([x, y]) => [clipX(px(x)), clipY(py(y))] as const);
    for (let k = 1; k < pts.length; k++) {
      const [ax, ay] = pts[k - 1] as readonly [number, number];
      const [bx, by] = pts[k] as readonly [number, number];
      if (spec.steps) {
        c.line(ax, ay, bx, ay, color, 3);
        c.line(bx, ay, bx, by, color, 3);
      } else {
        c.line(ax, ay, bx, by, color, 3);
      }
    }
    if (spec.markers) for (const [x, y] of pts) c.rect(x - 5, y - 5, 11, 11, color);
  });

  // Legend, in a corner inside the plot.
  const legendW = Math.max(...spec.series.map((s) => c.textWidth(s.name, 2)), 0) + 60;
  const legendH = spec.series.length * 24 + 12;
  if (spec.series.length > 0) {
    const lx = spec.legend === 'bottom-right' ? right - 12 - legendW : left + 12;
    const ly = spec.legend === 'top-left' || spec.legend === undefined ? top + 10 : bottom - 10 - legendH;
    c.rect(lx, ly, legendW, legendH, [255, 255, 255]);
    c.line(lx, ly, lx + legendW, ly, GRID);
    c.line(lx, ly + legendH, lx + legendW, ly + legendH, GRID);
    c.line(lx, ly, lx, ly + legendH, GRID);
    c.line(lx + legendW, ly, lx + legendW, ly + legendH, GRID);
    spec.series.forEach((s, i) => {
      const y = ly + 12 + i * 24;
      c.rect(lx + 10, y + 4, 30, 6, PALETTE[i % PALETTE.length] as Rgb);
      c.text(lx + 48, y, s.name, INK, 2);
    });
  }
  return c.toPng();
}
