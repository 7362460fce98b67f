// ZMTP session state machine, two sessions wired back to back in memory with hostile chunking.
import { describe, expect, test } from 'bun:test';
import { encodeCommand, encodeMessage, encodeProperties, type Command } from '../../src/zmq/frames.ts';
import { encodeGreeting, type ZmtpMinor } from '../../src/zmq/greeting.ts';
import { DEFAULT_ZMTP_LIMITS, type ZmtpLimits } from '../../src/zmq/limits.ts';
import { createSession, type PeerInfo, type Session, type SocketType } from '../../src/zmq/session.ts';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytes = (value: string) => new TextEncoder().encode(value);

interface Side {
  session: Session;
  outbox: Uint8Array[];
  peer?: PeerInfo;
  messages: Uint8Array[][];
  commands: Command[];
  error?: string;
}

function side(
  socketType: SocketType,
  accepts: SocketType[],
  { minor = 1 as ZmtpMinor, identity = undefined as Uint8Array | undefined, limits = DEFAULT_ZMTP_LIMITS as ZmtpLimits } = {},
): Side {
  const s: Partial<Side> & { outbox: Uint8Array[]; messages: Uint8Array[][]; commands: Command[] } = {
    outbox: [],
    messages: [],
    commands: [],
  };
  s.session = createSession(
    { socketType, accepts, minor, limits, ...(identity ? { identity } : {}) },
    {
      write: (b) => s.outbox.push(b),
      ready: (peer) => {
        s.peer = peer;
      },
      message: (frames) => s.messages.push(frames),
      command: (command) => s.commands.push(command),
    },
  );
  return s as Side;
}

/** Moves queued bytes between the two sides, `chunk` bytes at a time, until both are quiet. */
function pump(a: Side, b: Side, chunk = 1): void {
  for (let moved = true; moved; ) {
    moved = false;
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      const data = from.outbox.splice(0);
      for (const buffer of data) {
        for (let at = 0; at < buffer.byteLength && to.error === undefined; at += chunk) {
          to.error = to.session.receive(buffer.subarray(at, at + chunk));
        }
        moved = true;
      }
    }
  }
}

function connected(a: Side, b: Side, chunk = 1): void {
  a.session.start();
  b.session.start();
  pump(a, b, chunk);
}

describe('ZMTP session', () => {
  test('handshakes DEALER↔ROUTER and carries multipart messages both ways, one byte per read', () => {
    const dealer = side('DEALER', ['ROUTER'], { identity: bytes('10.0.0.1:21001') });
    const router = side('ROUTER', ['DEALER', 'REQ', 'ROUTER']);
    connected(dealer, router);
    expect(router.error).toBeUndefined();
    expect(router.peer?.socketType).toBe('DEALER');
    expect(text(router.peer?.identity ?? new Uint8Array())).toBe('10.0.0.1:21001');
    expect(router.peer?.minor).toBe(1);
    expect(dealer.peer?.socketType).toBe('ROUTER');
    expect(dealer.peer?.identity.byteLength).toBe(0);

    dealer.outbox.push(encodeMessage([bytes('a'), new Uint8Array(0), new Uint8Array(1000).fill(9)]));
    router.outbox.push(encodeMessage([bytes('reply')]));
    pump(dealer, router, 7);
    expect(router.messages).toEqual([[bytes('a'), new Uint8Array(0), new Uint8Array(1000).fill(9)]]);
    expect(dealer.messages).toEqual([[bytes('reply')]]);
  });

  test('speaks ZMTP 3.0 when either side announces 3.0', () => {
    const sub = side('SUB', ['PUB'], { minor: 1 });
    const pub = side('PUB', ['SUB'], { minor: 0 });
    connected(sub, pub, 64);
    expect(sub.peer?.minor).toBe(0);
    expect(pub.peer?.minor).toBe(0);
  });

  test('refuses a peer whose socket type it cannot talk to', () => {
    const sub = side('SUB', ['PUB', 'XPUB']);
    const router = side('ROUTER', ['DEALER', 'REQ', 'ROUTER']);
    connected(sub, router, 100);
    expect(router.error).toMatch(/ROUTER cannot talk to a SUB peer/);
    expect(router.peer).toBeUndefined();
  });

  test('answers PING with PONG echoing the context, and passes SUBSCRIBE through', () => {
    const a = side('DEALER', ['ROUTER']);
    const b = side('ROUTER', ['DEALER']);
    connected(a, b, 100);
    a.outbox.push(encodeCommand('PING', new Uint8Array([0, 10, 0xca, 0xfe])));
    a.outbox.push(encodeCommand('SUBSCRIBE', bytes('kv')));
    pump(a, b, 3);
    expect(b.commands.map((c) => [c.name, text(c.data)])).toEqual([['SUBSCRIBE', 'kv']]);
    expect(a.commands.map((c) => [c.name, [...c.data]])).toEqual([]);
    expect(b.error).toBeUndefined();
    // PONG is answered inside the session and not surfaced; check it went on the wire.
    const raw = side('ROUTER', ['DEALER']);
    raw.session.start();
    raw.session.receive(encodeGreeting(1));
    raw.session.receive(
      encodeCommand('READY', encodeProperties([['Socket-Type', bytes('DEALER')], ['Identity', new Uint8Array(0)]])),
    );
    raw.outbox.length = 0;
    expect(raw.session.receive(encodeCommand('PING', new Uint8Array([0, 10, 1, 2, 3])))).toBeUndefined();
    expect(raw.outbox).toEqual([encodeCommand('PONG', new Uint8Array([1, 2, 3]))]);
  });

  test.each([
    ['a message frame before READY', () => encodeMessage([bytes('x')]), /before the handshake/],
    ['a command other than READY first', () => encodeCommand('PING', new Uint8Array(2)), /expected READY/],
    ['READY without Socket-Type', () => encodeCommand('READY', new Uint8Array(0)), /without Socket-Type/],
    ['READY with garbage metadata', () => encodeCommand('READY', new Uint8Array([11, 65])), /malformed READY/],
    ['an ERROR command', () => encodeCommand('ERROR', new Uint8Array([3, 0x62, 0x61, 0x64])), /refused.*bad/],
  ])('drops a peer that sends %s', (_name, frame, reason) => {
    const router = side('ROUTER', ['DEALER']);
    router.session.start();
    expect(router.session.receive(encodeGreeting(1))).toBeUndefined();
    expect(router.session.receive(frame())).toMatch(reason);
  });

  test('drops a peer that sends READY twice or oversized messages', () => {
    const limits = { ...DEFAULT_ZMTP_LIMITS, maxMessageBytes: 100, maxMessageFrames: 3 };
    const ready = encodeCommand('READY', encodeProperties([['Socket-Type', bytes('DEALER')]]));
    const fresh = () => {
      const router = side('ROUTER', ['DEALER'], { limits });
      router.session.start();
      router.session.receive(encodeGreeting(1));
      router.session.receive(ready);
      return router.session;
    };
    expect(fresh().receive(ready)).toMatch(/duplicate READY/);
    expect(fresh().receive(encodeMessage([new Uint8Array(60), new Uint8Array(60)]))).toMatch(/100-byte limit/);
    expect(fresh().receive(encodeMessage([1, 2, 3, 4].map(() => new Uint8Array(0))))).toMatch(/3-frame limit/);
    expect(fresh().receive(encodeMessage([new Uint8Array(100)]))).toBeUndefined();
  });
});
