// Start-up step: what each endpoint serves (the model catalog), how it is read from the engines, the
// --static-aliases map, and the metric that shows the mapping.
import { aliasMap } from '../config/model-aliases.ts';
import type { Config } from '../config/schema.ts';
import { createModelCatalog, type ModelCatalog } from '../core/model-catalog.ts';
import { createModelRefresher, modelCardsOf, readModels, type ModelListing, type ModelRefresher } from '../core/model-reader.ts';
import type { EndpointRegistry } from '../core/registry.ts';
import type { Logger } from '../log/logger.ts';
import { isGrpcUrl } from '../grpc/grpc-url.ts';
import type { Metrics } from '../metrics/metrics.ts';

export interface ModelsPart {
  readonly catalog: ModelCatalog;
  readonly refresher: ModelRefresher;
  /** alias → served model (--static-aliases). */
  readonly aliases: ReadonlyMap<string, string>;
}

interface Needs {
  readonly registry: EndpointRegistry;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly now: () => number;
  /** The model cards of a grpc:// endpoint (its model info: it has no /v1/models). */
  readonly grpcModels?: (url: string) => Promise<readonly Record<string, unknown>[]>;
}

/** Fleet-wide re-reads that requests for an unlisted model may cause, at most one per this interval. */
const UNLISTED_MODEL_REREAD_MS = 1000;

export function buildModels(config: Config, { registry, metrics, log, now, grpcModels }: Needs): ModelsPart {
  const catalog = createModelCatalog(registry);
  const readGrpc = async (url: string): Promise<ModelListing> => {
    try {
      return modelCardsOf({ object: 'list', data: await (grpcModels as NonNullable<typeof grpcModels>)(url) });
    } catch (e) {
      return { ok: false, reason: `model info not read: ${(e as Error).message}` };
    }
  };
  const read = async (url: string): Promise<ModelListing> => {
    const listing = isGrpcUrl(url) && grpcModels !== undefined ? await readGrpc(url) : await readModels(url, { apiKey: config.api_key, timeoutMs: config.health_check_timeout_secs * 1000 });
    if (!listing.ok) {
      metrics.modelListingFailures.inc({ worker: url });
      log.warn('model listing not read', { endpoint: url, reason: listing.reason });
    }
    return listing;
  };
  // An OpenAI-compatible upstream (--backend openai) lists models its key may not use: it is never filtered.
  const never = async (): Promise<ModelListing> => ({ ok: false, reason: '--backend openai: models are not read' });
  const refresher = createModelRefresher({ registry, catalog, read: config.backend === 'openai' ? never : read, minIntervalMs: UNLISTED_MODEL_REREAD_MS, now });
  // An endpoint that arrives without its models known (discovery, ZMQ registration, a reload) is read at once.
  registry.onChange(() => {
    for (const e of registry.all()) if (e.models === undefined) void refresher.refresh(e.url);
  });
  const show = () => {
    metrics.endpointModels.reset();
    for (const e of registry.all()) for (const model of e.models ?? []) metrics.endpointModels.set({ worker: e.id, model }, 1);
  };
  show();
  catalog.onChange(show);
  return { catalog, refresher, aliases: aliasMap(config.static_aliases) };
}
