// Builds the read-only view of a request that policies see; the routing text is computed only if asked for.
import type { RoutingRequest } from '../policies/types.ts';
import { routingText } from './routing-text.ts';

export function createRoutingRequest(
  route: string,
  headers: Headers,
  body: Readonly<Record<string, unknown>> | undefined,
  bytes: Uint8Array,
  blockHashes?: Float64Array,
): RoutingRequest {
  let text: string | undefined;
  return {
    route,
    headers,
    body,
    blockHashes,
    get text() {
      text ??= routingText(route, body, () => new TextDecoder().decode(bytes));
      return text;
    },
  };
}
