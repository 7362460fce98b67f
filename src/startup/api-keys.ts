// Start-up step: the client keys the router accepts (--api-keys, --api-key-file) and the remote validator, if any.
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.ts';
import { createVerdictCache } from '../http/api-key-cache.ts';
import { createApiKeyValidator, type ApiKeyValidator } from '../http/api-key-validator.ts';
import { parseKeyList } from '../http/auth.ts';
import type { Logger } from '../log/logger.ts';
import { ConfigProblem } from './config-problem.ts';

export interface ApiKeys {
  /** Keys accepted as they are. */
  readonly staticKeys: readonly string[];
  /** --api-key-validation-urls: asks those services about any other key. */
  readonly keyValidator: ApiKeyValidator | undefined;
}

export function loadApiKeys(config: Config, { log, now }: { readonly log: Logger; readonly now: () => number }): ApiKeys {
  let staticKeys = config.api_keys;
  if (config.api_key_file !== undefined) {
    try {
      staticKeys = [...staticKeys, ...parseKeyList(readFileSync(config.api_key_file, 'utf8'))];
    } catch (e) {
      throw new ConfigProblem(`--api-key-file ${config.api_key_file}: ${(e as Error).message}`);
    }
  }
  const keyValidator =
    config.api_key_validation_urls.length === 0
      ? undefined
      : createApiKeyValidator({
          urls: config.api_key_validation_urls,
          timeoutMs: config.api_key_validation_timeout_secs * 1000,
          log,
          cache: createVerdictCache({
            positiveTtlMs: config.api_key_cache_ttl_secs * 1000,
            negativeTtlMs: config.api_key_negative_cache_ttl_secs * 1000,
            maxEntries: config.api_key_cache_size,
            now,
          }),
        });
  return { staticKeys, keyValidator };
}
