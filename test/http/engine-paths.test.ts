import { describe, expect, test } from 'bun:test';
import { forwardPathProblem, forwardRules, isEngineAdminPath, isPlainPath } from '../../src/wire/engine-paths.ts';
import { isAdminPath } from '../../src/http/routes/admin.ts';
import { ENGINE_ADMIN_PATHS, ENGINE_CLIENT_PATHS } from './engine-route-lists.ts';

const rules = forwardRules([]);

describe('engine route classes', () => {
  test("vLLM's inference and information routes are forwarded", () => {
    for (const path of ENGINE_CLIENT_PATHS) expect([path, rules.classify(path)]).toEqual([path, 'forward']);
  });

  test("vLLM's administrative and development routes need the admin key", () => {
    for (const path of ENGINE_ADMIN_PATHS) {
      expect([path, rules.classify(path)]).toEqual([path, 'admin']);
      // The same set the client-key check exempts and the refusal counter files under `admin`.
      expect(isAdminPath(path)).toBe(true);
    }
    for (const path of ['/v1/admin/drain', '/metrics/x', '/dashboard/api/info', '/v1/requests/abc/cancel', '/v1/requests/abc', '/adapters/a1'])
      expect([path, rules.classify(path)]).toEqual([path, 'admin']);
  });

  test('path-parameter routes match one plain segment', () => {
    expect(rules.classify('/v1/responses/resp_123')).toBe('forward');
    expect(rules.classify('/v1/responses/resp_123/cancel')).toBe('forward');
    expect(rules.classify('/v1/responses/resp_123/input_items')).toBe('forward');
    for (const path of ['/v1/responses/', '/v1/responses/a/b', '/v1/responses/..%2F..%2Freset_prefix_cache', '/v1/responses/%72', '/v1/responses//cancel'])
      expect([path, rules.classify(path)]).toEqual([path, 'closed']);
  });

  test('anything else is closed, and no spelling of an admin route is forwarded', () => {
    const tricks = [
      '/',
      '/no/such/route',
      '//reset_prefix_cache',
      '/%72eset_prefix_cache',
      '/reset%5fprefix_cache',
      '/reset_prefix_cache/',
      '/RESET_PREFIX_CACHE',
      '/Reset_Prefix_Cache',
      '/reset_prefix_cache%00',
      '/reset_prefix_cache;x',
      '/v1//models',
      '/v1/models/',
      '/sleep%2F',
      '/metricsX',
      '\\reset_prefix_cache',
    ];
    for (const path of tricks) expect([path, rules.classify(path)]).toEqual([path, 'closed']);
  });

  test('isPlainPath accepts plain segments only', () => {
    for (const p of ['/', '/a', '/v1/files/file-abc_1.txt', "/a:b@c!$&'()*+,;=~"]) expect([p, isPlainPath(p)]).toEqual([p, true]);
    for (const p of ['', 'a', '//a', '/a/', '/a//b', '/./a', '/a/..', '/a%2Fb', '/a\\b', '/a b', '/ä', '/a?b', '/a#b']) expect([p, isPlainPath(p)]).toEqual([p, false]);
  });
});

describe('--forward-paths', () => {
  test('opens exactly the exact paths and prefixes it names', () => {
    const open = forwardRules(['/custom/route', '/v1/files/*']);
    expect(open.classify('/custom/route')).toBe('forward');
    expect(open.classify('/custom/route/x')).toBe('closed');
    expect(open.classify('/custom')).toBe('closed');
    expect(open.classify('/v1/files/file-1')).toBe('forward');
    expect(open.classify('/v1/files/file-1/content')).toBe('forward');
    expect(open.classify('/v1/files/')).toBe('closed');
    expect(open.classify('/v1/files')).toBe('closed');
    expect(open.classify('/v1/files/a%2F..%2F..%2Freset_prefix_cache')).toBe('closed');
    expect(open.classify('/v1/files//x')).toBe('closed');
    expect(open.classify('/no/such/route')).toBe('closed');
  });

  test('never opens an administrative route, not even under a prefix that covers it', () => {
    const open = forwardRules(['/*', '/sleep']);
    expect(open.classify('/anything/at/all')).toBe('forward');
    for (const path of ENGINE_ADMIN_PATHS) expect([path, open.classify(path)]).toEqual([path, 'admin']);
    expect(open.classify('/%72eset_prefix_cache')).toBe('closed');
  });

  test('entries are checked at start-up', () => {
    expect(forwardPathProblem('/custom')).toBeUndefined();
    expect(forwardPathProblem('/v1/files/*')).toBeUndefined();
    expect(forwardPathProblem('/v1/files*')).toBeUndefined();
    expect(forwardPathProblem('/*')).toBeUndefined();
    expect(forwardPathProblem('custom')).toBe('must start with /');
    expect(forwardPathProblem('/a/*/b')).toMatch(/may only end the path/);
    expect(forwardPathProblem('/a?b=1')).toMatch(/without a query string/);
    expect(forwardPathProblem('/a%2Fb')).toMatch(/plain path segments/);
    expect(forwardPathProblem('/a//b')).toMatch(/plain path segments/);
    expect(forwardPathProblem('/sleep')).toMatch(/administrative route/);
    expect(isEngineAdminPath('/sleep')).toBe(true);
  });
});
