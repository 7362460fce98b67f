// The endpoints a request may go to, before the policy picks: the available ones of its role that serve the
// model it names. A request without a model, or a fleet whose endpoints all serve it, passes the registry's
// list on as it is (no copy); only a fleet with several models filters.
import type { Endpoint, EndpointRole } from '../core/endpoint.ts';
import type { ModelCatalog } from '../core/model-catalog.ts';
import type { ModelRefresher } from '../core/model-reader.ts';
import type { EndpointRegistry } from '../core/registry.ts';
import { routerError, type RouterError } from '../wire/errors.ts';

/** What routers need to route by model. */
export interface ModelRouting {
  readonly catalog: ModelCatalog;
  /** Re-reads the fleet's listings (rate-limited) before a model nobody lists is refused. */
  readonly refresher?: Pick<ModelRefresher, 'refreshAll'>;
}

export interface Eligible {
  /** Available endpoints that serve the model (never empty). */
  readonly endpoints: readonly Endpoint[];
  /** The model when some endpoint lists it: policies keep their state per such model. */
  readonly model: string | undefined;
}

const SHOWN_MODELS = 20;

export function eligibleEndpoints(registry: EndpointRegistry, models: ModelRouting | undefined, role: EndpointRole, model: string | undefined): Eligible | RouterError {
  const available = registry.available(role);
  const serving = model === undefined || models === undefined ? undefined : models.catalog.serving(role, model);
  if (serving === undefined || serving.kind === 'every') {
    if (available.length === 0) return noneAvailable(role, undefined);
    return { endpoints: available, model: serving?.listed ? model : undefined };
  }
  if (serving.kind === 'none') {
    if (serving.known || registry.all(role).length === 0) return noneAvailable(role, model);
    const served = models!.catalog.served(role);
    const shown = served.length > SHOWN_MODELS ? `${served.slice(0, SHOWN_MODELS).join(', ')}, … (${served.length} in all)` : served.join(', ');
    return routerError('model_not_found', `The model '${model}' is not served by any endpoint; served models: ${shown || '(none)'} (GET /v1/models lists them)`, { param: 'model' });
  }
  const endpoints = available.filter((e) => serving.endpoints.has(e));
  if (endpoints.length === 0) return noneAvailable(role, model);
  return { endpoints, model: serving.listed ? model : undefined };
}

/** A known model (or any model) with nothing available now: 503, as when the whole fleet is down. */
function noneAvailable(role: EndpointRole, model: string | undefined): RouterError {
  const what = role === 'regular' ? 'endpoints' : `${role} endpoints`;
  if (model === undefined) return routerError('no_available_endpoints', `No available ${what} (all unhealthy, circuits open or none registered)`);
  return routerError('no_available_endpoints', `No available ${what} serve the model '${model}' (all unhealthy, circuits open or none registered)`);
}

/** Whether a request for `model` should wait for a fresh read of the fleet's listings before being routed. */
export function unlistedModel(models: ModelRouting | undefined, role: EndpointRole, model: string | undefined): boolean {
  return model !== undefined && models?.refresher !== undefined && models.catalog.serving(role, model).kind === 'none';
}
