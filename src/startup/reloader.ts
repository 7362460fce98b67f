// Re-reads the configuration (same argv, environment and --config file as at start-up) and applies it to
// the running router. A configuration that does not load is refused with its reason and the old one stays.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { RunningRouter } from './start-router.ts';
import { formatConfigError } from '../config/errors.ts';
import type { LoadResult } from '../config/load.ts';

export interface Reloader extends Disposable {
  /** Queues one reload; reloads never overlap. */
  reload(cause: string): Promise<void>;
  /** Reloads when `file` changes (watching its directory, so editors that replace the file are seen too). */
  watch(file: string): void;
}

/** Editors write a file in several steps: changes this close together are one reload. */
const SETTLE_MS = 200;

export function createReloader(router: RunningRouter, load: () => LoadResult): Reloader {
  let chain = Promise.resolve();
  let watcher: FSWatcher | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const log = router.log;

  const once = async (cause: string) => {
    const loaded = load();
    if (loaded.kind !== 'config') {
      const reason = loaded.kind === 'error' ? formatConfigError(loaded.error).replace(/^error: /, '') : `the arguments ask for ${loaded.kind}`;
      log.error('configuration reload refused; the current configuration stays in force', { cause, reason });
      return;
    }
    const outcome = await router.reconfigure(loaded.config);
    log.info('configuration reloaded', {
      cause,
      added: outcome.added.join(' ') || undefined,
      removed: outcome.removed.join(' ') || undefined,
      policies_rebuilt: outcome.policiesRebuilt,
    });
    for (const f of outcome.failed) log.warn('configured endpoint not added', { endpoint: f.url, reason: f.reason });
    if (outcome.needsRestart.length > 0) log.warn('changed settings take effect at the next restart', { flags: outcome.needsRestart.join(' ') });
  };

  const reloader: Reloader = {
    reload(cause) {
      chain = chain.then(() => once(cause)).catch((e: unknown) => log.error('configuration reload failed', { cause, message: (e as Error).message }));
      return chain;
    },
    watch(file) {
      const path = resolve(file);
      watcher = watch(dirname(path), (_event, name) => {
        if (name !== basename(path)) return;
        clearTimeout(timer);
        timer = setTimeout(() => void reloader.reload('file change'), SETTLE_MS);
      });
      log.info('watching the configuration file', { file: path });
    },
    [Symbol.dispose]() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
  return reloader;
}
