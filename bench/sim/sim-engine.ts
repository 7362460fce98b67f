// A simulated vLLM engine on Bun.serve: vLLM's OpenAI API, SSE and /metrics, with every token timed by the
// engine model (bench/sim/engine-model.ts) stepping in real time, plus prefill/decode (NIXL-style) roles.
import {
  JSON_CONTENT_TYPE,
  METRICS_CONTENT_TYPE,
  NOT_FOUND_BODY,
  SSE_CONTENT_TYPE,
  SSE_DONE,
  chatCompletionBody,
  chatContentChunk,
  chatRoleChunk,
  completionBody,
  completionChunk,
  errorBody,
  errorSpec,
  loadBody,
  modelNotFoundError,
  modelsBody,
  nixlProducerParams,
  promFloat,
  renderMetrics,
  sseEvent,
  streamUsage,
  unsupportedMediaTypeError,
  usageChunk,
  usageInfo,
  validationError,
  versionBody,
  type ErrorSpec,
  type FinishReason,
} from '../../testkit/vllm-wire.ts';
import { createEngineLoop } from './engine-loop.ts';
import { createEngineModel, type EngineCounters, type EngineModel, type TokenEvent } from './engine-model.ts';
import { DEFAULT_ENGINE_PARAMS, type EngineParams } from './engine-params.ts';
import { checkHandoff, createHandoffLedger } from './handoff.ts';
import { startKvEventPublisher, type KvEventPublisher, type KvEventsSettings, type KvEventStats } from './kv-events/publisher.ts';
import { isRecord, parseGeneration, type GenRequest } from './sim-request.ts';
import { loadSimTokenizer, type SimTokenizer } from './sim-tokenizer.ts';

export type SimRole = 'both' | 'prefill' | 'decode';

export interface SimEngineOptions {
  model: string;
  /** The `engine` label on /metrics. */
  engineLabel: string;
  role: SimRole;
  params: Partial<EngineParams>;
  /** Output length of requests without max_tokens (they then end with finish_reason "stop"). */
  defaultMaxTokens: number;
  /** `--enable-force-include-usage`. */
  forceIncludeUsage: boolean;
  /** `--enable-prompt-tokens-details`: usage carries `cached_tokens` from the prefix cache. */
  promptTokensDetails: boolean;
  port: number;
  hostname: string;
  /** NIXL engine id a prefill engine reports. */
  engineId: string;
  /** vLLM's `--kv-events-config` and the encoding to speak; null: no KV events (nothing is built for them). */
  kvEvents: KvEventsSettings | null;
  /** vLLM's `--data-parallel-rank`: sent in each KV-event batch, and added to the event ports. */
  dataParallelRank: number;
  /** The tokenizer (default: the Llama 3.1 one, loaded at start; in-process engines can share one). */
  tokenizer?: SimTokenizer;
  /** Token ids its piece cache may hold when the engine loads its own tokenizer (0: tokenize every prompt whole). */
  tokenizerCacheTokens?: number;
}

export interface SimEngine extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  readonly model: EngineModel;
  /** The KV-event publisher's endpoints and counters; null when events are off. */
  kvEvents(): KvEventStats | null;
  counters(): EngineCounters;
  stop(): Promise<void>;
}

type Sink = (e: TokenEvent) => void;

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': JSON_CONTENT_TYPE } });
}
const errorResponse = (e: ErrorSpec): Response => json(errorBody(e), e.status);

/** The model as the loop drives it, publishing the KV events of each step once the step is applied (vLLM publishes
 * a step's events from Scheduler.update_from_output). */
function publishingSteps(model: EngineModel, publisher: KvEventPublisher): EngineModel {
  return {
    ...model,
    commit(plan, now) {
      const events = model.commit(plan, now);
      publisher.endStep();
      return events;
    },
  };
}

/** FastAPI's bool query parsing, as vLLM's routes get it: null for a value it would refuse with 422. */
function queryBool(value: string | null): boolean | null {
  if (value === null) return false;
  const v = value.toLowerCase();
  if (['1', 'true', 'on', 'yes', 't', 'y'].includes(v)) return true;
  if (['0', 'false', 'off', 'no', 'f', 'n'].includes(v)) return false;
  return null;
}

