/**
 * UDP translation between the tap (the guest or namespace) and host sockets.
 *
 * Theory of operation, as in passt(1)'s udp.c and udp_flow.c: a *flow* is one
 * (guest address and port, remote address and port as the guest sees it)
 * pair. Each flow owns one nonblocking host socket, connected to where
 * `natFromTap` says the remote is on the host, and bound (SO_REUSEADDR) to
 * the guest's own source port when the host allows it — so the remote sees
 * the port the guest used, and one guest socket talking to many remotes gets
 * one connected host socket per remote — or to an ephemeral port otherwise.
 *
 * - Guest to host: `tapRun` takes a run of datagrams of one flow (run.ts),
 *   finds or opens the flow once (the engine's flow table, flow.ts: a hash
 *   over the address and port bytes, no allocation per datagram), checks
 *   each UDP header and sends the run's payloads with one sendmmsg(2),
 *   straight from the guest's frame buffer.
 * - Host to guest: when a flow's socket is readable, one recvmmsg(2)
 *   receives up to `UDP_MAX_BATCH` datagrams straight into frame slots of the
 *   tap transmit buffer, right after the header room; the Ethernet, IP and
 *   UDP headers are then copied from the flow's template and patched
 *   (lengths, IPv4 header checksum, UDP checksum — only the pseudo-header sum
 *   when the tap takes partial checksums). The datagram comes from the
 *   remote address and port as the guest addressed it, so a mapped address
 *   (the gateway for the host, a DNS forwarder) answers transparently.
 *   Where the tap takes UDP segmentation offload (USO, pasta's tap on Linux
 *   6.2 and later), a run of datagrams of one size (the last may be
 *   shorter) leaves as one super-frame: the payloads are moved together
 *   behind the first one's headers, and the virtio-net header asks the
 *   namespace's kernel to cut it at that size again, each datagram's
 *   boundary kept. One tap write then carries what one recvmmsg brought
 *   (up to `UDP_MAX_BATCH` datagrams).
 * - ICMP errors: the sockets have IP_RECVERR / IPV6_RECVERR, so an ICMP error
 *   about a datagram we sent lands in the socket's error queue (EPOLLERR).
 *   Each one is relayed to the guest as the matching ICMP or ICMPv6 message,
 *   quoting the guest's datagram rebuilt from the flow and the payload the
 *   error carried (read straight into the frame), within the 576 (IPv4) or
 *   1280 (IPv6) bytes hosts keep their errors to. A datagram to a closed port
 *   thus fails in the guest with ECONNREFUSED, as it would on the host.
 *   Other socket errors close the flow.
 * - Idle flows expire (either direction counts as activity): after 30 s, or
 *   120 s once they are streams, as upstream (timeout.ts).
 *
 * Bad datagrams are dropped and traced, never thrown; none of them can touch
 * another flow. Time is passed in (`now`).
 */
import { UdpActivity, UDP_TIMEOUTS_DEFAULT, type UdpTimeouts } from './timeout.js';
import { native, C, E, errnoName, isResourceShortage } from '../native.js';
import { FdKind } from '../loop.js';
import { formatIP } from '../inet.js';
import { Flow, PROTO_UDP, bindOutbound, describeFlow, flowEvent, flowHash, type FlowContext } from '../flow.js';
import { FrameRun } from '../run.js';
import { refuseToGuest } from '../icmp/refuse.js';
import { fold, l4Checksum4, l4Checksum6 } from '../l2/checksum.js';
import { ETH_HLEN, ETH_P_IP, ETH_P_IPV6 } from '../l2/ethernet.js';
import { ipv4IsFragment } from '../l2/ipv4.js';
import { UDP_HLEN, udpLength } from '../l2/udp.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6 } from '../l2/numbers.js';
import { pushEthernet, pushIpv4, pushIpv6, pushUdp } from '../l2/emit.js';
import { VIRTIO_NET_HDR_GSO_UDP_L4 } from '../l2/tapio.js';

/** Receive buffer asked for on each flow's socket (the kernel caps it at net.core.rmem_max unless privileged). */
const UDP_RCVBUF = 4 << 20;
const SO_RCVBUFFORCE = 33;
/** How often the tick looks for idle flows. */
const UDP_SWEEP_MS = 1_000;
/** Most datagrams received from one socket in one recvmmsg. */
export const UDP_MAX_BATCH = 32;
/** Most guest datagrams queued between two flushes (the sendmmsg limit of the addon). */
const UDP_QUEUE_MAX = 1024;
/**
 * Most datagrams in one UDP GSO send or super-frame to the guest (the
 * kernel's UDP_MAX_SEGMENTS is 64 on older kernels), and most bytes in a send.
 */
const UDP_GSO_MAX_SEGMENTS = 64;
const UDP_GSO_MAX_BYTES = 65000;
/** Most errors read from one socket's error queue per event. */
const UDP_MAX_ERRORS = 16;
/**
 * Largest payload relayed to the guest: what fits an IP packet of 65535
 * bytes (the largest frame the tap side builds, see tapio.ts). Over IPv4
 * that is the largest UDP datagram there is (65507); over IPv6 a host
 * datagram above 65487 bytes is dropped.
 */
export const UDP_MAX_PAYLOAD4 = 65535 - 20 - 8;
export const UDP_MAX_PAYLOAD6 = 65535 - 40 - 8;
/** Size limits for ICMP errors, as hosts keep them (RFC 1812 4.3.2.3, RFC 4443 2.4). */
const ICMP4_ERROR_MAX = 576;
const ICMP6_ERROR_MAX = 1280;

