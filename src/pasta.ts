/**
 * pasta: a network namespace connected through a tap device.
 *
 * Theory of operation: Node runs several threads before any JavaScript
 * starts, so this process can neither unshare nor enter a user namespace
 * (DESIGN.md). Instead:
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
 * 3. With `--config-net`, the namespace is configured over rtnetlink (link
 *    up, MTU, the host's addresses and default routes); the engine starts
 *    translating; then the child is let go to exec the command, so the
 *    command never sees an unconfigured namespace.
 * 4. When the command exits (its pidfd becomes readable), everything is
 *    torn down and pasta exits with the command's status.
 */
import fs from 'node:fs';
import path from 'node:path';
import { native, C, errnoName } from './native.js';
import { Netlink } from './netlink.js';
import { Engine } from './engine.js';
import { NsSocketPool } from './nspool.js';
import { FdKind } from './loop.js';
import type { Config } from './conf.js';
import type { Logger } from './log.js';
import { formatIP } from './inet.js';
import type { FlowEvent } from './flow.js';

export { readHostNet } from './hostnet.js';

/** Configure the namespace side: loopback always; with --config-net the tap's MTU, addresses, link and routes. */
export function configureNamespace(nl: Netlink, config: Config, tapIndex: number, log: Logger): void {
  const lo = nl.links().find((l) => l.name === 'lo');
  if (lo) nl.linkSetUp(lo.index, true);
  if (!config.configNet) return;
  nl.linkSetMtu(tapIndex, config.mtu);
  // Up first: IPv6 installs the prefix route of an address only on a link that is up.
  nl.linkSetUp(tapIndex, true);
  if (config.ip6) nl.addrAdd(tapIndex, 6, config.ip6.addr, config.ip6.prefixLen, { nodad: true });
  if (config.ip4) nl.addrAdd(tapIndex, 4, config.ip4.addr, config.ip4.prefixLen);
  // The gateway is on the link even when it lies outside the address's prefix.
  if (config.ip4?.gateway) {
    nl.routeAdd({ family: 4, dst: null, dstLen: 0, gateway: config.ip4.gateway, oif: tapIndex, onlink: true });
  }
  if (config.ip6?.gateway) {
    nl.routeAdd({ family: 6, dst: null, dstLen: 0, gateway: config.ip6.gateway, oif: tapIndex, onlink: true });
  }
  log.debug(
    `namespace configured: ${config.nsIfname} mtu ${config.mtu}` +
      (config.ip4 ? `, ${formatIP(config.ip4.addr)}/${config.ip4.prefixLen} via ${config.ip4.gateway ? formatIP(config.ip4.gateway) : '-'}` : '') +
      (config.ip6 ? `, ${formatIP(config.ip6.addr)}/${config.ip6.prefixLen} via ${config.ip6.gateway ? formatIP(config.ip6.gateway) : '-'}` : ''),
  );
}

export interface SpawnSpec {
  argv: string[];
  env: string[];
  cwd: string;
}

/** What is inside the namespace once it is set up: the helper, the tap, the engine. */
interface Inside {
  helper: { pid: number; ctlFd: number };
  /** Sockets in the namespace for the spliced path, made by the helper in batches. */
  pool: NsSocketPool;
  tapFd: number;
  engine: Engine;
}

/**
 * Enter the namespace through a helper, create and configure the tap, start
 * the engine. On failure everything made here is released and the error
 * (with context) is thrown.
 */
