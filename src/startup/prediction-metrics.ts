// Start-up step: where the QoE policies report their predictions: the predicted-versus-measured metrics.
import type { Metrics } from '../metrics/metrics.ts';
import type { PredictionRecorder } from '../policies/types.ts';

export function predictionMetrics(metrics: Metrics): PredictionRecorder {
  const record = (histogram: Metrics['qoeTtft'], metric: 'ttft' | 'tpot', endpoint: string, predictedMs: number, measuredMs: number) => {
    histogram.labels(endpoint, 'predicted').observe(predictedMs / 1000);
    histogram.labels(endpoint, 'measured').observe(measuredMs / 1000);
    if (measuredMs > 0) metrics.qoePredictionError.labels(endpoint, metric).observe(Math.abs(predictedMs - measuredMs) / measuredMs);
  };
  return {
    ttft: (endpoint, predictedMs, measuredMs) => record(metrics.qoeTtft, 'ttft', endpoint, predictedMs, measuredMs),
    tpot: (endpoint, predictedMs, measuredMs) => record(metrics.qoeTpot, 'tpot', endpoint, predictedMs, measuredMs),
  };
}
