// Asks a router's /liveness back to back until SIGTERM, then prints what it saw as JSON. Its own process, so what
// it measures is the router's event loop, not the benchmark process's.
//
//   bun bench/liveness-probe.ts ROUTER_URL [ROUTER_PID]
//
// With the router's pid (Linux), each answer's wait is split by the router's main thread's schedstat
// (/proc/PID/task/PID/schedstat: nanoseconds on a CPU, nanoseconds runnable but waiting for one) over the same
// window: `busy` is how long the event loop ran (JS, GC, I/O callbacks) while the probe waited, the router's own
// blocking; `waited` is how long it was ready to run with no core free, which a shared machine adds.
import { readFileSync } from 'node:fs';
import { quantile } from './quantile.ts';

const url = process.argv[2];
const pid = process.argv[3];
if (url === undefined) throw new Error('usage: bun bench/liveness-probe.ts ROUTER_URL [ROUTER_PID]');
const schedstat = pid !== undefined && process.platform === 'linux' ? `/proc/${pid}/task/${pid}/schedstat` : undefined;
/** Milliseconds the router's main thread has been on a CPU and waiting for one. */
const sched = (): [number, number] => {
  if (schedstat === undefined) return [Number.NaN, Number.NaN];
  const [onCpu, waiting] = readFileSync(schedstat, 'utf8').split(' ');
  return [Number(onCpu) / 1e6, Number(waiting) / 1e6];
};

const answers: number[] = [];
const busy: number[] = [];
const waited: number[] = [];
let running = true;
process.on('SIGTERM', () => {
  running = false;
});
process.stdout.write('PROBING\n');
while (running) {
  const [cpu0, wait0] = sched();
  const started = performance.now();
  await fetch(`${url}/liveness`).then((r) => r.text());
  answers.push(performance.now() - started);
  const [cpu1, wait1] = sched();
  busy.push(cpu1 - cpu0);
  waited.push(wait1 - wait0);
}
const summary = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? Number.NaN, over5: sorted.filter((v) => v > 5).length };
};
process.stdout.write(`${JSON.stringify({ probes: answers.length, answer: summary(answers), busy: summary(busy), waited: summary(waited) })}\n`);
process.exit(0);
