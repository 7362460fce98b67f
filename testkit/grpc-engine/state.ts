// What the stand-in records and shares between its services: requests received, aborts, cancelled streams.

export interface GrpcEngineRecord {
  /** Every Generate request as decoded (snake_case fields), oldest first. */
  readonly received: Record<string, unknown>[];
  /** Request ids named by an Abort call (VllmEngine.Abort or vllm.Control.Abort), in call order. */
  readonly aborted: string[];
  /** Request ids whose stream the client cancelled before it ended. */
  readonly cancelled: string[];
  /** Metadata of each Generate call, by request id (x-data-parallel-rank and the like). */
  readonly metadata: Map<string, Record<string, string>>;
  /** Generate calls running now. */
  running: number;
  /** GetTokenizer calls served. */
  tokenizerFetches: number;
}

export function emptyRecord(): GrpcEngineRecord {
  return { received: [], aborted: [], cancelled: [], metadata: new Map(), running: 0, tokenizerFetches: 0 };
}
