// Deeply nested client JSON is a 400 invalid_request_error naming the field, on every route that parses JSON,
// in every mode; nothing walks it recursively, and the router keeps serving.
import { describe, expect, test } from 'bun:test';
import { exceedsDepth, fieldOf, jsonDepthError, MAX_JSON_DEPTH } from '../../src/wire/json-depth.ts';
import { startMockEngine, type MockEngine } from '../../testkit/mock-engine.ts';
import { LLAMA_DIR } from '../pool/tokenizer-fixture.ts';
import { parseEnvelope } from '../support/parse-envelope.ts';
import { startTestRouter, type TestRouter } from '../support/router.ts';

const DEEP = 100_000;
/** `levels` nested arrays around `inner`, as text (JSON.stringify could not build it). */
const nestedArrays = (levels: number, inner = '') => '['.repeat(levels) + inner + ']'.repeat(levels);
const nestedObjects = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
/** A body whose `"__DEEP__"` placeholder is replaced by the nested text. */
const withDeep = (body: Record<string, unknown>, nested: string) => JSON.stringify(body).replace('"__DEEP__"', nested);

const CHAT = JSON.stringify({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'hello' }] });

/** Each route that parses JSON, with a body that nests `DEEP` levels under the field named. */
const DEEP_BODIES: readonly { route: string; param: string; body: string }[] = [
  { route: '/v1/chat/completions', param: 'messages[0].content', body: withDeep({ model: 'm', messages: [{ role: 'user', content: '__DEEP__' }] }, nestedArrays(DEEP)) },
  {
    route: '/v1/chat/completions',
    param: 'messages[1].content',
    body: withDeep({ model: 'm', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: [{ type: 'text', text: 'hi' }, '__DEEP__'] }] }, nestedArrays(DEEP)),
  },
  { route: '/v1/chat/completions', param: 'messages[0].content.a', body: withDeep({ model: 'm', messages: [{ role: 'user', content: '__DEEP__' }] }, nestedObjects(DEEP)) },
  { route: '/v1/completions', param: 'prompt', body: withDeep({ model: 'm', prompt: '__DEEP__' }, nestedArrays(DEEP, '1')) },
  { route: '/v1/embeddings', param: 'input', body: withDeep({ model: 'm', input: '__DEEP__' }, nestedArrays(DEEP)) },
  { route: '/v1/rerank', param: 'documents', body: withDeep({ model: 'm', query: 'q', documents: '__DEEP__' }, nestedArrays(DEEP)) },
  { route: '/generate', param: 'prompt', body: withDeep({ model: 'm', prompt: '__DEEP__' }, nestedArrays(DEEP)) },
  { route: '/v1/responses', param: 'input', body: withDeep({ model: 'm', input: '__DEEP__' }, nestedArrays(DEEP)) },
  { route: '/v1/chat/completions', param: 'tools', body: withDeep({ model: 'm', messages: [{ role: 'user', content: 'x' }], tools: '__DEEP__' }, nestedArrays(DEEP)) },
  // Routes the catch-all forwards: the router reads their bodies too (routing text, PD hand-off).
  { route: '/tokenize', param: 'messages[0].content', body: withDeep({ model: 'm', messages: [{ role: 'user', content: '__DEEP__' }] }, nestedArrays(DEEP)) },
  { route: '/v1/messages', param: 'messages[0].content', body: withDeep({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: '__DEEP__' }] }, nestedArrays(DEEP)) },
  { route: '/inference/v1/generate', param: 'token_ids', body: withDeep({ model: 'm', token_ids: '__DEEP__' }, nestedArrays(DEEP)) },
];

const post = (url: string, path: string, body: string) => fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

/** Sends every deep body: each must be the router's own 400 naming the field; then a normal chat still works. */
async function expectDeepRefused(r: TestRouter, engines: readonly MockEngine[], cases = DEEP_BODIES): Promise<void> {
  const before = engines.map((e) => e.received.length);
  for (const { route, param, body } of cases) {
    const res = await post(r.url, route, body);
    const text = await res.text();
    if (route === '/v1/messages') {
      // The Messages API gets the router's errors in Anthropic's envelope, which has no param or code.
      const anthropic = JSON.parse(text) as { type: string; error: { type: string; message: string } };
      expect([route, res.status, anthropic.type, anthropic.error.type]).toEqual([route, 400, 'error', 'invalid_request_error']);
      expect(anthropic.error.message).toContain(`nested more than ${MAX_JSON_DEPTH} levels`);
      continue;
    }
    const envelope = parseEnvelope(text);
    expect([route, res.status, envelope?.type, envelope?.param, envelope?.code]).toEqual([route, 400, 'invalid_request_error', param, 'invalid_body']);
    expect(envelope?.message).toContain(`nested more than ${MAX_JSON_DEPTH} levels`);
  }
  // None of them reached an engine (health probes aside).
  expect(engines.map((e, i) => e.received.slice(before[i]).filter((q) => q.path !== '/health' && q.path !== '/v1/models').length)).toEqual(engines.map(() => 0));
  const ok = await post(r.url, '/v1/chat/completions', CHAT);
  expect(ok.status).toBe(200);
}

