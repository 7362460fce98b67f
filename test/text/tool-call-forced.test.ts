// Tool calls of a forced tool choice: the named tool's arguments, and the "required" array of calls, read the
// same whole and in any chunking.
import { describe, expect, test } from 'bun:test';
import { createNamedToolCallParser, createRequiredToolCallParser } from '../../src/text/tool-call-forced.ts';
import { collectToolCalls, type ToolCallDelta, type ToolCallParser } from '../../src/text/tool-calls.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';

function run(parser: ToolCallParser, pieces: readonly string[]) {
  const deltas: ToolCallDelta[] = [];
  let content = '';
  for (const piece of pieces) {
    const out = parser.push(piece);
    deltas.push(...out.calls);
    content += out.content;
  }
  const end = parser.finish();
  deltas.push(...end.calls);
  return { deltas, content: content + end.content, calls: collectToolCalls(deltas) };
}

function chunkings(text: string, seed: number): string[][] {
  const random = mulberry32(seed);
  const out: string[][] = [[text], [...text]];
  for (let k = 0; k < 20; k++) {
    const pieces: string[] = [];
    for (let at = 0; at < text.length; ) {
      const size = 1 + Math.floor(random() * 6);
      pieces.push(text.slice(at, at + size));
      at += size;
    }
    out.push(pieces);
  }
  return out;
}

let n = 0;
const ids = () => `id-${n++}`;

describe('forced tool calls', () => {
  test('named: every piece of text is the arguments of one call; the first delta carries id and name', () => {
    const got = run(createNamedToolCallParser('get_weather', () => 'id-x'), ['{"ci', 'ty": "Pa', 'ris"}']);
    expect(got.deltas[0]).toEqual({ index: 0, id: 'id-x', name: 'get_weather', arguments: '{"ci' });
    expect(got.deltas.slice(1).every((d) => d.id === undefined && d.name === undefined)).toBe(true);
    expect(got.calls).toEqual([{ id: 'id-x', name: 'get_weather', arguments: '{"city": "Paris"}' }]);
    expect(got.content).toBe('');
  });

  test('required: each item of the array is a call (name, then its parameters\' own text), in any chunking', () => {
    const text = ' [ {"name": "get_weather", "parameters": {"city": "Pa\\"ris", "days": [1, 2]}} ,\n{"parameters": {}, "name": "noop"}] ';
    for (const pieces of chunkings(text, 7)) {
      const got = run(createRequiredToolCallParser(ids), pieces);
      expect(got.calls.map((c) => [c.name, JSON.parse(c.arguments)])).toEqual([
        ['get_weather', { city: 'Pa"ris', days: [1, 2] }],
        ['noop', {}],
      ]);
      expect(got.content).toBe('');
      expect(new Set(got.calls.map((c) => c.id)).size).toBe(2);
    }
  });

  test('required: text that is no array gives no call (vLLM finds none in it)', () => {
    expect(run(createRequiredToolCallParser(ids), ['Sorry, no.']).calls).toEqual([]);
    expect(run(createRequiredToolCallParser(ids), ['[]']).calls).toEqual([]);
  });
});
