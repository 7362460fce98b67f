// The compiled router binary as a child process: built per test file, started on free ports, read through /metrics and /proc.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnChild, type Child } from './spawn-child.ts';

const root = new URL('..', import.meta.url).pathname;

export interface RouterBinary extends Disposable {
  readonly path: string;
}

/** `bun build.ts` into a fresh temporary directory, removed on dispose. */
export function buildRouterBinary(): RouterBinary {
  const dir = mkdtempSync(join(tmpdir(), 'vllm-router-resilience-'));
  const path = join(dir, 'vllm-router');
  const build = Bun.spawnSync(['bun', 'build.ts', path], { cwd: root, stdout: 'pipe', stderr: 'pipe' });
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`);
  return { path, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RouterProcess extends AsyncDisposable {
  readonly child: Child;
  readonly pid: number;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly address: { hostname: string; port: number };
  readonly metricsUrl: string;
  /** The Prometheus text of the router's /metrics listener. */
  scrape(): Promise<string>;
}

/** Starts the binary with `--port 0 --prometheus-port 0 --log-json` and waits for its "listening" log line. */
export async function startRouterProcess(binary: string, args: string[]): Promise<RouterProcess> {
  const child = spawnChild([binary, '--port', '0', '--prometheus-port', '0', '--log-json', ...args]);
  const [line] = await child.waitFor(/^\{.*"msg":"vllm-router listening".*\}$/m);
  const started = JSON.parse(line) as { url: string; metrics: string };
  const parsed = new URL(started.url);
  return {
    child,
    pid: child.proc.pid,
    url: started.url,
    address: { hostname: parsed.hostname, port: Number(parsed.port) },
    metricsUrl: started.metrics,
    scrape: async () => (await fetch(started.metrics)).text(),
    [Symbol.asyncDispose]: () => child[Symbol.asyncDispose](),
  };
}

/** The sum of the samples of `name` whose labels include `labels` (0 when there is none). */
export function metricValue(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const close = line.lastIndexOf('}');
    const found: Record<string, string> = {};
    if (line[name.length] === '{') for (const m of line.slice(name.length + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) found[m[1]!] = m[2]!;
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum += Number(line.slice((close < 0 ? name.length : close + 1)).trim());
  }
  return sum;
}

/** Every sample of `name` as `labels → value`, for one-line reports. */
export function metricSamples(text: string, name: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`))
    .map((l) => l.slice(name.length));
}

/** Resident memory of a process now and at its peak, in KiB, from /proc/<pid>/status (Linux). */
export function memoryKb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: field('VmRSS'), peak: field('VmHWM') };
}

/** Posts a JSON body to a mock engine process's control route (`/_mock/set`). */
export async function setMock(engineUrl: string, patch: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${engineUrl}/_mock/set`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) });
  if (!res.ok) throw new Error(`/_mock/set answered ${res.status}: ${await res.text()}`);
}

/** An OpenAI error envelope, or undefined when `text` is not exactly one. */
export function parseEnvelope(text: string): { message: string; type: string; param: string | null; code: string } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Object.keys(value).length !== 1) return undefined;
  const e = (value as { error?: unknown }).error;
  if (e === null || typeof e !== 'object') return undefined;
  const { message, type, param, code } = e as Record<string, unknown>;
  if (Object.keys(e).sort().join() !== 'code,message,param,type') return undefined;
  if (typeof message !== 'string' || message === '' || typeof type !== 'string' || typeof code !== 'string') return undefined;
  if (param !== null && typeof param !== 'string') return undefined;
  return { message, type, param, code };
}
