/**
 * pasta: a network namespace connected through a tap device.
 *
 * Theory of operation: Node runs several threads before any JavaScript
 * starts, so this process can neither unshare nor enter a user namespace
 * (doc/design.md, "Namespaces and a multithreaded runtime"). Instead:
 *
 * 1. `nsCreate` forks a child that unshares a new network namespace — and,
 *    when we are not root, a new user namespace mapping our uid and gid to
 *    root — and then waits. That child later execs the command.
 * 2. `nsHelper` forks a single-threaded helper that joins those namespaces
 *    and stays there, creating the tap device and any socket we need inside
 *    (the rtnetlink socket that configures the namespace first of all), and
 *    hands the fds back over SCM_RIGHTS. Sockets keep the namespace they were
 *    created in, so this process uses them from the host's namespace, where
 *    its own host sockets live.
 * 3. The namespace is configured over rtnetlink (confignet.ts): loopback
 *    up and the tap's MAC address always; with `--config-net` also the MTU,
 *    the link, and the addresses and routes of the host's template
 *    interfaces (or local mode's); the engine starts translating; then the
 *    child is let go to exec the command, so the command never sees an
 *    unconfigured namespace.
 * 4. When the command exits (its pidfd becomes readable), everything is
 *    torn down and pasta exits with the command's status.
 */
import fs from 'node:fs';
import path from 'node:path';
import { native, holderExe, C, E, errnoName, TAP_STEP_OPEN, TAP_STEP_SETIFF } from './native.js';
import { M } from './messages.js';
import { NullTransport } from './l2/tapio.js';
import { Netlink } from './netlink.js';
import { Engine, type NamespaceAccess } from './engine.js';
import { NsSocketPool } from './nspool.js';
import { FdKind } from './loop.js';
import type { Config } from './conf.js';
import type { Logger } from './log.js';
import { planNamespace, runNamespacePlan, type TemplateDump } from './confignet.js';
import { ProcNetTables } from './sandbox/procnet.js';
import type { FlowEvent } from './flow.js';

export { readHostNet } from './hostnet.js';

/**
 * Configure the namespace over `nl` (a NETLINK_ROUTE socket in it), as
 * upstream pasta does: loopback up and the tap's MAC address (--ns-mac-addr)
 * always; with --config-net the tap's MTU, link state, addresses and routes,
 * copied from the template interfaces of the host or set from the
 * configuration (see confignet.ts). The host's addresses and routes are read
 * when some are copied, over `host` if given, else over a NETLINK_ROUTE
 * socket opened here — this process lives in the host's network namespace —
 * and closed again. Throws an Error saying what could not be set.
 */
export function configureNamespace(nl: Netlink, config: Config, tapIndex: number, log: Logger, host?: Netlink): void {
  const dumps: { 4?: TemplateDump; 6?: TemplateDump } = {};
  if (config.configNet) {
    const wanted = ([4, 6] as const).filter((family) => {
      const ip = family === 4 ? config.ip4 : config.ip6;
      return ip !== null && ip.hostIfindex > 0 && (ip.copyAddrs || ip.copyRoutes);
    });
    if (wanted.length) {
      const hostNl = host ?? Netlink.open();
      try {
        for (const family of wanted) {
          const ip = (family === 4 ? config.ip4 : config.ip6)!;
          dumps[family] = {
            addrs: ip.copyAddrs ? hostNl.addrMessages(family) : [],
            routes: ip.copyRoutes ? hostNl.routeMessages(family) : [],
          };
        }
      } catch (err) {
        throw new Error(`cannot read the host's addresses and routes: ${(err as Error).message}`);
      } finally {
        if (!host) hostNl.close();
      }
    }
  }
  runNamespacePlan(nl, planNamespace(config, tapIndex, dumps), log);
  if (config.configNet) {
    log.debug(
      `namespace configured: ${config.nsIfname}` +
        (config.mtu ? ` mtu ${config.mtu}` : '') +
        (config.ip4 ? `, IPv4 ${config.ip4.hostIfindex ? `from ${config.ip4.hostIfname || `index ${config.ip4.hostIfindex}`}` : 'local mode'}` : '') +
        (config.ip6 ? `, IPv6 ${config.ip6.hostIfindex ? `from ${config.ip6.hostIfname || `index ${config.ip6.hostIfindex}`}` : 'local mode'}` : ''),
    );
  }
}

