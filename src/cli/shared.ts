/**
 * The shared engine (`pasta --shared-engine`, opt-in): one background Node
 * process per user (per user and mount namespace, exactly) that serves
 * every attaching pasta of that user, so that a container costs a
 * namespace's state in one process instead of a process of its own.
 *
 * Theory of operation (doc/design.md, "The shared engine"): the launcher
 * (native/launch.cc, native/shared-client.cc) is pasta's first process. It
 * takes the lock file beside the engine's socket
 * ($XDG_RUNTIME_DIR/node-passt/engine-USERNS-MNTNS-BUILD.sock), connects —
 * starting this engine first if nothing listens — lets the lock go and
 * sends one request: the protocol's name, its working directory and its
 * arguments, NUL-separated, with its standard error passed along
 * (SCM_RIGHTS). Here each request is what a background copy of pasta does
 * (src/cli/pasta.ts), in this process: parse the options, read the host,
 * build the configuration, attach to the namespace (src/pasta.ts) with an
 * engine of its own — its own configuration, flow table, forwarders and
 * sockets, so that nothing of one namespace's traffic can reach another's
 * flows — and answer in one message:
 *
 * - `ok FOREGROUND PIDFILE LOGFILE`: the namespace is ready. The launcher
 *   stays (with -f) or leaves a small process of its own behind, which
 *   holds the connection, is what the PID file names, and ends that
 *   namespace's service when it is killed; the launcher's first process
 *   exits 0 as pasta's does.
 * - `error MESSAGE`: printed by the launcher, exit 1, as pasta(1).
 * - `fallback`: not something the engine does (a command of pasta's own,
 *   -F, --runas, root in the initial user namespace): the launcher runs
 *   pasta by itself as without --shared-engine.
 *
 * Later, on the same connection, `quit STATUS REASON` when the namespace
 * went away (status 0) or its engine failed (1); the launcher's process
 * exits with that status. The connection closing from the launcher's side
 * (it was killed) ends the namespace's service here. This process exits,
 * once it serves nothing, after NODE_PASTA_ENGINE_IDLE_MS milliseconds
 * (default 30 s: a CI starting containers one after another keeps it),
 * holding the lock, so that a client that connected just before is served
 * and one that comes after starts a new engine.
 *
 * Only the user the engine runs as may use it: the socket's directory is
 * 0700, the socket 0600, and each connection's peer credentials
 * (SO_PEERCRED) must name our own uid.
 *
 * What it trades (README, "Shared engine", and pasta(1)): no sandbox of
 * its own (src/sandbox/): it must open each new namespace's files and
 * start namespace helpers long after it started, as the in-process API
 * does — each namespace's helper is locked as always — and all the
 * namespaces it serves share one process's fate: a crash or a kill ends
 * the networking of all of them, where pasta(1) runs one sandboxed process
 * per container.
 */
import fs from 'node:fs';
import path from 'node:path';
import { native, C, E } from '../native.js';
import { M } from '../messages.js';
import { parseArgs, type ParsedArgs } from '../options.js';
import { buildConfig, type Config } from '../conf.js';
import { readHostNet } from '../hostnet.js';
import { readEphemeralPorts, readHostEnv, readResolvConf } from '../hostfiles.js';
import { closeLogger, type Logger } from '../log.js';
import { startLogging } from './logging.js';
import { PastaAttach } from '../pasta.js';
import { lockHelper } from '../sandbox/index.js';
import { attaches, errorText } from './args.js';
import { isRootOfInitialUserns } from './background.cjs';
import { PROTOCOL, fields, message } from './engine-protocol.js';

/** Where the launcher tells a new engine its socket, and the fd of the pipe it reports "ok" on. */
export const SOCKET_ENV = 'NODE_PASTA_ENGINE_SOCKET';
export const READY_ENV = 'NODE_PASTA_ENGINE_READY_FD';
/** How long an engine serving nothing waits before it exits (milliseconds). */
export const IDLE_ENV = 'NODE_PASTA_ENGINE_IDLE_MS';
export const DEFAULT_IDLE_MS = 30_000;

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
/** Largest request taken: the arguments of any sensible command line. */
const MAX_REQUEST = 256 * 1024;
const TAG_LISTEN = 0xffffffff;

/** One connected launcher: before its request, or the namespace it asked for. */
interface Client {
  /** Its tag in the poller (fd numbers are reused; these are not). */
  id: number;
  fd: number;
  /** The launcher's PID, as its connection's credentials say. */
  pid: number;
  run: PastaAttach | null;
  /** Its standard error, while -f keeps logging there. */
  console: number;
  log: Logger | null;
}

/**
 * What a request asks for, decided: the reply, and the namespace's service
 * when it is one. Throws nothing: a failure is an `error` reply.
 */
