// Messages between the router thread and the pool threads, and their framing (msgpackr, transferred buffers).
import { Packr, Unpackr } from 'msgpackr';
import type { TokenizerFiles } from './tokenizer-files.ts';

/** A chat request, rendered with the model's chat template and then tokenized (vLLM chat semantics). */
export interface ChatJob {
  readonly kind: 'chat';
  readonly messages: readonly unknown[];
  readonly tools?: readonly unknown[] | null | undefined;
  readonly documents?: readonly unknown[] | null | undefined;
  /** Default true, as in vLLM. */
  readonly addGenerationPrompt?: boolean | undefined;
  readonly continueFinalMessage?: boolean | undefined;
  /** Default false for chat, as in vLLM (the template writes the BOS token itself). */
  readonly addSpecialTokens?: boolean | undefined;
  readonly templateKwargs?: Readonly<Record<string, unknown>> | undefined;
  /** vLLM `cache_salt`: requests with different salts never share cached blocks. */
  readonly cacheSalt?: string | undefined;
  /** The LoRA adapter the request names: its blocks chain apart from the base model's (pool/block-hash.ts chainRoot). */
  readonly loraName?: string | undefined;
}

/** A completion prompt: a string, token ids, or a batch of either (the first prompt is hashed). */
export interface CompletionJob {
  readonly kind: 'completion';
  readonly prompt: string | readonly string[] | readonly number[] | readonly (readonly number[])[];
  /** Default true for completions, as in vLLM. */
  readonly addSpecialTokens?: boolean | undefined;
  readonly cacheSalt?: string | undefined;
  readonly loraName?: string | undefined;
}

/**
 * Test-only: makes the pool thread die (`process.exit` or an uncaught throw) while the job's attempt
 * number is at most `onAttempts`, then run `then` (or answer an empty result) on a later attempt.
 */
export interface CrashJob {
  readonly kind: 'crash';
  readonly how: 'exit' | 'throw';
  readonly onAttempts: number;
  readonly then?: TokenizeJob | undefined;
}

export type TokenizeJob = ChatJob | CompletionJob;
export type PoolJob = TokenizeJob | CrashJob;

/** What a pool thread reports of one tokenizer it loaded. */
export interface LoadedTokenizerInfo {
  /** `tokenizer_config.json`, a template file, or `none`. */
  readonly templateSource: string;
  readonly warnings: readonly string[];
}

/** A tokenizer's files and the slot it takes in every thread. */
export interface SlotFiles {
  readonly slot: number;
  readonly files: TokenizerFiles;
}

/** Router thread → pool thread. */
export type ToThread =
  /** Every served model's tokenizer files, loaded at once, each in its slot (a job names its tokenizer by slot). */
  | { readonly t: 'init'; readonly tokenizers: readonly SlotFiles[]; readonly blockSize: number; readonly nice: number }
  /** One more tokenizer, loaded at run time into `slot` (a gRPC endpoint's GetTokenizer); answered `added` or `add-failed`. */
  | { readonly t: 'add'; readonly slot: number; readonly files: TokenizerFiles }
  /** Forget the tokenizer in `slot` (an add that failed on another thread). */
  | { readonly t: 'drop'; readonly slot: number }
  | {
      readonly t: 'job';
      readonly id: number;
      /** The slot of the tokenizer (and chat template) the job is for. */
      readonly tokenizer: number;
      /** 1 on the first try, incremented each time the job is re-sent after a thread died. */
      readonly attempt: number;
      readonly job: PoolJob;
      readonly returnIds: boolean;
      readonly returnText?: boolean;
    };

/** Pool thread → router thread. `done` frames carry the block hashes and ids after the header (see encodeFrame). */
export type FromThread =
  | { readonly t: 'ready'; readonly loadMs: number; readonly loaded: readonly LoadedTokenizerInfo[] }
  | { readonly t: 'init-failed'; readonly error: string }
  | { readonly t: 'added'; readonly slot: number; readonly loadMs: number; readonly info: LoadedTokenizerInfo }
  | { readonly t: 'add-failed'; readonly slot: number; readonly error: string }
  /** `text`: the rendered prompt, when the job asked for it (vLLM's `return_prompt_text`). */
  | { readonly t: 'done'; readonly id: number; readonly tokenCount: number; readonly encodeMs: number; readonly text?: string }
  | { readonly t: 'failed'; readonly id: number; readonly error: string };

/** A prompt's token ids, and the same ids as protobuf packed varints (src/wire/protobuf-varints.ts). */
export interface FrameIds {
  readonly ids: Uint32Array;
  readonly packed: Uint8Array;
}

// One Packr per thread (module scope is per thread). It writes into a reused internal buffer, so a frame
// is copied out into its own ArrayBuffer, which is then transferred (moved, not cloned) by postMessage.
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });
/** u32 LE header length, u32 LE id count + 1 (0: no ids), u32 LE packed-varint length. */
const PREFIX = 12;

