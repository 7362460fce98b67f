import { describe, expect, test } from 'bun:test';
import { decodeKvParams, isConcurrent, mooncakeBootstrapAddr, planKvTransfer, prefillKvParams } from '../../../src/routing/pd/kv-transfer.ts';
import { mulberry32 } from '../../../testkit/mulberry32.ts';

const prefill = { url: 'http://10.0.0.5:8100', bootstrapPort: 8998 as number | null, dpRank: undefined as number | undefined };

// What a NIXL prefill engine returns (reference B.2, later vLLM versions).
const nixlFromPrefill = {
  do_remote_prefill: true,
  do_remote_decode: false,
  remote_block_ids: [1, 2, 3],
  remote_engine_id: 'engine-a',
  remote_host: '10.0.0.5',
  remote_port: 5600,
  tp_size: 1,
  remote_request_id: 'cmpl-x-0',
};

describe('NIXL', () => {
  const plan = planKvTransfer('nixl', prefill, mulberry32(1));

  test('prefill leg asks for a remote decode with every remote field null', () => {
    expect(prefillKvParams(plan)).toEqual({ do_remote_decode: true, do_remote_prefill: false, remote_engine_id: null, remote_block_ids: null, remote_host: null, remote_port: null });
  });

  test('decode leg gets exactly what the prefill returned', () => {
    expect(decodeKvParams(plan, { kvTransferParams: nixlFromPrefill })).toEqual(nixlFromPrefill);
  });

  test('decode leg gets none when the prefill returned none or null', () => {
    expect(decodeKvParams(plan, { kvTransferParams: undefined })).toBeUndefined();
    expect(decodeKvParams(plan, { kvTransferParams: null })).toBeUndefined();
  });
});

describe('Mooncake', () => {
  const plan = planKvTransfer('mooncake', prefill, mulberry32(2));

  test('prefill leg carries a fresh xfer-<uuid4> transfer id', () => {
    const params = prefillKvParams(plan);
    expect(params).toEqual({ do_remote_decode: true, do_remote_prefill: false, transfer_id: expect.stringMatching(/^xfer-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/) });
    expect(planKvTransfer('mooncake', prefill, mulberry32(3))).not.toEqual(plan);
  });

  test('decode leg is built by the router: same transfer id, the prefill bootstrap address and engine id', () => {
    const transferId = prefillKvParams(plan).transfer_id;
    // Whatever the prefill response carried is not used: Mooncake prefill engines return none.
    expect(decodeKvParams(plan, { kvTransferParams: { remote_host: 'ignored' }, engineId: 'eng-7' })).toEqual({
      do_remote_decode: false,
      do_remote_prefill: true,
      transfer_id: transferId,
      remote_bootstrap_addr: 'http://10.0.0.5:8998',
      remote_engine_id: 'eng-7',
    });
  });

  test('the bootstrap address falls back to port 8998 and keeps IPv6 brackets', () => {
    expect(mooncakeBootstrapAddr('http://prefill-0:8000', null)).toBe('http://prefill-0:8998');
    expect(mooncakeBootstrapAddr('http://prefill-0:8000', 9000)).toBe('http://prefill-0:9000');
    expect(mooncakeBootstrapAddr('http://[fd00::5]:8000', 8998)).toBe('http://[fd00::5]:8998');
  });
});

describe('MoRI-IO', () => {
  test('READ: prefill gets a tx- transfer id and the DP size; decode copies the prefill answer plus the DP size', () => {
    const plan = planKvTransfer('moriio', prefill, mulberry32(4), { mode: 'READ', dpSize: 2 });
    const params = prefillKvParams(plan);
    expect(params).toEqual({
      do_remote_decode: true,
      do_remote_prefill: false,
      remote_engine_id: null,
      remote_block_ids: null,
      transfer_id: expect.stringMatching(/^tx-[0-9a-f]{32}$/),
      remote_dp_size: 2,
    });
    const fromPrefill = { do_remote_prefill: true, remote_engine_id: 'e', remote_block_ids: [4], transfer_id: params.transfer_id };
    expect(decodeKvParams(plan, { kvTransferParams: fromPrefill })).toEqual({ ...fromPrefill, remote_dp_size: 2 });
    expect(decodeKvParams(plan, { kvTransferParams: null })).toBeUndefined();
    expect(isConcurrent(plan)).toBe(false);
  });

  test('WRITE: both legs at once; prefill adds remote_tp_size; decode is built with the prefill DP rank when DP > 1', () => {
    const plan = planKvTransfer('moriio', { ...prefill, dpRank: 1 }, mulberry32(5), { mode: 'WRITE', dpSize: 2 });
    const params = prefillKvParams(plan);
    expect(params).toMatchObject({ do_remote_decode: true, remote_tp_size: 1, remote_dp_size: 2 });
    expect(decodeKvParams(plan, { kvTransferParams: undefined })).toEqual({
      do_remote_decode: false,
      do_remote_prefill: true,
      remote_engine_id: null,
      remote_block_ids: null,
      transfer_id: params.transfer_id,
      remote_dp_size: 2,
      remote_tp_size: 1,
      remote_dp_rank: 1,
    });
    expect(isConcurrent(plan)).toBe(true);
  });

  test('WRITE with one DP rank sends no remote_dp_rank', () => {
    const plan = planKvTransfer('moriio', { ...prefill, dpRank: 0 }, mulberry32(6), { mode: 'WRITE', dpSize: 1 });
    expect(decodeKvParams(plan, { kvTransferParams: undefined })).not.toHaveProperty('remote_dp_rank');
  });
});
