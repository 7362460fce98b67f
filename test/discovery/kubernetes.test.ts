// Kubernetes discovery against a fake API server speaking the real list/watch protocol: pods joining and leaving,
// roles, 410 re-lists, dropped and closed watches, bookmarks, back-off, auth, namespaces and the sink contract.
import { describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistry } from '../../src/core/registry.ts';
import { createLogger } from '../../src/log/logger.ts';
import { FakeKubernetes } from '../fixtures/fake-k8s.ts';
import { credentialsFor, watchFake } from './harness.ts';

const url = (ip: string, port = 8000) => `http://${ip}:${port}`;

describe('pods joining and leaving', () => {
  test('adds ready pods matching the selector from the list, then from the watch, and removes deleted ones', async () => {
    await using k8s = FakeKubernetes.start();
    k8s.addPod({ name: 'vllm-0', labels: { app: 'vllm', tier: 'gpu' }, ip: '10.0.0.1' });
    k8s.addPod({ name: 'vllm-1', namespace: 'team-b', labels: { app: 'vllm', tier: 'gpu' }, ip: '10.0.0.2' });
    k8s.addPod({ name: 'vllm-cpu', labels: { app: 'vllm', tier: 'cpu' }, ip: '10.0.0.7' });
    k8s.addPod({ name: 'web-0', labels: { app: 'web' }, ip: '10.0.0.9' });
    const listedAt = k8s.resourceVersion;
    await using w = watchFake(k8s, { selector: ['app=vllm', 'tier=gpu'] });

    expect(await w.discovery.synced).toBe(true);
    expect(w.ids()).toEqual([url('10.0.0.1'), url('10.0.0.2')]);
    expect(k8s.lists).toEqual([{ path: '/api/v1/pods', params: { labelSelector: 'app=vllm,tier=gpu' }, authorization: null, watch: false }]);
    await k8s.until(() => k8s.openWatches === 1);
    expect(k8s.watches[0]?.params).toMatchObject({
      labelSelector: 'app=vllm,tier=gpu',
      watch: '1',
      resourceVersion: listedAt,
      allowWatchBookmarks: 'true',
    });

    const mark = w.mark();
    k8s.addPod({ name: 'web-1', labels: { app: 'web' }, ip: '10.0.0.8' });
    k8s.addPod({ name: 'vllm-2', labels: { app: 'vllm', tier: 'gpu' }, ip: '10.0.0.3' });
    expect(await w.next('added', undefined, mark)).toMatchObject({
      id: url('10.0.0.3'),
      spec: { url: url('10.0.0.3'), role: 'regular' },
      pod: { namespace: 'default', name: 'vllm-2' },
    });
    k8s.deletePod('vllm-0');
    expect(await w.next('removed', undefined, mark)).toMatchObject({ id: url('10.0.0.1'), reason: 'deleted', pod: { name: 'vllm-0' } });
    expect(w.ids()).toEqual([url('10.0.0.2'), url('10.0.0.3')]);
    expect(w.discovery.endpoints().map((s) => s.url).sort()).toEqual([url('10.0.0.2'), url('10.0.0.3')]);
    expect(w.events.slice(mark).filter((e) => e.type === 'added')).toHaveLength(1);
  });

  test('a pod leaves when it stops being ready or running, and comes back when ready again', async () => {
    await using k8s = FakeKubernetes.start();
    k8s.addPod({ name: 'vllm-0', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    await using w = watchFake(k8s);
    await w.discovery.synced;
    expect(w.ids()).toEqual([url('10.0.0.1')]);

    let mark = w.mark();
    k8s.setReady('vllm-0', false);
    expect(await w.next('removed', undefined, mark)).toMatchObject({ id: url('10.0.0.1'), reason: 'not_serving' });
    expect(w.ids()).toEqual([]);

    mark = w.mark();
    k8s.setReady('vllm-0', true);
    expect(await w.next('added', undefined, mark)).toMatchObject({ id: url('10.0.0.1') });
    expect(w.ids()).toEqual([url('10.0.0.1')]);

    mark = w.mark();
    k8s.setPhase('vllm-0', 'Failed');
    expect(await w.next('removed', undefined, mark)).toMatchObject({ id: url('10.0.0.1'), reason: 'not_serving' });
    expect(w.ids()).toEqual([]);
  });

  test('a pending pod joins only once it is Running with an IP and Ready', async () => {
    await using k8s = FakeKubernetes.start();
    k8s.addPod({ name: 'vllm-0', labels: { app: 'vllm' }, ip: null, ready: false });
    await using w = watchFake(k8s);
    await w.discovery.synced;
    expect(w.ids()).toEqual([]);

    const mark = w.mark();
    k8s.setPhase('vllm-0', 'Running', '10.0.0.4'); // started, readiness probe not passed yet
    k8s.setReady('vllm-0', true);
    expect(await w.next('added', undefined, mark)).toMatchObject({ id: url('10.0.0.4') });
    // Events apply in order, so the not-yet-ready MODIFIED was seen first and added nothing.
    expect(w.events.slice(mark).filter((e) => e.type === 'added' || e.type === 'removed')).toHaveLength(1);
  });

  test('a pod being deleted leaves at its deletionTimestamp, before the DELETED event', async () => {
    await using k8s = FakeKubernetes.start();
    k8s.addPod({ name: 'vllm-0', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    await using w = watchFake(k8s);
    await w.discovery.synced;

    const mark = w.mark();
    k8s.beginDelete('vllm-0'); // still Running and Ready during its grace period
    expect(await w.next('removed', undefined, mark)).toMatchObject({ id: url('10.0.0.1'), reason: 'not_serving' });
    k8s.deletePod('vllm-0');
    k8s.addPod({ name: 'vllm-1', labels: { app: 'vllm' }, ip: '10.0.0.2' });
    await w.next('added', (e) => e.id === url('10.0.0.2'), mark);
    expect(w.events.slice(mark).filter((e) => e.type === 'removed')).toHaveLength(1);
    expect(w.ids()).toEqual([url('10.0.0.2')]);
  });
});

describe('prefill/decode roles', () => {
  test('selectors give roles, the annotation gives the bootstrap port, and prefill wins over decode', async () => {
    await using k8s = FakeKubernetes.start({ splitLines: true });
    const annotation = (port: string) => ({ 'vllm.ai/bootstrap-port': port });
    k8s.addPod({ name: 'p0', labels: { app: 'vllm', stage: 'prefill' }, annotations: annotation('8998'), ip: '10.1.0.1' });
    k8s.addPod({ name: 'p1', labels: { app: 'vllm', stage: 'prefill' }, annotations: annotation('not-a-port'), ip: '10.1.0.2' });
    k8s.addPod({ name: 'd0', labels: { app: 'vllm' }, annotations: annotation('9000'), ip: '10.1.0.3' });
    await using w = watchFake(k8s, { pd: true, prefillSelector: ['app=vllm', 'stage=prefill'], decodeSelector: ['app=vllm'], port: 8100 });
    expect(await w.discovery.synced).toBe(true);

    expect(w.ids('prefill')).toEqual([url('10.1.0.1', 8100), url('10.1.0.2', 8100)]);
    expect(w.ids('decode')).toEqual([url('10.1.0.3', 8100)]);
    expect(w.registry.get(url('10.1.0.1', 8100))?.bootstrapPort).toBe(8998);
    expect(w.registry.get(url('10.1.0.2', 8100))?.bootstrapPort).toBeNull();
    expect(w.registry.get(url('10.1.0.3', 8100))?.bootstrapPort).toBeNull();
    expect(k8s.lists.map((r) => r.params['labelSelector']).sort()).toEqual(['app=vllm', 'app=vllm,stage=prefill']);

    // A decode pod relabelled as prefill changes role (the decode watch sees it yield, the prefill watch add it).
    let mark = w.mark();
    k8s.setLabels('d0', { app: 'vllm', stage: 'prefill' });
    expect(await w.next('added', undefined, mark)).toMatchObject({ id: url('10.1.0.3', 8100), spec: { role: 'prefill', bootstrapPort: 9000 } });
    expect(w.ids('decode')).toEqual([]);
    expect(w.registry.get(url('10.1.0.3', 8100))?.role).toBe('prefill');

    // A new bootstrap port re-registers the endpoint with it.
    mark = w.mark();
    k8s.setAnnotations('p1', annotation('7000'));
    expect(await w.next('removed', undefined, mark)).toMatchObject({ id: url('10.1.0.2', 8100), reason: 'changed' });
    expect(await w.next('added', undefined, mark)).toMatchObject({ id: url('10.1.0.2', 8100), spec: { bootstrapPort: 7000 } });
    expect(w.registry.get(url('10.1.0.2', 8100))?.bootstrapPort).toBe(7000);
  });

  test('PD mode with only a decode selector watches decode pods only', async () => {
    await using k8s = FakeKubernetes.start();
    k8s.addPod({ name: 'd0', labels: { role: 'decode' }, ip: '10.1.0.3' });
    await using w = watchFake(k8s, { pd: true, decodeSelector: ['role=decode'] });
    await w.discovery.synced;
    expect(w.ids('decode')).toEqual([url('10.1.0.3')]);
    expect(k8s.lists).toHaveLength(1);
  });
});

describe('watch interruptions', () => {
  test('on a 410 ERROR event it re-lists, removing pods deleted while the watch was down', async () => {
    await using k8s = FakeKubernetes.start();
    for (const [name, ip] of [['a', '10.0.0.1'], ['b', '10.0.0.2'], ['c', '10.0.0.3']] as const) k8s.addPod({ name, labels: { app: 'vllm' }, ip });
    await using w = watchFake(k8s);
    await k8s.until(() => k8s.openWatches === 1);
    expect(w.ids()).toHaveLength(3);

    // Changes the watch never sees: delivery stops, history is compacted, then the watch is told it is too old.
    k8s.freeze();
    const mark = w.mark();
    k8s.deletePod('b');
    k8s.setReady('c', false);
    k8s.addPod({ name: 'd', labels: { app: 'vllm' }, ip: '10.0.0.4' });
    k8s.compact();
    k8s.expireWatches();
    k8s.thaw();

    await w.next('listed', undefined, mark);
    expect(await w.next('expired', undefined, mark)).toMatchObject({ message: expect.stringContaining('too old resource version') });
    const changes = w.events.slice(mark).filter((e) => e.type === 'added' || e.type === 'removed');
    expect(changes).toEqual([
      expect.objectContaining({ type: 'removed', id: url('10.0.0.2'), reason: 'missing' }),
      expect.objectContaining({ type: 'removed', id: url('10.0.0.3'), reason: 'not_serving' }),
      expect.objectContaining({ type: 'added', id: url('10.0.0.4') }),
    ]);
    expect(w.ids()).toEqual([url('10.0.0.1'), url('10.0.0.4')]);
    expect(k8s.lists).toHaveLength(2);

    // The new watch starts from the new list and works.
    await w.next('watching', undefined, mark);
    k8s.addPod({ name: 'e', labels: { app: 'vllm' }, ip: '10.0.0.5' });
    await w.next('added', (e) => e.id === url('10.0.0.5'), mark);
  });

  test('on an HTTP 410 for a dropped watch it re-lists and reconciles', async () => {
    await using k8s = FakeKubernetes.start({ goneAs: 'status' });
    k8s.addPod({ name: 'a', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    k8s.addPod({ name: 'b', labels: { app: 'vllm' }, ip: '10.0.0.2' });
    await using w = watchFake(k8s);
    await k8s.until(() => k8s.openWatches === 1);

    k8s.freeze(); // the client's reconnection waits until thaw
    const mark = w.mark();
    k8s.deletePod('a');
    k8s.compact();
    k8s.dropWatches();
    await w.next('retrying', undefined, mark);
    k8s.thaw();

    await w.next('listed', undefined, mark);
    expect(await w.next('expired', undefined, mark)).toMatchObject({ message: expect.stringContaining('too old resource version') });
    expect(await w.next('removed', undefined, mark)).toMatchObject({ id: url('10.0.0.1'), reason: 'missing' });
    expect(w.ids()).toEqual([url('10.0.0.2')]);
  });

  test('a dropped watch resumes from the last resource version seen, without a re-list', async () => {
    await using k8s = FakeKubernetes.start();
    await using w = watchFake(k8s);
    await w.next('watching');
    k8s.addPod({ name: 'a', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    await w.next('added');
    const seen = k8s.resourceVersion;

    const mark = w.mark();
    k8s.dropWatches();
    k8s.addPod({ name: 'b', labels: { app: 'vllm' }, ip: '10.0.0.2' }); // while no watch is open
    expect(await w.next('added', undefined, mark)).toMatchObject({ id: url('10.0.0.2') });
    expect(await w.next('retrying', undefined, mark)).toMatchObject({ delayMs: 5, message: expect.stringContaining('watch') });
    expect(k8s.lists).toHaveLength(1);
    expect(k8s.watches).toHaveLength(2);
    expect(k8s.watches[1]?.params['resourceVersion']).toBe(seen);
    expect(w.ids()).toEqual([url('10.0.0.1'), url('10.0.0.2')]);
  });

  test('a watch the server closes normally is reopened at once from the last version', async () => {
    await using k8s = FakeKubernetes.start();
    await using w = watchFake(k8s);
    await w.next('watching');
    k8s.addPod({ name: 'a', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    await w.next('added');

    const mark = w.mark();
    k8s.closeWatches();
    expect(await w.next('watching', undefined, mark)).toMatchObject({ resourceVersion: k8s.resourceVersion });
    expect(w.events.slice(mark).map((e) => e.type)).toEqual(['watch_closed', 'watching']);
  });

  test('follows bookmarks, so a resume after compaction needs no re-list', async () => {
    await using k8s = FakeKubernetes.start();
    await using w = watchFake(k8s);
    await k8s.until(() => k8s.openWatches === 1);
    // Changes to pods the selector does not match move the version on without any event for this watch.
    k8s.addPod({ name: 'web-0', labels: { app: 'web' } });
    k8s.addPod({ name: 'web-1', labels: { app: 'web' } });
    k8s.bookmark();
    const bookmark = await w.next('bookmark');
    expect(bookmark.resourceVersion).toBe(k8s.resourceVersion);

    const mark = w.mark();
    k8s.compact();
    k8s.closeWatches();
    expect(await w.next('watching', undefined, mark)).toMatchObject({ resourceVersion: bookmark.resourceVersion });
    k8s.addPod({ name: 'vllm-0', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    await w.next('added', undefined, mark);
    expect(w.events.some((e) => e.type === 'expired')).toBe(false);
    expect(k8s.lists).toHaveLength(1);
  });

  test('a watch that goes silent is presumed dead and reopened', async () => {
    await using k8s = FakeKubernetes.start();
    await using w = watchFake(k8s, { idleTimeoutMs: 50 });
    await w.next('watching');
    const retry = await w.next('retrying');
    expect(retry.message).toContain('received nothing for 50 ms');
    await w.next('watching', undefined, w.events.indexOf(retry));
    expect(k8s.lists).toHaveLength(1);
  });

  test('backs off exponentially up to the cap on API errors, then syncs', async () => {
    await using k8s = FakeKubernetes.start();
    k8s.addPod({ name: 'a', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    k8s.failNext(6, 500);
    await using w = watchFake(k8s);
    expect(await w.discovery.synced).toBe(true);
    const retries = w.events.filter((e) => e.type === 'retrying');
    expect(retries.map((e) => e.delayMs)).toEqual([5, 10, 20, 40, 40, 40]);
    expect(retries[0]?.message).toBe('list: HTTP 500: etcdserver: request timed out');
    expect(w.ids()).toEqual([url('10.0.0.1')]);
  });
});

describe('credentials and scope', () => {
  test('sends the bearer token on lists and watches', async () => {
    await using k8s = FakeKubernetes.start({ token: 'sekret' });
    k8s.addPod({ name: 'a', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    await using w = watchFake(k8s, { credentials: credentialsFor(k8s, 'sekret') });
    expect(await w.discovery.synced).toBe(true);
    await k8s.until(() => k8s.openWatches === 1);
    expect(k8s.requests.map((r) => r.authorization)).toEqual(['Bearer sekret', 'Bearer sekret']);
  });

  test('a refused token (401) is retried with back-off until the server accepts it', async () => {
    await using k8s = FakeKubernetes.start({ token: 'right' });
    k8s.addPod({ name: 'a', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    await using w = watchFake(k8s, { credentials: credentialsFor(k8s, 'wrong') });
    const retry = await w.next('retrying');
    expect(retry.message).toBe('list: HTTP 401: Unauthorized');
    k8s.requireToken('wrong'); // say, RBAC fixed
    expect(await w.discovery.synced).toBe(true);
    expect(w.ids()).toEqual([url('10.0.0.1')]);
  });

  test('a service-account token file is read again for every request, so rotated tokens are used', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8s-token-'));
    try {
      const tokenFile = join(dir, 'token');
      writeFileSync(tokenFile, 'first-token\n');
      await using k8s = FakeKubernetes.start({ token: 'first-token' });
      await using _watch = watchFake(k8s, { credentials: { ...credentialsFor(k8s), auth: { kind: 'token_file', path: tokenFile } } });
      await k8s.until(() => k8s.openWatches === 1);

      writeFileSync(tokenFile, 'second-token\n');
      k8s.requireToken('second-token');
      k8s.dropWatches();
      await k8s.until(() => k8s.openWatches === 1);
      expect(k8s.requests.map((r) => r.authorization)).toEqual(['Bearer first-token', 'Bearer first-token', 'Bearer second-token']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a namespace scopes the list and watch paths; pods elsewhere are never seen', async () => {
    await using k8s = FakeKubernetes.start();
    k8s.addPod({ name: 'a', namespace: 'team-a', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    k8s.addPod({ name: 'b', namespace: 'team-b', labels: { app: 'vllm' }, ip: '10.0.0.2' });
    await using w = watchFake(k8s, { namespace: 'team-a' });
    await w.discovery.synced;
    expect(w.ids()).toEqual([url('10.0.0.1')]);

    await k8s.until(() => k8s.openWatches === 1);
    const mark = w.mark();
    k8s.addPod({ name: 'c', namespace: 'team-b', labels: { app: 'vllm' }, ip: '10.0.0.3' });
    k8s.addPod({ name: 'd', namespace: 'team-a', labels: { app: 'vllm' }, ip: '10.0.0.4' });
    expect(await w.next('added', undefined, mark)).toMatchObject({ id: url('10.0.0.4'), pod: { namespace: 'team-a', name: 'd' } });
    expect(w.ids()).toEqual([url('10.0.0.1'), url('10.0.0.4')]);
    expect(new Set(k8s.requests.map((r) => r.path))).toEqual(new Set(['/api/v1/namespaces/team-a/pods']));
  });
});

describe('the sink', () => {
  test('never removes an endpoint it did not add, such as a static one with a pod URL', async () => {
    await using k8s = FakeKubernetes.start();
    const registry = createRegistry();
    registry.add({ url: url('10.0.0.1') }); // from --worker-urls
    k8s.addPod({ name: 'a', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    await using w = watchFake(k8s, { registry });
    await w.discovery.synced;
    expect(w.events.find((e) => e.type === 'refused')).toMatchObject({ id: url('10.0.0.1'), error: expect.stringContaining('already registered') });
    expect(w.discovery.endpoints()).toEqual([]);

    await w.next('watching');
    const mark = w.mark();
    k8s.deletePod('a');
    k8s.addPod({ name: 'b', labels: { app: 'vllm' }, ip: '10.0.0.2' });
    await w.next('added', undefined, mark);
    expect(w.events.some((e) => e.type === 'removed')).toBe(false);
    expect(w.ids()).toEqual([url('10.0.0.1'), url('10.0.0.2')]);
  });

  test('a refused add is tried again with back-off, without waiting for the pod to change', async () => {
    await using k8s = FakeKubernetes.start();
    const registry = createRegistry();
    let probes = 0;
    k8s.addPod({ name: 'a', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    await using w = watchFake(k8s, {
      registry,
      sink: {
        // Shaped like the endpoint manager: a failed health probe is `{ ok: false, message }`, not a throw.
        add: async (spec) => (++probes <= 2 ? { ok: false, status: 502, message: 'failed its health probe' } : { ok: true, endpoint: registry.add(spec) }),
        remove: (id) => registry.remove(id),
      },
    });
    expect(await w.next('added')).toMatchObject({ id: url('10.0.0.1') });
    expect(w.events.filter((e) => e.type === 'refused')).toEqual([
      expect.objectContaining({ id: url('10.0.0.1'), error: 'failed its health probe', attempt: 1, retryInMs: 5 }),
      expect.objectContaining({ attempt: 2, retryInMs: 10 }),
    ]);
    expect(w.ids()).toEqual([url('10.0.0.1')]);
    expect(w.discovery.endpoints()).toEqual([{ url: url('10.0.0.1'), role: 'regular', name: expect.any(String) }]);
  });

  test('a sink that throws is a refusal too; the pod is tried again on its next change', async () => {
    await using k8s = FakeKubernetes.start();
    const registry = createRegistry();
    let failures = 1;
    k8s.addPod({ name: 'a', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    await using w = watchFake(k8s, {
      registry,
      backoff: { initialMs: 60_000, random: () => 0.5 }, // the timer will not be the one that retries
      sink: {
        add: async (spec) => {
          if (failures-- > 0) throw new Error('registry unavailable');
          return registry.add(spec);
        },
        remove: (id) => registry.remove(id),
      },
    });
    await w.discovery.synced;
    expect(w.events.find((e) => e.type === 'refused')).toMatchObject({ error: 'registry unavailable', attempt: 1, retryInMs: 60_000 });
    expect(w.ids()).toEqual([]);
    k8s.setLabels('a', { app: 'vllm', restarted: 'yes' });
    await w.next('added');
    expect(w.ids()).toEqual([url('10.0.0.1')]);
  });

  test('dispose stops watching and leaves discovered endpoints registered', async () => {
    await using k8s = FakeKubernetes.start();
    k8s.addPod({ name: 'a', labels: { app: 'vllm' }, ip: '10.0.0.1' });
    const w = watchFake(k8s);
    await k8s.until(() => k8s.openWatches === 1);
    await w.discovery.dispose();
    await k8s.until(() => k8s.openWatches === 0);
    expect(w.ids()).toEqual([url('10.0.0.1')]);
    await w.discovery.dispose(); // idempotent
  });

  test('synced is false when disposed before the first list succeeded', async () => {
    await using k8s = FakeKubernetes.start();
    k8s.failNext(1_000, 503, 'apiserver is shutting down');
    const w = watchFake(k8s);
    await w.next('retrying');
    await w.discovery.dispose();
    expect(await w.discovery.synced).toBe(false);
  });

  test('an empty regular selector selects nothing and says so', async () => {
    await using k8s = FakeKubernetes.start();
    const logs: string[] = [];
    const log = createLogger({ level: 'info', json: true, write: (l) => logs.push(l) });
    await using w = watchFake(k8s, { selector: ['no-equals-sign'], log });
    expect(await w.discovery.synced).toBe(true);
    expect(k8s.requests).toEqual([]);
    expect(logs.some((l) => l.includes('empty --selector'))).toBe(true);
  });
});
