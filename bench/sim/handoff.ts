// The simulated NIXL hand-off: a prefill engine keeps a ledger of the KV it produced; a decode engine asks
// the prefill engine named in kv_transfer_params (remote_host:remote_port) to confirm and consume it.
import { isRecord } from './sim-request.ts';

interface LedgerEntry {
  promptTokens: number;
  params: unknown;
  consumed: boolean;
}

/** Hand-offs kept per prefill engine; the oldest are dropped first (real engines expire unpulled blocks). */
const LEDGER_LIMIT = 10_000;

export interface HandoffLedger {
  put(requestId: string, entry: Omit<LedgerEntry, 'consumed'>): void;
  /** `GET` peeks, `DELETE` consumes (409 when already consumed), 404 for an unknown id. */
  route(method: string, requestId: string): Response;
}

export function createHandoffLedger(): HandoffLedger {
  const entries = new Map<string, LedgerEntry>();
  return {
    put(requestId, entry) {
      entries.set(requestId, { ...entry, consumed: false });
      if (entries.size > LEDGER_LIMIT) entries.delete(entries.keys().next().value as string);
    },
    route(method, requestId) {
      const entry = entries.get(requestId);
      if (entry === undefined) return new Response(null, { status: 404 });
      if (method === 'DELETE') {
        if (entry.consumed) return new Response(null, { status: 409 });
        entry.consumed = true;
      } else if (method !== 'GET') {
        return new Response(null, { status: 405 });
      }
      return Response.json(entry);
    },
  };
}

/** Decode side: null when the hand-off is confirmed and now consumed, else why it was refused. */
export async function checkHandoff(kv: Record<string, unknown> | null, promptTokens: number): Promise<string | null> {
  if (kv === null || kv.do_remote_prefill !== true) return 'no kv_transfer_params with do_remote_prefill=true arrived';
  const missing = ['remote_engine_id', 'remote_block_ids', 'remote_host', 'remote_port', 'remote_request_id'].filter((f) => kv[f] === undefined || kv[f] === null);
  if (missing.length > 0) return `Got invalid KVTransferParams (missing ${missing.join(', ')})`;
  const url = `http://${String(kv.remote_host)}:${String(kv.remote_port)}/_sim/handoff/${encodeURIComponent(String(kv.remote_request_id))}`;
  try {
    const peek = await fetch(url, { signal: AbortSignal.timeout(5000) });
    if (peek.status === 404) return `the prefill engine never produced hand-off ${String(kv.remote_request_id)}`;
    const entry: unknown = await peek.json();
    if (!isRecord(entry)) return `the prefill engine answered ${peek.status}`;
    if (entry.consumed === true) return `hand-off ${String(kv.remote_request_id)} was already consumed`;
    if (entry.promptTokens !== promptTokens) return `the prompt has ${promptTokens} tokens but the prefill computed ${String(entry.promptTokens)}`;
    const params = isRecord(entry.params) ? entry.params : {};
    if (params.remote_engine_id !== kv.remote_engine_id) return `remote_engine_id ${JSON.stringify(kv.remote_engine_id)} is not the prefill engine's`;
    const take = await fetch(url, { method: 'DELETE', signal: AbortSignal.timeout(5000) });
    if (take.status === 409) return `hand-off ${String(kv.remote_request_id)} was already consumed`;
    if (!take.ok) return `the prefill engine answered ${take.status} when the hand-off was taken`;
    return null;
  } catch (err) {
    return `could not reach the prefill engine at ${url}: ${String(err)}`;
  }
}
