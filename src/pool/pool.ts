// The tokenizer pool: N Bun Worker threads that render, tokenize and block-hash prompts off the event loop.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { decodeFrame, encodeFrame, type FromThread, type LoadedTokenizerInfo, type PoolJob } from './protocol.ts';
import { POOL_THREAD_NICE } from './thread-priority.ts';
import type { TokenizerFiles } from './tokenizer-files.ts';

/** One served model's tokenizer (and chat template). */
export interface ModelTokenizer {
  /** The model it is for; undefined: every model no other entry names. */
  readonly model: string | undefined;
  readonly files: TokenizerFiles;
}

export interface TokenizerPoolOptions {
  /** One tokenizer for every model (shorthand for `tokenizers: [{ model: undefined, files }]`). */
  readonly files?: TokenizerFiles | undefined;
  /**
   * A tokenizer per served model; every thread loads them all at start. None: the pool starts no thread until a
   * tokenizer is added at run time (`addTokenizer`).
   */
  readonly tokenizers?: readonly ModelTokenizer[] | undefined;
  /** Tokens per hashed block (`--block-size`). */
  readonly blockSize: number;
  /** Number of threads; default `defaultPoolSize()`. */
  readonly threads?: number | undefined;
  /** Times a job is re-sent after the thread running it died; then it fails. Default 2. */
  readonly maxRetries?: number | undefined;
  /** Jobs sent to one thread before it answers (one running, the rest queued in the thread). Default 2. */
  readonly jobsPerThread?: number | undefined;
  /** Jobs allowed to wait for a thread; beyond it `tokenize` answers an error at once. Default unbounded. */
  readonly maxQueueDepth?: number | undefined;
  /** Pool thread entry; default `poolEntryUrl()`. */
  readonly entry?: string | URL | undefined;
  /** Nice value of the threads (Linux, per thread); default POOL_THREAD_NICE, 0 keeps the event loop's priority. */
  readonly threadNice?: number | undefined;
  /** Called when a thread dies and is replaced, for logs and metrics. */
  readonly onThreadExit?: ((event: ThreadExit) => void) | undefined;
}

export interface ThreadExit {
  readonly thread: number;
  readonly code: number | undefined;
  readonly error: string | undefined;
  /** Jobs that were running on it and are re-sent. */
  readonly retried: number;
}

export interface TokenizeOutput {
  /** Tokens of the sequence that was hashed (the first prompt of a batch). */
  readonly tokenCount: number;
  /** Chained hashes of its full blocks (`RoutingRequest.blockHashes`). */
  readonly blockHashes: Float64Array;
  /** Milliseconds the pool thread spent rendering, encoding and hashing. */
  readonly encodeMs: number;
  /** The token ids, only when asked for: a view of the buffer the pool thread transferred (no copy). */
  readonly ids?: Uint32Array | undefined;
  /** The same ids as protobuf packed varints (the gRPC request's payload), with `ids`. */
  readonly packedIds?: Uint8Array | undefined;
  /** The text that was tokenized (a chat rendered by its template), only when asked for. */
  readonly text?: string | undefined;
}

export type TokenizeResult = { ok: true; value: TokenizeOutput } | { ok: false; error: string };

export type AddTokenizerResult = { ok: true; value: { readonly loadMs: number; readonly info: LoadedTokenizerInfo } } | { ok: false; error: string };

/** A tokenizer slot: loaded by every thread (`ready`), or being added at run time (`adding`). */
interface Slot {
  readonly tokenizer: ModelTokenizer;
  state: 'ready' | 'adding' | 'failed';
  /** While adding: settles the caller once every live thread loaded it, or one could not. */
  settle?: ((result: AddTokenizerResult) => void) | undefined;
  /** While adding: what the first thread that loaded it reported. */
  added?: { readonly loadMs: number; readonly info: LoadedTokenizerInfo } | undefined;
  /** While adding: why a thread could not load it. */
  error?: string | undefined;
  pending?: Promise<AddTokenizerResult> | undefined;
}

export interface PoolStats {
  readonly threads: number;
  readonly readyThreads: number;
  /** Jobs waiting for a thread (not yet sent to one). */
  readonly queueDepth: number;
  /** Jobs sent to a thread and not yet answered. */
  readonly inFlight: number;
  /** Threads that died and were replaced since start. */
  readonly restarts: number;
}

/** cores − 1, at least 1: the event loop keeps a core. */
export function defaultPoolSize(): number {
  return Math.max(1, availableParallelism() - 1);
}

