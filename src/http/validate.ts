// Checks the few request fields the router itself reads, so a wrong type is a clear 400 and not a routing surprise.
import { routerError, type RouterError } from '../wire/errors.ts';

const wrongType = (param: string, expected: string, value: unknown) =>
  routerError('invalid_body', `'${param}' must be ${expected}, not ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`, { param });

const isStringOrList = (v: unknown) => typeof v === 'string' || (Array.isArray(v) && v.length > 0);

/** Returns the first problem with the fields this route reads, or undefined. */
export function validateFields(route: string, body: Readonly<Record<string, unknown>>): RouterError | undefined {
  if (body.model !== undefined && typeof body.model !== 'string') return wrongType('model', 'a string', body.model);
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') return wrongType('stream', 'a boolean', body.stream);
  switch (route) {
    case '/v1/chat/completions':
    case '/v1/messages':
      if (body.messages === undefined) return routerError('invalid_body', "'messages' is required", { param: 'messages' });
      if (!Array.isArray(body.messages)) return wrongType('messages', 'an array of messages', body.messages);
      for (const m of body.messages) if (m === null || typeof m !== 'object' || Array.isArray(m)) return wrongType('messages[]', 'an object', m);
      return undefined;
    case '/v1/completions':
      if (body.prompt === undefined && body.prompt_embeds === undefined) return routerError('invalid_body', "'prompt' is required", { param: 'prompt' });
      if (body.prompt !== undefined && !isStringOrList(body.prompt)) return wrongType('prompt', 'a string or a non-empty array', body.prompt);
      return undefined;
    case '/v1/embeddings':
      if (body.input === undefined) return routerError('invalid_body', "'input' is required", { param: 'input' });
      if (!isStringOrList(body.input)) return wrongType('input', 'a string or a non-empty array', body.input);
      return undefined;
    case '/rerank':
    case '/v1/rerank':
      if (typeof body.query !== 'string' || body.query === '') return routerError('invalid_body', "'query' must be a non-empty string", { param: 'query' });
      if (!Array.isArray(body.documents) || body.documents.length === 0)
        return routerError('invalid_body', "'documents' must be a non-empty array", { param: 'documents' });
      return undefined;
    default:
      return undefined;
  }
}
