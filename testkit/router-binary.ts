// The one way tests and benchmarks compile the router: `bun build.ts PATH` from the repository root.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

export interface RouterBinary extends Disposable {
  readonly path: string;
}

/**
 * Builds the router binary at `path`, or without one in a fresh temporary directory that dispose removes (a
 * given path belongs to the caller and stays). Throws with the build's output when the build fails.
 */
export function buildRouterBinary(path?: string): RouterBinary {
  const dir = path === undefined ? mkdtempSync(join(tmpdir(), 'vllm-router-build-')) : undefined;
  const out = path ?? join(dir!, 'vllm-router');
  const build = Bun.spawnSync(['bun', 'build.ts', out], { cwd: root, stdout: 'pipe', stderr: 'pipe' });
  if (build.exitCode !== 0) throw new Error(`bun build.ts ${out} failed: ${build.stderr.toString()}${build.stdout.toString()}`);
  return { path: out, [Symbol.dispose]: () => dir !== undefined && rmSync(dir, { recursive: true, force: true }) };
}
