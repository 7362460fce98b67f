// A generation as the router asks for it and hears it back, whichever of the two engine protocols carries it.

export type GrpcProtocol = 'vllm-engine' | 'vllm-inference';

/**
 * A prompt's token ids: a JSON array from the request body, or the tokenizer pool's typed array (a view of the
 * buffer its thread transferred: a 33k-token prompt never becomes a JS array on the event loop).
 */
export type TokenIds = readonly number[] | Uint32Array;

/** Structured output: one constraint, as both protocols carry it (a oneof). */
export type StructuredOutput =
  | { readonly kind: 'json_schema'; readonly value: string }
  | { readonly kind: 'regex'; readonly value: string }
  | { readonly kind: 'grammar'; readonly value: string }
  | { readonly kind: 'structural_tag'; readonly value: string }
  | { readonly kind: 'json_object' }
  | { readonly kind: 'choice'; readonly value: readonly string[] };

/** vLLM's SamplingParams fields the protocols carry; unset means the engine's default. */
export interface Sampling {
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly minP?: number;
  readonly frequencyPenalty?: number;
  readonly presencePenalty?: number;
  readonly repetitionPenalty?: number;
  /** Always set: an unset max on vllm.Inference means 20 tokens, on VllmEngine the whole context. */
  readonly maxTokens: number;
  readonly minTokens?: number;
  readonly stop: readonly string[];
  readonly stopTokenIds: readonly number[];
  readonly includeStopStr: boolean;
  readonly ignoreEos: boolean;
  readonly n: number;
  /** Top alternatives per output token (0: only the sampled token's logprob); unset: no logprobs. */
  readonly logprobs?: number;
  readonly promptLogprobs?: number;
  readonly seed?: number;
  readonly logitBias?: Readonly<Record<string, number>>;
  /** Logprobs of these token ids at every output position, instead of the top ones (vllm.Inference carries it). */
  readonly logprobTokenIds?: readonly number[];
  /** Only these token ids may be sampled (vllm.Inference carries it; VllmEngine does not). */
  readonly allowedTokenIds?: readonly number[];
  readonly skipSpecialTokens: boolean;
  readonly spacesBetweenSpecialTokens: boolean;
  readonly truncatePromptTokens?: number;
  readonly structured?: StructuredOutput;
}

export interface GenerationRequest {
  /** The engine's request id: what Abort names. */
  readonly requestId: string;
  readonly model: string;
  /**
   * The prompt as token ids (always, on VllmEngine), with the same ids as protobuf packed varints when the pool
   * wrote them; or, on vllm.Inference only, as text.
   */
  readonly prompt:
    | { readonly ids: TokenIds; readonly packedIds?: Uint8Array; readonly text?: string }
    | { readonly ids?: undefined; readonly packedIds?: undefined; readonly text: string };
  readonly sampling: Sampling;
  /** Data-parallel rank to pin the request to. */
  readonly dpRank?: number;
  readonly cacheSalt?: string;
  readonly priority?: number;
  /** vLLM's session_id (vllm.Inference carries it). */
  readonly sessionId?: string;
}

/** One output token's logprob and its top alternatives (ids; the front turns them into text). */
export interface TokenLogprob {
  readonly id: number;
  readonly logprob: number;
  readonly top: readonly { readonly id: number; readonly logprob: number }[];
}

export type FinishReason = 'stop' | 'length' | 'abort';

/** What the engine said about one sequence; `index` is the choice. */
export type GenerationEvent =
  | {
      readonly kind: 'tokens';
      readonly index: number;
      /** The new token ids (empty on vllm.Inference unless asked for). */
      readonly ids: readonly number[];
      /** The new text, on vllm.Inference (already detokenized and stop-trimmed by the engine). */
      readonly text?: string;
      /** How many tokens this message carries (ids may be absent). */
      readonly count: number;
      readonly logprobs?: readonly TokenLogprob[];
    }
  | {
      readonly kind: 'finish';
      readonly index: number;
      readonly reason: FinishReason;
      /** The stop string or stop token id that ended it (vLLM's stop_reason); undefined for EOS and length. */
      readonly stopReason?: string | number;
    };

/**
 * One prompt token's logprob as the engine reports it: `logprob` null for the first token (nothing precedes it),
 * `rank` where the protocol carries it, and the top alternatives.
 */
export interface PromptTokenLogprob {
  readonly id: number;
  readonly logprob: number | null;
  readonly rank?: number;
  readonly top: readonly { readonly id: number; readonly logprob: number; readonly rank?: number }[];
}

/** Counts the engine reports for the request (the latest seen), and the prompt's logprobs once they arrive. */
export interface GenerationCounts {
  promptTokens: number;
  cachedTokens: number;
  promptLogprobs?: readonly PromptTokenLogprob[];
}

export interface GenerationHandlers {
  onEvent(event: GenerationEvent): void;
  /** The stream ended normally: every sequence has finished (or the engine closed it). */
  onEnd(): void;
  /** The call failed: `code` is the gRPC status, `beforeFirst` whether anything had arrived. */
  onError(error: { readonly code: number; readonly message: string }): void;
}

export interface GenerationCall {
  /** Counts from the engine so far. */
  readonly counts: GenerationCounts;
  /** Cancels the stream and, where a dropped stream does not abort (vllm.Inference), sends Abort. Once. */
  abort(): void;
}
