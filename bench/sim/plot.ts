// The benchmark's figures: TTFT CDF per policy at one rate, and SLA attainment against request rate.
import { renderChart } from './plot/line-chart.ts';

/** Empirical CDF points of `values` (ms); requests that never got a first token keep the curve below 1. */
function cdf(values: readonly number[]): [number, number][] {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  const n = values.length;
  const pts: [number, number][] = [];
  // At most ~400 points per curve: enough for the eye, small for the rasteriser.
  const stride = Math.max(1, Math.floor(finite.length / 400));
  for (let i = 0; i < finite.length; i += stride) pts.push([finite[i] as number, (i + 1) / n]);
  if (finite.length > 0) pts.push([finite.at(-1) as number, finite.length / n]);
  return pts;
}

export function ttftCdfPng(title: string, byPolicy: readonly { policy: string; ttftMs: readonly number[] }[], targetMs?: number): Uint8Array {
  const finite = byPolicy.flatMap((p) => p.ttftMs.filter(Number.isFinite));
  const lo = Math.max(1, Math.min(...finite));
  const hi = Math.max(...finite, (targetMs ?? 0) * 1.25);
  return renderChart({
    title,
    xLabel: 'time to first token (ms, log scale)',
    ...(finite.length > 0 ? { xRange: [lo, hi] as const } : {}),
    yLabel: 'fraction of requests',
    series: byPolicy.map((p) => ({ name: p.policy, points: cdf(p.ttftMs) })),
    xLog: true,
    yRange: [0, 1],
    steps: true,
    legend: 'bottom-right',
    ...(targetMs === undefined ? {} : { xReference: { value: targetMs, label: `TTFT target ${targetMs} ms` } }),
  });
}

/** One point per policy and rate (the mean over seeds); `xLabel` names the rate (requests or sessions). */
export function slaVsRatePng(title: string, runs: readonly { policy: string; rate: number; sla: number }[], xLabel = 'request rate (req/s, Poisson)'): Uint8Array {
  const policies = [...new Set(runs.map((r) => r.policy))];
  return renderChart({
    title,
    xLabel,
    yLabel: 'SLA attainment (%)',
    series: policies.map((policy) => ({
      name: policy,
      points: runs
        .filter((r) => r.policy === policy)
        .sort((a, b) => a.rate - b.rate)
        .map((r) => [r.rate, r.sla * 100] as const),
    })),
    yRange: [0, 100],
    markers: true,
    yReference: { value: 90, label: '90% target' },
    legend: 'bottom-left',
  });
}
