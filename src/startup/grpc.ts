// Start-up step: the gRPC engine front: one client per grpc:// endpoint, each served model's text side (vocabulary,
// sampling defaults, reasoning split) read from its --model-path / --tokenizer-path, the upstream that makes a
// grpc:// endpoint answer OpenAI requests, its health probe and its loads.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { EndpointRegistry } from '../core/registry.ts';
import { createGrpcEngines, type GrpcEngines } from '../grpc/engines.ts';
import { isGrpcUrl } from '../grpc/grpc-url.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { TokenizerPool } from '../pool/pool.ts';
import type { TokenizerFiles } from '../pool/tokenizer-files.ts';
import { toolCallFormatOf } from '../text/tool-calls.ts';
import { createGrpcUpstream, GRPC_ROUTES, type GrpcUpstreamDeps } from '../routing/grpc/grpc-upstream.ts';
import { samplingDefaultsOf, type ModelText } from '../routing/grpc/model-text.ts';
import type { PromptTokens } from '../routing/regular.ts';
import { httpUpstream, type Upstream, type UpstreamCall, type UpstreamOf } from '../routing/upstream.ts';
import type { Reading } from '../signals/vllm-metrics.ts';
import { loadVocabulary } from '../text/vocabulary.ts';
import { routerError, type RouterError } from '../wire/errors.ts';
import { jobFromBody } from '../pool/protocol.ts';
import { ConfigProblem } from './config-problem.ts';
import { modelTokenizers } from './model-tokenizers.ts';
import { runtimeTokenizers, type RuntimeTokenizers } from './runtime-tokenizers.ts';

export interface GrpcFront extends Disposable {
  readonly engines: GrpcEngines;
  readonly upstreamOf: UpstreamOf;
  /** The health probe of a grpc:// URL: a reason when not healthy. */
  readonly probe: (url: string, timeoutMs: number) => Promise<string | undefined>;
  /** GetLoads of a grpc:// URL as an engine-metrics reading; undefined for an HTTP URL. */
  readonly loadOf: (url: string) => Promise<{ reading: Reading } | { error: string }> | undefined;
  readonly fleetNeedsTokens: () => boolean;
  readonly promptTokens: ((route: string, body: Readonly<Record<string, unknown>>) => Promise<PromptTokens | undefined>) | undefined;
  /** The scheduler load of a grpc:// endpoint for /get_loads. */
  readonly load: (url: string) => Promise<{ readonly ok: true; readonly running: number; readonly waiting: number } | { readonly ok: false; readonly error: string }>;
  /** /v1/models cards of a grpc:// endpoint, as vLLM's ModelCard; throws when the engine does not answer. */
  readonly models: (url: string) => Promise<readonly Record<string, unknown>[]>;
}

interface Needs {
  readonly registry: EndpointRegistry;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly pool: TokenizerPool | undefined;
}

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));

/**
 * One model's text side from the tokenizer files the pool uses (its vocabulary, generation_config.json defaults,
 * tool-call format); without files, only vllm.Inference engines (text out) can answer. A file that does not load
 * is a ConfigProblem.
 */
function loadModelText(config: Config, files: TokenizerFiles | undefined, model: string | undefined, log: Logger): ModelText {
  const reasoning = config.reasoning_parser;
  if (files === undefined) return { vocab: undefined, defaults: {}, reasoning, toolCalls: config.tool_call_parser };
  const dir = dirname(files.tokenizerJson);
  const generationPath = join(dir, 'generation_config.json');
  try {
    const generation = existsSync(generationPath) ? readJson(generationPath) : undefined;
    const started = performance.now();
    const vocab = loadVocabulary(readJson(files.tokenizerJson), files.tokenizerConfig ? readJson(files.tokenizerConfig) : undefined, generation);
    const shown = model ?? '(every model)';
    log.info('gRPC front: vocabulary loaded', { model: shown, tokens: vocab.size, eos: vocab.eosTokenIds.join(','), load_ms: Math.round(performance.now() - started) });
    const toolCalls = config.tool_call_parser ?? toolCallFormatOf(chatTemplateText(files));
    if (toolCalls !== undefined) log.info('gRPC front: tool calls parsed', { model: shown, format: toolCalls, from: config.tool_call_parser ? '--tool-call-parser' : 'chat template' });
    return { vocab, defaults: samplingDefaultsOf(generation), reasoning, toolCalls };
  } catch (e) {
    throw new ConfigProblem(`${files.flag} ${files.given}: the vocabulary for gRPC endpoints does not load: ${(e as Error).message}`);
  }
}

