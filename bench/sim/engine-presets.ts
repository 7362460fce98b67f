// Engine presets: the parameters of one vLLM engine serving Llama-3.1-8B in bf16 on a real GPU class, derived
// from the GPU's datasheet (memory, bandwidth, dense BF16 tensor throughput) and vLLM's defaults for it.
// bench/README.md ("Presets") lists the sources of every figure and the derived parameters.
//
// Decode-side costs (reading the weights every step, reading the KV in attention) scale with memory
// bandwidth; prefill-side costs (the matrix multiplications per token, prefill attention) and the per-sequence
// decode cost scale with compute. So a "slow" engine is slow in the way its GPU is, with its own KV capacity.
import { DEFAULT_ENGINE_PARAMS, type EngineParams } from './engine-params.ts';

export interface GpuSpec {
  /** Memory the driver reports, GiB (a "24 GB" card shows ~22.5). */
  memoryGiB: number;
  /** Memory bandwidth, GB/s (datasheet). */
  bandwidthGBs: number;
  /** Dense BF16 tensor throughput, TFLOPS (datasheet figure without structured sparsity). */
  bf16Tflops: number;
  /** vLLM's API-server batch defaults on this GPU: ≥ 70 GiB and not an A100 gets 8192 / 1024, the rest
   * 2048 / 256 (vllm/engine/arg_utils.py, EngineArgs.get_batch_defaults; the A100 exception is vLLM PR 17885). */
  maxNumBatchedTokens: number;
  maxNumSeqs: number;
}

/** Llama-3.1-8B: 8.03 B parameters in bf16, 32 layers, hidden 4096, 8 KV heads of 128. */
export const LLAMA_8B = { parameters: 8.03e9, bytesPerParameter: 2, layers: 32, hidden: 4096, kvHeads: 8, headDim: 128, nativeContext: 131_072 } as const;

/** Share of the bandwidth roofline vLLM reaches in decode: 75 tok/s at batch 1 on an A100-40GB (13.3 ms per
 * step) against 16.06 GB / 1555 GB/s = 10.3 ms (the measurement bench/README.md cites). */
export const BANDWIDTH_EFFICIENCY = 0.77;
/** Share of the dense tensor peak prefill reaches (large GEMMs; the default calibration's 50%). */
export const COMPUTE_EFFICIENCY = 0.5;
/** A decoding sequence costs twice a prefill token's compute (small-batch GEMMs run at half the efficiency,
 * plus sampling): the default calibration's ratio (0.5 ms against 0.25 ms). */
export const DECODE_TO_PREFILL_COMPUTE = 2;
/** vLLM's --gpu-memory-utilization default. */
export const GPU_MEMORY_UTILIZATION = 0.9;

export const GPUS = {
  /** NVIDIA L4 datasheet: 24 GB GDDR6, 300 GB/s, 242 BF16 TFLOPS with sparsity (121 dense). */
  l4: { memoryGiB: 22.5, bandwidthGBs: 300, bf16Tflops: 121, maxNumBatchedTokens: 2048, maxNumSeqs: 256 },
  /** AWS's A10G (g5): the A10's 24 GB GDDR6 at 600 GB/s, but ~70 dense BF16 tensor TFLOPS against the A10's 125. */
  a10g: { memoryGiB: 22.5, bandwidthGBs: 600, bf16Tflops: 70, maxNumBatchedTokens: 2048, maxNumSeqs: 256 },
  /** NVIDIA A100 datasheet: 40 GB HBM2, 1555 GB/s, 312 dense BF16 TFLOPS. */
  'a100-40g': { memoryGiB: 39.4, bandwidthGBs: 1555, bf16Tflops: 312, maxNumBatchedTokens: 2048, maxNumSeqs: 256 },
  /** NVIDIA A100 80GB SXM: HBM2e, 2039 GB/s, 312 dense BF16 TFLOPS. */
  'a100-80g': { memoryGiB: 79.2, bandwidthGBs: 2039, bf16Tflops: 312, maxNumBatchedTokens: 2048, maxNumSeqs: 256 },
  /** NVIDIA H100 SXM datasheet: 80 GB HBM3, 3350 GB/s, 989 dense BF16 TFLOPS (1979 with sparsity). */
  h100: { memoryGiB: 79.1, bandwidthGBs: 3350, bf16Tflops: 989, maxNumBatchedTokens: 8192, maxNumSeqs: 1024 },
} as const satisfies Record<string, GpuSpec>;

export type PresetName = keyof typeof GPUS;
export const PRESET_NAMES = Object.keys(GPUS) as PresetName[];

const GIB = 2 ** 30;

/** KV bytes one token holds: K and V, per layer, per KV head, in bf16 (128 KiB for Llama-3.1-8B). */
export const kvBytesPerToken = (m: typeof LLAMA_8B = LLAMA_8B): number => 2 * m.layers * m.kvHeads * m.headDim * 2;

/** GPU memory held back from the KV for activations, CUDA graphs and the non-torch allocations, GiB: more
 * with a larger token budget per step. */
const reserveGiB = (maxNumBatchedTokens: number): number => (maxNumBatchedTokens > 2048 ? 2.5 : 1.5);

/** The engine parameters of Llama-3.1-8B bf16 on `gpu`. */
export function paramsForGpu(gpu: GpuSpec, m: typeof LLAMA_8B = LLAMA_8B): EngineParams {
  const weightBytes = m.parameters * m.bytesPerParameter;
  const bandwidth = BANDWIDTH_EFFICIENCY * gpu.bandwidthGBs * 1e9; // bytes per second
  const flops = COMPUTE_EFFICIENCY * gpu.bf16Tflops * 1e12;
  const prefillMsPerToken = ((2 * m.parameters) / flops) * 1000;
  // Attention of one query over one key: QKᵀ and the weighted sum of V, 2 · hidden FLOPs each, per layer.
  const attentionFlopsPerKey = 4 * m.hidden * m.layers;
  const kvGiB = GPU_MEMORY_UTILIZATION * gpu.memoryGiB - weightBytes / GIB - reserveGiB(gpu.maxNumBatchedTokens);
  const blockSize = DEFAULT_ENGINE_PARAMS.blockSize;
  const kvBlocks = Math.floor((kvGiB * GIB) / (kvBytesPerToken(m) * blockSize));
  return {
    ...DEFAULT_ENGINE_PARAMS,
    blockSize,
    kvBlocks,
    maxNumSeqs: gpu.maxNumSeqs,
    maxNumBatchedTokens: gpu.maxNumBatchedTokens,
    // The model's native context when the KV holds it (vLLM's default); else what operators pass on 24 GB cards.
    maxModelLen: kvBlocks * blockSize >= m.nativeContext ? m.nativeContext : 8192,
    stepBaseMs: (weightBytes / bandwidth) * 1000,
    prefillMsPerToken,
    prefillAttentionMsPerKTokens: ((1000 * attentionFlopsPerKey) / flops) * 1000,
    decodeMsPerSeq: DECODE_TO_PREFILL_COMPUTE * prefillMsPerToken,
    attentionMsPerKTokens: ((1000 * kvBytesPerToken(m)) / bandwidth) * 1000,
  };
}

export function presetParams(name: PresetName): EngineParams {
  return paramsForGpu(GPUS[name]);
}

export const isPresetName = (name: string): name is PresetName => Object.hasOwn(GPUS, name);
