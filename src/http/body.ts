// Reads a request body once, within the size limit, and parses it as a JSON object when the route needs that.
import { routerError, type RouterError } from './errors.ts';
import { jsonDepthError } from './json-depth.ts';

export interface RequestBody {
  readonly bytes: Uint8Array;
  /** The parsed body when it is a JSON object. */
  readonly json: Record<string, unknown> | undefined;
}

const tooLarge = (limit: number) => routerError('payload_too_large', `Request body is larger than the limit of ${limit} bytes (--max-payload-size)`);

/** The raw bytes, refusing more than `limit` without buffering past it. */
export async function readBytes(req: Request, limit: number): Promise<Uint8Array | RouterError> {
  const declared = req.headers.get('content-length');
  if (declared !== null) {
    const n = Number(declared);
    if (!Number.isSafeInteger(n) || n < 0) return routerError('invalid_body', 'Invalid Content-Length header');
    if (n > limit) return tooLarge(limit);
    try {
      return new Uint8Array(await req.arrayBuffer());
    } catch {
      return routerError('client_closed', 'Client closed the connection while sending the body');
    }
  }
  if (req.body === null) return new Uint8Array(0);
  // Chunked upload: count as we go so an endless body is cut at the limit.
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        reader.cancel().catch(() => {});
        return tooLarge(limit);
      }
      chunks.push(value);
    }
  } catch {
    return routerError('client_closed', 'Client closed the connection while sending the body');
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses bytes as a JSON object; anything else is a 400 that says what was wrong. */
export function parseJsonObject(bytes: Uint8Array): Record<string, unknown> | RouterError {
  if (bytes.byteLength === 0) return routerError('invalid_json', 'Request body is empty; expected a JSON object');
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return routerError('invalid_encoding', 'Request body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return routerError('invalid_json', `Request body is not valid JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return routerError('invalid_json', `Request body must be a JSON object, not ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  return jsonDepthError(value as Record<string, unknown>) ?? (value as Record<string, unknown>);
}
