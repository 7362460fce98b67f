// The `decoder` of tokenizer.json as per-token steps and whole-text rules: what the decoder makes of one
// token (its bytes) and what works across tokens (Fuse then Strip: the first and last characters of the text).
// The steps are those of Hugging Face tokenizers (huggingface/tokenizers `tokenizers/src/decoders/`) as
// @huggingface/tokenizers implements them (`src/core/decoder/`).

export type Piece = { text: string } | { bytes: Uint8Array };

/** A per-token decoder step; `first` is whether the token is the first of the text. */
export type TokenStep = (piece: Piece, added: boolean, first: boolean) => Piece;

export interface DecoderPlan {
  readonly steps: readonly TokenStep[];
  readonly firstDiffers: boolean;
  readonly stripStart: { content: string; count: number } | undefined;
  readonly stripEnd: { content: string; count: number } | undefined;
}

const utf8 = new TextEncoder();

export function runSteps(steps: readonly TokenStep[], token: string, added: boolean, first: boolean): Piece {
  let piece: Piece = { text: token };
  for (const step of steps) piece = step(piece, added, first);
  return piece;
}

export function pieceBytes(piece: Piece): Uint8Array {
  return 'bytes' in piece ? piece.bytes : utf8.encode(piece.text);
}

/** Turns the `decoder` of tokenizer.json into per-token steps and whole-text rules, or says why it cannot. */
export function decoderPlan(decoder: unknown): DecoderPlan | string {
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

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
