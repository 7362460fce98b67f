// A tokenizer's output side, precomputed: token id → the bytes its text contributes, special and eos ids.
import { decoderPlan, isRecord, pieceBytes, runSteps } from './decoder-plan.ts';
import { endsOnBoundary, writeUtf8 } from './utf8.ts';
//
// The bytes are what the tokenizer's `decoder` (tokenizer.json) makes of one token, so that decoding a
// sequence is concatenating bytes and reading them as UTF-8 (lossy). The decoder steps followed are those of
// Hugging Face tokenizers (huggingface/tokenizers `tokenizers/src/decoders/`) as @huggingface/tokenizers
// implements them (`src/core/decoder/`): ByteLevel (GPT-2 byte↔unicode map), Replace, ByteFallback
// (`<0xE2>` tokens are one byte), Metaspace (`▁` → space, the first token loses its leading space), Strip
// and Fuse. Steps that work across tokens (Fuse then Strip: the first character of the whole text) are kept
// as rules for the detokenizer (`stripStart`, `stripEnd`, `metaspaceFirst`).

/** Flags per token id, in `Vocabulary.flags`. */
export const TOKEN_SPECIAL = 1; // an added token flagged special: dropped under skip_special_tokens
export const TOKEN_ADDED = 2; // an added token (special or not), text taken as is
export const TOKEN_WHOLE = 4; // its bytes end on a UTF-8 character boundary: decodable on their own
export const TOKEN_FIRST_DIFFERS = 8; // its text differs when it is the first token (Metaspace)
export const TOKEN_KNOWN = 16; // the id has a token at all (vocabularies have holes)

export interface Vocabulary {
  /** One past the highest id. */
  readonly size: number;
  /** All tokens' bytes back to back; token `id` is `bytes[offsets[id]] … bytes[offsets[id + 1] - 1]`. */
  readonly bytes: Uint8Array;
  readonly offsets: Uint32Array;
  /** `TOKEN_*` bits per id. */
  readonly flags: Uint8Array;
  /** Ids of added tokens flagged special (bos, eos, pad, chat markers). */
  readonly specialIds: ReadonlySet<number>;
  /** The end-of-sequence ids: `eos_token` of tokenizer_config.json plus generation_config.json's `eos_token_id`. */
  readonly eosTokenIds: readonly number[];
  readonly bosTokenId: number | undefined;
  /** After Fuse, Strip removes up to `count` leading (`stripStart`) or trailing (`stripEnd`) `content` characters. */
  readonly stripStart: { readonly content: string; readonly count: number } | undefined;
  readonly stripEnd: { readonly content: string; readonly count: number } | undefined;
  /** The token's raw string in the vocabulary (`▁Hello`, `ĠHello`, `<0xE2>`, `<|eot_id|>`). */
  tokenOf(id: number): string | undefined;
  /** The id of a raw token string, added tokens included. */
  idOf(token: string): number | undefined;
  /** The token's bytes when it is the first token of the text (differs under Metaspace). */
  firstBytesOf(id: number): Uint8Array;
  /** The text of a token flagged `TOKEN_WHOLE`, decoded once and kept (shared by every request). */
  wholeTextOf(id: number): string;
}

export type VocabularyResult = { ok: true; vocabulary: Vocabulary } | { ok: false; error: string };

/** Builds the vocabulary; throws an Error naming what is wrong with the files (use at start-up). */
export function loadVocabulary(tokenizerJson: unknown, tokenizerConfig?: unknown, generationConfig?: unknown): Vocabulary {
  const result = tryLoadVocabulary(tokenizerJson, tokenizerConfig, generationConfig);
  if (!result.ok) throw new Error(result.error);
  return result.vocabulary;
}

