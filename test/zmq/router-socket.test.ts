// ROUTER socket against real libzmq peers (pyzmq), plus hostile raw TCP clients.
import { describe, expect, test } from 'bun:test';
import { unpack } from 'msgpackr';
import { DealerSocket } from '../../src/zmq/dealer-socket.ts';
import { encodeCommand, encodeMessage, encodeProperties } from '../../src/zmq/frames.ts';
import { encodeGreeting } from '../../src/zmq/greeting.ts';
import { RouterSocket, type RouterPeerEvent } from '../../src/zmq/router-socket.ts';
import { PythonPeer } from './python-peer.ts';
import { waitFor } from './wait-for.ts';

const bytes = (value: string) => new TextEncoder().encode(value);
const text = (value: Uint8Array | undefined) => new TextDecoder().decode(value);

/** The same bytes zmq_peer.py's pattern() makes. */
function pattern(size: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i + seed) % 256);
}

function recorder() {
  const messages: Uint8Array[][] = [];
  const events: RouterPeerEvent[] = [];
  return {
    messages,
    events,
    options: { onMessage: (m: Uint8Array[]) => messages.push(m), onPeerEvent: (e: RouterPeerEvent) => events.push(e) },
  };
}

/** A raw TCP client that writes `payload` and records whether the server closed on it. */
async function rawClient(port: number, payload: Uint8Array | undefined) {
  const state = { closed: false, received: 0 };
  const socket = await Bun.connect({
    hostname: '127.0.0.1',
    port,
    socket: {
      open: (s) => {
        if (payload) s.write(payload);
      },
      data: (_s, data) => {
        state.received += data.byteLength;
      },
      close: () => {
        state.closed = true;
      },
    },
  });
  return { state, socket };
}

