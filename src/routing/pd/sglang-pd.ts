// The older SGLang-style PD mode (--pd-disaggregation): the same body goes to a prefill and a decode endpoint
// at once, with bootstrap_host, bootstrap_port and a random bootstrap_room so the decode engine finds the KV;
// the decode answer is returned and the prefill answer drained.
//
// Rust ≤ v0.1.14 `pd_router.rs` (src/routers/http/pd_router.rs at v0.1.14), with these choices:
// - a prefill that fails before decode has answered ends the request with the prefill's error (naming the
//   endpoint), instead of leaving the client waiting on a decode engine that will never get its KV; the pair
//   is then retried, with a new room, while attempts remain (as Rust's retry executor does per attempt);
// - `return_logprob` (non-streaming) waits for both legs and merges `meta_info.input_token_logprobs`;
//   streams are passed through unchanged (Rust also rewrites stream chunks);
// - a flat token-id `prompt`/`input_ids` is one prompt, not a batch (Rust counts its tokens as prompts);
// - client-supplied bootstrap_* and kv_transfer_params are dropped: the router alone says where KV lives.
import { sleep, type RetryPolicy } from '../../core/retry.ts';
import { isRouterError, routerError, type RouterError } from '../../wire/errors.ts';
import { mergeLogprobs } from './logprobs-merge.ts';
import { abortedError, describeFailure, endedBy, failLeg, pickAndClaim, refuse, relayDecode, sendLeg, startRun, type PdDeps, type Run } from './pd-legs.ts';
import { createPdRouter, isTwoStage } from './vllm-pd.ts';
import { closeLeg, legHeaders, type Leg } from '../leg.ts';
import type { Router } from '../router.ts';
import { drainAnswer, readAnswer } from '../read-answer.ts';
import { DEFAULT_MAX_ANSWER_BYTES } from '../../net/body-limits.ts';
import type { Logger } from '../../log/logger.ts';

export interface SglangPdRouterDeps extends PdDeps {
  /** Attempts per request (a new pair each time) and backoff: the regular router's policy. */
  readonly retry: RetryPolicy;
  /** Uniform in [0, 1): bootstrap rooms, backoff jitter. */
  readonly random: () => number;
}

type Json = Record<string, unknown>;

const isTokenIds = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'number');

/** How many sequences the request asks for when it is a batch (arrays of bootstrap fields), else undefined. */
export function bootstrapBatchSize(body: Readonly<Json>): number | undefined | RouterError {
  if (typeof body.n === 'number' && Number.isInteger(body.n) && body.n > 1) return body.n;
  for (const key of ['prompt', 'text', 'input_ids'] as const) {
    const value = body[key];
    if (!Array.isArray(value) || (isTokenIds(value) && value.length > 0)) continue;
    if (value.length === 0) return routerError('invalid_body', `'${key}' is an empty batch`, { param: key });
    return value.length;
  }
  return undefined;
}

/** A random room in [0, 2^63 − 1] as decimal digits (beyond 2^53, so never a JS number). */
export function bootstrapRoom(random: () => number): string {
  const hi = BigInt(Math.floor(random() * 2 ** 31));
  const lo = BigInt(Math.floor(random() * 2 ** 32));
  return ((hi << 32n) | lo).toString();
}

/** The body both legs get: the client's, minus router-owned fields, plus the bootstrap fields (arrays for batches). */
export function withBootstrap(body: Readonly<Json>, prefill: { readonly url: string; readonly bootstrapPort: number | null }, random: () => number): string | RouterError {
  const batch = bootstrapBatchSize(body);
  if (isRouterError(batch)) return batch;
  const { bootstrap_host: _h, bootstrap_port: _p, bootstrap_room: _r, kv_transfer_params: _kv, ...rest } = body;
  const host = JSON.stringify(new URL(prefill.url).hostname);
  const port = prefill.bootstrapPort === null ? 'null' : String(prefill.bootstrapPort);
  const many = (value: () => string) => (batch === undefined ? value() : `[${Array.from({ length: batch }, value).join(',')}]`);
  // Rooms are written as digits into the JSON text: JSON.stringify cannot carry a 63-bit integer exactly.
  const fields = `"bootstrap_host":${many(() => host)},"bootstrap_port":${many(() => port)},"bootstrap_room":${many(() => bootstrapRoom(random))}`;
  const base = JSON.stringify(rest);
  return base === '{}' ? `{${fields}}` : `${base.slice(0, -1)},${fields}}`;
}

/** How the prefill leg ended. */
type PrefillEnd = { readonly ok: true; readonly json: Json | undefined } | { readonly ok: false; readonly error: RouterError };