const MSG_TRUNC = C.MSG_TRUNC;

/** Socket options for ICMP errors in the error queue. */
const IP_RECVERR = 11;
const IPV6_RECVERR = 25;
/** sock_extended_err.ee_origin values. */
const SO_EE_ORIGIN_LOCAL = 1;
const SO_EE_ORIGIN_ICMP = 2;
const SO_EE_ORIGIN_ICMP6 = 3;

/** errno values the kernel derives from ICMP errors (icmp_err_convert, icmpv6_err_convert). */
const ICMP_ERRNOS = new Set<number>([
  E.ECONNREFUSED,
  E.EHOSTUNREACH,
  E.ENETUNREACH,
  E.EHOSTDOWN,
  E.EACCES,
  E.EMSGSIZE,
  E.ENOPROTOOPT, // protocol unreachable
  E.EPROTO, // parameter problem
  E.ENONET, // host isolated
  E.EOPNOTSUPP, // source route failed
]);

/** A send failure that concerns one datagram (or an error from an earlier one), not the socket. */
function isDatagramError(errno: number): boolean {
  return ICMP_ERRNOS.has(errno) || errno === E.EPERM;
}

export interface UdpStats {
  /** Flows open now. */
  flows: number;
  opened: number;
  closed: number;
  /** Datagrams (and their payload bytes) from the guest that host sockets took. */
  datagramsFromTap: number;
  bytesFromTap: number;
  /** Datagrams (and payload bytes) from host sockets queued to the guest. */
  datagramsToTap: number;
  bytesToTap: number;
  /** ICMP errors relayed to the guest. */
  errorsRelayed: number;
  /** Datagrams dropped in either direction: malformed, refused, or not taken by a socket. */
  dropped: number;
}

/** One flow: a guest address and port talking to one remote address and port, over one host socket. */
export class UdpFlow extends Flow {
  /** Where the flow goes on the host (from natFromTap). */
  hostAddr!: Uint8Array;
  hostPort = 0;
  /** Whether the host socket has the guest's source port. */
  sameSourcePort = false;
  /** Payload length of the last datagram sent to the host (to quote it in errors). */
  lastSentLen = 0;
  /** Whether the guest opened the flow (false: a datagram to a forwarded port did). */
  guestInitiated = true;
  /** Datagrams each way, for the idle timeout (timeout.ts). */
  readonly activity = new UdpActivity();

  /** `n` datagrams from the guest. */
  fromGuest(n: number): void {
    if (this.guestInitiated) this.activity.initiator(n);
    else this.activity.target(n);
  }

  /** `n` datagrams from the host side. */
  fromHost(n: number): void {
    if (this.guestInitiated) this.activity.target(n);
    else this.activity.initiator(n);
  }

  /** `addrs`: the guest's address, then the remote's as the guest sees it. */
  constructor(family: 4 | 6, addrs: Uint8Array, guestPort: number, remotePort: number) {
    super(PROTO_UDP, family, addrs, guestPort, remotePort);
  }
}

/**
 * The UDP translation for one engine instance: its flows live in the
 * engine's flow table (flow.ts), found by hash from the guest's datagrams
 * and by index from epoll tags.
 */
export class UdpHandler {
  readonly stats: UdpStats = { flows: 0, opened: 0, closed: 0, datagramsFromTap: 0, bytesFromTap: 0, datagramsToTap: 0, bytesToTap: 0, errorsRelayed: 0, dropped: 0 };
  /** sendmmsg (and UDP GSO sendmsg) and recvmmsg calls made (each carries a batch of datagrams). */
  sendmmsgCalls = 0;
  /** UDP GSO sends that the kernel took (each carried two or more datagrams). */
  gsoSends = 0;
  /** Super-frames of two or more datagrams written towards the guest (USO). */
  gsoFramesToTap = 0;
  /** Whether the kernel takes UDP_SEGMENT (UDP GSO, Linux 4.18); false after it refused it once. */
  private gso = true;
  recvmmsgCalls = 0;
  private readonly traceOn: boolean;
  private lastSweep = 0;

  // Payload slices of the run being sent (sendmmsg).
  private readonly sendOff = new Int32Array(UDP_QUEUE_MAX);
  private readonly sendLen = new Int32Array(UDP_QUEUE_MAX);
  /** Destinations for sendmmsg: all family 0 (connected sockets), never written. */
  private readonly sendDest = new Int32Array(3 * UDP_QUEUE_MAX);
  private readonly noAddrs = new Uint8Array(0);

  // recvmmsg and error queue scratch.
  private readonly recvOff = new Int32Array(UDP_MAX_BATCH);
  private readonly recvInfo = new Int32Array(5 * UDP_MAX_BATCH);
  private readonly recvAddrs = new Uint8Array(16 * UDP_MAX_BATCH);
  private readonly errInfo = new Int32Array(7);
  private readonly errOffender = new Uint8Array(16);
  private readonly intOut = new Int32Array(1);

  constructor(
    private readonly ctx: FlowContext,
    /** Idle timeouts (timeout.ts: upstream's, from the kernel's conntrack settings). */
    private readonly timeouts: UdpTimeouts = UDP_TIMEOUTS_DEFAULT,
  ) {
    const out = ctx.out;
    const largestSlot = out.headroom + ETH_HLEN + 40 + UDP_HLEN + UDP_MAX_PAYLOAD6 + 8;
    if (out.buf.length < 2 * largestSlot) {
      throw new Error(`UDP: the tap transmit buffer (${out.buf.length} bytes) must hold at least ${2 * largestSlot} bytes`);
    }
    ctx.loop.on(FdKind.UdpSock, (index, events, now) => this.sockHandler(index, events, now));
    ctx.loop.onTick((now) => {
      if (now - this.lastSweep < UDP_SWEEP_MS) return;
      this.lastSweep = now;
      this.expire(now);
    });
    this.traceOn = ctx.log.isLevelEnabled('trace');
  }

