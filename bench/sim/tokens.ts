// The simulator's token approximation: one token per whitespace-separated word, a fixed chat template, and
// the deterministic "model output" that both the engine and the workload generator compute.
//
// Why words: the workload is made of common English words (`VOCABULARY`), which a Llama-3 BPE tokenizer maps
// to about one token each (≈1.2–1.3 with the leading space and punctuation folded in), and counting them needs
// no tokenizer files. The mock engine (testkit/mock-engine.ts) counts the same way, so both agree.

/** Python's `str.split()`: words separated by runs of whitespace. */
export function splitWords(text: string): string[] {
  const trimmed = text.trim();
  return trimmed === '' ? [] : trimmed.split(/\s+/);
}

export interface ChatMessage {
  role: string;
  content: string;
}

/** The generation prompt the template appends; also the marker that opens a rendered assistant message. */
export const ASSISTANT_MARKER = '<|assistant|>';

/**
 * The chat template as tokens: each message is its role marker (`<|system|>`, `<|user|>`, …) followed by its
 * words, then the generation prompt. Like real templates it is prefix-stable: the rendering of turn k plus
 * the reply is a prefix of the rendering of turn k+1, which is what makes multi-turn prefix caching work.
 */
export function renderChat(messages: readonly ChatMessage[]): string[] {
  const out: string[] = [];
  for (const m of messages) {
    out.push(`<|${m.role}|>`);
    for (const w of splitWords(m.content)) out.push(w);
  }
  out.push(ASSISTANT_MARKER);
  return out;
}

/** Common short English words: the workload's text and the simulated model's output are drawn from them. */
export const VOCABULARY: readonly string[] = splitWords(`
the of and to in is that for it as was with be by on not he this are or his from at which but have an had
they you were their one all we can her has there been if more when will would who so no she other its may
these about than into them what some could time only then two also any very our first your such new like
over most well after should where much before through back must even those here many people years way
because each between under might while same another both still again never little place great system part
world down number since small give large point day used just good long made work public make state use
process data model result value order group change control level case form program question area request
cache memory token query answer service server client engine batch router queue policy latency stream
prompt reply review report design network signal input output layer block table record field market price
policy travel health energy water light music story plan rule team city river mountain garden window
letter paper color north south east west early late fast slow simple clear strong open close ready
`);

/** A seed for the reply to a prompt: the last words of the prompt and its length. Cheap (at most 64 words
 * are hashed), and two different conversations almost never end in the same 64 words. */
export function replySeed(promptWords: readonly string[]): number {
  const tail = promptWords.slice(-64).join(' ');
  return Bun.hash.xxHash32(`${promptWords.length}|${tail}`) >>> 0;
}

/** Output token `i` of the reply with `seed`: a pure function, so the workload can rebuild the history a
 * real client would send back (the engine's own reply) without waiting for it. */
export function replyWord(seed: number, i: number): string {
  return VOCABULARY[Bun.hash.xxHash32(String(i), seed) % VOCABULARY.length] as string;
}

/** The whole reply of `n` tokens, as the chat stream delivers it concatenated (words joined by spaces). */
export function replyText(promptWords: readonly string[], n: number): string {
  const seed = replySeed(promptWords);
  const words: string[] = [];
  for (let i = 0; i < n; i++) words.push(replyWord(seed, i));
  return words.join(' ');
}
