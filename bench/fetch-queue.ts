// Does a request wait behind open fetch streams? Holds N fetch streams open to a slow server (the most Bun's fetch
// runs at once, BUN_CONFIG_MAX_HTTP_REQUESTS, 256 by default), then times one more fetch against one and many
// node:http and node:https GETs to the same server. This is why src/net/probe.ts is on node:http.
//
//   bun bench/fetch-queue.ts                      # 256 streams, 500 concurrent node:http(s) GETs
//   BUN_CONFIG_MAX_HTTP_REQUESTS=8 bun bench/fetch-queue.ts --streams 8
import http from 'node:http';
import https from 'node:https';
import { parseArgs } from 'node:util';
import { LOCALHOST_CERT, LOCALHOST_KEY } from '../testkit/localhost-cert.ts';

const { values } = parseArgs({
  options: { streams: { type: 'string', default: '256' }, concurrent: { type: 'string', default: '500' }, serve: { type: 'string' } },
});

if (values.serve !== undefined) {
  // The server side, in its own process: /slow sends one byte and never ends, anything else answers at once.
  const tls = values.serve === 'https' ? { cert: LOCALHOST_CERT, key: LOCALHOST_KEY } : undefined;
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    idleTimeout: 0,
    ...(tls ? { tls } : {}),
    fetch: (req) =>
      new URL(req.url).pathname === '/slow' ? new Response(new ReadableStream({ start: (c) => c.enqueue(new Uint8Array(1)) })) : new Response('ok'),
  });
  console.log(`LISTENING ${server.url.origin}`);
} else {
  const streams = Number(values.streams);
  const concurrent = Number(values.concurrent);
  const rows: string[] = [];
  for (const scheme of ['http', 'https'] as const) {
    const child = Bun.spawn(['bun', import.meta.path, '--serve', scheme], { stdout: 'pipe', stderr: 'inherit' });
    const reader = child.stdout.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    const base = /LISTENING (\S+)/.exec(first)![1]!.replace('localhost', '127.0.0.1');
    const tls = { rejectUnauthorized: false };
    const held = await Promise.all(
      Array.from({ length: streams }, async () => {
        const res = await fetch(`${base}/slow`, { tls });
        const body = res.body!.getReader();
        await body.read();
        return body;
      }),
    );
    const timed = async (run: () => Promise<unknown>): Promise<string> => {
      const began = performance.now();
      try {
        await run();
        return `${(performance.now() - began).toFixed(0)} ms`;
      } catch (e) {
        return `${(e as Error).name} after ${(performance.now() - began).toFixed(0)} ms`;
      }
    };
    const nodeGet = () =>
      new Promise<void>((resolve, reject) => {
        const client = scheme === 'https' ? https : http;
        const req = client.request(`${base}/fast`, { agent: false, rejectUnauthorized: false }, (res) => res.resume().on('end', () => resolve()));
        req.on('error', reject).end();
      });
    const one = await timed(() => fetch(`${base}/fast`, { tls, signal: AbortSignal.timeout(3000) }).then((r) => r.text()));
    const single = await timed(nodeGet);
    const many = await timed(() => Promise.all(Array.from({ length: concurrent }, nodeGet)));
    rows.push(`| ${scheme} | ${streams} | ${one} | ${single} | ${many} |`);
    for (const body of held) await body.cancel().catch(() => {});
    child.kill();
    await child.exited;
  }
  console.log(`Bun ${Bun.version}, BUN_CONFIG_MAX_HTTP_REQUESTS=${process.env.BUN_CONFIG_MAX_HTTP_REQUESTS ?? '(default 256)'}\n`);
  console.log(`| scheme | fetch streams held | one more fetch | one node:${'http(s)'} GET | ${concurrent} concurrent node:http(s) GETs |`);
  console.log('|---|---|---|---|---|');
  for (const row of rows) console.log(row);
  process.exit(0);
}
