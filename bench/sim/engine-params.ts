// The engine's parameters and its step-time model: what one vLLM engine step costs, from the work in it.
// bench/README.md explains the defaults and what they are calibrated against; engine-presets.ts derives the
// parameters of real GPU classes.

export interface EngineParams {
  /** Tokens per KV block (`--block-size`), also the prefix-cache granularity. */
  blockSize: number;
  /** KV capacity in blocks (what vLLM sizes from free GPU memory after loading weights). */
  kvBlocks: number;
  /** `--max-num-seqs`: the most requests in the running batch. */
  maxNumSeqs: number;
  /** `--max-num-batched-tokens`: the token budget of one step; longer prompts are prefilled in chunks. */
  maxNumBatchedTokens: number;
  /** `--max-model-len`: prompt + max_tokens must fit. */
  maxModelLen: number;
  /** `--scheduling-policy`: first come first served, or by the request's `priority` (lower first). */
  scheduling: 'fcfs' | 'priority';
  /** Fixed cost of a step: reading the weights once, kernel launches, sampling. */
  stepBaseMs: number;
  /** Cost of each prompt token computed (prefill is compute-bound: ≈ 1 / prefill throughput). */
  prefillMsPerToken: number;
  /** Attention of each prompt token computed, per 1000 tokens of context it attends over (the cached prefix,
   * earlier chunks and the tokens before it in its own chunk): prefill's quadratic term. */
  prefillAttentionMsPerKTokens: number;
  /** Cost of each sequence decoding one token in the step. */
  decodeMsPerSeq: number;
  /** Cost of the attention reads of decoding sequences, per 1000 tokens of context they hold. */
  attentionMsPerKTokens: number;
  /** Decode role: cost of pulling one prompt token's KV from the prefill engine. */
  kvTransferMsPerToken: number;
  /** Divides every step time: 2 is an engine twice as fast (a bigger GPU), 0.5 half as fast. */
  speed: number;
}

/** A small GPU (A10G/L4 class) serving an 8B model; see bench/README.md for the calibration. */
export const DEFAULT_ENGINE_PARAMS: Readonly<EngineParams> = {
  blockSize: 16,
  kvBlocks: 1800,
  maxNumSeqs: 256,
  maxNumBatchedTokens: 2048,
  maxModelLen: 8192,
  scheduling: 'fcfs',
  stepBaseMs: 30,
  prefillMsPerToken: 0.25,
  prefillAttentionMsPerKTokens: 0.0082,
  decodeMsPerSeq: 0.5,
  attentionMsPerKTokens: 0.25,
  kvTransferMsPerToken: 0.005,
  speed: 1,
};

/** The context that `n` prompt tokens computed after `computed` earlier ones attend over, summed over the
 * tokens: token k (from 1) of the chunk attends over the `computed` tokens before the chunk and k of its own. */
export function attendedContext(computed: number, n: number): number {
  return n * computed + (n * (n + 1)) / 2;
}

/** What one step computes. */
export interface StepWork {
  /** Prompt (or recomputed) tokens computed in this step. */
  prefillTokens: number;
  /** Σ over those tokens of the context each attends over (its position in the sequence, itself included). */
  prefillContextTokens: number;
  /** Sequences that each decode one token. */
  decodeSeqs: number;
  /** Context tokens those decoding sequences attend over. */
  contextTokens: number;
  /** Prompt tokens pulled from a prefill engine (decode role). */
  transferTokens: number;
}

/** The step-time model: linear in the work of the step, divided by the engine's speed. */
export function stepTimeMs(p: Readonly<EngineParams>, w: StepWork): number {
  const ms =
    p.stepBaseMs +
    w.prefillTokens * p.prefillMsPerToken +
    (w.prefillContextTokens / 1000) * p.prefillAttentionMsPerKTokens +
    w.decodeSeqs * p.decodeMsPerSeq +
    (w.contextTokens / 1000) * p.attentionMsPerKTokens +
    w.transferTokens * p.kvTransferMsPerToken;
  return ms / p.speed;
}
