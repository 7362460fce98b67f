// SubscribeKvEvents' messages (smg.grpc.common.KvEventBatch): decoded with 64-bit integers as decimal strings, since
// block hashes are full int64 values (smg-grpc-servicer reduces vLLM's hash to a signed int64, kv_events.py
// to_int64) and the router's generic decoding turns longs into numbers, which would merge distinct hashes.
import protobuf from 'protobufjs';
import commonProto from '../../proto/common.proto' with { type: 'text' };

/** One stored block as the engine sends it. */
export interface KvBlockMessage {
  readonly block_hash?: string;
  readonly token_ids?: readonly number[];
  readonly block_size?: number;
  readonly lora_id?: string;
  readonly cache_level?: number;
}

export interface KvCacheEventMessage {
  readonly event_id?: string;
  /** The oneof's set member. */
  readonly data?: 'stored' | 'removed' | 'cleared';
  readonly stored?: { readonly blocks?: readonly KvBlockMessage[]; readonly parent_block_hash?: string };
  readonly removed?: { readonly block_hashes?: readonly string[]; readonly cache_level?: number };
  readonly cleared?: Record<string, never>;
}

export interface KvEventBatchMessage {
  /** The engine's ZMQ publisher sequence, as a decimal string. */
  readonly sequence_number?: string;
  readonly timestamp?: number;
  readonly events?: readonly KvCacheEventMessage[];
  readonly dp_rank?: number;
}

export interface KvEventCodec {
  readonly serializeRequest: (request: { start_sequence_number: number }) => Buffer;
  /** Throws on bytes that are not a KvEventBatch (grpc-js turns that into an INTERNAL stream error). */
  readonly deserializeBatch: (bytes: Buffer) => KvEventBatchMessage;
}

export function kvEventCodec(): KvEventCodec {
  const root = protobuf.parse(commonProto, { keepCase: true }).root;
  const request = root.lookupType('smg.grpc.common.SubscribeKvEventsRequest');
  const batch = root.lookupType('smg.grpc.common.KvEventBatch');
  return {
    serializeRequest: (value) => Buffer.from(request.encode(request.fromObject(value)).finish()),
    deserializeBatch: (bytes) =>
      batch.toObject(batch.decode(bytes), { longs: String, arrays: true, oneofs: true, defaults: false }) as KvEventBatchMessage,
  };
}
