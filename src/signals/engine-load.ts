// Reads an engine's own load from its Prometheus /metrics: requests running and waiting in its scheduler.
//
// vLLM has no /get_load route (the Rust router's /get_loads asked for one and reported -1 everywhere,
// vllm-project/router#174); /load exists only with --enable-server-load-tracking. The scheduler gauges
// `vllm:num_requests_running` and `vllm:num_requests_waiting` are always exported, one series per engine
// (data-parallel rank, label `engine`), so they are summed, or taken for one rank when asked.
import { redirectNote } from '../net/redirect.ts';
import { parsePromText, sumOf, type Exposition } from './prom-text.ts';
import { fetchVllmMetrics, rankFilter, VLLM_METRICS, type MetricsFetchOptions } from './vllm-metrics.ts';

export interface EngineLoad {
  readonly running: number;
  readonly waiting: number;
}

export type EngineLoadResult = ({ readonly ok: true } & EngineLoad) | { readonly ok: false; readonly error: string };

const [RUNNING] = VLLM_METRICS.running;
const [WAITING] = VLLM_METRICS.waiting;

/** The running and waiting counts of one page (or of one rank's series in it); an error when it lacks them (not a zero). */
export function engineLoad(page: Exposition, engine?: string): EngineLoadResult {
  const filter = rankFilter(page, engine);
  const running = sumOf(page, RUNNING, filter);
  const waiting = sumOf(page, WAITING, filter);
  if (running === undefined || waiting === undefined)
    return { ok: false, error: `/metrics has no ${running === undefined ? RUNNING : WAITING}${engine === undefined ? '' : ` for engine ${engine}`}` };
  return { ok: true, running, waiting };
}

/** `engineLoad` of a page's text. */
export const parseEngineLoad = (text: string, engine?: string): EngineLoadResult => engineLoad(parsePromText(text), engine);

export type LoadPage = { readonly ok: true; readonly page: Exposition } | { readonly ok: false; readonly error: string };

/** GET <url>/metrics once, on demand (/get_loads), with the failure said for an operator. */
export async function fetchLoadPage(url: string, options: MetricsFetchOptions): Promise<LoadPage> {
  const got = await fetchVllmMetrics(url, options);
  if (got.ok) return got;
  const f = got.failure;
  if (f.kind === 'timeout') return { ok: false, error: `/metrics did not answer within ${options.timeoutMs} ms` };
  if (f.kind === 'status') return { ok: false, error: `/metrics answered ${f.status}${redirectNote(f.status)}` };
  return { ok: false, error: f.kind === 'too_large' ? `/metrics: ${f.message}` : `/metrics unreachable: ${f.message}` };
}
