// Decodes one vLLM KV-event batch (the msgpack payload of a PUB message) in either encoding vLLM has shipped.
//
// vllm/distributed/kv_events.py: a batch is `EventBatch(ts, events, data_parallel_rank)`; each event is a
// msgspec tagged struct, `BlockStored`, `BlockRemoved` or `AllBlocksCleared`. Until vLLM PR #42892 (June 2026)
// the events were tagged arrays (`["BlockStored", block_hashes, parent_block_hash, token_ids, block_size,
// lora_id, medium, lora_name, extra_keys, group_idx, …]`); since then maps with a `type` field, where fields
// at their default may be left out. The batch itself may come as an array or a map. Block hashes are the low
// 64 bits as an integer, or bytes with VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=0: either way only their identity
// matters here, so they become strings.
import { Unpackr } from 'msgpackr';

/** A block as vLLM names it: its hash, as a string (decimal for integers, `b:` + hex for bytes). */
export type BlockKey = string;

export interface StoredEvent {
  readonly kind: 'stored';
  readonly keys: readonly BlockKey[];
  readonly parent: BlockKey | undefined;
  /** The tokens of every block, block after block (`keys.length × blockSize` of them). */
  readonly tokenIds: readonly number[];
  readonly blockSize: number;
  readonly loraName: string | undefined;
  /** `GPU`, `CPU`…; undefined means the GPU. */
  readonly medium: string | undefined;
  /** One entry per block (multimodal ids, cache_salt…), or undefined. */
  readonly extraKeys: readonly unknown[] | undefined;
  /** The KV cache group (hybrid models); 0 is full attention. */
  readonly groupIdx: number;
}

export interface RemovedEvent {
  readonly kind: 'removed';
  readonly keys: readonly BlockKey[];
  readonly medium: string | undefined;
  readonly groupIdx: number;
}

export interface ClearedEvent {
  readonly kind: 'cleared';
}

export type KvEvent = StoredEvent | RemovedEvent | ClearedEvent;

export interface DecodedBatch {
  readonly ts: number;
  readonly dpRank: number | undefined;
  readonly events: readonly KvEvent[];
  /** Events of a type this router does not know (counted, skipped). */
  readonly unknown: number;
  /** Events whose fields were not what vLLM sends (counted, skipped). */
  readonly malformed: number;
}

export type DecodeResult = { readonly ok: true; readonly batch: DecodedBatch } | { readonly ok: false; readonly reason: string };

const STORED_FIELDS = ['block_hashes', 'parent_block_hash', 'token_ids', 'block_size', 'lora_id', 'medium', 'lora_name', 'extra_keys', 'group_idx'] as const;
const REMOVED_FIELDS = ['block_hashes', 'medium', 'group_idx'] as const;

type Fields = Readonly<Record<string, unknown>>;

const isRecord = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

/** A block hash as a key; undefined when it is neither an integer nor bytes. */
function keyOf(v: unknown): BlockKey | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : undefined;
  if (typeof v === 'bigint') return v.toString();
  // uint64 beyond 2^53 comes back as a decimal string (int64AsType: 'string').
  if (typeof v === 'string') return /^-?\d+$/.test(v) ? v : undefined;
  if (v instanceof Uint8Array) return `b:${hex(v)}`;
  return undefined;
}

function keysOf(v: unknown): BlockKey[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: BlockKey[] = [];
  for (const item of v) {
    const key = keyOf(item);
    if (key === undefined) return undefined;
    out.push(key);
  }
  return out;
}

const optionalString = (v: unknown): string | undefined | false => (v === undefined || v === null ? undefined : typeof v === 'string' ? v : false);
const groupOf = (v: unknown): number | false => (v === undefined || v === null ? 0 : Number.isInteger(v) && (v as number) >= 0 ? (v as number) : false);

/** The named fields of an event, from either encoding. */
function fieldsOf(raw: unknown, names: readonly string[]): Fields {
  if (isRecord(raw)) return raw;
  const out: Record<string, unknown> = {};
  names.forEach((name, i) => (out[name] = (raw as unknown[])[i + 1]));
  return out;
}

function stored(f: Fields): StoredEvent | undefined {
  const keys = keysOf(f.block_hashes);
  const parent = f.parent_block_hash === undefined || f.parent_block_hash === null ? undefined : keyOf(f.parent_block_hash);
  const tokens = f.token_ids;
  const blockSize = f.block_size;
  const medium = optionalString(f.medium);
  const loraName = optionalString(f.lora_name);
  const groupIdx = groupOf(f.group_idx);
  if (keys === undefined || (f.parent_block_hash !== undefined && f.parent_block_hash !== null && parent === undefined)) return undefined;
  if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t) && t >= 0)) return undefined;
  if (!Number.isInteger(blockSize) || (blockSize as number) < 1 || tokens.length !== keys.length * (blockSize as number)) return undefined;
  if (medium === false || loraName === false || groupIdx === false) return undefined;
  const extra = f.extra_keys;
  if (extra !== undefined && extra !== null && (!Array.isArray(extra) || extra.length !== keys.length)) return undefined;
  return {
    kind: 'stored',
    keys,
    parent,
    tokenIds: tokens as number[],
    blockSize: blockSize as number,
    loraName,
    medium,
    extraKeys: Array.isArray(extra) ? extra : undefined,
    groupIdx,
  };
}

function removed(f: Fields): RemovedEvent | undefined {
  const keys = keysOf(f.block_hashes);
  const medium = optionalString(f.medium);
  const groupIdx = groupOf(f.group_idx);
  if (keys === undefined || medium === false || groupIdx === false) return undefined;
  return { kind: 'removed', keys, medium, groupIdx };
}

/** One event; 'unknown' for a type this router does not know, undefined when malformed. */
function event(raw: unknown): KvEvent | 'unknown' | undefined {
  const tag = isRecord(raw) ? raw.type : Array.isArray(raw) ? raw[0] : undefined;
  if (typeof tag !== 'string') return undefined;
  switch (tag) {
    case 'BlockStored':
      return stored(fieldsOf(raw, STORED_FIELDS));
    case 'BlockRemoved':
      return removed(fieldsOf(raw, REMOVED_FIELDS));
    case 'AllBlocksCleared':
      return { kind: 'cleared' };
    default:
      return 'unknown';
  }
}

/** A decoder with its own msgpack state. */
export function createKvEventDecoder(): (payload: Uint8Array) => DecodeResult {
  const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'string' });
  return (payload) => {
    let decoded: unknown;
    try {
      decoded = unpackr.unpack(payload);
    } catch (e) {
      // Truncated data, lengths past the end, nesting that exhausts the stack: all end here.
      return { ok: false, reason: `undecodable msgpack: ${(e as Error).message.slice(0, 80)}` };
    }
    const batch = Array.isArray(decoded) ? { ts: decoded[0], events: decoded[1], data_parallel_rank: decoded[2] } : isRecord(decoded) ? decoded : undefined;
    if (batch === undefined || !Array.isArray(batch.events)) return { ok: false, reason: 'not an event batch [ts, events, data_parallel_rank]' };
    const rank = batch.data_parallel_rank;
    const events: KvEvent[] = [];
    let unknown = 0;
    let malformed = 0;
    for (const raw of batch.events as unknown[]) {
      const e = event(raw);
      if (e === 'unknown') unknown++;
      else if (e === undefined) malformed++;
      else events.push(e);
    }
    return {
      ok: true,
      batch: {
        ts: typeof batch.ts === 'number' ? batch.ts : 0,
        dpRank: Number.isInteger(rank) ? (rank as number) : undefined,
        events,
        unknown,
        malformed,
      },
    };
  };
}
