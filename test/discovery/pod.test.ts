// Which pods are endpoints: selector parsing and matching, readiness, deletion, roles, bootstrap port, IPv6 URLs.
import { describe, expect, test } from 'bun:test';
import { bootstrapPort, podVerdict, type Pod, type PodRule } from '../../src/discovery/pod.ts';
import { formatSelector, matchesSelector, parseSelector } from '../../src/discovery/selector.ts';

function pod(overrides: { labels?: Record<string, string>; annotations?: Record<string, string>; ip?: string; phase?: string; ready?: string; deleting?: boolean } = {}): Pod {
  return {
    metadata: {
      name: 'vllm-0',
      namespace: 'default',
      labels: overrides.labels ?? { app: 'vllm' },
      annotations: overrides.annotations ?? {},
      ...(overrides.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    status: {
      phase: overrides.phase ?? 'Running',
      podIP: overrides.ip ?? '10.0.0.1',
      conditions: [
        { type: 'ContainersReady', status: 'True' },
        { type: 'Ready', status: overrides.ready ?? 'True' },
      ],
    },
  };
}

const regular: PodRule = { role: 'regular', selector: parseSelector(['app=vllm']), port: 8000 };

describe('selectors', () => {
  test('split at the first "=", ignore items without one, and a later key replaces an earlier one', () => {
    expect(parseSelector(['app=vllm', 'junk', '=x', 'expr=a=b', 'app=vllm2'])).toEqual([
      ['app', 'vllm2'],
      ['expr', 'a=b'],
    ]);
    expect(formatSelector(parseSelector(['app=vllm', 'tier=gpu']))).toBe('app=vllm,tier=gpu');
  });

  test('every pair must match, and an empty selector matches nothing', () => {
    const selector = parseSelector(['app=vllm', 'tier=gpu']);
    expect(matchesSelector({ app: 'vllm', tier: 'gpu', extra: 'x' }, selector)).toBe(true);
    expect(matchesSelector({ app: 'vllm' }, selector)).toBe(false);
    expect(matchesSelector({ app: 'vllm' }, [])).toBe(false);
    expect(matchesSelector(undefined, selector)).toBe(false);
  });
});

describe('pod verdict', () => {
  test('a Running, Ready pod with an IP serves at http://<podIP>:<port>', () => {
    expect(podVerdict(pod(), regular)).toEqual({ serving: true, spec: { url: 'http://10.0.0.1:8000', role: 'regular', name: 'vllm-0' } });
  });

  test('IPv6 pod IPs are bracketed in the URL', () => {
    const verdict = podVerdict(pod({ ip: 'fd00::5' }), regular);
    expect(verdict).toMatchObject({ serving: true, spec: { url: 'http://[fd00::5]:8000' } });
  });

  test('pods that are not ready, not running, without an IP, or being deleted do not serve', () => {
    expect(podVerdict(pod({ ready: 'False' }), regular)).toEqual({ serving: false, why: 'not_ready' });
    expect(podVerdict(pod({ phase: 'Pending' }), regular)).toEqual({ serving: false, why: 'not_running' });
    expect(podVerdict(pod({ phase: 'Succeeded' }), regular)).toEqual({ serving: false, why: 'not_running' });
    expect(podVerdict(pod({ ip: '' }), regular)).toEqual({ serving: false, why: 'no_ip' });
    expect(podVerdict(pod({ deleting: true }), regular)).toEqual({ serving: false, why: 'deleting' });
    expect(podVerdict({ metadata: { labels: { app: 'vllm' } } }, regular)).toEqual({ serving: false, why: 'not_running' });
  });

  test('a pod the selector does not match is not selected, even if the API server sent it', () => {
    expect(podVerdict(pod({ labels: { app: 'web' } }), regular)).toEqual({ serving: false, why: 'not_selected' });
  });

  test('prefill pods carry the bootstrap port annotation; decode pods ignore it; prefill wins over decode', () => {
    const prefill: PodRule = { role: 'prefill', selector: parseSelector(['stage=prefill']), port: 8100 };
    const decode: PodRule = { role: 'decode', selector: parseSelector(['app=vllm']), yieldsTo: prefill.selector, port: 8200 };
    const annotations = { 'vllm.ai/bootstrap-port': '8998' };
    const both = pod({ labels: { app: 'vllm', stage: 'prefill' }, annotations });
    expect(podVerdict(both, prefill)).toEqual({ serving: true, spec: { url: 'http://10.0.0.1:8100', role: 'prefill', name: 'vllm-0', bootstrapPort: 8998 } });
    expect(podVerdict(both, decode)).toEqual({ serving: false, why: 'not_selected' });
    expect(podVerdict(pod({ annotations }), decode)).toEqual({ serving: true, spec: { url: 'http://10.0.0.1:8200', role: 'decode', name: 'vllm-0' } });
  });

  test('a bootstrap port annotation that is not a port is no port', () => {
    const port = (value: string) => bootstrapPort(pod({ annotations: { 'vllm.ai/bootstrap-port': value } }));
    expect(port(' 8998 ')).toBe(8998);
    expect(port('0')).toBeNull();
    expect(port('65536')).toBeNull();
    expect(port('80a')).toBeNull();
    expect(port('-1')).toBeNull();
    expect(bootstrapPort(pod())).toBeNull();
  });
});
