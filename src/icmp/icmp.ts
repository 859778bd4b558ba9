/**
 * ICMP and ICMPv6 echo translation through ping sockets.
 *
 * Theory of operation, as in passt(1)'s icmp.c: an echo request from the
 * guest is not answered here and not sent raw. Each flow — one guest
 * address, one remote address as the guest addressed it, one guest echo
 * identifier — gets an unprivileged "ping" socket (socket(AF_INET,
 * SOCK_DGRAM, IPPROTO_ICMP), or AF_INET6 with IPPROTO_ICMPV6; see icmp(7)),
 * connected to where `natFromTap` sends the remote. The kernel owns the echo
 * identifier of such a socket (its "port") and delivers a reply to a socket
 * by identifier alone, so each flow holds its identifier exclusively (no
 * SO_REUSEADDR, which ping sockets otherwise have). We bind with the guest's
 * identifier so the request leaves the host unchanged; when that identifier
 * is taken — by the host, or by another flow of ours with the same guest
 * identifier, ICMP or ICMPv6, to another remote — the kernel picks another
 * and the mapping is kept per flow: requests leave with the host's
 * identifier, replies go back with the guest's. The request is sent as the
 * guest wrote it (header and data); the kernel fills in identifier and
 * checksum.
 *
 * Replies are received in batches (recvmmsg) straight into frame slots of
 * the tap transmit buffer, after room for the Ethernet and IP headers, which
 * come from the flow's template: the reply appears to come from the address
 * the guest pinged, with the guest's identifier and the sequence number and
 * data the remote sent back. The ICMP checksum is recomputed (ICMPv6's over
 * the pseudo-header of the addresses the guest sees), or left partial for a
 * tap with checksum offload; the IPv4 header checksum is always computed.
 * A ping socket takes every echo reply with its identifier, whoever sends
 * it, so replies from another source than the flow's target are dropped.
 *
 * Ping sockets exist only for groups in `net.ipv4.ping_group_range` (which
 * covers ICMPv6 too). When the kernel refuses them, one warning says so for
 * the whole run and requests are dropped. Flows without a request for
 * ICMP_FLOW_TIMEOUT_MS are closed. Bad messages from the guest — truncated,
 * longer than their IP payload, with a wrong checksum, anything but an echo
 * request — are dropped and traced, never thrown.
 */
import fs from 'node:fs';
import { native, C, E, errnoName, isResourceShortage } from '../native.js';
import { FdKind } from '../loop.js';
import { formatIP } from '../inet.js';
import { Flow, PROTO_ICMP, PROTO_ICMPV6, bindOutbound, describeFlow, flowEvent, flowHash, type FlowContext } from '../flow.js';
import { finish, fold, l4ChecksumValid4, l4ChecksumValid6, sum16 } from '../l2/checksum.js';
import { refuseToGuest } from './refuse.js';
import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_HLEN, ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST } from '../l2/icmp.js';

/** A flow without an echo request from the guest for this long is closed (passt: 60 s). */
export const ICMP_FLOW_TIMEOUT_MS = 60_000;
/** How often idle flows are looked for. */
const SWEEP_INTERVAL_MS = 1000;
/** Most replies taken from one socket per recvmmsg call, and calls per readiness event. */
const RECV_BATCH = 16;
const RECV_ROUNDS = 4;


export interface IcmpStats {
  /** Live flows (ping sockets open now). */
  flows: number;
  /** Flows opened and closed since the start. */
  opened: number;
  closed: number;
  /** Echo requests sent on ping sockets, echo replies sent to the guest. */
  requests: number;
  replies: number;
  /** Messages dropped, either way. */
  dropped: number;
}

/**
 * One echo flow: a ping socket and the guest's view of it. Its identity in
 * the flow table (flow.ts): the guest's echo identifier stands as the guest
 * port, the remote port is 0.
 */
export class IcmpFlow extends Flow {
  /** Where the socket is connected on the host (replies must come from there). */
  targetAddr!: Uint8Array;
  /** The echo identifier the kernel gave the socket (the guest's is `guestPort`). */
  hostId = 0;

  /** `addrs`: the guest's address, then the remote's as the guest addressed it. */
  constructor(family: 4 | 6, addrs: Uint8Array, guestId: number) {
    super(family === 4 ? PROTO_ICMP : PROTO_ICMPV6, family, addrs, guestId, 0);
  }

