// Starts the gRPC engine stand-in: one protocol's services on a grpc-js server at 127.0.0.1:port.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { loadGrpcServices } from '../../src/grpc/definitions.ts';
import { vllmEngineService, type ServiceContext } from './engine-service.ts';
import { controlService, healthService, inferenceService } from './inference-service.ts';
import { GRPC_ENGINE_DEFAULTS, type GrpcEngineOptions } from './options.ts';
import { emptyRecord, type GrpcEngineRecord } from './state.ts';
import { loadStandInVocabulary, type StandInVocabulary } from './tokenizers.ts';
import { createStandInKvCache, type StandInKvCache } from './kv-events.ts';

export interface GrpcEngine extends AsyncDisposable {
  /** `grpc://127.0.0.1:PORT`, as given to --worker-urls. */
  readonly url: string;
  readonly port: number;
  /** Live options: change them between requests (`engine.options.failure = …`). */
  readonly options: GrpcEngineOptions;
  readonly record: GrpcEngineRecord;
  readonly vocab: StandInVocabulary;
  /** Its prefix cache: `prefill` stands for another client's request, `clear`, `dropNextBatch`, `breakStreams` for faults. */
  readonly kv: StandInKvCache;
  /** The engine dies: every connection reset, the port closed. */
  kill(): void;
  stop(): Promise<void>;
}

export interface GrpcEngineStartOptions extends Partial<GrpcEngineOptions> {
  port?: number;
  /** A vocabulary already loaded (the Qwen3 file takes a while to parse); must match `tokenizer`. */
  vocab?: StandInVocabulary;
}

export async function startGrpcEngine(start: GrpcEngineStartOptions = {}): Promise<GrpcEngine> {
  const { port: wanted = 0, vocab: given, ...patch } = start;
  const options: GrpcEngineOptions = { ...GRPC_ENGINE_DEFAULTS, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) };
  const vocab = given ?? loadStandInVocabulary(options.tokenizer);
  const record = emptyRecord();
  const server = new Server();
  const kv = createStandInKvCache({ enabled: options.kvEvents, blockSize: options.kvBlockSize, capacityBlocks: options.kvCapacityBlocks });
  const ctx: ServiceContext = { options, vocab, record, kv, kill: () => server.forceShutdown() };
  const services = loadGrpcServices();
  if (options.protocol === 'vllm-engine') {
    server.addService(services.vllmEngine.service, vllmEngineService(ctx));
  } else {
    server.addService(services.inference.service, inferenceService(ctx));
    server.addService(services.control.service, controlService(ctx));
  }
  // smg-grpc-servicer and vLLM's Rust front end both serve the standard health service.
  server.addService(services.health.service, healthService(ctx));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${wanted}`, ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  };
  return {
    url: `grpc://127.0.0.1:${port}`,
    port,
    options,
    record,
    vocab,
    kv,
    kill: () => {
      stopped = true;
      server.forceShutdown();
    },
    stop,
    [Symbol.asyncDispose]: async () => {
      if (!stopped) {
        stopped = true;
        server.forceShutdown();
      }
    },
  };
}
