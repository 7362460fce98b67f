// Tool calls parsed out of streamed model text, as OpenAI `tool_calls` deltas, for the three formats vLLM
// parses most (vllm/entrypoints/openai/tool_parsers/):
// - llama3_json (llama_tool_parser.py): the output is `<|python_tag|>`? then `{"name": …, "parameters"|
//   "arguments": …}` objects separated by `;`; output that does not start so is content.
// - hermes (hermes_tool_parser.py; Qwen2.5/Qwen3, Hermes): `<tool_call>{json}</tool_call>` blocks anywhere.
// - mistral (mistral_tool_parser.py): `[TOOL_CALLS]` then a JSON array of calls, or (tokenizer v11 and later)
//   `[TOOL_CALLS]name[ARGS]{json}` per call.
// Deltas go out as vLLM streams them: a call's first delta carries its index, id (`chatcmpl-tool-<hex>`;
// 9 alphanumerics for Mistral, which mistral_common requires) and name, later ones argument fragments; one
// delta per call per push. Text outside the calls is content; whitespace right after a call is dropped. A
// block that turns out not to be a call (no name, malformed JSON before the name) is given back as content,
// never dropped. Streamed and whole-text parsing are one path (non-streaming: push everything, then finish),
// so they agree for every chunking, which vLLM's two paths do not always do.
import { hermesDriver } from './tool-call-hermes.ts';
import { llamaDriver } from './tool-call-llama.ts';
import { mistralDriver } from './tool-call-mistral.ts';
import type { Context, ToolCallChunk, ToolCallDelta } from './tool-call-run.ts';

export type { ToolCallChunk, ToolCallDelta } from './tool-call-run.ts';

export type ToolCallFormat = 'llama3_json' | 'hermes' | 'mistral';

export interface ToolCallParser {
  push(text: string): ToolCallChunk;
  finish(): ToolCallChunk;
}

export interface ToolCallParserOptions {
  /** Call ids; random by default (`chatcmpl-tool-` + 32 hex digits, or 9 alphanumerics for mistral). */
  readonly newId?: (() => string) | undefined;
}

/** Picks the format from a chat template's text (the markers its tool section writes), if it has one. */
export function toolCallFormatOf(chatTemplate: string): ToolCallFormat | undefined {
  if (chatTemplate.includes('<tool_call>')) return 'hermes';
  if (chatTemplate.includes('[TOOL_CALLS]') || chatTemplate.includes('[AVAILABLE_TOOLS]')) return 'mistral';
  if (chatTemplate.includes('<|python_tag|>') || (chatTemplate.includes('<|start_header_id|>') && /\btools\b/.test(chatTemplate))) {
    return 'llama3_json';
  }
  return undefined;
}

/** The complete calls a sequence of deltas describes (what a non-streaming response lists). */
export function collectToolCalls(deltas: readonly ToolCallDelta[]): { id: string; name: string; arguments: string }[] {
  const calls: { id: string; name: string; arguments: string }[] = [];
  for (const delta of deltas) {
    const call = (calls[delta.index] ??= { id: '', name: '', arguments: '' });
    if (delta.id !== undefined) call.id = delta.id;
    if (delta.name !== undefined) call.name += delta.name;
    if (delta.arguments !== undefined) call.arguments += delta.arguments;
  }
  return calls;
}

export function createToolCallParser(format: ToolCallFormat, opts: ToolCallParserOptions = {}): ToolCallParser {
  const ctx: Context = {
    out: { content: '', calls: [] },
    nextIndex: 0,
    newId: opts.newId ?? (format === 'mistral' ? mistralId : openAiToolId),
    lstrip: false,
  };
  const driver = format === 'hermes' ? hermesDriver(ctx) : format === 'mistral' ? mistralDriver(ctx) : llamaDriver(ctx);
  let held = '';
  const take = (): ToolCallChunk => {
    const out = ctx.out;
    ctx.out = { content: '', calls: [] };
    return out;
  };
  return {
    push(text) {
      held = driver.consume(held + text);
      return take();
    },
    finish() {
      driver.finish(held);
      held = '';
      return take();
    },
  };
}

function openAiToolId(): string {
  return `chatcmpl-tool-${crypto.randomUUID().replaceAll('-', '')}`;
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function mistralId(): string {
  const random = crypto.getRandomValues(new Uint8Array(9));
  let id = '';
  for (const byte of random) id += ALPHANUMERIC[byte % ALPHANUMERIC.length];
  return id;
}