function serveRequest(request: string[], consoleFd: number, asRoot: boolean): { reply: Buffer; run?: PastaAttach; log?: Logger; keepConsole?: boolean } {
  if (request[0] !== PROTOCOL) return { reply: message('error', `pasta: the shared engine does not speak "${request[0]}" (it speaks "${PROTOCOL}")`) };
  const [, cwd, ...argv] = request;
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs(argv, 'pasta');
  } catch (err) {
    return { reply: message('error', errorText(err)) };
  }
  const names = new Set(parsed.options.map(([n]) => n));
  if (!attaches(parsed) || names.has('help') || names.has('version') || asRoot) return { reply: message('fallback') };
  // Relative paths (--netns, --log-file, --pcap) are the caller's: everything below runs
  // synchronously in its working directory, and this process goes back to / after.
  try {
    process.chdir(cwd);
  } catch {
    // Absolute paths still work; a relative one fails as it would in a directory we cannot enter.
  }
  let config: Config;
  let log: Logger | undefined;
  try {
    try {
      config = buildConfig(parsed, readHostNet(), 'pasta', readResolvConf(), readEphemeralPorts(), readHostEnv());
    } catch (err) {
      return { reply: message('error', errorText(err)) };
    }
    // -F hands pasta an fd of the caller's; --runas asks for a process of that user. (The switch to
    // nobody that root gets by itself is for a root that could open anything: root of the
    // initial user namespace, sent back above; root of another one is served as it is.)
    if (config.socketFd !== null || names.has('runas')) return { reply: message('fallback') };
    // As a background copy (cli/logging.ts): the notices, warnings and the summary go to the
    // caller's standard error, the rest to --log-file or nowhere (our fd 2 is /dev/null); with
    // -f everything goes to the caller's standard error, as long as the namespace is served.
    // Served as it is: no switch to nobody, so no warning that there will be one.
    const fg = config.foreground;
    const caller = consoleFd >= 0 ? consoleFd : 2;
    const started = startLogging(config, {
      logFd: fg ? caller : 2,
      consoleFd: caller,
      warnings: config.warnings.filter((w) => w !== M.startedAsRoot()),
    });
    log = started.log;
    const run = new PastaAttach(config, log, started.summary);
    // The helper inside the namespace is locked as pasta's is (its own empty root, no
    // capabilities, a filter that only makes sockets), before the namespace is said ready.
    try {
      lockHelper(run.ctlFd);
    } catch (err) {
      run.stop('sandbox');
      throw err;
    }
    // The launcher's process that stays writes there from / if the engine goes: an absolute path.
    const logFile = config.logFile ? path.resolve(cwd, config.logFile) : '';
    return { reply: message('ok', fg ? '1' : '0', config.pidFile ?? '', logFile), run, log, keepConsole: fg };
  } catch (err) {
    if (log) closeLogger(log);
    return { reply: message('error', errorText(err)) };
  } finally {
    process.chdir('/');
  }
}

