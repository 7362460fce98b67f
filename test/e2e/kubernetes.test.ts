// Kubernetes discovery through the router: pods of a fake API server become endpoints that take traffic,
// leave when not ready or deleted, and show in the admin API.
import { describe, expect, test } from 'bun:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMockEngine } from '../../testkit/mock-engine.ts';
import { FakeKubernetes } from '../fixtures/fake-k8s.ts';
import { startTestRouter } from '../support/router.ts';
import { until } from '../../testkit/until.ts';

const TOKEN = 'sa-token-1';

function kubeconfigFor(k8s: FakeKubernetes): string {
  const file = join(mkdtempSync(join(tmpdir(), 'vllm-router-kube-')), 'config');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: test',
      'clusters:',
      '- name: fake',
      '  cluster:',
      `    server: ${k8s.url}`,
      'users:',
      '- name: router',
      '  user:',
      `    token: ${TOKEN}`,
      'contexts:',
      '- name: test',
      '  context: {cluster: fake, user: router}',
      '',
    ].join('\n'),
  );
  return file;
}

const finished = (engine: { stats(): { requestSuccess: Record<string, number> } }) => Object.values(engine.stats().requestSuccess).reduce((n, x) => n + x, 0);

describe('--service-discovery', () => {
  test('Running and Ready pods take traffic; a readiness flip and a deletion take them out', async () => {
    // Two engines on one port at two pod IPs, as two pods of a Deployment would be.
    await using a = await startMockEngine({ model: 'm', hostname: '127.0.0.2' });
    const port = Number(new URL(a.url).port);
    await using b = await startMockEngine({ model: 'm', hostname: '127.0.0.3', port });
    await using k8s = FakeKubernetes.start({ token: TOKEN });
    k8s.addPod({ name: 'vllm-a', labels: { app: 'vllm' }, ip: '127.0.0.2', phase: 'Running', ready: true });
    k8s.addPod({ name: 'vllm-b', labels: { app: 'vllm' }, ip: '127.0.0.3', phase: 'Running', ready: true });
    k8s.addPod({ name: 'other', labels: { app: 'web' }, ip: '127.0.0.4', phase: 'Running', ready: true });
    await using r = await startTestRouter(['--service-discovery', '--selector', 'app=vllm', '--service-discovery-port', String(port), '--policy', 'round_robin'], { env: { KUBECONFIG: kubeconfigFor(k8s) } });
    await until(() => r.router.registry.all().length === 2, 'both pods registered');
    expect(r.router.registry.all().map((e) => e.url).sort()).toEqual([`http://127.0.0.2:${port}`, `http://127.0.0.3:${port}`]);

    const complete = async () => {
      const res = await fetch(`${r.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'x', max_tokens: 1 }) });
      expect(res.status).toBe(200);
      await res.text();
    };
    for (let i = 0; i < 4; i++) await complete();
    expect([finished(a), finished(b)]).toEqual([2, 2]);

    k8s.setReady('vllm-b', false);
    await until(() => r.router.registry.all().length === 1, 'the unready pod removed');
    for (let i = 0; i < 3; i++) await complete();
    expect([finished(a), finished(b)]).toEqual([5, 2]);
    const workers = (await (await fetch(`${r.url}/workers`)).json()) as { workers: { url: string }[] };
    expect(workers.workers.map((w) => w.url)).toEqual([`http://127.0.0.2:${port}`]);

    k8s.setReady('vllm-b', true);
    k8s.deletePod('vllm-a');
    await until(() => r.router.registry.all().map((e) => e.url).join() === `http://127.0.0.3:${port}`, 'a deleted, b back');
    await complete();
    expect([finished(a), finished(b)]).toEqual([5, 3]);
    const metrics = await (await fetch(r.router.metricsUrl)).text();
    expect(metrics).toContain('vllm_router_discovery_updates_total{source="kubernetes",change="added"} 3');
    expect(metrics).toContain('vllm_router_discovery_updates_total{source="kubernetes",change="removed"} 2');
  });

  test('missing credentials are a start-up configuration error naming the flag', async () => {
    await expect(startTestRouter(['--service-discovery', '--selector', 'app=vllm'], { env: { HOME: mkdtempSync(join(tmpdir(), 'no-kube-')) } })).rejects.toThrow(/--service-discovery/);
  });
});
