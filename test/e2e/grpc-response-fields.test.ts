// Request fields of vLLM's OpenAI server answered by the router's gRPC front as vLLM answers them, through the
// compiled binary with the openai SDK: `parallel_tool_calls: false` (one call returned).
import { afterAll, describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { loadStandInVocabulary, standInTokenizerDir, startGrpcEngine } from '../../testkit/grpc-engine.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { startRouterProcess, type RouterProcess } from '../../testkit/router-process.ts';
import { streamedToolCalls } from '../support/streamed-tool-calls.ts';

const build = buildRouterBinary();
afterAll(() => build[Symbol.dispose]());
const qwen = loadStandInVocabulary('qwen3');
const client = (r: RouterProcess) => new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'k', maxRetries: 0 });
const messages = [{ role: 'user' as const, content: 'Weather in Paris and Rome?' }];
const WEATHER_TOOL = [{ type: 'function' as const, function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
const TWO_CALLS =
  'Checking both.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>';
const callsOf = (message: OpenAI.Chat.Completions.ChatCompletionMessage) =>
  (message.tool_calls ?? []).map((t) => (t.type === 'function' ? [t.function.name, JSON.parse(t.function.arguments)] : []));

describe('parallel_tool_calls on gRPC endpoints', () => {
  test('false: only the first tool call is returned, whole and streamed; unset or true: every call', async () => {
    await using engine = await startGrpcEngine({ vocab: qwen, tokenizer: 'qwen3', output: TWO_CALLS });
    await using r = await startRouterProcess(build.path, ['--worker-urls', engine.url, '--model-path', standInTokenizerDir('qwen3'), '--tokenizer-pool-size', '1']);
    const openai = client(r);
    const both = await openai.chat.completions.create({ model: 'grpc-model', messages, tools: WEATHER_TOOL });
    expect(callsOf(both.choices[0]!.message)).toEqual([
      ['get_weather', { city: 'Paris' }],
      ['get_weather', { city: 'Rome' }],
    ]);
    expect(callsOf((await openai.chat.completions.create({ model: 'grpc-model', messages, tools: WEATHER_TOOL, parallel_tool_calls: true })).choices[0]!.message)).toHaveLength(2);

    const one = await openai.chat.completions.create({ model: 'grpc-model', messages, tools: WEATHER_TOOL, parallel_tool_calls: false });
    expect(callsOf(one.choices[0]!.message)).toEqual([['get_weather', { city: 'Paris' }]]);
    expect(one.choices[0]!.message.tool_calls![0]!.id).toBeString();
    expect(one.choices[0]!.finish_reason).toBe('tool_calls');
    expect(one.choices[0]!.message.content).toBe(both.choices[0]!.message.content);

    const streamed = await streamedToolCalls(await openai.chat.completions.create({ model: 'grpc-model', messages, tools: WEATHER_TOOL, parallel_tool_calls: false, stream: true }));
    expect(streamed.calls.map((t) => [t.name, JSON.parse(t.arguments)])).toEqual([['get_weather', { city: 'Paris' }]]);
    expect(streamed.finish).toBe('tool_calls');
    expect(streamed.content).toBe('Checking both.\n');

    const refused = await openai.chat.completions.create({ model: 'grpc-model', messages, tools: WEATHER_TOOL, parallel_tool_calls: 'no' as unknown as boolean }).catch((e: unknown) => e);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
    expect((refused as InstanceType<typeof OpenAI.APIError>).message).toContain("'parallel_tool_calls' must be a boolean");
  });
});
