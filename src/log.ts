/**
 * Logging, with pasta(1)'s levels: informational messages by default,
 * `--quiet` keeps only warnings and errors, `--debug` adds debug messages and
 * `--trace` single packets.
 *
 * Theory of operation: one pino logger per engine instance (no global state
 * beyond a default logger used before options are parsed). Records are
 * written synchronously as plain text lines in upstream's formats — the
 * message alone on standard error (after the seconds since start with
 * --debug), "SECONDS: WARNING: message" after a header line in a log file
 * (`--log-file`, bounded by `--log-size`: when the next line would reach the
 * limit, the oldest ~30% of the file is cut, at a line boundary, and the
 * header line says when, as upstream's logfile_rotate()). The data path
 * logs through `log.isLevelEnabled('trace')` checks so a quiet run does no
 * formatting work per packet.
 *
 * pino itself (some 50 CommonJS files, 15-20 ms to load and some MiB of
 * heap) is loaded only when something needs more than a message: the logger
 * is a small object answering the level checks and printing a record that
 * is a message alone (every record of ours) straight to the destination, in
 * the same format; a record with other arguments, or any other use of the
 * pino API (child(), setting the level, ...), creates the real logger, with
 * the same options and destination, and the methods forward to it from then
 * on. So pasta and passt never load pino, and the sandbox (src/sandbox/),
 * after which no file can be read, does not need it loaded beforehand; were
 * a record with arguments to come after that, it is printed as
 * util.format() makes it.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { format } from 'node:util';
import type { Logger, DestinationStream, LoggerOptions } from 'pino';

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


/** Log file prefixes per level, as upstream's logfile_prefix[]. */
const filePrefix: Record<number, string> = { 10: '         ', 20: '         ', 30: 'info:    ', 40: 'WARNING: ', 50: 'ERROR:   ', 60: 'ERROR:   ' };

/** Upstream's LOGFILE_CUT_RATIO: a full log file loses about this share, oldest first. */
const LOG_CUT_PERCENT = 30;

/** When logging started: upstream's timestamps count from there. */
const logStart = process.hrtime.bigint();

/** Seconds since logging started, as upstream's logtime_fmt(): "12.3456". */
function elapsed(): string {
  const us = (process.hrtime.bigint() - logStart) / 1000n;
  return `${us / 1000000n}.${String((us / 100n) % 10000n).padStart(4, '0')}`;
}

/**
 * A pino destination that writes plain text lines synchronously to an fd or
 * a bounded file, in upstream's formats: on standard error the message
 * alone (with --debug, after the seconds since start: "0.0123: message");
 * in a log file, after a header line naming the program, the time and a
 * level prefix ("0.0123: WARNING: message").
 */
class TextDestination implements DestinationStream {
  private fd: number;
  private written = 0;
  private header = '';

  constructor(
    name: string,
    fd: number,
    private readonly file?: string,
    private readonly limit = 1 << 20,
    /** Prefix standard error lines with the time (upstream does with --debug). */
    private readonly timestamps = false,
  ) {
    this.fd = fd;
    if (file) {
      // Written at explicit offsets (cut() rewrites the start), so no O_APPEND.
      this.fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
      this.header = `${name} node-passt: ${process.argv[1] ?? process.execPath} (${process.pid})\n`;
      this.put(Buffer.from(this.header));
    }
  }

  write(record: string): void {
    try {
      const obj = JSON.parse(record) as Record<string, unknown>;
      const level = typeof obj.level === 'number' ? obj.level : 30;
      let msg = String(obj.msg ?? '');
      if (obj.err && typeof obj.err === 'object') {
        const err = obj.err as { message?: string };
        if (err.message && !msg.includes(err.message)) msg += `: ${err.message}`;
      }
      this.line(level, msg);
    } catch {
      this.raw(record);
    }
  }

  /** One record at pino's numeric `level`, its message `msg`, as write() prints a pino record. */
  line(level: number, msg: string): void {
    let line: string;
    if (this.file) line = `${elapsed()}: ${filePrefix[level] ?? ''}${msg}`;
    else line = this.timestamps ? `${elapsed()}: ${msg}` : msg;
    this.raw(`${line}\n`);
  }

  private raw(line: string): void {
    const bytes = Buffer.from(line);
    if (this.file && this.written + bytes.length >= this.limit) this.cut();
    this.put(bytes);
  }

  private put(bytes: Buffer): void {
    if (this.fd < 0) return;
    try {
      if (this.file) this.written += fs.writeSync(this.fd, bytes, 0, bytes.length, this.written);
      else fs.writeSync(this.fd, bytes);
    } catch {
      // Standard error went away (for example a closed pipe), or the disk is
      // full: logging must never take the engine down.
    }
  }

