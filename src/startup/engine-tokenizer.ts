// Start-up step: a served model with no --model-path / --tokenizer-path gets its tokenizer from a VllmEngine gRPC
// endpoint that serves it: GetTokenizer's bundle, written to a private temporary directory that then stands for
// `--tokenizer-path MODEL=DIR` (the pool and the gRPC front read it as they would the operator's files).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { tokenizerPathSpecs } from '../config/tokenizer-paths.ts';
import { loadGrpcServices } from '../grpc/definitions.ts';
import { createGrpcEngineClient, type GrpcEngineClient } from '../grpc/engine-client.ts';
import { isGrpcUrl } from '../grpc/grpc-url.ts';
import { readTokenizerBundle } from '../grpc/tokenizer-bundle.ts';
import type { Logger } from '../log/logger.ts';

/** The tokenizer bundle is a few MB; a minute covers a slow engine start without holding start-up forever. */
export const BUNDLE_TIMEOUT_MS = 60_000;

export async function tokenizerFromEngine(config: Config, log: Logger): Promise<Config> {
  const specs = tokenizerPathSpecs(config);
  // A bare path serves every model: nothing is missing.
  if (specs.some((s) => s.model === undefined)) return config;
  const covered = new Set(specs.map((s) => s.model as string));
  const urls = config.worker_urls.filter(isGrpcUrl);
  if (urls.length === 0) return config;
  const services = loadGrpcServices();
  const fetched: string[] = [];
  const missing = new Map<string, string>();
  for (const url of urls) {
    const client = createGrpcEngineClient(url, { services, protocol: config.grpc_protocol });
    try {
      const protocol = await client.protocol(config.health_check_timeout_secs * 1000);
      if (!protocol.ok) {
        log.warn('gRPC endpoint did not answer at start-up: its model gets no tokenizer from it', { endpoint: url, error: protocol.message });
        continue;
      }
      const info = await client.modelInfo(config.health_check_timeout_secs * 1000);
      if (!info.ok || info.value.servedModelName === '') continue;
      const model = info.value.servedModelName;
      if (covered.has(model)) continue;
      if (protocol.value !== 'vllm-engine') {
        missing.set(model, `${url} speaks vllm.Inference, which has no GetTokenizer`);
        continue;
      }
      const dir = await fetchBundle(client, url, model, log);
      if (dir === undefined) {
        missing.set(model, `GetTokenizer failed on ${url}`);
        continue;
      }
      covered.add(model);
      missing.delete(model);
      fetched.push(`${model}=${dir}`);
    } finally {
      client.close();
    }
  }
  for (const [model, why] of missing)
    log.warn('no tokenizer for a served model: its chat requests (and every request to its VllmEngine endpoints) get 501 naming it', {
      model,
      why,
      fix: `--model-path ${model}=DIR or --tokenizer-path ${model}=PATH`,
    });
  return fetched.length === 0 ? config : { ...config, tokenizer_path: [...config.tokenizer_path, ...fetched] };
}

/** The most GetTokenizer may send: the largest tokenizers known are ~35 MB of JSON before deflate. */
export const MAX_TOKENIZER_ARCHIVE_BYTES = 128 * 1024 * 1024;

/** GetTokenizer of one engine into a fresh 0700 directory of 0600 files; an error value when it fails or is refused. */
export async function fetchTokenizerBundle(client: GrpcEngineClient, model: string, timeoutMs: number): Promise<{ ok: true; dir: string; files: readonly string[]; sha256: string } | { ok: false; error: string }> {
  if (model.includes('=')) return { ok: false, error: 'a model name holding "=" cannot name a --tokenizer-path item' };
  const got = await client.tokenizer(timeoutMs, MAX_TOKENIZER_ARCHIVE_BYTES);
  if (!got.ok) return { ok: false, error: `GetTokenizer: ${got.message}` };
  const bundle = readTokenizerBundle(got.value.zip, got.value.sha256);
  if (!bundle.ok) return { ok: false, error: `GetTokenizer bundle refused: ${bundle.error}` };
  const dir = await mkdtemp(join(tmpdir(), 'vllm-router-tokenizer-'));
  try {
    for (const [name, bytes] of bundle.files) await writeFile(join(dir, name), bytes, { mode: 0o600 });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    return { ok: false, error: `the tokenizer files could not be written to ${dir}: ${(e as Error).message}` };
  }
  return { ok: true, dir, files: [...bundle.files.keys()], sha256: got.value.sha256 };
}

/** The same at start-up, logged; undefined when it fails. */
async function fetchBundle(client: GrpcEngineClient, url: string, model: string, log: Logger): Promise<string | undefined> {
  const got = await fetchTokenizerBundle(client, model, BUNDLE_TIMEOUT_MS);
  if (!got.ok) {
    log.warn('GetTokenizer failed', { endpoint: url, model, error: got.error });
    return undefined;
  }
  log.info('tokenizer fetched from a gRPC engine (GetTokenizer)', { endpoint: url, model, dir: got.dir, files: got.files.join(','), sha256: got.sha256 });
  return got.dir;
}
