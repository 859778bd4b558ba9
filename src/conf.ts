/**
 * Options -> Config.
 *
 * Theory of operation: `buildConfig` is a pure function of the parsed
 * command line and a snapshot of the host's links, addresses and routes
 * (`HostNet`, read over rtnetlink by the caller). It picks the template
 * interfaces (the ones holding the default routes, or `-i`), takes the
 * namespace's addresses, prefix lengths and gateways from them unless given
 * with `-a`, `-n`, `-g`, and decides which IP versions are enabled. Every
 * invalid value is reported as a {@link UsageError} naming the option, so the
 * front end can print one line and exit 1, as pasta(1) does.
 */
import { UsageError, type ParsedArgs } from './options.js';
import type { AddrInfo, LinkInfo, RouteInfo } from './netlink.js';
import { describePortSpec, parsePortSpecs, udpDefaultsFromTcp, type PortForwardSpec, type PortOption, type PortRange } from './fwd/spec.js';
import { formatIP, isLinkLocal6, isLoopback, isMulticast, isUnspecified, parseIPv4, parseIPv6 } from './inet.js';

/** The host's network as seen over rtnetlink when pasta starts. */
export interface HostNet {
  links: LinkInfo[];
  addrs4: AddrInfo[];
  addrs6: AddrInfo[];
  routes4: RouteInfo[];
  routes6: RouteInfo[];
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
}

export interface Config {
  mode: 'pasta' | 'passt';
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
  /** Name of the interface created in the namespace. */
  nsIfname: string;
  ip4: Ip4Config | null;
  ip6: Ip6Config | null;
  mapGateway: boolean;
  /** DNS resolvers (from -D, else the host's /etc/resolv.conf), for forwarding and DHCP/NDP. */
  dns: Uint8Array[];
  /** DNS search domains (from -S, else /etc/resolv.conf). */
  search: string[];
  /** Addresses in the namespace that forward DNS to the host's resolver, and where each goes. */
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
  netnsOnly: boolean;
  /** Quit when the --netns file disappears (unless --no-netns-quit). */
  netnsQuit: boolean;
  /** -P: where to write the PID of the process that keeps running. */
  pidFile: string | null;
  /** -p: capture every frame to and from the guest in this pcap file, or null. */
  pcap: string | null;
  /** passt -s: the UNIX domain socket QEMU connects to (null: the first free /tmp/passt_N.socket). */
  socketPath: string | null;
  /** passt -F: an inherited, connected socket to use instead of listening, or null. */
  socketFd: number | null;
  /** passt -1: quit once the first guest disconnects (implied by -F). */
  oneOff: boolean;
  /** --map-host-loopback: addresses that stand for the host's loopback. */
  mapHostLoopback4: Uint8Array | null;
  mapHostLoopback6: Uint8Array | null;
  /** --map-guest-addr: addresses that stand for the host's own address. */
  mapGuestAddr4: Uint8Array | null;
  mapGuestAddr6: Uint8Array | null;
  /**
   * Port forwarding, null for none: host ports into the namespace or guest
   * (-t, -u) and namespace ports to the host's loopback (-T, -U). Mode
   * `auto` (pasta's default) follows the ports bound on the other side at
   * run time.
   */
  tcpForward: PortForwardSpec | null;
  udpForward: PortForwardSpec | null;
  tcpNsForward: PortForwardSpec | null;
  udpNsForward: PortForwardSpec | null;
  /** Address-configuration services: on unless --no-dhcp, --no-dhcpv6, --no-ndp, --no-ra. */
  dhcp: boolean;
  dhcpv6: boolean;
  ndp: boolean;
  ra: boolean;
  /** Whether DHCP/DHCPv6/RA carry resolvers and search domains (passt: yes unless --no-dhcp-*; pasta: only with --dhcp-*). */
  dhcpDns: boolean;
  dhcpSearch: boolean;
  /** Problems that do not stop pasta, to log once logging is set up. */
  warnings: string[];
  /** The command to run (pasta with no PID/netns), or [] for the default shell. */
  command: string[];
}