  /** Number of open flows. */
  get count(): number {
    return this.stats.flows;
  }

  // ---------------------------------------------------------------------
  // Datagrams from the guest

  /**
   * A run of UDP datagrams of one flow from the guest (run.ts): the flow is
   * found or opened once, each datagram's header checked, and their payloads
   * sent with one sendmmsg, straight from the run's buffer. Never throws on
   * bad input.
   */
  tapRun(run: FrameRun, now: number): void {
    const { buf, family } = run;
    if (run.guestPort === 0 || run.remotePort === 0) {
      this.drop('UDP port 0', run.count);
      return;
    }
    let flow = this.ctx.flows.lookup(PROTO_UDP, family, buf, run.addrOff, run.guestPort, run.remotePort, run.hash) as UdpFlow | undefined;
    let n = 0;
    let datagrams = 0;
    for (let i = 0; i < run.count; i++) {
      const l4Off = run.l4Off[i];
      const udpLen = udpLength(buf, l4Off, run.l4Len[i]);
      // Bytes past the UDP length are ignored (as Linux does); a length past the IP payload is not.
      if (!udpLen) {
        this.drop('bad UDP length');
        continue;
      }
      if (family === 4 && ipv4IsFragment(buf, run.ipOff[i])) {
        this.drop('IPv4 fragment');
        continue;
      }
      if (!flow) {
        flow = this.flowFromTap(run, i, now);
        if (!flow) continue;
      }
      // A super-datagram (USO, see tap.ts) is several datagrams of gsoSize payload bytes, the last one shorter.
      const end = l4Off + udpLen;
      const step = run.gsoSize[i] > 0 ? run.gsoSize[i] : udpLen - UDP_HLEN;
      let p = l4Off + UDP_HLEN;
      do {
        if (n === UDP_QUEUE_MAX) {
          this.sendToSock(flow, buf, n);
          n = 0;
        }
        this.sendOff[n] = p;
        this.sendLen[n] = Math.min(step, end - p);
        n++;
        datagrams++;
        p += step;
      } while (p < end);
    }
    if (!flow) return;
    flow.lastActivity = now;
    flow.fromGuest(datagrams);
    if (n > 0) this.sendToSock(flow, buf, n);
  }

  /** A single datagram from the guest (one put back together from fragments, say): a run of one. */
  tapFrame(family: 4 | 6, buf: Buffer, ipOff: number, l4Off: number, l4Len: number, now: number): void {
    if (l4Len < UDP_HLEN || l4Off + l4Len > buf.length || l4Off < ipOff + (family === 4 ? 20 : 40)) return void this.drop('short UDP header');
    const addrOff = ipOff + (family === 4 ? 12 : 8);
    const hash = flowHash(PROTO_UDP, family, buf, addrOff, (buf[l4Off] << 8) | buf[l4Off + 1], (buf[l4Off + 2] << 8) | buf[l4Off + 3]);
    this.single.start(buf, family, PROTO_UDP, hash, ipOff, l4Off, l4Len);
    this.tapRun(this.single, now);
  }

  private readonly single = new FrameRun();

  /**
   * Send `n` datagrams (sendOff/sendLen) of one flow; what the socket does
   * not take is dropped. Two or more consecutive datagrams of one size (and
   * a shorter last one) go out with one sendmsg and UDP_SEGMENT: the kernel
   * cuts them at the end of its path (UDP GSO), which costs far less per
   * datagram than sendmmsg's one pass through the stack each. The rest go
   * out with sendmmsg.
   */
  private sendToSock(flow: UdpFlow, buf: Buffer, n: number): void {
    let single = 0; // first datagram not yet sent, of a stretch that goes through sendmmsg
    for (let i = 0; i < n && flow.fd >= 0; ) {
      const seg = this.sendLen[i];
      let j = i + 1;
      let total = seg;
      if (this.gso && seg > 0) {
        while (j < n && j - i < UDP_GSO_MAX_SEGMENTS && this.sendLen[j] === seg && total + seg <= UDP_GSO_MAX_BYTES) total += this.sendLen[j++];
        if (j < n && j - i < UDP_GSO_MAX_SEGMENTS && this.sendLen[j] > 0 && this.sendLen[j] < seg && total + this.sendLen[j] <= UDP_GSO_MAX_BYTES) total += this.sendLen[j++];
      }
      if (j - i >= 2) {
        if (single < i) this.sendDatagrams(flow, buf, single, i);
        if (!this.sendSegments(flow, buf, i, j, seg)) this.sendDatagrams(flow, buf, i, j);
        single = j;
      }
      i = j;
    }
    if (single < n && flow.fd >= 0) this.sendDatagrams(flow, buf, single, n);
  }

