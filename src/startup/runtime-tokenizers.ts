// Run-time step: a VllmEngine gRPC endpoint that arrives after start-up (discovery, POST /workers, ZMQ) serving a
// model the router has no tokenizer for hands its tokenizer over GetTokenizer; it is added to every pool thread,
// then the model gets its OpenAI front. Until then (or when it failed) requests for that model get an answer
// naming it and why.
import { rm } from 'node:fs/promises';
import type { GrpcEngines } from '../grpc/engines.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { TokenizerPool } from '../pool/pool.ts';
import { resolveTokenizerFiles, type TokenizerFiles } from '../pool/tokenizer-files.ts';
import { BUNDLE_TIMEOUT_MS, fetchTokenizerBundle } from './engine-tokenizer.ts';

/** Models whose tokenizer the router takes at run time: each costs a vocabulary here and a tokenizer per pool thread. */
export const MAX_RUNTIME_TOKENIZERS = 16;
/** After a failure, the next try waits this long, doubling up to the cap (a broken bundle is not fetched each probe). */
const RETRY_FIRST_MS = 30_000;
const RETRY_CAP_MS = 10 * 60_000;

export type RuntimeTokenizerState =
  | { readonly state: 'loading'; readonly url: string }
  | { readonly state: 'failed'; readonly url: string; readonly error: string; readonly retryAt: number; readonly failures: number };

export interface RuntimeTokenizers {
  /**
   * Looks at a grpc:// endpoint (added, or just probed healthy) and fetches its model's tokenizer when none is held;
   * settles once that look is over (callers need not wait; it never rejects).
   */
  examine(url: string): Promise<void>;
  /** Why a model has no tokenizer yet, when one is being fetched or the last fetch failed. */
  stateOf(model: string): RuntimeTokenizerState | undefined;
  /** Forgets endpoints that left the fleet. */
  keepOnly(urls: ReadonlySet<string>): void;
}

interface Needs {
  readonly engines: GrpcEngines;
  readonly pool: TokenizerPool;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly timeoutMs: number;
  readonly now: () => number;
  /**
   * Loads the model's text side (vocabulary, defaults) from its files, before the pool add; throws when it does
   * not load. The front it returns is installed once every pool thread holds the tokenizer.
   */
  readonly prepareFront: (model: string, files: TokenizerFiles) => () => void;
}

export function runtimeTokenizers({ engines, pool, metrics, log, timeoutMs, now, prepareFront }: Needs): RuntimeTokenizers {
  const states = new Map<string, RuntimeTokenizerState>();
  /** Endpoints whose model is served (or that need no tokenizer): not looked at again. */
  const settled = new Set<string>();
  /** Endpoints being looked at now. */
  const looking = new Set<string>();
  let added = 0;

  const fail = (model: string, url: string, error: string): void => {
    const before = states.get(model);
    const failures = before?.state === 'failed' ? before.failures + 1 : 1;
    const wait = Math.min(RETRY_CAP_MS, RETRY_FIRST_MS * 2 ** (failures - 1));
    states.set(model, { state: 'failed', url, error, retryAt: now() + wait, failures });
    metrics.grpcTokenizerFetches.inc({ model, outcome: 'failed' });
    log.warn('no tokenizer for a model served by a gRPC endpoint: its requests to VllmEngine endpoints get 501 naming it', {
      model,
      endpoint: url,
      error,
      retry_in_s: Math.round(wait / 1000),
      fix: `--model-path ${model}=DIR or --tokenizer-path ${model}=PATH`,
    });
  };

  async function load(url: string, model: string): Promise<void> {
    if (added >= MAX_RUNTIME_TOKENIZERS) return fail(model, url, `the router already took ${MAX_RUNTIME_TOKENIZERS} tokenizers at run time, the most it takes`);
    states.set(model, { state: 'loading', url });
    const started = now();
    const bundle = await fetchTokenizerBundle(engines.of(url), model, BUNDLE_TIMEOUT_MS);
    if (!bundle.ok) return fail(model, url, bundle.error);
    const dropDir = () => rm(bundle.dir, { recursive: true, force: true }).catch(() => undefined);
    const files = resolveTokenizerFiles({ tokenizerPath: bundle.dir, item: `${model}=${bundle.dir}` });
    if (!files.ok || files.value === undefined) {
      await dropDir();
      return fail(model, url, files.ok ? 'no tokenizer files' : files.error);
    }
    let install: () => void;
    try {
      install = prepareFront(model, files.value);
    } catch (e) {
      await dropDir();
      return fail(model, url, (e as Error).message);
    }
    const inPool = await pool.addTokenizer(model, files.value);
    if (!inPool.ok) {
      await dropDir();
      return fail(model, url, inPool.error);
    }
    // Every pool thread holds it now: the front goes in before any other callback runs.
    install();
    added++;
    states.delete(model);
    metrics.grpcTokenizerFetches.inc({ model, outcome: 'loaded' });
    log.info('tokenizer fetched at run time from a gRPC engine (GetTokenizer)', {
      endpoint: url,
      model,
      dir: bundle.dir,
      files: bundle.files.join(','),
      sha256: bundle.sha256,
      template: inPool.value.info.templateSource,
      load_ms: Math.round(now() - started),
    });
  }

  async function look(url: string): Promise<void> {
    const engine = engines.of(url);
    const protocol = await engine.protocol(timeoutMs);
    // Not answering yet: looked at again after its next good probe.
    if (!protocol.ok) return;
    if (protocol.value !== 'vllm-engine') {
      // vllm.Inference has no GetTokenizer (and takes text): its front answers what it can.
      settled.add(url);
      return;
    }
    const info = await engine.modelInfo(timeoutMs);
    if (!info.ok || info.value.servedModelName === '') return;
    const model = info.value.servedModelName;
    if (pool.hasTokenizerFor(model)) {
      settled.add(url);
      return;
    }
    const state = states.get(model);
    if (state?.state === 'loading' || (state?.state === 'failed' && now() < state.retryAt)) return;
    try {
      await load(url, model);
    } catch (e) {
      fail(model, url, (e as Error).message);
    }
    if (pool.hasTokenizerFor(model)) settled.add(url);
  }

  return {
    examine(url) {
      if (settled.has(url) || looking.has(url) || pool.hasTokenizerFor(undefined)) return Promise.resolve();
      looking.add(url);
      return look(url)
        .catch((e: unknown) => log.warn('gRPC endpoint tokenizer check failed', { endpoint: url, error: (e as Error).message }))
        .finally(() => looking.delete(url));
    },
    stateOf: (model) => states.get(model),
    keepOnly(urls) {
      for (const url of settled) if (!urls.has(url)) settled.delete(url);
    },
  };
}
