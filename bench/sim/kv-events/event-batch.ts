// vLLM's KV-event batch as bytes: `[ts, events, data_parallel_rank]` in msgpack, the events as tagged arrays (vLLM
// before PR #42892) or as maps keyed by field name with the tag under "type" (after it).
//
// Shapes from vllm/distributed/kv_events.py (msgspec structs with omit_defaults; the batch stays array-like) and
// the values vllm/v1/core/block_pool.py fills in for a text-only request without LoRA on one full-attention group:
// lora_id and lora_name None, medium "GPU", extra_keys one None per block, group_idx 0, kv_cache_spec_kind
// "full_attention" (PR #40984; kv_cache_spec_sliding_window, None, is omitted as a default).
import type { MsgpackWriter } from './msgpack-writer.ts';

export type KvEvent =
  /** Full blocks just cached, in chain order; `parent` is the block before the first, null at a sequence's start. */
  | { readonly kind: 'stored'; readonly hashes: readonly bigint[]; readonly parent: bigint | null; readonly tokenIds: readonly number[] }
  /** One evicted block (vLLM sends one BlockRemoved per block). */
  | { readonly kind: 'removed'; readonly hash: bigint }
  | { readonly kind: 'cleared' };

/** `array`: `["BlockStored", …]` (vLLM ≤ 0.23); `map`: `{"type": "BlockStored", …}` (vLLM PR #42892 on). */
export type KvEventEncoding = 'array' | 'map';
/** `int`: the low 64 bits as an integer (vLLM's default); `bytes`: the hash as bytes (VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=0). */
export type BlockHashFormat = 'int' | 'bytes';

export interface BatchFormat {
  readonly encoding: KvEventEncoding;
  readonly blockHashes: BlockHashFormat;
  readonly blockSize: number;
}

const MEDIUM = 'GPU';
const SPEC_KIND = 'full_attention';
/** vLLM's default hash (sha256) is 32 bytes; ours is 64 bits, sent as its last 8 so `int.from_bytes` & 2^64−1 agree. */
const HASH_BYTES = 32;

function writeHash(w: MsgpackWriter, hash: bigint, format: BlockHashFormat): void {
  if (format === 'int') return w.uint64(hash);
  const bytes = new Uint8Array(HASH_BYTES);
  new DataView(bytes.buffer).setBigUint64(HASH_BYTES - 8, hash);
  w.bin(bytes);
}

/** BlockStored's fields after the tag, in declaration order (the order of both encodings). */
function writeStoredFields(w: MsgpackWriter, e: Extract<KvEvent, { kind: 'stored' }>, f: BatchFormat, key: (name: string) => void): void {
  key('block_hashes');
  w.array(e.hashes.length);
  for (const h of e.hashes) writeHash(w, h, f.blockHashes);
  key('parent_block_hash');
  if (e.parent === null) w.nil();
  else writeHash(w, e.parent, f.blockHashes);
  key('token_ids');
  w.array(e.tokenIds.length);
  for (const t of e.tokenIds) w.uint(t);
  key('block_size');
  w.uint(f.blockSize);
  key('lora_id');
  w.nil();
  key('medium');
  w.str(MEDIUM);
  key('lora_name');
  w.nil();
  key('extra_keys');
  w.array(e.hashes.length);
  for (let i = 0; i < e.hashes.length; i++) w.nil();
  key('group_idx');
  w.uint(0);
  key('kv_cache_spec_kind');
  w.str(SPEC_KIND);
}
const STORED_FIELDS = 10;

const noKey = (): void => {};

function writeEvent(w: MsgpackWriter, e: KvEvent, f: BatchFormat): void {
  const map = f.encoding === 'map';
  // Field names exist in the map encoding only; the array encoding is positional.
  const key = map ? w.str : noKey;
  const open = (tag: string, fields: number): void => {
    if (map) {
      w.map(fields + 1);
      w.str('type');
    } else {
      w.array(fields + 1);
    }
    w.str(tag);
  };
  switch (e.kind) {
    case 'stored':
      open('BlockStored', STORED_FIELDS);
      return writeStoredFields(w, e, f, key);
    case 'removed':
      open('BlockRemoved', 3);
      key('block_hashes');
      w.array(1);
      writeHash(w, e.hash, f.blockHashes);
      key('medium');
      w.str(MEDIUM);
      key('group_idx');
      return w.uint(0);
    case 'cleared':
      return open('AllBlocksCleared', 0);
  }
}

/** The payload frame of one batch: `[ts, events, data_parallel_rank]`, `ts` in seconds as a float. */
export function encodeBatch(w: MsgpackWriter, ts: number, events: readonly KvEvent[], dataParallelRank: number, format: BatchFormat): Uint8Array {
  w.array(3);
  w.float64(ts);
  w.array(events.length);
  for (const e of events) writeEvent(w, e, format);
  w.uint(dataParallelRank);
  return w.take();
}
