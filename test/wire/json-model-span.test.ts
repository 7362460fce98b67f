import { describe, expect, test } from 'bun:test';
import { splice, topLevelStringSpan } from '../../src/wire/json-model-span.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const valueOf = (s: string) => {
  const b = bytes(s);
  const span = topLevelStringSpan(b, 'model');
  return span === undefined ? undefined : new TextDecoder().decode(b.subarray(span.start, span.end));
};

describe('topLevelStringSpan', () => {
  test('finds the top-level member past nested ones, strings with escapes and every kind of value', () => {
    const body = '{"messages":[{"model":"inner","content":"a \\"model\\": \\\\"}],"n":-1.5e3,"ok":true,"x":null,"o":{"model":{"a":[]}},  "model" :  "gpt-4o" , "z":[]}';
    expect(valueOf(body)).toBe('"gpt-4o"');
  });
  test('the last of duplicate keys, as JSON.parse keeps it; an escaped key is the same member', () => {
    expect(valueOf('{"model":"a","model":"b"}')).toBe('"b"');
    expect(valueOf('{"mod\\u0065l":"c"}')).toBe('"c"');
    expect(valueOf('{"model":"a","model":3}')).toBeUndefined();
  });
  test('no member, not an object, a truncated body: undefined', () => {
    for (const s of ['{}', '{"models":"x"}', '[{"model":"x"}]', '{"model":"x"', '{"a":{"model":"x"}}', '']) expect(valueOf(s)).toBeUndefined();
  });
  test('UTF-8 around the value stays intact when it is spliced', () => {
    const b = bytes('{"content":"héllo ✓","model":"alias","tail":"🙂"}');
    const span = topLevelStringSpan(b, 'model')!;
    const out = new TextDecoder().decode(splice(b, span, bytes('"real-model"')));
    expect(out).toBe('{"content":"héllo ✓","model":"real-model","tail":"🙂"}');
    expect(JSON.parse(out).model).toBe('real-model');
  });
});
