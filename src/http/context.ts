// The Hono environment shared by the routes: per-request variables and the Bun server binding.
import type { Context } from 'hono';

export interface AppEnv {
  Bindings: { server?: Bun.Server<unknown> };
  Variables: { requestId: string; startedAt: number };
}

export type AppContext = Context<AppEnv>;

/** Path and query string of the request, as sent upstream (no URL object on the hot path). */
export function pathAndQuery(url: string): string {
  const slash = url.indexOf('/', url.indexOf('//') + 2);
  return slash === -1 ? '/' : url.slice(slash);
}

/** Model calls may be silent for minutes: the request timeout governs them, not Bun's idle timeout. */
export function allowLongRequest(c: AppContext): void {
  c.env?.server?.timeout(c.req.raw, 0);
}