function setUpInside(usernsFd: number, netnsFd: number, config: Config, log: Logger, onFatal: () => void, onFlow?: (e: FlowEvent) => void, nsStartsEmpty = false): Inside {
  let helper: { pid: number; ctlFd: number } | undefined;
  let pool: NsSocketPool | undefined;
  let tapFd = -1;
  try {
    helper = native.nsHelper(usernsFd, netnsFd);
    const info = new Int32Array(2);
    tapFd = native.nsTap(helper.ctlFd, config.nsIfname, info);
    if (tapFd < 0) throw new Error(`cannot create tap device ${config.nsIfname} in the namespace: ${errnoName(tapFd)}`);
    const tapIndex = info[0];
    const nlFd = native.nsSocket(helper.ctlFd, C.AF_NETLINK, C.SOCK_RAW, C.NETLINK_ROUTE);
    if (nlFd < 0) throw new Error(`cannot open a netlink socket in the namespace: ${errnoName(nlFd)}`);
    try {
      configureNamespace(new Netlink(nlFd), config, tapIndex, log);
    } finally {
      native.close(nlFd);
    }
    const ctlFd = helper.ctlFd;
    // Sockets in the namespace come from the helper: the spliced loopback path uses them.
    pool = new NsSocketPool(ctlFd);
    const sockets = pool;
    const nsTcpSocket = (family: 4 | 6): number => sockets.take(family, C.SOCK_STREAM);
    const nsUdpSocket = (family: 4 | 6): number => sockets.take(family, C.SOCK_DGRAM);
    // What `auto` watches in the namespace: its socket tables, seen through the helper, which lives there.
    const helperPid = helper.pid;
    const readNsProcNet = (name: string): string | undefined => {
      try {
        return fs.readFileSync(`/proc/${helperPid}/net/${name}`, 'latin1');
      } catch {
        return undefined;
      }
    };
    const engine = new Engine({ config, tapFd, vnetHdrLen: info[1], log, onTapGone: (why) => log.error(`tap device gone: ${why}`), onFatal, onFlow, nsTcpSocket, nsUdpSocket, readNsProcNet, nsStartsEmpty,
      nsDiagSocket: () => native.nsSocket(ctlFd, C.AF_NETLINK, C.SOCK_RAW, 4 /* NETLINK_SOCK_DIAG */) });
    return { helper, pool, tapFd, engine };
  } catch (err) {
    if (tapFd >= 0) native.close(tapFd);
    pool?.close();
    if (helper) native.close(helper.ctlFd);
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
  private readonly ctlFd: number;
  private readonly pool: NsSocketPool;
  private readonly tapFd: number;
  private exitResolve!: (code: number) => void;
  /** Resolves with the command's exit status (128 + signal if killed). */
  readonly exited: Promise<number>;
  private done = false;

  constructor(
    readonly config: Config,
    private readonly log: Logger,
    spawn: SpawnSpec,
    hooks: { onFlow?: (e: FlowEvent) => void } = {},
  ) {
    this.exited = new Promise((resolve) => (this.exitResolve = resolve));
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const ns = native.nsCreate({ userns: uid !== 0, uid, gid, argv: spawn.argv, env: spawn.env, cwd: spawn.cwd });
    this.pid = ns.pid;
    this.pidfd = ns.pidfd;
    this.netnsFd = ns.netnsFd;
    this.usernsFd = ns.usernsFd;
    this.netnsPath = `/proc/${ns.pid}/ns/net`;
    let inside: Inside | undefined;
    try {
      // A namespace made just now, its command not yet started: nothing is bound in it.
      inside = setUpInside(ns.usernsFd, ns.netnsFd, config, log, () => this.fatal(), hooks.onFlow, true);
      inside.engine.loop.on(FdKind.Child, () => this.childEvent());
      const rc = inside.engine.loop.add(this.pidfd, FdKind.Child, 0, C.EPOLLIN);
      if (rc < 0) throw new Error(`cannot watch the command's pidfd: ${errnoName(rc)}`);
    } catch (err) {
      if (inside) {
        inside.engine.close();
        native.close(inside.tapFd);
        inside.pool.close();
        native.close(inside.helper.ctlFd);
      }
      native.kill(ns.pid, C.SIGKILL);
      native.close(ns.goFd);
      this.closeFds();
      throw err;
    }
    this.ctlFd = inside.helper.ctlFd;
    this.pool = inside.pool;
    this.tapFd = inside.tapFd;
    this.engine = inside.engine;
    // Everything is ready: let the command run.
    native.nsGo(ns.goFd);
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
    this.done = true;
    // Called from the loop, so the constructor has set the engine: release its sockets.
    this.engine?.close();
    native.close(this.tapFd);
    this.pool.close();
    native.close(this.ctlFd);
    this.closeFds();
    this.exitResolve(1);
  }

  /** Send a signal to the command. */
  kill(signal: number): void {
    if (!this.done) native.kill(this.pid, signal);
  }

  /** Stop translating and release everything; resolves `exited` if the command has not exited yet. */
  shutdown(status = 0): void {
    if (this.done) return;
    this.done = true;
    this.engine.close();
    native.close(this.tapFd);
    this.pool.close();
    native.close(this.ctlFd);
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
  private readonly ctlFd: number;
  private readonly pool: NsSocketPool;
  private readonly tapFd: number;
  private watcher: fs.FSWatcher | null = null;
  private poll: NodeJS.Timeout | null = null;
  private stopResolve!: (reason: string) => void;
  /** Resolves (with the reason) when the namespace went away or `stop()` was called. */
  readonly stopped: Promise<string>;
  private done = false;

  constructor(
    readonly config: Config,
    private readonly log: Logger,
  ) {
    this.stopped = new Promise((resolve) => (this.stopResolve = resolve));
    const pid = config.attachPid;
    const netnsPath = config.netns ?? `/proc/${pid}/ns/net`;
    const usernsPath = config.userns ?? (pid !== null && !config.netnsOnly ? `/proc/${pid}/ns/user` : null);
    const opened: number[] = [];
    const open = (path: string, what: string): number => {
      const fd = native.open(path, C.O_RDONLY);
      if (fd < 0) {
        for (const f of opened) native.close(f);
        throw new Error(`cannot open ${what} ${path}: ${errnoName(fd)}`);
      }
      opened.push(fd);
      return fd;
    };
    this.netnsFd = open(netnsPath, 'network namespace');
    this.usernsFd = usernsPath ? open(usernsPath, 'user namespace') : -1;
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
      inside = setUpInside(this.usernsFd, this.netnsFd, config, log, () => this.stop('internal error'));
    } catch (err) {
      this.closeFds();
      throw err;
    }
    this.ctlFd = inside.helper.ctlFd;
    this.pool = inside.pool;
    this.tapFd = inside.tapFd;
    this.engine = inside.engine;
    if (this.pidfd >= 0) {
      this.engine.loop.on(FdKind.Child, () => this.stop(`process ${pid} exited`));
      this.engine.loop.add(this.pidfd, FdKind.Child, 0, C.EPOLLIN);
    }
    if (config.netns && config.netnsQuit) this.watchNetnsFile(config.netns);
  }

  /** Quit once the namespace file is gone: inotify on its directory, and a check every second. */
  private watchNetnsFile(file: string): void {
    const gone = (): void => {
      if (!fs.existsSync(file)) this.stop(`${file} was deleted`);
    };
    try {
      this.watcher = fs.watch(path.dirname(file), (_event, name) => {
        if (!name || name === path.basename(file)) gone();
      });
      this.watcher.on('error', () => {});
      this.watcher.unref();
    } catch {
      // No inotify there: the periodic check is enough.
    }
    this.poll = setInterval(gone, 1000);
    this.poll.unref();
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
    this.engine.close();
    native.close(this.tapFd);
    this.pool.close();
    native.close(this.ctlFd);
    this.closeFds();
    this.stopResolve(reason);
  }
}
