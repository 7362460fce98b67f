// --help text and the README flag reference, both generated from the flag table.
import { FLAGS, cliName, type FlagKey } from './flags.ts';

export interface FlagDoc {
  readonly key: FlagKey;
  readonly names: string;
  readonly value: string;
  readonly group: string;
  readonly help: string;
  readonly default: string;
  readonly unsupported: string | undefined;
}

function defaultOf(key: FlagKey): string {
  const result = FLAGS[key].schema.safeParse(undefined);
  const v: unknown = result.success ? result.data : undefined;
  if (v === undefined) return '';
  if (Array.isArray(v)) return v.length === 0 ? '' : v.join(' ');
  return String(v);
}

export function flagDocs(): FlagDoc[] {
  return (Object.keys(FLAGS) as FlagKey[]).map((key) => {
    const meta = FLAGS[key].meta as (typeof FLAGS)[FlagKey]['meta'] & { value?: string; aliases?: readonly string[]; unsupported?: string };
    return {
      key,
      names: [cliName(key), ...(meta.aliases ?? []).map((a) => `--${a}`)].join(', '),
      value: meta.arity === 'switch' ? '' : (meta.value ?? 'VALUE'),
      group: meta.group,
      help: meta.help,
      default: defaultOf(key),
      unsupported: meta.unsupported,
    };
  });
}

export function helpText(version: string): string {
  const lines = [
    `vllm-router ${version}: routes OpenAI-compatible requests across vLLM endpoints`,
    '',
    'Usage:',
    '  vllm-router --worker-urls http://a:8000 http://b:8000 --policy round_robin',
    '  vllm-router --config router.yaml --port 8080',
    '',
    'Every flag can also be set in a --config file (JSON or YAML, snake_case keys) or in the',
    'environment as VLLM_ROUTER_<KEY> (for example VLLM_ROUTER_POLICY=random); the command line wins.',
  ];
  let group = '';
  for (const d of flagDocs()) {
    if (d.group !== group) {
      group = d.group;
      lines.push('', `${group}:`);
    }
    const head = `  ${d.names}${d.value ? ` <${d.value}>` : ''}`;
    const notes = [d.default ? `[default: ${d.default}]` : '', d.unsupported ? '[not supported]' : ''].filter(Boolean).join(' ');
    lines.push(head, `      ${d.help}${notes ? ` ${notes}` : ''}`);
  }
  lines.push('', '  -h, --help     Print this help', '  -V, --version  Print the version', '');
  return lines.join('\n');
}

const cell = (s: string) => s.replaceAll('|', '\\|');

export function flagReferenceMarkdown(): string {
  const rows = ['| Flag | Value | Default | Meaning |', '|---|---|---|---|'];
  let group = '';
  for (const d of flagDocs()) {
    if (d.group !== group) {
      group = d.group;
      rows.push(`| **${group}** | | | |`);
    }
    const meaning = d.unsupported ? `${d.help} (not supported: ${d.unsupported})` : d.help;
    rows.push(`| \`${d.names}\` | ${d.value ? `\`${cell(d.value)}\`` : ''} | ${d.default ? `\`${cell(d.default)}\`` : ''} | ${cell(meaning)} |`);
  }
  return rows.join('\n');
}