  /** Datagrams a..b of sendOff/sendLen (all of `seg` bytes, the last maybe shorter) with one UDP GSO send; false: send them one by one instead. */
  private sendSegments(flow: UdpFlow, buf: Buffer, a: number, b: number, seg: number): boolean {
    for (let attempt = 0; attempt < 2; attempt++) {
      this.sendmmsgCalls++;
      const r = native.sendv(flow.fd, buf, this.sendOff.subarray(a), this.sendLen.subarray(a), b - a, 0, seg);
      if (r >= 0) {
        this.gsoSends++;
        flow.lastSentLen = this.sendLen[b - 1];
        this.stats.datagramsFromTap += b - a;
        this.stats.bytesFromTap += r;
        if (this.traceOn) this.trace(flow, `${b - a} datagrams of ${seg} bytes, ${r} bytes to the socket (UDP GSO)`);
        return true;
      }
      if (r === -E.EAGAIN || r === -E.ENOBUFS || r === -E.ENOMEM) {
        this.drop(`socket full, ${b - a} datagrams`, b - a);
        return true;
      }
      // Segments larger than the path's MTU (EINVAL, EMSGSIZE): these go one by one, as IP fragments.
      if (r === -E.EINVAL || r === -E.EMSGSIZE) return false;
      // A kernel without UDP GSO: never again.
      if (r === -E.EOPNOTSUPP || r === -E.ENOPROTOOPT || r === -E.EIO) {
        this.gso = false;
        return false;
      }
      // An ICMP error about an earlier datagram (now consumed; the error queue relays it): try once more.
      if (!isDatagramError(-r)) break;
    }
    return false;
  }

  /** Datagrams a..b of sendOff/sendLen with sendmmsg; what the socket does not take is dropped. */
  private sendDatagrams(flow: UdpFlow, buf: Buffer, a: number, b: number): void {
    const offs = this.sendOff.subarray(a, b);
    const lens = this.sendLen.subarray(a, b);
    let n = b - a;
    let done = 0;
    let retried = false;
    while (done < n) {
      this.sendmmsgCalls++;
      const sent = native.sendmmsg(flow.fd, buf, offs, lens, n - done, this.sendDest, this.noAddrs);
      if (sent > 0) {
        let bytes = 0;
        for (let i = 0; i < sent; i++) bytes += lens[i];
        flow.lastSentLen = lens[sent - 1];
        this.stats.datagramsFromTap += sent;
        this.stats.bytesFromTap += bytes;
        if (this.traceOn) this.trace(flow, `${sent} datagrams, ${bytes} bytes to the socket`);
        done += sent;
        retried = false;
      } else if (sent === -E.EAGAIN || sent === -E.ENOBUFS || sent === -E.ENOMEM || sent === 0) {
        // The socket's buffer is full: UDP may lose datagrams, and so do we.
        this.drop(`socket full, ${n - done} datagrams`, n - done);
        return;
      } else if (isDatagramError(-sent)) {
        // Either an ICMP error about an earlier datagram (now consumed; the
        // error queue relays it) or this datagram cannot be sent: try once
        // more, then give this one up and go on with the rest.
        if (retried) {
          this.drop(`send: ${errnoName(sent)}`);
          done++;
          retried = false;
        } else {
          retried = true;
        }
      } else {
        this.ctx.log.debug(`${describeFlow(flow)}: send: ${errnoName(sent)}, closing`);
        this.drop(`send: ${errnoName(sent)}`, n - done);
        this.close(flow);
        return;
      }
      if (done > 0 && done < n) {
        offs.copyWithin(0, done, n);
        lens.copyWithin(0, done, n);
        n -= done;
        done = 0;
      }
    }
  }

  /** A datagram for a new flow: open its host socket. Returns undefined (dropped) if that is not possible. */
  private flowFromTap(run: FrameRun, i: number, now: number): UdpFlow | undefined {
    const { buf, family, addrOff, guestPort, remotePort, hash } = run;
    const alen = family === 4 ? 4 : 16;
    const remoteOff = addrOff + alen;
    const d0 = buf[remoteOff];
    if (family === 4 ? d0 >= 224 || d0 === 0 : d0 === 0xff || this.isZero(buf, remoteOff, 16)) {
      return this.drop('UDP to a multicast, broadcast or unspecified address');
    }
    if (!this.ctx.flows.admit(now)) {
      this.refuse(run, i);
      return this.drop('flow table full');
    }
    const addrs = Uint8Array.from(buf.subarray(addrOff, addrOff + 2 * alen));
    const target = this.ctx.natFromTap(family, PROTO_UDP, addrs.subarray(alen), remotePort);
    if (!target) return this.drop('refused by address mapping');
    const host6 = target.addr.length === 16;
    const fd = native.socket(host6 ? C.AF_INET6 : C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
    if (fd < 0) {
      this.ctx.log.warn(`UDP: cannot open a socket: ${errnoName(fd)}`);
      if (isResourceShortage(fd)) this.refuse(run, i);
      return this.drop('no socket');
    }
    native.setsockoptInt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, 1);
    if (host6) native.setsockoptInt(fd, C.IPPROTO_IPV6, C.IPV6_V6ONLY, 1);
    native.setsockoptInt(fd, host6 ? C.IPPROTO_IPV6 : C.IPPROTO_IP, host6 ? IPV6_RECVERR : IP_RECVERR, 1);
    // Replies to a batch of datagrams arrive as a burst: give the socket the largest
    // receive buffer we may (beyond net.core.rmem_max only with CAP_NET_ADMIN).
    if (native.setsockoptInt(fd, C.SOL_SOCKET, SO_RCVBUFFORCE, UDP_RCVBUF) < 0) {
      native.setsockoptInt(fd, C.SOL_SOCKET, C.SO_RCVBUF, UDP_RCVBUF);
    }
    // The guest's source port if the host lets us have it, otherwise connect() picks one
    // (on -o's address and --outbound-if4/6's interface, if given).
    const sameSourcePort = bindOutbound(fd, target, guestPort) === 0;
    if (!sameSourcePort && (target.source || target.ifname)) {
      const rc = bindOutbound(fd, target, 0);
      if (rc < 0) {
        native.close(fd);
        return this.drop(`bind: ${errnoName(rc)}`);
      }
    }
    const rc = native.connect(fd, target.addr, target.port, target.scopeId);
    if (rc < 0) {
      native.close(fd);
      if (this.traceOn) this.ctx.log.trace(`UDP: connect to ${formatIP(target.addr)} port ${target.port}: ${errnoName(rc)}`);
      return this.drop(`connect: ${errnoName(rc)}`);
    }

    return this.register(fd, family, addrs, guestPort, remotePort, target.addr, target.port, sameSourcePort, hash, now, 'out');
  }

