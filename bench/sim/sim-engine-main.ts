// CLI entry: one simulated vLLM engine in its own process; prints `LISTENING <url>` once ready, stops on SIGTERM.
//
//   bun bench/sim/sim-engine-main.ts --port 0 --kv-blocks 2048 --speed 0.5 --role prefill
//   bun bench/sim/sim-engine-main.ts --preset a100-80g
import { parseArgs } from 'node:util';
import { runEngineProcess } from '../../testkit/run-engine-process.ts';
import { DEFAULT_ENGINE_PARAMS, type EngineParams } from './engine-params.ts';
import { parseKvEventsConfig, publisherEndpoints } from './kv-events/kv-events-config.ts';
import type { KvEventsSettings } from './kv-events/publisher.ts';
import { isPresetName, PRESET_NAMES, presetParams } from './engine-presets.ts';
import { startSimEngine, type SimRole } from './sim-engine.ts';
import { DEFAULT_CACHE_TOKENS } from './sim-tokenizer.ts';

const d = DEFAULT_ENGINE_PARAMS;
const HELP = `Usage: bun bench/sim/sim-engine-main.ts [flags]
  --port N                       HTTP port, 0 = any free port (default 0)
  --host H                       bind address (default 127.0.0.1)
  --model NAME                   served model name (default sim-model)
  --engine-label L               the engine="L" label on /metrics (default: --data-parallel-rank, 0)
  --role both|prefill|decode     NIXL-style P/D role (default both)
  --default-max-tokens N         output length without max_tokens (default 128)
  --force-include-usage          --enable-force-include-usage parity
  --prompt-tokens-details        --enable-prompt-tokens-details parity (usage.cached_tokens)
  --tokenizer-cache-tokens N     token ids the prompt-piece cache holds (default ${DEFAULT_CACHE_TOKENS}; 0 = off)
 Engine model (see bench/README.md; the defaults below, or a preset's, then any flag given):
  --preset NAME                  Llama-3.1-8B bf16 on a GPU class (its compute, bandwidth, KV, limits):
                                 ${PRESET_NAMES.join(', ')}
  --block-size N                 tokens per KV block (default ${d.blockSize})
  --kv-blocks N                  KV capacity in blocks (default ${d.kvBlocks})
  --max-num-seqs N               running batch limit (default ${d.maxNumSeqs})
  --max-num-batched-tokens N     token budget per step (default ${d.maxNumBatchedTokens})
  --max-model-len N              (default ${d.maxModelLen})
  --scheduling fcfs|priority     (default ${d.scheduling})
  --step-base-ms X               fixed cost per step (default ${d.stepBaseMs})
  --prefill-ms-per-token X       (default ${d.prefillMsPerToken})
  --prefill-attention-ms-per-ktokens X  per prefill token per 1000 tokens it attends over (default ${d.prefillAttentionMsPerKTokens})
  --decode-ms-per-seq X          (default ${d.decodeMsPerSeq})
  --attention-ms-per-ktokens X   per 1000 context tokens of decoding sequences (default ${d.attentionMsPerKTokens})
  --kv-transfer-ms-per-token X   decode role: pulling remote KV (default ${d.kvTransferMsPerToken})
  --speed X                      divides every step time (default ${d.speed})
 KV events (vLLM's ZeroMQ publisher; see bench/README.md):
  --kv-events-config JSON        vLLM's flag, e.g. '{"enable_kv_cache_events":true,"endpoint":"tcp://*:5557",
                                 "replay_endpoint":"tcp://*:5558","topic":"kv"}' (default: off)
  --kv-events-encoding array|map events as tagged arrays (vLLM <= 0.23) or maps with "type" (later) (default map)
  --kv-events-block-hashes int|bytes  block hashes as uint64 or as bytes (VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=0)
                                 (default int)
  --data-parallel-rank N         this engine's DP rank: in each batch, added to the event ports, and the
                                 default --engine-label (default 0)`;

function fail(message: string): never {
  // The error goes last: whoever keeps only the tail of stderr (bench/sim/fleet.ts) still sees it.
  process.stderr.write(`${HELP}\nsim-engine: ${message}\n`);
  process.exit(2);
}

function num(flag: string, value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) fail(`--${flag} must be a non-negative ${integer ? 'integer' : 'number'}, got ${JSON.stringify(value)}`);
  return n;
}

