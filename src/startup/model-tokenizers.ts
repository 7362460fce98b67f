// The tokenizer files of each served model, from --tokenizer-path / --model-path items (`PATH` or `MODEL=PATH`);
// a path that does not hold a tokenizer is a ConfigProblem naming the flag, the item and why.
import type { Config } from '../config/schema.ts';
import { tokenizerPathSpecs } from '../config/tokenizer-paths.ts';
import type { ModelTokenizer } from '../pool/pool.ts';
import { resolveTokenizerFiles } from '../pool/tokenizer-files.ts';
import { ConfigProblem } from './config-problem.ts';

export function modelTokenizers(config: Pick<Config, 'tokenizer_path' | 'model_path' | 'kv_tokenizer_path'>): ModelTokenizer[] {
  return tokenizerPathSpecs(config).map((spec) => {
    const files = resolveTokenizerFiles(
      spec.flag === '--tokenizer-path' ? { tokenizerPath: spec.path, item: spec.item } : { modelPath: spec.path, item: spec.item },
    );
    if (!files.ok) throw new ConfigProblem(files.error);
    if (files.value === undefined) throw new ConfigProblem(`${spec.flag} ${spec.item}: empty path`);
    return { model: spec.model, files: files.value };
  });
}
