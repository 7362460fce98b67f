// The pure model of one vLLM engine: the V1 scheduler (continuous batching, chunked prefill, preemption by
// recompute), a KV block pool with prefix caching, a step-time model and vLLM's own metrics.
//
// No timers and no I/O: a driver calls `plan()` to schedule one engine step, waits `durationMs` (real or
// virtual time) and calls `commit(plan, end)` to get the tokens that step produced. The step-time model and
// the parameters live in engine-params.ts.
import { E2E_BUCKETS, ITL_BUCKETS, TTFT_BUCKETS, createHistogram, observe, type Histogram } from '../../testkit/vllm-wire.ts';
import { attendedContext, DEFAULT_ENGINE_PARAMS, stepTimeMs, type EngineParams, type StepWork } from './engine-params.ts';
import { createKvCache, type KvCacheEvents } from './kv-cache.ts';
import { replySeed, replyToken, type ReplyVocabulary } from './tokens.ts';

export interface RequestInput {
  /** Unique among the requests this engine holds. */
  id: string;
  /** The prompt's token ids (sim-tokenizer.ts: what vLLM's tokenizer gives for the request). */
  promptIds: readonly number[];
  /** Output length: the simulated model always generates exactly this many tokens (finish_reason length). */
  maxTokens: number;
  /** Arrival time on the caller's clock, in ms. */
  arrival: number;
  /** vLLM's request `priority` (lower is served first); used with `scheduling: 'priority'`. */
  priority?: number;
  /** Decode role: the prompt's KV comes from a prefill engine instead of being computed here. */
  remotePrefill?: boolean;
}

export interface TokenEvent {
  id: string;
  /** Position in the output, from 0. */
  index: number;
  /** The token id generated (a word of the reply vocabulary). */
  token: number;
  /** Set on the last token of the request. */
  finish: 'length' | null;
  /** Prompt tokens that were found in the prefix cache. */
  cachedTokens: number;
  /** On the last token: the blocks holding the prompt (what a NIXL producer reports as remote_block_ids). */
  promptBlockIds?: number[];
}

interface Scheduled {
  readonly req: Req;
  readonly tokens: number;
}

export interface StepPlan {
  readonly durationMs: number;
  readonly work: StepWork;
  readonly batch: readonly Scheduled[];
}

/** Counters and gauges as vLLM's /metrics reports them (prefix-cache figures in tokens). */
export interface EngineCounters {
  running: number;
  waiting: number;
  kvCacheUsage: number;
  prefixCacheQueries: number;
  prefixCacheHits: number;
  promptTokens: number;
  generationTokens: number;
  preemptions: number;
  requestSuccess: Record<string, number>;
  ttft: Histogram;
  itl: Histogram;
  e2e: Histogram;
  steps: number;
  busyMs: number;
}

export interface EngineModel {
  readonly params: Readonly<EngineParams>;
  /** Queues a request; an error string when it can never be served (too long for the model or the KV). */
  add(input: RequestInput): string | null;
  /** Drops a request (client gone), freeing its blocks. False if it is not held. */
  abort(id: string): boolean;
  hasWork(): boolean;
  /** Schedules the next step; null when there is nothing to do. */
  plan(): StepPlan | null;
  /** Applies a planned step that ended at `now`: advances computed tokens, samples, finishes requests. */
  commit(plan: StepPlan, now: number): TokenEvent[];
  /**
   * vLLM's Scheduler.reset_prefix_cache: forgets every cached block. Refused (false) while a running request holds
   * blocks, unless `resetRunning`, which first preempts the running batch back to the queue.
   */
  resetPrefixCache(resetRunning: boolean): boolean;
  counters(): EngineCounters;
}

interface Req {
  id: string;
  promptLen: number;
  maxTokens: number;
  priority: number;
  arrival: number;
  seed: number;
  /** Whether the reply opens a line (its first word has no leading space). */
  opensLine: boolean;
  /** Prompt then output token ids: every token known so far. */
  tokens: number[];
  /** Chained hashes of full blocks, computed on demand. */
  hashes: bigint[];
  blocks: number[];
  /** Tokens whose KV is computed (or scheduled to be, during a step). */
  computed: number;
  /** Blocks whose hash is registered in the cache. */
  registered: number;
  output: number;
  status: 'waiting' | 'running' | 'done';
  remotePrefill: boolean;
  preemptions: number;
  cachedTokens: number;
  lastTokenAt: number;
}

/** `replies` are the token ids the simulated model writes (SimTokenizer.replies); `kvEvents` hears of the KV
 * pool's stored, removed and cleared blocks (the simulator's KV-event publisher). */
