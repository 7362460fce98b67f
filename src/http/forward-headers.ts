// Which headers cross the router: client → endpoint minus hop-by-hop, endpoint → client minus hop-by-hop and framing.

/** RFC 9110 §7.6.1 connection-specific headers, plus ones that describe the old framing. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);

/** Headers sent upstream: the client's, minus hop-by-hop, with one X-Request-Id and the endpoint's needs. */
export function upstreamHeaders(client: Headers, requestId: string, extra?: Readonly<Record<string, string>>): Headers {
  const out = new Headers();
  client.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name)) out.set(name, value);
  });
  out.set('x-request-id', requestId);
  if (extra) for (const [name, value] of Object.entries(extra)) out.set(name, value);
  return out;
}

/** Headers returned to the client: the endpoint's, minus hop-by-hop, with the router's X-Request-Id. */
export function downstreamHeaders(upstream: Headers, requestId: string): Headers {
  const out = new Headers();
  upstream.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name) && name !== 'date' && name !== 'server') out.append(name, value);
  });
  out.set('x-request-id', requestId);
  return out;
}