  /** Tell the guest its datagram (frame `i` of the run) was refused (icmp/refuse.ts). */
  private refuse(run: FrameRun, i: number): void {
    const ipOff = run.ipOff[i];
    refuseToGuest(this.ctx.out, this.ctx.ourMac, this.ctx.guestMac(), run.family, run.buf, ipOff, run.l4Off[i] + run.l4Len[i] - ipOff);
  }

  /** Make a flow of a connected host socket and watch it; undefined (socket closed, dropped) on failure. */
  private register(fd: number, family: 4 | 6, addrs: Uint8Array, guestPort: number, remotePort: number, hostAddr: Uint8Array, hostPort: number, sameSourcePort: boolean, hash: number, now: number, direction: 'in' | 'out'): UdpFlow | undefined {
    const flow = new UdpFlow(family, addrs, guestPort, remotePort);
    if (!this.ctx.flows.insert(flow, hash)) {
      native.close(fd);
      return this.drop('flow table full');
    }
    flow.fd = fd;
    flow.hostAddr = Uint8Array.from(hostAddr);
    flow.hostPort = hostPort;
    flow.sameSourcePort = sameSourcePort;
    flow.guestInitiated = direction === 'out';
    flow.lastActivity = now;
    this.buildHeader(flow);
    this.stats.opened++;
    this.stats.flows++;
    const added = this.ctx.loop.add(fd, FdKind.UdpSock, flow.index, C.EPOLLIN);
    if (added < 0) {
      this.ctx.log.warn(`${describeFlow(flow)}: cannot watch the socket: ${errnoName(added)}`);
      this.close(flow);
      return this.drop('cannot watch the socket');
    }
    this.ctx.onFlow?.(flowEvent(flow, direction));
    if (this.traceOn) this.trace(flow, `new ${direction === 'in' ? 'inbound ' : ''}flow, host side ${formatIP(hostAddr)} port ${hostPort}${sameSourcePort ? ', same source port' : ''}`);
    return flow;
  }

  /**
   * A datagram that came to a forwarded host port (-u) from `remote` port
   * `remotePort` (as the guest will see them: the forwarder maps the host's
   * loopback and own addresses), for `guestPort` of the guest's address
   * `guest`. The first datagram of a pair opens the flow, whose host socket
   * `openSocket()` makes: bound to the forwarded port and connected to the
   * real peer, so that the peer's next datagrams come to it directly and the
   * guest's replies leave from the port the peer wrote to. The payload
   * (`len` bytes at `payload[off]`) is queued to the guest. Returns false if
   * it was dropped.
   */
  fromForward(family: 4 | 6, guest: Uint8Array, guestPort: number, remote: Uint8Array, remotePort: number, payload: Uint8Array, off: number, len: number, openSocket: () => number, peer: Uint8Array, now: number): boolean {
    if (guest.length !== (family === 4 ? 4 : 16) || remote.length !== guest.length) return this.drop('forwarded datagram: address of the wrong family') ?? false;
    if (len > (family === 4 ? UDP_MAX_PAYLOAD4 : UDP_MAX_PAYLOAD6)) return this.drop(`forwarded datagram of ${len} bytes`) ?? false;
    const alen = guest.length;
    const addrs = this.keyAddrs[family === 4 ? 0 : 1];
    addrs.set(guest, 0);
    addrs.set(remote, alen);
    const hash = flowHash(PROTO_UDP, family, addrs, 0, guestPort, remotePort);
    let flow = this.ctx.flows.lookup(PROTO_UDP, family, addrs, 0, guestPort, remotePort, hash) as UdpFlow | undefined;
    if (!flow) {
      if (!this.ctx.flows.admit(now)) return this.drop('forwarded datagram: flow table full') ?? false;
      const fd = openSocket();
      if (fd < 0) return this.drop(`forwarded datagram: no socket (${errnoName(fd)})`) ?? false;
      flow = this.register(fd, family, Uint8Array.from(addrs), guestPort, remotePort, peer, remotePort, true, hash, now, 'in');
      if (!flow) return false;
    }
    flow.lastActivity = now;
    flow.fromHost(1);
    const out = this.ctx.out;
    const at = out.reserve(flow.hdrLen + len);
    out.buf.set(payload.subarray(off, off + len), at + flow.hdrLen);
    this.commitFrame(flow, at, len);
    this.stats.datagramsToTap++;
    this.stats.bytesToTap += len;
    return true;
  }

  /** Scratch (guest address, remote address) of each family, for lookups. */
  private readonly keyAddrs = [new Uint8Array(8), new Uint8Array(32)];

  private isZero(buf: Buffer, off: number, len: number): boolean {
    for (let i = off; i < off + len; i++) if (buf[i] !== 0) return false;
    return true;
  }

