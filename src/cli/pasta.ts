/**
 * The `pasta` command: argv compatible with pasta(1).
 *
 * Theory of operation: parse the options (one line and exit 1 on any error,
 * as pasta(1) does), read the host's network over rtnetlink, build the
 * configuration, then create the namespace, configure it and run the command
 * in it (the user's $SHELL, else /bin/sh, when none is given). pasta stays in
 * the foreground as the command's parent and exits with its status
 * (128 + signal number if it was killed), leaving nothing running. Signals
 * that would end pasta are passed on to the command instead; on a terminal,
 * SIGINT and SIGQUIT reach the command from the terminal itself, so pasta
 * ignores them.
 *
 * Attached to an existing namespace (`--netns`, a PID: how Podman runs it)
 * pasta goes to the background, and start-up time is what a caller waits
 * for. A Node process cannot fork, so the background is a second Node
 * process started with the same arguments, and each Node start costs tens
 * of milliseconds. So the first process does as little as it can, and
 * starts the copy as early as it can: when the command line may attach,
 * bin/pasta.js starts the copy before it loads anything else, even this
 * file, and only waits for its report (cli/background.cts); otherwise this
 * file parses the options first (it loads only the option parser at the
 * top; the rest comes with `await import()` where it is needed). Both
 * processes decide with `startsBackground`. The copy loads its modules
 * with V8's code cache (cli/codecache.cts), parses the options and does
 * everything else — reads the host, builds and checks the configuration,
 * sets up the namespace — and reports on an inherited pipe: "ok", or
 * "error MESSAGE" (a usage error included), which the first process prints
 * as its own error (exit 1), or "no" when it was started early for a
 * command line that does not go to the background after all.
 * What the first process used to print itself before the copy started (the
 * configuration's summary with --debug, warnings) the copy writes to the
 * first process's standard error, which it holds as another inherited fd
 * and closes before it reports: the caller sees the same lines, in the same
 * order, and no pipe of the caller's stays open once the first process has
 * exited. The copy's own standard streams are on /dev/null. It also drops
 * NODE_EXTRA_CA_CERTS from its environment: pasta opens no TLS connection,
 * and that variable makes Node parse every root certificate while starting.
 * Once it has reported, it writes a fresh code cache if the one it found
 * was missing or out of date (and it may).
 */
import fs from 'node:fs';
import os from 'node:os';
import { M } from '../messages.js';
import { dropPrivileges } from '../privileges.js';
import { parseArgs, helpText, UsageError, type ParsedArgs } from '../options.js';
import { attaches, errorText } from './args.js';
import { readEphemeralPorts, readHostEnv, readResolvConf } from '../hostfiles.js';
import type { Config } from '../conf.js';
import type { Logger } from '../log.js';
import { READY_FD_ENV, CONSOLE_FD_ENV, finishInForeground, startInBackground } from './background.cjs';

/** Read the host, build the configuration (usage errors included), or exit 1 with the reason. */
async function configure(parsed: ParsedArgs, onError?: (message: string) => void): Promise<Config> {
  const [{ buildConfig }, { readHostNet }, { native }] = await Promise.all([import('../conf.js'), import('../hostnet.js'), import('../native.js')]);
  nativeStrerror = native.strerror;
  // As upstream at start: as many fds as we may have (Node has done it too, as it started).
  try {
    native.raiseNofile();
  } catch {
    // Kept as it is.
  }
  try {
    return buildConfig(parsed, readHostNet(), 'pasta', readResolvConf(), readEphemeralPorts(), readHostEnv());
  } catch (err) {
    onError?.(errorText(err));
    fail(errorText(err));
  }
}

/**
 * The logger as configured (cli/logging.ts): start-up lines to `consoleFd`,
 * the standard error of the process the user started (the first process's,
 * for the background copy). A command of pasta's own runs quietly unless
 * --debug, as upstream.
 */
async function startLogging(config: Config, consoleFd = 2, command = false): Promise<{ log: Logger; summary: () => void }> {
  const { startLogging: start } = await import('./logging.js');
  return start(config, { consoleFd, level: command && config.logLevel === 'info' ? 'warn' : config.logLevel });
}

/**
 * Does this command line make pasta go to the background (attach, without
 * -f, and not just --help or --version)? The first process and its
 * background copy both decide with this, from the same arguments.
 */
function startsBackground(parsed: ParsedArgs, names: Set<string>): boolean {
  return attaches(parsed) && !names.has('foreground') && !names.has('help') && !names.has('version');
}

/** How bin/pasta.js started this process. */
export interface StartOptions {
  /** Called once the namespace is ready, in a background copy: work that could wait until then. */
  onReady?: () => void;
}

