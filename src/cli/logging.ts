/**
 * Where pasta's lines go as it starts, for a pasta process of its own
 * (cli/pasta.ts) and for each namespace of the shared engine (cli/shared.ts).
 */
import { createLogger, type Logger, type LogLevel } from '../log.js';
import { describeConfig, type Config } from '../conf.js';

export interface StartLogging {
  /** Where the log goes without --log-file (default 2). */
  logFd?: number;
  /** The standard error of the process the user started (default 2). */
  consoleFd?: number;
  /** Default: the configuration's. */
  level?: LogLevel;
  /** Default: the configuration's warnings. */
  warnings?: readonly string[];
}

/**
 * The logger as configured. What upstream prints at start goes there first —
 * its notices and the configuration's summary (info: not with -q), its
 * warnings — or, without --log-file and when the log goes elsewhere, to
 * `consoleFd`: the standard error of the process the user started (the first
 * process's, for a background copy; the launcher's, for the shared engine).
 */
export function startLogging(config: Config, opts: StartLogging = {}): { log: Logger; summary: () => void } {
  const logFd = opts.logFd ?? 2;
  const consoleFd = opts.consoleFd ?? 2;
  const options = { name: 'pasta', level: opts.level ?? config.logLevel, file: config.logFile, fileSize: config.logSize };
  const log = createLogger({ ...options, fd: logFd });
  const first = config.logFile || consoleFd === logFd ? log : createLogger({ ...options, fd: consoleFd });
  for (const warning of opts.warnings ?? config.warnings) first.warn(warning);
  for (const notice of config.notices) first.info(notice);
  // The configuration's summary comes once the namespace is open, as upstream's conf_print().
  const summary = (): void => {
    for (const line of describeConfig(config)) first.info(line);
  };
  return { log, summary };
}