/**
 * Where the pool thread entry is. Under `bun run`/`bun test` it sits beside this file. In a
 * `bun build --compile` binary this module is bundled into the main entry (so `import.meta.url` is the
 * binary's `file:///$bunfs/root/<name>`), and each extra entry point is stored at its path relative to
 * the common directory of all entry points, with a `.js` extension: `pool/tokenize.worker.js` when every
 * entry is under `src/`, `src/pool/tokenize.worker.js` when the entries span the repository.
 */
export function poolEntryUrl(): URL {
  const beside = new URL('./tokenize.worker.ts', import.meta.url);
  if (!import.meta.url.includes('/$bunfs/') && !import.meta.url.includes('/~BUN/')) return beside;
  const root = new URL('./', import.meta.url);
  for (const path of ['pool/tokenize.worker.js', 'src/pool/tokenize.worker.js']) {
    const url = new URL(path, root);
    if (existsSync(fileURLToPath(url))) return url;
  }
  throw new Error(
    'the pool thread entry is not in this binary: add src/pool/tokenize.worker.ts to the entry points in build.ts',
  );
}

interface Job {
  readonly id: number;
  readonly job: PoolJob;
  /** Index of the model's tokenizer. */
  readonly tokenizer: number;
  readonly returnIds: boolean;
  readonly returnText: boolean;
  readonly resolve: (result: TokenizeResult) => void;
  /** Times sent to a thread. */
  attempts: number;
}

interface Thread {
  readonly index: number;
  readonly worker: Worker;
  readonly jobs: Map<number, Job>;
  /** The tokenizer slots it holds: those of its init, then each run-time add it acknowledged. */
  readonly slots: Set<number>;
  /** Run-time adds sent to it and not yet answered. */
  readonly adding: Set<number>;
  ready: boolean;
  dead: boolean;
  lastError: string | undefined;
}

export class TokenizerPool implements AsyncDisposable {
  /** Starts the threads and resolves once every one has loaded the tokenizer; rejects with the load error. */
  static async start(options: TokenizerPoolOptions): Promise<TokenizerPool> {
    const pool = new TokenizerPool(options);
    try {
      await pool.#started;
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  readonly #options: TokenizerPoolOptions;
  readonly #entry: string | URL;
  readonly #threads: Thread[] = [];
  readonly #queue: Job[] = [];
  readonly #maxRetries: number;
  readonly #jobsPerThread: number;
  readonly #started: Promise<void>;
  #startedSettle: { resolve: () => void; reject: (error: Error) => void } | undefined;
  #nextId = 1;
  #restarts = 0;
  #closed = false;
  /** Consecutive replacement threads that failed to load; drives the respawn back-off. */
  #failedSpawns = 0;
  readonly #respawnTimers = new Set<ReturnType<typeof setTimeout>>();
  /** Every tokenizer by slot; a job names its slot. Run-time adds append. */
  readonly #slots: Slot[];
  /** Threads to run once there is a tokenizer. */
  readonly #size: number;
  /** Slot by model name, of ready slots only; `#fallback` serves a model no entry names. */
  readonly #byModel = new Map<string, number>();
  readonly #fallback: number | undefined;
  /** Template source and warnings of each tokenizer, reported by the first thread that loaded. */
  #infos: readonly (LoadedTokenizerInfo & { readonly model: string | undefined })[] | undefined;
  #loadMs = 0;

  private constructor(options: TokenizerPoolOptions) {
    const threads = options.threads ?? defaultPoolSize();
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`pool threads must be ≥ 1, got ${threads}`);
    this.#options = options;
    this.#size = threads;
    const tokenizers = options.tokenizers ?? (options.files ? [{ model: undefined, files: options.files }] : []);
    this.#slots = tokenizers.map((tokenizer) => ({ tokenizer, state: 'ready' }));
    let fallback: number | undefined;
    tokenizers.forEach((t, i) => {
      if (t.model === undefined) fallback ??= i;
      else if (!this.#byModel.has(t.model)) this.#byModel.set(t.model, i);
    });
    this.#fallback = fallback;
    this.#entry = options.entry ?? poolEntryUrl();
    this.#maxRetries = options.maxRetries ?? 2;
    this.#jobsPerThread = options.jobsPerThread ?? 2;
    this.#started = new Promise<void>((resolve, reject) => {
      this.#startedSettle = { resolve, reject };
    });
    if (tokenizers.length === 0) {
      // Nothing to load yet: the threads start with the first tokenizer added at run time.
      this.#startedSettle?.resolve();
      this.#startedSettle = undefined;
      return;
    }
    this.#spawnAll();
  }

