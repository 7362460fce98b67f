// One choice's output text: token ids through the incremental detokenizer and the stop strings (VllmEngine), or
// the engine's own text (vllm.Inference, which detokenizes and applies stop strings itself).
import { createDetokenizer, type Detokenizer } from '../../text/detokenizer.ts';
import { createStopMatcher, type StopMatcher } from '../../text/stop-matcher.ts';
import type { Vocabulary } from '../../text/vocabulary.ts';

export interface ChoiceText {
  /** The text the new tokens complete; `stop` names the stop string once one is reached (nothing follows it). */
  push(ids: readonly number[], engineText: string | undefined): { text: string; stop?: string };
  /** The end of the output: text still held back. */
  flush(): string;
}

export interface ChoiceTextOptions {
  /** Undefined when the engine sends text (vllm.Inference). */
  readonly vocab: Vocabulary | undefined;
  readonly skipSpecialTokens: boolean;
  readonly stop: readonly string[];
  readonly includeStopStr: boolean;
  /** The prompt's last tokens, which the output's first token continues (vLLM primes its detokenizer with them). */
  readonly promptTail: readonly number[];
}

/** vLLM primes its incremental detokenizer with this many prompt tokens (vllm/transformers_utils/detokenizer_utils.py INITIAL_INCREMENTAL_DETOKENIZATION_OFFSET). */
export const PROMPT_TAIL_TOKENS = 5;

export function createChoiceText(options: ChoiceTextOptions): ChoiceText {
  if (options.vocab === undefined) {
    return { push: (_ids, text) => ({ text: text ?? '' }), flush: () => '' };
  }
  const detokenizer: Detokenizer = createDetokenizer(options.vocab, { skipSpecialTokens: options.skipSpecialTokens, promptTail: options.promptTail });
  const stops = options.stop.filter((s) => s.length > 0);
  if (stops.length === 0) {
    return { push: (ids) => ({ text: detokenizer.push(ids) }), flush: () => detokenizer.flush() };
  }
  const matcher: StopMatcher = createStopMatcher(stops, options.includeStopStr);
  const longest = Math.max(...stops.map((s) => s.length));
  // Enough recent text to tell which stop string matched: the matcher says only that one did.
  let recent = '';
  let stopped = false;
  const step = (text: string): { text: string; stop?: string } => {
    if (stopped) return { text: '' };
    recent = (recent + text).slice(-(2 * longest + text.length));
    const out = matcher.push(text);
    if (!out.stopped) return { text: out.emit };
    stopped = true;
    return { text: out.emit, stop: firstStop(recent, stops) };
  };
  return {
    push: (ids) => step(detokenizer.push(ids)),
    flush() {
      if (stopped) return '';
      const last = step(detokenizer.flush());
      return last.stop !== undefined ? last.text : last.text + matcher.flush();
    },
  };
}

/** The stop string that ends earliest in `text` (ties: the first listed), as the matcher decides. */
function firstStop(text: string, stops: readonly string[]): string {
  let best = stops[0]!;
  let bestEnd = Infinity;
  for (const stop of stops) {
    const at = text.indexOf(stop);
    if (at >= 0 && at + stop.length < bestEnd) {
      best = stop;
      bestEnd = at + stop.length;
    }
  }
  return best;
}
