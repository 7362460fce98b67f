// Log lines appended to `<dir>/vllm-router.YYYY-MM-DD`, a new file each UTC day, as the Rust router's appender.
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { FileSink } from 'bun';

export class DailyLogFile implements Disposable {
  #day = '';
  #sink: FileSink | undefined;
  #closed = false;
  readonly #flushTimer: ReturnType<typeof setInterval>;

  constructor(
    private readonly dir: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    mkdirSync(dir, { recursive: true });
    // Buffered writes keep logging off the request path; a second is the most a crash can lose.
    this.#flushTimer = setInterval(() => void this.#sink?.flush(), 1000);
    this.#flushTimer.unref();
  }

  /** The file written to now. */
  get path(): string {
    return join(this.dir, `vllm-router.${this.#day || this.now().toISOString().slice(0, 10)}`);
  }

  write(line: string): void {
    if (this.#closed) return;
    const day = this.now().toISOString().slice(0, 10);
    if (day !== this.#day) {
      void this.#sink?.end();
      this.#day = day;
      this.#sink = Bun.file(openSync(this.path, 'a')).writer();
    }
    this.#sink!.write(`${line}\n`);
  }

  flush(): void {
    void this.#sink?.flush();
  }

  [Symbol.dispose](): void {
    this.#closed = true;
    clearInterval(this.#flushTimer);
    void this.#sink?.end();
    this.#sink = undefined;
  }
}
