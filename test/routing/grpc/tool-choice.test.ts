// tools / tool_choice of a chat body: vLLM's validation messages and the schema it forces the output with
// (vllm/tool_parsers/utils.py get_json_schema_from_tools; vllm/entrypoints/openai/chat_completion/protocol.py).
import { describe, expect, test } from 'bun:test';
import { toolChoiceOf } from '../../../src/routing/grpc/tool-choice.ts';
import { openAiGeneration } from '../../../src/routing/grpc/openai-request.ts';

const CITY = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
const tool = (name: string, parameters?: unknown) => ({ type: 'function', function: { name, ...(parameters !== undefined ? { parameters } : {}) } });
const USAGE = 'Correct usage: `{"type": "function", "function": {"name": "my_function"}}`';

describe('toolChoiceOf', () => {
  test('defaults: "auto" with tools, "none" without; "none" needs no tools', () => {
    expect(toolChoiceOf({ tools: [tool('a')] })).toEqual({ kind: 'auto' });
    expect(toolChoiceOf({})).toEqual({ kind: 'none' });
    expect(toolChoiceOf({ tool_choice: 'none' })).toEqual({ kind: 'none' });
  });

  test('"required": an array of at least one {name, parameters}, anyOf the tools; no parameters means an empty object', () => {
    expect(toolChoiceOf({ tools: [tool('a', CITY), tool('b')], tool_choice: 'required' })).toEqual({
      kind: 'required',
      schema: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          anyOf: [
            { properties: { name: { type: 'string', enum: ['a'] }, parameters: CITY }, required: ['name', 'parameters'] },
            { properties: { name: { type: 'string', enum: ['b'] }, parameters: { type: 'object', properties: {} } }, required: ['name', 'parameters'] },
          ],
        },
      },
    });
  });

  test('"required" moves every tool\'s $defs to the top; one name defined two ways is refused as vLLM refuses it', () => {
    const withDefs = (def: unknown) => ({ type: 'object', $defs: { City: def }, properties: { city: { $ref: '#/$defs/City' } } });
    const got = toolChoiceOf({ tools: [tool('a', withDefs({ type: 'string' })), tool('b', withDefs({ type: 'string' }))], tool_choice: 'required' });
    expect(got).toMatchObject({ kind: 'required', schema: { $defs: { City: { type: 'string' } } } });
    const items = (got as unknown as { schema: { items: { anyOf: { properties: { parameters: unknown } }[] } } }).schema.items.anyOf;
    expect(items[0]!.properties.parameters).toEqual({ type: 'object', properties: { city: { $ref: '#/$defs/City' } } });
    expect(toolChoiceOf({ tools: [tool('a', withDefs({ type: 'string' })), tool('b', withDefs({ type: 'integer' }))], tool_choice: 'required' })).toMatchObject({
      isRouterError: true,
      message: "Tool definition 'City' has multiple schemas, which is not supported.",
    });
  });

  test('a named tool: its parameters schema (an empty object schema when it has none)', () => {
    expect(toolChoiceOf({ tools: [tool('a', CITY), tool('b')], tool_choice: { type: 'function', function: { name: 'a' } } })).toEqual({ kind: 'named', name: 'a', schema: CITY });
    expect(toolChoiceOf({ tools: [tool('a', CITY), tool('b')], tool_choice: { type: 'function', function: { name: 'b' } } })).toEqual({
      kind: 'named',
      name: 'b',
      schema: { type: 'object', properties: {} },
    });
  });

  const refusals: [string, Record<string, unknown>, string, string][] = [
    ['named tool not among tools', { tools: [tool('a')], tool_choice: { type: 'function', function: { name: 'z' } } }, 'The tool specified in `tool_choice` does not match any of the specified `tools`', 'tool_choice'],
    ['tool_choice without tools', { tool_choice: 'required' }, 'When using `tool_choice`, `tools` must be set.', 'tool_choice'],
    ['"auto" without tools', { tool_choice: 'auto' }, 'When using `tool_choice`, `tools` must be set.', 'tool_choice'],
    ['empty tools', { tools: [] }, '`tools` must not be an empty array. Either provide at least one tool or omit the field entirely.', 'tools'],
    ['unknown string', { tools: [tool('a')], tool_choice: 'any' }, 'Invalid value for `tool_choice`: any! Only named tools, "none", "auto" or "required" are supported.', 'tool_choice'],
    ['function not an object', { tools: [tool('a')], tool_choice: { type: 'function' } }, `Invalid value for \`function\`: \`None\` in \`tool_choice\`! ${USAGE}`, 'tool_choice.function'],
    ['no name', { tools: [tool('a')], tool_choice: { type: 'function', function: {} } }, `Expected field \`name\` in \`function\` in \`tool_choice\`! ${USAGE}`, 'tool_choice.function.name'],
    ['empty name', { tools: [tool('a')], tool_choice: { type: 'function', function: { name: '' } } }, `Invalid \`name\` in \`function\`: \`\` in \`tool_choice\`! ${USAGE}`, 'tool_choice.function.name'],
  ];
  for (const [what, body, message, param] of refusals) {
    test(`refuses ${what} with vLLM's message`, () => {
      expect(toolChoiceOf(body)).toMatchObject({ isRouterError: true, kind: 'invalid_body', message, param });
    });
  }
});

describe('openAiGeneration with a forced tool choice', () => {
  const messages = [{ role: 'user', content: 'x' }];
  test('the forced schema is the structured-output constraint, replacing response_format', () => {
    const got = openAiGeneration({ messages, tools: [tool('a', CITY)], tool_choice: 'required', response_format: { type: 'json_object' } }, true, {});
    expect(got).toMatchObject({ toolChoice: { kind: 'required' }, sampling: { structured: { kind: 'json_schema' } } });
    const named = openAiGeneration({ messages, tools: [tool('a', CITY)], tool_choice: { type: 'function', function: { name: 'a' } } }, true, {});
    expect(named).toMatchObject({ sampling: { structured: { kind: 'json_schema', value: JSON.stringify(CITY) } } });
  });

  test('structured outputs with a named tool is refused as vLLM refuses it; "auto" keeps the request\'s own constraint', () => {
    expect(openAiGeneration({ messages, tools: [tool('a', CITY)], tool_choice: { type: 'function', function: { name: 'a' } }, structured_outputs: { regex: 'a+' } }, true, {})).toMatchObject({
      isRouterError: true,
      message: 'You can only either use constraints for structured outputs or tools, not both.',
    });
    expect(openAiGeneration({ messages, tools: [tool('a', CITY)], structured_outputs: { regex: 'a+' } }, true, {})).toMatchObject({ sampling: { structured: { kind: 'regex', value: 'a+' } } });
  });
});

describe('openAiGeneration and prompt_logprobs', () => {
  test('prompt_logprobs: asked of the engine (both protocols return them), and vLLM\'s 400 on a stream', () => {
    for (const chat of [true, false]) {
      expect(openAiGeneration({ prompt: 'x', messages: [], prompt_logprobs: 1 }, chat, {})).toMatchObject({ sampling: { promptLogprobs: 1 } });
      expect(openAiGeneration({ prompt: 'x', messages: [], prompt_logprobs: 1, stream: true }, chat, {})).toMatchObject({ isRouterError: true, kind: 'invalid_body', param: 'prompt_logprobs' });
    }
  });
});
