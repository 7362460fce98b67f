import { describe, expect, test } from 'bun:test';
import { pdRequestId, uuid4, uuid4Hex } from '../../../src/routing/pd/request-id.ts';
import { mulberry32 } from '../../../testkit/mulberry32.ts';

// vLLM's P2pNcclConnector.parse_request_id (reference B.1): greedy regexes on each side.
const decodeSide = /___prefill_addr_(.*):(\d+)___/;
const prefillSide = /___decode_addr_(.*):(\d+)/;

describe('P/D request id', () => {
  test('has the ___prefill_addr_<P>___decode_addr_<D>_<32 hex> shape', () => {
    const id = pdRequestId('10.0.0.1:21001', '10.0.0.2:22001', mulberry32(1));
    expect(id).toMatch(/^___prefill_addr_10\.0\.0\.1:21001___decode_addr_10\.0\.0\.2:22001_[0-9a-f]{32}$/);
  });

  test('parses back to both KV addresses with the engines’ own regexes', () => {
    const id = pdRequestId('prefill-0.svc:21001', 'decode-3.svc:22007', mulberry32(2));
    expect(decodeSide.exec(id)?.slice(1)).toEqual(['prefill-0.svc', '21001']);
    expect(prefillSide.exec(id)?.slice(1)).toEqual(['decode-3.svc', '22007']);
  });

  test('is drawn from the injected random: the same seed gives the same id, another seed another', () => {
    expect(pdRequestId('a:1', 'b:2', mulberry32(7))).toBe(pdRequestId('a:1', 'b:2', mulberry32(7)));
    expect(pdRequestId('a:1', 'b:2', mulberry32(7))).not.toBe(pdRequestId('a:1', 'b:2', mulberry32(8)));
  });

  test('the hex part is a real uuid4 (version 4, RFC 4122 variant), even at the random extremes', () => {
    for (const random of [mulberry32(3), () => 0, () => 0.999999]) {
      const hex = uuid4Hex(random);
      expect(hex).toMatch(/^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$/);
    }
  });

  test('the dashed uuid4 is the hex cut 8-4-4-4-12', () => {
    expect(uuid4(mulberry32(4))).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(uuid4(mulberry32(4)).replaceAll('-', '')).toBe(uuid4Hex(mulberry32(4)));
  });
});
