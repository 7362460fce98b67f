// gRPC failures as the router answers them: before the first token (what the retry policy reads), or as vLLM's
// OpenAI server words an engine's refusal.
import { status as grpcStatus } from '@grpc/grpc-js';
import { routerError, type RouterError } from '../../wire/errors.ts';

const CODE_NAMES = Object.fromEntries(Object.entries(grpcStatus).filter(([, v]) => typeof v === 'number').map(([k, v]) => [v as number, k])) as Record<number, string>;
export const grpcCodeName = (code: number): string => CODE_NAMES[code] ?? String(code);

/** A gRPC failure before anything reached the client, as the retry policy reads it. */
export function beforeFirstTokenError(endpoint: string, code: number, message: string): RouterError | Response {
  const text = `gRPC engine ${endpoint}: ${grpcCodeName(code)}: ${message}`;
  switch (code) {
    case grpcStatus.UNAVAILABLE:
    case grpcStatus.CANCELLED:
      return routerError('upstream_unreachable', text);
    case grpcStatus.DEADLINE_EXCEEDED:
      return routerError('upstream_timeout', text);
    case grpcStatus.RESOURCE_EXHAUSTED:
      return routerError('upstream_error', text, { status: 503 });
    case grpcStatus.INVALID_ARGUMENT:
    case grpcStatus.OUT_OF_RANGE:
    case grpcStatus.FAILED_PRECONDITION:
      return engineErrorResponse(400, 'BadRequestError', message, null);
    case grpcStatus.NOT_FOUND:
      return engineErrorResponse(404, 'NotFoundError', message, null);
    default:
      return routerError('upstream_error', text);
  }
}

/** An error as vLLM's OpenAI server words it (`{"error":{"message","type","param","code"}}` with the HTTP code). */
export function engineErrorResponse(status: number, type: string, message: string, param: string | null): Response {
  return new Response(JSON.stringify({ error: { message, type, param, code: status } }), { status, headers: { 'content-type': 'application/json' } });
}

