// The Kubernetes API client on the wire: PodList parsing, watch lines split across chunks, ERROR and HTTP 410,
// Status messages, garbage and oversized lines, and the server's own view of selectors and namespaces.
import { describe, expect, test } from 'bun:test';
import { createKubeClient, type KubeClientOptions, type WatchItem } from '../../src/discovery/kube-client.ts';
import { FakeKubernetes } from '../fixtures/fake-k8s.ts';
import { credentialsFor } from './harness.ts';

const ALL = { namespace: undefined, labelSelector: 'app=vllm' };

function client(k8s: { url: string }, options: Partial<KubeClientOptions> = {}) {
  return createKubeClient({ credentials: credentialsFor(k8s as FakeKubernetes), ...options });
}

/** Collects watch items until END, or until `stopAfter` items (then the watch is closed by breaking out). */
async function collect(items: AsyncIterable<WatchItem>, stopAfter = Infinity): Promise<WatchItem[]> {
  const out: WatchItem[] = [];
  for await (const item of items) {
    out.push(item);
    if (out.length >= stopAfter) break;
  }
  return out;
}

const names = (items: WatchItem[]) => items.map((i) => ('pod' in i ? `${i.type} ${i.pod.metadata?.name}` : i.type));

describe('list', () => {
  test('returns the pods the selector and namespace match, with the list resource version', async () => {
    await using k8s = FakeKubernetes.start();
    k8s.addPod({ name: 'a', labels: { app: 'vllm' } });
    k8s.addPod({ name: 'b', namespace: 'other', labels: { app: 'vllm' } });
    k8s.addPod({ name: 'c', labels: { app: 'web' } });
    const kube = client(k8s);
    const all = await kube.listPods(ALL, AbortSignal.timeout(5_000));
    expect(all.ok && all.value.pods.map((p) => p.metadata?.name)).toEqual(['a', 'b']);
    expect(all.ok && all.value.resourceVersion).toBe(k8s.resourceVersion);
    const scoped = await kube.listPods({ namespace: 'other', labelSelector: 'app=vllm' }, AbortSignal.timeout(5_000));
    expect(scoped.ok && scoped.value.pods.map((p) => p.metadata?.name)).toEqual(['b']);
  });

  test('a list that never answers is abandoned after the list timeout', async () => {
    using server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Promise<Response>(() => {}) });
    const result = await client({ url: `http://127.0.0.1:${server.port}` }, { listTimeoutMs: 30 }).listPods(ALL, AbortSignal.timeout(5_000));
    expect(result).toEqual({ ok: false, failure: { kind: 'network', message: 'no answer in 30 ms' } });
  });

  test('HTTP errors carry the Status message; a dead server is a network failure', async () => {
    await using k8s = FakeKubernetes.start({ token: 't' });
    const refused = await client(k8s).listPods(ALL, AbortSignal.timeout(5_000));
    expect(refused).toEqual({ ok: false, failure: { kind: 'http', status: 401, message: 'HTTP 401: Unauthorized' } });
    const port = k8s.port;
    await k8s.close();
    const dead = await client({ url: `http://127.0.0.1:${port}` }).listPods(ALL, AbortSignal.timeout(5_000));
    expect(dead).toMatchObject({ ok: false, failure: { kind: 'network' } });
  });
});

