// ZMTP 3.x greeting: the fixed 64-byte preamble each peer sends before any frame (rfc.zeromq.org 23 and 37).

export const GREETING_SIZE = 64;

/** The only security mechanism this implementation speaks; the router's discovery port is unauthenticated. */
export const NULL_MECHANISM = 'NULL';

export type ZmtpMinor = 0 | 1;

export interface Greeting {
  readonly major: number;
  readonly minor: number;
  readonly mechanism: string;
  readonly asServer: boolean;
}

const SIGNATURE_FIRST = 0xff;
const SIGNATURE_LAST = 0x7f;
const MECHANISM_OFFSET = 12;
const MECHANISM_SIZE = 20;

/** Our greeting: signature, version 3.minor, mechanism NULL, as-server 0, zero filler. */
export function encodeGreeting(minor: ZmtpMinor): Uint8Array {
  const greeting = new Uint8Array(GREETING_SIZE);
  greeting[0] = SIGNATURE_FIRST;
  // Bytes 1..8 are padding; libzmq writes its identity length + 1 there for ZMTP 1.0 peers, which we do not serve.
  greeting[9] = SIGNATURE_LAST;
  greeting[10] = 3;
  greeting[11] = minor;
  greeting.set(new TextEncoder().encode(NULL_MECHANISM), MECHANISM_OFFSET);
  return greeting;
}

/**
 * Checks the bytes of a greeting received so far, so garbage is rejected on its first byte instead of after 64.
 * Only positions in [from, to) are checked; earlier ones were checked by a previous call.
 */
export function checkGreetingPrefix(bytes: Uint8Array, from: number, to: number): string | undefined {
  if (from <= 0 && to > 0 && bytes[0] !== SIGNATURE_FIRST) return 'not a ZMTP peer: bad greeting signature';
  // libzmq writes non-zero padding (bytes 1..8), so padding is not checked.
  if (from <= 9 && to > 9 && bytes[9] !== SIGNATURE_LAST) return 'not a ZMTP 3 peer: bad greeting signature';
  if (from <= 10 && to > 10 && (bytes[10] ?? 0) < 3) {
    // ZMTP 2.0 sends revision 1 here; ZMTP 1.0 and 2.0 peers are not served.
    return `ZMTP revision ${bytes[10]} is not supported (need 3 or later)`;
  }
  return undefined;
}

/** Decodes a complete, prefix-checked greeting. Only the NULL mechanism is accepted. */
export function parseGreeting(bytes: Uint8Array): { ok: true; greeting: Greeting } | { ok: false; error: string } {
  const raw = bytes.subarray(MECHANISM_OFFSET, MECHANISM_OFFSET + MECHANISM_SIZE);
  const end = raw.indexOf(0);
  const nameBytes = end === -1 ? raw : raw.subarray(0, end);
  if (end !== -1 && raw.subarray(end).some((b) => b !== 0)) return { ok: false, error: 'malformed greeting mechanism' };
  const mechanism = new TextDecoder().decode(nameBytes);
  if (!/^[A-Z0-9.+_-]{1,20}$/.test(mechanism)) return { ok: false, error: 'malformed greeting mechanism' };
  if (mechanism !== NULL_MECHANISM) return { ok: false, error: `security mechanism ${mechanism} is not supported` };
  const asServer = bytes[32];
  if (asServer !== 0 && asServer !== 1) return { ok: false, error: 'malformed greeting as-server flag' };
  return {
    ok: true,
    greeting: { major: bytes[10] ?? 0, minor: bytes[11] ?? 0, mechanism, asServer: asServer === 1 },
  };
}

/**
 * The minor version both sides speak: the lower of the two. A peer announcing a later major version must
 * still talk 3.x to us (RFC 23: peers MUST accept higher versions), so we keep our own minor then.
 */
export function negotiateMinor(ours: ZmtpMinor, peer: Greeting): ZmtpMinor {
  if (peer.major > 3) return ours;
  return peer.minor >= 1 ? ours : 0;
}
