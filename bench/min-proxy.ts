// The runtime's floor for `bun run bench`: a Bun.serve front and a fetch per request, round robin over the
// given upstreams; a JSON answer relayed whole, an SSE answer passed on as the fetch's own body stream. No
// routing, metrics, logs, ids, limits or error handling: what any Bun proxy pays before doing anything of its own.
//
//   bun bench/min-proxy.ts http://127.0.0.1:8001 http://127.0.0.1:8002   (prints LISTENING <url>)
const upstreams = process.argv.slice(2);
let next = 0;
const server = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  idleTimeout: 0,
  async fetch(req) {
    const upstream = upstreams[next++ % upstreams.length];
    const path = req.url.slice(req.url.indexOf('/', req.url.indexOf('//') + 2));
    const res = await fetch(upstream + path, { method: req.method, headers: req.headers, body: req.method === 'GET' ? null : await req.bytes(), decompress: false });
    const sse = (res.headers.get('content-type') ?? '').startsWith('text/event-stream');
    return new Response(sse ? res.body : await res.bytes(), { status: res.status, headers: res.headers });
  },
});
console.log(`LISTENING http://127.0.0.1:${server.port}`);