  #spawnAll(): void {
    for (let i = 0; i < this.#size; i++) this.#threads.push(this.#spawn(i));
  }

  /** Template source (`tokenizer_config.json`, a file, or `none`) and load warnings of the first tokenizer, once started. */
  get info(): { templateSource: string; warnings: readonly string[]; loadMs: number } | undefined {
    const first = this.#infos?.[0];
    return first === undefined ? undefined : { templateSource: first.templateSource, warnings: first.warnings, loadMs: this.#loadMs };
  }

  /** The same for every tokenizer, with the model each is for. */
  get infos(): readonly (LoadedTokenizerInfo & { readonly model: string | undefined })[] {
    // Slots whose run-time add failed hold nothing.
    return (this.#infos ?? []).filter((info) => info !== undefined);
  }

  /** Whether a request for `model` has a tokenizer: its own, or the one for every unnamed model. */
  hasTokenizerFor(model: string | undefined): boolean {
    return this.#tokenizerFor(model) !== undefined;
  }

  #tokenizerFor(model: string | undefined): number | undefined {
    return (model === undefined ? undefined : this.#byModel.get(model)) ?? this.#fallback;
  }

  get size(): number {
    return this.#threads.length;
  }

  /** Whether any tokenizer is held (at start, or added since). */
  get hasTokenizers(): boolean {
    return this.#byModel.size > 0 || this.#fallback !== undefined;
  }

  /**
   * Loads one more model's tokenizer into every thread at run time (a gRPC endpoint's GetTokenizer). No request for
   * `model` is tokenized until every live thread holds it (a thread that replaces a dead one is sent it too, and
   * the add waits for it); a tokenizer a thread cannot load fails the add, and the pool keeps serving the others.
   * Adding a model that already has a tokenizer (or is being added) answers as that one did.
   */
  addTokenizer(model: string, files: TokenizerFiles): Promise<AddTokenizerResult> {
    if (this.#closed) return Promise.resolve({ ok: false, error: 'tokenizer pool is closed' });
    const held = this.#byModel.get(model);
    if (held !== undefined) {
      const infos = this.#infos?.[held];
      return Promise.resolve({ ok: true, value: { loadMs: 0, info: { templateSource: infos?.templateSource ?? 'none', warnings: [] } } });
    }
    const adding = this.#slots.find((s) => s.state === 'adding' && s.tokenizer.model === model);
    if (adding?.pending) return adding.pending;
    const slot: Slot = { tokenizer: { model, files }, state: 'adding' };
    const index = this.#slots.push(slot) - 1;
    slot.pending = new Promise<AddTokenizerResult>((resolve) => {
      slot.settle = resolve;
    });
    if (this.#threads.length === 0) this.#spawnAll();
    else for (const thread of this.#threads) if (thread.ready && !thread.dead) this.#sendAdd(thread, index);
    return slot.pending;
  }

  #sendAdd(thread: Thread, index: number): void {
    const slot = this.#slots[index];
    if (slot === undefined || thread.slots.has(index) || thread.adding.has(index)) return;
    thread.adding.add(index);
    const frame = encodeFrame({ t: 'add', slot: index, files: slot.tokenizer.files });
    thread.worker.postMessage(frame, [frame]);
  }

  /** Settles each run-time add that every live thread answered: ready, or failed (and dropped where it loaded). */
  #settleAdds(): void {
    this.#slots.forEach((slot, index) => {
      if (slot.state !== 'adding') return;
      const live = this.#threads.filter((t) => !t.dead);
      if (slot.error === undefined) {
        if (live.length === 0 || !live.every((t) => t.slots.has(index))) return;
        slot.state = 'ready';
        if (slot.tokenizer.model !== undefined) this.#byModel.set(slot.tokenizer.model, index);
        const added = slot.added ?? { loadMs: 0, info: { templateSource: 'none', warnings: [] } };
        const infos = [...(this.#infos ?? [])];
        infos[index] = { ...added.info, model: slot.tokenizer.model };
        this.#infos = infos;
        slot.settle?.({ ok: true, value: added });
      } else {
        // Wait for the threads still loading it, so none holds it unknown to the pool.
        if (live.some((t) => t.adding.has(index))) return;
        slot.state = 'failed';
        for (const thread of live) {
          if (!thread.slots.delete(index)) continue;
          const frame = encodeFrame({ t: 'drop', slot: index });
          thread.worker.postMessage(frame, [frame]);
        }
        slot.settle?.({ ok: false, error: slot.error });
      }
      slot.settle = undefined;
      slot.pending = undefined;
    });
  }

  /** Fails every run-time add still waiting (the pool closed, or no thread can start). */
  #failAdds(error: string): void {
    for (const slot of this.#slots) {
      if (slot.state !== 'adding') continue;
      slot.state = 'failed';
      slot.settle?.({ ok: false, error });
      slot.settle = undefined;
      slot.pending = undefined;
    }
  }

  /** Jobs waiting for a thread: the depth to export as a gauge. */
  get queueDepth(): number {
    return this.#queue.length;
  }

  stats(): PoolStats {
    let inFlight = 0;
    let ready = 0;
    for (const thread of this.#threads) {
      inFlight += thread.jobs.size;
      if (thread.ready && !thread.dead) ready++;
    }
    return { threads: this.#threads.length, readyThreads: ready, queueDepth: this.#queue.length, inFlight, restarts: this.#restarts };
  }

  /**
   * Renders (chat), tokenizes and hashes one prompt in a pool thread. Never rejects: failures (bad input,
   * template errors, a job that kept killing threads, a closed pool) come back as `{ ok: false }`.
   */
  tokenize(job: PoolJob, options?: { returnIds?: boolean; returnText?: boolean; model?: string | undefined }): Promise<TokenizeResult> {
    if (this.#closed) return Promise.resolve({ ok: false, error: 'tokenizer pool is closed' });
    const tokenizer = this.#tokenizerFor(options?.model);
    if (tokenizer === undefined) return Promise.resolve({ ok: false, error: `the router has no tokenizer for model \`${options?.model ?? ''}\`` });
    if (this.#queue.length >= (this.#options.maxQueueDepth ?? Infinity)) {
      return Promise.resolve({ ok: false, error: `tokenizer pool queue is full (${this.#queue.length} jobs waiting)` });
    }
    return new Promise<TokenizeResult>((resolve) => {
      this.#queue.push({ id: this.#nextId++, job, tokenizer, returnIds: options?.returnIds ?? false, returnText: options?.returnText ?? false, resolve, attempts: 0 });
      this.#pump();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#respawnTimers) clearTimeout(timer);
    this.#respawnTimers.clear();
    const failure: TokenizeResult = { ok: false, error: 'tokenizer pool is closed' };
    for (const job of this.#queue.splice(0)) job.resolve(failure);
    const exits: Promise<void>[] = [];
    for (const thread of this.#threads) {
      for (const job of thread.jobs.values()) job.resolve(failure);
      thread.jobs.clear();
      if (thread.dead) continue;
      thread.dead = true;
      exits.push(
        new Promise<void>((resolve) => {
          thread.worker.addEventListener('close', () => resolve(), { once: true });
          // terminate() is asynchronous and still marked experimental in Bun; don't hang shutdown on it.
          setTimeout(resolve, 2_000).unref();
        }),
      );
      thread.worker.terminate();
    }
    this.#failAdds('tokenizer pool is closed');
    this.#startedSettle?.reject(new Error('tokenizer pool closed before it started'));
    await Promise.all(exits);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #spawn(index: number): Thread {
    const worker = new Worker(this.#entry);
    // A new thread loads the ready slots at init; slots still being added are sent to it once it is ready.
    const initial = this.#slots.flatMap((slot, i) => (slot.state === 'ready' ? [{ slot: i, files: slot.tokenizer.files }] : []));
    const thread: Thread = { index, worker, jobs: new Map(), slots: new Set(initial.map((s) => s.slot)), adding: new Set(), ready: false, dead: false, lastError: undefined };
    worker.addEventListener('message', (event: MessageEvent<ArrayBuffer>) => this.#onMessage(thread, event.data));
    worker.addEventListener('error', (event: ErrorEvent) => {
      thread.lastError = event.message;
      this.#onDeath(thread, undefined);
    });
    worker.addEventListener('close', (event: CloseEvent) => this.#onDeath(thread, event.code));
    const init = encodeFrame({
      t: 'init',
      tokenizers: initial,
      blockSize: this.#options.blockSize,
      nice: this.#options.threadNice ?? POOL_THREAD_NICE,
    });
    worker.postMessage(init, [init]);
    return thread;
  }

  #onMessage(thread: Thread, frame: ArrayBuffer): void {
    if (thread.dead) return;
    const { message, hashes, ids } = decodeFrame<FromThread>(frame);
    switch (message.t) {
      case 'ready':
        thread.ready = true;
        this.#failedSpawns = 0;
        if (this.#infos === undefined) {
          this.#infos = message.loaded.map((info, i) => ({ ...info, model: this.#slots[i]?.tokenizer.model }));
          this.#loadMs = message.loadMs;
        }
        if (this.#threads.every((t) => t.ready)) {
          this.#startedSettle?.resolve();
          this.#startedSettle = undefined;
        }
        this.#slots.forEach((slot, i) => {
          if (slot.state === 'adding') this.#sendAdd(thread, i);
        });
        break;
      case 'added':
      case 'add-failed': {
        thread.adding.delete(message.slot);
        const slot = this.#slots[message.slot];
        if (slot?.state !== 'adding') break;
        if (message.t === 'added') {
          thread.slots.add(message.slot);
          slot.added ??= { loadMs: message.loadMs, info: message.info };
        } else {
          slot.error ??= message.error;
        }
        this.#settleAdds();
        break;
      }
      case 'init-failed':
        thread.lastError = message.error;
        this.#onDeath(thread, undefined);
        return;
      case 'done':
      case 'failed': {
        const job = thread.jobs.get(message.id);
        if (!job) break;
        thread.jobs.delete(message.id);
        job.resolve(
          message.t === 'failed'
            ? { ok: false, error: message.error }
            : { ok: true, value: { tokenCount: message.tokenCount, blockHashes: hashes, encodeMs: message.encodeMs, ids: ids?.ids, packedIds: ids?.packed, text: message.text } },
        );
        break;
      }
    }
    this.#pump();
  }

  /** A thread died (crash, exit, failed load): re-queue its jobs first in line and replace it. */
  #onDeath(thread: Thread, code: number | undefined): void {
    if (thread.dead || this.#closed) return;
    thread.dead = true;
    thread.worker.terminate();
    const wasReady = thread.ready;
    if (!wasReady && this.#startedSettle) {
      // A thread that cannot load at start-up is a start-up failure; start() closes the pool.
      this.#startedSettle.reject(new Error(thread.lastError ?? `a tokenizer pool thread exited with code ${code} while loading`));
      this.#startedSettle = undefined;
      return;
    }
    const orphans = [...thread.jobs.values()];
    thread.jobs.clear();
    const retry: Job[] = [];
    for (const job of orphans) {
      if (job.attempts > this.#maxRetries) {
        job.resolve({ ok: false, error: `tokenizer pool thread died ${job.attempts} times while running this job (${thread.lastError ?? `exit code ${code}`})` });
      } else {
        retry.push(job);
      }
    }
    this.#queue.unshift(...retry);
    this.#options.onThreadExit?.({ thread: thread.index, code, error: thread.lastError, retried: retry.length });
    if (!wasReady) this.#failedSpawns++;
    this.#restarts++;
    const delay = this.#failedSpawns === 0 ? 0 : Math.min(5_000, 100 * 2 ** (this.#failedSpawns - 1));
    const replace = (): void => {
      if (this.#closed) return;
      this.#threads[thread.index] = this.#spawn(thread.index);
      this.#pump();
    };
    if (delay === 0) {
      replace();
    } else {
      const timer = setTimeout(() => {
        this.#respawnTimers.delete(timer);
        replace();
      }, delay);
      this.#respawnTimers.add(timer);
    }
    // With no thread able to run jobs, fail the queue rather than leave requests hanging.
    if (this.#failedSpawns > 0 && !this.#threads.some((t) => t.ready && !t.dead)) {
      const error = `tokenizer pool has no working thread (${thread.lastError ?? `exit code ${code}`})`;
      for (const job of this.#queue.splice(0)) job.resolve({ ok: false, error });
      this.#failAdds(error);
    }
    // It may have been the last thread an add waited for.
    this.#settleAdds();
    this.#pump();
  }

  /** Least-busy dispatch: each queued job goes to the ready thread with the fewest jobs, under the cap. */
  #pump(): void {
    while (this.#queue.length > 0) {
      let best: Thread | undefined;
      for (const thread of this.#threads) {
        if (!thread.ready || thread.dead || thread.jobs.size >= this.#jobsPerThread || !thread.slots.has(this.#queue[0]!.tokenizer)) continue;
        if (!best || thread.jobs.size < best.jobs.size) best = thread;
      }
      if (!best) return;
      const job = this.#queue.shift() as Job;
      job.attempts++;
      best.jobs.set(job.id, job);
      const frame = encodeFrame({ t: 'job', id: job.id, attempt: job.attempts, tokenizer: job.tokenizer, job: job.job, returnIds: job.returnIds, ...(job.returnText ? { returnText: true } : {}) });
      best.worker.postMessage(frame, [frame]);
    }
  }
}
