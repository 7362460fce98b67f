// Fuzzing the compiled router with malformed requests: every answer a clean 4xx, the process up, serving, and bounded in memory.
import { afterAll, describe, expect, test } from 'bun:test';
import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';
import { generateCases, type FuzzCase } from './fuzz-cases.ts';
import { rawExchange } from './raw-http.ts';
import { startRouterProcess, type RouterProcess } from '../../testkit/router-process.ts';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { memoryKb } from '../../testkit/memory-kb.ts';
import { metricValue } from '../../testkit/metric-value.ts';
import { parseEnvelope } from '../support/parse-envelope.ts';

// The hang-catching ceiling of package.json's test script (`--timeout`), for a bare `bun test test/resilience`:
// Bun 1.4.5 reads no test timeout from bunfig (oven-sh/bun#7789). Tests wait for conditions.

const binary = buildRouterBinary();
afterAll(() => binary[Symbol.dispose]());

const SEED = 0x5eed;
const WARMUP = 1_000;
const CASES = 10_000;
const CONCURRENCY = 16;
const LIMIT = 16 * 1024;
/**
 * Allowed RSS growth from the end of the warm-up to the end of the run. What the run holds at once is small:
 * 16 requests of at most ~40 KiB each, plus the engine's answers. A leak of one request body (~300 bytes on
 * average) per request would add ~3 MiB over 10,000 requests, one of a request's buffers or its headers
 * (~2 KiB) ~20 MiB, a retained Request/Response pair far more. Below that the figure is allocator and GC
 * noise: JSC and mimalloc keep freed pages, so RSS settles at a plateau rather than returning to the start.
 */
const MAX_GROWTH_MIB = 24;

interface Answer {
  /** 0 when no HTTP answer came: the connection was closed or refused. */
  readonly status: number;
  readonly body: string;
  readonly closed: boolean;
}

async function send(router: RouterProcess, c: FuzzCase): Promise<Answer> {
  if (c.via === 'socket') {
    const a = await rawExchange(router.address, c.bytes);
    return a.kind === 'response' ? { status: a.status, body: a.body.toString('utf8'), closed: false } : { status: 0, body: '', closed: true };
  }
  try {
    const res = await fetch(`${router.url}${c.path}`, { method: c.method, headers: c.headers, body: c.body });
    return { status: res.status, body: await res.text(), closed: false };
  } catch {
    // Bun may close the connection on a 431 before fetch has read the answer.
    return { status: 0, body: '', closed: true };
  }
}

/** Who produced an answer: the router's envelope, Bun's bare status line, or anything else (the engine). */
function producer(a: Answer): 'router' | 'bun' | 'engine' | 'closed' {
  if (a.closed) return 'closed';
  if (parseEnvelope(a.body) !== undefined) return 'router';
  return a.body === '' ? 'bun' : 'engine';
}

/** Why an answer is wrong for its case, or undefined when it is right. */
function problem(c: FuzzCase, a: Answer): string | undefined {
  const e = c.expected;
  const envelope = parseEnvelope(a.body);
  switch (e.by) {
    case 'router':
      if (a.status !== e.status || envelope === undefined || !e.codes.includes(envelope.code)) return `want router ${e.status} ${e.codes.join('|')}`;
      return undefined;
    case 'fallback':
      if (envelope === undefined || (a.status !== 404 && a.status !== 405) || (envelope.code !== 'not_found' && envelope.code !== 'method_not_allowed')) return 'want a 404/405 envelope';
      return undefined;
    case 'endpoint':
      // Forwarded: the engine's answer, whatever it is; a 5xx must be the engine's, never the router's own.
      if (a.closed || (a.status >= 500 && envelope !== undefined)) return 'want the engine answer';
      return undefined;
    case 'bun':
      if (a.closed) return e.answers.includes('closed') ? undefined : `want bun ${e.answers.join('|')}`;
      if (!e.answers.includes(a.status) || a.body !== '') return `want bun ${e.answers.join('|')}`;
      return undefined;
  }
}

const describeCase = (c: FuzzCase) =>
  c.via === 'fetch' ? `${c.method} ${c.path.slice(0, 80)} ${JSON.stringify(new TextDecoder().decode(c.body?.subarray(0, 120) ?? new Uint8Array()))}` : JSON.stringify(Buffer.from(c.bytes.subarray(0, 160)).toString('latin1'));

describe('fuzz', () => {
  test(`${CASES.toLocaleString('en')} random malformed requests each get a clean 4xx; the router stays up, serving, and bounded in memory`, async () => {
    await using engine = await spawnMockEngine(['--model', 'm']);
    await using router = await startRouterProcess(binary.path, ['--worker-urls', engine.url, '--policy', 'round_robin', '--max-payload-size', String(LIMIT)]);
    const cases = generateCases(SEED, WARMUP + CASES, LIMIT);
    const outcomes = new Map<string, number>();
    const failures: string[] = [];
    let forwarded = 0;

    const run = async (batch: readonly FuzzCase[]) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < batch.length) {
            const c = batch[next++]!;
            const a = await send(router, c);
            const who = producer(a);
            const key = who === 'closed' ? 'closed' : `${a.status} ${who}`;
            outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
            if (c.expected.by === 'endpoint' || (c.expected.by === 'fallback' && c.expected.forwarded)) forwarded++;
            const why = problem(c, a);
            if (why !== undefined && failures.length < 20) failures.push(`${c.op}: ${why}, got ${a.closed ? 'closed' : `${a.status} ${a.body.slice(0, 160)}`} for ${describeCase(c)}`);
          }
        }),
      );
    };

    const started = performance.now();
    await run(cases.slice(0, WARMUP));
    const afterWarmup = memoryKb(router.pid);
    await run(cases.slice(WARMUP));
    const atEnd = memoryKb(router.pid);
    const seconds = (performance.now() - started) / 1000;

    const mib = (kb: number) => (kb / 1024).toFixed(1);
    const tally = [...outcomes].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ×${n}`).join(', ');
    console.log(
      `fuzz seed 0x${SEED.toString(16)}: ${cases.length} cases in ${seconds.toFixed(1)} s (${cases.filter((c) => c.via === 'socket').length} over raw sockets, ${forwarded} well-formed or other-method ones forwarded): ${tally}; ` +
        `router RSS ${mib(afterWarmup.rss)} MiB after warm-up, ${mib(atEnd.rss)} MiB at the end, peak ${mib(atEnd.peak)} MiB`,
    );
    expect(failures).toEqual([]);

    // Still up and serving, and nothing malformed reached the engine.
    expect(router.child.proc.exitCode).toBeNull();
    const res = await fetch(`${router.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { object: string }).object).toBe('chat.completion');
    expect(metricValue(await router.scrape(), 'vllm_router_processed_requests_total')).toBe(forwarded + 1);

    expect(atEnd.rss - afterWarmup.rss).toBeLessThan(MAX_GROWTH_MIB * 1024);
  });
});