  /** Close the flow's socket and forget it. */
  private close(flow: UdpFlow): void {
    if (flow.fd < 0) return;
    this.ctx.loop.del(flow.fd);
    native.close(flow.fd);
    flow.fd = -1;
    if (this.traceOn) this.trace(flow, 'closed');
    this.ctx.flows.remove(flow);
    this.stats.closed++;
    this.stats.flows--;
  }

  /** Close every flow (engine shutdown). */
  closeAll(): void {
    for (const flow of this.ctx.flows.all(PROTO_UDP)) this.close(flow as UdpFlow);
  }

  /** Close flows idle for longer than their timeout (timeout.ts) at time `now` (the tick calls this; tests may too). */
  expire(now: number): void {
    for (const f of this.ctx.flows.all(PROTO_UDP)) {
      const flow = f as UdpFlow;
      if (now - flow.lastActivity > flow.activity.idleLimit(this.timeouts)) {
        if (this.traceOn) this.trace(flow, `idle for ${Math.round((now - flow.lastActivity) / 1000)} s${flow.activity.isStream() ? ' (a stream)' : ''}`);
        this.close(flow);
      }
    }
  }

  // ---------------------------------------------------------------------
  // Host sockets

  private sockHandler(index: number, events: number, now: number): void {
    const flow = this.ctx.flows.get(index) as UdpFlow | undefined;
    if (!flow || flow.fd < 0) return;
    flow.lastActivity = now;
    if (events & C.EPOLLERR) this.errorsFromSock(flow);
    if (flow.fd >= 0 && events & C.EPOLLIN) this.dataFromSock(flow);
    else if (flow.fd >= 0 && events & C.EPOLLHUP) {
      this.ctx.log.debug(`${describeFlow(flow)}: socket hung up, closing`);
      this.close(flow);
    }
  }

  /** Receive a batch of datagrams into tap frames. */
  private dataFromSock(flow: UdpFlow): void {
    const out = this.ctx.out;
    const cap = flow.family === 4 ? UDP_MAX_PAYLOAD4 : UDP_MAX_PAYLOAD6;
    const slot = (out.headroom + flow.hdrLen + cap + 7) & ~7;
    if (out.room < slot * Math.min(4, UDP_MAX_BATCH)) out.flush();
    const count = Math.min(UDP_MAX_BATCH, Math.floor(out.room / slot));
    const base = out.reserve(count * slot);
    for (let i = 0; i < count; i++) this.recvOff[i] = base + i * slot + flow.hdrLen;
    this.recvmmsgCalls++;
    const n = native.recvmmsg(flow.fd, out.buf, this.recvOff, cap, count, this.recvInfo, this.recvAddrs);
    if (n < 0) {
      if (n === -E.EAGAIN) return;
      if (ICMP_ERRNOS.has(-n)) {
        // An ICMP error that arrived since we looked: its details are in the error queue.
        this.errorsFromSock(flow);
        return;
      }
      this.ctx.log.debug(`${describeFlow(flow)}: receive: ${errnoName(n)}, closing`);
      this.close(flow);
      return;
    }
    const uso = out.offloads.uso && out.checksumOffload;
    let bytes = 0;
    let datagrams = 0;
    for (let i = 0; i < n; ) {
      const len = this.recvInfo[5 * i];
      if (this.recvInfo[5 * i + 4] & MSG_TRUNC) {
        this.drop(`datagram from the host larger than ${cap} bytes`);
        i++;
        continue;
      }
      const off = base + i * slot;
      // With USO: the datagrams after this one of its size, and one shorter to end the
      // run, move behind its payload (slots are wider than any datagram, so each moves
      // back into its own or an earlier slot, past everything the run holds so far).
      let j = i + 1;
      let total = len;
      if (uso && len > 0) {
        while (j < n && j - i < UDP_GSO_MAX_SEGMENTS) {
          const next = this.recvInfo[5 * j];
          if (next === 0 || next > len || total + next > cap || this.recvInfo[5 * j + 4] & MSG_TRUNC) break;
          const from = base + j * slot + flow.hdrLen;
          out.buf.copyWithin(off + flow.hdrLen + total, from, from + next);
          total += next;
          j++;
          if (next < len) break;
        }
      }
      // (If the frame table fills up first, commit writes out the frames before this one.)
      if (j - i > 1) this.commitSuperFrame(flow, off, total, len);
      else this.commitFrame(flow, off, len);
      bytes += total;
      datagrams += j - i;
      i = j;
    }
    this.stats.datagramsToTap += datagrams;
    this.stats.bytesToTap += bytes;
    flow.fromHost(datagrams);
    if (this.traceOn) this.trace(flow, `${datagrams} datagrams, ${bytes} bytes to the guest`);
  }