/** The same as `loadVocabulary`, with the problem as a value (for files fetched at run time). */
export function tryLoadVocabulary(tokenizerJson: unknown, tokenizerConfig?: unknown, generationConfig?: unknown): VocabularyResult {
  const fail = (error: string): VocabularyResult => ({ ok: false, error: `tokenizer.json: ${error}` });
  if (!isRecord(tokenizerJson)) return fail('not a JSON object');
  const model = tokenizerJson['model'];
  if (!isRecord(model)) return fail('no "model" object');

  const tokens: (string | undefined)[] = [];
  const vocab = model['vocab'];
  if (Array.isArray(vocab)) {
    // Unigram: [[piece, score], …], the id is the index.
    vocab.forEach((entry, id) => {
      if (Array.isArray(entry) && typeof entry[0] === 'string') tokens[id] = entry[0];
    });
  } else if (isRecord(vocab)) {
    for (const token in vocab) {
      const id = vocab[token];
      if (typeof id === 'number' && Number.isInteger(id) && id >= 0) tokens[id] = token;
    }
  } else {
    return fail('"model.vocab" is neither an object nor an array');
  }

  const addedIds = new Set<number>();
  const specialIds = new Set<number>();
  const added = tokenizerJson['added_tokens'] ?? [];
  if (!Array.isArray(added)) return fail('"added_tokens" is not an array');
  for (const entry of added) {
    if (!isRecord(entry) || typeof entry['id'] !== 'number' || typeof entry['content'] !== 'string') {
      return fail('an "added_tokens" entry has no numeric "id" and string "content"');
    }
    const id = entry['id'];
    tokens[id] = entry['content'];
    addedIds.add(id);
    if (entry['special'] === true) specialIds.add(id);
  }

  // Text → id: added tokens first; the model's vocabulary object is already a map (Unigram's list is not).
  const addedByText = new Map<string, number>();
  for (const id of addedIds) addedByText.set(tokens[id]!, id);
  let unigramIds: Map<string, number> | undefined;
  const idOf = (token: string): number | undefined => {
    const added = addedByText.get(token);
    if (added !== undefined) return added;
    if (isRecord(vocab)) return Object.hasOwn(vocab, token) && typeof vocab[token] === 'number' ? (vocab[token] as number) : undefined;
    unigramIds ??= new Map(tokens.map((t, id) => [t ?? '', id]));
    return unigramIds.get(token);
  };

  const config = isRecord(tokenizerConfig) ? tokenizerConfig : {};
  // transformers makes these special whatever tokenizer.json says (@huggingface/tokenizers does too).
  // transformers also applies the special flags of `added_tokens_decoder` when it loads a fast tokenizer.
  const decoderEntries = config['added_tokens_decoder'];
  if (isRecord(decoderEntries)) {
    for (const [key, entry] of Object.entries(decoderEntries)) {
      const id = Number(key);
      if (isRecord(entry) && entry['special'] === true && Number.isInteger(id) && tokens[id] === entry['content']) specialIds.add(id);
    }
  }
  const extra = config['additional_special_tokens'];
  if (Array.isArray(extra)) {
    for (const token of extra) {
      const id = typeof token === 'string' ? idOf(token) : isRecord(token) && typeof token['content'] === 'string' ? idOf(token['content']) : undefined;
      if (id !== undefined) specialIds.add(id);
    }
  }

  const plan = decoderPlan(tokenizerJson['decoder']);
  if (typeof plan === 'string') return fail(plan);

  const size = tokens.length;
  const flags = new Uint8Array(size);
  const offsets = new Uint32Array(size + 1);
  let bytes = new Uint8Array(size * 8);
  let total = 0;
  for (let id = 0; id < size; id++) {
    offsets[id] = total;
    const token = tokens[id];
    if (token === undefined) continue;
    const isAdded = addedIds.has(id);
    const piece = runSteps(plan.steps, token, isAdded, false);
    const most = 'bytes' in piece ? piece.bytes.length : piece.text.length * 3;
    if (total + most > bytes.length) {
      const grown = new Uint8Array(Math.max(bytes.length * 2, total + most));
      grown.set(bytes.subarray(0, total));
      bytes = grown;
    }
    const start = total;
    if ('bytes' in piece) {
      bytes.set(piece.bytes, total);
      total += piece.bytes.length;
    } else {
      total = writeUtf8(piece.text, bytes, total);
    }
    let f = TOKEN_KNOWN;
    if (isAdded) f |= TOKEN_ADDED;
    if (specialIds.has(id)) f |= TOKEN_SPECIAL;
    if (endsOnBoundary(bytes, start, total)) f |= TOKEN_WHOLE;
    if (plan.firstDiffers && !equalBytes(bytes.subarray(start, total), pieceBytes(runSteps(plan.steps, token, isAdded, true)))) {
      f |= TOKEN_FIRST_DIFFERS;
    }
    flags[id] = f;
  }
  offsets[size] = total;
  bytes = bytes.slice(0, total);

  const firstBytes = new Map<number, Uint8Array>();
  const wholeText: (string | undefined)[] = new Array(size);
  const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  const tokenId = (value: unknown): number | undefined => {
    const text = typeof value === 'string' ? value : isRecord(value) && typeof value['content'] === 'string' ? value['content'] : undefined;
    return text === undefined ? undefined : idOf(text);
  };
  const eos = new Set<number>();
  const configEos = tokenId(config['eos_token']);
  if (configEos !== undefined) eos.add(configEos);
  const generation = isRecord(generationConfig) ? generationConfig['eos_token_id'] : undefined;
  for (const id of Array.isArray(generation) ? generation : [generation]) {
    if (typeof id === 'number' && Number.isInteger(id) && id >= 0) eos.add(id);
  }

  const vocabulary: Vocabulary = {
    size,
    bytes,
    offsets,
    flags,
    specialIds,
    eosTokenIds: [...eos],
    bosTokenId: tokenId(config['bos_token']),
    stripStart: plan.stripStart,
    stripEnd: plan.stripEnd,
    tokenOf: (id) => tokens[id],
    idOf,
    firstBytesOf(id) {
      const flag = flags[id] ?? 0;
      if ((flag & TOKEN_FIRST_DIFFERS) === 0) return bytes.subarray(offsets[id] ?? 0, offsets[id + 1] ?? 0);
      let cached = firstBytes.get(id);
      if (cached === undefined) {
        cached = pieceBytes(runSteps(plan.steps, tokens[id]!, (flag & TOKEN_ADDED) !== 0, true));
        firstBytes.set(id, cached);
      }
      return cached;
    },
    wholeTextOf(id) {
      let text = wholeText[id];
      if (text === undefined) {
        text = decoder.decode(bytes.subarray(offsets[id]!, offsets[id + 1]!));
        wholeText[id] = text;
      }
      return text;
    },
  };
  return { ok: true, vocabulary };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
