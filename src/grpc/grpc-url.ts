// `grpc://HOST:PORT`: how an endpoint that is a vLLM gRPC engine is named (--worker-urls, the admin API, discovery).

export const isGrpcUrl = (url: string): boolean => /^grpc:\/\//i.test(url);

/** Why `url` is not `grpc://HOST:PORT` (a host and a port, nothing else: no path, credentials, query; no TLS), or undefined. */
export function grpcUrlProblem(url: string): string | undefined {
  const match = /^grpc:\/\/(\[[0-9a-fA-F:.]+\]|[^\s/:@?#[\]]+):(\d{1,5})\/?$/i.exec(url);
  if (match === null) return 'a gRPC endpoint must be grpc://HOST:PORT (no path, credentials or query string)';
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return `port ${port} is outside 1-65535`;
  return undefined;
}

/** The registry's form of a gRPC URL: lower-case scheme and host, no trailing slash. */
export function normalGrpcUrl(url: string): string {
  return `grpc://${url.slice('grpc://'.length).replace(/\/+$/, '').toLowerCase()}`;
}