const INT_FLAGS = { 'block-size': 'blockSize', 'kv-blocks': 'kvBlocks', 'max-num-seqs': 'maxNumSeqs', 'max-num-batched-tokens': 'maxNumBatchedTokens', 'max-model-len': 'maxModelLen' } as const;
const FLOAT_FLAGS = {
  'step-base-ms': 'stepBaseMs',
  'prefill-ms-per-token': 'prefillMsPerToken',
  'prefill-attention-ms-per-ktokens': 'prefillAttentionMsPerKTokens',
  'decode-ms-per-seq': 'decodeMsPerSeq',
  'attention-ms-per-ktokens': 'attentionMsPerKTokens',
  'kv-transfer-ms-per-token': 'kvTransferMsPerToken',
  speed: 'speed',
} as const;

const strings = Object.fromEntries(
  [
    'port',
    'host',
    'model',
    'engine-label',
    'role',
    'default-max-tokens',
    'scheduling',
    'preset',
    'tokenizer-cache-tokens',
    'kv-events-config',
    'kv-events-encoding',
    'kv-events-block-hashes',
    'data-parallel-rank',
    ...Object.keys(INT_FLAGS),
    ...Object.keys(FLOAT_FLAGS),
  ].map((k) => [k, { type: 'string' as const }]),
);
let values: Record<string, string | boolean | undefined>;
try {
  values = parseArgs({ args: process.argv.slice(2), strict: true, options: { ...strings, help: { type: 'boolean' }, 'force-include-usage': { type: 'boolean' }, 'prompt-tokens-details': { type: 'boolean' } } }).values;
} catch (err) {
  fail((err as Error).message);
}
if (values.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}
const str = (k: string): string | undefined => values[k] as string | undefined;
const preset = str('preset');
if (preset !== undefined && !isPresetName(preset)) fail(`--preset must be one of ${PRESET_NAMES.join(', ')}, got ${JSON.stringify(preset)}`);
const params: Partial<EngineParams> = preset === undefined ? {} : presetParams(preset);
for (const [flag, key] of Object.entries(INT_FLAGS)) {
  const v = num(flag, str(flag), true);
  if (v !== undefined) params[key] = v;
}
for (const [flag, key] of Object.entries(FLOAT_FLAGS)) {
  const v = num(flag, str(flag), false);
  if (v !== undefined) params[key] = v;
}
if (params.speed === 0) fail('--speed must be positive');
const scheduling = str('scheduling');
if (scheduling !== undefined) {
  if (scheduling !== 'fcfs' && scheduling !== 'priority') fail(`--scheduling must be fcfs or priority, got ${JSON.stringify(scheduling)}`);
  params.scheduling = scheduling;
}
const role = str('role') ?? 'both';
if (!['both', 'prefill', 'decode'].includes(role)) fail(`--role must be both, prefill or decode, got ${JSON.stringify(role)}`);

const dataParallelRank = num('data-parallel-rank', str('data-parallel-rank'), true) ?? 0;
let kvEvents: KvEventsSettings | null = null;
const kvConfigText = str('kv-events-config');
if (kvConfigText !== undefined) {
  const parsed = parseKvEventsConfig(kvConfigText);
  if (!parsed.ok) fail(`--kv-events-config ${JSON.stringify(kvConfigText)} ${parsed.error}`);
  const encoding = str('kv-events-encoding') ?? 'map';
  if (encoding !== 'array' && encoding !== 'map') fail(`--kv-events-encoding must be array or map, got ${JSON.stringify(encoding)}`);
  const blockHashes = str('kv-events-block-hashes') ?? 'int';
  if (blockHashes !== 'int' && blockHashes !== 'bytes') fail(`--kv-events-block-hashes must be int or bytes, got ${JSON.stringify(blockHashes)}`);
  if (parsed.value !== null) {
    const endpoints = publisherEndpoints(parsed.value, dataParallelRank);
    if (!endpoints.ok) fail(`--kv-events-config: ${endpoints.error}`);
    kvEvents = { config: parsed.value, encoding, blockHashes };
  }
}

const engine = await startSimEngine({
  port: num('port', str('port'), true) ?? 0,
  hostname: str('host'),
  model: str('model'),
  // vLLM labels an engine's metrics with its engine index, which is the DP rank.
  engineLabel: str('engine-label') ?? String(dataParallelRank),
  role: role as SimRole,
  defaultMaxTokens: num('default-max-tokens', str('default-max-tokens'), true),
  forceIncludeUsage: values['force-include-usage'] === true ? true : undefined,
  promptTokensDetails: values['prompt-tokens-details'] === true ? true : undefined,
  tokenizerCacheTokens: num('tokenizer-cache-tokens', str('tokenizer-cache-tokens'), true),
  params,
  kvEvents,
  dataParallelRank,
}).catch((err: Error) => fail(err.message));
runEngineProcess(engine);