describe('the nesting bound', () => {
  test(`accepts ${MAX_JSON_DEPTH} levels and refuses ${MAX_JSON_DEPTH + 1}, naming the field`, () => {
    // body (1) > messages (2) > message (3) > content arrays (4 and on): `levels - 3` arrays reach `levels`.
    const at = (levels: number) => JSON.parse(withDeep({ messages: [{ role: 'user', content: '__DEEP__' }] }, nestedArrays(levels - 3))) as Record<string, unknown>;
    expect(jsonDepthError(at(MAX_JSON_DEPTH))).toBeUndefined();
    const e = jsonDepthError(at(MAX_JSON_DEPTH + 1));
    expect(e?.param).toBe('messages[0].content');
    expect(e?.kind).toBe('invalid_body');
  });

  test(`walks ${DEEP.toLocaleString('en')} levels without recursion`, () => {
    const value = JSON.parse(`{"prompt":${nestedArrays(DEEP)}}`) as Record<string, unknown>;
    expect(exceedsDepth(value, MAX_JSON_DEPTH)).toBe(true);
    expect(jsonDepthError(value)?.param).toBe('prompt');
    expect(exceedsDepth(JSON.parse(`{"a":${nestedObjects(DEEP)}}`) as object, MAX_JSON_DEPTH)).toBe(true);
    // Wide is not deep: a long token-id prompt and many messages pass.
    expect(exceedsDepth({ prompt: Array.from({ length: 100_000 }, (_, i) => i), messages: Array.from({ length: 1000 }, () => ({ role: 'user', content: [{ type: 'text', text: 'x' }] })) }, MAX_JSON_DEPTH)).toBe(false);
  });

  test('names the field the way OpenAI names a param', () => {
    expect(fieldOf(['prompt', 0, 0, 0, 0])).toBe('prompt');
    expect(fieldOf(['messages', 0, 'content', 0, 0])).toBe('messages[0].content');
    expect(fieldOf(['input', 2, 'content', 1, 'text'])).toBe('input[2].content');
    expect(fieldOf(['a', 'a', 'a', 'a', 'a'])).toBe('a.a.a.a');
    expect(fieldOf(['tools', 0, 'function', 'parameters', 'properties'])).toBe('tools[0].function.parameters');
  });
});

describe('100,000-deep bodies get a 400 and the router keeps serving', () => {
  test('regular routing (round_robin), every JSON route and the catch-all', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'round_robin']);
    await expectDeepRefused(r, [engine]);
  });

  test('cache_aware on routing text, and consistent_hash on the conversation', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    for (const policy of ['cache_aware', 'consistent_hash']) {
      await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', policy]);
      await expectDeepRefused(r, [engine]);
    }
  });

  test('cache_aware with a tokenizer pool, /router/tokenize included', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'cache_aware', '--tokenizer-path', LLAMA_DIR, '--tokenizer-pool-size', '1']);
    await expectDeepRefused(r, [engine], [
      ...DEEP_BODIES,
      { route: '/router/tokenize', param: 'messages[0].content', body: withDeep({ model: 'm', messages: [{ role: 'user', content: '__DEEP__' }] }, nestedArrays(DEEP)) },
      { route: '/router/tokenize', param: 'prompt', body: withDeep({ model: 'm', prompt: '__DEEP__' }, nestedArrays(DEEP, '1')) },
    ]);
    // The pool still tokenizes.
    const tokenized = await post(r.url, '/router/tokenize', CHAT);
    expect(((await tokenized.json()) as { count: number }).count).toBeGreaterThan(0);
  });

  test('tool-call arguments are JSON text the pool parses: nested too deep they stay text, and the chat still tokenizes', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--worker-urls', engine.url, '--policy', 'cache_aware', '--tokenizer-path', LLAMA_DIR, '--tokenizer-pool-size', '1']);
    const call = { id: 'c1', type: 'function', function: { name: 'f', arguments: nestedArrays(DEEP) } };
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: 'c1', content: 'ok' }] });
    const tokenized = await post(r.url, '/router/tokenize', body);
    expect(tokenized.status).toBe(200);
    expect(((await tokenized.json()) as { count: number }).count).toBeGreaterThan(0);
    expect((await post(r.url, '/v1/chat/completions', body)).status).toBe(200);
    expect(r.logs.filter((l) => l.includes('tokenization failed'))).toEqual([]);
  });

  test('vLLM PD (two-stage) and SGLang-style PD', async () => {
    await using prefill = await startMockEngine({ model: 'm', role: 'prefill' });
    await using decode = await startMockEngine({ model: 'm', role: 'decode' });
    await using vllm = await startTestRouter(['--vllm-pd-disaggregation', '--prefill', prefill.url, 'none', '--decode', decode.url, '--policy', 'round_robin']);
    await expectDeepRefused(vllm, [prefill, decode]);
    await using sglangPrefill = await startMockEngine({ model: 'm', role: 'prefill', handoffCheck: 'record' });
    await using sglangDecode = await startMockEngine({ model: 'm', role: 'decode', handoffCheck: 'record' });
    await using sglang = await startTestRouter(['--pd-disaggregation', '--prefill', sglangPrefill.url, 'none', '--decode', sglangDecode.url, '--policy', 'round_robin']);
    await expectDeepRefused(sglang, [sglangPrefill, sglangDecode]);
  });

  test('--backend openai, where vLLM-only fields are stripped and the body re-encoded', async () => {
    await using engine = await startMockEngine({ model: 'm' });
    await using r = await startTestRouter(['--backend', 'openai', '--worker-urls', engine.url]);
    const stripped = withDeep({ model: 'm', top_k: 5, messages: [{ role: 'user', content: '__DEEP__' }] }, nestedArrays(DEEP));
    await expectDeepRefused(r, [engine], [
      { route: '/v1/chat/completions', param: 'messages[0].content', body: stripped },
      { route: '/v1/completions', param: 'prompt', body: withDeep({ model: 'm', min_p: 0.1, prompt: '__DEEP__' }, nestedArrays(DEEP, '1')) },
    ]);
  });
});
