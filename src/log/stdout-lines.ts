// Log lines to stdout, gathered for up to 50 ms. A stdout write costs far more than formatting a line
// (~1 µs): one write per line cost the router a fifth of its CPU at 7,000 requests/s with request logs on,
// and one per event-loop turn still ~20% (under load a turn serves only a few requests). Every line keeps
// its own timestamp; `flush` sends what is pending at once (on drain and before the process exits).

export interface LineSink {
  write(line: string): void;
  flush(): void;
}

/** Past this many pending characters the batch goes out at once. */
const MAX_PENDING = 64 * 1024;
const MAX_DELAY_MS = 50;

export function stdoutLines(out: { write(chunk: string): unknown } = process.stdout): LineSink {
  let pending = '';
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (pending === '') return;
    const chunk = pending;
    pending = '';
    out.write(chunk);
  };
  return {
    write(line) {
      pending += `${line}\n`;
      if (pending.length >= MAX_PENDING) flush();
      else if (timer === undefined) timer = setTimeout(flush, MAX_DELAY_MS);
    },
    flush,
  };
}