describe('watch', () => {
  test('replays changes after the version, reassembles lines split across chunks, and reports selector exits as DELETED', async () => {
    await using k8s = FakeKubernetes.start({ splitLines: true });
    const from = k8s.resourceVersion;
    k8s.addPod({ name: 'a', labels: { app: 'vllm' } });
    k8s.addPod({ name: 'b', labels: { app: 'web' } });
    k8s.setReady('a', false);
    k8s.setLabels('b', { app: 'vllm' }); // enters the selector
    k8s.setLabels('a', { app: 'web' }); // leaves it
    const items = await collect(client(k8s).watchPods(ALL, from, AbortSignal.timeout(5_000)), 5);
    expect(names(items)).toEqual(['OPEN', 'ADDED a', 'MODIFIED a', 'ADDED b', 'DELETED a']);
    const modified = items[2] as Extract<WatchItem, { pod: unknown }>;
    expect(modified.pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
  });

  test('bookmarks carry the version; a server-side close is a clean END', async () => {
    await using k8s = FakeKubernetes.start();
    const watching = collect(client(k8s).watchPods(ALL, k8s.resourceVersion, AbortSignal.timeout(5_000)));
    await k8s.until(() => k8s.openWatches === 1);
    k8s.addPod({ name: 'x', labels: { app: 'other' } });
    k8s.bookmark();
    k8s.closeWatches();
    expect(await watching).toEqual([{ type: 'OPEN' }, { type: 'BOOKMARK', resourceVersion: k8s.resourceVersion }, { type: 'END' }]);
    expect(k8s.watches[0]?.params['allowWatchBookmarks']).toBe('true');
  });

  test('a too-old version ends with an expired failure, from an ERROR event or an HTTP 410', async () => {
    for (const goneAs of ['event', 'status'] as const) {
      await using k8s = FakeKubernetes.start({ goneAs });
      const old = k8s.resourceVersion;
      k8s.addPod({ name: 'a', labels: { app: 'vllm' } });
      k8s.compact();
      const items = await collect(client(k8s).watchPods(ALL, old, AbortSignal.timeout(5_000)));
      expect(items.at(-1)).toEqual({ type: 'END', failure: { kind: 'expired', message: `too old resource version: ${old} (${k8s.resourceVersion})` } });
    }
  });

  test('a dropped connection ends with a network failure', async () => {
    await using k8s = FakeKubernetes.start();
    const items: WatchItem[] = [];
    for await (const item of client(k8s).watchPods(ALL, k8s.resourceVersion, AbortSignal.timeout(5_000))) {
      items.push(item);
      if (item.type === 'OPEN') k8s.addPod({ name: 'a', labels: { app: 'vllm' } });
      if (item.type === 'ADDED') k8s.dropWatches();
    }
    expect(names(items)).toEqual(['OPEN', 'ADDED a', 'END']);
    expect(items.at(-1)).toMatchObject({ type: 'END', failure: { kind: 'network' } });
  });

  test('breaking out of a watch closes the connection', async () => {
    await using k8s = FakeKubernetes.start();
    await collect(client(k8s).watchPods(ALL, k8s.resourceVersion, AbortSignal.timeout(5_000)), 1);
    await k8s.until(() => k8s.openWatches === 0);
  });

  test('garbage, unknown event types and oversized lines end the watch with a protocol failure', async () => {
    const bodies: Record<string, string> = {
      '/garbage': '{"type":"ADDED","object":{}}\nnot json\n',
      '/unknown': '{"type":"SURPRISE","object":{}}\n',
      '/huge': `{"type":"ADDED","object":{"pad":"${'x'.repeat(4096)}"}}\n`,
    };
    using server = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: (req) => new Response(bodies[new URL(req.url).searchParams.get('labelSelector') ?? ''] ?? ''),
    });
    const kube = client({ url: `http://127.0.0.1:${server.port}` }, { maxLineBytes: 1024 });
    const last = async (which: string) => (await collect(kube.watchPods({ namespace: undefined, labelSelector: which }, '1', AbortSignal.timeout(5_000)))).at(-1);
    expect(await last('/garbage')).toMatchObject({ type: 'END', failure: { kind: 'protocol', message: expect.stringContaining('not JSON') } });
    expect(await last('/unknown')).toMatchObject({ type: 'END', failure: { kind: 'protocol', message: 'unknown watch event type SURPRISE' } });
    expect(await last('/huge')).toMatchObject({ type: 'END', failure: { kind: 'protocol', message: 'watch event longer than 1024 bytes' } });
  });

  test('a silent watch is ended after the idle timeout', async () => {
    await using k8s = FakeKubernetes.start();
    const items = await collect(client(k8s, { idleTimeoutMs: 30 }).watchPods(ALL, k8s.resourceVersion, AbortSignal.timeout(5_000)));
    expect(items).toEqual([{ type: 'OPEN' }, { type: 'END', failure: { kind: 'network', message: 'watch received nothing for 30 ms' } }]);
    await k8s.until(() => k8s.openWatches === 0);
  });
});
