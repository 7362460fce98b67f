// What the router knows of the model behind its gRPC endpoints: the vocabulary that turns token ids into text,
// sampling defaults (generation_config.json), and how its output is split (reasoning parser).
import type { ReasoningKind } from '../../text/reasoning.ts';
import type { ToolCallFormat } from '../../text/tool-calls.ts';
import type { Vocabulary } from '../../text/vocabulary.ts';
import type { SamplingDefaults } from './openai-request.ts';

export interface ModelText {
  /** Undefined without --model-path / --tokenizer-path: only vllm.Inference engines (text out) can then answer. */
  readonly vocab: Vocabulary | undefined;
  readonly defaults: SamplingDefaults;
  readonly reasoning: ReasoningKind | undefined;
  /** How tool calls are written in the output: --tool-call-parser, or found in the chat template. */
  readonly toolCalls: ToolCallFormat | undefined;
}

/** vLLM's `get_diff_sampling_param`: the generation_config.json fields it takes as request defaults. */
export function samplingDefaultsOf(generationConfig: unknown): SamplingDefaults {
  if (generationConfig === null || typeof generationConfig !== 'object') return {};
  const g = generationConfig as Record<string, unknown>;
  const n = (key: string) => (typeof g[key] === 'number' && Number.isFinite(g[key]) ? (g[key] as number) : undefined);
  const out: Record<string, number> = {};
  for (const [from, to] of [
    ['temperature', 'temperature'],
    ['top_p', 'top_p'],
    ['top_k', 'top_k'],
    ['min_p', 'min_p'],
    ['repetition_penalty', 'repetition_penalty'],
    ['max_new_tokens', 'max_tokens'],
  ] as const) {
    const v = n(from);
    if (v !== undefined) out[to] = v;
  }
  return out;
}
