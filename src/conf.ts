/**
 * Options -> Config, with upstream pasta(1)/passt(1)'s meaning for each.
 *
 * Theory of operation: two pure steps.
 *
 * 1. {@link parseOptions} walks the options in command-line order, as
 *    upstream's conf() does, and records what each says. Where pasta(1)
 *    says "if conflicting or multiple options are given, the last one takes
 *    effect", a later option overwrites an earlier one (`-m`, `-q`/`-d`,
 *    `-4`/`-6`, `-a`, `-g`, `--dns-forward` and `--dns-host` once per
 *    family, `-s`/`-F`, ...); what adds up in upstream adds up here (`-D`,
 *    `-S`, the port options). An option of the other front end is refused in
 *    upstream's words ("--netns is for pasta mode only"), and `--help`,
 *    `--version` end the walk where they appear. Every invalid value is a
 *    {@link UsageError} worded as upstream words it.
 * 2. {@link buildConfig} adds the host: a snapshot of its links, addresses
 *    and routes (`HostNet`, read over rtnetlink by the caller), its
 *    resolv.conf text, its ephemeral port range and who we run as
 *    (`HostEnv`). Per IP version it picks the template interface as
 *    upstream does (-i, else --outbound-if4/6, else the interface of the
 *    first default route, else the first interface with any route), takes
 *    the address with the longest prefix and the default gateway from it,
 *    and falls back to upstream's local mode (IPv4 169.254.2.1/16 via
 *    169.254.2.2, IPv6 no address via fe80::1) when there is none. Then the
 *    address mapping defaults (the gateway stands for the host's loopback
 *    unless --no-map-gw), the resolvers advertised to the guest (a loopback
 *    resolver is advertised as the address that maps to the host's loopback,
 *    and DNS to it is forwarded, as upstream's get_dns() does), the port
 *    forwarding rules (fwd/spec.ts) and, as root outside a user namespace,
 *    the user to switch to (--runas, default nobody).
 *
 * The front ends print a UsageError as one line and exit 1, as pasta(1).
 */
import { UsageError, type ParsedArgs } from './options.js';
import { M } from './messages.js';
import type { AddrInfo, LinkInfo, RouteInfo } from './netlink.js';
import type { DhcpConfig } from './dhcp/dhcp.js';
import type { Dhcpv6Config } from './dhcp/dhcpv6.js';
import type { RaConfig } from './ndp/ra.js';
import { defaultPortSpec, formatForwardRule, parsePortSpecs, type PortForwardSpec, type PortOption, type PortRange } from './fwd/spec.js';
import { formatIP, isLinkLocal6, isLoopback, isMulticast, isUnspecified, parseIPv4, parseIPv6 } from './inet.js';
import { formatMac } from './l2/ethernet.js';

/** The host's network as seen over rtnetlink when pasta starts. */
export interface HostNet {
  links: LinkInfo[];
  addrs4: AddrInfo[];
  addrs6: AddrInfo[];
  routes4: RouteInfo[];
  routes6: RouteInfo[];
}

/** Who we run as, for --runas and upstream's "Started as root, will change to nobody". */
export interface HostEnv {
  euid: number;
  egid: number;
  /** Whether we run in the initial user namespace (upstream's ns_is_init()). */
  initUserns: boolean;
  /** /etc/passwd and /etc/group, for user and group names. */
  passwd: string;
  group: string;
}

export interface Ip4Config {
  /** The namespace's address (the host's, by default). */
  addr: Uint8Array;
  prefixLen: number;
  /** Default gateway as seen from the namespace; traffic to it reaches the host (unless --no-map-gw). */
  gateway: Uint8Array | null;
  /** Host interface the configuration was taken from ('' in local mode: no template interface). */
  hostIfname: string;
  /** Index of that host interface (0 in local mode). */
  hostIfindex: number;
  /**
   * --config-net: copy every address of the template interface (upstream's
   * default), rather than setting `addr`/`prefixLen` alone (false with -a,
   * --no-copy-addrs, or in local mode).
   */
  copyAddrs: boolean;
  /**
   * --config-net: copy every route of the template interface, rather than
   * only a default route via `gateway` (false with -g, --no-copy-routes, or
   * in local mode).
   */
  copyRoutes: boolean;
}

export interface Ip6Config {
  /** The namespace's global address; all zeroes (`::`) when none is known (local mode: learned from the guest). */
  addr: Uint8Array;
  prefixLen: number;
  gateway: Uint8Array | null;
  hostIfname: string;
  /** Host interface index, the scope of link-local destinations (0 in local mode). */
  hostIfindex: number;
  /** As for IPv4. */
  copyAddrs: boolean;
  copyRoutes: boolean;
  /**
   * Our own link-local address towards the guest (upstream's our_tap_ll): the
   * source of router advertisements, DHCPv6 replies and inbound traffic that
   * has no other source. A link-local gateway; else the template interface's
   * link-local address; fe80::1 in local mode. Absent: derived from our MAC.
   */
  ourLinkLocal?: Uint8Array;
}

export interface Config {
  mode: 'pasta' | 'passt';
  /** passt --vhost-user: the socket speaks vhost-user (frames through shared memory), not QEMU's stream. */
  vhostUser: boolean;
  logLevel: 'trace' | 'debug' | 'info' | 'warn';
  logFile?: string;
  logSize: number;
  foreground: boolean;
  help: boolean;
  version: boolean;
  configNet: boolean;
  /** MTU assigned to the namespace (--config-net) and advertised by DHCP and RA; 0: none (-m 0). */
  mtu: number;
  /** --ns-mac-addr: MAC address set on the namespace's tap interface, or null (the kernel's random one). */
  nsMac: Uint8Array | null;
  /** -M: our MAC address, the source of every frame to the guest. */
  ourMac: Uint8Array;
  /** Name of the interface created in the namespace. */
  nsIfname: string;
  ip4: Ip4Config | null;
  ip6: Ip6Config | null;
  /**
   * IP versions enabled (not -6, not -4): forwarded ports listen on them.
   * With --splice-only they are enabled without an address (ip4/ip6 null).
   */
  ipv4: boolean;
  ipv6: boolean;
  /** Resolvers advertised to the guest (DHCP, DHCPv6, RA), IPv4 and IPv6, as upstream remaps them. */
  dns: Uint8Array[];
  /** DNS search domains (from -S, else /etc/resolv.conf). */
  search: string[];
  /**
   * DNS flows (TCP and UDP to port 53 or 853) to `addr` go to the host
   * resolver `to` instead: --dns-forward, or the address standing for the
   * host's loopback when resolv.conf names a loopback resolver.
   */
  dnsForward4: { addr: Uint8Array; to: Uint8Array } | null;
  dnsForward6: { addr: Uint8Array; to: Uint8Array } | null;
  /** Protocols switched off with --no-tcp, --no-udp, --no-icmp. */
  tcp: boolean;
  udp: boolean;
  icmp: boolean;
  /** Attach to this network namespace file instead of creating one (--netns), or null. */
  netns: string | null;
  /** Attach to the namespaces of this process (a PID argument), or null. */
  attachPid: number | null;
  /** User namespace to join when attaching (--userns; for a PID, its own unless --netns-only). */
  userns: string | null;
  /** Join or create no user namespace (--netns-only, or --netns without --userns). */
  netnsOnly: boolean;
  /** Quit when the --netns file disappears (unless --no-netns-quit). */
  netnsQuit: boolean;
  /** -P: where to write the PID of the process that keeps running. */
  pidFile: string | null;
  /** -p: capture every frame to and from the guest in this pcap file, or null. */
  pcap: string | null;
  /** passt -s: the UNIX domain socket QEMU connects to (null: the first free /tmp/passt_N.socket). */
  socketPath: string | null;
  /** -F: an inherited, connected socket (passt) or tap device (pasta) to use, or null. */
  socketFd: number | null;
  /** passt -1: quit once the first guest disconnects (implied by -F). */
  oneOff: boolean;
  /** --map-host-loopback (by default the gateway, unless --no-map-gw): addresses that stand for the host's loopback. */
  mapHostLoopback4: Uint8Array | null;
  mapHostLoopback6: Uint8Array | null;
  /** --map-guest-addr: addresses that stand for the host's own address. */
  mapGuestAddr4: Uint8Array | null;
  mapGuestAddr6: Uint8Array | null;
  /** -o: source address of outbound sockets, per family, or null (the kernel picks). */
  outbound4: Uint8Array | null;
  outbound6: Uint8Array | null;
  /** --outbound-if4/6: host interface outbound sockets are bound to (SO_BINDTODEVICE), or null. */
  outboundIf4: string | null;
  outboundIf6: string | null;
  /** -H, --fqdn: sent to the guest by DHCP (options 12, 81) and DHCPv6 (option 39). */
  hostname: string | null;
  fqdn: string | null;
  /** --freebind: IP_FREEBIND on forwarded ports' sockets, so any address can be bound. */
  freebind: boolean;
  /** pasta: host-loopback traffic to forwarded ports is spliced (unless --no-splice). */
  splice: boolean;
  /** --splice-only: no tap device; only loopback traffic is forwarded. */
  spliceOnly: boolean;
  /** --shared-engine (ours): served by the user's shared engine (src/cli/shared.ts); the launcher acts on it. */
  sharedEngine: boolean;
  /** --host-lo-to-ns-lo: spliced traffic goes to the namespace's loopback, not its public address. */
  hostLoToNsLo: boolean;
  /** --stats DELAY: print event statistics at most every DELAY seconds (0: off). */
  stats: number;
  /** The user and group to switch to once set up (--runas, or nobody as root), or null to stay. */
  runAs: { uid: number; gid: number } | null;
  /** --chroot-fallback (sandboxing). */
  chrootFallback: boolean;
  /**
   * Port forwarding, null for none: host ports into the namespace or guest
   * (-t, -u) and namespace ports to the host's loopback (-T, -U). Rules
   * marked `scan` (pasta's default `auto`) follow the ports bound on the
   * other side at run time.
   */
  tcpForward: PortForwardSpec | null;
  udpForward: PortForwardSpec | null;
  tcpNsForward: PortForwardSpec | null;
  udpNsForward: PortForwardSpec | null;
  /** Address-configuration services: on unless --no-dhcp, --no-dhcpv6, --no-ndp, --no-ra (and as upstream disables them). */
  dhcp: boolean;
  dhcpv6: boolean;
  ndp: boolean;
  ra: boolean;
  /** Whether DHCP/DHCPv6/RA carry resolvers and search domains (passt: yes unless --no-dhcp-*; pasta: only with --dhcp-*). */
  dhcpDns: boolean;
  dhcpSearch: boolean;
  /** Problems that do not stop pasta, to log once logging is set up (upstream's warnings). */
  warnings: string[];
  /** Informational lines upstream prints at start (suppressed by -q). */
  notices: string[];
  /** The command to run (pasta with no PID/netns), or [] for the default shell. */
  command: string[];
}

