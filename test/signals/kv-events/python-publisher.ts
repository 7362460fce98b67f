// Test helper: test/fixtures/kv_events_publisher.py (vLLM's ZmqEventPublisher on pyzmq and the system's libzmq), driven over stdin.
import type { Subprocess } from 'bun';
import { join } from 'node:path';
import { until } from '../../../testkit/until.ts';

const SCRIPT = join(import.meta.dir, '..', '..', 'fixtures', 'kv_events_publisher.py');

/** Debian's python3-zmq and python3-msgpack live under /usr/bin/python3. */
function findPython(): string {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    try {
      if (Bun.spawnSync([candidate, '-c', 'import zmq, msgpack']).exitCode === 0) return candidate;
    } catch {
      // Not installed under that name; try the next.
    }
  }
  throw new Error('no python3 with pyzmq and msgpack: apt-get install -y python3-zmq python3-msgpack');
}

export type Hash = number | bigint | { bytes: string };

export interface WireEvent {
  readonly type: 'BlockStored' | 'BlockRemoved' | 'AllBlocksCleared' | string;
  readonly block_hashes?: readonly Hash[];
  readonly parent_block_hash?: Hash | null;
  readonly token_ids?: readonly number[];
  readonly block_size?: number;
  readonly lora_name?: string | null;
  readonly medium?: string | null;
  readonly group_idx?: number;
  readonly extra_keys?: unknown[] | null;
}

export interface PublishOptions {
  readonly encoding?: 'array' | 'map';
  readonly batch?: 'array' | 'map';
  readonly rank?: number;
}

export class KvPublisher implements AsyncDisposable {
  readonly #proc: Subprocess<'pipe', 'pipe', 'pipe'>;
  readonly #lines: string[] = [];
  #stderr = '';

  static async start(topic = 'kv'): Promise<KvPublisher> {
    const p = new KvPublisher(topic);
    await p.#line('READY');
    return p;
  }

  private constructor(topic: string) {
    const proc = Bun.spawn([findPython(), '-u', SCRIPT, topic], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' });
    this.#proc = proc;
    void (async () => {
      let buffered = '';
      for await (const chunk of proc.stdout) {
        buffered += new TextDecoder().decode(chunk);
        let nl = buffered.indexOf('\n');
        while (nl !== -1) {
          this.#lines.push(buffered.slice(0, nl));
          buffered = buffered.slice(nl + 1);
          nl = buffered.indexOf('\n');
        }
      }
    })();
    void new Response(proc.stderr).text().then((t) => (this.#stderr = t));
  }

  async #line(prefix: string): Promise<string> {
    let found: string | undefined;
    await until(() => {
      const i = this.#lines.findIndex((l) => l.startsWith(prefix));
      if (i === -1) {
        if (this.#proc.exitCode !== null) throw new Error(`kv_events_publisher.py exited: ${this.#stderr}`);
        return false;
      }
      found = this.#lines.splice(i, 1)[0];
      return true;
    }, `kv_events_publisher.py to print ${prefix}`);
    return found!;
  }

  async ports(): Promise<{ pub: string; replay: string }> {
    const line = this.#lines.find((l) => l.startsWith('PORTS ')) ?? (await this.#line('PORTS '));
    const [, pub, replay] = line.split(' ');
    return { pub: `tcp://127.0.0.1:${pub}`, replay: `tcp://127.0.0.1:${replay}` };
  }

  #send(cmd: object): void {
    this.#proc.stdin.write(`${JSON.stringify(cmd, (_k, v) => (typeof v === 'bigint' ? `__big__${v}` : v)).replace(/"__big__(\d+)"/g, '$1')}\n`);
    this.#proc.stdin.flush();
  }

  /** Publishes one batch; resolves with its sequence number. */
  async publish(events: readonly WireEvent[], options: PublishOptions = {}): Promise<number> {
    this.#send({ op: 'publish', events, ...options });
    return Number((await this.#line('SEQ ')).slice(4));
  }

  /** Takes a sequence number without sending it: subscribers see a gap, replay has the batch. */
  async drop(events: readonly WireEvent[], options: PublishOptions = {}): Promise<number> {
    this.#send({ op: 'drop', events, ...options });
    return Number((await this.#line('SEQ ')).slice(4));
  }

  /** `batches` batches of `blocks` new chained blocks each, sent as fast as libzmq takes them; resolves with the last seq. */
  async flood(batches: number, blocks: number): Promise<number> {
    this.#send({ op: 'flood', batches, blocks });
    return Number((await this.#line('SEQ ')).slice(4));
  }

  async restart(): Promise<void> {
    this.#send({ op: 'restart' });
    await this.#line('OK');
  }

  async raw(frames: readonly Uint8Array[]): Promise<void> {
    this.#send({ op: 'raw', frames: frames.map((f) => Buffer.from(f).toString('hex')) });
    await this.#line('OK');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#proc.exitCode === null) this.#proc.kill('SIGKILL');
    await this.#proc.exited;
  }
}

/** A BlockStored of consecutive blocks: block i holds tokens `tokens[i·size, (i+1)·size)`. */
export function stored(hashes: readonly Hash[], parent: Hash | null, tokens: readonly number[], extra: Partial<WireEvent> = {}): WireEvent {
  return { type: 'BlockStored', block_hashes: hashes, parent_block_hash: parent, token_ids: tokens, block_size: 16, lora_name: null, medium: 'GPU', group_idx: 0, ...extra };
}

export const removed = (hashes: readonly Hash[], medium = 'GPU'): WireEvent => ({ type: 'BlockRemoved', block_hashes: hashes, medium, group_idx: 0 });
export const cleared: WireEvent = { type: 'AllBlocksCleared' };
