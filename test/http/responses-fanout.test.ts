// GET /v1/responses/{id} and POST /v1/responses/{id}/cancel through the router, with the OpenAI SDK as the client:
// the response lives on one endpoint of several, the router asks them all, and the holder's answer arrives whole.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { startMockEngine, type MockEngine } from '../../testkit/mock-engine.ts';
import { startTestRouter, type TestRouter } from '../support/router.ts';
import { until } from '../../testkit/until.ts';

const MODEL = 'm';
const ROUNDS = 20;

/** Stores a response on `engine` itself (not through the router), as a client of that engine did earlier. */
async function storeResponse(engine: MockEngine, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const res = await fetch(`${engine.url}/v1/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    // A long output (tens of KiB), so a body cut short cannot pass for a whole one.
    body: JSON.stringify({ model: MODEL, input: 'tell me a long story', max_output_tokens: 4000, ...extra }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

const outputText = (r: { output?: unknown }) => JSON.stringify(r.output);

describe('Responses API fan-out', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  let engines: MockEngine[];
  let holder: MockEngine;
  let router: TestRouter;
  let client: OpenAI;

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    engines = await Promise.all([0, 1, 2].map(() => startMockEngine({ model: MODEL, responseStore: true })));
    holder = engines[1]!;
    router = await startTestRouter(['--worker-urls', ...engines.map((e) => e.url), '--policy', 'round_robin']);
    client = new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });

  afterAll(async () => {
    await router[Symbol.asyncDispose]();
    await Promise.all(engines.map((e) => e.stop()));
    process.off('unhandledRejection', onUnhandled);
  });

  test(`GET: ${ROUNDS} of ${ROUNDS} retrievals get the whole stored response from the one endpoint that holds it`, async () => {
    const stored = await storeResponse(holder);
    expect(outputText(stored).length).toBeGreaterThan(20_000);
    let whole = 0;
    for (let i = 0; i < ROUNDS; i++) {
      // A body cut short fails in the SDK (connection error): counted, not thrown, to report how many of ROUNDS.
      const got = await client.responses.retrieve(stored.id as string).catch(() => undefined);
      if (got !== undefined && got.id === stored.id && outputText(got) === outputText(stored)) whole++;
    }
    expect(whole).toBe(ROUNDS);
    expect(router.logs.filter((l) => /AbortError|aborted/i.test(l))).toEqual([]);
    expect(unhandled).toEqual([]);
  });

  test(`cancel: ${ROUNDS} of ${ROUNDS} background responses are cancelled, and the holder's answer arrives whole`, async () => {
    await using slow = await startMockEngine({ model: MODEL, responseStore: true, itlMs: 50 });
    await using r = await startTestRouter(['--worker-urls', engines[0]!.url, slow.url, engines[2]!.url, '--policy', 'round_robin']);
    const sdk = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    let cancelled = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const queued = await storeResponse(slow, { background: true });
      expect(queued.status).toBe('queued');
      const got = await sdk.responses.cancel(queued.id as string).catch(() => undefined);
      if (got !== undefined && got.id === queued.id && got.status === 'cancelled') cancelled++;
    }
    expect(cancelled).toBe(ROUNDS);
    expect((await sdk.responses.retrieve((await storeResponse(slow, { background: true })).id as string)).status).toBe('queued');
    expect(r.logs.filter((l) => /AbortError|aborted/i.test(l))).toEqual([]);
    expect(unhandled).toEqual([]);
  });

  test("the holder's error is relayed when the others answer 404 (a finished response cannot be cancelled)", async () => {
    const stored = await storeResponse(holder);
    const res = await fetch(`${router.url}/v1/responses/${stored.id}/cancel`, { method: 'POST' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('Cannot cancel a synchronous response.');
  });

  test('an id no endpoint holds is a 404 in the OpenAI envelope', async () => {
    const error = await client.responses.retrieve('resp_nowhere').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).message).toContain('resp_nowhere was not found on any endpoint');
  });

  test('the winner is relayed while an endpoint that never answers is still asked, and that call is aborted', async () => {
    const stored = await storeResponse(holder);
    let hangingAborted = false;
    let hangingAsked = false;
    using hanging = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch(req) {
        if (new URL(req.url).pathname === '/health') return new Response(null);
        hangingAsked = true;
        req.signal.addEventListener('abort', () => (hangingAborted = true));
        return new Promise<Response>(() => {});
      },
    });
    await using r = await startTestRouter(['--worker-urls', `http://127.0.0.1:${hanging.port}`, holder.url, '--policy', 'round_robin']);
    const got = await new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'unused', maxRetries: 0 }).responses.retrieve(stored.id as string);
    expect(outputText(got)).toBe(outputText(stored));
    expect(hangingAsked).toBe(true);
    await until(() => hangingAborted, 'the call to the endpoint that never answers to be aborted');
  });
});
