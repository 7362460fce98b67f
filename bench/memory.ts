// Peak memory of the compiled router against the size of what clients and engines send (issue #6, item 4).
//
//   bun run bench:memory [--sizes 1,10,100,400] [--answer-mib 1024] [--router-binary PATH] [--baseline-binary PATH] [--out FILE]
//
// Every case runs against a fresh router process, after one small warm-up request; its peak growth is VmHWM
// (reset through /proc/PID/clear_refs after the warm-up) minus the resident size at that moment. Request
// bodies go to the mock vLLM engine (testkit/mock-engine-main.ts); engine answers come from
// bench/hostile-engine.ts, which sends as much as it is asked for as fast as it is read. `--baseline-binary`
// measures a second executable (an older build) in a column of its own.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { memoryKb } from '../testkit/memory-kb.ts';
import { buildRouterBinary } from '../testkit/router-binary.ts';
import { startRouterProcess } from '../testkit/router-process.ts';
import { spawnChild, type Child } from '../testkit/spawn-child.ts';
import { spawnMockEngine } from '../testkit/spawn-mock-engine.ts';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1,10,100,400' },
    'answer-mib': { type: 'string', default: '1024' },
    'slow-mib-per-sec': { type: 'string', default: '20' },
    'slow-secs': { type: 'string', default: '5' },
    'router-binary': { type: 'string' },
    'baseline-binary': { type: 'string' },
    out: { type: 'string', default: 'bench/results/memory.md' },
  },
});
const MiB = 1024 * 1024;
const SIZES = args.sizes.split(',').map(Number);
const ANSWER_MIB = Number(args['answer-mib']);
const SLOW_RATE = Number(args['slow-mib-per-sec']) * MiB;
const SLOW_SECS = Number(args['slow-secs']);
const root = new URL('..', import.meta.url).pathname;

/** A chat body of `bytes` bytes, one ASCII user message. */
function chatBody(bytes: number): Uint8Array {
  const frame = JSON.stringify({ model: 'm', max_tokens: 1, messages: [{ role: 'user', content: '' }] });
  return new TextEncoder().encode(frame.replace('"content":""', `"content":"${'a'.repeat(Math.max(0, bytes - frame.length))}"`));
}

const post = (url: string, body: NonNullable<RequestInit['body']>, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, duplex: 'half' } as RequestInit);

/** The same bytes as a chunked upload (no Content-Length), 64 KiB at a time. */
function chunked(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(c) {
      if (offset >= bytes.byteLength) return c.close();
      c.enqueue(bytes.subarray(offset, offset + 64 * 1024));
      offset += 64 * 1024;
    },
  });
}

/** Reads a body to its end (or for `secs` at `rate` bytes/s), keeping nothing; the bytes read. */
async function drain(res: Response, rate = Number.POSITIVE_INFINITY, secs = Number.POSITIVE_INFINITY): Promise<number> {
  const reader = res.body!.getReader();
  const started = performance.now();
  let n = 0;
  for (;;) {
    const elapsed = (performance.now() - started) / 1000;
    if (elapsed >= secs) {
      await reader.cancel();
      return n;
    }
    const { done, value } = await reader.read();
    if (done) return n;
    n += value.byteLength;
    const ahead = n / rate - (performance.now() - started) / 1000;
    if (ahead > 0) await Bun.sleep(ahead * 1000);
  }
}

interface Case {
  readonly name: string;
  /** The bytes the case sends or receives, for the ratio column (0: no ratio). */
  readonly bytes: number;
  readonly engine: 'mock' | 'pd' | 'hostile';
  readonly routerArgs?: readonly string[];
  /** Sends the case's requests; a short note for the table (statuses, bytes read). */
  run(url: string, engine: Engines): Promise<string>;
}

interface Engines {
  readonly mock: Child & { url: string };
  readonly prefill: Child & { url: string };
  readonly decode: Child & { url: string };
  readonly hostile: Child & { url: string };
}

