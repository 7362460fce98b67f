// Predicted TTFT and TPOT of one request at each candidate endpoint, from what is queued there, what its
// cache holds and how fast it has been:
//   TTFT = prefill line(work queued ahead + this request's uncached prompt tokens)
//   TPOT = decode plane(streams decoding there once it joins, prefill tokens sent there in the window)
// The work ahead is the router's own ledger of the prompts it sent there that have not had a first token
// (corrected upward by the router's in-prefill count and the engine's `vllm:num_requests_waiting`, which
// see requests the ledger does not: other policies, other router replicas). The lines are learned online
// (signals/endpoint-speed.ts) from each first token set against the work its request was sent behind, and
// each stream's inter-token time against the streams beside it, both when it ends and, while it still
// streams, from how far it has come (EndpointStats.live, read at most twice a second). Until an endpoint has
// a line, its own measurements stand in (the router's TTFT/ITL averages, else the engine's histogram windows
// from /metrics), and without those the other candidates' lines do.
import type { Endpoint } from '../../core/endpoint.ts';
import type { EngineSnapshot, LatencyWindow } from '../../signals/engine-metrics.ts';
import { createEndpointSpeed, lineAt, type EndpointSpeed, type Line, type Plane, type SpeedOptions } from '../../signals/endpoint-speed.ts';
import type { LegOutcome, LiveStream } from '../../signals/endpoint-stats.ts';
import type { PolicySignals, PredictionRecorder } from '../types.ts';
import type { PromptCache } from './prefix-affinity.ts';

/** Where an endpoint's line came from; `fleet` and `none` mean it was never measured (or that is forgotten). */
export type Basis = 'learned' | 'router' | 'engine' | 'fleet' | 'none';

export interface Prediction {
  /** Undefined only when nothing at all is known of any candidate's speed. */
  readonly ttftMs: number | undefined;
  readonly tpotMs: number | undefined;
  readonly ttftBasis: Basis;
  readonly tpotBasis: Basis;
  /** Prompt tokens its engine must prefill for this request. */
  readonly uncachedTokens: number;
  /** Prefill work queued ahead of it there, in tokens. */
  readonly aheadTokens: number;
  /** Streams decoding there once this one joins. */
  readonly streams: number;
  /** Engine time this request's own uncached prompt takes to prefill there (0 when not predicted): every stream
   * decoding beside it waits that long for a token, and every request queued behind it for its first. */
  readonly prefillMs: number;
  /** How much this request's prefill raises the time per token of each stream decoding beside it there, as the
   * endpoint's decode plane has learned it (0 when it has learned no prefill term). decide.ts still charges the
   * harm from `prefillMs`: charging this instead, or the larger of the two, lost chat SLA on the virtual fleet
   * (bench/README.md, issue #18). */
  readonly tpotHarmMs: number;
  /** Prefill tokens sent there in the recent window (decayed): what the streams there decode beside. */
  readonly prefillWindowTokens: number;
  /** Share of recent requests there that failed, 0..1; 0 when not measured. */
  readonly errorRate: number;
  /** Its learned prefill line just moved by more than a fifth: the engine is changing, measure it again soon. */
  readonly settling: boolean;
}

export interface LatencyPredictor {
  /** One prediction per endpoint, in order. */
  predict(endpoints: readonly Endpoint[], cache: PromptCache, now: number): Prediction[];
  /** The request was sent to `endpoint` with this prediction; a PD prefill stage answers whole (its time is its TTFT). */
  sent(endpoint: Endpoint, prediction: Prediction, stage: 'prefill' | 'decode' | undefined, now: number): void;
  /** Whether anything can measure an endpoint (otherwise probing one teaches nothing). */
  readonly learns: boolean;
  retain(ids: ReadonlySet<string>): void;
  dispose(): void;
}

export interface PredictorOptions {
  readonly signals: PolicySignals | undefined;
  readonly now: () => number;
  /** A router or engine measurement older than this (no request sent there since) is not evidence any more. */
  readonly latencyMemoryMs: number;
  readonly speed?: SpeedOptions;
  readonly recorder?: PredictionRecorder | undefined;
}

