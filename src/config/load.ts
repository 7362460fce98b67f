// Builds the Config from the command line, the environment and an optional --config file (CLI > env > file > default).
import { parseArgv } from './argv.ts';
import type { ConfigError } from './errors.ts';
import { FLAGS, cliName, type FlagKey } from './flags.ts';
import { helpText } from './help.ts';
import { isProductionStackArgv, parseProductionStackArgv, readDynamicConfig, translateProductionStack, type MappedKey } from './production-stack.ts';
import { configSchema, type Config } from './schema.ts';

export type LoadResult =
  | { readonly kind: 'config'; readonly config: Config; readonly explicit: ReadonlySet<FlagKey>; readonly warnings: readonly string[] }
  | { readonly kind: 'help'; readonly text: string }
  | { readonly kind: 'version'; readonly text: string }
  | { readonly kind: 'error'; readonly error: ConfigError };

export interface LoadInput {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile: (path: string) => string;
  readonly version: string;
}

const KEYS = Object.keys(FLAGS) as FlagKey[];
const isKey = (k: string): k is FlagKey => Object.hasOwn(FLAGS, k);

type Gathered =
  | { readonly kind: 'values'; readonly raw: Partial<Record<MappedKey, unknown>>; readonly origin?: ReadonlyMap<MappedKey, string>; readonly warnings: readonly string[] }
  | Exclude<LoadResult, { kind: 'config' }>;

export function loadConfig(input: LoadInput): LoadResult {
  const gathered = isProductionStackArgv(input.argv) ? fromProductionStack(input) : fromOwnArgv(input);
  if (gathered.kind !== 'values') return gathered;
  const { raw, origin } = gathered;
  const explicit = new Set(KEYS.filter((k) => raw[k] !== undefined));
  // A setting production-stack's command line made is named by the flag the user wrote.
  const named = (key: string): string => {
    const from = origin?.get(key as MappedKey);
    return from === undefined ? (isKey(key) ? cliName(key) : key) : `${from} (${cliName(key)} here)`;
  };
  // Said first: a flag whose feature is not built would otherwise fail on rules that belong to that feature.
  for (const key of explicit) {
    const unsupported = (FLAGS[key].meta as { unsupported?: string }).unsupported;
    if (unsupported !== undefined) return { kind: 'error', error: { flag: named(key), value: show(raw[key]), reason: `not supported: ${unsupported}` } };
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = String(issue.path[0] ?? 'config');
    const item = typeof issue.path[1] === 'number' ? (raw[key as FlagKey] as unknown[] | undefined)?.[issue.path[1]] : undefined;
    const value = 'input' in issue && issue.input !== undefined ? issue.input : (item ?? raw[key as FlagKey]);
    return { kind: 'error', error: { flag: named(key), value: show(value), reason: issue.message } };
  }
  const config = parsed.data;

  const warnings: string[] = [...gathered.warnings];
  if (config.backend === 'trtllm' || config.backend === 'anthropic')
    warnings.push(`--backend ${config.backend} has no dedicated router; using the regular vLLM router, as the Rust router does`);
  return { kind: 'config', config, explicit, warnings };
}

/** This router's own command line (the Rust router's flags), over the environment, over the --config file. */
function fromOwnArgv(input: LoadInput): Gathered {
  const argv = parseArgv(input.argv);
  if ('reason' in argv) return { kind: 'error', error: argv };
  if (argv.help) return { kind: 'help', text: helpText(input.version) };
  if (argv.version) return { kind: 'version', text: `vllm-router ${input.version}` };

  const fromEnv = readEnv(input.env);
  const path = (argv.values.config ?? fromEnv.config) as string | undefined;
  let fromFile: Partial<Record<FlagKey, unknown>> = {};
  if (path !== undefined) {
    const file = readConfigFile(path, input.readFile);
    if ('reason' in file) return { kind: 'error', error: file };
    fromFile = file;
  }
  return { kind: 'values', raw: { ...fromFile, ...fromEnv, ...argv.values }, warnings: [] };
}