/**
 * Attach to an existing namespace, in this process: the background copy, or
 * pasta with -f. Like pasta(1), the first process returns only once the
 * namespace is configured — exit 0, with the translator left running in the
 * background, detached, its standard streams on /dev/null (a caller such as
 * Podman waits for those pipes to close) — or exits 1 with the error. The
 * background copy reports "ok" or the error on an inherited pipe. The
 * sandbox (src/sandbox/) is prepared and locked before the report, so that
 * what can fail there is reported as any other error, and before the
 * engine translates anything. `beforeSandbox` runs first (the
 * background copy's code cache refresh: dist/ is out of reach afterwards).
 */
async function attach(config: Config, log: Logger, readyFd: number, summary: () => void, closeConsole = (): void => {}, beforeSandbox?: () => void): Promise<void> {
  const report = (line: string): void => {
    // What the caller sees on its standard error is complete once we report (the copy's).
    closeConsole();
    if (readyFd < 0) return;
    try {
      fs.writeSync(readyFd, `${line}\n`);
    } catch {
      // The first process is gone; nothing to tell.
    }
  };
  const die: (message: string) => never = (message) => {
    report(errorReport(message));
    fail(message);
  };
  let run: import('../pasta.js').PastaAttach;
  const [{ PastaAttach }, sandbox] = await Promise.all([import('../pasta.js'), import('../sandbox/index.js')]);
  try {
    run = new PastaAttach(config, log, summary);
  } catch (err) {
    die(errorText(err));
  }
  if (config.pidFile) {
    try {
      fs.writeFileSync(config.pidFile, `${process.pid}\n`);
    } catch (err) {
      run.stop('cannot write the PID file');
      die(M.pidFileOpen(config.pidFile, errnoText(err)));
    }
  }
  beforeSandbox?.();
  let prepared: import('../sandbox/index.js').Prepared;
  try {
    prepared = sandbox.prepareSandbox({ chrootFallback: config.chrootFallback, log, logFile: config.logFile, switchUser: config.runAs ? () => dropPrivileges(config, die) : undefined });
  } catch (err) {
    run.stop('sandbox');
    die(errorText(err));
  }
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'] as const) process.on(sig, () => run.stop(`got ${sig}`));
  void run.stopped.then((reason) => {
    log.debug(`stopped: ${reason}`);
    process.exit(0);
  });
  // Locked before we say we are ready: whoever reads our /proc/PID/status after the report
  // (Podman, rootlesskit) sees the sandbox whole, and a failure to lock is reported.
  try {
    sandbox.lockSandbox(prepared, { name: 'pasta', log, helpers: [run.ctlFd] });
  } catch (err) {
    run.stop('sandbox');
    die(errorText(err));
  }
  report('ok');
  if (readyFd >= 0) fs.closeSync(readyFd);
}

/**
 * The first process of an attaching pasta: start the background copy and
 * exit 0 once it reports that the namespace is ready, or exit 1 with the
 * error it reports (a usage error in the configuration included).
 */
async function attachFromFront(argv: string[], parsed: ParsedArgs): Promise<void> {
  const fd = parsed.options.filter(([name]) => name === 'fd').pop()?.[1];
  const tapFd = typeof fd === 'string' && /^[0-9]+$/.test(fd) && Number(fd) > 2 ? Number(fd) : undefined;
  await finishInForeground(startInBackground(argv, tapFd));
  // The copy answered "no": it disagrees about going to the background, which it cannot.
  fail('internal error: the background process would not attach');
}

/**
 * The background copy: configure (a failure is reported on the pipe, for the
 * first process to print), log what the first process prints on its standard
 * error (`consoleFd`, closed here), then attach.
 */
async function attachInBackground(parsed: ParsedArgs, readyFd: number, consoleFd: number, onReady?: () => void): Promise<void> {
  // The translator's modules load while the host is read (errors surface in attach()).
  import('../pasta.js').catch(() => undefined);
  const config = await configure(parsed, (message) => {
    try {
      fs.writeSync(readyFd, `${errorReport(message)}\n`);
    } catch {
      // The first process is gone.
    }
  });
  const { log, summary } = await startLogging(config, consoleFd >= 0 ? consoleFd : 2);
  let closed = false;
  const closeConsole = (): void => {
    if (consoleFd >= 0 && !closed) fs.closeSync(consoleFd);
    closed = true;
  };
  await attach(config, log, readyFd, () => {
    summary();
  }, closeConsole, onReady);
}

