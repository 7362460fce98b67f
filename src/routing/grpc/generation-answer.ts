// One generation on a gRPC engine, answered to the client as vLLM's OpenAI server answers it: the SSE sequence
// (role chunks, deltas, a finish chunk per choice, the usage chunk, [DONE]) or one JSON body. Resolves once the
// first tokens arrived (streams) or the answer is whole, so a failure before the first token is retried elsewhere.
import type { GrpcEngineClient } from '../../grpc/engine-client.ts';
import type { GenerationCall, GenerationEvent, GenerationRequest, PromptTokenLogprob, TokenIds, TokenLogprob } from '../../grpc/generation.ts';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import { createReasoningParser, type ReasoningKind, type ReasoningParser } from '../../text/reasoning.ts';
import { createNamedToolCallParser, createRequiredToolCallParser } from '../../text/tool-call-forced.ts';
import { collectToolCalls, createToolCallParser, type ToolCallDelta, type ToolCallFormat, type ToolCallParser } from '../../text/tool-calls.ts';
import type { Vocabulary } from '../../text/vocabulary.ts';
import { routerError, type RouterError } from '../../wire/errors.ts';
import { createChoiceText, PROMPT_TAIL_TOKENS, type ChoiceText } from './choice-text.ts';
import { beforeFirstTokenError, grpcCodeName } from './grpc-errors.ts';
import { chatLogprobs, completionLogprobs, echoedPromptLogprobs, promptLogprobsAnswer } from './logprobs.ts';
import {
  chatBody,
  chatDeltaChunk,
  chatEchoChunk,
  chatRoleChunk,
  completionBody,
  completionChunk,
  sse,
  SSE_DONE,
  streamUsage,
  usageChunk,
  type AnswerHead,
  type ChatDelta,
  type OpenAiFinish,
  type Usage,
} from './openai-answer.ts';
import type { OpenAiGeneration } from './openai-request.ts';

/** One prompt of the request and the engine request that generates its n choices. */
export interface RunPrompt {
  readonly request: GenerationRequest;
  readonly promptIds: TokenIds;
  /** The prompt's text, for `echo`. */
  readonly echoText?: string;
  /** Chat `return_prompt_text`: the prompt as the chat template rendered it. */
  readonly promptText?: string;
}

export interface GenerationRun {
  readonly client: GrpcEngineClient;
  readonly endpoint: string;
  /**
   * One engine request per prompt (a batch of completion prompts; chat has one), each with the same n: choice
   * `i` of prompt `p` is answered as index `p * n + i`, as vLLM numbers them.
   */
  readonly prompts: readonly RunPrompt[];
  readonly asked: OpenAiGeneration;
  readonly chat: boolean;
  readonly head: AnswerHead;
  /** Set when the engine sends token ids to detokenize (VllmEngine). */
  readonly vocab: Vocabulary | undefined;
  /** The model's vocabulary, for logprob token texts (either protocol). */
  readonly tokenVocab: Vocabulary | undefined;
  readonly reasoning: ReasoningKind | undefined;
  /** Set when the request offers tools: how its calls are read from the output. */
  readonly tools: ToolCallMode | undefined;
  readonly signal: AbortSignal;
  readonly timedOut: () => boolean;
  readonly metrics: Metrics;
  readonly log: Logger;
}

/**
 * How tool calls are read: `parse` the model's own format (tool_choice "auto"), or the JSON a forced choice
 * constrained it to write (`named`: the arguments of that tool; `required`: an array of calls).
 */
export type ToolCallMode = { readonly kind: 'parse'; readonly format: ToolCallFormat } | { readonly kind: 'named'; readonly name: string } | { readonly kind: 'required' };

function toolCallParserOf(mode: ToolCallMode): ToolCallParser {
  if (mode.kind === 'named') return createNamedToolCallParser(mode.name);
  if (mode.kind === 'required') return createRequiredToolCallParser();
  return createToolCallParser(mode.format);
}

