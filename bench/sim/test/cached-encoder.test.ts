import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { loadChatTemplate } from '../../../src/pool/chat-template.ts';
import { createCachedEncoder, piecewiseHazard } from '../cached-encoder.ts';
import { createRng } from '../rng.ts';
import { LLAMA_3_1_DIR } from '../sim-tokenizer.ts';
import { VOCABULARY } from '../tokens.ts';

const json = JSON.parse(readFileSync(join(LLAMA_3_1_DIR, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
const config = JSON.parse(readFileSync(join(LLAMA_3_1_DIR, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
const tokenizer = new Tokenizer(json, config);
const whole = (text: string, special: boolean) => tokenizer.encode(text, { add_special_tokens: special }).ids;
const { template } = loadChatTemplate(config, null);
const render = (messages: { role: string; content: string }[]) => {
  const r = template.render({ messages });
  if (!r.ok) throw new Error(r.error);
  return r.text;
};

/** Text with what splits tokens in odd places: digits, punctuation, runs of spaces and newlines, non-Latin
 * script, emoji, contractions, special tokens and near-misses of them. */
function tricky(seed: number, n: number): string {
  const rng = createRng(seed);
  const bits = ['<|eot_id|>', '<|start_header_id|>', '<|eot', '|>', '<|', ' 12345', '3.14', "it's", " we'll", '  ', '\n\n', '\n', '\t', ' 東京', 'naïve', ' 🙂', ' —', '!!', '"quoted"', ' (x)'];
  let out = '';
  for (let i = 0; i < n; i++) out += rng.next() < 0.3 ? rng.pick(bits) : `${rng.next() < 0.8 ? ' ' : ''}${rng.pick(VOCABULARY)}`;
  return out;
}

/** Words only: no special token inside, so a message is one piece. */
const plain = (seed: number, n: number): string => {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => rng.pick(VOCABULARY)).join(' ');
};

describe('cached encoder', () => {
  test('tokenizing piece by piece with the cache gives exactly the ids of tokenizing the whole text', () => {
    const cached = createCachedEncoder(tokenizer, json, config, 1_000_000);
    expect(cached.stats().piecewise).toBe(true);
    const texts: string[] = [];
    for (let seed = 1; seed <= 40; seed++) texts.push(tricky(seed, 200));
    texts.push('', ' ', '<|eot_id|>', '<|eot_id|><|eot_id|>', 'a<|eot_id|>b', '<|begin_of_text|>hello', 'trailing space ', '\n\nleading newlines');
    const history = [{ role: 'system', content: tricky(99, 400) }];
    for (let turn = 0; turn < 6; turn++) {
      history.push({ role: 'user', content: tricky(100 + turn, 60) }, { role: 'assistant', content: tricky(200 + turn, 80) });
      texts.push(render(history));
    }
    // Twice: the second round is served from the cache.
    for (let round = 0; round < 2; round++) {
      for (const text of texts) {
        for (const special of [false, true]) expect(cached.encode(text, special)).toEqual(whole(text, special));
      }
    }
    const s = cached.stats();
    expect(s.hits).toBeGreaterThan(s.misses);
  });

  test('a chat turn costs only its new messages once its history is cached', () => {
    const cached = createCachedEncoder(tokenizer, json, config, 1_000_000);
    const history = [{ role: 'system', content: plain(1, 500) }, { role: 'user', content: plain(2, 50) }];
    cached.encode(render(history), false);
    const before = cached.stats();
    history.push({ role: 'assistant', content: plain(3, 50) }, { role: 'user', content: plain(4, 50) });
    expect(cached.encode(render(history), false)).toEqual(whole(render(history), false));
    const after = cached.stats();
    // Two new contents (the template's role names are pieces too, already cached).
    expect(after.misses - before.misses).toBe(2);
  });

  test('a cache far smaller than the texts evicts and still gives the right ids', () => {
    const cached = createCachedEncoder(tokenizer, json, config, 50);
    for (let seed = 1; seed <= 10; seed++) {
      const text = render([{ role: 'user', content: tricky(seed, 100) }]);
      expect(cached.encode(text, false)).toEqual(whole(text, false));
      expect(cached.stats().tokens).toBeLessThanOrEqual(50 + 200);
    }
    expect(cached.encode('short', false)).toEqual(whole('short', false));
    expect(cached.stats().tokens).toBeLessThanOrEqual(50);
  });

  test('a tokenizer where pieces would not add up (a normalizer, stripping added tokens) is tokenized whole', () => {
    expect(piecewiseHazard(json, config)).toBeNull();
    expect(piecewiseHazard({ ...json, normalizer: { type: 'NFC' } }, config)).toContain('normalizer');
    const stripping = { ...json, added_tokens: [{ id: 1, content: '<x>', lstrip: true }] };
    expect(piecewiseHazard(stripping, config)).toContain('strips');
    expect(piecewiseHazard({ ...json, pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first' } }, config)).toContain('Metaspace');
    const off = createCachedEncoder(tokenizer, { ...json, normalizer: { type: 'NFC' } }, config, 1_000_000);
    expect(off.stats().piecewise).toBe(false);
    const text = tricky(5, 50);
    expect(off.encode(text, true)).toEqual(whole(text, true));
    expect(off.stats().misses).toBe(0);
  });
});
