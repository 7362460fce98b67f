// vLLM self-registration listener: real libzmq engines pinging, validation, TTL expiry on a timer, MoRI-IO mode lock.
import { describe, expect, test } from 'bun:test';
import { pack } from 'msgpackr';
import {
  type DiscoveredInstance,
  type Rejection,
  RegistrationListener,
  type RegistrationListenerOptions,
} from '../../../src/routing/pd/registration.ts';
import { DealerSocket } from '../../../src/zmq/dealer-socket.ts';
import { PythonPeer } from '../../zmq/python-peer.ts';
import { waitFor } from '../../zmq/wait-for.ts';

function recorder() {
  const added: DiscoveredInstance[] = [];
  const removed: Array<[DiscoveredInstance, string]> = [];
  const rejected: Rejection[] = [];
  return {
    added,
    removed,
    rejected,
    options: {
      address: '127.0.0.1:0',
      onAdded: (i: DiscoveredInstance) => added.push(i),
      onRemoved: (i: DiscoveredInstance, cause: string) => removed.push([i, cause]),
      onRejected: (r: Rejection) => rejected.push(r),
    } satisfies RegistrationListenerOptions,
  };
}

function engine(listener: RegistrationListener, args: string[]): PythonPeer {
  return PythonPeer.start(['register', '--connect', listener.endpoint, ...args]);
}

/** A DEALER that sends hand-made payloads, for cases a well-behaved engine never produces. */
async function rawEngine(listener: RegistrationListener, identity = '10.9.9.9:21001'): Promise<DealerSocket> {
  const dealer = DealerSocket.connect(listener.endpoint, { identity });
  await waitFor(() => dealer.connected, 'the DEALER handshake');
  return dealer;
}

