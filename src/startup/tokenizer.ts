// Start-up step: the tokenizer pool (--tokenizer-path / --model-path, one tokenizer per served model), which hashes prompts into vLLM's prefix-cache blocks.
import { routingBlockSize } from './block-size.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { TokenizerPool, defaultPoolSize } from '../pool/pool.ts';
import { jobFromBody } from '../pool/protocol.ts';
import { chainBlockHashes, chainRoot } from '../pool/block-hash.ts';
import type { KvAdapters } from '../signals/kv-events/kv-events.ts';
import { modelTokenizers } from './model-tokenizers.ts';
import type { RouterDeps } from '../routing/router-factory.ts';
import { ConfigProblem } from './config-problem.ts';

interface Needs {
  readonly metrics: Metrics;
  readonly log: Logger;
}

/**
 * The started pool; a tokenizer that does not load is a ConfigProblem. With no tokenizer configured it holds none
 * and runs no thread until a gRPC endpoint added at run time hands one over (startup/runtime-tokenizers.ts).
 */
export async function startTokenizer(config: Config, { metrics, log }: Needs): Promise<TokenizerPool> {
  const tokenizers = modelTokenizers(config);
  let pool: TokenizerPool;
  try {
    pool = await TokenizerPool.start({
      tokenizers,
      blockSize: routingBlockSize(config),
      threads: config.tokenizer_pool_size ?? defaultPoolSize(),
      onThreadExit: (e) => {
        metrics.poolRestarts.inc();
        log.warn('tokenizer thread died and was replaced', { thread: e.thread, code: e.code, error: e.error, retried: e.retried });
      },
    });
  } catch (e) {
    throw new ConfigProblem((e as Error).message);
  }
  if (tokenizers.length === 0) return pool;
  for (const info of pool.infos) for (const w of info.warnings) log.warn('tokenizer', { model: info.model ?? '(every model)', message: w });
  log.info('tokenizer pool ready', {
    threads: pool.size,
    models: tokenizers.map((t) => t.model ?? '(every model)').join(','),
    load_ms: Math.round(pool.info?.loadMs ?? 0),
  });
  return pool;
}

interface HashNeeds extends Needs {
  /** --block-size: for prompts given as token ids, hashed here. */
  readonly blockSize: number;
  /** With KV events: a request naming a LoRA adapter chains its blocks from that adapter's root. */
  readonly adapters?: KvAdapters;
}

const isTokenIds = (v: unknown): v is readonly number[] => Array.isArray(v) && v.length > 0 && v.every((t) => Number.isInteger(t));

/**
 * How the routers get a prompt's block hashes: a prompt of token ids is hashed here (it needs no tokenizer),
 * anything else in the pool; a failed tokenization routes without them.
 */
export function blockHashesFrom(pool: TokenizerPool | undefined, { metrics, log, blockSize, adapters }: HashNeeds): RouterDeps['blockHashes'] {
  return async (route, body) => {
    const found = jobFromBody(route, body);
    if (found === undefined) return undefined;
    const loraName = typeof body.model === 'string' && adapters?.isAdapter(body.model) ? body.model : undefined;
    const job = { ...found, loraName };
    if (job.kind === 'completion') {
      const first = isTokenIds(job.prompt) ? job.prompt : Array.isArray(job.prompt) && isTokenIds(job.prompt[0]) ? (job.prompt[0] as readonly number[]) : undefined;
      if (first !== undefined) return chainBlockHashes(first, blockSize, chainRoot(job.loraName, job.cacheSalt));
    }
    const model = typeof body.model === 'string' ? body.model : undefined;
    // A model the router has no tokenizer for routes on without hashes (by design, not a failure to count).
    if (pool === undefined || !pool.hasTokenizerFor(model)) return undefined;
    const result = await pool.tokenize(job, { model });
    if (!result.ok) {
      metrics.tokenizeErrors.inc();
      log.warn('tokenization failed; routing without block hashes', { route, error: result.error });
      return undefined;
    }
    metrics.tokenizeDuration.observe(result.value.encodeMs / 1000);
    return result.value.blockHashes;
  };
}