/** Resolvers and search domains of a resolv.conf(5) text, as upstream's get_dns() reads it. */
export function parseResolvConf(text: string): { nameservers: Uint8Array[]; search: string[] } {
  const nameservers: Uint8Array[] = [];
  let search: string[] | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('nameserver ')) {
      // The last word of the line, without a %scope.
      const word = line.slice(line.lastIndexOf(' ') + 1).replace(/%.*$/, '').trim();
      const addr = parseIPv4(word) ?? parseIPv6(word);
      if (addr) nameservers.push(addr);
    } else if (line.startsWith('search ') && !search?.length) {
      // Only the first search line with a domain counts; at most five domains (MAXDNSRCH - 1).
      search = line.slice(7).split(/[ \t]+/).filter(Boolean).slice(0, 5);
    }
  }
  return { nameservers, search: search ?? [] };
}

/** pasta(1)'s default MTU: the largest 802.3 MTU minus the header, rounded to 32 bits. */
export const DEFAULT_MTU = 65520;
/** The largest MTU upstream accepts: a 64 KiB frame minus the Ethernet header. */
const MAX_MTU = 65535 - 14;
const IPV4_MIN_MTU = 68;
const IPV6_MIN_MTU = 1280;
/** Upstream's LOGFILE_SIZE_MIN: 5 * max(BUFSIZ, PAGE_SIZE). */
const LOG_SIZE_MIN = 5 * 8192;
/** Upstream's MAC_OUR_LAA. */
export const DEFAULT_OUR_MAC = Uint8Array.of(0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55);
/** At most three resolvers per family (MAXNS) and six search domains (MAXDNSRCH). */
const MAXNS = 3;
const MAXDNSRCH = 6;
/** Upstream's PASST_MAXDNAME: 253 bytes. */
const MAX_DNAME = 253;
/** PATH_MAX - 1 and sizeof(sun_path) - 1. */
const PATH_MAX = 4095;
const SUN_PATH_MAX = 107;

const IFA_F_DEPRECATED = 0x20;
const RT_TABLE_MAIN = 254;
const RTN_UNICAST = 1;
const RT_SCOPE_LINK = 253;

const LL_GUEST_ADDR4 = Uint8Array.of(169, 254, 2, 1);
const LL_GUEST_GW4 = Uint8Array.of(169, 254, 2, 2);
const LL_PREFIX_LEN4 = 16;
const LL_GUEST_GW6 = Uint8Array.of(0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);

/**
 * strtoul(3)/strtol(3) as glibc reads a number: leading white space, an
 * optional sign, then (base 0) `0x` hex, `0` octal or decimal digits.
 * Returns the value (strtoul: a negative number wraps modulo 2^64, as in C)
 * and where the digits end, or undefined when there are no digits (endptr
 * would be the start) or the value is out of range (ERANGE).
 */
function cStrtoul(s: string, base: 0 | 10): { value: bigint; end: number } | undefined {
  let i = 0;
  while (i < s.length && ' \t\n\v\f\r'.includes(s[i])) i++;
  let negative = false;
  if (s[i] === '+' || s[i] === '-') negative = s[i++] === '-';
  let radix: number = base || 10;
  if ((base === 0) && s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X') && /[0-9a-fA-F]/.test(s[i + 2] ?? '')) {
    radix = 16;
    i += 2;
  } else if (base === 0 && s[i] === '0') {
    radix = 8;
  }
  const digits = (radix === 16 ? /^[0-9a-fA-F]+/ : radix === 8 ? /^[0-7]+/ : /^[0-9]+/).exec(s.slice(i))?.[0];
  if (!digits) return undefined;
  let value = 0n;
  for (const d of digits) value = value * BigInt(radix) + BigInt(parseInt(d, 16));
  if (value > 0xffffffffffffffffn) return undefined;
  return { value: negative ? BigInt.asUintN(64, -value) : value, end: i + digits.length };
}

/** Upstream's parse_unsigned() && parse_eoi(): the whole string as strtoul() reads it; undefined if it is not a number. */
function parseUnsigned(s: string, base: 0 | 10 = 0): bigint | undefined {
  const r = cStrtoul(s, base);
  return r && r.end === s.length ? r.value : undefined;
}

/** strtol(s, &end, 0) as a C long (clamped on overflow, as glibc), and whether the whole string was read. */
function cStrtol(s: string): { value: bigint; whole: boolean } {
  let i = 0;
  while (i < s.length && ' \t\n\v\f\r'.includes(s[i])) i++;
  const negative = s[i] === '-';
  const r = cStrtoul(s, 0);
  if (!r) return { value: 0n, whole: s.length === 0 };
  let value = negative ? -BigInt.asUintN(64, -r.value) : r.value;
  if (value > 0x7fffffffffffffffn) value = 0x7fffffffffffffffn;
  if (value < -0x8000000000000000n) value = -0x8000000000000000n;
  return { value, whole: r.end === s.length };
}

/**
 * Parse an IPv4 netmask, dot-decimal (contiguous) or a prefix length, as
 * upstream's conf_ip4_prefix(); undefined if invalid. Upstream refuses
 * 255.255.255.255 (its check shifts a 32-bit value by 32 bits, undefined in
 * C and a no-op on x86): not copied, /32 is a valid netmask.
 */
export function parseNetmask(s: string): number | undefined {
  const m = /^\[([^\]]*)\]$/.exec(s);
  const b = parseIPv4(m ? m[1] : s);
  if (b) {
    const v = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
    let len = 0;
    while (len < 32 && v & (0x80000000 >>> len)) len++;
    const rebuilt = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    return rebuilt === v ? len : undefined;
  }
  const n = parseUnsigned(s);
  return n !== undefined && n <= 32n ? Number(n) : undefined;
}

/**
 * An IPv4 or IPv6 address at the start of `s`, as upstream's parse_inany_()
 * reads it (IPv6 first, then IPv4; either may be in brackets); the address
 * (an IPv4-mapped IPv6 address as IPv4), whether it was written as IPv4, and
 * the rest of the string.
 */
