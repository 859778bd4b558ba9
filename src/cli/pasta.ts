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
 */
import fs from 'node:fs';
import tty from 'node:tty';
import { parseArgs, helpText, UsageError } from '../options.js';
import { buildConfig, describeConfig } from '../conf.js';
import { createLogger } from '../log.js';
import { spawn } from 'node:child_process';
import { readHostNet, PastaRun, PastaAttach } from '../pasta.js';
import type { Config } from '../conf.js';
import type { Logger } from '../log.js';
import { C } from '../native.js';
import { VERSION } from '../version.js';

/** Environment variable naming the fd on which a background pasta reports that it is ready. */
const READY_FD_ENV = 'NODE_PASTA_READY_FD';

/**
 * Attach to an existing namespace. Like pasta(1), the first process returns
 * only once the namespace is configured — exit 0, with the translator left
 * running in the background, detached, its standard streams on /dev/null (a
 * caller such as Podman waits for those pipes to close) — or exits 1 with
 * the error. A process cannot fork once Node runs, so the background copy is
 * a new process started with the same arguments; it reports "ok" or the
 * error on an inherited pipe. With -f pasta stays in the foreground.
 */
function attach(config: Config, log: Logger, argv: string[]): void {
  const readyFd = process.env[READY_FD_ENV] ? Number(process.env[READY_FD_ENV]) : -1;
  if (!config.foreground && readyFd < 0) {
    startInBackground(argv);
    return;
  }
  const report = (line: string): void => {
    if (readyFd < 0) return;
    try {
      fs.writeSync(readyFd, `${line}\n`);
    } catch {
      // The first process is gone; nothing to tell.
    }
  };
  let run: PastaAttach;
  try {
    run = new PastaAttach(config, log);
  } catch (err) {
    report(`error ${(err as Error).message}`);
    fail((err as Error).message);
  }
  if (config.pidFile) {
    try {
      fs.writeFileSync(config.pidFile, `${process.pid}\n`);
    } catch (err) {
      run.stop('cannot write the PID file');
      report(`error cannot write PID file ${config.pidFile}: ${(err as Error).message}`);
      fail(`cannot write PID file ${config.pidFile}: ${(err as Error).message}`);
    }
  }
  report('ok');
  if (readyFd >= 0) fs.closeSync(readyFd);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'] as const) process.on(sig, () => run.stop(`got ${sig}`));
  void run.stopped.then((reason) => {
    log.debug(`stopped: ${reason}`);
    process.exit(0);
  });
}

/** Start a detached copy of this pasta and wait until it says it is ready (exit 0) or failed (exit 1). */
function startInBackground(argv: string[]): void {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...argv], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...process.env, [READY_FD_ENV]: '3' },
  });
  let text = '';
  const pipe = child.stdio[3] as NodeJS.ReadableStream;
  pipe.setEncoding('utf8');
  pipe.on('data', (d: string) => {
    text += d;
    const line = text.split('\n')[0];
    if (!text.includes('\n')) return;
    if (line === 'ok') {
      child.unref();
      (pipe as unknown as { destroy(): void }).destroy();
      process.exit(0);
    }
    fail(line.replace(/^error /, ''));
  });
  child.on('exit', (code, signal) => {
    if (!text.includes('\n')) fail(`the background process exited (${signal ?? `status ${code}`}) before the namespace was ready`);
  });
}

/** The kernel's ephemeral port range, left out of "all" port forwarding. */
function readEphemeralPorts(): { first: number; last: number } | undefined {
  try {
    const [first, last] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return first > 0 && last >= first ? { first, last } : undefined;
  } catch {
    return undefined;
  }
}

/** The host's /etc/resolv.conf, or '' if there is none. */
function readResolvConf(): string {
  try {
    return fs.readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}

function fail(message: string, code = 1): never {
  fs.writeSync(2, `pasta: ${message}\n`);
  process.exit(code);
}

/** Entry point; returns only by exiting the process. */
export function main(argv: string[]): void {
  let parsed;
  try {
    parsed = parseArgs(argv, 'pasta');
  } catch (err) {
    if (err instanceof UsageError) fail(err.message);
    throw err;
  }
  const names = new Set(parsed.options.map(([n]) => n));
  if (names.has('help')) {
    fs.writeSync(1, helpText('pasta'));
    process.exit(0);
  }
  if (names.has('version')) {
    fs.writeSync(1, `pasta (node-passt) ${VERSION}\n`);
    process.exit(0);
  }
  let config;
  try {
    config = buildConfig(parsed, readHostNet(), 'pasta', readResolvConf(), readEphemeralPorts());
  } catch (err) {
    if (err instanceof UsageError) fail(err.message);
    fail((err as Error).message);
  }
  const log = createLogger({ name: 'pasta', level: config.logLevel, file: config.logFile, fileSize: config.logSize });
  for (const line of describeConfig(config)) log.debug(line);
  for (const warning of config.warnings) log.warn(warning);

  if (config.netns !== null || config.attachPid !== null) {
    attach(config, log, argv);
    return;
  }

  const command = config.command.length ? config.command : [process.env.SHELL || '/bin/sh'];
  const env = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
  let run: PastaRun;
  try {
    run = new PastaRun(config, log, { argv: command, env, cwd: process.cwd() });
  } catch (err) {
    fail((err as Error).message);
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
}
