// Reads what each endpoint serves from its /v1/models and tells the model catalog: after each good health
// probe, when an endpoint is added, and (at most once per interval) when a request names a model nobody lists,
// since a LoRA adapter loaded a moment ago is listed before the next health round.
import { ENGINE_DOCUMENT_MAX_BYTES } from '../net/body-limits.ts';
import { isSuccess, probe } from '../net/probe.ts';
import { redirectNote } from '../net/redirect.ts';
import type { ModelCard } from './endpoint.ts';
import type { ModelCatalog } from './model-catalog.ts';
import type { EndpointRegistry } from './registry.ts';

export type ModelListing = { readonly ok: true; readonly cards: readonly ModelCard[] } | { readonly ok: false; readonly reason: string };

/** The cards of an OpenAI `/v1/models` document (`{"object":"list","data":[{id,…}]}`), or why it is not one. */
export function modelCardsOf(document: unknown): ModelListing {
  const data = (document as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) return { ok: false, reason: 'the answer has no data list' };
  const cards: ModelCard[] = [];
  for (const card of data) if (card !== null && typeof card === 'object' && typeof (card as { id?: unknown }).id === 'string') cards.push(card as ModelCard);
  return { ok: true, cards };
}

export interface ModelReaderOptions {
  readonly apiKey: string | undefined;
  readonly timeoutMs: number;
}

/** One read of `url`/v1/models on the probe client (node:http, off fetch's queue; redirects are failures). */
export async function readModels(url: string, options: ModelReaderOptions): Promise<ModelListing> {
  const answer = await probe({
    url: `${url}/v1/models`,
    headers: options.apiKey === undefined ? {} : { authorization: `Bearer ${options.apiKey}` },
    timeoutMs: options.timeoutMs,
    maxBodyBytes: ENGINE_DOCUMENT_MAX_BYTES,
  });
  if (answer.kind === 'failure') return { ok: false, reason: answer.message };
  if (!isSuccess(answer.status)) return { ok: false, reason: `answered ${answer.status}${redirectNote(answer.status)}` };
  try {
    return modelCardsOf(JSON.parse(answer.body.toString('utf8')));
  } catch (e) {
    return { ok: false, reason: `the answer is not JSON: ${(e as Error).message}` };
  }
}

export interface ModelRefresher {
  /**
   * Reads the models of the engine at base URL `url` (all its data-parallel ranks); one read at a time per URL.
   * `fresh`: a read that starts after this call (the engine just changed), not one already under way.
   */
  refresh(url: string, fresh?: boolean): Promise<void>;
  /** Reads every registered engine's models, unless that was done less than the interval ago; resolves when done. */
  refreshAll(): Promise<void>;
}

export interface ModelRefresherDeps {
  readonly registry: EndpointRegistry;
  readonly catalog: ModelCatalog;
  readonly read: (url: string) => Promise<ModelListing>;
  /** Least time between two fleet-wide reads triggered by requests. */
  readonly minIntervalMs: number;
  readonly now: () => number;
}

export function createModelRefresher(deps: ModelRefresherDeps): ModelRefresher {
  const { registry, catalog } = deps;
  const reading = new Map<string, Promise<void>>();
  let fleetRead: Promise<void> | undefined;
  let lastFleetRead = -Infinity;

  const readOne = async (url: string) => {
    const listing = await deps.read(url);
    const endpoints = registry.all().filter((e) => e.url === url);
    // A failed read keeps what the endpoint had (the read wrapper counts and logs it).
    if (!listing.ok) return;
    for (const e of endpoints) catalog.learn(e, listing.cards);
  };
  const refresh = (url: string, fresh = false): Promise<void> => {
    const running = reading.get(url);
    if (running !== undefined) return fresh ? running.then(() => refresh(url)) : running;
    const next = readOne(url).finally(() => reading.delete(url));
    reading.set(url, next);
    return next;
  };
  return {
    refresh,
    refreshAll() {
      if (fleetRead !== undefined) return fleetRead;
      if (deps.now() - lastFleetRead < deps.minIntervalMs) return Promise.resolve();
      lastFleetRead = deps.now();
      const urls = new Set(registry.all().filter((e) => !e.modelsConfigured).map((e) => e.url));
      fleetRead = Promise.all([...urls].map((url) => refresh(url))).then(() => {
        fleetRead = undefined;
      });
      return fleetRead;
    },
  };
}
