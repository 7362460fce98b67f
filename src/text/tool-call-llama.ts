// Llama 3 JSON tool calls (vllm/entrypoints/openai/tool_parsers/llama_tool_parser.py): the output is
// `<|python_tag|>`? then `{"name": …, "parameters"|"arguments": …}` objects separated by `;`.
import { emitContent, skipSpace, startCall, type CallRun, type Context, type Driver } from './tool-call-run.ts';

const LLAMA_TAG = '<|python_tag|>';

export function llamaDriver(ctx: Context): Driver {
  let mode: 'start' | 'after-tag' | 'call' | 'between' | 'after-separator' | 'plain' = 'start';
  let run: CallRun | undefined;
  let lead = ''; // whitespace and tag before the first call: content if no call comes
  /** This run was no call: its text (and, before any call, the lead) is content, and so is the rest. */
  const giveBack = (held: string) => {
    emitContent(ctx, (ctx.nextIndex === 0 ? lead : '') + (run?.raw() ?? '') + held);
    mode = 'plain';
  };
  return {
    consume(text) {
      let pos = 0;
      while (pos < text.length) {
        if (mode === 'plain') {
          emitContent(ctx, text.slice(pos));
          return '';
        }
        if (mode === 'call') {
          pos += run!.feed(text.slice(pos));
          const outcome = run!.outcome();
          if (outcome === 'open') return '';
          if (outcome === 'text') giveBack('');
          else {
            mode = outcome === 'call' ? 'between' : 'plain';
            ctx.lstrip = true;
          }
          continue;
        }
        const at = skipSpace(text, pos);
        if (mode === 'start' || mode === 'after-tag') lead += text.slice(pos, at);
        pos = at;
        if (at === text.length) return '';
        if (mode === 'start' && text.startsWith(LLAMA_TAG, at)) {
          lead += LLAMA_TAG;
          pos = at + LLAMA_TAG.length;
          mode = 'after-tag';
          continue;
        }
        if (mode === 'start' && LLAMA_TAG.startsWith(text.slice(at))) return text.slice(at); // maybe the tag, split
        if (mode === 'between') {
          // `;` and another call, or the end; anything else is content
          if (text[at] === ';') {
            pos = at + 1;
            mode = 'after-separator';
          } else mode = 'plain';
          continue;
        }
        if (text[at] === '{') {
          run = startCall(ctx);
          mode = 'call';
        } else if (ctx.nextIndex === 0) {
          run = undefined;
          giveBack('');
        } else mode = 'plain';
      }
      return '';
    },
    finish(held) {
      if (mode === 'start' || mode === 'after-tag') emitContent(ctx, lead + held);
      else if (mode === 'call' && !run!.named()) giveBack(held);
      else if (mode === 'plain') emitContent(ctx, held);
    },
  };
}
