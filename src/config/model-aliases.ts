// --static-aliases: `alias:model` items (production-stack's format), checked and read into a map.

/** Why an `alias:model` item cannot be used, or undefined. Split at the first colon: a model name may hold one. */
export function aliasProblem(item: string): string | undefined {
  const colon = item.indexOf(':');
  if (colon <= 0 || colon === item.length - 1) return 'expected alias:model';
  return undefined;
}

/** alias → model, for items that passed `aliasProblem`. */
export function aliasMap(items: readonly string[]): ReadonlyMap<string, string> {
  const map = new Map<string, string>();
  for (const item of items) {
    const colon = item.indexOf(':');
    map.set(item.slice(0, colon).trim(), item.slice(colon + 1).trim());
  }
  return map;
}
