// --backend openai: the router in front of one OpenAI-compatible API that wants the client's key and refuses
// arguments it does not know, as api.openai.com does.
import { describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { startTestRouter } from '../support/router.ts';

const KEY = 'sk-test-123';
/** Fields OpenAI's chat API accepts (a subset is enough: the tests send nothing else). */
const KNOWN = new Set(['model', 'messages', 'max_tokens', 'max_completion_tokens', 'stream', 'stream_options', 'temperature', 'top_p', 'n', 'stop', 'seed', 'user', 'prompt', 'input']);

/** OpenAI's behaviour at the door (key, unknown arguments), then a vLLM mock engine produces the answer. */
async function startOpenAiStandIn() {
  const engine = await startMockEngine({ model: 'gpt-test' });
  const seen: { path: string; auth: string | null; body: Record<string, unknown> | undefined }[] = [];
  const server = Bun.serve({
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      const auth = req.headers.get('authorization');
      const text = req.method === 'POST' ? await req.text() : '';
      const body = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
      seen.push({ path, auth, body });
      if (auth !== `Bearer ${KEY}`)
        return Response.json({ error: { message: 'Incorrect API key provided', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } }, { status: 401 });
      const unknown = Object.keys(body ?? {}).find((k) => !KNOWN.has(k));
      if (unknown !== undefined)
        return Response.json({ error: { message: `Unrecognized request argument supplied: ${unknown}`, type: 'invalid_request_error', param: null, code: null } }, { status: 400 });
      return fetch(engine.url + path, { method: req.method, headers: { 'content-type': 'application/json' }, body: text === '' ? undefined : text });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    seen,
    async [Symbol.asyncDispose]() {
      await server.stop(true);
      await engine.stop();
    },
  };
}

describe('--backend openai', () => {
  test('chat completions go through with the client key and without vLLM-only fields, streamed and not', async () => {
    await using api = await startOpenAiStandIn();
    // Start-up succeeds although /v1/models answers 401 without a key: the API is up.
    await using r = await startTestRouter(['--backend', 'openai', '--worker-urls', api.url]);
    const openai = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: KEY, maxRetries: 0 });
    const extra = { top_k: 5, repetition_penalty: 1.1, min_tokens: 1, chat_template_kwargs: { x: 1 } };
    const once = await openai.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(once.choices[0]!.finish_reason).toBe('length');
    const stream = await openai.chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream: true, ...extra } as OpenAI.ChatCompletionCreateParamsStreaming);
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text.length).toBeGreaterThan(0);
    const chats = api.seen.filter((s) => s.path === '/v1/chat/completions');
    expect(chats.length).toBe(2);
    for (const s of chats) {
      expect(s.auth).toBe(`Bearer ${KEY}`);
      for (const field of Object.keys(extra)) expect(s.body).not.toHaveProperty(field);
      expect(s.body?.max_tokens).toBeGreaterThan(0);
    }
  });

  test('a wrong key is the API\'s 401, passed through; vLLM-only routes are 501 and unknown paths 404, in the OpenAI envelope', async () => {
    await using api = await startOpenAiStandIn();
    await using r = await startTestRouter(['--backend', 'openai', '--worker-urls', api.url]);
    const wrong = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer nope' }, body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'x' }] }) });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');

    const before = api.seen.length;
    const generate = await fetch(`${r.url}/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'x' }) });
    expect(generate.status).toBe(501);
    expect(((await generate.json()) as { error: { message: string; code: string } }).error).toMatchObject({ code: 'not_implemented' });
    const unknown = await fetch(`${r.url}/v1/fine_tuning/jobs`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { type: string } }).error.type).toBe('not_found_error');
    expect(api.seen.length).toBe(before);

    const models = await fetch(`${r.url}/v1/models`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(models.status).toBe(200);
    expect(((await models.json()) as { data: { id: string }[] }).data.map((m) => m.id)).toEqual(['gpt-test']);
  });

  test('needs exactly one URL', async () => {
    await expect(startTestRouter(['--backend', 'openai', '--worker-urls', 'http://a:1', 'http://b:1'])).rejects.toThrow(/exactly one URL/);
  });
});
