// Replays a workload open-loop against a URL and times every request from the SSE bytes it receives:
// TTFT (first content token), the gaps between tokens, end-to-end latency, whether its SLA was met, and its
// stream QoE (the router's own Andes measure, src/stats/stream-qoe.ts, fed with the arrivals the client saw).
// With several router replicas the requests go to them in turn (or each session to one replica).
import { createStreamQoe, type StreamQoe } from '../../src/signals/stream-qoe.ts';
import { createReplicaPicker } from './replicas.ts';
import { qoeExpectationOf, type SimRequestSpec } from './workloads.ts';

export interface RequestResult {
  seq: number;
  cls: SimRequestSpec['cls'];
  /** Scheduled send time and actual send time, ms from the start of the replay. */
  at: number;
  sentAt: number;
  /** 'ok', an HTTP status, an in-band stream error, a transport error, cut off at the drain deadline, or (a
   * closed-loop session's turn) never sent: the deadline came first or an earlier turn of its session failed. */
  outcome: 'ok' | 'http_error' | 'stream_error' | 'transport_error' | 'timeout' | 'not_sent';
  detail: string | null;
  ttftMs: number | null;
  /** Gaps between consecutive content tokens, ms (tokens that arrive in one read have a gap of ~0). */
  itlMs: number[];
  e2eMs: number | null;
  /** Mean time per output token after the first (TPOT), ms. */
  tpotMs: number | null;
  tokens: number;
  /** From the final usage chunk. */
  promptTokens: number | null;
  slaMet: boolean;
  /**
   * Andes stream QoE in [0, 1] against the class's expectation (qoeExpectationOf): 1 when no token came
   * later than the user expected. 0 for a request that did not complete (error, cut off at the deadline):
   * its user never got the whole answer, and the score of a partial timeline would only judge what arrived.
   */
  qoe: number;
  /** The router's `x-served-by`: the endpoint that answered (in P/D mode "prefill, decode"). */
  servedBy: string | null;
  /** Which of the replay's targets (router replicas) it was sent to; null when not sent. */
  replica: number | null;
  /** Seconds since the replay started when the last byte arrived. */
  doneAt: number | null;
}

export interface ReplayOptions {
  /** After the last scheduled send, how long in-flight requests may still run before they are cut off. */
  drainMs: number;
  onProgress?: (done: number, total: number) => void;
  /** With several targets: send every request of a session to one of them (sessions spread in turn by first
   * appearance) instead of each request to the next target. Requests without a session go in turn either way. */
  pinSessions?: boolean;
}

export interface Replay {
  results: RequestResult[];
  /** Wall time from the first scheduled send to the last completion, ms. */
  spanMs: number;
}

export function blankResult(spec: Pick<SimRequestSpec, 'seq' | 'cls' | 'at'>, sentAt: number): RequestResult {
  return { seq: spec.seq, cls: spec.cls, at: spec.at, sentAt, outcome: 'timeout', detail: null, ttftMs: null, itlMs: [], e2eMs: null, tpotMs: null, tokens: 0, promptTokens: null, slaMet: false, qoe: 0, servedBy: null, replica: null, doneAt: null };
}

/** Reads one SSE response, filling `r` as events arrive; the content pieces go to `reply` when given. */
async function readStream(res: Response, r: RequestResult, start: number, t0: number, qoe: StreamQoe, reply: string[] | undefined): Promise<void> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let first = 0;
  let last = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const now = performance.now();
    buffer += decoder.decode(value, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      if (!event.startsWith('data: ')) continue;
      const data = event.slice(6);
      if (data === '[DONE]') {
        r.doneAt = (now - t0) / 1000;
        if (r.outcome === 'timeout') r.outcome = 'ok';
        continue;
      }
      const chunk = JSON.parse(data) as { error?: { message?: string }; choices?: { delta?: { content?: string }; text?: string }[]; usage?: { prompt_tokens?: number } };
      if (chunk.error) {
        r.outcome = 'stream_error';
        r.detail = chunk.error.message ?? 'stream error';
        continue;
      }
      if (chunk.usage?.prompt_tokens !== undefined && chunk.choices?.length === 0) r.promptTokens = chunk.usage.prompt_tokens;
      const choice = chunk.choices?.[0];
      const text = choice?.delta?.content ?? choice?.text;
      if (text === undefined || text === '') continue; // the role chunk, or the usage chunk
      reply?.push(text);
      if (r.tokens === 0) {
        first = now;
        r.ttftMs = now - start;
      } else {
        r.itlMs.push(now - last);
      }
      last = now;
      r.tokens++;
      qoe.tokens(now - start);
    }
  }
  if (r.tokens > 0) {
    r.e2eMs = last - start;
    r.tpotMs = r.tokens > 1 ? (last - first) / (r.tokens - 1) : 0;
  }
}

