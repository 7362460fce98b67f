// Child processes of a benchmark run: the simulated engines and the compiled router, each started, waited
// for (a line on stdout) and stopped by pid; plus building the router binary when it is missing or stale.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import { buildRouterBinary } from '../../testkit/router-binary.ts';

export interface ChildProc extends AsyncDisposable {
  readonly url: string;
  /** The ready line's second group, when it has one (the router's metrics URL, /metrics included). */
  readonly second: string | undefined;
  readonly pid: number;
  /** The last few KiB of stderr, for error messages. */
  stderrTail(): string;
  /** SIGTERM, then SIGKILL after `killAfterMs` (5 s) if it has not exited. */
  stop(killAfterMs?: number): Promise<void>;
}

const TAIL = 8192;

/** Keeps only the end of a stream (the router logs every request; nothing needs the whole log). */
function drain(stream: ReadableStream<Uint8Array>, onText: (text: string) => void): Promise<void> {
  return (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) onText(decoder.decode(chunk, { stream: true }));
  })().catch(() => {});
}

/** Spawns `cmd` and resolves once stdout matches `ready` (group 1 = the URL), or with an error message if
 * the process exits first. */
export async function spawnUntil(cmd: string[], ready: RegExp): Promise<ChildProc | { error: string }> {
  const proc: Subprocess<'ignore', 'pipe', 'pipe'> = Bun.spawn(cmd, { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
  let out = '';
  let err = '';
  let matched: string | null = null;
  let second: string | undefined;
  let wake: () => void = () => {};
  void drain(proc.stdout, (t) => {
    if (matched === null) {
      out += t;
      const m = ready.exec(out);
      if (m) {
        matched = m[1] ?? m[0];
        second = m[2];
        out = '';
        wake();
      }
    }
  });
  const stderrDone = drain(proc.stderr, (t) => {
    err = (err + t).slice(-TAIL);
  });
  await Promise.race([
    new Promise<void>((resolve) => {
      wake = resolve;
    }),
    proc.exited,
  ]);
  if (matched === null) {
    await proc.exited;
    await stderrDone;
    return { error: `${cmd.slice(0, 2).join(' ')} exited with ${proc.exitCode ?? proc.signalCode}: ${(err || out).trim().slice(-2000)}` };
  }
  const url: string = matched;
  let stopping: Promise<void> | null = null;
  const stop = (killAfterMs = 5000): Promise<void> => {
    stopping ??= (async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
      await proc.exited;
      clearTimeout(killer);
    })();
    return stopping;
  };
  return { url, second, pid: proc.pid, stderrTail: () => err, stop, [Symbol.asyncDispose]: () => stop() };
}

export async function spawnEngine(args: string[]): Promise<ChildProc> {
  const main = new URL('./sim-engine-main.ts', import.meta.url).pathname;
  const child = await spawnUntil(['bun', main, '--port', '0', ...args], /LISTENING (\S+)/);
  if ('error' in child) throw new Error(`simulated engine failed to start: ${child.error}`);
  return child;
}

/** The router's start-up line: its URL, then its metrics URL. */
const ROUTER_READY = /"url":"(http:\/\/[^"]+)","metrics":"(http:\/\/[^"]+)"/;

/** The router, or why it refused to start (an unknown or unimplemented policy exits 2 with a message). */
export function spawnRouter(binary: string, urls: readonly string[], policy: string, extra: readonly string[]): Promise<ChildProc | { error: string }> {
  return spawnUntil(
    // No drain delay on stop: nothing balances in front of a benchmark's router (the default holds it 5 s).
    [binary, '--worker-urls', ...urls, '--policy', policy, '--port', '0', '--prometheus-port', '0', '--log-json', '--shutdown-delay-secs', '0', ...extra],
    ROUTER_READY,
  );
}

/** The router in vLLM P/D mode (NIXL): `--prefill` and `--decode` endpoints, `policy` for both stages unless
 * `extra` sets `--prefill-policy` / `--decode-policy`. */
export function spawnPdRouter(binary: string, prefill: readonly string[], decode: readonly string[], policy: string, extra: readonly string[]): Promise<ChildProc | { error: string }> {
  return spawnUntil(
    [
      binary,
      '--vllm-pd-disaggregation',
      ...prefill.flatMap((u) => ['--prefill', u]),
      ...decode.flatMap((u) => ['--decode', u]),
      '--policy',
      policy,
      '--port',
      '0',
      '--prometheus-port',
      '0',
      '--log-json',
      ...extra,
    ],
    /"url":"(http:\/\/[^"]+)"/,
  );
}

