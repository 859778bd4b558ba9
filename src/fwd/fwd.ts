/**
 * Inbound port forwarding: host ports (-t) opened into the guest.
 *
 * Theory of operation: for every port a -t spec forwards, a listening socket
 * is bound on the host (to the spec's address, or to every address: `::`
 * dual-stack when the host has IPv6, else 0.0.0.0). When one is readable,
 * every pending connection is accepted and handed to the TCP translation,
 * which opens it towards the guest with a SYN, from the peer's own address
 * and port — so servers in the guest see real client addresses. Sources the
 * guest could not route back to (the host's loopback, or the host's own
 * address, which is the guest's address too) are shown to the guest as the
 * default gateway address, as pasta(1) does ("Handling of traffic with local
 * destination and source addresses").
 *
 * An explicit port that cannot be bound is an error naming the port; ports
 * of "all" and exclusion-only specs are best effort and skipped quietly.
 */
import { native, C, E, errnoName } from '../native.js';
import { FdKind, type Loop } from '../loop.js';
import type { Logger } from '../log.js';
import type { TcpHandler } from '../tcp/tcp.js';
import type { Config } from '../conf.js';
import { listeningPorts, type PortForwardSpec } from './spec.js';
import { isLoopback, formatIP } from '../inet.js';
import { LOOPBACK4, LOOPBACK6, natFromHost, spliceDestination } from './nat.js';
import { M, listenWhere, type PifName } from '../messages.js';

/**
 * The listening sockets of every forwarder of one engine, registered with the
 * loop under one fd kind: an index per socket, and the callback for it.
 */
export class ListenTable {
  private readonly slots: Array<(() => void) | undefined> = [];
  private readonly holds: Array<string | undefined> = [];
  private readonly free: number[] = [];
  /** How many listeners pasta holds per "side/protocol/port". */
  private readonly held = new Map<string, number>();

  constructor(readonly loop: Loop) {
    loop.on(FdKind.TcpListen, (index) => this.slots[index]?.());
  }

  /**
   * Watch `fd` for incoming connections or datagrams; returns its index or
   * -errno. `hold` says which port it holds on which side, so that `auto`
   * never forwards pasta's own listeners back (see {@link holds}).
   */
  add(fd: number, onReady: () => void, hold?: PortHold): number {
    const index = this.free.length ? this.free.pop()! : this.slots.length;
    const rc = this.loop.add(fd, FdKind.TcpListen, index, C.EPOLLIN);
    if (rc < 0) {
      this.free.push(index);
      return rc;
    }
    this.slots[index] = onReady;
    if (hold) {
      const key = `${hold.side}/${hold.proto}/${hold.port}`;
      this.holds[index] = key;
      this.held.set(key, (this.held.get(key) ?? 0) + 1);
    }
    return index;
  }

  /** Stop watching `fd` (registered at `index`). */
  remove(fd: number, index: number): void {
    this.loop.del(fd);
    this.slots[index] = undefined;
    const key = this.holds[index];
    if (key !== undefined) {
      const n = (this.held.get(key) ?? 1) - 1;
      if (n > 0) this.held.set(key, n);
      else this.held.delete(key);
      this.holds[index] = undefined;
    }
    this.free.push(index);
  }

  /** Whether one of pasta's own listeners holds `port` of `proto` on `side`. */
  isHeld(side: 'host' | 'ns', proto: 'tcp' | 'udp', port: number): boolean {
    return this.held.has(`${side}/${proto}/${port}`);
  }
}

/** What a listener holds: a port of a protocol, on the host or in the namespace. */
export interface PortHold {
  side: 'host' | 'ns';
  proto: 'tcp' | 'udp';
  port: number;
}

/** What every listening socket of a forwarder has. */
export interface ListenerBase {
  fd: number;
  /** Its index in the ListenTable (-1 before it is watched). */
  index: number;
  port: number;
}

/**
 * The listening sockets of one forwarder, by port, each watched through the
 * engine's ListenTable, which learns what port they hold on which side.
 */
export class ListenerSet<L extends ListenerBase> {
  private readonly byPort = new Map<number, L[]>();

  constructor(
    private readonly table: ListenTable,
    private readonly side: 'host' | 'ns',
    private readonly proto: 'tcp' | 'udp',
  ) {}

  /** Watch the bound socket of `l`; `onReady(l)` when it is readable. 0, or -errno (the socket is then closed). */
  add(l: L, onReady: (l: L) => void): number {
    l.index = this.table.add(l.fd, () => onReady(l), { side: this.side, proto: this.proto, port: l.port });
    if (l.index < 0) {
      native.close(l.fd);
      return l.index;
    }
    const list = this.byPort.get(l.port);
    if (list) list.push(l);
    else this.byPort.set(l.port, [l]);
    return 0;
  }

