// The testkit rule (testkit/README.md): test/ and bench/ share testkit/ and never reach into each other, testkit/
// reaches into neither, and src/ into none of the three. Every import, URL and string path of every file is checked.
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const root = join(import.meta.dir, '../..');

/** The top-level folders whose files may not name the folders listed. */
const FORBIDDEN: Readonly<Record<string, readonly string[]>> = {
  test: ['bench'],
  bench: ['test'],
  testkit: ['test', 'bench'],
  src: ['test', 'bench', 'testkit'],
};

interface Crossing {
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

/**
 * Every string in `text` (the file at `path`) that reaches a forbidden folder: a relative path (an import,
 * `import()`, `require`, `new URL(…, import.meta.url)`, a path handed to `bun`) that resolves into one, or a path
 * from the repository root that starts with one (`'test/fixtures/…'` given to `join(root, …)`, also as a word of a
 * longer string such as a shell command). Comments do not count.
 */
function crossings(path: string, text: string): Crossing[] {
  const folder = relative(root, path).split('/')[0]!;
  const forbidden = FORBIDDEN[folder] ?? [];
  if (forbidden.length === 0) return [];
  const rootPath = new RegExp(`^(?:\\./)?(?:${forbidden.join('|')})/[\\w.-][\\w./-]*$`);
  const namesRootPath = (value: string) => value.split(/[\s'"`,;()=:]+/).some((token) => rootPath.test(token));
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const found: Crossing[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node)) {
      const value = node.text;
      const target = /^\.\.?\//.test(value) ? relative(root, resolve(dirname(path), value)).split('/')[0]! : undefined;
      if ((target !== undefined && forbidden.includes(target)) || namesRootPath(value)) {
        found.push({ file: relative(root, path), line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1, text: value });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function scan(folder: string): Crossing[] {
  const files = [...new Bun.Glob('**/*.{ts,tsx,js,mjs,cjs}').scanSync({ cwd: join(root, folder) })];
  return files.flatMap((f) => crossings(join(root, folder, f), readFileSync(join(root, folder, f), 'utf8')));
}

describe('testkit boundaries', () => {
  test('no file in test/, bench/, testkit/ or src/ names a folder it may not reach', () => {
    expect(Object.keys(FORBIDDEN).flatMap(scan)).toEqual([]);
  });

  test('imports, dynamic imports, URLs and string paths into the other folder are found; comments and own paths are not', () => {
    // Folder names are spliced in so that this file itself names no forbidden path.
    const bench = 'bench';
    const sample = [
      `import { replay } from '../../${bench}/sim/client.ts';`,
      `const lazy = await import('../../${bench}/overhead.ts');`,
      `const main = new URL('../../${bench}/sim/sim-engine-main.ts', import.meta.url).pathname;`,
      `Bun.spawn(['bun', '${bench}/hostile-engine.ts']);`,
      `// see ${bench}/memory.ts for the figures`,
      `import { spawnMockEngine } from '../../testkit/spawn-mock-engine.ts';`,
      `const peer = 'test/fixtures/zmq_peer.py';`,
      `const near = '../${bench}/own-folder.ts';`,
    ].join('\n');
    const found = crossings(join(root, 'test/net/sample.test.ts'), sample);
    expect(found.map((c) => c.line)).toEqual([1, 2, 3, 4]);
    expect(crossings(join(root, `${bench}/sample.ts`), `import { until } from '../test/support/router.ts';\nconst at = 'testkit/router-main.ts';`).map((c) => c.text)).toEqual(['../test/support/router.ts']);
  });
});
