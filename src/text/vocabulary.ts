// A tokenizer's output side, precomputed: token id → the bytes its text contributes, special and eos ids.
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

type Piece = { text: string } | { bytes: Uint8Array };

/** A per-token decoder step; `first` is whether the token is the first of the text. */
type TokenStep = (piece: Piece, added: boolean, first: boolean) => Piece;

interface DecoderPlan {
  readonly steps: readonly TokenStep[];
  readonly firstDiffers: boolean;
  readonly stripStart: { content: string; count: number } | undefined;
  readonly stripEnd: { content: string; count: number } | undefined;
}

const utf8 = new TextEncoder();

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

function runSteps(steps: readonly TokenStep[], token: string, added: boolean, first: boolean): Piece {
  let piece: Piece = { text: token };
  for (const step of steps) piece = step(piece, added, first);
  return piece;
}

function pieceBytes(piece: Piece): Uint8Array {
  return 'bytes' in piece ? piece.bytes : utf8.encode(piece.text);
}

/** Turns the `decoder` of tokenizer.json into per-token steps and whole-text rules, or says why it cannot. */
function decoderPlan(decoder: unknown): DecoderPlan | string {
  if (decoder === null || decoder === undefined) {
    return 'no "decoder": the text of the tokens cannot be told (a tokenizer for generation has one)';
  }
  const flat: Record<string, unknown>[] = [];
  const flatten = (d: unknown): string | undefined => {
    if (!isRecord(d)) return 'a "decoder" entry is not an object';
    if (d['type'] === 'Sequence') {
      const list = d['decoders'];
      if (!Array.isArray(list)) return 'a Sequence decoder has no "decoders" array';
      for (const inner of list) {
        const problem = flatten(inner);
        if (problem) return problem;
      }
      return undefined;
    }
    flat.push(d);
    return undefined;
  };
  const problem = flatten(decoder);
  if (problem) return problem;

  const steps: TokenStep[] = [];
  let fused = false;
  let firstDiffers = false;
  let stripStart: DecoderPlan['stripStart'];
  let stripEnd: DecoderPlan['stripEnd'];
  for (const d of flat) {
    const type = d['type'];
    if (fused) {
      // After Fuse there is one string: only Strip (its ends) can be kept as a rule on the stream.
      if (type === 'Strip') {
        const content = typeof d['content'] === 'string' ? d['content'] : ' ';
        const start = Number(d['start'] ?? 0);
        const stop = Number(d['stop'] ?? 0);
        if (start > 0) stripStart = { content, count: start };
        if (stop > 0) stripEnd = { content, count: stop };
        continue;
      }
      if (type === 'Fuse') continue;
      return `decoder ${String(type)} after Fuse is not supported`;
    }
    switch (type) {
      case 'ByteLevel':
        steps.push(byteLevelStep);
        break;
      case 'ByteFallback':
        steps.push(byteFallbackStep);
        break;
      case 'Replace': {
        const pattern = d['pattern'];
        const content = typeof d['content'] === 'string' ? d['content'] : '';
        if (isRecord(pattern) && typeof pattern['String'] === 'string') {
          const from = pattern['String'];
          steps.push(textStep((text) => text.replaceAll(from, content)));
        } else if (isRecord(pattern) && typeof pattern['Regex'] === 'string') {
          const regex = new RegExp(pattern['Regex'], 'gu');
          steps.push(textStep((text) => text.replace(regex, content)));
        } else {
          return 'a Replace decoder has no String or Regex pattern';
        }
        break;
      }
      case 'Metaspace': {
        const replacement = typeof d['replacement'] === 'string' ? d['replacement'] : '\u2581';
        // The first token loses its leading space unless nothing was prepended when encoding
        // (`prepend_scheme: never`, or the legacy `add_prefix_space: false`).
        const prepended = d['prepend_scheme'] !== 'never' && d['add_prefix_space'] !== false;
        firstDiffers ||= prepended;
        steps.push((piece, _added, first) => {
          if ('bytes' in piece) return piece;
          const text = piece.text.replaceAll(replacement, ' ');
          return { text: first && prepended && text.startsWith(' ') ? text.slice(1) : text };
        });
        break;
      }
      case 'Strip': {
        // Before Fuse, Strip works on each token.
        const content = typeof d['content'] === 'string' ? d['content'] : ' ';
        const start = Number(d['start'] ?? 0);
        const stop = Number(d['stop'] ?? 0);
        steps.push(textStep((text) => stripEach(text, content, start, stop)));
        break;
      }
      case 'Fuse':
        fused = true;
        break;
      default:
        return `decoder type ${String(type)} is not supported (ByteLevel, ByteFallback, Metaspace, Replace, Strip, Fuse are)`;
    }
  }
  return { steps, firstDiffers, stripStart, stripEnd };
}

