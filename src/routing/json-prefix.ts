// The first characters of a parsed JSON value's JSON text, built iteratively and only as far as needed.

type Frame =
  | { readonly array: readonly unknown[]; next: number }
  | { readonly object: Readonly<Record<string, unknown>>; readonly keys: readonly string[]; next: number };

/**
 * `JSON.stringify(value).slice(0, max)` for values from JSON.parse, without serialising the rest: a base64
 * image part costs `max` characters, not its megabytes, and no nesting depth can exhaust the stack.
 */
export function jsonPrefix(value: unknown, max: number): string {
  let out = '';
  const stack: Frame[] = [];
  let pending: unknown = value;
  let hasPending = true;
  while (out.length < max) {
    if (hasPending) {
      hasPending = false;
      const v = pending;
      if (Array.isArray(v)) {
        out += '[';
        stack.push({ array: v, next: 0 });
      } else if (typeof v === 'object' && v !== null) {
        out += '{';
        stack.push({ object: v as Record<string, unknown>, keys: Object.keys(v), next: 0 });
      } else if (typeof v === 'string') {
        // A cut string escapes to a prefix of the whole one's escape, up to the cut (each character is ≥ 1 out).
        out += JSON.stringify(v.length > max - out.length ? v.slice(0, max - out.length) : v);
      } else {
        out += JSON.stringify(v) ?? 'null';
      }
      continue;
    }
    const top = stack.at(-1);
    if (top === undefined) break;
    if ('array' in top) {
      if (top.next === top.array.length) {
        out += ']';
        stack.pop();
        continue;
      }
      if (top.next > 0) out += ',';
      pending = top.array[top.next++];
    } else {
      if (top.next === top.keys.length) {
        out += '}';
        stack.pop();
        continue;
      }
      const key = top.keys[top.next++]!;
      if (top.next > 1) out += ',';
      const room = max - out.length;
      out += `${JSON.stringify(key.length > room ? key.slice(0, room) : key)}:`;
      pending = top.object[key];
    }
    hasPending = true;
  }
  return out.length > max ? out.slice(0, max) : out;
}
