// Parses ZeroMQ TCP endpoints (`tcp://host:port`, `tcp://*:port`, `tcp://[::1]:port`) for bind and connect.

export interface TcpEndpoint {
  readonly host: string;
  /** 0 when binding to an ephemeral port (`:0` or `:*`). */
  readonly port: number;
}

export type ParsedEndpoint = { ok: true; endpoint: TcpEndpoint } | { ok: false; error: string };

/** `mode` decides whether `*` and port 0 are allowed (bind) or not (connect). */
export function parseTcpEndpoint(text: string, mode: 'bind' | 'connect'): ParsedEndpoint {
  const match = /^tcp:\/\/(\[[0-9a-fA-F:.%\w]+\]|[^:\[\]/\s]+):(\d{1,5}|\*)$/.exec(text);
  if (!match) return { ok: false, error: `${JSON.stringify(text)} is not a tcp://host:port endpoint` };
  const rawHost = match[1] as string;
  const rawPort = match[2] as string;
  const port = rawPort === '*' ? 0 : Number(rawPort);
  if (port > 65535) return { ok: false, error: `port ${rawPort} is out of range` };
  if (mode === 'connect' && port === 0) return { ok: false, error: `cannot connect to port ${rawPort}` };
  if (mode === 'connect' && rawHost === '*') return { ok: false, error: 'cannot connect to host *' };
  // ZeroMQ's `*` means every interface.
  const host = rawHost === '*' ? '0.0.0.0' : rawHost.replace(/^\[(.*)\]$/, '$1');
  return { ok: true, endpoint: { host, port } };
}

/** Formats an endpoint back to ZeroMQ syntax, bracketing IPv6 hosts. */
export function formatTcpEndpoint(endpoint: TcpEndpoint): string {
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return `tcp://${host}:${endpoint.port}`;
}