function parseInanyPrefix(s: string): { addr: Uint8Array; writtenAs4: boolean; rest: string } | undefined {
  for (const family of [6, 4] as const) {
    const bracket = s.startsWith('[');
    const from = bracket ? 1 : 0;
    let len: number;
    if (bracket) {
      len = s.indexOf(']', from) < 0 ? s.length - from : s.indexOf(']', from) - from;
    } else {
      len = /^[0-9aAbBcCdDeEfF:.]*/.exec(s)![0].length;
      if (family === 4) len = /^[0-9.]*/.exec(s)![0].length;
    }
    if (len >= (family === 6 ? 46 : 16)) continue;
    const text = s.slice(from, from + len);
    const a = family === 6 ? (text.includes(':') ? parseIPv6(text) : undefined) : parseIPv4(text);
    if (!a) continue;
    let end = from + len;
    if (bracket) {
      if (s[end] !== ']') continue;
      end++;
    }
    const mapped = a.length === 16 && a.slice(0, 10).every((x) => x === 0) && a[10] === 0xff && a[11] === 0xff;
    return { addr: mapped ? a.slice(12) : a, writtenAs4: family === 4, rest: s.slice(end) };
  }
  return undefined;
}

/** A MAC address as upstream's parse_mac(): six two-digit hex octets separated by ':'. */
export function parseMac(s: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s)) return undefined;
  return Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)));
}

function isBroadcast4(a: Uint8Array): boolean {
  return a.length === 4 && a[0] === 255 && a[1] === 255 && a[2] === 255 && a[3] === 255;
}

