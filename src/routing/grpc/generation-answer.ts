// One generation on a gRPC engine, answered to the client as vLLM's OpenAI server answers it: the SSE sequence
// (role chunks, deltas, a finish chunk per choice, the usage chunk, [DONE]) or one JSON body. Resolves once the
// first tokens arrived (streams) or the answer is whole, so a failure before the first token is retried elsewhere.
import type { GrpcEngineClient } from '../../grpc/engine-client.ts';
import type { GenerationCall, GenerationEvent, GenerationRequest, TokenIds, TokenLogprob } from '../../grpc/generation.ts';
import type { Logger } from '../../log/logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import { createReasoningParser, type ReasoningKind, type ReasoningParser } from '../../text/reasoning.ts';
import { createNamedToolCallParser, createRequiredToolCallParser } from '../../text/tool-call-forced.ts';
import { collectToolCalls, createToolCallParser, type ToolCallDelta, type ToolCallFormat, type ToolCallParser } from '../../text/tool-calls.ts';
import type { Vocabulary } from '../../text/vocabulary.ts';
import { routerError, type RouterError } from '../../wire/errors.ts';
import { createChoiceText, PROMPT_TAIL_TOKENS, type ChoiceText } from './choice-text.ts';
import { beforeFirstTokenError, grpcCodeName } from './grpc-errors.ts';
import { chatLogprobs, completionLogprobs } from './logprobs.ts';
import {
  chatBody,
  chatDeltaChunk,
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

export interface GenerationRun {
  readonly client: GrpcEngineClient;
  readonly endpoint: string;
  readonly request: GenerationRequest;
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
  readonly promptIds: TokenIds;
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
  /** Streams: the latest delta, held until the tick ends so a finish that follows at once joins it (one chunk, as vLLM). */
  held: { text: string; logprobs: readonly TokenLogprob[] | undefined } | undefined;
}

const encoder = new TextEncoder();

export function runGeneration(run: GenerationRun): Promise<Response | RouterError> {
  const { request, asked, chat, head } = run;
  const n = request.sampling.n;
  const promptTail = Array.from(run.promptIds.slice(-PROMPT_TAIL_TOKENS));
  const choices: Choice[] = Array.from({ length: n }, (_, index) => ({
    index,
    text: createChoiceText({ vocab: run.vocab, skipSpecialTokens: request.sampling.skipSpecialTokens, stop: request.sampling.stop, includeStopStr: request.sampling.includeStopStr, promptTail }),
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
    held: undefined,
  }));
  let open = n;
  let started = false;
  let settled = false;
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let pending = '';
  let call: GenerationCall | undefined;
  let resolveAnswer: (answer: Response | RouterError) => void = () => {};
  const answer = new Promise<Response | RouterError>((resolve) => (resolveAnswer = resolve));

  const usage = (): Usage => ({
    promptTokens: call?.counts.promptTokens || run.promptIds.length,
    completionTokens: choices.reduce((sum, c) => sum + c.tokens, 0),
    cachedTokens: call !== undefined && call.counts.cachedTokens > 0 ? call.counts.cachedTokens : undefined,
  });
  const continuous = () => (asked.continuousUsage ? streamUsage(usage()) : undefined);
  const logprobsOf = (choice: Choice, entries: readonly TokenLogprob[] | undefined, text: string): unknown => {
    if (request.sampling.logprobs === undefined || entries === undefined) return null;
    if (chat) return chatLogprobs(entries, run.tokenVocab);
    const lp = completionLogprobs(entries, run.tokenVocab, choice.offset);
    choice.offset += text.length;
    return lp;
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
      reasoning = part.reasoning + end.reasoning;
      content = part.content + end.content;
    }
    let calls: ToolCallDelta[] = [];
    if (choice.tools !== undefined) {
      const part = choice.tools.push(content);
      const end = last ? choice.tools.finish() : { content: '', calls: [] };
      content = part.content + end.content;
      calls = [...part.calls, ...end.calls];
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

  const emit = (choice: Choice, text: string, entries: readonly TokenLogprob[] | undefined, finish: OpenAiFinish | null) => {
    const last = finish !== null;
    const logprobs = logprobsOf(choice, entries, text);
    if (chat) {
      const delta = split(choice, text, last);
      const shown = finish === null ? null : finishOf(choice, finish);
      if (last) choice.finish = shown!;
      // With a parser, a piece that is all held back (a tag or a call still open) sends no chunk, as vLLM.
      const empty = delta.content === undefined && delta.reasoning === undefined && delta.toolCalls === undefined;
      if (asked.stream) {
        if (!empty || last) write(chatDeltaChunk(head, choice.index, delta, logprobs, shown, last ? choice.stopReason : null, continuous()));
      } else {
        if (delta.content) choice.content.push(delta.content);
        if (delta.reasoning) choice.reasoningText.push(delta.reasoning);
      }
    } else if (asked.stream) write(completionChunk(head, choice.index, text, logprobs, finish, last ? choice.stopReason : null, continuous()));
    else choice.content.push(text);
    if (!asked.stream && logprobs !== null) choice.logprobs.push(logprobs);
  };

  /** A delta of a stream waits for the end of the tick; a whole-body answer takes it at once. */
  const hold = (choice: Choice, text: string, entries: readonly TokenLogprob[] | undefined) => {
    if (!asked.stream) return emit(choice, text, entries, null);
    if (choice.held !== undefined) emit(choice, choice.held.text, choice.held.logprobs, null);
    choice.held = { text, logprobs: entries };
    schedule();
  };

  const release = () => {
    for (const choice of choices) {
      if (choice.held === undefined) continue;
      const held = choice.held;
      choice.held = undefined;
      emit(choice, held.text, held.logprobs, null);
    }
  };

  const end = (choice: Choice, finish: OpenAiFinish, stopReason: string | number | null, text: string, entries?: readonly TokenLogprob[]) => {
    choice.finished = true;
    choice.finish = finish;
    choice.stopReason = stopReason;
    const held = choice.held;
    choice.held = undefined;
    const logprobs = held?.logprobs !== undefined || entries !== undefined ? [...(held?.logprobs ?? []), ...(entries ?? [])] : undefined;
    emit(choice, (held?.text ?? '') + text, logprobs, finish);
    open--;
  };

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
    const body = chat
      ? chatBody(
          head,
          choices.map((c) => ({
            index: c.index,
            // vLLM leaves content null when the model only called tools, and "" for a forced tool choice.
            content: forced ? '' : c.toolDeltas.length > 0 && c.content.join('').trim() === '' ? null : c.content.join(''),
            reasoning: c.reasoning !== undefined && c.reasoningText.length > 0 ? c.reasoningText.join('') : null,
            toolCalls: collectToolCalls(c.toolDeltas),
            logprobs: c.logprobs.length > 0 ? { content: c.logprobs.flatMap((l) => (l as { content: unknown[] }).content) } : null,
            finish: c.finish,
            stopReason: c.stopReason,
          })),
          u,
        )
      : completionBody(
          head,
          choices.map((c) => ({ index: c.index, text: c.content.join(''), logprobs: mergeCompletionLogprobs(c.logprobs), finish: c.finish, stopReason: c.stopReason })),
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

  const abort = (reason: string) => {
    if (call === undefined) return;
    run.metrics.grpcAborts.inc({ worker: run.endpoint, reason });
    call.abort();
  };

  const onEvent = (event: GenerationEvent) => {
    const choice = choices[event.index];
    if (choice === undefined || choice.finished) return;
    if (!started) {
      started = true;
      if (asked.stream) {
        startStream();
        // vLLM sends every choice's role chunk once the first token is sampled.
        if (chat) for (const c of choices) write(chatRoleChunk(head, c.index, continuous()));
      }
    }
    if (event.kind === 'tokens') {
      choice.tokens += event.count;
      const out = choice.text.push(event.ids, event.text);
      if (out.stop !== undefined) {
        // The router found a stop string first (the engine ends the sequence on the same token).
        end(choice, 'stop', out.stop, out.text, event.logprobs);
        if (open === 0) {
          abort('stop_string');
          finishAll();
        }
      } else hold(choice, out.text, event.logprobs);
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

  const fail = (code: number, message: string) => {
    run.metrics.grpcErrors.inc({ worker: run.endpoint, code: grpcCodeName(code) });
    if (!started) {
      settle(run.signal.aborted ? routerError(run.timedOut() ? 'upstream_timeout' : 'client_closed', run.timedOut() ? `gRPC engine ${run.endpoint} did not answer in time` : 'Client closed the connection') : beforeFirstTokenError(run.endpoint, code, message));
      return;
    }
    run.log.warn('gRPC engine stream failed', { endpoint: run.endpoint, request_id: request.requestId, code: grpcCodeName(code), message });
    if (asked.stream) {
      release();
      flush();
      // The relay turns this into one SSE error event and [DONE], and counts the stream as broken.
      controller?.error(new Error(`gRPC engine ${run.endpoint}: ${grpcCodeName(code)}: ${message}`));
    } else settle(routerError('upstream_error', `gRPC engine ${run.endpoint} failed during generation: ${grpcCodeName(code)}: ${message}`));
  };

  call = run.client.generate(request, {
    onEvent,
    onEnd() {
      if (open === 0) return;
      // The engine closed the stream with sequences unfinished.
      fail(13, `the engine ended the stream with ${open} of ${n} sequences unfinished`);
    },
    onError: (e) => fail(e.code, e.message),
  });
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
