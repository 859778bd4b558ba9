/**
 * UDP port forwarding: host ports into the guest (-u) and namespace ports to
 * the host's loopback (-U).
 *
 * Theory of operation: for every forwarded port a UDP socket is bound on
 * the listening side — for -u on the host, to the rule's address or to
 * every address (`::` dual stack when the guest has IPv6, else 0.0.0.0); for
 * -U on the namespace's loopback, 127.0.0.1 and ::1, with sockets the
 * namespace helper makes. When one is readable, a batch of datagrams comes
 * in with one recvmmsg(2), each with its source. A datagram starts or
 * continues a *flow* per source:
 *
 * - -u from anywhere but the host's loopback goes through the tap: the UDP
 *   translation (udp.ts) opens a flow from the source's own address and
 *   port (the host's loopback and the host's own address are shown as the
 *   addresses that stand for them, as for TCP) to the guest's address and
 *   the target port, over a host socket bound to the forwarded port and
 *   connected to the source — the guest's replies leave from the port the
 *   source wrote to, and the source's next datagrams come straight to that
 *   socket rather than to the listener.
 * - -u from the host's loopback (pasta) and every -U datagram take the
 *   spliced path (udpsplice.ts): a pair of connected sockets, the listening
 *   side's bound to the forwarded port and connected to the source, the
 *   other side's connected to the target port on that side's loopback and,
 *   where the port is free, bound to the source's port, so the server sees
 *   the same port number the client used.
 *
 * A port of an explicit spec that cannot be bound is an error naming it;
 * `all`, exclusion-only and `auto` ports are best effort. Listeners can be
 * added and removed while running (`auto`, the API).
 */
import { native, C, E, errnoName } from '../native.js';
import type { Logger } from '../log.js';
import type { Config } from '../conf.js';
import type { UdpHandler } from '../udp/udp.js';
import type { UdpSpliceHandler } from './udpsplice.js';
import { LOOPBACK4, LOOPBACK6, natFromHost, spliceDestination } from './nat.js';
import { addAll, bindToDevice, listenError, nsLoopbackSockets, PortForwarder, setFreebind, type ListenerBase, type ListenTable } from './fwd.js';
import { listeningPorts, type PortForwardSpec } from './spec.js';
import { isLoopback, formatIP } from '../inet.js';

/** Datagrams read from a listener per recvmmsg. */
const BATCH = 8;
/** Room per datagram (the largest UDP payload over IPv6, 65527, fits). */
const SLOT = 65536;
/** Batches read per readiness event. */
const MAX_ROUNDS = 4;
const MSG_TRUNC = 0x20;
const IP_RECVERR = 11;
const IPV6_RECVERR = 25;
const SO_RCVBUFFORCE = 33;
/** Receive buffer for every socket that carries a flow: bursts of large datagrams must fit. */
const FLOW_RCVBUF = 4 << 20;

/** One bound UDP socket on the listening side. */
interface UdpListener extends ListenerBase {
  /** Socket family (an IPv4 source of a dual-stack socket arrives IPv4-mapped). */
  v6: boolean;
  /** Address bound (null: every address). */
  addr: Uint8Array | null;
  target: number;
  /** Interface bound (SO_BINDTODEVICE), or null. */
  ifname: string | null;
  /** The rule's target address, or null for the guest's own (always null for -U). */
  targetAddr?: Uint8Array | null;
}

/** Scratch shared by one forwarder's listeners. */
class Batch {
  buf: Buffer | null = null;
  readonly offsets = new Int32Array(BATCH).map((_, i) => i * SLOT);
  readonly info = new Int32Array(5 * BATCH);
  readonly addrs = new Uint8Array(16 * BATCH);

  /** Receive a batch from `fd`: count, or -errno. */
  recv(fd: number): number {
    this.buf ??= Buffer.allocUnsafe(BATCH * SLOT);
    return native.recvmmsg(fd, this.buf, this.offsets, SLOT, BATCH, this.info, this.addrs);
  }
}