interface Choice {
  readonly index: number;
  /** Which prompt (and engine request) it belongs to. */
  readonly prompt: number;
  /** `echo`: the prompt is still to open the choice's text. */
  echoPending: boolean;
  readonly text: ChoiceText;
  readonly reasoning: ReasoningParser | undefined;
  readonly tools: ToolCallParser | undefined;
  /** Every tool-call delta so far (whole-body answers list the calls they make up). */
  toolDeltas: ToolCallDelta[];
  tokens: number;
  /** Character count sent so far (completions logprobs' text_offset). */
  offset: number;
  finished: boolean;
  finish: OpenAiFinish;
  stopReason: string | number | null;
  /** Whole-body answers: the text and reasoning so far, the logprobs. */
  content: string[];
  reasoningText: string[];
  logprobs: unknown[];
  /** `return_token_ids` in a whole body: every output id. */
  ids: number[];
  /** Completions streams with `return_token_ids`: the prompt's ids are still to go with the choice's first chunk. */
  promptIdsPending: boolean;
  /** Streams: the latest delta, held until the tick ends so a finish that follows at once joins it (one chunk, as vLLM). */
  held: { text: string; logprobs: readonly TokenLogprob[] | undefined; ids: readonly number[] } | undefined;
}

const NO_IDS: readonly number[] = [];

const encoder = new TextEncoder();

