// --tokenizer-path / --model-path items (`PATH`, or `MODEL=PATH` when the fleet serves several models): read into
// one tokenizer source per model, with the flag and the item kept for error messages.

export type TokenizerPathFlag = '--tokenizer-path' | '--model-path';

/** Where one model's tokenizer comes from. */
export interface TokenizerPathSpec {
  /** The served model it is for; undefined for a bare PATH, which serves every model no item names. */
  readonly model: string | undefined;
  readonly flag: TokenizerPathFlag;
  /** The item as given (`MODEL=PATH` or `PATH`), for error messages. */
  readonly item: string;
  readonly path: string;
}

/**
 * An item split at its first `=`: a model name holds none (vLLM's served names are Hub ids, `org/name`), a path may
 * (then name its model: `MODEL=PATH`).
 */
export function parseTokenizerPathItem(flag: TokenizerPathFlag, item: string): TokenizerPathSpec | { readonly problem: string } {
  const eq = item.indexOf('=');
  if (eq < 0) return { model: undefined, flag, item, path: item };
  const model = item.slice(0, eq).trim();
  const path = item.slice(eq + 1).trim();
  if (model === '' || path === '') return { problem: 'expected MODEL=PATH or PATH' };
  return { model, flag, item, path };
}

/** Why the items of one flag cannot be used together: a model named twice, or two bare paths. */
export function tokenizerPathsProblem(flag: TokenizerPathFlag, items: readonly string[]): { readonly item: string; readonly problem: string } | undefined {
  const seen = new Map<string | undefined, string>();
  for (const item of items) {
    const spec = parseTokenizerPathItem(flag, item);
    if ('problem' in spec) return { item, problem: spec.problem };
    const before = seen.get(spec.model);
    if (before !== undefined) {
      const problem = spec.model === undefined
        ? `gives two paths with no model (${before} and ${item}): name the model of each, MODEL=PATH`
        : `gives two paths for model ${spec.model} (${before} and ${item})`;
      return { item, problem };
    }
    seen.set(spec.model, item);
  }
  return undefined;
}

/**
 * One source per model: --tokenizer-path (and --kv-tokenizer-path, its other name) wins over --model-path for the
 * same model, as a single --tokenizer-path does in the Rust router. Call after the schema accepted the items.
 */
export function tokenizerPathSpecs(config: {
  readonly tokenizer_path: readonly string[];
  readonly model_path: readonly string[];
  readonly kv_tokenizer_path?: string | undefined;
}): TokenizerPathSpec[] {
  const byModel = new Map<string | undefined, TokenizerPathSpec>();
  const add = (flag: TokenizerPathFlag, items: readonly string[]) => {
    for (const item of items) {
      const spec = parseTokenizerPathItem(flag, item);
      if (!('problem' in spec) && !byModel.has(spec.model)) byModel.set(spec.model, spec);
    }
  };
  add('--tokenizer-path', config.tokenizer_path);
  if (config.kv_tokenizer_path !== undefined) add('--tokenizer-path', [config.kv_tokenizer_path]);
  add('--model-path', config.model_path);
  return [...byModel.values()];
}