  /**
   * EPOLLERR: relay every ICMP error in the socket's error queue to the
   * guest. A socket error that did not come from ICMP closes the flow.
   */
  private errorsFromSock(flow: UdpFlow): void {
    const out = this.ctx.out;
    const v4 = flow.family === 4;
    const ipLen = v4 ? 20 : 40;
    const max = v4 ? ICMP4_ERROR_MAX : ICMP6_ERROR_MAX;
    // Outer IP, ICMP, inner IP, UDP: the guest's payload goes right after them.
    const quoteOff = ETH_HLEN + 2 * ipLen + 8 + UDP_HLEN;
    const room = max - (2 * ipLen + 8 + UDP_HLEN);
    let read = 0;
    for (; read < UDP_MAX_ERRORS; read++) {
      const off = out.reserve(ETH_HLEN + max);
      const n = native.recvErr(flow.fd, out.buf, off + quoteOff, room, this.errInfo, this.errOffender);
      if (n < 0) {
        if (n !== -E.EAGAIN) this.ctx.log.debug(`${describeFlow(flow)}: error queue: ${errnoName(n)}`);
        break;
      }
      this.errorToTap(flow, off, n);
    }
    if (read > 0) return;
    // Nothing queued: a pending socket error of another kind.
    native.getsockoptInt(flow.fd, C.SOL_SOCKET, C.SO_ERROR, this.intOut);
    const err = this.intOut[0];
    if (err !== 0 && !ICMP_ERRNOS.has(err)) {
      this.ctx.log.debug(`${describeFlow(flow)}: socket error ${errnoName(err)}, closing`);
      this.close(flow);
    }
  }

  /**
   * Build the ICMP or ICMPv6 error for the guest at `off`, whose quoted
   * payload (`n` bytes) recvErr already placed, from the error in errInfo.
   */
  private errorToTap(flow: UdpFlow, off: number, n: number): void {
    const info = this.errInfo;
    const origin = info[1];
    let fromFamily: 4 | 6;
    let type = info[2];
    let code = info[3];
    if (origin === SO_EE_ORIGIN_ICMP) fromFamily = 4;
    else if (origin === SO_EE_ORIGIN_ICMP6) fromFamily = 6;
    else if (origin === SO_EE_ORIGIN_LOCAL && info[0] === E.EMSGSIZE && info[4] > 0) {
      // The host's own path MTU is too small: tell the guest as a router would.
      fromFamily = flow.hostAddr.length === 4 ? 4 : 6;
      type = fromFamily === 4 ? 3 : 2;
      code = fromFamily === 4 ? 4 : 0;
    } else {
      if (this.traceOn) this.trace(flow, `error ${errnoName(info[0])} (origin ${origin}) not relayed`);
      return;
    }
    const rest = this.icmpForGuest(flow.family, fromFamily, type, code, info[4]);
    if (rest === undefined) {
      if (this.traceOn) this.trace(flow, `ICMP type ${type} code ${code} not relayed`);
      return;
    }
    type = this.icmpType;
    code = this.icmpCode;

    const buf = this.ctx.out.buf;
    const v4 = flow.family === 4;
    const alen = v4 ? 4 : 16;
    const ipLen = v4 ? 20 : 40;
    const ip = off + ETH_HLEN;
    const icmp = ip + ipLen;
    const inner = icmp + 8;
    const udp = inner + ipLen;
    // The error quotes what the ICMP message carried; if that was cut, the datagram was
    // (most likely) the flow's last one, whose length we know.
    const origLen = Math.max(n, flow.lastSentLen);
    const icmpLen = 8 + ipLen + UDP_HLEN + n;

    pushEthernet(buf, off, this.ctx.guestMac(), this.ctx.ourMac, v4 ? ETH_P_IP : ETH_P_IPV6);
    // Outer IP header: from the node that reported the error (the remote as the guest knows it
    // when that is the node), to the guest.
    const src = this.errorSource(flow);
    if (v4) pushIpv4(buf, ip, 20 + icmpLen, IPPROTO_ICMP, src, 0, flow.addrs, 0);
    else pushIpv6(buf, ip, icmpLen, IPPROTO_ICMPV6, src, 0, flow.addrs, 0);
    buf[icmp] = type;
    buf[icmp + 1] = code;
    buf.writeUInt32BE(rest >>> 0, icmp + 4);
    // The guest's datagram as it sent it: guest to remote.
    if (v4) pushIpv4(buf, inner, 20 + UDP_HLEN + origLen, PROTO_UDP, flow.addrs, 0, flow.addrs, alen);
    else pushIpv6(buf, inner, UDP_HLEN + origLen, PROTO_UDP, flow.addrs, 0, flow.addrs, alen);
    pushUdp(buf, udp, flow.guestPort, flow.remotePort, UDP_HLEN + origLen);
    if (origLen === n) {
      if (v4) l4Checksum4(buf, inner, udp, UDP_HLEN + n, 6);
      else l4Checksum6(buf, inner, udp, UDP_HLEN + n, 6);
    }
    if (v4) l4Checksum4(buf, ip, icmp, icmpLen, 2);
    else l4Checksum6(buf, ip, icmp, icmpLen, 2);
    this.ctx.out.commit(off, ETH_HLEN + ipLen + icmpLen);
    this.stats.errorsRelayed++;
    if (this.traceOn) this.trace(flow, `ICMP${v4 ? '' : 'v6'} type ${type} code ${code} to the guest (${errnoName(info[0])})`);
  }

  private icmpType = 0;
  private icmpCode = 0;

