// KV events in a benchmark fleet: every engine publishes vLLM's KV cache events (`--kv-events-config`, its PUB and
// replay sockets on ports the OS picks), and the router is told where each engine publishes
// (`--kv-events-endpoint URL=tcp://HOST:PORT` and the replay twin, the Rust router's flag names).
import type { ChildProc } from './fleet.ts';
import { LLAMA_3_1_DIR } from './sim-tokenizer.ts';

/** The engine flags: vLLM's own --kv-events-config, with ephemeral ports (read back from /_sim/stats). */
export const KV_EVENTS_ENGINE_ARGS: readonly string[] = [
  '--kv-events-config',
  JSON.stringify({ enable_kv_cache_events: true, publisher: 'zmq', endpoint: 'tcp://*:0', replay_endpoint: 'tcp://*:0', topic: 'kv' }),
];

/** Policies that read the events: their runs get publishing engines and the router flags below. */
export const usesKvEvents = (...policies: readonly string[]): boolean => policies.includes('kv_aware');

/** `tcp://0.0.0.0:P` (a bound wildcard) as the router dials it. */
const dialable = (endpoint: string): string => endpoint.replace('tcp://0.0.0.0:', 'tcp://127.0.0.1:').replace('tcp://*:', 'tcp://127.0.0.1:');

/** The router flags naming each engine's event sockets, from what the engines report they bound. */
export async function routerKvArgs(engines: readonly ChildProc[]): Promise<string[]> {
  const args: string[] = [];
  for (const e of engines) {
    const stats = (await (await fetch(`${e.url}/_sim/stats`)).json()) as { kvEvents: { endpoint: string; replayEndpoint: string | null } | null };
    if (stats.kvEvents === null) throw new Error(`engine ${e.url} publishes no KV events`);
    args.push('--kv-events-endpoint', `${e.url}=${dialable(stats.kvEvents.endpoint)}`);
    if (stats.kvEvents.replayEndpoint !== null) args.push('--kv-events-replay-endpoint', `${e.url}=${dialable(stats.kvEvents.replayEndpoint)}`);
  }
  return args;
}

/** The router's tokenizer: the engines' own (Llama 3.1), so the router's token blocks are the engines' blocks. */
export const ROUTER_TOKENIZER_ARGS: readonly string[] = ['--tokenizer-path', LLAMA_3_1_DIR];
