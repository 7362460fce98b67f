// Once its answer streams, nothing in the router keeps a request's body or parsed JSON alive (issue #6, item 4):
// a long stream must not pin a large prompt for its whole length. The router runs in this process so that a
// synchronous full collection can be asked for; engines and the client are other processes, so what stays
// resident after it is what the router holds.
import { describe, expect, test } from 'bun:test';
import { startPdTestServer } from './pd/pd-harness.ts';
import { memoryKb } from '../../testkit/memory-kb.ts';
import { setMock } from '../../testkit/set-mock.ts';
import { spawnChild } from '../../testkit/spawn-child.ts';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { startTestRouter } from '../support/router.ts';

const BODY_MIB = 100;
const residentMiB = () => memoryKb(process.pid).rss / 1024;

/** A client process that sends a BODY_MIB chat stream request and prints FIRST once the first chunk arrived. */
function streamingClient(url: string) {
  return spawnChild([
    'bun',
    '-e',
    `const frame = JSON.stringify({ model: 'm', max_tokens: 8, stream: true, messages: [{ role: 'user', content: '' }] });
     const body = new TextEncoder().encode(frame.replace('"content":""', '"content":"' + 'a'.repeat(${BODY_MIB} * 1024 * 1024 - frame.length) + '"'));
     const res = await fetch('${url}/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
     await res.body.getReader().read();
     console.log('FIRST', res.status);
     await Bun.sleep(600_000);`,
  ]);
}

/** Resident memory the router keeps, after a full collection, while the stream is open. */
async function keptWhileStreaming(url: string): Promise<number> {
  Bun.gc(true);
  const before = residentMiB();
  await using client = streamingClient(url);
  await client.waitFor(/FIRST 200/);
  Bun.gc(true);
  return residentMiB() - before;
}

describe('request bodies are let go once the answer streams', () => {
  test('regular mode', async () => {
    await using engine = await spawnMockEngine(['--model', 'm']);
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    await setMock(engine.url, { failure: { kind: 'stall', afterTokens: 1 } });
    // Before: the relay's hooks kept the request (its bytes and JSON, twice the body) until the stream ended.
    expect(await keptWhileStreaming(r.url)).toBeLessThan(BODY_MIB / 2);
  });

  test('vLLM PD mode', async () => {
    await using p = await spawnMockEngine(['--model', 'm', '--role', 'prefill']);
    await using d = await spawnMockEngine(['--model', 'm', '--role', 'decode']);
    await using h = await startPdTestServer({ prefill: [{ url: p.url }], decode: [{ url: d.url }], connector: 'nixl' });
    await setMock(d.url, { failure: { kind: 'stall', afterTokens: 1 } });
    expect(await keptWhileStreaming(h.url)).toBeLessThan(BODY_MIB / 2);
  });
});
