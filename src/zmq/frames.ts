// ZMTP 3.x frame and command encoding: flags byte, short or long size, command names and READY metadata.

export const FLAG_MORE = 0x01;
export const FLAG_LONG = 0x02;
export const FLAG_COMMAND = 0x04;
/** Bits 3..7 of the flags byte are reserved and must be zero (RFC 23). */
export const FLAG_RESERVED = 0xf8;

const SHORT_MAX = 255;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function headerSize(bodySize: number): number {
  return bodySize > SHORT_MAX ? 9 : 2;
}

function writeHeader(out: Uint8Array, at: number, flags: number, bodySize: number): number {
  if (bodySize > SHORT_MAX) {
    out[at] = flags | FLAG_LONG;
    // Frames beyond 2^53 bytes cannot exist in a JS heap, so the high word is computed with plain numbers.
    const view = new DataView(out.buffer, out.byteOffset + at + 1, 8);
    view.setUint32(0, Math.floor(bodySize / 2 ** 32));
    view.setUint32(4, bodySize >>> 0);
    return at + 9;
  }
  out[at] = flags;
  out[at + 1] = bodySize;
  return at + 2;
}

/** Encodes a multipart message (MORE on every frame but the last) into one buffer, so it is written atomically. */
export function encodeMessage(frames: readonly Uint8Array[]): Uint8Array {
  if (frames.length === 0) throw new Error('a ZMTP message has at least one frame');
  let total = 0;
  for (const frame of frames) total += headerSize(frame.byteLength) + frame.byteLength;
  const out = new Uint8Array(total);
  let at = 0;
  frames.forEach((frame, index) => {
    at = writeHeader(out, at, index < frames.length - 1 ? FLAG_MORE : 0, frame.byteLength);
    out.set(frame, at);
    at += frame.byteLength;
  });
  return out;
}

/** Encodes a command frame: 1-byte name length, ASCII name, then the command data. */
export function encodeCommand(name: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const nameBytes = encoder.encode(name);
  if (nameBytes.byteLength === 0 || nameBytes.byteLength > SHORT_MAX) throw new Error(`bad command name ${name}`);
  const bodySize = 1 + nameBytes.byteLength + data.byteLength;
  const out = new Uint8Array(headerSize(bodySize) + bodySize);
  let at = writeHeader(out, 0, FLAG_COMMAND, bodySize);
  out[at++] = nameBytes.byteLength;
  out.set(nameBytes, at);
  out.set(data, at + nameBytes.byteLength);
  return out;
}

export interface Command {
  readonly name: string;
  readonly data: Uint8Array;
}

export function parseCommand(body: Uint8Array): { ok: true; command: Command } | { ok: false; error: string } {
  const nameSize = body[0];
  if (nameSize === undefined || nameSize === 0 || 1 + nameSize > body.byteLength) {
    return { ok: false, error: 'malformed command frame' };
  }
  const nameBytes = body.subarray(1, 1 + nameSize);
  // Command names are ASCII letters (READY, ERROR, PING, PONG, SUBSCRIBE, CANCEL); anything else is garbage.
  if (!nameBytes.every((b) => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d)) {
    return { ok: false, error: 'malformed command name' };
  }
  return { ok: true, command: { name: String.fromCharCode(...nameBytes), data: body.subarray(1 + nameSize) } };
}

/** Encodes READY-style metadata: for each property a 1-byte name length, name, 4-byte big-endian value length, value. */
export function encodeProperties(properties: ReadonlyArray<readonly [string, Uint8Array]>): Uint8Array {
  const parts = properties.map(([name, value]) => [encoder.encode(name), value] as const);
  const size = parts.reduce((sum, [name, value]) => sum + 1 + name.byteLength + 4 + value.byteLength, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const [name, value] of parts) {
    out[at++] = name.byteLength;
    out.set(name, at);
    at += name.byteLength;
    view.setUint32(at, value.byteLength);
    at += 4;
    out.set(value, at);
    at += value.byteLength;
  }
  return out;
}

/** Decodes READY metadata. Property names are case-insensitive (RFC 23), so keys are lower-cased. */
export function parseProperties(
  data: Uint8Array,
): { ok: true; properties: Map<string, Uint8Array> } | { ok: false; error: string } {
  const properties = new Map<string, Uint8Array>();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  while (at < data.byteLength) {
    const nameSize = data[at++] ?? 0;
    if (nameSize === 0 || at + nameSize + 4 > data.byteLength) return { ok: false, error: 'malformed READY metadata' };
    let name: string;
    try {
      name = decoder.decode(data.subarray(at, at + nameSize)).toLowerCase();
    } catch {
      return { ok: false, error: 'malformed READY metadata' };
    }
    at += nameSize;
    const valueSize = view.getUint32(at);
    at += 4;
    if (at + valueSize > data.byteLength) return { ok: false, error: 'malformed READY metadata' };
    properties.set(name, data.subarray(at, at + valueSize));
    at += valueSize;
  }
  return { ok: true, properties };
}

export function asciiBytes(text: string): Uint8Array {
  return encoder.encode(text);
}
