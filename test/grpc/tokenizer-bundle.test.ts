// The GetTokenizer bundle: the files the tokenizer needs come out of the deflated ZIP; a wrong digest, a cut or
// foreign archive is refused with a reason.
import { expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { readTokenizerBundle } from '../../src/grpc/tokenizer-bundle.ts';
import { standInTokenizerDir } from '../../testkit/grpc-engine.ts';
import { tokenizerZip } from '../../testkit/grpc-engine/tokenizer-zip.ts';

const dir = standInTokenizerDir('llama3_1');
const zip = tokenizerZip(dir);
const sha = new Bun.CryptoHasher('sha256').update(zip).digest('hex');

test('reads tokenizer.json and tokenizer_config.json byte for byte', () => {
  const bundle = readTokenizerBundle(zip, sha);
  if (!bundle.ok) throw new Error(bundle.error);
  expect([...bundle.files.keys()].sort()).toEqual(['tokenizer.json', 'tokenizer_config.json']);
  expect(Buffer.from(bundle.files.get('tokenizer.json')!).equals(readFileSync(`${dir}/tokenizer.json`))).toBe(true);
});

test('refuses a wrong digest, a cut archive and something that is not a ZIP', () => {
  expect(readTokenizerBundle(zip, '00'.repeat(32))).toMatchObject({ ok: false, error: expect.stringContaining('SHA-256') });
  expect(readTokenizerBundle(zip.subarray(0, zip.length - 30), '')).toMatchObject({ ok: false });
  expect(readTokenizerBundle(new TextEncoder().encode('not a zip at all'), '')).toMatchObject({ ok: false, error: expect.stringContaining('not a ZIP') });
});
