// Gives Bun's fetch the concurrency the capacity plan needs: Bun reads BUN_CONFIG_MAX_HTTP_REQUESTS once, when
// the process starts, so the router re-executes itself (same pid, same arguments, same open stdout/stderr)
// with the variable set before it opens anything. Setting process.env at run time has no effect (checked on
// Bun 1.4.5), and an environment default nobody knows of must not decide what the router can carry.

export const FETCH_LIMIT_VARIABLE = 'BUN_CONFIG_MAX_HTTP_REQUESTS';

export interface ProcessImage {
  readonly execPath: string;
  readonly execArgv: readonly string[];
  readonly argv: readonly string[];
  /** Bun.main: a compiled binary's entry lives in /$bunfs/, and then argv[1] is that virtual path, not an argument. */
  readonly main: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface Reexec {
  readonly file: string;
  readonly args: string[];
  readonly env: Record<string, string>;
}

/**
 * The exec that gives this process `limit` fetch slots and the other variables Bun and JSC read only at start
 * (`also`: the GC's, startup/gc-markers.ts), or undefined when it already has them all.
 */
export function reexecFor(image: ProcessImage, limit: number, also: Readonly<Record<string, string>> = {}): Reexec | undefined {
  const wanted: Record<string, string> = { ...also, [FETCH_LIMIT_VARIABLE]: String(limit) };
  if (Object.entries(wanted).every(([k, v]) => image.env[k] === v)) return undefined;
  const compiled = image.main.startsWith('/$bunfs/');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(image.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, wanted);
  return { file: image.execPath, args: [image.execPath, ...image.execArgv, ...image.argv.slice(compiled ? 2 : 1)], env };
}