  /** The echo identifier the guest uses. */
  get guestId(): number {
    return this.guestPort;
  }
}

/**
 * The echo translation for one engine instance: flows found by family and
 * guest identifier (then addresses), slots indexed for epoll tags, a tick
 * that closes idle flows.
 */
export class IcmpHandler {
  private live = 0;
  private lastSweep = 0;
  private readonly recvOffsets = new Int32Array(RECV_BATCH);
  private readonly recvInfo = new Int32Array(5 * RECV_BATCH);
  private readonly recvAddrs = new Uint8Array(16 * RECV_BATCH);
  private readonly addrOut = new Uint8Array(16);
  private readonly infoOut = new Int32Array(3);
  private readonly intOut = new Int32Array(1);
  /** Largest ICMP message that fits the MTU, per family. */
  private readonly maxMessage4: number;
  private readonly maxMessage6: number;
  private warnedNotPermitted = false;
  private readonly warnedErrnos = new Set<number>();
  readonly stats: IcmpStats = { flows: 0, opened: 0, closed: 0, requests: 0, replies: 0, dropped: 0 };
  private readonly traceOn: boolean;

  constructor(private readonly ctx: FlowContext) {
    const ipMax = Math.min(ctx.mtu, 65535);
    this.maxMessage4 = Math.max(ipMax - 20, ICMP_HLEN);
    this.maxMessage6 = Math.max(ipMax - 40, ICMP_HLEN);
    ctx.loop.on(FdKind.IcmpSock, (index, events) => this.sockHandler(index, events));
    ctx.loop.onTick((now) => this.timerHandler(now));
    this.traceOn = ctx.log.isLevelEnabled('trace');
  }

  /** Number of live flows. */
  get count(): number {
    return this.live;
  }

  /** Live flows, for statistics and tests. */
  *flows(): IterableIterator<IcmpFlow> {
    for (const flow of this.ctx.flows.all(PROTO_ICMP)) yield flow as IcmpFlow;
    for (const flow of this.ctx.flows.all(PROTO_ICMPV6)) yield flow as IcmpFlow;
  }

  // ---------------------------------------------------------------------
  // Messages from the guest

  /**
   * An ICMP (family 4) or ICMPv6 (family 6) message from the guest: the IP
   * header is at `buf[ipOff]`, the message is `l4Len` bytes at `l4Off`. Echo
   * requests go out on the flow's ping socket at once; everything else is
   * dropped and traced. Never throws on bad input.
   */
  tapHandler(family: 4 | 6, buf: Buffer, ipOff: number, l4Off: number, l4Len: number, now: number): void {
    if (l4Len < ICMP_HLEN) return this.drop('truncated ICMP message');
    const ipHdrLen = family === 4 ? 20 : 40;
    if (ipOff < 0 || ipOff + ipHdrLen > buf.length) return this.drop('truncated IP header');
    // End of the IP payload by the IP header's own length field.
    const ipEnd = family === 4 ? ipOff + ((buf[ipOff + 2] << 8) | buf[ipOff + 3]) : ipOff + 40 + ((buf[ipOff + 4] << 8) | buf[ipOff + 5]);
    if (l4Off < ipOff + ipHdrLen || l4Off + l4Len > ipEnd || ipEnd > buf.length) return this.drop('ICMP message longer than its IP payload');
    const type = buf[l4Off];
    if (type !== (family === 4 ? ICMP_ECHO_REQUEST : ICMPV6_ECHO_REQUEST)) {
      return this.drop(`${family === 4 ? 'ICMP' : 'ICMPv6'} type ${type}`);
    }
    if (buf[l4Off + 1] !== 0) return this.drop(`echo request with code ${buf[l4Off + 1]}`);
    const valid = family === 4 ? l4ChecksumValid4(buf, ipOff, l4Off, l4Len, PROTO_ICMP) : l4ChecksumValid6(buf, ipOff, l4Off, l4Len, PROTO_ICMPV6);
    if (!valid) return this.drop('echo request with a bad checksum');

    const id = (buf[l4Off + 4] << 8) | buf[l4Off + 5];
    const proto = family === 4 ? PROTO_ICMP : PROTO_ICMPV6;
    const srcOff = family === 4 ? ipOff + 12 : ipOff + 8;
    const hash = flowHash(proto, family, buf, srcOff, id, 0);
    let flow = this.ctx.flows.lookup(proto, family, buf, srcOff, id, 0, hash) as IcmpFlow | undefined;
    if (!flow) {
      flow = this.flowFromTap(family, buf, ipOff, srcOff, l4Off + l4Len - ipOff, id, hash, now);
      if (!flow) return;
    }
    flow.lastActivity = now;

    const n = native.send(flow.fd, buf, l4Off, l4Len, 0);
    if (n < 0) {
      this.stats.dropped++;
      if (n === -E.EAGAIN || n === -E.ENOBUFS) {
        if (this.traceOn) this.trace(flow, `echo request dropped: ${errnoName(n)}`);
      } else {
        this.ctx.log.debug(`${describeFlow(flow)}: send: ${errnoName(n)}`);
      }
      return;
    }
    this.stats.requests++;
    if (this.traceOn) this.trace(flow, `echo request seq ${(buf[l4Off + 6] << 8) | buf[l4Off + 7]}, ${l4Len - ICMP_HLEN} data bytes`);
  }

