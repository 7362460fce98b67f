// Entry point: argv → config → start the router → reload on SIGHUP → drain on SIGTERM/SIGINT.
import pkg from '../package.json' with { type: 'json' };
import { formatConfigError } from './config/errors.ts';
import { loadConfig } from './config/load.ts';
import { isPolicyImplemented } from './policies/index.ts';
import { readFileSync } from 'node:fs';
import { createReloader } from './config/reloader.ts';
import { ConfigProblem, startRouter } from './server.ts';

const load = () =>
  loadConfig({
    argv: process.argv.slice(2),
    env: process.env,
    readFile: (path) => readFileSync(path, 'utf8'),
    version: pkg.version,
    isPolicyImplemented,
  });

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
  for (const w of loaded.warnings) process.stderr.write(`warning: ${w}\n`);

  let router;
  try {
    router = await startRouter(loaded.config, { version: pkg.version });
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
    return e instanceof ConfigProblem ? 2 : 1;
  }
  const running = router;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        running.log.warn('second signal: exiting now', { signal });
        running.log.flush();
        process.exit(1);
      }
      stopping = true;
      const graceSecs = running.config.shutdown_grace_period_secs;
      running.log.info('draining: waiting for in-flight requests', { signal, grace_secs: graceSecs });
      void running.drain(graceSecs * 1000).then((finished) => {
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
