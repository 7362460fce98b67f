import { afterAll, describe, expect, test } from 'bun:test';
import { LLAMA_DIR, llamaTokenizer } from '../pool/tokenizer-fixture.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { spawnChild } from '../../testkit/spawn-child.ts';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';

const build = buildRouterBinary();
afterAll(() => build[Symbol.dispose]());
const binary = build.path;

// The Llama 3.1 chat format, written out by hand from its template (system, user, then the generation prompt).
const CONVERSATION = [
  { role: 'system', content: 'You are a terse assistant.' },
  { role: 'user', content: 'Name three rivers in Europe.' },
];
const RENDERED =
  '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a terse assistant.<|eot_id|>' +
  '<|start_header_id|>user<|end_header_id|>\n\nName three rivers in Europe.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n';

describe('cache_aware on real tokens inside the compiled binary', () => {
  test('tokenization in the pool gives the ids the tokenizer library gives in-process; same prefixes stick', async () => {
    await using a = await spawnMockEngine(['--model', 'm']);
    await using b = await spawnMockEngine(['--model', 'm']);
    await using router = spawnChild([binary, '--worker-urls', a.url, b.url, '--policy', 'cache_aware', '--tokenizer-path', LLAMA_DIR, '--tokenizer-pool-size', '1', '--port', '0', '--prometheus-port', '0', '--log-json']);
    const [, url] = await router.waitFor(/"url":"(http:\/\/[^"]+)"/);

    const chat = await (await fetch(`${url}/router/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: CONVERSATION }) })).json() as { tokens: number[]; count: number; block_hashes: number[] };
    expect(chat.tokens).toEqual(llamaTokenizer().encode(RENDERED, { add_special_tokens: false }).ids);
    expect(chat.block_hashes.length).toBe(Math.floor(chat.count / 16));

    const prompt = 'The history of the Rhine valley begins long before the Romans. '.repeat(20);
    const completion = await (await fetch(`${url}/router/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt }) })).json() as { tokens: number[] };
    expect(completion.tokens).toEqual(llamaTokenizer().encode(prompt).ids);

    // Requests sharing a long prefix go where the first one went; a different document goes to the other endpoint.
    const ask = async (doc: string, q: string) => {
      const res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: `${doc}\nQuestion: ${q}`, max_tokens: 1 }) });
      expect(res.status).toBe(200);
      await res.text();
    };
    const counts = async () => Promise.all([a, b].map(async (e) => ((await (await fetch(`${e.url}/_mock/stats`)).json()) as { requestSuccess: Record<string, number> }).requestSuccess));
    const docA = 'Rivers of Europe: the Danube, the Rhine, the Elbe and the Loire. '.repeat(30);
    const docB = 'Mountains of Asia: Everest, K2, Kangchenjunga and Lhotse. '.repeat(30);
    for (let i = 0; i < 4; i++) await ask(docA, `question ${i}`);
    const afterA = await counts();
    const servedA = afterA.map((c) => Object.values(c).reduce((x, y) => x + y, 0));
    expect(servedA.sort()).toEqual([0, 4]);
    for (let i = 0; i < 4; i++) await ask(docB, `question ${i}`);
    const servedB = (await counts()).map((c) => Object.values(c).reduce((x, y) => x + y, 0));
    expect(servedB.sort()).toEqual([4, 4]);
  });

  test('a tokenizer path that does not exist is a configuration error: exit 2 naming the flag', () => {
    const run = Bun.spawnSync([binary, '--worker-urls', 'http://127.0.0.1:9', '--tokenizer-path', '/no/such/dir', '--port', '0', '--prometheus-port', '0'], { stdout: 'pipe', stderr: 'pipe' });
    expect(run.exitCode).toBe(2);
    expect(run.stderr.toString()).toMatch(/^error: --tokenizer-path \/no\/such\/dir: /);
  });
});
