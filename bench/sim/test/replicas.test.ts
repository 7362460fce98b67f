import { describe, expect, test } from 'bun:test';
import { startMockEngine } from '../../../testkit/mock-engine.ts';
import { buildAgentSessions, parseAgentShape } from '../agent-workload.ts';
import { replay } from '../client.ts';
import { createReplicaPicker } from '../replicas.ts';
import { summarize } from '../report.ts';
import { replaySessions } from '../session-replay.ts';
import { loadSimTokenizer } from '../sim-tokenizer.ts';
import { buildWorkload } from '../workloads.ts';

const tokenizer = loadSimTokenizer();
const countTokens = (text: string): number => tokenizer.promptIds(text).length - 1;

const NO_ENGINES = { prefixCacheQueries: 0, prefixCacheHits: 0, preemptions: 0, perEngineRequests: [] };

describe('router replicas', () => {
  test('requests go to the replicas in turn, whatever their session', () => {
    const pick = createReplicaPicker(3, false);
    expect(['a', 'a', 'b', undefined, 'a', 'c', 'a'].map(pick)).toEqual([0, 1, 2, 0, 1, 2, 0]);
  });

  test('pinned, every request of a session goes to the replica its session was first given; sessions go in turn', () => {
    const pick = createReplicaPicker(2, true);
    expect(['a', 'b', 'a', 'c', 'b', undefined, 'c', 'a', undefined].map(pick)).toEqual([0, 1, 0, 0, 1, 1, 0, 0, 0]);
    expect(() => createReplicaPicker(0, false)).toThrow('replica count must be a positive integer');
  });

  test('an open-loop replay spreads its requests over the targets in turn, and the counts match what each received', async () => {
    await using a = await startMockEngine({ model: 'm' });
    await using b = await startMockEngine({ model: 'm' });
    const specs = buildWorkload('chat', { seed: 4, rate: 10, durationSec: 4, model: 'm', tokenizer });
    const { results, spanMs } = await replay([a.url, b.url], specs, { drainMs: 30_000 });
    expect(results.every((r) => r.outcome === 'ok')).toBe(true);
    // In send order (the arrival order), replica 0, 1, 0, 1, …
    const bySend = [...results].sort((x, y) => x.sentAt - y.sentAt);
    expect(bySend.map((r) => r.replica)).toEqual(bySend.map((_, i) => i % 2));
    const summary = summarize('round_robin', 10, results, spanMs, NO_ENGINES, [], 2);
    expect(summary.perReplicaRequests).toEqual([a.received.length, b.received.length]);
    expect(Math.abs(a.received.length - b.received.length)).toBeLessThanOrEqual(1);
    // A conversation's turns land on both replicas: what makes each replica's own prefix tree see half of it.
    const replicasOf = new Map<string, Set<number | null>>();
    for (const r of results) {
      const session = specs[r.seq]!.session!;
      replicasOf.set(session, (replicasOf.get(session) ?? new Set()).add(r.replica));
    }
    expect([...replicasOf.values()].filter((set) => set.size > 1).length).toBeGreaterThan(0);

    // Pinned, a chat session's turns all go to one replica; every request of this workload has a session.
    const pinned = await replay([a.url, b.url], specs, { drainMs: 30_000, pinSessions: true });
    const pinnedOf = new Map<string, Set<number | null>>();
    for (const r of pinned.results) {
      const session = specs[r.seq]!.session!;
      pinnedOf.set(session, (pinnedOf.get(session) ?? new Set()).add(r.replica));
    }
    expect([...pinnedOf.values()].every((set) => set.size === 1)).toBe(true);
    expect(new Set(pinned.results.map((r) => r.replica))).toEqual(new Set([0, 1]));
  });

  test('with pinned sessions every turn of a session reaches one replica, and the sessions are shared out evenly', async () => {
    await using a = await startMockEngine({ model: 'm', maxModelLen: 32_768 });
    await using b = await startMockEngine({ model: 'm', maxModelLen: 32_768 });
    const shape = parseAgentShape('systemPromptTokens=50-80,taskTokens=5-10,turnsPerSession=3-5,toolResultTokens=20-60,askTokens=2-4,answerTokens=3-6,thinkFloorMs=10,thinkMeanMs=10');
    if ('error' in shape) throw new Error(shape.error);
    const sessions = buildAgentSessions({ seed: 1, rate: 10, durationSec: 1, shape, countTokens });
    const { results, spanMs } = await replaySessions([a.url, b.url], sessions, { drainMs: 30_000, model: 'm', tokenizer, pinSessions: true });
    expect(results.every((r) => r.outcome === 'ok')).toBe(true);
    const firstOf = (engine: typeof a) => new Set(engine.received.map((r) => (r.json as { messages: { content: string }[] }).messages[1]!.content));
    const onA = firstOf(a);
    const onB = firstOf(b);
    // A session is known by its task (its first user message): no task reached both engines.
    expect([...onA].filter((t) => onB.has(t))).toEqual([]);
    expect(onA.size + onB.size).toBe(sessions.length);
    expect(Math.abs(onA.size - onB.size)).toBeLessThanOrEqual(1);
    const summary = summarize('cache_aware', 10, results, spanMs, NO_ENGINES, [], 2);
    expect(summary.perReplicaRequests).toEqual([a.received.length, b.received.length]);

    // Not pinned, the same sessions' turns alternate between the replicas.
    a.clearReceived();
    b.clearReceived();
    await replaySessions([a.url, b.url], sessions, { drainMs: 30_000, model: 'm', tokenizer });
    expect([...firstOf(a)].filter((t) => firstOf(b).has(t)).length).toBeGreaterThan(sessions.length / 2);
  });
});
