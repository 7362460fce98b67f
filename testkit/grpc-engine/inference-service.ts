// The stand-in's vllm.Inference, vllm.Control and grpc.health.v1.Health services, as vLLM's Rust front end serves
// them (vllm-project/vllm rust/proto/inference.proto): text deltas by default, max_new_tokens 0 meaning 20, and a
// dropped stream that keeps generating until Control.Abort names it.
import { once } from 'node:events';
import { status, type ServerUnaryCall, type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { generate, type GenerationStep } from './generation.ts';
import { grpcError, type ServiceContext } from './engine-service.ts';
import { forcedOutput } from './constraint.ts';
import { promptLogprobAt, promptTopAt } from './prompt-logprobs.ts';
import { outputTopAt, sampledLogprobAt } from './output-logprobs.ts';

type Msg = Record<string, any>;

/** vLLM's default when StoppingCriteria.max_new_tokens is 0 (inference.proto: "Default (0) is currently 20"). */
const UNSET_MAX_NEW_TOKENS = 20;

const FINISH = { stop: 'STOP', length: 'LENGTH' } as const;

/** Text deltas of one sequence, never ending inside a UTF-8 character (the decoder's U+FFFD is held back). */
function textDeltas(decode: (ids: readonly number[]) => string) {
  let emitted = '';
  return (sofar: readonly number[], final: boolean, cut?: number): string => {
    let text = decode(sofar);
    if (cut !== undefined) text = text.slice(0, cut);
    else if (!final) text = text.replace(/\uFFFD+$/, '');
    const delta = text.startsWith(emitted) ? text.slice(emitted.length) : '';
    emitted = text;
    return delta;
  };
}

function runInference(ctx: ServiceContext, call: ServerWritableStream<Msg, Msg>, streaming: boolean, reply?: (error: Error | null, message?: Msg) => void): void {
  const { options, vocab, record } = ctx;
  const request = call.request;
  const requestId = String(request.request_id ?? '');
  record.received.push(request);
  record.metadata.set(requestId, Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, String(v)])));
  const fail = (error: Error): void => {
    if (reply) reply(error);
    else call.emit('error', error);
  };
  if (request.model && request.model !== options.model) return fail(grpcError(status.NOT_FOUND, `model ${request.model} not found`));
  const failure = options.failure;
  if (failure?.kind === 'status') {
    options.failure = failure.times === undefined ? failure : failure.times <= 1 ? null : { ...failure, times: failure.times - 1 };
    return fail(grpcError(failure.code, failure.message ?? 'injected failure'));
  }
  const given: number[] = request.token_ids?.ids ?? (typeof request.text === 'string' ? vocab.tokenizer.encode(request.text, { add_special_tokens: false }).ids : []);
  // truncate_prompt_tokens keeps the prompt's last N tokens (0: no truncation).
  const truncate: number = request.truncate_prompt_tokens ?? 0;
  const prompt = truncate > 0 && given.length > truncate ? given.slice(given.length - truncate) : given;
  const stopping: Msg = request.stopping ?? {};
  const responseOptions: Msg = request.response ?? {};
  const skipSpecial = responseOptions.skip_special_tokens !== false;
  const wantText = responseOptions.output_text !== false;
  const wantIds = responseOptions.output_token_ids === true;
  const decode = (ids: readonly number[]) => vocab.tokenizer.decode([...ids], { skip_special_tokens: skipSpecial });
  // PromptInfo with prompt_logprobs: the ids when asked, a logprob and rank for every position after the first (the
  // first has nothing before it), and `prompt_candidates.top_n` candidates each.
  const topN: number = responseOptions.prompt_candidates?.top_n ?? 0;
  // Output logprobs (output_logprobs) as vLLM's Rust front end writes them (rust/src/server/src/grpc/convert.rs
  // positions_to_proto): the sampled token's logprob and rank apart, then `output_candidates.top_n` candidates, the
  // engine's top ones (which hold the sampled token only when it ranks among them).
  const outputTopN: number = responseOptions.output_candidates?.top_n ?? 0;
  // output_candidates.token_ids: those tokens' logprobs at every position (logprob_token_ids), set by id.
  const named: number[] | undefined = responseOptions.output_candidates?.token_ids?.ids;
  const outputLogprobs = (ids: readonly number[], from: number): Msg =>
    responseOptions.output_logprobs !== true
      ? {}
      : {
          logprobs: ids.map((_, k) => sampledLogprobAt(from + k)),
          ranks: ids.map(() => 2),
          candidate_tokens: ids.map((id, k) => ({
            tokens: named !== undefined
              ? named.map((tid) => ({ id: tid, logprob: tid === id ? sampledLogprobAt(from + k) : -2 - (tid % 7) / 8, rank: tid === id ? 2 : 3 + (tid % 7) }))
              : outputTopAt(id, from + k, outputTopN),
          })),
        };
  const promptInfo = (): Msg => ({
    num_prompt_tokens: prompt.length,
    ...(responseOptions.prompt_token_ids === true ? { token_ids: [...prompt] } : {}),
    ...(responseOptions.prompt_logprobs === true
      ? {
          logprobs: prompt.slice(1).map((_, k) => promptLogprobAt(k + 1)),
          ranks: prompt.slice(1).map((id, k) => promptTopAt(id, k + 1, 1)[0]!.rank),
          candidate_tokens: prompt.slice(1).map((id, k) => ({ tokens: promptTopAt(id, k + 1, topN).map((t) => ({ id: t.id, logprob: t.logprob, rank: t.rank })) })),
        }
      : {}),
  });
  const deltas = new Map<number, ReturnType<typeof textDeltas>>();
  let cancelled = false;
  call.on('cancelled', () => {
    cancelled = true;
    record.cancelled.push(requestId);
  });
  const firstSent = new Set<number>();
  const unaryText: string[] = [];
  let unaryFinish: Msg | undefined;
  const unaryIds: number[] = [];
  record.running++;
  let killed = false;
  void generate(
    options,
    vocab,
    {
      requestId,
      n: request.sampling?.num_sequences || 1,
      maxTokens: stopping.max_new_tokens || UNSET_MAX_NEW_TOKENS,
      stopTokenIds: stopping.stop_token_ids ?? [],
      ignoreEos: stopping.ignore_eos === true,
      stopStrings: stopping.stop_strings ?? [],
      promptTokens: prompt.length,
      constrained: forcedOutput(request.decoding, options.output),
      allowedTokenIds: request.decoding?.allowed_token_ids ?? [],
      minTokens: stopping.min_new_tokens ?? 0,
    },
    {
      // Dropping the stream does not abort on this protocol: only Control.Abort stops the sequence.
      gone: () => record.aborted.includes(requestId),
      kill: () => {
        killed = true;
        ctx.kill();
      },
      stall: async () => {
        while (!record.aborted.includes(requestId) && !cancelled) await Bun.sleep(10);
      },
      async step(step: GenerationStep) {
        const delta = deltas.get(step.index) ?? textDeltas(decode);
        deltas.set(step.index, delta);
        let cut: number | undefined;
        if (step.finish?.stopString !== undefined && stopping.include_stop_strings !== true) {
          const full = decode(step.sofar);
          cut = full.indexOf(step.finish.stopString);
        }
        const text = delta(step.sofar, step.finish !== undefined, cut);
        const finishInfo = step.finish
          ? {
              num_output_tokens: step.sofar.length,
              finish_reason: FINISH[step.finish.reason],
              ...(step.finish.stopString !== undefined
                ? { stop_string: step.finish.stopString }
                : step.finish.stopIsEos
                  ? { eos_token_id: step.finish.stopTokenId }
                  : step.finish.stopTokenId !== undefined
                    ? { stop_token_id: step.finish.stopTokenId }
                    : {}),
            }
          : undefined;
        if (!streaming) {
          if (step.index !== 0) return;
          unaryText.push(text);
          unaryIds.push(...step.ids);
          unaryFinish = finishInfo;
          return;
        }
        if (cancelled) return;
        const message: Msg = {
          outputs: {
            index: step.index,
            text: wantText ? text : '',
            num_tokens: step.ids.length,
            token_ids: wantIds ? [...step.ids] : [],
            ...outputLogprobs(step.ids, step.sofar.length - step.ids.length),
            ...(finishInfo ? { finish_info: finishInfo } : {}),
          },
        };
        if (!firstSent.has(step.index)) {
          firstSent.add(step.index);
          message.prompt_info = promptInfo();
        }
        if (!call.write(message)) await once(call, 'drain');
      },
    },
  ).then((plans) => {
    record.running--;
    if (killed) return;
    if (record.aborted.includes(requestId) && !cancelled) {
      for (const plan of plans) call.write({ outputs: { index: plan.index, finish_info: { finish_reason: 'ABORTED' } } });
    }
    if (reply) {
      reply(null, {
        prompt_info: promptInfo(),
        outputs: { index: 0, text: wantText ? unaryText.join('') : '', num_tokens: unaryIds.length, token_ids: wantIds ? unaryIds : [], ...(unaryFinish ? { finish_info: unaryFinish } : {}) },
      });
    } else if (!cancelled) call.end();
  });
}

