// The most bytes the router reads from an answer it consumes itself; past them the call fails rather than grow memory.
//
// An engine, a validator or a collector decides how much it sends; the router must not. These caps sit well
// above what a healthy peer sends (a vLLM /metrics page with data-parallel ranks and LoRA adapters is a few
// hundred KiB, a model listing a few KiB) and well below what would hurt the process.

/** vLLM /metrics pages, /v1/models listings, /get_server_info and /get_model_info documents. */
export const ENGINE_DOCUMENT_MAX_BYTES = 16 * 1024 * 1024;

/** Bodies the router reads only to be done with them or to parse a few fields: health answers, Mooncake /query. */
export const SMALL_ANSWER_MAX_BYTES = 1024 * 1024;

/**
 * --max-buffered-response-size when not set. A prefill answer is about a kilobyte (one token and the KV
 * hand-off); a decode answer with logprobs a few megabytes. 64 MiB leaves room for prompt_logprobs on long
 * prompts and bounds what a hostile engine costs per request.
 */
export const DEFAULT_MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** Error bodies kept to be quoted in a log line or relayed to the client. */
export const ERROR_BODY_MAX_BYTES = 64 * 1024;

/** `16 MiB`, `64 KiB`: for messages. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}