function textStep(transform: (text: string) => string): TokenStep {
  return (piece) => ('bytes' in piece ? piece : { text: transform(piece.text) });
}

const HEX_BYTE = /^<0x([0-9A-Fa-f]{2})>$/;

const byteFallbackStep: TokenStep = (piece) => {
  if ('bytes' in piece) return piece;
  const match = HEX_BYTE.exec(piece.text);
  return match ? { bytes: Uint8Array.of(Number.parseInt(match[1]!, 16)) } : piece;
};

const UNICODE_TO_BYTE = gpt2UnicodeToByte();

/** GPT-2's byte-level alphabet back to bytes; added tokens are plain text, as in @huggingface/tokenizers. */
const byteLevelStep: TokenStep = (piece, added) => {
  if ('bytes' in piece || added) return piece;
  const text = piece.text;
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const byte = code < UNICODE_TO_BYTE.length ? UNICODE_TO_BYTE[code]! : -1;
    // A character outside the alphabet: the token's own UTF-8, as huggingface/tokenizers does.
    if (byte < 0) return { bytes: utf8.encode(text) };
    out[i] = byte;
  }
  return { bytes: out };
};

/** bytes_to_unicode of GPT-2 (openai/gpt-2 `src/encoder.py`), inverted: code unit → byte, -1 outside it. */
function gpt2UnicodeToByte(): Int16Array {
  const table = new Int16Array(512).fill(-1);
  let shifted = 0;
  for (let byte = 0; byte < 256; byte++) {
    const printable = (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
    table[printable ? byte : 256 + shifted++] = byte;
  }
  return table;
}

function stripEach(text: string, content: string, start: number, stop: number): string {
  let from = 0;
  while (from < start && text[from] === content) from++;
  let to = text.length;
  for (let i = 0; i < stop && to > from && text[to - 1] === content; i++) to--;
  return text.slice(from, to);
}

/**
 * Whether `bytes[from, to)` ends on a UTF-8 character boundary: false when its last bytes are the start of a
 * character whose continuation bytes have not come yet (the detokenizer holds those back).
 */
export function endsOnBoundary(bytes: Uint8Array, from: number, to: number): boolean {
  return incompleteTail(bytes, from, to) === 0;
}

/** How many bytes at the end of `bytes[from, to)` are an unfinished UTF-8 character (0–3). */
export function incompleteTail(bytes: Uint8Array, from: number, to: number): number {
  for (let back = 1; back <= 3 && to - back >= from; back++) {
    const byte = bytes[to - back]!;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back for its lead
    const length = byte >= 0xf0 && byte <= 0xf4 ? 4 : byte >= 0xe0 && byte < 0xf0 ? 3 : byte >= 0xc2 && byte < 0xe0 ? 2 : 1;
    return length > back ? back : 0;
  }
  return 0;
}

/** Writes `text` as UTF-8 at `at` (room for 3 bytes a UTF-16 unit is there); returns the end. */
function writeUtf8(text: string, out: Uint8Array, at: number): number {
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      out[at++] = code;
      continue;
    }
    if (code < 0x800) {
      out[at++] = 0xc0 | (code >> 6);
      out[at++] = 0x80 | (code & 0x3f);
      continue;
    }
    if (code >= 0xd800 && code < 0xdc00 && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low < 0xe000) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
        out[at++] = 0xf0 | (code >> 18);
        out[at++] = 0x80 | ((code >> 12) & 0x3f);
        out[at++] = 0x80 | ((code >> 6) & 0x3f);
        out[at++] = 0x80 | (code & 0x3f);
        continue;
      }
    }
    if (code >= 0xd800 && code < 0xe000) code = 0xfffd; // a lone surrogate, as TextEncoder writes it
    out[at++] = 0xe0 | (code >> 12);
    out[at++] = 0x80 | ((code >> 6) & 0x3f);
    out[at++] = 0x80 | (code & 0x3f);
  }
  return at;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
