// A KV-event feed recorder that counts what it is told (batches, skips by reason, gaps, replays and purges by
// outcome, malformed messages, gRPC streams ended by status code), for tests of the router's feed against real publishers.
import type { GrpcKvRecorder } from '../src/signals/kv-events/grpc-kv-feed.ts';

export function countingKvRecorder(): { counts: Record<string, number>; recorder: GrpcKvRecorder } {
  const counts: Record<string, number> = {};
  const add = (k: string, n = 1) => (counts[k] = (counts[k] ?? 0) + n);
  const recorder: GrpcKvRecorder = {
    batch: () => add('batches'),
    skipped: (reason, n) => add(`skipped_${reason}`, n),
    gap: () => add('gaps'),
    replay: (o) => add(`replay_${o}`),
    purge: (c) => add(`purge_${c}`),
    malformed: () => add('malformed'),
    streamEnded: (code) => add(`ended_${code}`),
  };
  return { counts, recorder };
}
