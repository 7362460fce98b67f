// The compiled binary started with production-stack's command line, as its users run it (static backends), routing
// as that router does: round robin, session affinity on --session-key, qoe_centric, PD by model labels.
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMockEngine, type MockEngine } from '../../testkit/mock-engine.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { spawnChild } from '../../testkit/spawn-child.ts';

const build = buildRouterBinary();
afterAll(() => build[Symbol.dispose]());

/** production-stack's command line plus `--port 0`, JSON logs; resolves once the router listens. */
async function productionStack(args: string[]) {
  const child = spawnChild([build.path, '--port', '0', '--log-format', 'json', ...args], { PATH: process.env.PATH ?? '' });
  const [, url] = await child.waitFor(/"url":"(http:\/\/[^"]+)"/);
  return Object.assign(child, { url: url! });
}

const completions = (engine: MockEngine) => engine.received.filter((r) => r.path === '/v1/completions' || r.path === '/v1/chat/completions');
const complete = (url: string, headers: Record<string, string> = {}, body: Record<string, unknown> = {}) =>
  fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: 'm', prompt: 'hello there', max_tokens: 4, ...body }) });

describe("production-stack's command line, compiled binary", () => {
  test('--routing-logic roundrobin alternates over --static-backends, on 0.0.0.0 with /metrics on its port', async () => {
    await using a = await startMockEngine({ model: 'm' });
    await using b = await startMockEngine({ model: 'm' });
    await using router = await productionStack(['--service-discovery', 'static', '--static-backends', `${a.url},${b.url}`, '--static-models', 'm,m', '--routing-logic', 'roundrobin']);
    // production-stack's default host: every interface.
    expect(router.url).toStartWith('http://0.0.0.0:');
    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      expect((await complete(router.url)).status).toBe(200);
      order.push(completions(a).length > order.filter((e) => e === 'a').length ? 'a' : 'b');
    }
    expect(order.join('')).toMatch(/^(ab){3}$|^(ba){3}$/);
    expect((await fetch(`${router.url}/metrics`)).status).toBe(200);
    expect(((await (await fetch(`${router.url}/engines`)).json()) as unknown[]).length).toBe(2);
  });

  test('--routing-logic session --session-key: a session stays on one engine, whether the key is a header or a body field', async () => {
    await using a = await startMockEngine({ model: 'm' });
    await using b = await startMockEngine({ model: 'm' });
    await using c = await startMockEngine({ model: 'm' });
    const engines = [a, b, c];
    await using router = await productionStack(['--service-discovery', 'static', '--static-backends', `${a.url},${b.url},${c.url}`, '--static-models', 'm,m,m', '--routing-logic', 'session', '--session-key', 'x-user-id']);
    const homes = new Set<MockEngine>();
    for (const user of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']) {
      for (const e of engines) e.clearReceived();
      for (let turn = 0; turn < 3; turn++) expect((await complete(router.url, { 'x-user-id': user })).status).toBe(200);
      // production-stack's SessionRouter falls back to the body field of the same name.
      expect((await complete(router.url, {}, { 'x-user-id': user })).status).toBe(200);
      const served = engines.filter((e) => completions(e).length > 0);
      expect(served).toHaveLength(1);
      expect(completions(served[0]!)).toHaveLength(4);
      homes.add(served[0]!);
    }
    expect(homes.size).toBeGreaterThan(1);
  });

  test('--routing-logic qoe_centric routes by the QoE headers the seeds send, away from a slow engine', async () => {
    await using fast = await startMockEngine({ model: 'm', ttftMs: 1, itlMs: 1 });
    await using slow = await startMockEngine({ model: 'm', ttftMs: 400, itlMs: 40 });
    await using router = await productionStack(['--service-discovery', 'static', '--static-backends', `${fast.url},${slow.url}`, '--static-models', 'm,m', '--routing-logic', 'qoe_centric', '--engine-stats-interval', '1']);
    const qoe = { 'x-request-priority': '1', 'x-expected-output-tokens': '4', 'x-sla-target-ms': '200' };
    // Once each engine has been measured, the fast one takes the traffic.
    for (let i = 0; i < 6; i++) expect((await complete(router.url, qoe, { stream: true })).status).toBe(200);
    const before = completions(fast).length;
    for (let i = 0; i < 10; i++) await (await complete(router.url, qoe, { stream: true })).text();
    expect(completions(fast).length - before).toBeGreaterThanOrEqual(8);
  });

  test('--routing-logic disaggregated_prefill sends the prefill leg to the engine labelled for prefill, then decodes on the other', async () => {
    await using prefill = await startMockEngine({ model: 'm', role: 'prefill' });
    await using decode = await startMockEngine({ model: 'm', role: 'decode' });
    await using router = await productionStack([
      '--service-discovery', 'static',
      '--static-backends', `${prefill.url},${decode.url}`,
      '--static-models', 'm,m',
      '--static-model-labels', 'prefill,decode',
      '--prefill-model-labels', 'prefill',
      '--decode-model-labels', 'decode',
      '--routing-logic', 'disaggregated_prefill',
    ]);
    const res = await complete(router.url, {}, { max_tokens: 5 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { usage: { completion_tokens: number } };
    expect(body.usage.completion_tokens).toBe(5);
    const [p] = completions(prefill);
    const [d] = completions(decode);
    expect((p!.json as { max_tokens: number }).max_tokens).toBe(1);
    expect((d!.json as { max_tokens: number }).max_tokens).toBe(5);
    expect(decode.handoffs.some((h) => h.side === 'decode' && h.accepted)).toBe(true);
  });

  test('--dynamic-config-yaml: production-stack keys, re-read when the file changes', async () => {
    await using a = await startMockEngine({ model: 'm' });
    await using b = await startMockEngine({ model: 'm' });
    const file = join(mkdtempSync(join(tmpdir(), 'vllm-router-ps-')), 'dynamic.yaml');
    const write = (text: string) => {
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
    };
    // production-stack's YAML shorthand: models with their backends.
    write(`service_discovery: static\nrouting_logic: roundrobin\nstatic_models:\n  m:\n    static_backends: [${a.url}]\n`);
    await using router = await productionStack(['--dynamic-config-yaml', file]);
    for (let i = 0; i < 2; i++) expect((await complete(router.url)).status).toBe(200);
    expect(completions(a)).toHaveLength(2);
    write(`service_discovery: static\nrouting_logic: roundrobin\nstatic_backends: ${b.url}\nstatic_models: m\n`);
    await router.waitFor(/"msg":"configuration reloaded"[^\n]*/);
    for (let i = 0; i < 3; i++) expect((await complete(router.url)).status).toBe(200);
    expect(completions(a)).toHaveLength(2);
    expect(completions(b)).toHaveLength(3);
  });

  test('a production-stack flag with no counterpart is refused by name with exit 2; --help shows both dialects', () => {
    const run = (args: string[]) => Bun.spawnSync([build.path, ...args], { stdout: 'pipe', stderr: 'pipe', env: { PATH: process.env.PATH ?? '' } });
    const base = ['--service-discovery', 'static', '--static-backends', 'http://127.0.0.1:1', '--static-models', 'm', '--routing-logic', 'roundrobin'];
    const callbacks = run([...base, '--callbacks', 'my_module.handler']);
    expect(callbacks.exitCode).toBe(2);
    expect(callbacks.stderr.toString()).toStartWith("error: --callbacks 'my_module.handler': not supported: ");
    const kv = run([...base.slice(0, -1), 'kvaware', '--lmcache-controller-port', '9000']);
    expect(kv.exitCode).toBe(2);
    expect(kv.stderr.toString()).toContain('--lmcache-controller-port');
    expect(kv.stderr.toString()).toContain('kv_aware');
    const help = run(['--routing-logic', 'roundrobin', '--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout.toString()).toContain('--worker-urls');
    expect(help.stdout.toString()).toContain('--static-backends');
  });
});
