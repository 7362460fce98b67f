// Mistral tool calls (vllm/entrypoints/openai/tool_parsers/mistral_tool_parser.py): `[TOOL_CALLS]` then a
// JSON array of calls, or (tokenizer v11 and later) `[TOOL_CALLS]name[ARGS]{json}` per call.
import { partialMarkerLength } from './partial-match.ts';
import { emitContent, skipSpace, startCall, type CallRun, type Context, type Driver } from './tool-call-run.ts';

const MISTRAL_TAG = '[TOOL_CALLS]';
const MISTRAL_ARGS = '[ARGS]';
const MISTRAL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const MAX_NAME = 128;

export function mistralDriver(ctx: Context): Driver {
  let mode: 'content' | 'start' | 'item' | 'next' | 'name' | 'call' = 'content';
  let inArray = false;
  let run: CallRun | undefined;
  let since = ''; // the text since the tag: content if no call of it is named
  let namedBefore = 0;
  let name = '';
  const namedSinceTag = () => ctx.nextIndex > namedBefore;
  const giveBack = () => {
    if (!namedSinceTag()) emitContent(ctx, since);
    mode = 'content';
  };
  return {
    consume(text) {
      let pos = 0;
      while (pos < text.length) {
        if (mode === 'content') {
          const at = text.indexOf(MISTRAL_TAG, pos);
          if (at === -1) {
            const keep = partialMarkerLength(text, pos, [MISTRAL_TAG]);
            emitContent(ctx, text.slice(pos, text.length - keep));
            return text.slice(text.length - keep);
          }
          emitContent(ctx, text.slice(pos, at));
          pos = at + MISTRAL_TAG.length;
          since = MISTRAL_TAG;
          namedBefore = ctx.nextIndex;
          mode = 'start';
          continue;
        }
        if (mode === 'call') {
          const used = run!.feed(text.slice(pos));
          since += text.slice(pos, pos + used);
          pos += used;
          const outcome = run!.outcome();
          if (outcome === 'open') return '';
          if (outcome === 'text') giveBack();
          else {
            mode = outcome === 'call' && inArray ? 'next' : 'content';
            ctx.lstrip = true;
          }
          continue;
        }
        if (mode === 'name') {
          // `name[ARGS]{…}` (tokenizer v11+) or `name{…}`
          const args = text.indexOf(MISTRAL_ARGS, pos);
          const brace = text.indexOf('{', pos);
          const end = args !== -1 && (brace === -1 || args < brace) ? args : brace;
          if (end === -1) {
            const upTo = text.length - partialMarkerLength(text, pos, [MISTRAL_ARGS]);
            name += text.slice(pos, upTo);
            since += text.slice(pos, upTo);
            if (name.length > MAX_NAME) giveBack();
            return text.slice(upTo);
          }
          name += text.slice(pos, end);
          const next = end === args ? end + MISTRAL_ARGS.length : end;
          since += text.slice(pos, next);
          pos = next;
          const trimmed = name.trim();
          if (!MISTRAL_NAME.test(trimmed)) {
            giveBack();
            continue;
          }
          run = startCall(ctx, `{"name":${JSON.stringify(trimmed)},"arguments":`);
          inArray = false;
          mode = 'call';
          continue;
        }
        const at = skipSpace(text, pos);
        since += text.slice(pos, at);
        pos = at;
        if (at === text.length) return '';
        const c = text[at]!;
        if (mode === 'start') {
          if (c === '[') {
            since += c;
            pos++;
            mode = 'item';
          } else if (c === '{') {
            run = startCall(ctx);
            inArray = false;
            mode = 'call';
          } else {
            name = '';
            mode = 'name';
          }
        } else if (mode === 'item') {
          if (c === '{') {
            run = startCall(ctx);
            inArray = true;
            mode = 'call';
          } else if (c === ']' && namedSinceTag()) {
            pos++;
            mode = 'content';
            ctx.lstrip = true;
          } else giveBack();
        } else {
          // next: `,` and another call, or `]`; anything else is content
          if (c === ',') {
            pos++;
            mode = 'item';
          } else {
            if (c === ']') pos++;
            mode = 'content';
            ctx.lstrip = true;
          }
        }
      }
      return '';
    },
    finish(held) {
      if (mode === 'content') emitContent(ctx, held);
      else if (!namedSinceTag()) emitContent(ctx, since + held);
    },
  };
}
