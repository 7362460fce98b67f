// Tool calls of a forced tool choice, read straight from the JSON the model was constrained to write (vLLM's
// serving path for them: vllm/parser/abstract_parser.py `_extract_tool_calls`, vllm/tool_parsers/streaming.py):
// - named: the whole output is the named tool's arguments; its first delta carries the id and name.
// - required: the output is a JSON array of `{"name": …, "parameters": {…}}`, one call per item, each streamed
//   as its name is known and its parameters' text arrives (the model's own JSON text, as the other formats).
// Text around the array is no call and is dropped, as vLLM drops it.
import { skipSpace, startCall, type CallRun, type Context, type ToolCallChunk } from './tool-call-run.ts';
import type { ToolCallParser } from './tool-calls.ts';

const openAiToolId = (): string => `chatcmpl-tool-${crypto.randomUUID().replaceAll('-', '')}`;

export function createNamedToolCallParser(name: string, newId: () => string = openAiToolId): ToolCallParser {
  let named = false;
  const push = (text: string): ToolCallChunk => {
    if (text === '') return { content: '', calls: [] };
    if (named) return { content: '', calls: [{ index: 0, arguments: text }] };
    named = true;
    return { content: '', calls: [{ index: 0, id: newId(), name, arguments: text }] };
  };
  return { push, finish: () => ({ content: '', calls: [] }) };
}

export function createRequiredToolCallParser(newId: () => string = openAiToolId): ToolCallParser {
  const ctx: Context = { out: { content: '', calls: [] }, nextIndex: 0, newId, lstrip: false };
  let mode: 'start' | 'item' | 'call' | 'next' | 'done' = 'start';
  let run: CallRun | undefined;
  const take = (): ToolCallChunk => {
    const out = ctx.out;
    ctx.out = { content: '', calls: [] };
    return { content: '', calls: out.calls };
  };
  const consume = (text: string) => {
    let pos = 0;
    while (pos < text.length && mode !== 'done') {
      if (mode === 'call') {
        pos += run!.feed(text.slice(pos));
        const outcome = run!.outcome();
        if (outcome === 'open') return;
        mode = outcome === 'call' ? 'next' : 'done';
        continue;
      }
      pos = skipSpace(text, pos);
      if (pos === text.length) return;
      const c = text[pos]!;
      if (mode === 'start') {
        if (c !== '[') mode = 'done';
        else {
          pos++;
          mode = 'item';
        }
      } else if (mode === 'item') {
        if (c === '{') {
          run = startCall(ctx);
          mode = 'call';
        } else mode = 'done';
      } else if (c === ',') {
        pos++;
        mode = 'item';
      } else mode = 'done';
    }
  };
  return {
    push(text) {
      consume(text);
      return take();
    },
    finish: take,
  };
}