/** `count` router replicas in front of the same fleet (each its own process, port and policy state), or the
 * first refusal to start, with the replicas that did start stopped again. */
export async function spawnReplicas(count: number, spawn: () => Promise<ChildProc | { error: string }>): Promise<ChildProc[] | { error: string }> {
  const started = await Promise.all(Array.from({ length: count }, () => spawn()));
  const refused = started.find((r): r is { error: string } => 'error' in r);
  const procs = started.filter((r): r is ChildProc => !('error' in r));
  if (refused === undefined) return procs;
  await Promise.all(procs.map((p) => p.stop()));
  return refused;
}

/** kv_aware's predicted cached tokens, summed over the routers (vllm_router_kv_predicted_cached_tokens_total). */
export async function predictedCachedTokens(routers: readonly ChildProc[]): Promise<number> {
  let sum = 0;
  for (const r of routers) {
    if (r.second === undefined) continue;
    const text = await (await fetch(r.second)).text();
    for (const m of text.matchAll(/^vllm_router_kv_predicted_cached_tokens_total\{[^}]*\} (\S+)$/gm)) sum += Number(m[1]);
  }
  return sum;
}

/**
 * --restart-router-at: every replica is replaced by a fresh process (a rolling restart: the successor starts, the
 * balancer sends it the next requests, the old one stops), so it starts with no state of its own; what the old
 * one predicted is kept for the predicted-vs-reported figure.
 */
/** How long a replaced router may take to finish its requests (its own --shutdown-grace-period-secs ends them). */
const RESTART_DRAIN_MS = 60_000;

export async function restartRouters(routers: ChildProc[], targets: string[], spawnOne: () => Promise<ChildProc | { error: string }>, predicted: { before: number }, say: (line: string) => void): Promise<void> {
  for (const [i, old] of routers.entries()) {
    const next = await spawnOne();
    if ('error' in next) {
      say(`  restart of router ${i} failed: ${next.error}`);
      continue;
    }
    routers[i] = next;
    targets[i] = next.url;
    predicted.before += await predictedCachedTokens([old]).catch(() => 0);
    // A rolling restart lets the old router drain: its streams (up to a chat reply's length) finish first.
    await old.stop(RESTART_DRAIN_MS);
  }
}

function newestMtime(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let newest = s.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/** dist/vllm-router, built first when it is missing or older than src/ or build.ts. A failed rebuild falls
 * back to an existing binary (someone may be mid-edit in src/), with a warning. */
export function ensureRouterBinary(root: string, log: (line: string) => void): string {
  const binary = join(root, 'dist', 'vllm-router');
  const exists = existsSync(binary);
  const stale = !exists || statSync(binary).mtimeMs < Math.max(newestMtime(join(root, 'src')), newestMtime(join(root, 'build.ts')));
  if (!stale) return binary;
  log(exists ? 'dist/vllm-router is older than src/: rebuilding' : 'dist/vllm-router is missing: building');
  try {
    buildRouterBinary(binary);
  } catch (err) {
    if (!exists) throw err;
    log(`warning: the build failed, using the existing dist/vllm-router:\n${(err as Error).message.slice(-1000)}`);
  }
  return binary;
}
