// The layer order ARCHITECTURE.md writes down holds in src/: no import runs back up the table, folders on one
// line stay independent, every file belongs to a listed folder, and no files import each other in a loop.
import { describe, expect, test } from 'bun:test';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const root = normalize(join(import.meta.dir, '../..'));

/** The layer table: one entry per line of the table, top first, each with the paths it holds. */
function parseLayers(markdown: string): string[][] {
  const block = /<!-- layers:start -->([\s\S]*?)<!-- layers:end -->/.exec(markdown)?.[1];
  if (block === undefined) throw new Error('ARCHITECTURE.md has no layers table');
  return block
    .split('\n')
    .filter((line) => line.startsWith('|') && !line.startsWith('|---') && !line.startsWith('| Layer'))
    .map((line) => [...(line.split('|')[2] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
}

/** The unit a file belongs to (the longest listed path that holds it) and its row; undefined when unlisted. */
function unitOf(layers: string[][], file: string): { unit: string; row: number } | undefined {
  let best: { unit: string; row: number } | undefined;
  layers.forEach((paths, row) => {
    for (const p of paths) {
      const holds = p.endsWith('/') ? file.startsWith(p) : file === p;
      if (holds && (best === undefined || p.length > best.unit.length)) best = { unit: p, row };
    }
  });
  return best;
}

interface Edge {
  readonly from: string;
  readonly to: string;
}

/** Every import that breaks the order: to a higher row, to another folder on the same row, or from an unlisted file. */
function layerViolations(layers: string[][], edges: readonly Edge[]): string[] {
  const out: string[] = [];
  for (const { from, to } of edges) {
    const a = unitOf(layers, from);
    const b = unitOf(layers, to);
    if (a === undefined) out.push(`${from} is in no layer of ARCHITECTURE.md`);
    else if (b === undefined) out.push(`${to} (imported by ${from}) is in no layer of ARCHITECTURE.md`);
    else if (a.unit !== b.unit && b.row <= a.row) out.push(`${from} (${a.unit}) imports ${to} (${b.unit}), which is ${b.row < a.row ? 'above it' : 'beside it'}`);
  }
  return [...new Set(out)];
}

/** Each import loop once, as the files around it. */
function cycles(edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const to of next.get(file) ?? []) {
      if (state.get(to) === 'open') found.push(stack.slice(stack.indexOf(to)));
      else if (state.get(to) === undefined) visit(to);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...next.keys()].sort()) if (state.get(file) === undefined) visit(file);
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bnew URL\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

/** The relative imports between files under src/ (type-only ones included: they tie files together too). */
function srcEdges(): Edge[] {
  return sourceFiles(join(root, 'src')).flatMap((file) => {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(SPECIFIER)].map((m) => relative(root, normalize(join(dirname(file), m[1]!))));
    // Files outside src/ (package.json for the version) are data, not layers.
    return targets.filter((to) => to.startsWith('src/')).map((to) => ({ from: relative(root, file), to }));
  });
}

describe('the layers of src/', () => {
  const layers = parseLayers(readFileSync(join(root, 'ARCHITECTURE.md'), 'utf8'));
  const edges = srcEdges();

  test('the table lists the folders, and this test reads them', () => {
    expect(layers.length).toBeGreaterThan(5);
    expect(edges.length).toBeGreaterThan(100);
    for (const dir of readdirSync(join(root, 'src'))) {
      const path = statSync(join(root, 'src', dir)).isDirectory() ? `src/${dir}/` : `src/${dir}`;
      expect({ path, listed: layers.some((paths) => paths.includes(path)) }).toEqual({ path, listed: true });
    }
  });

  test('no import runs back up the table or across a line', () => {
    expect(layerViolations(layers, edges)).toEqual([]);
  });

  test('no files import each other in a loop', () => {
    expect(cycles(edges)).toEqual([]);
  });

  test('the checks catch what they are for', () => {
    const table = [['src/app.ts'], ['src/http/', 'src/other/'], ['src/wire/']];
    expect(layerViolations(table, [{ from: 'src/http/a.ts', to: 'src/wire/b.ts' }, { from: 'src/http/a.ts', to: 'src/http/c.ts' }])).toEqual([]);
    expect(layerViolations(table, [{ from: 'src/wire/b.ts', to: 'src/http/a.ts' }])).toEqual(['src/wire/b.ts (src/wire/) imports src/http/a.ts (src/http/), which is above it']);
    expect(layerViolations(table, [{ from: 'src/http/a.ts', to: 'src/other/x.ts' }])).toHaveLength(1);
    expect(layerViolations(table, [{ from: 'src/new/a.ts', to: 'src/wire/b.ts' }])).toEqual(['src/new/a.ts is in no layer of ARCHITECTURE.md']);
    expect(cycles([{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }, { from: 'c', to: 'a' }, { from: 'c', to: 'd' }])).toEqual([['a', 'b', 'c']]);
  });
});
