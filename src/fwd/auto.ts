/**
 * Automatic port detection: the `auto` keyword of -t, -u, -T and -U.
 *
 * Theory of operation: with `auto`, pasta forwards the ports that something
 * is bound to on the *other* side: -t/-u listen on the host for the ports
 * bound in the namespace, -T/-U listen in the namespace for the ports bound
 * on the host. What is bound comes from the kernel's socket tables as text,
 * /proc/net/{tcp,tcp6,udp,udp6} of the side being watched (proc(5)), read
 * again every {@link AUTO_SCAN_INTERVAL_MS}. Upstream rescans TCP every
 * second and UDP only at start; here both are rescanned.
 *
 * The pieces, all pure (the file text, the clock and the list of pasta's own
 * ports are handed in by the caller):
 *
 * - {@link parseProcNet} reads one table in a single pass over the text,
 *   without regular expressions: for TCP the sockets in state LISTEN (0A);
 *   for UDP the bound, unconnected ones (state 07, CLOSE, with no remote
 *   address; a connected UDP socket is in state 01). Lines that do not
 *   parse, the header included, are skipped, never thrown on.
 * - {@link PortScanner} reads the four tables of one side, drops the ports
 *   pasta itself holds there (they are its own listeners for the opposite
 *   direction: forwarding them back would make a loop) and reports the
 *   bound port numbers, flagging those bound only to loopback addresses.
 *   `poll(now)` rescans at most once per interval and says what changed.
 * - {@link autoForwardPlan} and {@link AutoListeners} turn a scan into the
 *   listeners the forwarder should open and close, remembering which ports
 *   could not be bound so that each failure is warned about once.
 *
 * Addresses in the tables: the kernel prints each 32-bit word of the
 * address as it sits in memory, read as a native-endian integer, in hex
 * (`%08X`). On a little-endian machine 127.0.0.1 is therefore `0100007F`
 * and ::1 is `00000000000000000000000001000000` (four words, each with its
 * bytes reversed). Ports are printed as numbers (`%04X` of the host-order
 * value), so they need no conversion. Addresses are returned in network
 * byte order as everywhere else in this program (see inet.ts), and an
 * IPv4-mapped address in tcp6/udp6 (::ffff:a.b.c.d, a v6 socket bound to
 * an IPv4 address) is reported as the IPv4 address it stands for.
 *
 * Loopback: like upstream, a port counts whichever address it is bound to,
 * loopback included: connections from the host's loopback to a forwarded
 * port are spliced socket to socket and can reach the namespace's loopback,
 * while traffic through the tap cannot. The scan therefore reports such
 * ports and flags them (`tcpLoopbackOnly`, `udpLoopbackOnly`) so the
 * forwarder can pick the target address of a spliced connection.
 *
 * UDP follows TCP: upstream also forwards, for UDP, the port numbers of
 * bound TCP ports (for protocols such as iperf3 that set up UDP transfers
 * over a TCP control connection), whenever the UDP option of a direction
 * scans. {@link PortScannerOptions.udpFollowsTcp} does the same.
 */
import type { PortForwardSpec, PortRange } from './spec.js';
import { isLoopback } from '../inet.js';

/** How often `auto` ports are rescanned, as pasta(1) documents: every second. */
export const AUTO_SCAN_INTERVAL_MS = 1000;

/** TCP_LISTEN of the kernel's include/net/tcp_states.h. */
export const TCP_STATE_LISTEN = 0x0a;
/** TCP_CLOSE: the state of a UDP socket that is not connected. */
export const UDP_STATE_UNCONNECTED = 0x07;

/** A socket table of /proc/net: its protocol. */
export type ScanProtocol = 'tcp' | 'udp';
/** A socket table of /proc/net: 4 for tcp and udp, 6 for tcp6 and udp6. */
export type ScanFamily = 4 | 6;

/** One bound socket found by {@link parseProcNet}. */
export interface BoundPort {
  /**
   * Family of `addr`: 4 for the IPv4 tables, 6 for the IPv6 ones, except
   * that IPv4-mapped addresses of the IPv6 tables are reported as 4.
   */
  readonly family: 4 | 6;
  /** Local address, network byte order: 4 or 16 bytes; all zeros for a wildcard bind. */
  readonly addr: Uint8Array;
  /** Local port, 1 to 65535. */
  readonly port: number;
  /** Inode number of the socket (as in /proc/PID/fd links, `socket:[INODE]`). */
  readonly inode: number;
}

