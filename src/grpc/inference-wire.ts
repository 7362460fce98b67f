// vllm.Inference messages from and to the router's generation terms (proto/inference.proto; vLLM's Rust front end).
import type { FinishReason, GenerationCounts, GenerationEvent, GenerationRequest, PromptTokenLogprob, TokenLogprob } from './generation.ts';

type Msg = Record<string, any>;

export function inferenceGenerateRequest(req: GenerationRequest): Msg {
  const s = req.sampling;
  const structured = s.structured;
  const decoding: Msg = {
    ...(s.presencePenalty !== undefined ? { presence_penalty: s.presencePenalty } : {}),
    ...(s.frequencyPenalty !== undefined ? { frequency_penalty: s.frequencyPenalty } : {}),
    ...(s.repetitionPenalty !== undefined ? { repetition_penalty: s.repetitionPenalty } : {}),
    ...(s.logitBias !== undefined ? { logit_bias: s.logitBias } : {}),
    ...(s.allowedTokenIds !== undefined && s.allowedTokenIds.length > 0 ? { allowed_token_ids: s.allowedTokenIds } : {}),
  };
  if (structured !== undefined) {
    if (structured.kind === 'json_object') decoding.json_object = true;
    else if (structured.kind === 'choice') decoding.choice = { choices: structured.value };
    else decoding[structured.kind === 'json_schema' ? 'json' : structured.kind] = structured.value;
  }
  // logprob_token_ids names the candidates; otherwise the top `logprobs` ones.
  const candidates =
    s.logprobTokenIds !== undefined
      ? { output_candidates: { token_ids: { ids: s.logprobTokenIds } } }
      : s.logprobs !== undefined && s.logprobs > 0
        ? { output_candidates: { top_n: s.logprobs } }
        : {};
  // Prompt logprobs: the prompt's ids come back with them (to name each position); -1 asks for the whole vocabulary.
  const prompt = s.promptLogprobs === undefined
    ? {}
    : { prompt_token_ids: true, prompt_logprobs: true, ...(s.promptLogprobs !== 0 ? { prompt_candidates: s.promptLogprobs < 0 ? { all: true } : { top_n: s.promptLogprobs } } : {}) };
  return {
    request_id: req.requestId,
    model: req.model,
    ...(req.prompt.ids !== undefined ? { token_ids: { ids: req.prompt.ids } } : { text: req.prompt.text }),
    ...(s.temperature !== undefined ? { temperature: s.temperature } : {}),
    sampling: {
      num_sequences: s.n,
      ...(s.topK !== undefined && s.topK > 0 ? { top_k: s.topK } : {}),
      ...(s.topP !== undefined ? { top_p: s.topP } : {}),
      ...(s.minP !== undefined ? { min_p: s.minP } : {}),
      ...(s.seed !== undefined ? { seed: s.seed } : {}),
    },
    decoding,
    // max_new_tokens 0 would mean 20 to the engine: it is always sent.
    stopping: {
      max_new_tokens: s.maxTokens,
      ...(s.minTokens !== undefined ? { min_new_tokens: s.minTokens } : {}),
      stop_token_ids: s.stopTokenIds,
      stop_strings: s.stop,
      include_stop_strings: s.includeStopStr,
      ignore_eos: s.ignoreEos,
    },
    response: {
      ...prompt,
      output_text: true,
      output_token_ids: true,
      output_logprobs: s.logprobs !== undefined,
      ...candidates,
      skip_special_tokens: s.skipSpecialTokens,
    },
    ...(req.cacheSalt !== undefined ? { kv: { cache_salt: req.cacheSalt } } : {}),
    ...(s.truncatePromptTokens !== undefined && s.truncatePromptTokens > 0 ? { truncate_prompt_tokens: s.truncatePromptTokens } : {}),
    ...(req.priority !== undefined ? { priority: req.priority } : {}),
    ...(req.sessionId !== undefined ? { session_id: req.sessionId } : {}),
  };
}

const FINISH: Readonly<Record<string, FinishReason>> = { LENGTH: 'length', STOP: 'stop', ABORTED: 'abort' };

/**
 * PromptInfo's logprobs, ranks and candidates. The first prompt token has none (nothing precedes it): the values
 * are matched to the prompt's last positions, so a list one shorter than the ids leaves the first null.
 */
function promptLogprobsOf(info: Msg): PromptTokenLogprob[] | undefined {
  const ids: number[] = info.token_ids ?? [];
  const values: number[] = info.logprobs ?? [];
  if (values.length === 0 || ids.length === 0) return undefined;
  const ranks: number[] = info.ranks ?? [];
  const candidates: Msg[] = info.candidate_tokens ?? [];
  const skip = Math.max(0, ids.length - values.length);
  return ids.map((id, k) => {
    const at = k - skip;
    if (at < 0) return { id, logprob: null, top: [] };
    const top = ((candidates[at]?.tokens as Msg[] | undefined) ?? []).map((t) => ({ id: t.id ?? 0, logprob: t.logprob ?? 0, ...(t.rank ? { rank: t.rank } : {}) }));
    return { id, logprob: values[at]!, ...(ranks[at] ? { rank: ranks[at]! } : {}), top };
  });
}

export function inferenceEvents(message: Msg, counts: GenerationCounts): GenerationEvent[] | { error: string } {
  if (message.prompt_info) {
    counts.promptTokens = message.prompt_info.num_prompt_tokens ?? counts.promptTokens;
    if (counts.promptLogprobs === undefined) counts.promptLogprobs = promptLogprobsOf(message.prompt_info);
  }
  const out: Msg | undefined = message.outputs;
  if (!out) return [];
  const index: number = out.index ?? 0;
  const events: GenerationEvent[] = [];
  const ids: number[] = out.token_ids ?? [];
  const values: number[] = out.logprobs ?? [];
  const candidates: Msg[] = out.candidate_tokens ?? [];
  const logprobs: TokenLogprob[] | undefined =
    values.length > 0
      ? values.map((logprob, k) => ({
          id: ids[k] ?? 0,
          logprob,
          top: ((candidates[k]?.tokens as Msg[] | undefined) ?? []).map((t) => ({ id: t.id ?? 0, logprob: t.logprob ?? 0 })),
        }))
      : undefined;
  const count: number = out.num_tokens ?? ids.length;
  if (count > 0 || (out.text ?? '') !== '') events.push({ kind: 'tokens', index, ids, text: out.text ?? '', count, ...(logprobs ? { logprobs } : {}) });
  const finish: Msg | undefined = out.finish_info;
  if (finish && finish.finish_reason !== 'NOT_FINISHED') {
    const reason = FINISH[finish.finish_reason];
    if (reason === undefined) return { error: `the engine ended the sequence with finish_reason ${JSON.stringify(finish.finish_reason)}` };
    // vLLM's stop_reason: the stop string or stop token id; None for EOS.
    const stopReason = finish.stop_string ?? finish.stop_token_id;
    events.push({ kind: 'finish', index, reason, ...(stopReason !== undefined ? { stopReason } : {}) });
  }
  return events;
}
