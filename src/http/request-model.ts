// The model a request names, with --static-aliases applied: an alias is replaced by the model it stands for in
// the bytes the engine receives, by splicing only the bytes of the value (a JSON body's `model`, a multipart
// form's `model` field). Every other byte is the client's.
import { splice, topLevelStringSpan } from '../wire/json-model-span.ts';
import { multipartBoundary, multipartFieldSpan } from '../wire/multipart-field.ts';

export interface RequestModel {
  readonly model: string | undefined;
  readonly bytes: Uint8Array;
}

const encoder = new TextEncoder();
const utf8 = new TextDecoder('utf-8');

/** A JSON body: its `model`, and the bytes with an alias replaced (`json.model` too, which the router reads). */
export function jsonRequestModel(json: Record<string, unknown>, bytes: Uint8Array, aliases: ReadonlyMap<string, string>): RequestModel {
  const model = typeof json.model === 'string' ? json.model : undefined;
  if (model === undefined || aliases.size === 0) return { model, bytes };
  const target = aliases.get(model);
  if (target === undefined) return { model, bytes };
  const span = topLevelStringSpan(bytes, 'model');
  // Always found for a body JSON.parse read as an object with a string model; kept as it is otherwise.
  if (span === undefined) return { model, bytes };
  json.model = target;
  return { model: target, bytes: splice(bytes, span, encoder.encode(JSON.stringify(target))) };
}

/** The longest `model` form value read (a model name, not a file). */
const MAX_FORM_MODEL_BYTES = 1024;

/** A multipart/form-data body (audio transcriptions): its `model` field, and the bytes with an alias replaced. */
export function formRequestModel(contentType: string | null, bytes: Uint8Array, aliases: ReadonlyMap<string, string>): RequestModel {
  const boundary = multipartBoundary(contentType);
  if (boundary === undefined) return { model: undefined, bytes };
  const span = multipartFieldSpan(bytes, boundary, 'model');
  if (span === undefined || span.end - span.start > MAX_FORM_MODEL_BYTES) return { model: undefined, bytes };
  const model = utf8.decode(bytes.subarray(span.start, span.end));
  const target = aliases.get(model);
  if (target === undefined) return { model, bytes };
  return { model: target, bytes: splice(bytes, span, encoder.encode(target)) };
}
