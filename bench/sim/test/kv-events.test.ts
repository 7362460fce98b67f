// The simulated engine's KV-event stream as a real libzmq consumer (pyzmq + msgpack) sees it: both encodings, the
// BlockStored parent chain and token ids, BlockRemoved on eviction, AllBlocksCleared on /reset_prefix_cache, one
// batch per step with consecutive sequence numbers, replay of a gap, the data-parallel port offset.
import { describe, expect, test } from 'bun:test';
import { until } from '../../../testkit/until.ts';
import type { BlockHashFormat, KvEventEncoding } from '../kv-events/event-batch.ts';
import type { KvEventsConfig } from '../kv-events/kv-events-config.ts';
import { spawnEngine } from '../fleet.ts';
import { startSimEngine as startEngine, type SimEngine } from '../sim-engine.ts';
import { loadSimTokenizer } from '../sim-tokenizer.ts';
import { hashValue, replayFrom, startKvSubscriber, type KvSubscriber, type Received } from './kv-events-peer.ts';

/** 1 ms steps, blocks of 4 tokens: a 10-token prompt fills two blocks at once, its reply a third. */
const FAST = { stepBaseMs: 1, prefillMsPerToken: 0.01, decodeMsPerSeq: 0, attentionMsPerKTokens: 0, blockSize: 4, kvBlocks: 64 };

const STORED_FIELDS = ['block_hashes', 'parent_block_hash', 'token_ids', 'block_size', 'lora_id', 'medium', 'lora_name', 'extra_keys', 'group_idx', 'kv_cache_spec_kind'];
const REMOVED_FIELDS = ['block_hashes', 'medium', 'group_idx'];

type Event = Record<string, unknown> & { type: string };

/** An event in either encoding as a map; checks the array encoding's length and the map encoding's key order. */
function asMap(raw: unknown, encoding: KvEventEncoding): Event {
  if (encoding === 'map') {
    const e = raw as Event;
    const names = e.type === 'BlockStored' ? STORED_FIELDS : e.type === 'BlockRemoved' ? REMOVED_FIELDS : [];
    expect(Object.keys(e)).toEqual(['type', ...names]);
    return e;
  }
  const [type, ...values] = raw as [string, ...unknown[]];
  const names = type === 'BlockStored' ? STORED_FIELDS : type === 'BlockRemoved' ? REMOVED_FIELDS : [];
  expect(values.length).toBe(names.length);
  return { type, ...Object.fromEntries(names.map((n, i) => [n, values[i]])) };
}

const events = (r: Received, encoding: KvEventEncoding): Event[] => r.batch[1].map((e) => asMap(e, encoding));
const allEvents = (rs: Received[], encoding: KvEventEncoding): Event[] => rs.flatMap((r) => events(r, encoding));
const hashes = (e: Event): bigint[] => (e.block_hashes as unknown[]).map(hashValue);

function settings(encoding: KvEventEncoding, config: Partial<KvEventsConfig> = {}, blockHashes: BlockHashFormat = 'int') {
  return {
    encoding,
    blockHashes,
    config: { endpoint: 'tcp://*:0', replayEndpoint: 'tcp://*:0', topic: 'kv', bufferSteps: 10_000, hwm: 100_000, ...config },
  };
}

async function engineWithSubscriber(o: Parameters<typeof startSimEngine>[0]): Promise<{ engine: SimEngine; sub: KvSubscriber } & AsyncDisposable> {
  const engine = await startSimEngine(o);
  const sub = await startKvSubscriber(engine.kvEvents()!.endpoint, 'kv');
  // A PUB sends only to peers whose subscription has arrived (ZeroMQ's slow joiner).
  await until(() => engine.kvEvents()!.subscribers === 1, 'the subscription at the engine');
  return {
    engine,
    sub,
    async [Symbol.asyncDispose]() {
      await sub[Symbol.asyncDispose]();
      await engine.stop();
    },
  };
}

/** One tokenizer for every engine of the file (each would load its own). */
const tokenizer = loadSimTokenizer();
const startSimEngine: typeof startEngine = (o = {}) => startEngine({ tokenizer, ...o });

