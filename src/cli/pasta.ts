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
import { readHostNet, PastaRun } from '../pasta.js';
import { C } from '../native.js';
import { VERSION } from '../version.js';

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
  if (config.command.length === 1 && /^\d+$/.test(config.command[0])) {
    fail(`attaching to the namespaces of PID ${config.command[0]} is not supported by this version`);
  }
  const log = createLogger({ name: 'pasta', level: config.logLevel, file: config.logFile, fileSize: config.logSize });
  for (const line of describeConfig(config)) log.debug(line);
  for (const warning of config.warnings) log.warn(warning);

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