describe('ROUTER socket', () => {
  test('binds port 0, reports the real port, and refuses a port that is taken', async () => {
    await using router = RouterSocket.bind('tcp://127.0.0.1:0', recorder().options);
    expect(router.port).toBeGreaterThan(0);
    expect(router.endpoint).toBe(`tcp://127.0.0.1:${router.port}`);
    expect(() => RouterSocket.bind(router.endpoint, recorder().options)).toThrow();
    expect(() => RouterSocket.bind('127.0.0.1:0', recorder().options)).toThrow(/tcp:\/\/host:port/);
  });

  test('receives [identity, payload] from a libzmq DEALER registering like vLLM', async () => {
    const r = recorder();
    await using router = RouterSocket.bind('tcp://127.0.0.1:0', r.options);
    await using _peer = PythonPeer.start([
      'register', '--connect', router.endpoint, '--interval', '0.05',
      '--type', 'D', '--http-address', '10.0.0.2:8200', '--zmq-address', '10.0.0.2:22001',
    ]);
    await waitFor(() => r.messages.length >= 2, 'two registrations');
    const [identity, payload, ...rest] = r.messages[0] as Uint8Array[];
    expect(rest).toEqual([]);
    expect(text(identity)).toBe('10.0.0.2:22001');
    expect(unpack(payload as Uint8Array)).toEqual({ type: 'D', http_address: '10.0.0.2:8200', zmq_address: '10.0.0.2:22001' });
    expect(router.peers().map((p) => [text(p.identity), p.socketType])).toEqual([['10.0.0.2:22001', 'DEALER']]);
  });

  test('generates a 0x00-prefixed identity for an anonymous DEALER and routes replies of every size by it', async () => {
    const r = recorder();
    await using router = RouterSocket.bind('tcp://127.0.0.1:0', r.options);
    await using _peer = PythonPeer.start(['dealer-echo', '--connect', router.endpoint]);
    await waitFor(() => r.messages.length >= 1, 'hello from the echo peer');
    const [identity, hello] = r.messages[0] as Uint8Array[];
    expect(identity?.byteLength).toBe(5);
    expect(identity?.[0]).toBe(0);
    expect(text(hello)).toBe('hello');

    const frames = [0, 1, 255, 256, 70_000, 1_000_000].map((size, i) => pattern(size, i));
    expect(router.send([identity as Uint8Array, ...frames])).toBe(true);
    await waitFor(() => r.messages.length >= 2, 'the echo');
    expect(r.messages[1]).toEqual([identity as Uint8Array, ...frames]);
    expect(router.send([bytes('nobody'), bytes('x')])).toBe(false);
  });

  test('decodes a multipart message of long frames sent by libzmq', async () => {
    const r = recorder();
    await using router = RouterSocket.bind('tcp://127.0.0.1:0', r.options);
    const sizes = [0, 1, 255, 256, 65_536, 3_000_000];
    await using _peer = PythonPeer.start(['huge', '--connect', router.endpoint, '--sizes', sizes.join(',')]);
    await waitFor(() => r.messages.length >= 1, 'the huge message');
    expect(r.messages[0]?.slice(1)).toEqual(sizes.map((size, i) => pattern(size, i)));
  });

  test('serves a libzmq REQ peer: the empty delimiter frame is passed through and back', async () => {
    const r = recorder();
    await using router = RouterSocket.bind('tcp://127.0.0.1:0', r.options);
    await using peer = PythonPeer.start(['req', '--connect', router.endpoint]);
    await waitFor(() => r.messages.length >= 1, 'the request');
    const [identity, delimiter, body] = r.messages[0] as Uint8Array[];
    expect([delimiter?.byteLength, text(body)]).toEqual([0, 'ping']);
    expect(router.peers()[0]?.socketType).toBe('REQ');
    router.send([identity as Uint8Array, new Uint8Array(0), bytes('pong')]);
    expect(await peer.line('REPLY ')).toBe(`REPLY ${Buffer.from('pong').toString('hex')}`);
  });

  test('drops a libzmq peer whose frame exceeds the limit', async () => {
    const r = recorder();
    await using router = RouterSocket.bind('tcp://127.0.0.1:0', { ...r.options, limits: { maxFrameBytes: 100_000 } });
    await using _peer = PythonPeer.start(['huge', '--connect', router.endpoint, '--sizes', '10,200000']);
    const dropped = await waitFor(
      () => r.events.find((e) => e.kind === 'disconnected' && /exceeds/.test(e.reason ?? '')),
      'the oversized peer to be dropped',
    );
    expect(dropped.kind === 'disconnected' && dropped.reason).toMatch(/200000 bytes exceeds the 100000-byte limit/);
    expect(r.messages).toEqual([]);
  });

  test('drops garbage from raw TCP clients without disturbing a registered libzmq peer', async () => {
    const r = recorder();
    await using router = RouterSocket.bind('tcp://127.0.0.1:0', { ...r.options, limits: { handshakeTimeoutMs: 300 } });
    await using _peer = PythonPeer.start(['register', '--connect', router.endpoint, '--interval', '0.02']);
    await waitFor(() => r.messages.length >= 1, 'the first registration');

    const ready = (type: string) => encodeCommand('READY', encodeProperties([['Socket-Type', bytes(type)]]));
    const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
    const garbage: Array<[string, Uint8Array | undefined, RegExp]> = [
      ['an HTTP request', bytes('GET / HTTP/1.1\r\nHost: router\r\n\r\n'), /signature/],
      ['random bytes after a greeting', concat(encodeGreeting(1), new Uint8Array([0xff, 0x13, 0x37])), /reserved bits/],
      ['a PUB socket', concat(encodeGreeting(1), ready('PUB')), /cannot talk to a PUB/],
      ['a data frame before READY', concat(encodeGreeting(1), encodeMessage([bytes('hi')])), /before the handshake/],
      ['a 1 TiB frame announcement', concat(encodeGreeting(1), ready('DEALER'), new Uint8Array([2, 0, 0, 1, 0, 0, 0, 0, 0])), /exceeds/],
      ['silence', undefined, /handshake timed out/],
    ];
    const clients = await Promise.all(garbage.map(([, payload]) => rawClient(router.port, payload)));
    await waitFor(() => clients.every((c) => c.state.closed), 'every garbage client to be disconnected');
    const reasons = r.events.flatMap((e) => (e.kind === 'disconnected' ? [e.reason ?? ''] : []));
    for (const [name, , reason] of garbage) {
      expect(reasons.some((text) => reason.test(text)), `${name} → ${reason}`).toBe(true);
    }

    const before = r.messages.length;
    await waitFor(() => r.messages.length >= before + 3, 'registrations to keep arriving');
    expect(router.peers()).toHaveLength(1);
  });

  test('refuses to queue more than maxPendingWriteBytes for a peer that does not read', async () => {
    await using router = RouterSocket.bind('tcp://127.0.0.1:0', {
      ...recorder().options,
      limits: { maxPendingWriteBytes: 2 * 1024 * 1024 },
    });
    const hello = new Uint8Array(
      Buffer.concat([
        encodeGreeting(1),
        encodeCommand('READY', encodeProperties([['Socket-Type', bytes('DEALER')], ['Identity', bytes('slow')]])),
      ]),
    );
    const socket = await Bun.connect({
      hostname: '127.0.0.1',
      port: router.port,
      socket: {
        open: (s) => {
          s.write(hello);
        },
        data: (s) => {
          // Read the greeting and READY, then stop reading so the router's writes back up.
          s.pause();
        },
      },
    });
    await waitFor(() => router.peers().length === 1, 'the slow peer handshake');
    const frame = new Uint8Array(1024 * 1024);
    let accepted = 0;
    while (accepted < 200 && router.send([bytes('slow'), frame])) accepted += 1;
    // Kernel buffers absorb some megabytes; after that at most 2 MiB are queued and send reports the drop.
    expect(accepted).toBeLessThan(200);
    socket.terminate();
  });

  test('closes connections beyond maxConnections at once', async () => {
    const r = recorder();
    await using router = RouterSocket.bind('tcp://127.0.0.1:0', { ...r.options, maxConnections: 1 });
    const first = await rawClient(router.port, encodeGreeting(1));
    const second = await rawClient(router.port, encodeGreeting(1));
    await waitFor(() => second.state.closed, 'the second connection to be closed');
    expect(first.state.closed).toBe(false);
    first.socket.end();
  });

  test('hands an identity over to the newest connection (a restarted engine)', async () => {
    const r = recorder();
    await using router = RouterSocket.bind('tcp://127.0.0.1:0', r.options);
    const firstState: string[] = [];
    // A long reconnect delay keeps the first DEALER from grabbing the identity back during the test.
    await using first = DealerSocket.connect(router.endpoint, {
      identity: 'engine-0',
      reconnect: { initialMs: 60_000 },
      onConnectionChange: (up, reason) => firstState.push(up ? 'up' : `down: ${reason}`),
    });
    await waitFor(() => first.connected, 'the first DEALER');
    await using second = DealerSocket.connect(router.endpoint, { identity: 'engine-0' });
    await waitFor(() => second.connected && firstState.length === 2, 'the takeover');
    expect(router.peers()).toHaveLength(1);
    expect(router.send([bytes('engine-0'), bytes('to the new one')])).toBe(true);
    second.send(['from the new one']);
    await waitFor(() => r.messages.length >= 1, 'a message from the new connection');
    expect(text(r.messages[0]?.[1])).toBe('from the new one');
    expect(
      r.events.some((e) => e.kind === 'disconnected' && e.reason === 'identity taken over by a new connection'),
    ).toBe(true);
  });

  test('close() disconnects peers and frees the port', async () => {
    const r = recorder();
    const router = RouterSocket.bind('tcp://127.0.0.1:0', r.options);
    const states: boolean[] = [];
    await using dealer = DealerSocket.connect(router.endpoint, {
      reconnect: { initialMs: 60_000 },
      onConnectionChange: (up) => states.push(up),
    });
    await waitFor(() => dealer.connected, 'the DEALER');
    await router.close();
    await router.close();
    await waitFor(() => states.at(-1) === false, 'the DEALER to see the close');
    await using again = RouterSocket.bind(router.endpoint, r.options);
    expect(again.port).toBe(router.port);
  });
});
