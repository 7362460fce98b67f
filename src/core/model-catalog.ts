// Which endpoints serve which model: the filter a request that names a model passes before the policy picks.
//
// An endpoint serves the models the configuration names for it (--static-models, the admin API's `models`),
// else what its /v1/models listed when last read (LoRA adapters included: vLLM lists each with its `parent`).
// Until that first read it may serve any model, so a fleet whose listings cannot be read routes as it did
// before models were known, instead of refusing everything. The answer for a model is computed once per
// change of the fleet and kept: a lookup is two Map reads, and a fleet where every endpoint serves the model
// (one model, the common case) answers `every`, so the router passes its list on without filtering it.
import type { Endpoint, EndpointRole, ModelCard } from './endpoint.ts';
import type { EndpointRegistry } from './registry.ts';

/** The endpoints of a role that may serve a model. */
export type Serving =
  /** All of them (no filtering needed). `listed`: some endpoint lists the model (else none knows it yet). */
  | { readonly kind: 'every'; readonly listed: boolean }
  /** These, a strict subset (never empty). */
  | { readonly kind: 'some'; readonly listed: boolean; readonly endpoints: ReadonlySet<Endpoint> }
  /** None: every endpoint's models are known, and none lists it. `known` when one did before (503, not 404). */
  | { readonly kind: 'none'; readonly known: boolean };

export interface ModelCatalog {
  /** Who may serve `model` among the registered endpoints of `role`. */
  serving(role: EndpointRole, model: string): Serving;
  /** The models endpoints of `role` list, sorted. */
  served(role: EndpointRole): readonly string[];
  /** What an endpoint's /v1/models listed: its models from now on, unless the configuration names them. */
  learn(endpoint: Endpoint, cards: readonly ModelCard[]): void;
  /** Called when what some endpoint of `role` serves may have changed (a listing read, an endpoint added or removed). */
  onChange(listener: (role: EndpointRole) => void): () => void;
}

const EVERY_LISTED: Serving = { kind: 'every', listed: true };
const EVERY_UNLISTED: Serving = { kind: 'every', listed: false };
const NONE: Serving = { kind: 'none', known: false };
const NONE_KNOWN: Serving = { kind: 'none', known: true };

/** Models remembered as once served (the 503-or-404 choice) at most; beyond it the oldest are forgotten. */
const MAX_REMEMBERED = 10_000;

interface RoleIndex {
  readonly byModel: ReadonlyMap<string, Serving>;
  /** The answer for a model no endpoint lists: the endpoints whose models are not known yet. */
  readonly unlisted: Serving;
  readonly models: readonly string[];
}

export function createModelCatalog(registry: EndpointRegistry): ModelCatalog {
  const indexes = new Map<EndpointRole, RoleIndex>();
  const listeners = new Set<(role: EndpointRole) => void>();
  const remembered = new Set<string>();
  const changed = (role: EndpointRole) => {
    indexes.delete(role);
    for (const l of listeners) l(role);
  };
  // What every endpoint serves is remembered as it arrives, so a model whose last engine left is a 503, not a 404.
  const rememberServed = (endpoints: readonly Endpoint[]) => {
    for (const e of endpoints) for (const m of e.models ?? []) remember(m);
  };
  registry.onChange((role) => {
    rememberServed(registry.all(role));
    changed(role);
  });

  const build = (role: EndpointRole): RoleIndex => {
    const endpoints = registry.all(role);
    const wild = endpoints.filter((e) => e.models === undefined);
    const holders = new Map<string, Set<Endpoint>>();
    for (const e of endpoints) {
      if (e.models === undefined) continue;
      for (const m of e.models) {
        let set = holders.get(m);
        if (set === undefined) holders.set(m, (set = new Set()));
        set.add(e);
      }
    }
    const byModel = new Map<string, Serving>();
    for (const [model, set] of holders) {
      for (const w of wild) set.add(w);
      byModel.set(model, set.size === endpoints.length ? EVERY_LISTED : { kind: 'some', listed: true, endpoints: set });
      remember(model);
    }
    // No endpoint at all is `every` too: the caller then finds nothing available (503), never a 404.
    const unlisted: Serving = wild.length === endpoints.length ? EVERY_UNLISTED : wild.length === 0 ? NONE : { kind: 'some', listed: false, endpoints: new Set(wild) };
    const index = { byModel, unlisted, models: [...holders.keys()].sort() };
    indexes.set(role, index);
    return index;
  };
  const remember = (model: string) => {
    if (remembered.has(model)) return;
    if (remembered.size >= MAX_REMEMBERED) remembered.delete(remembered.values().next().value as string);
    remembered.add(model);
  };
  const indexOf = (role: EndpointRole) => indexes.get(role) ?? build(role);
  rememberServed(registry.all());

  return {
    serving(role, model) {
      const index = indexOf(role);
      const found = index.byModel.get(model) ?? index.unlisted;
      return found === NONE && remembered.has(model) ? NONE_KNOWN : found;
    },
    served: (role) => indexOf(role).models,
    learn(endpoint, cards) {
      endpoint.modelCards = cards;
      if (endpoint.modelsConfigured) return;
      const next = new Set(cards.map((c) => c.id));
      const before = endpoint.models;
      if (before !== undefined && before.size === next.size && [...next].every((m) => before.has(m))) return;
      endpoint.models = next;
      for (const m of next) remember(m);
      changed(endpoint.role);
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
