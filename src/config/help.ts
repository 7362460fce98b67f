// --help text and the README flag reference, both generated from the flag table.
import { FLAGS, cliName, type FlagKey } from './flags.ts';
import { PS_FLAGS, psFlagName, type PsFlag } from './production-stack-flags.ts';

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
  lines.push('', '  -h, --help     Print this help', '  -V, --version  Print the version', '', ...productionStackHelp(), '');
  return lines.join('\n');
}

const PS_INTRO = [
  "production-stack's command line (vllm-project/production-stack's Python router) is accepted too, told apart",
  'by its own flags (--routing-logic, --static-backends…) or by --service-discovery static|k8s, for example:',
  '  vllm-router --service-discovery static --static-backends http://a:8000,http://b:8000 --static-models M,M \\',
  '              --routing-logic session --session-key x-user-id',
  'Its defaults apply (--host 0.0.0.0, --port 8001, /metrics on that port, its /health, /engines, /version, /sleep,',
  "/wake_up and /is_sleeping served). This router's own flags may be added for what it has no flag for (--admin-api-key,",
  '--kv-events-port…), not for a setting one of its flags makes. A flag this router has no counterpart for is refused.',
];

const psValue = (f: PsFlag) => (f.kind === 'switch' ? '' : f.choices !== undefined ? f.choices.join('|') : f.type === undefined ? 'VALUE' : f.type.toUpperCase());
const psMeaning = (f: PsFlag) => {
  if (f.refused === undefined) return `→ ${f.becomes ?? ''}`;
  const accepted = f.default === undefined || f.default === '' || f.default === false ? '' : ` (accepted with its default ${f.default})`;
  return `refused: ${f.refused}${accepted}`;
};

function productionStackHelp(): string[] {
  const lines = ["production-stack's flags:", ...PS_INTRO.map((l) => `  ${l}`), ''];
  for (const [key, f] of Object.entries(PS_FLAGS) as [string, PsFlag][]) {
    const v = psValue(f);
    lines.push(`  ${psFlagName(key)}${v ? ` <${v}>` : ''}`, `      ${psMeaning(f)}`);
  }
  return lines;
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
  rows.push('', "**production-stack's command line** (told apart by its own flags, or by `--service-discovery static|k8s`):", '', '| Flag | Value | Default | Here |', '|---|---|---|---|');
  for (const [key, f] of Object.entries(PS_FLAGS) as [string, PsFlag][]) {
    const v = psValue(f);
    const dflt = f.default === undefined || f.default === '' || f.default === false ? '' : `\`${cell(String(f.default))}\``;
    rows.push(`| \`${psFlagName(key)}\` | ${v ? `\`${cell(v)}\`` : ''} | ${dflt} | ${cell(psMeaning(f))} |`);
  }
  return rows.join('\n');
}
