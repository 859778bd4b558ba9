/**
 * The translation engine: the wiring of one tap (or another frame
 * transport: passt's QEMU stream, l2/qemu.ts) on one side and host sockets
 * on the other.
 *
 * Theory of operation: the loop reports the tap readable; `tapHandler`
 * reads every ready frame in one call and hands each to the dispatcher
 * (tap.ts), which answers the link-layer protocols and groups TCP and UDP
 * segments into runs of one flow for their handlers; after the batch, the
 * run in progress goes out, and every frame queued for the guest leaves in
 * one native call. The handlers share one flow table (flow.ts); where a flow
 * from the guest goes on the host is fwd/nat.ts's natFromTap(). Port
 * forwarding (fwd/) and, in pasta, the spliced loopback paths are made here
 * from the configuration. DHCP, DHCPv6 and router advertisement settings
 * come derived from it (conf.ts).
 *
 * A transport other than a tap (`EngineOptions.transport`) supplies the same
 * two halves — a frame source read in batches and a TapOut to build frames
 * in — and watches its own fds; the engine only hears, through it, when
 * frames are waiting. With `--pcap`, every batch read and every flush is
 * also captured (l2/pcap.ts). See doc/design.md.
 */
import { readUdpTimeouts, type UdpTimeouts } from './udp/timeout.js';
import { native, C, E, errnoName } from './native.js';
import { Loop, FdKind, FD_KIND_NAMES } from './loop.js';
import { TapIn, TapOut, enableOffloads, type FrameCapture, type FrameSource, type FrameTransport, type Offloads } from './l2/tapio.js';
import { PcapWriter } from './l2/pcap.js';
import { createLinkState, type LinkState } from './l2/link.js';
import { TcpHandler } from './tcp/tcp.js';
import { IcmpHandler } from './icmp/icmp.js';
import { UdpHandler } from './udp/udp.js';
import { TcpForwarder, TcpNsForwarder, ListenTable, type SpliceTo } from './fwd/fwd.js';
import { SpliceHandler, type SpliceStats } from './fwd/splice.js';
import { UdpForwarder, UdpNsForwarder } from './fwd/udpfwd.js';
import { UdpSpliceHandler, type UdpSpliceStats } from './fwd/udpsplice.js';
import { AutoForwarding } from './fwd/autofwd.js';
import { natFromTap } from './fwd/nat.js';
import { hasScanRules, type PortForwardSpec } from './fwd/spec.js';
import fs from 'node:fs';
import { Netlink, NETLINK_SOCK_DIAG } from './netlink.js';
import { unsolicitedRouterAdvertisement, nextRouterAdvertisementDelay, type RaConfig } from './ndp/ra.js';
import { DEFAULT_MTU, dhcpConfigOf, dhcpv6ConfigOf, raConfigOf, type Config } from './conf.js';
import { M } from './messages.js';
import { FlowTable, FLOW_MAX, type FlowContext, type FlowEvent } from './flow.js';
import { TapDispatcher } from './tap.js';
import type { Logger } from './log.js';
import { isLinkLocal6, isUnspecified } from './inet.js';
// This process's (the host's) /proc/net tables, through the fds the sandbox keeps open once locked.
import { readHostProcNet } from './sandbox/procnet.js';

export interface EngineStats {
  framesFromTap: number;
  bytesFromTap: number;
  framesToTap: number;
  bytesToTap: number;
  droppedFromTap: number;
  tcp: { active: number; opened: number; closed: number; refused: number; bytesFromTap: number; bytesToTap: number; retransmits: number };
  icmp: { active: number; opened: number; closed: number; requests: number; replies: number; dropped: number };
  udp: { active: number; opened: number; closed: number; datagramsFromTap: number; bytesFromTap: number; datagramsToTap: number; bytesToTap: number; errorsRelayed: number; dropped: number };
  /** Flows in the flow table now, its maximum, and new flows refused because it was full. */
  flows: { active: number; max: number; refused: number };
  /** Spliced loopback connections (pasta's forwarded ports reached from the host's loopback). */
  splice: SpliceStats;
  /** Spliced UDP flows (-u from the host's loopback, and -U). */
  udpSplice: UdpSpliceStats;
  /** Ports forwarded now, per option (with `auto`, the ports found bound on the other side). */
  forwarded: { tcp: number[]; udp: number[]; tcpNs: number[]; udpNs: number[] };
}

