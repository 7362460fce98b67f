// A text field of a multipart/form-data body (RFC 7578), found in its bytes without decoding the other parts:
// the `model` of an audio transcription sits beside megabytes of audio, before or after it.
import type { ByteSpan } from './json-model-span.ts';

/** The boundary of a `multipart/form-data; boundary=…` content type, or undefined for any other type. */
export function multipartBoundary(contentType: string | null): string | undefined {
  if (contentType === null || !/^\s*multipart\/form-data\s*(;|$)/i.test(contentType)) return undefined;
  const match = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  return boundary !== undefined && boundary.length <= 200 ? boundary : undefined;
}

/** The most header bytes one part may have: a part's headers are a line or three. */
const MAX_PART_HEADERS = 8 * 1024;
const HEADERS_END = Buffer.from('\r\n\r\n');

/** `name="…"` of a part's Content-Disposition header. */
function partName(headers: string): string | undefined {
  for (const line of headers.split('\r\n')) {
    if (!/^content-disposition\s*:/i.test(line)) continue;
    const match = /;\s*name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(line);
    return match?.[1] ?? match?.[2];
  }
  return undefined;
}

/**
 * The bytes of the value of the first part named `name`, or undefined when no such part is found (or the body
 * is not well-formed multipart: the engine then answers it as it would without the router).
 */
export function multipartFieldSpan(bytes: Uint8Array, boundary: string, name: string): ByteSpan | undefined {
  const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const delimiter = Buffer.from(`--${boundary}`);
  const between = Buffer.from(`\r\n--${boundary}`);
  let at = body.indexOf(delimiter);
  // The first delimiter opens the body (or follows a preamble); each later one is preceded by CRLF.
  if (at < 0) return undefined;
  for (;;) {
    let cursor = at + delimiter.length;
    // `--` after a delimiter closes the body.
    if (body[cursor] === 0x2d && body[cursor + 1] === 0x2d) return undefined;
    const headersEnd = body.indexOf(HEADERS_END, cursor);
    if (headersEnd < 0 || headersEnd - cursor > MAX_PART_HEADERS) return undefined;
    const headers = body.toString('latin1', cursor, headersEnd);
    const valueStart = headersEnd + HEADERS_END.length;
    const next = body.indexOf(between, valueStart);
    if (next < 0) return undefined;
    if (partName(headers.trimStart()) === name) return { start: valueStart, end: next };
    at = next + 2;
    cursor = at;
  }
}
