// Replays a workload open-loop against a URL and times every request from the SSE bytes it receives:
// TTFT (first content token), the gaps between tokens, end-to-end latency, whether its SLA was met, and its
// stream QoE (the router's own Andes measure, src/stats/stream-qoe.ts, fed with the arrivals the client saw).
import { createStreamQoe, type StreamQoe } from '../../src/signals/stream-qoe.ts';
import { qoeExpectationOf, type SimRequestSpec } from './workloads.ts';

export interface RequestResult {
  seq: number;
  cls: SimRequestSpec['cls'];
  /** Scheduled send time and actual send time, ms from the start of the replay. */
  at: number;
  sentAt: number;
  /** 'ok', an HTTP status, an in-band stream error, a transport error, or cut off at the drain deadline. */
  outcome: 'ok' | 'http_error' | 'stream_error' | 'transport_error' | 'timeout';
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
  /** Seconds since the replay started when the last byte arrived. */
  doneAt: number | null;
}

export interface ReplayOptions {
  /** After the last scheduled send, how long in-flight requests may still run before they are cut off. */
  drainMs: number;
  onProgress?: (done: number, total: number) => void;
}

export interface Replay {
  results: RequestResult[];
  /** Wall time from the first scheduled send to the last completion, ms. */
  spanMs: number;
}

function blank(spec: SimRequestSpec, sentAt: number): RequestResult {
  return { seq: spec.seq, cls: spec.cls, at: spec.at, sentAt, outcome: 'timeout', detail: null, ttftMs: null, itlMs: [], e2eMs: null, tpotMs: null, tokens: 0, promptTokens: null, slaMet: false, qoe: 0, servedBy: null, doneAt: null };
}

/** Reads one SSE response, filling `r` as events arrive. */
async function readStream(res: Response, r: RequestResult, start: number, t0: number, qoe: StreamQoe): Promise<void> {
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

export async function replay(baseUrl: string, specs: readonly SimRequestSpec[], o: ReplayOptions): Promise<Replay> {
  const results: RequestResult[] = specs.map((s) => blank(s, Number.NaN));
  const controllers = new Set<AbortController>();
  let done = 0;
  let lastDone = 0;
  let allDone: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    allDone = resolve;
  });
  const t0 = performance.now();

  const send = async (spec: SimRequestSpec): Promise<void> => {
    const start = performance.now();
    const r = blank(spec, start - t0);
    results[spec.seq] = r;
    const ctrl = new AbortController();
    controllers.add(ctrl);
    try {
      const res = await fetch(`${baseUrl}${spec.path}`, { method: 'POST', headers: spec.headers, body: spec.body, signal: ctrl.signal });
      r.servedBy = res.headers.get('x-served-by');
      if (!res.ok) {
        r.outcome = 'http_error';
        r.detail = `${res.status} ${(await res.text()).slice(0, 200)}`;
      } else {
        const qoe = createStreamQoe(qoeExpectationOf(spec.sla));
        await readStream(res, r, start, t0, qoe);
        if (r.outcome === 'timeout' && !ctrl.signal.aborted) {
          r.outcome = 'transport_error';
          r.detail = 'stream ended without [DONE]';
        }
        if (r.outcome === 'ok') r.qoe = qoe.finish() ?? 0;
      }
    } catch (err) {
      if (!ctrl.signal.aborted) {
        r.outcome = 'transport_error';
        r.detail = String(err);
      }
    } finally {
      controllers.delete(ctrl);
      r.slaMet = r.outcome === 'ok' && r.ttftMs !== null && r.ttftMs <= spec.sla.ttftMs && (r.tpotMs ?? 0) <= spec.sla.tpotMs;
      lastDone = Math.max(lastDone, performance.now() - t0);
      done++;
      o.onProgress?.(done, specs.length);
      if (done === specs.length) allDone();
    }
  };

  const timers = specs.map((spec) => setTimeout(() => void send(spec), Math.max(0, spec.at - (performance.now() - t0))));
  if (specs.length === 0) allDone();
  const lastAt = specs.length === 0 ? 0 : (specs.at(-1) as SimRequestSpec).at;
  let deadline: Timer | undefined;
  const cutOff = new Promise<void>((resolve) => {
    deadline = setTimeout(resolve, lastAt + o.drainMs);
  });
  await Promise.race([finished, cutOff]);
  clearTimeout(deadline);
  for (const t of timers) clearTimeout(t);
  // Requests still running at the deadline count as timed out (and as SLA misses).
  for (const c of controllers) c.abort();
  return { results, spanMs: lastDone };
}