  /** Open the ping socket of a new flow; undefined (and the request dropped) if that is not possible. */
  private flowFromTap(family: 4 | 6, buf: Buffer, ipOff: number, srcOff: number, ipLen: number, id: number, hash: number, now: number): IcmpFlow | undefined {
    const alen = family === 4 ? 4 : 16;
    const addrs = Uint8Array.from(buf.subarray(srcOff, srcOff + 2 * alen));
    const remoteAddr = addrs.subarray(alen);
    if ((family === 4 && (remoteAddr[0] >= 224 || remoteAddr[0] === 0)) || (family === 6 && (remoteAddr[0] === 0xff || isUnspecified(remoteAddr)))) {
      this.drop('echo request to a multicast, broadcast or unspecified address');
      return undefined;
    }
    const proto = family === 4 ? PROTO_ICMP : PROTO_ICMPV6;
    const target = this.ctx.natFromTap(family, proto, remoteAddr, 0);
    if (!target) {
      this.drop(`echo request to ${formatIP(remoteAddr)} refused by address mapping`);
      return undefined;
    }
    if (!this.ctx.flows.admit(now)) {
      refuseToGuest(this.ctx.out, this.ctx.ourMac, this.ctx.guestMac(), family, buf, ipOff, ipLen);
      this.drop('flow table full');
      return undefined;
    }
    const fd = native.socket(family === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_DGRAM | C.SOCK_NONBLOCK, family === 4 ? C.IPPROTO_ICMP : C.IPPROTO_ICMPV6);
    if (fd < 0) {
      this.socketRefused(fd);
      if (isResourceShortage(fd)) refuseToGuest(this.ctx.out, this.ctx.ourMac, this.ctx.guestMac(), family, buf, ipOff, ipLen);
      this.stats.dropped++;
      return undefined;
    }
    // The guest's identifier as the socket's "port". Ping sockets come with SO_REUSEADDR set,
    // and the kernel hands a reply to one socket of its identifier, whichever the peer:
    // without SO_REUSEADDR the identifier is ours alone. If bind refuses it (EADDRINUSE: a
    // socket on the host, or another of our flows, has it; or a restrictive security
    // policy), the kernel picks a free one, as in passt.
    let rc = native.setsockoptInt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, 0);
    if (rc === 0) rc = bindOutbound(fd, target, id, true);
    if (rc < 0 && id !== 0) rc = bindOutbound(fd, target, 0, true);
    if (rc === 0) rc = native.getsockname(fd, this.addrOut, this.infoOut);
    if (rc === 0) rc = native.connect(fd, target.addr, 0, target.scopeId);
    const flow = new IcmpFlow(family, addrs, id);
    if (rc === 0 && !this.ctx.flows.insert(flow, hash)) rc = -E.ENOMEM;
    if (rc === 0) {
      rc = this.ctx.loop.add(fd, FdKind.IcmpSock, flow.index, C.EPOLLIN);
      if (rc < 0) this.ctx.flows.remove(flow);
    }
    if (rc < 0) {
      native.close(fd);
      this.stats.dropped++;
      this.ctx.log.debug(`ICMP: cannot open a ping socket to ${formatIP(target.addr)}: ${errnoName(rc)}`);
      return undefined;
    }

