/**
 * Frames from the guest: one pass over each batch, and dispatch.
 *
 * Theory of operation, as passt's tap_handler()/tap4_handler()/
 * tap6_handler(): `TapDispatcher.frame()` looks at each guest frame once,
 * with the l2/ parsers (the same ones the link-layer responders use): the
 * Ethernet type decides between ARP (answered by the proxy), IPv4 and IPv6;
 * IP headers are checked (a malformed frame is dropped and traced, never
 * thrown), the guest's MAC is learned from what it sends, and the frame
 * goes where it belongs:
 *
 * - TCP and UDP segments are gathered into runs of one flow (run.ts): a
 *   frame with the protocol, addresses and ports of a run already open in
 *   this batch joins it (the last one is tried first, then the others by
 *   hash), any other opens a new one, up to `RUNS_MAX` runs. At the end of
 *   the batch each run goes to its handler (`tapRun`) in the order the runs
 *   were opened. So a batch of a bulk transfer reaches the TCP handler as
 *   one call with one lookup and one write, even with other flows' frames
 *   interleaved.
 * - DHCP (UDP to port 67), DHCPv6 (UDP to port 547), NDP and router
 *   solicitations are answered at once into the output, with upstream's
 *   informational lines.
 * - ICMP echo requests go to the ICMP handler; fragments of UDP and ICMP
 *   datagrams to the reassembler, and a whole datagram from it to its
 *   handler.
 *
 * With segmentation offload on the tap (l2/tapio.ts), a frame may be a
 * super-frame: a TCP segment of up to 64 KiB (handled as one big segment)
 * or a UDP super-datagram whose payload is several datagrams of `gsoSize`
 * bytes (split by the UDP handler). The GSO type must match what the frame
 * is (TCP over IPv4 for TCPV4, and so on); a frame whose offload
 * description does not is dropped and traced, never trusted.
 *
 * `flushRuns()` hands over the runs of the batch: the engine calls it after
 * every batch, before the receive buffer is reused; the dispatcher also
 * calls it itself before a reassembled datagram, so that a flow's
 * datagrams keep their order. See doc/design.md.
 */
import type { Logger } from './log.js';
import type { TapOut } from './l2/tapio.js';
import type { LinkState } from './l2/link.js';
import { ETH_HLEN, ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, formatMac } from './l2/ethernet.js';
import { ipv4HeaderLength, ipv4IsFragment } from './l2/ipv4.js';
import { ipv6Walk, type Ipv6L4 } from './l2/ipv6.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from './l2/numbers.js';
import { arpTapHandler } from './l2/arp-proxy.js';
import { Reassembler, type Reassembled } from './l2/reasm.js';
import { ndpTapHandler } from './ndp/ndp.js';
import { raTapHandler, type RaConfig } from './ndp/ra.js';
import { dhcpTapHandler, type DhcpConfig } from './dhcp/dhcp.js';
import { dhcpv6TapHandler, type Dhcpv6Config } from './dhcp/dhcpv6.js';
import { flowHash } from './flow.js';
import { FrameRun } from './run.js';

/** Most runs open at once in a batch (passt's TAP_SEQS); more first hands over the open ones. */
export const RUNS_MAX = 128;
import type { TcpHandler } from './tcp/tcp.js';
import type { UdpHandler } from './udp/udp.js';
import type { IcmpHandler } from './icmp/icmp.js';
import { M } from './messages.js';
import { VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6, VIRTIO_NET_HDR_GSO_UDP_L4 } from './l2/tapio.js';

/** DHCPv6 requests upstream names at info level, by message type. */
const DHCPV6_REQUESTS: Record<number, 'SOLICIT' | 'REQUEST/RENEW/CONFIRM' | 'INFORMATION_REQUEST' | 'REBIND'> = {
  1: 'SOLICIT', 3: 'REQUEST/RENEW/CONFIRM', 4: 'REQUEST/RENEW/CONFIRM', 5: 'REQUEST/RENEW/CONFIRM', 6: 'REBIND', 11: 'INFORMATION_REQUEST',
};