/**
 * What the engine can do inside pasta's namespace, through the helper that
 * lives there (native/netns.cc, pasta.ts).
 */
export interface NamespaceAccess {
  /**
   * A nonblocking TCP (or UDP) socket made inside the namespace: forwarded
   * connections from the host's loopback are spliced to the namespace's
   * side through one (pasta's fast path), -T and -U listen on them.
   */
  tcpSocket(family: 4 | 6): number;
  udpSocket(family: 4 | 6): number;
  /** The namespace's /proc/net table `name` ("tcp", "tcp6", "udp", "udp6"), or undefined: what `auto` for -t and -u watches. */
  readProcNet(name: string): string | undefined;
  /** A NETLINK_SOCK_DIAG socket in the namespace, for `auto` to list listening TCP sockets cheaply. */
  diagSocket(): number;
  /**
   * The namespace was just made and nothing runs in it yet (pasta with a
   * command): `auto` skips its first scan there, which would find nothing
   * (reading /proc/net/tcp walks the kernel's whole connection table, a few
   * milliseconds each), and scans it from the first tick on.
   */
  startsEmpty: boolean;
}

export interface EngineOptions {
  config: Config;
  /** Idle timeouts of UDP flows (default: upstream's, read from the kernel's conntrack settings: udp/timeout.ts). */
  udpTimeouts?: UdpTimeouts;
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
  /** Turn on segmentation offload on the tap (default; not on a tap someone else made, pasta -F). */
  tapOffload?: boolean;
  /** The offloads in force, instead of asking the tap (tests, with a socket standing for the tap). */
  offloads?: Offloads;
  /** Pasta's way into its namespace (its helper); absent in passt. */
  ns?: NamespaceAccess;
  /** Most flows at once (default FLOW_MAX, as passt). */
  maxFlows?: number;
  /**
   * The engine's clock (milliseconds, monotonic) and whether its loop runs
   * ticks on a timer: a test gives its own clock and `manualTicks`, then
   * calls `engine.loop.tick()` when it has moved the clock on (timeouts,
   * retransmissions, expiry), so that no real timer fires during a test.
   */
  clock?: () => number;
  manualTicks?: boolean;
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


export class Engine {
  readonly loop: Loop;
  readonly link: LinkState;
  readonly tcp: TcpHandler;
  /** ICMP/ICMPv6 echo, unless --no-icmp. */
  readonly icmp: IcmpHandler | null;
  /** UDP, unless --no-udp. */
  readonly udp: UdpHandler | null;
  /** Every TCP, UDP and ICMP flow (flow.ts). */
  readonly flows: FlowTable;
  /** Frames from the guest go through it (tap.ts). */
  private readonly dispatcher: TapDispatcher;
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
  private readonly tapIn: FrameSource;
  private readonly tapOut: TapOut;
  /** The transport in use instead of a tap, if any. */
  private readonly transport: FrameTransport | null = null;
  private readonly tapFd: number;
  /** --pcap: where frames to and from the guest are captured. */
  private readonly pcap: PcapWriter | null;
  readonly log: Logger;
  private readonly config: Config;
  /** Informational messages wanted (not -q): upstream's NDP lines. */
  private readonly infoOn: boolean;
  private closed = false;

