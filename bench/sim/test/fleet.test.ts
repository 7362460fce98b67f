import { describe, expect, test } from 'bun:test';
import { spawnEngine, spawnReplicas, spawnUntil, type ChildProc } from '../fleet.ts';

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

  test('replicas start together; when one refuses, the ones that started are stopped and the refusal is returned', async () => {
    const started: ChildProc[] = [];
    let n = 0;
    const spawn = async () => {
      const child = await spawnUntil(['bun', main, '--port', '0', ...(n++ === 1 ? ['--role', 'bogus'] : [])], /LISTENING (\S+)/);
      if (!('error' in child)) started.push(child);
      return child;
    };
    const refused = await spawnReplicas(3, spawn);
    expect('error' in refused && refused.error).toContain('--role must be both, prefill or decode');
    expect(started.length).toBe(2);
    for (const child of started) expect(await fetch(`${child.url}/health`).then(() => 'answered', () => 'refused')).toBe('refused');

    const replicas = await spawnReplicas(2, () => spawnUntil(['bun', main, '--port', '0'], /LISTENING (\S+)/));
    if ('error' in replicas) throw new Error(replicas.error);
    try {
      expect(new Set(replicas.map((r) => r.url)).size).toBe(2);
      for (const r of replicas) expect((await fetch(`${r.url}/health`)).status).toBe(200);
    } finally {
      await Promise.all(replicas.map((r) => r.stop()));
    }
  });
});
