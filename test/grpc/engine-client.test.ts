// The engine client finds the protocol, reads health, loads and model info, and streams generations with abort,
// against the stand-in of each protocol.
import { describe, expect, test } from 'bun:test';
import { loadGrpcServices } from '../../src/grpc/definitions.ts';
import { createGrpcEngineClient } from '../../src/grpc/engine-client.ts';
import type { GenerationEvent, GenerationRequest } from '../../src/grpc/generation.ts';
import { loadStandInVocabulary, startGrpcEngine, type GrpcEngineProtocol } from '../../testkit/grpc-engine.ts';
import { until } from '../../testkit/until.ts';

const services = loadGrpcServices();
const vocab = loadStandInVocabulary('llama3_1');

const request = (requestId: string, maxTokens: number, extra: Partial<GenerationRequest['sampling']> = {}): GenerationRequest => ({
  requestId,
  model: 'grpc-model',
  prompt: { ids: [1, 2, 3] },
  sampling: { maxTokens, stop: [], stopTokenIds: [], includeStopStr: false, ignoreEos: false, n: 1, skipSpecialTokens: true, spacesBetweenSpecialTokens: true, ...extra },
});

function run(client: ReturnType<typeof createGrpcEngineClient>, req: GenerationRequest) {
  const events: GenerationEvent[] = [];
  let error: { code: number; message: string } | undefined;
  let settle = () => {};
  const done = new Promise<void>((resolve) => (settle = resolve));
  const call = client.generate(req, {
    onEvent: (e) => events.push(e),
    onEnd: () => settle(),
    onError: (e) => {
      error = e;
      settle();
    },
  });
  return { events, done, error: () => error, call };
}

describe.each(['vllm-engine', 'vllm-inference'] as GrpcEngineProtocol[])('gRPC engine client on %s', (protocol) => {
  test('finds the protocol, is healthy, and reads the model', async () => {
    await using engine = await startGrpcEngine({ vocab, protocol, model: 'm1' });
    const client = createGrpcEngineClient(engine.url, { services, protocol: 'auto' });
    expect(await client.protocol(2000)).toEqual({ ok: true, value: protocol });
    expect(await client.health(2000)).toEqual({ ok: true, value: true });
    const info = await client.modelInfo(2000);
    expect(info.ok && info.value.servedModelName).toBe('m1');
    engine.options.healthy = false;
    expect((await client.health(2000)).ok).toBe(false);
    client.close();
  });

  test('streams the tokens and one finish per sequence', async () => {
    await using engine = await startGrpcEngine({ vocab, protocol, output: 'Hello there', eosAtEnd: false });
    const client = createGrpcEngineClient(engine.url, { services, protocol });
    const r = run(client, request('r1', 5, { n: 2 }));
    await r.done;
    expect(r.error()).toBeUndefined();
    const tokens = (i: number) => r.events.filter((e) => e.kind === 'tokens' && e.index === i).reduce((n, e) => n + (e.kind === 'tokens' ? e.count : 0), 0);
    expect([tokens(0), tokens(1)]).toEqual([5, 5]);
    expect(r.events.filter((e) => e.kind === 'finish').map((e) => e.kind === 'finish' && [e.index, e.reason])).toEqual([
      [0, 'length'],
      [1, 'length'],
    ]);
    expect(r.call.counts.promptTokens).toBe(3);
    client.close();
  });

  test('abort cancels the stream and names the request in an Abort call', async () => {
    await using engine = await startGrpcEngine({ vocab, protocol, itlMs: 5, eosAtEnd: false });
    const client = createGrpcEngineClient(engine.url, { services, protocol });
    const r = run(client, request('r2', 100000));
    await until(() => r.events.length > 2, 'tokens arrive');
    r.call.abort();
    await until(() => engine.record.aborted.includes('r2') && engine.record.running === 0, 'the engine aborts it');
    client.close();
  });
});

test('a server that is not a vLLM engine is refused with a reason, and an unreachable one reports unavailable', async () => {
  const client = createGrpcEngineClient('grpc://127.0.0.1:1', { services, protocol: 'auto' });
  const outcome = await client.protocol(500);
  expect(outcome.ok).toBe(false);
  client.close();
});