export interface SpawnSpec {
  argv: string[];
  env: string[];
  cwd: string;
  /** The command's host name, in a UTS namespace of its own (upstream: -H, else "pasta-" and the host's). */
  hostname?: string;
}

/** nsCreate's error in upstream's words where it has them. */
function nsCreateError(err: Error & { errno?: number }): Error {
  const why = err.errno !== undefined ? native.strerror(err.errno) : err.message;
  if (err.message.startsWith('unshare(CLONE_NEWUSER)')) return new Error(M.usernsCreate(why));
  if (err.message.startsWith('unshare(CLONE_NEWNET)')) return new Error(M.cloneFailed(why));
  return err;
}

/**
 * Let the namespace helper go: close its control socket, on which it exits,
 * and reap it once it has. A process that serves many namespaces one after
 * another (the shared engine, a program with createPasta()) must not keep a
 * zombie for each it let go. Checked every 10 ms, off the event loop's
 * critical path; a helper still there after half a second is killed.
 */
export function releaseHelper(helper: { pid: number; ctlFd: number }): void {
  native.close(helper.ctlFd);
  let tries = 0;
  const check = (): void => {
    // waitid(2), no fd: what the sandbox's filter allows, and nothing for a leak check to find.
    if (native.reapChild(helper.pid) !== 0 || tries > 100) return;
    if (++tries === 50) native.kill(helper.pid, C.SIGKILL);
    setTimeout(check, 10).unref();
  };
  check();
}

/** What is inside the namespace once it is set up: the helper, the tap, the engine. */
interface Inside {
  helper: { pid: number; ctlFd: number };
  /** Sockets in the namespace for the spliced path, made by the helper in batches. */
  pool: NsSocketPool;
  /** The namespace's /proc/net tables, kept open: `auto` rereads them after the sandbox's lock-down too. */
  tables: ProcNetTables;
  tapFd: number;
  engine: Engine;
}

/** Stop the engine and release what is inside the namespace: the tap, the socket pool, the tables, the helper. */
function closeInside(inside: Inside): void {
  inside.engine.close();
  native.close(inside.tapFd);
  inside.pool.close();
  inside.tables.close();
  releaseHelper(inside.helper);
}

/**
 * Enter the namespace through a helper, create and configure the tap, start
 * the engine. On failure everything made here is released and the error
 * (with context) is thrown.
 */
