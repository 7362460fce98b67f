// The process side of an engine CLI (the mock engine, the simulated engine): one LISTENING line, a clean stop on a signal.

export interface StoppableEngine {
  readonly url: string;
  stop(): Promise<void>;
}

/** Prints `LISTENING <url>`, the one line spawners wait for, and on SIGTERM or SIGINT stops the engine once, then exits 0. */
export function runEngineProcess(engine: StoppableEngine): void {
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    void engine.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // Nothing else is written to stdout.
  process.stdout.write(`LISTENING ${engine.url}\n`);
}
