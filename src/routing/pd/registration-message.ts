// Decodes and validates one vLLM self-registration (the msgpack map sent by the P2P NCCL / MoRI-IO ping thread).
import { Unpackr } from 'msgpackr';

export type TransferMode = 'READ' | 'WRITE';
export type DiscoveredRole = 'prefill' | 'decode';

export interface Registration {
  readonly role: DiscoveredRole;
  /** `host:port` of the engine's HTTP server, exactly as sent; the key of the instance table. */
  readonly httpAddress: string;
  /** `http://host:port` built from `httpAddress`, with IPv6 hosts bracketed. */
  readonly url: string;
  /** `host:port` the KV connector listens on; goes verbatim into the P/D request id. */
  readonly zmqAddress: string;
  /** Only MoRI-IO engines send it. */
  readonly transferMode: TransferMode | undefined;
}

export type RejectReason =
  | 'frame_count'
  | 'msgpack'
  | 'not_a_map'
  | 'type'
  | 'http_address'
  | 'zmq_address'
  | 'transfer_mode'
  | 'transfer_mode_mismatch'
  | 'capacity';

export type DecodedRegistration =
  | { ok: true; registration: Registration }
  | { ok: false; reason: RejectReason; detail: string };

const MAX_ADDRESS_LENGTH = 255;

/** `host:port`, `[v6]:port`, or a bare IPv6 `fe80::1:8000` as vLLM's `f"{ip}:{port}"` produces for IPv6 hosts. */
function parseHostPort(value: unknown): { ok: true; host: string; port: number } | { ok: false; detail: string } {
  if (typeof value !== 'string') return { ok: false, detail: `expected a string, got ${typeof value}` };
  if (value.length === 0 || value.length > MAX_ADDRESS_LENGTH) return { ok: false, detail: 'empty or too long' };
  const bracketed = /^\[([0-9A-Fa-f:.]+(?:%[\w.-]+)?)\]:(\d{1,5})$/.exec(value);
  const plain = bracketed ? null : /^([A-Za-z0-9._%:-]+):(\d{1,5})$/.exec(value);
  const match = bracketed ?? plain;
  if (!match) return { ok: false, detail: `${JSON.stringify(value.slice(0, 80))} is not host:port` };
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return { ok: false, detail: `port ${match[2]} is out of range` };
  return { ok: true, host: match[1] as string, port };
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : typeof value;
}

/** Validates the decoded map; extra keys are ignored so newer engines can add fields. */
function validate(map: Record<string, unknown>): DecodedRegistration {
  const type = map['type'];
  if (type !== 'P' && type !== 'D') return { ok: false, reason: 'type', detail: `type must be "P" or "D", got ${show(type)}` };
  const http = parseHostPort(map['http_address']);
  if (!http.ok) return { ok: false, reason: 'http_address', detail: `http_address: ${http.detail}` };
  const zmq = parseHostPort(map['zmq_address']);
  if (!zmq.ok) return { ok: false, reason: 'zmq_address', detail: `zmq_address: ${zmq.detail}` };
  const zmqAddress = map['zmq_address'] as string;
  // The engines find their peer with the regex `___decode_addr_(.*):(\d+)` in the request id (vLLM's p2p_nccl_engine.py), so an
  // address containing the separator would be mis-parsed on the other side.
  if (zmqAddress.includes('___')) return { ok: false, reason: 'zmq_address', detail: 'zmq_address contains "___"' };
  const mode = map['transfer_mode'];
  if (mode !== undefined && mode !== 'READ' && mode !== 'WRITE') {
    return { ok: false, reason: 'transfer_mode', detail: `transfer_mode must be "READ" or "WRITE", got ${show(mode)}` };
  }
  return {
    ok: true,
    registration: {
      role: type === 'P' ? 'prefill' : 'decode',
      httpAddress: map['http_address'] as string,
      url: `http://${http.host.includes(':') ? `[${http.host}]` : http.host}:${http.port}`,
      zmqAddress,
      transferMode: mode,
    },
  };
}

/** msgpack map markers: fixmap 0x80-0x8f, map16 0xde, map32 0xdf. */
function isMapMarker(byte: number | undefined): boolean {
  return byte !== undefined && ((byte & 0xf0) === 0x80 || byte === 0xde || byte === 0xdf);
}

/**
 * Returns a decoder for ROUTER messages `[identity, payload]`. Each decoder owns its Unpackr so that msgpackr's
 * record-structure state can never leak between listeners.
 */
export function createRegistrationDecoder(): (message: readonly Uint8Array[]) => DecodedRegistration {
  const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
  return (message) => {
    if (message.length !== 2) {
      return { ok: false, reason: 'frame_count', detail: `expected [identity, payload], got ${message.length} frames` };
    }
    const payload = message[1] as Uint8Array;
    // Checked before unpacking so that arrays, ext records and scalars never reach msgpackr's object paths.
    if (!isMapMarker(payload[0])) return { ok: false, reason: 'not_a_map', detail: 'payload is not a msgpack map' };
    let decoded: unknown;
    try {
      decoded = unpackr.unpack(payload);
    } catch (error) {
      return { ok: false, reason: 'msgpack', detail: `undecodable msgpack: ${(error as Error).message.slice(0, 80)}` };
    }
    if (typeof decoded !== 'object' || decoded === null || Array.isArray(decoded) || decoded instanceof Map) {
      return { ok: false, reason: 'not_a_map', detail: 'payload is not a msgpack map' };
    }
    return validate(decoded as Record<string, unknown>);
  };
}
