// A child process of a test or benchmark: spawned, waited on for a line on stdout, killed on dispose.
import type { Subprocess } from 'bun';

export interface Child extends AsyncDisposable {
  readonly proc: Subprocess<'ignore', 'pipe', 'pipe'>;
  /** Everything printed so far on stdout. */
  readonly stdout: () => string;
  /** Resolves with the first match of `pattern` on stdout; rejects if the process exits first. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
}

export function spawnChild(cmd: string[], env: Record<string, string> = {}): Child {
  const proc = Bun.spawn(cmd, { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore', env: { ...process.env, ...env } });
  let out = '';
  const waiters = new Set<() => void>();
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stdout) {
      out += decoder.decode(chunk, { stream: true });
      for (const w of waiters) w();
    }
    for (const w of waiters) w();
  })();
  return {
    proc,
    stdout: () => out,
    waitFor(pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(out);
          if (match) {
            waiters.delete(check);
            resolve(match);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            waiters.delete(check);
            reject(new Error(`process exited (${proc.exitCode ?? proc.signalCode}) before printing ${pattern}; stdout: ${out}`));
          }
        };
        waiters.add(check);
        void proc.exited.then(check);
        check();
      });
    },
    async [Symbol.asyncDispose]() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await proc.exited;
    },
  };
}
