// A token cache in front of a Hugging Face tokenizer: text is cut at its added (special) tokens, and each
// piece between them is tokenized once and then looked up, so a chat's history costs nothing after its
// first turn and a shared document is tokenized once per engine.
//
// Why this equals tokenizing the whole text: the tokenizer itself first splits the text at added tokens and
// tokenizes each piece on its own (`encode_text` in @huggingface/tokenizers, as in the Rust `tokenizers`
// AddedVocabulary), so nothing crosses a special token. That holds only while no normalizer runs, no added
// token strips the text beside it (lstrip/rstrip) and no pre-tokenizer depends on the piece's position
// (Metaspace's prepend_scheme "first"); with any of those the cache is off and every text is tokenized whole.
// bench/sim/test/cached-encoder.test.ts checks the equality on chats, documents and special-token edges.
import type { Tokenizer } from '@huggingface/tokenizers';
import type { EncodeText } from '../../src/pool/encode-job.ts';

export interface CacheStats {
  /** Pieces found in the cache, and pieces tokenized. */
  hits: number;
  misses: number;
  /** Token ids held. */
  tokens: number;
  /** False when the tokenizer's configuration makes piecewise tokenizing unsafe (see the file comment). */
  piecewise: boolean;
}

export interface CachedEncoder {
  readonly encode: EncodeText;
  stats(): CacheStats;
}

interface AddedTokenJson {
  id: number;
  content: string;
  lstrip?: boolean;
  rstrip?: boolean;
  single_word?: boolean;
}

/** Why piecewise tokenizing would differ from whole-text tokenizing for this tokenizer, or null when it is safe. */
export function piecewiseHazard(json: Readonly<Record<string, unknown>>, config: Readonly<Record<string, unknown>>): string | null {
  if (json.normalizer !== null && json.normalizer !== undefined) return 'the tokenizer has a normalizer';
  if (JSON.stringify(json.pre_tokenizer ?? null).includes('"Metaspace"')) return 'a Metaspace pre-tokenizer depends on the piece position';
  if (config.remove_space === true || config.do_lowercase_and_remove_accent === true) return 'the config rewrites the text';
  const added = (json.added_tokens ?? []) as AddedTokenJson[];
  if (added.some((t) => t.lstrip === true || t.rstrip === true || t.single_word === true)) return 'an added token strips its neighbours';
  return null;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * `capacityTokens` bounds the ids held; the least recently used pieces go first. `json` and `config` are the
 * tokenizer.json and tokenizer_config.json the tokenizer was built from (for its added tokens and the hazards).
 */
export function createCachedEncoder(tokenizer: Tokenizer, json: Readonly<Record<string, unknown>>, config: Readonly<Record<string, unknown>>, capacityTokens: number): CachedEncoder {
  const whole: EncodeText = (text, addSpecialTokens) => tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  const added = ((json.added_tokens ?? []) as AddedTokenJson[]).filter((t) => t.content !== '');
  const stats: CacheStats = { hits: 0, misses: 0, tokens: 0, piecewise: piecewiseHazard(json, config) === null };
  if (!stats.piecewise) return { encode: whole, stats: () => ({ ...stats }) };

  const addedId = new Map(added.map((t) => [t.content, t.id]));
  // Longest first: at one position the tokenizer takes the longest added token that matches (a trie).
  const contents = [...addedId.keys()].sort((a, b) => b.length - a.length);
  const splitter = contents.length > 0 ? new RegExp(contents.map(escape).join('|'), 'g') : null;
  // What add_special_tokens puts around a single sequence (BOS before, EOS after…), found on a probe.
  const probe = whole('a', false);
  const framed = whole('a', true);
  const at = framed.findIndex((_, i) => probe.every((id, k) => framed[i + k] === id));
  const frame = at < 0 ? null : { before: framed.slice(0, at), after: framed.slice(at + probe.length) };

  const pieces = new Map<string, readonly number[]>();
  const piece = (text: string): readonly number[] => {
    const hit = pieces.get(text);
    if (hit !== undefined) {
      stats.hits++;
      pieces.delete(text); // re-inserted as the most recently used
      pieces.set(text, hit);
      return hit;
    }
    stats.misses++;
    const ids = whole(text, false);
    pieces.set(text, ids);
    stats.tokens += ids.length;
    for (const [key, old] of pieces) {
      if (stats.tokens <= capacityTokens || key === text) break;
      pieces.delete(key);
      stats.tokens -= old.length;
    }
    return ids;
  };

  const encode: EncodeText = (text, addSpecialTokens) => {
    if (addSpecialTokens && frame === null) return whole(text, true);
    const out: number[] = addSpecialTokens && frame !== null ? frame.before.slice() : [];
    const push = (ids: readonly number[]): void => {
      for (const id of ids) out.push(id);
    };
    let from = 0;
    if (splitter !== null) {
      for (const m of text.matchAll(splitter)) {
        if (m.index > from) push(piece(text.slice(from, m.index)));
        out.push(addedId.get(m[0]) as number);
        from = m.index + m[0].length;
      }
    }
    if (from < text.length) push(piece(from === 0 ? text : text.slice(from)));
    if (addSpecialTokens && frame !== null) push(frame.after);
    return out;
  };
  return { encode, stats: () => ({ ...stats }) };
}