/** ::ffff:a.b.c.d as its 4 bytes; anything else unchanged. */
function unmap(addr: Uint8Array): Uint8Array {
  if (addr.length !== 16) return addr;
  for (let i = 0; i < 10; i++) if (addr[i] !== 0) return addr;
  if (addr[10] !== 0xff || addr[11] !== 0xff) return addr;
  return addr.subarray(12, 16);
}

/** The largest receive buffer we may have (beyond net.core.rmem_max only with CAP_NET_ADMIN). */
function bigReceiveBuffer(fd: number): void {
  if (native.setsockoptInt(fd, C.SOL_SOCKET, SO_RCVBUFFORCE, FLOW_RCVBUF) < 0) native.setsockoptInt(fd, C.SOL_SOCKET, C.SO_RCVBUF, FLOW_RCVBUF);
}

/** A nonblocking UDP socket bound to (addr, port) with SO_REUSEADDR, connected to (peer, peerPort); or -errno. */
function boundConnected(fd: number, v6: boolean, dualStack: boolean, addr: Uint8Array, port: number, peer: Uint8Array, peerPort: number, scopeId: number): number {
  if (fd < 0) return fd;
  bigReceiveBuffer(fd);
  native.setsockoptInt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, 1);
  if (v6) native.setsockoptInt(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, dualStack ? 0 : 1);
  let rc = native.bind(fd, addr, port, 0);
  if (rc === 0) rc = native.connect(fd, peer, peerPort, scopeId);
  if (rc < 0) {
    native.close(fd);
    return rc;
  }
  return fd;
}

/**
 * What both UDP forwarders share: their bound sockets by port, and reading
 * a readable one in batches, each datagram handed to `datagram()`.
 */
abstract class UdpPortForwarder extends PortForwarder<UdpListener> {
  protected readonly batch = new Batch();
  /** Datagrams read from the bound sockets, and those of them dropped. */
  received = 0;
  dropped = 0;

  constructor(
    table: ListenTable,
    side: 'host' | 'ns',
    protected readonly log: Logger,
    protected readonly now: () => number,
  ) {
    super(table, side, 'udp');
  }

  /** Datagram `i` of the batch, which came to `l`; false if it was dropped. */
  protected abstract datagram(l: UdpListener, i: number, now: number): boolean;

  protected readable(l: UdpListener): void {
    const b = this.batch;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const n = b.recv(l.fd);
      if (n <= 0) {
        if (n < 0 && n !== -E.EAGAIN) this.log.debug(`UDP forwarding: receive on port ${l.port}: ${errnoName(n)}`);
        return;
      }
      const now = this.now();
      for (let i = 0; i < n; i++) {
        this.received++;
        if (b.info[5 * i + 4] & MSG_TRUNC || !this.datagram(l, i, now)) this.dropped++;
      }
      if (n < BATCH) return;
    }
  }
}

/** Host-to-guest UDP forwarding for one -u spec. */
export class UdpForwarder extends UdpPortForwarder {
  spliced = 0;

  constructor(
    table: ListenTable,
    log: Logger,
    private readonly config: Config,
    private readonly udp: UdpHandler | null,
    private readonly spec: PortForwardSpec,
    now: () => number,
    /** The spliced path into the namespace's loopback (pasta), or null. */
    private readonly splice: { handler: UdpSpliceHandler; nsSocket: (family: 4 | 6) => number } | null,
  ) {
    super(table, 'host', log, now);
  }

  /** Bind every port of the static rules. Throws, in upstream's words, for an explicit one that cannot be bound. */
  start(): void {
    for (const { rule, port, target } of listeningPorts(this.spec)) {
      const rc = this.listen(port, target, rule.addr, rule.ifname, rule.targetAddr);
      if (rc < 0) {
        // As upstream: a warning for a best-effort port, the end for an explicit one.
        if (rule.weak) this.log.warn(listenError('HOST', 'UDP', rule, port, rc).message.split('\n')[0]);
        else {
          this.close();
          throw listenError('HOST', 'UDP', rule, port, rc);
        }
      }
    }
    this.log.debug(`UDP forwarding: bound ${this.listeners.size} socket(s)`);
  }

