// DEALER socket against a libzmq ROUTER, and against our own ROUTER, in both directions.
import { describe, expect, test } from 'bun:test';
import { DealerSocket } from '../../src/zmq/dealer-socket.ts';
import { RouterSocket } from '../../src/zmq/router-socket.ts';
import { PythonPeer } from './python-peer.ts';
import { waitFor } from './wait-for.ts';

const text = (value: Uint8Array | undefined) => new TextDecoder().decode(value);

function pattern(size: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i + seed) % 256);
}

const frames = [0, 1, 255, 256, 70_000, 1_000_000].map((size, i) => pattern(size, i));

describe('DEALER socket', () => {
  test('presents its identity to a libzmq ROUTER and gets every frame size echoed back', async () => {
    await using router = PythonPeer.start(['router-echo']);
    const received: Uint8Array[][] = [];
    await using dealer = DealerSocket.connect(`tcp://127.0.0.1:${await router.port()}`, {
      identity: '10.0.0.1:21001',
      onMessage: (m) => received.push(m),
    });
    await waitFor(() => dealer.connected, 'the handshake');
    expect(dealer.send(frames)).toBe(true);
    await waitFor(() => received.length >= 1, 'the echo');
    expect(received[0]).toEqual(frames);
    expect(await router.line('IDENTITY ')).toBe(`IDENTITY ${Buffer.from('10.0.0.1:21001').toString('hex')}`);
  });

  test('talks to our own ROUTER both ways', async () => {
    const atRouter: Uint8Array[][] = [];
    await using router = RouterSocket.bind('tcp://127.0.0.1:0', { onMessage: (m) => atRouter.push(m) });
    const atDealer: Uint8Array[][] = [];
    await using dealer = DealerSocket.connect(router.endpoint, { identity: 'me', onMessage: (m) => atDealer.push(m) });
    await waitFor(() => dealer.connected, 'the handshake');
    dealer.send(frames);
    await waitFor(() => atRouter.length >= 1, 'the message at the ROUTER');
    expect(text(atRouter[0]?.[0])).toBe('me');
    expect(atRouter[0]?.slice(1)).toEqual(frames);
    router.send([new TextEncoder().encode('me'), ...frames.slice().reverse()]);
    await waitFor(() => atDealer.length >= 1, 'the reply at the DEALER');
    expect(atDealer[0]).toEqual(frames.slice().reverse());
  });

  test('refuses identities libzmq reserves', () => {
    expect(() => DealerSocket.connect('tcp://127.0.0.1:1', { identity: new Uint8Array([0, 1]) })).toThrow(/zero byte/);
    expect(() => DealerSocket.connect('tcp://127.0.0.1:1', { identity: 'x'.repeat(256) })).toThrow(/1-255/);
  });
});
