// Every Prometheus metric the router exports, defined once, on a registry the app owns.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The Rust router's buckets for *_duration_seconds. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 45, 60, 90, 120, 180, 240];

export function createMetrics() {
  const registry = new Registry();
  const r = [registry];
  const m = {
    registry,
    requests: new Counter({ name: 'vllm_router_requests_total', help: 'Requests answered, by route and status class', labelNames: ['route', 'status'], registers: r }),
    requestDuration: new Histogram({ name: 'vllm_router_request_duration_seconds', help: 'Time from arrival to the end of the response body', labelNames: ['route'], buckets: DURATION_BUCKETS, registers: r }),
    requestErrors: new Counter({ name: 'vllm_router_request_errors_total', help: 'Requests that failed, by route and error type', labelNames: ['route', 'error_type'], registers: r }),
    processed: new Counter({ name: 'vllm_router_processed_requests_total', help: 'Requests sent to each endpoint', labelNames: ['worker'], registers: r }),
    running: new Gauge({ name: 'vllm_router_running_requests', help: 'Requests in flight to each endpoint', labelNames: ['worker'], registers: r }),
    policyDecisions: new Counter({ name: 'vllm_router_policy_decisions_total', help: 'Routing decisions by policy and chosen endpoint', labelNames: ['policy', 'worker'], registers: r }),
    activeWorkers: new Gauge({ name: 'vllm_router_active_workers', help: 'Endpoints registered', registers: r }),
    workerHealth: new Gauge({ name: 'vllm_router_worker_health', help: 'Endpoint health (1 healthy, 0 unhealthy)', labelNames: ['worker'], registers: r }),
    healthChecks: new Counter({ name: 'vllm_router_health_checks_total', help: 'Health probes by endpoint and result', labelNames: ['worker', 'result'], registers: r }),
    streamOutcomes: new Counter({ name: 'vllm_router_stream_outcomes_total', help: 'How response bodies ended: complete, upstream_error, client_closed', labelNames: ['route', 'outcome'], registers: r }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;

export const statusClass = (status: number) => `${Math.floor(status / 100)}xx`;