  /**
   * Bind `port` (on `addr`, else every address; on interface `ifname` only,
   * if given), forwarded to `target` (at `targetAddr`, else the guest's
   * address). 0 or -errno.
   */
  listen(port: number, target: number, addr: Uint8Array | null = null, ifname: string | null = null, targetAddr: Uint8Array | null = null): number {
    const v6 = addr ? addr.length === 16 : this.config.ipv6;
    const fd = native.socket(v6 ? C.AF_INET6 : C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
    if (fd < 0) return fd;
    native.setsockoptInt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, 1);
    if (v6) native.setsockoptInt(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, addr ? 1 : 0);
    if (this.config.freebind) setFreebind(fd, v6);
    let rc = ifname ? bindToDevice(fd, ifname) : 0;
    if (rc === 0) rc = native.bind(fd, addr ?? (v6 ? new Uint8Array(16) : new Uint8Array(4)), port, 0);
    if (rc < 0) {
      native.close(fd);
      return rc;
    }
    return this.listeners.add({ index: -1, fd, v6, addr, port, target, ifname, targetAddr }, (l) => this.readable(l));
  }

  protected datagram(l: UdpListener, i: number, now: number): boolean {
    const b = this.batch;
    const family = b.info[5 * i + 1];
    if (family !== C.AF_INET && family !== C.AF_INET6) return false;
    const raw = b.addrs.subarray(16 * i, 16 * i + (family === C.AF_INET ? 4 : 16));
    return this.one(l, raw, b.info[5 * i + 2], b.info[5 * i + 3], b.buf!, i * SLOT, b.info[5 * i], now);
  }

  /** One datagram from `raw` (as the socket reported it) port `peerPort`. False if dropped. */
  private one(l: UdpListener, raw: Uint8Array, peerPort: number, scopeId: number, buf: Buffer, off: number, len: number, now: number): boolean {
    const peer = unmap(raw);
    const family: 4 | 6 = peer.length === 4 ? 4 : 6;
    const bindAddr = l.addr ?? (l.v6 ? new Uint8Array(16) : new Uint8Array(4));
    const hostSocket = (): number => {
      const fd = native.socket(l.v6 ? C.AF_INET6 : C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
      // The flow's socket takes the listener's interface too, or it could not share its port.
      if (fd >= 0 && l.ifname && bindToDevice(fd, l.ifname) < 0) {
        native.close(fd);
        return -E.EINVAL;
      }
      return boundConnected(fd, l.v6, l.v6 && !l.addr, bindAddr, l.port, raw, peerPort, scopeId);
    };

    const c = this.config;
    if (isLoopback(peer) && this.splice && !l.targetAddr) {
      const key = `u|${l.port}|${l.addr ? formatIP(l.addr) : '*'}|${formatIP(peer)}|${peerPort}`;
      const s = this.splice;
      let pair = s.handler.lookup(key);
      if (!pair) {
        const a = hostSocket();
        if (a < 0) return false;
        // To the namespace's own address (not its loopback) unless --host-lo-to-ns-lo, as upstream.
        const dest = spliceDestination(c, family, l.addr);
        const inside = s.nsSocket(family);
        const b = inside < 0 ? inside : connectPreferringPort(inside, family, peerPort, l.target, dest);
        if (b < 0) {
          native.close(a);
          this.log.debug(`UDP forwarding: no socket in the namespace: ${errnoName(b)}`);
          return false;
        }
        pair = s.handler.add(key, a, b, now);
        if (!pair) return false;
        this.spliced++;
      }
      return s.handler.forward(pair, buf, off, len, now);
    }

    if (!this.udp || c.spliceOnly) return false;
    // The guest cannot answer the host's loopback or its own (the host's) address:
    // show those as the addresses that stand for them, else the gateway.
    const nat = natFromHost(c, peer, l.targetAddr ?? null);
    if (!nat) return false;
    const open = (): number => {
      const fd = hostSocket();
      if (fd >= 0) {
        native.setsockoptInt(fd, C.IPPROTO_IP, IP_RECVERR, 1);
        if (l.v6) native.setsockoptInt(fd, C.IPPROTO_IPV6, IPV6_RECVERR, 1);
      }
      return fd;
    };
    return this.udp.fromForward(family, nat.dest, l.target, nat.remote, peerPort, buf, off, len, open, peer, now);
  }

}

/**
 * Connect `fd` (family `family`) to `target` on `dest` (default: that side's loopback), bound
 * first to `sourcePort` when that port is free there (no SO_REUSEADDR: a
 * port someone holds is left alone). Returns fd, or -errno (fd closed).
 */
function connectPreferringPort(fd: number, family: 4 | 6, sourcePort: number, target: number, dest?: Uint8Array): number {
  bigReceiveBuffer(fd);
  const lo = family === 4 ? LOOPBACK4 : LOOPBACK6;
  if (family === 6) native.setsockoptInt(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, 1);
  // Best effort: else connect picks a port. The kernel picks the source address to match `dest`.
  native.bind(fd, dest && !isLoopback(dest) ? (family === 4 ? new Uint8Array(4) : new Uint8Array(16)) : lo, sourcePort, 0);
  const rc = native.connect(fd, dest ?? lo, target, 0);
  if (rc < 0) {
    native.close(fd);
    return rc;
  }
  return fd;
}

/**
 * Namespace-to-host UDP forwarding (-U): sockets on the namespace's
 * loopback, every datagram spliced to the same or mapped port on the host's
 * loopback.
 */
export class UdpNsForwarder extends UdpPortForwarder {
  constructor(
    table: ListenTable,
    log: Logger,
    private readonly spec: PortForwardSpec,
    private readonly nsSocket: (family: 4 | 6) => number,
    private readonly splice: UdpSpliceHandler,
    now: () => number,
  ) {
    super(table, 'ns', log, now);
  }

