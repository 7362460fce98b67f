// The stand-in's vllm.grpc.engine.VllmEngine service, sending what smg-grpc-servicer sends
// (lightseekorg/smg grpc_servicer/smg_grpc_servicer/vllm/servicer.py): per step a chunk per sequence with the delta
// ids and the delta count, then on its end a `complete` that repeats the last delta (streaming), or one `complete`
// per sequence with every id (not streaming). EOS is no stop reason (vLLM's stop_reason is None for it).
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { type ServerUnaryCall, type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { generate, type GenerationStep } from './generation.ts';
import type { GrpcEngineOptions } from './options.ts';
import type { GrpcEngineRecord } from './state.ts';
import type { StandInVocabulary } from './tokenizers.ts';
import { tokenizerZip } from './tokenizer-zip.ts';
import type { StandInKvCache } from './kv-events.ts';
import { forcedOutput } from './constraint.ts';
import { promptLogprobAt, promptTopAt } from './prompt-logprobs.ts';
import { outputTopAt, sampledLogprobAt } from './output-logprobs.ts';

type Msg = Record<string, any>;
type Unary = (call: ServerUnaryCall<Msg, Msg>, callback: (error: Error | null, reply?: Msg) => void) => void;

export interface ServiceContext {
  readonly options: GrpcEngineOptions;
  readonly vocab: StandInVocabulary;
  readonly record: GrpcEngineRecord;
  /** Shuts the server down hard (the kill fault). */
  readonly kill: () => void;
  /** The prefix cache and its KV events. */
  readonly kv: StandInKvCache;
}

export function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(details), { code, details });
}

/** Runs one generation onto a server stream with the engine's cancel/abort handling; `send` builds the messages. */
export async function serveGeneration(
  ctx: ServiceContext,
  call: ServerWritableStream<Msg, Msg>,
  requestId: string,
  run: (sink: { step(step: GenerationStep): Promise<void>; gone(): boolean; kill(): void; stall(): Promise<void> }) => Promise<void>,
): Promise<void> {
  const { record } = ctx;
  let cancelled = false;
  call.on('cancelled', () => {
    cancelled = true;
    record.cancelled.push(requestId);
  });
  const aborted = () => record.aborted.includes(requestId);
  record.running++;
  try {
    await run({
      async step() {},
      gone: () => cancelled || aborted(),
      kill: ctx.kill,
      stall: () => new Promise<void>((resolve) => call.once('cancelled', () => resolve())),
    });
  } finally {
    record.running--;
  }
}

async function write(call: ServerWritableStream<Msg, Msg>, message: Msg): Promise<void> {
  if (!call.write(message)) await once(call, 'drain');
}

function generateHandler(ctx: ServiceContext) {
  return (call: ServerWritableStream<Msg, Msg>): void => {
    const request = call.request;
    const requestId = String(request.request_id ?? '');
    ctx.record.received.push(request);
    ctx.record.metadata.set(requestId, Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, String(v)])));
    const failure = ctx.options.failure;
    if (failure?.kind === 'status') {
      ctx.options.failure = failure.times === undefined ? failure : failure.times <= 1 ? null : { ...failure, times: failure.times - 1 };
      call.emit('error', grpcError(failure.code, failure.message ?? 'injected failure'));
      return;
    }
    const params: Msg = request.sampling_params ?? {};
    const prompt: number[] = request.tokenized?.input_ids ?? [];
    const promptTokens = prompt.length;
    // The prompt is prefilled before the first token: its full blocks are cached (and published) now.
    ctx.kv.prefill(prompt);
    const cached = Math.min(ctx.options.cachedTokens, promptTokens);
    const maxTokens = params.max_tokens ?? Math.max(1, ctx.options.maxContextLength - promptTokens);
    const logprobs: number | undefined = params.logprobs;
    const logprobsOf = (ids: readonly number[]) =>
      logprobs === undefined
        ? undefined
        : {
            token_logprobs: ids.map((_, k) => sampledLogprobAt(k)),
            token_ids: [...ids],
            // smg-grpc-servicer `_build_top_logprobs`: the position's logprob dict sorted by logprob, cut to `logprobs`
            // (the sampled token only when it ranks among them).
            top_logprobs: logprobs > 0 ? ids.map((id, k) => ({ values: outputTopAt(id, k, logprobs).map((t) => t.logprob), token_ids: outputTopAt(id, k, logprobs).map((t) => t.id) })) : [],
          };
    // InputLogProbs as the servicer builds them (`_build_input_logprobs`): every prompt token, the first without a
    // value, and the first `prompt_logprobs` entries of each position's logprob dict.
    const promptLogprobs: number | undefined = params.prompt_logprobs;
    const inputLogprobs =
      promptLogprobs === undefined
        ? undefined
        : {
            token_logprobs: prompt.map((_, k) => (k === 0 ? {} : { value: promptLogprobAt(k) })),
            token_ids: [...prompt],
            top_logprobs: promptLogprobs > 0 ? prompt.map((id, k) => (k === 0 ? {} : { values: promptTopAt(id, k, promptLogprobs).map((t) => t.logprob), token_ids: promptTopAt(id, k, promptLogprobs).map((t) => t.id) })) : [],
          };
    const firstChunk = new Set<number>();
    void serveGeneration(ctx, call, requestId, async (base) => {
      const stream = request.stream === true;
      const finals: Msg[] = [];
      let killed = false;
      const plans = await generate(
        ctx.options,
        ctx.vocab,
        {
          requestId,
          n: params.n || 1,
          maxTokens,
          stopTokenIds: params.stop_token_ids ?? [],
          ignoreEos: params.ignore_eos === true,
          stopStrings: params.stop ?? [],
          promptTokens,
          constrained: forcedOutput(params, ctx.options.output),
          minTokens: params.min_tokens ?? 0,
        },
        {
          ...base,
          kill: () => {
            killed = true;
            base.kill();
          },
          async step(step) {
            const complete = (ids: readonly number[]): Msg => ({
              complete: {
                output_ids: [...ids],
                finish_reason: step.finish!.reason,
                prompt_tokens: promptTokens,
                completion_tokens: ids.length,
                cached_tokens: cached,
                index: step.index,
                ...(logprobsOf(ids) ? { output_logprobs: logprobsOf(ids) } : {}),
                ...(step.finish!.stopString !== undefined
                  ? { matched_stop_str: step.finish!.stopString }
                  : step.finish!.stopTokenId !== undefined && !step.finish!.stopIsEos
                    ? { matched_token_id: step.finish!.stopTokenId }
                    : {}),
              },
            });
            if (stream) {
              await write(call, {
                chunk: {
                  token_ids: [...step.ids],
                  prompt_tokens: promptTokens,
                  completion_tokens: step.ids.length,
                  cached_tokens: cached,
                  index: step.index,
                  ...(logprobsOf(step.ids) ? { output_logprobs: logprobsOf(step.ids) } : {}),
                  ...(inputLogprobs !== undefined && !firstChunk.has(step.index) ? { input_logprobs: inputLogprobs } : {}),
                },
              });
              firstChunk.add(step.index);
              if (step.finish) await write(call, complete(step.ids));
            } else if (step.finish) {
              finals.push(complete(step.sofar));
            }
          },
        },
      );
      if (killed || call.cancelled) return;
      if (ctx.record.aborted.includes(requestId)) {
        // vLLM's engine ends an aborted request's output stream with finish_reason "abort".
        for (const plan of plans) await write(call, { complete: { output_ids: [], finish_reason: 'abort', prompt_tokens: promptTokens, index: plan.index } });
      } else {
        for (const message of finals) await write(call, message);
      }
      call.end();
    });
  };
}

