// Lists the bench:sim results measured under another engine model than the current one: files whose model
// stamp (model-stamp.ts; `modelStamp` in the JSON, the "Engine model stamp" line in the Markdown) differs, or
// that have none because they predate stamping. Exits 1 when any is stale, so a script can gate on it.
//
//   bun bench/sim/stale-results.ts [--dir bench/results]
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { modelStamp } from './model-stamp.ts';

/** The Markdown header line run.ts writes; the checker reads the stamp back from it. */
export const stampLine = (stamp: string): string => `Engine model stamp: \`${stamp}\` (bench/sim/model-stamp.ts; \`bun bench/sim/stale-results.ts\` lists results measured under another).`;
const STAMP_IN_MARKDOWN = /^Engine model stamp: `([0-9a-f]+)`/m;

/** The stamp a results file was measured under, or null when it has none. */
export function stampOf(path: string): string | null {
  const text = readFileSync(path, 'utf8');
  if (path.endsWith('.json')) {
    const stamp = (JSON.parse(text) as { modelStamp?: unknown }).modelStamp;
    return typeof stamp === 'string' ? stamp : null;
  }
  return STAMP_IN_MARKDOWN.exec(text)?.[1] ?? null;
}

export interface StaleResult {
  file: string;
  /** The stamp it carries; null: none (it predates stamping). */
  stamp: string | null;
}

/** The `sim-*.md` and `sim-*.json` files in `dir` whose stamp is not `current`, by name. */
export function staleResults(dir: string, current: string): StaleResult[] {
  return readdirSync(dir)
    .filter((f) => /^sim-.*\.(md|json)$/.test(f))
    .sort()
    .map((f) => ({ file: join(dir, f), stamp: stampOf(join(dir, f)) }))
    .filter((r) => r.stamp !== current);
}

if (import.meta.main) {
  const root = new URL('../..', import.meta.url).pathname;
  const { values } = parseArgs({ args: process.argv.slice(2), strict: true, options: { dir: { type: 'string', default: 'bench/results' } } });
  const dir = resolve(root, values.dir as string);
  const { stamp } = modelStamp();
  const stale = staleResults(dir, stamp);
  process.stdout.write(`engine model stamp: ${stamp}\n`);
  for (const s of stale) process.stdout.write(`stale: ${relative(root, s.file)} (${s.stamp === null ? 'no stamp: measured before stamping' : `measured under ${s.stamp}`})\n`);
  process.stdout.write(stale.length === 0 ? 'every result is current\n' : `${stale.length} stale result file(s): regenerate them with bun run bench:sim (see bench/README.md)\n`);
  process.exit(stale.length === 0 ? 0 : 1);
}