  start(): void {
    for (const { rule, port, target } of listeningPorts(this.spec)) {
      const rc = this.listen(port, target);
      if (rc < 0) {
        // As upstream: a warning for a best-effort port, the end for an explicit one.
        if (rule.weak) this.log.warn(listenError('SPLICE', 'UDP', null, port, rc).message.split('\n')[0]);
        else {
          this.close();
          throw listenError('SPLICE', 'UDP', null, port, rc);
        }
      }
    }
    this.log.debug(`UDP forwarding from the namespace: bound ${this.listeners.size} socket(s)`);
  }

  /** Bind `port` on the namespace's 127.0.0.1 and ::1 (if it has IPv6), forwarded to `target`. 0 or -errno (IPv4 failing). */
  listen(port: number, target: number): number {
    const sockets = nsLoopbackSockets(port, this.nsSocket);
    if (typeof sockets === 'number') return sockets;
    const listeners = sockets.map(({ fd, family }) => ({ index: -1, fd, v6: family === 6, addr: family === 4 ? LOOPBACK4 : LOOPBACK6, port, target, ifname: null }));
    return addAll(this.listeners, port, listeners, (l) => this.readable(l));
  }

  protected datagram(l: UdpListener, i: number, now: number): boolean {
    const b = this.batch;
    if (b.info[5 * i + 1] !== (l.v6 ? C.AF_INET6 : C.AF_INET)) return false;
    const peer = b.addrs.subarray(16 * i, 16 * i + (l.v6 ? 16 : 4));
    const peerPort = b.info[5 * i + 2];
    const key = `U|${l.port}|${formatIP(peer)}|${peerPort}`;
    let pair = this.splice.lookup(key);
    if (!pair) {
      const a = boundConnected(this.nsSocket(l.v6 ? 6 : 4), l.v6, false, l.addr!, l.port, peer, peerPort, 0);
      if (a < 0) return false;
      const host = native.socket(l.v6 ? C.AF_INET6 : C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
      const bfd = host < 0 ? host : connectPreferringPort(host, l.v6 ? 6 : 4, peerPort, l.target);
      if (bfd < 0) {
        native.close(a);
        return false;
      }
      pair = this.splice.add(key, a, bfd, now);
      if (!pair) return false;
    }
    return this.splice.forward(pair, b.buf!, i * SLOT, b.info[5 * i], now);
  }
}