/** A completion of the token ids `prompt` (sent as ids, as vLLM takes them); the reply's token ids, from its text. */
async function complete(engine: SimEngine, prompt: number[], maxTokens: number): Promise<number[]> {
  const res = await fetch(`${engine.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt, max_tokens: maxTokens }),
  });
  const body = (await res.json()) as { choices: { text: string }[] };
  return tokenizer.promptIds(body.choices[0]!.text).slice(1); // without the BOS promptIds adds
}

/** `n` token ids of its own for each prefix: prompts that share no block unless they share a prefix. */
const words = (prefix: string, n: number): number[] => {
  const base = 1000 + (Bun.hash.xxHash32(prefix) % 100_000);
  return Array.from({ length: n }, (_, i) => base + i);
};

/** Waits for the engine to have published `n` batches and the subscriber to have them all. */
async function settled(engine: SimEngine, sub: KvSubscriber, n: number): Promise<Received[]> {
  await until(() => engine.kvEvents()!.batches === n && sub.received().length === n, `${n} batches at the subscriber`);
  return sub.received();
}

/** Two ports nothing listens on, `p` and `p + 1`. */
function freePortAndNext(): number {
  for (;;) {
    const first = Bun.listen({ hostname: '0.0.0.0', port: 0, socket: { data() {} } });
    const p = first.port;
    try {
      Bun.listen({ hostname: '0.0.0.0', port: p + 1, socket: { data() {} } }).stop(true);
      return p;
    } catch {
      // p + 1 is taken; try another pair.
    } finally {
      first.stop(true);
    }
  }
}

describe('KV events of the simulated engine', () => {
  test.each(['array', 'map'] as const)('a libzmq subscriber decodes BlockStored per full block, chained, with token ids (%s encoding)', async (encoding) => {
    await using rig = await engineWithSubscriber({ params: FAST, kvEvents: settings(encoding) });
    const prompt = words('w', 10);
    const reply = await complete(rig.engine, prompt, 3);
    // Step 1 prefills 10 tokens: blocks 0-1 are full. Decoding the 2nd reply token fills block 2.
    const [first, second] = await settled(rig.engine, rig.sub, 2);

    expect([first!.topic, first!.seq, first!.frames, second!.seq]).toEqual(['kv', 0, 3, 1]);
    const [ts, , rank] = first!.batch;
    expect(rank).toBe(0);
    const seconds = (ts as { $float: number }).$float;
    expect(Math.abs(seconds - Date.now() / 1000)).toBeLessThan(60);

    const a = events(first!, encoding);
    const b = events(second!, encoding);
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(1);
    const [h0, h1] = hashes(a[0]!);
    expect(a[0]).toEqual({
      type: 'BlockStored',
      block_hashes: a[0]!.block_hashes,
      parent_block_hash: null,
      token_ids: prompt.slice(0, 8),
      block_size: 4,
      lora_id: null,
      medium: 'GPU',
      lora_name: null,
      extra_keys: [null, null],
      group_idx: 0,
      kv_cache_spec_kind: 'full_attention',
    });
    expect(hashes(a[0]!)).toHaveLength(2);
    expect(h0).not.toBe(h1!);
    for (const h of [h0!, h1!]) expect(h >= 0n && h < 1n << 64n).toBe(true);
    // The block made of prompt and reply tokens hangs off the prompt's last full block.
    expect(b[0]).toMatchObject({ type: 'BlockStored', token_ids: [...prompt.slice(8), ...reply.slice(0, 2)], extra_keys: [null] });
    expect(hashValue(b[0]!.parent_block_hash)).toBe(h1!);
  });

  test('BlockRemoved names each evicted block, before the blocks that replace it, in the same batch', async () => {
    // 6 blocks of 4 tokens: a 20-token prompt needs 5, so it evicts one of the first request's 2 cached blocks.
    await using rig = await engineWithSubscriber({ params: { ...FAST, kvBlocks: 6 }, kvEvents: settings('map') });
    await complete(rig.engine, words('a', 8), 1);
    await complete(rig.engine, words('b', 20), 1);
    const [first, second] = await settled(rig.engine, rig.sub, 2);
    const [a1] = hashes(events(first!, 'map')[0]!).slice(1);
    const [removed, stored] = events(second!, 'map');
    // The pool frees a request's blocks last first, so the tail block is the older one at the head of the queue.
    expect(removed).toEqual({ type: 'BlockRemoved', block_hashes: removed!.block_hashes, medium: 'GPU', group_idx: 0 });
    expect(hashes(removed!)).toEqual([a1!]);
    expect(stored).toMatchObject({ type: 'BlockStored', parent_block_hash: null, token_ids: words('b', 20) });
    expect(hashes(stored!)).toHaveLength(5);
  });

  test('POST /reset_prefix_cache: AllBlocksCleared with the next step, refused while a request holds blocks unless reset_running_requests', async () => {
    await using rig = await engineWithSubscriber({ params: FAST, kvEvents: settings('array') });
    const post = (query = '') => fetch(`${rig.engine.url}/reset_prefix_cache${query}`, { method: 'POST' });
    const prompt = words('w', 8);
    await complete(rig.engine, prompt, 1);
    await settled(rig.engine, rig.sub, 1);
    const res = await post();
    expect([res.status, await res.text()]).toEqual([200, '']);
    // vLLM publishes events from a step: an idle engine holds AllBlocksCleared until it has work.
    expect(rig.engine.kvEvents()!.batches).toBe(1);
    await complete(rig.engine, prompt, 1);
    const [before, after] = await settled(rig.engine, rig.sub, 2);
    const [cleared, stored] = events(after!, 'array');
    expect(cleared).toEqual({ type: 'AllBlocksCleared' });
    // Nothing was found in the cache any more: the same blocks are stored again.
    expect(hashes(stored!)).toEqual(hashes(events(before!, 'array')[0]!));

    // A long request holds blocks: a plain reset is refused, reset_running_requests preempts it first.
    const running = complete(rig.engine, words('r', 8), 200);
    await until(() => rig.engine.counters().running === 1, 'the long request to run');
    expect((await post()).status).toBe(200);
    expect((await post('?reset_running_requests=true')).status).toBe(200);
    expect((await running).length).toBe(200);
    expect(rig.engine.counters().preemptions).toBe(1);
    const all = allEvents(await settled(rig.engine, rig.sub, rig.engine.kvEvents()!.batches), 'array').map((e) => e.type);
    expect(all.filter((t) => t === 'AllBlocksCleared')).toHaveLength(2);
    expect(all.at(-1)).toBe('BlockStored');
    expect((await post('?reset_running_requests=maybe')).status).toBe(400);
  });

  test('sequence numbers start at 0 and grow by one per batch; a step publishes at most one batch', async () => {
    await using rig = await engineWithSubscriber({ params: FAST, kvEvents: settings('map') });
    await Promise.all([complete(rig.engine, words('x', 30), 9), complete(rig.engine, words('y', 13), 5), complete(rig.engine, words('z', 5), 20)]);
    const batches = rig.engine.kvEvents()!.batches;
    const received = await settled(rig.engine, rig.sub, batches);
    expect(received.map((r) => r.seq)).toEqual(Array.from({ length: batches }, (_, i) => i));
    expect(batches).toBeLessThanOrEqual(rig.engine.counters().steps);
    expect(received.every((r) => r.batch[1].length > 0)).toBe(true);
  });

  test('replay serves the batches a late subscriber missed, then the end marker; the buffer keeps buffer_steps batches', async () => {
    await using engine = await startSimEngine({ params: FAST, kvEvents: settings('map', { bufferSteps: 3 }) });
    const { replayEndpoint } = engine.kvEvents()!;
    // Five batches with nobody subscribed.
    for (let i = 0; i < 5; i++) await complete(engine, words(`p${i}-`, 4), 1);
    await until(() => engine.kvEvents()!.batches === 5, 'five batches');
    await using sub = await startKvSubscriber(engine.kvEvents()!.endpoint, 'kv');
    await until(() => engine.kvEvents()!.subscribers === 1, 'the subscription');
    await complete(engine, words('live', 4), 1);
    await until(() => sub.received().length === 1, 'the live batch');
    const [live] = sub.received();
    expect(live!.seq).toBe(5);

    const answers = await replayFrom(replayEndpoint!, 0);
    // Only the last 3 batches are kept; the last answer is vLLM's end marker (seq −1, empty payload).
    expect(answers.map((a) => [a.delimiter, a.seq])).toEqual([['', 3], ['', 4], ['', 5], ['', -1]]);
    expect(answers.at(-1)).toMatchObject({ batch: null, payload_bytes: 0 });
    expect(answers[2]!.batch).toEqual(live!.batch);
    expect((answers[0]!.batch![1][0] as Event).token_ids).toEqual(words('p3-', 4));
    expect((await replayFrom(replayEndpoint!, 5)).map((a) => a.seq)).toEqual([5, -1]);
    expect(engine.kvEvents()).toMatchObject({ replays: 2, replaysTruncated: 0, badReplayRequests: 0 });
  });

  test('block hashes as bytes (VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=0): 32 bytes whose low 64 bits are the int form', async () => {
    const prompt = words('w', 8);
    const stored = async (format: BlockHashFormat) => {
      await using rig = await engineWithSubscriber({ params: FAST, kvEvents: settings('map', {}, format) });
      await complete(rig.engine, prompt, 1);
      const [r] = await settled(rig.engine, rig.sub, 1);
      return events(r!, 'map')[0]!.block_hashes as unknown[];
    };
    const ints = (await stored('int')).map(hashValue);
    const bytes = (await stored('bytes')) as { $bytes: string }[];
    expect(bytes.map((b) => b.$bytes.length)).toEqual([64, 64]);
    expect(bytes.map((b) => BigInt(`0x${b.$bytes}`) & ((1n << 64n) - 1n))).toEqual(ints);
  });

  test('the engine process: --data-parallel-rank r publishes on port + r and replays on port + r, with rank r in each batch', async () => {
    const pub = freePortAndNext();
    const replay = freePortAndNext();
    const config = JSON.stringify({ enable_kv_cache_events: true, publisher: 'zmq', endpoint: `tcp://*:${pub}`, replay_endpoint: `tcp://*:${replay}`, topic: 'kv' });
    await using engine = await spawnEngine(['--step-base-ms', '1', '--block-size', '4', '--kv-events-config', config, '--kv-events-encoding', 'array', '--data-parallel-rank', '1']);
    const url = engine.url;
    const stats = async () => ((await (await fetch(`${url}/_sim/stats`)).json()) as { kvEvents: { endpoint: string; replayEndpoint: string; subscribers: number; batches: number } }).kvEvents;
    expect(await stats()).toMatchObject({ endpoint: `tcp://0.0.0.0:${pub + 1}`, replayEndpoint: `tcp://0.0.0.0:${replay + 1}` });
    await using sub = await startKvSubscriber(`tcp://127.0.0.1:${pub + 1}`, 'kv');
    await until(async () => (await stats()).subscribers === 1, 'the subscription');
    await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: words('w', 8), max_tokens: 1 }) }).then((r) => r.text());
    await until(() => sub.received().length === 1, 'the batch');
    expect(sub.received()[0]!.batch[2]).toBe(1);
    expect((await replayFrom(`tcp://127.0.0.1:${replay + 1}`, 0)).map((a) => a.batch?.[2] ?? a.seq)).toEqual([1, -1]);
    expect(await (await fetch(`${url}/metrics`)).text()).toContain('engine="1"');
  });

  test('the engine process refuses a bad --kv-events-config, naming the key, with exit code 2', async () => {
    const main = new URL('../sim-engine-main.ts', import.meta.url).pathname;
    const run = (config: string) => Bun.spawnSync(['bun', main, '--kv-events-config', config]);
    const cases: Array<[string, RegExp]> = [
      ['{"enable_kv_cache_events":true,"endpont":"tcp://*:5557"}', /unknown key "endpont"/],
      ['{"enable_kv_cache_events":"yes"}', /enable_kv_cache_events must be true or false/],
      ['{"enable_kv_cache_events":true,"endpoint":"ipc:///tmp/kv"}', /tcp:\/\/ only/],
      ['{"enable_kv_cache_events":true,"buffer_steps":-1}', /buffer_steps must be a non-negative integer/],
      ['not json', /is not JSON/],
    ];
    for (const [config, message] of cases) {
      const r = run(config);
      expect([r.exitCode, message.test(r.stderr.toString())], config).toEqual([2, true]);
    }
  });

  test('with events off (the default) no publisher exists', async () => {
    await using engine = await startSimEngine({ params: FAST });
    await complete(engine, words('w', 8), 2);
    expect(engine.kvEvents()).toBeNull();
    expect(((await (await fetch(`${engine.url}/_sim/stats`)).json()) as { kvEvents: unknown }).kvEvents).toBeNull();
  });
});
