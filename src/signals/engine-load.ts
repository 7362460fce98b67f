// Reads an engine's own load from its Prometheus /metrics: requests running and waiting in its scheduler.
//
// vLLM has no /get_load route (the Rust router's /get_loads asked for one and reported -1 everywhere,
// vllm-project/router#174); /load exists only with --enable-server-load-tracking. The scheduler gauges
// `vllm:num_requests_running` and `vllm:num_requests_waiting` are always exported, one series per engine
// (data-parallel rank, label `engine`), so they are summed, or taken for one rank when asked.
import { ENGINE_DOCUMENT_MAX_BYTES } from '../net/body-limits.ts';
import { probe } from '../net/probe.ts';
import { redirectNote } from '../net/redirect.ts';
import { parsePromText, type Exposition } from './prom-text.ts';

export interface EngineLoad {
  readonly running: number;
  readonly waiting: number;
}

export type EngineLoadResult = ({ readonly ok: true } & EngineLoad) | { readonly ok: false; readonly error: string };

const RUNNING = 'vllm:num_requests_running';
const WAITING = 'vllm:num_requests_waiting';

/** Sums one gauge over its series (or the series of one `engine` label); undefined when it is absent. */
function gauge(page: Exposition, name: string, engine: string | undefined): number | undefined {
  let total: number | undefined;
  for (const sample of page.samples(name)) {
    if (engine !== undefined && sample.labels.engine !== undefined && sample.labels.engine !== engine) continue;
    if (Number.isFinite(sample.value)) total = (total ?? 0) + sample.value;
  }
  return total;
}

/** The running and waiting counts in a /metrics page; an error when the page lacks them (not a zero). */
export function parseEngineLoad(text: string, engine?: string): EngineLoadResult {
  const page = parsePromText(text);
  const running = gauge(page, RUNNING, engine);
  const waiting = gauge(page, WAITING, engine);
  if (running === undefined || waiting === undefined)
    return { ok: false, error: `/metrics has no ${running === undefined ? RUNNING : WAITING}${engine === undefined ? '' : ` for engine ${engine}`}` };
  return { ok: true, running, waiting };
}

export interface EngineLoadOptions {
  readonly timeoutMs: number;
  /** Sent as the bearer token (--api-key); vLLM leaves /metrics open, a proxy in front may not. */
  readonly apiKey: string | undefined;
}

export type MetricsPage = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly error: string };

/**
 * GET <url>/metrics once; data-parallel ranks of one engine then read their own series from the same page.
 * On node:http (net/probe.ts), so open streams cannot starve it; a redirect is not followed (the URL was
 * checked when the endpoint was added, where it points was not) and the page is capped.
 */
export async function fetchEngineMetrics(url: string, options: EngineLoadOptions): Promise<MetricsPage> {
  const answer = await probe({
    url: `${url}/metrics`,
    headers: options.apiKey === undefined ? {} : { authorization: `Bearer ${options.apiKey}` },
    timeoutMs: options.timeoutMs,
    maxBodyBytes: ENGINE_DOCUMENT_MAX_BYTES,
  });
  if (answer.kind === 'failure') {
    if (answer.failure === 'timeout') return { ok: false, error: `/metrics did not answer within ${options.timeoutMs} ms` };
    if (answer.failure === 'too_large') return { ok: false, error: `/metrics: ${answer.message}` };
    return { ok: false, error: `/metrics unreachable: ${answer.message}` };
  }
  if (answer.status !== 200) return { ok: false, error: `/metrics answered ${answer.status}${redirectNote(answer.status)}` };
  return { ok: true, text: answer.body.toString('utf8') };
}
