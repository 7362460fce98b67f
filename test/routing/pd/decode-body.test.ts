import { describe, expect, test } from 'bun:test';
import { withKvParams } from '../../../src/routing/pd/decode-body.ts';

const enc = new TextEncoder();
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const KV = { remote_engine_id: 'e1', remote_block_ids: [1, 2], remote_host: '10.0.0.1', remote_port: 5600 };

describe('the decode body spliced from the client bytes', () => {
  test("keeps every client byte (spacing, number spellings, unknown fields, key order) and appends the hand-off last", () => {
    const client = '{ "model" : "m",\n  "messages":[{"role":"user","content":"hi"}], "temperature": 1.0E0, "x_unknown": {"a":null} }\n\n';
    const out = text(withKvParams(enc.encode(client), KV))!;
    expect(out).toBe(`{ "model" : "m",\n  "messages":[{"role":"user","content":"hi"}], "temperature": 1.0E0, "x_unknown": {"a":null} ,"kv_transfer_params":${JSON.stringify(KV)}}`);
    expect(JSON.parse(out)).toEqual({ ...JSON.parse(client), kv_transfer_params: KV });
  });

  test('an empty object gets the member without a comma; null params are sent as null', () => {
    expect(text(withKvParams(enc.encode('{}'), KV))).toBe(`{"kv_transfer_params":${JSON.stringify(KV)}}`);
    expect(text(withKvParams(enc.encode('{ \t}'), null))).toBe('{ \t"kv_transfer_params":null}');
  });

  test('a nested object closing last is not mistaken for an empty body', () => {
    expect(JSON.parse(text(withKvParams(enc.encode('{"a":{}}'), 1))!)).toEqual({ a: {}, kv_transfer_params: 1 });
  });

  test('bytes that do not end with the closing brace are left to the serialiser', () => {
    expect(withKvParams(enc.encode('[1]'), KV)).toBeUndefined();
    expect(withKvParams(enc.encode(''), KV)).toBeUndefined();
  });
});
