// Puts the prompt's logprobs, which only the prefill engine computed, into the decode engine's non-streaming body.
//
// Rust `logprobs_merge.rs`, for the shapes of vLLM's protocol.py (ChatCompletionResponse, CompletionResponse):
// - usage: the prefill's `cached_tokens` replace a decode value that is missing or ≤ 0 (a decode engine
//   that received its KV may report placeholders such as -1);
// - `meta_info.input_token_logprobs` (SGLang generate): prefill's entries, then decode's;
// - chat: the top-level `prompt_logprobs` comes from the prefill;
// - completions, per choice: `prompt_logprobs` from the prefill, and with `echo` the echoed prompt tokens'
//   entries of `logprobs.{tokens,token_logprobs,top_logprobs,text_offset}` are put before decode's, decode's
//   offsets shifted past the prompt text.
// Two deliberate departures from Rust, both about not corrupting the answer:
// - The echoed prompt length is the prefill's token count minus the one token it generated (max_tokens=1).
//   Rust uses the length of `prompt_logprobs`, which is absent unless asked for (nothing merged), and with
//   `prompt_logprobs` but no echo it prepends the prefill's generated token to decode's.
// - When decode's tokens already begin with the echoed prompt (an engine that recomputed the prompt, or the
//   mock), nothing is prepended: Rust would list the prompt twice.
// A null from the prefill never overwrites a value from decode.

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether a non-streaming response needs the merge: logprobs, prompt logprobs or echo were asked for. */
export function wantsLogprobMerge(body: Readonly<Json>): boolean {
  const set = (v: unknown) => v !== undefined && v !== null && v !== false;
  return set(body.logprobs) || set(body.prompt_logprobs) || body.echo === true || body.return_logprob === true;
}

/** Prefill `cached_tokens` into decode's usage when decode has none that is positive. */
function mergeUsage(prefill: Json, decode: Json): boolean {
  const usage = prefill.usage;
  if (!isObject(usage)) return false;
  const details = isObject(usage.prompt_tokens_details) ? usage.prompt_tokens_details : isObject(usage.input_tokens_details) ? usage.input_tokens_details : undefined;
  const cached = details?.cached_tokens;
  if (cached === undefined || cached === null) return false;
  if (!isObject(decode.usage)) {
    decode.usage = usage;
    return true;
  }
  const target = 'prompt_tokens_details' in decode.usage || !('input_tokens_details' in decode.usage) ? 'prompt_tokens_details' : 'input_tokens_details';
  const own = isObject(decode.usage[target]) ? (decode.usage[target] as Json) : {};
  if (typeof own.cached_tokens === 'number' && own.cached_tokens > 0) return false;
  decode.usage[target] = { ...own, cached_tokens: cached };
  return true;
}

const codePoints = (s: unknown) => (typeof s === 'string' ? [...s].length : 0);

/** Completions `logprobs` object: prefill's echoed prompt entries first, unless decode already has them. */
function mergeChoiceLogprobs(prefill: Json, decode: Json): boolean {
  const tokens = Array.isArray(prefill.tokens) ? prefill.tokens : undefined;
  if (tokens === undefined) return false;
  // The prefill generated exactly one token (max_tokens = 1); what comes before it is the echoed prompt.
  const prompt = Math.max(0, tokens.length - 1);
  if (prompt === 0) return false;
  const decodeTokens = Array.isArray(decode.tokens) ? decode.tokens : [];
  if (decodeTokens.length >= prompt && tokens.slice(0, prompt).every((t, i) => t === decodeTokens[i])) return false;

  let merged = false;
  for (const key of ['tokens', 'token_logprobs', 'top_logprobs'] as const) {
    const p = prefill[key];
    const d = decode[key];
    if (Array.isArray(p) && Array.isArray(d)) {
      decode[key] = [...p.slice(0, prompt), ...d];
      merged = true;
    }
  }
  const pOffsets = prefill.text_offset;
  const dOffsets = decode.text_offset;
  if (Array.isArray(pOffsets) && Array.isArray(dOffsets)) {
    const head = pOffsets.slice(0, prompt);
    const last = head.at(-1);
    // Decode's offsets count from its own text; the prompt text (up to the end of its last token) comes first.
    const base = typeof last === 'number' ? last + codePoints(tokens[prompt - 1]) : 0;
    decode.text_offset = [...head, ...dOffsets.map((o) => (typeof o === 'number' ? o + base : o))];
    merged = true;
  }
  return merged;
}

/**
 * Merges into `decode` (the router's own freshly parsed copy, changed in place) what only the prefill
 * response holds. Returns whether anything changed.
 */
export function mergeLogprobs(prefill: unknown, decode: Json): boolean {
  if (!isObject(prefill)) return false;
  let merged = mergeUsage(prefill, decode);

  const pMeta = prefill.meta_info;
  const dMeta = decode.meta_info;
  if (isObject(pMeta) && isObject(dMeta) && Array.isArray(pMeta.input_token_logprobs) && Array.isArray(dMeta.input_token_logprobs)) {
    dMeta.input_token_logprobs = [...pMeta.input_token_logprobs, ...dMeta.input_token_logprobs];
    merged = true;
  }

  if (prefill.prompt_logprobs !== undefined && prefill.prompt_logprobs !== null) {
    decode.prompt_logprobs = prefill.prompt_logprobs;
    merged = true;
  }

  const pChoices = prefill.choices;
  const dChoices = decode.choices;
  if (Array.isArray(pChoices) && Array.isArray(dChoices)) {
    const n = Math.min(pChoices.length, dChoices.length);
    for (let i = 0; i < n; i++) {
      const p = pChoices[i];
      const d = dChoices[i];
      if (!isObject(p) || !isObject(d)) continue;
      if (p.prompt_logprobs !== undefined && p.prompt_logprobs !== null) {
        d.prompt_logprobs = p.prompt_logprobs;
        merged = true;
      }
      if (isObject(p.logprobs) && isObject(d.logprobs) && mergeChoiceLogprobs(p.logprobs, d.logprobs)) merged = true;
    }
  }
  return merged;
}
