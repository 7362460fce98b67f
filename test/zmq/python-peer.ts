// Test helper: runs test/fixtures/zmq_peer.py (pyzmq on the system's libzmq) and reads its stdout protocol.
import type { Subprocess } from 'bun';
import { join } from 'node:path';
import { pythonWithZmq } from '../../testkit/python-with-zmq.ts';
import { waitFor } from './wait-for.ts';

const SCRIPT = join(import.meta.dir, '..', 'fixtures', 'zmq_peer.py');

const PYTHON = pythonWithZmq();

export function libzmqVersion(): string {
  return Bun.spawnSync([PYTHON, '-c', 'import zmq; print(zmq.zmq_version())']).stdout.toString().trim();
}

export class PythonPeer implements AsyncDisposable {
  readonly lines: string[] = [];
  readonly #process: Subprocess<'ignore', 'pipe', 'pipe'>;
  #stderr = '';
  #exited = false;

  static start(args: readonly string[]): PythonPeer {
    return new PythonPeer(args);
  }

  private constructor(args: readonly string[]) {
    this.#process = Bun.spawn([PYTHON, '-u', SCRIPT, ...args], { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
    void this.#read();
    void new Response(this.#process.stderr).text().then((text) => {
      this.#stderr = text;
    });
    void this.#process.exited.then(() => {
      this.#exited = true;
    });
  }

  get pid(): number {
    return this.#process.pid;
  }

  async #read(): Promise<void> {
    let buffered = '';
    const decoder = new TextDecoder();
    for await (const chunk of this.#process.stdout) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline = buffered.indexOf('\n');
      while (newline !== -1) {
        this.lines.push(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
      }
    }
  }

  /** Waits for a stdout line starting with `prefix`; fails fast if the script dies. */
  async line(prefix: string): Promise<string> {
    return waitFor(() => {
      const found = this.lines.find((line) => line.startsWith(prefix));
      if (found === undefined && this.#exited) {
        throw new Error(`zmq_peer.py exited before printing ${prefix}: ${this.#stderr}`);
      }
      return found;
    }, `zmq_peer.py to print ${prefix}`);
  }

  async port(): Promise<number> {
    return Number((await this.line('PORT ')).slice(5));
  }

  /** Kills the script by pid and waits for it to be gone. */
  async stop(): Promise<void> {
    if (!this.#exited) process.kill(this.#process.pid, 'SIGKILL');
    await this.#process.exited;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