function isV4MappedOrCompat(a: Uint8Array): boolean {
  if (a.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return (a[10] === 0xff && a[11] === 0xff) || (a[10] === 0 && a[11] === 0 && !isUnspecified(a) && !isLoopback(a));
}

/** What the command line says, option by option, before the host is looked at. */
export interface OptionSettings {
  mode: 'pasta' | 'passt';
  /** `--help`, `--version` or `--print-capabilities` ended the walk: nothing else was looked at. */
  exit: 'help' | 'version' | null;
  /** passt's `--print-capabilities` ended the walk (vhost-user back ends print theirs in JSON). */
  printCapabilities: boolean;
  /** --vhost-user anywhere on the command line (upstream's conf_mode() looks for it before the walk). */
  vhostUser: boolean;
  /** --repair-path (vhost-user): the passt-repair(1) socket, 'none', or null (not given). */
  repairPath: string | null;
  debug: boolean;
  trace: boolean;
  quiet: boolean;
  foreground: boolean;
  logFile?: string;
  logSize: number;
  runas?: string;
  pcap: string | null;
  pidFile: string | null;
  mtu: number;
  addr4?: Uint8Array;
  prefix4?: number;
  addr6?: Uint8Array;
  ourMac: Uint8Array;
  gw4?: Uint8Array;
  gw6?: Uint8Array;
  ifname?: string;
  outbound4?: Uint8Array;
  outbound6?: Uint8Array;
  outboundIf4?: string;
  outboundIf6?: string;
  dns4: Uint8Array[];
  dns6: Uint8Array[];
  noDns: boolean;
  search: string[];
  noSearch: boolean;
  hostname: string | null;
  fqdn: string | null;
  only4: boolean;
  only6: boolean;
  oneOff: boolean;
  socketPath: string | null;
  socketFd: number | null;
  nsIfname?: string;
  userns: string | null;
  netns: string | null;
  netnsOnly: boolean;
  nsMac: Uint8Array | null;
  dhcpDns: boolean;
  dhcpSearch: boolean;
  dnsMatch4?: Uint8Array;
  dnsMatch6?: Uint8Array;
  dnsHost4?: Uint8Array;
  dnsHost6?: Uint8Array;
  noNetnsQuit: boolean;
  configNet: boolean;
  noCopyRoutes4: boolean;
  noCopyRoutes6: boolean;
  noCopyAddrs4: boolean;
  noCopyAddrs6: boolean;
  copyOption: { routes: boolean; addrs: boolean };
  /** undefined: not given; null: 'none'. */
  mapHostLoopback4?: Uint8Array | null;
  mapHostLoopback6?: Uint8Array | null;
  mapGuestAddr4?: Uint8Array | null;
  mapGuestAddr6?: Uint8Array | null;
  noMapGw: boolean;
  hostLoToNsLo: boolean;
  stats: number;
  chrootFallback: boolean;
  noTcp: boolean;
  noUdp: boolean;
  noIcmp: boolean;
  noDhcp: boolean;
  noDhcpv6: boolean;
  noNdp: boolean;
  noRa: boolean;
  noSplice: boolean;
  spliceOnly: boolean;
  sharedEngine: boolean;
  freebind: boolean;
  /** Values of -t, -u, -T, -U in order (undefined: the option was not given). */
  ports: Partial<Record<PortOption, string[]>>;
  warnings: string[];
}

/** Options that need a front end: used in the other they are refused in upstream's words. */
const PASTA_ONLY: Record<string, string> = {
  userns: '--userns', netns: '--netns', 'ns-mac-addr': '--ns-mac-addr', 'dhcp-dns': '--dhcp-dns', 'dhcp-search': '--dhcp-search',
  'no-netns-quit': '--no-netns-quit', 'config-net': '--config-net', 'no-copy-routes': '--no-copy-routes', 'no-copy-addrs': '--no-copy-addrs',
  'netns-only': '--netns-only', 'shared-engine': '--shared-engine', 'host-lo-to-ns-lo': '--host-lo-to-ns-lo', 'ns-ifname': '-I', 'tcp-ns': '-T', 'udp-ns': '-U',
};
const PASST_ONLY: Record<string, string> = {
  'no-dhcp-dns': '--no-dhcp-dns', 'no-dhcp-search': '--no-dhcp-search', 'one-off': '--one-off',
};

/**
 * Walk the options in order as upstream's conf() does and record what they
 * say. Pure; throws {@link UsageError} in upstream's words.
 */
export function parseOptions(parsed: ParsedArgs, mode: 'pasta' | 'passt'): OptionSettings {
  const s: OptionSettings = {
    mode, exit: null, printCapabilities: false, vhostUser: false, repairPath: null, debug: false, trace: false, quiet: false, foreground: false, logSize: 1 << 20,
    pcap: null, pidFile: null, mtu: DEFAULT_MTU, ourMac: Uint8Array.from(DEFAULT_OUR_MAC),
    dns4: [], dns6: [], noDns: false, search: [], noSearch: false, hostname: null, fqdn: null,
    only4: false, only6: false, oneOff: false, socketPath: null, socketFd: null, userns: null, netns: null, netnsOnly: false,
    nsMac: null, dhcpDns: mode === 'passt', dhcpSearch: mode === 'passt', noNetnsQuit: false, configNet: false,
    noCopyRoutes4: false, noCopyRoutes6: false, noCopyAddrs4: false, noCopyAddrs6: false, copyOption: { routes: false, addrs: false },
    noMapGw: false, hostLoToNsLo: false, stats: 0, chrootFallback: false,
    noTcp: false, noUdp: false, noIcmp: false, noDhcp: false, noDhcpv6: false, noNdp: false, noRa: false,
    noSplice: false, spliceOnly: false, sharedEngine: false, freebind: false, ports: {}, warnings: [],
  };
  let addrIsPrefix = false;
  /** The prefix length of -n, once given (upstream's opt_n, in IPv6 terms, so that -n 0 counts too). */
  let optN: number | undefined;
  // -F is read before everything else (upstream's isolate_fds(), before conf()), the last one given.
  let fdValue: number | null = null;
  const fds = parsed.options.filter(([name]) => name === 'fd');
  if (fds.length) {
    const v = String(fds[fds.length - 1][1]);
    const n = parseUnsigned(v);
    if (n === undefined || n > 0x7fffffffn) throw new UsageError(M.invalidFd(v));
    fdValue = Number(n);
  }
  // --vhost-user sets the mode before anything else is read, wherever it is (upstream's conf_mode()).
  s.vhostUser = mode === 'passt' && parsed.options.some(([name]) => name === 'vhost-user');
  for (const [name, value] of parsed.options) {
    const v = value === true ? '' : value;
    if (mode !== 'pasta' && name in PASTA_ONLY) throw new UsageError(M.forPastaOnly(PASTA_ONLY[name]));
    if (mode === 'pasta' && name in PASST_ONLY) throw new UsageError(M.forPasstOnly(PASST_ONLY[name]));
    switch (name) {
      case 'debug': s.debug = true; s.quiet = false; break;
      case 'trace': s.trace = s.debug = true; s.quiet = false; break;
      case 'quiet': s.quiet = true; s.debug = s.trace = false; break;
      case 'foreground': s.foreground = true; break;
      case 'stderr': s.warnings.push(M.deprecated('--stderr')); break;
      // Checked when it is opened, after the walk and --runas (buildConfig()), as upstream.
      case 'log-file': s.logFile = v; break;
      case 'log-size': {
        const n = parseUnsigned(v);
        if (n === undefined || n < BigInt(LOG_SIZE_MIN)) throw new UsageError(M.invalidLogSize(v));
        s.logSize = Number(n);
        break;
      }
      case 'runas': s.runas = v; break;
      case 'conf-path':
        throw new UsageError("--conf-path is not supported: pesto(1)'s configuration protocol is experimental upstream and node-passt does not implement it");
      case 'help': s.exit = 'help'; return s;
      case 'version': s.exit = 'version'; return s;
      case 'pcap':
        if (!v || v.length > PATH_MAX) throw new UsageError(M.invalidPcap(v));
        s.pcap = v;
        break;
      case 'pid':
        if (!v || v.length > PATH_MAX) throw new UsageError(M.invalidPidFile(v));
        s.pidFile = v;
        break;
      case 'mtu': {
        const n = parseUnsigned(v);
        if (n === undefined) throw new UsageError(M.invalidMtu(v));
        if (n > BigInt(MAX_MTU)) throw new UsageError(M.mtuTooLarge(n, MAX_MTU));
        s.mtu = Number(n);
        break;
      }
      case 'address': {
        // As upstream's conf_addr(): ADDR[/PREFIXLEN], each part checked in its order.
        const parsedAddr = parseInanyPrefix(v);
        if (!parsedAddr) throw new UsageError(M.invalidGuestAddress(v));
        const { addr: a, writtenAs4 } = parsedAddr;
        let rest = parsedAddr.rest;
        const v4 = a.length === 4;
        let prefix: number;
        addrIsPrefix = rest.startsWith('/');
        if (addrIsPrefix) {
          const n = cStrtoul(rest.slice(1), 10);
          if (!n) throw new UsageError(M.invalidGuestAddress(v));
          if (optN !== undefined) throw new UsageError(M.redundantPrefix());
          if (n.value > (writtenAs4 ? 32n : 128n)) throw new UsageError(M.invalidPrefixLength(v));
          rest = rest.slice(1 + n.end);
          // An IPv4-mapped address written as IPv6 takes an IPv6 prefix length (upstream: 96 more).
          prefix = Number(n.value) - (v4 && !writtenAs4 ? 96 : 0);
          if (prefix < 0) throw new UsageError(M.invalidPrefixLength(v));
        } else {
          prefix = v4 ? optN ?? classfulPrefix(a) : 64;
        }
        if (rest !== '' || isUnspecified(a) || isMulticast(a) || isLoopback(a) || (v4 && isBroadcast4(a))) throw new UsageError(M.invalidGuestAddress(v));
        if (v4) {
          s.addr4 = a;
          s.prefix4 = prefix;
          s.noCopyAddrs4 = true;
        } else {
          s.addr6 = a;
          s.noCopyAddrs6 = true;
        }
        break;
      }
      case 'netmask': {
        if (addrIsPrefix) throw new UsageError(M.redundantPrefix());
        const len = parseNetmask(v);
        if (len === undefined) throw new UsageError(M.invalidPrefixLength(v));
        s.prefix4 = len;
        optN = len;
        break;
      }
      case 'mac-addr': {
        const mac = parseMac(v);
        if (!mac) throw new UsageError(M.invalidMac(v));
        s.ourMac = mac;
        break;
      }
      case 'gateway': {
        const g6 = parseIPv6(v);
        if (g6 && !isUnspecified(g6) && !isLoopback(g6)) {
          s.gw6 = g6;
          if (mode === 'pasta') s.noCopyRoutes6 = true;
          break;
        }
        const g4 = parseIPv4(v);
        if (g4 && !isUnspecified(g4) && !isBroadcast4(g4) && !isLoopback(g4)) {
          s.gw4 = g4;
          if (mode === 'pasta') s.noCopyRoutes4 = true;
          break;
        }
        throw new UsageError(M.invalidGateway(v));
      }
      case 'interface':
        if (!v || Buffer.byteLength(v) > 15) throw new UsageError(M.noSuchInterface(v));
        s.ifname = v;
        break;
      case 'outbound': {
        const o6 = parseIPv6(v);
        if (o6 && !isUnspecified(o6) && !isLoopback(o6) && !isV4MappedOrCompat(o6) && !isMulticast(o6)) {
          s.outbound6 = o6;
          break;
        }
        const o4 = parseIPv4(v);
        if (o4 && !isUnspecified(o4) && !isBroadcast4(o4) && !isMulticast(o4)) {
          s.outbound4 = o4;
          break;
        }
        throw new UsageError(M.invalidOutbound(v));
      }
      case 'outbound-if4':
      case 'outbound-if6':
        if (!v || Buffer.byteLength(v) > 15) throw new UsageError(M.invalidInterface(v));
        if (name === 'outbound-if4') s.outboundIf4 = v;
        else s.outboundIf6 = v;
        break;
      case 'dns': {
        if (v === 'none') {
          s.noDns = true;
          s.dns4 = [];
          s.dns6 = [];
          // As upstream: -D none also forgets --dns-forward and --dns-host given before it.
          s.dnsMatch4 = s.dnsMatch6 = s.dnsHost4 = s.dnsHost6 = undefined;
          break;
        }
        s.noDns = false;
        const a4 = parseIPv4(v);
        const a6 = a4 ? undefined : parseIPv6(v);
        if (!a4 && !a6) throw new UsageError(M.invalidDns(v));
        // 0.0.0.0 and :: mark the end of upstream's list: one given counts as none (resolv.conf's are used).
        if (isUnspecified((a4 ?? a6)!)) break;
        if (a4) {
          if (s.dns4.length < MAXNS) s.dns4.push(a4);
        } else if (s.dns6.length < MAXNS) {
          s.dns6.push(a6!);
        }
        break;
      }
      case 'search': {
        if (v === 'none') {
          s.noSearch = true;
          s.search = [];
          break;
        }
        s.noSearch = false;
        if (v === '') throw new UsageError(M.invalidSearch(v));
        // Split at white space, as the manuals say (upstream's code keeps the value as one domain).
        for (const domain of v.split(/\s+/).filter(Boolean)) {
          if (s.search.length >= MAXDNSRCH || Buffer.byteLength(domain) > MAX_DNAME) throw new UsageError(M.invalidSearch(v));
          s.search.push(domain);
        }
        break;
      }
      case 'hostname':
        if (Buffer.byteLength(v) > MAX_DNAME) throw new UsageError(M.invalidHostname(v));
        s.hostname = v;
        break;
      case 'fqdn':
        if (Buffer.byteLength(v) > MAX_DNAME) throw new UsageError(M.invalidFqdn(v));
        s.fqdn = v;
        break;
      case 'ipv4-only': s.only4 = true; s.only6 = false; break;
      case 'ipv6-only': s.only6 = true; s.only4 = false; break;
      case 'one-off': s.oneOff = true; break;
      case 'socket':
        if (mode === 'pasta') throw new UsageError(M.socketOptionInPasta());
        if (!v || Buffer.byteLength(v) > SUN_PATH_MAX) throw new UsageError(M.invalidSocketPath(v));
        s.socketPath = v;
        s.socketFd = null;
        break;
      case 'fd':
        // Read and checked before the walk (the last -F); here, as upstream's conf(): quit with the
        // client. The last of -s and -F wins (deliberate: upstream's -s clears the fd read before
        // the walk and a later -F does not restore it, so `-s PATH -F FD` listens on
        // /tmp/passt_1.socket).
        s.socketFd = fdValue;
        s.socketPath = null;
        s.oneOff = true;
        break;
      case 'ns-ifname':
        if (!v || Buffer.byteLength(v) > 15) throw new UsageError(M.invalidInterface(v));
        s.nsIfname = v;
        break;
      case 'tcp-ports':
      case 'udp-ports':
      case 'tcp-ns':
      case 'udp-ns': {
        const option = ({ 'tcp-ports': '-t', 'udp-ports': '-u', 'tcp-ns': '-T', 'udp-ns': '-U' } as const)[name];
        (s.ports[option] ??= []).push(v);
        break;
      }
      case 'userns':
        if (!v || v.length > PATH_MAX) throw new UsageError(M.invalidUserns(v));
        s.userns = v;
        s.netnsOnly = false;
        break;
      case 'netns': {
        // A bare name (even an empty one) is one of ip-netns(8)'s, in /run/netns.
        const path = v.includes('/') ? v : `/run/netns/${v}`;
        if (Buffer.byteLength(path) > PATH_MAX + 1) throw new UsageError(M.netnsTooLong(v));
        s.netns = path;
        break;
      }
      case 'netns-only': s.netnsOnly = true; s.userns = null; break;
      case 'ns-mac-addr': {
        const mac = parseMac(v);
        if (!mac) throw new UsageError(M.invalidMac(v));
        s.nsMac = mac;
        break;
      }
      case 'dhcp-dns': s.dhcpDns = true; break;
      case 'no-dhcp-dns': s.dhcpDns = false; break;
      case 'dhcp-search': s.dhcpSearch = true; break;
      case 'no-dhcp-search': s.dhcpSearch = false; break;
      case 'dns-forward': {
        const a6 = parseIPv6(v);
        if (a6 && !isUnspecified(a6) && !isLoopback(a6)) {
          s.dnsMatch6 = a6;
          break;
        }
        const a4 = parseIPv4(v);
        if (a4 && !isUnspecified(a4) && !isBroadcast4(a4) && !isLoopback(a4)) {
          s.dnsMatch4 = a4;
          break;
        }
        throw new UsageError(M.invalidDnsForward(v));
      }
      case 'dns-host': {
        const a6 = parseIPv6(v);
        if (a6 && !isUnspecified(a6)) {
          s.dnsHost6 = a6;
          break;
        }
        const a4 = parseIPv4(v);
        if (a4 && !isUnspecified(a4) && !isBroadcast4(a4)) {
          s.dnsHost4 = a4;
          break;
        }
        throw new UsageError(M.invalidDnsHost(v));
      }
      case 'no-netns-quit': s.noNetnsQuit = true; break;
      case 'config-net': s.configNet = true; break;
      case 'no-copy-routes':
        s.warnings.push(M.deprecated('--no-copy-routes'));
        s.noCopyRoutes4 = s.noCopyRoutes6 = true;
        s.copyOption.routes = true;
        break;
      case 'no-copy-addrs':
        s.warnings.push(M.deprecated('--no-copy-addrs'));
        s.noCopyAddrs4 = s.noCopyAddrs6 = true;
        s.copyOption.addrs = true;
        break;
      case 'map-host-loopback':
      case 'map-guest-addr': {
        const host = name === 'map-host-loopback';
        if (v === 'none') {
          if (host) {
            s.mapHostLoopback4 = s.mapHostLoopback6 = null;
            s.noMapGw = true;
          } else {
            s.mapGuestAddr4 = s.mapGuestAddr6 = null;
          }
          break;
        }
        const a6 = parseIPv6(v);
        const a4 = a6 ? undefined : parseIPv4(v);
        const a = a6 ?? a4;
        if (!a || isUnspecified(a) || isLoopback(a) || isMulticast(a)) throw new UsageError(M.invalidRemap(v));
        if (host && a6) s.mapHostLoopback6 = a6;
        else if (host) s.mapHostLoopback4 = a;
        else if (a6) s.mapGuestAddr6 = a6;
        else s.mapGuestAddr4 = a;
        break;
      }
      case 'no-map-gw': s.noMapGw = true; break;
      case 'host-lo-to-ns-lo': s.hostLoToNsLo = true; break;
      case 'vhost-user': break; // seen before the walk
      case 'print-capabilities': s.printCapabilities = true; return s;
      case 'repair-path':
        if (!s.vhostUser && v !== 'none') throw new UsageError(M.forVhostUserOnly('--repair-path'));
        if (Buffer.byteLength(v) > SUN_PATH_MAX) throw new UsageError(M.invalidRepairPath(v));
        // No live migration here, so no passt-repair(1) socket: 'none' (what front ends pass) is all we take.
        if (v !== 'none') throw new UsageError(M.repairPathUnsupported(v));
        s.repairPath = v;
        break;
      case 'migrate-exit':
      case 'migrate-no-linger':
        // Deprecated upstream, and about migration, which this version does not do: accepted, no effect.
        if (!s.vhostUser) throw new UsageError(M.forVhostUserOnly(`--${name}`));
        break;
      case 'stats': {
        if (!s.foreground) throw new UsageError(M.statsNeedsForeground());
        // strtol(optarg, NULL, 0), unchecked, as upstream.
        const n = cStrtol(v).value;
        s.stats = n > 0n ? Number(n > 0x7fffffffn ? 0x7fffffffn : n) : 0;
        break;
      }
      case 'chroot-fallback': s.chrootFallback = true; break;
      case 'no-tcp': s.noTcp = true; break;
      case 'no-udp': s.noUdp = true; break;
      case 'no-icmp': s.noIcmp = true; break;
      case 'no-dhcp': s.noDhcp = true; break;
      case 'no-dhcpv6': s.noDhcpv6 = true; break;
      case 'no-ndp': s.noNdp = true; break;
      case 'no-ra': s.noRa = true; break;
      case 'no-splice': s.noSplice = true; break;
      case 'splice-only': s.spliceOnly = true; break;
      case 'shared-engine': s.sharedEngine = true; break;
      case 'freebind': s.freebind = true; break;
      default:
        throw new UsageError(`unrecognized option '--${name}'`);
    }
  }
  if (mode !== 'pasta') {
    s.noSplice = true;
    if (s.spliceOnly) throw new UsageError(M.forPastaOnly('--splice-only'));
  }
  if (s.noSplice && s.hostLoToNsLo) throw new UsageError(M.hostLoIncompatible());
  if (mode === 'pasta' && !s.configNet) {
    if (s.copyOption.routes) throw new UsageError(M.needsConfigNet('--no-copy-routes'));
    if (s.copyOption.addrs) throw new UsageError(M.needsConfigNet('--no-copy-addrs'));
  }
  if (mode === 'pasta' && s.spliceOnly) {
    if (s.noSplice) throw new UsageError(M.spliceOnlyIncompatible());
    s.hostLoToNsLo = true;
    s.noIcmp = true;
    s.noDns = true;
    s.noSearch = true;
  }
  return s;
}

/** Prefix length from the address class, as upstream's inany_default_prefix_len(). */
function classfulPrefix(addr: Uint8Array): number {
  if (addr.length === 16) return 64;
  if (addr[0] < 128) return 8;
  if (addr[0] < 192) return 16;
  if (addr[0] < 224) return 24;
  return 32;
}

function linkName(host: HostNet, index: number): string {
  return host.links.find((l) => l.index === index)?.name ?? '';
}

function linkIndex(host: HostNet, name: string): number {
  return host.links.find((l) => l.name === name)?.index ?? 0;
}

/** Whether a route's destination prefix is link-local (169.254.0.0/16, fe80::/10). */
function linkLocalRoute(r: RouteInfo, family: 4 | 6): boolean {
  if (!r.dst || r.dstLen === 0) return false;
  return family === 4 ? r.dst[0] === 169 && r.dst[1] === 254 && r.dstLen >= 16 : r.dst[0] === 0xfe && (r.dst[1] & 0xc0) === 0x80 && r.dstLen >= 10;
}

/** Main-table unicast routes, as upstream's strict RTM_GETROUTE dumps return them. */
function mainRoutes(routes: RouteInfo[]): RouteInfo[] {
  return routes.filter((r) => r.table === RT_TABLE_MAIN && r.type === RTN_UNICAST);
}

/** The template interface of a family as upstream's nl_get_ext_if(): the first default route's, else the first with any route. */
export function externalInterface(routes: RouteInfo[], family: 4 | 6): { index: number; notes: string[] } {
  let def = 0;
  let any = 0;
  let ndef = 0;
  let nany = 0;
  for (const r of mainRoutes(routes)) {
    const oif = r.oif ?? 0;
    if (!oif || oif === 1) continue; // no interface, or lo
    if (linkLocalRoute(r, family)) continue;
    if (r.dst === null || r.dstLen === 0) {
      ndef++;
      def ||= oif;
    } else {
      nany++;
      any ||= oif;
    }
  }
  const af = family === 4 ? 'IPv4' : 'IPv6';
  if (def) return { index: def, notes: ndef > 1 ? [M.multipleDefaults(af)] : [] };
  if (any) return { index: any, notes: nany > 1 ? [M.multipleInterfaces(af)] : [] };
  return { index: 0, notes: [M.noRoutes(af)] };
}

/** The gateway of the first default route through interface `index` (upstream's nl_route_get_def()). */
function defaultGateway(routes: RouteInfo[], index: number): Uint8Array | undefined {
  for (const r of mainRoutes(routes)) {
    if ((r.dst !== null && r.dstLen !== 0) || r.oif !== index) continue;
    if (r.gateway) return r.gateway;
  }
  return undefined;
}

/**
 * The address of interface `index` with the longest prefix (the first of
 * those), as upstream's nl_addr_get() picks it: not deprecated, and for IPv6
 * of a scope below link (global or site); an address with a prefix length of
 * 0 is never picked.
 */
function longestPrefixAddress(addrs: AddrInfo[], index: number, family: 4 | 6): AddrInfo | undefined {
  let best: AddrInfo | undefined;
  for (const a of addrs) {
    if (a.index !== index || a.flags & IFA_F_DEPRECATED) continue;
    if (family === 6 && a.scope >= RT_SCOPE_LINK) continue;
    if (a.prefixLen > (best?.prefixLen ?? 0)) best = a;
  }
  return best;
}

/** The link-scoped IPv6 address of interface `index` (nl_addr_get()'s @addr_l), if any. */
function linkLocalAddress(addrs: AddrInfo[], index: number): AddrInfo | undefined {
  let best: AddrInfo | undefined;
  for (const a of addrs) {
    if (a.index !== index || a.flags & IFA_F_DEPRECATED || a.scope !== RT_SCOPE_LINK) continue;
    if (a.prefixLen > (best?.prefixLen ?? 0)) best = a;
  }
  return best;
}

/** uid and gid of a user name or number, from /etc/passwd text; undefined if unknown. */
function lookupUser(passwd: string, name: string): { uid: number; gid: number } | undefined {
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f.length >= 4 && f[0] === name) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

function lookupGroup(group: string, name: string): number | undefined {
  for (const line of group.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[0] === name) return Number(f[2]);
  }
  return undefined;
}

