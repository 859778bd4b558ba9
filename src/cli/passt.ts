/**
 * The `passt` command: argv compatible with passt(1), for QEMU's
 * `-netdev stream`.
 *
 * Theory of operation: parse the options (one line and exit 1 on any error),
 * read the host's network over rtnetlink and build the configuration, as
 * pasta does; then open the UNIX domain socket QEMU connects to (`-s PATH`,
 * or the first free /tmp/passt_N.socket) — or take the connected socket
 * `-F FD` from the parent — and start the engine with the QEMU stream as
 * its frame transport (l2/qemu.ts), through passt.ts, which the Node API's
 * createPasst() uses too. DHCP, DHCPv6, NDP and router advertisements
 * answer the guest as they answer a namespace.
 *
 * One guest at a time. When it disconnects, its flows are closed on the
 * host side (and their sockets released) and passt waits for the next guest
 * — unless `--one-off`, or `-F` (the socket is the only one there will
 * be): then passt quits with status 0.
 *
 * Like passt(1), it runs in the background by default: the first process
 * prints the socket path and the QEMU options to use, and exits 0 once the
 * socket is listening. A process cannot fork once Node runs, so — as pasta
 * attaching to a namespace does — the background copy is a new process
 * started with the same arguments and detached, its standard streams on
 * /dev/null; it reports "ok PATH" or the error on an inherited pipe, and it
 * is the process `-P` names. With `-f` passt stays in the foreground.
 */
import fs from 'node:fs';
import { spawn, type StdioOptions } from 'node:child_process';
import { parseArgs, helpText, UsageError, GetoptError } from '../options.js';
import { readEphemeralPorts, readHostEnv, readResolvConf } from '../hostfiles.js';
import { buildConfig, describeConfig, parseOptions, type Config } from '../conf.js';
import { M } from '../messages.js';
import { dropPrivileges } from '../privileges.js';
import { native } from '../native.js';
import { createLogger, type Logger } from '../log.js';
import { readHostNet } from '../pasta.js';
import { openListener } from '../l2/qemu.js';
import { PasstRun, type PasstListener } from '../passt.js';
import { VERSION } from '../version.js';
import { prepareSandbox, lockSandbox, raiseFileLimit, type Prepared } from '../sandbox/index.js';
import { SocketUnlinker } from '../sandbox/unlinker.js';

/** Environment variable naming the fd on which a background passt reports that it is ready. */
const READY_FD_ENV = 'NODE_PASST_READY_FD';

function fail(message: string, code = 1): never {
  fs.writeSync(2, `${message}\n`);
  process.exit(code);
}

