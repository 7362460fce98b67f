// The compiled router binary as a child process: started on free ports, found through its "listening" log line.
import { spawnChild, type Child } from './spawn-child.ts';

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

/**
 * Starts the binary with `--port 0 --prometheus-port 0 --log-json` (and `env` added to this process's environment)
 * and waits for its "listening" log line.
 */
export async function startRouterProcess(binary: string, args: string[], env: Record<string, string> = {}): Promise<RouterProcess> {
  const child = spawnChild([binary, '--port', '0', '--prometheus-port', '0', '--log-json', ...args], env);
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