const DHCP_SERVER_PORT = 67;
const DHCPV6_SERVER_PORT = 547;
/** ICMPv6 types of neighbour discovery (router solicitation to redirect). */
const ND_FIRST = 133;
const ND_LAST = 137;
const ND_ROUTER_SOLICIT = 133;
const ND_NEIGHBOR_SOLICIT = 135;

/** Where guest frames go: the protocol handlers and responders of one engine (null: disabled). */
export interface TapTargets {
  log: Logger;
  out: TapOut;
  link: LinkState;
  /** IPv4 / IPv6 enabled (a frame of a disabled version is dropped). */
  ip4: boolean;
  ip6: boolean;
  tcp: TcpHandler | null;
  udp: UdpHandler | null;
  icmp: IcmpHandler | null;
  /** Answer NDP (unless --no-ndp). */
  ndp: boolean;
  dhcp: DhcpConfig | null;
  dhcpv6: Dhcpv6Config | null;
  ra: RaConfig | null;
}

export class TapDispatcher {
  /** Frames dropped since the start (malformed, or of something disabled). */
  dropped = 0;
  /** Fragments of UDP and ICMP datagrams from the guest, put back together. */
  readonly reasm = new Reassembler();
  /** The batch's runs (made as needed, kept for the next batches), and their hashes. */
  private readonly runs: FrameRun[] = [];
  private readonly runHash = new Int32Array(RUNS_MAX);
  private active = 0;
  private readonly l4: Ipv6L4 = { protocol: 0, offset: 0, length: 0, fragment: false };
  private readonly traceOn: boolean;
  /** Informational messages wanted (not -q): upstream's DHCP and NDP lines. */
  private readonly infoOn: boolean;

  constructor(private readonly t: TapTargets) {
    this.traceOn = t.log.isLevelEnabled('trace');
    this.infoOn = t.log.isLevelEnabled('info');
  }

  /** GSO type (ECN bit cleared) and size of the frame being dispatched, from its virtio-net header. */
  private gsoType = 0;
  private gsoSize = 0;

  /**
   * One frame from the guest, with its virtio-net header's GSO type and
   * size when the tap has segmentation offload (else 0). Never throws on bad
   * input.
   */
  frame(buf: Buffer, off: number, len: number, now: number, gsoType = 0, gsoSize = 0): void {
    this.gsoType = gsoType & 0x7f;
    this.gsoSize = gsoSize;
    if (len < ETH_HLEN) return this.drop('runt frame', len);
    this.learnMac(buf, off);
    const ethertype = (buf[off + 12] << 8) | buf[off + 13];
    if (ethertype === ETH_P_IP) return this.ipv4(buf, off, len, now);
    if (ethertype === ETH_P_IPV6) return this.ipv6(buf, off, len, now);
    if (this.gsoType !== VIRTIO_NET_HDR_GSO_NONE) return this.drop(`GSO type ${this.gsoType} on ethertype 0x${ethertype.toString(16)}`, len);
    if (ethertype === ETH_P_ARP) {
      const out = this.t.out;
      const o = out.reserve(64);
      const r = arpTapHandler(this.t.link, buf, off, len, out.buf, o);
      if (r > 0) out.commit(o, r);
      return;
    }
    this.drop(`ethertype 0x${ethertype.toString(16)}`, len);
  }

  /** Hand every run of the batch to its handler, in the order they were opened (after every batch, before its buffer is reused). */
  flushRuns(now: number): void {
    const n = this.active;
    this.active = 0;
    for (let i = 0; i < n; i++) {
      const run = this.runs[i];
      if (run.protocol === IPPROTO_TCP) this.t.tcp?.tapRun(run, now);
      else this.t.udp?.tapRun(run, now);
      run.count = 0;
    }
  }