/** Resolvers and search domains of a resolv.conf(5) text. */
export function parseResolvConf(text: string): { nameservers: Uint8Array[]; search: string[] } {
  const nameservers: Uint8Array[] = [];
  let search: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0]) {
      const addr = parseIPv4(rest[0]) ?? parseIPv6(rest[0].replace(/%.*$/, ''));
      if (addr) nameservers.push(addr);
    } else if (key === 'search' || key === 'domain') {
      search = rest.filter(Boolean);
    }
  }
  return { nameservers, search };
}

/** pasta(1)'s default MTU: the largest 802.3 MTU minus the header, rounded to 32 bits. */
export const DEFAULT_MTU = 65520;
const MIN_MTU = 68;
const IPV6_MIN_MTU = 1280;

/** Parse a netmask in dot-decimal or bit-count form; undefined if invalid. */
export function parseNetmask(s: string): number | undefined {
  if (/^\d{1,2}$/.test(s)) {
    const n = Number(s);
    return n <= 32 ? n : undefined;
  }
  const b = parseIPv4(s);
  if (!b) return undefined;
  const v = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  const len = Math.clz32(~v >>> 0) === 32 ? 32 : Math.clz32(~v);
  // Must be contiguous ones followed by zeros.
  const rebuilt = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return rebuilt === v ? len : undefined;
}

/** Prefix length from the address class (RFC 4632's view of the old classes), used when no host address matches. */
function classfulPrefix(addr: Uint8Array): number {
  if (addr[0] < 128) return 8;
  if (addr[0] < 192) return 16;
  return 24;
}

function defaultRoutes(routes: RouteInfo[]): RouteInfo[] {
  return routes
    .filter((r) => r.dst === null || r.dstLen === 0)
    .sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0));
}

function linkName(host: HostNet, index: number): string {
  return host.links.find((l) => l.index === index)?.name ?? '';
}

function linkIndex(host: HostNet, name: string): number {
  return host.links.find((l) => l.name === name)?.index ?? 0;
}

function globalAddrs(addrs: AddrInfo[], index: number, family: 4 | 6): AddrInfo[] {
  return addrs.filter(
    (a) =>
      a.index === index &&
      !isLoopback(a.addr) &&
      !isUnspecified(a.addr) &&
      !isMulticast(a.addr) &&
      !(family === 6 && isLinkLocal6(a.addr)),
  );
}

function prefixContains(net: Uint8Array, len: number, addr: Uint8Array): boolean {
  if (net.length !== addr.length) return false;
  let bits = len;
  for (let i = 0; i < net.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((net[i] & mask) !== (addr[i] & mask)) return false;
  }
  return true;
}

function parseUint(option: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`invalid value for --${option}: '${value}'`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`--${option} must be between ${min} and ${max}: '${value}'`);
  return n;
}

/**
 * Build the configuration from parsed options and the host's network.
 * Throws {@link UsageError} for any invalid or conflicting option.
 */
