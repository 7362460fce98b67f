// Per KV connector: the kv_transfer_params sent with the prefill leg, and those sent with the decode leg.
//
// Rust src/routers/http/vllm_pd_router.rs; vLLM's NIXL toy proxy, tests/v1/kv_connector/nixl_integration/toy_proxy_server.py:
// - NIXL: P gets `do_remote_decode: true` with null remote fields; D gets exactly what P's response carried
//   (its engine id, block ids, side-channel host/port, request id), nothing when P returned none.
// - Mooncake: P gets a transfer id; P's response carries nothing, so D's params are built by the router:
//   the transfer id, P's bootstrap server and P's engine id (from the bootstrap `/query`).
// - MoRI-IO READ: like NIXL plus `remote_dp_size`. WRITE: P pushes to D, so both legs are sent at once and
//   D's params are built by the router.
import type { TransferMode } from './registration-message.ts';
import { uuid4, uuid4Hex } from './request-id.ts';

export type KvConnector = 'nixl' | 'mooncake' | 'moriio';

/** Mooncake's bootstrap server port when a prefill endpoint was given none (vLLM's default). */
export const MOONCAKE_DEFAULT_BOOTSTRAP_PORT = 8998;

/** What one request's hand-off needs to know, fixed before the prefill leg is sent. */
export type KvPlan =
  | { readonly connector: 'nixl' }
  | { readonly connector: 'mooncake'; readonly transferId: string; readonly bootstrapAddr: string }
  | {
      readonly connector: 'moriio';
      readonly mode: TransferMode;
      readonly transferId: string;
      /** Data-parallel size of the engines (--intra-node-data-parallel-size). */
      readonly dpSize: number;
      /** The prefill endpoint's data-parallel rank, when ranks are expanded. */
      readonly prefillDpRank: number | undefined;
    };

/** What the prefill leg produced that the decode leg may use. */
export interface PrefillOutput {
  /** The `kv_transfer_params` of the prefill response body (undefined for a concurrent MoRI-IO WRITE). */
  readonly kvTransferParams: unknown;
  /** Mooncake: the prefill engine's id for its data-parallel rank, from the bootstrap server. */
  readonly engineId?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `http://<prefill host>:<bootstrap port or 8998>`, the address Mooncake's decode side pulls from. */
export function mooncakeBootstrapAddr(prefillUrl: string, bootstrapPort: number | null): string {
  // URL.hostname keeps IPv6 brackets, so the result is a valid URL for any host.
  return `http://${new URL(prefillUrl).hostname}:${bootstrapPort ?? MOONCAKE_DEFAULT_BOOTSTRAP_PORT}`;
}

/** The plan for one request. Transfer ids are drawn from `random`, in the formats Rust uses. */
export function planKvTransfer(
  connector: KvConnector,
  prefill: { readonly url: string; readonly bootstrapPort: number | null; readonly dpRank: number | undefined },
  random: () => number,
  moriio?: { readonly mode: TransferMode; readonly dpSize: number },
): KvPlan {
  if (connector === 'nixl') return { connector };
  if (connector === 'mooncake') return { connector, transferId: `xfer-${uuid4(random)}`, bootstrapAddr: mooncakeBootstrapAddr(prefill.url, prefill.bootstrapPort) };
  if (moriio === undefined) throw new Error('planKvTransfer: MoRI-IO needs its transfer mode and DP size');
  return { connector, mode: moriio.mode, transferId: `tx-${uuid4Hex(random)}`, dpSize: moriio.dpSize, prefillDpRank: prefill.dpRank };
}

/** `kv_transfer_params` for the prefill leg. */
export function prefillKvParams(plan: KvPlan): Record<string, unknown> {
  switch (plan.connector) {
    case 'nixl':
      return { do_remote_decode: true, do_remote_prefill: false, remote_engine_id: null, remote_block_ids: null, remote_host: null, remote_port: null };
    case 'mooncake':
      return { do_remote_decode: true, do_remote_prefill: false, transfer_id: plan.transferId };
    case 'moriio': {
      const params: Record<string, unknown> = {
        do_remote_decode: true,
        do_remote_prefill: false,
        remote_engine_id: null,
        remote_block_ids: null,
        transfer_id: plan.transferId,
        remote_dp_size: plan.dpSize,
      };
      if (plan.mode === 'WRITE') params.remote_tp_size = 1;
      return params;
    }
  }
}

/**
 * `kv_transfer_params` for the decode leg, or undefined to send none. Only values the prefill endpoint
 * returned or the router built go in; the client's own were stripped before (prefill-request.ts).
 */
export function decodeKvParams(plan: KvPlan, prefill: PrefillOutput): Record<string, unknown> | undefined {
  switch (plan.connector) {
    case 'nixl':
      // Verbatim: the decode engine checks them against what the prefill engine holds.
      return isObject(prefill.kvTransferParams) ? prefill.kvTransferParams : undefined;
    case 'mooncake':
      return {
        do_remote_decode: false,
        do_remote_prefill: true,
        transfer_id: plan.transferId,
        remote_bootstrap_addr: plan.bootstrapAddr,
        remote_engine_id: prefill.engineId ?? null,
      };
    case 'moriio': {
      if (plan.mode === 'READ') return isObject(prefill.kvTransferParams) ? { ...prefill.kvTransferParams, remote_dp_size: plan.dpSize } : undefined;
      const params: Record<string, unknown> = {
        do_remote_decode: false,
        do_remote_prefill: true,
        remote_engine_id: null,
        remote_block_ids: null,
        transfer_id: plan.transferId,
        remote_dp_size: plan.dpSize,
        remote_tp_size: 1,
      };
      if (plan.dpSize > 1 && plan.prefillDpRank !== undefined) params.remote_dp_rank = plan.prefillDpRank;
      return params;
    }
  }
}

/** MoRI-IO WRITE sends both legs at once (P writes into D); every other plan is sequential. */
export const isConcurrent = (plan: KvPlan): boolean => plan.connector === 'moriio' && plan.mode === 'WRITE';
