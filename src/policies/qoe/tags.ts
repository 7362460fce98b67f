// Endpoint roles for disaggregated_qoe: whether an endpoint carries a tag, from its metadata or its URL.
import type { Endpoint } from '../../core/endpoint.ts';
import type { RequestPhase } from './phase.ts';

/** Label keys whose (comma-separated) values are read as tags, e.g. a Kubernetes label `role=prefill`. */
const TAG_LABELS = ['role', 'tags', 'tag', 'phase'] as const;

type Tagged = Pick<Endpoint, 'url' | 'tags' | 'labels' | 'role'> & { readonly name?: string | undefined };

/**
 * As the seeds define it: the tag is in the endpoint's metadata (`tags`, a tag-like label, or its PD role),
 * or appears in its URL (`http://vllm-prefill-1:8000`) or its name (a pod `vllm-decoding-0`). Case-insensitive.
 * The URL match is on host and path only, so a tag never matches the scheme or the port digits.
 */
export function hasTag(endpoint: Tagged, tag: string): boolean {
  const want = tag.toLowerCase();
  if (endpoint.role === want) return true;
  if (endpoint.tags.some((t) => t.toLowerCase() === want)) return true;
  for (const key of TAG_LABELS) {
    const value = endpoint.labels[key];
    if (value !== undefined && value.split(',').some((v) => v.trim().toLowerCase() === want)) return true;
  }
  if (endpoint.name !== undefined && endpoint.name.toLowerCase().includes(want)) return true;
  return urlText(endpoint.url).includes(want);
}

function urlText(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.pathname}`.toLowerCase();
  } catch {
    return url.toLowerCase();
  }
}

export function hasAnyTag(endpoint: Tagged, tags: readonly string[]): boolean {
  return tags.some((t) => hasTag(endpoint, t));
}

type PhaseTags = { readonly prefillTags: readonly string[]; readonly decodeTags: readonly string[] };

/**
 * The endpoints suited to a phase: those tagged for it, or undefined when none of the candidates is (the
 * fleet is not specialised for that phase; the policy then uses every candidate, production-stack PR #349's fallback).
 */
export function taggedPool<E extends Tagged>(candidates: readonly E[], phase: RequestPhase, tags: PhaseTags): readonly E[] | undefined {
  const wanted = phase === 'prefill' ? tags.prefillTags : tags.decodeTags;
  const pool = candidates.filter((e) => hasAnyTag(e, wanted));
  return pool.length > 0 ? pool : undefined;
}
