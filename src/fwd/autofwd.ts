/**
 * The `auto` port options at run time: follow what is bound on the other
 * side, about once a second.
 *
 * Theory of operation: one {@link PortScanner} per watched side — the
 * namespace (its /proc/net tables, read through /proc/PID/net of a process
 * inside, for -t and -u) and the host (this process's /proc/net, for -T and
 * -U) — polled from the loop's tick. Each `auto` option has an
 * {@link AutoListeners} book and a forwarder that can listen on and let go of
 * single ports; every rescan's plan closes the listeners of ports no longer
 * bound and opens those of ports newly bound, each to the same port number
 * on the other side. Ports pasta itself holds on the watched side (the
 * listeners of the opposite direction, whatever made them) are left out,
 * so the two directions never forward each other's listeners in a loop. A
 * port that cannot be listened on (taken on the listening side) is warned
 * about once and tried again at every scan while it stays bound.
 */
import type { Logger } from '../log.js';
import { scannedPorts, type PortForwardSpec } from './spec.js';
import { PortScanner, AutoListeners, type ScanProtocol, type ScanFamily, type PortScan } from './auto.js';
import { native } from '../native.js';
import { M, listenWhere } from '../messages.js';
import { formatIP } from '../inet.js';

/** A forwarder that can listen on single ports (TCP or UDP, either direction). */
export interface PortListener {
  /** Listen on `port` as `rule` says (its address, interface, target address), forwarded to port `target`. 0 or -errno. */
  listen(port: number, target: number, addr?: Uint8Array | null, ifname?: string | null, targetAddr?: Uint8Array | null): number;
  unlisten(port: number): void;
}

/** One `auto` option: its spec and its forwarder. */
export interface AutoOption {
  spec: PortForwardSpec;
  forwarder: PortListener;
}

export interface AutoForwardingOptions {
  log: Logger;
  /** -t and -u, when `auto`: watch the namespace. */
  tcp?: AutoOption;
  udp?: AutoOption;
  /** -T and -U, when `auto`: watch the host. */
  tcpNs?: AutoOption;
  udpNs?: AutoOption;
  /** Reads a /proc/net table of the namespace ("tcp", "tcp6", "udp", "udp6"); undefined if it cannot. */
  readNs: (name: string) => string | undefined;
  /** The same for the host. */
  readHost: (name: string) => string | undefined;
  /** The namespace's and the host's listening TCP sockets through sock_diag, when available (else the tables are read). */
  tcpListenersNs?: (family: 4 | 6) => ReadonlyArray<{ addr: Uint8Array; port: number }> | undefined;
  tcpListenersHost?: (family: 4 | 6) => ReadonlyArray<{ addr: Uint8Array; port: number }> | undefined;
  /** Whether pasta's own listeners hold `port` on `side`. */
  isHeld: (side: 'host' | 'ns', proto: ScanProtocol, port: number) => boolean;
}

interface Side {
  /** The side watched. */
  watched: 'host' | 'ns';
  scanner: PortScanner;
  tcp?: { option: AutoOption; book: AutoListeners };
  udp?: { option: AutoOption; book: AutoListeners };
}

export class AutoForwarding {
  private readonly sides: Side[] = [];
  /** Rescans done (both sides count), for tests and statistics. */
  scans = 0;

  constructor(private readonly opts: AutoForwardingOptions) {
    const table = (read: (name: string) => string | undefined) => (proto: ScanProtocol, family: ScanFamily) =>
      read(`${proto}${family === 6 ? '6' : ''}`);
    const make = (
      tcp: AutoOption | undefined,
      udp: AutoOption | undefined,
      read: (name: string) => string | undefined,
      watched: 'host' | 'ns',
      tcpListeners?: (family: 4 | 6) => ReadonlyArray<{ addr: Uint8Array; port: number }> | undefined,
    ): void => {
      if (!tcp && !udp) return;
      const protocols: ScanProtocol[] = [];
      if (tcp) protocols.push('tcp');
      if (udp) protocols.push('udp');
      // As upstream: a UDP option that scans also forwards the port numbers of bound TCP ports.
      if (udp && !tcp) protocols.unshift('tcp');
      const scanner = new PortScanner({
        read: table(read),
        tcpListeners,
        protocols,
        udpFollowsTcp: Boolean(udp),
        exclude: (proto, port) => opts.isHeld(watched, proto, port),
      });
      this.sides.push({
        watched,
        scanner,
        tcp: tcp ? { option: tcp, book: new AutoListeners(tcp.spec) } : undefined,
        udp: udp ? { option: udp, book: new AutoListeners(udp.spec) } : undefined,
      });
    };
    make(opts.tcp, opts.udp, opts.readNs, 'ns', opts.tcpListenersNs);
    make(opts.tcpNs, opts.udpNs, opts.readHost, 'host', opts.tcpListenersHost);
  }

  /** Whether any option is `auto`. */
  get active(): boolean {
    return this.sides.length > 0;
  }

  /**
   * Rescan the sides whose interval has passed and follow what changed.
   * `only` limits this call to one side (the other waits for the next poll).
   */
  poll(now: number, only?: 'host' | 'ns'): void {
    for (const side of this.sides) {
      if (only && side.watched !== only) continue;
      const changes = side.scanner.poll(now);
      if (!changes) continue;
      this.scans++;
      this.apply(side, changes.scan);
    }
  }

  private apply(side: Side, scan: PortScan): void {
    for (const entry of [side.tcp, side.udp]) {
      if (!entry) continue;
      const { option, book } = entry;
      const plan = book.plan(scan);
      for (const port of plan.close) {
        option.forwarder.unlisten(port);
        book.closed(port);
        this.opts.log.debug(`${option.spec.option} auto: port ${port} no longer bound, not forwarded`);
      }
      for (const port of plan.open) {
        let rc = 0;
        // One listener per scanned rule covering the port (one per listening address).
        for (const { rule, target } of scannedPorts(option.spec, port)) {
          rc = option.forwarder.listen(port, target, rule.addr, rule.ifname, rule.targetAddr);
          if (rc < 0) {
            option.forwarder.unlisten(port);
            break;
          }
        }
        if (rc === 0) {
          book.opened(port);
          this.opts.log.debug(`${option.spec.option} auto: forwarding port ${port}`);
        } else if (book.failed(port)) {
          const rule = scannedPorts(option.spec, port)[0]?.rule;
          const ns = side.watched === 'host'; // -T/-U: listeners in the namespace, on its loopback
          const where = ns ? listenWhere(null, 'lo') : listenWhere(rule?.addr ? formatIP(rule.addr) : null, rule?.ifname ?? null);
          const proto = option.spec.option === '-t' || option.spec.option === '-T' ? 'TCP' : 'UDP';
          this.opts.log.warn(M.listenFailed(ns ? 'SPLICE' : 'HOST', proto, where, port, native.strerror(rc)));
        }
      }
    }
  }
}