export function createEngineModel(overrides: Partial<EngineParams>, replies: ReplyVocabulary, kvEvents?: KvCacheEvents): EngineModel {
  const p: EngineParams = { ...DEFAULT_ENGINE_PARAMS, ...overrides };
  const bs = p.blockSize;
  const kv = createKvCache(p.kvBlocks, bs, kvEvents);
  const byId = new Map<string, Req>();
  let waiting: Req[] = [];
  const running: Req[] = [];
  const c = {
    prefixCacheQueries: 0,
    prefixCacheHits: 0,
    promptTokens: 0,
    generationTokens: 0,
    preemptions: 0,
    // vLLM pre-creates one child per finish reason, so all show from the start.
    requestSuccess: { stop: 0, length: 0, abort: 0 } as Record<string, number>,
    ttft: createHistogram(TTFT_BUCKETS),
    itl: createHistogram(ITL_BUCKETS),
    e2e: createHistogram(E2E_BUCKETS),
    steps: 0,
    busyMs: 0,
  };

  const blocksFor = (tokens: number): number => Math.ceil(tokens / bs);

  function ensureHashes(r: Req, blocks: number): void {
    for (let b = r.hashes.length; b < blocks; b++) {
      const parent = b === 0 ? 0n : (r.hashes[b - 1] as bigint);
      r.hashes.push(Bun.hash.wyhash(Uint32Array.from(r.tokens.slice(b * bs, (b + 1) * bs)), parent));
    }
  }

  /** vLLM caches a block as soon as the tokens scheduled for it fill it. */
  function registerFull(r: Req, tokens: number): void {
    const full = Math.floor(tokens / bs);
    if (full <= r.registered) return;
    ensureHashes(r, full);
    kv.cacheFull(r.blocks, r.hashes, r.registered, full, r.tokens);
    r.registered = full;
  }

  const before = (a: Req, b: Req): boolean => a.priority < b.priority || (a.priority === b.priority && a.arrival < b.arrival);

  function enqueue(r: Req, front: boolean): void {
    r.status = 'waiting';
    if (p.scheduling === 'priority') {
      let i = waiting.length;
      while (i > 0 && before(r, waiting[i - 1] as Req)) i--;
      waiting.splice(i, 0, r);
    } else if (front) {
      waiting.unshift(r);
    } else {
      waiting.push(r);
    }
  }

  function release(r: Req): void {
    kv.free(r.blocks);
    r.blocks = [];
    r.registered = 0;
    const i = running.indexOf(r);
    if (i >= 0) running.splice(i, 1);
  }

  /** Preemption by recompute (vLLM V1): the victim loses its KV and goes back to the front of the queue. */
  function preempt(r: Req): void {
    release(r);
    r.computed = 0;
    r.preemptions++;
    c.preemptions++;
    enqueue(r, true);
  }

  function victim(): Req {
    if (p.scheduling === 'fcfs') return running.at(-1) as Req;
    let worst = running[0] as Req;
    for (const r of running) if (before(worst, r)) worst = r;
    return worst;
  }

  function finish(r: Req, reason: string): void {
    release(r);
    r.status = 'done';
    byId.delete(r.id);
    c.requestSuccess[reason] = (c.requestSuccess[reason] ?? 0) + 1;
  }

  return {
    params: p,
    add(input) {
      const promptLen = input.promptIds.length;
      if (promptLen === 0) return 'The decoder prompt cannot be empty';
      const total = promptLen + input.maxTokens;
      const limit = Math.min(p.maxModelLen, p.kvBlocks * bs);
      if (total > limit) {
        return `This model's maximum context length is ${limit} tokens. However, you requested ${total} tokens (${promptLen} in the messages, ${input.maxTokens} in the completion). Please reduce the length of the messages or completion.`;
      }
      if (byId.has(input.id)) throw new Error(`duplicate request id ${input.id}`);
      const r: Req = {
        id: input.id,
        promptLen,
        maxTokens: input.maxTokens,
        priority: input.priority ?? 0,
        arrival: input.arrival,
        seed: replySeed(input.promptIds),
        opensLine: replies.opensLine(input.promptIds[promptLen - 1] as number),
        tokens: input.promptIds.slice(),
        hashes: [],
        blocks: [],
        computed: 0,
        registered: 0,
        output: 0,
        status: 'waiting',
        remotePrefill: input.remotePrefill === true,
        preemptions: 0,
        cachedTokens: 0,
        lastTokenAt: input.arrival,
      };
      byId.set(r.id, r);
      enqueue(r, false);
      return null;
    },

    abort(id) {
      const r = byId.get(id);
      if (r === undefined) return false;
      if (r.status === 'waiting') waiting = waiting.filter((w) => w !== r);
      finish(r, 'abort');
      return true;
    },

    hasWork: () => running.length > 0 || waiting.length > 0,

    plan() {
      if (running.length === 0 && waiting.length === 0) return null;
      let budget = p.maxNumBatchedTokens;
      const batch: Scheduled[] = [];
      const work: StepWork = { prefillTokens: 0, prefillContextTokens: 0, decodeSeqs: 0, contextTokens: 0, transferTokens: 0 };
      let preempted = false;

      // 1. The running batch: one more token each for decoders, the next chunk for prefills in progress.
      let i = 0;
      while (i < running.length && budget > 0) {
        const r = running[i] as Req;
        const n = Math.min(r.tokens.length - r.computed, budget);
        let fits = true;
        for (;;) {
          const need = blocksFor(r.computed + n) - r.blocks.length;
          if (need <= 0) break;
          const got = kv.allocate(need);
          if (got !== null) {
            for (const b of got) r.blocks.push(b);
            break;
          }
          const v = victim();
          const at = running.indexOf(v);
          const scheduledAt = batch.findIndex((s) => s.req === v);
          if (scheduledAt >= 0) {
            budget += (batch[scheduledAt] as Scheduled).tokens;
            batch.splice(scheduledAt, 1);
          }
          preempt(v);
          preempted = true;
          if (v === r) {
            fits = false;
            break;
          }
          if (at < i) i--;
        }
        if (!fits) continue;
        registerFull(r, r.computed + n);
        batch.push({ req: r, tokens: n });
        budget -= n;
        i++;
      }

      // 2. Waiting requests, in queue order, while the batch, the budget and the KV allow (never in a step
      // that had to preempt, as in vLLM).
      while (!preempted && waiting.length > 0 && budget > 0 && running.length < p.maxNumSeqs) {
        const r = waiting[0] as Req;
        const maxHitBlocks = Math.floor((r.tokens.length - 1) / bs); // the last token is always computed
        ensureHashes(r, maxHitBlocks);
        const hits = kv.match(r.hashes, maxHitBlocks);
        let computed = hits.length * bs;
        let transfer = 0;
        if (r.remotePrefill) {
          transfer = r.tokens.length - 1 - computed;
          computed = r.tokens.length - 1;
        }
        const n = Math.min(r.tokens.length - computed, budget);
        const need = blocksFor(computed + n) - hits.length;
        if (need + kv.countEvictable(hits) > kv.numFree()) break;
        kv.touch(hits);
        const fresh = kv.allocate(need) as number[];
        r.blocks = hits.concat(fresh);
        r.registered = hits.length;
        r.computed = computed;
        if (r.preemptions === 0) {
          // vLLM counts prefix-cache queries and hits in tokens (vllm:prefix_cache_*), preempted requests apart.
          c.prefixCacheQueries += r.tokens.length;
          c.prefixCacheHits += hits.length * bs;
          r.cachedTokens = hits.length * bs;
        }
        r.remotePrefill = false;
        work.transferTokens += transfer;
        registerFull(r, computed + n);
        waiting.shift();
        r.status = 'running';
        running.push(r);
        batch.push({ req: r, tokens: n });
        budget -= n;
      }

      if (batch.length === 0) return null;
      for (const s of batch) {
        const r = s.req;
        const decoding = s.tokens === 1 && r.output > 0 && r.computed === r.tokens.length - 1;
        if (decoding) {
          work.decodeSeqs++;
          work.contextTokens += r.computed;
        } else {
          // A prefill chunk attends over everything before it (cached prefix, earlier chunks) and itself.
          work.prefillTokens += s.tokens;
          work.prefillContextTokens += attendedContext(r.computed, s.tokens);
        }
      }
      return { durationMs: stepTimeMs(p, work), work, batch };
    },

    commit(plan, now) {
      c.steps++;
      c.busyMs += plan.durationMs;
      const events: TokenEvent[] = [];
      for (const s of plan.batch) {
        const r = s.req;
        if (r.status !== 'running') continue; // aborted during the step
        r.computed += s.tokens;
        if (r.computed < r.tokens.length) continue; // a prefill chunk; the prompt is not done yet
        const index = r.output;
        const token = replyToken(replies, r.seed, r.opensLine, index);
        r.tokens.push(token);
        r.output++;
        c.generationTokens++;
        const t = Math.max(now, r.arrival);
        if (index === 0) {
          c.promptTokens += r.promptLen;
          observe(c.ttft, (t - r.arrival) / 1000);
        } else {
          observe(c.itl, (t - r.lastTokenAt) / 1000);
        }
        r.lastTokenAt = t;
        const event: TokenEvent = { id: r.id, index, token, finish: null, cachedTokens: r.cachedTokens };
        if (r.output >= r.maxTokens) {
          event.finish = 'length';
          event.promptBlockIds = r.blocks.slice(0, Math.floor(r.promptLen / bs));
          observe(c.e2e, (t - r.arrival) / 1000);
          finish(r, 'length');
        }
        events.push(event);
      }
      return events;
    },

    resetPrefixCache(resetRunning) {
      // Last first, each to the front of the queue, so the batch requeues in its order (vLLM does the same).
      if (resetRunning) while (running.length > 0) preempt(running.at(-1) as Req);
      return kv.reset();
    },

    counters() {
      return {
        running: running.length,
        waiting: waiting.length,
        kvCacheUsage: kv.usage(),
        prefixCacheQueries: c.prefixCacheQueries,
        prefixCacheHits: c.prefixCacheHits,
        promptTokens: c.promptTokens,
        generationTokens: c.generationTokens,
        preemptions: c.preemptions,
        requestSuccess: { ...c.requestSuccess },
        ttft: c.ttft,
        itl: c.itl,
        e2e: c.e2e,
        steps: c.steps,
        busyMs: c.busyMs,
      };
    },
  };
}
