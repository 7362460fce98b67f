// The A/B switch of `bun run bench --ab …`: router builds with one piece of the hot path replaced by a no-op,
// so the benchmark shows what each piece the router keeps costs. The replacement happens at build time (a
// Bun.build plugin swaps one module's source); the product has no such switch.
import type { BunPlugin } from 'bun';
import { existsSync } from 'node:fs';

export interface AbVariant {
  readonly name: string;
  /** The row's label: what the build leaves out. */
  readonly label: string;
  /** Module path under the repository root → its replacement, from the module's own source. */
  readonly replace: Readonly<Record<string, (source: string) => string>>;
}

/** `source` with everything from `marker` on replaced by `tail` (the variant keeps the module's head: imports, types, helpers). */
const spliceFrom = (marker: string, tail: string) => (source: string) => {
  const at = source.indexOf(marker);
  if (at < 0) throw new Error(`A/B variant: "${marker}" not found; bench/ab-variants.ts must follow the module`);
  return source.slice(0, at) + tail;
};

/** The relay as it was before issue 21: a \`pull\` per chunk on a highWaterMark-0 stream. */
const PULL_RELAY = `function tapStream(source: ReadableStream<Uint8Array>, hooks: RelayHooks, sse: boolean, expectDone: boolean): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  const { timer } = hooks;
  const watch = expectDone ? createDoneWatch() : undefined;
  let ended = false;
  let stalled = false;
  const stallMs = hooks.stallTimeoutMs ?? 0;
  const guard = createStallGuard(stallMs, () => { stalled = true; reader.cancel(new Error('stream stalled')).catch(() => {}); }, timer);
  const end = (outcome: StreamOutcome) => { if (ended) return; ended = true; guard.stop(); hooks.onEnd(outcome); };
  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, message: string) => {
    const outcome = stalled ? 'stalled' : 'upstream_error';
    if (sse) { controller.enqueue(frame(stalled ? 'upstream_stalled' : 'stream_interrupted', message)); controller.close(); } else controller.error(new Error(message));
    end(outcome);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (stalled) return fail(controller, 'stalled');
        if (done) {
          if (watch !== undefined && !watch.sawDone()) { controller.enqueue(truncatedFrame(watch.trailingNewlines())); controller.close(); end('truncated'); return; }
          controller.close(); end('complete'); return;
        }
        const now = timer.now();
        guard.touch(now);
        watch?.push(value);
        hooks.onChunk?.(value, now);
        controller.enqueue(value);
      } catch (e) { fail(controller, \`Endpoint stream broke off: \${(e as Error).message}\`); }
    },
    cancel(reason) { reader.cancel(reason).catch(() => {}); end('client_closed'); },
  }, { highWaterMark: 0 });
}
`;

/** The relay as a Bun `direct` stream: one loop `write`s each chunk into the response's own sink, awaiting it under backpressure (tried in issue 21, not kept). */
const DIRECT_RELAY = `function tapStream(source: ReadableStream<Uint8Array>, hooks: RelayHooks, sse: boolean, expectDone: boolean): ReadableStream<Uint8Array> {
  // Everything a stream holds while it is open: this scope, the guard's deadline and the one \`pull\` frame
  // (each closure is memory every idle stream pays: bench/results/relay-stream.md).
  const reader = source.getReader();
  const { timer } = hooks;
  const watch = expectDone ? createDoneWatch() : undefined;
  let ended = false;
  let stalled = false;
  const stallMs = hooks.stallTimeoutMs ?? 0;
  const guard = createStallGuard(
    stallMs,
    () => {
      stalled = true;
      reader.cancel(new Error('stream stalled')).catch(ignore);
    },
    timer,
  );
  const end = (outcome: StreamOutcome) => {
    if (ended) return;
    ended = true;
    guard.stop();
    hooks.onEnd(outcome);
  };
  return new ReadableStream<Uint8Array>({
    type: 'direct',
    async pull(sink) {
      let reading = true;
      let broke = '';
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (ended) return; // the client left meanwhile
          if (stalled) break;
          if (done) {
            if (watch !== undefined && !watch.sawDone()) {
              sink.write(truncatedFrame(watch.trailingNewlines()));
              sink.close();
              return end('truncated');
            }
            sink.close();
            return end('complete');
          }
          const now = timer.now();
          guard.touch(now);
          watch?.push(value);
          hooks.onChunk?.(value, now);
          reading = false;
          const taken = sink.write(value);
          if (typeof taken !== 'number') await taken;
          reading = true;
        }
      } catch (e) {
        if (ended) return;
        if (!reading) {
          // A write that failed: the client is gone.
          reader.cancel(e).catch(ignore);
          return end('client_closed');
        }
        broke = \`Endpoint stream broke off: \${(e as Error).message}\`; // (or it stalled meanwhile)
      }
      const message = stalled ? \`Endpoint sent nothing for \${stallMs / 1000} s (--stream-stall-timeout-secs); stream cut\` : broke;
      if (sse) {
        sink.write(frame(stalled ? 'upstream_stalled' : 'stream_interrupted', message, hooks.envelope));
        sink.close();
      } else sink.close(new Error(message));
      end(stalled ? 'stalled' : 'upstream_error');
    },
    cancel(reason) {
      reader.cancel(reason).catch(ignore);
      end('client_closed');
    },
  });
}

const ignore = () => {};
`;

