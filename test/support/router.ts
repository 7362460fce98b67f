// Starts a router in the test process from command-line flags, on free ports, with logs kept in memory.
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/log/logger.ts';
import { startRouter, type RunningRouter } from '../../src/startup/start-router.ts';

export interface TestRouter extends AsyncDisposable {
  readonly router: RunningRouter;
  readonly url: string;
  readonly logs: string[];
}

export async function startTestRouter(args: string[], options: { env?: Record<string, string> } = {}): Promise<TestRouter> {
  const loaded = loadConfig({
    argv: ['--port', '0', '--prometheus-port', '0', '--log-json', ...args],
    env: {},
    readFile: () => {
      throw new Error('no config files in tests');
    },
    version: 'test',
  });
  if (loaded.kind !== 'config') throw new Error(`bad test config: ${JSON.stringify(loaded)}`);
  const logs: string[] = [];
  const router = await startRouter(loaded.config, { log: createLogger({ level: 'debug', json: true, write: (l) => logs.push(l) }), env: options.env ?? {} });
  return { router, url: router.url, logs, [Symbol.asyncDispose]: () => router[Symbol.asyncDispose]() };
}
