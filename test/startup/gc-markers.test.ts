import { describe, expect, test } from 'bun:test';
import { FETCH_LIMIT_VARIABLE, reexecFor } from '../../src/startup/fetch-limit.ts';
import { GC_MARKERS_VARIABLE, gcMarkerEnvironment } from '../../src/startup/gc-markers.ts';

describe('gcMarkerEnvironment', () => {
  test('one marker thread unless the operator chose a count', () => {
    expect(gcMarkerEnvironment({})).toEqual({ [GC_MARKERS_VARIABLE]: '1' });
    expect(gcMarkerEnvironment({ [GC_MARKERS_VARIABLE]: '' })).toEqual({ [GC_MARKERS_VARIABLE]: '1' });
    expect(gcMarkerEnvironment({ [GC_MARKERS_VARIABLE]: '4' })).toEqual({});
  });
});

describe('reexecFor with the GC variables', () => {
  const image = { execPath: '/usr/bin/bun', execArgv: [], argv: ['/usr/bin/bun', '/app/src/main.ts'], main: '/app/src/main.ts', env: { HOME: '/root' } };
  const gc = { [GC_MARKERS_VARIABLE]: '1' };

  test('re-executes when only the GC variable is missing, the fetch limit already in force', () => {
    const r = reexecFor({ ...image, env: { ...image.env, [FETCH_LIMIT_VARIABLE]: '300' } }, 300, gc);
    expect(r?.env).toEqual({ HOME: '/root', [FETCH_LIMIT_VARIABLE]: '300', [GC_MARKERS_VARIABLE]: '1' });
  });

  test('sets both at once, and nothing is left to do once both are in force', () => {
    expect(reexecFor(image, 300, gc)?.env).toEqual({ HOME: '/root', [FETCH_LIMIT_VARIABLE]: '300', [GC_MARKERS_VARIABLE]: '1' });
    expect(reexecFor({ ...image, env: { [FETCH_LIMIT_VARIABLE]: '300', [GC_MARKERS_VARIABLE]: '1' } }, 300, gc)).toBeUndefined();
  });
});