  /**
   * Full: drop the oldest lines, as upstream's logfile_rotate() (its
   * fallback without FALLOC_FL_COLLAPSE_RANGE, which the result matches).
   * The cut is 30% of the limit rounded up to a page (LOGFILE_CUT_RATIO),
   * extended to the end of the line it falls in; the header line, followed by
   * " - log truncated at SECONDS", takes the place of what was cut.
   */
  private cut(): void {
    if (this.fd < 0) return;
    try {
      const header = Buffer.from(`${this.header.slice(0, -1)} - log truncated at ${elapsed()}\n`);
      const cutSize = Math.ceil((this.limit * LOG_CUT_PERCENT) / 100 / 4096) * 4096;
      const probe = Buffer.alloc(8192);
      let from = Math.min(cutSize, this.written);
      const n = fs.readSync(this.fd, probe, 0, probe.length, from);
      const nl = probe.subarray(0, n).indexOf(0x0a);
      from = nl >= 0 ? from + nl + 1 : this.written;
      const kept = Buffer.alloc(Math.max(0, this.written - from));
      fs.readSync(this.fd, kept, 0, kept.length, from);
      fs.writeSync(this.fd, header, 0, header.length, 0);
      fs.writeSync(this.fd, kept, 0, kept.length, header.length);
      this.written = header.length + kept.length;
      fs.ftruncateSync(this.fd, this.written);
    } catch {
      // As put(): a log file that cannot be cut keeps what it has.
    }
  }

  /** Close the log file this destination opened (an fd it was given stays open); later lines are dropped. */
  close(): void {
    if (this.file && this.fd >= 0) fs.closeSync(this.fd);
    if (this.file) this.fd = -1;
  }
}

/** The destination behind each logger made here, to close its file. */
const destinations = new WeakMap<object, TextDestination>();

/**
 * Close the `--log-file` (`log.file`) a logger of {@link createLogger}
 * opened, when its owner is done (the API's close()). Loggers writing to an
 * fd they were given are left alone.
 */
export function closeLogger(log: Logger): void {
  destinations.get(log)?.close();
}

/** pino's numeric levels ("silent" is above all of them). */
const levelValues: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const logMethods = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

let pinoModule: typeof import('pino') | undefined;
/** pino, loaded on first use (synchronously: it is CommonJS). */
function loadPino(): typeof import('pino') {
  return (pinoModule ??= createRequire(import.meta.url)('pino') as typeof import('pino'));
}

/** Create a logger as configured; see {@link LogOptions}. */
export function createLogger(opts: LogOptions): Logger {
  const dest = new TextDestination(opts.name, opts.fd ?? 2, opts.file, opts.fileSize, levelValues[opts.level] <= levelValues.debug);
  let level: string = opts.level;
  let real: Logger | undefined;
  const make = (): Logger => {
    if (real) return real;
    const { pino } = loadPino();
    const options: LoggerOptions = { level, base: undefined, timestamp: opts.file ? pino.stdTimeFunctions.epochTime : false };
    real = pino(options, dest);
    // From now on every method is the real logger's own.
    for (const m of logMethods) facade[m] = real[m].bind(real);
    facade.isLevelEnabled = real.isLevelEnabled.bind(real);
    return real;
  };
  const facade: Record<string, unknown> = {};
  for (const m of logMethods) {
    facade[m] = (...args: unknown[]): void => {
      if (levelValues[m] < levelValues[level]) return;
      // A message alone, as every call of ours makes: printed here, as pino's record would be,
      // without loading pino (see the top of this file).
      if (args.length === 1 && typeof args[0] === 'string') {
        dest.line(levelValues[m], args[0]);
        return;
      }
      let logger: Logger;
      try {
        logger = make();
      } catch {
        // pino could not be loaded (a sandboxed process has no files left to load it from):
        // the message as util.format() makes it.
        dest.line(levelValues[m], format(...args));
        return;
      }
      (logger[m] as (...a: unknown[]) => void)(...args);
    };
  }
  facade.isLevelEnabled = (l: string): boolean => levelValues[l] !== undefined && levelValues[l] >= levelValues[level];
  Object.defineProperty(facade, 'level', {
    enumerable: true,
    get: () => (real ? real.level : level),
    set: (value: string) => {
      level = value;
      make().level = value;
      for (const m of logMethods) facade[m] = real![m].bind(real);
    },
  });
  // Anything else of the pino API (child(), bindings(), flush(), ...) goes to the real logger.
  Object.setPrototypeOf(
    facade,
    new Proxy(
      {},
      {
        get(_target, prop) {
          // Not a thenable (as pino's logger is not): `await`ing or returning it from an async function looks for this.
          if (prop === 'then') return undefined;
          const r = make() as unknown as Record<string | symbol, unknown>;
          const v = r[prop];
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(r) : v;
        },
        has(_target, prop) {
          return prop in make();
        },
      },
    ),
  );
  destinations.set(facade, dest);
  return facade as unknown as Logger;
}