/** Options of {@link parseProcNet}. */
export interface ProcNetParseOptions {
  /**
   * Byte order the kernel printed the addresses in: that of the machine
   * (default: this machine's, which is right for its own /proc).
   */
  readonly littleEndian?: boolean;
}

/** This machine's byte order, which is the one the kernel prints addresses in. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const NUM_PORTS = 65536;
/** Field of a /proc/net table line, counted from 0 ("sl"), holding the inode number. */
const INODE_FIELD = 9;

const CHAR_SPACE = 0x20;
const CHAR_TAB = 0x09;
const CHAR_CR = 0x0d;
const CHAR_COLON = 0x3a;
const CHAR_0 = 0x30;
const CHAR_9 = 0x39;

/** Value of hex digit `code` (a character code), or -1. */
function hexDigit(code: number): number {
  if (code >= CHAR_0 && code <= CHAR_9) return code - CHAR_0;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

function isBlank(code: number): boolean {
  return code === CHAR_SPACE || code === CHAR_TAB || code === CHAR_CR;
}

/** Receives each matching socket of a table; `addr` is a scratch buffer, valid during the call only. */
type SocketVisitor = (addr: Uint8Array, port: number, inode: number) => void;

/**
 * Decode `ADDR:PORT` at text[start, end) into `addr` (network byte order).
 * Returns the port, or -1 if the token is malformed. Port 0 is returned as 0.
 */
function parseEndpoint(
  text: string,
  start: number,
  end: number,
  addr: Uint8Array,
  littleEndian: boolean,
): number {
  const hexLength = addr.length * 2;
  const portDigits = end - start - hexLength - 1;
  if (portDigits < 1 || portDigits > 4 || text.charCodeAt(start + hexLength) !== CHAR_COLON) return -1;
  // Each 8-digit group is one 32-bit word, most significant byte first.
  for (let i = 0; i < addr.length; i++) {
    const high = hexDigit(text.charCodeAt(start + 2 * i));
    const low = hexDigit(text.charCodeAt(start + 2 * i + 1));
    if (high < 0 || low < 0) return -1;
    const word = i & ~3;
    const significance = i & 3; // 0: most significant byte of the word
    addr[word + (littleEndian ? 3 - significance : significance)] = (high << 4) | low;
  }
  let port = 0;
  for (let pos = start + hexLength + 1; pos < end; pos++) {
    const digit = hexDigit(text.charCodeAt(pos));
    if (digit < 0) return -1;
    port = (port << 4) | digit;
  }
  return port;
}

function allZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * The one-pass scanner under {@link parseProcNet}: call `visit` for every
 * line of `text` describing a socket of interest (TCP: LISTEN; UDP: bound
 * and unconnected), skipping anything else. Fields are located by walking
 * the line once; the addresses are decoded only once the state matches,
 * and a line is abandoned as soon as it is known not to match, so an
 * established connection costs no more than finding its first four fields.
 */
function visitProcNet(
  text: string,
  proto: ScanProtocol,
  family: ScanFamily,
  littleEndian: boolean,
  visit: SocketVisitor,
): void {
  const wantedState = proto === 'tcp' ? TCP_STATE_LISTEN : UDP_STATE_UNCONNECTED;
  const local = new Uint8Array(family === 4 ? 4 : 16);
  const remote = new Uint8Array(local.length);
  const length = text.length;
  let lineStart = 0;

  while (lineStart < length) {
    let lineEnd = text.indexOf('\n', lineStart);
    if (lineEnd < 0) lineEnd = length;

    let pos = lineStart;
    let port = -1;
    let localStart = 0;
    let localEnd = 0;
    let remoteStart = 0;
    let remoteEnd = 0;
    let matched = true;
    for (let field = 0; field <= INODE_FIELD; field++) {
      while (pos < lineEnd && isBlank(text.charCodeAt(pos))) pos++;
      if (pos >= lineEnd) break;
      const tokenStart = pos;
      while (pos < lineEnd && !isBlank(text.charCodeAt(pos))) pos++;
      const tokenEnd = pos;

      if (field === 0) {
        // "sl": a decimal slot number and a colon. The header ("sl") fails here.
        if (tokenEnd - tokenStart < 2 || text.charCodeAt(tokenEnd - 1) !== CHAR_COLON) matched = false;
        for (let i = tokenStart; matched && i < tokenEnd - 1; i++) {
          const code = text.charCodeAt(i);
          if (code < CHAR_0 || code > CHAR_9) matched = false;
        }
      } else if (field === 1) {
        localStart = tokenStart;
        localEnd = tokenEnd;
      } else if (field === 2) {
        remoteStart = tokenStart;
        remoteEnd = tokenEnd;
      } else if (field === 3) {
        // The state first: most lines of a busy table are connections, dropped here cheaply.
        if (tokenEnd - tokenStart !== 2) matched = false;
        else {
          const high = hexDigit(text.charCodeAt(tokenStart));
          const low = hexDigit(text.charCodeAt(tokenStart + 1));
          if (high < 0 || low < 0 || ((high << 4) | low) !== wantedState) matched = false;
        }
        if (matched) {
          port = parseEndpoint(text, localStart, localEnd, local, littleEndian);
          const remotePort = parseEndpoint(text, remoteStart, remoteEnd, remote, littleEndian);
          // A UDP socket with a peer is connected: it serves one flow, not a port.
          if (port < 1 || remotePort < 0 || (proto === 'udp' && (remotePort !== 0 || !allZero(remote)))) {
            matched = false;
          }
        }
      } else if (field === INODE_FIELD) {
        let inode = 0;
        for (let i = tokenStart; matched && i < tokenEnd; i++) {
          const code = text.charCodeAt(i);
          if (code < CHAR_0 || code > CHAR_9) matched = false;
          else inode = inode * 10 + (code - CHAR_0);
        }
        if (matched && Number.isSafeInteger(inode)) visit(local, port, inode);
      }
      if (!matched) break;
    }
    lineStart = lineEnd + 1;
  }
}

/**
 * Parse the text of /proc/net/tcp, tcp6, udp or udp6 (proc(5)) into the
 * sockets that make a port "bound" for `auto` forwarding: for TCP the
 * sockets in state LISTEN (0A); for UDP the unconnected ones (state 07,
 * remote address and port all zeros) with a local port. Established
 * connections, TIME_WAIT and other states, connected UDP sockets, the
 * header and any malformed line are skipped. Never throws on its input.
 *
 * Linear in the length of the text: one pass, no regular expressions.
 *
 * @param text the whole file.
 * @param proto which table kind `text` is: 'tcp' (tcp, tcp6) or 'udp' (udp, udp6).
 * @param family 4 for tcp and udp, 6 for tcp6 and udp6 (addresses of 8 or 32 hex digits).
 * @param options byte order of the printed addresses (default: this machine's).
 * @returns the sockets in file order, IPv4-mapped addresses as IPv4.
 */
export function parseProcNet(
  text: string,
  proto: ScanProtocol,
  family: ScanFamily,
  options: ProcNetParseOptions = {},
): BoundPort[] {
  const found: BoundPort[] = [];
  visitProcNet(text, proto, family, options.littleEndian ?? HOST_LITTLE_ENDIAN, (addr, port, inode) => {
    if (family === 6 && isV4Mapped(addr)) {
      found.push({ family: 4, addr: addr.slice(12), port, inode });
    } else {
      found.push({ family, addr: addr.slice(), port, inode });
    }
  });
  return found;
}

/** True for ::ffff:0:0/96. */
function isV4Mapped(addr: Uint8Array): boolean {
  if (addr.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (addr[i] !== 0) return false;
  return addr[10] === 0xff && addr[11] === 0xff;
}

/** True if a socket bound to `addr` (IPv4-mapped included) only accepts loopback traffic. */
function isLoopbackBind(addr: Uint8Array): boolean {
  return isLoopback(addr) || (isV4Mapped(addr) && addr[12] === 127);
}

// ---------------------------------------------------------------------------
// Scanning one side

/** The ports bound on one side, as found by {@link PortScanner.scan}. */
export interface PortScan {
  /** TCP ports with a listening socket, pasta's own and those outside `ranges` left out. Ascending. */
  readonly tcp: Set<number>;
  /** UDP ports with a bound, unconnected socket (and, with `udpFollowsTcp`, the ports of `tcp`). Ascending. */
  readonly udp: Set<number>;
  /** The ports of `tcp` whose every listening socket is bound to a loopback address. */
  readonly tcpLoopbackOnly: Set<number>;
  /** The ports of `udp` whose every socket is bound to a loopback address. */
  readonly udpLoopbackOnly: Set<number>;
}

/** Ports that appeared and disappeared between two scans, ascending. */
export interface PortChanges {
  readonly added: number[];
  readonly removed: number[];
}

/** What {@link PortScanner.poll} returns when it rescanned. */
export interface ScanChanges {
  readonly tcp: PortChanges;
  readonly udp: PortChanges;
  /** The new scan, also {@link PortScanner.current}. */
  readonly scan: PortScan;
}

/** How a {@link PortScanner} reads one side and what it leaves out. */
export interface PortScannerOptions {
  /**
   * The text of /proc/net/tcp (tcp, 4), tcp6 (tcp, 6), udp or udp6 of the
   * side to watch, or undefined if it cannot be read now. Should not throw.
   * A table that cannot be read counts with what it held at its last
   * successful read (never read: empty), so a passing failure does not
   * close every listener.
   */
  readonly read: (proto: ScanProtocol, family: ScanFamily) => string | undefined;
  /**
   * The listening TCP sockets of one family (local address and port), from
   * something cheaper than /proc/net/tcp (sock_diag), or undefined to read
   * the table with `read` instead.
   */
  readonly tcpListeners?: (family: ScanFamily) => ReadonlyArray<{ addr: Uint8Array; port: number }> | undefined;
  /**
   * True for the ports pasta itself holds on the watched side (its
   * listeners for the opposite direction): they are never reported, which
   * keeps the two directions from forwarding each other's listeners in a
   * loop. Asked at every scan, so it may follow a changing set.
   */
  readonly exclude?: (proto: ScanProtocol, port: number) => boolean;
  /** Only ports inside these ranges are reported. Default: every port. */
  readonly ranges?: readonly PortRange[];
  /** Tables to read; the others count as empty. Default: both. */
  readonly protocols?: readonly ScanProtocol[];
  /**
   * Report the TCP ports found (after exclusion) as UDP ports too, as
   * upstream does when -u (or -U) scans. Only has an effect when 'tcp' is
   * among `protocols`. Default false.
   */
  readonly udpFollowsTcp?: boolean;
  /** Byte order of the tables' addresses; default this machine's. */
  readonly littleEndian?: boolean;
}

/** Per-port marks while merging tables. */
const MARK_BOUND = 1;
const MARK_NOT_LOOPBACK = 2;

/** One port seen in a table: its number and whether that socket is loopback-only. */
interface SeenPort {
  readonly port: number;
  readonly loopback: boolean;
}

const EMPTY_SCAN: PortScan = Object.freeze({
  tcp: new Set<number>(),
  udp: new Set<number>(),
  tcpLoopbackOnly: new Set<number>(),
  udpLoopbackOnly: new Set<number>(),
});

/**
 * Watches the sockets bound on one side (the namespace for -t/-u, the host
 * for -T/-U) through its /proc/net tables. Owns no file and no timer: the
 * caller supplies the text with `read` and the time with `poll(now)`.
 */
export class PortScanner {
  private readonly read: PortScannerOptions['read'];
  private readonly tcpListeners: PortScannerOptions['tcpListeners'];
  private readonly exclude: (proto: ScanProtocol, port: number) => boolean;
  /** 1 for each port that may be reported, or null for every port. */
  private readonly allowed: Uint8Array | null;
  private readonly scanTcp: boolean;
  private readonly scanUdp: boolean;
  private readonly udpFollowsTcp: boolean;
  private readonly littleEndian: boolean;
  /** The last successful parse of each table, by "proto/family". */
  private readonly lastRead = new Map<string, SeenPort[]>();
  /** Per-port marks, zero between scans. */
  private readonly marks = new Uint8Array(NUM_PORTS);
  private latest: PortScan = EMPTY_SCAN;
  private lastScanAt: number | undefined;

  constructor(options: PortScannerOptions) {
    this.read = options.read;
    this.tcpListeners = options.tcpListeners;
    this.exclude = options.exclude ?? (() => false);
    const protocols = options.protocols ?? ['tcp', 'udp'];
    this.scanTcp = protocols.includes('tcp');
    this.scanUdp = protocols.includes('udp');
    this.udpFollowsTcp = options.udpFollowsTcp ?? false;
    this.littleEndian = options.littleEndian ?? HOST_LITTLE_ENDIAN;
    if (options.ranges === undefined) {
      this.allowed = null;
    } else {
      this.allowed = new Uint8Array(NUM_PORTS);
      for (const range of options.ranges) {
        if (!Number.isInteger(range.first) || !Number.isInteger(range.last) || range.first > range.last) {
          throw new RangeError(`PortScanner: invalid port range ${range.first}-${range.last}`);
        }
        this.allowed.fill(1, Math.max(range.first, 1), Math.min(range.last, NUM_PORTS - 1) + 1);
      }
    }
  }

  /** The latest scan (empty before the first). */
  get current(): PortScan {
    return this.latest;
  }

  /**
   * When the next {@link poll} will rescan: `now` values from this one on.
   * Before the first poll, -Infinity (at once).
   */
  get nextScanAt(): number {
    return this.lastScanAt === undefined ? -Infinity : this.lastScanAt + AUTO_SCAN_INTERVAL_MS;
  }

  /**
   * Read the tables now and return the ports bound, without pasta's own
   * (`exclude`) and those outside `ranges`. Becomes {@link current}, the
   * baseline of the next {@link poll}'s changes.
   */
  scan(): PortScan {
    const tcp = new Set<number>();
    const tcpLoopbackOnly = new Set<number>();
    const udp = new Set<number>();
    const udpLoopbackOnly = new Set<number>();

    const touched: number[] = [];
    if (this.scanTcp) {
      this.markTable('tcp', 4, touched);
      this.markTable('tcp', 6, touched);
      this.collect('tcp', touched, tcp, tcpLoopbackOnly);
    }
    if (this.scanUdp) {
      this.markTable('udp', 4, touched);
      this.markTable('udp', 6, touched);
    }
    if (this.udpFollowsTcp) {
      for (const port of tcp) {
        this.mark(touched, port, tcpLoopbackOnly.has(port));
      }
    }
    this.collect('udp', touched, udp, udpLoopbackOnly);

    this.latest = { tcp, udp, tcpLoopbackOnly, udpLoopbackOnly };
    return this.latest;
  }

  /**
   * Rescan if at least {@link AUTO_SCAN_INTERVAL_MS} passed since the last
   * poll that did (the first poll always does), and return what changed
   * since the previous scan; undefined when it is too early. A clock that
   * went backwards rescans at once.
   *
   * @param now monotonic time in milliseconds.
   */
  poll(now: number): ScanChanges | undefined {
    if (this.lastScanAt !== undefined && now >= this.lastScanAt && now - this.lastScanAt < AUTO_SCAN_INTERVAL_MS) {
      return undefined;
    }
    this.lastScanAt = now;
    const previous = this.latest;
    const scan = this.scan();
    return { tcp: diffPorts(previous.tcp, scan.tcp), udp: diffPorts(previous.udp, scan.udp), scan };
  }

  /** Mark the ports of one table, read now or, if it cannot be read, as last read. */
  private markTable(proto: ScanProtocol, family: ScanFamily, touched: number[]): void {
    const key = `${proto}/${family}`;
    const listeners = proto === 'tcp' ? this.tcpListeners?.(family) : undefined;
    const text = listeners === undefined ? this.read(proto, family) : undefined;
    let seen = this.lastRead.get(key);
    if (listeners !== undefined) {
      seen = listeners.filter((l) => l.port > 0).map((l) => ({ port: l.port, loopback: isLoopbackBind(l.addr) }));
      this.lastRead.set(key, seen);
    } else if (text !== undefined) {
      const ports: SeenPort[] = [];
      visitProcNet(text, proto, family, this.littleEndian, (addr, port) => {
        ports.push({ port, loopback: isLoopbackBind(addr) });
      });
      this.lastRead.set(key, ports);
      seen = ports;
    }
    if (seen === undefined) return;
    for (const { port, loopback } of seen) this.mark(touched, port, loopback);
  }

  private mark(touched: number[], port: number, loopback: boolean): void {
    if (this.marks[port] === 0) touched.push(port);
    this.marks[port] = this.marks[port]! | MARK_BOUND | (loopback ? 0 : MARK_NOT_LOOPBACK);
  }

  /** Move the marked ports into the sets, ascending, and clear the marks. */
  private collect(proto: ScanProtocol, touched: number[], ports: Set<number>, loopbackOnly: Set<number>): void {
    touched.sort((a, b) => a - b);
    for (const port of touched) {
      const marks = this.marks[port]!;
      this.marks[port] = 0;
      if (this.allowed !== null && this.allowed[port] === 0) continue;
      if (this.exclude(proto, port)) continue;
      ports.add(port);
      if ((marks & MARK_NOT_LOOPBACK) === 0) loopbackOnly.add(port);
    }
    touched.length = 0;
  }
}

/**
 * The ports of `next` not in `previous` (added) and of `previous` not in
 * `next` (removed), each ascending.
 */
export function diffPorts(previous: ReadonlySet<number>, next: ReadonlySet<number>): PortChanges {
  const added: number[] = [];
  const removed: number[] = [];
  for (const port of next) if (!previous.has(port)) added.push(port);
  for (const port of previous) if (!next.has(port)) removed.push(port);
  added.sort((a, b) => a - b);
  removed.sort((a, b) => a - b);
  return { added, removed };
}

// ---------------------------------------------------------------------------
// From a scan to listeners

/** What the forwarder of one `auto` option should do now, from {@link autoForwardPlan}. */
export interface AutoForwardPlan {
  /**
   * Every port that should have a listener: bound on the watched side and
   * covered by a scanned rule, which says where it goes (fwd/spec.ts
   * scannedPorts()).
   */
  readonly wanted: ReadonlySet<number>;
  /** Ports to open a listener on (wanted, not open), ascending. */
  readonly open: number[];
  /** Ports whose listener to close (open, no longer wanted), ascending. */
  readonly close: number[];
}

/** The scanned protocol an option forwards. */
function protocolOf(spec: PortForwardSpec): ScanProtocol {
  return spec.option === '-t' || spec.option === '-T' ? 'tcp' : 'udp';
}

/**
 * Which listeners an `auto` option needs, given the latest scan of the
 * side it watches (the namespace for -t/-u, the host for -T/-U) and the
 * ports it has listeners on now: the ports bound there that a scanned
 * rule of the option covers (`auto` alone covers every non-ephemeral
 * port; `8000-8010,auto` only those).
 */
export function autoForwardPlan(
  spec: PortForwardSpec,
  scan: PortScan,
  open: ReadonlySet<number>,
): AutoForwardPlan {
  const covered = scanMask(spec);
  const bound = protocolOf(spec) === 'tcp' ? scan.tcp : scan.udp;
  const wanted = new Set<number>();
  for (const port of bound) if (covered[port]) wanted.add(port);
  const changes = diffPorts(open, wanted);
  return { wanted, open: changes.added, close: changes.removed };
}

const masks = new WeakMap<PortForwardSpec, Uint8Array>();

/** 1 for each port a scanned rule of `spec` covers (cached per spec). */
function scanMask(spec: PortForwardSpec): Uint8Array {
  let mask = masks.get(spec);
  if (!mask) {
    mask = new Uint8Array(NUM_PORTS);
    for (const rule of spec.rules) if (rule.scan) mask.fill(1, rule.from, rule.to + 1);
    masks.set(spec, mask);
  }
  return mask;
}

/**
 * The listeners of one `auto` option, as bookkeeping: which ports have one,
 * and which could not be bound. The forwarder owns the sockets; this class
 * only says what to do and when to warn.
 *
 * Use: `const plan = listeners.plan(scan)`; close each of `plan.close` and
 * call {@link closed}; try each of `plan.open` and call {@link opened} or,
 * if the port is taken on the listening side, {@link failed}, which returns
 * true only the first time (warn then, never fail). A port that failed is
 * in `plan.open` again at every scan while it is wanted, so it is picked up
 * once the other program lets go of it, as upstream retries.
 */
export class AutoListeners {
  private readonly openPorts = new Set<number>();
  /** Wanted ports whose bind failed and was warned about. */
  private readonly warned = new Set<number>();

  constructor(readonly spec: PortForwardSpec) {}

  /** Ports with a listener now. */
  get open(): ReadonlySet<number> {
    return this.openPorts;
  }

  /** What to open and close to follow `scan`. Forgets past failures of ports no longer wanted. */
  plan(scan: PortScan): AutoForwardPlan {
    const plan = autoForwardPlan(this.spec, scan, this.openPorts);
    for (const port of this.warned) if (!plan.wanted.has(port)) this.warned.delete(port);
    return plan;
  }

  /** A listener on `port` is open. */
  opened(port: number): void {
    this.openPorts.add(port);
    this.warned.delete(port);
  }

  /** The listener on `port` was closed. */
  closed(port: number): void {
    this.openPorts.delete(port);
  }

  /**
   * A listener on `port` could not be opened (the port is taken on the
   * listening side). Returns true if this should be warned about: the
   * first failure since the port became wanted or was last listened on.
   */
  failed(port: number): boolean {
    if (this.warned.has(port)) return false;
    this.warned.add(port);
    return true;
  }
}
