import { describe, expect, test } from 'bun:test';
import { startMockEngine } from '../../../testkit/mock-engine.ts';
import { AGENT_SHAPE, buildAgentSessions, parseAgentShape, type AgentSession } from '../agent-workload.ts';
import { replaySessions } from '../session-replay.ts';
import { startSimEngine } from '../sim-engine.ts';
import { loadSimTokenizer } from '../sim-tokenizer.ts';
import type { ChatMessage } from '../tokens.ts';

const tokenizer = loadSimTokenizer();
const countTokens = (text: string): number => tokenizer.promptIds(text).length - 1;
const opts = { seed: 5, rate: 2, durationSec: 20, countTokens };
const words = (text: string): number => text.split(' ').length;

/** The prompt tokens of each turn as the engine counts them (the Llama 3.1 chat template applied), with each
 * earlier reply standing in as max_tokens one-token words (what the simulated model writes). */
function realContexts(s: AgentSession): number[] {
  const messages: ChatMessage[] = [{ role: 'system', content: s.system }];
  return s.turns.map((t) => {
    messages.push({ role: 'user', content: t.user });
    const prompt = tokenizer.chatIds(messages).length;
    messages.push({ role: 'assistant', content: Array<string>(t.maxTokens).fill('cache').join(' ') });
    return prompt;
  });
}

describe('agent workload scripts', () => {
  test('the same seed gives the same sessions; another seed other ones', () => {
    const a = buildAgentSessions(opts);
    expect(a.length).toBeGreaterThan(20);
    expect(buildAgentSessions(opts)).toEqual(a);
    expect(buildAgentSessions({ ...opts, seed: 6 }).map((s) => s.turns.map((t) => t.user))).not.toEqual(a.map((s) => s.turns.map((t) => t.user)));
  });

  test('sessions share a few long system prompts and open with a task', () => {
    const sessions = buildAgentSessions(opts);
    const systems = new Set(sessions.map((s) => s.system));
    expect(systems.size).toBe(AGENT_SHAPE.systemPrompts);
    for (const system of systems) expect(words(system)).toBeGreaterThanOrEqual(AGENT_SHAPE.systemPromptTokens[0]);
    for (const s of sessions) {
      expect(s.turns[0]!.user.startsWith('Task: ')).toBe(true);
      expect(s.turns[0]!.thinkMs).toBe(0);
    }
    // Session starts are an open-loop Poisson process over the duration.
    const starts = sessions.map((s) => s.startAt);
    expect(starts).toEqual([...starts].sort((x, y) => x - y));
    expect(starts.at(-1)!).toBeLessThan(opts.durationSec * 1000);
  });

  test('every later turn appends a tool result of hundreds to thousands of tokens, asks for a short answer, after a think time', () => {
    const turns = buildAgentSessions(opts).flatMap((s) => s.turns.slice(1));
    expect(turns.length).toBeGreaterThan(200);
    const toolSizes = turns.map((t) => {
      const m = /^Tool result: (.*) Next: (.*)$/.exec(t.user);
      expect(m).not.toBeNull();
      return words(m![1]!);
    });
    expect(Math.min(...toolSizes)).toBeGreaterThanOrEqual(AGENT_SHAPE.toolResultTokens[0]);
    expect(Math.max(...toolSizes)).toBeLessThanOrEqual(AGENT_SHAPE.toolResultTokens[1]);
    // Log-uniform: most results are hundreds of tokens, some are thousands.
    expect(toolSizes.filter((n) => n < 1000).length).toBeGreaterThan(turns.length / 2);
    expect(toolSizes.filter((n) => n >= 2000).length).toBeGreaterThan(turns.length / 20);
    for (const t of turns) {
      expect(t.maxTokens).toBeGreaterThanOrEqual(AGENT_SHAPE.answerTokens[0]);
      expect(t.maxTokens).toBeLessThanOrEqual(AGENT_SHAPE.answerTokens[1]);
      expect(t.thinkMs).toBeGreaterThanOrEqual(AGENT_SHAPE.thinkFloorMs);
    }
  });

  test("contexts grow past 10k tokens and stop below the configured maximum, in the engine's tokens", () => {
    const sessions = buildAgentSessions(opts);
    const peaks = sessions.map((s) => Math.max(...realContexts(s)));
    expect(peaks.filter((p) => p > 10_000).length).toBeGreaterThan(sessions.length / 2);
    for (const [i, s] of sessions.entries()) {
      const contexts = realContexts(s);
      for (let k = 1; k < contexts.length; k++) expect(contexts[k]!).toBeGreaterThan(contexts[k - 1]!);
      expect(contexts.at(-1)! + s.turns.at(-1)!.maxTokens).toBeLessThanOrEqual(AGENT_SHAPE.maxContextTokens);
      expect(peaks[i]).toBe(contexts.at(-1)!);
    }
    const small = parseAgentShape('maxContextTokens=8000');
    if ('error' in small) throw new Error(small.error);
    for (const s of buildAgentSessions({ ...opts, shape: small })) {
      expect(s.turns.length).toBeGreaterThan(0);
      expect(realContexts(s).at(-1)! + s.turns.at(-1)!.maxTokens).toBeLessThanOrEqual(8000);
    }
  });

  test('--shape overrides sizes and names what it cannot take', () => {
    const shape = parseAgentShape('toolResultTokens=100-200, thinkMeanMs=10,systemPrompts=1');
    expect(shape).toMatchObject({ toolResultTokens: [100, 200], thinkMeanMs: 10, systemPrompts: 1, maxContextTokens: AGENT_SHAPE.maxContextTokens });
    expect(parseAgentShape('bogus=1')).toEqual({ error: expect.stringContaining('keys systemPrompts, ') });
    expect(parseAgentShape('toolResultTokens=100')).toEqual({ error: expect.stringContaining('takes a range LO-HI') });
    expect(parseAgentShape('thinkMeanMs=1-2')).toEqual({ error: expect.stringContaining('takes one number') });
    expect(parseAgentShape('answerTokens=50-10')).toEqual({ error: expect.stringContaining('1 ≤ LO ≤ HI') });
    expect(parseAgentShape('maxContextTokens=3000')).toEqual({ error: expect.stringContaining('cannot hold the largest first turn') });
  });
});