function setUpInside(usernsFd: number, netnsFd: number, config: Config, log: Logger, onFatal: () => void, onFlow?: (e: FlowEvent) => void, nsStartsEmpty = false): Inside {
  let helper: { pid: number; ctlFd: number } | undefined;
  let pool: NsSocketPool | undefined;
  let tables: ProcNetTables | undefined;
  let tapFd = -1;
  try {
    helper = native.nsHelper(usernsFd, netnsFd, holderExe);
    const info = new Int32Array(3);
    if (config.socketFd !== null) {
      // -F: a tap device someone opened for us. As upstream, it is used as it is:
      // the namespace is not configured, and pasta quits when it goes.
      const rc = native.tapInfo(config.socketFd, info);
      if (rc < 0) throw new Error(`${M.invalidFd(String(config.socketFd))}: not a tap device (${native.strerror(rc)})`);
      tapFd = config.socketFd;
      native.setNonblock(tapFd, true);
    } else if (!config.spliceOnly) {
      tapFd = native.nsTap(helper.ctlFd, config.nsIfname, info);
      if (tapFd < 0) {
        const step = info[2];
        const why = native.strerror(tapFd);
        throw new Error(step === TAP_STEP_OPEN ? M.tunOpen(why) : step === TAP_STEP_SETIFF ? M.tunSetIff(why) : `${M.tapInNamespace()}: ${why}`);
      }
    }
    if (config.socketFd === null) {
      const nlFd = native.nsSocket(helper.ctlFd, C.AF_NETLINK, C.SOCK_RAW, C.NETLINK_ROUTE);
      if (nlFd < 0) throw new Error(`cannot open a netlink socket in the namespace: ${native.strerror(nlFd)}`);
      try {
        configureNamespace(new Netlink(nlFd), config, tapFd >= 0 ? info[0] : 0, log);
      } finally {
        native.close(nlFd);
      }
    }
    const ctlFd = helper.ctlFd;
    // Sockets in the namespace come from the helper: the spliced loopback path uses them.
    pool = new NsSocketPool(ctlFd);
    const sockets = pool;
    // What `auto` watches in the namespace: its socket tables, seen through the helper, which lives there.
    const nsTables = (tables = new ProcNetTables(`/proc/${helper.pid}/net`));
    const ns: NamespaceAccess = {
      tcpSocket: (family) => sockets.take(family, C.SOCK_STREAM),
      udpSocket: (family) => sockets.take(family, C.SOCK_DGRAM),
      readProcNet: (name) => nsTables.read(name),
      diagSocket: () => native.nsSocket(ctlFd, C.AF_NETLINK, C.SOCK_RAW, 4 /* NETLINK_SOCK_DIAG */),
      startsEmpty: nsStartsEmpty,
    };
    const engine = new Engine({
      config, tapFd: tapFd >= 0 ? tapFd : undefined, vnetHdrLen: info[1], log, onFatal, onFlow, ns,
      // -F: someone else's tap keeps the offloads it has.
      tapOffload: config.socketFd === null,
      // --splice-only: no tap device, no link.
      transport: tapFd < 0 ? () => new NullTransport() : undefined,
      onTapGone: (why) => {
        log.error(why === 'EOF' ? M.tapEof() : `${M.tapError()}: ${why}`);
        onFatal();
      },
    });
    return { helper, pool, tables: nsTables, tapFd, engine };
  } catch (err) {
    if (tapFd >= 0) native.close(tapFd);
    pool?.close();
    tables?.close();
    if (helper) releaseHelper(helper);
    throw err;
  }
}

/** A running pasta: the namespace, its command, the engine. */
export class PastaRun {
  readonly pid: number;
  readonly engine: Engine;
  /** Path of the namespace's network namespace file, as seen from this process. */
  readonly netnsPath: string;
  private readonly pidfd: number;
  private readonly netnsFd: number;
  private readonly usernsFd: number;
  private readonly inside: Inside;
  private exitResolve!: (code: number) => void;
  /** Resolves with the command's exit status (128 + signal if killed). */
  readonly exited: Promise<number>;
  private done = false;

