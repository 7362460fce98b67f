// The tokenizer bundle GetTokenizer streams (a ZIP, lightseekorg/smg grpc_servicer tokenizer_bundle.py), read
// into the files the router's tokenizer needs: only known names, sizes bounded, the archive's SHA-256 checked.
import { createHash } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';

/** The files taken from a bundle; anything else in it is ignored. */
const WANTED = new Set(['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'chat_template.json']);
const MAX_FILE_BYTES = 256 * 1024 * 1024;

export type Bundle = { readonly ok: true; readonly files: ReadonlyMap<string, Uint8Array> } | { readonly ok: false; readonly error: string };

export function readTokenizerBundle(zip: Uint8Array, sha256: string): Bundle {
  const digest = createHash('sha256').update(zip).digest('hex');
  if (sha256 !== '' && digest !== sha256.toLowerCase()) return { ok: false, error: `the archive's SHA-256 is ${digest}, the engine said ${sha256}` };
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  // The end-of-central-directory record is in the last 64 KiB + 22 bytes (a comment may follow it).
  let end = -1;
  for (let at = zip.byteLength - 22; at >= Math.max(0, zip.byteLength - 65_557); at--) {
    if (view.getUint32(at, true) === 0x06054b50) {
      end = at;
      break;
    }
  }
  if (end < 0) return { ok: false, error: 'not a ZIP archive (no end of central directory)' };
  const entries = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const files = new Map<string, Uint8Array>();
  for (let i = 0; i < entries; i++) {
    if (at + 46 > zip.byteLength || view.getUint32(at, true) !== 0x02014b50) return { ok: false, error: 'a broken central directory' };
    const method = view.getUint16(at + 10, true);
    const packed = view.getUint32(at + 20, true);
    const size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const skip = nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    const local = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(zip.subarray(at + 46, at + 46 + nameLength));
    at += 46 + skip;
    if (!WANTED.has(name)) continue;
    if (size > MAX_FILE_BYTES) return { ok: false, error: `${name} is ${size} bytes, more than the ${MAX_FILE_BYTES} accepted` };
    if (local + 30 > zip.byteLength || view.getUint32(local, true) !== 0x04034b50) return { ok: false, error: `${name}: a broken local header` };
    const from = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const data = zip.subarray(from, from + packed);
    if (data.byteLength !== packed) return { ok: false, error: `${name} is cut short` };
    let bytes: Uint8Array;
    try {
      bytes = method === 0 ? data : method === 8 ? inflateRawSync(data, { maxOutputLength: MAX_FILE_BYTES }) : new Uint8Array(0);
    } catch (e) {
      return { ok: false, error: `${name} does not inflate: ${(e as Error).message}` };
    }
    if (method !== 0 && method !== 8) return { ok: false, error: `${name} uses ZIP method ${method} (only stored and deflate are read)` };
    if (bytes.byteLength !== size) return { ok: false, error: `${name} is ${bytes.byteLength} bytes, the archive said ${size}` };
    files.set(name, bytes);
  }
  if (!files.has('tokenizer.json')) return { ok: false, error: 'the bundle has no tokenizer.json' };
  return { ok: true, files };
}
