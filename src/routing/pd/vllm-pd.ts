// vLLM prefill/decode disaggregation: a prefill leg (max_tokens = 1) hands the prompt's KV to a decode leg,
// whose answer goes to the client unchanged.
//
// The Rust flow (src/routers/http/vllm_pd_router.rs) with what its users asked for:
// - a prefill that fails is retried on another prefill endpoint, a decode that fails before answering on
//   another decode endpoint (nothing has reached the client yet); attempts per stage are bounded by
//   `retry.maxAttempts`, and endpoints that just failed are skipped while others exist;
// - errors say which endpoint failed and keep their status: the prefill's own status, 502 when unreachable,
//   504 at the deadline; never an empty 200 (vLLM's proxy scripts drop failed legs silently);
// - the client leaving aborts whichever legs are in flight; each leg holds its endpoint's in-flight count
//   only while it runs; every outcome is counted.
// A decode retry keeps the request id and hand-off params: NIXL, Mooncake and MoRI-IO READ decode engines
// pull from the prefill engine, so any decode endpoint can take them. MoRI-IO WRITE (both legs at once, the
// prefill pushes into one decode engine) is not retried.
//
// The client gets the router's own request id in `x-request-id`; the P/D id is not added as a header. vLLM
// builds the response `id` from X-Request-Id (`chatcmpl-___prefill_addr_…`), so it is visible there, and the
// debug log ties the two together.
import type { Endpoint } from '../../core/endpoint.ts';
import { sleep, type RetryPolicy } from '../../core/retry.ts';
import { isRouterError, routerError, type RouterError } from '../../wire/errors.ts';
import { decodeKvParams, planKvTransfer, prefillKvParams, type KvConnector, type KvPlan, type PrefillOutput } from './kv-transfer.ts';
import { withKvParams } from './decode-body.ts';
import { mergeLogprobs, wantsLogprobMerge } from './logprobs-merge.ts';
import type { MooncakeBootstrap } from './mooncake-bootstrap.ts';
import { prefillRequest, prefillShapeOf } from './prefill-request.ts';
import type { TransferMode } from './registration-message.ts';
import { pdRequestId } from './request-id.ts';
import {
  abortedError,
  claim,
  describeFailure,
  endedBy,
  failLeg,
  pick,
  pickAndClaim,
  refuse,
  relayDecode,
  sendLeg,
  startRun,
  type PdDeps,
  type PdStage,
  type Run,
} from './pd-legs.ts';
import { closeLeg, legHeaders, type Leg } from '../leg.ts';
import { readAnswer } from '../read-answer.ts';
import { DEFAULT_MAX_ANSWER_BYTES } from '../../net/body-limits.ts';
import type { ProxyRequest, Router } from '../router.ts';

export { noopPdRecorder, pdRecorder, type PdMetricSet, type PdOutcome, type PdRecorder } from './pd-legs.ts';

export interface PdRouterDeps extends PdDeps {
  readonly connector: KvConnector;
  /** Required with the Mooncake connector. */
  readonly mooncake?: MooncakeBootstrap;
  /** Required with the MoRI-IO connector: the transfer mode the first registration fixed, and the DP size. */
  readonly moriio?: { transferMode(): TransferMode | undefined; readonly dpSize: number };
  /** Attempts per stage (`maxAttempts`), retryable statuses and errors, backoff: the regular router's policy. */
  readonly retry: RetryPolicy;
  /** Uniform in [0, 1): request ids, transfer ids, backoff jitter. */
  readonly random: () => number;
}

const GENERATION_ROUTES: ReadonlySet<string> = new Set(['/v1/chat/completions', '/v1/completions', '/generate', '/v1/responses']);

/** Generation requests take both legs; anything else (embeddings, rerank, tokenize, GETs) goes to one decode endpoint. */
export const isTwoStage = (req: Pick<ProxyRequest, 'route' | 'upstreamPath' | 'method'>): boolean =>
  req.method === 'POST' && (GENERATION_ROUTES.has(req.route) || req.upstreamPath.includes('inference/v1/generate'));

