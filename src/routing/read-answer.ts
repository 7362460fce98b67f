// Reads an engine answer the router needs whole (a prefill answer, a body it merges logprobs into), up to a cap:
// past it the request fails with 502 rather than the router's memory growing with whatever the engine sends.
import { routerError, type RouterError } from '../wire/errors.ts';

/**
 * The body's bytes; `upstream_too_large` past `maxBytes` (a declared length over it is refused unread),
 * `stream_interrupted` when it breaks off. Error messages start lower-case, for the caller to say whose answer.
 */
export async function readAnswer(upstream: Response, maxBytes: number): Promise<Uint8Array | RouterError> {
  const tooLarge = () => routerError('upstream_too_large', `answered more than ${maxBytes} bytes (--max-buffered-response-size)`);
  const declared = Number(upstream.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    await upstream.body?.cancel().catch(() => {});
    return tooLarge();
  }
  try {
    // A declared length within the cap is exactly what arrives: one read, no chunk loop.
    if (declared >= 0 || upstream.body === null) return await upstream.bytes();
    const reader = upstream.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        return tooLarge();
      }
      chunks.push(value);
    }
    return chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks, size);
  } catch (e) {
    return routerError('stream_interrupted', `broke off its answer: ${(e as Error).message}`);
  }
}

/** Reads an answer nobody needs to its end, keeping nothing; the error when it breaks off. */
export async function drainAnswer(upstream: Response): Promise<RouterError | undefined> {
  if (upstream.body === null) return undefined;
  try {
    const reader = upstream.body.getReader();
    while (!(await reader.read()).done);
    return undefined;
  } catch (e) {
    return routerError('stream_interrupted', `broke off its answer: ${(e as Error).message}`);
  }
}
