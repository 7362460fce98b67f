// The generation loop both protocols share: plans the sequences, then steps them on the clock, checking stop
// strings on the decoded text, and tells the protocol what to send; stops early on a cancel, an abort or a fault.
import type { GrpcEngineOptions } from './options.ts';
import { takeGrpcFailure } from './options.ts';
import { planSequences, type PlannedSequence, type SequenceLimits } from './sequences.ts';
import type { StandInVocabulary } from './tokenizers.ts';

export interface GenerationStep {
  readonly index: number;
  /** The new token ids of this step. */
  readonly ids: readonly number[];
  /** All ids of this sequence so far. */
  readonly sofar: readonly number[];
  /** Set on the last step of the sequence. */
  readonly finish?: { reason: 'stop' | 'length'; stopTokenId?: number; stopIsEos?: boolean; stopString?: string };
}

export interface GenerationRequest extends SequenceLimits {
  readonly requestId: string;
  readonly stopStrings: readonly string[];
  readonly promptTokens: number;
}

export interface GenerationSink {
  /** Sends one step; resolves when the transport can take more (backpressure). */
  step(step: GenerationStep): Promise<void>;
  /** True once the client is gone or the request was aborted: generation stops. */
  gone(): boolean;
  /** The engine dies (the kill fault). */
  kill(): void;
  /** The engine stalls forever (the stall fault): resolves when the client is gone. */
  stall(): Promise<void>;
}

const sleep = (ms: number) => (ms > 0 ? Bun.sleep(ms) : Promise.resolve());

/** Where the first stop string in `text` starts (after `from`), with the string, or undefined. */
function findStop(text: string, stops: readonly string[]): string | undefined {
  let best: { at: number; stop: string } | undefined;
  for (const stop of stops) {
    const at = text.indexOf(stop);
    if (at >= 0 && (best === undefined || at < best.at)) best = { at, stop };
  }
  return best?.stop;
}

/** Runs one request's generation into `sink`. Returns the planned sequences as they ended. */
export async function generate(options: GrpcEngineOptions, vocab: StandInVocabulary, request: GenerationRequest, sink: GenerationSink): Promise<PlannedSequence[]> {
  const plans = planSequences(options, vocab, request);
  const failure = takeGrpcFailure(options);
  const perMessage = Math.max(1, options.tokensPerMessage);
  const positions = plans.map(() => 0);
  const ended = plans.map(() => false);
  let sent = 0;
  await sleep(options.ttftMs);
  for (let round = 0; ended.some((e) => !e); round++) {
    if (round > 0) await sleep(options.itlMs);
    for (const plan of plans) {
      if (sink.gone()) return plans;
      if (ended[plan.index]) continue;
      if (failure?.kind === 'kill' && sent >= failure.afterTokens) {
        sink.kill();
        return plans;
      }
      if (failure?.kind === 'stall' && sent >= failure.afterTokens) {
        await sink.stall();
        return plans;
      }
      const start = positions[plan.index]!;
      let end = Math.min(plan.ids.length, start + perMessage);
      let stopString: string | undefined;
      if (request.stopStrings.length > 0) {
        // vLLM's engine detokenizes when stop strings are set and ends the sequence on the token that completes one.
        for (let k = start + 1; k <= end; k++) {
          stopString = findStop(vocab.tokenizer.decode(plan.ids.slice(0, k), { skip_special_tokens: true }), request.stopStrings);
          if (stopString !== undefined) {
            end = k;
            break;
          }
        }
      }
      positions[plan.index] = end;
      sent += end - start;
      const last = stopString !== undefined || end === plan.ids.length;
      if (last) ended[plan.index] = true;
      const finish = !last
        ? undefined
        : stopString !== undefined
          ? { reason: 'stop' as const, stopString }
          : { reason: plan.finishReason, ...(plan.stopTokenId !== undefined ? { stopTokenId: plan.stopTokenId, stopIsEos: plan.stopIsEos ?? false } : {}) };
      await sink.step({ index: plan.index, ids: plan.ids.slice(start, end), sofar: plan.ids.slice(0, end), ...(finish ? { finish } : {}) });
    }
  }
  return plans;
}
