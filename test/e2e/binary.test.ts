import { afterAll, describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { spawnChild } from '../../testkit/spawn-child.ts';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { until } from '../../testkit/until.ts';
import { startOtlpReceiver } from '../tracing/otlp-receiver.ts';

const build = buildRouterBinary();
afterAll(() => build[Symbol.dispose]());
const binary = build.path;

const run = (args: string[]) => Bun.spawnSync([binary, ...args], { stdout: 'pipe', stderr: 'pipe', env: { PATH: process.env.PATH ?? '' } });

describe('the compiled binary', () => {
  test('--help lists the flags and exits 0; --version prints the version', () => {
    const help = run(['--help']);
    expect(help.exitCode).toBe(0);
    for (const flag of ['--worker-urls', '--policy', '--vllm-pd-disaggregation', '--cache-threshold', '--retry-max-retries']) expect(help.stdout.toString()).toContain(flag);
    const version = run(['--version']);
    expect(version.exitCode).toBe(0);
    expect(version.stdout.toString()).toMatch(/^vllm-router \d+\.\d+\.\d+\n$/);
  });

  test('a configuration error names the flag, the value and the reason, and exits 2', () => {
    const bad = run(['--worker-urls', 'http://a:1', '--port', 'eighty']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.toString()).toBe("error: --port 'eighty': expected a number\n");
    const pending = run(['--worker-urls', 'http://a:1', '--enable-igw']);
    expect(pending.exitCode).toBe(2);
    expect(pending.stderr.toString()).toMatch(/^error: --enable-igw 'true': not supported: /);
    const pd = run(['--vllm-pd-disaggregation', '--prefill', 'http://p:1', '9000', '--kv-connector', 'moriio']);
    expect(pd.exitCode).toBe(2);
    expect(pd.stderr.toString()).toMatch(/^error: --kv-connector 'moriio': moriio needs --vllm-discovery-address/);
    // More requests at once than Bun's fetch can carry (65,535 calls) is refused, not silently queued.
    const capacity = run(['--worker-urls', 'http://a:1', '--max-concurrent-requests', '100000']);
    expect(capacity.exitCode).toBe(2);
    expect(capacity.stderr.toString()).toMatch(/^error: --max-concurrent-requests '100000': the router can hold at most \d+ requests at once here/);
  });

  test('routes streaming and non-streaming requests to engine processes, then drains on SIGTERM and exits 0', async () => {
    await using a = await spawnMockEngine(['--model', 'm', '--itl-ms', '5']);
    await using b = await spawnMockEngine(['--model', 'm', '--itl-ms', '5']);
    await using router = spawnChild([binary, '--worker-urls', a.url, b.url, '--policy', 'round_robin', '--port', '0', '--prometheus-port', '0', '--log-json', '--shutdown-delay-secs', '0']);
    const [, url] = await router.waitFor(/"url":"(http:\/\/[^"]+)"/);
    const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'k', maxRetries: 0 });

    const once = await openai.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 });
    expect(once.choices[0]!.finish_reason).toBe('length');

    // A stream is in flight when SIGTERM arrives: it must finish whole, then the process exits 0.
    const stream = await openai.completions.create({ model: 'm', prompt: 'x', max_tokens: 40, stream: true });
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);
    router.proc.kill('SIGTERM');
    let tokens = 1;
    let finish: string | null | undefined;
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
      tokens++;
      finish = r.value.choices[0]?.finish_reason;
    }
    expect(tokens).toBe(40);
    expect(finish).toBe('length');
    expect(await router.proc.exited).toBe(0);
  });

  test('--enable-trace: a request through the binary reaches a local OTLP receiver, tagged with the id the client got', async () => {
    using receiver = startOtlpReceiver();
    await using engine = await spawnMockEngine(['--model', 'm']);
    await using router = spawnChild([binary, '--worker-urls', engine.url, '--port', '0', '--prometheus-port', '0', '--log-json', '--enable-trace', '--otlp-traces-endpoint', receiver.url]);
    const [, url] = await router.waitFor(/vllm-router listening[^\n]*"url":"(http:\/\/[^"]+)"/);
    const res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 1 }) });
    expect(res.status).toBe(200);
    await res.text();
    await until(() => receiver.spans().some((s) => s.name === 'POST /v1/completions'), 'the server span from the binary');
    const server = receiver.spans().find((s) => s.name === 'POST /v1/completions')!;
    expect(server.attributes.find((a) => a.key === 'request_id')?.value).toEqual({ stringValue: res.headers.get('x-request-id') });
    const service = receiver.bodies[0]!.resourceSpans[0]!.resource.attributes.find((a) => a.key === 'service.name');
    expect(service?.value).toEqual({ stringValue: 'vllm-router' });
  });
});
