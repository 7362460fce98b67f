// Which prefill/decode flavour the flags ask for, if any: the one fact most start-up steps branch on.
import type { Config } from '../config/schema.ts';

/** vLLM's two-stage flow (--vllm-pd-disaggregation), the SGLang-style pair (--pd-disaggregation), or neither. */
export type PdMode = 'vllm' | 'sglang' | undefined;

export function pdModeOf(config: Config): PdMode {
  return config.vllm_pd_disaggregation ? 'vllm' : config.pd_disaggregation ? 'sglang' : undefined;
}
