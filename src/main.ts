// Entry point: argv → config → capacity → start the router → reload on SIGHUP → drain on SIGTERM/SIGINT.
import pkg from '../package.json' with { type: 'json' };
import { formatConfigError } from './config/errors.ts';
import { loadConfig, type LoadResult } from './config/load.ts';
import { readFileSync } from 'node:fs';
import { createReloader } from './startup/reloader.ts';
import { ConfigProblem, startRouter } from './startup/start-router.ts';
import { parseFileLimit, planCapacity, withCapacity, type CapacityPlan } from './startup/capacity.ts';
import { reexecFor } from './startup/fetch-limit.ts';
import { gcMarkerEnvironment } from './startup/gc-markers.ts';

const fileLimit = (() => {
  try {
    return parseFileLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined; // not Linux: the open-file limit is not checked
  }
})();

type Loaded = Exclude<LoadResult, { kind: 'config' }> | (Extract<LoadResult, { kind: 'config' }> & { readonly plan: CapacityPlan });

/** The configuration with --max-concurrent-requests set to what this process can hold (the same at every reload). */
function load(): Loaded {
  const loaded = loadConfig({
    argv: process.argv.slice(2),
    env: process.env,
    readFile: (path) => readFileSync(path, 'utf8'),
    version: pkg.version,
  });
  if (loaded.kind !== 'config') return loaded;
  const { config } = loaded;
  const plan = planCapacity({
    requested: config.max_concurrent_requests,
    explicit: loaded.explicit.has('max_concurrent_requests'),
    legs: config.vllm_pd_disaggregation || config.pd_disaggregation ? 2 : 1,
    fileLimit,
  });
  if ('reason' in plan) return { kind: 'error', error: plan };
  return { ...loaded, config: withCapacity(config, plan), plan };
}

async function main(): Promise<number> {
  const loaded = load();
  switch (loaded.kind) {
    case 'help':
      process.stdout.write(loaded.text);
      return 0;
    case 'version':
      process.stdout.write(`${loaded.text}\n`);
      return 0;
    case 'error':
      process.stderr.write(`${formatConfigError(loaded.error)}\n`);
      return 2;
  }
  // Before anything is opened or printed: Bun sizes fetch's concurrency, and JSC its GC, from the environment
  // the process starts with.
  const image = { execPath: process.execPath, execArgv: process.execArgv, argv: process.argv, main: Bun.main, env: process.env };
  const reexec = reexecFor(image, loaded.plan.fetchLimit, gcMarkerEnvironment(process.env));
  if (reexec !== undefined) {
    if (process.execve === undefined) process.stderr.write(`warning: cannot re-execute to set BUN_CONFIG_MAX_HTTP_REQUESTS=${loaded.plan.fetchLimit}; set it in the environment\n`);
    else process.execve(reexec.file, reexec.args, reexec.env);
  }
  for (const w of loaded.warnings) process.stderr.write(`warning: ${w}\n`);

  let router;
  try {
    router = await startRouter(loaded.config, { version: pkg.version });
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return e instanceof ConfigProblem ? 2 : 1;
  }
  const running = router;
  const { plan } = loaded;
  running.log[plan.lowered === undefined ? 'info' : 'warn']('capacity', { max_concurrent_requests: plan.capacity, upstream_fetch_limit: plan.fetchLimit, open_file_limit: fileLimit, note: plan.lowered });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        running.log.warn('second signal: exiting now', { signal });
        running.log.flush();
        process.exit(1);
      }
      stopping = true;
      const { shutdown_delay_secs: delaySecs, shutdown_grace_period_secs: graceSecs } = running.config;
      running.log.info('draining: readiness fails; new requests are still served during the delay', { signal, delay_secs: delaySecs, grace_secs: graceSecs });
      void running.drain({ delayMs: delaySecs * 1000, graceMs: graceSecs * 1000 }).then((finished) => {
        running.log[finished ? 'info' : 'warn'](finished ? 'drained, exiting' : 'grace period over: open requests were cut', { signal });
        running.log.flush();
        resolve(0);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    const reloader = createReloader(running, load);
    process.on('SIGHUP', () => reloader.reload('SIGHUP'));
    if (running.config.watch_config && running.config.config !== undefined) reloader.watch(running.config.config);
  });
}

process.exitCode = await main();
if (process.exitCode !== undefined) process.exit(process.exitCode);
