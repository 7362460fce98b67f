// Splits streamed model text into reasoning (`<think>…</think>`) and content, with tags split across pushes.
//
// The rules are vLLM's (vllm/reasoning/deepseek_r1_reasoning_parser.py, qwen3_reasoning_parser.py on
// basic_parsers.py `BaseThinkingReasoningParser`):
// - deepseek_r1: the output starts in reasoning, with or without `<think>` (DeepSeek-R1's template opens it
//   in the prompt); the first `<think>` is dropped; everything after the first `</think>` is content.
// - qwen3: content until `<think>`, reasoning from there until `</think>`, content after; a `</think>`
//   without a `<think>` before it is content.
// Where vLLM's streamed and whole-text answers differ (text before a mid-output `<think>`, which its
// non-streaming path drops; qwen3 output cut inside `<think>…`, which its streaming path reports as
// reasoning and its non-streaming path as content), this follows the streaming answer, so the two are
// equal here and nothing is dropped.
import { partialMarkerLength } from './partial-match.ts';

export type ReasoningKind = 'deepseek_r1' | 'qwen3';

export interface ReasoningSplit {
  readonly reasoning: string;
  readonly content: string;
}

export interface ReasoningParser {
  /** The reasoning and content this text completes; a possible tag at its end is held for the next push. */
  push(text: string): ReasoningSplit;
  /** End of the output: the held text, in the channel it was in. */
  finish(): ReasoningSplit;
}

export interface ReasoningOptions {
  /** The prompt already opened `<think>` (a template's generation prompt with thinking on): start in reasoning. */
  readonly promptOpensReasoning?: boolean | undefined;
}

const START = '<think>';
const END = '</think>';

type Mode = 'before' | 'reasoning' | 'content';

export function createReasoningParser(kind: ReasoningKind, opts: ReasoningOptions = {}): ReasoningParser {
  let mode: Mode = kind === 'deepseek_r1' || opts.promptOpensReasoning === true ? 'reasoning' : 'before';
  // deepseek_r1 drops one `<think>` if it comes before `</think>`.
  let dropStart = kind === 'deepseek_r1';
  let held = '';

  /** The tags that change something in the current mode. */
  const watched = (): readonly string[] => (mode === 'before' ? [START] : mode === 'reasoning' ? (dropStart ? [START, END] : [END]) : []);

  const push = (text: string): ReasoningSplit => {
    let reasoning = '';
    let content = '';
    let rest = held + text;
    held = '';
    const emit = (part: string) => {
      if (mode === 'reasoning') reasoning += part;
      else content += part;
    };
    for (;;) {
      const tags = watched();
      if (tags.length === 0) {
        emit(rest);
        return { reasoning, content };
      }
      let at = -1;
      let tag = '';
      for (const candidate of tags) {
        const found = rest.indexOf(candidate);
        if (found !== -1 && (at === -1 || found < at)) {
          at = found;
          tag = candidate;
        }
      }
      if (at === -1) break;
      emit(rest.slice(0, at));
      rest = rest.slice(at + tag.length);
      if (tag === START) {
        if (mode === 'before') mode = 'reasoning';
        dropStart = false;
      } else {
        mode = 'content';
      }
    }
    const keep = partialMarkerLength(rest, 0, watched());
    held = rest.slice(rest.length - keep);
    emit(rest.slice(0, rest.length - keep));
    return { reasoning, content };
  };

  return {
    push,
    finish() {
      const rest = held;
      held = '';
      return mode === 'reasoning' ? { reasoning: rest, content: '' } : { reasoning: '', content: rest };
    },
  };
}