  /** Stop watching and close every socket on `port`. */
  remove(port: number): void {
    for (const l of this.byPort.get(port) ?? []) {
      this.table.remove(l.fd, l.index);
      native.close(l.fd);
    }
    this.byPort.delete(port);
  }

  has(port: number): boolean {
    return this.byPort.has(port);
  }

  /** The ports with a socket, in the order they were first listened on. */
  get ports(): number[] {
    return [...this.byPort.keys()];
  }

  /** Number of sockets. */
  get size(): number {
    let n = 0;
    for (const list of this.byPort.values()) n += list.length;
    return n;
  }

  clear(): void {
    for (const port of [...this.byPort.keys()]) this.remove(port);
  }
}

/**
 * Sockets bound to `port` on the namespace's 127.0.0.1 and ::1, made by
 * `socket` (pasta's helper) with SO_REUSEADDR, each finished by `prepare`
 * (listen(2) for TCP). A namespace without IPv6 loopback is not an error.
 * Returns the sockets, or -errno (nothing left open) when IPv4 fails.
 */
export function nsLoopbackSockets(port: number, socket: (family: 4 | 6) => number, prepare?: (fd: number) => number): Array<{ fd: number; family: 4 | 6 }> | number {
  const made: Array<{ fd: number; family: 4 | 6 }> = [];
  for (const family of [4, 6] as const) {
    const fd = socket(family);
    if (fd < 0) {
      if (family === 6) continue;
      return fd;
    }
    native.setsockoptInt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, 1);
    if (family === 6) native.setsockoptInt(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, 1);
    let rc = native.bind(fd, family === 4 ? LOOPBACK4 : LOOPBACK6, port, 0);
    if (rc === 0 && prepare) rc = prepare(fd);
    if (rc < 0) {
      native.close(fd);
      if (family === 6) continue; // no IPv6 loopback in the namespace
      return rc;
    }
    made.push({ fd, family });
  }
  return made;
}

/** Register the listeners of `port` with `set`: 0, or -errno with every one of them closed. */
export function addAll<L extends ListenerBase>(set: ListenerSet<L>, port: number, listeners: L[], onReady: (l: L) => void): number {
  for (let i = 0; i < listeners.length; i++) {
    const rc = set.add(listeners[i], onReady);
    if (rc < 0) {
      set.remove(port);
      for (const rest of listeners.slice(i + 1)) native.close(rest.fd);
      return rc;
    }
  }
  return 0;
}

/**
 * The error for an explicit port that cannot be bound, in upstream's words
 * (fwd.c): "Listen failed for HOST TCP port", the address ('*' for every
 * address) and port, ": Address already in use"; then "Couldn't listen on
 * requested ports".
 */
export function listenError(pif: PifName, proto: 'TCP' | 'UDP', rule: { addr: Uint8Array | null; ifname: string | null } | null, port: number, rc: number): Error {
  const where = pif === 'SPLICE' ? listenWhere(null, 'lo') : listenWhere(rule?.addr ? formatIP(rule.addr) : null, rule?.ifname ?? null);
  return new Error(`${M.listenFailed(pif, proto, where, port, native.strerror(rc))}\n${M.couldNotListen()}`);
}

/** IP_FREEBIND / IPV6_FREEBIND (--freebind): bind an address the host does not have (yet). */
export function setFreebind(fd: number, v6: boolean): void {
  native.setsockoptInt(fd, v6 ? C.IPPROTO_IPV6 : C.IPPROTO_IP, v6 ? IPV6_FREEBIND : IP_FREEBIND, 1);
}

const IP_FREEBIND = 15;
const IPV6_FREEBIND = 78;

/**
 * What every forwarder does with its listening sockets: stop listening on
 * a port (`auto`, the API), say whether it listens on one, list them, close.
 */
export abstract class PortForwarder<L extends ListenerBase> {
  protected readonly listeners: ListenerSet<L>;

  constructor(table: ListenTable, side: 'host' | 'ns', proto: 'tcp' | 'udp') {
    this.listeners = new ListenerSet(table, side, proto);
  }

  /** Stop listening on `port` (connections and flows already open go on). */
  unlisten(port: number): void {
    this.listeners.remove(port);
  }

  has(port: number): boolean {
    return this.listeners.has(port);
  }

  /** Ports listened on, for `auto`, tests and statistics. */
  get ports(): number[] {
    return this.listeners.ports;
  }

  /** Stop listening on every port. */
  close(): void {
    this.listeners.clear();
  }
}

