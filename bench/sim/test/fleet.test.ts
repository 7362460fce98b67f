import { describe, expect, test } from 'bun:test';
import { spawnEngine, spawnUntil } from '../fleet.ts';

const main = new URL('../sim-engine-main.ts', import.meta.url).pathname;

describe('engine processes', () => {
  test('an engine process prints its URL, serves, and stops on SIGTERM', async () => {
    await using engine = await spawnEngine(['--model', 'm', '--kv-blocks', '64', '--speed', '2']);
    expect(engine.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const stats = (await (await fetch(`${engine.url}/_sim/stats`)).json()) as { params: { kvBlocks: number; speed: number } };
    expect(stats.params).toMatchObject({ kvBlocks: 64, speed: 2 });
  });

  test('a process that exits before it is ready is reported with its error, not awaited forever', async () => {
    const result = await spawnUntil(['bun', main, '--role', 'bogus'], /LISTENING (\S+)/);
    expect('error' in result && result.error).toContain('--role must be both, prefill or decode');
  });
});
