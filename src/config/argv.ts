// Command-line tokens → raw flag values, with clap's syntax: lists take several values, `--prefill URL [PORT|none]`.
import type { ConfigError } from './errors.ts';
import { FLAGS, cliName, type FlagKey } from './flags.ts';

export interface ParsedArgv {
  readonly values: Partial<Record<FlagKey, unknown>>;
  readonly help: boolean;
  readonly version: boolean;
}

const byName: ReadonlyMap<string, FlagKey> = new Map(
  Object.entries(FLAGS).flatMap(([key, f]) => [
    [cliName(key), key as FlagKey] as const,
    ...(('aliases' in f.meta ? f.meta.aliases : undefined) ?? []).map((a) => [`--${a}`, key as FlagKey] as const),
  ]),
);

const isFlagToken = (t: string | undefined) => t !== undefined && t.startsWith('--');
const isBootstrapPort = (t: string | undefined) =>
  t !== undefined && !t.startsWith('--') && (t.toLowerCase() === 'none' || /^\d{1,5}$/.test(t));

export function parseArgv(argv: readonly string[]): ParsedArgv | ConfigError {
  const values: Partial<Record<FlagKey, unknown>> = {};
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '-h' || token === '--help') {
      help = true;
      continue;
    }
    if (token === '-V' || token === '--version') {
      version = true;
      continue;
    }
    if (!token.startsWith('--')) return { flag: token, reason: 'unexpected argument (flags start with --; see --help)' };
    const eq = token.indexOf('=');
    const name = eq === -1 ? token : token.slice(0, eq);
    const inline = eq === -1 ? undefined : token.slice(eq + 1);
    const key = byName.get(name);
    if (key === undefined) return { flag: name, reason: 'unknown flag (see --help)' };
    const { arity } = FLAGS[key].meta;
    const shown = cliName(key);

    switch (arity) {
      case 'switch':
        if (inline !== undefined) return { flag: shown, value: inline, reason: 'takes no value' };
        values[key] = true;
        break;
      case 'one': {
        if (values[key] !== undefined) return { flag: shown, reason: 'given more than once' };
        const value = inline ?? argv[i + 1];
        if (value === undefined || (inline === undefined && isFlagToken(value))) return { flag: shown, reason: 'needs a value' };
        if (inline === undefined) i++;
        values[key] = value;
        break;
      }
      case 'many': {
        const list = (values[key] as string[] | undefined) ?? [];
        if (inline !== undefined) list.push(inline);
        while (inline === undefined && i + 1 < argv.length && !isFlagToken(argv[i + 1])) list.push(argv[++i]!);
        values[key] = list;
        break;
      }
      case 'append': {
        const value = inline ?? argv[i + 1];
        if (value === undefined || (inline === undefined && isFlagToken(value))) return { flag: shown, reason: 'needs a value' };
        if (inline === undefined) i++;
        values[key] = [...((values[key] as string[] | undefined) ?? []), value];
        break;
      }
      case 'prefill': {
        if (inline !== undefined) return { flag: shown, value: inline, reason: 'write --prefill URL [PORT|none], without =' };
        const url = argv[i + 1];
        if (url === undefined || isFlagToken(url)) return { flag: shown, reason: 'needs a URL' };
        i++;
        let port: string | undefined;
        if (isBootstrapPort(argv[i + 1])) port = argv[++i];
        values[key] = [...((values[key] as unknown[] | undefined) ?? []), [url, port]];
        break;
      }
    }
  }
  return { values, help, version };
}