/** The engine's process: listen, serve, exit once idle. Returns at once; the process ends by exiting. */
export function serve(socketPath: string, readyFd: number): void {
  const idleMs = Number(process.env[IDLE_ENV] ?? DEFAULT_IDLE_MS);
  const traceRequests = !!process.env.NODE_PASTA_ENGINE_LOG;
  const asRoot = isRootOfInitialUserns();
  const report = (line: string): void => {
    if (readyFd < 0) return;
    try {
      fs.writeSync(readyFd, `${line}\n`);
      fs.closeSync(readyFd);
    } catch {
      // The launcher is gone.
    }
    readyFd = -1;
  };
  process.title = 'pasta: shared engine';
  process.chdir('/');
  // As pasta at start: as many fds as we may have, for many namespaces' sockets.
  try {
    native.raiseNofile();
  } catch {
    // Kept as it is.
  }
  const lockPath = socketPath.replace(/\.sock$/, '') + '.lock';
  let lockFd = -1;
  try {
    lockFd = fs.openSync(lockPath, 'a', 0o600);
  } catch (err) {
    report(`error pasta: cannot open ${lockPath}: ${(err as Error).message}`);
    process.exit(1);
  }
  // The launcher that started us holds the lock: what is at the path is a dead engine's.
  try {
    fs.unlinkSync(socketPath);
  } catch {
    // Nothing there.
  }
  const listenFd = native.unixListen(socketPath, 128);
  if (listenFd < 0) {
    report(`error pasta: cannot listen on ${socketPath}: ${native.strerror(listenFd)}`);
    process.exit(1);
  }
  const uid = process.geteuid?.() ?? process.getuid?.() ?? 0;
  const clients = new Map<number, Client>();
  const cred = new Int32Array(3);
  const recvBuf = Buffer.allocUnsafe(MAX_REQUEST);
  const recvFds = new Int32Array(9);
  let idleTimer: NodeJS.Timeout | null = null;
  let nextId = 1;
  let listening = false;

  const poller = new native.Poller((events, count) => {
    for (let i = 0; i < count; i++) {
      const tag = events[2 * i];
      const ev = events[2 * i + 1];
      if (tag === TAG_LISTEN) acceptAll();
      else onClient(tag, ev);
    }
  }, 64);

  function send(fd: number, reply: Buffer): void {
    native.vuSend(fd, reply, 0, reply.length, new Int32Array(0), 0);
  }

  function acceptAll(): void {
    for (;;) {
      const fd = native.unixAccept(listenFd, cred);
      if (fd === -E.EAGAIN) return;
      if (fd < 0) {
        // Out of fds, say: the connection waits in the queue; look again in a while rather
        // than spin on a listening socket that stays readable.
        if (listening) {
          poller.del(listenFd);
          listening = false;
          setTimeout(() => {
            listening = poller.add(listenFd, C.EPOLLIN, TAG_LISTEN) === 0;
          }, 100);
        }
        return;
      }
      if (cred[1] !== uid) {
        // Not our user: no answer at all (the directory's 0700 should have kept them out).
        native.close(fd);
        continue;
      }
      const id = nextId++;
      clients.set(id, { id, fd, pid: cred[0], run: null, console: -1, log: null });
      poller.add(fd, C.EPOLLIN, id);
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = null;
    }
  }

  function onClient(id: number, ev: number): void {
    const client = clients.get(id);
    if (!client) return;
    const fd = client.fd;
    const n = native.vuRecv(fd, recvBuf, 0, recvBuf.length, recvFds);
    if (n === -E.EAGAIN && !(ev & (C.EPOLLHUP | C.EPOLLERR))) return;
    const passed = Array.from(recvFds.subarray(1, 1 + recvFds[0]));
    if (n <= 0 || client.run) {
      // The launcher's process is gone (killed, or exited), or spoke out of turn: that namespace's service ends.
      for (const f of passed) native.close(f);
      end(client, null);
      return;
    }
    const [consoleFd = -1, ...extra] = passed;
    for (const f of extra) native.close(f);
    const { reply, run, log, keepConsole } = serveRequest(fields(recvBuf.subarray(0, n)), consoleFd, asRoot);
    // With NODE_PASTA_ENGINE_LOG (the launcher put our standard error there): each request and its answer.
    if (traceRequests) fs.writeSync(2, `${new Date().toISOString()} [${client.pid}] ${fields(recvBuf.subarray(0, n)).slice(1).join(' ')} -> ${fields(reply).join(' ')}\n`);
    if (consoleFd >= 0 && !keepConsole) native.close(consoleFd);
    if (!run) {
      send(fd, reply);
      end(client, null);
      return;
    }
    client.run = run;
    client.log = log ?? null;
    collectSoon();
    client.console = keepConsole ? consoleFd : -1;
    void run.stopped.then((reason) => end(client, reason === 'internal error' ? 1 : 0, reason));
    send(fd, reply);
  }

  /**
   * A request leaves garbage behind (the host's tables read, the configuration built), which V8
   * would rather keep growing the heap for than collect, namespace after namespace: collect it
   * (the launcher starts us with --expose-gc) right after the answer is out — the caller is on
   * its way then, and the next pasta of a sequence comes far later — unless another request
   * waits (a connection queued, or one accepted and not yet answered): then after the burst.
   */
  let collectTimer: NodeJS.Timeout | null = null;
  function collectSoon(delayMs = 0): void {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc || collectTimer) return;
    collectTimer = setTimeout(() => {
      collectTimer = null;
      const waiting = native.pollFd(listenFd, C.EPOLLIN, 0) > 0 || [...clients.values()].some((c) => !c.run);
      if (waiting) collectSoon(200);
      else gc();
    }, delayMs);
    collectTimer.unref();
  }

  /** Stop serving a client: tell it why (unless it is gone), release what it had. */
  function end(client: Client, status: number | null, reason = ''): void {
    if (!clients.delete(client.id)) return;
    if (status !== null) send(client.fd, message('quit', String(status), reason));
    poller.del(client.fd);
    native.close(client.fd);
    client.run?.stop('the pasta process went away');
    if (client.log) closeLogger(client.log);
    if (client.console >= 0) native.close(client.console);
    if (clients.size === 0) idleTimer = setTimeout(idleExit, idleMs);
  }

  /** Exit, serving nothing, unless a launcher holds the lock or connected while we did not look. */
  function idleExit(): void {
    idleTimer = null;
    if (clients.size > 0) return;
    if (native.flock(lockFd, LOCK_EX | LOCK_NB) < 0) {
      idleTimer = setTimeout(idleExit, 20);
      return;
    }
    acceptAll();
    if (clients.size > 0) {
      native.flock(lockFd, LOCK_UN);
      return;
    }
    try {
      fs.unlinkSync(socketPath);
    } catch {
      // Someone removed it: nothing to find us by anyway.
    }
    process.exit(0);
  }

  // A bug of ours: every pasta served is told why its namespace loses its network, as it does.
  process.on('uncaughtException', (err) => {
    const why = `the shared engine failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`;
    for (const client of [...clients.values()]) {
      if (client.run) end(client, 1, why);
      else send(client.fd, message('error', `pasta: ${why}`));
    }
    process.exit(1);
  });
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'] as const) {
    process.on(sig, () => {
      for (const client of [...clients.values()]) end(client, 1, `the shared engine was stopped (${sig})`);
      try {
        fs.unlinkSync(socketPath);
      } catch {
        // Gone already.
      }
      process.exit(0);
    });
  }
  listening = poller.add(listenFd, C.EPOLLIN, TAG_LISTEN) === 0;
  idleTimer = setTimeout(idleExit, idleMs);
  report('ok');
}
