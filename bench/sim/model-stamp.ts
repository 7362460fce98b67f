// The engine model's version stamp: a hash of the code the simulated engine runs (sim-engine-main.ts and every
// file it imports, transitively, with the default parameters they define) and of the packages it uses. Every
// results file carries the stamp it was measured under, so results that predate a model change can be listed
// (stale-results.ts) instead of being read as current.
//
// Code is hashed as Bun's transpiler prints it without whitespace: a comment or formatting change keeps the
// stamp, a change to what runs (including a type-only import dropping out or in) does not. A Bun version that
// prints the same code differently changes the stamp too; package.json pins the Bun version.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export interface ModelStamp {
  /** 12 hex digits of a SHA-256. */
  stamp: string;
  /** What went into it: files relative to the root, then packages as name@version. */
  inputs: string[];
}

/** The simulated engine's entry file, which other scripts start by path. */
export const ENGINE_ENTRY = new URL('./sim-engine-main.ts', import.meta.url).pathname;
const REPO_ROOT = new URL('../..', import.meta.url).pathname;

const CODE = /\.[cm]?[jt]sx?$/;
/** Files a module starts by URL rather than imports (worker entry files). */
const URL_REFERENCE = /new URL\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g;

/** The bare package name of an import specifier (`@scope/name/sub` → `@scope/name`), or null for built-ins. */
function packageName(specifier: string): string | null {
  if (/^(node|bun):/.test(specifier) || specifier === 'bun') return null;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

function packageVersion(root: string, name: string): string {
  const manifest = join(root, 'node_modules', name, 'package.json');
  return existsSync(manifest) ? String((JSON.parse(readFileSync(manifest, 'utf8')) as { version?: unknown }).version) : 'missing';
}

/** The stamp of `entry` and everything it reaches by relative import, read under `root`. */
export function modelStamp(entry: string = ENGINE_ENTRY, root: string = REPO_ROOT): ModelStamp {
  const transpiler = new Bun.Transpiler({ loader: 'ts', minifyWhitespace: true });
  const files = new Map<string, string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    const source = readFileSync(file, 'utf8');
    if (!CODE.test(file)) {
      files.set(file, source);
      return;
    }
    const code = transpiler.transformSync(source);
    files.set(file, code);
    const specifiers = [...transpiler.scanImports(code).map((i) => i.path), ...[...source.matchAll(URL_REFERENCE)].map((m) => m[1] as string)];
    for (const specifier of specifiers) {
      if (specifier.startsWith('.') || specifier.startsWith('/')) visit(resolve(dirname(file), specifier));
      else {
        const name = packageName(specifier);
        if (name !== null) packages.add(name);
      }
    }
  };
  visit(resolve(entry));
  const hash = createHash('sha256');
  const inputs: string[] = [];
  for (const file of [...files.keys()].sort()) {
    const name = relative(root, file);
    inputs.push(name);
    hash.update(`${name}\u0000${files.get(file)}\u0000`);
  }
  for (const name of [...packages].sort()) {
    const id = `${name}@${packageVersion(root, name)}`;
    inputs.push(id);
    hash.update(`${id}\u0000`);
  }
  return { stamp: hash.digest('hex').slice(0, 12), inputs };
}
