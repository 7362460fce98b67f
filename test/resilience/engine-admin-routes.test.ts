// The compiled router under the attack on the engines' admin routes: a client (with a client key, or none)
// tries vLLM's development and administrative routes through the catch-all, spelled every way it can think
// of. The engine, in dev mode like the attacked one, must never route one of them; the admin key still can.
import { afterAll, describe, expect, test } from 'bun:test';
import { routedPath } from '../../testkit/mock-engine.ts';
import { ENGINE_ADMIN_PATHS } from '../http/engine-route-lists.ts';
import { spawnChild } from '../../testkit/spawn-child.ts';
import { rawExchange } from './raw-http.ts';
import { startRouterProcess } from '../../testkit/router-process.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { parseEnvelope } from '../support/parse-envelope.ts';

const binary = buildRouterBinary();
afterAll(() => binary[Symbol.dispose]());

const ADMIN = 'admin-secret';
const CLIENT = 'client-key';
const ENGINE_KEY = 'engine-key';

/** A mock engine process in vLLM dev mode that keeps what it received (spawnMockEngine turns recording off). */
async function spawnDevEngine() {
  const child = spawnChild(['bun', new URL('../../testkit/mock-engine-main.ts', import.meta.url).pathname, '--port', '0', '--model', 'm', '--dev-mode', '--api-key', ENGINE_KEY]);
  const [, url] = await child.waitFor(/LISTENING (\S+)/);
  return Object.assign(child, { url: url! });
}

const received = async (engineUrl: string) => (await (await fetch(`${engineUrl}/_mock/received`)).json()) as { method: string; path: string; headers: Record<string, string> }[];
const devCalls = async (engineUrl: string) => ((await (await fetch(`${engineUrl}/_mock/stats`)).json()) as { devCalls: string[] }).devCalls;

/** Every spelling tried for each admin route: as is, and the ways a path can be bent past a naive check. */
function spellings(path: string): string[] {
  const name = path.slice(1);
  const first = name.charCodeAt(0).toString(16);
  return [
    path,
    `/${path}`,
    `//${path}`,
    `/%${first}${name.slice(1)}`,
    `/%${first.toUpperCase()}${name.slice(1)}`,
    `${path}/`,
    `${path}?x=1`,
    `${path}%3Fx`,
    `/v1/..${path}`,
    `/v1/%2e%2e${path}`,
    `/tokenize/..${path}`,
    `/v1/responses/..%2F..${path.replace(/\//g, '%2F')}`,
    path.toUpperCase(),
    `${path}%00`,
    `${path};a`,
    `/v1\\..\\${name}`,
  ];
}

describe('the compiled router against the admin-route attack', () => {
  test('no client request, whatever its key and spelling, makes the engine act on an admin route; the admin key does; the router keeps serving', async () => {
    await using engine = await spawnDevEngine();
    await using router = await startRouterProcess(binary.path, ['--worker-urls', engine.url, '--policy', 'round_robin', '--admin-api-key', ADMIN, '--api-keys', CLIENT, '--api-key', ENGINE_KEY]);
    const answers = new Map<number, number>();
    let sent = 0;
    for (const path of ENGINE_ADMIN_PATHS) {
      for (const target of spellings(path)) {
        for (const auth of ['', `Authorization: Bearer ${CLIENT}\r\n`, 'Authorization: Bearer wrong\r\n']) {
          for (const method of ['POST', 'GET']) {
            const answer = await rawExchange(router.address, `${method} ${target} HTTP/1.1\r\nHost: r\r\n${auth}Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
            sent++;
            if (answer.kind !== 'response') throw new Error(`${method} ${target}: ${answer.kind}`);
            answers.set(answer.status, (answers.get(answer.status) ?? 0) + 1);
            // Always the router's own refusal, in its envelope: 401 for an admin route, 404 for anything unlisted.
            const code = parseEnvelope(answer.body.toString())?.code;
            expect([method, target, answer.status, code]).toEqual([method, target, answer.status, answer.status === 404 ? 'not_found' : 'unauthorized']);
          }
        }
      }
    }
    console.log(`admin-route attack: ${sent} requests, answers ${[...answers].map(([s, n]) => `${s} ×${n}`).join(', ')}`);
    expect([...answers.keys()].sort()).toEqual([401, 404]);

    const routed = (await received(engine.url)).map((q) => routedPath(q.path)).filter((p) => (ENGINE_ADMIN_PATHS as readonly string[]).includes(p));
    expect(routed).toEqual([]);
    expect(await devCalls(engine.url)).toEqual([]);
    const metrics = await router.scrape();
    // Every refusal counted: the admin check's and, for unlisted spellings without a client key, the client check's.
    const refused = (route: string, type: string) => metricValue(metrics, 'vllm_router_request_errors_total', { route, error_type: type });
    expect(refused('admin', 'unauthorized') + refused('auth', 'unauthorized')).toBe(answers.get(401)!);
    expect(refused('admin', 'unauthorized')).toBeGreaterThan(0);
    // GET /v1/responses/{id} is the router's own fan-out: it asks the engines for the id, which stays encoded
    // (`..%2F..%2Fsleep` is one segment to Starlette, which never resolves dot segments), and answers 404.
    expect(refused('fallback', 'not_found') + refused('/v1/responses', 'not_found')).toBe(answers.get(404)!);
    const reached = (await received(engine.url)).filter((q) => q.path !== '/health' && q.path !== '/v1/models');
    expect(reached.every((q) => q.method === 'GET' && q.path.startsWith('/v1/responses/..%2F..%2F'))).toBe(true);
    expect(metricValue(metrics, 'vllm_router_processed_requests_total')).toBe(0);

    // The operator, with the admin key, still reaches the engine's admin routes, with the router's engine key.
    const reset = await fetch(`${router.url}/reset_prefix_cache`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(reset.status).toBe(200);
    expect(await devCalls(engine.url)).toEqual(['/reset_prefix_cache']);
    expect((await received(engine.url)).find((q) => q.path === '/reset_prefix_cache')!.headers.authorization).toBe(`Bearer ${ENGINE_KEY}`);

    const chat = await fetch(`${router.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(chat.status).toBe(200);
    expect(router.child.proc.exitCode).toBeNull();
  });
});
