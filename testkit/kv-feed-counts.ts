// A KV-event feed recorder that counts what it is told (batches, skips by reason, gaps, replays and purges by
// outcome, malformed messages), for tests of the router's feed against real publishers.
import type { KvFeedRecorder } from '../src/signals/kv-events/kv-feed.ts';

export function countingKvRecorder(): { counts: Record<string, number>; recorder: KvFeedRecorder } {
  const counts: Record<string, number> = {};
  const add = (k: string, n = 1) => (counts[k] = (counts[k] ?? 0) + n);
  const recorder: KvFeedRecorder = {
    batch: () => add('batches'),
    skipped: (reason, n) => add(`skipped_${reason}`, n),
    gap: () => add('gaps'),
    replay: (o) => add(`replay_${o}`),
    purge: (c) => add(`purge_${c}`),
    malformed: () => add('malformed'),
  };
  return { counts, recorder };
}