/** vLLM's core metrics (renderMetrics) plus the preemption counter. */
export function metricsText(o: Pick<SimEngineOptions, 'model' | 'engineLabel'>, c: EngineCounters, createdAt: number): string {
  const core = renderMetrics({ modelName: o.model, engine: o.engineLabel, ...c, createdAt });
  const labels = `{engine="${o.engineLabel}",model_name="${o.model}"}`;
  return `${core}# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.\n# TYPE vllm:num_preemptions_total counter\nvllm:num_preemptions_total${labels} ${promFloat(c.preemptions)}\n`;
}

export async function startSimEngine(start: Partial<SimEngineOptions> = {}): Promise<SimEngine> {
  const o: SimEngineOptions = {
    model: 'sim-model',
    engineLabel: '0',
    role: 'both',
    params: {},
    defaultMaxTokens: 128,
    forceIncludeUsage: false,
    promptTokensDetails: false,
    port: 0,
    hostname: '127.0.0.1',
    engineId: crypto.randomUUID(),
    kvEvents: null,
    dataParallelRank: 0,
    ...Object.fromEntries(Object.entries(start).filter(([, v]) => v !== undefined)),
  };
  const tokenizer = o.tokenizer ?? loadSimTokenizer({ cacheTokens: o.tokenizerCacheTokens });
  const publisher =
    o.kvEvents === null
      ? null
      : startKvEventPublisher({ ...o.kvEvents, blockSize: o.params.blockSize ?? DEFAULT_ENGINE_PARAMS.blockSize, dataParallelRank: o.dataParallelRank });
  const model = createEngineModel(o.params, tokenizer.replies, publisher ?? undefined);
  const p = model.params;
  const createdAt = Date.now() / 1000;
  const sinks = new Map<string, Sink>();
  const ledger = createHandoffLedger();
  let nextId = 0;
  let inFlight = 0;
  const loop = createEngineLoop(publisher === null ? model : publishingSteps(model, publisher), { now: () => performance.now(), set: (fn, ms) => setTimeout(fn, Math.max(0, ms)), clear: (h) => clearTimeout(h as Timer) }, (events) => {
    for (const e of events) sinks.get(e.id)?.(e);
  });
  let port = 0;
  const publicHost = o.hostname === '0.0.0.0' ? '127.0.0.1' : o.hostname;

  /** Adds the request to the model and feeds its tokens to `sink`; returns a cancel function or an error. */
  function submit(g: GenRequest, remotePrefill: boolean, sink: Sink): ErrorSpec | (() => void) {
    const id = String(++nextId);
    const err = model.add({ id, promptIds: g.promptIds, maxTokens: g.maxTokens, arrival: performance.now(), priority: g.priority, remotePrefill });
    if (err !== null) return errorSpec(400, err, 'max_tokens');
    inFlight++;
    sinks.set(id, (e) => {
      if (e.finish !== null) {
        sinks.delete(id);
        inFlight--;
      }
      sink(e);
    });
    loop.kick();
    return () => {
      if (sinks.delete(id)) {
        inFlight--;
        model.abort(id);
      }
    };
  }

  const finishReason = (g: GenRequest): FinishReason => (g.explicitMax ? 'length' : 'stop');
  /** A reply token's text carries its own leading space (none on a chat reply's first word, after "\n\n"). */
  const tokenText = (e: TokenEvent): string => tokenizer.replies.text(e.token);

  function producerParams(g: GenRequest, e: TokenEvent): unknown {
    const params = nixlProducerParams({ blockIds: e.promptBlockIds ?? [], engineId: o.engineId, requestId: g.responseId, host: publicHost, port, tpSize: 1 });
    ledger.put(g.responseId, { promptTokens: g.promptIds.length, params });
    return params;
  }

  function stream(g: GenRequest, remotePrefill: boolean): Response {
    const head = { id: g.responseId, created: g.created, model: g.model };
    const chat = g.api === 'chat';
    let cancel: (() => void) | null = null;
    let failed: ErrorSpec | null = null;
    const body = new ReadableStream<string>({
      start(controller) {
        const result = submit(g, remotePrefill, (e) => {
          const usage = g.usage.continuous ? { usage: streamUsage(g.promptIds.length, e.index + 1) } : {};
          const finish = e.finish === null ? null : finishReason(g);
          let out = '';
          if (chat && e.index === 0) out += sseEvent(chatRoleChunk({ ...head, index: 0, ...(g.usage.continuous ? { usage: streamUsage(g.promptIds.length, 0) } : {}) }));
          const text = tokenText(e);
          out += sseEvent(
            chat
              ? chatContentChunk({ ...head, index: 0, content: text, logprobs: null, finishReason: finish, stopReason: null, ...usage })
              : completionChunk({ ...head, index: 0, text, logprobs: null, finishReason: finish, stopReason: null, ...usage }),
          );
          if (finish !== null) {
            if (g.usage.include) {
              const cached = o.promptTokensDetails ? e.cachedTokens : null;
              out += sseEvent(usageChunk({ ...head, object: chat ? 'chat.completion.chunk' : 'text_completion' }, streamUsage(g.promptIds.length, e.index + 1, cached)));
            }
            out += SSE_DONE;
          }
          try {
            controller.enqueue(out);
            if (finish !== null) controller.close();
          } catch {
            // The client went away between the step and this write; cancel() has already dropped the request.
          }
        });
        if (typeof result === 'function') cancel = result;
        else failed = result;
      },
      cancel() {
        cancel?.();
      },
    });
    if (failed !== null) return errorResponse(failed);
    return new Response(body, { headers: { 'content-type': SSE_CONTENT_TYPE } });
  }

  function complete(g: GenRequest, remotePrefill: boolean, producer: boolean, signal: AbortSignal): Promise<Response> | Response {
    let text = '';
    let tokens = 0;
    return new Promise<Response>((resolve) => {
      const result = submit(g, remotePrefill, (e) => {
        text += tokenText(e);
        tokens++;
        if (e.finish === null) return;
        const cached = o.promptTokensDetails ? e.cachedTokens : null;
        const usage = usageInfo(g.promptIds.length, tokens, cached);
        const kv = producer ? producerParams(g, e) : null;
        const head = { id: g.responseId, created: g.created, model: g.model };
        const finish = producer ? 'length' : finishReason(g);
        resolve(
          json(
            g.api === 'chat'
              ? chatCompletionBody(head, [{ index: 0, content: text, finishReason: finish, stopReason: null, logprobs: null }], usage, null, kv)
              : completionBody(head, [{ index: 0, text, finishReason: finish, stopReason: null, logprobs: null, promptLogprobs: null }], usage, kv),
          ),
        );
      });
      if (typeof result !== 'function') return resolve(errorResponse(result));
      signal.addEventListener('abort', () => {
        result();
        resolve(new Response(null, { status: 499 }));
      });
    });
  }

  /** The request's JSON object, or vLLM's 400 for a body that is not one. */
  async function jsonObject(req: Request): Promise<Record<string, unknown> | Response> {
    let body: unknown;
    try {
      body = await req.json();
    } catch {
      return errorResponse(validationError('Invalid JSON body.'));
    }
    return isRecord(body) ? body : errorResponse(validationError('The body must be a JSON object.'));
  }

  async function generate(req: Request, path: string): Promise<Response> {
    if (!(req.headers.get('content-type') ?? '').toLowerCase().startsWith('application/json')) return errorResponse(unsupportedMediaTypeError());
    const body = await jsonObject(req);
    if (body instanceof Response) return body;
    const api = path === '/v1/chat/completions' ? 'chat' : 'completion';
    const g = parseGeneration(api, body, req.headers.get('x-request-id'), {
      model: o.model,
      maxModelLen: Math.min(p.maxModelLen, p.kvBlocks * p.blockSize),
      defaultMaxTokens: o.defaultMaxTokens,
      forceIncludeUsage: o.forceIncludeUsage,
      priorityScheduling: p.scheduling === 'priority',
      tokenizer,
    });
    if ('status' in g) return errorResponse(g);

    // Prefill role: a request marked do_remote_decode gets one token and the hand-off params (B.2).
    const producer = o.role === 'prefill' && g.kvParams?.do_remote_decode === true;
    if (producer) g.maxTokens = 1;
    // Decode role: only a hand-off the named prefill engine confirms lets a request skip its prefill.
    let remotePrefill = false;
    if (o.role === 'decode') {
      const rejected = await checkHandoff(g.kvParams, g.promptIds.length);
      if (rejected !== null) return errorResponse(errorSpec(400, `KV hand-off rejected by the decode engine: ${rejected}`, 'kv_transfer_params'));
      remotePrefill = true;
    }
    if (g.stream && !producer) return stream(g, remotePrefill);
    return complete(g, remotePrefill, producer, req.signal);
  }

  /**
   * vLLM's POST /reset_prefix_cache (vllm/entrypoints/serve/cache/api_router.py, VLLM_SERVER_DEV_MODE=1 there):
   * always 200 with an empty body, whether or not the reset happened. AllBlocksCleared goes out with the next
   * step's batch, as in vLLM, whose events are published from a step.
   */
  function resetPrefixCache(url: string, q: number): Response {
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const resetRunning = queryBool(query.get('reset_running_requests'));
    if (resetRunning === null || queryBool(query.get('reset_external')) === null) return errorResponse(validationError('Input should be a valid boolean, unable to interpret input'));
    model.resetPrefixCache(resetRunning);
    loop.kick();
    return new Response(null, { status: 200 });
  }

  /** vLLM's POST /tokenize: the ids the engine computes for a completion prompt or a chat (template applied). */
  async function tokenize(req: Request): Promise<Response> {
    const body = await jsonObject(req);
    if (body instanceof Response) return body;
    if (typeof body.model === 'string' && body.model !== o.model) return errorResponse(modelNotFoundError(body.model));
    const encoded = tokenizer.encodeRequest('messages' in body ? '/v1/chat/completions' : '/v1/completions', body);
    if (!encoded.ok) return errorResponse(validationError(encoded.error));
    return json({ count: encoded.ids.length, max_model_len: p.maxModelLen, tokens: encoded.ids, token_strs: null });
  }

  async function handle(req: Request): Promise<Response> {
    const url = req.url;
    const start = url.indexOf('/', url.indexOf('//') + 2);
    const q = url.indexOf('?', start);
    const path = q < 0 ? url.slice(start) : url.slice(start, q);
    if (req.method === 'POST' && (path === '/v1/chat/completions' || path === '/v1/completions')) return generate(req, path);
    if (req.method === 'POST' && path === '/reset_prefix_cache') return resetPrefixCache(url, q);
    if (req.method === 'POST' && path === '/tokenize') return tokenize(req);
    if (req.method === 'GET') {
      if (path === '/health') return new Response(null, { status: 200 });
      if (path === '/metrics') return new Response(metricsText(o, model.counters(), createdAt), { headers: { 'content-type': METRICS_CONTENT_TYPE } });
      if (path === '/v1/models') return json(modelsBody([{ id: o.model, root: o.model, parent: null, maxModelLen: p.maxModelLen }], Math.floor(Date.now() / 1000)));
      if (path === '/version') return json(versionBody('0.11.0-sim'));
      if (path === '/load') return json(loadBody(inFlight));
      if (path === '/_sim/stats') {
        const { ttft, itl, e2e, ...rest } = model.counters();
        return json({ ...rest, ttftCount: ttft.count, itlCount: itl.count, e2eCount: e2e.count, params: p, role: o.role, kvEvents: publisher?.stats() ?? null });
      }
    }
    if (path.startsWith('/_sim/handoff/')) return ledger.route(req.method, decodeURIComponent(path.slice('/_sim/handoff/'.length)));
    return json(NOT_FOUND_BODY, 404);
  }

  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({ port: o.port, hostname: o.hostname, idleTimeout: 0, fetch: handle });
  } catch (err) {
    await publisher?.close();
    throw err;
  }
  port = server.port as number;
  let stopped: Promise<void> | null = null;
  const engine: SimEngine = {
    url: `http://${publicHost}:${port}`,
    port,
    model,
    kvEvents: () => publisher?.stats() ?? null,
    counters: () => model.counters(),
    stop() {
      stopped ??= (async () => {
        loop.stop();
        await Promise.all([server.stop(true), publisher?.close()]);
      })();
      return stopped;
    },
    [Symbol.asyncDispose]() {
      return engine.stop();
    },
  };
  return engine;
}
