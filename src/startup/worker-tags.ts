// `--worker-tags URL=tag1,tag2`: tags of configured endpoints (disaggregated_qoe reads prefill/decode tags).
import { baseUrl } from '../core/endpoint.ts';
import type { Config } from '../config/schema.ts';

/** Tags by endpoint URL (no trailing slash). Tags are split on `,` or `+` (`+` survives comma-split env values). */
export function tagsByUrl(config: Pick<Config, 'worker_tags'>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const item of config.worker_tags) {
    const eq = item.lastIndexOf('=');
    if (eq <= 0) continue;
    const url = baseUrl(item.slice(0, eq));
    const tags = item
      .slice(eq + 1)
      .split(/[,+]/)
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean);
    out.set(url, [...(out.get(url) ?? []), ...tags]);
  }
  return out;
}