export function buildConfig(
  parsed: ParsedArgs,
  host: HostNet,
  mode: 'pasta' | 'passt' = 'pasta',
  resolvConf = '',
  /** The kernel's ephemeral port range (ip_local_port_range), left out of "all" forwarding. */
  ephemeral?: PortRange,
): Config {
  let logLevel: Config['logLevel'] = 'info';
  let quiet = false;
  let debug = false;
  let trace = false;
  let logFile: string | undefined;
  let logSize = 1 << 20;
  let foreground = false;
  let help = false;
  let version = false;
  let configNet = false;
  let mtu = DEFAULT_MTU;
  let nsIfname: string | undefined;
  let addr4: Uint8Array | undefined;
  let addr6: Uint8Array | undefined;
  let prefix4: number | undefined;
  let gw4: Uint8Array | undefined;
  let gw6: Uint8Array | undefined;
  let hostIf: string | undefined;
  let mapGateway = true;
  let only4 = false;
  let only6 = false;
  let dns: Uint8Array[] | undefined;
  let search: string[] | undefined;
  let fwd4: Uint8Array | undefined;
  let fwd6: Uint8Array | undefined;
  let dnsHost: Uint8Array | undefined;
  let tcp = true;
  let udp = true;
  let icmp = true;
  let dhcp = true;
  let dhcpv6 = true;
  let ndp = true;
  let ra = true;
  let dhcpDns = mode === 'passt';
  let dhcpSearch = mode === 'passt';
  const tcpPorts: string[] = [];
  const tcpNsPorts: string[] = [];
  const udpPorts: string[] = [];
  const udpNsPorts: string[] = [];
  let netns: string | null = null;
  let userns: string | null = null;
  let netnsOnly = false;
  let netnsQuit = true;
  let pidFile: string | null = null;
  let pcap: string | null = null;
  let socketPath: string | null = null;
  let socketFd: number | null = null;
  let oneOff = false;
  const mapped: Record<'host4' | 'host6' | 'guest4' | 'guest6', Uint8Array | null> = { host4: null, host6: null, guest4: null, guest6: null };
  const seen = new Set<string>();

  for (const [name, value] of parsed.options) {
    const v = value === true ? '' : value;
    const once = (): void => {
      if (seen.has(name)) throw new UsageError(`--${name} given more than once`);
      seen.add(name);
    };
    switch (name) {
      case 'debug': debug = true; break;
      case 'trace': trace = true; break;
      case 'quiet': quiet = true; break;
      case 'foreground': foreground = true; break;
      case 'stderr': break; // standard error is where we log without --log-file
      case 'log-file': once(); logFile = v; if (!v) throw new UsageError('--log-file needs a path'); break;
      case 'log-size': once(); logSize = parseUint('log-size', v, 4096, 2 ** 31); break;
      case 'help': help = true; break;
      case 'version': version = true; break;
      case 'mtu': once(); mtu = parseUint('mtu', v, MIN_MTU, DEFAULT_MTU); break;
      case 'address': {
        const a4 = parseIPv4(v);
        const a6 = a4 ? undefined : parseIPv6(v);
        if (a4) {
          if (addr4) throw new UsageError(`--address: IPv4 address given twice: '${v}'`);
          if (isUnspecified(a4) || isMulticast(a4) || isLoopback(a4) || a4[0] === 255) throw new UsageError(`--address: invalid IPv4 address '${v}'`);
          addr4 = a4;
        } else if (a6) {
          if (addr6) throw new UsageError(`--address: IPv6 address given twice: '${v}'`);
          if (isUnspecified(a6) || isMulticast(a6) || isLoopback(a6) || isLinkLocal6(a6)) throw new UsageError(`--address: invalid IPv6 address '${v}'`);
          addr6 = a6;
        } else {
          throw new UsageError(`--address: invalid address '${v}'`);
        }
        break;
      }
      case 'netmask': {
        once();
        const len = parseNetmask(v);
        if (len === undefined) throw new UsageError(`--netmask: invalid netmask '${v}'`);
        prefix4 = len;
        break;
      }
      case 'gateway': {
        const g4 = parseIPv4(v);
        const g6 = g4 ? undefined : parseIPv6(v);
        if (g4) {
          if (gw4) throw new UsageError(`--gateway: IPv4 gateway given twice: '${v}'`);
          if (isUnspecified(g4) || isMulticast(g4) || isLoopback(g4)) throw new UsageError(`--gateway: invalid IPv4 gateway '${v}'`);
          gw4 = g4;
        } else if (g6) {
          if (gw6) throw new UsageError(`--gateway: IPv6 gateway given twice: '${v}'`);
          if (isUnspecified(g6) || isMulticast(g6) || isLoopback(g6)) throw new UsageError(`--gateway: invalid IPv6 gateway '${v}'`);
          gw6 = g6;
        } else {
          throw new UsageError(`--gateway: invalid address '${v}'`);
        }
        break;
      }
      case 'interface':
        once();
        if (!linkIndex(host, v)) throw new UsageError(`--interface: no such host interface '${v}'`);
        hostIf = v;
        break;
      case 'ns-ifname':
        once();
        if (!/^[^\s/:]{1,15}$/.test(v) || v === '.' || v === '..') throw new UsageError(`--ns-ifname: invalid interface name '${v}'`);
        nsIfname = v;
        break;
      case 'no-map-gw': mapGateway = false; break;
      case 'dns': {
        if (v === 'none') {
          dns = [];
          break;
        }
        const a = parseIPv4(v) ?? parseIPv6(v);
        if (!a) throw new UsageError(`--dns: invalid address '${v}'`);
        (dns ??= []).push(a);
        break;
      }
      case 'search':
        search = v === 'none' ? [] : v.split(/\s+/).filter(Boolean);
        for (const d of search) if (!/^[A-Za-z0-9_.-]{1,253}$/.test(d)) throw new UsageError(`--search: invalid domain '${d}'`);
        break;
      case 'dns-forward': {
        const a4 = parseIPv4(v);
        const a6 = a4 ? undefined : parseIPv6(v);
        if (a4) {
          if (fwd4) throw new UsageError(`--dns-forward: IPv4 address given twice: '${v}'`);
          if (isUnspecified(a4) || isMulticast(a4) || isLoopback(a4)) throw new UsageError(`--dns-forward: invalid address '${v}'`);
          fwd4 = a4;
        } else if (a6) {
          if (fwd6) throw new UsageError(`--dns-forward: IPv6 address given twice: '${v}'`);
          if (isUnspecified(a6) || isMulticast(a6) || isLoopback(a6)) throw new UsageError(`--dns-forward: invalid address '${v}'`);
          fwd6 = a6;
        } else {
          throw new UsageError(`--dns-forward: invalid address '${v}'`);
        }
        break;
      }
      case 'dns-host': {
        once();
        const a = parseIPv4(v) ?? parseIPv6(v);
        if (!a || isUnspecified(a) || isMulticast(a)) throw new UsageError(`--dns-host: invalid address '${v}'`);
        dnsHost = a;
        break;
      }
      case 'tcp-ports': tcpPorts.push(v); break;
      case 'netns':
        once();
        if (!v) throw new UsageError('--netns needs a path or a name');
        // A bare name is one of ip-netns(8)'s, in /run/netns.
        netns = v.includes('/') ? v : `/run/netns/${v}`;
        break;
      case 'userns':
        once();
        if (!v) throw new UsageError('--userns needs a path');
        userns = v;
        break;
      case 'netns-only': netnsOnly = true; break;
      case 'no-netns-quit': netnsQuit = false; break;
      case 'pid':
        once();
        if (!v) throw new UsageError('--pid needs a file name');
        pidFile = v;
        break;
      case 'pcap':
        once();
        if (!v) throw new UsageError('--pcap needs a file name');
        pcap = v;
        break;
      case 'socket':
        once();
        // sun_path holds 108 bytes, the terminating NUL included.
        if (!v || Buffer.byteLength(v) > 107) throw new UsageError(`--socket: invalid path '${v}' (1 to 107 bytes)`);
        socketPath = v;
        break;
      case 'fd':
        once();
        // As passt(1): standard input may be the socket, standard output and error may not.
        if (!/^\d+$/.test(v) || Number(v) === 1 || Number(v) === 2 || Number(v) > 2 ** 31 - 1) throw new UsageError(`--fd: invalid file descriptor '${v}'`);
        socketFd = Number(v);
        break;
      case 'one-off': oneOff = true; break;
      case 'map-host-loopback':
      case 'map-guest-addr': {
        const a4 = parseIPv4(v);
        const a = a4 ?? parseIPv6(v);
        if (!a || isUnspecified(a) || isMulticast(a) || isLoopback(a)) throw new UsageError(`--${name}: invalid address '${v}'`);
        const slot = `${name === 'map-host-loopback' ? 'host' : 'guest'}${a4 ? 4 : 6}` as keyof typeof mapped;
        if (mapped[slot]) throw new UsageError(`--${name}: IPv${a4 ? 4 : 6} address given twice: '${v}'`);
        mapped[slot] = a;
        break;
      }
      case 'tcp-ns': tcpNsPorts.push(v); break;
      case 'udp-ports': udpPorts.push(v); break;
      case 'udp-ns': udpNsPorts.push(v); break;
      case 'no-dhcp': dhcp = false; break;
      case 'no-dhcpv6': dhcpv6 = false; break;
      case 'no-ndp': ndp = false; break;
      case 'no-ra': ra = false; break;
      case 'dhcp-dns': dhcpDns = true; break;
      case 'no-dhcp-dns': dhcpDns = false; break;
      case 'dhcp-search': dhcpSearch = true; break;
      case 'no-dhcp-search': dhcpSearch = false; break;
      case 'no-tcp': tcp = false; break;
      case 'no-udp': udp = false; break;
      case 'no-icmp': icmp = false; break;
      case 'ipv4-only': only4 = true; break;
      case 'ipv6-only': only6 = true; break;
      case 'config-net': configNet = true; break;
      default:
        throw new UsageError(`unrecognized option '--${name}'`);
    }
  }
  if (only4 && only6) throw new UsageError('--ipv4-only and --ipv6-only are mutually exclusive');
  if (socketPath !== null && socketFd !== null) throw new UsageError('--socket and --fd are mutually exclusive');
  if (quiet && (debug || trace)) throw new UsageError('--quiet conflicts with --debug and --trace');
  logLevel = trace ? 'trace' : debug ? 'debug' : quiet ? 'warn' : 'info';

  // IPv4: template interface, address, prefix, gateway.
  let ip4: Ip4Config | null = null;
  if (!only6) {
    const def = defaultRoutes(host.routes4);
    const index = hostIf ? linkIndex(host, hostIf) : def[0]?.oif ?? 0;
    const candidates = index ? globalAddrs(host.addrs4, index, 4) : [];
    const addr = addr4 ?? candidates[0]?.addr;
    const gateway = gw4 ?? def.find((r) => r.oif === index)?.gateway ?? def[0]?.gateway ?? null;
    if (addr) {
      const match = host.addrs4.find((a) => prefixContains(a.addr, a.prefixLen, addr) && a.prefixLen > 0 && (!addr4 || a.addr.every((b, k) => b === addr[k])));
      const matchNet = match ?? host.addrs4.find((a) => a.index === index && prefixContains(a.addr, a.prefixLen, addr));
      const prefixLen = prefix4 ?? matchNet?.prefixLen ?? classfulPrefix(addr);
      ip4 = { addr, prefixLen, gateway, hostIfname: index ? linkName(host, index) : '', hostIfindex: index, copyAddrs: !addr4, copyRoutes: !gw4 };
    } else if (addr4 === undefined && (gw4 || prefix4 !== undefined)) {
      throw new UsageError('no IPv4 address: --gateway/--netmask need an IPv4 address (from the host or --address)');
    }
  }

  let ip6: Ip6Config | null = null;
  if (!only4 && mtu >= IPV6_MIN_MTU) {
    const def = defaultRoutes(host.routes6);
    const index = hostIf ? linkIndex(host, hostIf) : def[0]?.oif ?? 0;
    const candidates = index ? globalAddrs(host.addrs6, index, 6) : [];
    const addr = addr6 ?? candidates[0]?.addr;
    const gateway = gw6 ?? def.find((r) => r.oif === index)?.gateway ?? def[0]?.gateway ?? null;
    if (addr) {
      const match = host.addrs6.find((a) => a.index === index && a.addr.every((b, k) => b === addr[k]));
      const prefixLen = match?.prefixLen ?? 64;
      ip6 = { addr, prefixLen, gateway, hostIfname: index ? linkName(host, index) : '', hostIfindex: index, copyAddrs: !addr6, copyRoutes: !gw6 };
    }
  }
  if (only6 && !ip6) throw new UsageError('--ipv6-only: no usable IPv6 address and default route on the host');
  if (only4 && !ip4) throw new UsageError('--ipv4-only: no usable IPv4 address and default route on the host');

  // A lone number after the options is a PID to attach to (pasta(1): "pasta [OPTION]... PID").
  let attachPid: number | null = null;
  if (mode === 'pasta' && parsed.rest.length === 1 && /^\d+$/.test(parsed.rest[0])) {
    attachPid = Number(parsed.rest[0]);
    if (!(attachPid > 0 && attachPid < 2 ** 22)) throw new UsageError(`invalid PID '${parsed.rest[0]}'`);
  }
  if (attachPid !== null && netns) throw new UsageError('--netns cannot be combined with a PID');
  if ((netns || attachPid !== null) === false && (userns || netnsOnly)) {
    throw new UsageError(`${userns ? '--userns' : '--netns-only'} needs --netns or a PID`);
  }
  if ((netns || attachPid !== null) && parsed.rest.length && attachPid === null) {
    throw new UsageError(`a command cannot be given with --netns: '${parsed.rest[0]}'`);
  }

  // Port forwarding. Not given: pasta's default is `auto`, passt's `none`; and, as pasta(1)
  // says, "unless overridden, UDP ports with numbers corresponding to forwarded TCP port
  // numbers are forwarded too, without, however, any port translation".
  const ctx = ephemeral ? { ephemeral } : undefined;
  const portSpec = (option: PortOption, values: string[]): PortForwardSpec => {
    const spec = parsePortSpecs(option, values, mode, ctx);
    return spec;
  };
  const tcpIn = portSpec('-t', tcpPorts);
  const tcpOut = mode === 'pasta' ? portSpec('-T', tcpNsPorts) : null;
  const followTcp = (tcp: PortForwardSpec): PortForwardSpec => {
    const derived = udpDefaultsFromTcp(tcp);
    // Best effort: a UDP port the user did not ask for is no reason to fail.
    return { ...derived, rules: derived.rules.map((r) => ({ ...r, weak: true })) };
  };
  const udpIn = udpPorts.length || !(tcpIn.mode === 'ports' || tcpIn.mode === 'all') ? portSpec('-u', udpPorts) : followTcp(tcpIn);
  const udpOut = mode !== 'pasta' ? null : udpNsPorts.length || !tcpOut || !(tcpOut.mode === 'ports' || tcpOut.mode === 'all') ? portSpec('-U', udpNsPorts) : followTcp(tcpOut);
  const active = (spec: PortForwardSpec | null, on: boolean): PortForwardSpec | null => (spec && on && spec.mode !== 'none' ? spec : null);
  const tcpForward = active(tcpIn, tcp);
  const tcpNsForward = active(tcpOut, tcp);
  const udpForward = active(udpIn, udp);
  const udpNsForward = active(udpOut, udp);

  const resolv = parseResolvConf(resolvConf);
  const resolvers = dns ?? resolv.nameservers;
  // A forwarder goes to --dns-host, else to the first resolver of its own IP version.
  // (The host socket of a forwarded flow takes the target's family, so an IPv4
  // forwarder can reach an IPv6 resolver and the other way round.)
  const forwardTarget = (family: 4 | 6): Uint8Array | undefined => {
    if (dnsHost) return dnsHost;
    return resolvers.find((r) => r.length === (family === 4 ? 4 : 16)) ?? resolvers[0];
  };
  const warnings: string[] = [];
  let dnsForward4: Config['dnsForward4'] = null;
  let dnsForward6: Config['dnsForward6'] = null;
  for (const [fwd, family] of [[fwd4, 4], [fwd6, 6]] as const) {
    if (!fwd) continue;
    const to = forwardTarget(family);
    if (!to) {
      warnings.push(`--dns-forward ${formatIP(fwd)}: the host has no resolver to forward to (no nameserver in /etc/resolv.conf, no --dns-host or -D): DNS queries to it will go unanswered`);
      continue;
    }
    if (family === 4) dnsForward4 = { addr: fwd, to };
    else dnsForward6 = { addr: fwd, to };
  }

  const templateIf = ip4?.hostIfname || ip6?.hostIfname || '';
  return {
    mode,
    logLevel,
    logFile,
    logSize,
    foreground,
    help,
    version,
    configNet,
    mtu,
    nsMac: null,
    nsIfname: nsIfname ?? (templateIf || 'tap0'),
    ip4,
    ip6,
    mapGateway,
    dns: resolvers,
    search: search ?? resolv.search,
    dnsForward4,
    dnsForward6,
    tcp,
    udp,
    icmp,
    netns,
    attachPid,
    userns,
    netnsOnly,
    netnsQuit,
    pidFile,
    pcap,
    socketPath,
    socketFd,
    oneOff: oneOff || socketFd !== null,
    mapHostLoopback4: mapped.host4,
    mapHostLoopback6: mapped.host6,
    mapGuestAddr4: mapped.guest4,
    mapGuestAddr6: mapped.guest6,
    tcpForward,
    udpForward,
    tcpNsForward,
    udpNsForward,
    dhcp,
    dhcpv6,
    ndp,
    // A namespace configured by pasta itself must not also autoconfigure from our
    // advertisements (it would gain a second, SLAAC address).
    ra: ra && !(mode === 'pasta' && configNet),
    dhcpDns,
    dhcpSearch,
    warnings,
    command: attachPid !== null ? [] : parsed.rest,
  };
}

