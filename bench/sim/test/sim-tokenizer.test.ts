import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { TokenizerPool } from '../../../src/pool/pool.ts';
import { jobFromBody } from '../../../src/pool/protocol.ts';
import { resolveTokenizerFiles, type TokenizerFiles } from '../../../src/pool/tokenizer-files.ts';
import { startSimEngine, type SimEngine } from '../sim-engine.ts';
import { LLAMA_3_1_DIR, loadSimTokenizer } from '../sim-tokenizer.ts';
import { replyIds, replyText, VOCABULARY } from '../tokens.ts';
import { buildWorkload } from '../workloads.ts';

const tokenizer = loadSimTokenizer();
const FAST = { stepBaseMs: 1, prefillMsPerToken: 0.001, prefillAttentionMsPerKTokens: 0, decodeMsPerSeq: 0, attentionMsPerKTokens: 0 };
let pool: TokenizerPool;
let engine: SimEngine;

beforeAll(async () => {
  const files = resolveTokenizerFiles({ tokenizerPath: LLAMA_3_1_DIR });
  if (!files.ok) throw new Error(files.error);
  pool = await TokenizerPool.start({ files: files.value as TokenizerFiles, blockSize: 16, threads: 1 });
  engine = await startSimEngine({ model: 'm', params: FAST, tokenizer, promptTokensDetails: true });
});
afterAll(async () => {
  await pool.close();
  await engine.stop();
});

const post = (path: string, body: unknown) => fetch(`${engine.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** The ids the router's pool computes for a request body (cache_aware's token mode hashes these). */
async function routerIds(route: string, body: Record<string, unknown>): Promise<readonly number[]> {
  const job = jobFromBody(route, body);
  if (job === undefined) throw new Error('no pool job');
  const r = await pool.tokenize(job, { returnIds: true });
  if (!r.ok) throw new Error(r.error);
  return Array.from(r.value.ids ?? []);
}

/** The ids the engine computes, over its vLLM-style /tokenize. */
async function engineIds(body: Record<string, unknown>): Promise<number[]> {
  const res = await post('/tokenize', { model: 'm', ...body });
  expect(res.status).toBe(200);
  return ((await res.json()) as { tokens: number[] }).tokens;
}

/** Reads a chat stream: the reply text as sent, and the usage chunk. */
async function chat(messages: unknown[], maxTokens: number): Promise<{ text: string; promptTokens: number; cached: number }> {
  const res = await post('/v1/chat/completions', { model: 'm', messages, max_tokens: maxTokens, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage = { prompt_tokens: 0, prompt_tokens_details: { cached_tokens: 0 } };
  for (const e of (await res.text()).split('\n\n')) {
    if (!e.startsWith('data: {')) continue;
    const chunk = JSON.parse(e.slice(6)) as { choices: { delta: { content?: string } }[]; usage?: typeof usage };
    text += chunk.choices[0]?.delta.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  return { text, promptTokens: usage.prompt_tokens, cached: usage.prompt_tokens_details.cached_tokens };
}

describe('simulator tokenization', () => {
  test('the Llama 3.1 chat template and tokenizer, with the generation prompt, as vLLM applies them', () => {
    // <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhello there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n
    expect(tokenizer.chatIds([{ role: 'user', content: 'hello there' }])).toEqual([128000, 128006, 882, 128007, 271, 15339, 1070, 128009, 128006, 78191, 128007, 271]);
    // Completions: BOS, then the prompt.
    expect(tokenizer.promptIds('one two three')).toEqual([128000, 606, 1403, 2380]);
    expect(tokenizer.maxTokenId).toBe(128255);
  });

  test("the router's pool and the engine compute the same ids for chats and completions", async () => {
    const workloadBodies = buildWorkload('mixed', { seed: 4, rate: 8, durationSec: 4, model: 'm', tokenizer }).map((s) => ({ route: s.path, body: JSON.parse(s.body) as Record<string, unknown> }));
    expect(workloadBodies.some((b) => b.route === '/v1/completions')).toBe(true);
    const chatRoute = '/v1/chat/completions';
    const cases: { route: string; body: Record<string, unknown> }[] = [
      { route: chatRoute, body: { messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Two cafés, 1234 km apart: naïve 東京 🙂?' }] } },
      {
        route: chatRoute,
        body: {
          messages: [
            { role: 'system', content: 'sys prompt' },
            { role: 'user', content: 'first question\n\nwith a blank line' },
            { role: 'assistant', content: 'first answer' },
            { role: 'user', content: [{ type: 'text', text: 'second' }, { type: 'text', text: 'in parts' }] },
          ],
        },
      },
      { route: chatRoute, body: { messages: [{ role: 'user', content: 'no generation prompt' }], add_generation_prompt: false } },
      { route: '/v1/completions', body: { prompt: '  leading spaces and <|eot_id|> a special token' } },
      { route: '/v1/completions', body: { prompt: 'no BOS', add_special_tokens: false } },
      { route: '/v1/completions', body: { prompt: [128000, 9906, 1917] } },
      { route: '/v1/completions', body: { prompt: [[128000, 9906, 1917]] } },
      ...workloadBodies,
    ];
    for (const { route, body } of cases) {
      const fromRouter = await routerIds(route, body);
      expect(tokenizer.encodeRequest(route, body)).toEqual({ ok: true, ids: [...fromRouter] });
      expect(await engineIds(body)).toEqual([...fromRouter]);
    }
  });

  test('the engine refuses token ids outside the vocabulary, as vLLM does', async () => {
    const res = await post('/v1/completions', { model: 'm', prompt: [128000, 128256], max_tokens: 2 });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe('Token id 128256 is out of vocabulary');
  });

  test('a reply is real words; sent back as history it tokenizes to the ids the engine generated, so the next turn hits them', async () => {
    const turn1 = [
      { role: 'system', content: VOCABULARY.slice(0, 120).join(' ') },
      { role: 'user', content: 'tell me about the cache' },
    ];
    const reply = await chat(turn1, 40);
    const ids1 = tokenizer.chatIds(turn1);
    expect(reply.promptTokens).toBe(ids1.length);
    expect(reply.text).toBe(replyText(tokenizer.replies, ids1, 40));
    const generated = replyIds(tokenizer.replies, ids1, 40);
    expect(tokenizer.decode(generated)).toBe(reply.text);
    // Real words: the reply opens its line (no leading space after "\n\n") and every word is English.
    expect(reply.text.startsWith(' ')).toBe(false);
    for (const w of reply.text.split(' ')) expect(VOCABULARY).toContain(w);

    const turn2 = [...turn1, { role: 'assistant', content: reply.text }, { role: 'user', content: 'and then' }];
    const ids2 = await engineIds({ messages: turn2 });
    expect(ids2.slice(0, ids1.length + generated.length)).toEqual([...ids1, ...generated]);
    const second = await chat(turn2, 4);
    // The KV of turn 1's prompt and of its reply (but the last sampled token) is found, in whole blocks.
    expect(second.cached).toBe(Math.floor((ids1.length + generated.length - 1) / 16) * 16);
  });
});
