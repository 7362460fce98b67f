import { describe, expect, test } from 'bun:test';
import { multipartBoundary, multipartFieldSpan } from '../../src/wire/multipart-field.ts';

/** A form as fetch writes it: its bytes and content type. */
async function encoded(fields: [string, string | Blob][]) {
  const form = new FormData();
  for (const [k, v] of fields) form.append(k, v);
  const req = new Request('http://x/', { method: 'POST', body: form });
  return { type: req.headers.get('content-type')!, bytes: new Uint8Array(await req.arrayBuffer()) };
}

describe('multipart fields', () => {
  test('the boundary of multipart/form-data only, quoted or not', () => {
    expect(multipartBoundary('multipart/form-data; boundary=abc')).toBe('abc');
    expect(multipartBoundary('multipart/form-data; charset=utf-8; boundary="a b"')).toBe('a b');
    expect(multipartBoundary('application/json')).toBeUndefined();
    expect(multipartBoundary(null)).toBeUndefined();
  });
  test('finds the model after megabytes of binary audio, and before it', async () => {
    const audio = new Blob([new Uint8Array(2_000_000).map((_, i) => (i * 31) & 0xff)]);
    for (const fields of [[['file', audio], ['model', 'whisper-large']], [['model', 'whisper-large'], ['file', audio]]] as [string, string | Blob][][]) {
      const { type, bytes } = await encoded([...fields, ['language', 'en']]);
      const span = multipartFieldSpan(bytes, multipartBoundary(type)!, 'model')!;
      expect(new TextDecoder().decode(bytes.subarray(span.start, span.end))).toBe('whisper-large');
    }
  });
  test('no such field, or a body that is not multipart: undefined', async () => {
    const { type, bytes } = await encoded([['file', new Blob(['x'])]]);
    expect(multipartFieldSpan(bytes, multipartBoundary(type)!, 'model')).toBeUndefined();
    expect(multipartFieldSpan(new TextEncoder().encode('garbage'), 'b', 'model')).toBeUndefined();
  });
});