interface Job {
  /** This request's uncached tokens. */
  readonly tokens: number;
  /** Ahead + own: the x of its prefill sample. */
  readonly work: number;
  readonly predictedTtftMs: number | undefined;
  /** A PD prefill leg: its whole answer is its prefill. */
  readonly wholeIsPrefill: boolean;
  /** A PD decode leg's first token follows a KV transfer, not a prefill: it teaches the prefill line nothing. */
  readonly teaches: boolean;
}

interface Ledger {
  /** Sent, no first token yet, oldest first: engines prefill first come, first served (vLLM's FCFS scheduler). */
  readonly jobs: Job[];
  queuedTokens: number;
  /** Uncached tokens of the requests sent there, averaged (an unknown request ahead counts as one of these). */
  meanTokens: number | undefined;
  lastSentAt: number;
  /** Uncached prompt tokens sent there, decayed by PREFILL_WINDOW_HALF_LIFE_MS from `windowAt`. */
  window: number;
  windowAt: number;
  /** When its live streams were last read into the decode plane. */
  liveAt: number;
}

// Weight of the newest request in an endpoint's mean request size.
const MEAN_ALPHA = 0.1;
// Of a TTFT measured per request, the part that does not grow with the prompt (a decode step, the network):
// a guess until the endpoint's own line is learned, which fits that part from its samples.
const FIXED_SHARE = 0.1;
// A line whose newest sample moved it by more than this is still settling on a new speed.
const SETTLED_SHIFT = 0.2;
// A request costs its engine at least this much prefill, cached or not: vLLM computes the last prompt token
// again even on a full hit, and each request takes its turn in the scheduler. One block of vLLM's default size.
const MIN_PREFILL_TOKENS = 16;
// The window of prefill work a stream decodes beside: its weight halves over this long, about the life of a
// reply of 40–160 tokens at 30–80 ms a token. The window is what the router sent there, the x2 of the decode
// plane (signals/endpoint-speed.ts): a stream's time per token is learned against the window when it ends.
const PREFILL_WINDOW_HALF_LIFE_MS = 2_000;
// How often an endpoint's live streams are read into its decode plane, at most (only when a request is being
// placed): often enough that a pile-up shows within a second, seldom enough that each reading spans a few tokens
// of every stream.
const LIVE_READ_MS = 500;
// A reading counts as many samples as it spans tokens over this (a stream end is one sample of a reply's 40–160
// tokens). Weighing by tokens makes the plane learn time per token, not per reading: a reading inside one long
// prefill step spans few tokens at a long gap, and counted whole it raised the plane to 3× the inter-token time
// streams then measured at their ends (virtual fleet, mixed workload at 16 req/s).
const LIVE_TOKENS_PER_SAMPLE = 300;
// A reading starts an endpoint's plane (before any stream ended there) only across this many streams: the first
// stream alone, read in its first second, set planes of 20–80 ms on identical engines and moved long documents
// off their holders (virtual fleet, longdoc at 14 req/s: 95.8% of SLAs met against 99.0%).
const LIVE_STREAMS_TO_START = 2;

