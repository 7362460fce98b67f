// Order statistics of the benchmarks' latency and throughput samples (bench/sim/report.ts has its own percentile).

/** The value at rank ⌊q·n⌋ of an ascending array (NaN when it is empty). */
export const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

/** The median of unsorted values (the upper one of an even count). */
export const median = (values: readonly number[]): number => quantile([...values].sort((a, b) => a - b), 0.5);