/** An error as passt(1) prints it: getopt's after the program's name, upstream's die() messages alone. */
function errorText(err: unknown): string {
  if (err instanceof GetoptError) return `passt: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** The C library's text for a Node.js error with an errno. */
function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return typeof e.errno === 'number' ? native.strerror(e.errno) : e.message;
}




/** The QEMU command line that connects to `path`, as passt(1) prints it. */
export function qemuOptions(path: string): string {
  return `-device virtio-net-pci,netdev=s -netdev stream,id=s,server=off,addr.type=unix,addr.path=${path}`;
}

/** The QEMU command line for `--vhost-user`, as passt(1) prints it. */
export function qemuVhostUserOptions(path: string): string {
  return `-chardev socket,id=chr0,path=${path} -netdev vhost-user,id=netdev0,chardev=chr0 -device virtio-net,netdev=netdev0 -object memory-backend-memfd,id=memfd0,share=on,size=$RAMSIZE -numa node,memdev=memfd0`;
}

/** Tell the user where to point QEMU (informational messages: --quiet hides them). */
function announce(log: Logger, path: string, vhostUser: boolean): void {
  log.info(M.socketBound(path));
  log.info(vhostUser ? 'You can start qemu with:' : 'You can now start qemu (>= 7.2):');
  log.info(`    kvm ... ${vhostUser ? qemuVhostUserOptions(path) : qemuOptions(path)}`);
}

/** What a vhost-user back end prints for --print-capabilities (JSON, as passt(1)'s). */
export const CAPABILITIES = '{\n  "type": "net"\n}\n';

/** The process that keeps running: open the socket, start translating, report readiness, wait. */
async function run(config: Config, log: Logger, readyFd: number): Promise<void> {
  const report = (line: string): void => {
    if (readyFd < 0) return;
    try {
      fs.writeSync(readyFd, `${line}\n`);
    } catch {
      // The first process is gone; nothing to tell.
    }
  };
  const die: (message: string) => never = (message) => {
    report(`error ${JSON.stringify(message)}`);
    fail(message);
  };
  let listener: PasstListener | null = null;
  if (config.socketFd !== null) {
    let isSocket = false;
    try {
      isSocket = fs.fstatSync(config.socketFd).isSocket();
    } catch (err) {
      die(`${M.invalidFd(String(config.socketFd))}: ${errnoText(err)}`);
    }
    if (!isSocket) die(`${M.invalidFd(String(config.socketFd))}: not a socket`);
  } else {
    try {
      listener = await openListener(config.socketPath);
    } catch (err) {
      die((err as Error).message);
    }
  }
  let passt: PasstRun;
  try {
    passt = new PasstRun(config, log, listener);
  } catch (err) {
    listener?.server.close();
    die((err as Error).message);
  }
  if (config.pidFile) {
    try {
      fs.writeFileSync(config.pidFile, `${process.pid}\n`);
    } catch (err) {
      passt.stop('cannot write the PID file', 1);
      die(M.pidFileOpen(config.pidFile, errnoText(err)));
    }
  }
  // The sandbox (src/sandbox/): prepared, then locked, before the report (what fails there is
  // reported as any other error) and before the first frame. The socket file is
  // removed at the end by an unlinker forked now: the sandboxed engine cannot.
  let unlinker: SocketUnlinker | null = null;
  let prepared: Prepared;
  try {
    if (listener) unlinker = new SocketUnlinker(listener.path);
    // Once the socket is bound and the PID file written, as upstream's isolate_user().
    prepared = prepareSandbox({ chrootFallback: config.chrootFallback, log, logFile: config.logFile, switchUser: config.runAs ? () => dropPrivileges(config, die) : undefined });
  } catch (err) {
    passt.stop('sandbox', 1);
    unlinker?.remove();
    die(errorText(err));
  }
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'] as const) process.on(sig, () => passt.stop(`got ${sig}`, 0));
  const exit = (code: number): never => {
    unlinker?.remove();
    process.exit(code);
  };
  void passt.done.then(({ code, reason }) => {
    log.debug(`stopped: ${reason}`);
    exit(code);
  });
  // Locked before we say we are ready: whoever reads our /proc/PID/status after the report
  // sees the sandbox whole, and a failure to lock is reported as any other error.
  try {
    lockSandbox(prepared, { name: 'passt', log });
  } catch (err) {
    passt.stop('sandbox', 1);
    unlinker?.remove();
    die(errorText(err));
  }
  if (listener) announce(log, listener.path, config.vhostUser);
  else log.debug(`guest connected on fd ${config.socketFd}`);
  report(listener ? `ok ${listener.path}` : 'ok');
  if (readyFd >= 0) fs.closeSync(readyFd);
}

/**
 * Start a detached copy of this passt and wait until it says it is ready
 * (print where QEMU connects, exit 0) or failed (exit 1). With -F, the
 * socket goes to the copy under the same fd number.
 */
function startInBackground(argv: string[], config: Config, log: Logger): void {
  const fd = config.socketFd;
  const readyIndex = fd === 3 ? 4 : 3;
  const stdio: Array<'ignore' | 'pipe' | number> = ['ignore', 'ignore', 'ignore'];
  while (stdio.length <= Math.max(readyIndex, fd ?? 0)) stdio.push('ignore');
  stdio[readyIndex] = 'pipe';
  if (fd !== null) stdio[fd] = fd;
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...argv], {
    detached: true,
    stdio: stdio as StdioOptions,
    env: { ...process.env, [READY_FD_ENV]: String(readyIndex) },
  });
  let text = '';
  const pipe = child.stdio[readyIndex] as NodeJS.ReadableStream & { destroy(): void };
  pipe.setEncoding('utf8');
  pipe.on('data', (d: string) => {
    text += d;
    if (!text.includes('\n')) return;
    const line = text.split('\n')[0];
    if (line === 'ok' || line.startsWith('ok ')) {
      if (line.startsWith('ok ')) announce(log, line.slice(3), config.vhostUser);
      child.unref();
      pipe.destroy();
      process.exit(0);
    }
    const message = line.replace(/^error /, '');
    let shown = message;
    try {
      if (message.startsWith('"')) shown = String(JSON.parse(message));
    } catch {
      // Not quoted: print it as it came.
    }
    fail(shown);
  });
  child.on('exit', (code, signal) => {
    if (!text.includes('\n')) fail(`the background process exited (${signal ?? `status ${code}`}) before it was ready`);
  });
}

/** Entry point; returns only by exiting the process (or with passt running until it stops). */
export function main(argv: string[]): void {
  let parsed;
  try {
    parsed = parseArgs(argv, 'passt');
    // --help, --version and errors, in command-line order as upstream.
    const { exit, printCapabilities } = parseOptions(parsed, 'passt');
    if (printCapabilities) {
      // On standard output, as the vhost-user specification has it (passt(1) prints it on standard error).
      fs.writeSync(1, CAPABILITIES);
      process.exit(0);
    }
    if (exit === 'help') {
      fs.writeSync(1, helpText('passt'));
      process.exit(0);
    }
    if (exit === 'version') {
      fs.writeSync(1, `passt (node-passt) ${VERSION}\n`);
      process.exit(0);
    }
  } catch (err) {
    if (err instanceof UsageError) fail(errorText(err));
    throw err;
  }
  // As upstream at start: as many fds as we may have (Node has done it too, as it started).
  raiseFileLimit();
  let config: Config;
  try {
    config = buildConfig(parsed, readHostNet(), 'passt', readResolvConf(), readEphemeralPorts(), readHostEnv());
  } catch (err) {
    fail(errorText(err));
  }
  const log = createLogger({ name: 'passt', level: config.logLevel, file: config.logFile, fileSize: config.logSize });
  for (const warning of config.warnings) log.warn(warning);
  for (const notice of config.notices) log.info(notice);
  for (const line of describeConfig(config)) log.info(line);

  const readyFd = process.env[READY_FD_ENV] ? Number(process.env[READY_FD_ENV]) : -1;
  if (!config.foreground && readyFd < 0) {
    startInBackground(argv, config, log);
    return;
  }
  void run(config, log, readyFd);
}
