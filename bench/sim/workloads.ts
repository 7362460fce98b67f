// Seeded, replayable workloads: multi-turn chat, long-document questions, and a prioritised mix with SLA
// headers, all on an open-loop Poisson arrival process. The same seed always gives the same request list.
//
// Shared prefixes are real shared text (the same system prompt, document or conversation history, word for
// word), so prefix-aware routing can see them. A chat history holds the replies the simulated engine really
// produces (tokens.ts replyText, on the prompt's real token ids), as a real client would send back, so a later
// turn can hit the KV blocks of an earlier turn's output too.
import type { QoeExpectation } from '../../src/signals/stream-qoe.ts';
import { poissonArrivals } from './arrivals.ts';
import { createRng, type Rng } from './rng.ts';
import type { SimTokenizer } from './sim-tokenizer.ts';
import { replyText, VOCABULARY, type ChatMessage } from './tokens.ts';

export type WorkloadName = 'chat' | 'longdoc' | 'mixed';
export const WORKLOADS: readonly WorkloadName[] = ['chat', 'longdoc', 'mixed'];
/** `agent` is the closed-loop agent workload's class (agent-workload.ts). */
export type RequestClass = 'chat' | 'longdoc' | 'batch' | 'agent';

/** A request's service objective: met when TTFT ≤ ttftMs and the mean inter-token time ≤ tpotMs. */
export interface Sla {
  ttftMs: number;
  tpotMs: number;
}

/**
 * What the user expects of the stream, for Andes stream QoE: the first token by the SLA's TTFT, then tokens
 * at the pace the TPOT target allows. The pace is sent as `x-expected-tokens-per-second`, so the router's
 * own stream-QoE histogram and the client's figure use the same expectation.
 */
export function qoeExpectationOf(sla: Sla): QoeExpectation {
  return { ttftMs: sla.ttftMs, tokensPerSecond: 1000 / sla.tpotMs };
}

export interface SimRequestSpec {
  seq: number;
  /** Send time, ms from the start of the replay. */
  at: number;
  cls: RequestClass;
  /** Chat: `<session>#<turn>`; longdoc: the document; batch: the request. */
  tag: string;
  /** The conversation a chat (or agent) request belongs to, for pinning sessions to a router replica. */
  session?: string;
  path: '/v1/chat/completions' | '/v1/completions';
  /** The JSON body, serialised once. */
  body: string;
  headers: Record<string, string>;
  /** Prompt tokens as the engine counts them (the real tokenizer, chat template applied). */
  promptTokens: number;
  maxTokens: number;
  priority: number;
  sla: Sla;
}

export interface WorkloadOptions {
  seed: number;
  /** Mean request rate of the Poisson process, requests per second. */
  rate: number;
  durationSec: number;
  model: string;
  /** Distinct chat system prompts (default SHAPE.systemPrompts). One is the common production case: every
   * conversation opens with the same prompt, so a prefix-aware policy sees one shared prefix. */
  systemPrompts?: number;
  /** Tokenizes prompts (token counts) and rebuilds the engine's replies for chat histories. */
  tokenizer: SimTokenizer;
  /** Send `x-expected-output-tokens` as the output length times a log-normal error of this σ (0.5: half the
   * estimates within ×0.71–1.4 of the truth). Unset: no estimate, as real clients send none. */
  outputEstimateNoise?: number;
}

/** Per-class shape. Priorities follow production-stack's `x-request-priority` (1 high … 3 low). */
export const CLASSES: Readonly<Record<RequestClass, { priority: number; sla: Sla }>> = {
  chat: { priority: 1, sla: { ttftMs: 1000, tpotMs: 100 } },
  longdoc: { priority: 2, sla: { ttftMs: 2500, tpotMs: 100 } },
  batch: { priority: 3, sla: { ttftMs: 10_000, tpotMs: 200 } },
  agent: { priority: 2, sla: { ttftMs: 2000, tpotMs: 100 } },
};

const MIX: Readonly<Record<WorkloadName, readonly [RequestClass, number][]>> = {
  chat: [['chat', 1]],
  longdoc: [['longdoc', 1]],
  mixed: [
    ['chat', 0.5],
    ['longdoc', 0.3],
    ['batch', 0.2],
  ],
};

/** Sizes in words; every VOCABULARY word is one Llama 3.1 token, so a text of n words is about n tokens. Modest
 * on purpose: see bench/README.md for the scale. */
export const SHAPE = {
  systemPrompts: 4,
  systemPromptTokens: [800, 1500],
  turnsPerSession: [3, 8],
  userTokens: [30, 200],
  replyTokens: [40, 160],
  /** Think time between turns: a floor plus an exponential part, from the previous turn's send time. */
  thinkFloorMs: 1000,
  thinkMeanMs: 3000,
  documents: 16,
  documentTokens: [1500, 2500],
  questionTokens: [10, 40],
  answerTokens: [20, 80],
  batchPromptTokens: [600, 1200],
  batchOutputTokens: [150, 300],
} as const;

function text(rng: Rng, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(rng.pick(VOCABULARY));
  return out.join(' ');
}

const range = (rng: Rng, r: readonly [number, number]): number => rng.int(r[0], r[1]);

