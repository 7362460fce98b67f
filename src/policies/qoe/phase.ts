// Which phase of a conversation a request opens, as the QoE seeds define it: a first turn is
// prefill-bound (TTFT matters), a continuation is decode-bound (the context is likely cached; ITL matters).

export type RequestPhase = 'prefill' | 'decode';

const CONTINUATION_FIELDS = ['parent_id', 'previous_message_id', 'previous_response_id'] as const;

/**
 * The rules of production-stack PR #349: a body naming its parent (`parent_id`, `previous_message_id`) continues a
 * conversation; otherwise a conversation with an assistant turn does. Two additions: `null` values count
 * as absent (clients send optional fields as null), and the Responses API's `previous_response_id` and
 * assistant items in `input` count like their chat equivalents. Anything unreadable is a first turn, as
 * in the seeds.
 */
export function detectPhase(body: Readonly<Record<string, unknown>> | undefined): RequestPhase {
  if (body === undefined) return 'prefill';
  for (const field of CONTINUATION_FIELDS) {
    const v = body[field];
    if (v !== undefined && v !== null) return 'decode';
  }
  const turns = Array.isArray(body['messages']) ? body['messages'] : Array.isArray(body['input']) ? body['input'] : [];
  return turns.some(isAssistantTurn) ? 'decode' : 'prefill';
}

function isAssistantTurn(turn: unknown): boolean {
  return typeof turn === 'object' && turn !== null && (turn as { role?: unknown }).role === 'assistant';
}
