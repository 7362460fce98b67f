// A hostile engine for bench/memory.ts: it answers any POST with an answer as large as it is asked for, as fast
// as whoever reads it takes the bytes (its body is pulled, 64 KiB at a time, so it holds nothing itself).
//
//   bun bench/hostile-engine.ts        prints `LISTENING <url>`; GET /health answers 200, GET /sent the bytes sent
//
// The request says what it gets: `x-answer-bytes: N` and `x-answer: json` (a Content-Length, as vLLM sends
// JSON), `chunked` (JSON without a length) or `sse` (an event stream that ends with data: [DONE]).
import { runEngineProcess } from '../testkit/run-engine-process.ts';

const CHUNK = new Uint8Array(64 * 1024).fill(0x61);
const DONE = new TextEncoder().encode('data: [DONE]\n\n');
let sent = 0;

const listener = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  maxRequestBodySize: 4 * 1024 ** 3,
  idleTimeout: 0,
  async fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === '/health') return new Response('');
    if (path === '/sent') return new Response(String(sent));
    if (req.method === 'POST') await req.arrayBuffer();
    const kind = req.headers.get('x-answer') ?? 'json';
    let left = Number(req.headers.get('x-answer-bytes') ?? 0);
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (left <= 0) {
            if (kind === 'sse') controller.enqueue(DONE);
            controller.close();
            return;
          }
          const n = Math.min(left, CHUNK.length);
          controller.enqueue(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
          left -= n;
          sent += n;
        },
      },
      { highWaterMark: 0 },
    );
    const headers: Record<string, string> = { 'content-type': kind === 'sse' ? 'text/event-stream' : 'application/json' };
    if (kind === 'json') headers['content-length'] = String(left);
    return new Response(body, { headers });
  },
});
runEngineProcess({ url: `http://127.0.0.1:${listener.port}`, stop: () => listener.stop(true) });
