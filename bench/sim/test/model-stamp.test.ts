import { afterAll, describe, expect, test } from 'bun:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelStamp } from '../model-stamp.ts';
import { stampLine, staleResults } from '../stale-results.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'model-stamp-'));
  dirs.push(d);
  return d;
}

/** A tiny "engine": an entry importing a model file, which imports a params file, a type and a package. */
function tree(files: Record<string, string>): string {
  const root = tempDir();
  const base: Record<string, string> = {
    'main.ts': `import { step } from './model.ts';\nconsole.log(step(1));\n`,
    'model.ts': `import { P } from './params.ts';\nimport type { T } from './types.ts';\nimport { z } from 'zod';\n// the step\nexport const step = (n: number): number => n * P.ms + (z ? 0 : 1);\n`,
    'params.ts': `export const P = { ms: 30 };\n`,
    'types.ts': `export type T = number;\n`,
    'node_modules/zod/package.json': '{"version":"3.1.0"}',
    'unrelated.ts': 'export const x = 1;\n',
    ...files,
  };
  for (const [name, text] of Object.entries(base)) {
    mkdirSync(join(root, name, '..'), { recursive: true });
    writeFileSync(join(root, name), text);
  }
  return root;
}
const stampOfTree = (root: string) => modelStamp(join(root, 'main.ts'), root);

describe('engine model stamp', () => {
  test('covers the entry and what it imports, transitively, and the packages it uses', () => {
    const s = stampOfTree(tree({}));
    expect(s.inputs).toEqual(['main.ts', 'model.ts', 'params.ts', 'zod@3.1.0']);
    expect(s.stamp).toMatch(/^[0-9a-f]{12}$/);
  });

  test('changes with the code or a parameter, not with comments or layout', () => {
    const base = stampOfTree(tree({})).stamp;
    expect(stampOfTree(tree({ 'model.ts': `import { P } from './params.ts';\nimport { z } from 'zod';\n/** Step time. */\nexport const step = (n: number): number =>\n  n * P.ms + (z ? 0 : 1); // linear\n` })).stamp).toBe(base);
    expect(stampOfTree(tree({ 'unrelated.ts': 'export const x = 2;\n' })).stamp).toBe(base);
    expect(stampOfTree(tree({ 'params.ts': 'export const P = { ms: 31 };\n' })).stamp).not.toBe(base);
    expect(stampOfTree(tree({ 'model.ts': `import { P } from './params.ts';\nimport { z } from 'zod';\nexport const step = (n: number): number => n * P.ms * 2 + (z ? 0 : 1);\n` })).stamp).not.toBe(base);
    expect(stampOfTree(tree({ 'node_modules/zod/package.json': '{"version":"3.2.0"}' })).stamp).not.toBe(base);
  });

  test("the simulator's stamp covers the engine model and not the benchmark around it", () => {
    const { inputs } = modelStamp();
    for (const f of ['bench/sim/sim-engine-main.ts', 'bench/sim/engine-model.ts', 'bench/sim/engine-params.ts', 'bench/sim/kv-cache.ts', 'bench/sim/engine-loop.ts', 'bench/sim/tokens.ts']) expect(inputs).toContain(f);
    for (const f of ['bench/sim/run.ts', 'bench/sim/workloads.ts', 'bench/sim/client.ts', 'bench/sim/report.ts']) expect(inputs).not.toContain(f);
  });
});

describe('stale results', () => {
  test('lists the results measured under another stamp or none, from the JSON and the Markdown', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'sim-chat.md'), `# bench:sim chat\n\n${stampLine('aaaaaaaaaaaa')}\n\nrest`);
    writeFileSync(join(dir, 'sim-chat.json'), JSON.stringify({ modelStamp: 'aaaaaaaaaaaa', runs: [] }));
    writeFileSync(join(dir, 'sim-old.md'), '# bench:sim chat: 2026-11-21\n\nFleet: …\n');
    writeFileSync(join(dir, 'sim-old.json'), JSON.stringify({ workload: 'chat', runs: [] }));
    writeFileSync(join(dir, 'sim-other.json'), JSON.stringify({ modelStamp: 'bbbbbbbbbbbb' }));
    writeFileSync(join(dir, 'overhead.md'), '# not a simulator result\n');
    expect(staleResults(dir, 'aaaaaaaaaaaa').map((r) => [r.file.slice(dir.length + 1), r.stamp])).toEqual([
      ['sim-old.json', null],
      ['sim-old.md', null],
      ['sim-other.json', 'bbbbbbbbbbbb'],
    ]);
  });

  test('the check script names the stale files and fails; with every result current it passes', async () => {
    const dir = tempDir();
    const { stamp } = modelStamp();
    writeFileSync(join(dir, 'sim-new.md'), `# bench:sim agent\n\n${stampLine(stamp)}\n`);
    writeFileSync(join(dir, 'sim-new.json'), JSON.stringify({ modelStamp: stamp }));
    const script = new URL('../stale-results.ts', import.meta.url).pathname;
    const run = async () => {
      const p = Bun.spawn(['bun', script, '--dir', dir], { stdout: 'pipe', stderr: 'pipe' });
      return { code: await p.exited, out: await new Response(p.stdout).text() };
    };
    expect(await run()).toEqual({ code: 0, out: `engine model stamp: ${stamp}\nevery result is current\n` });
    writeFileSync(join(dir, 'sim-chat.md'), '# bench:sim chat: 2026-11-21\n');
    const stale = await run();
    expect(stale.code).toBe(1);
    expect(stale.out).toContain('sim-chat.md (no stamp: measured before stamping)');
    expect(stale.out).toContain('1 stale result file(s)');
  });
});
