/**
 * The translation engine: one tap (or another frame transport: passt's QEMU
 * stream, l2/qemu.ts) on one side, host sockets on the other.
 *
 * Theory of operation: the loop reports the tap readable; `tapHandler` reads
 * every ready frame in one call and walks them once: the Ethernet view
 * decides between ARP (answered by the proxy), IPv4 and IPv6; IP views are
 * checked (malformed frames are dropped and traced, never thrown), the
 * guest's MAC is learned from what it sends, and each segment goes to its
 * protocol handler. At the end of the batch the TCP handler writes each
 * flow's collected payload with one call, and every frame queued for the
 * guest leaves in one native call. Address mapping for traffic from the tap
 * (`natFromTap`): the gateway address stands for the host's loopback unless
 * `--no-map-gw`; every other address is used as it is (no NAT).
 *
 * A transport other than a tap (`EngineOptions.transport`) supplies the same
 * two halves — a frame source read in batches and a TapOut to build frames
 * in — and watches its own fds; the engine only hears, through it, when
 * frames are waiting. With `--pcap`, every batch read and every flush is
 * also captured (l2/pcap.ts).
 */
import { native, C, E, errnoName } from './native.js';
import { Loop, FdKind, FD_KIND_NAMES, monotonicNow } from './loop.js';
import { TapIn, TapOut, type FrameCapture, type FrameSource, type FrameTransport } from './l2/tapio.js';
import { PcapWriter } from './l2/pcap.js';
import { createLinkState, type LinkState } from './l2/link.js';
import { arpTapHandler } from './l2/arp-proxy.js';
import { ndpTapHandler } from './ndp/ndp.js';
import { TcpHandler } from './tcp/tcp.js';
import { IcmpHandler } from './icmp/icmp.js';
import { UdpHandler } from './udp/udp.js';
import { Reassembler, type Reassembled } from './l2/reasm.js';
import { TcpForwarder, TcpNsForwarder, ListenTable, type SpliceTo } from './fwd/fwd.js';
import { SpliceHandler, type SpliceStats } from './fwd/splice.js';
import { UdpForwarder, UdpNsForwarder } from './fwd/udpfwd.js';
import { UdpSpliceHandler, type UdpSpliceStats } from './fwd/udpsplice.js';
import { AutoForwarding } from './fwd/autofwd.js';
import { hasScanRules, type PortForwardSpec } from './fwd/spec.js';
import fs from 'node:fs';
import { Netlink, NETLINK_SOCK_DIAG } from './netlink.js';
import { dhcpTapHandler, type DhcpConfig } from './dhcp/dhcp.js';
import { dhcpv6TapHandler, type Dhcpv6Config } from './dhcp/dhcpv6.js';
import { raTapHandler, unsolicitedRouterAdvertisement, nextRouterAdvertisementDelay, type RaConfig } from './ndp/ra.js';
import { DEFAULT_MTU, type Config } from './conf.js';
import { M } from './messages.js';
import { PROTO_TCP, PROTO_UDP, type FlowContext, type FlowEvent, type HostTarget } from './flow.js';
import type { Logger } from './log.js';
import { addressEqual, isLinkLocal6, isLoopback, isUnspecified } from './inet.js';
// This process's (the host's) /proc/net tables, through the fds the sandbox keeps open once locked.
import { readHostProcNet } from './sandbox/procnet.js';

const ETH_P_IP = 0x0800;
const ETH_P_ARP = 0x0806;
const ETH_P_IPV6 = 0x86dd;
const LOOPBACK4 = Uint8Array.of(127, 0, 0, 1);
const LOOPBACK6 = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);

export interface EngineStats {
  framesFromTap: number;
  bytesFromTap: number;
  framesToTap: number;
  bytesToTap: number;
  droppedFromTap: number;
  tcp: { active: number; opened: number; closed: number; refused: number; bytesFromTap: number; bytesToTap: number; retransmits: number };
  icmp: { active: number; opened: number; closed: number; requests: number; replies: number; dropped: number };
  udp: { active: number; opened: number; closed: number; datagramsFromTap: number; bytesFromTap: number; datagramsToTap: number; bytesToTap: number; errorsRelayed: number; dropped: number };
  /** Spliced loopback connections (pasta's forwarded ports reached from the host's loopback). */
  splice: SpliceStats;
  /** Spliced UDP flows (-u from the host's loopback, and -U). */
  udpSplice: UdpSpliceStats;
  /** Ports forwarded now, per option (with `auto`, the ports found bound on the other side). */
  forwarded: { tcp: number[]; udp: number[]; tcpNs: number[]; udpNs: number[] };
}

