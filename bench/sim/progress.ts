// The progress line of a bench:sim run on stderr: which run (policy, rate, seed), how many requests are done,
// and the time left in the run and in the whole sweep. On a terminal it is one line rewritten in place; in a
// log (stderr not a TTY) it is a line every few seconds, so a CI log shows the run is alive without flooding.

export interface ProgressState {
  /** 1-based index of the current run, and how many runs the sweep has. */
  run: number;
  runs: number;
  label: string;
  rate: number;
  rateUnit: string;
  seed: number;
  done: number;
  total: number;
  /** performance.now() at the start of the current run's replay; null while its fleet starts. */
  replayStartedAt: number | null;
  /** When the last arrival (or session start) of the replay is due, and its drain deadline, ms after its start. */
  arrivalsEndMs: number;
  deadlineMs: number;
  /** Wall time of every finished run, ms: their mean estimates the runs still to come. */
  finishedRunsMs: readonly number[];
  /** performance.now() at the start of the current run (its fleet's start included). */
  runStartedAt: number;
}

const seconds = (ms: number): string => `${Math.max(0, Math.ceil(ms / 1000))} s`;
const duration = (ms: number): string => (ms >= 90_000 ? `${Math.round(ms / 60_000)} min` : seconds(ms));

export function progressLine(s: ProgressState, now: number): string {
  const head = `[${s.run}/${s.runs}] ${s.label} @ ${s.rate} ${s.rateUnit}, seed ${s.seed}`;
  if (s.replayStartedAt === null) return `${head}: starting the fleet`;
  const inReplay = now - s.replayStartedAt;
  const runLeft = inReplay < s.arrivalsEndMs ? `${seconds(s.arrivalsEndMs - inReplay)} of arrivals left` : `draining, at most ${seconds(s.deadlineMs - inReplay)} left`;
  let overall = '';
  if (s.finishedRunsMs.length > 0) {
    const perRun = s.finishedRunsMs.reduce((a, b) => a + b, 0) / s.finishedRunsMs.length;
    overall = `; about ${duration(Math.max(0, perRun - (now - s.runStartedAt)) + perRun * (s.runs - s.run))} left in all`;
  }
  return `${head}: ${s.done}/${s.total} requests done, ${runLeft}${overall}`;
}

export interface ProgressSink {
  write(text: string): unknown;
}

export interface Progress {
  /** Shows `line`: at once on a terminal, else when `everyMs` have passed since the last line written. */
  show(line: string): void;
  /** Removes the line from a terminal before other output is written there (a no-op in a log). */
  clear(): void;
}

export function createProgress(out: ProgressSink, o: { tty: boolean; everyMs: number; now: () => number; columns?: () => number }): Progress {
  let shown = false;
  let lastWrite = Number.NEGATIVE_INFINITY;
  return {
    show(line) {
      if (o.tty) {
        const width = o.columns?.() ?? 0;
        // Longer than the terminal, it would wrap and `\r` would rewrite only its last part.
        out.write(`\r\u001b[2K${width > 1 && line.length >= width ? `${line.slice(0, width - 2)}…` : line}`);
        shown = true;
        return;
      }
      const now = o.now();
      if (now - lastWrite < o.everyMs) return;
      lastWrite = now;
      out.write(`${line}\n`);
    },
    clear() {
      if (o.tty && shown) out.write('\r\u001b[2K');
      shown = false;
    },
  };
}
