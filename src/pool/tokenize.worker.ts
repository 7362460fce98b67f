// Pool thread entry: loads every served model's tokenizer once, then renders, tokenizes and block-hashes each job it is sent.
import { Tokenizer } from '@huggingface/tokenizers';
import { chainBlockHashes, chainRoot, rootHash } from './block-hash.ts';
import { loadChatTemplate, type ChatTemplate } from './chat-template.ts';
import { encodeJob } from './encode-job.ts';
import { decodeFrame, encodeFrame, type FrameIds, type FromThread, type LoadedTokenizerInfo, type PoolJob, type ToThread, type TokenizeJob } from './protocol.ts';
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

type Encoded = { ok: true; ids: Uint32Array } | { ok: false; error: string };

/** One per served model, in the init's order (a job names its tokenizer by index). */
let loaded: readonly Loaded[] = [];

function send(message: FromThread, hashes?: Float64Array, ids?: FrameIds): void {
  const frame = encodeFrame(message, hashes, ids);
  postMessage(frame, [frame]);
}

// Installed before anything can await, so no message is dropped (Bun delivers as soon as the script ran).
self.onmessage = (event: MessageEvent<ArrayBuffer>) => {
  const { message } = decodeFrame<ToThread>(event.data);
  if (message.t === 'init') init(message.tokenizers, message.blockSize, message.nice);
  else run(message.id, message.attempt, message.tokenizer, message.job, message.returnIds);
};

/**
 * Loads every model's tokenizer before taking a job: a file that does not load fails the start-up (exit 2) rather
 * than a request later, and no request pays a cold load (~0.3 s for a 128k vocabulary).
 */
function init(all: readonly TokenizerFiles[], blockSize: number, nice: number): void {
  const started = performance.now();
  const niceWarning = lowerThreadPriority(nice);
  const out: Loaded[] = [];
  const infos: LoadedTokenizerInfo[] = [];
  for (const files of all) {
    const data = readTokenizerFiles(files);
    if (!data.ok) return send({ t: 'init-failed', error: data.error });
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(data.value.tokenizer, data.value.config);
    } catch (error) {
      return send({
        t: 'init-failed',
        error: `${files.flag} ${files.given}: ${files.tokenizerJson}: the tokenizer cannot be built (${(error as Error).message})`,
      });
    }
    const { template, warnings } = loadChatTemplate(data.value.config, data.value.chatTemplateOverride);
    const one = { tokenizer, template, blockSize, defaultRoot: rootHash() };
    warmUp(one);
    out.push(one);
    infos.push({ templateSource: template.source, warnings });
  }
  loaded = out;
  if (niceWarning !== undefined && infos[0] !== undefined) infos[0] = { ...infos[0], warnings: [...infos[0].warnings, niceWarning] };
  send({ t: 'ready', loadMs: performance.now() - started, loaded: infos });
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

function run(id: number, attempt: number, which: number, job: PoolJob, returnIds: boolean): void {
  if (job.kind === 'crash') {
    if (attempt <= job.onAttempts) {
      if (job.how === 'exit') process.exit(70);
      throw new Error(`test crash on attempt ${attempt}`);
    }
    if (!job.then) return send({ t: 'done', id, tokenCount: 0, encodeMs: 0 });
    return run(id, attempt, which, job.then, returnIds);
  }
  const state = loaded[which];
  if (state === undefined) return send({ t: 'failed', id, error: `pool thread has no tokenizer number ${which} loaded` });
  const started = performance.now();
  let encoded: Encoded;
  try {
    encoded = encode(state, job);
  } catch (error) {
    encoded = { ok: false, error: `tokenization failed: ${(error as Error).message}` };
  }
  if (!encoded.ok) return send({ t: 'failed', id, error: encoded.error });
  const root = job.cacheSalt === undefined && job.loraName === undefined ? state.defaultRoot : chainRoot(job.loraName, job.cacheSalt);
  const hashes = chainBlockHashes(encoded.ids, state.blockSize, root);
  // The ids go back as a typed array and as protobuf varints, both viewed in place by the router thread.
  const ids = returnIds ? { ids: encoded.ids, packed: packedVarints(encoded.ids) } : undefined;
  const encodeMs = performance.now() - started;
  send({ t: 'done', id, tokenCount: encoded.ids.length, encodeMs }, hashes, ids);
}

function encode({ tokenizer, template }: Loaded, job: TokenizeJob): Encoded {
  const encoded = encodeJob(job, template, (text, addSpecialTokens) => tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids);
  return encoded.ok ? { ok: true, ids: toIds(encoded.ids) } : encoded;
}

function toIds(ids: readonly number[] | readonly bigint[]): Uint32Array {
  const out = new Uint32Array(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = Number(ids[i]);
  return out;
}