export function createSglangPdRouter(deps: SglangPdRouterDeps): Router {
  const { pd, retry, log } = deps;
  const enc = new TextEncoder();
  const decoder = new TextDecoder();
  const maxAnswerBytes = deps.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;

  /** Runs the prefill leg to its end (body drained, or parsed when `parse`), with its accounting. */
  async function prefillLeg(leg: Leg, call: Promise<Response | RouterError>, signal: AbortSignal, parse: boolean): Promise<PrefillEnd> {
    const { endpoint } = leg;
    const fail = (error: RouterError, breakerSuccess = false): PrefillEnd => {
      // Aborted by the router or the client: not the endpoint's fault.
      failLeg(deps, leg, 'prefill', error, signal.aborted ? undefined : breakerSuccess);
      return { ok: false, error };
    };
    const upstream = await call;
    if (isRouterError(upstream)) return fail(routerError(upstream.kind, `Prefill endpoint ${endpoint.id} failed: ${upstream.message}`));
    const succeeded = (json: unknown): PrefillEnd => {
      closeLeg(deps, leg, { ok: true, verdict: true });
      pd.prefillDone(endpoint.id, (deps.now() - leg.sentAt) / 1000);
      return { ok: true, json: typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as Json) : undefined };
    };
    // The prefill runs the request as sent, stream included: an answer nobody reads is drained, not kept.
    if (upstream.ok && !parse) {
      const broken = await drainAnswer(upstream);
      return broken === undefined ? succeeded(undefined) : fail(routerError(broken.kind, `Prefill endpoint ${endpoint.id} ${broken.message}`));
    }
    const read = await readAnswer(upstream, maxAnswerBytes);
    // Too large is the request's size (logprobs of a long prompt), not the endpoint's fault.
    if (isRouterError(read)) return fail(routerError(read.kind, `Prefill endpoint ${endpoint.id} ${read.message}`), read.kind === 'upstream_too_large');
    const text = decoder.decode(read);
    if (!upstream.ok) {
      const { message, param } = describeFailure(text);
      return fail(routerError('upstream_error', `Prefill endpoint ${endpoint.id} answered ${upstream.status}: ${message}`, { status: upstream.status, param }), upstream.status < 500);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return succeeded(json);
  }

  /** One attempt with a fresh pair: the response for the client, or a failure that may be retried. */
  async function attempt(run: Run, last: boolean): Promise<Response | { readonly retry: RouterError; readonly outcome: 'prefill_error' | 'decode_error' }> {
    const prefill = pickAndClaim(deps, run, 'prefill');
    if (isRouterError(prefill)) return refuse(deps, run, 'no_endpoint', prefill);
    const decode = pickAndClaim(deps, run, 'decode');
    if (isRouterError(decode)) {
      closeLeg(deps, prefill, { ok: true, verdict: undefined });
      return refuse(deps, run, 'no_endpoint', decode);
    }
    const text = withBootstrap(run.body, prefill.endpoint, deps.random);
    if (isRouterError(text)) {
      for (const leg of [prefill, decode]) closeLeg(deps, leg, { ok: true, verdict: undefined });
      return refuse(deps, run, 'invalid_request', text);
    }
    const bytes = enc.encode(text);
    const waitForBoth = run.body.return_logprob === true && run.body.stream !== true;
    const legAborts = { prefill: new AbortController(), decode: new AbortController() };
    const signals = {
      // The prefill may still be draining after decode's answer ended (and the request deadline with it): its own limit.
      prefill: AbortSignal.any([run.abort.signal, legAborts.prefill.signal, AbortSignal.timeout(deps.requestTimeoutMs)]),
      decode: AbortSignal.any([run.abort.signal, legAborts.decode.signal]),
    };
    const send = (leg: Leg, stage: 'prefill' | 'decode', plainBody: boolean) =>
      sendLeg(deps, leg, {
        path: run.req.upstreamPath,
        method: 'POST',
        headers: legHeaders(deps, run.req.headers, leg, run.req.requestId, { rewritten: true, plainBody }),
        body: bytes,
        signal: signals[stage],
        timedOut: () => run.abort.timedOut,
      });
    const prefillEnd = prefillLeg(prefill, send(prefill, 'prefill', waitForBoth), signals.prefill, waitForBoth);
    const decodeCall = send(decode, 'decode', waitForBoth);
    // Decode answering first wins; a prefill failing first ends the attempt (its decode would wait for KV in vain).
    const prefillFailed = failureOf(prefillEnd);
    const first = waitForBoth ? await prefillEnd : await Promise.race([decodeCall, prefillFailed]);

    if (!(first instanceof Response) && !isRouterError(first) && !first.ok) {
      legAborts.decode.abort();
      const late = await decodeCall;
      if (!isRouterError(late)) await late.body?.cancel().catch(() => {});
      closeLeg(deps, decode, { ok: true, verdict: undefined });
      return { retry: first.error, outcome: 'prefill_error' };
    }
    const upstream = await decodeCall;
    if (isRouterError(upstream) || (!last && retry.isRetryableStatus(upstream.status))) {
      if (!isRouterError(upstream)) await upstream.body?.cancel().catch(() => {});
      legAborts.prefill.abort();
      const error = isRouterError(upstream) ? routerError(upstream.kind, `Decode endpoint ${decode.endpoint.id} failed: ${upstream.message}`) : routerError('upstream_error', `Decode endpoint ${decode.endpoint.id} answered ${upstream.status}`, { status: upstream.status });
      const ended = endedBy(run, isRouterError(upstream) ? upstream : undefined) !== undefined;
      failLeg(deps, decode, 'decode', error, ended ? undefined : !isRouterError(upstream) && upstream.status < 500);
      return { retry: error, outcome: 'decode_error' };
    }
    // A decode that refused the request will never pull the KV: stop the prefill's work.
    if (!upstream.ok) legAborts.prefill.abort();
    if (!waitForBoth) {
      warnOnLateFailure(log, prefillEnd, run.req.requestId, prefill.endpoint.id, legAborts.prefill.signal);
      return relayDecode(deps, run, decode, upstream);
    }
    const prefillJson = (first as PrefillEnd & { ok: true }).json;
    if (prefillJson === undefined || !upstream.ok) return relayDecode(deps, run, decode, upstream);
    const decodeBytes = await readAnswer(upstream, maxAnswerBytes);
    if (isRouterError(decodeBytes)) {
      closeLeg(deps, decode, { ok: false, verdict: decodeBytes.kind === 'upstream_too_large' ? undefined : false, error: decodeBytes.message });
      pd.legFailed('decode', decode.endpoint.id);
      return refuse(deps, run, endedBy(run) ?? 'decode_error', routerError(decodeBytes.kind, `Decode endpoint ${decode.endpoint.id} ${decodeBytes.message}`));
    }
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(decodeBytes));
    } catch {
      json = undefined;
    }
    const merged = typeof json === 'object' && json !== null && !Array.isArray(json) && mergeLogprobs(prefillJson, json as Json) ? JSON.stringify(json) : decodeBytes;
    return relayDecode(deps, run, decode, new Response(merged, { status: upstream.status, headers: upstream.headers }));
  }

  // Requests that are not generations (embeddings, tokenize, GETs) take one decode endpoint, as in vLLM PD
  // mode; that path does not look at the connector.
  const single = createPdRouter({ ...deps, connector: 'nixl' });

  return {
    async route(req) {
      if (!isTwoStage(req)) return single.route(req);
      const run = await startRun(deps, req);
      if (req.json === undefined) return refuse(deps, run, 'invalid_request', routerError('invalid_body', 'Prefill/decode routing needs a JSON object body'));
      for (let n = 0; ; n++) {
        if (n > 0) {
          pd.retried('prefill');
          if (!(await sleep(retry.backoffMs(n - 1, deps.random), run.abort.signal))) return refuse(deps, run, endedBy(run) ?? 'client_closed', abortedError(run, 'The PD pair'));
        }
        const result = await attempt(run, n + 1 >= retry.maxAttempts);
        if (result instanceof Response) return result;
        const ended = endedBy(run, result.retry);
        if (ended !== undefined) return refuse(deps, run, ended, ended === 'timeout' ? abortedError(run, 'The PD pair') : result.retry);
        const retryable = result.retry.status === undefined ? retry.isRetryableError(result.retry) : retry.isRetryableStatus(result.retry.status);
        if (!retryable || n + 1 >= retry.maxAttempts) return refuse(deps, run, result.outcome, result.retry);
        log.info('pd pair failed, trying another pair', { request_id: req.requestId, error: result.retry.message, attempt: n + 1 });
      }
    },
  };
}

// The prefill may still drain after the decode answer is under way. Closures made inside `attempt` would keep
// its whole scope alive until then (the request's body, JSON and re-serialised bytes), so these are made here.

/** Settles only when the prefill leg fails. */
const failureOf = (end: Promise<PrefillEnd>): Promise<PrefillEnd & { ok: false }> => end.then((e) => (e.ok ? new Promise<never>(() => {}) : e));

function warnOnLateFailure(log: Logger, end: Promise<PrefillEnd>, requestId: string, endpoint: string, aborted: AbortSignal): void {
  void end.then((e) => {
    if (!e.ok && !aborted.aborted) log.warn('pd prefill failed after decode answered', { request_id: requestId, endpoint, error: e.error.message });
  });
}
