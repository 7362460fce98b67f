// A chat request's `tools` and `tool_choice`, checked as vLLM checks them (vllm/entrypoints/openai/chat_completion/
// protocol.py `check_tool_usage`), and for "required" and a named tool the JSON schema vLLM forces the output with
// (vllm/tool_parsers/utils.py `get_json_schema_from_tools`): the model writes JSON the router reads directly,
// not through the tool-call parser.
import { routerError, type RouterError } from '../../wire/errors.ts';

type Body = Readonly<Record<string, unknown>>;
type Schema = Record<string, unknown>;

export type ToolChoice =
  /** No tools, or `tool_choice: "none"`: the output is content. */
  | { readonly kind: 'none' }
  /** The model may call tools in its own format: the tool-call parser reads them. */
  | { readonly kind: 'auto' }
  /** The output is a JSON array of `{name, parameters}` (`schema` forces it). */
  | { readonly kind: 'required'; readonly schema: Schema }
  /** The output is the named tool's arguments (`schema` forces it). */
  | { readonly kind: 'named'; readonly name: string; readonly schema: Schema };

const USAGE = 'Correct usage: `{"type": "function", "function": {"name": "my_function"}}`';

const bad = (message: string, param: string): RouterError => routerError('invalid_body', message, { param });

/** A value as Python's f-string shows it in vLLM's messages (None, not null). */
const shown = (v: unknown): string => (v === undefined || v === null ? 'None' : typeof v === 'string' ? v : JSON.stringify(v));

/** A tool without parameters takes an empty object (vLLM's required schema does so; vllm#45290 for named). */
const EMPTY_PARAMETERS: Schema = { type: 'object', properties: {} };

interface Tool {
  readonly name: string;
  readonly parameters: Schema | undefined;
}

function toolsOf(body: Body): Tool[] | undefined | RouterError {
  const tools = body.tools;
  if (tools === undefined || tools === null) return undefined;
  if (!Array.isArray(tools)) return bad("'tools' must be a list of tools", 'tools');
  if (tools.length === 0) return bad('`tools` must not be an empty array. Either provide at least one tool or omit the field entirely.', 'tools');
  const out: Tool[] = [];
  for (const tool of tools as unknown[]) {
    const fn = (tool as { function?: unknown } | null)?.function as { name?: unknown; parameters?: unknown } | null | undefined;
    if (typeof tool !== 'object' || tool === null || typeof fn !== 'object' || fn === null || typeof fn.name !== 'string')
      return bad("each of 'tools' must be {\"type\": \"function\", \"function\": {\"name\": …}}", 'tools');
    const parameters = fn.parameters;
    if (parameters !== undefined && parameters !== null && (typeof parameters !== 'object' || Array.isArray(parameters)))
      return bad(`the parameters of tool '${fn.name}' must be a JSON schema object`, 'tools');
    out.push({ name: fn.name, parameters: (parameters as Schema | null | undefined) ?? undefined });
  }
  return out;
}

/** The tool choice of a chat body, or vLLM's 400 for it. */
export function toolChoiceOf(body: Body): ToolChoice | RouterError {
  const tools = toolsOf(body);
  if (typeof tools === 'object' && !Array.isArray(tools)) return tools;
  // vLLM defaults tool_choice to "auto" when tools are given, to "none" otherwise.
  const choice = body.tool_choice === undefined ? (tools !== undefined ? 'auto' : 'none') : body.tool_choice;
  if (choice === 'none') return { kind: 'none' };
  if (choice === null) return tools !== undefined ? { kind: 'auto' } : { kind: 'none' };
  if (tools === undefined) return bad('When using `tool_choice`, `tools` must be set.', 'tool_choice');
  if (choice === 'auto') return { kind: 'auto' };
  if (choice === 'required') {
    const schema = requiredSchema(tools);
    return typeof schema === 'string' ? bad(schema, 'tools') : { kind: 'required', schema };
  }
  if (typeof choice !== 'object' || Array.isArray(choice))
    return bad(`Invalid value for \`tool_choice\`: ${shown(choice)}! Only named tools, "none", "auto" or "required" are supported.`, 'tool_choice');
  const fn = (choice as { function?: unknown }).function;
  if (typeof fn !== 'object' || fn === null || Array.isArray(fn)) return bad(`Invalid value for \`function\`: \`${shown(fn)}\` in \`tool_choice\`! ${USAGE}`, 'tool_choice.function');
  if (!('name' in fn)) return bad(`Expected field \`name\` in \`function\` in \`tool_choice\`! ${USAGE}`, 'tool_choice.function.name');
  const name = (fn as { name: unknown }).name;
  if (typeof name !== 'string' || name.length === 0) return bad(`Invalid \`name\` in \`function\`: \`${shown(name)}\` in \`tool_choice\`! ${USAGE}`, 'tool_choice.function.name');
  const tool = tools.find((t) => t.name === name);
  if (tool === undefined) return bad('The tool specified in `tool_choice` does not match any of the specified `tools`', 'tool_choice');
  return { kind: 'named', name, schema: tool.parameters !== undefined && Object.keys(tool.parameters).length > 0 ? tool.parameters : EMPTY_PARAMETERS };
}

/**
 * "required": an array of one or more calls, each one tool's `{name, parameters}`; every tool's `$defs` moved to
 * the top so its `$ref`s resolve (a name defined twice differently is an error, as in vLLM). A string: the error.
 */
export function requiredSchema(tools: readonly Tool[]): Schema | string {
  const defs: Record<string, unknown> = {};
  const anyOf = tools.map((tool) => {
    let parameters = tool.parameters !== undefined && Object.keys(tool.parameters).length > 0 ? tool.parameters : EMPTY_PARAMETERS;
    const own = parameters.$defs;
    if (own !== null && typeof own === 'object') {
      const { $defs: _moved, ...rest } = parameters;
      parameters = rest;
      for (const [name, schema] of Object.entries(own as Record<string, unknown>)) {
        if (name in defs && JSON.stringify(defs[name]) !== JSON.stringify(schema)) return `Tool definition '${name}' has multiple schemas, which is not supported.`;
        defs[name] = schema;
      }
    }
    return { properties: { name: { type: 'string', enum: [tool.name] }, parameters }, required: ['name', 'parameters'] };
  });
  const failed = anyOf.find((s) => typeof s === 'string');
  if (typeof failed === 'string') return failed;
  const schema: Schema = { type: 'array', minItems: 1, items: { type: 'object', anyOf } };
  if (Object.keys(defs).length > 0) schema.$defs = defs;
  return schema;
}
