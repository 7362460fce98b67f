// SUB socket against a real libzmq PUB/XPUB: topic filtering, ZMTP 3.0 and 3.1 subscriptions, reconnection.
import { describe, expect, test } from 'bun:test';
import { SubSocket, type SubConnectionEvent } from '../../src/zmq/sub-socket.ts';
import { freePort } from '../../testkit/free-port.ts';
import { PythonPeer } from './python-peer.ts';
import { waitFor } from './wait-for.ts';

const text = (value: Uint8Array | undefined) => new TextDecoder().decode(value);
const hex = (value: string) => Buffer.from(value).toString('hex');

function pattern(size: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i + seed) % 256);
}

function collector() {
  const messages: Uint8Array[][] = [];
  const connections: SubConnectionEvent[] = [];
  return {
    messages,
    connections,
    topics: () => new Set(messages.map((m) => text(m[0]))),
    options: {
      onMessage: (m: Uint8Array[]) => messages.push(m),
      onConnectionChange: (e: SubConnectionEvent) => connections.push(e),
    },
  };
}

describe('SUB socket', () => {
  test('receives multipart messages for its topics only from a libzmq PUB', async () => {
    await using pub = PythonPeer.start(['pub', '--topic', 'kv', '--topic', 'other', '--interval', '0.01']);
    const c = collector();
    await using sub = SubSocket.connect(`tcp://127.0.0.1:${await pub.port()}`, { ...c.options, subscriptions: ['kv'] });
    await waitFor(() => c.messages.length >= 5, 'five kv messages');
    expect(sub.connected).toBe(true);
    expect(c.connections[0]).toMatchObject({ connected: true, minor: 1 });
    expect(c.topics()).toEqual(new Set(['kv']));
    const [topic, seq, run, payload] = c.messages[0] as Uint8Array[];
    expect([text(topic), Number.isInteger(Number(text(seq))), text(run)]).toEqual(['kv', true, 'run']);
    // 300 bytes: the payload travels as a long frame.
    expect(payload).toEqual(pattern(300, 7));
  });

  test.each([
    [1, 'SUBSCRIBE/CANCEL commands'],
    [0, '3.0 subscription messages'],
  ] as const)('subscribes and cancels over ZMTP 3.%i (%s), as the XPUB sees it', async (minor) => {
    await using pub = PythonPeer.start(['pub', '--xpub', '--topic', 'kv', '--topic', 'other', '--interval', '0.01']);
    const c = collector();
    await using sub = SubSocket.connect(`tcp://127.0.0.1:${await pub.port()}`, {
      ...c.options,
      subscriptions: ['kv'],
      zmtpMinor: minor,
    });
    // libzmq turns either wire form into a 0x01/0x00-prefixed message on an XPUB, so both must arrive as such.
    await pub.line(`SUB 01${hex('kv')}`);
    expect(c.connections[0]).toMatchObject({ connected: true, minor });

    sub.subscribe('other');
    await pub.line(`SUB 01${hex('other')}`);
    await waitFor(() => c.topics().has('other'), 'an "other" message');

    sub.unsubscribe('kv');
    await pub.line(`SUB 00${hex('kv')}`);
    const after = c.messages.length;
    await waitFor(() => c.messages.length >= after + 5, 'more messages');
    expect(new Set(c.messages.slice(after).map((m) => text(m[0])))).toEqual(new Set(['other']));
  });

  test('reconnects with backoff and resubscribes when the publisher restarts', async () => {
    const first = PythonPeer.start(['pub', '--run', 'first', '--interval', '0.01']);
    const port = await first.port();
    const c = collector();
    await using _sub = SubSocket.connect(`tcp://127.0.0.1:${port}`, {
      ...c.options,
      subscriptions: [''],
      reconnect: { initialMs: 20, maxMs: 200 },
    });
    await waitFor(() => c.messages.some((m) => text(m[2]) === 'first'), 'a message from the first publisher');
    await first.stop();
    await waitFor(() => c.connections.some((e) => !e.connected), 'the disconnect');

    await using second = PythonPeer.start(['pub', '--run', 'second', '--port', String(port), '--interval', '0.01']);
    await second.line('READY');
    await waitFor(() => c.messages.some((m) => text(m[2]) === 'second'), 'a message from the restarted publisher');
    expect(c.connections.filter((e) => e.connected)).toHaveLength(2);
  });

  test('keeps retrying while nothing listens, then connects', async () => {
    // Learn a free port, then leave it empty so the first dials are refused.
    const port = freePort();
    const c = collector();
    await using sub = SubSocket.connect(`tcp://127.0.0.1:${port}`, {
      ...c.options,
      subscriptions: ['kv'],
      reconnect: { initialMs: 10, maxMs: 50 },
    });
    await waitFor(() => c.connections.filter((e) => !e.connected).length >= 3, 'three refused dials');
    expect(sub.connected).toBe(false);
    await using _pub = PythonPeer.start(['pub', '--port', String(port), '--interval', '0.01']);
    await waitFor(() => c.messages.length >= 1, 'the first message');
  });

  test('refuses endpoints it cannot connect to', () => {
    expect(() => SubSocket.connect('tcp://127.0.0.1:0', { onMessage() {} })).toThrow(/port/);
    expect(() => SubSocket.connect('ipc:///tmp/x', { onMessage() {} })).toThrow(/tcp:\/\//);
  });
});