const statuses = async (responses: Promise<Response>[]) => (await Promise.all(responses.map(async (r) => (await r).status + ((await (await r).arrayBuffer()), '')))).join(' ');

function bodyCases(): Case[] {
  const cases: Case[] = [];
  for (const mib of SIZES) {
    const body = chatBody(mib * MiB);
    cases.push({ name: `request body ${mib} MiB`, bytes: mib * MiB, engine: 'mock', run: (url) => statuses([post(url, body)]) });
    cases.push({ name: `request body ${mib} MiB, three at once`, bytes: 3 * mib * MiB, engine: 'mock', run: (url) => statuses([post(url, body), post(url, body), post(url, body)]) });
  }
  const big = Math.max(...SIZES);
  const bigBody = chatBody(big * MiB);
  cases.push({
    name: `request body ${big} MiB, three at once, --max-inflight-body-bytes 2 GiB`,
    bytes: 3 * big * MiB,
    engine: 'mock',
    routerArgs: ['--max-inflight-body-bytes', String(2 * 1024 * MiB)],
    run: (url) => statuses([post(url, bigBody), post(url, bigBody), post(url, bigBody)]),
  });
  const mid = SIZES.includes(100) ? 100 : big;
  const midBody = chatBody(mid * MiB);
  cases.push({ name: `request body ${mid} MiB, chunked upload`, bytes: mid * MiB, engine: 'mock', run: (url) => statuses([post(url, chunked(midBody))]) });
  cases.push({ name: `request body ${mid} MiB, --policy cache_aware`, bytes: mid * MiB, engine: 'mock', routerArgs: ['--policy', 'cache_aware'], run: (url) => statuses([post(url, midBody)]) });
  cases.push({ name: `request body ${mid} MiB, vLLM PD (NIXL)`, bytes: mid * MiB, engine: 'pd', run: (url) => statuses([post(url, midBody)]) });
  return cases;
}

function answerCases(): Case[] {
  const bytes = ANSWER_MIB * MiB;
  const ask = (kind: string) => ({ 'x-answer': kind, 'x-answer-bytes': String(bytes) });
  const small = chatBody(200);
  const whole = (kind: string) => async (url: string) => {
    const res = await post(url, small, ask(kind));
    return `${res.status}, client read ${Math.round((await drain(res)) / MiB)} MiB`;
  };
  const slow = (kind: string) => async (url: string, engines: Engines) => {
    const sentBefore = Number(await (await fetch(`${engines.hostile.url}/sent`)).text());
    const res = await post(url, small, ask(kind));
    const read = await drain(res, SLOW_RATE, SLOW_SECS);
    const sent = Number(await (await fetch(`${engines.hostile.url}/sent`)).text()) - sentBefore;
    return `${res.status}, client read ${Math.round(read / MiB)} MiB in ${SLOW_SECS} s, engine sent ${Math.round(sent / MiB)} MiB`;
  };
  return [
    { name: `engine answer ${ANSWER_MIB} MiB, JSON with Content-Length`, bytes, engine: 'hostile', run: whole('json') },
    { name: `engine answer ${ANSWER_MIB} MiB, JSON without a length`, bytes, engine: 'hostile', run: whole('chunked') },
    { name: `engine answer ${ANSWER_MIB} MiB, SSE stream`, bytes, engine: 'hostile', run: whole('sse') },
    { name: `engine answer ${ANSWER_MIB} MiB, JSON, client reading ${args['slow-mib-per-sec']} MiB/s`, bytes: 0, engine: 'hostile', run: slow('json') },
    { name: `engine answer ${ANSWER_MIB} MiB, SSE, client reading ${args['slow-mib-per-sec']} MiB/s`, bytes: 0, engine: 'hostile', run: slow('sse') },
  ];
}

interface Measured {
  readonly growthMiB: number;
  readonly note: string;
}

