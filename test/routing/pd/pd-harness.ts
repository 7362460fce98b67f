// Test helper: a PD router (vLLM two-stage or SGLang-style) behind a tiny Bun.serve front, on a free port.
// The front does what the app's routes do (read the body once, parse JSON, build the ProxyRequest), so the PD
// routers are tested over real HTTP before the lead wires them into app.ts.
import { createCircuitBreaker } from '../../../src/core/circuit-breaker.ts';
import type { EndpointSpec } from '../../../src/core/endpoint.ts';
import { createRegistry, type EndpointRegistry } from '../../../src/core/registry.ts';
import { retryPolicy } from '../../../src/core/retry.ts';
import { parseJsonObject } from '../../../src/http/body.ts';
import { isRouterError } from '../../../src/wire/errors.ts';
import { requestIdSource } from '../../../src/http/request-id.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { createMetrics, type Metrics } from '../../../src/metrics/metrics.ts';
import type { KvConnector } from '../../../src/routing/pd/kv-transfer.ts';
import { createMooncakeBootstrap, type MooncakeBootstrap } from '../../../src/routing/pd/mooncake-bootstrap.ts';
import type { TransferMode } from '../../../src/routing/pd/registration-message.ts';
import { createPolicy } from '../../../src/policies/index.ts';
import type { PolicyName } from '../../../src/config/policy-names.ts';
import { createPdRouter, type PdOutcome, type PdRecorder } from '../../../src/routing/pd/vllm-pd.ts';
import { createSglangPdRouter } from '../../../src/routing/pd/sglang-pd.ts';
import { createEndpointStats } from '../../../src/signals/endpoint-stats.ts';

export type RecordedEvent =
  | { type: 'legStarted' | 'legFailed'; stage: 'prefill' | 'decode'; worker: string }
  | { type: 'prefillDone' | 'decodeFirstToken'; worker: string; seconds: number }
  | { type: 'streamError'; worker: string }
  | { type: 'retried'; stage: 'prefill' | 'decode' }
  | { type: 'finished'; route: string; outcome: PdOutcome; seconds: number; decodeWorker: string | undefined };

/** A PdRecorder that keeps every call, for assertions. */
export function recordingPd(): PdRecorder & { readonly events: RecordedEvent[]; outcomes(): PdOutcome[] } {
  const events: RecordedEvent[] = [];
  return {
    events,
    outcomes: () => events.flatMap((e) => (e.type === 'finished' ? [e.outcome] : [])),
    legStarted: (stage, worker) => events.push({ type: 'legStarted', stage, worker }),
    legFailed: (stage, worker) => events.push({ type: 'legFailed', stage, worker }),
    prefillDone: (worker, seconds) => events.push({ type: 'prefillDone', worker, seconds }),
    decodeFirstToken: (worker, seconds) => events.push({ type: 'decodeFirstToken', worker, seconds }),
    streamError: (worker) => events.push({ type: 'streamError', worker }),
    retried: (stage) => events.push({ type: 'retried', stage }),
    finished: (route, outcome, seconds, decodeWorker) => events.push({ type: 'finished', route, outcome, seconds, decodeWorker }),
  };
}

const INFERENCE_ROUTES = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/generate', '/v1/rerank', '/rerank', '/v1/responses']);

export interface PdHarnessOptions {
  readonly mode?: 'vllm' | 'sglang';
  readonly prefill: readonly Omit<EndpointSpec, 'role'>[];
  readonly decode: readonly Omit<EndpointSpec, 'role'>[];
  readonly connector?: KvConnector;
  readonly policy?: PolicyName;
  readonly maxAttempts?: number;
  readonly apiKey?: string;
  readonly requestTimeoutMs?: number;
  readonly moriio?: { mode: TransferMode | undefined; dpSize: number };
  /** Circuit breakers that open after this many failures (default: effectively never). */
  readonly breakerThreshold?: number;
  /** --max-buffered-response-size (default: the router's). */
  readonly maxAnswerBytes?: number;
}

