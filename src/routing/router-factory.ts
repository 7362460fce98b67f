// The one place a routing mode becomes a router, as the Rust router's RouterFactory does: regular, vLLM's
// two-stage prefill/decode, or the older SGLang-style pair.
import type { EndpointRegistry } from '../core/registry.ts';
import type { RetryPolicy } from '../core/retry.ts';
import type { Policy } from '../policies/types.ts';
import type { LegDeps } from './leg.ts';
import { pdRecorder } from './pd/pd-legs.ts';
import { createSglangPdRouter } from './pd/sglang-pd.ts';
import { createPdRouter, type PdRouterDeps } from './pd/vllm-pd.ts';
import { createRegularRouter, type RegularRouterDeps } from './regular.ts';
import type { Router } from './router.ts';
import type { UpstreamOf } from './upstream.ts';
import type { ModelRouting } from './eligible-endpoints.ts';

export type RoutingMode =
  | { readonly kind: 'regular'; readonly policy: Policy }
  | ({ readonly kind: 'vllm_pd'; readonly prefillPolicy: Policy; readonly decodePolicy: Policy } & Pick<PdRouterDeps, 'connector' | 'mooncake' | 'moriio'>)
  | { readonly kind: 'sglang_pd'; readonly prefillPolicy: Policy; readonly decodePolicy: Policy };

/** What every router needs, whatever the mode. */
export interface RouterDeps extends LegDeps {
  readonly registry: EndpointRegistry;
  readonly retry: RetryPolicy;
  /** Uniform in [0, 1): backoff jitter, request and transfer ids. */
  readonly random: () => number;
  readonly requestTimeoutMs: number;
  /** Token-block hashes of the prompt (tokenizer pool), asked for only when a policy wants them. */
  readonly blockHashes?: (route: string, body: Readonly<Record<string, unknown>>) => Promise<Float64Array | undefined>;
  /** --max-buffered-response-size: the most bytes of an engine answer the router reads whole (PD). */
  readonly maxAnswerBytes?: number;
  /** How each endpoint is reached (default: vLLM's HTTP API). */
  readonly upstreamOf?: UpstreamOf;
  /** What each endpoint serves: a request naming a model goes only where it is served. */
  readonly models?: ModelRouting;
  /** Prompt token ids and block hashes in one tokenization, for fleets with gRPC endpoints (regular mode). */
  readonly promptTokens?: RegularRouterDeps['promptTokens'];
  readonly fleetNeedsTokens?: () => boolean;
}

export function createRouter(mode: RoutingMode, deps: RouterDeps): Router {
  switch (mode.kind) {
    case 'regular':
      return createRegularRouter({ ...deps, policy: mode.policy });
    case 'vllm_pd':
      return createPdRouter({ ...deps, ...mode, pd: pdRecorder(deps.metrics) });
    case 'sglang_pd':
      return createSglangPdRouter({ ...deps, ...mode, pd: pdRecorder(deps.metrics) });
  }
}
