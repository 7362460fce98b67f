// Start-up step: admission control (--max-concurrent-requests, the token bucket, the bounded queue).
import type { Config } from '../config/schema.ts';
import { Admission } from '../core/admission.ts';

export function buildAdmission(config: Config, now: () => number): Admission {
  return new Admission(
    {
      capacity: config.max_concurrent_requests,
      refillPerSecond: config.rate_limit_tokens_per_second,
      queueSize: config.queue_size,
      queueTimeoutMs: config.queue_timeout_secs * 1000,
    },
    { now },
  );
}