/** Create the namespace, run the command in it, exit with its status. */
async function spawnCommand(parsed: ParsedArgs): Promise<void> {
  const [config, { PastaRun }, tty, { C }, sandbox] = await Promise.all([
    configure(parsed),
    import('../pasta.js'),
    import('node:tty'),
    import('../native.js'),
    import('../sandbox/index.js'),
  ]);
  const attaching = config.netns !== null || config.attachPid !== null;
  const { log, summary } = await startLogging(config, 2, !attaching);
  if (attaching) {
    // -f: attached, in the foreground.
    await attach(config, log, -1, summary);
    return;
  }

  const command = config.command.length ? config.command : [process.env.SHELL || '/bin/sh'];
  const env = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
  // As upstream: the command's own host name, -H or "pasta-" and the host's (at most 64 bytes).
  const hostname = Buffer.from(config.hostname ?? `pasta-${os.hostname()}`).subarray(0, 64).toString();
  let run: import('../pasta.js').PastaRun;
  try {
    run = new PastaRun(config, log, { argv: command, env, cwd: process.cwd(), hostname }, { onNamespace: summary });
  } catch (err) {
    fail(errorText(err));
  }
  const die: (message: string) => never = (message) => {
    run.kill(C.SIGKILL);
    fail(message);
  };
  if (config.pidFile) {
    try {
      fs.writeFileSync(config.pidFile, `${process.pid}\n`);
    } catch (err) {
      die(M.pidFileOpen(config.pidFile, errnoText(err)));
    }
  }
  let prepared: import('../sandbox/index.js').Prepared;
  try {
    prepared = sandbox.prepareSandbox({ chrootFallback: config.chrootFallback, log, logFile: config.logFile, switchUser: config.runAs ? () => dropPrivileges(config, die) : undefined });
  } catch (err) {
    die(errorText(err));
  }

  // tty.isatty() does not touch process.stdin (which would make the terminal nonblocking for the command).
  const onTty = tty.isatty(0);
  const forward = (num: number) => () => run.kill(num);
  process.on('SIGTERM', forward(C.SIGTERM));
  process.on('SIGHUP', forward(C.SIGHUP));
  if (onTty) {
    process.on('SIGINT', () => {});
    process.on('SIGQUIT', () => {});
  } else {
    process.on('SIGINT', forward(C.SIGINT));
    process.on('SIGQUIT', forward(3));
  }
  void run.exited.then((code) => {
    process.exit(code);
  });
  try {
    sandbox.lockSandbox(prepared, { name: 'pasta', log, helpers: [run.ctlFd] });
  } catch (err) {
    die(errorText(err));
  }
}

/** The report line of a background copy that failed: its message, JSON-quoted (it may span lines). */
function errorReport(text: string): string {
  return `error ${JSON.stringify(text)}`;
}

/** The C library's text for a Node.js file system error ("No such file or directory"). */
function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (typeof e.errno === 'number') return nativeStrerror(e.errno);
  return e.message ?? String(err);
}

let nativeStrerror: (errno: number) => string = (errno) => `errno ${errno}`;

function fail(message: string, code = 1): never {
  fs.writeSync(2, `${message}\n`);
  process.exit(code);
}

/** Entry point; returns at once, and the process ends by exiting. */
export function main(argv: string[], start: StartOptions = {}): void {
  const readyFd = process.env[READY_FD_ENV] ? Number(process.env[READY_FD_ENV]) : -1;
  const consoleFd = process.env[CONSOLE_FD_ENV] ? Number(process.env[CONSOLE_FD_ENV]) : -1;
  /** In a background copy: one line to the first process (cli/background.cts). */
  const report = (line: string): void => {
    try {
      fs.writeSync(readyFd, `${line}\n`);
    } catch {
      // The first process is gone.
    }
  };
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs(argv, 'pasta');
  } catch (err) {
    if (readyFd >= 0 && err instanceof UsageError) report(errorReport(errorText(err)));
    if (err instanceof UsageError) fail(errorText(err));
    throw err;
  }
  const names = new Set(parsed.options.map(([n]) => n));
  const inBackground = startsBackground(parsed, names);
  if (readyFd >= 0 && !inBackground) {
    // Started before the first process parsed the arguments, which it now does itself.
    report('no');
    process.exit(0);
  }
  if (names.has('help') || names.has('version')) {
    // As upstream, in command-line order: an invalid option before --help is an error.
    void import('../conf.js').then(async ({ parseOptions }) => {
      let exit: 'help' | 'version' | null = null;
      try {
        exit = parseOptions(parsed, 'pasta').exit;
      } catch (err) {
        fail(errorText(err));
      }
      if (exit === 'help') fs.writeSync(1, helpText('pasta'));
      if (exit === 'version') fs.writeSync(1, `pasta (node-passt) ${(await import('../version.js')).VERSION}\n`);
      if (exit) process.exit(0);
      go();
    });
    return;
  }
  go();

  /** After the options: start as the command line asks. */
  function go(): void {
    // Every way out below is an explicit process.exit(). Should the event loop ever run dry
    // instead (a start-up step that never settled), that is a failure, never a silent exit 0
    // that a caller such as Podman would take for "the namespace is ready".
    process.once('beforeExit', () => fail('internal error: start-up ended without a result'));
    const done = !inBackground
      ? spawnCommand(parsed) // a command of our own, or -f: attached in this process
      : readyFd >= 0
        ? attachInBackground(parsed, readyFd, consoleFd, start.onReady)
        : attachFromFront(argv, parsed);
    // As before, an unexpected error ends the process with its message and status 1.
    done.catch((err: unknown) => fail(errorText(err)));
  }
}