/** The OpenAI front of one model's gRPC endpoints: its text side and its tokenizer in the pool. */
function modelFront(deps: GrpcUpstreamDeps, pool: TokenizerPool | undefined, model: string | undefined): Upstream {
  const tokenize = pool === undefined
    ? undefined
    : async (text: string, addSpecialTokens: boolean): Promise<readonly number[] | RouterError> => {
        const result = await pool.tokenize({ kind: 'completion', prompt: text, addSpecialTokens }, { returnIds: true, model });
        if (!result.ok) return routerError('invalid_body', `The prompt could not be tokenized: ${result.error}`, { param: 'prompt' });
        // Embeddings and the fallback for completions (the prompt is tokenized before the pick): a JS array for protobufjs.
        return Array.from(result.value.ids ?? []);
      };
  const tokenizeChat = pool === undefined
    ? undefined
    : async (body: Readonly<Record<string, unknown>>): Promise<readonly number[] | RouterError> => {
        const job = jobFromBody('/v1/chat/completions', body);
        if (job === undefined) return routerError('invalid_body', "'messages' must be a list of messages", { param: 'messages' });
        const result = await pool.tokenize(job, { returnIds: true, model });
        if (!result.ok) return routerError('invalid_body', `The chat template could not be applied: ${result.error}`, { param: 'messages' });
        return Array.from(result.value.ids ?? []);
      };
  const renderChat = pool === undefined
    ? undefined
    : async (body: Readonly<Record<string, unknown>>): Promise<{ ids: readonly number[]; text: string } | RouterError> => {
        const job = jobFromBody('/v1/chat/completions', body);
        if (job === undefined) return routerError('invalid_body', "'messages' must be a list of messages", { param: 'messages' });
        const result = await pool.tokenize(job, { returnIds: true, returnText: true, model });
        if (!result.ok) return routerError('invalid_body', `The chat template could not be applied: ${result.error}`, { param: 'messages' });
        return { ids: Array.from(result.value.ids ?? []), text: result.value.text ?? '' };
      };
  return createGrpcUpstream({ ...deps, ...(tokenize ? { tokenize } : {}), ...(tokenizeChat ? { tokenizeChat } : {}), ...(renderChat ? { renderChat } : {}) });
}

/**
 * Picks the model front of a call: the request's model, else the tokenizer for every unnamed model, else a model
 * the endpoint serves (a request naming an alias or an adapter of it). The first two are what the tokenization
 * before the pick uses, so the ids it shares were made with the same tokenizer.
 */
function frontOf(fronts: ReadonlyMap<string | undefined, Upstream>, call: UpstreamCall): { model: string | undefined; front: Upstream | undefined } {
  const asked = typeof call.json?.model === 'string' ? call.json.model : undefined;
  if (asked !== undefined && fronts.has(asked)) return { model: asked, front: fronts.get(asked) };
  if (fronts.has(undefined)) return { model: asked, front: fronts.get(undefined) };
  for (const served of call.endpoint.models ?? []) if (fronts.has(served)) return { model: served, front: fronts.get(served) };
  return { model: asked, front: undefined };
}

/**
 * The answer for a model whose tokenizer is being fetched from a gRPC endpoint (503, try again) or could not be
 * (501 naming why); undefined when neither.
 */
function runtimeStateOf(runtime: RuntimeTokenizers | undefined, asked: string | undefined, call: UpstreamCall): RouterError | undefined {
  if (runtime === undefined) return undefined;
  for (const model of [asked, ...(call.endpoint.models ?? [])]) {
    const state = model === undefined ? undefined : runtime.stateOf(model);
    if (state === undefined) continue;
    if (state.state === 'loading')
      return routerError('not_implemented', `The tokenizer for model \`${model}\` is being fetched from gRPC endpoint ${state.url} (GetTokenizer); try again shortly`, {
        param: 'model',
        status: 503,
        retryAfterSecs: 1,
      });
    return routerError(
      'not_implemented',
      `The router has no tokenizer for model \`${model}\` on gRPC endpoint ${call.endpoint.url}: GetTokenizer from ${state.url} failed (${state.error}); ` +
        `start it with --model-path ${model}=DIR or --tokenizer-path ${model}=PATH`,
      { param: 'model' },
    );
  }
  return undefined;
}

/** The chat template's text, wherever the model keeps it (for the tool-call format it writes). */
function chatTemplateText(files: TokenizerFiles): string {
  if (files.chatTemplateJinja) return readFileSync(files.chatTemplateJinja, 'utf8');
  const fromJson = (path: string | null): unknown => (path ? (readJson(path) as { chat_template?: unknown }).chat_template : undefined);
  const template = fromJson(files.chatTemplateJson) ?? fromJson(files.tokenizerConfig);
  if (typeof template === 'string') return template;
  // A list of named templates: the default one, or all of them.
  if (Array.isArray(template)) return template.map((t) => (t as { template?: string }).template ?? '').join('\n');
  return '';
}