  constructor(private readonly opts: EngineOptions) {
    this.config = opts.config;
    this.log = opts.log;
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
      { clock: opts.clock, manualTicks: opts.manualTicks },
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
      // Segmentation offload, both ways, on a tap of our own with virtio-net headers (l2/tapio.ts).
      if (opts.offloads) this.tapOut.offloads = opts.offloads;
      else if ((opts.vnetHdrLen ?? 0) > 0 && opts.tapOffload !== false) {
        this.tapOut.offloads = enableOffloads(this.tapFd);
      }
      if ((opts.vnetHdrLen ?? 0) > 0) {
        const o = this.tapOut.offloads;
        this.log.debug(`tap offloads: ${o.tso4 || o.tso6 ? `TSO${o.uso ? ', USO' : ''}` : 'none'}`);
      }
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
    this.flows = new FlowTable(opts.maxFlows ?? FLOW_MAX, this.log);
    const ctx: FlowContext = {
      flows: this.flows,
      loop: this.loop,
      out: this.tapOut,
      log: this.log,
      // -m 0 assigns no MTU; our segments are then bounded by the guest's MSS alone.
      mtu: opts.config.mtu || DEFAULT_MTU,
      ourMac: this.link.ourMac,
      guestMac: () => this.link.guestMac,
      natFromTap: (family, proto, dst, port) => natFromTap(this.config, family, proto, dst, port),
      onFlow: opts.onFlow,
    };
    this.tcp = new TcpHandler(ctx);
    this.icmp = opts.config.icmp ? new IcmpHandler(ctx) : null;
    const udpTimeouts = opts.udpTimeouts ?? readUdpTimeouts();
    this.udp = opts.config.udp ? new UdpHandler(ctx, udpTimeouts) : null;
    this.listeners = new ListenTable(this.loop);
    const ns = opts.ns;
    this.splice = ns ? new SpliceHandler({ loop: this.loop, log: this.log }) : null;
    const splice = this.splice;
    this.tcpNsForward =
      opts.config.tcpNsForward && ns && splice
        ? new TcpNsForwarder(this.listeners, this.log, opts.config.tcpNsForward, (family) => ns.tcpSocket(family), (a, b) => splice.add(a, b, { bConnecting: true }) > 0)
        : null;
    const c = opts.config;
    this.raCfg = raConfigOf(c);
    this.dispatcher = new TapDispatcher({
      log: this.log, out: this.tapOut, link: this.link, ip4: c.ip4 !== null, ip6: c.ip6 !== null,
      tcp: c.tcp ? this.tcp : null, udp: this.udp, icmp: this.icmp, ndp: c.ndp,
      dhcp: dhcpConfigOf(c), dhcpv6: dhcpv6ConfigOf(c), ra: this.raCfg,
    });
    if (this.raCfg) {
      // Unsolicited router advertisements: the first few soon, then every few minutes (RFC 4861).
      this.loop.onTick((now) => this.periodicRa(now));
    }
    this.tcpForward = c.tcpForward && c.tcp ? new TcpForwarder(this.listeners, this.log, c, this.tcp, c.tcpForward, this.loop.now, this.spliceTo()) : null;
    this.udpSplice = ns ? new UdpSpliceHandler(this.loop, this.log, udpTimeouts) : null;
    const udpSplice = this.udpSplice;
    this.udpForward =
      c.udpForward && this.udp
        ? new UdpForwarder(this.listeners, this.log, c, this.udp, c.udpForward, this.loop.now, this.udpSpliceTo())
        : null;
    this.udpNsForward =
      c.udpNsForward && c.udp && ns && udpSplice ? new UdpNsForwarder(this.listeners, this.log, c.udpNsForward, (family) => ns.udpSocket(family), udpSplice, this.loop.now) : null;
    const isAuto = <T,>(spec: PortForwardSpec | null, fwd: T | null): T | null => (hasScanRules(spec) ? fwd : null);
    const autoTcp = isAuto(c.tcpForward, this.tcpForward);
    const autoUdp = isAuto(c.udpForward, this.udpForward);
    const autoTcpNs = isAuto(c.tcpNsForward, this.tcpNsForward);
    const autoUdpNs = isAuto(c.udpNsForward, this.udpNsForward);
    const readNs = ns ? (name: string) => ns.readProcNet(name) : undefined;
    this.auto = new AutoForwarding({
      tcpListenersNs: ns ? this.sockDiag(() => ns.diagSocket()) : undefined,
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
    this.loop.onTick((now) => this.dispatcher.reasm.expire(now));
    if (opts.config.stats > 0) {
      const print = eventStatsPrinter(this.loop.eventCounts, opts.config.stats * 1000);
      this.loop.onBatchEnd((now) => print(now));
    }
    this.loop.onBatchEnd(() => this.finishBatch());
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
        this.auto.poll(this.loop.now(), ns?.startsEmpty ? 'host' : undefined);
        this.loop.onTick((now) => this.auto.poll(now));
      }
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private tapHandler(): void {
    const now = this.loop.now();
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
      const vnet = this.tapIn.vnetHdrLen;
      for (let i = 0; i < n; i++) {
        const off = frames[2 * i];
        // The virtio-net header before the frame: GSO type and segment size of a super-frame.
        if (vnet) this.dispatcher.frame(buf, off, frames[2 * i + 1], now, buf[off - vnet + 1], buf[off - vnet + 4] | (buf[off - vnet + 5] << 8));
        else this.dispatcher.frame(buf, off, frames[2 * i + 1], now);
      }
      // Payload in this batch points into the receive buffer: write it before the next read.
      this.flushTapBatch();
      if (n < 256) return;
    }
  }

  /**
   * One frame from the guest (tap.ts), with the GSO type and segment size of
   * its virtio-net header when it is a super-frame. Never throws on bad input.
   */
  frameFromTap(buf: Buffer, off: number, len: number, now: number, gsoType = 0, gsoSize = 0): void {
    this.dispatcher.frame(buf, off, len, now, gsoType, gsoSize);
  }

  /**
   * How forwarders splice loopback connections into the namespace, when they can:
   * connect a socket in the namespace to its loopback and relay the two in the kernel.
   */
  spliceTo(): SpliceTo | undefined {
    const ns = this.opts.ns;
    const splice = this.splice;
    if (!ns || !splice || !this.config.splice) return undefined;
    return (fd, family, port, dest) => {
      const inside = ns.tcpSocket(family);
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
    const ns = this.opts.ns;
    return this.udpSplice && ns && this.config.splice ? { handler: this.udpSplice, nsSocket: (family) => ns.udpSocket(family) } : null;
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
   * The end of a batch, as the loop runs it after events and ticks: write
   * what the handlers collected from the guest's frames, then send every
   * frame queued for the guest. Tests that feed frames with frameFromTap()
   * call it as the loop would.
   */
  finishBatch(): void {
    this.flushTapBatch();
    this.tapOut.flush();
  }

  /** Hand the run of guest frames in progress to its handler (tap.ts). */
  flushTapBatch(): void {
    this.dispatcher.flushRuns(this.loop.now());
  }

  stats(): EngineStats {
    const t = this.tcp.stats;
    return {
      framesFromTap: this.tapIn.framesIn,
      bytesFromTap: this.tapIn.bytesIn,
      framesToTap: this.tapOut.framesOut,
      bytesToTap: this.tapOut.bytesOut,
      droppedFromTap: this.dispatcher.dropped,
      tcp: { active: this.tcp.count, opened: t.opened, closed: t.closed, refused: t.refused, bytesFromTap: t.bytesFromTap, bytesToTap: t.bytesToTap, retransmits: t.retransmits },
      icmp: this.icmp
        ? { active: this.icmp.count, opened: this.icmp.stats.opened, closed: this.icmp.stats.closed, requests: this.icmp.stats.requests, replies: this.icmp.stats.replies, dropped: this.icmp.stats.dropped }
        : { active: 0, opened: 0, closed: 0, requests: 0, replies: 0, dropped: 0 },
      udp: this.udp
        ? { ...this.udp.stats, active: this.udp.count }
        : { active: 0, opened: 0, closed: 0, datagramsFromTap: 0, bytesFromTap: 0, datagramsToTap: 0, bytesToTap: 0, errorsRelayed: 0, dropped: 0 },
      flows: { active: this.flows.count, max: this.flows.max, refused: this.flows.refused },
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

