// Keeps a label's values bounded when they come from clients (model names): the first N seen, then "other".

export function boundedLabel(limit: number): (value: string | undefined) => string {
  const seen = new Set<string>();
  return (value) => {
    if (value === undefined || value === '') return 'unknown';
    if (seen.has(value)) return value;
    if (seen.size >= limit) return 'other';
    seen.add(value);
    return value;
  };
}
