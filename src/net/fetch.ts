// The one outbound fetch of the router: every HTTP call it makes with fetch goes through here, and none follows a redirect.
//
// fetch follows 3xx by default, to any URL, and the router would then use what it found there: a compromised
// or misconfigured engine could point health probes, model listings or admin calls at an internal service
// (SSRF), or receive a POST body it was not meant to see (307/308 resend it). With `redirect: 'manual'` a 3xx
// comes back as the answer, with its Location untouched; the proxy path relays it to the client as it is,
// and every caller that consumes the answer itself treats it as a failure (see redirect.ts).
// test/net/outbound-calls.test.ts fails when code outside src/net/ calls the global fetch.

/** Bun's fetch options (`decompress`, `tls`, `signal`…); `redirect` can only be 'manual'. */
export type OutboundInit = Omit<BunFetchRequestInit, 'redirect'> & { readonly redirect?: 'manual' };

export function outboundFetch(url: string | URL, init: OutboundInit = {}): Promise<Response> {
  // A copy only when the caller did not already say 'manual' (the proxy does, once per request).
  const manual = (init as RequestInit).redirect === 'manual' ? init : { ...init, redirect: 'manual' as const };
  return fetch(url, manual);
}
