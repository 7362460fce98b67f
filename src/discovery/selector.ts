// Pod label selectors from `--selector k=v` items: the API query string and the same test done locally.

/** Equality requirements, all of which must hold. Empty selects nothing (never "every pod"). */
export type LabelSelector = ReadonlyArray<readonly [key: string, value: string]>;

/**
 * Parses `k=v` items as the Rust router's clap parser does: split at the first `=`, items without one are
 * ignored. A later item for the same key replaces an earlier one, as inserting into its map did.
 */
export function parseSelector(items: readonly string[]): LabelSelector {
  const pairs = new Map<string, string>();
  for (const item of items) {
    const at = item.indexOf('=');
    if (at <= 0) continue;
    pairs.set(item.slice(0, at).trim(), item.slice(at + 1).trim());
  }
  return [...pairs];
}

/** The `labelSelector` query value: `k1=v1,k2=v2` (the caller URL-encodes it). */
export function formatSelector(selector: LabelSelector): string {
  return selector.map(([k, v]) => `${k}=${v}`).join(',');
}

export function matchesSelector(labels: Readonly<Record<string, string>> | undefined, selector: LabelSelector): boolean {
  if (selector.length === 0) return false;
  return selector.every(([k, v]) => labels?.[k] === v);
}
