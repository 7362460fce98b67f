// Finds and reads the tokenizer files named by --tokenizer-path / --model-path; errors name flag, path and reason.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

export type TokenizerFlag = '--tokenizer-path' | '--model-path';

/** Absolute paths of the files one tokenizer is built from. */
export interface TokenizerFiles {
  /** The flag the files came from, for error messages. */
  readonly flag: TokenizerFlag;
  /** The value given on the command line (the whole `MODEL=PATH` item). */
  readonly given: string;
  readonly tokenizerJson: string;
  /** `tokenizer_config.json` beside `tokenizer.json` (special tokens, chat template), when present. */
  readonly tokenizerConfig: string | null;
  /** `chat_template.jinja` (transformers ≥ 4.50 saves the template there), when present. */
  readonly chatTemplateJinja: string | null;
  /** `chat_template.json` (`{"chat_template": …}`, saved by multimodal processors), when present. */
  readonly chatTemplateJson: string | null;
}

export interface TokenizerPathOptions {
  /** `--tokenizer-path`: a `tokenizer.json` file or a directory holding one. Wins over `modelPath`, as in Rust. */
  readonly tokenizerPath?: string | undefined;
  /** `--model-path`: a model directory, or a Hub id already in the local Hugging Face cache. */
  readonly modelPath?: string | undefined;
  /** The Hugging Face hub cache (`$HF_HUB_CACHE`, `$HF_HOME/hub`, `~/.cache/huggingface/hub`) for Hub ids. */
  readonly hubCacheDir?: string | undefined;
  /** The command-line item the path came from (`MODEL=PATH`), shown in errors; default the path. */
  readonly item?: string | undefined;
}

export type Resolved<T> = { ok: true; value: T } | { ok: false; error: string };

/** Resolves the flags to files. `value` is undefined when neither flag is set (no tokenizer configured). */
export function resolveTokenizerFiles(options: TokenizerPathOptions): Resolved<TokenizerFiles | undefined> {
  const flag: TokenizerFlag | undefined = options.tokenizerPath
    ? '--tokenizer-path'
    : options.modelPath
      ? '--model-path'
      : undefined;
  if (!flag) return { ok: true, value: undefined };
  const given = (flag === '--tokenizer-path' ? options.tokenizerPath : options.modelPath) as string;
  const shown = options.item ?? given;
  const fail = (reason: string): Resolved<never> => ({ ok: false, error: `${flag} ${shown}: ${reason}` });

  let path = resolve(given);
  if (!existsSync(path)) {
    const cached = flag === '--model-path' ? hubSnapshot(given, options.hubCacheDir) : undefined;
    if (!cached) {
      const hub = looksLikeHubId(given) && flag === '--model-path'
        ? `, and no snapshot of it in the Hugging Face cache${options.hubCacheDir ? ` at ${options.hubCacheDir}` : ''}` +
          ' (the router never downloads: fetch the model on this host or pass a local directory)'
        : '';
      return fail(`no such file or directory${hub}`);
    }
    path = cached;
  }

  let stats;
  try {
    stats = statSync(path);
  } catch (error) {
    return fail(`cannot read it (${(error as Error).message})`);
  }
  let dir: string;
  let tokenizerJson: string;
  if (stats.isDirectory()) {
    dir = path;
    tokenizerJson = join(dir, 'tokenizer.json');
    if (!existsSync(tokenizerJson)) return fail(missingTokenizerJson(dir));
  } else if (flag === '--model-path') {
    return fail('must be a model directory (use --tokenizer-path to name a tokenizer.json file)');
  } else {
    if (!basename(path).endsWith('.json')) {
      return fail('must be a tokenizer.json file or a directory holding one (only Hugging Face fast tokenizers are supported)');
    }
    dir = dirname(path);
    tokenizerJson = path;
  }
  const beside = (name: string): string | null => (existsSync(join(dir, name)) ? join(dir, name) : null);
  return {
    ok: true,
    value: {
      flag,
      given: shown,
      tokenizerJson,
      tokenizerConfig: beside('tokenizer_config.json'),
      chatTemplateJinja: beside('chat_template.jinja'),
      chatTemplateJson: beside('chat_template.json'),
    },
  };
}

