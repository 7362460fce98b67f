// Pool thread entry: loads every served model's tokenizer once, then renders, tokenizes and block-hashes each job it is sent.
import { Tokenizer } from '@huggingface/tokenizers';
import { chainBlockHashes, chainRoot, rootHash } from './block-hash.ts';
import { loadChatTemplate, type ChatTemplate } from './chat-template.ts';
import { encodeJob } from './encode-job.ts';
import { decodeFrame, encodeFrame, type FrameIds, type FromThread, type LoadedTokenizerInfo, type PoolJob, type SlotFiles, type ToThread, type TokenizeJob } from './protocol.ts';
import { lowerThreadPriority } from './thread-priority.ts';
import { readTokenizerFiles, type TokenizerFiles } from './tokenizer-files.ts';
import { packedVarints } from '../wire/protobuf-varints.ts';

declare var self: Worker;

interface Loaded {
  readonly tokenizer: Tokenizer;
  readonly template: ChatTemplate;
  readonly blockSize: number;
  readonly defaultRoot: number;
}

type Encoded = { ok: true; ids: Uint32Array; text?: string } | { ok: false; error: string };

/** One per served model, by slot (a job names its tokenizer by slot; slots added at run time may leave holes). */
const loaded: (Loaded | undefined)[] = [];
let blockSize = 16;

function send(message: FromThread, hashes?: Float64Array, ids?: FrameIds): void {
  const frame = encodeFrame(message, hashes, ids);
  postMessage(frame, [frame]);
}

// Installed before anything can await, so no message is dropped (Bun delivers as soon as the script ran).
self.onmessage = (event: MessageEvent<ArrayBuffer>) => {
  const { message } = decodeFrame<ToThread>(event.data);
  switch (message.t) {
    case 'init':
      return init(message.tokenizers, message.blockSize, message.nice);
    case 'add':
      return add(message.slot, message.files);
    case 'drop':
      loaded[message.slot] = undefined;
      return;
    case 'job':
      return run(message.id, message.attempt, message.tokenizer, message.job, message.returnIds, message.returnText === true);
  }
};

/** One tokenizer and its chat template, warmed up; an error names the flag, the file and why. */
function load(files: TokenizerFiles): { ok: true; value: Loaded; info: LoadedTokenizerInfo } | { ok: false; error: string } {
  const data = readTokenizerFiles(files);
  if (!data.ok) return data;
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(data.value.tokenizer, data.value.config);
  } catch (error) {
    return { ok: false, error: `${files.flag} ${files.given}: ${files.tokenizerJson}: the tokenizer cannot be built (${(error as Error).message})` };
  }
  const { template, warnings } = loadChatTemplate(data.value.config, data.value.chatTemplateOverride);
  const one = { tokenizer, template, blockSize, defaultRoot: rootHash() };
  warmUp(one);
  return { ok: true, value: one, info: { templateSource: template.source, warnings } };
}

/**
 * Loads every model's tokenizer before taking a job: a file that does not load fails the start-up (exit 2) rather
 * than a request later, and no request pays a cold load (~0.3 s for a 128k vocabulary).
 */
function init(all: readonly SlotFiles[], size: number, nice: number): void {
  const started = performance.now();
  blockSize = size;
  const niceWarning = lowerThreadPriority(nice);
  const infos: LoadedTokenizerInfo[] = [];
  for (const { slot, files } of all) {
    const one = load(files);
    if (!one.ok) return send({ t: 'init-failed', error: one.error });
    loaded[slot] = one.value;
    infos.push(one.info);
  }
  if (niceWarning !== undefined && infos[0] !== undefined) infos[0] = { ...infos[0], warnings: [...infos[0].warnings, niceWarning] };
  send({ t: 'ready', loadMs: performance.now() - started, loaded: infos });
}

/** A tokenizer added at run time: a file that does not load is an answer, and the thread keeps serving. */
function add(slot: number, files: TokenizerFiles): void {
  const started = performance.now();
  let one: ReturnType<typeof load>;
  try {
    one = load(files);
  } catch (error) {
    one = { ok: false, error: `${files.tokenizerJson}: ${(error as Error).message}` };
  }
  if (!one.ok) return send({ t: 'add-failed', slot, error: one.error });
  loaded[slot] = one.value;
  send({ t: 'added', slot, loadMs: performance.now() - started, info: one.info });
}

/** The first encodes run cold (a 32K-token prompt takes ~4× longer); pay that before taking traffic. */
function warmUp(state: Loaded): void {
  const text = 'The quick brown fox, 1234 times: naïve café 東京 — jumps over the lazy dog.\n'.repeat(64);
  try {
    for (let i = 0; i < 3; i++) {
      encode(state, { kind: 'chat', messages: [{ role: 'system', content: text }, { role: 'user', content: text }] });
      encode(state, { kind: 'completion', prompt: text });
    }
  } catch {
    // A template that cannot render a plain conversation fails on real requests too, with a message.
  }
}

function run(id: number, attempt: number, which: number, job: PoolJob, returnIds: boolean, returnText = false): void {
  if (job.kind === 'crash') {
    if (attempt <= job.onAttempts) {
      if (job.how === 'exit') process.exit(70);
      throw new Error(`test crash on attempt ${attempt}`);
    }
    if (!job.then) return send({ t: 'done', id, tokenCount: 0, encodeMs: 0 });
    return run(id, attempt, which, job.then, returnIds, returnText);
  }
  const state = loaded[which];
  if (state === undefined) return send({ t: 'failed', id, error: `pool thread has no tokenizer in slot ${which}` });
  const started = performance.now();
  let encoded: Encoded;
  try {
    encoded = encode(state, job, returnText);
  } catch (error) {
    encoded = { ok: false, error: `tokenization failed: ${(error as Error).message}` };
  }
  if (!encoded.ok) return send({ t: 'failed', id, error: encoded.error });
  const root = job.cacheSalt === undefined && job.loraName === undefined ? state.defaultRoot : chainRoot(job.loraName, job.cacheSalt);
  const hashes = chainBlockHashes(encoded.ids, state.blockSize, root);
  // The ids go back as a typed array and as protobuf varints, both viewed in place by the router thread.
  const ids = returnIds ? { ids: encoded.ids, packed: packedVarints(encoded.ids) } : undefined;
  const encodeMs = performance.now() - started;
  send({ t: 'done', id, tokenCount: encoded.ids.length, encodeMs, ...(returnText && encoded.text !== undefined ? { text: encoded.text } : {}) }, hashes, ids);
}

function encode({ tokenizer, template }: Loaded, job: TokenizeJob, keepText = false): Encoded {
  const encoded = encodeJob(job, template, (text, addSpecialTokens) => tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids, keepText);
  return encoded.ok ? { ok: true, ids: toIds(encoded.ids), ...(encoded.text !== undefined ? { text: encoded.text } : {}) } : encoded;
}

function toIds(ids: readonly number[] | readonly bigint[]): Uint32Array {
  const out = new Uint32Array(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = Number(ids[i]);
  return out;
}