export interface EngineOptions {
  config: Config;
  /** The tap device's fd; not used with `transport`. */
  tapFd?: number;
  /** virtio-net header length of the tap (10 for taps made with IFF_VNET_HDR, 0 for plain frames). */
  vnetHdrLen?: number;
  /**
   * Frames travel through this transport instead of a tap device: called
   * once, with the engine's loop (to watch its fds as FdKind.Tap) and the
   * pcap capture to hand to its TapOut (undefined without --pcap).
   */
  transport?: (loop: Loop, capture: FrameCapture | undefined) => FrameTransport;
  log: Logger;
  /** Called when the tap fails for good (the namespace went away). */
  onTapGone?: (reason: string) => void;
  /** Called when the engine cannot go on (a handler keeps failing); it has stopped. */
  onFatal?: (err: unknown) => void;
  /** Told about every new flow. */
  onFlow?: (event: FlowEvent) => void;
  /**
   * Opens a nonblocking TCP socket inside the namespace (pasta's helper does
   * this). With it, forwarded connections from the host's loopback are
   * spliced to the namespace's loopback instead of going through the tap.
   */
  nsTcpSocket?: (family: 4 | 6) => number;
  /** The same for UDP: with it, -U works and -u datagrams from the host's loopback are spliced. */
  nsUdpSocket?: (family: 4 | 6) => number;
  /**
   * Reads the namespace's /proc/net table `name` ("tcp", "tcp6", "udp",
   * "udp6"), or undefined: what `auto` for -t and -u watches.
   */
  readNsProcNet?: (name: string) => string | undefined;
  /**
   * The namespace was just made and nothing runs in it yet (pasta with a
   * command): `auto` skips its first scan there, which would find nothing
   * (reading /proc/net/tcp walks the kernel's whole connection table, a few
   * milliseconds each), and scans it from the first tick on.
   */
  nsStartsEmpty?: boolean;
  /** Opens a NETLINK_SOCK_DIAG socket in the namespace, for `auto` to list listening TCP sockets cheaply. */
  nsDiagSocket?: () => number;
}

/**
 * --stats DELAY: upstream's table of event counts by kind, printed to
 * standard error after events, at least DELAY apart, with a header every 20
 * lines (passt.c print_stats()).
 */
export function eventStatsPrinter(counts: Float64Array, delayMs: number, write: (text: string) => void = (t) => fs.writeSync(2, t)): (now: number) => void {
  let last = -Infinity;
  let lines = 0;
  return (now) => {
    if (now - last < delayMs) return;
    last = now;
    let text = '';
    if (lines % 20 === 0) {
      for (let i = 1; i < FD_KIND_NAMES.length; i++) {
        let pad = '';
        for (let j = 0; j < i * 7; j++) pad += j && !(j % 7) ? '|' : ' ';
        text += `${pad}${FD_KIND_NAMES[i]}\n`;
      }
    }
    text += ' ';
    for (let i = 1; i < FD_KIND_NAMES.length; i++) text += ` ${String(counts[i]).padStart(6)}`;
    write(`${text}\n`);
    lines++;
  };
}

/** DHCPv6 requests upstream names at info level, by message type. */
const DHCPV6_REQUESTS: Record<number, 'SOLICIT' | 'REQUEST/RENEW/CONFIRM' | 'INFORMATION_REQUEST' | 'REBIND'> = {
  1: 'SOLICIT', 3: 'REQUEST/RENEW/CONFIRM', 4: 'REQUEST/RENEW/CONFIRM', 5: 'REQUEST/RENEW/CONFIRM', 6: 'REBIND', 11: 'INFORMATION_REQUEST',
};

