// Start-up step: without --model-path / --tokenizer-path, a fleet of VllmEngine gRPC endpoints gives the router
// its tokenizer: GetTokenizer's bundle from the first engine that answers, written to a private temporary directory
// that then stands for --tokenizer-path (the pool and the gRPC front read it as they would the operator's files).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { loadGrpcServices } from '../grpc/definitions.ts';
import { createGrpcEngineClient } from '../grpc/engine-client.ts';
import { isGrpcUrl } from '../grpc/grpc-url.ts';
import { readTokenizerBundle } from '../grpc/tokenizer-bundle.ts';
import type { Logger } from '../log/logger.ts';

/** The tokenizer bundle is a few MB; a minute covers a slow engine start without holding start-up forever. */
const BUNDLE_TIMEOUT_MS = 60_000;

export async function tokenizerFromEngine(config: Config, log: Logger): Promise<Config> {
  if (config.tokenizer_path !== undefined || config.kv_tokenizer_path !== undefined || config.model_path !== undefined) return config;
  const urls = config.worker_urls.filter(isGrpcUrl);
  if (urls.length === 0 || config.grpc_protocol === 'vllm-inference') return config;
  const services = loadGrpcServices();
  for (const url of urls) {
    const client = createGrpcEngineClient(url, { services, protocol: config.grpc_protocol });
    try {
      const protocol = await client.protocol(config.health_check_timeout_secs * 1000);
      if (!protocol.ok || protocol.value !== 'vllm-engine') continue;
      const got = await client.tokenizer(BUNDLE_TIMEOUT_MS);
      if (!got.ok) {
        log.warn('GetTokenizer failed', { endpoint: url, error: got.message });
        continue;
      }
      const bundle = readTokenizerBundle(got.value.zip, got.value.sha256);
      if (!bundle.ok) {
        log.warn('GetTokenizer bundle refused', { endpoint: url, error: bundle.error });
        continue;
      }
      const dir = mkdtempSync(join(tmpdir(), 'vllm-router-tokenizer-'));
      for (const [name, bytes] of bundle.files) writeFileSync(join(dir, name), bytes, { mode: 0o600 });
      log.info('tokenizer fetched from a gRPC engine (GetTokenizer)', { endpoint: url, dir, files: [...bundle.files.keys()].join(','), sha256: got.value.sha256 });
      return { ...config, tokenizer_path: dir };
    } finally {
      client.close();
    }
  }
  log.warn('no tokenizer: give --model-path or --tokenizer-path; VllmEngine endpoints cannot be answered without one', { endpoints: urls.join(' ') });
  return config;
}
