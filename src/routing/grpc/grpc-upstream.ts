// The upstream of a grpc:// endpoint: the router is the OpenAI server. It turns a chat or completions request into
// an engine generation, streams the engine's tokens back as vLLM's OpenAI server would (SSE or one JSON body), and
// aborts the engine's request when the client leaves. Answers go through the same relay and accounting as HTTP.
import type { EngineModelInfo, GrpcEngineClient, Outcome } from '../../grpc/engine-client.ts';
import type { GrpcEngines } from '../../grpc/engines.ts';
import type { GenerationEvent, GenerationRequest, TokenIds } from '../../grpc/generation.ts';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import { errorResponse, routerError, type RouterError } from '../../wire/errors.ts';
import { beforeFirstTokenError, engineErrorResponse, grpcCodeName } from './grpc-errors.ts';
import type { Upstream, UpstreamCall } from '../upstream.ts';
import type { ToolCallFormat } from '../../text/tool-calls.ts';
import { completionPrompts } from './completion-prompts.ts';
import { runGeneration, type RunPrompt, type ToolCallMode } from './generation-answer.ts';
import type { ModelText } from './model-text.ts';
import { openAiGeneration, type OpenAiGeneration } from './openai-request.ts';
import { uncarriedField } from './uncarried-fields.ts';
import { decodeIds } from '../../text/token-text.ts';
import type { ToolChoice } from './tool-choice.ts';

/** The routes a gRPC endpoint serves; any other goes to an HTTP endpoint of the fleet (or is a 501). */
export const GRPC_ROUTES: ReadonlySet<string> = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings']);

export interface GrpcUpstreamDeps {
  readonly engines: GrpcEngines;
  readonly model: ModelText;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Timeout of the control calls (protocol probe, model info). */
  readonly controlTimeoutMs: number;
  /** Token ids of a text (the tokenizer pool), for prompts the router did not tokenize before the pick. */
  readonly tokenize?: (text: string, addSpecialTokens: boolean) => Promise<readonly number[] | RouterError>;
  /** A chat request rendered with the model's template and tokenized (the pool), when not done before the pick. */
  readonly tokenizeChat?: (body: Readonly<Record<string, unknown>>) => Promise<readonly number[] | RouterError>;
  /** The same with the rendered text (`return_prompt_text`). */
  readonly renderChat?: (body: Readonly<Record<string, unknown>>) => Promise<{ readonly ids: readonly number[]; readonly text: string } | RouterError>;
}