export class Engine {
  readonly loop: Loop;
  readonly link: LinkState;
  readonly tcp: TcpHandler;
  /** ICMP/ICMPv6 echo, unless --no-icmp. */
  readonly icmp: IcmpHandler | null;
  /** UDP, unless --no-udp. */
  readonly udp: UdpHandler | null;
  private readonly dhcpCfg: DhcpConfig | null;
  private readonly dhcpv6Cfg: Dhcpv6Config | null;
  private readonly raCfg: RaConfig | null;
  private raSent = 0;
  private raAt = 0;
  /** The spliced loopback path (pasta only). */
  readonly splice: SpliceHandler | null;
  /** Listening sockets of every forwarder, dispatched by index. */
  readonly listeners: ListenTable;
  /** Namespace TCP ports forwarded to the host's loopback (-T), if any. */
  readonly tcpNsForward: TcpNsForwarder | null;
  /** Host TCP ports forwarded into the guest (-t), if any. */
  readonly tcpForward: TcpForwarder | null;
  /** Host UDP ports forwarded into the guest (-u), if any. */
  readonly udpForward: UdpForwarder | null;
  /** Namespace UDP ports forwarded to the host's loopback (-U), if any. */
  readonly udpNsForward: UdpNsForwarder | null;
  /** The spliced UDP path (pasta only). */
  readonly udpSplice: UdpSpliceHandler | null;
  /** The `auto` options, following bound ports. */
  readonly auto: AutoForwarding;
  /** Fragments of UDP and ICMP datagrams from the guest, put back together. */
  readonly reasm = new Reassembler();
  private readonly tapIn: FrameSource;
  private readonly tapOut: TapOut;
  /** The transport in use instead of a tap, if any. */
  private readonly transport: FrameTransport | null = null;
  private readonly tapFd: number;
  /** --pcap: where frames to and from the guest are captured. */
  private readonly pcap: PcapWriter | null;
  readonly log: Logger;
  private readonly config: Config;
  private readonly traceOn: boolean;
  /** Informational messages wanted (not -q): upstream's DHCP and NDP lines. */
  private readonly infoOn: boolean;
  private droppedFromTap = 0;
  private closed = false;

