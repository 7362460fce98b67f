// The gRPC engine stand-in's options: the protocol it serves, the model and tokenizer, what it generates, delays
// and injected faults.

export type GrpcEngineProtocol = 'vllm-engine' | 'vllm-inference';
export type StandInTokenizer = 'llama3_1' | 'llama2' | 'qwen3';

/** Injected faults; `times` limits how many Generate calls they hit (then they clear), as the HTTP mock's do. */
export type GrpcFailureSpec =
  /** Answer Generate with this gRPC status code (14 UNAVAILABLE, 8 RESOURCE_EXHAUSTED, …) before any message. */
  | { kind: 'status'; code: number; message?: string; times?: number }
  /** After `afterTokens` tokens, the engine goes away: the server is shut down hard, every stream reset. */
  | { kind: 'kill'; afterTokens: number; times?: number }
  /** After `afterTokens` tokens, stop sending and keep the stream open until the client cancels. */
  | { kind: 'stall'; afterTokens: number; times?: number };

export interface GrpcEngineOptions {
  protocol: GrpcEngineProtocol;
  /** `served_model_name` (GetModelInfo); vllm.Inference requests naming another model get NOT_FOUND. */
  model: string;
  /** Which shipped tokenizer turns `output` into token ids (and token ids back into text on vllm.Inference). */
  tokenizer: StandInTokenizer;
  /** The directory GetTokenizer bundles instead of the tokenizer's own (a broken tokenizer, for instance). */
  tokenizerDir: string | null;
  /** GetTokenizer sends nothing until this settles (a slow fetch the test ends when it wants). */
  tokenizerGate: Promise<void> | null;
  /** What the model "generates", encoded without special tokens. Choice j of n starts at word j. */
  output: string;
  /** Token ids appended after the encoded output (e.g. a tool-call closing special token). */
  extraOutputIds: number[];
  /** End with the model's EOS token once the output is used up (finish "stop"); otherwise cycle to max tokens. */
  eosAtEnd: boolean;
  /** EOS ids (GetModelInfo eos_token_ids); default: the tokenizer config's eos_token. */
  eosTokenIds: number[] | null;
  /** Tokens per stream message. */
  tokensPerMessage: number;
  /** Delay before the first message, and between messages. */
  ttftMs: number;
  itlMs: number;
  /** `cached_tokens` reported for every request (a simulated prefix-cache hit, capped at the prompt). */
  cachedTokens: number;
  healthy: boolean;
  /** Scheduler loads for GetLoads (one rank). */
  loads: { running: number; waiting: number; tokenUsage: number };
  /** `default_sampling_params_json` of GetModelInfo. */
  defaultSamplingParams: Record<string, unknown>;
  maxContextLength: number;
  embeddingDim: number;
  failure: GrpcFailureSpec | null;
  /** Serve SubscribeKvEvents (vLLM started with --kv-events-config): each prompt's full blocks are cached and published. */
  kvEvents: boolean;
  /** Tokens per KV block (vLLM --block-size). */
  kvBlockSize: number;
  /** Blocks the prefix cache holds before evicting (BlockRemoved). */
  kvCapacityBlocks: number;
}

export const GRPC_ENGINE_DEFAULTS: Omit<GrpcEngineOptions, 'eosTokenIds'> & { eosTokenIds: null } = {
  protocol: 'vllm-engine',
  model: 'grpc-model',
  tokenizer: 'llama3_1',
  tokenizerDir: null,
  tokenizerGate: null,
  output: 'The quick brown fox jumps over the lazy dog.',
  extraOutputIds: [],
  eosAtEnd: true,
  eosTokenIds: null,
  tokensPerMessage: 1,
  ttftMs: 0,
  itlMs: 0,
  cachedTokens: 0,
  healthy: true,
  loads: { running: 0, waiting: 0, tokenUsage: 0 },
  defaultSamplingParams: {},
  maxContextLength: 131072,
  embeddingDim: 8,
  failure: null,
  kvEvents: false,
  kvBlockSize: 16,
  kvCapacityBlocks: 4096,
};

/** Takes the current fault for one call and counts down `times`. */
export function takeGrpcFailure(options: GrpcEngineOptions): GrpcFailureSpec | null {
  const failure = options.failure;
  if (failure === null) return null;
  if (failure.times !== undefined) options.failure = failure.times <= 1 ? null : { ...failure, times: failure.times - 1 };
  return failure;
}
