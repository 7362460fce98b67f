// What the three tool-call formats share: the deltas of one push (one per call), content with the whitespace
// after a call dropped, and one call's object scanned into a name delta and argument fragments.
import { createCallScanner, isSpace, type ScanState } from './tool-call-json.ts';

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

export interface Context {
  out: ToolCallChunk;
  nextIndex: number;
  readonly newId: () => string;
  /** Text arriving right after a call: its leading whitespace is dropped. */
  lstrip: boolean;
}

export type Outcome = 'open' | 'call' | 'text' | 'broken';

export interface CallRun {
  feed(text: string): number;
  outcome(): Outcome;
  /** Whether the call's name went out (from then on the call stands, whatever follows). */
  named(): boolean;
  /** The model text this run consumed. */
  raw(): string;
}

export interface Driver {
  /** Consumes what it can of `text`; returns the tail to hold until more text comes. */
  consume(text: string): string;
  finish(held: string): void;
}

export function emitContent(ctx: Context, text: string): void {
  if (ctx.lstrip) {
    let from = 0;
    while (from < text.length && isSpace(text[from]!)) from++;
    text = text.slice(from);
    if (text.length > 0) ctx.lstrip = false;
  }
  ctx.out.content += text;
}

/** One delta per call per push: a later fragment of the same call joins the earlier one. */
export function addDelta(ctx: Context, delta: ToolCallDelta): void {
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
export function startCall(ctx: Context, head?: string): CallRun {
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

export function skipSpace(text: string, pos: number): number {
  while (pos < text.length && isSpace(text[pos]!)) pos++;
  return pos;
}
