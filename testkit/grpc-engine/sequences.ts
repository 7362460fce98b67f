// What the stand-in generates for one request: per choice, its token ids and why it ends, from the output text,
// max tokens, EOS and stop token ids, as vLLM's scheduler would end it.
import type { GrpcEngineOptions } from './options.ts';
import type { StandInVocabulary } from './tokenizers.ts';

export interface PlannedSequence {
  readonly index: number;
  readonly ids: readonly number[];
  readonly finishReason: 'stop' | 'length';
  /** The token that ended it (EOS or a stop token id), included in `ids` as vLLM includes it. */
  readonly stopTokenId?: number;
  readonly stopIsEos?: boolean;
}

export interface SequenceLimits {
  readonly n: number;
  readonly maxTokens: number;
  readonly stopTokenIds: readonly number[];
  readonly ignoreEos: boolean;
  /** What a structured-output constraint makes every choice write, instead of the configured output. */
  readonly constrained?: string | undefined;
  /** Only these ids may be sampled (vLLM's allowed_token_ids masks every other logit, EOS included). */
  readonly allowedTokenIds?: readonly number[] | undefined;
  /** EOS and stop token ids do not end a sequence before this many tokens (vLLM's min_tokens). */
  readonly minTokens?: number | undefined;
}

/** The output ids of choice `index`: the output text rotated to start at its word `index`, then the extra ids. */
function choiceIds(options: GrpcEngineOptions, vocab: StandInVocabulary, index: number, constrained: string | undefined): number[] {
  if (constrained !== undefined) return vocab.tokenizer.encode(constrained, { add_special_tokens: false }).ids;
  const words = options.output.split(' ');
  const shift = index % Math.max(1, words.length);
  const text = shift === 0 ? options.output : [...words.slice(shift), ...words.slice(0, shift)].join(' ');
  return [...vocab.tokenizer.encode(text, { add_special_tokens: false }).ids, ...options.extraOutputIds];
}

export function planSequences(options: GrpcEngineOptions, vocab: StandInVocabulary, limits: SequenceLimits): PlannedSequence[] {
  const eosIds = options.eosTokenIds ?? [vocab.eosId];
  const plans: PlannedSequence[] = [];
  for (let index = 0; index < Math.max(1, limits.n); index++) {
    const base = choiceIds(options, vocab, index, limits.constrained);
    const ids: number[] = [];
    let plan: PlannedSequence | undefined;
    const endsWithEos = options.eosAtEnd && !limits.ignoreEos;
    const allowed = limits.allowedTokenIds !== undefined && limits.allowedTokenIds.length > 0 ? limits.allowedTokenIds : undefined;
    const minTokens = limits.minTokens ?? 0;
    const ending = (id: number) => limits.stopTokenIds.includes(id) || (!limits.ignoreEos && eosIds.includes(id));
    // What the model writes where an ending token is masked: the first of its output that ends nothing.
    const filler = base.find((id) => !ending(id)) ?? base[0] ?? 0;
    for (let k = 0; ids.length < limits.maxTokens; k++) {
      // min_tokens masks EOS and the stop token ids while fewer tokens than it have been generated.
      const masked = ids.length < minTokens;
      let id = k < base.length ? base[k]! : endsWithEos && !masked ? eosIds[0]! : base[k % Math.max(1, base.length)]!;
      if (masked && ending(id)) id = filler;
      // allowed_token_ids masks every other token: one outside the set becomes an allowed one, chosen by position.
      if (allowed !== undefined && !allowed.includes(id)) id = allowed[k % allowed.length]!;
      ids.push(id);
      if (limits.stopTokenIds.includes(id)) {
        plan = { index, ids, finishReason: 'stop', stopTokenId: id, stopIsEos: false };
        break;
      }
      if (!limits.ignoreEos && eosIds.includes(id)) {
        plan = { index, ids, finishReason: 'stop', stopTokenId: id, stopIsEos: true };
        break;
      }
    }
    plans.push(plan ?? { index, ids, finishReason: 'length' });
  }
  return plans;
}