  /** Learn the guest's MAC from unicast sources. */
  private learnMac(buf: Buffer, off: number): void {
    if (buf[off + 6] & 1) return;
    const mac = this.t.link.guestMac;
    if (mac[0] === buf[off + 6] && mac[1] === buf[off + 7] && mac[2] === buf[off + 8] && mac[3] === buf[off + 9] && mac[4] === buf[off + 10] && mac[5] === buf[off + 11]) return;
    mac.set(buf.subarray(off + 6, off + 12));
    this.t.log.debug(`guest MAC address: ${formatMac(mac)}`);
  }

  private ipv4(buf: Buffer, off: number, len: number, now: number): void {
    const ip = off + ETH_HLEN;
    const ihl = ipv4HeaderLength(buf, ip, len - ETH_HLEN);
    if (!ihl) return this.drop('bad IPv4 header', len);
    if (!this.t.ip4) return this.drop('IPv4 disabled', len);
    const total = (buf[ip + 2] << 8) | buf[ip + 3];
    const proto = buf[ip + 9];
    const l4 = ip + ihl;
    const l4Len = total - ihl;
    const fragment = ipv4IsFragment(buf, ip);
    // A fragment is no super-frame (as for IPv6 below): a GSO type on it is a lie.
    if (!this.gsoFits(4, fragment ? -1 : proto)) return this.drop(`GSO type ${this.gsoType} on IPv4 protocol ${proto}`, len);
    if (fragment) {
      this.flushRuns(now);
      // A fragment: UDP and ICMP datagrams are reassembled; TCP never needs it.
      if (proto !== IPPROTO_UDP && proto !== IPPROTO_ICMP) return this.drop('IPv4 fragment', len);
      const whole = this.reasm.ipv4(buf, off, ihl, total, now);
      if (whole) this.reassembled(4, whole, now);
      return;
    }
    if (proto === IPPROTO_UDP && this.t.dhcp && l4Len >= 8 && buf[l4 + 2] === 0 && buf[l4 + 3] === DHCP_SERVER_PORT) {
      return this.dhcp(buf, off, len, l4);
    }
    if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) return this.flowFrame(4, proto, buf, ip, l4, l4Len, len, now);
    if (proto === IPPROTO_ICMP) {
      if (this.t.icmp) this.t.icmp.tapHandler(4, buf, ip, l4, l4Len, now);
      else this.drop('ICMP disabled', len);
      return;
    }
    this.drop(`IPv4 protocol ${proto}`, len);
  }

  private ipv6(buf: Buffer, off: number, len: number, now: number): void {
    const ip = off + ETH_HLEN;
    const w = this.l4;
    if (!ipv6Walk(buf, ip, len - ETH_HLEN, w)) return this.drop('bad IPv6 header', len);
    const { protocol: nh, offset: l4, length: l4Len } = w;
    if (!this.gsoFits(6, w.fragment ? -1 : nh)) return this.drop(`GSO type ${this.gsoType} on IPv6 next header ${nh}`, len);
    if (w.fragment) {
      this.flushRuns(now);
      if (!this.t.ip6) return this.drop('IPv6 disabled', len);
      const whole = this.reasm.ipv6(buf, off, l4 - 8, l4 + l4Len, now);
      if (whole) this.reassembled(6, whole, now);
      return;
    }
    if (nh === IPPROTO_ICMPV6 && l4Len >= 1 && buf[l4] >= ND_FIRST && buf[l4] <= ND_LAST) {
      return this.ndp(buf, off, len, l4);
    }
    if (nh === IPPROTO_UDP && this.t.dhcpv6 && l4Len >= 8 && ((buf[l4 + 2] << 8) | buf[l4 + 3]) === DHCPV6_SERVER_PORT) {
      return this.dhcpv6(buf, off, len, l4);
    }
    if (!this.t.ip6) return this.drop('IPv6 disabled', len);
    if (nh === IPPROTO_TCP || nh === IPPROTO_UDP) return this.flowFrame(6, nh, buf, ip, l4, l4Len, len, now);
    if (nh === IPPROTO_ICMPV6) {
      // Not neighbour discovery: echo requests go to the ICMP handler (which drops anything else).
      if (this.t.icmp) this.t.icmp.tapHandler(6, buf, ip, l4, l4Len, now);
      else this.drop('ICMPv6 disabled', len);
      return;
    }
    this.drop(`IPv6 next header ${nh}`, len);
  }

  /**
   * Whether the frame's GSO type (if any) is what a frame of `family` and
   * `proto` can carry: TCPV4 a TCP segment over IPv4, TCPV6 one over IPv6,
   * UDP_L4 a UDP datagram with a segment size. DHCP and DHCPv6 super-datagrams
   * make no sense and are not answered (see dhcp()).
   */
  private gsoFits(family: 4 | 6, proto: number): boolean {
    switch (this.gsoType) {
      case VIRTIO_NET_HDR_GSO_NONE:
        return true;
      case VIRTIO_NET_HDR_GSO_TCPV4:
        return family === 4 && proto === IPPROTO_TCP;
      case VIRTIO_NET_HDR_GSO_TCPV6:
        return family === 6 && proto === IPPROTO_TCP;
      case VIRTIO_NET_HDR_GSO_UDP_L4:
        return proto === IPPROTO_UDP && this.gsoSize > 0;
      default:
        return false;
    }
  }

  /** A TCP or UDP segment: extend the current run, or start a new one. */
  private flowFrame(family: 4 | 6, proto: number, buf: Buffer, ip: number, l4: number, l4Len: number, len: number, now: number): void {
    if (proto === IPPROTO_TCP ? !this.t.tcp : !this.t.udp) return this.drop(proto === IPPROTO_TCP ? 'TCP disabled' : 'UDP disabled', len);
    if (l4Len < 4) return this.drop(proto === IPPROTO_TCP ? 'short TCP header' : 'short UDP header', len);
    const addrOff = ip + (family === 4 ? 12 : 8);
    const hash = flowHash(proto, family, buf, addrOff, (buf[l4] << 8) | buf[l4 + 1], (buf[l4 + 2] << 8) | buf[l4 + 3]);
    const n = this.active;
    // The last run first (a bulk transfer), then the others.
    for (let k = n - 1; k >= 0; k--) {
      if (this.runHash[k] !== hash) continue;
      const run = this.runs[k];
      if (run.buf === buf && run.matches(family, proto, hash, ip, l4)) {
        run.push(ip, l4, l4Len, this.udpGso());
        return;
      }
    }
    if (n === RUNS_MAX || (n > 0 && this.runs[0].buf !== buf)) this.flushRuns(now);
    const i = this.active++;
    if (i === this.runs.length) this.runs.push(new FrameRun());
    this.runs[i].start(buf, family, proto, hash, ip, l4, l4Len, this.udpGso());
    this.runHash[i] = hash;
  }

  /** The segment size of a UDP super-datagram (USO), else 0. */
  private udpGso(): number {
    return this.gsoType === VIRTIO_NET_HDR_GSO_UDP_L4 ? this.gsoSize : 0;
  }

  private dhcp(buf: Buffer, off: number, len: number, l4: number): void {
    if (this.gsoType) return this.drop('DHCP super-datagram', len);
    const out = this.t.out;
    const o = out.reserve(1024);
    const r = dhcpTapHandler(this.t.dhcp!, this.t.link, buf, off, len, out.buf, o);
    if (r > 0) {
      if (this.infoOn) this.noteDhcp(out.buf, o, r, buf, l4);
      out.commit(o, r);
    } else if (this.traceOn) this.t.log.trace('DHCP from guest: not answered');
  }

  private dhcpv6(buf: Buffer, off: number, len: number, l4: number): void {
    if (this.gsoType) return this.drop('DHCPv6 super-datagram', len);
    const out = this.t.out;
    const o = out.reserve(1024);
    const r = dhcpv6TapHandler(this.t.dhcpv6!, this.t.link, buf, off, len, out.buf, o);
    if (r > 0) {
      const kind = DHCPV6_REQUESTS[buf[l4 + 8]];
      if (this.infoOn && kind) this.t.log.info(M.dhcpv6Reply(kind));
      out.commit(o, r);
    } else if (this.traceOn) this.t.log.trace('DHCPv6 from guest: not answered');
  }

  /** Neighbour discovery: solicitations answered with advertisements, router solicitations with an advertisement. */
  private ndp(buf: Buffer, off: number, len: number, l4: number): void {
    if (!this.t.ndp) return this.drop('NDP disabled', len);
    const out = this.t.out;
    const o = out.reserve(1024);
    let r = ndpTapHandler(this.t.link, buf, off, len, out.buf, o);
    if (r === 0 && this.t.ra) r = raTapHandler(this.t.ra, this.t.link, buf, off, len, out.buf, o);
    if (r > 0) {
      // As upstream, at info level: what was asked and answered.
      if (this.infoOn && (buf[l4] === ND_NEIGHBOR_SOLICIT || buf[l4] === ND_ROUTER_SOLICIT)) this.t.log.info(buf[l4] === ND_NEIGHBOR_SOLICIT ? M.ndpNa() : M.ndpRa());
      out.commit(o, r);
    } else if (this.traceOn) this.t.log.trace('ICMPv6 from guest: not answered');
  }

  /**
   * Upstream's info lines for a DHCP reply: what it answers ("DHCP: offer to
   * discover", "DHCP: ack to request", "... (Rapid Commit)") and the
   * client's hardware address. `reply` is the frame built at `o`.
   */
  private noteDhcp(out: Buffer, o: number, len: number, request: Buffer, l4: number): void {
    // Options of the reply: after Ethernet, IPv4 (20), UDP (8), the fixed BOOTP fields and the cookie (240).
    let type = 0;
    let rapid = false;
    let bootp = true;
    for (let i = o + ETH_HLEN + 20 + 8 + 240; i + 1 < o + len; ) {
      const code = out[i];
      if (code === 0) {
        i++;
        continue;
      }
      if (code === 255) break;
      if (code === 53) {
        type = out[i + 2];
        bootp = false;
      }
      if (code === 80) rapid = true;
      i += 2 + out[i + 1];
    }
    const log = this.t.log;
    if (type === 2) log.info(M.dhcpOffer());
    else if (type === 5 && rapid) log.info(M.dhcpAckRapid());
    else if (type === 5 || bootp) log.info(M.dhcpAck(bootp));
    else return;
    log.info(M.dhcpFrom(formatMac(request.subarray(l4 + 8 + 28, l4 + 8 + 34))));
  }

  /** A datagram put back together from fragments: to its protocol handler. */
  private reassembled(family: 4 | 6, d: Reassembled, now: number): void {
    const ip = ETH_HLEN;
    if (d.protocol === IPPROTO_UDP) {
      if (this.t.udp) this.t.udp.tapFrame(family, d.frame, ip, d.l4Off, d.l4Len, now);
      else this.drop('UDP disabled', d.frame.length);
    } else if ((family === 4 && d.protocol === IPPROTO_ICMP) || (family === 6 && d.protocol === IPPROTO_ICMPV6)) {
      if (this.t.icmp) this.t.icmp.tapHandler(family, d.frame, ip, d.l4Off, d.l4Len, now);
      else this.drop('ICMP disabled', d.frame.length);
    } else {
      this.drop(`reassembled protocol ${d.protocol}`, d.frame.length);
    }
  }

  private drop(reason: string, len: number): void {
    this.dropped++;
    if (this.traceOn) this.t.log.trace(`tap: dropped ${len}-byte frame: ${reason}`);
  }
}
