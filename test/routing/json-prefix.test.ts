import { describe, expect, test } from 'bun:test';
import { jsonPrefix } from '../../src/routing/json-prefix.ts';
import { routingText } from '../../src/routing/routing-text.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';
import type { Random } from '../resilience/fuzz-cases.ts';

const ATOMS = ['', 'a', 'text', 'é', '😀', '\ud83d', '\ude00', '"', '\\', '\n', '\u0000', '\u2028', 'k"ey', '</script>'];

/** A random value of the kinds JSON.parse makes: strings with escapes and surrogates, numbers, nesting. */
function randomJson(r: Random, depth: number): unknown {
  const roll = r();
  if (depth <= 0 || roll < 0.35) {
    const kind = Math.floor(r() * 5);
    if (kind === 0) return Array.from({ length: Math.floor(r() * 6) }, () => ATOMS[Math.floor(r() * ATOMS.length)]).join('');
    if (kind === 1) return [0, -0, 1.5, -2e-7, 1e21, 123456789012, 3][Math.floor(r() * 7)];
    if (kind === 2) return r() < 0.5;
    if (kind === 3) return null;
    return 'x'.repeat(Math.floor(r() * 400));
  }
  if (roll < 0.7) return Array.from({ length: Math.floor(r() * 5) }, () => randomJson(r, depth - 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 5); i > 0; i--) o[ATOMS[Math.floor(r() * ATOMS.length)]! + String(i)] = randomJson(r, depth - 1);
  return o;
}

describe('jsonPrefix', () => {
  test('is JSON.stringify(value).slice(0, max) for 5,000 random values and limits', () => {
    const r = mulberry32(0x5eed);
    for (let i = 0; i < 5000; i++) {
      const value = JSON.parse(JSON.stringify(randomJson(r, 6))) as unknown;
      const max = Math.floor(r() * 300);
      const want = JSON.stringify(value).slice(0, max);
      const got = jsonPrefix(value, max);
      if (got !== want) throw new Error(`case ${i}, max ${max}: ${JSON.stringify(value).slice(0, 200)}\nwant ${JSON.stringify(want)}\ngot  ${JSON.stringify(got)}`);
    }
  });

  test('walks 100,000 levels without recursion and stops at the limit', () => {
    const deep = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)) as unknown;
    expect(jsonPrefix(deep, 256)).toBe('['.repeat(256));
    expect(jsonPrefix(JSON.parse('{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000)), 12)).toBe('{"a":{"a":{"');
  });

  test('reads no more of a megabytes-long part than the fingerprint needs', () => {
    const image = { type: 'image_url', image_url: { url: `data:image/png;base64,${'A'.repeat(50 * 1024 * 1024)}` } };
    const body = { messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, image] }] };
    expect(routingText('/v1/chat/completions', body, () => '')).toBe(`user: what is this?${JSON.stringify(image).slice(0, 256)}\n`);
    // A part of a million elements: the prefix reads only the elements it prints (counted, not timed).
    let reads = 0;
    const samples = new Proxy(Array.from({ length: 1_000_000 }, () => 7), {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver);
      },
    });
    const audio = { type: 'input_audio', samples };
    const text = routingText('/v1/chat/completions', { messages: [{ role: 'user', content: [audio] }] }, () => '');
    expect(text).toBe(`user: ${JSON.stringify({ type: 'input_audio', samples: Array(1_000_000).fill(7) }).slice(0, 256)}\n`);
    expect(reads).toBeLessThan(256);
  });
});
