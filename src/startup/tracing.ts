// Start-up step: OpenTelemetry span export (--enable-trace).
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import { startTracing, type Tracing } from '../tracing/setup.ts';

interface Needs {
  readonly random: () => number;
  readonly log: Logger;
  /** Reported as service.version. */
  readonly version: string | undefined;
}

export function startTracingFor(config: Config, { random, log, version }: Needs): Tracing | undefined {
  if (!config.enable_trace) return undefined;
  const tracing = startTracing({
    endpoint: config.otlp_traces_endpoint,
    samplingRatio: config.otel_sampling_ratio,
    excludedPaths: config.otel_excluded_paths,
    serviceVersion: version,
    random,
    onError: (message) => log.warn('trace export failed', { message }),
  });
  if (tracing.warning !== undefined) log.warn('tracing', { message: tracing.warning });
  log.info('exporting traces', { url: tracing.url, sampling_ratio: config.otel_sampling_ratio });
  return tracing;
}