/**
 * --runas UID|UID:GID|LOGIN|LOGIN:GROUP as upstream's conf_runas(): a
 * number as strtol() reads it (so an empty user is 0), else a user name
 * other than root's; undefined if it cannot be resolved.
 */
function resolveRunas(opt: string, env: HostEnv): { uid: number; gid: number } | undefined {
  const colon = opt.indexOf(':');
  const user = colon >= 0 ? opt.slice(0, colon) : opt;
  const groupText = colon >= 0 ? opt.slice(colon + 1) : undefined;
  const id = (n: bigint): number => Number(BigInt.asUintN(32, n));
  let uid: number;
  let gid: number;
  const n = cStrtol(user);
  if (n.whole) {
    uid = gid = id(n.value);
  } else {
    const pw = lookupUser(env.passwd, user);
    if (!pw || pw.uid === 0) return undefined;
    ({ uid, gid } = pw);
  }
  if (groupText === undefined) return { uid, gid };
  const g = cStrtol(groupText);
  if (g.whole) return { uid, gid: id(g.value) };
  const named = lookupGroup(env.group, groupText);
  return named === undefined ? undefined : { uid, gid: named };
}

/** Not root, or root in a user namespace: we stay who we are. */
const STAY: HostEnv = { euid: 1, egid: 1, initUserns: false, passwd: '', group: '' };

