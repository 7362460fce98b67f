import { describe, expect, test } from 'bun:test';
import { detectContentFormat, loadChatTemplate, normalizeMessages, specialTokenVariables } from '../../src/pool/chat-template.ts';
import { llamaConfig } from './tokenizer-fixture.ts';

const conversation = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: '  What is the capital of France?\n' },
  { role: 'assistant', content: 'Paris.' },
];

function render(config: Record<string, unknown>, input: Parameters<ReturnType<typeof loadChatTemplate>['template']['render']>[0]): string {
  const result = loadChatTemplate(config, null).template.render(input);
  if (!result.ok) throw new Error(result.error);
  return result.text;
}

describe('chat template rendering', () => {
  test('a 3-message conversation renders in the Llama 3.1 format written out by hand', () => {
    // From the template: BOS before the first message, each message as header + "\n\n" + trimmed
    // content + <|eot_id|>, then the assistant header because add_generation_prompt defaults to true.
    const expected =
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\nParis.<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n';
    expect(render(llamaConfig(), { messages: conversation })).toBe(expected);
  });

  test('add_generation_prompt false leaves the assistant header out', () => {
    const text = render(llamaConfig(), { messages: conversation.slice(0, 2), addGenerationPrompt: false });
    expect(text.endsWith('What is the capital of France?<|eot_id|>')).toBe(true);
  });

  test('text parts are joined with newlines, as vLLM flattens them for string templates', () => {
    const parts = [{ role: 'user', content: [{ type: 'text', text: 'first' }, { type: 'image_url', image_url: { url: 'x' } }, { type: 'text', text: 'second' }] }];
    expect(render(llamaConfig(), { messages: parts })).toContain('<|end_header_id|>\n\nfirst\nsecond<|eot_id|>');
  });

  test('content null renders as empty text', () => {
    expect(render(llamaConfig(), { messages: [{ role: 'assistant', content: null }], addGenerationPrompt: false })).toBe(
      '<|begin_of_text|><|start_header_id|>assistant<|end_header_id|>\n\n<|eot_id|>',
    );
  });

  test('continue_final_message stops right after the final message, as transformers does', () => {
    const text = render(llamaConfig(), {
      messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello, I am ' }],
      addGenerationPrompt: false,
      continueFinalMessage: true,
    });
    expect(text.endsWith('<|start_header_id|>assistant<|end_header_id|>\n\nHello, I am')).toBe(true);
  });

  test('continue_final_message together with add_generation_prompt is an error', () => {
    const result = loadChatTemplate(llamaConfig(), null).template.render({ messages: conversation, continueFinalMessage: true });
    expect(result.ok).toBe(false);
  });

  test('special tokens given as AddedToken objects render as their content', () => {
    const config = {
      bos_token: { __type: 'AddedToken', content: '<s>', lstrip: false },
      eos_token: '</s>',
      chat_template: '{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}',
    };
    expect(render(config, { messages: [{ role: 'user', content: 'x' }] })).toBe('<s>x</s>');
    expect(specialTokenVariables(config)).toEqual({ bos_token: '<s>', eos_token: '</s>' });
  });

  test('a list of named templates picks "tool_use" when tools are given, else "default"', () => {
    const config = {
      chat_template: [
        { name: 'default', template: 'plain{% if tools is none %} no-tools{% endif %}' },
        { name: 'tool_use', template: 'tools:{{ tools | length }}' },
      ],
    };
    expect(render(config, { messages: [] })).toBe('plain no-tools');
    expect(render(config, { messages: [], tools: [{ type: 'function' }] })).toBe('tools:1');
  });

  test('chat_template_kwargs reach the template', () => {
    const config = { chat_template: '{% if enable_thinking %}think{% else %}direct{% endif %}' };
    expect(render(config, { messages: [], kwargs: { enable_thinking: true } })).toBe('think');
    expect(render(config, { messages: [] })).toBe('direct');
  });

  test('a template error (raise_exception) comes back as a value, not a throw', () => {
    const config = { chat_template: "{{ raise_exception('roles must alternate') }}" };
    const result = loadChatTemplate(config, null).template.render({ messages: [] });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toContain('roles must alternate');
  });

  test('without a template, messages are rendered in a plain prefix-preserving form and a warning says so', () => {
    const { template, warnings } = loadChatTemplate({}, null);
    expect(template.source).toBe('none');
    expect(warnings[0]).toContain('no chat template');
    const one = template.render({ messages: conversation.slice(0, 2) });
    const two = template.render({ messages: conversation });
    expect(one.ok && two.ok && two.text.startsWith(one.text)).toBe(true);
  });

  test('a template file overrides tokenizer_config.json', () => {
    const { template } = loadChatTemplate(llamaConfig(), { text: 'override:{{ messages | length }}', source: '/m/chat_template.jinja' });
    expect(template.source).toBe('/m/chat_template.jinja');
    expect(template.render({ messages: conversation })).toEqual({ ok: true, text: 'override:3' });
  });
});

describe('content format', () => {
  test('templates that loop over message content get OpenAI parts, others a string', () => {
    expect(detectContentFormat("{% for m in messages %}{% for c in m['content'] %}{{ c.text }}{% endfor %}{% endfor %}")).toBe('openai');
    expect(detectContentFormat("{%- for content in message.content | selectattr('type', 'equalto', 'image') %}")).toBe('openai');
    expect(detectContentFormat(llamaConfig().chat_template as string)).toBe('string');
  });

  test('OpenAI-format messages keep parts, wrapping plain strings as a text part', () => {
    const normalized = normalizeMessages([{ role: 'user', content: 'hi' }, { role: 'user', content: [{ type: 'image_url' }, { type: 'text', text: 'what?' }] }], 'openai');
    expect(normalized).toEqual({
      ok: true,
      value: [
        { role: 'user', content: [{ type: 'text', text: 'hi' }] },
        { role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'what?' }] },
      ],
    });
  });

  test('tool call arguments given as JSON text are parsed, as vLLM does before rendering', () => {
    const normalized = normalizeMessages(
      [{ role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"x":1}' } }] }, { role: 'tool', content: '2', tool_call_id: 'c1' }],
      'string',
    );
    expect(normalized).toEqual({
      ok: true,
      value: [
        { role: 'assistant', content: '', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: { x: 1 } } }] },
        { role: 'tool', content: '2', tool_call_id: 'c1' },
      ],
    });
  });

  test('a message without a role is rejected', () => {
    expect(normalizeMessages([{ content: 'x' }], 'string').ok).toBe(false);
  });
});
