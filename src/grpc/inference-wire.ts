// vllm.Inference messages from and to the router's generation terms (proto/inference.proto; vLLM's Rust front end).
import type { FinishReason, GenerationCounts, GenerationEvent, GenerationRequest, TokenLogprob } from './generation.ts';

type Msg = Record<string, any>;

export function inferenceGenerateRequest(req: GenerationRequest): Msg {
  const s = req.sampling;
  const structured = s.structured;
  const decoding: Msg = {
    ...(s.presencePenalty !== undefined ? { presence_penalty: s.presencePenalty } : {}),
    ...(s.frequencyPenalty !== undefined ? { frequency_penalty: s.frequencyPenalty } : {}),
    ...(s.repetitionPenalty !== undefined ? { repetition_penalty: s.repetitionPenalty } : {}),
    ...(s.logitBias !== undefined ? { logit_bias: s.logitBias } : {}),
  };
  if (structured !== undefined) {
    if (structured.kind === 'json_object') decoding.json_object = true;
    else if (structured.kind === 'choice') decoding.choice = { choices: structured.value };
    else decoding[structured.kind === 'json_schema' ? 'json' : structured.kind] = structured.value;
  }
  const candidates = s.logprobs !== undefined && s.logprobs > 0 ? { output_candidates: { top_n: s.logprobs } } : {};
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
      output_text: true,
      output_token_ids: true,
      output_logprobs: s.logprobs !== undefined,
      ...candidates,
      skip_special_tokens: s.skipSpecialTokens,
    },
    ...(req.cacheSalt !== undefined ? { kv: { cache_salt: req.cacheSalt } } : {}),
    ...(s.truncatePromptTokens !== undefined && s.truncatePromptTokens > 0 ? { truncate_prompt_tokens: s.truncatePromptTokens } : {}),
    ...(req.priority !== undefined ? { priority: req.priority } : {}),
  };
}

const FINISH: Readonly<Record<string, FinishReason>> = { LENGTH: 'length', STOP: 'stop', ABORTED: 'abort' };

export function inferenceEvents(message: Msg, counts: GenerationCounts): GenerationEvent[] | { error: string } {
  if (message.prompt_info) counts.promptTokens = message.prompt_info.num_prompt_tokens ?? counts.promptTokens;
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
