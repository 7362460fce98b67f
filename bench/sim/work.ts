// What one run replays: a request list with fixed send times (chat, longdoc, mixed), or agent sessions that
// start at fixed times and then send their turns closed-loop; and how each is replayed.
import { buildAgentSessions, type AgentSession, type AgentShape } from './agent-workload.ts';
import { replay, type Replay, type ReplayOptions } from './client.ts';
import { replaySessions } from './session-replay.ts';
import type { SimTokenizer } from './sim-tokenizer.ts';
import { buildWorkload, type SimRequestSpec, type WorkloadName } from './workloads.ts';

export type Work =
  | { kind: 'requests'; specs: SimRequestSpec[] }
  /** Sessions carry what the replay needs to write each turn: the tokenizer that counts it, the estimate noise. */
  | { kind: 'sessions'; sessions: AgentSession[]; tokenizer: SimTokenizer; outputEstimateNoise: number | undefined };

export interface WorkOptions {
  seed: number;
  rate: number;
  durationSec: number;
  model: string;
  /** Chat and mixed: distinct system prompts (undefined: the workload's default). */
  systemPrompts: number | undefined;
  tokenizer: SimTokenizer;
  /** Send noisy output-length estimates with this σ (undefined: none, as real clients). */
  outputEstimateNoise: number | undefined;
}

/** `agentShape` set: agent sessions of that shape; otherwise the request list of `workload`. */
export function buildWork(workload: WorkloadName, agentShape: AgentShape | null, o: WorkOptions): Work {
  if (agentShape !== null) {
    const countTokens = (text: string): number => o.tokenizer.promptIds(text).length - 1; // without the BOS
    const sessions = buildAgentSessions({ seed: o.seed, rate: o.rate, durationSec: o.durationSec, shape: agentShape, countTokens });
    return { kind: 'sessions', sessions, tokenizer: o.tokenizer, outputEstimateNoise: o.outputEstimateNoise };
  }
  const noise = o.outputEstimateNoise === undefined ? {} : { outputEstimateNoise: o.outputEstimateNoise };
  return { kind: 'requests', specs: buildWorkload(workload, { seed: o.seed, rate: o.rate, durationSec: o.durationSec, model: o.model, tokenizer: o.tokenizer, ...noise, ...(o.systemPrompts === undefined ? {} : { systemPrompts: o.systemPrompts }) }) };
}

/** Requests the work plans (agent: every turn of every session, sent or not). */
export const requestsOf = (w: Work): number => (w.kind === 'requests' ? w.specs.length : w.sessions.reduce((n, s) => n + s.turns.length, 0));

/** When the last request (or session) is due, ms after the replay starts: the drain deadline counts from it. */
export const lastArrivalOf = (w: Work): number => (w.kind === 'requests' ? (w.specs.at(-1)?.at ?? 0) : (w.sessions.at(-1)?.startAt ?? 0));

export const replayWork = (urls: readonly string[], w: Work, o: ReplayOptions, model: string): Promise<Replay> =>
  w.kind === 'requests'
    ? replay(urls, w.specs, o)
    : replaySessions(urls, w.sessions, { ...o, model, tokenizer: w.tokenizer, ...(w.outputEstimateNoise === undefined ? {} : { outputEstimateNoise: w.outputEstimateNoise }) });