/**
 * Build the configuration from parsed options and the host. Throws
 * {@link UsageError} for any invalid or conflicting option.
 */
export function buildConfig(
  parsed: ParsedArgs,
  host: HostNet,
  mode: 'pasta' | 'passt' = 'pasta',
  resolvConf = '',
  /** The kernel's ephemeral port range (ip_local_port_range), left out where every port is forwarded. */
  ephemeral?: PortRange,
  env: HostEnv = STAY,
): Config {
  const s = parseOptions(parsed, mode);
  const warnings = [...s.warnings];
  const notices: string[] = [];

  // Who to run as: --runas, else nobody when root in the initial user namespace (upstream's conf_ugid()).
  let runAs: Config['runAs'] = null;
  if (s.runas !== undefined) {
    runAs = resolveRunas(s.runas, env) ?? null;
    // Upstream's message shows the user part alone: conf_runas() has cut the option at ':'.
    if (!runAs) throw new UsageError(M.invalidRunas(s.runas.split(':')[0]));
  } else if (env.euid === 0 && env.initUserns) {
    warnings.push(M.startedAsRoot());
    runAs = lookupUser(env.passwd, 'nobody') ?? { uid: 65534, gid: 65534 };
  }

  // The log file is opened next (upstream's logfile_init()): what open(2) says of a path it can't take.
  if (s.logFile !== undefined && (s.logFile === '' || Buffer.byteLength(s.logFile) > PATH_MAX)) {
    throw new UsageError(M.logFileOpen(s.logFile, s.logFile === '' ? 'No such file or directory' : 'File name too long'));
  }

  // Template interfaces: -i for both, else --outbound-if4/6.
  let ifi4 = 0;
  let ifi6 = 0;
  if (s.ifname !== undefined) {
    ifi4 = ifi6 = linkIndex(host, s.ifname);
    if (!ifi4) throw new UsageError(M.noSuchInterface(s.ifname));
  }
  if (!ifi4 && s.outboundIf4) ifi4 = linkIndex(host, s.outboundIf4);
  if (!ifi6 && s.outboundIf6) ifi6 = linkIndex(host, s.outboundIf6);

  // IPv4, as upstream's conf_ip4() and, failing it, conf_ip4_local().
  let ip4: Ip4Config | null = null;
  let ext4 = 0;
  if (!s.only6 && !s.spliceOnly) {
    let index = ifi4;
    if (!index) {
      const ext = externalInterface(host.routes4, 4);
      index = ext.index;
      notices.push(...ext.notes);
    }
    const gateway = s.gw4 ?? (index ? defaultGateway(host.routes4, index) : undefined);
    let addr = s.addr4;
    let prefixLen = s.prefix4 ?? 0;
    if (!addr && index) {
      const found = longestPrefixAddress(host.addrs4, index, 4);
      if (found) {
        addr = found.addr;
        prefixLen = found.prefixLen;
      }
    }
    if (index && addr && !isUnspecified(addr)) {
      if (!prefixLen) prefixLen = classfulPrefix(addr);
      ext4 = index;
      ip4 = {
        addr, prefixLen, gateway: gateway ?? null, hostIfname: linkName(host, index), hostIfindex: index,
        copyAddrs: !s.noCopyAddrs4, copyRoutes: !s.noCopyRoutes4,
      };
    }
  }
  let ip6: Ip6Config | null = null;
  let ext6 = 0;
  let foundAddr6: Uint8Array | undefined;
  if (!s.only4 && !s.spliceOnly) {
    let index = ifi6;
    if (!index) {
      const ext = externalInterface(host.routes6, 6);
      index = ext.index;
      notices.push(...ext.notes);
    }
    const gateway = s.gw6 ?? (index ? defaultGateway(host.routes6, index) : undefined);
    const found = index ? longestPrefixAddress(host.addrs6, index, 6) : undefined;
    // Upstream needs a link-local address to send NDP and DHCPv6 from: the interface's, or a link-local gateway.
    const hasLinkLocal = index ? linkLocalAddress(host.addrs6, index) !== undefined || (gateway !== undefined && isLinkLocal6(gateway)) : false;
    const addr = s.addr6 ?? found?.addr;
    // Upstream's conf_ip6() has written the address it found before it fails for want of a
    // link-local address, and local mode (conf_ip6_local()) keeps it.
    foundAddr6 = addr;
    if (index && addr && hasLinkLocal) {
      ext6 = index;
      ip6 = {
        addr, prefixLen: s.addr6 ? 64 : found?.prefixLen ?? 64, gateway: gateway ?? null, hostIfname: linkName(host, index), hostIfindex: index,
        copyAddrs: !s.noCopyAddrs6, copyRoutes: !s.noCopyRoutes6,
        ourLinkLocal: gateway && isLinkLocal6(gateway) ? gateway : linkLocalAddress(host.addrs6, index)!.addr,
      };
    }
  }

  if (ip4 && s.mtu < IPV4_MIN_MTU) warnings.push(M.mtuTooSmall(s.mtu, 'IPv4', IPV4_MIN_MTU));
  if (ip6 && s.mtu < IPV6_MIN_MTU) warnings.push(M.mtuTooSmall(s.mtu, 'IPv6', IPV6_MIN_MTU));
  if ((s.outboundIf4 && !ext4) || (s.outboundIf6 && !ext6)) throw new UsageError(M.externalInterfaceNotUsable());

  // Local mode: no template interface for an enabled IP version.
  if (!ip4 && !s.only6 && !s.spliceOnly) {
    notices.push(M.localMode('IPv4'));
    ip4 = {
      addr: s.addr4 ?? LL_GUEST_ADDR4, prefixLen: s.addr4 ? s.prefix4 ?? classfulPrefix(s.addr4) : LL_PREFIX_LEN4,
      gateway: s.gw4 ?? LL_GUEST_GW4, hostIfname: '', hostIfindex: 0, copyAddrs: false, copyRoutes: false,
    };
  }
  if (!ip6 && !s.only4 && !s.spliceOnly) {
    notices.push(M.localMode('IPv6'));
    ip6 = {
      addr: foundAddr6 ?? new Uint8Array(16), prefixLen: 64, gateway: s.gw6 ?? LL_GUEST_GW6, hostIfname: '', hostIfindex: 0,
      copyAddrs: false, copyRoutes: false, ourLinkLocal: s.gw6 && isLinkLocal6(s.gw6) ? s.gw6 : LL_GUEST_GW6,
    };
  }

  // --map-host-loopback: by default the gateway, unless --no-map-gw.
  const mapHost4 = s.mapHostLoopback4 !== undefined ? s.mapHostLoopback4 : s.noMapGw ? null : ip4?.gateway ?? null;
  const mapHost6 = s.mapHostLoopback6 !== undefined ? s.mapHostLoopback6 : s.noMapGw ? null : ip6?.gateway ?? null;

  // Port forwarding, after addresses as upstream (a rule needs its IP version enabled).
  // An IP version is enabled unless -4/-6 says otherwise, also with --splice-only (no address
  // configuration at all): upstream marks it so (ifi4/ifi6 -1) and its rules take both.
  const ctx = { ephemeral, ipv4: !s.only6, ipv6: !s.only4 };
  const portSpec = (option: PortOption, enabled: boolean): PortForwardSpec | null => {
    if (mode === 'passt' && (option === '-T' || option === '-U')) return null;
    const values = s.ports[option];
    // pasta's default `auto`, for a protocol that is on (upstream applies it even with
    // --no-tcp/--no-udp and then refuses its own default: a bug not copied here).
    const spec = values ? parsePortSpecs(option, values, mode, { ...ctx, enabled }) : enabled ? defaultPortSpec(option, mode, ctx) : null;
    return spec && enabled && spec.rules.length > 0 ? spec : null;
  };
  const tcpForward = portSpec('-t', !s.noTcp);
  const udpForward = portSpec('-u', !s.noUdp);
  const tcpNsForward = portSpec('-T', !s.noTcp);
  const udpNsForward = portSpec('-U', !s.noUdp);

  // A lone number after the options is a PID to attach to (pasta(1): "pasta [OPTION]... PID").
  let attachPid: number | null = null;
  let netnsOnly = s.netnsOnly;
  if (mode === 'pasta') {
    if (s.netns && parsed.rest.length > 0) throw new UsageError(M.netnsAndCommand());
    if (parsed.rest.length === 1 && /^[0-9]+$/.test(parsed.rest[0])) {
      attachPid = Number(parsed.rest[0]);
      if (attachPid > 2 ** 31 - 1) throw new UsageError(M.invalidPid(parsed.rest[0]));
    }
    if (s.netns && !s.userns) netnsOnly = true;
  } else if (parsed.rest.length > 0) {
    throw new UsageError(M.extraArgument(parsed.rest[0]));
  }

  let noNdp = s.noNdp || s.noIcmp;
  const noRa = s.noRa || s.configNet;
  let noDhcp = s.noDhcp || (ip4 !== null && !ip4.gateway) || !ip4;
  let noDhcpv6 = s.noDhcpv6 || !ip6 || isUnspecified(ip6.addr);
  if (!ip6) noNdp = true;
  if (s.spliceOnly) noDhcp = noDhcpv6 = noNdp = true;

  // Resolvers, as upstream's get_dns(): -D as given; else those of resolv.conf, a
  // loopback one (or one at the address mapped to the host) advertised as the address
  // that maps to the host's loopback, and DNS to that address forwarded to it.
  const resolv = parseResolvConf(resolvConf);
  const dnsMatch = { 4: s.dnsMatch4, 6: s.dnsMatch6 } as Record<4 | 6, Uint8Array | undefined>;
  const dnsHost = { 4: s.dnsHost4, 6: s.dnsHost6 } as Record<4 | 6, Uint8Array | undefined>;
  const advertised: Record<4 | 6, Uint8Array[]> = { 4: [...s.dns4], 6: [...s.dns6] };
  const mapHost: Record<4 | 6, Uint8Array | null> = { 4: mapHost4, 6: mapHost6 };
  const familySet: Record<4 | 6, boolean> = { 4: !ip4 || s.dns4.length > 0, 6: !ip6 || s.dns6.length > 0 };
  const dnsSet = (familySet[4] && familySet[6]) || s.noDns;
  let fromResolv = 0;
  for (const ns of resolv.nameservers) {
    const family: 4 | 6 = ns.length === 4 ? 4 : 6;
    // The documented default of --dns-host: the first nameserver of resolv.conf (of its family).
    if (!s.noDns) dnsHost[family] ??= ns;
    if (dnsSet || familySet[family]) continue;
    let advertise = ns;
    const alias = mapHost[family];
    if (isLoopback(ns) || (alias && equal(ns, alias))) {
      if (!dnsMatch[family]) {
        if (!alias) continue; // unreachable from the guest
        advertise = alias;
        dnsMatch[family] = alias;
      } else {
        advertise = dnsMatch[family]!;
      }
    }
    if (advertised[family].length < MAXNS) {
      advertised[family].push(advertise);
      fromResolv++;
    }
  }
  if (!dnsSet) {
    // Upstream counts the resolvers it took from resolv.conf only: with -D for one IP version
    // and none of the other in resolv.conf, it warns although the guest gets a resolver.
    if (fromResolv === 0) warnings.push(M.noNameserver());
    if (s.dhcpDns) {
      if (ip4 && !noDhcp && advertised[4].length === 0) warnings.push(M.noNameserver4());
      if (ip6 && ((!noNdp && !noRa) || !noDhcpv6) && advertised[6].length === 0) warnings.push(M.noNameserver6());
    }
  }
  const search = s.noSearch ? [] : s.search.length ? s.search : resolv.search;
  const forward = (family: 4 | 6): { addr: Uint8Array; to: Uint8Array } | null => {
    const addr = dnsMatch[family];
    if (!addr) return null;
    // Where upstream would send it to 0.0.0.0 for want of a resolver of the family, use the other family's.
    const to = dnsHost[family] ?? dnsHost[family === 4 ? 6 : 4];
    if (!to) {
      warnings.push(`--dns-forward ${formatIP(addr)}: the host has no resolver to forward to (no nameserver in /etc/resolv.conf, no --dns-host): DNS queries to it will go unanswered`);
      return null;
    }
    return { addr, to };
  };
  const dnsForward4 = ip4 ? forward(4) : null;
  const dnsForward6 = ip6 ? forward(6) : null;

  let nsIfname = s.nsIfname;
  if (!nsIfname) nsIfname = (ext4 ? linkName(host, ext4) : '') || (ext6 ? linkName(host, ext6) : '') || 'tap0';

  return {
    mode,
    vhostUser: s.vhostUser,
    logLevel: s.trace ? 'trace' : s.debug ? 'debug' : s.quiet ? 'warn' : 'info',
    logFile: s.logFile,
    logSize: s.logSize,
    foreground: s.foreground,
    help: s.exit === 'help',
    version: s.exit === 'version',
    configNet: s.configNet,
    mtu: s.mtu,
    nsMac: s.nsMac,
    ourMac: s.ourMac,
    nsIfname,
    ip4,
    ip6,
    ipv4: !s.only6,
    ipv6: !s.only4,
    dns: [...advertised[4], ...advertised[6]],
    search,
    dnsForward4,
    dnsForward6,
    tcp: !s.noTcp,
    udp: !s.noUdp,
    icmp: !s.noIcmp,
    netns: s.netns,
    attachPid,
    userns: s.userns,
    netnsOnly,
    netnsQuit: !s.noNetnsQuit,
    pidFile: s.pidFile,
    pcap: s.pcap,
    socketPath: s.socketPath,
    socketFd: s.socketFd,
    oneOff: s.oneOff,
    mapHostLoopback4: mapHost4,
    mapHostLoopback6: mapHost6,
    mapGuestAddr4: s.mapGuestAddr4 ?? null,
    mapGuestAddr6: s.mapGuestAddr6 ?? null,
    outbound4: s.outbound4 ?? null,
    outbound6: s.outbound6 ?? null,
    outboundIf4: s.outboundIf4 ?? null,
    outboundIf6: s.outboundIf6 ?? null,
    hostname: s.hostname,
    fqdn: s.fqdn,
    freebind: s.freebind,
    splice: mode === 'pasta' && !s.noSplice,
    spliceOnly: s.spliceOnly,
    sharedEngine: s.sharedEngine,
    hostLoToNsLo: s.hostLoToNsLo,
    stats: s.stats,
    runAs,
    chrootFallback: s.chrootFallback,
    tcpForward,
    udpForward,
    tcpNsForward,
    udpNsForward,
    dhcp: !noDhcp,
    dhcpv6: !noDhcpv6,
    ndp: !noNdp,
    ra: !noRa && !noNdp,
    dhcpDns: s.dhcpDns,
    dhcpSearch: s.dhcpSearch,
    warnings,
    notices,
    command: attachPid !== null ? [] : parsed.rest,
  };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * What the DHCP server answers (unless --no-dhcp, or no IPv4): the
 * namespace's address, prefix and gateway, the MTU (none with -m 0), the
 * resolvers as conf.ts advertises them (a loopback resolver of the host
 * appears as the address that reaches the host's loopback, or as
 * --dns-forward's), the search list, -H and --fqdn.
 */
export function dhcpConfigOf(c: Config): DhcpConfig | null {
  if (!c.dhcp || !c.ip4) return null;
  return {
    addr: c.ip4.addr, prefixLen: c.ip4.prefixLen, gateway: c.ip4.gateway, mtu: c.mtu || null, dns: c.dns, search: c.search,
    noDhcpDns: !c.dhcpDns, noDhcpSearch: !c.dhcpSearch, hostname: c.hostname, fqdn: c.fqdn,
  };
}

/** What the DHCPv6 server answers (unless --no-dhcpv6, or no IPv6). */
export function dhcpv6ConfigOf(c: Config): Dhcpv6Config | null {
  if (!c.dhcpv6 || !c.ip6) return null;
  return { addr: c.ip6.addr, dns: c.dns, search: c.search, noDhcpDns: !c.dhcpDns, noDhcpSearch: !c.dhcpSearch, fqdn: c.fqdn };
}

/**
 * What router advertisements say (unless --no-ndp or --no-ra, or no IPv6):
 * the namespace's /64 prefix — none in local mode, as upstream — whether
 * DHCPv6 is there, the MTU, the resolvers and search list.
 */
export function raConfigOf(c: Config): RaConfig | null {
  if (!c.ndp || !c.ra || !c.ip6) return null;
  return {
    prefix: isUnspecified(c.ip6.addr) ? null : c.ip6.addr, prefixLen: 64, dhcpv6: c.dhcpv6, mtu: c.mtu || null, dns: c.dns, search: c.search,
    noDhcpDns: !c.dhcpDns, noDhcpSearch: !c.dhcpSearch,
  };
}

/**
 * The configuration as upstream prints it at start (conf_print()): template
 * and outbound interfaces, MAC, DHCP and NDP assignments, resolvers, search
 * list, forwarding rules. Logged at info level (not with -q).
 */
export function describeConfig(c: Config): string[] {
  const lines: string[] = [];
  const t4 = c.ip4?.hostIfname;
  const t6 = c.ip6?.hostIfname;
  if (t4 || t6) lines.push(`Template interface: ${t4 ? `${t4} (IPv4)` : ''}${t4 && t6 ? ', ' : ''}${t6 ? `${t6} (IPv6)` : ''}`);
  if (c.outboundIf4 || c.outboundIf6) {
    lines.push(`Outbound interface: ${c.outboundIf4 ? `${c.outboundIf4} (IPv4)` : ''}${c.outboundIf4 && c.outboundIf6 ? ', ' : ''}${c.outboundIf6 ? `${c.outboundIf6} (IPv6)` : ''}`);
  }
  if (c.outbound4) lines.push(`Outbound IPv4 address: ${formatIP(c.outbound4)}`);
  if (c.outbound6) lines.push(`Outbound IPv6 address: ${formatIP(c.outbound6)}`);
  if (c.mode === 'pasta' && !c.spliceOnly) lines.push(`Namespace interface: ${c.nsIfname}`);
  lines.push('MAC:', `    host: ${formatMac(c.ourMac)}`);
  const searchLines = c.search.length ? ['DNS search list:', ...c.search.map((d) => `    ${d}`)] : [];
  if (c.ip4) {
    if (c.mapHostLoopback4) lines.push(`    NAT to host 127.0.0.1: ${formatIP(c.mapHostLoopback4)}`);
    if (c.dhcp) {
      const mask = c.ip4.prefixLen === 0 ? 0 : (0xffffffff << (32 - c.ip4.prefixLen)) >>> 0;
      lines.push('DHCP:', `    assign: ${formatIP(c.ip4.addr)}`, `    mask: ${[24, 16, 8, 0].map((sh) => (mask >>> sh) & 0xff).join('.')}`, `    router: ${c.ip4.gateway ? formatIP(c.ip4.gateway) : '0.0.0.0'}`);
    }
    const dns4 = c.dns.filter((a) => a.length === 4);
    if (dns4.length) lines.push('DNS:', ...dns4.map((a) => `    ${formatIP(a)}`));
    lines.push(...searchLines);
  }
  if (c.ip6) {
    if (c.mapHostLoopback6) lines.push(`    NAT to host ::1: ${formatIP(c.mapHostLoopback6)}`);
    const head = c.ndp && c.dhcpv6 ? 'NDP/DHCPv6:' : c.dhcpv6 ? 'DHCPv6:' : c.ndp ? 'NDP:' : null;
    if (head) {
      lines.push(head, `    assign: ${formatIP(c.ip6.addr)}`, `    router: ${c.ip6.gateway ? formatIP(c.ip6.gateway) : '::'}`);
      if (c.ip6.ourLinkLocal) lines.push(`    our link-local: ${formatIP(c.ip6.ourLinkLocal)}`);
    }
    const dns6 = c.dns.filter((a) => a.length === 16);
    if (dns6.length) lines.push('DNS:', ...dns6.map((a) => `    ${formatIP(a)}`));
    lines.push(...searchLines);
  }
  if (c.dnsForward4) lines.push(`DNS forwarder ${formatIP(c.dnsForward4.addr)} -> ${formatIP(c.dnsForward4.to)}`);
  if (c.dnsForward6) lines.push(`DNS forwarder ${formatIP(c.dnsForward6.addr)} -> ${formatIP(c.dnsForward6.to)}`);
  // As upstream, a table's title even when it holds no rule (passt: HOST alone; pasta: HOST and SPLICE),
  // and the namespace-side rules (-T, -U) bound to the namespace's loopback interface, as upstream's are.
  const tables: Array<[string, Array<PortForwardSpec | null>, string | null]> = [['Inbound forwarding rules (HOST):', [c.tcpForward, c.udpForward], null]];
  if (c.mode === 'pasta') tables.push(['Outbound forwarding rules (SPLICE):', [c.tcpNsForward, c.udpNsForward], 'lo']);
  for (const [title, specs, ifname] of tables) {
    lines.push(title);
    for (const spec of specs) {
      if (!spec) continue;
      const proto = spec.option === '-t' || spec.option === '-T' ? 'TCP' : 'UDP';
      const rules = spec.rules.map((r) => `    ${formatForwardRule({ ...r, ifname: r.ifname ?? ifname }, proto)}`);
      // Long lists (a range of thousands of ports cut by exclusions) are cut: this is a summary.
      lines.push(...(rules.length > 20 ? [...rules.slice(0, 20), `    ... (${rules.length - 20} more)`] : rules));
    }
  }
  return lines;
}
