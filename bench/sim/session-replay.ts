// Replays closed-loop sessions (agent-workload.ts): sessions start at their open-loop arrival times, and within
// a session each turn is sent once the previous reply has fully arrived and the turn's think time has passed.
// The history sent back holds the reply text the engine really streamed, not a prediction of it.
import { createReplayRun, sendRequest, blankResult, type Replay, type ReplayOptions, type RequestResult } from './client.ts';
import { createReplicaPicker } from './replicas.ts';
import type { AgentSession } from './agent-workload.ts';
import { createRng, type Rng } from './rng.ts';
import type { SimTokenizer } from './sim-tokenizer.ts';
import type { ChatMessage } from './tokens.ts';
import { CLASSES, noisyEstimate, qoeExpectationOf, type SimRequestSpec } from './workloads.ts';

export interface SessionReplayOptions extends ReplayOptions {
  model: string;
  /** Counts each turn's prompt tokens as the engine does. */
  tokenizer: SimTokenizer;
  /** As workloads.ts: send a log-normal estimate of the output length with this σ; unset, send none. */
  outputEstimateNoise?: number;
}

/** What one turn needs besides the session: the conversation so far and how to count and estimate. */
export interface TurnContext {
  messages: readonly ChatMessage[];
  maxTokens: number;
  model: string;
  tokenizer: SimTokenizer;
  /** The session's estimate generator, when the replay sends estimates. */
  estimate?: { rng: Rng; sigma: number };
}

/** The request of one turn: the whole conversation so far, as an agent framework sends it. */
export function agentTurnSpec(seq: number, at: number, session: AgentSession, turn: number, t: TurnContext): SimRequestSpec {
  const { priority, sla } = CLASSES.agent;
  const { messages, maxTokens, model } = t;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-request-priority': String(priority),
    'x-sla-target-ms': String(sla.ttftMs),
    'x-sla-tpot-ms': String(sla.tpotMs),
    'x-expected-tokens-per-second': String(qoeExpectationOf(sla).tokensPerSecond),
  };
  if (t.estimate !== undefined) headers['x-expected-output-tokens'] = String(noisyEstimate(t.estimate.rng, maxTokens, t.estimate.sigma));
  return {
    seq,
    at,
    cls: 'agent',
    tag: `a${session.id}#${turn + 1}`,
    session: `a${session.id}`,
    path: '/v1/chat/completions',
    body: JSON.stringify({ model, messages, max_tokens: maxTokens, stream: true, stream_options: { include_usage: true } }),
    headers,
    promptTokens: t.tokenizer.chatIds(messages).length,
    maxTokens,
    priority,
    sla,
  };
}

/**
 * One result per planned turn, numbered session by session. A turn due after the deadline (the last session's
 * start + drainMs), or after an earlier turn of its session did not complete, is never sent ('not_sent').
 */
export async function replaySessions(targets: readonly string[], sessions: readonly AgentSession[], o: SessionReplayOptions): Promise<Replay> {
  const pick = createReplicaPicker(targets.length, o.pinSessions === true);
  const firstSeq: number[] = [];
  const results: RequestResult[] = [];
  for (const s of sessions) {
    firstSeq.push(results.length);
    for (let k = 0; k < s.turns.length; k++) results.push({ ...blankResult({ seq: results.length, cls: 'agent', at: Number.NaN }, Number.NaN), outcome: 'not_sent' });
  }
  const run = createReplayRun(results.length, o.onProgress);
  const deadline = (sessions.at(-1)?.startAt ?? 0) + o.drainMs;
  let over = false;
  const elapsed = (): number => performance.now() - run.t0;

  const runSession = async (s: AgentSession, first: number): Promise<void> => {
    const messages: ChatMessage[] = [{ role: 'system', content: s.system }];
    const estimate = o.outputEstimateNoise === undefined ? undefined : { rng: createRng(s.id).fork('output-estimate'), sigma: o.outputEstimateNoise };
    let dueAt = s.startAt;
    const giveUp = (from: number, why: string): void => {
      for (let k = from; k < s.turns.length; k++) {
        (results[first + k] as RequestResult).detail = why;
        run.skip();
      }
    };
    for (const [k, turn] of s.turns.entries()) {
      dueAt += turn.thinkMs;
      if (dueAt > deadline) return giveUp(k, 'not sent: due after the deadline');
      if (dueAt > elapsed()) await Bun.sleep(dueAt - elapsed());
      if (over) return giveUp(k, 'not sent: due after the deadline');
      messages.push({ role: 'user', content: turn.user });
      const spec = agentTurnSpec(first + k, dueAt, s, k, { messages, maxTokens: turn.maxTokens, model: o.model, tokenizer: o.tokenizer, ...(estimate === undefined ? {} : { estimate }) });
      const r = blankResult(spec, Number.NaN);
      results[first + k] = r;
      r.replica = pick(spec.session);
      const reply: string[] = [];
      await run.track((signal) => sendRequest(targets[r.replica as number] as string, spec, r, run.t0, signal, reply));
      if (r.outcome !== 'ok') return giveUp(k + 1, `not sent: turn ${k + 1} of the session ended ${r.outcome}`);
      messages.push({ role: 'assistant', content: reply.join('') });
      dueAt = elapsed();
    }
  };

  const running = sessions.map((s, i) => runSession(s, firstSeq[i] as number));
  const spanMs = await run.end(deadline);
  over = true;
  // Sessions waiting for a turn wake, see the deadline passed and give up; aborted turns settle at once.
  await Promise.all(running);
  return { results, spanMs };
}