/**
 * Sends one request to `url` and fills `r` (a blankResult: a timeout until it completes) from its response:
 * outcome, timings, QoE, SLA. With `reply`, also collects the content text as it arrived (a closed-loop client
 * sends it back in the next turn).
 */
export async function sendRequest(url: string, spec: SimRequestSpec, r: RequestResult, t0: number, signal: AbortSignal, reply?: string[]): Promise<void> {
  const start = performance.now();
  r.sentAt = start - t0;
  try {
    const res = await fetch(`${url}${spec.path}`, { method: 'POST', headers: spec.headers, body: spec.body, signal });
    r.servedBy = res.headers.get('x-served-by');
    if (!res.ok) {
      r.outcome = 'http_error';
      r.detail = `${res.status} ${(await res.text()).slice(0, 200)}`;
    } else {
      const qoe = createStreamQoe(qoeExpectationOf(spec.sla));
      await readStream(res, r, start, t0, qoe, reply);
      if (r.outcome === 'timeout' && !signal.aborted) {
        r.outcome = 'transport_error';
        r.detail = 'stream ended without [DONE]';
      }
      if (r.outcome === 'ok') r.qoe = qoe.finish() ?? 0;
    }
  } catch (err) {
    if (!signal.aborted) {
      r.outcome = 'transport_error';
      r.detail = String(err);
    }
  } finally {
    r.slaMet = r.outcome === 'ok' && r.ttftMs !== null && r.ttftMs <= spec.sla.ttftMs && (r.tpotMs ?? 0) <= spec.sla.tpotMs;
  }
}

/** The bookkeeping every replay shares: the start time, the requests in flight (aborted at the deadline), the
 * count of finished requests, and the time of the last completion. */
export interface ReplayRun {
  readonly t0: number;
  /** Runs `send` with an abort signal that fires at the deadline; counts it finished when it settles. */
  track(send: (signal: AbortSignal) => Promise<void>): Promise<void>;
  /** Counts a request that will never be sent as finished. */
  skip(): void;
  /** Resolves once every request finished or `deadlineMs` (from t0) passed; then aborts what still runs. */
  end(deadlineMs: number): Promise<number>;
}

export function createReplayRun(total: number, onProgress: ReplayOptions['onProgress']): ReplayRun {
  const t0 = performance.now();
  const controllers = new Set<AbortController>();
  let done = 0;
  let lastDone = 0;
  let allDone: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    allDone = resolve;
  });
  const count = (): void => {
    done++;
    onProgress?.(done, total);
    if (done === total) allDone();
  };
  if (total === 0) allDone();
  return {
    t0,
    async track(send) {
      const ctrl = new AbortController();
      controllers.add(ctrl);
      try {
        await send(ctrl.signal);
      } finally {
        controllers.delete(ctrl);
        lastDone = Math.max(lastDone, performance.now() - t0);
        count();
      }
    },
    skip: count,
    async end(deadlineMs) {
      let deadline: Timer | undefined;
      const cutOff = new Promise<void>((resolve) => {
        deadline = setTimeout(resolve, Math.max(0, deadlineMs - (performance.now() - t0)));
      });
      await Promise.race([finished, cutOff]);
      clearTimeout(deadline);
      // Requests still running at the deadline count as timed out (and as SLA misses).
      for (const c of controllers) c.abort();
      return lastDone;
    },
  };
}

/** Replays `specs` open-loop: each is sent at its `at`, whatever the latency of those before it. */
export async function replay(targets: string | readonly string[], specs: readonly SimRequestSpec[], o: ReplayOptions): Promise<Replay> {
  const urls = typeof targets === 'string' ? [targets] : targets;
  const pick = createReplicaPicker(urls.length, o.pinSessions === true);
  const results: RequestResult[] = specs.map((s) => blankResult(s, Number.NaN));
  const run = createReplayRun(specs.length, o.onProgress);
  const send = (spec: SimRequestSpec): void => {
    const r = results[spec.seq] as RequestResult;
    r.replica = pick(spec.session);
    void run.track((signal) => sendRequest(urls[r.replica as number] as string, spec, r, run.t0, signal));
  };
  const timers = specs.map((spec) => setTimeout(() => send(spec), Math.max(0, spec.at - (performance.now() - run.t0))));
  const lastAt = specs.length === 0 ? 0 : (specs.at(-1) as SimRequestSpec).at;
  const spanMs = await run.end(lastAt + o.drainMs);
  for (const t of timers) clearTimeout(t);
  return { results, spanMs };
}
