// Start-up step: what a configuration reload (SIGHUP, a --config file change) does to the running parts.
import type { Config } from '../config/schema.ts';
import type { EndpointManager } from '../core/endpoint-manager.ts';
import type { Logger } from '../log/logger.ts';
import type { Policies } from './policies.ts';
import { planReload } from './reload-plan.ts';

/** What a reload did, for the log line and the tests. */
export interface ReloadOutcome {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Endpoints the new configuration lists that could not be added (failed probe…), with the reason. */
  readonly failed: readonly { readonly url: string; readonly reason: string }[];
  readonly policiesRebuilt: boolean;
  readonly needsRestart: readonly string[];
}

export type Reconfigure = (next: Config) => Promise<ReloadOutcome>;

interface Needs {
  readonly log: Logger;
  readonly policies: Policies;
  readonly endpoints: EndpointManager;
}

/**
 * Applies each new configuration against the one before it: endpoints it lists are added (probed first) or
 * removed (drained), policies are rebuilt when their settings changed, the log level follows; anything else
 * waits for a restart and is named in the outcome.
 */
export function reconfigurer(initial: Config, { log, policies, endpoints }: Needs): Reconfigure {
  let current = initial;
  return async (next) => {
    const plan = planReload(current, next);
    if (plan.logLevel !== undefined) log.setLevel(plan.logLevel);
    if (plan.policiesChanged) policies.replace(next);
    const removed: string[] = [];
    for (const e of plan.remove) {
      const r = endpoints.remove(e.url);
      if (r.ok) removed.push(...r.endpoints.map((x) => x.id));
    }
    const added: string[] = [];
    const failed: { url: string; reason: string }[] = [];
    await Promise.all(
      plan.add.map(async (e) => {
        const r = await endpoints.add({ url: e.url, role: e.role, bootstrapPort: e.bootstrapPort, models: e.models });
        if (r.ok) added.push(...r.endpoints.map((x) => x.id));
        else if (r.status !== 409) failed.push({ url: e.url, reason: r.message });
      }),
    );
    current = next;
    return { added, removed, failed, policiesRebuilt: plan.policiesChanged, needsRestart: plan.needsRestart };
  };
}
