// Reads the OpenAI error envelope the router answers with, strictly: exactly one key `error` with its four fields.

/** An OpenAI error envelope, or undefined when `text` is not exactly one. */
export function parseEnvelope(text: string): { message: string; type: string; param: string | null; code: string } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Object.keys(value).length !== 1) return undefined;
  const e = (value as { error?: unknown }).error;
  if (e === null || typeof e !== 'object') return undefined;
  const { message, type, param, code } = e as Record<string, unknown>;
  if (Object.keys(e).sort().join() !== 'code,message,param,type') return undefined;
  if (typeof message !== 'string' || message === '' || typeof type !== 'string' || typeof code !== 'string') return undefined;
  if (param !== null && typeof param !== 'string') return undefined;
  return { message, type, param, code };
}
