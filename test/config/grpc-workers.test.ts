// grpc:// endpoints on the command line: accepted as HOST:PORT, refused with the flag and the reason otherwise, and
// refused for prefill/decode disaggregation.
import { describe, expect, test } from 'bun:test';
import { loadConfig, type LoadResult } from '../../src/config/load.ts';

const load = (argv: string[]): LoadResult => loadConfig({ argv, env: {}, readFile: () => '', version: '0' });
const problem = (argv: string[]): string => {
  const r = load(argv);
  if (r.kind !== 'error') throw new Error(`expected an error, got ${r.kind}`);
  return JSON.stringify(r.error);
};

describe('grpc:// workers', () => {
  test('a fleet may mix http and grpc endpoints, and --grpc-protocol defaults to auto', () => {
    const r = load(['--worker-urls', 'grpc://node1:50051', 'http://node2:8000', 'grpc://[::1]:50052']);
    expect(r.kind).toBe('config');
    if (r.kind === 'config') expect(r.config.grpc_protocol).toBe('auto');
    const forced = load(['--worker-urls', 'grpc://a:1', '--grpc-protocol', 'vllm-inference']);
    expect(forced.kind === 'config' && forced.config.grpc_protocol).toBe('vllm-inference');
  });

  test.each([
    ['grpc://node1', 'grpc://HOST:PORT'],
    ['grpc://node1:50051/v1', 'grpc://HOST:PORT'],
    ['grpc://user@node1:50051', 'grpc://HOST:PORT'],
    ['grpc://node1:70000', 'outside 1-65535'],
    ['tcp://node1:50051', 'must start with http://, https:// or grpc://'],
  ])('%s is refused (%s)', (url, reason) => {
    const text = problem(['--worker-urls', url]);
    expect(text).toContain(reason);
    expect(text).toContain('worker');
  });

  test('prefill/decode over gRPC is refused at start-up with a clear message', () => {
    expect(problem(['--vllm-pd-disaggregation', '--prefill', 'grpc://p:1', '--decode', 'http://d:1'])).toContain('disaggregation over gRPC engines is not supported');
    expect(problem(['--vllm-pd-disaggregation', '--prefill', 'http://p:1', '--decode', 'grpc://d:1'])).toContain('disaggregation over gRPC engines is not supported');
  });

  test('--grpc-protocol takes only the two protocols or auto', () => {
    expect(problem(['--worker-urls', 'grpc://a:1', '--grpc-protocol', 'vllm.Generate'])).toContain('auto, vllm-engine, vllm-inference');
  });
});
