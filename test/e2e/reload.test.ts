// Configuration reload in the compiled binary: SIGHUP re-reads --config, a good file changes the endpoints and
// the policy under live traffic without dropping a stream, a bad one is refused and the old one stays.
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { spawnChild } from '../../testkit/spawn-child.ts';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';

const dir = mkdtempSync(join(tmpdir(), 'vllm-router-reload-'));
const build = buildRouterBinary();
afterAll(() => build[Symbol.dispose]());
const binary = build.path;

/** Requests an engine finished, from its /_mock/stats (vLLM's request_success counter, by finish reason). */
const served = async (url: string) => {
  const stats = (await (await fetch(`${url}/_mock/stats`)).json()) as { requestSuccess: Record<string, number> };
  return Object.values(stats.requestSuccess).reduce((n, x) => n + x, 0);
};

describe('configuration reload', () => {
  test('SIGHUP: endpoints added and removed under a live stream, policy changed, a bad file refused', async () => {
    await using a = await spawnMockEngine(['--model', 'm', '--itl-ms', '60']);
    await using b = await spawnMockEngine(['--model', 'm']);
    const file = join(dir, 'router.yaml');
    // Written whole then renamed into place, as configuration management tools do.
    const write = (text: string) => {
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
    };
    write(`worker_urls:\n  - ${a.url}\npolicy: round_robin\n`);
    await using router = spawnChild([binary, '--config', file, '--port', '0', '--prometheus-port', '0', '--log-json', '--shutdown-delay-secs', '0']);
    const [, url] = await router.waitFor(/vllm-router listening[^\n]*"url":"(http:\/\/[^"]+)"/);
    const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'k', maxRetries: 0 });
    const complete = () => openai.completions.create({ model: 'm', prompt: 'x', max_tokens: 1 });

    // A long stream on a, in flight across both reloads.
    const stream = await openai.completions.create({ model: 'm', prompt: 'x', max_tokens: 30, stream: true });
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);

    // Reload 1: b replaces a. New requests go to b only; the stream on a goes on.
    write(`worker_urls:\n  - ${b.url}\npolicy: random\nlog_level: debug\nmax_payload_size: 1000000\n`);
    router.proc.kill('SIGHUP');
    const [reloaded] = await router.waitFor(/"msg":"configuration reloaded"[^\n]*/);
    expect(reloaded).toContain(`"added":"${b.url}"`);
    expect(reloaded).toContain(`"removed":"${a.url}"`);
    expect(reloaded).toContain('"policies_rebuilt":true');
    const [restart] = await router.waitFor(/"msg":"changed settings take effect at the next restart"[^\n]*/);
    expect(restart).toContain('"flags":"--max-payload-size"');
    const [aBefore, bBefore] = [await served(a.url), await served(b.url)];
    for (let i = 0; i < 4; i++) await complete();
    expect(await served(a.url)).toBe(aBefore);
    expect(await served(b.url)).toBe(bBefore + 4);

    // Reload 2: a file that does not validate is refused with its reason; b keeps serving.
    write(`worker_urls:\n  - ${a.url}\npolicy: fastest\n`);
    router.proc.kill('SIGHUP');
    const [refused] = await router.waitFor(/"msg":"configuration reload refused[^\n]*/);
    expect(refused).toContain('--policy');
    expect(refused).toContain('fastest');
    await complete();
    expect(await served(b.url)).toBe(bBefore + 5);
    expect(await served(a.url)).toBe(aBefore);

    let tokens = 1;
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) tokens++;
    expect(tokens).toBe(30);
    router.proc.kill('SIGTERM');
    expect(await router.proc.exited).toBe(0);
  });

  test('--watch-config: saving the file is enough', async () => {
    await using a = await spawnMockEngine(['--model', 'm']);
    await using b = await spawnMockEngine(['--model', 'm']);
    const file = join(dir, 'watched.json');
    writeFileSync(file, JSON.stringify({ worker_urls: [a.url] }));
    await using router = spawnChild([binary, '--config', file, '--watch-config', '--policy', 'round_robin', '--port', '0', '--prometheus-port', '0', '--log-json']);
    await router.waitFor(/"msg":"watching the configuration file"/);
    writeFileSync(file, JSON.stringify({ worker_urls: [a.url, b.url] }));
    const [reloaded] = await router.waitFor(/"msg":"configuration reloaded"[^\n]*/);
    expect(reloaded).toContain(`"added":"${b.url}"`);
    expect(reloaded).toContain('"cause":"file change"');
  });
});
