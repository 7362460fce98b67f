// Reads a fetch Response body into memory, up to a byte cap: a longer body is cut off and reported, never buffered whole.
import { formatBytes } from './body-limits.ts';

export type BodyRead = { readonly ok: true; readonly bytes: Uint8Array } | { readonly ok: false; readonly error: string };

export async function readBody(response: Response, maxBytes: number): Promise<BodyRead> {
  const tooLarge = { ok: false, error: `the body is larger than ${formatBytes(maxBytes)}` } as const;
  const declared = Number(response.headers.get('content-length') ?? NaN);
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    return tooLarge;
  }
  if (response.body === null) return { ok: true, bytes: new Uint8Array(0) };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        return tooLarge;
      }
      chunks.push(value);
    }
  } catch (e) {
    return { ok: false, error: `the body broke off: ${(e as Error).message}` };
  }
  return { ok: true, bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total) };
}

/** The body as UTF-8 text, capped. */
export async function readText(response: Response, maxBytes: number): Promise<{ readonly ok: true; readonly text: string } | { readonly ok: false; readonly error: string }> {
  const read = await readBody(response, maxBytes);
  return read.ok ? { ok: true, text: new TextDecoder().decode(read.bytes) } : read;
}

/** The body parsed as JSON, capped; a body that is not JSON is an error too. */
export async function readJson(response: Response, maxBytes: number): Promise<{ readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string }> {
  const read = await readText(response, maxBytes);
  if (!read.ok) return read;
  try {
    return { ok: true, value: JSON.parse(read.text) };
  } catch (e) {
    return { ok: false, error: `the body is not JSON: ${(e as Error).message}` };
  }
}