interface Listener extends ListenerBase {
  /** Address the socket is bound to (null: every address). */
  addr: Uint8Array | null;
  /** Where connections to `port` go on the other side. */
  target: number;
  /** The rule's target address, or null for the guest's own. */
  targetAddr: Uint8Array | null;
}

/**
 * Splices a connection from the host's loopback to `dest` port `port` in
 * the namespace (pasta); false if it could not.
 */
export type SpliceTo = (fd: number, family: 4 | 6, port: number, dest: Uint8Array) => boolean;

/** Host-to-guest TCP forwarding for one -t spec. */
export class TcpForwarder extends PortForwarder<Listener> {
  private readonly addrOut = new Uint8Array(16);
  private readonly info = new Int32Array(3);
  private readonly localOut = new Uint8Array(16);
  private readonly localInfo = new Int32Array(3);
  accepted = 0;
  refused = 0;
  spliced = 0;

  constructor(
    table: ListenTable,
    private readonly log: Logger,
    private readonly config: Config,
    private readonly tcp: TcpHandler,
    private readonly spec: PortForwardSpec,
    private readonly now: () => number,
    /** Splices a loopback connection into the namespace (pasta, unless --no-splice). */
    private readonly spliceTo?: SpliceTo,
  ) {
    super(table, 'host', 'tcp');
  }

  /** Bind and listen on every port of the static rules. Throws, in upstream's words, for an explicit one that cannot be bound. */
  start(): void {
    for (const { rule, port, target } of listeningPorts(this.spec)) {
      const rc = this.listen(port, target, rule.addr, rule.ifname, rule.targetAddr);
      if (rc < 0) {
        // As upstream: a warning for a best-effort port, the end for an explicit one.
        if (rule.weak) this.log.warn(listenError('HOST', 'TCP', rule, port, rc).message.split('\n')[0]);
        else {
          this.close();
          throw listenError('HOST', 'TCP', rule, port, rc);
        }
      }
    }
    this.log.debug(`TCP forwarding: listening on ${this.listeners.size} socket(s)`);
  }

  /**
   * Listen on `port` (on `addr`, else every address; on interface `ifname`
   * only, if given), forwarded to `target` (at `targetAddr`, else the
   * guest's address). 0 or -errno.
   */
  listen(port: number, target: number, addr: Uint8Array | null = null, ifname: string | null = null, targetAddr: Uint8Array | null = null): number {
    const v6 = addr ? addr.length === 16 : this.config.ipv6;
    const fd = native.socket(v6 ? C.AF_INET6 : C.AF_INET, C.SOCK_STREAM | C.SOCK_NONBLOCK, 0);
    if (fd < 0) return fd;
    native.setsockoptInt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, 1);
    if (v6) native.setsockoptInt(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, addr ? 1 : 0);
    if (this.config.freebind) setFreebind(fd, v6);
    const bindAddr = addr ?? (v6 ? new Uint8Array(16) : new Uint8Array(4));
    let rc = ifname ? bindToDevice(fd, ifname) : 0;
    if (rc === 0) rc = native.bind(fd, bindAddr, port, 0);
    if (rc === 0) rc = native.listen(fd, 128);
    if (rc < 0) {
      native.close(fd);
      return rc;
    }
    return this.listeners.add({ index: -1, fd, addr, port, target, targetAddr }, (l) => this.acceptAll(l));
  }


  private acceptAll(l: Listener): void {
    for (let k = 0; k < 64; k++) {
      const fd = native.accept(l.fd, this.addrOut, this.info);
      if (fd < 0) {
        if (fd !== -E.EAGAIN && fd !== -E.ECONNABORTED) this.log.debug(`TCP forwarding: accept on port ${l.port}: ${errnoName(fd)}`);
        return;
      }
      this.accepted++;
      if (!this.open(fd, l)) this.refused++;
    }
  }

  /** Open an accepted connection towards the guest; false if it had to be refused. */
  private open(fd: number, l: Listener): boolean {
    let peer: Uint8Array = this.addrOut.subarray(0, this.info[0] === C.AF_INET ? 4 : 16);
    const peerPort = this.info[1];
    native.getsockname(fd, this.localOut, this.localInfo);
    let local: Uint8Array = this.localOut.subarray(0, this.localInfo[0] === C.AF_INET ? 4 : 16);
    // IPv4 clients of a dual-stack socket come as ::ffff:a.b.c.d.
    peer = unmap(peer);
    local = unmap(local);
    const family: 4 | 6 = peer.length === 4 ? 4 : 6;
    const c = this.config;
    const ip = family === 4 ? c.ip4 : c.ip6;
    // From the host's loopback, with no target address: socket to socket with splice(2)
    // (pasta's fast path). It goes to the namespace's own address, so a service bound
    // only to the namespace's loopback is not exposed, unless --host-lo-to-ns-lo.
    if (isLoopback(peer) && !l.targetAddr && this.spliceTo) {
      const dest = spliceDestination(c, family, Uint8Array.from(local));
      if (this.spliceTo(fd, family, l.target, dest)) {
        this.spliced++;
        return true;
      }
      native.closeReset(fd);
      return false;
    }
    const nat = c.spliceOnly ? null : natFromHost(c, peer, l.targetAddr);
    if (!nat || !ip) {
      native.closeReset(fd);
      return false;
    }
    return this.tcp.connFromSock(fd, family, nat.dest, l.target, nat.remote, peerPort, this.now());
  }

}

