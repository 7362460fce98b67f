// The demo: two simulated vLLM endpoints and the router in front of them, so curl works without a GPU.
import { spawn } from 'bun';

const ROUTER_PORT = Number(process.env.PORT ?? 30000);

async function startEngine(name: string, ttftMs: number, itlMs: number): Promise<{ url: string; proc: ReturnType<typeof spawn> }> {
  const proc = spawn(['bun', 'testkit/mock-engine-main.ts', '--port', '0', '--model', 'demo-model', '--ttft-ms', String(ttftMs), '--itl-ms', String(itlMs)], {
    stdout: 'pipe',
    stderr: 'inherit',
  });
  const reader = proc.stdout.getReader();
  let seen = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`${name} exited before it was ready`);
    seen += new TextDecoder().decode(value);
    const match = /LISTENING (\S+)/.exec(seen);
    if (match) return { url: match[1]!, proc };
  }
}

const engines = await Promise.all([startEngine('engine-a', 80, 20), startEngine('engine-b', 120, 25)]);
const router = spawn(
  ['bun', 'src/main.ts', '--worker-urls', ...engines.map((e) => e.url), '--policy', 'round_robin', '--port', String(ROUTER_PORT), '--prometheus-port', '0'],
  { stdout: 'inherit', stderr: 'inherit' },
);

for (let i = 0; ; i++) {
  const ok = await fetch(`http://127.0.0.1:${ROUTER_PORT}/readiness`).then((r) => r.ok, () => false);
  if (ok) break;
  if (router.exitCode !== null || i > 200) {
    console.error('the router did not start');
    process.exit(1);
  }
  await Bun.sleep(50);
}

console.log(`
vllm-router demo is up on http://127.0.0.1:${ROUTER_PORT} in front of ${engines.map((e) => e.url).join(' and ')}.
Try:
  curl -s http://127.0.0.1:${ROUTER_PORT}/v1/models
  curl -s http://127.0.0.1:${ROUTER_PORT}/v1/chat/completions -H 'content-type: application/json' \\
    -d '{"model":"demo-model","messages":[{"role":"user","content":"Hello"}],"max_tokens":8}'
  curl -N http://127.0.0.1:${ROUTER_PORT}/v1/completions -H 'content-type: application/json' \\
    -d '{"model":"demo-model","prompt":"Once upon a time","max_tokens":8,"stream":true}'
Press Ctrl-C to stop.`);

const stopAll = () => {
  router.kill('SIGTERM');
  for (const e of engines) e.proc.kill('SIGTERM');
  process.exit(0);
};
process.on('SIGINT', stopAll);
process.on('SIGTERM', stopAll);
await router.exited;
stopAll();