export function createGrpcUpstream(deps: GrpcUpstreamDeps): Upstream {
  const infos = new Map<string, Promise<Outcome<EngineModelInfo>>>();
  const modelInfo = (client: GrpcEngineClient): Promise<Outcome<EngineModelInfo>> => {
    let info = infos.get(client.target);
    if (info === undefined) {
      info = client.modelInfo(deps.controlTimeoutMs).then((got) => {
        if (!got.ok) infos.delete(client.target);
        return got;
      });
      infos.set(client.target, info);
    }
    return info;
  };
  return {
    async send(call: UpstreamCall): Promise<Response | RouterError> {
      const url = call.endpoint.url;
      const client = deps.engines.of(url);
      const protocol = await client.protocol(deps.controlTimeoutMs);
      if (!protocol.ok) return beforeFirstTokenError(url, protocol.code, protocol.message);
      const info = await modelInfo(client);
      if (!info.ok) return beforeFirstTokenError(url, info.code, info.message);
      const route = call.route ?? '';
      const body = call.json;
      if (body === undefined) return routerError('invalid_body', 'The request body must be a JSON object');
      const served = info.value.servedModelName;
      if (typeof body.model === 'string' && body.model !== served && !info.value.aliases.includes(body.model))
        return engineErrorResponse(404, 'NotFoundError', `The model \`${body.model}\` does not exist.`, 'model');
      const requestId = call.headers.get('x-request-id') ?? crypto.randomUUID().replaceAll('-', '');
      if (route === '/v1/embeddings') return embed(deps, client, url, body, served, requestId, call);
      const chat = route === '/v1/chat/completions';
      const asked = openAiGeneration(body, chat, { ...info.value.defaultSampling, ...deps.model.defaults });
      if ('isRouterError' in asked) return errorResponse(asked, requestId);
      const prompts = await promptsOf(deps, call, body, chat, protocol.value, asked.returnPromptText);
      if ('isRouterError' in prompts) return prompts;
      const textPrompt = prompts.some((p) => p.ids === undefined);
      const refused = uncarriedField(body, asked, protocol.value, textPrompt);
      if (refused !== undefined) return errorResponse(refused, requestId);
      if (protocol.value === 'vllm-engine' && deps.model.vocab === undefined)
        return routerError('not_implemented', `gRPC engine ${url} sends token ids: the router needs the model's tokenizer to answer (--model-path or --tokenizer-path)`);
      const context = info.value.maxContextLength;
      // vLLM's ids: `chatcmpl-<base>` and `cmpl-<base>`; the engine's request for prompt i is `cmpl-<base>-i`.
      const responseId = `${chat ? 'chatcmpl' : 'cmpl'}-${requestId}`;
      const runs: RunPrompt[] = [];
      for (const [index, given] of prompts.entries()) {
        const ids = given.ids === undefined ? undefined : truncated(given.ids, asked.truncate, context);
        const promptLength = ids?.length ?? 0;
        const maxTokens = asked.sampling.maxTokens ?? (context !== undefined ? context - promptLength : undefined);
        if (maxTokens === undefined) return routerError('invalid_body', 'max_tokens is required: the engine does not report its context length', { param: 'max_tokens' });
        if (context !== undefined && ids !== undefined && promptLength + maxTokens > context) {
          const message =
            `This model's maximum context length is ${context} tokens. However, you requested ${promptLength + maxTokens} tokens ` +
            `(${promptLength} in the messages, ${maxTokens} in the completion). Please reduce the length of the messages or completion.`;
          return engineErrorResponse(400, 'BadRequestError', message, null);
        }
        if (maxTokens < 1) return engineErrorResponse(400, 'BadRequestError', `The prompt (${promptLength} tokens) fills the model's context of ${context} tokens.`, null);
        let echoText: string | undefined;
        if (asked.echo) {
          // vLLM echoes a text prompt as given, and token ids as the tokenizer decodes them.
          // With `return_token_ids` vLLM echoes no text (the ids say it).
          if (asked.returnTokenIds) echoText = '';
          else if (given.text !== undefined) echoText = given.text;
          else if (deps.model.vocab !== undefined) echoText = decodeIds(deps.model.vocab, Array.from(ids ?? []), { skipSpecialTokens: false });
          else return errorResponse(routerError('invalid_body', 'echo of a token-id prompt needs the router to decode it: start it with --model-path or --tokenizer-path', { param: 'echo' }), requestId);
        }
        const request: GenerationRequest = {
          requestId: chat ? responseId : `${responseId}-${index}`,
          model: served,
          prompt:
            ids !== undefined
              ? { ids, ...(given.packedIds !== undefined && ids === given.ids ? { packedIds: given.packedIds } : {}) }
              : { text: given.text ?? '' },
          sampling: {
            ...asked.sampling,
            maxTokens,
            // A text prompt (vllm.Inference without a tokenizer) is truncated by the engine; ids by the router.
            ...(ids === undefined && asked.truncate !== undefined && asked.truncate.tokens > 0 ? { truncatePromptTokens: asked.truncate.tokens } : {}),
          },
          ...(call.endpoint.dpRank !== undefined ? { dpRank: call.endpoint.dpRank } : {}),
          ...(asked.cacheSalt !== undefined ? { cacheSalt: asked.cacheSalt } : {}),
          ...(asked.priority !== undefined ? { priority: asked.priority } : {}),
          ...(asked.sessionId !== undefined ? { sessionId: asked.sessionId } : {}),
        };
        runs.push({ request, promptIds: ids ?? [], ...(echoText !== undefined ? { echoText } : {}), ...(given.rendered !== undefined ? { promptText: given.rendered } : {}) });
      }
      return runGeneration({
        client,
        endpoint: url,
        prompts: runs,
        asked,
        chat,
        head: { id: responseId, created: Math.floor(Date.now() / 1000), model: typeof body.model === 'string' ? body.model : served },
        vocab: protocol.value === 'vllm-engine' ? deps.model.vocab : undefined,
        tokenVocab: deps.model.vocab,
        reasoning: chat ? deps.model.reasoning : undefined,
        tools: chat ? toolCallModeOf(asked.toolChoice, deps.model.toolCalls) : undefined,
        signal: call.signal,
        timedOut: call.timedOut,
        metrics: deps.metrics,
        log: deps.log,
      });
    },
  };
}

/** "auto" parses the model's own format (when the router knows it); a forced choice reads the JSON it forced. */
function toolCallModeOf(choice: ToolChoice, format: ToolCallFormat | undefined): ToolCallMode | undefined {
  if (choice.kind === 'named') return { kind: 'named', name: choice.name };
  if (choice.kind === 'required') return { kind: 'required' };
  return choice.kind === 'auto' && format !== undefined ? { kind: 'parse', format } : undefined;
}

/** A prompt as the engine gets it: token ids (with the pool's packed varints), or text (vllm.Inference only). */
interface PromptInput {
  readonly ids?: TokenIds;
  readonly packedIds?: Uint8Array;
  readonly text?: string;
  /** A chat prompt as its template rendered it (`return_prompt_text`). */
  readonly rendered?: string;
}

/**
 * The prompts' token ids: tokenized before the pick (shared with cache_aware), by the pool now, or given as ids;
 * a batch of completion prompts is one each.
 */
