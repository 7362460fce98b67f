// One gRPC engine (`grpc://HOST:PORT`) as the router talks to it: which protocol it speaks (found at the first
// probe, or forced), health, loads, model info, streamed generation with abort, and embeddings.
import { credentials, Metadata, status, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import type { GrpcServices } from './definitions.ts';
import type { GenerationCall, GenerationCounts, GenerationHandlers, GenerationRequest, GrpcProtocol, TokenIds } from './generation.ts';
import { inferenceEvents, inferenceGenerateRequest } from './inference-wire.ts';
import { engineEvents, engineGenerateRequest } from './vllm-engine-wire.ts';
import { withPackedIds, withPackedPayload } from './packed-ids.ts';
import { kvEventCodec, type KvEventBatchMessage } from './kv-event-batch.ts';

type Msg = Record<string, any>;
type AnyClient = Client & Record<string, (...args: any[]) => any>;

export type ProtocolChoice = 'auto' | GrpcProtocol;

export interface EngineModelInfo {
  readonly servedModelName: string;
  readonly aliases: readonly string[];
  readonly maxContextLength: number | undefined;
  readonly eosTokenIds: readonly number[];
  /** The engine's default sampling parameters (VllmEngine's `default_sampling_params_json`). */
  readonly defaultSampling: Readonly<Record<string, unknown>>;
  /** VllmEngine only: whether it serves generation (else embeddings). */
  readonly isGeneration: boolean;
}

export interface EngineLoad {
  readonly running: number;
  readonly waiting: number;
  /** KV-cache use in [0, 1]. */
  readonly kvCacheUsage: number;
}

export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: number; readonly message: string };

export interface GrpcEngineClient {
  /** `host:port`. */
  readonly target: string;
  /** The protocol, probing the engine the first time (and again after a probe that could not tell). */
  protocol(timeoutMs: number): Promise<Outcome<GrpcProtocol>>;
  /** The protocol if known, without probing. */
  knownProtocol(): GrpcProtocol | undefined;
  health(timeoutMs: number): Promise<Outcome<true>>;
  /** Scheduler loads summed over ranks; VllmEngine only (vllm.Inference has no load call). */
  loads(timeoutMs: number): Promise<Outcome<EngineLoad> | undefined>;
  modelInfo(timeoutMs: number): Promise<Outcome<EngineModelInfo>>;
  generate(request: GenerationRequest, handlers: GenerationHandlers, headers?: Readonly<Record<string, string>>): GenerationCall;
  embed(requestId: string, ids: readonly number[], timeoutMs: number): Promise<Outcome<{ embedding: number[]; promptTokens: number }>>;
  /**
   * VllmEngine only: the engine's KV-cache events (SubscribeKvEvents, a server stream that lasts until cancelled).
   * `onEnd` is called once, with the gRPC status code the stream ended with (0 when the engine closed it).
   */
  kvEvents(handlers: KvEventHandlers): { cancel(): void };
  /** VllmEngine only: the tokenizer archive (a ZIP) and its SHA-256; an archive over `maxBytes` is cancelled and refused. */
  tokenizer(timeoutMs: number, maxBytes?: number): Promise<Outcome<{ zip: Uint8Array; sha256: string }>>;
  close(): void;
}

export interface KvEventHandlers {
  readonly onBatch: (batch: KvEventBatchMessage) => void;
  readonly onEnd: (code: number, message: string) => void;
}

export interface EngineClientOptions {
  readonly services: GrpcServices;
  readonly protocol: ProtocolChoice;
  /** Largest message accepted either way (the 32k-token prompts are ~130 KB; tokenizer chunks are small). */
  readonly maxMessageBytes?: number;
}

const failed = (e: ServiceError | { code?: number; details?: string; message?: string }): Outcome<never> => ({
  ok: false,
  code: e.code ?? status.UNKNOWN,
  message: e.details || e.message || 'unknown gRPC error',
});

