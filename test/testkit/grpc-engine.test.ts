// The gRPC engine stand-in sends what vLLM's two gRPC servers send, from the real tokenizers.
import { describe, expect, test } from 'bun:test';
import { credentials, type Client, type ClientReadableStream } from '@grpc/grpc-js';
import { loadGrpcServices } from '../../src/grpc/definitions.ts';
import { loadStandInVocabulary, startGrpcEngine } from '../../testkit/grpc-engine.ts';
import { until } from '../../testkit/until.ts';

const services = loadGrpcServices();
const vocab = loadStandInVocabulary('llama3_1');
type Msg = Record<string, any>;

function clientOf(kind: 'vllmEngine' | 'inference' | 'control', port: number): Client & Record<string, any> {
  return new services[kind](`127.0.0.1:${port}`, credentials.createInsecure()) as Client & Record<string, any>;
}

function collect(call: ClientReadableStream<Msg>): Promise<{ messages: Msg[]; error?: Error & { code?: number } }> {
  const messages: Msg[] = [];
  return new Promise((resolve) => {
    call.on('data', (m: Msg) => messages.push(m));
    call.on('end', () => resolve({ messages }));
    call.on('error', (error: Error) => resolve({ messages, error }));
  });
}

const unary = (client: Record<string, any>, method: string, request: Msg) =>
  new Promise<Msg>((resolve, reject) => client[method](request, (e: Error | null, m: Msg) => (e ? reject(e) : resolve(m))));

describe('gRPC engine stand-in', () => {
  test('VllmEngine streams delta chunks, then a complete repeating the last delta, ending with EOS', async () => {
    await using engine = await startGrpcEngine({ vocab, output: 'Hello world' });
    const client = clientOf('vllmEngine', engine.port);
    const expected = engine.vocab.tokenizer.encode('Hello world', { add_special_tokens: false }).ids;
    const { messages } = await collect(client.Generate({ request_id: 'a', tokenized: { input_ids: [1, 2, 3] }, sampling_params: { max_tokens: 10 }, stream: true }));
    const chunks = messages.filter((m) => m.response === 'chunk').map((m) => m.chunk);
    expect(chunks.flatMap((c) => c.token_ids)).toEqual([...expected, engine.vocab.eosId]);
    expect(chunks.every((c) => c.completion_tokens === 1 && c.prompt_tokens === 3)).toBe(true);
    const complete = messages.at(-1)!.complete;
    expect(complete).toMatchObject({ finish_reason: 'stop', output_ids: [engine.vocab.eosId] });
    expect(complete.matched_stop).toBeUndefined();
    client.close();
  });

  test('VllmEngine without streaming sends one complete per sequence with every id; n > 1 differ', async () => {
    await using engine = await startGrpcEngine({ vocab, output: 'one two three', eosAtEnd: false });
    const client = clientOf('vllmEngine', engine.port);
    const { messages } = await collect(client.Generate({ request_id: 'b', tokenized: { input_ids: [1] }, sampling_params: { max_tokens: 4, n: 2 }, stream: false }));
    expect(messages.map((m) => [m.complete.index, m.complete.finish_reason, m.complete.output_ids.length])).toEqual([
      [0, 'length', 4],
      [1, 'length', 4],
    ]);
    expect(messages[0]!.complete.output_ids).not.toEqual(messages[1]!.complete.output_ids);
    client.close();
  });

  test('VllmEngine records an Abort and a cancelled stream; the kill fault resets the stream', async () => {
    await using engine = await startGrpcEngine({ vocab, itlMs: 5, eosAtEnd: false });
    const client = clientOf('vllmEngine', engine.port);
    const call = client.Generate({ request_id: 'c', tokenized: { input_ids: [1] }, sampling_params: { max_tokens: 1000 }, stream: true });
    const done = collect(call);
    await until(() => engine.record.running === 1, 'the stream runs');
    await unary(client, 'Abort', { request_ids: ['c'] });
    call.cancel();
    await done;
    await until(() => engine.record.cancelled.includes('c'), 'the cancel arrives');
    expect(engine.record.aborted).toEqual(['c']);
    engine.options.failure = { kind: 'kill', afterTokens: 3 };
    const killed = await collect(client.Generate({ request_id: 'd', tokenized: { input_ids: [1] }, sampling_params: { max_tokens: 50 }, stream: true }));
    expect(killed.messages.length).toBe(3);
    expect(killed.error?.code).toBeDefined();
    client.close();
  });

  test('vllm.Inference streams text deltas that never split a character, with finish info; 0 max tokens means 20', async () => {
    await using engine = await startGrpcEngine({ vocab, protocol: 'vllm-inference', output: 'Ça va 🎉 très bien' });
    const client = clientOf('inference', engine.port);
    const { messages } = await collect(client.GenerateStream({ request_id: 'e', token_ids: { ids: [1, 2] }, stopping: { max_new_tokens: 100 } }));
    const text = messages.map((m) => m.outputs.text).join('');
    expect(text).toBe('Ça va 🎉 très bien');
    expect(messages.some((m) => m.outputs.text.includes('\uFFFD'))).toBe(false);
    expect(messages[0]!.prompt_info).toMatchObject({ num_prompt_tokens: 2 });
    expect(messages.at(-1)!.outputs.finish_info).toMatchObject({ finish_reason: 'STOP', eos_token_id: vocab.eosId });
    engine.options.eosAtEnd = false;
    const unset = await collect(client.GenerateStream({ request_id: 'f', text: 'hi' }));
    expect(unset.messages.at(-1)!.outputs.finish_info.num_output_tokens).toBe(20);
    client.close();
  });

  test('vllm.Inference keeps generating after the stream is dropped, until Control.Abort', async () => {
    await using engine = await startGrpcEngine({ vocab, protocol: 'vllm-inference', itlMs: 5, eosAtEnd: false });
    const client = clientOf('inference', engine.port);
    const control = clientOf('control', engine.port);
    const call = client.GenerateStream({ request_id: 'g', token_ids: { ids: [1] }, stopping: { max_new_tokens: 100000 } });
    const done = collect(call);
    await until(() => engine.record.running === 1, 'the stream runs');
    call.cancel();
    await done;
    await until(() => engine.record.cancelled.includes('g'), 'the cancel arrives');
    expect(engine.record.running).toBe(1);
    await unary(control, 'Abort', { request_ids: ['g'] });
    await until(() => engine.record.running === 0, 'the abort ends it');
    client.close();
    control.close();
  });
});

test('a status fault answers Generate with that gRPC status before any message', async () => {
  await using engine = await startGrpcEngine({ vocab, failure: { kind: 'status', code: 14, times: 1 } });
  const client = clientOf('vllmEngine', engine.port);
  const failed = await collect(client.Generate({ request_id: 's', tokenized: { input_ids: [1] }, sampling_params: { max_tokens: 2 }, stream: true }));
  expect(failed.error?.code).toBe(14);
  expect(failed.messages).toEqual([]);
  const next = await collect(client.Generate({ request_id: 't', tokenized: { input_ids: [1] }, sampling_params: { max_tokens: 2 }, stream: true }));
  expect(next.error).toBeUndefined();
  client.close();
});
