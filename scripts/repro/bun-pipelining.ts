// Minimal reproduction for Bun: two pipelined HTTP/1.1 requests behind an async handler get no answer at all.
//
//   bun scripts/repro/bun-pipelining.ts
//
// Expected (Node.js, RFC 9112 §9.3.2): both responses, in order. Bun 1.4.5: the connection is closed with zero
// bytes written, and the first request's signal aborts. uWS keeps one HttpResponseData per socket and closes
// the socket when a second request head is parsed while the first response is pending ("denying async
// pipelining", packages/bun-uws/src/HttpContext.h). Open upstream work: oven-sh/bun#38128, #43273 (earlier
// attempts #32868, #33664, #35036 were closed unmerged).
import { connect } from 'node:net';

const server = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  async fetch(req) {
    await Bun.sleep(10); // any real await: an upstream fetch, a timer, a body read followed by work
    return new Response(`${new URL(req.url).pathname}\n`);
  },
});

const received = await new Promise<string>((resolve) => {
  let text = '';
  const socket = connect(server.port!, '127.0.0.1', () => socket.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n'));
  socket.on('data', (d) => {
    text += d.toString();
    if (text.includes('/b\n')) socket.end();
  });
  socket.on('close', () => resolve(text));
});
const answers = received.match(/^HTTP\/1\.1 /gm)?.length ?? 0;
console.log(`Bun ${Bun.version}: ${answers} of 2 pipelined requests answered (${received.length} bytes)${answers === 2 ? '' : ': BUG'}`);
server.stop(true);
process.exit(answers === 2 ? 0 : 1);
