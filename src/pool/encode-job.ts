// A pool job to token ids as vLLM tokenizes a request: the chat rendered by the model's template, a prompt
// string, or token ids taken as given. The pool threads and the simulated engine (bench/sim) both call it,
// so the router's ids and the simulator's are the same by construction.
import type { ChatTemplate } from './chat-template.ts';
import type { TokenizeJob } from './protocol.ts';

/** Tokenizes plain text (the tokenizer's `encode`, or a cache in front of it). */
export type EncodeText = (text: string, addSpecialTokens: boolean) => readonly number[];

/** `text`, with `keepText`: what was tokenized (a chat rendered by its template, or the prompt string); absent for token ids. */
export type EncodedJob = { ok: true; ids: readonly number[]; text?: string } | { ok: false; error: string };

export function encodeJob(job: TokenizeJob, template: ChatTemplate, encodeText: EncodeText, keepText = false): EncodedJob {
  if (job.kind === 'chat') {
    const rendered = template.render({
      messages: job.messages,
      tools: job.tools,
      documents: job.documents,
      addGenerationPrompt: job.addGenerationPrompt,
      continueFinalMessage: job.continueFinalMessage,
      kwargs: job.templateKwargs,
    });
    if (!rendered.ok) return rendered;
    // vLLM tokenizes the rendered chat with add_special_tokens=False by default: the template wrote BOS.
    const ids = encodeText(rendered.text, job.addSpecialTokens ?? false);
    return keepText ? { ok: true, ids, text: rendered.text } : { ok: true, ids };
  }
  // A batch is routed as one request; its first prompt stands for it.
  const prompt = Array.isArray(job.prompt) && typeof job.prompt[0] !== 'number' ? job.prompt[0] : job.prompt;
  if (typeof prompt === 'string') {
    const ids = encodeText(prompt, job.addSpecialTokens ?? true);
    return keepText ? { ok: true, ids, text: prompt } : { ok: true, ids };
  }
  if (Array.isArray(prompt) && prompt.every((t) => Number.isInteger(t) && t >= 0)) return { ok: true, ids: prompt as number[] };
  return { ok: false, error: 'prompt must be a string, an array of strings, token ids, or an array of token id arrays' };
}
