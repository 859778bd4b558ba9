/**
 * Logging, with pasta(1)'s levels: informational messages by default,
 * `--quiet` keeps only warnings and errors, `--debug` adds debug messages and
 * `--trace` single packets.
 *
 * Theory of operation: one pino logger per engine instance (no global state
 * beyond a default logger used before options are parsed). Records are
 * written synchronously as plain text lines "pasta: message" — what a person
 * reads on a terminal, like the C original — to standard error or to a log
 * file (`--log-file`, bounded by `--log-size`: when full, the file is
 * truncated and restarted so it never grows past the limit). The data path
 * logs through `log.isLevelEnabled('trace')` checks so a quiet run does no
 * formatting work per packet.
 */
import fs from 'node:fs';
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface LogOptions {
  /** Program name used as the line prefix ("pasta", "passt"). */
  name: string;
  level: LogLevel;
  /** Write to this file instead of standard error. */
  file?: string;
  /** Upper bound for the log file in bytes (default 1 MiB). */
  fileSize?: number;
  /** Write to this fd instead (standard error is 2); ignored with `file`. */
  fd?: number;
}

const levelNames: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** A pino destination that writes plain text lines synchronously to an fd or a bounded file. */
class TextDestination implements DestinationStream {
  private fd: number;
  private written = 0;

  constructor(
    private readonly name: string,
    fd: number,
    private readonly file?: string,
    private readonly limit = 1 << 20,
  ) {
    this.fd = fd;
    if (file) {
      this.fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_APPEND, 0o600);
    }
  }

  write(record: string): void {
    let line: string;
    try {
      const obj = JSON.parse(record) as Record<string, unknown>;
      const level = typeof obj.level === 'number' ? obj.level : 30;
      const prefix = level >= 40 || level <= 20 ? `${this.name} ${levelNames[level] ?? ''}: ` : `${this.name}: `;
      line = prefix + String(obj.msg ?? '');
      if (this.file) line = `${new Date(typeof obj.time === 'number' ? obj.time : Date.now()).toISOString()} ${line}`;
      if (obj.err && typeof obj.err === 'object') {
        const err = obj.err as { message?: string };
        if (err.message && !line.includes(err.message)) line += `: ${err.message}`;
      }
      line += '\n';
    } catch {
      line = record;
    }
    const bytes = Buffer.from(line);
    if (this.file) {
      if (this.written + bytes.length > this.limit) {
        fs.ftruncateSync(this.fd, 0);
        this.written = 0;
      }
      this.written += bytes.length;
    }
    try {
      fs.writeSync(this.fd, bytes);
    } catch {
      // Standard error went away (for example a closed pipe): logging must never take the engine down.
    }
  }
}

/** Create a logger as configured; see {@link LogOptions}. */
export function createLogger(opts: LogOptions): Logger {
  const dest = new TextDestination(opts.name, opts.fd ?? 2, opts.file, opts.fileSize);
  return pino(
    { level: opts.level, base: undefined, timestamp: opts.file ? pino.stdTimeFunctions.epochTime : false },
    dest,
  );
}

/** A logger for code that runs before options are parsed, or in tests. */
export function defaultLogger(name = 'pasta'): Logger {
  return createLogger({ name, level: 'info' });
}