  /**
   * The ICMP (guest over IPv4) or ICMPv6 message for an error the host got as
   * `type`/`code` of `fromFamily`'s ICMP, with `info` (MTU or pointer).
   * Sets icmpType/icmpCode and returns the 32-bit word after the checksum,
   * or undefined when the error is not relayed.
   */
  private icmpForGuest(guest: 4 | 6, fromFamily: 4 | 6, type: number, code: number, info: number): number | undefined {
    if (guest === 4) {
      if (fromFamily === 4) {
        if (type === 3) return this.icmp(3, code, code === 4 ? info & 0xffff : 0);
        if (type === 11) return this.icmp(11, code, 0);
        if (type === 12) return this.icmp(12, code, (info & 0xff) << 24);
        return undefined;
      }
      // An ICMPv6 error about a flow the guest sees over IPv4 (RFC 7915 section 5.2).
      if (type === 1) return this.icmp(3, code === 4 ? 3 : code === 1 || code === 5 || code === 6 ? 13 : 1, 0);
      if (type === 2) return this.icmp(3, 4, Math.max(68, info - 20) & 0xffff);
      if (type === 3) return this.icmp(11, code, 0);
      return undefined;
    }
    if (fromFamily === 6) {
      if (type === 1) return this.icmp(1, code, 0);
      if (type === 2) return this.icmp(2, 0, info);
      if (type === 3) return this.icmp(3, code, 0);
      if (type === 4) return this.icmp(4, code, info);
      return undefined;
    }
    // An ICMP error about a flow the guest sees over IPv6 (RFC 7915 section 4.2).
    if (type === 3) {
      if (code === 3) return this.icmp(1, 4, 0);
      if (code === 4) return this.icmp(2, 0, Math.max(1280, info + 20));
      return this.icmp(1, code === 9 || code === 10 || code === 13 ? 1 : 0, 0);
    }
    if (type === 11) return this.icmp(3, code, 0);
    return undefined;
  }

  private icmp(type: number, code: number, rest: number): number {
    this.icmpType = type;
    this.icmpCode = code;
    return rest;
  }

  /**
   * Source address bytes for an ICMP error to the guest: the offender the
   * kernel reports, unless that is where the flow goes on the host (then the
   * remote address as the guest knows it), or none, or not of the guest's
   * family, or a loopback or unspecified address the guest cannot be sent from.
   */
  private errorSource(flow: UdpFlow): Uint8Array {
    const remote = flow.remoteAddr;
    const family = this.errInfo[5];
    const o = this.errOffender;
    if (flow.family === 4) {
      if (family !== C.AF_INET) return remote;
      if (o[0] === 127 || o[0] === 0) return remote;
      if (flow.hostAddr.length === 4 && o[0] === flow.hostAddr[0] && o[1] === flow.hostAddr[1] && o[2] === flow.hostAddr[2] && o[3] === flow.hostAddr[3]) return remote;
      return o.subarray(0, 4);
    }
    if (family !== C.AF_INET6) return remote;
    let zeroHead = true;
    for (let i = 0; i < 15; i++) if (o[i] !== 0) zeroHead = false;
    if (zeroHead && o[15] <= 1) return remote;
    if (flow.hostAddr.length === 16) {
      let same = true;
      for (let i = 0; i < 16; i++) if (o[i] !== flow.hostAddr[i]) same = false;
      if (same) return remote;
    }
    return o;
  }

  // ---------------------------------------------------------------------
  // Frames to the guest

  /** Template for this flow's frames: Ethernet, IP, UDP, from the remote (as the guest sees it) to the guest (flow.ts). */
  private buildHeader(flow: UdpFlow): void {
    flow.buildTemplate(this.ctx.guestMac(), this.ctx.ourMac, UDP_HLEN);
  }

  /** Headers for the datagram whose payload (`len` bytes) sits after the header room at `off`, then commit the frame. */
  private commitFrame(flow: UdpFlow, off: number, len: number): void {
    const out = this.ctx.out;
    this.fillHeader(flow, out.buf, off, len);
    if (out.checksumOffload) out.commit(off, flow.hdrLen + len, flow.hdrLen - UDP_HLEN, 6);
    else out.commit(off, flow.hdrLen + len);
  }

  /**
   * Headers for a run of datagrams whose payloads (`total` bytes: of
   * `segment` bytes each, the last one maybe shorter) sit together after the
   * header room at `off`, then commit it as one super-frame (USO): the IP and
   * UDP lengths and the partial checksum are the whole run's, as the kernel's
   * own UDP GSO builds them, and the namespace's kernel cuts it into
   * datagrams of `segment` bytes, fixing each one's length and checksum.
   */
  private commitSuperFrame(flow: UdpFlow, off: number, total: number, segment: number): void {
    const out = this.ctx.out;
    this.fillHeader(flow, out.buf, off, total);
    out.commit(off, flow.hdrLen + total, flow.hdrLen - UDP_HLEN, 6, VIRTIO_NET_HDR_GSO_UDP_L4, segment, flow.hdrLen);
    this.gsoFramesToTap++;
  }

  /** Write headers for a datagram at `buf[off]` whose payload (`len` bytes) is already in place after them. */
  private fillHeader(flow: UdpFlow, buf: Buffer, off: number, len: number): void {
    const udpLen = UDP_HLEN + len;
    const udp = flow.fillTemplate(buf, off, udpLen);
    buf.writeUInt16BE(udpLen, udp + 4);
    if (this.ctx.out.checksumOffload) {
      // Partial checksum: the pseudo-header sum only; the kernel adds the rest.
      buf.writeUInt16BE(fold(flow.pseudoSum + udpLen), udp + 6);
    } else if (flow.family === 4) {
      l4Checksum4(buf, off + ETH_HLEN, udp, udpLen, 6);
    } else {
      l4Checksum6(buf, off + ETH_HLEN, udp, udpLen, 6);
    }
  }


  // ---------------------------------------------------------------------

  private drop(reason: string, count = 1): undefined {
    this.stats.dropped += count;
    if (this.traceOn) this.ctx.log.trace(`UDP: dropped: ${reason}`);
    return undefined;
  }

  private trace(flow: UdpFlow, msg: string): void {
    if (this.traceOn) this.ctx.log.trace(`${describeFlow(flow)}: ${msg}`);
  }
}

