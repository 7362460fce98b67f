import { afterAll, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTokenizerFiles, resolveTokenizerFiles } from '../../src/pool/tokenizer-files.ts';
import { LLAMA_CONFIG, LLAMA_DIR, LLAMA_JSON } from './tokenizer-fixture.ts';

const scratch = mkdtempSync(join(tmpdir(), 'tokenizer-files-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function dir(name: string, files: Record<string, string>): string {
  const path = join(scratch, name);
  mkdirSync(path, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(path, file), text);
  return path;
}

function errorOf(result: { ok: boolean; error?: string }): string {
  expect(result.ok).toBe(false);
  return result.error ?? '';
}

describe('resolving tokenizer files', () => {
  test('neither flag set means no tokenizer', () => {
    expect(resolveTokenizerFiles({})).toEqual({ ok: true, value: undefined });
  });

  test('a directory gives its tokenizer.json and tokenizer_config.json', () => {
    const result = resolveTokenizerFiles({ tokenizerPath: LLAMA_DIR });
    expect(result).toEqual({
      ok: true,
      value: { flag: '--tokenizer-path', given: LLAMA_DIR, tokenizerJson: LLAMA_JSON, tokenizerConfig: LLAMA_CONFIG, chatTemplateJinja: null, chatTemplateJson: null },
    });
  });

  test('a tokenizer.json file picks up the config beside it', () => {
    const result = resolveTokenizerFiles({ tokenizerPath: LLAMA_JSON });
    expect(result.ok && result.value?.tokenizerConfig).toBe(LLAMA_CONFIG);
  });

  test('--tokenizer-path wins over --model-path, as in the Rust router', () => {
    const result = resolveTokenizerFiles({ tokenizerPath: LLAMA_DIR, modelPath: '/nowhere' });
    expect(result.ok && result.value?.flag).toBe('--tokenizer-path');
  });

  test('--model-path takes a model directory and finds chat_template.jinja in it', () => {
    const path = dir('model-with-jinja', { 'tokenizer.json': '{}', 'chat_template.jinja': 'x' });
    const result = resolveTokenizerFiles({ modelPath: path });
    expect(result.ok && result.value?.chatTemplateJinja).toBe(join(path, 'chat_template.jinja'));
  });

  test('a Hub id is found in the local Hugging Face cache at the revision refs/main names', () => {
    const hub = join(scratch, 'hub');
    dir('hub/models--org--tiny/snapshots/abc123', { 'tokenizer.json': '{}' });
    dir('hub/models--org--tiny/refs', { main: 'abc123' });
    const result = resolveTokenizerFiles({ modelPath: 'org/tiny', hubCacheDir: hub });
    expect(result.ok && result.value?.tokenizerJson).toBe(join(hub, 'models--org--tiny/snapshots/abc123/tokenizer.json'));
  });

  test('errors name the flag, the path and the reason', () => {
    expect(errorOf(resolveTokenizerFiles({ tokenizerPath: '/no/such/dir' }))).toBe('--tokenizer-path /no/such/dir: no such file or directory');
    expect(errorOf(resolveTokenizerFiles({ modelPath: 'org/absent', hubCacheDir: '/no/hub' }))).toContain(
      '--model-path org/absent: no such file or directory, and no snapshot of it in the Hugging Face cache at /no/hub (the router never downloads',
    );
    expect(errorOf(resolveTokenizerFiles({ modelPath: LLAMA_JSON }))).toContain(`--model-path ${LLAMA_JSON}: must be a model directory`);
    const empty = dir('empty', { 'config.json': '{}' });
    expect(errorOf(resolveTokenizerFiles({ tokenizerPath: empty }))).toBe(`--tokenizer-path ${empty}: no tokenizer.json in this directory (it holds: config.json)`);
    const sentencepiece = dir('sp', { 'tokenizer.model': '' });
    expect(errorOf(resolveTokenizerFiles({ tokenizerPath: sentencepiece }))).toContain('tokenizer.model (SentencePiece) but no tokenizer.json');
  });
});

describe('reading tokenizer files', () => {
  function read(files: Record<string, string>) {
    const path = dir(`read-${Object.keys(files).join('-')}-${Math.random()}`, files);
    const resolved = resolveTokenizerFiles({ tokenizerPath: path });
    if (!resolved.ok || !resolved.value) throw new Error('fixture did not resolve');
    return { path, result: readTokenizerFiles(resolved.value) };
  }

  test('the real Llama files read cleanly', () => {
    const resolved = resolveTokenizerFiles({ tokenizerPath: LLAMA_DIR });
    if (!resolved.ok || !resolved.value) throw new Error('fixture did not resolve');
    const result = readTokenizerFiles(resolved.value);
    expect(result.ok && typeof result.value.config.chat_template).toBe('string');
  });

  test('invalid JSON is reported with flag, file and parser message', () => {
    const { path, result } = read({ 'tokenizer.json': '{ nope' });
    expect(errorOf(result)).toStartWith(`--tokenizer-path ${path}: ${join(path, 'tokenizer.json')}: not valid JSON (`);
  });

  test('a JSON file that is not a tokenizer is reported', () => {
    const { result } = read({ 'tokenizer.json': '{"version":"1.0"}' });
    expect(errorOf(result)).toContain('not a Hugging Face tokenizer.json (it has no "model" section)');
  });

  test('a broken tokenizer_config.json is reported', () => {
    const { path, result } = read({ 'tokenizer.json': '{"model":{}}', 'tokenizer_config.json': '[1]' });
    expect(errorOf(result)).toBe(`--tokenizer-path ${path}: ${join(path, 'tokenizer_config.json')}: must hold a JSON object`);
  });

  test('chat_template.jinja overrides the config template', () => {
    const { result } = read({ 'tokenizer.json': '{"model":{}}', 'tokenizer_config.json': '{"chat_template":"a"}', 'chat_template.jinja': 'b' });
    expect(result.ok && result.value.chatTemplateOverride?.text).toBe('b');
  });
});
