// A local OTLP/HTTP receiver for tests: records every POST /v1/traces JSON body; answers can be scripted.

export interface OtlpSpanJson {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  flags?: number;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
  status: { code: number; message?: string };
}

export interface OtlpRequestJson {
  resourceSpans: {
    resource: { attributes: { key: string; value: Record<string, unknown> }[] };
    scopeSpans: { scope: { name: string; version?: string }; spans: OtlpSpanJson[] }[];
  }[];
}

export interface OtlpReceiver extends Disposable {
  /** Base URL, e.g. http://127.0.0.1:PORT (no path). */
  readonly url: string;
  readonly host: string;
  readonly bodies: OtlpRequestJson[];
  /** Every span received, in arrival order. */
  spans(): OtlpSpanJson[];
  /** Answers for the next POSTs, in order (status, optional headers); then 200. */
  script(...answers: { status: number; headers?: Record<string, string> }[]): void;
  /** POSTs seen, successful or not. */
  attempts(): number;
}

export function startOtlpReceiver(): OtlpReceiver {
  const bodies: OtlpRequestJson[] = [];
  const answers: { status: number; headers?: Record<string, string> }[] = [];
  let attempts = 0;
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (req.method !== 'POST' || path !== '/v1/traces') return new Response('not found', { status: 404 });
      attempts++;
      const body = (await req.json()) as OtlpRequestJson;
      const answer = answers.shift();
      if (answer !== undefined && answer.status !== 200) return new Response('{"error":"scripted"}', { status: answer.status, headers: answer.headers ?? {} });
      if (req.headers.get('content-type') !== 'application/json') return new Response('wrong content-type', { status: 415 });
      bodies.push(body);
      return Response.json({});
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    host: `127.0.0.1:${server.port}`,
    bodies,
    spans: () => bodies.flatMap((b) => b.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans))),
    script: (...a) => void answers.push(...a),
    attempts: () => attempts,
    [Symbol.dispose]: () => void server.stop(true),
  };
}

/** An attribute's value as JS, for assertions. */
export function attr(span: OtlpSpanJson, key: string): unknown {
  const v = span.attributes.find((a) => a.key === key)?.value;
  if (v === undefined) return undefined;
  if ('intValue' in v) return Number(v.intValue);
  return v.stringValue ?? v.boolValue ?? v.doubleValue;
}