export function buildGrpcFront(config: Config, { registry, metrics, log, pool }: Needs): GrpcFront {
  const engines = createGrpcEngines(config.grpc_protocol);
  const timeoutMs = config.health_check_timeout_secs * 1000;
  const base = { engines, metrics, log, controlTimeoutMs: timeoutMs };
  // One front per served model with a tokenizer, built at start (a vocabulary is a few MB); the pool holds the same
  // models in the same order (startup/tokenizer.ts). A model whose endpoints arrive later gets its front once its
  // tokenizer is fetched and in every pool thread.
  const fronts = new Map<string | undefined, Upstream>();
  for (const { model, files } of modelTokenizers(config)) fronts.set(model, modelFront({ ...base, model: loadModelText(config, files, model, log) }, pool, model));
  const runtime: RuntimeTokenizers | undefined =
    pool === undefined
      ? undefined
      : runtimeTokenizers({
          engines,
          pool,
          metrics,
          log,
          timeoutMs,
          now: () => performance.now(),
          prepareFront(model, files) {
            const text = loadModelText(config, files, model, log);
            return () => fronts.set(model, modelFront({ ...base, model: text }, pool, model));
          },
        });
  // A model with no tokenizer: vllm.Inference engines take text and send text; VllmEngine engines cannot be answered.
  const textOnly = createGrpcUpstream({ ...base, model: loadModelText(config, undefined, undefined, log) });
  const grpc: Upstream = {
    send(call) {
      const { model, front } = frontOf(fronts, call);
      if (front !== undefined) return front.send(call);
      const protocol = engines.of(call.endpoint.url).knownProtocol();
      const pending = runtimeStateOf(runtime, model, call);
      if (pending !== undefined && (protocol === 'vllm-engine' || call.route === '/v1/chat/completions')) return Promise.resolve(pending);
      if (protocol === 'vllm-engine' || call.route === '/v1/chat/completions') {
        const named = model === undefined ? 'the request' : `model \`${model}\``;
        return Promise.resolve(
          routerError(
            'not_implemented',
            `The router has no tokenizer for ${named} on gRPC endpoint ${call.endpoint.url}: start it with --model-path ${model ?? 'MODEL'}=DIR ` +
              `or --tokenizer-path ${model ?? 'MODEL'}=PATH (a VllmEngine endpoint serving it hands its tokenizer over GetTokenizer)`,
            { param: 'model' },
          ),
        );
      }
      return textOnly.send(call);
    },
    serves: (route) => GRPC_ROUTES.has(route),
  };
  const upstreamOf: UpstreamOf = (endpoint) => (isGrpcUrl(endpoint.url) ? grpc : httpUpstream);
  registry.onChange(() => {
    const urls = new Set(registry.all().map((e) => e.url).filter(isGrpcUrl));
    engines.keepOnly(urls);
    runtime?.keepOnly(urls);
    for (const url of urls) void runtime?.examine(url);
  });
  return {
    engines,
    upstreamOf,
    async probe(url, probeTimeoutMs) {
      const answer = await engines.of(url).health(probeTimeoutMs);
      if (!answer.ok) return `gRPC health: ${answer.message}`;
      // An endpoint that did not answer when it was added is looked at for its model's tokenizer now.
      void runtime?.examine(url);
      return undefined;
    },
    loadOf(url) {
      if (!isGrpcUrl(url)) return undefined;
      return engines
        .of(url)
        .loads(timeoutMs)
        .then((got) => {
          if (got === undefined) return { error: 'vllm.Inference engines report no load' };
          if (!got.ok) return { error: `GetLoads: ${got.message}` };
          const reading: Reading = { engines: 1, legacy: false, running: got.value.running, waiting: got.value.waiting, kvUsage: got.value.kvCacheUsage, hits: undefined, queries: undefined, ttft: undefined, itl: undefined, e2e: undefined };
          return { reading };
        });
    },
    async load(url) {
      const got = await engines.of(url).loads(timeoutMs);
      if (got === undefined) return { ok: false, error: 'vllm.Inference engines report no load' };
      return got.ok ? { ok: true, running: got.value.running, waiting: got.value.waiting } : { ok: false, error: `GetLoads: ${got.message}` };
    },
    async models(url) {
      const info = await engines.of(url).modelInfo(timeoutMs);
      if (!info.ok) throw new Error(`GetModelInfo: ${info.message}`);
      const created = Math.floor(Date.now() / 1000);
      // vLLM's ModelCard (vllm/entrypoints/openai/protocol.py) for the served name and each alias.
      return [info.value.servedModelName, ...info.value.aliases].map((id) => ({
        id,
        object: 'model',
        created,
        owned_by: 'vllm',
        root: info.value.servedModelName,
        parent: null,
        max_model_len: info.value.maxContextLength ?? null,
      }));
    },
    fleetNeedsTokens: () => registry.all().some((e) => isGrpcUrl(e.url)),
    promptTokens:
      pool === undefined
        ? undefined
        : async (route, body) => {
            const job = jobFromBody(route, body);
            if (job === undefined) return undefined;
            if (job.kind === 'completion' && typeof job.prompt !== 'string') return undefined;
            const model = typeof body.model === 'string' ? body.model : undefined;
            // No tokenizer for this model: the endpoint's front names what is missing once the pick is made.
            if (!pool.hasTokenizerFor(model)) return undefined;
            const result = await pool.tokenize(job, { returnIds: true, model });
            if (!result.ok) {
              metrics.tokenizeErrors.inc();
              log.warn('tokenization failed', { route, error: result.error });
              return undefined;
            }
            metrics.tokenizeDuration.observe(result.value.encodeMs / 1000);
            return { ids: result.value.ids ?? [], packedIds: result.value.packedIds, blockHashes: result.value.blockHashes };
          },
    [Symbol.dispose]: () => engines[Symbol.dispose](),
  };
}