/** Small, fast sessions for replays: a few turns, short texts and think times. */
const quick = (o: { seed: number; rate: number; durationSec: number }, extra = ''): AgentSession[] => {
  const shape = parseAgentShape(`systemPromptTokens=50-80,taskTokens=5-10,turnsPerSession=3-5,toolResultTokens=20-60,askTokens=2-4,answerTokens=3-6,thinkFloorMs=30,thinkMeanMs=20${extra}`);
  if ('error' in shape) throw new Error(shape.error);
  return buildAgentSessions({ ...o, shape, countTokens });
};

/** What the mock engine answers: words the workload never predicts, so only what arrived can be in the history. */
const REPLY = ['zulu', 'yankee', 'xray', 'whiskey', 'victor'];

describe('closed-loop session replay', () => {
  test('each turn sends the history back with the reply text the engine streamed, after the reply and the think time', async () => {
    await using engine = await startMockEngine({ model: 'm', maxModelLen: 32_768, tokens: REPLY.join(' '), itlMs: 2 });
    const sessions = quick({ seed: 1, rate: 8, durationSec: 0.5 });
    const { results } = await replaySessions([engine.url], sessions, { drainMs: 30_000, model: 'm', tokenizer });
    const turns = sessions.reduce((n, s) => n + s.turns.length, 0);
    expect(results.length).toBe(turns);
    expect(results.every((r) => r.outcome === 'ok')).toBe(true);
    expect(engine.received.length).toBe(turns);

    const bodies = engine.received.map((r) => r.json as { messages: ChatMessage[]; max_tokens: number });
    let seq = 0;
    for (const s of sessions) {
      // This session's requests, told apart by their system prompt and task.
      const mine = bodies.filter((b) => b.messages[0]!.content === s.system && b.messages[1]!.content === s.turns[0]!.user);
      expect(mine.length).toBe(s.turns.length);
      mine.sort((x, y) => x.messages.length - y.messages.length);
      for (const [k, body] of mine.entries()) {
        expect(body.messages.length).toBe(2 + 2 * k);
        expect(body.messages.at(-1)).toEqual({ role: 'user', content: s.turns[k]!.user });
        expect(body.max_tokens).toBe(s.turns[k]!.maxTokens);
        const r = results[seq + k]!;
        expect(r.tokens).toBe(s.turns[k]!.maxTokens);
        if (k > 0) {
          const prev = mine[k - 1]!;
          expect(body.messages.slice(0, prev.messages.length)).toEqual(prev.messages);
          const reply = body.messages[prev.messages.length]!;
          expect(reply.role).toBe('assistant');
          expect(reply.content.split(' ')).toEqual(Array.from({ length: prev.max_tokens }, (_, i) => REPLY[i % REPLY.length]!));
          // Closed loop: sent only after the previous reply was complete and the tool had run.
          const before = results[seq + k - 1]!;
          expect(r.sentAt).toBeGreaterThanOrEqual(before.doneAt! * 1000 + s.turns[k]!.thinkMs - 1);
          expect(r.at).toBeGreaterThanOrEqual(before.doneAt! * 1000);
        }
      }
      seq += s.turns.length;
    }
  });

  test('on the simulated engine the history hits the KV blocks of the earlier turns, replies included', async () => {
    await using engine = await startSimEngine({ model: 'm', params: { stepBaseMs: 1, prefillMsPerToken: 0.001, decodeMsPerSeq: 0, attentionMsPerKTokens: 0, maxModelLen: 32_768, kvBlocks: 4096 } });
    // Long replies next to short tool results: most of each later turn's prompt is the previous reply.
    const sessions = quick({ seed: 2, rate: 3, durationSec: 1.5 }, ',systemPrompts=1,toolResultTokens=20-40,answerTokens=200-300,turnsPerSession=6-6');
    const { results } = await replaySessions([engine.url], sessions, { drainMs: 30_000, model: 'm', tokenizer });
    expect(results.every((r) => r.outcome === 'ok')).toBe(true);
    const c = engine.counters();
    const prompts = results.reduce((n, r) => n + r.promptTokens!, 0);
    expect(c.prefixCacheQueries).toBe(prompts);
    // A later turn computes at most its new user message with its template markers, the previous reply's
    // <|eot_id|>, the generation prompt, and the previous turn's last, partial block (< 16 tokens): everything before, the replies included, is cached.
    // Were the history's reply not the engine's own text, each turn would also miss the 200–300 reply tokens.
    let seq = 0;
    let mostMissed = 0;
    for (const s of sessions) {
      mostMissed += results[seq]!.promptTokens!;
      for (const t of s.turns.slice(1)) mostMissed += countTokens(t.user) + 2 * 5 + 4 + 15;
      seq += s.turns.length;
    }
    expect(c.prefixCacheHits).toBeGreaterThanOrEqual(prompts - mostMissed);
  });

  test('a failed turn ends its session; turns due after the deadline are not sent', async () => {
    await using engine = await startMockEngine({ model: 'm', maxModelLen: 32_768, failure: { kind: 'status', status: 500, times: 1 } });
    const sessions = quick({ seed: 3, rate: 4, durationSec: 1 });
    const { results } = await replaySessions([engine.url], sessions, { drainMs: 30_000, model: 'm', tokenizer });
    const first = sessions[0]!;
    expect(results[0]!.outcome).toBe('http_error');
    for (let k = 1; k < first.turns.length; k++) expect(results[k]).toMatchObject({ outcome: 'not_sent', detail: 'not sent: turn 1 of the session ended http_error' });
    expect(results.slice(first.turns.length).every((r) => r.outcome === 'ok')).toBe(true);

    // A drain of 1 ms: the last session's first turn is cut off at the deadline, and no turn due after it is
    // sent (long think times, so sessions are between turns at the deadline).
    engine.set({ failure: null, ttftMs: 50 });
    const thinking = quick({ seed: 3, rate: 4, durationSec: 1 }, ',thinkFloorMs=400');
    const late = await replaySessions([engine.url], thinking, { drainMs: 1, model: 'm', tokenizer });
    const deadline = thinking.at(-1)!.startAt + 1;
    for (const r of late.results) if (r.outcome !== 'not_sent') expect(r.at).toBeLessThanOrEqual(deadline);
    const last = late.results.length - thinking.at(-1)!.turns.length;
    expect(late.results[last]!.outcome).toBe('timeout');
    for (const r of late.results.slice(last + 1)) expect(r).toMatchObject({ outcome: 'not_sent', detail: 'not sent: turn 1 of the session ended timeout' });
    expect(late.results.some((r) => r.detail === 'not sent: due after the deadline')).toBe(true);
  });

  test('the turn requests are what an agent sends: the whole conversation, streamed, with the class headers', async () => {
    await using engine = await startMockEngine({ model: 'm', maxModelLen: 32_768 });
    const sessions = quick({ seed: 4, rate: 2, durationSec: 0.6 });
    await replaySessions([engine.url], sessions, { drainMs: 30_000, model: 'm', tokenizer });
    for (const r of engine.received) {
      const body = r.json as { messages: ChatMessage[]; stream: boolean };
      expect(r.path).toBe('/v1/chat/completions');
      expect(body.stream).toBe(true);
      expect(r.headers['x-request-priority']).toBe('2');
      expect(r.headers['x-sla-target-ms']).toBe('2000');
      expect(r.headers['x-request-id']).toBeUndefined();
      // No foresight: a real agent does not know how long the answer will be.
      expect(r.headers['x-expected-output-tokens']).toBeUndefined();
      expect(body.messages[0]!.role).toBe('system');
    }
  });
});
