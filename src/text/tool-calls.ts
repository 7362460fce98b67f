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
import { createCallScanner, isSpace, type ScanState } from './tool-call-json.ts';

export type ToolCallFormat = 'llama3_json' | 'hermes' | 'mistral';

export interface ToolCallDelta {
  index: number;
  id?: string;
  name?: string;
  arguments?: string;
}

export interface ToolCallChunk {
  content: string;
  calls: ToolCallDelta[];
}

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

interface Context {
  out: ToolCallChunk;
  nextIndex: number;
  readonly newId: () => string;
  /** Text arriving right after a call: its leading whitespace is dropped. */
  lstrip: boolean;
}

type Outcome = 'open' | 'call' | 'text' | 'broken';

interface CallRun {
  feed(text: string): number;
  outcome(): Outcome;
  /** Whether the call's name went out (from then on the call stands, whatever follows). */
  named(): boolean;
  /** The model text this run consumed. */
  raw(): string;
}

interface Driver {
  /** Consumes what it can of `text`; returns the tail to hold until more text comes. */
  consume(text: string): string;
  finish(held: string): void;
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

function emitContent(ctx: Context, text: string): void {
  if (ctx.lstrip) {
    let from = 0;
    while (from < text.length && isSpace(text[from]!)) from++;
    text = text.slice(from);
    if (text.length > 0) ctx.lstrip = false;
  }
  ctx.out.content += text;
}

/** One delta per call per push: a later fragment of the same call joins the earlier one. */
function addDelta(ctx: Context, delta: ToolCallDelta): void {
  const same = ctx.out.calls.find((d) => d.index === delta.index);
  if (same === undefined) {
    ctx.out.calls.push(delta);
    return;
  }
  if (delta.id !== undefined) same.id = delta.id;
  if (delta.name !== undefined) same.name = delta.name;
  if (delta.arguments !== undefined) same.arguments = (same.arguments ?? '') + delta.arguments;
}

/** One call's object: the name delta once known, argument fragments after it, `{}` when it had none. */
function startCall(ctx: Context, head?: string): CallRun {
  let index = -1;
  let pending = '';
  let raw = '';
  const scanner = createCallScanner(
    {
      name(name) {
        index = ctx.nextIndex++;
        addDelta(ctx, { index, id: ctx.newId(), name });
        if (pending.length > 0) addDelta(ctx, { index, arguments: pending });
        pending = '';
      },
      arguments(fragment) {
        if (index >= 0) addDelta(ctx, { index, arguments: fragment });
        else pending += fragment;
      },
    },
    { endAfterArguments: head !== undefined },
  );
  if (head !== undefined) scanner.feed(head);
  let ended = false;
  const outcome = (): Outcome => {
    const state: ScanState = scanner.state();
    if (state === 'scanning') return 'open';
    if (index < 0) return 'text';
    return state === 'done' ? 'call' : 'broken';
  };
  return {
    feed(text) {
      const used = scanner.feed(text);
      raw += text.slice(0, used);
      if (!ended && outcome() === 'call') {
        ended = true;
        if (!scanner.sawArguments()) addDelta(ctx, { index, arguments: '{}' });
      }
      return used;
    },
    outcome,
    named: () => index >= 0,
    raw: () => raw,
  };
}

/** The length of the longest suffix of `text[from…]` that is a proper prefix of one of `markers`. */
function partialLength(text: string, from: number, markers: readonly string[]): number {
  const longest = Math.max(...markers.map((m) => m.length)) - 1;
  for (let k = Math.min(longest, text.length - from); k > 0; k--) {
    for (const marker of markers) if (marker.length > k && text.startsWith(marker.slice(0, k), text.length - k)) return k;
  }
  return 0;
}

function skipSpace(text: string, pos: number): number {
  while (pos < text.length && isSpace(text[pos]!)) pos++;
  return pos;
}

const HERMES_OPEN = '<tool_call>';
const HERMES_CLOSE = '</tool_call>';

function hermesDriver(ctx: Context): Driver {
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
          const keep = partialLength(text, pos, mode === 'close' ? [HERMES_OPEN, HERMES_CLOSE] : [HERMES_OPEN]);
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

const LLAMA_TAG = '<|python_tag|>';

function llamaDriver(ctx: Context): Driver {
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

const MISTRAL_TAG = '[TOOL_CALLS]';
const MISTRAL_ARGS = '[ARGS]';
const MISTRAL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const MAX_NAME = 128;

function mistralDriver(ctx: Context): Driver {
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
            const keep = partialLength(text, pos, [MISTRAL_TAG]);
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
            const upTo = text.length - partialLength(text, pos, [MISTRAL_ARGS]);
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
