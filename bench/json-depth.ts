// What the nesting bound and the bounded routing fingerprint cost per request, next to the JSON.parse every
// request pays anyway:  flock /tmp/bench.lock bun bench/json-depth.ts
import { exceedsDepth, MAX_JSON_DEPTH } from '../src/wire/json-depth.ts';
import { jsonPrefix } from '../src/routing/json-prefix.ts';

const BODIES: Record<string, unknown> = {
  'chat, 20 messages (40 KiB)': { model: 'm', max_tokens: 100, messages: Array.from({ length: 20 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: 'x'.repeat(2000) })) },
  'chat with tools and an image URL': {
    model: 'm',
    messages: [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }],
    tools: Array.from({ length: 8 }, (_, i) => ({ type: 'function', function: { name: `f${i}`, parameters: { type: 'object', properties: { a: { type: 'string' }, b: { type: 'array', items: { type: 'number' } } } } } })),
  },
  'completion, 100k token ids (560 KiB)': { model: 'm', prompt: Array.from({ length: 100_000 }, (_, i) => i % 50_000) },
  'chat with a 5 MB base64 image': { model: 'm', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${'A'.repeat(5e6)}` } }] }] },
};

function perCall(fn: () => unknown, minMs = 300): number {
  for (let i = 0; i < 50; i++) fn();
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < minMs) {
    fn();
    n++;
  }
  return ((performance.now() - started) / n) * 1000;
}

const us = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(0)).padStart(8);
console.log(`${'body'.padEnd(40)} ${'JSON.parse'.padStart(11)} ${'depth walk'.padStart(11)}   (µs per request)`);
for (const [name, body] of Object.entries(BODIES)) {
  const text = JSON.stringify(body);
  const parsed = JSON.parse(text) as object;
  console.log(`${name.padEnd(40)} ${us(perCall(() => JSON.parse(text)))}    ${us(perCall(() => exceedsDepth(parsed, MAX_JSON_DEPTH)))}`);
}

console.log('\nrouting fingerprint of one non-text part (256 characters):');
for (const [name, part] of [
  ['image URL part', { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }],
  ['5 MB base64 image part', { type: 'image_url', image_url: { url: `data:image/png;base64,${'A'.repeat(5e6)}` } }],
] as const) {
  console.log(`${name.padEnd(40)} JSON.stringify+slice ${us(perCall(() => JSON.stringify(part).slice(0, 256)))}   jsonPrefix ${us(perCall(() => jsonPrefix(part, 256)))}`);
}