async function promptsOf(
  deps: GrpcUpstreamDeps,
  call: UpstreamCall,
  body: Readonly<Record<string, unknown>>,
  chat: boolean,
  protocol: string,
  withText: boolean,
): Promise<PromptInput[] | RouterError> {
  if (chat && withText && deps.renderChat !== undefined) {
    // The rendered text is not kept by the tokenization before the pick: rendered again, with the same tokenizer.
    const got = await deps.renderChat(body);
    return 'isRouterError' in got ? got : [{ ids: got.ids, rendered: got.text }];
  }
  if (chat) {
    if (call.promptIds !== undefined) return [{ ids: call.promptIds, ...(call.promptPackedIds !== undefined ? { packedIds: call.promptPackedIds } : {}) }];
    if (deps.tokenizeChat === undefined)
      return routerError('not_implemented', 'gRPC endpoints need the router to render and tokenize chat prompts: start it with --model-path or --tokenizer-path');
    const ids = await deps.tokenizeChat(body);
    return Array.isArray(ids) ? [{ ids: ids as readonly number[] }] : (ids as RouterError);
  }
  const prompts = completionPrompts(body.prompt);
  if ('isRouterError' in prompts) return prompts;
  // A single text prompt was tokenized before the pick (the ids cache_aware routed on).
  if (call.promptIds !== undefined && prompts.length === 1 && prompts[0]!.text !== undefined)
    return [{ ids: call.promptIds, text: prompts[0]!.text, ...(call.promptPackedIds !== undefined ? { packedIds: call.promptPackedIds } : {}) }];
  const tokenize = deps.tokenize;
  if (tokenize === undefined && protocol !== 'vllm-inference' && prompts.some((p) => p.text !== undefined))
    return routerError('not_implemented', 'gRPC endpoints need the router to tokenize text prompts: start it with --model-path or --tokenizer-path');
  const addSpecialTokens = body.add_special_tokens !== false;
  const out = await Promise.all(
    prompts.map(async (p): Promise<PromptInput | RouterError> => {
      if (p.ids !== undefined) return { ids: p.ids };
      // vllm.Inference takes text and tokenizes it itself when the router has no tokenizer.
      if (tokenize === undefined) return { text: p.text };
      const ids = await tokenize(p.text, addSpecialTokens);
      return Array.isArray(ids) ? { ids: ids as readonly number[], text: p.text } : (ids as RouterError);
    }),
  );
  const failed = out.find((p): p is RouterError => 'isRouterError' in p);
  return failed ?? (out as PromptInput[]);
}

/** `truncate_prompt_tokens`: the last N ids (or the first, truncation_side "right"); -1 is the model's context. */
function truncated(ids: TokenIds, truncate: OpenAiGeneration['truncate'], context: number | undefined): TokenIds {
  if (truncate === undefined || truncate.tokens === 0) return ids;
  const limit = truncate.tokens === -1 ? context : truncate.tokens;
  if (limit === undefined || ids.length <= limit) return ids;
  return truncate.side === 'right' ? ids.slice(0, limit) : ids.slice(ids.length - limit);
}

async function embed(
  deps: GrpcUpstreamDeps,
  client: GrpcEngineClient,
  url: string,
  body: Readonly<Record<string, unknown>>,
  model: string,
  requestId: string,
  call: UpstreamCall,
): Promise<Response | RouterError> {
  const input = body.input;
  const inputs: (string | readonly number[])[] =
    typeof input === 'string' ? [input] : Array.isArray(input) && input.every((t) => Number.isInteger(t)) ? [input as number[]] : Array.isArray(input) ? (input as (string | number[])[]) : [];
  const data: Record<string, unknown>[] = [];
  let promptTokens = 0;
  for (const [index, one] of inputs.entries()) {
    let ids: readonly number[];
    if (typeof one === 'string') {
      if (deps.tokenize === undefined) return routerError('not_implemented', 'embeddings on gRPC endpoints need --model-path or --tokenizer-path to tokenize text input');
      const got = await deps.tokenize(one, true);
      if (!Array.isArray(got)) return got as RouterError;
      ids = got;
    } else if (Array.isArray(one) && one.every((t) => Number.isInteger(t))) ids = one;
    else return routerError('invalid_body', "'input' must be a string, a list of strings, or token ids", { param: 'input' });
    if (call.signal.aborted) return routerError('client_closed', 'Client closed the connection');
    const got = await client.embed(`embd-${requestId}-${index}`, ids, deps.controlTimeoutMs * 10);
    if (!got.ok) {
      deps.metrics.grpcErrors.inc({ worker: url, code: grpcCodeName(got.code) });
      return beforeFirstTokenError(url, got.code, got.message);
    }
    promptTokens += got.value.promptTokens;
    data.push({ index, object: 'embedding', embedding: got.value.embedding });
  }
  const answer = {
    id: `embd-${requestId}`,
    object: 'list',
    created: Math.floor(Date.now() / 1000),
    model: typeof body.model === 'string' ? body.model : model,
    data,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens, completion_tokens: 0, prompt_tokens_details: null },
  };
  return new Response(JSON.stringify(answer), { headers: { 'content-type': 'application/json' } });
}

export type { GenerationEvent };