/**
 * production-stack's command line, its --dynamic-config file under it, translated; this router's own flags may
 * be given alongside for what production-stack has no flag for (--admin-api-key, --kv-events-port…), but not
 * for a setting a production-stack flag already made. The environment comes under both.
 */
function fromProductionStack(input: LoadInput): Gathered {
  const argv = parseProductionStackArgv(input.argv);
  if ('reason' in argv) return { kind: 'error', error: argv };
  if (argv.help) return { kind: 'help', text: helpText(input.version) };
  if (argv.version) return { kind: 'version', text: `vllm-router ${input.version}` };
  const own = parseArgv(argv.rest);
  if ('reason' in own) return { kind: 'error', error: own };
  if (own.values.config !== undefined)
    return { kind: 'error', error: { flag: '--config', value: String(own.values.config), reason: 'with production-stack\'s command line, give the file as --dynamic-config-yaml or --dynamic-config-json' } };

  let ps = argv.ps;
  const path = ps.dynamic_config_yaml ?? ps.dynamic_config_json;
  if (typeof path === 'string') {
    const file = readDynamicConfig(path, input.readFile);
    if ('reason' in file) return { kind: 'error', error: file };
    ps = { ...file, ...ps };
  }
  const translated = translateProductionStack(ps);
  if ('reason' in translated) return { kind: 'error', error: translated };
  for (const key of Object.keys(own.values) as FlagKey[]) {
    const from = translated.origin.get(key);
    if (from !== undefined) return { kind: 'error', error: { flag: cliName(key), value: show(own.values[key]), reason: `conflicts with ${from}, which sets it here; give one of them` } };
  }
  const { config: _ignored, ...fromEnv } = readEnv(input.env);
  return { kind: 'values', raw: { ...fromEnv, ...translated.values, ...own.values }, origin: translated.origin, warnings: translated.warnings };
}

function show(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map((v) => (Array.isArray(v) ? v.filter((x) => x !== undefined).join(' ') : String(v))).join(' ');
  return JSON.stringify(value);
}

/** `VLLM_ROUTER_<KEY>` for every flag, plus the few variables the Rust router reads. */
function readEnv(env: LoadInput['env']): Partial<Record<FlagKey, unknown>> {
  const out: Partial<Record<FlagKey, unknown>> = {};
  for (const key of KEYS) {
    const own = env[`VLLM_ROUTER_${key.toUpperCase()}`];
    const legacyName = (FLAGS[key].meta as { env?: string }).env;
    const value = own ?? (legacyName === undefined ? undefined : env[legacyName]);
    if (value === undefined || value === '') continue;
    out[key] = FLAGS[key].meta.arity === 'prefill' ? value.split(',').map((item) => item.trim().split(/\s+/)) : value;
  }
  return out;
}

function readConfigFile(path: string, readFile: LoadInput['readFile']): Partial<Record<FlagKey, unknown>> | ConfigError {
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    return { flag: '--config', value: path, reason: `cannot read the file (${(e as Error).message})` };
  }
  let data: unknown;
  try {
    data = /\.ya?ml$/i.test(path) ? Bun.YAML.parse(text) : JSON.parse(text);
  } catch (e) {
    return { flag: '--config', value: path, reason: `not valid ${/\.ya?ml$/i.test(path) ? 'YAML' : 'JSON'}: ${(e as Error).message}` };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    return { flag: '--config', value: path, reason: 'the file must hold an object of settings' };
  const out: Partial<Record<FlagKey, unknown>> = {};
  for (const [name, value] of Object.entries(data)) {
    const key = name.replaceAll('-', '_');
    if (!isKey(key) || key === 'config') return { flag: '--config', value: path, reason: `unknown setting '${name}'` };
    out[key] = value;
  }
  return out;
}
