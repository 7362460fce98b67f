// How much memory a process holds, from /proc (Linux): what memory tests assert on and benchmarks report.
import { readFileSync } from 'node:fs';

/** Resident memory of a process now and at its peak, in KiB, from /proc/<pid>/status. */
export function memoryKb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: field('VmRSS'), peak: field('VmHWM') };
}