    flow.fd = fd;
    flow.targetAddr = Uint8Array.from(target.addr);
    flow.hostId = this.infoOut[1];
    flow.lastActivity = now;
    this.buildHeader(flow);
    this.live++;
    this.stats.flows = this.live;
    this.stats.opened++;
    this.ctx.onFlow?.(flowEvent(flow, 'out'));
    if (flow.hostId !== id && id !== 0) this.ctx.log.debug(`${describeFlow(flow)}: echo id ${id} is taken on the host, using ${flow.hostId}`);
    if (this.traceOn) this.trace(flow, `new flow, host target ${formatIP(flow.targetAddr)}`);
    return flow;
  }

  /** socket() failed: one warning for the whole run when ping sockets are not permitted. */
  private socketRefused(rc: number): void {
    if (rc === -E.EACCES || rc === -E.EPERM) {
      if (this.warnedNotPermitted) return;
      this.warnedNotPermitted = true;
      const gid = process.getegid?.() ?? -1;
      let range = 'unknown';
      try {
        range = fs.readFileSync('/proc/sys/net/ipv4/ping_group_range', 'utf8').trim().replace(/\s+/g, ' ');
      } catch {
        // Not readable: the warning still says what to change.
      }
      this.ctx.log.warn(
        `ICMP echo: ping sockets are not permitted for group ${gid} (net.ipv4.ping_group_range is "${range}"); ` +
          `ping from the namespace will not work (allow it with: sysctl -w net.ipv4.ping_group_range="${gid} ${gid}")`,
      );
      return;
    }
    // No ping sockets in this kernel, or no IPv6: say so once per reason.
    if (this.warnedErrnos.has(rc)) return;
    this.warnedErrnos.add(rc);
    this.ctx.log.warn(`ICMP echo: cannot open a ping socket: ${errnoName(rc)}; echo requests are dropped`);
  }

  // ---------------------------------------------------------------------
  // Ping sockets

  private sockHandler(index: number, events: number): void {
    const flow = this.ctx.flows.get(index) as IcmpFlow | undefined;
    if (!flow) return;
    if (events & C.EPOLLERR) {
      // An ICMP error for this flow (unreachable, say): reading SO_ERROR clears it.
      native.getsockoptInt(flow.fd, C.SOL_SOCKET, C.SO_ERROR, this.intOut);
      if (this.traceOn) this.trace(flow, `socket error ${errnoName(this.intOut[0])}`);
    }
    if (events & (C.EPOLLIN | C.EPOLLERR)) this.repliesFromSock(flow);
  }

  /** Receive what the socket holds, a batch at a time, into frames to the guest. */
  private repliesFromSock(flow: IcmpFlow): void {
    const out = this.ctx.out;
    const v4 = flow.family === 4;
    const maxMessage = v4 ? this.maxMessage4 : this.maxMessage6;
    const hdrLen = flow.hdrLen;
    const slot = (out.headroom + hdrLen + maxMessage + 7) & ~7;
    const alen = v4 ? 4 : 16;
    for (let round = 0; round < RECV_ROUNDS; round++) {
      const count = Math.max(1, Math.min(RECV_BATCH, Math.floor(out.room / slot)));
      const base = out.reserve(slot * count);
      for (let i = 0; i < count; i++) this.recvOffsets[i] = base + i * slot + hdrLen;
      const n = native.recvmmsg(flow.fd, out.buf, this.recvOffsets, maxMessage, count, this.recvInfo, this.recvAddrs);
      if (n < 0) {
        if (n === -E.EAGAIN) return;
        // A pending error (an ICMP error for the flow) is reported once, by this call; go on reading.
        if (this.traceOn) this.trace(flow, `receive: ${errnoName(n)}`);
        continue;
      }
      for (let i = 0; i < n; i++) {
        const len = this.recvInfo[5 * i];
        const flags = this.recvInfo[5 * i + 4];
        const msg = this.recvOffsets[i];
        if (flags & C.MSG_TRUNC) {
          this.dropReply(flow, 'echo reply larger than the MTU');
          continue;
        }
        if (len < ICMP_HLEN || out.buf[msg] !== (v4 ? ICMP_ECHO_REPLY : ICMPV6_ECHO_REPLY)) {
          this.dropReply(flow, 'not an echo reply');
          continue;
        }
        if (!sameAddr(flow.targetAddr, this.recvAddrs, 16 * i, alen)) {
          this.dropReply(flow, 'echo reply from another address than the flow target');
          continue;
        }
        this.commitReply(flow, out.buf, base + i * slot, len);
      }
      if (n < count) return;
    }
  }

  /** Headers around a received reply of `len` bytes at `buf[off + hdrLen]`, then queue the frame. */
  private commitReply(flow: IcmpFlow, buf: Buffer, off: number, len: number): void {
    const out = this.ctx.out;
    const hdrLen = flow.hdrLen;
    // The transmit buffer's frame table may fill up before its bytes do (other flows queued
    // frames in this batch): write what is queued. The slots of this batch stay where they are,
    // and a frame may be committed at any offset once the buffer is empty.
    if (out.room <= 0) out.flush();
    const l4 = flow.fillTemplate(buf, off, len);
    buf[l4 + 4] = flow.guestId >>> 8;
    buf[l4 + 5] = flow.guestId & 0xff;
    buf[l4 + 2] = 0;
    buf[l4 + 3] = 0;
    let check: number;
    if (flow.family === 4) {
      // No pseudo-header: the partial checksum of ICMP is 0.
      check = out.checksumOffload ? 0 : finish(sum16(buf, l4, len));
    } else {
      check = out.checksumOffload ? fold(flow.pseudoSum + len) : finish(sum16(buf, l4, len, flow.pseudoSum + len));
    }
    buf[l4 + 2] = check >>> 8;
    buf[l4 + 3] = check & 0xff;
    if (out.checksumOffload) out.commit(off, hdrLen + len, hdrLen, 2);
    else out.commit(off, hdrLen + len);
    this.stats.replies++;
    if (this.traceOn) this.trace(flow, `echo reply seq ${(buf[l4 + 6] << 8) | buf[l4 + 7]}, ${len - ICMP_HLEN} data bytes`);
  }

  /** Template for replies: Ethernet, then IP from the remote to the guest (flow.ts). */
  private buildHeader(flow: IcmpFlow): void {
    flow.buildTemplate(this.ctx.guestMac(), this.ctx.ourMac, 0);
  }

  // ---------------------------------------------------------------------
  // Expiry and tear-down

  private timerHandler(now: number): void {
    if (this.live === 0 || now - this.lastSweep < SWEEP_INTERVAL_MS) return;
    this.lastSweep = now;
    this.expire(now);
  }

  /** Close every flow without an echo request from the guest for more than ICMP_FLOW_TIMEOUT_MS before `now`. */
  expire(now: number): void {
    for (const flow of this.flows()) {
      if (now - flow.lastActivity > ICMP_FLOW_TIMEOUT_MS) {
        if (this.traceOn) this.trace(flow, 'idle, closing');
        this.close(flow);
      }
    }
  }

  private close(flow: IcmpFlow): void {
    if (flow.fd < 0) return;
    this.ctx.loop.del(flow.fd);
    native.close(flow.fd);
    flow.fd = -1;
    this.ctx.flows.remove(flow);
    this.live--;
    this.stats.flows = this.live;
    this.stats.closed++;
  }

  /** Close every flow (engine shutdown). */
  closeAll(): void {
    for (const flow of this.flows()) this.close(flow);
  }

  // ---------------------------------------------------------------------

  private drop(reason: string): void {
    this.stats.dropped++;
    if (this.traceOn) this.ctx.log.trace(`ICMP: dropped: ${reason}`);
  }

  private dropReply(flow: IcmpFlow, reason: string): void {
    this.stats.dropped++;
    if (this.traceOn) this.trace(flow, `dropped: ${reason}`);
  }

  private trace(flow: IcmpFlow, msg: string): void {
    if (this.traceOn) this.ctx.log.trace(`${describeFlow(flow)}: ${msg}`);
  }
}

/** Whether `addr` equals the `addr.length` (or `len`) bytes at `buf[off]`. */
function sameAddr(addr: Uint8Array, buf: Uint8Array, off: number, len = addr.length): boolean {
  if (addr.length !== len) return false;
  for (let i = 0; i < len; i++) if (addr[i] !== buf[off + i]) return false;
  return true;
}

function isUnspecified(addr: Uint8Array): boolean {
  for (let i = 0; i < addr.length; i++) if (addr[i] !== 0) return false;
  return true;
}