export interface PdHarness extends AsyncDisposable {
  readonly url: string;
  readonly registry: EndpointRegistry;
  readonly metrics: Metrics;
  readonly pd: ReturnType<typeof recordingPd>;
  readonly mooncake: MooncakeBootstrap;
  readonly logs: string[];
  /** onSettled calls per router request id: each must be exactly 1 once the response is over. */
  readonly settled: Map<string, number>;
}

export async function startPdTestServer(options: PdHarnessOptions): Promise<PdHarness> {
  const now = () => performance.now();
  const registry = createRegistry({
    breaker: () =>
      createCircuitBreaker({ failureThreshold: options.breakerThreshold ?? 1000, successThreshold: 1, timeoutMs: 60_000, windowMs: 60_000, halfOpenMaxProbes: 1 }, { now }),
  });
  for (const spec of options.prefill) registry.add({ ...spec, role: 'prefill' });
  for (const spec of options.decode) registry.add({ ...spec, role: 'decode' });
  const metrics = createMetrics();
  const logs: string[] = [];
  const log = createLogger({ level: 'debug', json: true, write: (l) => logs.push(l) });
  const pd = recordingPd();
  const policyDeps = { random: Math.random, now: () => Date.now(), options: { cacheThreshold: 0.5, balanceAbsThreshold: 32, balanceRelThreshold: 1.1, evictionIntervalSecs: 60, maxTreeSize: 1000 } };
  const policy = (): NonNullable<ReturnType<typeof createPolicy>> => {
    const p = createPolicy(options.policy ?? 'round_robin', policyDeps);
    if (p === undefined) throw new Error('policy not implemented');
    return p;
  };
  const retry = retryPolicy({ maxAttempts: options.maxAttempts ?? 3, initialBackoffMs: 1, maxBackoffMs: 5, multiplier: 2, jitter: 0 });
  const mooncake = createMooncakeBootstrap({ attempts: 3, initialBackoffMs: 10, maxBackoffMs: 20, maxWaitMs: 2000 });
  const common = {
    registry,
    prefillPolicy: policy(),
    decodePolicy: policy(),
    metrics,
    pd,
    log,
    now,
    random: Math.random,
    retry,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    apiKey: options.apiKey,
    maxAnswerBytes: options.maxAnswerBytes,
    stats: createEndpointStats(),
    modelLabel: (m: string | undefined) => m ?? 'unknown',
  };
  const moriio = options.moriio;
  const router =
    options.mode === 'sglang'
      ? createSglangPdRouter(common)
      : createPdRouter({
          ...common,
          connector: options.connector ?? 'nixl',
          mooncake,
          moriio: moriio === undefined ? undefined : { transferMode: () => moriio.mode, dpSize: moriio.dpSize },
        });
  const settled = new Map<string, number>();

  const ids = requestIdSource(Math.random);
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    idleTimeout: 0,
    async fetch(request) {
      const url = new URL(request.url);
      const route = INFERENCE_ROUTES.has(url.pathname) ? url.pathname : 'fallback';
      const requestId = request.headers.get('x-request-id') ?? ids(url.pathname);
      const startedAt = now();
      let bytes: Uint8Array | null = null;
      let json: Record<string, unknown> | undefined;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        bytes = new Uint8Array(await request.arrayBuffer());
        const parsed = bytes.byteLength > 0 ? parseJsonObject(bytes) : undefined;
        if (parsed !== undefined && !isRouterError(parsed)) json = parsed;
      }
      settled.set(requestId, 0);
      const res = await router.route({
        route,
        upstreamPath: url.pathname + url.search,
        method: request.method,
        headers: request.headers,
        bytes,
        json,
        requestId,
        clientSignal: request.signal,
        startedAt,
        onSettled: () => settled.set(requestId, (settled.get(requestId) ?? 0) + 1),
      });
      return res;
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    registry,
    metrics,
    pd,
    mooncake,
    logs,
    settled,
    async [Symbol.asyncDispose]() {
      mooncake[Symbol.dispose]();
      await server.stop(true);
    },
  };
}
