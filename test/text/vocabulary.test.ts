// The vocabulary read from tokenizer files: special and eos ids, decoder shapes beyond the shipped tokenizers
// (Metaspace, per-token Strip) checked against @huggingface/tokenizers, and clear errors for files it cannot use.
import { describe, expect, test } from 'bun:test';
import { Tokenizer } from '@huggingface/tokenizers';
import { createDetokenizer } from '../../src/text/detokenizer.ts';
import { TOKEN_SPECIAL, tryLoadVocabulary } from '../../src/text/vocabulary.ts';
import { testTokenizer } from './tokenizers.ts';

test('special ids are the added tokens flagged special; Qwen3 <think> and <tool_call> are not', () => {
  const qwen = testTokenizer('qwen3').vocab;
  const think = qwen.idOf('<think>')!;
  const toolCall = qwen.idOf('<tool_call>')!;
  expect(think).toBe(151667);
  expect(qwen.specialIds.has(think)).toBe(false);
  expect(qwen.specialIds.has(toolCall)).toBe(false);
  expect(qwen.specialIds.has(qwen.idOf('<|im_end|>')!)).toBe(true);
  expect((qwen.flags[qwen.idOf('<|im_end|>')!]! & TOKEN_SPECIAL) !== 0).toBe(true);
});

test('added_tokens_decoder of tokenizer_config.json can mark a token special, as transformers applies it', () => {
  const { json, config } = testTokenizer('qwen3');
  const think = 151667;
  const marked = { ...config, added_tokens_decoder: { [think]: { content: '<think>', special: true } } };
  const result = tryLoadVocabulary(json, marked);
  expect(result.ok && result.vocabulary.specialIds.has(think)).toBe(true);
  expect(testTokenizer('qwen3').vocab.specialIds.has(think)).toBe(false);
});

test('eos ids come from tokenizer_config.json and generation_config.json', () => {
  const { json, config } = testTokenizer('llama3_1');
  const result = tryLoadVocabulary(json, config, { eos_token_id: [128001, 128008, 128009] });
  expect(result.ok && [...result.vocabulary.eosTokenIds].sort()).toEqual([128001, 128008, 128009]);
  const alone = tryLoadVocabulary(json, config);
  expect(alone.ok && alone.vocabulary.eosTokenIds).toEqual([128009]);
  expect(alone.ok && alone.vocabulary.bosTokenId).toBe(128000);
});

describe('decoder shapes, against @huggingface/tokenizers', () => {
  const llama2 = testTokenizer('llama2');
  const decoders: Record<string, unknown> = {
    Metaspace: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: false },
    'ByteFallback then Metaspace': { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Metaspace', replacement: '\u2581', add_prefix_space: true }] },
    'Replace, ByteFallback, Fuse (no Strip)': {
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }],
    },
    'Strip at both ends after Fuse': {
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 2, stop: 2 }],
    },
    'Strip on each token': { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
  };
  for (const [label, decoder] of Object.entries(decoders)) {
    test(label, () => {
      const json = { ...llama2.json, decoder };
      const oracle = new Tokenizer(json, llama2.config);
      const result = tryLoadVocabulary(json, llama2.config);
      if (!result.ok) throw new Error(result.error);
      const ids = [1, ...llama2.encode('  Hello  world, 龘 and 🤖 here  ')];
      for (const skip of [true, false]) {
        const detokenizer = createDetokenizer(result.vocabulary, { skipSpecialTokens: skip });
        const text = ids.map((id) => detokenizer.push([id])).join('') + detokenizer.flush();
        expect(text).toBe(oracle.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false }));
      }
    });
  }
});

describe('files it cannot use give an error naming the problem', () => {
  const base = testTokenizer('llama2').json;
  const cases: [string, unknown, RegExp][] = [
    ['not an object', 'text', /not a JSON object/],
    ['no model', { decoder: base['decoder'] }, /no "model"/],
    ['no decoder', { ...base, decoder: null }, /no "decoder"/],
    ['an unsupported decoder', { ...base, decoder: { type: 'CTC' } }, /decoder type CTC is not supported/],
    ['a bad added token', { ...base, added_tokens: [{ id: 'x' }] }, /added_tokens/],
  ];
  for (const [label, json, message] of cases) {
    test(label, () => {
      const result = tryLoadVocabulary(json);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error).toMatch(message);
    });
  }
});
