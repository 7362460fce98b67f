// The nesting bound on client JSON: checked once after parsing, so that nothing downstream (JSON.stringify
// of a PD body, msgpack to the tokenizer pool, the chat template) can run out of stack on a hostile body.
import { routerError, type RouterError } from './errors.ts';

/**
 * Deepest nesting accepted, counting the body object as level 1. serde_json, which the Rust router parses
 * with, stops at 128 too; real requests stay far below (a chat image part is at level 6).
 */
export const MAX_JSON_DEPTH = 128;

/** The refusal of a body nested deeper than `limit`, naming the field; undefined when it is within. */
export function jsonDepthError(body: Readonly<Record<string, unknown>>, limit = MAX_JSON_DEPTH): RouterError | undefined {
  if (!exceedsDepth(body, limit)) return undefined;
  const param = fieldOf(pathTooDeep(body, limit));
  return routerError('invalid_body', `'${param}' is nested more than ${limit} levels deep; the router accepts JSON up to ${limit} levels`, { param });
}

/** Whether any container sits deeper than `limit` (iterative: the walk itself never recurses). */
export function exceedsDepth(root: object, limit: number): boolean {
  const pending: object[] = [root];
  const depths: number[] = [1];
  while (pending.length > 0) {
    const value = pending.pop() as Record<string, unknown>;
    const depth = depths.pop()! + 1;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const child: unknown = value[i];
        if (typeof child !== 'object' || child === null) continue;
        if (depth > limit) return true;
        pending.push(child);
        depths.push(depth);
      }
    } else {
      for (const key in value) {
        const child = value[key];
        if (typeof child !== 'object' || child === null) continue;
        if (depth > limit) return true;
        pending.push(child);
        depths.push(depth);
      }
    }
  }
  return false;
}

/** The keys and indices down to the first container deeper than `limit` (only called once one exists). */
function pathTooDeep(root: object, limit: number): (string | number)[] {
  interface Frame {
    readonly value: object;
    readonly keys: readonly (string | number)[];
    next: number;
    readonly at: string | number | undefined;
  }
  const frameOf = (value: object, at: string | number | undefined): Frame => ({
    value,
    keys: Array.isArray(value) ? Array.from(value.keys()) : Object.keys(value),
    next: 0,
    at,
  });
  const stack: Frame[] = [frameOf(root, undefined)];
  while (stack.length > 0) {
    const top = stack.at(-1)!;
    if (top.next === top.keys.length) {
      stack.pop();
      continue;
    }
    const key = top.keys[top.next++]!;
    const child: unknown = (top.value as Record<string | number, unknown>)[key];
    if (typeof child !== 'object' || child === null) continue;
    stack.push(frameOf(child, key));
    if (stack.length > limit) break;
  }
  return stack.slice(1).map((f) => f.at!);
}

/**
 * The field a too-deep path runs through, as OpenAI names a `param`: its first four steps, ending at the
 * last named field among them (`messages[0].content`, `prompt`, `input[2].content`).
 */
export function fieldOf(path: readonly (string | number)[]): string {
  const head = path.slice(0, 4);
  let end = head.length;
  while (end > 1 && typeof head[end - 1] === 'number') end--;
  return head.slice(0, end).reduce<string>((out, step) => (typeof step === 'number' ? `${out}[${step}]` : out === '' ? step : `${out}.${step}`), '');
}
