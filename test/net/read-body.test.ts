// Capped body reads of fetch responses: a body past the cap is refused while it streams, never buffered whole.
import { describe, expect, test } from 'bun:test';
import { formatBytes } from '../../src/net/body-limits.ts';
import { outboundFetch } from '../../src/net/fetch.ts';
import { readBody, readJson, readText } from '../../src/net/read-body.ts';
import { until } from '../../testkit/until.ts';

describe('readBody', () => {
  test('a body up to the cap is read whole; one byte more is refused, declared or streamed', async () => {
    const streamed = (bytes: number) => new Response(new ReadableStream({ start: (c) => (c.enqueue(new Uint8Array(bytes - 1)), c.enqueue(new Uint8Array(1)), c.close()) }));
    expect(await readBody(new Response(new Uint8Array(1024)), 1024)).toMatchObject({ ok: true, bytes: { byteLength: 1024 } });
    expect(await readBody(streamed(1024), 1024)).toMatchObject({ ok: true, bytes: { byteLength: 1024 } });
    expect(await readBody(new Response(new Uint8Array(1025)), 1024)).toEqual({ ok: false, error: 'the body is larger than 1 KiB' });
    expect(await readBody(streamed(1025), 1024)).toEqual({ ok: false, error: 'the body is larger than 1 KiB' });
    expect(await readBody(new Response(null), 10)).toMatchObject({ ok: true, bytes: { byteLength: 0 } });
  });

  test('an endless body from a real server is cut at the cap and its connection closed', async () => {
    let cut = false;
    using server = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: (req) => (req.signal.addEventListener('abort', () => (cut = true)), new Response(new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(64 * 1024)) }))),
    });
    const res = await outboundFetch(`http://127.0.0.1:${server.port}/`);
    expect(await readBody(res, 1024 * 1024)).toEqual({ ok: false, error: 'the body is larger than 1 MiB' });
    await until(() => cut, 'the endless body to be cut');
  });

  test('text and JSON on top, with a clear error for a body that is not JSON', async () => {
    expect(await readText(new Response('héllo'), 100)).toEqual({ ok: true, text: 'héllo' });
    expect(await readJson(new Response('{"a":[1]}'), 100)).toEqual({ ok: true, value: { a: [1] } });
    expect(await readJson(new Response('<html>'), 100)).toMatchObject({ ok: false, error: expect.stringMatching(/^the body is not JSON: /) });
    expect([formatBytes(16 * 1024 * 1024), formatBytes(64 * 1024), formatBytes(1000)]).toEqual(['16 MiB', '64 KiB', '1000 bytes']);
  });
});
