// A small leveled logger: one line per event, text or JSON, with structured fields (never bodies or keys).

import { stdoutLines } from './stdout-lines.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  enabled(level: LogLevel): boolean;
  /** A configuration reload changed --log-level. */
  setLevel(level: LogLevel): void;
  /** Sends buffered lines now (before exiting). */
  flush(): void;
}

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly json: boolean;
  /** Where lines go; default: stdout, batched per event-loop turn (see stdout-lines.ts). */
  readonly write?: (line: string) => void;
  readonly flush?: () => void;
  readonly now?: () => Date;
}

const quote = (v: unknown) => {
  const s = String(v);
  return /[\s"=]/.test(s) ? JSON.stringify(s) : s;
};

export function createLogger(options: LoggerOptions): Logger {
  let min = RANK[options.level];
  const sink = options.write === undefined ? stdoutLines() : undefined;
  const write = options.write ?? sink!.write;
  const flush = options.flush ?? sink?.flush ?? (() => {});
  const now = options.now ?? (() => new Date());
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[level] < min) return;
    const ts = now().toISOString();
    if (options.json) {
      write(JSON.stringify({ ts, level, msg, ...fields }));
      return;
    }
    let line = `${ts} ${level.toUpperCase().padEnd(5)} ${msg}`;
    if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${quote(v)}`;
    write(line);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    enabled: (level) => RANK[level] >= min,
    setLevel(level) {
      min = RANK[level];
    },
    flush,
  };
}
