// Reasoning split from content, DeepSeek-R1 and Qwen3 rules, with the tags split across pushes: every
// chunking gives what the whole text gives, and that is vLLM's split where its two paths agree.
import { describe, expect, test } from 'bun:test';
import { createDetokenizer } from '../../src/text/detokenizer.ts';
import { createReasoningParser, type ReasoningKind } from '../../src/text/reasoning.ts';
import { mulberry32 } from '../../testkit/mulberry32.ts';
import { chunkedText, testTokenizer } from './tokenizers.ts';

function split(kind: ReasoningKind, pieces: readonly string[]): { reasoning: string; content: string } {
  const parser = createReasoningParser(kind);
  let reasoning = '';
  let content = '';
  for (const piece of [...pieces.map((p) => parser.push(p)), parser.finish()]) {
    reasoning += piece.reasoning;
    content += piece.content;
  }
  return { reasoning, content };
}

/** vLLM's non-streaming extract_reasoning (None as ''), for the cases where its streaming path agrees. */
function vllmWhole(kind: ReasoningKind, text: string): { reasoning: string; content: string } {
  if (kind === 'qwen3' && (!text.includes('<think>') || !text.includes('</think>'))) return { reasoning: '', content: text };
  const at = text.indexOf('<think>');
  const rest = at === -1 ? text : text.slice(at + '<think>'.length);
  const end = rest.indexOf('</think>');
  return end === -1 ? { reasoning: rest, content: '' } : { reasoning: rest.slice(0, end), content: rest.slice(end + '</think>'.length) };
}

const AGREEING: readonly [ReasoningKind, string][] = [
  ['deepseek_r1', '<think>\nLet me think 🤔 about 中文.\n</think>\n\nThe answer is 42.'],
  ['deepseek_r1', 'No opening tag, R1 style.\n</think>\n\nAnswer.'],
  ['deepseek_r1', 'Still thinking when the output was cut'],
  ['deepseek_r1', '<think>a<think>nested</think>c </think> d'],
  ['deepseek_r1', '<think></think>'],
  ['qwen3', '<think>\nStep 1: 分析 <tool_call> is not a tag here.\n</think>\n\nContent 🎉 <think> later is content.'],
  ['qwen3', 'No reasoning at all, </think> stays content.'],
  ['qwen3', '<think>\n\n</think>\n\nThinking switched off.'],
];

describe('every chunking gives the whole-text split, which is vLLM\u2019s', () => {
  for (const [kind, text] of AGREEING) {
    test(`${kind}: ${JSON.stringify(text.slice(0, 40))}`, () => {
      const want = vllmWhole(kind, text);
      expect(split(kind, [text])).toEqual(want);
      for (let seed = 1; seed <= 60; seed++) expect(split(kind, chunkedText(text, mulberry32(seed), 1 + (seed % 7)))).toEqual(want);
    });
  }
});

test('qwen3 output cut inside <think> is reasoning, as vLLM streams it', () => {
  expect(split('qwen3', ['<thi', 'nk>half a tho', 'ught'])).toEqual({ reasoning: 'half a thought', content: '' });
});

test('text before a mid-output <think> is content, not dropped', () => {
  expect(split('qwen3', ['Sure. <th', 'ink>why</thi', 'nk> so.'])).toEqual({ reasoning: 'why', content: 'Sure.  so.' });
  expect(split('deepseek_r1', ['lead <think>why</think> so'])).toEqual({ reasoning: 'lead why', content: ' so' });
});

test('a held partial tag goes out in its channel when it was not a tag', () => {
  const parser = createReasoningParser('qwen3');
  expect(parser.push('a <thin')).toEqual({ reasoning: '', content: 'a ' });
  expect(parser.push('g>')).toEqual({ reasoning: '', content: '<thing>' });
  expect(parser.push(' </thi')).toEqual({ reasoning: '', content: ' </thi' }); // no <think> yet: not watched
  expect(parser.finish()).toEqual({ reasoning: '', content: '' });
});

test('promptOpensReasoning starts qwen3 in reasoning (the template opened <think>)', () => {
  const parser = createReasoningParser('qwen3', { promptOpensReasoning: true });
  expect(parser.push('why</think>what')).toEqual({ reasoning: 'why', content: 'what' });
});

test('Qwen3 tokens streamed through the detokenizer: <think> and </think> arrive as single tokens', () => {
  const tokenizer = testTokenizer('qwen3');
  const text = AGREEING[5]![1];
  const ids = tokenizer.encode(text);
  expect(ids).toContain(tokenizer.vocab.idOf('<think>')!);
  expect(ids).toContain(tokenizer.vocab.idOf('</think>')!);
  const detokenizer = createDetokenizer(tokenizer.vocab, { skipSpecialTokens: true });
  const pieces = ids.map((id) => detokenizer.push([id]));
  pieces.push(detokenizer.flush());
  expect(split('qwen3', pieces)).toEqual(vllmWhole('qwen3', tokenizer.decode(ids, true)));
});
