// The long-context agent workload: sessions that arrive open-loop (Poisson) and then run closed-loop, each
// turn sent once the previous reply has arrived and the "tool" has run (a think time). A session opens with one
// of a few long shared system prompts (instructions plus tool definitions) and a short task; every later turn
// appends a tool result of hundreds to thousands of tokens and asks for a short answer, so contexts grow past
// 10k tokens while each turn adds little new text: the case where landing on the engine that holds the
// session's KV decides TTFT.
//
// This file writes the scripts (every text, length and think time, seeded); the replies are not in them: the
// client (session-replay.ts) sends back the text the engine really streamed, as an agent framework does.
import { poissonArrivals } from './arrivals.ts';
import { createRng, type Rng } from './rng.ts';
import { VOCABULARY } from './tokens.ts';

/** Sizes in words of the simulated vocabulary (each one Llama 3.1 token, tokens.ts); session lengths are checked
 * in real tokens. `[lo, hi]` ranges are uniform, except tool results: log-uniform,
 * so most are a few hundred tokens and a few are thousands, as file reads and search results are. */
export const AGENT_SHAPE = {
  systemPrompts: 3,
  systemPromptTokens: [2000, 4000] as [number, number],
  taskTokens: [50, 300] as [number, number],
  turnsPerSession: [8, 24] as [number, number],
  toolResultTokens: [200, 3000] as [number, number],
  askTokens: [5, 30] as [number, number],
  answerTokens: [20, 120] as [number, number],
  /** Tool run time between a reply and the next turn: a floor plus an exponential part. */
  thinkFloorMs: 200,
  thinkMeanMs: 1500,
  /**
   * A session ends before a turn whose prompt plus max_tokens would pass this many tokens (counted with the
   * engine's tokenizer and chat template). 30000 leaves room under an engine `--max-model-len` of 32768; lower
   * it with `--shape maxContextTokens=N` for an engine with less.
   */
  maxContextTokens: 30_000,
};
export type AgentShape = typeof AGENT_SHAPE;

export interface AgentTurn {
  /** The user message this turn appends: the task (turn 0) or a tool result and a short ask. */
  user: string;
  maxTokens: number;
  /** Wait after the previous reply before sending this turn (0 for the first turn). */
  thinkMs: number;
}

export interface AgentSession {
  id: number;
  /** When the session's first turn is sent, ms from the start of the replay. */
  startAt: number;
  system: string;
  turns: AgentTurn[];
}

export interface AgentWorkloadOptions {
  seed: number;
  /** Session arrivals per second (Poisson). */
  rate: number;
  durationSec: number;
  shape?: Partial<AgentShape>;
  /** Tokens of a message's text, without the chat template's markers (SimTokenizer: the engine's own count). */
  countTokens: (text: string) => number;
}

function words(rng: Rng, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(rng.pick(VOCABULARY));
  return out.join(' ');
}

const uniform = (rng: Rng, [lo, hi]: readonly [number, number]): number => rng.int(lo, hi);
const logUniform = (rng: Rng, [lo, hi]: readonly [number, number]): number => Math.round(Math.exp(Math.log(lo) + rng.next() * (Math.log(hi) - Math.log(lo))));
/** Llama 3.1's chat template around each message: <|start_header_id|>, the role, <|end_header_id|>, "\n\n"
 * before the text and <|eot_id|> after it. */
export const MESSAGE_MARKERS = 5;
/** What the template adds once: <|begin_of_text|>, the system header's "Cutting Knowledge Date…" lines, and the
 * generation prompt (<|start_header_id|>assistant<|end_header_id|>"\n\n"). A bound, not an exact count. */
export const CHAT_OVERHEAD = 32;

