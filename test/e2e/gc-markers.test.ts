// The compiled binary runs with one GC marker thread per heap (src/startup/gc-markers.ts): set in the environment
// its re-exec starts with, since JSC reads it only then; an operator's own value is kept.
import { afterAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { buildRouterBinary } from '../../testkit/router-binary.ts';
import { startRouterProcess } from '../../testkit/router-process.ts';

const build = buildRouterBinary();
afterAll(() => build[Symbol.dispose]());

/** The environment the process is running with (what JSC read at its start). */
const environmentOf = (pid: number): Map<string, string> =>
  new Map(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );

describe.if(process.platform === 'linux')('GC marker threads (compiled binary)', () => {
  test('the router process starts with BUN_JSC_numberOfGCMarkers=1', async () => {
    await using router = await startRouterProcess(build.path, []);
    expect(environmentOf(router.pid).get('BUN_JSC_numberOfGCMarkers')).toBe('1');
    expect((await fetch(`${router.url}/liveness`)).status).toBe(200);
  });

  test("an operator's value is kept", async () => {
    await using router = await startRouterProcess(build.path, [], { BUN_JSC_numberOfGCMarkers: '2' });
    expect(environmentOf(router.pid).get('BUN_JSC_numberOfGCMarkers')).toBe('2');
  });
});
