// Stop strings on streamed text: the text is cut at the first stop string, and text that could still be the
// start of one is held back until it can no longer match, so a stop string never reaches the client in part.
//
// vLLM (vllm/v1/engine/detokenizer.py `check_stop_strings`) searches the new text plus the last
// `len(stop) - 1` characters before it, truncates at the stop's start (or after its end with
// `include_stop_str_in_output`) and, when stop strings are excluded, holds back `max(len(stop)) - 1`
// characters of every delta. Here only the longest tail that is a proper prefix of a stop string is held, so
// text goes out as early as it can, and the text that goes out in total is the same. When several stop strings
// match in one push, the one that ends first wins (ties: the first in the list), which is what one token at a
// time would give, so the result does not depend on how the text was chunked.

import { partialMarkerLength } from './partial-match.ts';

export interface StopMatcher {
  /** The text that can go out now, and whether a stop string was found (nothing more goes out after that). */
  push(text: string): { emit: string; stopped: boolean };
  /** End of the stream without a stop: the text still held back. */
  flush(): string;
}

export function createStopMatcher(stops: readonly string[], includeStopStr: boolean): StopMatcher {
  const list = stops.filter((stop) => stop.length > 0);
  if (list.length === 0) {
    return { push: (text) => ({ emit: text, stopped: false }), flush: () => '' };
  }
  // The tail of the text so far that may be the start of a stop string: held back when stop strings are
  // excluded from the output, already sent (but still searched) when they are included.
  let tail = '';
  let stopped = false;

  return {
    push(text) {
      if (stopped) return { emit: '', stopped: true };
      if (text.length === 0) return { emit: '', stopped: false };
      const window = tail + text;
      let matchStart = -1;
      let matchEnd = Number.POSITIVE_INFINITY;
      for (const stop of list) {
        const at = window.indexOf(stop);
        if (at !== -1 && at + stop.length < matchEnd) {
          matchStart = at;
          matchEnd = at + stop.length;
        }
      }
      const sentBefore = includeStopStr ? tail.length : 0; // the part of the window already sent
      if (matchStart !== -1) {
        stopped = true;
        tail = '';
        const cut = includeStopStr ? matchEnd : matchStart;
        return { emit: window.slice(sentBefore, Math.max(cut, sentBefore)), stopped: true };
      }
      const keep = partialMarkerLength(window, 0, list);
      tail = window.slice(window.length - keep);
      return { emit: includeStopStr ? text : window.slice(0, window.length - keep), stopped: false };
    },
    flush() {
      const rest = includeStopStr || stopped ? '' : tail;
      tail = '';
      return rest;
    },
  };
}
