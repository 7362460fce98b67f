// vllm.grpc.engine.VllmEngine messages from and to the router's generation terms (proto/vllm_engine.proto; the
// servicer's reading of them is lightseekorg/smg grpc_servicer/smg_grpc_servicer/vllm/servicer.py).
import type { FinishReason, GenerationCounts, GenerationEvent, GenerationRequest, PromptTokenLogprob, TokenLogprob } from './generation.ts';

type Msg = Record<string, any>;

/** The GenerateRequest; always streamed, so the router sees every token as it is sampled. */
export function engineGenerateRequest(req: GenerationRequest): Msg {
  const s = req.sampling;
  const params: Msg = {
    // Unset temperature means 1.0 to the servicer, unset top_p and repetition_penalty mean 1.0: the router sends
    // what it resolved (request, then generation_config.json) and leaves the rest to the engine.
    ...(s.temperature !== undefined ? { temperature: s.temperature } : {}),
    ...(s.topP !== undefined ? { top_p: s.topP } : {}),
    ...(s.topK !== undefined && s.topK > 0 ? { top_k: s.topK } : {}),
    ...(s.minP !== undefined ? { min_p: s.minP } : {}),
    ...(s.frequencyPenalty !== undefined ? { frequency_penalty: s.frequencyPenalty } : {}),
    ...(s.presencePenalty !== undefined ? { presence_penalty: s.presencePenalty } : {}),
    ...(s.repetitionPenalty !== undefined ? { repetition_penalty: s.repetitionPenalty } : {}),
    max_tokens: s.maxTokens,
    ...(s.minTokens !== undefined ? { min_tokens: s.minTokens } : {}),
    stop: s.stop,
    stop_token_ids: s.stopTokenIds,
    skip_special_tokens: s.skipSpecialTokens,
    spaces_between_special_tokens: s.spacesBetweenSpecialTokens,
    ignore_eos: s.ignoreEos,
    n: s.n,
    ...(s.logprobs !== undefined ? { logprobs: s.logprobs } : {}),
    ...(s.promptLogprobs !== undefined ? { prompt_logprobs: s.promptLogprobs } : {}),
    ...(s.seed !== undefined ? { seed: s.seed } : {}),
    include_stop_str_in_output: s.includeStopStr,
    ...(s.logitBias !== undefined ? { logit_bias: s.logitBias } : {}),
    ...(s.truncatePromptTokens !== undefined ? { truncate_prompt_tokens: s.truncatePromptTokens } : {}),
    ...structured(req),
  };
  return {
    request_id: req.requestId,
    tokenized: { original_text: req.prompt.text ?? '', input_ids: req.prompt.ids ?? [] },
    sampling_params: params,
    stream: true,
    ...(req.dpRank !== undefined ? { data_parallel_rank: req.dpRank } : {}),
  };
}

function structured(req: GenerationRequest): Msg {
  const c = req.sampling.structured;
  if (c === undefined) return {};
  switch (c.kind) {
    case 'json_object':
      return { json_object: true };
    case 'choice':
      return { choice: { choices: c.value } };
    default:
      return { [c.kind]: c.value };
  }
}

function logprobsOf(out: Msg | undefined): TokenLogprob[] | undefined {
  if (out === undefined || out === null) return undefined;
  const ids: number[] = out.token_ids ?? [];
  const values: number[] = out.token_logprobs ?? [];
  const tops: Msg[] = out.top_logprobs ?? [];
  return ids.map((id, k) => ({
    id,
    logprob: values[k] ?? 0,
    top: (tops[k]?.token_ids ?? []).map((tid: number, j: number) => ({ id: tid, logprob: tops[k]!.values?.[j] ?? 0 })),
  }));
}

/**
 * InputLogProbs: one entry per prompt token, the first without a value (the servicer's `_build_input_logprobs`);
 * the top alternatives come in the engine's order, so their rank is their place.
 */
function promptLogprobsOf(input: Msg | undefined): PromptTokenLogprob[] | undefined {
  if (input === undefined || input === null) return undefined;
  const ids: number[] = input.token_ids ?? [];
  const values: Msg[] = input.token_logprobs ?? [];
  const tops: Msg[] = input.top_logprobs ?? [];
  return ids.map((id, k) => {
    const value = values[k]?.value;
    const topIds: number[] = tops[k]?.token_ids ?? [];
    const top = topIds.map((tid, j) => ({ id: tid, logprob: tops[k]!.values?.[j] ?? 0, rank: j + 1 }));
    const place = topIds.indexOf(id);
    return { id, logprob: typeof value === 'number' ? value : null, ...(place >= 0 ? { rank: place + 1 } : {}), top };
  });
}

const FINISH: Readonly<Record<string, FinishReason>> = { stop: 'stop', length: 'length', abort: 'abort' };

/**
 * The events of one GenerateResponse. A streamed `complete` repeats its sequence's last delta (the servicer
 * builds it from the same DELTA output), so only its finish is taken; `finish_reason: "error"` is an error.
 */
export function engineEvents(message: Msg, counts: GenerationCounts): GenerationEvent[] | { error: string } {
  if (message.chunk) {
    const c = message.chunk;
    counts.promptTokens = c.prompt_tokens ?? counts.promptTokens;
    counts.cachedTokens = c.cached_tokens ?? counts.cachedTokens;
    // Sent with each sequence's first chunk: the same prompt, kept once.
    if (c.input_logprobs && counts.promptLogprobs === undefined) counts.promptLogprobs = promptLogprobsOf(c.input_logprobs);
    const ids: number[] = c.token_ids ?? [];
    const logprobs = logprobsOf(c.output_logprobs);
    return [{ kind: 'tokens', index: c.index ?? 0, ids, count: ids.length, ...(logprobs ? { logprobs } : {}) }];
  }
  if (message.complete) {
    const c = message.complete;
    if (c.prompt_tokens) counts.promptTokens = c.prompt_tokens;
    if (c.cached_tokens) counts.cachedTokens = c.cached_tokens;
    if (c.input_logprobs && counts.promptLogprobs === undefined) counts.promptLogprobs = promptLogprobsOf(c.input_logprobs);
    const reason = FINISH[c.finish_reason ?? 'stop'];
    if (reason === undefined) return { error: `the engine ended the sequence with finish_reason ${JSON.stringify(c.finish_reason)}` };
    const stopReason = c.matched_stop_str ?? c.matched_token_id;
    return [{ kind: 'finish', index: c.index ?? 0, reason, ...(stopReason !== undefined ? { stopReason } : {}) }];
  }
  return [];
}