  constructor(
    readonly config: Config,
    private readonly log: Logger,
    spawn: SpawnSpec,
    hooks: { onFlow?: (e: FlowEvent) => void; onNamespace?: () => void } = {},
  ) {
    this.exited = new Promise((resolve) => (this.exitResolve = resolve));
    // As upstream: a user namespace of its own (unless --netns-only), mapping root inside
    // to the user pasta runs as (--runas, or nobody when started as root).
    const uid = config.runAs?.uid ?? process.getuid?.() ?? 0;
    const gid = config.runAs?.gid ?? process.getgid?.() ?? 0;
    // --userns with a command: the command's network namespace is made in that user namespace.
    const joinFd = config.userns ? native.open(config.userns, C.O_RDONLY) : -1;
    if (joinFd < 0 && config.userns) throw new Error(M.usernsOpen(config.userns, native.strerror(joinFd)));
    let ns: ReturnType<typeof native.nsCreate>;
    try {
      ns = native.nsCreate({
        userns: !config.netnsOnly && !config.userns, uid, gid, argv: spawn.argv, env: spawn.env, cwd: spawn.cwd,
        runAs: config.runAs && config.runAs.uid !== (process.getuid?.() ?? 0) ? config.runAs : null,
        hostname: spawn.hostname,
        ...(joinFd >= 0 ? { usernsFd: joinFd } : {}),
        ...(spawn.argv.length === 0 && holderExe ? { holderExe } : {}),
      });
    } catch (err) {
      const e = err as Error & { errno?: number };
      throw e.message.startsWith('setns(CLONE_NEWUSER)') && config.userns
        ? new Error(M.usernsEnter(config.userns, native.strerror(e.errno ?? 1)))
        : nsCreateError(e);
    } finally {
      if (joinFd >= 0) native.close(joinFd);
    }
    this.pid = ns.pid;
    this.pidfd = ns.pidfd;
    this.netnsFd = ns.netnsFd;
    this.usernsFd = ns.usernsFd;
    this.netnsPath = `/proc/${ns.pid}/ns/net`;
    let inside: Inside | undefined;
    try {
      // A namespace made just now, its command not yet started: nothing is bound in it.
      hooks.onNamespace?.();
      inside = setUpInside(ns.usernsFd, ns.netnsFd, config, log, () => this.fatal(), hooks.onFlow, true);
      inside.engine.loop.on(FdKind.Child, () => this.childEvent());
      const rc = inside.engine.loop.add(this.pidfd, FdKind.Child, 0, C.EPOLLIN);
      if (rc < 0) throw new Error(`cannot watch the command's pidfd: ${errnoName(rc)}`);
    } catch (err) {
      if (inside) closeInside(inside);
      native.kill(ns.pid, C.SIGKILL);
      native.close(ns.goFd);
      this.closeFds();
      throw err;
    }
    this.inside = inside;
    this.engine = inside.engine;
    // Everything is ready: let the command run.
    native.nsGo(ns.goFd);
  }

  /** Control socket of the namespace helper (for the sandbox to lock it once set up). */
  get ctlFd(): number {
    return this.inside.helper.ctlFd;
  }

  private closeFds(): void {
    for (const fd of [this.pidfd, this.netnsFd, this.usernsFd]) if (fd >= 0) native.close(fd);
  }

  private childEvent(): void {
    const status = native.waitPidfd(this.pidfd);
    if (status === -1) return;
    this.log.debug(`command exited with status ${status}`);
    this.shutdown(status < 0 ? 1 : status);
  }

  /** The engine stopped on an internal error: end the command too, exit status 1. */
  private fatal(): void {
    if (this.done) return;
    native.kill(this.pid, C.SIGKILL);
    // Called from the loop, so the constructor has finished: release everything.
    this.shutdown(1);
  }

  /** Send a signal to the command. */
  kill(signal: number): void {
    if (!this.done) native.kill(this.pid, signal);
  }

  /** Stop translating and release everything; resolves `exited` if the command has not exited yet. */
  shutdown(status = 0): void {
    if (this.done) return;
    this.done = true;
    closeInside(this.inside);
    this.closeFds();
    this.exitResolve(status);
  }
}

/**
 * pasta attached to an existing network namespace (`--netns PATH`, or a
 * PID): the namespace belongs to someone else (Podman, a container runtime,
 * a user's `unshare`), so pasta creates no command; it translates until the
 * namespace goes away — the `--netns` file is deleted (unless
 * `--no-netns-quit`), or the PID exits — or until it is told to stop.
 */
export class PastaAttach {
  readonly engine: Engine;
  private readonly netnsFd: number;
  private readonly usernsFd: number;
  private readonly pidfd: number;
  private readonly inside: Inside;
  private watcher: fs.FSWatcher | null = null;
  /** The --netns file's directory, open: the sandbox leaves no path to look it up by. */
  private netnsDirFd = -1;
  private poll: NodeJS.Timeout | null = null;
  private stopResolve!: (reason: string) => void;
  /** Resolves (with the reason) when the namespace went away or `stop()` was called. */
  readonly stopped: Promise<string>;
  private done = false;

