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

/** Router thread → pool thread. */
export type ToThread =
  /** Every served model's tokenizer files, loaded at once; a job names one by its place in this list. */
  | { readonly t: 'init'; readonly tokenizers: readonly TokenizerFiles[]; readonly blockSize: number }
  | {
      readonly t: 'job';
      readonly id: number;
      /** Which of the init's tokenizers (and chat templates) the job is for. */
      readonly tokenizer: number;
      /** 1 on the first try, incremented each time the job is re-sent after a thread died. */
      readonly attempt: number;
      readonly job: PoolJob;
      readonly returnIds: boolean;
    };

/** Pool thread → router thread. `done` frames carry the block hashes after the header (see encodeFrame). */
export type FromThread =
  | { readonly t: 'ready'; readonly loadMs: number; readonly loaded: readonly LoadedTokenizerInfo[] }
  | { readonly t: 'init-failed'; readonly error: string }
  | {
      readonly t: 'done';
      readonly id: number;
      readonly tokenCount: number;
      readonly encodeMs: number;
      readonly ids?: readonly number[] | undefined;
    }
  | { readonly t: 'failed'; readonly id: number; readonly error: string };

// One Packr per thread (module scope is per thread). It writes into a reused internal buffer, so a frame
// is copied out into its own ArrayBuffer, which is then transferred (moved, not cloned) by postMessage.
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });
const HEADER_OFFSET = 4;

/**
 * Frame layout: u32 LE header length, msgpack header, zero padding to 8 bytes, then the block hashes as
 * little-endian float64 (so the receiver views them in place as a Float64Array, no copy).
 */
export function encodeFrame(message: ToThread | FromThread, hashes?: Float64Array): ArrayBuffer {
  const header = packr.pack(message);
  const hashesAt = align8(HEADER_OFFSET + header.length);
  const size = hashes && hashes.length > 0 ? hashesAt + hashes.byteLength : HEADER_OFFSET + header.length;
  const buffer = new ArrayBuffer(size);
  new DataView(buffer).setUint32(0, header.length, true);
  new Uint8Array(buffer, HEADER_OFFSET, header.length).set(header);
  if (hashes && hashes.length > 0) new Float64Array(buffer, hashesAt, hashes.length).set(hashes);
  return buffer;
}

export function decodeFrame<T extends ToThread | FromThread>(buffer: ArrayBuffer): { message: T; hashes: Float64Array } {
  const headerLength = new DataView(buffer).getUint32(0, true);
  const message = unpackr.unpack(new Uint8Array(buffer, HEADER_OFFSET, headerLength)) as T;
  const hashesAt = align8(HEADER_OFFSET + headerLength);
  const count = buffer.byteLength > hashesAt ? (buffer.byteLength - hashesAt) / 8 : 0;
  return { message, hashes: new Float64Array(buffer, count > 0 ? hashesAt : 0, count) };
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
    const kwargs = body.chat_template_kwargs;
    return {
      kind: 'chat',
      messages: body.messages,
      tools: Array.isArray(body.tools) ? body.tools : null,
      documents: Array.isArray(body.documents) ? body.documents : null,
      addGenerationPrompt: flag('add_generation_prompt'),
      continueFinalMessage: flag('continue_final_message'),
      addSpecialTokens: flag('add_special_tokens'),
      templateKwargs: typeof kwargs === 'object' && kwargs !== null && !Array.isArray(kwargs)
        ? (kwargs as Record<string, unknown>)
        : undefined,
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