export function inferenceService(ctx: ServiceContext): UntypedServiceImplementation {
  return {
    Generate: (call: ServerUnaryCall<Msg, Msg>, callback: (error: Error | null, message?: Msg) => void) =>
      runInference(ctx, call as unknown as ServerWritableStream<Msg, Msg>, false, callback),
    GenerateStream: (call: ServerWritableStream<Msg, Msg>) => runInference(ctx, call, true),
  };
}

export function controlService(ctx: ServiceContext): UntypedServiceImplementation {
  const { options, vocab, record } = ctx;
  return {
    GetServerInfo: (_call: ServerUnaryCall<Msg, Msg>, callback: (e: Error | null, m?: Msg) => void) =>
      callback(null, {
        engine_version: '0.29.0',
        api_version: '1',
        instance_id: 'stand-in',
        parallelism: { tensor_parallel_size: 1, pipeline_parallel_size: 1, data_parallel_size: 1 },
        max_model_len: options.maxContextLength,
        kv_block_size: 16,
        total_kv_blocks: 8192,
      }),
    GetModelInfo: (_call: ServerUnaryCall<Msg, Msg>, callback: (e: Error | null, m?: Msg) => void) =>
      callback(null, { model_id: vocab.dir, served_model_name: options.model, supports_text_input: true, supports_token_ids_input: true }),
    Abort: (call: ServerUnaryCall<Msg, Msg>, callback: (e: Error | null, m?: Msg) => void) => {
      record.aborted.push(...((call.request.request_ids as string[] | undefined) ?? []));
      callback(null, {});
    },
    GetKvEventSources: (_call: ServerUnaryCall<Msg, Msg>, callback: (e: Error | null, m?: Msg) => void) => callback(null, { sources: [] }),
  };
}

export function healthService(ctx: ServiceContext): UntypedServiceImplementation {
  return {
    Check: (_call: ServerUnaryCall<Msg, Msg>, callback: (e: Error | null, m?: Msg) => void) =>
      callback(null, { status: ctx.options.healthy ? 'SERVING' : 'NOT_SERVING' }),
    Watch: (call: ServerWritableStream<Msg, Msg>) => call.emit('error', grpcError(status.UNIMPLEMENTED, 'Watch is not served')),
  };
}
