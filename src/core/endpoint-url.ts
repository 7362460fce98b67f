// Checks an endpoint base URL given at run time (admin API) before anything is fetched from it.
//
// The admin API makes the router open connections to a URL a caller chose, so only the shape an engine can
// have passes: http or https, a host, an optional path prefix (an ingress may mount vLLM under one), and
// nothing that would change what is asked of the host (credentials, a query string, a fragment); or a vLLM gRPC
// engine as grpc://HOST:PORT.
import { grpcUrlProblem, isGrpcUrl, normalGrpcUrl } from '../grpc/grpc-url.ts';

export type ParsedEndpointUrl = { readonly ok: true; readonly url: string } | { readonly ok: false; readonly message: string };

const refuse = (raw: string, reason: string): ParsedEndpointUrl => ({ ok: false, message: `Invalid endpoint URL ${JSON.stringify(raw)}: ${reason}` });

/** The normalised base URL (lower-case scheme and host, default port dropped, no trailing slash), or why not. */
export function parseEndpointUrl(raw: string): ParsedEndpointUrl {
  if (raw === '') return refuse(raw, 'it is empty');
  if (raw.length > 2048) return refuse(raw.slice(0, 64) + '…', 'it is longer than 2048 characters');
  // WHATWG URL parsing strips tabs, newlines and surrounding spaces silently; a URL that needed that is refused.
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) return refuse(raw, 'it contains whitespace or control characters');
  if (isGrpcUrl(raw)) {
    const problem = grpcUrlProblem(raw);
    return problem === undefined ? { ok: true, url: normalGrpcUrl(raw) } : refuse(raw, problem);
  }
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    return refuse(raw, 'it is not an absolute URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return refuse(raw, `the scheme must be http, https or grpc, not ${parsed.protocol.slice(0, -1)}`);
  if (parsed.hostname === '') return refuse(raw, 'it has no host');
  if (parsed.username !== '' || parsed.password !== '') return refuse(raw, 'credentials in the URL are not accepted (use --api-key)');
  // A bare '?' or '#' leaves search/hash empty in the parsed form, so the raw text is checked too.
  if (parsed.search !== '' || raw.includes('?')) return refuse(raw, 'a query string is not accepted');
  if (parsed.hash !== '' || raw.includes('#')) return refuse(raw, 'a fragment is not accepted');
  const path = parsed.pathname.replace(/\/+$/, '');
  return { ok: true, url: `${parsed.protocol}//${parsed.host}${path}` };
}