async function measure(binary: string, c: Case, engines: Engines): Promise<Measured | undefined> {
  const upstream =
    c.engine === 'pd' ? ['--vllm-pd-disaggregation', '--prefill', engines.prefill.url, 'none', '--decode', engines.decode.url] : ['--worker-urls', c.engine === 'mock' ? engines.mock.url : engines.hostile.url];
  const extra = c.routerArgs ?? [];
  const argv = [...upstream, ...(extra.includes('--policy') ? [] : ['--policy', 'round_robin']), ...extra];
  let router;
  try {
    router = await startRouterProcess(binary, argv);
  } catch {
    return undefined; // a flag this build does not know
  }
  try {
    await (await post(router.url, chatBody(2000))).arrayBuffer();
    Bun.gc(true);
    await Bun.sleep(200);
    let base = memoryKb(router.pid).rss;
    try {
      writeFileSync(`/proc/${router.pid}/clear_refs`, '5'); // VmHWM := VmRSS
      base = memoryKb(router.pid).peak;
    } catch {}
    const note = await c.run(router.url, engines);
    return { growthMiB: (memoryKb(router.pid).peak - base) / 1024, note };
  } finally {
    await router[Symbol.asyncDispose]();
  }
}

const fmt = (n: number | undefined, digits = 0) => (n === undefined || !Number.isFinite(n) ? 'n/a' : n.toFixed(digits));

async function main(): Promise<void> {
  const built = args['router-binary'] === undefined ? buildRouterBinary() : undefined;
  const binary = args['router-binary'] ?? built!.path;
  const baseline = args['baseline-binary'];
  const engines: Engines = {
    mock: await spawnMockEngine(['--model', 'm']),
    prefill: await spawnMockEngine(['--model', 'm', '--role', 'prefill']),
    decode: await spawnMockEngine(['--model', 'm', '--role', 'decode']),
    hostile: await (async () => {
      const child = spawnChild(['bun', join(root, 'bench/hostile-engine.ts')]);
      const [, url] = await child.waitFor(/LISTENING (\S+)/);
      return Object.assign(child, { url: url! });
    })(),
  };
  const rows: string[] = [];
  try {
    for (const c of [...bodyCases(), ...answerCases()]) {
      const now = await measure(binary, c, engines);
      const before = baseline === undefined ? undefined : await measure(baseline, c, engines);
      const ratio = (m: Measured | undefined) => (c.bytes > 0 && m !== undefined ? `${fmt(m.growthMiB / (c.bytes / MiB), 2)}×` : '');
      const cells = [c.name, fmt(now?.growthMiB), ratio(now), now?.note ?? 'n/a'];
      if (baseline !== undefined) cells.push(before === undefined ? 'n/a (flag unknown)' : `${fmt(before.growthMiB)} (${ratio(before) || '-'}) ${before.note}`);
      rows.push(`| ${cells.join(' | ')} |`);
      console.log(rows.at(-1));
    }
  } finally {
    for (const e of Object.values(engines)) await e[Symbol.asyncDispose]();
    built?.[Symbol.dispose]();
  }
  const header = ['Case', 'peak growth MiB', 'growth / bytes', 'statuses, notes'];
  if (baseline !== undefined) header.push('baseline: growth MiB (ratio), statuses');
  const report = [
    `Router: the compiled binary${args['router-binary'] ? ` ${args['router-binary']}` : ' built from this tree'}, \`--policy round_robin\` unless the case says otherwise, defaults otherwise (--max-payload-size 512 MiB, --max-inflight-body-bytes 1 GiB).${baseline ? ` Baseline: ${baseline}.` : ''}`,
    'Peak growth: VmHWM after the case minus the resident size after a warm-up request (VmHWM reset there through /proc/PID/clear_refs). Bodies: one chat message of ASCII text. Answers: bench/hostile-engine.ts.',
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 1 || i === 2 ? '---:' : '---')).join('|')}|`,
    ...rows,
    '',
  ].join('\n');
  console.log(`\n${report}`);
  writeFileSync(resolve(root, args.out), report);
  console.log(`written to ${args.out}`);
  process.exit(0);
}

await main();
