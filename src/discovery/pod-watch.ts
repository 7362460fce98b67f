// One selector's list-then-watch loop: keeps the endpoint table in step with the pods the selector matches.
import { backoffDelay, pause, type BackoffOptions } from './backoff.ts';
import type { Desire, EndpointTable } from './endpoint-table.ts';
import type { KubeClient, KubeFailure, PodQuery } from './kube-client.ts';
import { podKey, podRef, podVerdict, type Pod, type PodRule } from './pod.ts';

export type SourceEvent =
  /** A full list was applied: the table now matches the cluster for this source. */
  | { readonly type: 'listed'; readonly source: string; readonly resourceVersion: string; readonly pods: number }
  /** The API server accepted a watch from this version. */
  | { readonly type: 'watching'; readonly source: string; readonly resourceVersion: string }
  | { readonly type: 'bookmark'; readonly source: string; readonly resourceVersion: string }
  /** The server closed the watch normally (its timeout); it is reopened from the last version seen. */
  | { readonly type: 'watch_closed'; readonly source: string; readonly resourceVersion: string }
  /** 410 Gone: changes were missed, so the source lists again and reconciles. */
  | { readonly type: 'expired'; readonly source: string; readonly message: string }
  | { readonly type: 'retrying'; readonly source: string; readonly message: string; readonly delayMs: number };

export interface PodSourceOptions {
  /** Names the source in events and table keys: the role its pods get. */
  readonly name: string;
  readonly rule: PodRule;
  /** Lower wins when pods of two sources claim one URL. */
  readonly rank: number;
  readonly query: PodQuery;
  readonly client: KubeClient;
  readonly table: EndpointTable;
  readonly backoff: BackoffOptions;
  readonly signal: AbortSignal;
  readonly onEvent: (event: SourceEvent) => void;
}

/** Runs until the signal aborts. Never throws: every failure is retried after a back-off. */
export async function runPodSource(options: PodSourceOptions): Promise<void> {
  const { name, rule, client, table, signal, onEvent, query } = options;
  const desireOf = (pod: Pod): Desire | undefined => {
    const verdict = podVerdict(pod, rule);
    return verdict.serving ? { spec: verdict.spec, pod: podRef(pod), rank: options.rank } : undefined;
  };
  /** Failures since events last flowed; resets only on progress, so list-ok-then-watch-fails still backs off. */
  let failures = 0;
  let resourceVersion: string | undefined;

  const retry = async (what: string, failure: KubeFailure) => {
    failures += 1;
    const delayMs = backoffDelay(failures, options.backoff);
    onEvent({ type: 'retrying', source: name, message: `${what}: ${failure.message}`, delayMs });
    await pause(delayMs, signal);
  };
  const expired = async (failure: KubeFailure) => {
    onEvent({ type: 'expired', source: name, message: failure.message });
    resourceVersion = undefined;
    // The first 410 re-lists at once (client-go does too); a server that keeps answering 410 gets backed off.
    await pause(backoffDelay(failures, options.backoff), signal);
    failures += 1;
  };

  while (!signal.aborted) {
    if (resourceVersion === undefined) {
      const listed = await client.listPods(query, signal);
      if (signal.aborted) return;
      if (!listed.ok) {
        await retry('list', listed.failure);
        continue;
      }
      const pods = new Map(listed.value.pods.map((pod) => [podKey(pod), desireOf(pod)]));
      await table.replace(name, pods);
      resourceVersion = listed.value.resourceVersion;
      onEvent({ type: 'listed', source: name, resourceVersion, pods: pods.size });
    }

    let progressed = false;
    let ending: KubeFailure | undefined;
    for await (const item of client.watchPods(query, resourceVersion, signal)) {
      if (signal.aborted) return;
      if (item.type === 'END') {
        ending = item.failure;
        break;
      }
      if (item.type === 'OPEN') {
        onEvent({ type: 'watching', source: name, resourceVersion });
        continue;
      }
      progressed = true;
      if (item.type === 'BOOKMARK') {
        // Following bookmarks keeps the resume point fresh when no selected pod changes for a long time.
        resourceVersion = item.resourceVersion;
        onEvent({ type: 'bookmark', source: name, resourceVersion });
        continue;
      }
      const key = podKey(item.pod);
      if (item.type === 'DELETED') await table.set(name, key, undefined, 'deleted');
      else await table.set(name, key, desireOf(item.pod), 'not_serving');
      resourceVersion = item.pod.metadata?.resourceVersion ?? resourceVersion;
    }
    if (signal.aborted) return;
    if (progressed) failures = 0;
    if (ending?.kind === 'expired') await expired(ending);
    else if (ending !== undefined) await retry('watch', ending);
    else {
      onEvent({ type: 'watch_closed', source: name, resourceVersion });
      // A server that closes watches at once would otherwise be reconnected to in a tight loop.
      if (!progressed) await retry('watch', { kind: 'network', message: 'closed before any event' });
    }
  }
}