/** Human-readable summary of the configuration, for --debug. */
export function describeConfig(c: Config): string[] {
  const lines = [`namespace interface: ${c.nsIfname}, MTU ${c.mtu}`];
  if (c.ip4) lines.push(`IPv4: ${formatIP(c.ip4.addr)}/${c.ip4.prefixLen} gateway ${c.ip4.gateway ? formatIP(c.ip4.gateway) : 'none'} (from ${c.ip4.hostIfname || 'options'})`);
  else lines.push('IPv4: disabled');
  if (c.ip6) lines.push(`IPv6: ${formatIP(c.ip6.addr)}/${c.ip6.prefixLen} gateway ${c.ip6.gateway ? formatIP(c.ip6.gateway) : 'none'} (from ${c.ip6.hostIfname || 'options'})`);
  else lines.push('IPv6: disabled');
  if (c.dnsForward4) lines.push(`DNS forwarder ${formatIP(c.dnsForward4.addr)} -> ${formatIP(c.dnsForward4.to)}`);
  if (c.dnsForward6) lines.push(`DNS forwarder ${formatIP(c.dnsForward6.addr)} -> ${formatIP(c.dnsForward6.to)}`);
  const ports: Array<[string, PortForwardSpec | null]> = [['-t', c.tcpForward], ['-u', c.udpForward]];
  if (c.mode === 'pasta') ports.push(['-T', c.tcpNsForward], ['-U', c.udpNsForward]);
  for (const [option, spec] of ports) {
    // Long lists (a range of thousands of ports) are cut: this is a summary.
    const text = spec ? describePortSpec(spec) : `${option}: none`;
    lines.push(text.length > 200 ? `${text.slice(0, 200)}...` : text);
  }
  return lines;
}
