// Test helper: bench/sim/test/kv_events_peer.py, a consumer of KV events on the system libzmq (pyzmq + msgpack), and
// the JSON lines it prints (msgpack types kept: {"$float"}, {"$bytes"}, {"$int"} for integers beyond 2^53).
import { join } from 'node:path';
import { pythonWithZmq } from '../../../testkit/python-with-zmq.ts';
import { spawnChild, type Child } from '../../../testkit/spawn-child.ts';

const SCRIPT = join(import.meta.dir, 'kv_events_peer.py');
const PYTHON = pythonWithZmq();

/** One message as the SUB received it: `[topic, seq, payload]`, the payload decoded by Python's msgpack. */
export interface Received {
  readonly topic: string;
  readonly seq: number;
  readonly frames: number;
  readonly batch: [unknown, unknown[], unknown];
}

/** One replay answer `["", seq, payload]` as a DEALER receives it; the end marker has seq −1 and no payload. */
export interface ReplayAnswer {
  readonly delimiter: string;
  readonly seq: number;
  readonly batch: [unknown, unknown[], unknown] | null;
  readonly payload_bytes: number;
}

const jsonLines = <T>(child: Child): T[] =>
  child
    .stdout()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as T);

/** A bound `tcp://0.0.0.0:P` endpoint as a client dials it. */
export const dialable = (endpoint: string): string => endpoint.replace('//0.0.0.0:', '//127.0.0.1:');

export interface KvSubscriber extends AsyncDisposable {
  received(): Received[];
}

export async function startKvSubscriber(endpoint: string, topic: string): Promise<KvSubscriber> {
  const child = spawnChild([PYTHON, '-u', SCRIPT, 'sub', '--connect', dialable(endpoint), '--topic', topic]);
  await child.waitFor(/^READY$/m);
  return { received: () => jsonLines<Received>(child), [Symbol.asyncDispose]: () => child[Symbol.asyncDispose]() };
}

/** Asks the replay socket for every batch from `start` and returns the answers, end marker included. */
export async function replayFrom(endpoint: string, start: number): Promise<ReplayAnswer[]> {
  await using child = spawnChild([PYTHON, '-u', SCRIPT, 'replay', '--connect', dialable(endpoint), '--start', String(start)]);
  await child.waitFor(/^END$/m);
  return jsonLines<ReplayAnswer>(child);
}

/** A block hash as Python decoded it in the int format: a plain number, or {"$int"} beyond 2^53. */
export function hashValue(value: unknown): bigint {
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (typeof value === 'object' && value !== null && '$int' in value) return BigInt((value as { $int: string }).$int);
  throw new Error(`not an integer block hash: ${JSON.stringify(value)}`);
}
