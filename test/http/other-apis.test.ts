// vLLM's other request APIs through the router: Anthropic Messages (routed like chat, the router's own errors in
// Anthropic's envelope), a multipart audio transcription (the model is a form field), and the tokenizer and
// pooling routes, each sent only to an engine that serves its model.
import { describe, expect, test } from 'bun:test';
import OpenAI, { toFile } from 'openai';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { startTestRouter } from '../support/router.ts';

/** curl, as a user would send it: status line and body. */
async function curl(url: string, body: string): Promise<{ status: number; body: string; contentType: string }> {
  const proc = Bun.spawn(['curl', '-sS', '-X', 'POST', url, '-H', 'content-type: application/json', '-H', 'anthropic-version: 2023-06-01', '--data-binary', body, '-w', '\n%{http_code} %{content_type}'], { stdout: 'pipe', stderr: 'pipe' });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  const cut = out.lastIndexOf('\n');
  const [status, contentType] = out.slice(cut + 1).split(' ');
  return { status: Number(status), body: out.slice(0, cut), contentType: contentType ?? '' };
}

async function fleet() {
  const alpha = await startMockEngine({ model: 'alpha' });
  const beta = await startMockEngine({ model: 'beta' });
  const router = await startTestRouter(['--worker-urls', alpha.url, beta.url, '--policy', 'round_robin', '--static-aliases', 'whisper-1:beta']);
  return {
    alpha,
    beta,
    router,
    async [Symbol.asyncDispose]() {
      await router[Symbol.asyncDispose]();
      await alpha[Symbol.asyncDispose]();
      await beta[Symbol.asyncDispose]();
    },
  };
}

const posts = (engine: { received: readonly { method: string; path: string }[] }, path: string) => engine.received.filter((r) => r.method === 'POST' && r.path === path).length;

describe('/v1/messages (Anthropic Messages API)', () => {
  test('routed by model, streamed through; errors the router makes are in Anthropic\'s envelope', async () => {
    await using f = await fleet();
    const url = `${f.router.url}/v1/messages`;
    for (let i = 0; i < 3; i++) {
      const answer = await curl(url, JSON.stringify({ model: 'beta', max_tokens: 3, system: 'be brief', messages: [{ role: 'user', content: `q${i}` }] }));
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toMatchObject({ type: 'message', role: 'assistant', model: 'beta' });
    }
    expect([posts(f.alpha, '/v1/messages'), posts(f.beta, '/v1/messages')]).toEqual([0, 3]);

    const stream = await curl(url, JSON.stringify({ model: 'alpha', max_tokens: 2, stream: true, messages: [{ role: 'user', content: 'hi' }] }));
    expect(stream.status).toBe(200);
    expect(stream.contentType).toStartWith('text/event-stream');
    expect(stream.body).toStartWith('event: message_start\n');
    expect(stream.body).toEndWith('event: message_stop\ndata: {"type":"message_stop"}\n\n');

    const unknown = await curl(url, JSON.stringify({ model: 'gamma', max_tokens: 1, messages: [{ role: 'user', content: 'x' }] }));
    expect(unknown.status).toBe(404);
    const notFound = JSON.parse(unknown.body) as { type: string; error: { type: string; message: string } };
    expect(notFound.type).toBe('error');
    expect(notFound.error.type).toBe('not_found_error');
    expect(notFound.error.message).toContain("'gamma'");
    const invalid = await curl(url, JSON.stringify({ model: 'alpha', max_tokens: 1 }));
    expect(invalid.status).toBe(400);
    expect(JSON.parse(invalid.body)).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: "'messages' is required" } });
    const malformed = await curl(url, '{"model":');
    expect(JSON.parse(malformed.body)).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
  });
});

describe('multipart audio transcription', () => {
  test('the form field model picks the engine (an alias rewritten in the form); the audio goes through whole', async () => {
    await using f = await fleet();
    const openai = new OpenAI({ baseURL: `${f.router.url}/v1`, apiKey: 'k', maxRetries: 0 });
    const audio = new Uint8Array(48_000).map((_, i) => (i * 7) & 0xff);
    for (const model of ['alpha', 'beta', 'alpha']) {
      const t = await openai.audio.transcriptions.create({ model, file: await toFile(audio, 'a.wav', { type: 'audio/wav' }) });
      expect(t.text).toBe('transcribed 48000 bytes');
    }
    expect([posts(f.alpha, '/v1/audio/transcriptions'), posts(f.beta, '/v1/audio/transcriptions')]).toEqual([2, 1]);
    const aliased = await openai.audio.transcriptions.create({ model: 'whisper-1', file: await toFile(audio, 'a.wav', { type: 'audio/wav' }) });
    expect(aliased.text).toBe('transcribed 48000 bytes');
    const last = f.beta.received.at(-1)!;
    expect(last.path).toBe('/v1/audio/transcriptions');
    expect(last.bodyText).toContain('name="model"\r\n\r\nbeta\r\n');
    expect(last.bodyText).not.toContain('whisper-1');
    const unknown = await fetch(`${f.router.url}/v1/audio/transcriptions`, { method: 'POST', body: (() => { const form = new FormData(); form.set('model', 'gamma'); form.set('file', new Blob([audio]), 'a.wav'); return form; })() });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('model_not_found');
  });
});

describe('tokenizer and pooling routes', () => {
  test('/tokenize, /detokenize, /pooling, /classify and /score go through the policy to an engine serving their model', async () => {
    await using f = await fleet();
    const bodies: Record<string, unknown> = {
      '/tokenize': { model: 'beta', prompt: 'hello world' },
      '/detokenize': { model: 'beta', tokens: [1, 2] },
      '/pooling': { model: 'beta', input: 'x' },
      '/classify': { model: 'beta', input: 'x' },
      '/score': { model: 'beta', text_1: 'a', text_2: 'b' },
    };
    for (const [path, body] of Object.entries(bodies)) {
      for (let i = 0; i < 2; i++) {
        const res = await fetch(f.router.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        expect(res.status).toBe(200);
      }
      expect([posts(f.alpha, path), posts(f.beta, path)]).toEqual([0, 2]);
    }
    // Without a model, the policy alone decides: round robin reaches both.
    for (let i = 0; i < 2; i++) await fetch(`${f.router.url}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"x"}' });
    expect(posts(f.alpha, '/tokenize')).toBe(1);
  });
});
