// Builds the single executable dist/vllm-router: the router plus every pool worker as an extra entry point.
import { existsSync } from 'node:fs';

/** Bun Worker files must be entry points of the build to run inside the compiled binary. */
const WORKERS = ['src/pool/tokenize.worker.ts'];

const outfile = process.argv[2] ?? 'dist/vllm-router';
const started = performance.now();
const result = await Bun.build({
  entrypoints: ['src/main.ts', ...WORKERS.filter((w) => existsSync(w))],
  compile: { outfile, autoloadBunfig: false },
  minify: true,
  sourcemap: 'inline',
  target: 'bun',
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built ${outfile} in ${Math.round(performance.now() - started)} ms`);