function unary<T>(client: AnyClient, method: string, request: Msg, timeoutMs: number, read: (reply: Msg) => T): Promise<Outcome<T>> {
  return new Promise((resolve) => {
    client[method]!(request, new Metadata(), { deadline: Date.now() + timeoutMs }, (error: ServiceError | null, reply: Msg) => {
      resolve(error ? failed(error) : { ok: true, value: read(reply) });
    });
  });
}

/** A `grpc://HOST:PORT` URL's `host:port`. */
export function grpcTarget(url: string): string {
  return url.replace(/^grpc:\/\//i, '').replace(/\/+$/, '');
}

export function createGrpcEngineClient(url: string, options: EngineClientOptions): GrpcEngineClient {
  const target = grpcTarget(url);
  const max = options.maxMessageBytes ?? 64 * 1024 * 1024;
  const channelOptions = {
    'grpc.max_receive_message_length': max,
    'grpc.max_send_message_length': max,
    // A dead engine behind a live TCP path (a host gone) is noticed between requests, not at the next one.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  };
  const insecure = credentials.createInsecure();
  const engine = new options.services.vllmEngine(target, insecure, channelOptions) as AnyClient;
  // One connection for every service: the other clients ride on the first one's channel.
  const channel = { channelOverride: engine.getChannel() };
  const inference = new options.services.inference(target, insecure, channel) as AnyClient;
  const control = new options.services.control(target, insecure, channel) as AnyClient;
  const health = new options.services.health(target, insecure, channel) as AnyClient;
  let known: GrpcProtocol | undefined = options.protocol === 'auto' ? undefined : options.protocol;
  /** Built on the first subscription: most fleets never subscribe. */
  let codec: ReturnType<typeof kvEventCodec> | undefined;

  const detect = async (timeoutMs: number): Promise<Outcome<GrpcProtocol>> => {
    if (known !== undefined) return { ok: true, value: known };
    const asEngine = await unary(engine, 'HealthCheck', {}, timeoutMs, () => true);
    if (asEngine.ok) return { ok: true, value: (known = 'vllm-engine') };
    if (asEngine.code !== status.UNIMPLEMENTED) return asEngine;
    const asInference = await unary(control, 'GetServerInfo', {}, timeoutMs, () => true);
    if (asInference.ok) return { ok: true, value: (known = 'vllm-inference') };
    if (asInference.code === status.UNIMPLEMENTED)
      return { ok: false, code: status.UNIMPLEMENTED, message: 'serves neither vllm.grpc.engine.VllmEngine nor vllm.Control (not a vLLM gRPC engine?)' };
    return asInference;
  };

  // The prompt's ids are encoded by hand (packed-ids.ts): protobufjs would hold the event loop for milliseconds on
  // a long prompt. The rest of the message goes through the .proto definition.
  const engineMethod = options.services.vllmEngine.service.Generate!;
  const inferenceMethod = options.services.inference.service.GenerateStream!;
  // Ids the pool tokenized come with their varints already written (request.prompt.packedIds): only copied here.
  const packedField = (head: Uint8Array, outer: number, inner: number, request: GenerationRequest, ids: TokenIds): Buffer => {
    const packed = request.prompt.packedIds;
    return packed !== undefined ? withPackedPayload(head, outer, inner, packed) : withPackedIds(head, outer, inner, ids);
  };
  const engineCall = (request: GenerationRequest, metadata: Metadata): ClientReadableStream<Msg> => {
    const message = engineGenerateRequest(request);
    const ids: TokenIds | undefined = message.tokenized?.input_ids;
    // With original_text the submessage has two fields: protobufjs does not merge two occurrences, so no shortcut.
    if (ids === undefined || ids.length === 0 || message.tokenized.original_text) {
      return engine.Generate!({ ...message, tokenized: { ...message.tokenized, input_ids: Array.from(ids ?? []) } }, metadata);
    }
    const { tokenized: _tokenized, ...rest } = message;
    const head = engineMethod.requestSerialize(rest);
    return engine.makeServerStreamRequest<Msg, Msg>(engineMethod.path, () => packedField(head, 2, 2, request, ids), engineMethod.responseDeserialize, message, metadata);
  };
  const inferenceCall = (request: GenerationRequest, metadata: Metadata): ClientReadableStream<Msg> => {
    const message = inferenceGenerateRequest(request);
    const ids: TokenIds | undefined = message.token_ids?.ids;
    if (ids === undefined || ids.length === 0) return inference.GenerateStream!(message, metadata);
    const { token_ids: _ids, ...rest } = message;
    const head = inferenceMethod.requestSerialize(rest);
    return inference.makeServerStreamRequest<Msg, Msg>(inferenceMethod.path, () => packedField(head, 4, 1, request, ids), inferenceMethod.responseDeserialize, message, metadata);
  };

  return {
    target,
    protocol: detect,
    knownProtocol: () => known,
    async health(timeoutMs) {
      const protocol = await detect(timeoutMs);
      if (!protocol.ok) return protocol;
      if (protocol.value === 'vllm-engine') {
        const answer = await unary(engine, 'HealthCheck', {}, timeoutMs, (r) => r);
        if (!answer.ok) return answer;
        return answer.value.healthy ? { ok: true, value: true } : { ok: false, code: status.UNAVAILABLE, message: `HealthCheck: ${answer.value.message || 'not healthy'}` };
      }
      const answer = await unary(health, 'Check', { service: '' }, timeoutMs, (r) => r.status as string);
      if (!answer.ok) return answer;
      return answer.value === 'SERVING' ? { ok: true, value: true } : { ok: false, code: status.UNAVAILABLE, message: `grpc.health.v1 status ${answer.value}` };
    },
    async loads(timeoutMs) {
      if (known !== 'vllm-engine') return undefined;
      return unary(engine, 'GetLoads', {}, timeoutMs, (r) => {
        let running = 0;
        let waiting = 0;
        let kv = 0;
        const loads: Msg[] = r.loads ?? [];
        for (const l of loads) {
          running += l.num_running_reqs ?? 0;
          waiting += l.num_waiting_reqs ?? 0;
          kv = Math.max(kv, l.token_usage ?? 0);
        }
        return { running, waiting, kvCacheUsage: kv };
      });
    },
    async modelInfo(timeoutMs) {
      const protocol = await detect(timeoutMs);
      if (!protocol.ok) return protocol;
      if (protocol.value === 'vllm-engine') {
        return unary(engine, 'GetModelInfo', {}, timeoutMs, (r) => {
          let defaults: Record<string, unknown> = {};
          try {
            const parsed: unknown = r.default_sampling_params_json ? JSON.parse(r.default_sampling_params_json) : {};
            if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) defaults = parsed as Record<string, unknown>;
          } catch {
            // A malformed defaults document is the engine's bug; generation still works without it.
          }
          return {
            servedModelName: r.served_model_name || r.model_path || '',
            aliases: [],
            maxContextLength: r.max_context_length || undefined,
            eosTokenIds: r.eos_token_ids ?? [],
            defaultSampling: defaults,
            isGeneration: r.is_generation !== false,
          };
        });
      }
      const model = await unary(control, 'GetModelInfo', {}, timeoutMs, (r) => r);
      if (!model.ok) return model;
      const server = await unary(control, 'GetServerInfo', {}, timeoutMs, (r) => r);
      return {
        ok: true,
        value: {
          servedModelName: model.value.served_model_name || model.value.model_id || '',
          aliases: model.value.served_model_aliases ?? [],
          maxContextLength: server.ok ? server.value.max_model_len || undefined : undefined,
          eosTokenIds: [],
          defaultSampling: {},
          isGeneration: true,
        },
      };
    },
    generate(request, handlers, headers = {}) {
      const protocol = known ?? 'vllm-engine';
      const counts: GenerationCounts = { promptTokens: 0, cachedTokens: 0 };
      const metadata = new Metadata();
      for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
      // vLLM's Rust front end reads the rank from the metadata; VllmEngine has a field for it (set in the message).
      if (request.dpRank !== undefined) metadata.set('x-data-parallel-rank', String(request.dpRank));
      const call: ClientReadableStream<Msg> = protocol === 'vllm-engine' ? engineCall(request, metadata) : inferenceCall(request, metadata);
      const toEvents = protocol === 'vllm-engine' ? engineEvents : inferenceEvents;
      let over = false;
      const end = () => {
        over = true;
        call.removeAllListeners('data');
      };
      call.on('data', (message: Msg) => {
        if (over) return;
        const events = toEvents(message, counts);
        if (!Array.isArray(events)) {
          end();
          call.cancel();
          handlers.onError({ code: status.INTERNAL, message: events.error });
          return;
        }
        for (const event of events) handlers.onEvent(event);
      });
      call.on('error', (error: ServiceError) => {
        if (over) return;
        end();
        handlers.onError({ code: error.code ?? status.UNKNOWN, message: error.details || error.message });
      });
      call.on('end', () => {
        if (over) return;
        end();
        handlers.onEnd();
      });
      return {
        counts,
        abort() {
          if (over) return;
          end();
          call.cancel();
          // vllm.Inference keeps generating for a dropped stream (smg #2113); VllmEngine's servicer aborts on
          // cancel, and the explicit Abort makes it certain on both.
          const target = protocol === 'vllm-engine' ? engine : control;
          target.Abort!({ request_ids: [request.requestId] }, new Metadata(), { deadline: Date.now() + 5_000 }, () => {});
        },
      };
    },
    embed(requestId, ids, timeoutMs) {
      if (known !== 'vllm-engine') return Promise.resolve({ ok: false, code: status.UNIMPLEMENTED, message: 'vllm.Inference has no embedding call' });
      return unary(engine, 'Embed', { request_id: requestId, tokenized: { input_ids: ids } }, timeoutMs, (r) => ({
        embedding: (r.embedding as number[] | undefined) ?? [],
        promptTokens: r.prompt_tokens ?? ids.length,
      }));
    },
    kvEvents(handlers) {
      codec ??= kvEventCodec();
      const path = options.services.vllmEngine.service.SubscribeKvEvents!.path;
      // The servicer ignores the start sequence (it has no replay): 0 asks for whatever comes next.
      const call: ClientReadableStream<KvEventBatchMessage> = engine.makeServerStreamRequest(path, codec.serializeRequest, codec.deserializeBatch, { start_sequence_number: 0 }, new Metadata());
      let over = false;
      const end = (code: number, message: string) => {
        if (over) return;
        over = true;
        call.removeAllListeners('data');
        handlers.onEnd(code, message);
      };
      call.on('data', (batch: KvEventBatchMessage) => {
        if (!over) handlers.onBatch(batch);
      });
      call.on('error', (error: ServiceError) => end(error.code ?? status.UNKNOWN, error.details || error.message));
      call.on('end', () => end(status.OK, 'the engine ended the stream'));
      return {
        cancel() {
          if (over) return;
          over = true;
          call.removeAllListeners('data');
          call.cancel();
        },
      };
    },
    tokenizer(timeoutMs, maxBytes = Infinity) {
      if (known !== 'vllm-engine') return Promise.resolve({ ok: false, code: status.UNIMPLEMENTED, message: 'vllm.Inference has no GetTokenizer call' });
      return new Promise((resolve) => {
        const parts: Uint8Array[] = [];
        let sha256 = '';
        let size = 0;
        const call: ClientReadableStream<Msg> = engine.GetTokenizer!({}, new Metadata(), { deadline: Date.now() + timeoutMs });
        call.on('data', (chunk: Msg) => {
          const data = chunk.data as Uint8Array;
          size += data.byteLength;
          if (size > maxBytes) {
            // Settled first: the cancellation's CANCELLED error then finds the promise answered.
            resolve({ ok: false, code: status.RESOURCE_EXHAUSTED, message: `the tokenizer archive is over ${maxBytes} bytes` });
            call.removeAllListeners('data');
            call.cancel();
            return;
          }
          parts.push(data);
          if (chunk.sha256) sha256 = chunk.sha256;
        });
        call.on('error', (error: ServiceError) => resolve(failed(error)));
        call.on('end', () => resolve({ ok: true, value: { zip: Buffer.concat(parts), sha256 } }));
      });
    },
    close() {
      inference.close();
      control.close();
      health.close();
      engine.close();
    },
  };
}