/** `truth` times exp(σ·z), z standard normal (Box–Muller), at least 1: a client's guess of the output length. */
export function noisyEstimate(rng: Rng, truth: number, sigma: number): number {
  const z = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  return Math.max(1, Math.round(truth * Math.exp(sigma * z)));
}

interface Session {
  id: number;
  messages: ChatMessage[];
  turnsLeft: number;
  turn: number;
  readyAt: number;
}

export function buildWorkload(name: WorkloadName, o: WorkloadOptions): SimRequestSpec[] {
  const root = createRng(o.seed);
  const arrivals = poissonArrivals(root.fork('arrivals'), o.rate, o.durationSec);
  const classRng = root.fork('class');
  const chatRng = root.fork('chat');
  const docRng = root.fork('documents');
  const batchRng = root.fork('batch');
  const textRng = root.fork('fixed-text');
  const estimateRng = root.fork('output-estimate');
  const tok = o.tokenizer;
  const systems = Array.from({ length: o.systemPrompts ?? SHAPE.systemPrompts }, (_, i) => `You are assistant number ${i}. ${text(textRng, range(textRng, SHAPE.systemPromptTokens))}`);
  const docs = Array.from({ length: SHAPE.documents }, (_, i) => `Document ${i}. ${text(textRng, range(textRng, SHAPE.documentTokens))}`);
  // Zipf(1) popularity over documents: a few hot documents and a long tail.
  const docWeights = docs.map((_, i) => 1 / (i + 1));
  const docTotal = docWeights.reduce((a, b) => a + b, 0);

  const sessions: Session[] = [];
  let nextSession = 0;
  const out: SimRequestSpec[] = [];
  const mix = MIX[name];

  const chatRequest = (at: number): { messages: ChatMessage[]; tag: string; session: string; maxTokens: number } => {
    // Continue a session whose user has finished thinking, else start a new one.
    const ready = sessions.filter((s) => s.readyAt <= at);
    let s: Session;
    if (ready.length > 0) {
      s = chatRng.pick(ready);
    } else {
      s = { id: nextSession++, messages: [{ role: 'system', content: chatRng.pick(systems) }], turnsLeft: range(chatRng, SHAPE.turnsPerSession), turn: 0, readyAt: 0 };
      sessions.push(s);
    }
    s.messages.push({ role: 'user', content: text(chatRng, range(chatRng, SHAPE.userTokens)) });
    const maxTokens = range(chatRng, SHAPE.replyTokens);
    const messages = s.messages.slice();
    s.messages.push({ role: 'assistant', content: replyText(tok.replies, tok.chatIds(messages), maxTokens) });
    s.turn++;
    s.turnsLeft--;
    s.readyAt = at + SHAPE.thinkFloorMs + chatRng.exp(SHAPE.thinkMeanMs);
    if (s.turnsLeft === 0) sessions.splice(sessions.indexOf(s), 1);
    return { messages, tag: `s${s.id}#${s.turn}`, session: `s${s.id}`, maxTokens };
  };

  for (const at of arrivals) {
    let u = classRng.next();
    let cls: RequestClass = mix[0]![0];
    for (const [c, w] of mix) {
      cls = c;
      if ((u -= w) < 0) break;
    }
    const { priority, sla } = CLASSES[cls];
    let path: SimRequestSpec['path'] = '/v1/chat/completions';
    let payload: Record<string, unknown>;
    let tag: string;
    let session: string | undefined;
    let maxTokens: number;
    let promptTokens: number;
    if (cls === 'chat') {
      const r = chatRequest(at);
      ({ tag, session, maxTokens } = r);
      promptTokens = tok.chatIds(r.messages).length;
      payload = { model: o.model, messages: r.messages };
    } else if (cls === 'longdoc') {
      let pick = docRng.next() * docTotal;
      let d = 0;
      while ((pick -= docWeights[d]!) > 0 && d < docs.length - 1) d++;
      const messages = [
        { role: 'system', content: `Answer the question about this document. ${docs[d]!}` },
        { role: 'user', content: `Question: ${text(docRng, range(docRng, SHAPE.questionTokens))}` },
      ];
      tag = `doc${d}`;
      maxTokens = range(docRng, SHAPE.answerTokens);
      promptTokens = tok.chatIds(messages).length;
      payload = { model: o.model, messages };
    } else {
      path = '/v1/completions';
      const prompt = `Summarize the following text. ${text(batchRng, range(batchRng, SHAPE.batchPromptTokens))}`;
      tag = `batch${out.length}`;
      maxTokens = range(batchRng, SHAPE.batchOutputTokens);
      promptTokens = tok.promptIds(prompt).length;
      payload = { model: o.model, prompt };
    }
    const body = JSON.stringify({ ...payload, max_tokens: maxTokens, stream: true, stream_options: { include_usage: true } });
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-request-priority': String(priority),
      'x-sla-target-ms': String(sla.ttftMs),
      'x-sla-tpot-ms': String(sla.tpotMs),
      'x-expected-tokens-per-second': String(qoeExpectationOf(sla).tokensPerSecond),
    };
    if (o.outputEstimateNoise !== undefined) headers['x-expected-output-tokens'] = String(noisyEstimate(estimateRng, maxTokens, o.outputEstimateNoise));
    out.push({ seq: out.length, at, cls, tag, ...(session === undefined ? {} : { session }), path, body, headers, promptTokens, maxTokens, priority, sla });
  }
  return out;
}