  constructor(
    readonly config: Config,
    private readonly log: Logger,
    /** Called once the namespace is open, before the tap is made (upstream prints its configuration there). */
    onNamespace?: () => void,
  ) {
    this.stopped = new Promise((resolve) => (this.stopResolve = resolve));
    const pid = config.attachPid;
    const netnsPath = config.netns ?? `/proc/${pid}/ns/net`;
    const usernsPath = config.userns ?? (pid !== null && !config.netnsOnly ? `/proc/${pid}/ns/user` : null);
    const opened: number[] = [];
    const open = (path: string, message: (path: string, why: string) => string): number => {
      const fd = native.open(path, C.O_RDONLY);
      if (fd < 0) {
        for (const f of opened) native.close(f);
        throw new Error(message(path, native.strerror(fd)));
      }
      opened.push(fd);
      return fd;
    };
    this.usernsFd = usernsPath ? open(usernsPath, M.usernsOpen) : -1;
    this.netnsFd = open(netnsPath, M.netnsOpen);
    this.pidfd = -1;
    if (pid !== null) {
      const fd = native.pidfdOpen(pid);
      if (fd < 0) {
        for (const f of opened) native.close(f);
        throw new Error(`cannot watch process ${pid}: ${errnoName(fd)}`);
      }
      this.pidfd = fd;
    }
    let inside: Inside;
    try {
      onNamespace?.();
      inside = setUpInside(this.usernsFd, this.netnsFd, config, log, () => this.stop('internal error'));
    } catch (err) {
      this.closeFds();
      throw err;
    }
    this.inside = inside;
    this.engine = inside.engine;
    // Quit with the process, unless --no-netns-quit (upstream: its procfs entry went away).
    if (this.pidfd >= 0 && config.netnsQuit) {
      this.engine.loop.on(FdKind.Child, () => this.stop(`process ${pid} exited`));
      this.engine.loop.add(this.pidfd, FdKind.Child, 0, C.EPOLLIN);
    }
    if (config.netns && config.netnsQuit) this.watchNetnsFile(config.netns);
  }

  /**
   * Quit once the namespace file is gone: inotify on its directory, and a
   * check every second. Both look at the directory through an fd opened
   * now (its entries, read with getdents64), as they must once sandboxed;
   * a directory of a process in /proc reads as gone once the process is.
   */
  private watchNetnsFile(file: string): void {
    const base = path.basename(file);
    this.netnsDirFd = native.open(path.dirname(file), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const gone = (): void => {
      const there = this.netnsDirFd >= 0 ? native.dirHasEntry(this.netnsDirFd, base) : 1;
      if (there === 0 || there === -E.ENOENT) this.stop(`${file} was deleted`);
    };
    try {
      this.watcher = fs.watch(path.dirname(file), (_event, name) => {
        if (!name || name === base) gone();
      });
      this.watcher.on('error', () => {});
      this.watcher.unref();
    } catch {
      // No inotify there: the periodic check is enough.
    }
    this.poll = setInterval(gone, 1000);
    this.poll.unref();
  }

  /** Control socket of the namespace helper (for the sandbox to lock it once set up). */
  get ctlFd(): number {
    return this.inside.helper.ctlFd;
  }

  private closeFds(): void {
    for (const fd of [this.netnsFd, this.usernsFd, this.pidfd]) if (fd >= 0) native.close(fd);
  }

  /** Stop translating and release everything. */
  stop(reason = 'stopped'): void {
    if (this.done) return;
    this.done = true;
    this.log.debug(`quitting: ${reason}`);
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
    if (this.netnsDirFd >= 0) native.close(this.netnsDirFd);
    this.netnsDirFd = -1;
    closeInside(this.inside);
    this.closeFds();
    this.stopResolve(reason);
  }
}
