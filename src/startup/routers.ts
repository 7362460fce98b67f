// Start-up step: the router for the routing mode the flags ask for (regular, vLLM PD or SGLang PD), and its deps.
import type { Config } from '../config/schema.ts';
import type { EndpointRegistry } from '../core/registry.ts';
import { retryPolicy, type RetryPolicy } from '../core/retry.ts';
import type { Logger } from '../log/logger.ts';
import { boundedLabel } from '../metrics/bounded-label.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { QoeOptions } from '../policies/qoe/options.ts';
import { createMooncakeBootstrap, type MooncakeBootstrap } from '../routing/pd/mooncake-bootstrap.ts';
import type { RegistrationListener } from '../routing/pd/registration.ts';
import { createCoarseTimer } from '../routing/coarse-timer.ts';
import { createRouter, type RouterDeps, type RoutingMode } from '../routing/router-factory.ts';
import type { Router } from '../routing/router.ts';
import type { EndpointStats } from '../signals/endpoint-stats.ts';
import { experienceFactory } from '../signals/experience.ts';
import type { Tracer } from '../tracing/tracer.ts';
import type { PdMode } from './pd-mode.ts';
import type { ModelsPart } from './models.ts';
import type { GrpcFront } from './grpc.ts';
import type { Policies } from './policies.ts';

/** vLLM PD with --kv-connector mooncake: the bootstrap server the prefill and decode engines meet on. */
export function startMooncakeBootstrap(config: Config, pdMode: PdMode): MooncakeBootstrap | undefined {
  return pdMode === 'vllm' && config.kv_connector === 'mooncake' ? createMooncakeBootstrap() : undefined;
}

interface Needs {
  readonly pdMode: PdMode;
  readonly policies: Policies;
  readonly mooncake: MooncakeBootstrap | undefined;
  readonly registration: RegistrationListener | undefined;
  readonly registry: EndpointRegistry;
  readonly metrics: Metrics;
  readonly stats: EndpointStats;
  readonly log: Logger;
  readonly now: () => number;
  readonly random: () => number;
  readonly qoe: QoeOptions;
  readonly tracer: Tracer | undefined;
  readonly blockHashes: RouterDeps['blockHashes'];
  readonly models: ModelsPart;
  readonly grpc: GrpcFront;
}

export function buildRouter(config: Config, needs: Needs): Router {
  const { registry, metrics, stats, log, now, random, qoe, tracer, blockHashes, models, grpc } = needs;
  return createRouter(routingMode(config, needs), {
    registry,
    metrics,
    stats,
    log,
    now,
    random,
    retry: retryFrom(config),
    requestTimeoutMs: config.request_timeout_secs * 1000,
    stallTimeoutMs: config.stream_stall_timeout_secs * 1000,
    timer: createCoarseTimer({ now }),
    maxAnswerBytes: config.max_buffered_response_size,
    apiKey: config.api_key,
    modelLabel: boundedLabel(64),
    blockHashes,
    models,
    upstreamOf: grpc.upstreamOf,
    fleetNeedsTokens: grpc.fleetNeedsTokens,
    ...(grpc.promptTokens ? { promptTokens: grpc.promptTokens } : {}),
    tracer,
    experience: experienceFactory(metrics, qoe),
  });
}

function routingMode(config: Config, { pdMode, policies, mooncake, registration }: Needs): RoutingMode {
  const stages = policies.stages; // built exactly in PD mode
  if (stages === undefined) return { kind: 'regular', policy: policies.main };
  if (pdMode === 'sglang') return { kind: 'sglang_pd', prefillPolicy: stages.prefill, decodePolicy: stages.decode };
  return {
    kind: 'vllm_pd',
    prefillPolicy: stages.prefill,
    decodePolicy: stages.decode,
    connector: config.kv_connector,
    mooncake,
    moriio: { transferMode: () => registration?.transferMode, dpSize: config.intra_node_data_parallel_size },
  };
}

function retryFrom(config: Config): RetryPolicy {
  return retryPolicy({
    maxAttempts: config.disable_retries ? 1 : config.retry_max_retries,
    initialBackoffMs: config.retry_initial_backoff_ms,
    maxBackoffMs: config.retry_max_backoff_ms,
    multiplier: config.retry_backoff_multiplier,
    jitter: config.retry_jitter_factor,
  });
}