/** What the pool threads build a tokenizer from. */
export interface TokenizerData {
  readonly tokenizer: Record<string, unknown>;
  /** `tokenizer_config.json`, or `{}` without one. */
  readonly config: Record<string, unknown>;
  /** Template text from `chat_template.jinja` or `chat_template.json`, which override the config's. */
  readonly chatTemplateOverride: { readonly text: string; readonly source: string } | null;
}

/** Reads and checks the files (the pool threads call it; the main thread never parses tokenizer.json). */
export function readTokenizerFiles(files: TokenizerFiles): Resolved<TokenizerData> {
  const fail = (path: string, reason: string): Resolved<never> => ({
    ok: false,
    error: `${files.flag} ${files.given}: ${path}: ${reason}`,
  });
  const tokenizer = readJsonObject(files.tokenizerJson);
  if (!tokenizer.ok) return fail(files.tokenizerJson, tokenizer.error);
  if (typeof tokenizer.value.model !== 'object' || tokenizer.value.model === null) {
    return fail(files.tokenizerJson, 'not a Hugging Face tokenizer.json (it has no "model" section)');
  }
  let config: Record<string, unknown> = {};
  if (files.tokenizerConfig) {
    const read = readJsonObject(files.tokenizerConfig);
    if (!read.ok) return fail(files.tokenizerConfig, read.error);
    config = read.value;
  }
  let chatTemplateOverride: TokenizerData['chatTemplateOverride'] = null;
  if (files.chatTemplateJinja) {
    try {
      chatTemplateOverride = { text: readFileSync(files.chatTemplateJinja, 'utf8'), source: files.chatTemplateJinja };
    } catch (error) {
      return fail(files.chatTemplateJinja, `cannot read it (${(error as Error).message})`);
    }
  } else if (files.chatTemplateJson && config.chat_template === undefined) {
    const read = readJsonObject(files.chatTemplateJson);
    if (!read.ok) return fail(files.chatTemplateJson, read.error);
    if (typeof read.value.chat_template !== 'string') {
      return fail(files.chatTemplateJson, 'has no "chat_template" string');
    }
    chatTemplateOverride = { text: read.value.chat_template, source: files.chatTemplateJson };
  }
  return { ok: true, value: { tokenizer: tokenizer.value, config, chatTemplateOverride } };
}

function readJsonObject(path: string): Resolved<Record<string, unknown>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return { ok: false, error: `cannot read it (${(error as Error).message})` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `not valid JSON (${(error as Error).message})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: 'must hold a JSON object' };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

function missingTokenizerJson(dir: string): string {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    // Reported below as a directory without tokenizer.json.
  }
  if (names.includes('tokenizer.model')) {
    return 'has tokenizer.model (SentencePiece) but no tokenizer.json; only Hugging Face fast tokenizers are ' +
      'supported (save one with transformers: AutoTokenizer.from_pretrained(dir).save_pretrained(dir))';
  }
  const shown = names.slice(0, 8).join(', ') + (names.length > 8 ? ', …' : '');
  return `no tokenizer.json in this directory (it holds: ${shown || 'nothing'})`;
}

function looksLikeHubId(value: string): boolean {
  return /^[\w.-]+\/[\w.-]+$/.test(value) && !value.startsWith('.');
}

/** `<hub>/models--org--name/snapshots/<rev>` for a Hub id, preferring the revision `refs/main` names. */
function hubSnapshot(id: string, hubCacheDir: string | undefined): string | undefined {
  if (!hubCacheDir || !looksLikeHubId(id)) return undefined;
  const repo = join(hubCacheDir, `models--${id.replace('/', '--')}`);
  const snapshots = join(repo, 'snapshots');
  if (!existsSync(snapshots)) return undefined;
  try {
    const main = readFileSync(join(repo, 'refs', 'main'), 'utf8').trim();
    if (main && existsSync(join(snapshots, main))) return join(snapshots, main);
  } catch {
    // No refs/main: fall back to the newest snapshot.
  }
  const revisions = readdirSync(snapshots)
    .map((name) => ({ name, mtime: statSync(join(snapshots, name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  return revisions[0] ? join(snapshots, revisions[0].name) : undefined;
}
