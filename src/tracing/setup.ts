// Tracing as the configuration asks for it: a tracer whose ended spans go to an OTLP/HTTP exporter.
import { DEFAULT_OTLP_TRACES_URL, OtlpExporter, otlpTracesUrl } from './otlp-exporter.ts';
import { createTracer, type Tracer } from './tracer.ts';

export interface TracingSettings {
  readonly endpoint: string | undefined;
  readonly samplingRatio: number;
  readonly excludedPaths: readonly string[];
  readonly serviceVersion: string | undefined;
  readonly random: () => number;
  /** A batch of spans was lost (logged by the caller). */
  readonly onError: (message: string) => void;
}

export interface Tracing {
  readonly tracer: Tracer;
  readonly exporter: OtlpExporter;
  /** The collector URL spans go to, and a warning about it (the gRPC port), for the start-up log. */
  readonly url: string;
  readonly warning: string | undefined;
}

/** The endpoint was validated with the configuration; a bad one here is a programming error. */
export function startTracing(settings: TracingSettings): Tracing {
  const target = settings.endpoint === undefined ? { kind: 'ok' as const, url: DEFAULT_OTLP_TRACES_URL, warning: undefined } : otlpTracesUrl(settings.endpoint);
  if (target.kind === 'error') throw new Error(`--otlp-traces-endpoint ${settings.endpoint}: ${target.reason}`);
  const exporter = new OtlpExporter({ url: target.url, serviceName: 'vllm-router', serviceVersion: settings.serviceVersion, random: settings.random, onError: settings.onError });
  const tracer = createTracer({
    sink: exporter,
    samplingRatio: settings.samplingRatio,
    excludedPaths: settings.excludedPaths,
    random: settings.random,
    clock: () => performance.timeOrigin + performance.now(),
  });
  return { tracer, exporter, url: target.url, warning: target.warning };
}