  constructor(private readonly opts: EngineOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.traceOn = this.log.isLevelEnabled('trace');
    this.infoOn = this.log.isLevelEnabled('info');
    this.tapFd = opts.tapFd ?? -1;
    if (!opts.transport && this.tapFd < 0) throw new Error('Engine: neither a tap fd nor a transport given');
    // Opened before the loop exists, so a failure leaves nothing behind.
    const pcap = opts.config.pcap ? new PcapWriter(opts.config.pcap, Date.now, (message) => this.log.error(message)) : null;
    this.pcap = pcap;
    const capture: FrameCapture | undefined = pcap ? (buf, frames, count) => pcap.write(buf, frames, count) : undefined;
    this.loop = new Loop(
      (err) => this.log.error(`internal error: ${(err as Error)?.stack ?? String(err)}`),
      50,
      (err) => {
        this.log.error(`internal error repeats, stopping: ${(err as Error)?.stack ?? String(err)}`);
        // The loop has stopped; close() still releases every socket when the owner calls it.
        opts.onFatal?.(err);
      },
    );
    if (opts.transport) {
      try {
        this.transport = opts.transport(this.loop, capture);
      } catch (err) {
        this.loop.close();
        pcap?.close();
        throw err;
      }
      this.tapIn = this.transport.input;
      this.tapOut = this.transport.output;
    } else {
      this.tapIn = new TapIn(this.tapFd, opts.vnetHdrLen ?? 0);
      this.tapOut = new TapOut(this.tapFd, opts.vnetHdrLen ?? 0, undefined, undefined, capture);
    }
    const gw6 = opts.config.ip6?.gateway;
    // As upstream's our_tap_ll (Ip6Config.ourLinkLocal): a link-local gateway (-g fe80::1, a
    // router's, local mode's), else the host's own link-local address, is ours on the link,
    // the source of router advertisements and DHCPv6 replies.
    const ourLL6 = opts.config.ip6?.ourLinkLocal ?? (gw6 && isLinkLocal6(gw6) ? gw6 : undefined);
    this.link = createLinkState({
      ourMac: opts.config.ourMac,
      ...(ourLL6 ? { ourLinkLocal6: ourLL6 } : {}),
      guestAddr4: opts.config.ip4?.addr ?? null,
      guestAddr6: opts.config.ip6 && !isUnspecified(opts.config.ip6.addr) ? opts.config.ip6.addr : null,
    });
    const ctx: FlowContext = {
      loop: this.loop,
      out: this.tapOut,
      log: this.log,
      // -m 0 assigns no MTU; our segments are then bounded by the guest's MSS alone.
      mtu: opts.config.mtu || DEFAULT_MTU,
      ourMac: this.link.ourMac,
      guestMac: () => this.link.guestMac,
      natFromTap: (family, proto, dst, port) => this.natFromTap(family, proto, dst, port),
      onFlow: opts.onFlow,
    };
    this.tcp = new TcpHandler(ctx);
    this.icmp = opts.config.icmp ? new IcmpHandler(ctx) : null;
    this.udp = opts.config.udp ? new UdpHandler(ctx) : null;
    this.listeners = new ListenTable(this.loop);
    this.splice = opts.nsTcpSocket ? new SpliceHandler({ loop: this.loop, log: this.log }) : null;
    const splice = this.splice;
    this.tcpNsForward =
      opts.config.tcpNsForward && opts.nsTcpSocket && splice
        ? new TcpNsForwarder(this.listeners, this.log, opts.config.tcpNsForward, opts.nsTcpSocket, (a, b) => splice.add(a, b, { bConnecting: true }) > 0)
        : null;
    const c = opts.config;
    // The resolvers we advertise, as conf.ts remapped them (a loopback resolver of the
    // host appears as the address that reaches the host's loopback, or as --dns-forward's).
    const advertisedDns = c.dns;
    // -m 0: no MTU in DHCP or router advertisements.
    const mtu = c.mtu || null;
    this.dhcpCfg = c.dhcp && c.ip4
      ? {
          addr: c.ip4.addr, prefixLen: c.ip4.prefixLen, gateway: c.ip4.gateway, mtu, dns: advertisedDns, search: c.search,
          noDhcpDns: !c.dhcpDns, noDhcpSearch: !c.dhcpSearch, hostname: c.hostname, fqdn: c.fqdn,
        }
      : null;
    this.dhcpv6Cfg = c.dhcpv6 && c.ip6 ? { addr: c.ip6.addr, dns: advertisedDns, search: c.search, noDhcpDns: !c.dhcpDns, noDhcpSearch: !c.dhcpSearch, fqdn: c.fqdn } : null;
    // Local mode (no IPv6 address known): advertisements without a prefix, as upstream.
    this.raCfg = c.ndp && c.ra && c.ip6
      ? { prefix: isUnspecified(c.ip6.addr) ? null : c.ip6.addr, prefixLen: 64, dhcpv6: c.dhcpv6, mtu, dns: advertisedDns, search: c.search, noDhcpDns: !c.dhcpDns, noDhcpSearch: !c.dhcpSearch }
      : null;
    if (this.raCfg) {
      // Unsolicited router advertisements: the first few soon, then every few minutes (RFC 4861).
      this.loop.onTick((now) => this.periodicRa(now));
    }
    this.tcpForward = c.tcpForward && c.tcp ? new TcpForwarder(this.listeners, this.log, c, this.tcp, c.tcpForward, monotonicNow, this.spliceTo()) : null;
    this.udpSplice = opts.nsUdpSocket ? new UdpSpliceHandler(this.loop, this.log) : null;
    const udpSplice = this.udpSplice;
    this.udpForward =
      c.udpForward && this.udp
        ? new UdpForwarder(this.listeners, this.log, c, this.udp, c.udpForward, monotonicNow, this.udpSpliceTo())
        : null;
    this.udpNsForward =
      c.udpNsForward && c.udp && opts.nsUdpSocket && udpSplice ? new UdpNsForwarder(this.listeners, this.log, c.udpNsForward, opts.nsUdpSocket, udpSplice, monotonicNow) : null;
    const isAuto = <T,>(spec: PortForwardSpec | null, fwd: T | null): T | null => (hasScanRules(spec) ? fwd : null);
    const autoTcp = isAuto(c.tcpForward, this.tcpForward);
    const autoUdp = isAuto(c.udpForward, this.udpForward);
    const autoTcpNs = isAuto(c.tcpNsForward, this.tcpNsForward);
    const autoUdpNs = isAuto(c.udpNsForward, this.udpNsForward);
    const readNs = opts.readNsProcNet;
    this.auto = new AutoForwarding({
      tcpListenersNs: opts.nsDiagSocket ? this.sockDiag(opts.nsDiagSocket) : undefined,
      tcpListenersHost: this.sockDiag(() => native.socket(C.AF_NETLINK, C.SOCK_RAW, NETLINK_SOCK_DIAG)),
      log: this.log,
      tcp: autoTcp && readNs ? { spec: c.tcpForward!, forwarder: autoTcp } : undefined,
      udp: autoUdp && readNs ? { spec: c.udpForward!, forwarder: autoUdp } : undefined,
      tcpNs: autoTcpNs ? { spec: c.tcpNsForward!, forwarder: autoTcpNs } : undefined,
      udpNs: autoUdpNs ? { spec: c.udpNsForward!, forwarder: autoUdpNs } : undefined,
      readNs: readNs ?? (() => undefined),
      readHost: readHostProcNet,
      isHeld: (side, proto, port) => this.listeners.isHeld(side, proto, port),
    });
    const transport = this.transport;
    if (transport) {
      this.loop.on(FdKind.Tap, (index, events) => {
        if (transport.events(index, events)) this.tapHandler();
      });
    } else {
      this.loop.on(FdKind.Tap, () => this.tapHandler());
    }
    this.loop.onTick((now) => this.reasm.expire(now));
    if (opts.config.stats > 0) {
      const print = eventStatsPrinter(this.loop.eventCounts, opts.config.stats * 1000);
      this.loop.onBatchEnd((now) => print(now));
    }
    this.loop.onBatchEnd(() => {
      this.flushTapBatch();
      this.tapOut.flush();
    });
    if (!transport) {
      const rc = this.loop.add(this.tapFd, FdKind.Tap, 0, 0x001 /* EPOLLIN */);
      if (rc < 0) {
        this.loop.close();
        pcap?.close();
        throw new Error(`cannot watch the tap device: ${errnoName(rc)}`);
      }
    }
    try {
      this.tcpForward?.start();
      this.tcpNsForward?.start();
      this.udpForward?.start();
      this.udpNsForward?.start();
      if (this.auto.active) {
        // The first scan now, so ports bound before pasta started are forwarded from the start.
        this.auto.poll(monotonicNow(), opts.nsStartsEmpty ? 'host' : undefined);
        this.loop.onTick((now) => this.auto.poll(now));
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /**
   * Where traffic from the guest to `dst` goes on the host, as upstream's
   * fwd_nat_from_tap(): DNS (TCP or UDP to port 53 or 853) to a forwarder
   * address goes to its host resolver; --map-host-loopback (by default the
   * gateway) stands for the host's loopback, --map-guest-addr for the
   * host's own address; anything else is used as it is (no NAT). Outbound
   * sockets are bound to -o's address and --outbound-if4/6's interface.
   */
  natFromTap(family: 4 | 6, proto: number, dst: Uint8Array, port: number): HostTarget | null {
    const c = this.config;
    let addr: Uint8Array = dst;
    let scopeId = 0;
    const fwd = family === 4 ? c.dnsForward4 : c.dnsForward6;
    const hostLoopback = family === 4 ? c.mapHostLoopback4 : c.mapHostLoopback6;
    const guestAlias = family === 4 ? c.mapGuestAddr4 : c.mapGuestAddr6;
    const own = family === 4 ? c.ip4?.addr : c.ip6?.addr;
    if (fwd && (port === 53 || port === 853) && (proto === PROTO_UDP || proto === PROTO_TCP) && addressEqual(dst, fwd.addr)) addr = fwd.to;
    else if (hostLoopback && addressEqual(dst, hostLoopback)) addr = family === 4 ? LOOPBACK4 : LOOPBACK6;
    else if (guestAlias && own && addressEqual(dst, guestAlias)) addr = own;
    else if (family === 6 && isLinkLocal6(dst)) scopeId = c.ip6?.hostIfindex ?? 0;
    const v4 = addr.length === 4;
    const loopback = isLoopback(addr);
    return {
      addr,
      port,
      scopeId,
      source: (v4 ? c.outbound4 : c.outbound6) ?? null,
      ifname: loopback ? null : (v4 ? c.outboundIf4 : c.outboundIf6) ?? null,
    };
  }

  private tapHandler(): void {
    const now = monotonicNow();
    for (let rounds = 0; rounds < 8; rounds++) {
      const n = this.tapIn.read();
      if (n < 0) {
        if (n === -E.EAGAIN || n === -E.EINTR) return;
        // EIO while the link is down (before configuration) is transient; anything else is fatal.
        if (n === -5) return;
        this.opts.onTapGone?.(`tap read: ${errnoName(n)}`);
        return;
      }
      if (n === 0) return;
      const buf = this.tapIn.buf;
      const frames = this.tapIn.frames;
      if (this.pcap) this.pcap.write(buf, frames, n);
      for (let i = 0; i < n; i++) this.frameFromTap(buf, frames[2 * i], frames[2 * i + 1], now);
      // Payload in this batch points into the receive buffer: write it before the next read.
      this.flushTapBatch();
      if (n < 256) return;
    }
  }

  /** Dispatch one frame from the guest. Never throws on bad input. */
  frameFromTap(buf: Buffer, off: number, len: number, now: number): void {
    if (len < 14) return this.drop('runt frame', len);
    const ethertype = (buf[off + 12] << 8) | buf[off + 13];
    // Learn the guest's MAC from unicast sources.
    if (!(buf[off + 6] & 1)) {
      const mac = this.link.guestMac;
      if (mac[0] !== buf[off + 6] || mac[1] !== buf[off + 7] || mac[2] !== buf[off + 8] || mac[3] !== buf[off + 9] || mac[4] !== buf[off + 10] || mac[5] !== buf[off + 11]) {
        mac.set(buf.subarray(off + 6, off + 12));
        this.log.debug(`guest MAC address: ${[...mac].map((b) => b.toString(16).padStart(2, '0')).join(':')}`);
      }
    }
    switch (ethertype) {
      case ETH_P_ARP: {
        const o = this.tapOut.reserve(64);
        const r = arpTapHandler(this.link, buf, off, len, this.tapOut.buf, o);
        if (r > 0) this.tapOut.commit(o, r);
        return;
      }
      case ETH_P_IP: {
        const ip = off + 14;
        const avail = len - 14;
        if (avail < 20) return this.drop('short IPv4 header', len);
        const vihl = buf[ip];
        const ihl = (vihl & 0x0f) * 4;
        if (vihl >> 4 !== 4 || ihl < 20 || ihl > avail) return this.drop('bad IPv4 header', len);
        const total = (buf[ip + 2] << 8) | buf[ip + 3];
        if (total < ihl || total > avail) return this.drop('bad IPv4 length', len);
        if (this.config.ip4 === null) return this.drop('IPv4 disabled', len);
        const proto = buf[ip + 9];
        if (((buf[ip + 6] & 0x3f) | buf[ip + 7]) !== 0) {
          // A fragment: UDP and ICMP datagrams are reassembled; TCP never needs it.
          if (proto !== 17 && proto !== 1) return this.drop('IPv4 fragment', len);
          const whole = this.reasm.ipv4(buf, off, ihl, total, now);
          if (whole) this.reassembled(4, whole, now);
          return;
        }
        if (proto === 6) {
          if (this.config.tcp) this.tcp.tapHandler(4, buf, ip, ip + ihl, total - ihl, now);
          else this.drop('TCP disabled', len);
        } else if (proto === 17) {
          const l4 = ip + ihl;
          if (this.dhcpCfg && total - ihl >= 8 && buf[l4 + 2] === 0 && buf[l4 + 3] === 67) {
            const o = this.tapOut.reserve(1024);
            const r = dhcpTapHandler(this.dhcpCfg, this.link, buf, off, len, this.tapOut.buf, o);
            if (r > 0) {
              if (this.infoOn) this.noteDhcp(this.tapOut.buf, o, r, buf, l4);
              this.tapOut.commit(o, r);
            } else if (this.traceOn) this.log.trace('DHCP from guest: not answered');
            return;
          }
          if (this.udp) this.udp.tapHandler(4, buf, ip, l4, total - ihl, now);
          else this.drop('UDP disabled', len);
        } else if (proto === 1) {
          if (this.icmp) this.icmp.tapHandler(4, buf, ip, ip + ihl, total - ihl, now);
          else this.drop('ICMP disabled', len);
        } else {
          this.drop(`IPv4 protocol ${proto}`, len);
        }
        return;
      }
      case ETH_P_IPV6: {
        const ip = off + 14;
        const avail = len - 14;
        if (avail < 40) return this.drop('short IPv6 header', len);
        if (buf[ip] >> 4 !== 6) return this.drop('bad IPv6 version', len);
        const plen = (buf[ip + 4] << 8) | buf[ip + 5];
        if (40 + plen > avail) return this.drop('bad IPv6 length', len);
        let nh = buf[ip + 6];
        let l4 = ip + 40;
        const end = ip + 40 + plen;
        // Skip hop-by-hop, routing and destination options headers (bounded).
        for (let k = 0; k < 8 && (nh === 0 || nh === 43 || nh === 60); k++) {
          if (l4 + 8 > end) return this.drop('truncated IPv6 extension header', len);
          const next = buf[l4];
          l4 += (buf[l4 + 1] + 1) * 8;
          nh = next;
        }
        if (l4 > end) return this.drop('truncated IPv6 extension header', len);
        if (nh === 44) {
          if (this.config.ip6 === null) return this.drop('IPv6 disabled', len);
          const whole = this.reasm.ipv6(buf, off, l4, end, now);
          if (whole) this.reassembled(6, whole, now);
          return;
        }
        if (nh === 58 && l4 < end && (buf[l4] < 133 || buf[l4] > 137)) {
          // Not neighbour discovery: echo requests go to the ICMP handler (which drops anything else).
          if (this.icmp && this.config.ip6 !== null) this.icmp.tapHandler(6, buf, ip, l4, end - l4, now);
          else this.drop('ICMPv6 disabled', len);
          return;
        }
        if (nh === 58) {
          if (!this.config.ndp) return this.drop('NDP disabled', len);
          const o = this.tapOut.reserve(1024);
          let r = ndpTapHandler(this.link, buf, off, len, this.tapOut.buf, o);
          if (r === 0 && this.raCfg) r = raTapHandler(this.raCfg, this.link, buf, off, len, this.tapOut.buf, o);
          if (r > 0) {
            // As upstream, at info level: what was asked and answered.
            if (this.infoOn && (buf[l4] === 135 || buf[l4] === 133)) this.log.info(buf[l4] === 135 ? M.ndpNa() : M.ndpRa());
            this.tapOut.commit(o, r);
          }
          else if (this.traceOn) this.log.trace('ICMPv6 from guest: not answered');
          return;
        }
        if (nh === 17 && this.dhcpv6Cfg && end - l4 >= 8 && buf[l4 + 2] === 0x02 && buf[l4 + 3] === 0x23) {
          const o = this.tapOut.reserve(1024);
          const r = dhcpv6TapHandler(this.dhcpv6Cfg, this.link, buf, off, len, this.tapOut.buf, o);
          if (r > 0) {
            const kind = DHCPV6_REQUESTS[buf[l4 + 8]];
            if (this.infoOn && kind) this.log.info(M.dhcpv6Reply(kind));
            this.tapOut.commit(o, r);
          }
          else if (this.traceOn) this.log.trace('DHCPv6 from guest: not answered');
          return;
        }
        if (this.config.ip6 === null) return this.drop('IPv6 disabled', len);
        if (nh === 6) {
          if (this.config.tcp) this.tcp.tapHandler(6, buf, ip, l4, end - l4, now);
          else this.drop('TCP disabled', len);
        } else if (nh === 17) {
          if (this.udp) this.udp.tapHandler(6, buf, ip, l4, end - l4, now);
          else this.drop('UDP disabled', len);
        } else {
          this.drop(`IPv6 next header ${nh}`, len);
        }
        return;
      }
      default:
        return this.drop(`ethertype 0x${ethertype.toString(16)}`, len);
    }
  }

  /**
   * How forwarders splice loopback connections into the namespace, when they can:
   * connect a socket in the namespace to its loopback and relay the two in the kernel.
   */
  spliceTo(): SpliceTo | undefined {
    const nsSocket = this.opts.nsTcpSocket;
    const splice = this.splice;
    if (!nsSocket || !splice || !this.config.splice) return undefined;
    return (fd, family, port, dest) => {
      const inside = nsSocket(family);
      if (inside < 0) return false;
      const rc = native.connect(inside, dest, port, 0);
      if (rc < 0 && rc !== -E.EINPROGRESS) {
        native.close(inside);
        return false;
      }
      return splice.add(fd, inside, { bConnecting: rc !== 0 }) > 0;
    };
  }

  /** NETLINK_SOCK_DIAG sockets opened for `auto`, closed with the engine. */
  private readonly diagFds: number[] = [];

  /**
   * Listening TCP sockets through sock_diag on a socket `open` makes on first
   * use; undefined (read /proc/net/tcp instead) when there is none or the
   * kernel cannot answer, from then on.
   */
  private sockDiag(open: () => number): (family: 4 | 6) => Array<{ addr: Uint8Array; port: number }> | undefined {
    let netlink: Netlink | null | undefined;
    return (family) => {
      if (netlink === undefined) {
        const fd = open();
        netlink = fd >= 0 ? new Netlink(fd) : null;
        if (fd >= 0) this.diagFds.push(fd);
      }
      if (netlink === null) return undefined;
      try {
        return netlink.tcpListeners(family);
      } catch (err) {
        this.log.debug(`auto: sock_diag unavailable, reading /proc/net/tcp instead: ${(err as Error).message}`);
        netlink = null;
        return undefined;
      }
    };
  }

  /** The spliced UDP path into the namespace, for -u forwarders made at run time (pasta), or null. */
  udpSpliceTo(): { handler: UdpSpliceHandler; nsSocket: (family: 4 | 6) => number } | null {
    return this.udpSplice && this.opts.nsUdpSocket && this.config.splice ? { handler: this.udpSplice, nsSocket: this.opts.nsUdpSocket } : null;
  }

  /** Send an unsolicited router advertisement when it is due. */
  private periodicRa(now: number): void {
    if (!this.raCfg || now < this.raAt) return;
    const next = nextRouterAdvertisementDelay(this.raSent, Math.random);
    if (this.raSent > 0) {
      const o = this.tapOut.reserve(1024);
      const r = unsolicitedRouterAdvertisement(this.raCfg, this.link, this.tapOut.buf, o);
      if (r > 0) {
        if (this.infoOn) this.log.info(M.ndpUnsolicitedRa(Math.round(next)));
        this.tapOut.commit(o, r);
      }
    }
    this.raAt = now + 1000 * next;
    this.raSent++;
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
    for (let i = o + 14 + 20 + 8 + 240; i + 1 < o + len; ) {
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
    if (type === 2) this.log.info(M.dhcpOffer());
    else if (type === 5 && rapid) this.log.info(M.dhcpAckRapid());
    else if (type === 5 || bootp) this.log.info(M.dhcpAck(bootp));
    else return;
    const mac = request.subarray(l4 + 8 + 28, l4 + 8 + 34);
    this.log.info(M.dhcpFrom([...mac].map((b) => b.toString(16).padStart(2, '0')).join(':')));
  }

  /** A datagram put back together from fragments: to its protocol handler. */
  private reassembled(family: 4 | 6, d: Reassembled, now: number): void {
    const ip = 14;
    if (d.protocol === 17) {
      if (this.udp) this.udp.tapHandler(family, d.frame, ip, d.l4Off, d.l4Len, now);
      else this.drop('UDP disabled', d.frame.length);
    } else if ((family === 4 && d.protocol === 1) || (family === 6 && d.protocol === 58)) {
      if (this.icmp) this.icmp.tapHandler(family, d.frame, ip, d.l4Off, d.l4Len, now);
      else this.drop('ICMP disabled', d.frame.length);
    } else {
      this.drop(`reassembled protocol ${d.protocol}`, d.frame.length);
    }
  }

  /** Write what the protocol handlers collected from a batch of guest frames. */
  flushTapBatch(): void {
    this.tcp.flushTapBatch();
    this.udp?.flushTapBatch();
  }

  private drop(reason: string, len: number): void {
    this.droppedFromTap++;
    if (this.traceOn) this.log.trace(`tap: dropped ${len}-byte frame: ${reason}`);
  }

  stats(): EngineStats {
    const t = this.tcp.stats;
    return {
      framesFromTap: this.tapIn.framesIn,
      bytesFromTap: this.tapIn.bytesIn,
      framesToTap: this.tapOut.framesOut,
      bytesToTap: this.tapOut.bytesOut,
      droppedFromTap: this.droppedFromTap,
      tcp: { active: this.tcp.count, opened: t.opened, closed: t.closed, refused: t.refused, bytesFromTap: t.bytesFromTap, bytesToTap: t.bytesToTap, retransmits: t.retransmits },
      icmp: this.icmp
        ? { active: this.icmp.count, opened: this.icmp.stats.opened, closed: this.icmp.stats.closed, requests: this.icmp.stats.requests, replies: this.icmp.stats.replies, dropped: this.icmp.stats.dropped }
        : { active: 0, opened: 0, closed: 0, requests: 0, replies: 0, dropped: 0 },
      udp: this.udp
        ? { ...this.udp.stats, active: this.udp.count }
        : { active: 0, opened: 0, closed: 0, datagramsFromTap: 0, bytesFromTap: 0, datagramsToTap: 0, bytesToTap: 0, errorsRelayed: 0, dropped: 0 },
      splice: this.splice ? this.splice.stats() : { active: 0, opened: 0, closed: 0, refused: 0, errors: 0, bytesAtoB: 0, bytesBtoA: 0 },
      udpSplice: this.udpSplice ? this.udpSplice.stats() : { active: 0, opened: 0, closed: 0, datagramsAtoB: 0, bytesAtoB: 0, datagramsBtoA: 0, bytesBtoA: 0, dropped: 0 },
      forwarded: {
        tcp: this.tcpForward?.ports ?? [],
        udp: this.udpForward?.ports ?? [],
        tcpNs: this.tcpNsForward?.ports ?? [],
        udpNs: this.udpNsForward?.ports ?? [],
      },
    };
  }

  /**
   * Stop: reset every connection, flush, stop polling, release every socket.
   * Does not close the tap fd (a transport is closed). Also after an internal
   * error stopped the loop: each step is tried on its own, so one that fails
   * again cannot keep the others' sockets open.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const steps: Array<() => void> = [
      () => this.tcpForward?.close(),
      () => this.tcpNsForward?.close(),
      () => this.udpForward?.close(),
      () => this.udpNsForward?.close(),
      () => this.splice?.closeAll(),
      () => this.udpSplice?.closeAll(),
      () => this.tcp.closeAll(),
      () => this.icmp?.closeAll(),
      () => this.udp?.closeAll(),
      () => this.tapOut.flush(),
      () => (this.transport ? this.transport.close() : this.loop.del(this.tapFd)),
      () => this.loop.close(),
      () => this.pcap?.close(),
      () => {
        for (const fd of this.diagFds) native.close(fd);
        this.diagFds.length = 0;
      },
    ];
    for (const step of steps) {
      try {
        step();
      } catch (err) {
        this.log.error(`internal error while closing: ${(err as Error)?.stack ?? String(err)}`);
      }
    }
  }
}

export { native };
