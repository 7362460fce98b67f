// The systemd unit in deploy/: systemd-analyze accepts it, its sandbox is the documented one, and its environment
// file and example config load as real router settings.
import { describe, expect, test } from 'bun:test';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FLAGS } from '../../src/config/flags.ts';
import { loadConfig } from '../../src/config/load.ts';

const DEPLOY = new URL('../../deploy', import.meta.url).pathname;
const UNIT_TEXT = readFileSync(join(DEPLOY, 'vllm-router.service'), 'utf8');
const ENV_TEXT = readFileSync(join(DEPLOY, 'vllm-router.env'), 'utf8');
const CONFIG_TEXT = readFileSync(join(DEPLOY, 'config.yaml'), 'utf8');
const INSTALLED_BINARY = '/usr/local/bin/vllm-router';
const INSTALLED_ENV = '/etc/vllm-router/vllm-router.env';
const INSTALLED_CONFIG = '/etc/vllm-router/config.yaml';
// CI installs it with the Debian package `systemd` (and `procps` for the unit's /bin/kill).
const ANALYZE = Bun.which('systemd-analyze');

type Unit = Map<string, Map<string, string[]>>;

/** systemd.syntax(7) as far as units go: [sections], Key=value (repeatable), # and ; comments, `\` continuations. */
function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = unit.get(header[1]!) ?? new Map();
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (section === undefined || eq < 0) throw new Error(`not a unit file line: ${line}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

const unit = parseUnit(UNIT_TEXT);
const service = unit.get('Service')!;
/** All assignments of a [Service] key, in order (an empty one resets a list in systemd). */
const all = (key: string) => service.get(key) ?? [];
/** The value in force: the last assignment. */
const last = (key: string) => all(key).at(-1);

/** A systemd time span ("210", "210s", "3min 30s") in seconds. */
function seconds(span: string): number {
  const units: Record<string, number> = { '': 1, s: 1, sec: 1, m: 60, min: 60, h: 3600 };
  let total = 0;
  for (const [, n, u] of span.matchAll(/(\d+)\s*([a-z]*)/g)) {
    if (!(u! in units)) throw new Error(`unknown time unit in ${span}`);
    total += Number(n) * units[u!]!;
  }
  return total;
}

/** EnvironmentFile= syntax as this file uses it: KEY=value or KEY="value", # comments, no inline comments. */
function parseEnvFile(text: string, { includeCommented = false } = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    let line = raw.trim();
    if (includeCommented && /^#[A-Z_][A-Z0-9_]*=/.test(line)) line = line.slice(1);
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) throw new Error(`not an environment file line: ${line}`);
    const value = match[2]!;
    env[match[1]!] = /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value;
  }
  return env;
}

interface Verdict {
  readonly exitCode: number;
  readonly output: string;
  /** Lines systemd-analyze printed about this unit (warnings about unrelated host units are not ours). */
  readonly aboutUnit: string[];
}

/** Runs `systemd-analyze verify` on unit text, with ExecStart pointed at an executable that exists here. */
function verify(text: string): Verdict {
  const dir = mkdtempSync(join(tmpdir(), 'vllm-router-unit-'));
  const exe = join(dir, 'vllm-router');
  copyFileSync('/bin/true', exe);
  chmodSync(exe, 0o755);
  const pattern = new RegExp(`^ExecStart=${INSTALLED_BINARY}\\b`, 'm');
  const path = join(dir, 'vllm-router.service');
  writeFileSync(path, pattern.test(text) ? text.replace(pattern, `ExecStart=${exe}`) : text);
  const run = Bun.spawnSync([ANALYZE!, 'verify', '--man=no', '--recursive-errors=no', path], {
    stdout: 'pipe',
    stderr: 'pipe',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SYSTEMD_LOG_COLOR: '0' },
  });
  const output = run.stdout.toString() + run.stderr.toString();
  return { exitCode: run.exitCode, output, aboutUnit: output.split('\n').filter((l) => l.includes('vllm-router.service')) };
}

describe.skipIf(process.platform !== 'linux')('systemd-analyze on deploy/vllm-router.service', () => {
  test('systemd-analyze is installed (Debian package systemd)', () => {
    expect(ANALYZE, 'systemd-analyze not found: apt-get install systemd').not.toBeNull();
  });

  test('verify passes with nothing to say about the unit', () => {
    expect(UNIT_TEXT).toMatch(new RegExp(`^ExecStart=${INSTALLED_BINARY}$`, 'm'));
    const verdict = verify(UNIT_TEXT);
    expect(verdict.aboutUnit).toEqual([]);
    expect(verdict.exitCode, verdict.output).toBe(0);
  });

  test('verify catches a broken unit: misspelled key, bad value, unknown syscall group, missing binary', () => {
    const broken = [
      UNIT_TEXT.replace('NoNewPrivileges=yes', 'NoNewPrivilege=yes'),
      UNIT_TEXT.replace('ProtectSystem=strict', 'ProtectSystem=strickt'),
      UNIT_TEXT.replace('SystemCallFilter=@system-service', 'SystemCallFilter=@system-servic'),
      UNIT_TEXT.replace('RestrictAddressFamilies=AF_INET ', 'RestrictAddressFamilies=AF_INETX '),
      UNIT_TEXT.replace('Type=exec', 'Type=exec2'),
      UNIT_TEXT.replace(`ExecStart=${INSTALLED_BINARY}`, `ExecStart=/nonexistent/vllm-router`),
    ];
    for (const text of broken) {
      expect(text).not.toBe(UNIT_TEXT);
      expect(verify(text).aboutUnit.length).toBeGreaterThan(0);
    }
  });

  test('security review rates the sandbox OK (exposure at most 2.0 of 10)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vllm-router-unit-'));
    const path = join(dir, 'vllm-router.service');
    writeFileSync(path, UNIT_TEXT);
    // --threshold counts in tenths of the printed exposure level: 20 is 2.0.
    const run = Bun.spawnSync([ANALYZE!, 'security', '--offline=yes', '--threshold=20', '--no-pager', path], { stdout: 'pipe', stderr: 'pipe' });
    const output = run.stdout.toString() + run.stderr.toString();
    const level = /Overall exposure level for vllm-router\.service: ([0-9.]+) /.exec(output);
    expect(level, output).not.toBeNull();
    expect(Number(level![1])).toBeLessThanOrEqual(2);
    expect(run.exitCode, output).toBe(0);
  });
});

describe('deploy/vllm-router.service', () => {
  test('runs the installed binary with flags from the environment file, as Type=exec', () => {
    expect(last('Type')).toBe('exec');
    expect(all('ExecStart')).toEqual([INSTALLED_BINARY]);
    expect(all('EnvironmentFile')).toEqual([INSTALLED_ENV]);
    expect(last('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
  });

  test('restarts on failure, but not after a configuration error (exit 2)', () => {
    expect(last('Restart')).toBe('on-failure');
    expect(last('RestartPreventExitStatus')!.split(/\s+/)).toContain('2');
    expect(Number(unit.get('Unit')!.get('StartLimitBurst')?.at(-1))).toBeGreaterThan(0);
  });

  test('stops with SIGTERM and waits longer than the drain (delay plus grace period)', () => {
    expect(last('KillSignal')).toBe('SIGTERM');
    const env = parseEnvFile(ENV_TEXT);
    const delay = Number(env.VLLM_ROUTER_SHUTDOWN_DELAY_SECS ?? FLAGS.shutdown_delay_secs.schema.parse(undefined));
    const grace = Number(env.VLLM_ROUTER_SHUTDOWN_GRACE_PERIOD_SECS ?? FLAGS.shutdown_grace_period_secs.schema.parse(undefined));
    expect(seconds(last('TimeoutStopSec')!)).toBeGreaterThan(delay + grace);
  });

  test('is sandboxed: no privileges, read-only system, dynamic user, only IP and local sockets', () => {
    expect(last('NoNewPrivileges')).toBe('yes');
    expect(last('ProtectSystem')).toBe('strict');
    expect(last('ProtectHome')).toBe('yes');
    expect(last('PrivateTmp')).toBe('yes');
    expect(last('DynamicUser')).toBe('yes');
    expect(last('CapabilityBoundingSet')).toBe('');
    expect(new Set(last('RestrictAddressFamilies')!.split(/\s+/))).toEqual(new Set(['AF_INET', 'AF_INET6', 'AF_UNIX']));
    expect(all('SystemCallFilter')[0]).toBe('@system-service');
    expect(Number(last('LimitNOFILE'))).toBeGreaterThanOrEqual(65536);
  });

  test('leaves W^X off: Bun JIT-compiles into writable executable memory', () => {
    expect(service.has('MemoryDenyWriteExecute')).toBe(false);
  });

  test('--log-dir in the environment file points into the LogsDirectory the unit makes writable', () => {
    const logsDirectory = last('LogsDirectory');
    expect(logsDirectory).toBeDefined();
    const logDir = parseEnvFile(ENV_TEXT, { includeCommented: true }).VLLM_ROUTER_LOG_DIR;
    expect(logDir).toBe(`/var/log/${logsDirectory}`);
  });
});

describe('deploy/vllm-router.env and deploy/config.yaml', () => {
  const load = (env: Record<string, string>) =>
    loadConfig({
      argv: [],
      env,
      readFile: (path) => {
        if (path !== INSTALLED_CONFIG) throw new Error(`ENOENT: ${path}`);
        return CONFIG_TEXT;
      },
      version: 'test',
      });

  test('every VLLM_ROUTER_ variable, set or commented out, names a real flag', () => {
    const names = [...ENV_TEXT.matchAll(/\bVLLM_ROUTER_([A-Z0-9_]+)=/g)].map((m) => m[1]!.toLowerCase());
    expect(names.length).toBeGreaterThan(5);
    for (const name of names) expect(Object.keys(FLAGS), `VLLM_ROUTER_${name.toUpperCase()}`).toContain(name);
  });

  test('as shipped, the environment file and the config file load into a valid configuration', () => {
    const loaded = load(parseEnvFile(ENV_TEXT));
    if (loaded.kind !== 'config') throw new Error(JSON.stringify(loaded));
    expect(loaded.config.config).toBe(INSTALLED_CONFIG);
    expect(loaded.config.worker_urls.length).toBeGreaterThan(0);
    expect(loaded.config.host).toBe('0.0.0.0');
    expect(loaded.config.log_json).toBe(true);
  });

  test('with every commented example switched on, it still loads (PD endpoints and all)', () => {
    const loaded = load(parseEnvFile(ENV_TEXT, { includeCommented: true }));
    if (loaded.kind !== 'config') throw new Error(JSON.stringify(loaded));
    expect(loaded.config.vllm_pd_disaggregation).toBe(true);
    expect(loaded.config.prefill).toEqual([
      { url: 'http://prefill-0:8100', bootstrapPort: null },
      { url: 'http://prefill-1:8100', bootstrapPort: null },
    ]);
    expect(loaded.config.decode).toHaveLength(2);
  });
});