export const AB_VARIANTS: readonly AbVariant[] = [
  {
    name: 'direct-relay',
    label: 'relay: a Bun direct stream writing into the sink',
    replace: { 'src/routing/relay.ts': spliceFrom('function tapStream(', DIRECT_RELAY) },
  },
  {
    name: 'pull-relay',
    label: 'relay: a pull per chunk (as before)',
    replace: { 'src/routing/relay.ts': spliceFrom('function tapStream(', PULL_RELAY) },
  },
  {
    name: 'no-meter',
    label: 'no stream meter (TTFT/ITL/usage)',
    replace: {
      'src/signals/stream-meter.ts': spliceFrom(
        'export function createStreamMeter(',
        `export function createStreamMeter(startedAt: number): StreamMeter {
  return { chunk() {}, finish: (now) => ({ ttftMs: undefined, meanItlMs: undefined, chunks: 0, totalMs: now - startedAt, usage: undefined, tokensPerSecond: undefined }) };
}
`,
      ),
    },
  },
  {
    name: 'no-experience',
    label: 'no experience recorder (SLA, stream QoE)',
    replace: {
      'src/signals/experience.ts': spliceFrom('export function experienceFactory(', `export function experienceFactory(_metrics: Metrics, _qoe: ExpectationOptions): ExperienceFactory {
  void parsePriority; void qoeExpectation; void createStreamQoe; void eventsIn;
  return () => ({ chunk() {}, finish() {} });
}
`),
    },
  },
  {
    name: 'no-done-watch',
    label: 'no [DONE] watch',
    replace: {
      'src/routing/sse-done.ts': spliceFrom('export function createDoneWatch(', `export function createDoneWatch(): DoneWatch {
  void KEEP; void MASK; void CR; void SPACE; void TAB; void DONE; void DATA; void LF;
  return { push() {}, sawDone: () => true, trailingNewlines: () => 2 };
}
`),
    },
  },
  {
    name: 'no-stall-guard',
    label: 'no stall guard',
    replace: { 'src/routing/stall-guard.ts': spliceFrom('export function createStallGuard(', 'export function createStallGuard(): StallGuard {\n  return OFF;\n}\n') },
  },
  {
    name: 'native-json',
    label: 'a non-streaming answer passed on as the fetch\'s own body (no usage, no end time)',
    // What reading a JSON answer in JS (bytes(), then a Response of that buffer) costs next to Bun's native
    // pipe of the fetch body: the accounting would then see neither the usage nor the end of the body.
    replace: {
      'src/routing/relay.ts': (source) => {
        const marker = '  let bytes: Uint8Array;\n';
        if (!source.includes(marker)) throw new Error('A/B variant native-json: the whole-answer read not found; bench/ab-variants.ts must follow src/routing/relay.ts');
        return source.replace(marker, `  if (upstream.body !== null) {\n    hooks.onEnd('complete');\n    return new Response(upstream.body, { status: upstream.status, headers });\n  }\n${marker}`);
      },
    },
  },
  {
    name: 'no-deadline',
    label: 'no request deadline (the client\'s signal alone)',
    replace: {
      'src/routing/deadline.ts': spliceFrom('export function abortOnClientOrDeadline(', `export function abortOnClientOrDeadline(client: AbortSignal, _due: number, _timer: CoarseTimer): RequestAbort {
  void (0 as unknown as Deadline); void CLIENT_CHECK_MS;
  return { signal: client, timedOut: false, answered() {}, done() {} };
}
`),
    },
  },
];

const root = new URL('..', import.meta.url).pathname;

/** Compiles the router as build.ts does, with the variant's modules swapped; returns the binary's path. */
export async function buildVariant(variant: AbVariant, outfile: string): Promise<string> {
  const swaps = new Map(Object.entries(variant.replace).map(([path, edit]) => [root + path, edit]));
  for (const path of swaps.keys()) if (!existsSync(path)) throw new Error(`--ab ${variant.name}: ${path} does not exist`);
  const plugin: BunPlugin = {
    name: `ab-${variant.name}`,
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, async (file) => {
        const source = await Bun.file(file.path).text();
        const edit = swaps.get(file.path);
        return { contents: edit ? edit(source) : source, loader: 'ts' };
      });
    },
  };
  const result = await Bun.build({
    entrypoints: [root + 'src/main.ts', root + 'src/pool/tokenize.worker.ts'],
    compile: { outfile, autoloadBunfig: false },
    minify: true,
    target: 'bun',
    plugins: [plugin],
  });
  if (!result.success) throw new Error(`--ab ${variant.name}: build failed: ${result.logs.join('\n')}`);
  return outfile;
}
