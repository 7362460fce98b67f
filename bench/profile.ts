// Where the router's CPU goes under load: runs the router from source with Bun's sampling profiler while wrk
// drives it (as in `bun run bench`), then sums self time by module. The group "metrics, stats and logs" is
// what observability costs on the request path (issue #7's budget: under 5%).
//
//   bun bench/profile.ts [--mode completions|stream|long] [--policy round_robin] [--pd] [--seconds 8] [--connections 64]
//                        [--interval-us 200] [--log-level warn|info] [--top 25]
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../testkit/free-port.ts';
import { spawnMockEngine } from '../testkit/spawn-mock-engine.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '64' },
    mode: { type: 'string', default: 'completions' },
    policy: { type: 'string', default: 'round_robin' },
    pd: { type: 'boolean', default: false },
    'interval-us': { type: 'string', default: '200' },
    'log-level': { type: 'string', default: 'warn' },
    top: { type: 'string', default: '25' },
  },
});
const root = new URL('..', import.meta.url).pathname;
const wrk = Bun.which('wrk');
if (!wrk) {
  process.stderr.write('bench/profile.ts needs wrk (apt-get install wrk)\n');
  process.exit(2);
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
}

/** Which bucket a sampled frame's self time belongs to. */
function groupOf(url: string): string {
  if (url === '' || /^(node|internal|bun):/.test(url)) return 'native and built-in (Bun: HTTP server, fetch client, I/O, idle, node:* modules)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `npm ${pkg[1]}`;
  const file = url.replace(/^file:\/\//, '').replace(root, '');
  if (/^src\/(metrics|stats|log)\//.test(file)) return 'metrics, stats and logs (src/metrics, src/stats, src/log)';
  return `router code (${file.split('/').slice(0, 2).join('/')})`;
}

/**
 * The router from source under the profiler, once it answers /readiness. About one start in five dies by
 * SIGPWR before it is ready (Bun 1.4.5; seen in 5 of 24 starts, never without --cpu-prof). The likely cause:
 * the router re-executes itself to set Bun's fetch limit (src/startup/fetch-limit.ts) while the sampling
 * profiler suspends threads with SIGPWR, and a suspend signal pending across the exec kills the new image
 * before it installs its handler. Such a start is retried.
 */
async function startProfiledRouter(cmd: string[], logPath: string, url: string): Promise<Bun.Subprocess> {
  for (let attempt = 1; ; attempt++) {
    // Its stdout goes to a file: a pipe read by this process would stall during wrk's run (spawnSync).
    const proc = Bun.spawn(cmd, { stdout: Bun.file(logPath), stderr: 'inherit' });
    const ready = await waitReady(url, proc);
    if (ready) return proc;
    if (proc.signalCode !== 'SIGPWR' || attempt === 5) throw new Error(`the router exited (${proc.signalCode ?? proc.exitCode}) before it was ready`);
    process.stderr.write(`the router died by SIGPWR while re-executing under the profiler; starting it again (${attempt})\n`);
  }
}

/** Up to 60 s for the router's /readiness: true once it answers, false when the process exits first. */
async function waitReady(url: string, proc: Bun.Subprocess): Promise<boolean> {
  for (let i = 0; i < 2400; i++) {
    if (proc.exitCode !== null || proc.signalCode !== null) return false;
    if (await fetch(`${url}/readiness`).then((r) => r.ok, () => false)) return true;
    await Bun.sleep(25);
  }
  throw new Error(`the router at ${url} was not ready within 60 s`);
}

async function main(): Promise<void> {
  const pd = args.pd === true;
  const engines = await Promise.all(
    pd
      ? [spawnMockEngine(['--model', 'm', '--role', 'prefill', '--handoff-check', 'record']), spawnMockEngine(['--model', 'm', '--role', 'decode', '--handoff-check', 'record'])]
      : [spawnMockEngine(['--model', 'm']), spawnMockEngine(['--model', 'm'])],
  );
  const endpoints = pd ? ['--vllm-pd-disaggregation', '--prefill', engines[0]!.url, '--decode', engines[1]!.url] : ['--worker-urls', ...engines.map((e) => e.url)];
  const dir = mkdtempSync(join(tmpdir(), 'router-profile-'));
  // A port of its own on the command line, waited for on /readiness (no listener to find through /proc).
  const port = freePort();
  const url = `http://127.0.0.1:${port}`;
  const router = await startProfiledRouter(
    [
      'bun', '--cpu-prof', `--cpu-prof-interval=${args['interval-us']}`, `--cpu-prof-dir=${dir}`,
      join(root, 'src/main.ts'), ...endpoints, '--policy', args.policy!,
      '--port', String(port), '--prometheus-port', '0', '--log-json', '--log-level', args['log-level']!,
    ],
    join(dir, 'router.log'),
    url,
  );
  const script = join(dir, 'post.lua');
  const chat = (maxTokens: number) => ({ model: 'm', messages: [{ role: 'user', content: 'Stream to the benchmark' }], max_tokens: maxTokens, stream: true, stream_options: { include_usage: true } });
  const modes: Record<string, { path: string; body: unknown }> = {
    completions: { path: '/v1/completions', body: { model: 'm', prompt: 'Say hello to the benchmark', max_tokens: 4 } },
    stream: { path: '/v1/chat/completions', body: chat(64) },
    long: { path: '/v1/chat/completions', body: chat(1024) },
  };
  const mode = modes[args.mode!];
  if (!mode) throw new Error(`--mode ${args.mode}: one of ${Object.keys(modes).join(', ')}`);
  writeFileSync(script, `wrk.method = "POST"\nwrk.body = '${JSON.stringify(mode.body)}'\nwrk.headers["Content-Type"] = "application/json"\n`);
  const out = Bun.spawnSync([wrk!, '-t1', `-c${args.connections}`, `-d${args.seconds}s`, '-s', script, `${url}${mode.path}`], { stdout: 'pipe' }).stdout.toString();
  router.kill('SIGINT'); // the profile is written on a clean exit
  await router.exited;
  for (const e of engines) await e[Symbol.asyncDispose]();

  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile written in ${dir}`);
  const profile = (await Bun.file(join(dir, file)).json()) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const groups = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const id of profile.samples) {
    const frame = byId.get(id)!.callFrame;
    const group = groupOf(frame.url);
    groups.set(group, (groups.get(group) ?? 0) + 1);
    const name = `${frame.functionName || '(anonymous)'} ${frame.url ? `${frame.url.replace(/^file:\/\//, '').replace(root, '')}:${frame.lineNumber + 1}` : '[native]'}`;
    functions.set(name, (functions.get(name) ?? 0) + 1);
  }
  const total = profile.samples.length;
  const pct = (n: number) => `${((100 * n) / total).toFixed(1).padStart(5)}%`;
  console.log(`${/Requests\/sec:\s+\S+/.exec(out)?.[0] ?? 'wrk failed'}; ${total} samples every ${args['interval-us']} µs (idle included under native)\n`);
  console.log('Self time by module group:');
  for (const [g, n] of [...groups].sort((a, b) => b[1] - a[1])) console.log(`${pct(n)}  ${g}`);
  console.log(`\nTop ${args.top} functions by self time:`);
  for (const [f, n] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, Number(args.top))) console.log(`${pct(n)}  ${f}`);
}

await main();
