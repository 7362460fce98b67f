// PUB socket against real libzmq SUB peers (pyzmq) and our own SUB: prefix filtering, both subscription wire forms,
// connect mode with redial, dropping for a subscriber that does not read, hostile peers.
import { describe, expect, test } from 'bun:test';
import { encodeCommand, encodeProperties } from '../../src/zmq/frames.ts';
import { encodeGreeting } from '../../src/zmq/greeting.ts';
import { PubSocket, type PubPeerEvent } from '../../src/zmq/pub-socket.ts';
import { SubSocket } from '../../src/zmq/sub-socket.ts';
import { PythonPeer } from './python-peer.ts';
import { waitFor } from './wait-for.ts';

const bytes = (value: string) => new TextEncoder().encode(value);
const hex = (value: Uint8Array | string) => Buffer.from(value).toString('hex');
const text = (value: Uint8Array | undefined) => new TextDecoder().decode(value);

function pattern(size: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i + seed) % 256);
}

function seq8(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

function recorder() {
  const events: PubPeerEvent[] = [];
  return {
    events,
    count: (kind: PubPeerEvent['kind']) => events.filter((e) => e.kind === kind).length,
    options: { onPeerEvent: (e: PubPeerEvent) => events.push(e) },
  };
}

/** The "MSG" lines a zmq_peer.py SUB printed, each as its comma-separated hex (or size) fields. */
const messages = (peer: PythonPeer) => peer.lines.filter((l) => l.startsWith('MSG ')).map((l) => l.slice(4).split(','));

/** Raw TCP client: sends `payload`, records whether the PUB closed on it. */
async function rawClient(port: number, payload: Uint8Array) {
  const state = { closed: false };
  const socket = await Bun.connect({
    hostname: '127.0.0.1',
    port,
    socket: {
      open: (s) => {
        s.write(payload);
      },
      data: () => {},
      close: () => {
        state.closed = true;
      },
    },
  });
  return { state, socket };
}

describe('PUB socket', () => {
  test('delivers multipart messages intact to a libzmq SUB, for the prefixes it subscribed to only', async () => {
    const r = recorder();
    await using pub = PubSocket.bind('tcp://127.0.0.1:0', r.options);
    await using sub = PythonPeer.start(['sub', '--connect', pub.endpoint, '--topic', 'kv']);
    await waitFor(() => r.count('subscribed') === 1, 'the subscription');
    expect(text((r.events.find((e) => e.kind === 'subscribed') as { topic: Uint8Array }).topic)).toBe('kv');

    const big = pattern(70_000, 3);
    expect(pub.send([bytes('other'), seq8(0), big])).toBe(0);
    expect(pub.send([bytes('kv'), seq8(1), big])).toBe(1);
    expect(pub.send([bytes('kv@pod-1'), seq8(2), new Uint8Array(0)])).toBe(1);
    await waitFor(() => messages(sub).length >= 2, 'two messages at the SUB');
    expect(messages(sub)).toEqual([
      [hex('kv'), hex(seq8(1)), hex(big)],
      [hex('kv@pod-1'), hex(seq8(2)), ''],
    ]);
    expect(pub.stats()).toEqual({ subscribers: 1, delivered: 2, dropped: 0 });
  });

  test('an empty prefix receives everything; a peer that subscribed to nothing receives nothing', async () => {
    const r = recorder();
    await using pub = PubSocket.bind('tcp://127.0.0.1:0', r.options);
    await using all = PythonPeer.start(['sub', '--connect', pub.endpoint, '--topic', '']);
    await using none = PythonPeer.start(['sub', '--connect', pub.endpoint]);
    await waitFor(() => r.count('connected') === 2 && r.count('subscribed') === 1, 'both peers, one subscription');
    for (let i = 0; i < 5; i++) expect(pub.send([bytes(`t${i}`), seq8(i)])).toBe(1);
    await waitFor(() => messages(all).length === 5, 'five messages at the catch-all SUB');
    expect(messages(none)).toEqual([]);
    expect(pub.stats().subscribers).toBe(1);
  });

  test.each([
    [1, 'SUBSCRIBE/CANCEL commands'],
    [0, '0x01/0x00 subscription messages'],
  ] as const)('follows subscriptions and cancels over ZMTP 3.%i (%s)', async (minor) => {
    const r = recorder();
    await using pub = PubSocket.bind('tcp://127.0.0.1:0', r.options);
    const received: Uint8Array[][] = [];
    await using sub = SubSocket.connect(pub.endpoint, { subscriptions: ['kv'], zmtpMinor: minor, onMessage: (m) => received.push(m) });
    await waitFor(() => r.count('subscribed') === 1, 'the first subscription');
    sub.subscribe('b');
    sub.unsubscribe('kv');
    await waitFor(() => r.count('unsubscribed') === 1, 'the cancel');
    expect(r.events.filter((e) => e.kind !== 'connected').map((e) => `${e.kind} ${text((e as { topic: Uint8Array }).topic)}`)).toEqual([
      'subscribed kv',
      'subscribed b',
      'unsubscribed kv',
    ]);
    // Counted on the PUB side: our SUB filters again locally, so what it receives would not show a missed cancel.
    expect(pub.send([bytes('kv'), seq8(1)])).toBe(0);
    expect(pub.send([bytes('b'), seq8(2)])).toBe(1);
    await waitFor(() => received.length === 1, 'the "b" message');
    expect(text(received[0]?.[0])).toBe('b');
  });

  test('connects to a bound libzmq SUB and redials it after it restarts', async () => {
    const first = PythonPeer.start(['sub-bind', '--topic', 'kv']);
    const port = await first.port();
    const r = recorder();
    await using pub = PubSocket.connect(`tcp://127.0.0.1:${port}`, { ...r.options, reconnect: { initialMs: 20, maxMs: 100 } });
    await waitFor(() => r.count('subscribed') === 1, 'the bound SUB to subscribe');
    expect(pub.send([bytes('kv'), seq8(0), bytes('first')])).toBe(1);
    await waitFor(() => messages(first).length === 1, 'the message at the first SUB');
    await first.stop();
    await waitFor(() => r.count('disconnected') === 1, 'the disconnect');
    expect(pub.send([bytes('kv'), seq8(1)])).toBe(0);

    await using second = PythonPeer.start(['sub-bind', '--port', String(port), '--topic', 'kv']);
    await waitFor(() => r.count('subscribed') === 2, 'the restarted SUB to subscribe');
    expect(pub.send([bytes('kv'), seq8(2), bytes('second')])).toBe(1);
    await waitFor(() => messages(second).length === 1, 'the message at the restarted SUB');
    expect(messages(second)[0]).toEqual([hex('kv'), hex(seq8(2)), hex('second')]);
  });

  test('drops messages for a subscriber that stops reading, at the high-water mark, and keeps serving the others', async () => {
    const r = recorder();
    // The byte limit is set above everything sent, so only the message count can be what drops.
    await using pub = PubSocket.bind('tcp://127.0.0.1:0', { ...r.options, highWaterMark: 8, limits: { maxPendingWriteBytes: 64 * 1024 * 1024 } });
    await using _slow = PythonPeer.start(['sub', '--connect', pub.endpoint, '--topic', '', '--no-read', '--rcvhwm', '1']);
    await using fast = PythonPeer.start(['sub', '--connect', pub.endpoint, '--topic', '', '--sizes-only']);
    await waitFor(() => r.count('subscribed') === 2, 'both subscriptions');
    const payload = pattern(64 * 1024, 1);
    // Rounds of 8 × 64 KiB, each waited for at the reading SUB so only the other one falls behind: 20 MiB in all,
    // more than loopback socket buffers hold.
    const rounds = 40;
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < 8; i++) pub.send([bytes('kv'), seq8(round * 8 + i), payload]);
      await waitFor(() => messages(fast).length === (round + 1) * 8, `round ${round} at the reading SUB`);
    }
    const stats = pub.stats();
    expect(stats.dropped).toBeGreaterThan(0);
    expect(stats.delivered + stats.dropped).toBe(2 * rounds * 8);
    expect(messages(fast).every(([topic, , size]) => topic === hex('kv') && size === String(payload.byteLength))).toBe(true);
  });

  test('drops a peer of the wrong socket type and one that floods subscriptions', async () => {
    const r = recorder();
    await using pub = PubSocket.bind('tcp://127.0.0.1:0', r.options);
    const ready = (type: string) => encodeCommand('READY', encodeProperties([['Socket-Type', bytes(type)]]));
    const dealer = await rawClient(pub.port, new Uint8Array(Buffer.concat([encodeGreeting(1), ready('DEALER')])));
    const flood = Buffer.concat([encodeGreeting(1), ready('SUB'), ...Array.from({ length: 10_001 }, (_, i) => encodeCommand('SUBSCRIBE', bytes(`t${i}`)))]);
    const flooder = await rawClient(pub.port, new Uint8Array(flood));
    await waitFor(() => dealer.state.closed && flooder.state.closed, 'both peers to be dropped');
    expect(r.events.filter((e) => e.kind === 'disconnected').map((e) => (e as { reason?: string }).reason)).toEqual(['more than 10000 subscriptions']);
    await using sub = PythonPeer.start(['sub', '--connect', pub.endpoint, '--topic', 'kv']);
    await waitFor(() => pub.stats().subscribers === 1, 'a well-behaved SUB');
    pub.send([bytes('kv'), seq8(0)]);
    await waitFor(() => messages(sub).length === 1, 'its message');
  });

  test('binds port 0 and reports it, refuses a taken port and endpoints it cannot bind or dial', async () => {
    await using pub = PubSocket.bind('tcp://*:0');
    expect(pub.port).toBeGreaterThan(0);
    expect(pub.endpoint).toBe(`tcp://0.0.0.0:${pub.port}`);
    expect(() => PubSocket.bind(`tcp://127.0.0.1:${pub.port}`)).toThrow();
    expect(() => PubSocket.bind('ipc:///tmp/kv')).toThrow(/tcp:\/\/host:port/);
    expect(() => PubSocket.connect('tcp://127.0.0.1:0')).toThrow(/port/);
    expect(() => PubSocket.bind('tcp://127.0.0.1:0', { highWaterMark: -1 })).toThrow(/highWaterMark/);
  });

  test('close() disconnects subscribers and frees the port', async () => {
    const r = recorder();
    const pub = PubSocket.bind('tcp://127.0.0.1:0', r.options);
    const states: boolean[] = [];
    await using _sub = SubSocket.connect(pub.endpoint, {
      subscriptions: [''],
      reconnect: { initialMs: 60_000 },
      onMessage() {},
      onConnectionChange: (e) => states.push(e.connected),
    });
    await waitFor(() => pub.stats().subscribers === 1, 'the subscriber');
    await pub.close();
    await pub.close();
    await waitFor(() => states.at(-1) === false, 'the SUB to see the close');
    await using again = PubSocket.bind(pub.endpoint);
    expect(again.port).toBe(pub.port);
  });
});
