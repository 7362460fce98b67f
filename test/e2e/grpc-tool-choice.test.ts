// tool_choice "required" and a named tool on gRPC endpoints, through the compiled binary with the openai SDK:
// the router forces the output with the JSON schema vLLM builds from the tools (sent as each protocol's
// structured-output constraint), reads the JSON back as tool calls, and answers vLLM's 400s for bad choices.
import { afterAll, describe, expect, test } from 'bun:test';
import OpenAI from 'openai';
import { loadStandInVocabulary, standInTokenizerDir, startGrpcEngine, type GrpcEngineProtocol } from '../../testkit/grpc-engine.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { startRouterProcess, type RouterProcess } from '../../testkit/router-process.ts';
import { streamedToolCalls } from '../support/streamed-tool-calls.ts';

const build = buildRouterBinary();
afterAll(() => build[Symbol.dispose]());
const llama = loadStandInVocabulary('llama3_1');

const router = (url: string): Promise<RouterProcess> =>
  startRouterProcess(build.path, ['--worker-urls', url, '--model-path', standInTokenizerDir('llama3_1'), '--tokenizer-pool-size', '1']);
const client = (r: RouterProcess) => new OpenAI({ baseURL: `${r.url}/v1`, apiKey: 'k', maxRetries: 0 });
const messages = [{ role: 'user' as const, content: 'Weather in Paris?' }];

const WEATHER = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
const TOOLS = [
  { type: 'function' as const, function: { name: 'get_weather', description: 'Weather of a city', parameters: WEATHER } },
  { type: 'function' as const, function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string', enum: ['UTC', 'CET'] } }, required: ['zone'] } } },
];


const sentSchema = (protocol: GrpcEngineProtocol, message: Record<string, any>): unknown =>
  JSON.parse(protocol === 'vllm-engine' ? message.sampling_params.json_schema : message.decoding.json);

for (const protocol of ['vllm-engine', 'vllm-inference'] as const) {
  describe(`forced tool choice on ${protocol}`, () => {
    test('"required": the engine is constrained to an array of {name, parameters}; the calls come back whole and as deltas, finish tool_calls', async () => {
      const output = '[{"name": "get_weather", "parameters": {"city": "Paris"}}, {"name": "get_time", "parameters": {"zone": "CET"}}]';
      await using engine = await startGrpcEngine({ vocab: llama, protocol, output });
      await using r = await router(engine.url);
      const openai = client(r);
      const whole = await openai.chat.completions.create({ model: 'grpc-model', messages, tools: TOOLS, tool_choice: 'required' });
      const message = whole.choices[0]!.message;
      expect(message.content).toBe('');
      expect(message.tool_calls!.map((t) => (t.type === 'function' ? [t.function.name, JSON.parse(t.function.arguments)] : []))).toEqual([
        ['get_weather', { city: 'Paris' }],
        ['get_time', { zone: 'CET' }],
      ]);
      expect(message.tool_calls!.every((t) => /^chatcmpl-tool-[0-9a-f]{32}$/.test(t.id))).toBe(true);
      expect(whole.choices[0]!.finish_reason).toBe('tool_calls');
      expect(sentSchema(protocol, engine.record.received[0]!)).toEqual({
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          anyOf: [
            { properties: { name: { type: 'string', enum: ['get_weather'] }, parameters: WEATHER }, required: ['name', 'parameters'] },
            { properties: { name: { type: 'string', enum: ['get_time'] }, parameters: TOOLS[1]!.function.parameters }, required: ['name', 'parameters'] },
          ],
        },
      });
      const s = await streamedToolCalls(await openai.chat.completions.create({ model: 'grpc-model', messages, tools: TOOLS, tool_choice: 'required', stream: true }));
      expect(s.calls.map((t) => [t.name, JSON.parse(t.arguments)])).toEqual([
        ['get_weather', { city: 'Paris' }],
        ['get_time', { zone: 'CET' }],
      ]);
      expect(s.calls.every((t) => t.id !== undefined)).toBe(true);
      expect(s.chunksWithCalls).toBeGreaterThan(2); // streamed as the arguments arrive, not in one piece
      expect(s.content).toBe('');
      expect(s.finish).toBe('tool_calls');
    });

    test('a named tool: constrained to its parameters schema; the output is that call\'s arguments, finish stop as vLLM', async () => {
      // The configured output is no JSON: the stand-in writes what the schema allows, as guided decoding would.
      await using engine = await startGrpcEngine({ vocab: llama, protocol, output: 'I would rather chat.' });
      await using r = await router(engine.url);
      const openai = client(r);
      const choice = { type: 'function' as const, function: { name: 'get_weather' } };
      const whole = await openai.chat.completions.create({ model: 'grpc-model', messages, tools: TOOLS, tool_choice: choice, response_format: { type: 'json_object' } });
      expect(sentSchema(protocol, engine.record.received[0]!)).toEqual(WEATHER); // the tool's schema replaces response_format
      const message = whole.choices[0]!.message;
      expect(message.content).toBe('');
      expect(message.tool_calls!.map((t) => (t.type === 'function' ? [t.function.name, JSON.parse(t.function.arguments)] : []))).toEqual([['get_weather', { city: 'text' }]]);
      expect(whole.choices[0]!.finish_reason).toBe('stop');
      const s = await streamedToolCalls(await openai.chat.completions.create({ model: 'grpc-model', messages, tools: TOOLS, tool_choice: choice, stream: true }));
      expect(s.calls).toEqual([{ id: expect.stringMatching(/^chatcmpl-tool-/), name: 'get_weather', arguments: '{"city":"text"}' }]);
      expect(s.finish).toBe('stop');
    });
  });
}

describe('tool_choice validation on gRPC endpoints (vLLM\'s messages)', () => {
  test('a named tool not among tools, tool_choice without tools, empty tools, a bad choice: 400 with the message and param vLLM gives', async () => {
    await using engine = await startGrpcEngine({ vocab: llama });
    await using r = await router(engine.url);
    const post = async (body: Record<string, unknown>) => {
      const res = await fetch(`${r.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'grpc-model', messages, ...body }) });
      return { status: res.status, error: ((await res.json()) as { error: { message: string; param: string | null } }).error };
    };
    expect(await post({ tools: TOOLS, tool_choice: { type: 'function', function: { name: 'nope' } } })).toMatchObject({
      status: 400,
      error: { message: 'The tool specified in `tool_choice` does not match any of the specified `tools`', param: 'tool_choice' },
    });
    expect(await post({ tool_choice: 'required' })).toMatchObject({ status: 400, error: { message: 'When using `tool_choice`, `tools` must be set.', param: 'tool_choice' } });
    expect(await post({ tools: [], tool_choice: 'auto' })).toMatchObject({ status: 400, error: { param: 'tools', message: expect.stringContaining('`tools` must not be an empty array') } });
    expect(await post({ tools: TOOLS, tool_choice: 'always' })).toMatchObject({
      status: 400,
      error: { message: 'Invalid value for `tool_choice`: always! Only named tools, "none", "auto" or "required" are supported.' },
    });
    expect(engine.record.received).toEqual([]);
    // tool_choice "none" needs no tools, and the router keeps serving.
    const ok = await client(r).chat.completions.create({ model: 'grpc-model', messages, tool_choice: 'none' });
    expect(ok.choices[0]!.message.content).toBe('The quick brown fox jumps over the lazy dog.');
  });
});
