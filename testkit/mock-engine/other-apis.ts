// vLLM's other request APIs clients send through a router: Anthropic Messages (vllm/entrypoints/anthropic),
// speech to text (multipart, vllm/entrypoints/openai/speech_to_text), and the pooling routes /pooling, /classify
// and /score (vllm/entrypoints/pooling). Answers are small and deterministic; the model check is vLLM's.
import { SSE_CONTENT_TYPE, errorSpec, randomUuidHex, validationError } from '../vllm-wire.ts';
import type { EngineContext } from './context.ts';
import { untilAborted } from './generation.ts';
import { takeFailure } from './options.ts';
import { errorResponse, jsonResponse, resetResponse } from './reply.ts';
import { modelError } from './requests.ts';
import { splitWords } from './toy-tokenizer.ts';

const served = (ctx: EngineContext, model: string) => model === ctx.options.model || ctx.options.loras.includes(model);

/** Anthropic's error envelope, which vLLM's /v1/messages answers with. */
const anthropicError = (status: number, type: string, message: string) => jsonResponse({ type: 'error', error: { type, message } }, status);

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** POST /v1/messages: a text answer of `max_tokens` words (the engine's token list), streamed as Anthropic events when asked. */
export function serveMessages(ctx: EngineContext, body: Record<string, unknown>): Response {
  const model = typeof body.model === 'string' ? body.model : '';
  if (!served(ctx, model)) return anthropicError(404, 'not_found_error', `The model \`${model}\` does not exist.`);
  if (!Array.isArray(body.messages)) return anthropicError(400, 'invalid_request_error', 'messages: Field required');
  if (typeof body.max_tokens !== 'number') return anthropicError(400, 'invalid_request_error', 'max_tokens: Field required');
  const words = splitWords(ctx.options.tokens);
  const out = Array.from({ length: Math.max(0, Math.floor(body.max_tokens)) }, (_, i) => words[i % words.length]!);
  const id = `msg_${randomUuidHex()}`;
  const inputTokens = splitWords(JSON.stringify(body.messages)).length;
  if (body.stream !== true) {
    const message = { id, type: 'message', role: 'assistant', model, content: [{ type: 'text', text: out.join(' ') }], stop_reason: 'max_tokens', stop_sequence: null, usage: { input_tokens: inputTokens, output_tokens: out.length } };
    return jsonResponse(message);
  }
  let text = sse('message_start', { type: 'message_start', message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: inputTokens, output_tokens: 0 } } });
  text += sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
  out.forEach((w, i) => (text += sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: i === 0 ? w : ` ${w}` } })));
  text += sse('content_block_stop', { type: 'content_block_stop', index: 0 });
  text += sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'max_tokens', stop_sequence: null }, usage: { output_tokens: out.length } });
  text += sse('message_stop', { type: 'message_stop' });
  return new Response(text, { headers: { 'content-type': SSE_CONTENT_TYPE } });
}

/** POST /v1/audio/transcriptions and /translations: multipart with `file` and `model`; the "transcript" says how many bytes came. */
export async function serveSpeechToText(ctx: EngineContext, contentType: string, bytes: Uint8Array): Promise<Response> {
  const { options } = ctx;
  let form: Awaited<ReturnType<Response['formData']>>;
  try {
    form = await new Response(bytes, { headers: { 'content-type': contentType } }).formData();
  } catch {
    return errorResponse(validationError('There was an error parsing the body'), options.legacyErrors);
  }
  const file = form.get('file');
  if (!(file instanceof Blob)) return errorResponse(validationError('Field required', 'file'), options.legacyErrors);
  const model = form.get('model');
  if (typeof model === 'string' && !served(ctx, model)) return errorResponse(errorSpec(404, `The model \`${model}\` does not exist.`, 'model', 'NotFoundError'), options.legacyErrors);
  return jsonResponse({ text: `transcribed ${file.size} bytes`, usage: { type: 'duration', seconds: 1 } });
}

/** POST /pooling, /classify, /score, /v1/score; injected faults apply as on the other pooling routes. */
export async function servePoolingApis(ctx: EngineContext, req: Request, path: string, body: Record<string, unknown>): Promise<Response> {
  const { options } = ctx;
  const err = modelError(body, options);
  if (err) return errorResponse(err, options.legacyErrors);
  const failure = takeFailure(options);
  if (failure?.kind === 'hang' || failure?.kind === 'stall') await untilAborted([req.signal, ctx.stopSignal]);
  if (failure?.kind === 'reset') return resetResponse();
  if (failure?.kind === 'status') return errorResponse(errorSpec(failure.status, failure.message ?? 'injected failure'), options.legacyErrors);
  const head = { id: `${path === '/classify' ? 'classify' : path === '/pooling' ? 'pool' : 'score'}-${randomUuidHex()}`, object: 'list', created: Math.floor(Date.now() / 1000), model: typeof body.model === 'string' ? body.model : options.model };
  const usage = { prompt_tokens: 1, total_tokens: 1, completion_tokens: 0, prompt_tokens_details: null };
  if (path === '/pooling') return jsonResponse({ ...head, data: [{ index: 0, object: 'pooling', data: [0.5, 0.5] }], usage });
  if (path === '/classify') return jsonResponse({ ...head, data: [{ index: 0, label: 'LABEL_0', probs: [0.75, 0.25], num_classes: 2 }], usage });
  if (body.text_1 === undefined && body.queries === undefined) return errorResponse(validationError('Field required', 'text_1'), options.legacyErrors);
  return jsonResponse({ ...head, data: [{ index: 0, object: 'score', score: 0.5 }], usage });
}


/**
 * POST /v1/load_lora_adapter and /v1/unload_lora_adapter (vllm/entrypoints/serve/lora): the adapter joins or
 * leaves /v1/models at once; answers are vLLM's plain-text successes and its 400/404 errors.
 */
export function serveLoraUpdate(ctx: EngineContext, path: string, body: Record<string, unknown>): Response {
  const { options } = ctx;
  const name = typeof body.lora_name === 'string' ? body.lora_name : '';
  if (name === '') return errorResponse(validationError('Field required', 'lora_name'), options.legacyErrors);
  const loaded = options.loras.includes(name);
  if (path === '/v1/load_lora_adapter') {
    if (loaded) return errorResponse(errorSpec(400, `The lora adapter '${name}' has already been loaded. If you want to load the adapter in place, set 'load_inplace' to True.`, 'lora_name'), options.legacyErrors);
    ctx.set({ loras: [...options.loras, name] });
    return new Response(`Success: LoRA adapter '${name}' added successfully.`);
  }
  if (!loaded) return errorResponse(errorSpec(404, `The lora adapter '${name}' cannot be found.`, 'lora_name', 'NotFoundError'), options.legacyErrors);
  ctx.set({ loras: options.loras.filter((l) => l !== name) });
  return new Response(`Success: LoRA adapter '${name}' removed successfully.`);
}