describe('registration listener', () => {
  test('registers libzmq engines pinging like vLLM P2P NCCL, prefill and decode', async () => {
    const r = recorder();
    await using listener = RegistrationListener.start(r.options);
    await using _p = engine(listener, ['--type', 'P', '--http-address', '10.0.0.1:8100', '--zmq-address', '10.0.0.1:21001', '--interval', '0.05']);
    await using _d = engine(listener, ['--type', 'D', '--http-address', '10.0.0.2:8200', '--zmq-address', '10.0.0.2:22001', '--interval', '0.05']);
    await waitFor(() => r.added.length === 2, 'both engines');
    await waitFor(() => listener.counts().accepted >= 6, 'repeated pings');
    // Repeated pings refresh; they do not re-add.
    expect(r.added).toHaveLength(2);
    const byRole = Object.fromEntries(listener.instances().map((i) => [i.role, i]));
    expect(byRole['prefill']).toMatchObject({
      httpAddress: '10.0.0.1:8100',
      url: 'http://10.0.0.1:8100',
      zmqAddress: '10.0.0.1:21001',
      transferMode: undefined,
    });
    expect(byRole['decode']).toMatchObject({ httpAddress: '10.0.0.2:8200', zmqAddress: '10.0.0.2:22001' });
    expect(r.rejected).toEqual([]);
  });

  test('expires an engine on the timer after its pings stop, even when no other engine pings', async () => {
    const r = recorder();
    await using listener = RegistrationListener.start({ ...r.options, ttlMs: 300, sweepIntervalMs: 20 });
    await using _engine = engine(listener, ['--count', '3', '--interval', '0.05']);
    await waitFor(() => r.added.length === 1, 'the registration');
    const [instance, cause] = await waitFor(() => r.removed[0], 'the expiry');
    expect(cause).toBe('expired');
    expect(instance.httpAddress).toBe('127.0.0.1:8100');
    expect(listener.instances()).toEqual([]);
    expect(listener.counts().accepted).toBe(3);
  });

  test('keeps an entry alive while pings refresh it, and expires it exactly at the TTL (injected clock)', async () => {
    let now = 1_000_000;
    const r = recorder();
    await using listener = RegistrationListener.start({ ...r.options, ttlMs: 5_000, sweepIntervalMs: 60_000, now: () => now });
    await using dealer = await rawEngine(listener);
    const ping = async (count: number) => {
      dealer.send([pack({ type: 'P', http_address: '10.9.9.9:8000', zmq_address: '10.9.9.9:21001' })]);
      await waitFor(() => listener.counts().accepted === count, `ping ${count}`);
    };
    await ping(1);
    expect(listener.instances()[0]?.expiresAt).toBe(1_005_000);
    now += 4_000;
    await ping(2);
    now += 4_999;
    listener.sweep();
    expect(listener.instances()).toHaveLength(1);
    now += 1;
    listener.sweep();
    expect(listener.instances()).toEqual([]);
    expect(r.removed.map(([i, cause]) => [i.httpAddress, cause])).toEqual([['10.9.9.9:8000', 'expired']]);
  });

  test.each([
    ['a non-map payload', pack(['P', '10.0.0.1:8000']), 'not_a_map'],
    ['bytes that are not msgpack', new Uint8Array([0x82, 0xc1, 0xc1]), 'msgpack'],
    ['an unknown type', pack({ type: 'X', http_address: '10.0.0.1:8000', zmq_address: '10.0.0.1:21001' }), 'type'],
    ['a missing http_address', pack({ type: 'P', zmq_address: '10.0.0.1:21001' }), 'http_address'],
    ['an http_address without a port', pack({ type: 'P', http_address: '10.0.0.1', zmq_address: '10.0.0.1:21001' }), 'http_address'],
    ['port 0', pack({ type: 'P', http_address: '10.0.0.1:0', zmq_address: '10.0.0.1:21001' }), 'http_address'],
    ['a URL instead of host:port', pack({ type: 'P', http_address: 'http://10.0.0.1:8000', zmq_address: '10.0.0.1:21001' }), 'http_address'],
    ['addresses as msgpack bin', pack({ type: 'P', http_address: Buffer.from('10.0.0.1:8000'), zmq_address: '10.0.0.1:21001' }), 'http_address'],
    ['a zmq_address that breaks the request id', pack({ type: 'P', http_address: '10.0.0.1:8000', zmq_address: 'a___b:21001' }), 'zmq_address'],
    ['an unknown transfer_mode', pack({ type: 'P', http_address: '10.0.0.1:8000', zmq_address: '10.0.0.1:21001', transfer_mode: 'PUSH' }), 'transfer_mode'],
  ])('counts and drops %s', async (_name, payload, reason) => {
    const r = recorder();
    await using listener = RegistrationListener.start(r.options);
    await using dealer = await rawEngine(listener);
    dealer.send([payload]);
    await waitFor(() => r.rejected.length === 1, 'the rejection');
    expect(r.rejected[0]).toMatchObject({ reason, identity: '10.9.9.9:21001' });
    expect(listener.counts().rejected).toEqual({ [reason]: 1 });
    expect(listener.instances()).toEqual([]);
  });

  test('drops messages with other than one payload frame', async () => {
    const r = recorder();
    await using listener = RegistrationListener.start(r.options);
    await using dealer = await rawEngine(listener);
    const valid = pack({ type: 'P', http_address: '10.0.0.1:8000', zmq_address: '10.0.0.1:21001' });
    dealer.send([valid, valid]);
    await waitFor(() => r.rejected.length === 1, 'the rejection');
    expect(r.rejected[0]?.reason).toBe('frame_count');
  });

  test('accepts bracketed and bare IPv6 addresses and ignores unknown keys', async () => {
    const r = recorder();
    await using listener = RegistrationListener.start(r.options);
    await using dealer = await rawEngine(listener);
    dealer.send([pack({ type: 'D', http_address: '[fd00::1]:8000', zmq_address: 'fd00::1:22001', extra: 1 })]);
    await waitFor(() => r.added.length === 1, 'the registration');
    expect(r.added[0]).toMatchObject({ url: 'http://[fd00::1]:8000', zmqAddress: 'fd00::1:22001', role: 'decode' });
  });

  test('MoRI-IO: the first transfer mode wins and engines announcing the other one are dropped', async () => {
    const r = recorder();
    await using listener = RegistrationListener.start(r.options);
    await using _read = engine(listener, ['--transfer-mode', 'READ', '--interval', '0.05', '--http-address', '10.0.0.1:8100']);
    await waitFor(() => listener.transferMode === 'READ', 'the READ engine');
    await using _write = engine(listener, [
      '--transfer-mode', 'WRITE', '--interval', '0.05', '--type', 'D',
      '--http-address', '10.0.0.2:8200', '--zmq-address', '10.0.0.2:22001',
    ]);
    await waitFor(() => r.rejected.length >= 2, 'the WRITE engine to be refused');
    expect(new Set(r.rejected.map((x) => x.reason))).toEqual(new Set(['transfer_mode_mismatch']));
    expect(listener.instances().map((i) => [i.httpAddress, i.transferMode])).toEqual([['10.0.0.1:8100', 'READ']]);
    expect(listener.transferMode).toBe('READ');
  });

  test('re-adds an http_address that comes back with another role or zmq address', async () => {
    const r = recorder();
    await using listener = RegistrationListener.start(r.options);
    await using dealer = await rawEngine(listener);
    dealer.send([pack({ type: 'P', http_address: '10.0.0.1:8000', zmq_address: '10.0.0.1:21001' })]);
    await waitFor(() => r.added.length === 1, 'the first registration');
    dealer.send([pack({ type: 'D', http_address: '10.0.0.1:8000', zmq_address: '10.0.0.1:22001' })]);
    await waitFor(() => r.added.length === 2, 'the second registration');
    expect(r.removed.map(([i, cause]) => [i.role, cause])).toEqual([['prefill', 'replaced']]);
    expect(listener.instances().map((i) => [i.role, i.zmqAddress])).toEqual([['decode', '10.0.0.1:22001']]);
  });

  test('bounds the table: registrations beyond maxInstances are dropped', async () => {
    const r = recorder();
    await using listener = RegistrationListener.start({ ...r.options, maxInstances: 2 });
    await using dealer = await rawEngine(listener);
    for (const port of [8001, 8002, 8003]) {
      dealer.send([pack({ type: 'P', http_address: `10.0.0.1:${port}`, zmq_address: '10.0.0.1:21001' })]);
    }
    await waitFor(() => r.rejected.length === 1, 'the third registration to be refused');
    expect(r.rejected[0]?.reason).toBe('capacity');
    expect(listener.instances()).toHaveLength(2);
  });

  test('survives garbage on its port and keeps registering engines', async () => {
    const r = recorder();
    const drops: string[] = [];
    await using listener = RegistrationListener.start({
      ...r.options,
      onPeerEvent: (e) => {
        if (e.kind === 'disconnected' && e.reason) drops.push(e.reason);
      },
    });
    const closed = { value: false };
    await Bun.connect({
      hostname: '127.0.0.1',
      port: listener.port,
      socket: {
        open: (s) => {
          s.write('POST /register HTTP/1.1\r\n\r\n');
        },
        data() {},
        close: () => {
          closed.value = true;
        },
      },
    });
    await waitFor(() => closed.value, 'the garbage client to be dropped');
    expect(drops[0]).toMatch(/signature/);
    await using _engine = engine(listener, ['--interval', '0.05']);
    await waitFor(() => r.added.length === 1, 'the engine');
  });
});
