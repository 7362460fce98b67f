import { describe, expect, test } from 'bun:test';
import { createEndpointManager } from '../../src/core/endpoint-manager.ts';
import { createRegistry } from '../../src/core/registry.ts';
import { createLogger } from '../../src/log/logger.ts';
import { until } from '../../testkit/until.ts';

const log = createLogger({ level: 'error', json: true, write: () => {} });

/** A probe whose answers the test gives, one per call. */
function heldProbe() {
  const calls: { url: string; answer: (ok: boolean) => void }[] = [];
  return { calls, probe: (url: string) => new Promise<boolean>((answer) => calls.push({ url, answer })) };
}

describe('endpoint manager', () => {
  test('the registry sees an endpoint only after its probe succeeded', async () => {
    const registry = createRegistry();
    const seen: string[][] = [];
    registry.onChange(() => seen.push(registry.all().map((e) => e.id)));
    const held = heldProbe();
    using manager = createEndpointManager({ registry, probe: held.probe, log, drainTimeoutMs: 1000 });
    const adding = manager.add({ url: 'http://10.0.0.5:8000/' });
    expect(held.calls.map((c) => c.url)).toEqual(['http://10.0.0.5:8000']);
    expect(registry.all()).toHaveLength(0);
    held.calls[0]!.answer(true);
    const added = await adding;
    expect(added.ok && added.endpoint.id).toBe('http://10.0.0.5:8000');
    expect(seen).toEqual([['http://10.0.0.5:8000']]);
  });

  test('data-parallel ranks: one probe per URL, one endpoint per rank, removed together by base URL', async () => {
    const registry = createRegistry();
    using manager = createEndpointManager({ registry, probe: async () => true, log, drainTimeoutMs: 1000, dpSize: 2 });
    const added = await manager.add({ url: 'http://10.0.0.5:8000' });
    expect(added.ok && added.endpoints.map((e) => [e.id, e.dpRank])).toEqual([
      ['http://10.0.0.5:8000@0', 0],
      ['http://10.0.0.5:8000@1', 1],
    ]);
    expect(manager.find('http://10.0.0.5:8000@1').map((e) => e.id)).toEqual(['http://10.0.0.5:8000@1']);
    const removed = manager.remove('http://10.0.0.5:8000');
    expect(removed.ok && removed.endpoints).toHaveLength(2);
    expect(registry.all()).toHaveLength(0);
    expect(await (removed.ok && removed.drained)).toMatchObject({ drained: true, inFlight: 0 });
  });

  test('a remove while the probe runs cancels the add', async () => {
    const registry = createRegistry();
    const held = heldProbe();
    using manager = createEndpointManager({ registry, probe: held.probe, log, drainTimeoutMs: 1000 });
    const adding = manager.add({ url: 'http://10.0.0.5:8000' });
    expect(manager.remove('http://10.0.0.5:8000').ok).toBe(true);
    held.calls[0]!.answer(true);
    expect(await adding).toEqual({ ok: false, status: 409, message: 'Endpoint http://10.0.0.5:8000 was removed while it was being added' });
    expect(registry.all()).toHaveLength(0);
  });

  test('removal marks the endpoint draining and resolves when its last request ends', async () => {
    const registry = createRegistry();
    // Every look at the in-flight count reads the clock: counting reads shows the drain kept looking.
    let looks = 0;
    const now = () => (looks++, performance.now());
    using manager = createEndpointManager({ registry, probe: async () => true, log, drainTimeoutMs: 60_000, drainPollMs: 1, now });
    const added = await manager.add({ url: 'http://10.0.0.5:8000' });
    if (!added.ok) throw new Error(added.message);
    added.endpoint.inFlight = 2;
    const removed = manager.remove(added.endpoint.id);
    if (!removed.ok) throw new Error(removed.message);
    expect(added.endpoint.draining).toBe(true);
    expect(registry.all()).toHaveLength(0);
    expect(manager.draining()).toEqual([added.endpoint]);
    let outcome: unknown;
    void removed.drained.then((d) => (outcome = d));
    added.endpoint.inFlight = 1;
    const before = looks;
    await until(() => looks > before + 3, 'the drain to look again');
    expect(outcome).toBeUndefined();
    added.endpoint.inFlight = 0;
    expect(await removed.drained).toMatchObject({ drained: true, inFlight: 0 });
    expect(manager.draining()).toEqual([]);
  });

  test('dispose ends every drain wait with what is known', async () => {
    const registry = createRegistry();
    const manager = createEndpointManager({ registry, probe: async () => true, log, drainTimeoutMs: 60_000 });
    const added = await manager.add({ url: 'http://10.0.0.5:8000' });
    if (!added.ok) throw new Error(added.message);
    added.endpoint.inFlight = 1;
    const removed = manager.remove(added.endpoint.id);
    manager[Symbol.dispose]();
    expect(await (removed.ok && removed.drained)).toMatchObject({ drained: false, inFlight: 1 });
  });
});
