// What the stand-in generates under a structured-output constraint, as vLLM's guided decoding would: the
// configured output when it already satisfies the constraint (tests choose the call a model makes), else the
// first value the constraint allows (a JSON instance built from the schema, the first choice). Regex and grammar
// constraints are not modelled: the output is left as configured.

type Schema = Record<string, any>;

export type StandInConstraint =
  | { kind: 'json_schema'; schema: Schema }
  | { kind: 'json_object' }
  | { kind: 'choice'; choices: string[] };

/** The constraint of a VllmEngine SamplingParams or a vllm.Inference DecodingParameters message, if any. */
export function constraintOf(message: Record<string, any> | undefined): StandInConstraint | undefined {
  if (message === undefined) return undefined;
  const schema = message.json_schema ?? message.json;
  if (typeof schema === 'string' && schema !== '') return { kind: 'json_schema', schema: JSON.parse(schema) as Schema };
  if (message.json_object === true) return { kind: 'json_object' };
  if (Array.isArray(message.choice?.choices)) return { kind: 'choice', choices: message.choice.choices };
  return undefined;
}

export function constrainedOutput(constraint: StandInConstraint, output: string): string {
  if (constraint.kind === 'choice') return constraint.choices.includes(output) ? output : (constraint.choices[0] ?? '');
  let parsed: unknown;
  try {
    parsed = JSON.parse(output);
  } catch {
    parsed = undefined;
  }
  if (constraint.kind === 'json_object') return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? output : '{}';
  const root = constraint.schema;
  if (parsed !== undefined && matches(parsed, root, root)) return output;
  return JSON.stringify(instanceOf(root, root));
}

function resolve(schema: Schema, root: Schema): Schema {
  const ref = schema.$ref;
  if (typeof ref !== 'string') return schema;
  const path = ref.replace(/^#\//, '').split('/');
  let at: any = root;
  for (const part of path) at = at?.[part];
  return (at as Schema | undefined) ?? {};
}

function typeMatches(value: unknown, type: string): boolean {
  switch (type) {
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    default:
      return true;
  }
}

/** The subset of JSON Schema tool parameters use: type, enum, const, properties, required, items, minItems, anyOf, $ref. */
export function matches(value: unknown, given: Schema, root: Schema): boolean {
  const schema = resolve(given, root);
  if (schema.const !== undefined && JSON.stringify(schema.const) !== JSON.stringify(value)) return false;
  if (Array.isArray(schema.enum) && !schema.enum.some((e: unknown) => JSON.stringify(e) === JSON.stringify(value))) return false;
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.length > 0 && !types.some((t: string) => typeMatches(value, t))) return false;
  if (Array.isArray(schema.anyOf) && !schema.anyOf.some((s: Schema) => matches(value, s, root))) return false;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const object = value as Record<string, unknown>;
    for (const key of (schema.required as string[] | undefined) ?? []) if (!(key in object)) return false;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const [key, v] of Object.entries(object)) {
      if (key in properties) {
        if (!matches(v, properties[key]!, root)) return false;
      } else if (schema.additionalProperties === false) return false;
    }
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) return false;
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) return false;
    if (schema.items !== undefined && !value.every((v) => matches(v, schema.items as Schema, root))) return false;
  }
  return true;
}

/** The first instance the schema allows: required properties (or all of them), minItems items, first branches. */
export function instanceOf(given: Schema, root: Schema): unknown {
  const schema = resolve(given, root);
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  if (Array.isArray(schema.anyOf) && schema.anyOf.length > 0) {
    const { anyOf, ...rest } = schema;
    return instanceOf({ ...rest, ...(anyOf[0] as Schema) }, root);
  }
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type ?? (schema.properties ? 'object' : undefined);
  switch (type) {
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      const keys = Array.isArray(schema.required) ? (schema.required as string[]) : Object.keys(properties);
      return Object.fromEntries(keys.map((key) => [key, instanceOf(properties[key] ?? {}, root)]));
    }
    case 'array':
      return Array.from({ length: Math.max(1, schema.minItems ?? 1) }, () => instanceOf((schema.items as Schema | undefined) ?? {}, root));
    case 'string':
      return 'text';
    case 'integer':
    case 'number':
      return 0;
    case 'boolean':
      return true;
    default:
      return null;
  }
}

/** The output a request's constraint message forces, or undefined when it has none. */
export function forcedOutput(message: Record<string, any> | undefined, output: string): string | undefined {
  const constraint = constraintOf(message);
  return constraint === undefined ? undefined : constrainedOutput(constraint, output);
}