export function createLatencyPredictor(options: PredictorOptions): LatencyPredictor {
  const { signals, recorder } = options;
  const stats = signals?.endpointStats;
  const statsClock = signals?.statsClock ?? options.now;
  const speed: EndpointSpeed = createEndpointSpeed(options.speed);
  const ledgers = new Map<string, Ledger>();
  // Until the policy sends anywhere, what was measured before it started counts as recent.
  const sinceStart = options.now();
  // Without the router's events nothing pops the ledger, so it is not kept: in-flight counts stand in.
  const tracked = stats?.subscribe !== undefined;

  const ledgerOf = (id: string): Ledger => {
    let l = ledgers.get(id);
    if (l === undefined) {
      l = { jobs: [], queuedTokens: 0, meanTokens: undefined, lastSentAt: -Infinity, window: 0, windowAt: 0, liveAt: -Infinity };
      ledgers.set(id, l);
    }
    return l;
  };
  const popJob = (id: string): Job | undefined => {
    const l = ledgers.get(id);
    const job = l?.jobs.shift();
    if (l !== undefined && job !== undefined) l.queuedTokens = Math.max(0, l.queuedTokens - job.tokens);
    return job;
  };

  /** The prefill tokens sent to `id` in the window, as of `now`. */
  const windowOf = (id: string, now: number): number => {
    const l = ledgers.get(id);
    return l === undefined ? 0 : l.window * Math.pow(0.5, Math.max(0, now - l.windowAt) / PREFILL_WINDOW_HALF_LIFE_MS);
  };

  const engineOf = (id: string): EngineSnapshot | undefined => {
    const e = signals?.engineMetrics?.get(id);
    return e !== undefined && !e.stale ? e : undefined;
  };

  // Each live stream's gap count when it was last read, and when: the next reading counts what came since.
  const seen = new WeakMap<LiveStream, { gaps: number; at: number }>();
  /**
   * The time per token of the streams live at `id` since they were last read: their stream-time over the tokens
   * they sent in it (the open gap since a stream's latest token counts, so a stall shows while it lasts), as one
   * decode-plane sample at the streams there and the prefill window now. Streams end after 2–10 s, so their
   * end samples alone showed a pile-up only once it had happened (bench/README.md, issue #18).
   */
  const readLive = (id: string, l: Ledger, now: number): void => {
    const live = stats?.live?.(id);
    if (live === undefined || live.size === 0 || now - l.liveAt < LIVE_READ_MS) return;
    l.liveAt = now;
    let time = 0;
    let tokens = 0;
    let read = 0;
    for (const s of live) {
      if (s.firstAt === undefined) continue;
      const before = seen.get(s);
      const from = before?.at ?? s.firstAt;
      time += Math.max(0, now - from);
      tokens += s.gaps - (before?.gaps ?? 0);
      read++;
      seen.set(s, { gaps: s.gaps, at: now });
    }
    // A stream sends at least one token per reading it is credited with: a reading inside one long step (every
    // stream waiting through a prefill chunk) is a per-token time as long as the reading, not infinite.
    if (read === 0 || time <= 0) return;
    if (speed.decode(id) === undefined && read < LIVE_STREAMS_TO_START) return;
    const streams = Math.max(stats?.snapshot(id, statsClock()).inDecode ?? read, engineOf(id)?.running ?? 0);
    speed.decodeSample(id, streams, windowOf(id, now), time / Math.max(tokens, read), now, Math.max(tokens, read) / LIVE_TOKENS_PER_SAMPLE);
  };

  const unsubscribe = stats?.subscribe?.({
    firstByte(id, _ttftMs, sinceSentMs) {
      const job = popJob(id);
      if (job === undefined || !job.teaches) return;
      speed.prefillSample(id, job.work, sinceSentMs, options.now(), job.work <= job.tokens);
      if (job.predictedTtftMs !== undefined) recorder?.ttft(id, job.predictedTtftMs, sinceSentMs);
    },
    finished(id, outcome: LegOutcome) {
      const now = options.now();
      if (!outcome.sawFirstByte) {
        const job = popJob(id);
        if (job?.wholeIsPrefill && outcome.ok && outcome.elapsedMs !== undefined) {
          speed.prefillSample(id, job.work, outcome.elapsedMs, now, job.work <= job.tokens);
          if (job.predictedTtftMs !== undefined) recorder?.ttft(id, job.predictedTtftMs, outcome.elapsedMs);
        }
        return;
      }
      if (outcome.itlMs === undefined) return;
      // The streams beside it: those still decoding there, and itself.
      const streams = Math.max((stats?.snapshot(id, statsClock()).inDecode ?? 0) + 1, engineOf(id)?.running ?? 0);
      // Recorded as the line's one-step-ahead error (its prediction just before this sample): streams end in
      // any order, so an end cannot be matched to the prediction made when its request was sent.
      const w = windowOf(id, now);
      const before = speed.decode(id);
      if (before !== undefined) recorder?.tpot(id, tpotAt(before, streams, w, speed.prefill(id)?.perUnit ?? 0), outcome.itlMs);
      speed.decodeSample(id, streams, w, outcome.itlMs, now);
    },
  });

  /** An endpoint's own measurement as a line, when it has no learned one: the router's, else the engine's. */
  const ownLines = (e: Endpoint, now: number, l: Ledger | undefined, promptTokens: number) => {
    const snap = stats?.snapshot(e.id, statsClock());
    const engine = engineOf(e.id);
    // What the router measured is current only while it sends there (the ledger remembers when it last did).
    const recent = now - (l?.lastSentAt ?? sinceStart) <= options.latencyMemoryMs;
    const fresh = (w: LatencyWindow | undefined) => (w !== undefined && w.ageMs <= options.latencyMemoryMs ? w.meanMs : undefined);
    const perRequestTtft = recent ? snap?.ttftMs : undefined;
    const engineTtft = fresh(engine?.ttft);
    const routerItl = recent ? snap?.itlMs : undefined;
    const engineItl = fresh(engine?.itl);
    // A TTFT measured per request is the time of a request of the usual size there.
    const usual = Math.max(MIN_PREFILL_TOKENS, l?.meanTokens ?? promptTokens);
    const ttft = perRequestTtft ?? engineTtft;
    const itl = routerItl ?? engineItl;
    return {
      prefill: ttft === undefined ? undefined : { line: { fixed: FIXED_SHARE * ttft, perUnit: ((1 - FIXED_SHARE) * ttft) / usual, at: now, weight: 1, shift: 0 }, basis: (perRequestTtft !== undefined ? 'router' : 'engine') as Basis },
      decode: itl === undefined ? undefined : { line: { fixed: itl, perUnit: 0, perPrefill: 0, at: now, weight: 1, shift: 0 } as Plane, basis: (routerItl !== undefined ? 'router' : 'engine') as Basis },
      snap,
      engine,
      errorRate: recent && snap !== undefined && snap.completed > 0 ? snap.errorRate : 0,
    };
  };

  return {
    learns: tracked || signals?.engineMetrics !== undefined,

    predict(endpoints, cache, now) {
      const rows = endpoints.map((e) => {
        const l = ledgers.get(e.id);
        if (l !== undefined) readLive(e.id, l, now);
        const own = ownLines(e, now, l, cache.promptTokens);
        const learnedP = speed.prefill(e.id);
        const learnedD = speed.decode(e.id);
        const prefill = learnedP !== undefined ? { line: learnedP, basis: 'learned' as Basis } : own.prefill;
        const decode = learnedD !== undefined ? { line: learnedD, basis: 'learned' as Basis } : own.decode;
        const inPrefill = own.snap?.inPrefill ?? 0;
        if (l !== undefined && tracked) {
          // A request chosen but never sent (its breaker refused the leg) would otherwise wait there forever.
          while (l.jobs.length > inPrefill) popJob(e.id);
        }
        const uncached = Math.max(MIN_PREFILL_TOKENS, cache.promptTokens - cache.cachedTokens(e.id));
        const known = tracked ? (l?.jobs.length ?? 0) : 0;
        const requestsAhead = Math.max(tracked ? inPrefill : e.inFlight, own.engine?.waiting ?? 0);
        const mean = l?.meanTokens ?? uncached;
        const aheadTokens = (tracked ? (l?.queuedTokens ?? 0) : 0) + Math.max(0, requestsAhead - known) * mean;
        const decoding = own.snap?.inDecode ?? Math.max(0, e.inFlight - inPrefill);
        const streams = Math.max(decoding + inPrefill, (own.engine?.running ?? 0) + (own.engine?.waiting ?? 0)) + 1;
        return { prefill, decode, uncached, aheadTokens, streams, window: windowOf(e.id, now), errorRate: own.errorRate };
      });
      // An endpoint never measured is assumed as fast as the middle of the others: neither a favourite nor shunned.
      const fleetPrefill = median(rows.map((r) => r.prefill?.line), 1000);
      const fleetDecode = median(rows.map((r) => r.decode?.line), 4);
      return rows.map((r) => {
        const prefill = r.prefill ?? (fleetPrefill === undefined ? undefined : { line: fleetPrefill, basis: 'fleet' as Basis });
        const decode = r.decode ?? (fleetDecode === undefined ? undefined : { line: fleetDecode, basis: 'fleet' as Basis });
        // Bounded by physics: a prefill token costs its engine the prefill line's time per token, and no stream's
        // mean time per token can rise by more than that for it (all of it landing in one gap of a two-token reply).
        const bound = prefill?.line.perUnit ?? 0;
        const tpotMs = decode === undefined ? undefined : tpotAt(decode.line, r.streams, r.window, bound);
        return {
          ttftMs: prefill === undefined ? undefined : lineAt(prefill.line, r.aheadTokens + r.uncached),
          tpotMs,
          ttftBasis: prefill?.basis ?? 'none',
          tpotBasis: decode?.basis ?? 'none',
          uncachedTokens: r.uncached,
          aheadTokens: r.aheadTokens,
          streams: r.streams,
          prefillMs: prefill === undefined ? 0 : prefill.line.perUnit * r.uncached,
          tpotHarmMs: decode === undefined ? 0 : Math.min(decode.line.perPrefill, bound) * r.uncached,
          prefillWindowTokens: r.window,
          errorRate: r.errorRate,
          settling: prefill?.basis === 'learned' && prefill.line.shift > SETTLED_SHIFT,
        };
      });
    },

    sent(endpoint, prediction, stage, now) {
      const l = ledgerOf(endpoint.id);
      l.lastSentAt = now;
      const tokens = prediction.uncachedTokens;
      if (stage !== 'decode') {
        l.window = windowOf(endpoint.id, now) + tokens;
        l.windowAt = now;
      }
      l.meanTokens = l.meanTokens === undefined ? tokens : l.meanTokens + MEAN_ALPHA * (tokens - l.meanTokens);
      if (!tracked || stage === 'decode') {
        // A decode stage prefills nothing of its own (the KV cache arrives from the prefill engine); its first
        // token still pops a job, so one is kept in line with no work.
        if (tracked) l.jobs.push({ tokens: 0, work: 0, predictedTtftMs: undefined, wholeIsPrefill: false, teaches: false });
        return;
      }
      l.jobs.push({ tokens, work: prediction.aheadTokens + tokens, predictedTtftMs: prediction.ttftMs, wholeIsPrefill: stage === 'prefill', teaches: true });
      l.queuedTokens += tokens;
    },

    retain(ids) {
      for (const id of [...ledgers.keys()]) if (!ids.has(id)) ledgers.delete(id);
      for (const id of [...speed.ids()]) if (!ids.has(id)) speed.forget(id);
    },

    dispose() {
      unsubscribe?.();
    },
  };
}

/** Time per token at `streams` beside `window` prefill tokens; the prefill term held to `bound` ms per token (what a
 * token of prefill costs the engine, from its prefill line: no stream can lose more time to it than that). */
function tpotAt(plane: Plane, streams: number, window: number, bound: number): number {
  return plane.fixed + plane.perUnit * streams + Math.min(plane.perPrefill, bound) * window;
}

/** The line of median speed at a typical point `x` (a thousand tokens of prefill, a few streams). */
function median<L extends Line>(lines: readonly (L | undefined)[], x: number): L | undefined {
  const known = lines.filter((l): l is L => l !== undefined);
  if (known.length === 0) return undefined;
  known.sort((a, b) => lineAt(a, x) - lineAt(b, x));
  return known[(known.length - 1) >> 1];
}
