// Start-up step: the QoE settings (targets, header names) the flags give, checked once.
import type { Config } from '../config/schema.ts';
import { resolveQoeOptions, type QoeOptions, type QoeOptionsInput } from '../policies/qoe/options.ts';
import { ConfigProblem } from './config-problem.ts';

export function resolveQoe(config: Config): QoeOptions {
  try {
    return resolveQoeOptions(qoeInput(config));
  } catch (e) {
    throw new ConfigProblem((e as Error).message);
  }
}

/** The QoE settings the flags give (the rest keep the defaults of policies/qoe/options.ts). */
export function qoeInput(c: Config): QoeOptionsInput {
  return {
    targetTtftMs: c.target_ttft_ms,
    targetItlMs: c.target_itl_ms,
    probeIntervalMs: c.qoe_probe_interval_secs * 1000,
    optimalThroughput: c.optimal_throughput,
    headers: { priority: c.priority_header, slaTarget: c.sla_target_header, slaTpot: c.sla_tpot_header, expectedTokensPerSecond: c.expected_tps_header },
  };
}
