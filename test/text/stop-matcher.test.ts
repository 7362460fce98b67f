// Stop strings on streamed text: the output equals the whole text cut at the stop that ends first, whatever
// the chunking, and nothing that may still become a stop string goes out early.
import { describe, expect, test } from 'bun:test';
import { createDetokenizer } from '../../src/text/detokenizer.ts';
import { createStopMatcher } from '../../src/text/stop-matcher.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';
import { chunkedText, testTokenizer, type TokenizerName } from './tokenizers.ts';

/** The whole text cut as one-token-at-a-time matching would cut it (vLLM `check_stop_strings`). */
function expected(text: string, stops: readonly string[], include: boolean): { text: string; stopped: boolean } {
  let best: { start: number; end: number } | undefined;
  for (const stop of stops) {
    const at = text.indexOf(stop);
    if (at !== -1 && (best === undefined || at + stop.length < best.end)) best = { start: at, end: at + stop.length };
  }
  if (best === undefined) return { text, stopped: false };
  return { text: text.slice(0, include ? best.end : best.start), stopped: true };
}

function run(pieces: readonly string[], stops: readonly string[], include: boolean): { text: string; stopped: boolean; emits: string[] } {
  const matcher = createStopMatcher(stops, include);
  const emits: string[] = [];
  let stopped = false;
  for (const piece of pieces) {
    const out = matcher.push(piece);
    emits.push(out.emit);
    if (out.stopped) {
      stopped = true;
      break;
    }
  }
  if (!stopped) emits.push(matcher.flush());
  return { text: emits.join(''), stopped, emits };
}

const TEXT = 'Answer: the result is 42.\n\nUser: next question? 答案是四十二。🎉 Observation: done</s>';
const STOP_SETS: readonly (readonly string[])[] = [
  ['\n\nUser:'],
  ['Observation:', 'result'],
  ['四十二', '🎉'],
  ['not in the text', 'zzz'],
  ['done</s>', 'done'],
  ['42.\n', '2.'],
  ['A'],
  ['Answer: the result is 42.\n\nUser: next question? 答案是四十二。🎉 Observation: done</s> and more'],
];

describe('in random chunkings the output is the whole text cut at the first stop', () => {
  for (const include of [false, true]) {
    for (const stops of STOP_SETS) {
      test(`${JSON.stringify(stops)} include_stop_str_in_output=${include}`, () => {
        const want = expected(TEXT, stops, include);
        for (let seed = 1; seed <= 40; seed++) {
          const got = run(chunkedText(TEXT, mulberry32(seed), 1 + (seed % 9)), stops, include);
          expect(got.text).toBe(want.text);
          expect(got.stopped).toBe(want.stopped);
        }
      });
    }
  }
});

test('text goes out as soon as it can no longer start a stop string', () => {
  const matcher = createStopMatcher(['STOP', 'ST!'], false);
  expect(matcher.push('abc S')).toEqual({ emit: 'abc ', stopped: false });
  expect(matcher.push('T')).toEqual({ emit: '', stopped: false });
  expect(matcher.push('x')).toEqual({ emit: 'STx', stopped: false });
  expect(matcher.push(' ST')).toEqual({ emit: ' ', stopped: false });
  expect(matcher.push('!tail')).toEqual({ emit: '', stopped: true });
  expect(matcher.push('more')).toEqual({ emit: '', stopped: true });
  expect(matcher.flush()).toBe('');
});

test('with include_stop_str_in_output nothing is held back and the stop string ends the output', () => {
  const matcher = createStopMatcher(['STOP'], true);
  expect(matcher.push('abc ST')).toEqual({ emit: 'abc ST', stopped: false });
  expect(matcher.push('OP and after')).toEqual({ emit: 'OP', stopped: true });
});

test('a held tail that never became a stop string comes out at the end', () => {
  const matcher = createStopMatcher(['</answer>'], false);
  expect(matcher.push('done </ans')).toEqual({ emit: 'done ', stopped: false });
  expect(matcher.flush()).toBe('</ans');
});

describe.each(['llama3_1', 'llama2', 'qwen3'] as TokenizerName[])('stop strings across token boundaries (%s)', (name) => {
  test('the detokenized stream cut by the matcher equals the decoded text cut', () => {
    const tokenizer = testTokenizer(name);
    const ids = tokenizer.encode(TEXT);
    const whole = tokenizer.decode(ids, true);
    // The stop strings really span tokens: no token's text holds the whole of this one.
    expect(ids.some((id) => tokenizer.decode([id], true).includes('\n\nUser:'))).toBe(false);
    for (const stops of STOP_SETS) {
      for (const include of [false, true]) {
        const detokenizer = createDetokenizer(tokenizer.vocab, { skipSpecialTokens: true });
        const pieces = ids.map((id) => detokenizer.push([id]));
        pieces.push(detokenizer.flush());
        expect(run(pieces, stops, include).text).toBe(expected(whole, stops, include).text);
      }
    }
  });
});
