// How much of the end of streamed text may still be the start of a marker (a stop string, `<think>`,
// `<tool_call>`): that much is held back until the next push tells.

/** The length of the longest suffix of `text[from…]` that is a proper prefix of one of `markers`. */
export function partialMarkerLength(text: string, from: number, markers: readonly string[]): number {
  let longest = 0;
  for (const marker of markers) longest = Math.max(longest, marker.length - 1);
  for (let k = Math.min(longest, text.length - from); k > 0; k--) {
    for (const marker of markers) if (marker.length > k && endsWithPrefix(text, marker, k)) return k;
  }
  return 0;
}

/** Whether `text` ends with the first `k` characters of `marker` (no slices: this runs on every push). */
function endsWithPrefix(text: string, marker: string, k: number): boolean {
  const from = text.length - k;
  for (let i = 0; i < k; i++) if (text.charCodeAt(from + i) !== marker.charCodeAt(i)) return false;
  return true;
}
