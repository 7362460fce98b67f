// --tokenizer-path / --model-path items: PATH or MODEL=PATH, one source per model, the problems the schema reports.
import { describe, expect, test } from 'bun:test';
import { parseTokenizerPathItem, tokenizerPathSpecs, tokenizerPathsProblem } from '../../src/config/tokenizer-paths.ts';

describe('tokenizer path items', () => {
  test('MODEL=PATH splits at the first =; a bare PATH is for every model no item names', () => {
    expect(parseTokenizerPathItem('--model-path', 'meta-llama/Llama-3.1-8B=/models/a=b')).toEqual({ model: 'meta-llama/Llama-3.1-8B', flag: '--model-path', item: 'meta-llama/Llama-3.1-8B=/models/a=b', path: '/models/a=b' });
    expect(parseTokenizerPathItem('--tokenizer-path', '/models/x')).toMatchObject({ model: undefined, path: '/models/x' });
    expect(parseTokenizerPathItem('--model-path', '=x')).toEqual({ problem: 'expected MODEL=PATH or PATH' });
  });

  test('--tokenizer-path (and --kv-tokenizer-path) wins over --model-path for the same model; each model once', () => {
    const specs = tokenizerPathSpecs({ tokenizer_path: ['a=/t/a'], model_path: ['a=/m/a', 'b=/m/b', '/m/any'], kv_tokenizer_path: '/t/any' });
    expect(specs.map((s) => [s.model, s.flag, s.path])).toEqual([
      ['a', '--tokenizer-path', '/t/a'],
      [undefined, '--tokenizer-path', '/t/any'],
      ['b', '--model-path', '/m/b'],
    ]);
  });

  test('a model named twice, or two bare paths, in one flag is a problem naming the item', () => {
    expect(tokenizerPathsProblem('--model-path', ['a=/x', 'b=/y', 'a=/z'])).toEqual({ item: 'a=/z', problem: 'gives two paths for model a (a=/x and a=/z)' });
    expect(tokenizerPathsProblem('--tokenizer-path', ['/x', '/y'])?.problem).toContain('two paths with no model');
    expect(tokenizerPathsProblem('--model-path', ['a=/x', '/y'])).toBeUndefined();
  });
});