export function vllmEngineService(ctx: ServiceContext): UntypedServiceImplementation {
  const { options, vocab, record } = ctx;
  const unary = (answer: (request: Msg) => Msg | Error): Unary => (call, callback) => {
    const reply = answer(call.request);
    if (reply instanceof Error) callback(reply);
    else callback(null, reply);
  };
  return {
    Generate: generateHandler(ctx),
    Embed: unary((request) => {
      const ids: number[] = request.tokenized?.input_ids ?? [];
      const seed = ids.reduce((a, b) => (a * 31 + b) % 1_000_003, 7);
      const raw = Array.from({ length: options.embeddingDim }, (_, k) => Math.sin(seed + k));
      const norm = Math.hypot(...raw) || 1;
      return { embedding: raw.map((v) => v / norm), prompt_tokens: ids.length, embedding_dim: options.embeddingDim };
    }),
    HealthCheck: unary(() => ({ healthy: options.healthy, message: options.healthy ? 'OK' : 'engine not ready' })),
    Abort: unary((request) => {
      record.aborted.push(...((request.request_ids as string[] | undefined) ?? []));
      return {};
    }),
    GetModelInfo: unary(() => ({
      model_path: vocab.dir,
      is_generation: true,
      max_context_length: options.maxContextLength,
      vocab_size: vocab.tokenizer.get_vocab?.().size ?? 0,
      served_model_name: options.model,
      tokenizer_path: vocab.dir,
      model_type: options.tokenizer,
      eos_token_ids: options.eosTokenIds ?? [vocab.eosId],
      max_req_input_len: options.maxContextLength,
      default_sampling_params_json: Object.keys(options.defaultSamplingParams).length > 0 ? JSON.stringify(options.defaultSamplingParams) : '',
    })),
    GetServerInfo: unary(() => ({ active_requests: record.running, server_type: 'vllm-grpc', data_parallel_size: 1 })),
    GetLoads: unary(() => ({
      timestamp: new Date().toISOString(),
      version: '0.29.0',
      dp_rank_count: 1,
      loads: [
        {
          dp_rank: 0,
          num_running_reqs: options.loads.running,
          num_waiting_reqs: options.loads.waiting,
          num_total_reqs: options.loads.running + options.loads.waiting,
          token_usage: options.loads.tokenUsage,
        },
      ],
    })),
    GetTokenizer: (call: ServerWritableStream<Msg, Msg>) => {
      const zip = tokenizerZip(options.tokenizerDir ?? vocab.dir);
      const sha256 = createHash('sha256').update(zip).digest('hex');
      const CHUNK = 64 * 1024;
      record.tokenizerFetches++;
      void (async () => {
        if (options.tokenizerGate !== null) await options.tokenizerGate;
        for (let at = 0; at < zip.length; at += CHUNK) {
          const end = Math.min(zip.length, at + CHUNK);
          await write(call, { data: zip.subarray(at, end), sha256: end === zip.length ? sha256 : '' });
        }
        call.end();
      })();
    },
    SubscribeKvEvents: (call: ServerWritableStream<Msg, Msg>) => ctx.kv.serve(call),
  };
}
