// One token's text for logprobs, and a sequence decoded at once, against @huggingface/tokenizers.
import { describe, expect, test } from 'bun:test';
import { Tokenizer } from '@huggingface/tokenizers';
import { decodeIds, tokenBytesOf, tokenTextOf } from '../../src/text/token-text.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';
import { testTokenizer, type TokenizerName } from './tokenizers.ts';

describe.each(['llama3_1', 'llama2', 'qwen3'] as TokenizerName[])('%s', (name) => {
  const tokenizer = testTokenizer(name);
  const random = mulberry32(7);
  const ids = Array.from({ length: 2000 }, () => Math.floor(random() * tokenizer.vocab.size));

  test("a token's text is decode([id]) keeping its leading space (SentencePiece's Strip is for the text's start)", () => {
    // vLLM's logprobs put back the spaces decode([id]) strips (vllm/tokenizers/detokenizer_utils.py
    // `convert_ids_list_to_tokens`); the oracle here is decode([id]) by the same tokenizer without its Strip step.
    const decoder = tokenizer.json['decoder'] as { type: string; decoders?: { type: string }[] };
    const unstripped = decoder.type === 'Sequence' ? { ...decoder, decoders: decoder.decoders!.filter((d) => d.type !== 'Strip') } : decoder;
    const oracle = new Tokenizer({ ...tokenizer.json, decoder: unstripped }, tokenizer.config);
    for (const id of ids) {
      expect(tokenTextOf(tokenizer.vocab, id)).toBe(oracle.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
    }
  });

  test('bytes of a token are the ones its text is made of, part of a character included', () => {
    const ids = tokenizer.encode('🤖龘𒀀');
    expect(ids.filter((id) => tokenTextOf(tokenizer.vocab, id).includes('\uFFFD')).length).toBeGreaterThan(0);
    const all = ids.flatMap((id) => [...tokenBytesOf(tokenizer.vocab, id)]);
    expect(new TextDecoder().decode(Uint8Array.from(all)).trimStart()).toBe('🤖龘𒀀');
    expect(tokenBytesOf(tokenizer.vocab, tokenizer.vocab.size + 1).length).toBe(0);
  });

  test('decodeIds is decode', () => {
    for (let i = 0; i < ids.length; i += 50) {
      const some = ids.slice(i, i + 50);
      for (const skip of [true, false]) expect(decodeIds(tokenizer.vocab, some, { skipSpecialTokens: skip })).toBe(tokenizer.decode(some, skip));
    }
  });
});
