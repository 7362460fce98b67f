// Asks a router's /liveness back to back until SIGTERM, then prints the longest and the p99 answer time as JSON.
// Its own process, so what it measures is the router's event loop, not the benchmark process's.
import { quantile } from './quantile.ts';

const url = process.argv[2];
if (url === undefined) throw new Error('usage: bun bench/liveness-probe.ts ROUTER_URL');
const gaps: number[] = [];
let running = true;
process.on('SIGTERM', () => {
  running = false;
});
process.stdout.write('PROBING\n');
while (running) {
  const started = performance.now();
  await fetch(`${url}/liveness`).then((r) => r.text());
  gaps.push(performance.now() - started);
}
gaps.sort((a, b) => a - b);
process.stdout.write(`${JSON.stringify({ maxMs: gaps.at(-1) ?? Number.NaN, p99Ms: quantile(gaps, 0.99), probes: gaps.length })}\n`);
process.exit(0);
