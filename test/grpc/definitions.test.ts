// The embedded .proto files put the real method paths and field numbers on the wire (the wire is what the
// engines read; a renumbered field would be silently misread by a real engine).
import { describe, expect, test } from 'bun:test';
import { loadGrpcServices } from '../../src/grpc/definitions.ts';

const services = loadGrpcServices();
const hex = (bytes: Buffer) => bytes.toString('hex');

describe('gRPC definitions', () => {
  test('the services have the method paths vLLM serves', () => {
    expect(Object.values(services.vllmEngine.service).map((m) => m.path)).toEqual([
      '/vllm.grpc.engine.VllmEngine/Generate',
      '/vllm.grpc.engine.VllmEngine/Embed',
      '/vllm.grpc.engine.VllmEngine/HealthCheck',
      '/vllm.grpc.engine.VllmEngine/Abort',
      '/vllm.grpc.engine.VllmEngine/GetModelInfo',
      '/vllm.grpc.engine.VllmEngine/GetServerInfo',
      '/vllm.grpc.engine.VllmEngine/GetLoads',
      '/vllm.grpc.engine.VllmEngine/GetTokenizer',
      '/vllm.grpc.engine.VllmEngine/SubscribeKvEvents',
    ]);
    expect(Object.values(services.inference.service).map((m) => m.path)).toEqual(['/vllm.Inference/Generate', '/vllm.Inference/GenerateStream']);
    expect(services.control.service.Abort!.path).toBe('/vllm.Control/Abort');
    expect(services.health.service.Check!.path).toBe('/grpc.health.v1.Health/Check');
    expect(services.vllmEngine.service.Generate!.responseStream).toBe(true);
  });

  test('a VllmEngine Generate request carries the field numbers of vllm_engine.proto', () => {
    const bytes = services.vllmEngine.service.Generate!.requestSerialize({
      request_id: 'r',
      tokenized: { input_ids: [1, 300] },
      sampling_params: { temperature: 0, max_tokens: 7, n: 2, seed: 3, include_stop_str_in_output: true, json_object: true },
      stream: true,
      data_parallel_rank: 1,
    });
    // 1: "r" · 2: {2: packed [1, 300]} · 4: {1: 0f, 8: 7, 15: 2, 20: true, 24: 3, 25: true} · 5: true · 9: 1
    expect(hex(bytes)).toBe(
      '0a0172' + '1205' + '1203' + '01ac02' + '2212' + '0d00000000' + '4007' + '7802' + 'a00101' + 'c00103' + 'c80101' + '2801' + '4801',
    );
  });

  test('a vllm.Inference request carries the field numbers of inference.proto', () => {
    const bytes = services.inference.service.GenerateStream!.requestSerialize({
      request_id: 'r',
      token_ids: { ids: [5] },
      stopping: { max_new_tokens: 16, stop_strings: ['x'], include_stop_strings: true },
      response: { output_text: false, output_token_ids: true },
    });
    // 1: "r" · 4: {1: packed [5]} · 8: {1: 16, 4: "x", 5: true} · 9: {4: false, 5: true}
    expect(hex(bytes)).toBe('0a0172' + '2203' + '0a0105' + '4207' + '0810' + '220178' + '2801' + '4a04' + '2000' + '2801');
  });

  test('a VllmEngine stream chunk and the completion decode with their oneof named', () => {
    const method = services.vllmEngine.service.Generate!;
    // GenerateResponse{chunk: {token_ids: [9], prompt_tokens: 4, index: 1}}
    expect(method.responseDeserialize(Buffer.from('0a07' + '0a0109' + '1004' + '3801', 'hex'))).toMatchObject({
      response: 'chunk',
      chunk: { token_ids: [9], prompt_tokens: 4, index: 1 },
    });
    // GenerateResponse{complete: {finish_reason: "stop", matched_stop_str: "x"}}
    expect(method.responseDeserialize(Buffer.from('1209' + '120473746f70' + '5a0178', 'hex'))).toMatchObject({
      response: 'complete',
      complete: { finish_reason: 'stop', matched_stop_str: 'x', matched_stop: 'matched_stop_str' },
    });
  });
});

describe('token ids packed by hand', () => {
  test('decode to the same request as protobufjs encodes, on both protocols, for ids of every varint length', async () => {
    const { withPackedIds } = await import('../../src/grpc/packed-ids.ts');
    const ids = [0, 1, 127, 128, 16_383, 16_384, 151_668, 2 ** 21, 2 ** 28, 2 ** 32 - 1];
    const engine = services.vllmEngine.service.Generate!;
    const rest = { request_id: 'r', sampling_params: { max_tokens: 3 }, stream: true };
    const viaHand = engine.requestDeserialize(withPackedIds(engine.requestSerialize(rest), 2, 2, ids));
    expect(viaHand).toEqual(engine.requestDeserialize(engine.requestSerialize({ ...rest, tokenized: { input_ids: ids } })));
    const inference = services.inference.service.GenerateStream!;
    const irest = { request_id: 'r', stopping: { max_new_tokens: 3 } };
    expect(inference.requestDeserialize(withPackedIds(inference.requestSerialize(irest), 4, 1, ids))).toEqual(
      inference.requestDeserialize(inference.requestSerialize({ ...irest, token_ids: { ids } })),
    );
  });
});