type Json = Record<string, unknown>;
type PrefillResult = { readonly ok: true; readonly json: Json; readonly output: PrefillOutput } | { readonly ok: false; readonly error: RouterError; readonly retryable: boolean };

const enc = new TextEncoder();
const decoder = new TextDecoder();
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function createPdRouter(deps: PdRouterDeps): Router {
  const { pd, retry, log } = deps;
  const maxAnswerBytes = deps.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
  if (deps.connector === 'mooncake' && deps.mooncake === undefined) throw new Error('createPdRouter: the Mooncake connector needs deps.mooncake');
  if (deps.connector === 'moriio' && deps.moriio === undefined) throw new Error('createPdRouter: the MoRI-IO connector needs deps.moriio');

  const planFor = (prefill: Endpoint): KvPlan | RouterError => {
    if (deps.connector !== 'moriio') return planKvTransfer(deps.connector, prefill, deps.random);
    const mode = deps.moriio?.transferMode();
    if (mode === undefined) return routerError('no_available_endpoints', 'MoRI-IO transfer mode is not known yet (no engine has registered)');
    return planKvTransfer('moriio', prefill, deps.random, { mode, dpSize: deps.moriio?.dpSize ?? 1 });
  };

  /** Waits out the backoff before retry `n`; false when the request ended meanwhile. */
  const backoff = (run: Run, stage: PdStage, n: number): Promise<boolean> => {
    pd.retried(stage);
    return sleep(retry.backoffMs(n - 1, deps.random), run.abort.signal);
  };

  /** Runs the prefill leg to its end, the leg closed with its verdict whatever happens. */
  async function prefillOnce(run: Run, leg: Leg, plan: KvPlan, xRequestId: string): Promise<PrefillResult> {
    const { endpoint } = leg;
    run.prefillId = endpoint.id;
    const failure = (error: RouterError, retryable: boolean, breakerSuccess = false): PrefillResult => {
      failLeg(deps, leg, 'prefill', error, breakerSuccess);
      return { ok: false, error, retryable };
    };
    // The request ended (client gone, deadline): not the endpoint's fault, so no outcome for its breaker.
    const ended = (): PrefillResult => {
      const error = abortedError(run, `Prefill endpoint ${endpoint.id}`);
      failLeg(deps, leg, 'prefill', error, undefined);
      return { ok: false, error, retryable: false };
    };
    let engineId: string | undefined;
    if (plan.connector === 'mooncake') {
      const id = await (deps.mooncake as MooncakeBootstrap).engineId(endpoint, run.abort.signal);
      if (run.abort.signal.aborted) return ended();
      if (isRouterError(id)) return failure(routerError(id.kind, `Prefill endpoint ${endpoint.id}: ${id.message}`), true);
      engineId = id;
    }
    // prefillRequest's object is already a copy: the connector's params go straight onto it.
    const body = prefillRequest(run.body, prefillShapeOf(run.req.upstreamPath));
    body.kv_transfer_params = prefillKvParams(plan);
    const upstream = await sendLeg(deps, leg, {
      path: run.req.upstreamPath,
      method: 'POST',
      headers: legHeaders(deps, run.req.headers, leg, xRequestId, { rewritten: true, plainBody: true }),
      body: enc.encode(JSON.stringify(body)),
      signal: run.abort.signal,
      timedOut: () => run.abort.timedOut,
    });
    if (isRouterError(upstream)) {
      if (run.abort.signal.aborted) return ended();
      if (plan.connector === 'mooncake') deps.mooncake?.forget(endpoint); // the engine may be restarting with a new id
      return failure(routerError(upstream.kind, `Prefill endpoint ${endpoint.id} failed: ${upstream.message}`), retry.isRetryableError(upstream));
    }
    const read = await readAnswer(upstream, maxAnswerBytes);
    if (isRouterError(read)) {
      if (run.abort.signal.aborted) return ended();
      const error = routerError(read.kind, `Prefill endpoint ${endpoint.id} ${read.message}`);
      if (read.kind !== 'upstream_too_large') return failure(error, true);
      // Too large for the router to take: not retried (another endpoint would answer this request alike)
      // and no outcome for the breaker (a long prompt with prompt_logprobs is not the endpoint's fault).
      closeLeg(deps, leg, { ok: false, verdict: undefined, error: error.message });
      pd.legFailed('prefill', endpoint.id);
      return { ok: false, error, retryable: false };
    }
    const text = decoder.decode(read);
    if (upstream.status < 200 || upstream.status > 299) {
      const { message, param } = describeFailure(text);
      // Its own status for the client (a 1xx/3xx, which no prefill should send, becomes a 502).
      const status = upstream.status >= 400 ? upstream.status : 502;
      const error = routerError('upstream_error', `Prefill endpoint ${endpoint.id} answered ${upstream.status}: ${message}`, { status, param });
      // A 4xx is the request's fault, not the endpoint's: a success for its breaker, as in the regular router.
      return failure(error, retry.isRetryableStatus(upstream.status), upstream.status < 500);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!isObject(json)) return failure(routerError('upstream_error', `Prefill endpoint ${endpoint.id} answered ${upstream.status} with a body that is not a JSON object`), true);
    closeLeg(deps, leg, { ok: true, verdict: true });
    pd.prefillDone(endpoint.id, (deps.now() - leg.sentAt) / 1000);
    return { ok: true, json, output: { kvTransferParams: json.kv_transfer_params, engineId } };
  }

  /** Stage 1 with retries: the prefill's answer and the id and plan that went with it, or the response that ends the request. */
  async function prefillStage(run: Run, decode: Endpoint): Promise<{ json: Json; output: PrefillOutput; xRequestId: string; plan: KvPlan } | Response> {
    for (let n = 0; ; n++) {
      if (n > 0 && !(await backoff(run, 'prefill', n))) return refuse(deps, run, endedBy(run) ?? 'client_closed', abortedError(run, 'The prefill stage'));
      const leg = pickAndClaim(deps, run, 'prefill');
      if (isRouterError(leg)) return refuse(deps, run, 'no_endpoint', leg);
      const plan = planFor(leg.endpoint);
      if (isRouterError(plan)) {
        closeLeg(deps, leg, { ok: true, verdict: undefined });
        return refuse(deps, run, 'no_endpoint', plan);
      }
      const xRequestId = pdRequestId(leg.endpoint.kvAddress, decode.kvAddress, deps.random);
      if (log.enabled('debug')) log.debug('pd prefill', { request_id: run.req.requestId, pd_request_id: xRequestId, prefill: leg.endpoint.id, decode: decode.id, attempt: n + 1 });
      const result = await prefillOnce(run, leg, plan, xRequestId);
      if (result.ok) return { json: result.json, output: result.output, xRequestId, plan };
      const ended = endedBy(run, result.error);
      if (ended !== undefined) return refuse(deps, run, ended, result.error);
      run.failed.prefill.add(leg.endpoint.id);
      if (!result.retryable || n + 1 >= retry.maxAttempts) return refuse(deps, run, 'prefill_error', result.error);
      log.info('pd prefill failed, trying another prefill endpoint', { request_id: run.req.requestId, endpoint: leg.endpoint.id, error: result.error.message, attempt: n + 1 });
    }
  }

  /**
   * Stage 2, retried on another decode endpoint while nothing has reached the client: sends `bytes` (starting
   * with `first`) and answers with the first usable response. `prefillJson` is set on the two-stage path.
   */
  async function decodeStage(run: Run, first: Endpoint, xRequestId: string, bytes: Uint8Array | null, rewritten: boolean, prefillJson?: Json): Promise<Response> {
    const { req } = run;
    const merge = prefillJson !== undefined && req.json?.stream !== true && wantsLogprobMerge(run.body);
    for (let n = 0; ; n++) {
      if (n > 0 && !(await backoff(run, 'decode', n))) return refuse(deps, run, endedBy(run) ?? 'client_closed', abortedError(run, 'The decode stage'));
      const leg = pickAndClaim(deps, run, 'decode', n === 0 ? first : undefined);
      if (isRouterError(leg)) return refuse(deps, run, 'no_endpoint', leg);
      const { endpoint } = leg;
      const last = n + 1 >= retry.maxAttempts;
      const upstream = await sendLeg(deps, leg, {
        path: req.upstreamPath,
        method: req.method,
        headers: legHeaders(deps, req.headers, leg, xRequestId, { rewritten, plainBody: merge }),
        body: bytes,
        signal: run.abort.signal,
        timedOut: () => run.abort.timedOut,
      });
      if (isRouterError(upstream)) {
        const ended = endedBy(run, upstream);
        if (ended !== undefined) {
          failLeg(deps, leg, 'decode', upstream, undefined);
          return refuse(deps, run, ended, ended === 'timeout' ? abortedError(run, `Decode endpoint ${endpoint.id}`) : upstream);
        }
        failLeg(deps, leg, 'decode', upstream, false);
        run.failed.decode.add(endpoint.id);
        if (!last && retry.isRetryableError(upstream)) continue;
        return refuse(deps, run, 'decode_error', routerError(upstream.kind, `Decode endpoint ${endpoint.id} failed: ${upstream.message}`));
      }
      // The client is looked for only every coarse tick while no answer has come: one gone already gets no answer.
      if (req.clientSignal.aborted) {
        await upstream.body?.cancel().catch(() => {});
        const gone = routerError('client_closed', 'Client closed the connection');
        failLeg(deps, leg, 'decode', gone, undefined);
        return refuse(deps, run, 'client_closed', gone);
      }
      if (!last && retry.isRetryableStatus(upstream.status)) {
        await upstream.body?.cancel().catch(() => {});
        failLeg(deps, leg, 'decode', routerError('upstream_error', `answered ${upstream.status}`, { status: upstream.status }), upstream.status < 500);
        run.failed.decode.add(endpoint.id);
        log.info('pd decode failed before answering, trying another decode endpoint', { request_id: req.requestId, endpoint: endpoint.id, status: upstream.status, attempt: n + 1 });
        continue;
      }
      const answer = merge && upstream.ok ? await withPrefillLogprobs(run, leg, upstream, prefillJson as Json) : upstream;
      if (isRouterError(answer)) return refuse(deps, run, endedBy(run, answer) ?? 'stream_error', answer);
      return relayDecode(deps, run, leg, answer);
    }
  }

  /** The decode body with the prefill's logprobs merged in (non-streaming answers, read whole up to the cap). */
  async function withPrefillLogprobs(run: Run, leg: Leg, upstream: Response, prefillJson: Json): Promise<Response | RouterError> {
    const bytes = await readAnswer(upstream, maxAnswerBytes);
    if (isRouterError(bytes)) {
      if (run.abort.signal.aborted) {
        const error = abortedError(run, `Decode endpoint ${leg.endpoint.id}`);
        failLeg(deps, leg, 'decode', error, undefined);
        return error;
      }
      const error = routerError(bytes.kind, `Decode endpoint ${leg.endpoint.id} ${bytes.message}`);
      // Too large is the request's size, not the endpoint's fault (see prefillOnce); a break-off is.
      if (bytes.kind === 'upstream_too_large') {
        closeLeg(deps, leg, { ok: false, verdict: undefined, error: error.message });
        pd.legFailed('decode', leg.endpoint.id);
      } else {
        closeLeg(deps, leg, { ok: false, verdict: false, error: error.message });
        pd.streamError(leg.endpoint.id);
      }
      return error;
    }
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(bytes));
    } catch {
      json = undefined;
    }
    const body = isObject(json) && mergeLogprobs(prefillJson, json) ? JSON.stringify(json) : bytes;
    return new Response(body, { status: upstream.status, headers: upstream.headers });
  }

  /** MoRI-IO WRITE: both legs at once, as Rust does (`tokio::join!`); a prefill failure aborts the decode leg. */
  async function concurrent(run: Run, decode: Endpoint): Promise<Response> {
    const prefill = pickAndClaim(deps, run, 'prefill');
    if (isRouterError(prefill)) return refuse(deps, run, 'no_endpoint', prefill);
    const decodeLeg = claim(deps, run, decode, 'decode');
    if (decodeLeg === undefined) {
      closeLeg(deps, prefill, { ok: true, verdict: undefined });
      return refuse(deps, run, 'no_endpoint', routerError('no_available_endpoints', `Decode endpoint ${decode.id} cannot take requests (circuit open)`));
    }
    const plan = planFor(prefill.endpoint) as KvPlan;
    const xRequestId = pdRequestId(prefill.endpoint.kvAddress, decode.kvAddress, deps.random);
    const decodeAbort = new AbortController();
    const decodeCall = sendLeg(deps, decodeLeg, {
      path: run.req.upstreamPath,
      method: 'POST',
      headers: legHeaders(deps, run.req.headers, decodeLeg, xRequestId, { rewritten: true }),
      body: enc.encode(JSON.stringify({ ...run.body, kv_transfer_params: decodeKvParams(plan, { kvTransferParams: undefined }) })),
      signal: AbortSignal.any([run.abort.signal, decodeAbort.signal]),
      timedOut: () => run.abort.timedOut,
    });
    const result = await prefillOnce(run, prefill, plan, xRequestId);
    if (!result.ok) {
      decodeAbort.abort();
      const upstream = await decodeCall;
      if (!isRouterError(upstream)) await upstream.body?.cancel().catch(() => {});
      closeLeg(deps, decodeLeg, { ok: true, verdict: undefined });
      return refuse(deps, run, endedBy(run, result.error) ?? 'prefill_error', result.error);
    }
    const upstream = await decodeCall;
    if (isRouterError(upstream)) {
      const ended = endedBy(run, upstream);
      failLeg(deps, decodeLeg, 'decode', upstream, ended === undefined ? false : undefined);
      return refuse(deps, run, ended ?? 'decode_error', routerError(upstream.kind, `Decode endpoint ${decode.id} failed: ${upstream.message}`));
    }
    return relayDecode(deps, run, decodeLeg, upstream);
  }

  async function twoStage(run: Run): Promise<Response> {
    // The decode endpoint is chosen first: its KV address is part of the id the prefill leg carries.
    const decode = pick(deps, run, 'decode');
    if (isRouterError(decode)) return refuse(deps, run, 'no_endpoint', decode);
    if (deps.connector === 'moriio' && deps.moriio?.transferMode() === 'WRITE') return concurrent(run, decode);
    const stage1 = await prefillStage(run, decode);
    if (stage1 instanceof Response) return stage1;
    const kv = decodeKvParams(stage1.plan, stage1.output);
    // The client's bytes go as they came when there is nothing to add or strip, and with the hand-off spliced
    // in when there is only something to add.
    const untouched = run.body === run.req.json;
    const bytes =
      kv === undefined && untouched
        ? run.req.bytes
        : ((untouched && run.req.bytes !== null ? withKvParams(run.req.bytes, kv) : undefined) ?? enc.encode(JSON.stringify(kv === undefined ? run.body : { ...run.body, kv_transfer_params: kv })));
    return decodeStage(run, decode, stage1.xRequestId, bytes, bytes !== run.req.bytes, stage1.json);
  }

  return {
    async route(req) {
      const run = await startRun(deps, req);
      if (!isTwoStage(req)) {
        const decode = pick(deps, run, 'decode');
        if (isRouterError(decode)) return refuse(deps, run, 'no_endpoint', decode);
        // Client kv_transfer_params never reach an engine, whatever the route.
        const stripped = req.json !== undefined && run.body !== req.json;
        return decodeStage(run, decode, req.requestId, stripped ? enc.encode(JSON.stringify(run.body)) : req.bytes, stripped);
      }
      if (req.json === undefined) return refuse(deps, run, 'invalid_request', routerError('invalid_body', 'Prefill/decode routing needs a JSON object body'));
      return twoStage(run);
    },
  };
}
