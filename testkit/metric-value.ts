// Reading Prometheus text (the router's and the engines' /metrics) in tests and benchmarks.

/** The sum of the samples of `name` whose labels include `labels` (0 when there is none). */
export function metricValue(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const close = line.lastIndexOf('}');
    const found: Record<string, string> = {};
    if (line[name.length] === '{') for (const m of line.slice(name.length + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) found[m[1]!] = m[2]!;
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum += Number(line.slice((close < 0 ? name.length : close + 1)).trim());
  }
  return sum;
}

/** Every sample of `name` as `labels → value`, for one-line reports. */
export function metricSamples(text: string, name: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`))
    .map((l) => l.slice(name.length));
}
