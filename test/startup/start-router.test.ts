// Start-up runs its steps in order; when one fails, what the steps before it opened is closed again.
import { describe, expect, test } from 'bun:test';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { createLogger } from '../../src/log/logger.ts';
import { startRouter } from '../../src/startup/start-router.ts';

function configFor(argv: string[]): Config {
  const loaded = loadConfig({ argv: ['--log-json', ...argv], env: {}, readFile: () => '', version: 'test' });
  if (loaded.kind !== 'config') throw new Error(`bad test config: ${JSON.stringify(loaded)}`);
  return loaded.config;
}

/** A port nothing listens on now (the kernel's pick, released again). */
function freePort(): number {
  const probe = Bun.serve({ port: 0, fetch: () => new Response() });
  const port = probe.port as number;
  probe.stop(true);
  return port;
}

describe('startRouter', () => {
  test('a busy metrics port fails start-up and releases the API port the step before it opened', async () => {
    using busy = Bun.serve({ port: 0, fetch: () => new Response('taken') });
    const apiPort = freePort();
    // Nothing is probed before the listeners open, so the endpoint need not exist.
    const config = configFor(['--worker-urls', 'http://127.0.0.1:9', '--port', String(apiPort), '--prometheus-port', String(busy.port)]);
    await expect(startRouter(config, { log: createLogger({ level: 'debug', json: true, write: () => {} }) })).rejects.toThrow(String(busy.port));
    using again = Bun.serve({ port: apiPort, fetch: () => new Response('mine') });
    expect(await (await fetch(`http://127.0.0.1:${again.port}/`)).text()).toBe('mine');
  });
});
