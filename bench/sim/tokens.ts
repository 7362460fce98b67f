// The simulated model's words and its output: the English words the workloads write with, and the
// deterministic reply (real Llama 3.1 token ids of those words) that the engine produces and the workload
// generator rebuilds to put in chat histories.
//
// Why a pure function of the prompt ids: a real client sends the model's reply back as the next turn's
// history, and a later turn then hits the KV blocks of that reply. The workload is generated before the
// replay, so it must know the reply without waiting for it; the engine and the workload compute the same one.
// Each reply token is a whole word that is one token on its own (" cache", or "cache" opening a line), so the
// reply's text tokenizes back to exactly the ids the engine produced (bench/sim/test/sim-tokenizer.test.ts).

export interface ChatMessage {
  role: string;
  content: string;
}

/** Common short English words: the workload's text and the simulated model's output are drawn from them. */
export const VOCABULARY: readonly string[] = `
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
`
  .trim()
  .split(/\s+/);

/** The token ids the simulated model writes, from a real tokenizer (sim-tokenizer.ts builds it). */
export interface ReplyVocabulary {
  /** Words as they open a line ("cache" after the chat template's "\n\n"), each one token. */
  readonly opening: readonly number[];
  /** Words after a word (" cache"), each one token. */
  readonly continuing: readonly number[];
  /** Whether the reply to a prompt ending in token `id` opens a line (its first word has no leading space). */
  opensLine(lastPromptId: number): boolean;
  /** The text of a reply token, as the stream sends it. */
  text(id: number): string;
}

/** A seed for the reply to a prompt: its last ids and its length. Cheap (at most 64 ids are hashed), and two
 * different conversations almost never end in the same 64 tokens. */
export function replySeed(promptIds: readonly number[]): number {
  const tail = promptIds.slice(-64);
  return Bun.hash.xxHash32(new Uint32Array(tail), promptIds.length >>> 0) >>> 0;
}

/** Output token `i` of a reply: a pure function of the seed and the position. */
export function replyToken(v: ReplyVocabulary, seed: number, opensLine: boolean, i: number): number {
  const words = i === 0 && opensLine ? v.opening : v.continuing;
  return words[Bun.hash.xxHash32(String(i), seed) % words.length] as number;
}

/** The `n` token ids the engine replies to `promptIds` with. */
export function replyIds(v: ReplyVocabulary, promptIds: readonly number[], n: number): number[] {
  const seed = replySeed(promptIds);
  const opens = promptIds.length > 0 && v.opensLine(promptIds[promptIds.length - 1] as number);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(replyToken(v, seed, opens, i));
  return out;
}

/** The reply as the stream delivers it concatenated (what a client puts in the next turn's history). */
export function replyText(v: ReplyVocabulary, promptIds: readonly number[], n: number): string {
  let text = '';
  for (const id of replyIds(v, promptIds, n)) text += v.text(id);
  return text;
}