/**
 * Frame layout: the prefix, the msgpack header, zero padding to 8 bytes, then the block hashes as little-endian
 * float64, the ids as little-endian uint32, then their packed varints. The receiver views all three in place
 * (no copy, no JS array: a 33k-id prompt decoded from msgpack took ~1 ms of the event loop and made a 260 KB array
 * for the GC).
 */
export function encodeFrame(message: ToThread | FromThread, hashes?: Float64Array, ids?: FrameIds): ArrayBuffer {
  const header = packr.pack(message);
  const hashesAt = align8(PREFIX + header.length);
  const hashBytes = hashes?.byteLength ?? 0;
  const idsAt = hashesAt + hashBytes;
  const packedAt = idsAt + (ids?.ids.byteLength ?? 0);
  const size = hashBytes === 0 && ids === undefined ? PREFIX + header.length : packedAt + (ids?.packed.byteLength ?? 0);
  const buffer = new ArrayBuffer(size);
  const prefix = new DataView(buffer);
  prefix.setUint32(0, header.length, true);
  prefix.setUint32(4, ids === undefined ? 0 : ids.ids.length + 1, true);
  prefix.setUint32(8, ids?.packed.byteLength ?? 0, true);
  new Uint8Array(buffer, PREFIX, header.length).set(header);
  if (hashes && hashBytes > 0) new Float64Array(buffer, hashesAt, hashes.length).set(hashes);
  if (ids !== undefined) {
    new Uint32Array(buffer, idsAt, ids.ids.length).set(ids.ids);
    new Uint8Array(buffer, packedAt, ids.packed.byteLength).set(ids.packed);
  }
  return buffer;
}

export function decodeFrame<T extends ToThread | FromThread>(buffer: ArrayBuffer): { message: T; hashes: Float64Array; ids?: FrameIds } {
  const prefix = new DataView(buffer);
  const headerLength = prefix.getUint32(0, true);
  const idSlot = prefix.getUint32(4, true);
  const packedLength = prefix.getUint32(8, true);
  const message = unpackr.unpack(new Uint8Array(buffer, PREFIX, headerLength)) as T;
  const hashesAt = align8(PREFIX + headerLength);
  const idCount = idSlot === 0 ? 0 : idSlot - 1;
  const tail = buffer.byteLength > hashesAt ? buffer.byteLength - hashesAt : 0;
  const count = (tail - idCount * 4 - packedLength) / 8;
  const hashes = new Float64Array(buffer, count > 0 ? hashesAt : 0, count);
  if (idSlot === 0) return { message, hashes };
  const idsAt = hashesAt + count * 8;
  return { message, hashes, ids: { ids: new Uint32Array(buffer, idsAt, idCount), packed: new Uint8Array(buffer, idsAt + idCount * 4, packedLength) } };
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/**
 * The pool job for an OpenAI request body, or undefined when the route is not tokenized
 * (`/v1/chat/completions` → chat, `/v1/completions` → completion; vLLM's request fields and defaults).
 */
export function jobFromBody(route: string, body: Readonly<Record<string, unknown>> | undefined): TokenizeJob | undefined {
  if (!body) return undefined;
  const cacheSalt = typeof body.cache_salt === 'string' ? body.cache_salt : undefined;
  const flag = (key: string): boolean | undefined => (typeof body[key] === 'boolean' ? (body[key] as boolean) : undefined);
  if (route.endsWith('/chat/completions')) {
    if (!Array.isArray(body.messages)) return undefined;
    const given = body.chat_template_kwargs;
    const user = typeof given === 'object' && given !== null && !Array.isArray(given) ? (given as Record<string, unknown>) : undefined;
    // vLLM's build_chat_params: reasoning_effort is a template variable, and turns thinking on or off unless the
    // request's kwargs say.
    const effort = typeof body.reasoning_effort === 'string' ? body.reasoning_effort : undefined;
    const kwargs = effort === undefined ? user : { ...user, reasoning_effort: effort, ...(user?.enable_thinking === undefined ? { enable_thinking: effort !== 'none' } : {}) };
    return {
      kind: 'chat',
      messages: body.messages,
      tools: Array.isArray(body.tools) ? body.tools : null,
      documents: Array.isArray(body.documents) ? body.documents : null,
      addGenerationPrompt: flag('add_generation_prompt'),
      continueFinalMessage: flag('continue_final_message'),
      addSpecialTokens: flag('add_special_tokens'),
      templateKwargs: kwargs,
      cacheSalt,
    };
  }
  if (route.endsWith('/completions')) {
    const prompt = body.prompt;
    const valid = typeof prompt === 'string' || (Array.isArray(prompt) && prompt.length > 0);
    if (!valid) return undefined;
    return { kind: 'completion', prompt: prompt as CompletionJob['prompt'], addSpecialTokens: flag('add_special_tokens'), cacheSalt };
  }
  return undefined;
}
