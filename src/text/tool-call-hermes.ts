// Hermes tool calls (vllm/entrypoints/openai/tool_parsers/hermes_tool_parser.py; Qwen2.5/Qwen3, Hermes):
// `<tool_call>{json}</tool_call>` blocks anywhere in the output.
import { partialMarkerLength } from './partial-match.ts';
import { emitContent, startCall, type CallRun, type Context, type Driver } from './tool-call-run.ts';

const HERMES_OPEN = '<tool_call>';
const HERMES_CLOSE = '</tool_call>';

export function hermesDriver(ctx: Context): Driver {
  let mode: 'content' | 'call' | 'close' = 'content';
  let run: CallRun | undefined;
  // The block's text while it is no call (no name yet): given back as content if it never becomes one.
  let giveBack: string | undefined;
  return {
    consume(text) {
      let pos = 0;
      while (pos < text.length) {
        if (mode === 'call') {
          const used = run!.feed(text.slice(pos));
          giveBack = run!.named() ? undefined : `${HERMES_OPEN}${run!.raw()}`;
          pos += used;
          const outcome = run!.outcome();
          if (outcome === 'open') return '';
          mode = 'close';
          continue;
        }
        // In a block after its object, text up to `</tool_call>` is the block's; a new `<tool_call>` may also
        // come without the close (some Qwen outputs do that).
        const open = text.indexOf(HERMES_OPEN, pos);
        const close = mode === 'close' ? text.indexOf(HERMES_CLOSE, pos) : -1;
        if (close !== -1 && (open === -1 || close < open)) {
          if (giveBack !== undefined) emitContent(ctx, giveBack + text.slice(pos, close + HERMES_CLOSE.length));
          else ctx.lstrip = true; // the block was a call: the whitespace after it is not content
          giveBack = undefined;
          pos = close + HERMES_CLOSE.length;
          mode = 'content';
          continue;
        }
        if (open === -1) {
          const keep = partialMarkerLength(text, pos, mode === 'close' ? [HERMES_OPEN, HERMES_CLOSE] : [HERMES_OPEN]);
          const upTo = text.length - keep;
          if (mode === 'content') emitContent(ctx, text.slice(pos, upTo));
          else if (giveBack !== undefined) giveBack += text.slice(pos, upTo);
          return text.slice(upTo);
        }
        if (mode === 'content') emitContent(ctx, text.slice(pos, open));
        else if (giveBack !== undefined) emitContent(ctx, giveBack + text.slice(pos, open));
        pos = open + HERMES_OPEN.length;
        giveBack = HERMES_OPEN;
        run = startCall(ctx);
        mode = 'call';
      }
      return '';
    },
    finish(held) {
      if (mode === 'content') emitContent(ctx, held);
      else if (giveBack !== undefined) emitContent(ctx, giveBack + held);
    },
  };
}