/** ::ffff:a.b.c.d as 4 bytes; anything else unchanged. */
function unmap(addr: Uint8Array): Uint8Array {
  if (addr.length !== 16) return addr;
  for (let i = 0; i < 10; i++) if (addr[i] !== 0) return addr;
  if (addr[10] !== 0xff || addr[11] !== 0xff) return addr;
  return addr.subarray(12, 16);
}

interface NsListener extends ListenerBase {
  family: 4 | 6;
  target: number;
}

/**
 * Namespace-to-host forwarding (-T): listeners on the namespace's loopback
 * (sockets made inside by pasta's helper), each connection relayed with
 * splice(2) to the same or mapped port on the host's loopback — so a client
 * in the namespace reaches, at its own 127.0.0.1:PORT, a service bound only
 * to the host's loopback.
 */
export class TcpNsForwarder extends PortForwarder<NsListener> {
  private readonly addrOut = new Uint8Array(16);
  private readonly info = new Int32Array(3);
  accepted = 0;

  constructor(
    table: ListenTable,
    private readonly log: Logger,
    private readonly spec: PortForwardSpec,
    /** A nonblocking TCP socket inside the namespace. */
    private readonly nsTcpSocket: (family: 4 | 6) => number,
    /** Relay two connected (B: connecting) sockets. */
    private readonly relay: (a: number, b: number) => boolean,
  ) {
    super(table, 'ns', 'tcp');
  }

  /** Listen on the namespace's loopback (IPv4 and IPv6) for every forwarded port. */
  start(): void {
    for (const { rule, port, target } of listeningPorts(this.spec)) {
      const rc = this.listen(port, target);
      if (rc < 0) {
        // As upstream: a warning for a best-effort port, the end for an explicit one.
        if (rule.weak) this.log.warn(listenError('SPLICE', 'TCP', null, port, rc).message.split('\n')[0]);
        else {
          this.close();
          throw listenError('SPLICE', 'TCP', null, port, rc);
        }
      }
    }
    this.log.debug(`TCP forwarding from the namespace: listening on ${this.listeners.size} socket(s)`);
  }

  /** Listen on `port` of the namespace's 127.0.0.1 and ::1 (if it has IPv6), forwarded to `target`. 0 or -errno (IPv4 failing). */
  listen(port: number, target: number): number {
    const sockets = nsLoopbackSockets(port, this.nsTcpSocket, (fd) => native.listen(fd, 128));
    if (typeof sockets === 'number') return sockets;
    const listeners = sockets.map(({ fd, family }) => ({ fd, index: -1, family, port, target }));
    return addAll(this.listeners, port, listeners, (l) => this.acceptAll(l));
  }

  private acceptAll(l: NsListener): void {
    for (let k = 0; k < 64; k++) {
      const fd = native.accept(l.fd, this.addrOut, this.info);
      if (fd < 0) return;
      this.accepted++;
      const target = l.target;
      const host = native.socket(l.family === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_STREAM | C.SOCK_NONBLOCK, 0);
      if (target < 0 || host < 0) {
        native.closeReset(fd);
        if (host >= 0) native.close(host);
        continue;
      }
      const rc = native.connect(host, l.family === 4 ? LOOPBACK4 : LOOPBACK6, target, 0);
      if ((rc < 0 && rc !== -E.EINPROGRESS) || !this.relay(fd, host)) {
        native.closeReset(fd);
        native.close(host);
      }
    }
  }

}


/** SO_BINDTODEVICE: only traffic through interface `ifname` (unprivileged since Linux 5.7). 0 or -errno. */
export function bindToDevice(fd: number, ifname: string): number {
  return native.setsockoptBytes(fd, C.SOL_SOCKET, C.SO_BINDTODEVICE, Buffer.from(`${ifname}\0`));
}
