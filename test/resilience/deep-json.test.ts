// The compiled router under deeply nested JSON: 100,000 levels in `content` or `prompt` (and 5,000,000 in a
// 10 MB body) are a 400 invalid_request_error naming the field, never a 500, and the router keeps serving.
import { afterAll, describe, expect, test } from 'bun:test';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { startRouterProcess } from '../../testkit/router-process.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { parseEnvelope } from '../support/parse-envelope.ts';

const binary = buildRouterBinary();
afterAll(() => binary[Symbol.dispose]());

const nested = (levels: number, inner = '') => '['.repeat(levels) + inner + ']'.repeat(levels);
const withDeep = (body: Record<string, unknown>, deep: string) => JSON.stringify(body).replace('"__DEEP__"', deep);
const CHAT = JSON.stringify({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'hello' }] });

const ATTACKS: readonly { route: string; param: string; body: string }[] = [
  { route: '/v1/chat/completions', param: 'messages[0].content', body: withDeep({ model: 'm', messages: [{ role: 'user', content: '__DEEP__' }] }, nested(100_000)) },
  {
    route: '/v1/chat/completions',
    param: 'messages[0].content',
    body: withDeep({ model: 'm', stream: true, messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'image_url', image_url: '__DEEP__' }] }] }, nested(100_000)),
  },
  { route: '/v1/completions', param: 'prompt', body: withDeep({ model: 'm', prompt: '__DEEP__' }, nested(100_000, '1')) },
  { route: '/v1/completions', param: 'prompt', body: withDeep({ model: 'm', prompt: '__DEEP__' }, nested(5_000_000)) },
  { route: '/tokenize', param: 'messages[0].content', body: withDeep({ model: 'm', messages: [{ role: 'user', content: '__DEEP__' }] }, nested(100_000)) },
];

describe('the compiled router against deeply nested JSON', () => {
  test('each attack is a 400 naming the field, nothing reaches the engine, and the router keeps serving', async () => {
    await using engine = await spawnMockEngine(['--model', 'm']);
    // cache_aware reads the routing text of every request: the walk that used to overflow the stack.
    await using router = await startRouterProcess(binary.path, ['--worker-urls', engine.url, '--policy', 'cache_aware']);
    for (const { route, param, body } of ATTACKS) {
      const started = performance.now();
      const res = await fetch(`${router.url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const envelope = parseEnvelope(await res.text());
      console.log(`${route} ${param}, ${(body.length / 1e6).toFixed(1)} MB: ${res.status} in ${(performance.now() - started).toFixed(0)} ms`);
      expect([route, res.status, envelope?.type, envelope?.param]).toEqual([route, 400, 'invalid_request_error', param]);
    }
    const metrics = await router.scrape();
    expect(metricValue(metrics, 'vllm_router_processed_requests_total')).toBe(0);
    expect(metricValue(metrics, 'vllm_router_request_errors_total', { error_type: 'invalid_body' })).toBe(ATTACKS.length);
    const ok = await fetch(`${router.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: CHAT });
    expect(ok.status).toBe(200);
    expect(router.child.proc.exitCode).toBeNull();
  });
});
