// The compiled router carries far more than Bun's default 256 concurrent upstream requests, and its health
// probes keep working while they are open (Bun's fetch queues calls past BUN_CONFIG_MAX_HTTP_REQUESTS inside
// itself, where admission and health checks cannot see them).
import { afterAll, describe, expect, test } from 'bun:test';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { startRouterProcess } from '../../testkit/router-process.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { metricValue } from '../../testkit/metric-value.ts';

const binary = buildRouterBinary();
afterAll(() => binary[Symbol.dispose]());

/** A streaming completion on its own raw TCP connection (the test's own fetch has only 256 slots). */
interface RawStream {
  /** Bytes received so far. */
  readonly received: () => number;
  close(): void;
}

async function openRawStream(address: { hostname: string; port: number }, body: string): Promise<RawStream> {
  let received = 0;
  const socket = await Bun.connect({
    hostname: address.hostname,
    port: address.port,
    socket: {
      data(_s, chunk) {
        received += chunk.byteLength;
      },
    },
  });
  socket.write(`POST /v1/completions HTTP/1.1\r\nHost: r\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  return { received: () => received, close: () => socket.end() };
}

/** Polls a condition every 50 ms (the state lives in other processes; there is no event to await). */
async function eventually(predicate: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (await predicate()) return;
    await Bun.sleep(50);
  }
  throw new Error(`never happened: ${what}`);
}

const engineRunning = async (url: string) => metricValue(await (await fetch(`${url}/metrics`)).text(), 'vllm:num_requests_running');

describe('concurrency beyond Bun fetch default', () => {
  test('1,200 concurrent streams all reach the engine while health probes keep passing and small requests are served', async () => {
    const streams = 1200;
    // Tokens every 500 ms: the streams stay open for as long as the test needs them.
    await using engine = await spawnMockEngine(['--model', 'm', '--itl-ms', '500', '--max-num-seqs', '100000']);
    await using router = await startRouterProcess(binary.path, [
      '--worker-urls', engine.url,
      '--policy', 'round_robin',
      '--health-check-interval-secs', '1',
      '--health-check-timeout-secs', '1',
      '--health-failure-threshold', '1',
    ]);
    const body = JSON.stringify({ model: 'm', prompt: 'tell me', max_tokens: 4000, stream: true });
    const open = await Promise.all(Array.from({ length: streams }, () => openRawStream(router.address, body)));
    try {
      await eventually(async () => (await engineRunning(engine.url)) >= streams, `the engine to run all ${streams} streams`);
      await eventually(async () => open.every((s) => s.received() > 0), 'every client to receive its first bytes');

      // Probes keep passing with every stream open: three more successful rounds, not a single failure.
      const probesOk = () => router.scrape().then((t) => metricValue(t, 'vllm_router_health_checks_total', { result: 'ok' }));
      const before = await probesOk();
      await eventually(async () => (await probesOk()) >= before + 3, 'three more passing health probes');
      const text = await router.scrape();
      expect(metricValue(text, 'vllm_router_health_checks_total', { result: 'failed' })).toBe(0);
      expect(metricValue(text, 'vllm_router_worker_health')).toBe(1);
      expect((await fetch(`${router.url}/readiness`)).status).toBe(200);

      // A small request beside them is answered.
      const small = await fetch(`${router.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 1 }) });
      expect(small.status).toBe(200);
      expect(((await small.json()) as { choices: unknown[] }).choices).toHaveLength(1);
    } finally {
      for (const s of open) s.close();
    }
    // Every client left: the router gives every slot back.
    await eventually(async () => metricValue(await router.scrape(), 'vllm_router_admission_in_use') === 0, 'admission slots to be released');
  });
});