/** The sessions of one run, in arrival order. The same seed always gives the same scripts. */
export function buildAgentSessions(o: AgentWorkloadOptions): AgentSession[] {
  const shape: AgentShape = { ...AGENT_SHAPE, ...o.shape };
  const root = createRng(o.seed);
  const systemRng = root.fork('agent-system');
  const systems = Array.from({ length: shape.systemPrompts }, (_, i) => `You are agent number ${i}. Tools: ${words(systemRng, uniform(systemRng, shape.systemPromptTokens))}`);
  const arrivals = poissonArrivals(root.fork('agent-arrivals'), o.rate, o.durationSec);
  return arrivals.map((startAt, id) => {
    // One generator per session: a change to one session's length does not shift every later session.
    const rng = root.fork(`agent-session-${id}`);
    const system = rng.pick(systems);
    const planned = uniform(rng, shape.turnsPerSession);
    const turns: AgentTurn[] = [];
    // System message + the template's fixed part; each turn then adds its user message and a reply of max_tokens
    // (the reply's words are one token each, so its text is max_tokens tokens).
    const messageTokens = (text: string): number => MESSAGE_MARKERS + o.countTokens(text);
    let context = messageTokens(system) + CHAT_OVERHEAD;
    for (let k = 0; k < planned; k++) {
      const user = k === 0 ? `Task: ${words(rng, uniform(rng, shape.taskTokens))}` : `Tool result: ${words(rng, logUniform(rng, shape.toolResultTokens))} Next: ${words(rng, uniform(rng, shape.askTokens))}`;
      const maxTokens = uniform(rng, shape.answerTokens);
      const thinkMs = k === 0 ? 0 : shape.thinkFloorMs + rng.exp(shape.thinkMeanMs);
      const prompt = context + messageTokens(user);
      if (prompt + maxTokens > shape.maxContextTokens) break;
      turns.push({ user, maxTokens, thinkMs });
      context = prompt + MESSAGE_MARKERS + maxTokens;
    }
    return { id, startAt, system, turns };
  });
}

/**
 * `--shape` for the agent workload: comma-separated `key=N` or `key=LO-HI` (the keys of AGENT_SHAPE), e.g.
 * `maxContextTokens=16000,toolResultTokens=100-2000`. The result is the whole shape, or what is wrong.
 */
export function parseAgentShape(text: string): AgentShape | { error: string } {
  const shape: Record<string, unknown> = { ...AGENT_SHAPE };
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = /^(\w+)=(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?$/.exec(part);
    const key = m?.[1];
    if (m === null || key === undefined || !Object.hasOwn(AGENT_SHAPE, key)) return { error: `--shape takes key=N or key=LO-HI with keys ${Object.keys(AGENT_SHAPE).join(', ')}; got ${JSON.stringify(part)}` };
    const isRange = Array.isArray(AGENT_SHAPE[key as keyof AgentShape]);
    const lo = Number(m[2]);
    const hi = m[3] === undefined ? undefined : Number(m[3]);
    if (isRange !== (hi !== undefined)) return { error: `--shape ${key} takes ${isRange ? 'a range LO-HI' : 'one number'}, got ${JSON.stringify(part)}` };
    if (isRange && (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || (hi as number) < lo)) return { error: `--shape ${key} must be whole numbers 1 ≤ LO ≤ HI, got ${JSON.stringify(part)}` };
    shape[key] = isRange ? [lo, hi] : lo;
  }
  const s = shape as AgentShape;
  if (s.systemPrompts < 1 || !Number.isInteger(s.systemPrompts)) return { error: `--shape systemPrompts must be a whole number ≥ 1, got ${s.systemPrompts}` };
  // The largest first turn must fit, or a session could have no turn at all.
  // (+ 16 words of labels, the template's markers: a bound).
  const firstTurn = s.systemPromptTokens[1] + s.taskTokens[1] + s.answerTokens[1] + 16 + CHAT_OVERHEAD + 3 * MESSAGE_MARKERS;
  if (s.maxContextTokens < firstTurn) return { error: `--shape maxContextTokens=${s.maxContextTokens} cannot hold the largest first turn (system prompt + task + answer ≈ ${firstTurn} tokens)` };
  return s;
}