export function runGeneration(run: GenerationRun): Promise<Response | RouterError> {
  const { asked, chat, head, prompts } = run;
  const request = prompts[0]!.request;
  const n = request.sampling.n;
  const choices: Choice[] = Array.from({ length: n * prompts.length }, (_, index) => ({
    index,
    prompt: Math.floor(index / n),
    echoPending: asked.echo,
    text: createChoiceText({
      vocab: run.vocab,
      skipSpecialTokens: request.sampling.skipSpecialTokens,
      stop: request.sampling.stop,
      includeStopStr: request.sampling.includeStopStr,
      promptTail: Array.from(prompts[Math.floor(index / n)]!.promptIds.slice(-PROMPT_TAIL_TOKENS)),
    }),
    reasoning: run.reasoning !== undefined ? createReasoningParser(run.reasoning) : undefined,
    tools: run.tools !== undefined ? toolCallParserOf(run.tools) : undefined,
    toolDeltas: [],
    tokens: 0,
    offset: 0,
    finished: false,
    finish: 'stop',
    stopReason: null,
    content: [],
    reasoningText: [],
    logprobs: [],
    ids: [],
    promptIdsPending: asked.returnTokenIds,
    held: undefined,
  }));
  // vLLM hides token ids (and logprobs) of every chunk when the reasoning is not shown and a parser splits it off.
  const tokenIdsShown = asked.returnTokenIds && !(chat && !asked.includeReasoning && (run.reasoning !== undefined || run.tools !== undefined));
  const promptEcho = (p: number) => ({
    role: asked.role,
    promptIds: asked.returnTokenIds ? Array.from(prompts[p]!.promptIds) : undefined,
    promptText: asked.returnPromptText ? (prompts[p]!.promptText ?? '') : undefined,
  });
  let open = choices.length;
  /** Unfinished choices per engine request: one whose choices all stopped on a router-found stop string is aborted. */
  const openOf = prompts.map(() => n);
  let started = false;
  let settled = false;
  /** An engine request failed: what the others still send is dropped. */
  let failed = false;
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let pending = '';
  const calls: (GenerationCall | undefined)[] = prompts.map(() => undefined);
  let resolveAnswer: (answer: Response | RouterError) => void = () => {};
  const answer = new Promise<Response | RouterError>((resolve) => (resolveAnswer = resolve));

  const promptTokensOf = (p: number): number => calls[p]?.counts.promptTokens || prompts[p]!.promptIds.length;
  const usage = (): Usage => {
    // vLLM's prefix-cache hits: the first answer's in a stream, the last prompt's in a whole body.
    const cached = calls[asked.stream ? 0 : calls.length - 1]?.counts.cachedTokens ?? 0;
    return {
      promptTokens: prompts.reduce((sum, _, p) => sum + promptTokensOf(p), 0),
      completionTokens: choices.reduce((sum, c) => sum + c.tokens, 0),
      cachedTokens: cached > 0 ? cached : undefined,
    };
  };
  // Continuous usage counts the chunk's own prompt and choice, as vLLM's streams do.
  const continuous = (choice: Choice) =>
    asked.continuousUsage ? streamUsage({ promptTokens: promptTokensOf(choice.prompt), completionTokens: choice.tokens, cachedTokens: undefined }) : undefined;
  // logprob tokens as `token_id:N` (return_tokens_as_token_ids) are what vLLM writes without a vocabulary.
  const logprobVocab = asked.tokensAsIds ? undefined : run.tokenVocab;
  const promptLogprobsOf = (p: number): readonly PromptTokenLogprob[] => {
    const got = calls[p]?.counts.promptLogprobs;
    if (got !== undefined) return got;
    run.log.warn('gRPC engine sent no prompt logprobs', { endpoint: run.endpoint, request_id: prompts[p]!.request.requestId });
    return Array.from(prompts[p]!.promptIds, (id) => ({ id, logprob: null, top: [] }));
  };
  const logprobsOf = (choice: Choice, entries: readonly TokenLogprob[] | undefined, text: string, echoed: boolean): unknown => {
    const top = request.sampling.logprobs;
    if (top === undefined || (entries === undefined && !echoed)) return null;
    // logprob_token_ids: every named token's logprob, as vLLM returns them all.
    const shown = request.sampling.logprobTokenIds !== undefined ? -1 : top;
    if (chat) return chatLogprobs(entries ?? [], logprobVocab, shown);
    if (!echoed) {
      const lp = completionLogprobs(entries ?? [], logprobVocab, choice.offset, shown);
      choice.offset += text.length;
      return lp;
    }
    // The echoed prompt's logprobs open the choice's, and its tokens' texts set where the output's start.
    const prompt = echoedPromptLogprobs(promptLogprobsOf(choice.prompt), logprobVocab, top);
    const output = asked.echoOnly ? undefined : completionLogprobs(entries ?? [], logprobVocab, prompt.end, shown);
    choice.offset += text.length;
    return output === undefined ? prompt.logprobs : mergeCompletionLogprobs([prompt.logprobs, output]);
  };

  const flush = () => {
    if (pending !== '' && controller !== undefined) controller.enqueue(encoder.encode(pending));
    pending = '';
  };
  const write = (chunk: Record<string, unknown>) => {
    pending += sse(chunk);
  };

  /** The text for the client of one piece of model output: reasoning split off, then tool calls parsed out. */
  const split = (choice: Choice, text: string, last: boolean): ChatDelta => {
    let reasoning = '';
    let content = text;
    if (choice.reasoning !== undefined) {
      const part = choice.reasoning.push(text);
      const end = last ? choice.reasoning.finish() : { reasoning: '', content: '' };
      reasoning = asked.includeReasoning ? part.reasoning + end.reasoning : '';
      content = part.content + end.content;
    }
    let calls: ToolCallDelta[] = [];
    if (choice.tools !== undefined) {
      const part = choice.tools.push(content);
      const end = last ? choice.tools.finish() : { content: '', calls: [] };
      content = part.content + end.content;
      calls = [...part.calls, ...end.calls];
      // `parallel_tool_calls: false`: the first call's deltas only, as vLLM filters them (tool_call.index == 0).
      if (!asked.parallelToolCalls) calls = calls.filter((call) => call.index === 0);
      if (calls.length > 0) choice.toolDeltas.push(...calls);
    }
    const parsed = choice.reasoning !== undefined || choice.tools !== undefined;
    return {
      ...(reasoning !== '' ? { reasoning } : {}),
      ...(content !== '' || (!parsed && reasoning === '') ? { content } : {}),
      ...(calls.length > 0 ? { toolCalls: calls } : {}),
    };
  };

  /**
   * vLLM reports `tool_calls` as the finish of a sequence that called a tool and stopped; for a named tool
   * choice it keeps `stop` (as OpenAI does), and for "required" the whole-body answer says `tool_calls` on any
   * stop (serving.py `is_finish_reason_tool_calls`), the stream only once a call went out (`tools_streamed`).
   */
  const forced = run.tools !== undefined && run.tools.kind !== 'parse';
  const finishOf = (choice: Choice, finish: OpenAiFinish): OpenAiFinish => {
    if (finish !== 'stop' || run.tools === undefined || run.tools.kind === 'named') return finish;
    if (run.tools.kind === 'required' && !asked.stream) return 'tool_calls';
    return choice.toolDeltas.length > 0 ? 'tool_calls' : finish;
  };

  const emit = (choice: Choice, generated: string, entries: readonly TokenLogprob[] | undefined, finish: OpenAiFinish | null, ids: readonly number[]) => {
    const last = finish !== null;
    // `echo`: the prompt opens the choice's first chunk; with max_tokens 0 the prompt is all it shows.
    const echoed = choice.echoPending;
    choice.echoPending = false;
    const output = asked.echoOnly ? '' : generated;
    const text = echoed ? (prompts[choice.prompt]!.echoText ?? '') + output : output;
    const logprobs = logprobsOf(choice, entries, text, echoed);
    if (chat) {
      const delta = split(choice, text, last);
      const shown = finish === null ? null : finishOf(choice, finish);
      if (last) choice.finish = shown!;
      // With a parser, a piece that is all held back (a tag or a call still open) sends no chunk, as vLLM, unless
      // its logprobs or token ids must go out.
      const empty = delta.content === undefined && delta.reasoning === undefined && delta.toolCalls === undefined;
      if (asked.stream) {
        if (!empty || last || logprobs !== null || (tokenIdsShown && ids.length > 0))
          write(chatDeltaChunk(head, choice.index, delta, logprobs, shown, last ? choice.stopReason : null, continuous(choice), tokenIdsShown ? ids : null));
      } else {
        if (delta.content) choice.content.push(delta.content);
        if (delta.reasoning) choice.reasoningText.push(delta.reasoning);
      }
    } else if (asked.stream) {
      const promptIds = choice.promptIdsPending ? Array.from(prompts[choice.prompt]!.promptIds) : null;
      choice.promptIdsPending = false;
      write(completionChunk(head, choice.index, text, logprobs, finish, last ? choice.stopReason : null, continuous(choice), { prompt: promptIds, output: asked.returnTokenIds ? ids : null }));
    } else choice.content.push(text);
    if (!asked.stream && asked.returnTokenIds) for (const id of ids) choice.ids.push(id);
    if (!asked.stream && logprobs !== null) choice.logprobs.push(logprobs);
  };

  /** A delta of a stream waits for the end of the tick; a whole-body answer takes it at once. */
  const hold = (choice: Choice, text: string, entries: readonly TokenLogprob[] | undefined, ids: readonly number[]) => {
    if (!asked.stream) return emit(choice, text, entries, null, ids);
    if (choice.held !== undefined) emit(choice, choice.held.text, choice.held.logprobs, null, choice.held.ids);
    choice.held = { text, logprobs: entries, ids };
    schedule();
  };

  const release = () => {
    for (const choice of choices) {
      if (choice.held === undefined) continue;
      const held = choice.held;
      choice.held = undefined;
      emit(choice, held.text, held.logprobs, null, held.ids);
    }
  };

  const end = (choice: Choice, finish: OpenAiFinish, stopReason: string | number | null, text: string, entries?: readonly TokenLogprob[], ids: readonly number[] = NO_IDS) => {
    choice.finished = true;
    choice.finish = finish;
    choice.stopReason = stopReason;
    const held = choice.held;
    choice.held = undefined;
    const logprobs = held?.logprobs !== undefined || entries !== undefined ? [...(held?.logprobs ?? []), ...(entries ?? [])] : undefined;
    emit(choice, (held?.text ?? '') + text, logprobs, finish, held === undefined ? ids : ids.length === 0 ? held.ids : [...held.ids, ...ids]);
    open--;
    openOf[choice.prompt]!--;
  };

  const withEcho = (content: string | null): string | null => (asked.chatEcho === undefined ? content : asked.chatEcho + (content ?? ''));

  const finishAll = () => {
    if (asked.stream) {
      release();
      if (asked.includeUsage) pending += sse(usageChunk(head, chat ? 'chat.completion.chunk' : 'text_completion', streamUsage(usage())));
      pending += SSE_DONE;
      flush();
      controller?.close();
      return;
    }
    const u = usage();
    const promptLogprobs = (p: number) => (request.sampling.promptLogprobs === undefined ? null : promptLogprobsAnswer(promptLogprobsOf(p), logprobVocab));
    const body = chat
      ? chatBody(
          head,
          choices.map((c) => ({
            index: c.index,
            // vLLM leaves content null when the model only called tools, and "" for a forced tool choice; `echo`
            // puts the last message's content before it.
            content: withEcho(forced ? '' : c.toolDeltas.length > 0 && c.content.join('').trim() === '' ? null : c.content.join('')),
            reasoning: c.reasoning !== undefined && c.reasoningText.length > 0 ? c.reasoningText.join('') : null,
            toolCalls: collectToolCalls(c.toolDeltas),
            logprobs: c.logprobs.length > 0 ? { content: c.logprobs.flatMap((l) => (l as { content: unknown[] }).content) } : null,
            finish: c.finish,
            stopReason: c.stopReason,
            tokenIds: tokenIdsShown ? c.ids : null,
          })),
          u,
          promptLogprobs(0),
          promptEcho(0),
        )
      : completionBody(
          head,
          choices.map((c) => ({
            index: c.index,
            text: c.content.join(''),
            logprobs: mergeCompletionLogprobs(c.logprobs),
            finish: c.finish,
            stopReason: c.stopReason,
            promptLogprobs: promptLogprobs(c.prompt),
            promptIds: asked.returnTokenIds ? Array.from(prompts[c.prompt]!.promptIds) : null,
            tokenIds: asked.returnTokenIds ? c.ids : null,
          })),
          u,
        );
    settle(new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } }));
  };

  const settle = (value: Response | RouterError) => {
    if (settled) return;
    settled = true;
    resolveAnswer(value);
  };

  const startStream = () => {
    const body = new ReadableStream<Uint8Array>(
      {
        start(c) {
          controller = c;
        },
        cancel() {
          // The client left (the relay cancels its read): the engine must stop generating for it.
          if (open > 0) abort('client_closed');
        },
      },
      { highWaterMark: 0 },
    );
    settle(new Response(body, { headers: { 'content-type': 'text/event-stream; charset=utf-8' } }));
  };

  /** Aborts the engine requests with choices still open (all of them, or the one of `prompt`). */
  const abort = (reason: string, prompt?: number) => {
    for (const [p, call] of calls.entries()) {
      if (call === undefined || (prompt !== undefined ? p !== prompt : openOf[p] === 0)) continue;
      run.metrics.grpcAborts.inc({ worker: run.endpoint, reason });
      call.abort();
    }
  };

  const onEvent = (p: number, event: GenerationEvent) => {
    if (failed || event.index >= n) return;
    const choice = choices[p * n + event.index];
    if (choice === undefined || choice.finished) return;
    if (!started) {
      started = true;
      if (asked.stream) {
        startStream();
        // vLLM sends every choice's role chunk once the first token is sampled.
        if (chat) for (const c of choices) write(chatRoleChunk(head, c.index, continuous(c), promptEcho(c.prompt)));
        // Chat `echo`: the last message's content follows the role chunks.
        if (chat && asked.chatEcho !== undefined) for (const c of choices) write(chatEchoChunk(head, c.index, asked.chatEcho, continuous(c)));
      }
    }
    if (event.kind === 'tokens') {
      choice.tokens += event.count;
      const out = choice.text.push(event.ids, event.text);
      if (out.stop !== undefined) {
        // The router found a stop string first (the engine ends the sequence on the same token).
        end(choice, 'stop', out.stop, out.text, event.logprobs, event.ids);
        if (openOf[p] === 0) abort('stop_string', p);
        if (open === 0) finishAll();
      } else hold(choice, out.text, event.logprobs, event.ids);
    } else {
      const rest = choice.text.flush();
      end(choice, event.reason, event.stopReason ?? null, rest);
      if (open === 0) finishAll();
    }
    if (asked.stream && pending !== '') schedule();
  };

  // Events of one read go out as one write at the end of the tick (grpc-js delivers the messages of one read
  // together), and a finish arriving in the same read joins the last delta, as vLLM's server sends it.
  let scheduled = false;
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      release();
      flush();
    });
  };

  const fail = (p: number, code: number, message: string) => {
    run.metrics.grpcErrors.inc({ worker: run.endpoint, code: grpcCodeName(code) });
    // One engine request of a batch failed: the others stop too (the answer cannot be whole).
    for (const other of prompts.keys()) if (other !== p && openOf[other]! > 0) abort('batch_failed', other);
    if (!started) {
      settle(run.signal.aborted ? routerError(run.timedOut() ? 'upstream_timeout' : 'client_closed', run.timedOut() ? `gRPC engine ${run.endpoint} did not answer in time` : 'Client closed the connection') : beforeFirstTokenError(run.endpoint, code, message));
      return;
    }
    run.log.warn('gRPC engine stream failed', { endpoint: run.endpoint, request_id: prompts[p]!.request.requestId, code: grpcCodeName(code), message });
    if (asked.stream) {
      release();
      flush();
      // The relay turns this into one SSE error event and [DONE], and counts the stream as broken.
      controller?.error(new Error(`gRPC engine ${run.endpoint}: ${grpcCodeName(code)}: ${message}`));
    } else settle(routerError('upstream_error', `gRPC engine ${run.endpoint} failed during generation: ${grpcCodeName(code)}: ${message}`));
  };

  const failOnce = (p: number, code: number, message: string) => {
    if (failed) return;
    failed = true;
    fail(p, code, message);
  };
  for (const [p, prompt] of prompts.entries()) {
    calls[p] = run.client.generate(prompt.request, {
      onEvent: (event) => onEvent(p, event),
      onEnd() {
        if (openOf[p] === 0) return;
        // The engine closed the stream with sequences unfinished.
        failOnce(p, 13, `the engine ended the stream with ${openOf[p]} of ${n} sequences unfinished`);
      },
      onError: (e) => failOnce(p, e.code, e.message),
    });
  }
  const onAbort = () => {
    if (open === 0) return;
    abort(run.timedOut() ? 'timeout' : 'client_closed');
    if (!started || !asked.stream) settle(routerError(run.timedOut() ? 'upstream_timeout' : 'client_closed', run.timedOut() ? `gRPC engine ${run.endpoint} did not answer in time` : 'Client closed the connection'));
    else controller?.error(new Error(run.timedOut() ? 'request timed out' : 'client closed'));
  };
  if (run.signal.aborted) onAbort();
  else run.signal.addEventListener('abort', onAbort, { once: true });
  return answer;
}

function mergeCompletionLogprobs(parts: unknown[]): unknown {
  if (parts.length === 0) return null;
  const out = { text_offset: [] as number[], token_logprobs: [] as number[], tokens: [] as string[], top_logprobs: [] as unknown[] };
  for (const p of parts as (typeof out)[]) {
    out.text_offset.push(...p.text_offset);
    out.token_logprobs.push(...p.token_logprobs);
    out.tokens.push(...p.tokens);
    out.top_logprobs.push(...p.top_logprobs);
  }
  return out;
}
