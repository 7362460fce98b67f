// Start-up step: the logger (stdout, and a daily file under --log-dir), unless the caller brings its own.
import type { Config } from '../config/schema.ts';
import { DailyLogFile } from '../log/daily-file.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { stdoutLines } from '../log/stdout-lines.ts';

export interface Logging {
  readonly log: Logger;
  readonly logFile: DailyLogFile | undefined;
}

export function openLogging(config: Config, given: Logger | undefined): Logging {
  const logFile = config.log_dir === undefined ? undefined : new DailyLogFile(config.log_dir);
  const stdout = stdoutLines();
  const log =
    given ??
    createLogger({
      level: config.log_level,
      json: config.log_json,
      write: logFile === undefined ? stdout.write : (line) => (stdout.write(line), logFile.write(line)),
      flush: () => (stdout.flush(), logFile?.flush()),
    });
  return { log, logFile };
}
