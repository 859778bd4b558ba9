/**
 * rtnetlink (NETLINK_ROUTE): reading links, addresses and routes, and setting
 * them up, with messages built and parsed here in TypeScript.
 *
 * Theory of operation: the file has two halves.
 *
 * The pure half turns requests into bytes and bytes into records. A netlink
 * datagram is a sequence of messages, each a 16-byte `nlmsghdr` (length,
 * type, flags, sequence number, port id) and a payload padded to 4 bytes.
 * rtnetlink payloads are a fixed family header (`ifinfomsg`, `ifaddrmsg`,
 * `rtmsg`) followed by attributes: 4-byte `nlattr` headers (length, type)
 * and values padded to 4 bytes, possibly nested. All integers are in host
 * byte order. Parsing works on views of the received buffer and never throws:
 * bytes from the kernel are still input, and a truncated or inconsistent
 * message ends parsing with what was read so far and a `malformed` note.
 * For --config-net, the pure half also rewrites dumped addresses and routes
 * of the host into requests for the namespace (addrCopyPayload,
 * routeCopyPayload): attribute by attribute, so that everything the kernel
 * reported and this file does not know about is copied as it is.
 *
 * The I/O half is the {@link Netlink} class. Every operation is one
 * synchronous request: send it with NLM_F_REQUEST | NLM_F_ACK (plus
 * NLM_F_DUMP for listings), then read datagrams until the NLMSG_ERROR
 * (acknowledgement) or NLMSG_DONE carrying the request's sequence number;
 * replies to other sequence numbers (leftovers of an earlier request) are
 * skipped. An error reply throws an Error naming the operation, the object
 * and the errno ("netlink RTM_NEWADDR 2001:db8::2/64 on index 3: File exists
 * (EEXIST)"), plus the kernel's extended-ack text when it sent one: this is
 * configuration, where failing loudly with context is right. A dump the
 * kernel marks as interrupted (NLM_F_DUMP_INTR, the table changed while
 * being dumped) is repeated.
 *
 * The bytes move through a {@link NetlinkTransport}. The default one uses the
 * native addon's send/recv on a NETLINK_ROUTE socket fd that the caller
 * opened (in whichever namespace it needs); tests inject a fake transport.
 * The addon is loaded lazily, so the pure half works where it is not built.
 */
import { getSystemErrorName } from 'node:util';
import type { NativeAddon } from './native.js';
import { formatIP } from './inet.js';
import { formatMac } from './l2/ethernet.js';

// --- constants ----------------------------------------------------------------

/** Message types (linux/netlink.h, linux/rtnetlink.h). */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;

/** nlmsghdr flags. */
export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
export const NLM_F_DUMP_INTR = 0x10;
/** On dump replies: the kernel filtered the dump as the (strict) request asked. */
export const NLM_F_DUMP_FILTERED = 0x20;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
/** On NLMSG_ERROR: the echoed request was cut to its header. */
export const NLM_F_CAPPED = 0x100;
/** On NLMSG_ERROR: extended-ack attributes follow the echoed request. */
export const NLM_F_ACK_TLVS = 0x200;

/** nlmsgerr extended-ack attributes. */
export const NLMSGERR_ATTR_MSG = 1;

/** Socket options (SOL_NETLINK). */
export const SOL_NETLINK = 270;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;

/** rtnetlink multicast group of IPv6 address changes (RTNLGRP_IPV6_IFADDR). */
export const RTNLGRP_IPV6_IFADDR = 9;

export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;

/** Link attributes and flags. */
export const IFLA_ADDRESS = 1;
export const IFLA_BROADCAST = 2;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFF_UP = 0x1;
export const IFF_LOOPBACK = 0x8;
/** No ARP (IPv4) and, for IPv6, no duplicate address detection while set. */
export const IFF_NOARP = 0x80;
export const IFF_RUNNING = 0x40;
export const IFF_LOWER_UP = 0x10000;

/** Address attributes and flags. */
export const IFA_UNSPEC = 0;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFA_LABEL = 3;
export const IFA_CACHEINFO = 6;
export const IFA_FLAGS = 8;
export const IFA_F_SECONDARY = 0x01;
export const IFA_F_NODAD = 0x02;
export const IFA_F_DADFAILED = 0x08;
export const IFA_F_DEPRECATED = 0x20;
export const IFA_F_TENTATIVE = 0x40;
export const IFA_F_PERMANENT = 0x80;
export const IFA_F_NOPREFIXROUTE = 0x200;

/** Route attributes and values. */
export const RTA_UNSPEC = 0;
export const RTA_DST = 1;
export const RTA_SRC = 2;
export const RTA_IIF = 3;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7;
export const RTA_MULTIPATH = 9;
export const RTA_CACHEINFO = 12;
export const RTA_TABLE = 15;
/** A nexthop object's id (nexthop objects live in one namespace only). */
export const RTA_NH_ID = 30;
export const RTN_UNICAST = 1;
export const RT_TABLE_MAIN = 254;
export const RTPROT_KERNEL = 2;
export const RTPROT_BOOT = 3;
export const RTPROT_STATIC = 4;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RTNH_F_DEAD = 1;
export const RTNH_F_ONLINK = 4;
export const RTNH_F_OFFLOAD = 8;
export const RTNH_F_LINKDOWN = 16;
export const RTNH_F_TRAP = 64;
/** Next-hop state flags (linux/rtnetlink.h): reported by the kernel, refused in a new route. */
export const RTNH_COMPARE_MASK = RTNH_F_DEAD | RTNH_F_LINKDOWN | RTNH_F_OFFLOAD | RTNH_F_TRAP;
export const RTM_F_CLONED = 0x200;

/** Attribute type bits that are flags, not part of the type. */
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = 0x3fff;

/** Header sizes. */
export const NLMSG_HDRLEN = 16;
export const NLA_HDRLEN = 4;
const IFINFOMSG_LEN = 16;
const IFADDRMSG_LEN = 8;
const RTMSG_LEN = 12;
const RTNEXTHOP_LEN = 8;

const messageTypeNames: Record<number, string> = {
  [NLMSG_NOOP]: 'NLMSG_NOOP',
  [NLMSG_ERROR]: 'NLMSG_ERROR',
  [NLMSG_DONE]: 'NLMSG_DONE',
  [NLMSG_OVERRUN]: 'NLMSG_OVERRUN',
  [RTM_NEWLINK]: 'RTM_NEWLINK',
  [RTM_DELLINK]: 'RTM_DELLINK',
  [RTM_GETLINK]: 'RTM_GETLINK',
  [RTM_NEWADDR]: 'RTM_NEWADDR',
  [RTM_DELADDR]: 'RTM_DELADDR',
  [RTM_GETADDR]: 'RTM_GETADDR',
  [RTM_NEWROUTE]: 'RTM_NEWROUTE',
  [RTM_DELROUTE]: 'RTM_DELROUTE',
  [RTM_GETROUTE]: 'RTM_GETROUTE',
};

/** "RTM_NEWADDR" for 20; "type N" for types this file does not name. */
export function messageTypeName(type: number): string {
  return messageTypeNames[type] ?? `type ${type}`;
}

/** glibc strerror(3) texts for the errnos rtnetlink answers with. */
const errnoTexts: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  E2BIG: 'Argument list too long',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  EINVAL: 'Invalid argument',
  ENOSPC: 'No space left on device',
  ERANGE: 'Numerical result out of range',
  ENOTSUP: 'Operation not supported',
  EOPNOTSUPP: 'Operation not supported',
  EMSGSIZE: 'Message too long',
  EPROTONOSUPPORT: 'Protocol not supported',
  EPFNOSUPPORT: 'Protocol family not supported',
  EAFNOSUPPORT: 'Address family not supported by protocol',
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  ENETDOWN: 'Network is down',
  ENETUNREACH: 'Network is unreachable',
  ENOBUFS: 'No buffer space available',
  ETIMEDOUT: 'Connection timed out',
  EHOSTDOWN: 'Host is down',
  EHOSTUNREACH: 'No route to host',
  EPROTO: 'Protocol error',
};

/**
 * "File exists (EEXIST)" for 17 (or -17): strerror text and symbolic name.
 * Unknown numbers give "errno N".
 */
export function describeErrno(errno: number): string {
  const n = Math.abs(errno);
  if (n === 524) return 'Operation not supported (ENOTSUPP)'; // kernel-internal, leaks through netlink
  let name: string | undefined;
  try {
    name = getSystemErrorName(-n);
  } catch {
    name = undefined;
  }
  if (!name || name.startsWith('Unknown system error')) return `errno ${n}`;
  const text = errnoTexts[name];
  return text ? `${text} (${name})` : name;
}

// --- encoding -------------------------------------------------------------------

const hostLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** `length` rounded up to the netlink alignment of 4 bytes. */
export function align4(length: number): number {
  return (length + 3) & ~3;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * One netlink message: a 16-byte nlmsghdr (length, type, flags, seq, port id
 * 0) and `payload`, zero-padded to a multiple of 4 bytes. `nlmsg_len` counts
 * the header and the unpadded payload.
 */
export function encodeMessage(type: number, flags: number, seq: number, payload: Uint8Array): Uint8Array {
  const length = NLMSG_HDRLEN + payload.length;
  const out = new Uint8Array(align4(length));
  const dv = view(out);
  dv.setUint32(0, length, hostLittleEndian);
  dv.setUint16(4, type, hostLittleEndian);
  dv.setUint16(6, flags, hostLittleEndian);
  dv.setUint32(8, seq >>> 0, hostLittleEndian);
  dv.setUint32(12, 0, hostLittleEndian);
  out.set(payload, NLMSG_HDRLEN);
  return out;
}

/**
 * One attribute: nlattr header (length = 4 + value length, type) and the
 * value, zero-padded to 4 bytes. Concatenate the results to form an
 * attribute list.
 */
export function encodeAttribute(type: number, value: Uint8Array): Uint8Array {
  const length = NLA_HDRLEN + value.length;
  const out = new Uint8Array(align4(length));
  const dv = view(out);
  dv.setUint16(0, length, hostLittleEndian);
  dv.setUint16(2, type, hostLittleEndian);
  out.set(value, NLA_HDRLEN);
  return out;
}

/**
 * A nested attribute holding already encoded `children`. NLA_F_NESTED is
 * set in the type unless `markNested` is false (some older attributes, such
 * as IFLA_LINKINFO, are accepted either way).
 */
export function encodeNested(type: number, children: readonly Uint8Array[], markNested = true): Uint8Array {
  return encodeAttribute(markNested ? type | NLA_F_NESTED : type, concat(children));
}

/** A 32-bit host-order integer attribute. */
export function encodeU32Attribute(type: number, value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  view(bytes).setUint32(0, value >>> 0, hostLittleEndian);
  return encodeAttribute(type, bytes);
}

/** A NUL-terminated string attribute (IFLA_IFNAME, IFA_LABEL). */
export function encodeStringAttribute(type: number, value: string): Uint8Array {
  const text = new TextEncoder().encode(value);
  const bytes = new Uint8Array(text.length + 1);
  bytes.set(text);
  return encodeAttribute(type, bytes);
}

/** struct ifinfomsg: family, type, index, flags, change. */
export function encodeIfinfomsg(fields: {
  family?: number;
  type?: number;
  index?: number;
  flags?: number;
  change?: number;
}): Uint8Array {
  const out = new Uint8Array(IFINFOMSG_LEN);
  const dv = view(out);
  out[0] = fields.family ?? AF_UNSPEC;
  dv.setUint16(2, fields.type ?? 0, hostLittleEndian);
  dv.setInt32(4, fields.index ?? 0, hostLittleEndian);
  dv.setUint32(8, (fields.flags ?? 0) >>> 0, hostLittleEndian);
  dv.setUint32(12, (fields.change ?? 0) >>> 0, hostLittleEndian);
  return out;
}

/** struct ifaddrmsg: family, prefix length, flags (low 8 bits), scope, index. */
export function encodeIfaddrmsg(fields: {
  family: number;
  prefixLen?: number;
  flags?: number;
  scope?: number;
  index?: number;
}): Uint8Array {
  const out = new Uint8Array(IFADDRMSG_LEN);
  out[0] = fields.family;
  out[1] = fields.prefixLen ?? 0;
  out[2] = (fields.flags ?? 0) & 0xff;
  out[3] = fields.scope ?? 0;
  view(out).setUint32(4, (fields.index ?? 0) >>> 0, hostLittleEndian);
  return out;
}

/** struct rtmsg: family, lengths, tos, table, protocol, scope, type, flags. */
export function encodeRtmsg(fields: {
  family: number;
  dstLen?: number;
  srcLen?: number;
  tos?: number;
  table?: number;
  protocol?: number;
  scope?: number;
  type?: number;
  flags?: number;
}): Uint8Array {
  const out = new Uint8Array(RTMSG_LEN);
  out[0] = fields.family;
  out[1] = fields.dstLen ?? 0;
  out[2] = fields.srcLen ?? 0;
  out[3] = fields.tos ?? 0;
  out[4] = fields.table ?? 0;
  out[5] = fields.protocol ?? 0;
  out[6] = fields.scope ?? 0;
  out[7] = fields.type ?? 0;
  view(out).setUint32(8, (fields.flags ?? 0) >>> 0, hostLittleEndian);
  return out;
}

function familyToAf(family: 4 | 6): number {
  return family === 4 ? AF_INET : AF_INET6;
}

function addressLength(family: 4 | 6): number {
  return family === 4 ? 4 : 16;
}

/** Flags of a dump request. */
const DUMP_FLAGS = NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP;
/** Flags of a request that creates an object and fails if it exists. */
const CREATE_FLAGS = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
/** Flags of a request that changes an existing object. */
const SET_FLAGS = NLM_F_REQUEST | NLM_F_ACK;

/** RTM_GETLINK dump of every link. */
export function encodeLinkDumpRequest(seq: number): Uint8Array {
  return encodeMessage(RTM_GETLINK, DUMP_FLAGS, seq, encodeIfinfomsg({}));
}

/** RTM_GETADDR dump of the addresses of one family. */
export function encodeAddrDumpRequest(seq: number, family: 4 | 6): Uint8Array {
  return encodeMessage(RTM_GETADDR, DUMP_FLAGS, seq, encodeIfaddrmsg({ family: familyToAf(family) }));
}

/** RTM_GETROUTE dump of the routes of one family (every table; filter after). */
export function encodeRouteDumpRequest(seq: number, family: 4 | 6): Uint8Array {
  return encodeMessage(RTM_GETROUTE, DUMP_FLAGS, seq, encodeRtmsg({ family: familyToAf(family) }));
}

// --- sock_diag (sock_diag(7)): the listening TCP sockets of a namespace ---------

/** The netlink protocol of sock_diag(7). */
export const NETLINK_SOCK_DIAG = 4;
/** sock_diag's request and reply message type. */
export const SOCK_DIAG_BY_FAMILY = 20;
/** TCP_LISTEN of include/net/tcp_states.h. */
const TCP_STATE_LISTEN = 10;

/**
 * A dump request for the TCP sockets of `family` in state LISTEN: an
 * inet_diag_req_v2 with idiag_states = 1 << TCP_LISTEN and an empty socket
 * id. Asking for LISTEN only lets the kernel walk just its listening hash,
 * where /proc/net/tcp walks every bucket of the connection table.
 */
export function encodeTcpListenDumpRequest(seq: number, family: 4 | 6): Uint8Array {
  const req = new Uint8Array(56);
  req[0] = familyToAf(family);
  req[1] = 6; // IPPROTO_TCP
  view(req).setUint32(4, 1 << TCP_STATE_LISTEN, hostLittleEndian);
  return encodeMessage(SOCK_DIAG_BY_FAMILY, DUMP_FLAGS, seq, req);
}

/** One socket of a sock_diag reply: family, state, local address (network order) and port. */
export interface InetDiagSocket {
  family: 4 | 6;
  state: number;
  addr: Uint8Array;
  port: number;
}

/** Decode an inet_diag_msg (72 bytes: family, state, timer, retrans, then the socket id), or undefined. */
export function decodeInetDiagMsg(message: NetlinkMessage): InetDiagSocket | undefined {
  const p = message.payload;
  if (message.type !== SOCK_DIAG_BY_FAMILY || p.length < 72) return undefined;
  const family = p[0] === AF_INET ? 4 : p[0] === AF_INET6 ? 6 : 0;
  if (family === 0) return undefined;
  // The id: sport and dport (network order), then src[16], dst[16], if, cookie.
  return { family, state: p[1], port: (p[4] << 8) | p[5], addr: p.slice(8, 8 + (family === 4 ? 4 : 16)) };
}

/** What {@link encodeLinkSetRequest} changes; absent fields stay as they are. */
export interface LinkChange {
  /** Bring the link up (true) or down (false). */
  up?: boolean;
  /**
   * Other IFF_* flags: the bits of `change` are set to their value in
   * `flags` (ifi_flags and ifi_change), as `ip link set ... arp off` does.
   */
  flags?: { flags: number; change: number };
  mtu?: number;
  /** Link-layer address, 6 bytes for Ethernet. */
  mac?: Uint8Array;
}

/**
 * The payload of RTM_NEWLINK on the existing link `index`: an ifinfomsg with
 * the flags to change (IFF_UP from `up`, plus `flags`), then IFLA_MTU and
 * IFLA_ADDRESS when given.
 */
export function encodeLinkSetPayload(index: number, change: LinkChange): Uint8Array {
  let flags = change.flags ? change.flags.flags & change.flags.change : 0;
  let mask = change.flags?.change ?? 0;
  if (change.up !== undefined) {
    mask |= IFF_UP;
    flags = change.up ? flags | IFF_UP : flags & ~IFF_UP;
  }
  const attributes: Uint8Array[] = [encodeIfinfomsg({ index, flags, change: mask })];
  if (change.mtu !== undefined) attributes.push(encodeU32Attribute(IFLA_MTU, change.mtu));
  if (change.mac !== undefined) attributes.push(encodeAttribute(IFLA_ADDRESS, change.mac));
  return concat(attributes);
}

/** RTM_NEWLINK on an existing link: IFF_UP (and other flags) via flags/change, IFLA_MTU, IFLA_ADDRESS. */
export function encodeLinkSetRequest(seq: number, index: number, change: LinkChange): Uint8Array {
  return encodeMessage(RTM_NEWLINK, SET_FLAGS, seq, encodeLinkSetPayload(index, change));
}

/** Options of {@link encodeAddrAddRequest} and {@link Netlink.addrAdd}. */
export interface AddrAddOptions {
  /** IFA_F_NODAD: skip duplicate address detection (IPv6), the address is usable at once. */
  nodad?: boolean;
  /** IFA_F_NOPREFIXROUTE: do not add the prefix route for the address. */
  noprefixroute?: boolean;
  /** ifa_scope; RT_SCOPE_UNIVERSE (0) by default. The kernel derives it itself for IPv6. */
  scope?: number;
}

/** The payload of {@link encodeAddrAddRequest}: ifaddrmsg and attributes. */
export function encodeAddrAddPayload(
  index: number,
  family: 4 | 6,
  addr: Uint8Array,
  prefixLen: number,
  options: AddrAddOptions = {},
): Uint8Array {
  let flags = 0;
  if (options.nodad) flags |= IFA_F_NODAD;
  if (options.noprefixroute) flags |= IFA_F_NOPREFIXROUTE;
  const parts: Uint8Array[] = [
    encodeIfaddrmsg({ family: familyToAf(family), prefixLen, flags, scope: options.scope ?? RT_SCOPE_UNIVERSE, index }),
  ];
  if (family === 4) parts.push(encodeAttribute(IFA_LOCAL, addr));
  parts.push(encodeAttribute(IFA_ADDRESS, addr));
  if (flags !== 0) parts.push(encodeU32Attribute(IFA_FLAGS, flags));
  return concat(parts);
}

/**
 * RTM_NEWADDR (create, exclusive). IPv4 carries IFA_LOCAL and IFA_ADDRESS
 * (both the address, as `ip addr add` sends); IPv6 carries IFA_ADDRESS. Flags
 * go in ifa_flags (low 8 bits) and, when any is set, in IFA_FLAGS (32 bits,
 * needed for IFA_F_NOPREFIXROUTE).
 */
export function encodeAddrAddRequest(
  seq: number,
  index: number,
  family: 4 | 6,
  addr: Uint8Array,
  prefixLen: number,
  options: AddrAddOptions = {},
): Uint8Array {
  return encodeMessage(RTM_NEWADDR, CREATE_FLAGS, seq, encodeAddrAddPayload(index, family, addr, prefixLen, options));
}

/** A route to add: see {@link encodeRouteAddRequest}. */
export interface RouteSpec {
  family: 4 | 6;
  /** Destination network; null (or dstLen 0) for the default route. */
  dst: Uint8Array | null;
  dstLen: number;
  /** Next hop; null for a route straight out of `oif`. */
  gateway: Uint8Array | null;
  /** Output interface index. */
  oif: number;
  /** Metric (RTA_PRIORITY); the kernel's default when absent. */
  priority?: number;
  /** RTNH_F_ONLINK: the gateway is reachable on `oif` even without a covering prefix route. */
  onlink?: boolean;
  /** Routing table; RT_TABLE_MAIN by default. */
  table?: number;
  /** rtm_protocol; RTPROT_STATIC by default. */
  protocol?: number;
  /** rtm_scope; universe with a gateway, link without one, by default. */
  scope?: number;
}

/** The payload of {@link encodeRouteAddRequest}: rtmsg and attributes. */
export function encodeRouteAddPayload(route: RouteSpec): Uint8Array {
  const table = route.table ?? RT_TABLE_MAIN;
  const dstLen = route.dst === null ? 0 : route.dstLen;
  const parts: Uint8Array[] = [
    encodeRtmsg({
      family: familyToAf(route.family),
      dstLen,
      table: table > 255 ? 252 /* RT_TABLE_COMPAT */ : table,
      protocol: route.protocol ?? RTPROT_STATIC,
      scope: route.scope ?? (route.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK),
      type: RTN_UNICAST,
      flags: route.onlink ? RTNH_F_ONLINK : 0,
    }),
  ];
  if (route.dst !== null && dstLen > 0) parts.push(encodeAttribute(RTA_DST, route.dst));
  if (route.gateway) parts.push(encodeAttribute(RTA_GATEWAY, route.gateway));
  parts.push(encodeU32Attribute(RTA_OIF, route.oif));
  if (route.priority !== undefined) parts.push(encodeU32Attribute(RTA_PRIORITY, route.priority));
  if (table > 255) parts.push(encodeU32Attribute(RTA_TABLE, table));
  return concat(parts);
}

/**
 * RTM_NEWROUTE (create, exclusive), unicast, in the main table unless told
 * otherwise. Attributes in the order `ip route add` uses: RTA_DST (left out
 * for a default route), RTA_GATEWAY, RTA_OIF, RTA_PRIORITY; RTA_TABLE only
 * for tables above 255, which do not fit rtm_table.
 */
export function encodeRouteAddRequest(seq: number, route: RouteSpec): Uint8Array {
  return encodeMessage(RTM_NEWROUTE, CREATE_FLAGS, seq, encodeRouteAddPayload(route));
}

// --- copying addresses and routes between namespaces ------------------------------

/** One attribute as it sits in a buffer: raw type (NLA_F_* bits kept), value, padded bytes. */
interface RawAttribute {
  /** nla_type as sent, flag bits included. */
  rawType: number;
  /** The value, a view. */
  value: Uint8Array;
  /** The whole attribute (header, value, padding), a view. */
  bytes: Uint8Array;
}

/** The attributes of `buf` with their raw bytes, stopping (like parseAttributes) at a malformed one. */
function rawAttributes(buf: Uint8Array): RawAttribute[] {
  const out: RawAttribute[] = [];
  const dv = view(buf);
  let offset = 0;
  while (buf.length - offset >= NLA_HDRLEN) {
    const length = dv.getUint16(offset, hostLittleEndian);
    if (length < NLA_HDRLEN || length > buf.length - offset) break;
    out.push({
      rawType: dv.getUint16(offset + 2, hostLittleEndian),
      value: buf.subarray(offset + NLA_HDRLEN, offset + length),
      bytes: buf.subarray(offset, Math.min(buf.length, offset + align4(length))),
    });
    offset += align4(length);
  }
  return out;
}

/** `bytes` padded with zeroes to a multiple of 4 (the last attribute of a message may lack its padding). */
function padded(bytes: Uint8Array): Uint8Array {
  if (bytes.length % 4 === 0) return bytes;
  const out = new Uint8Array(align4(bytes.length));
  out.set(bytes);
  return out;
}

/** An attribute with the same raw type as `attribute` and a new value. */
function withValue(attribute: RawAttribute, value: Uint8Array): Uint8Array {
  const out = encodeAttribute(0, value);
  view(out).setUint16(2, attribute.rawType, hostLittleEndian);
  return out;
}

/**
 * The payload of an RTM_NEWADDR request copying the address of the
 * RTM_NEWADDR dump payload `payload` to link `index`, as pasta(1) copies the
 * template interface's addresses: every field and attribute kept but the
 * index, IFA_F_NODAD added (to ifa_flags and to IFA_FLAGS when present),
 * IFA_LABEL (the host interface's name) and IFA_CACHEINFO (lifetimes and
 * timestamps) left out. Undefined when the payload is too short.
 */
export function addrCopyPayload(payload: Uint8Array, index: number): Uint8Array | undefined {
  return rewriteAddr(payload, index, true);
}

/**
 * The payload of an RTM_NEWADDR (NLM_F_REPLACE) request marking the address
 * of the dump payload `payload` IFA_F_NODAD, everything else unchanged:
 * pasta(1)'s way of keeping the kernel from running duplicate address
 * detection on the link-local address. Undefined when the payload is too short.
 */
export function addrNodadPayload(payload: Uint8Array): Uint8Array | undefined {
  if (payload.length < IFADDRMSG_LEN) return undefined;
  return rewriteAddr(payload, view(payload).getUint32(4, hostLittleEndian), false);
}

function rewriteAddr(payload: Uint8Array, index: number, strip: boolean): Uint8Array | undefined {
  if (payload.length < IFADDRMSG_LEN) return undefined;
  const header = payload.slice(0, IFADDRMSG_LEN);
  header[2] = header[2]! | IFA_F_NODAD;
  view(header).setUint32(4, index >>> 0, hostLittleEndian);
  const parts: Uint8Array[] = [header];
  for (const attribute of rawAttributes(payload.subarray(IFADDRMSG_LEN))) {
    const type = attribute.rawType & NLA_TYPE_MASK;
    if (strip && (type === IFA_LABEL || type === IFA_CACHEINFO)) continue;
    if (type === IFA_FLAGS && attribute.value.length >= 4) {
      const value = attribute.value.slice();
      view(value).setUint32(0, (view(value).getUint32(0, hostLittleEndian) | IFA_F_NODAD) >>> 0, hostLittleEndian);
      parts.push(withValue(attribute, value));
    } else {
      parts.push(padded(attribute.bytes));
    }
  }
  return concat(parts);
}

/**
 * The interfaces a route of an RTM_NEWROUTE payload goes out of: its RTA_OIF
 * and the ifindex of every next hop in RTA_MULTIPATH, in order (duplicates
 * kept); empty for a route with neither.
 */
export function routeInterfaces(payload: Uint8Array): number[] {
  if (payload.length < RTMSG_LEN) return [];
  const out: number[] = [];
  for (const attribute of rawAttributes(payload.subarray(RTMSG_LEN))) {
    const type = attribute.rawType & NLA_TYPE_MASK;
    if (type === RTA_OIF && attribute.value.length >= 4) out.push(view(attribute.value).getUint32(0, hostLittleEndian));
    if (type === RTA_MULTIPATH) for (const hop of nexthops(attribute.value)) out.push(hop.index);
  }
  return out;
}

/** The struct rtnexthop entries of an RTA_MULTIPATH value: offset of each and its ifindex. */
function nexthops(value: Uint8Array): { offset: number; length: number; index: number }[] {
  const out: { offset: number; length: number; index: number }[] = [];
  const dv = view(value);
  let offset = 0;
  while (value.length - offset >= RTNEXTHOP_LEN) {
    const length = dv.getUint16(offset, hostLittleEndian);
    if (length < RTNEXTHOP_LEN || length > value.length - offset) break;
    out.push({ offset, length, index: dv.getInt32(offset + 4, hostLittleEndian) });
    offset += align4(length);
  }
  return out;
}

/**
 * The payload of an RTM_NEWROUTE request copying the route of the
 * RTM_NEWROUTE dump payload `payload` from link `from` to link `to`, as
 * pasta(1) copies the template interface's routes: RTA_OIF and the ifindex
 * of every RTA_MULTIPATH next hop rewritten to `to`; RTA_PREFSRC (a host
 * address, maybe not the namespace's) and RTA_NH_ID (a nexthop object of the
 * host's namespace) left out; the next-hop state flags (RTNH_COMPARE_MASK:
 * dead, linkdown, offload, trap, which the kernel refuses in a new route)
 * cleared in rtm_flags and in each next hop; every other field and attribute
 * (destination, gateway, metric, table, protocol, scope, metrics, preference,
 * expiry...) kept byte for byte. Undefined — the route is not copied — when
 * it goes out of any other interface than `from`, or the payload is too short.
 */
export function routeCopyPayload(payload: Uint8Array, from: number, to: number): Uint8Array | undefined {
  if (payload.length < RTMSG_LEN) return undefined;
  const header = payload.slice(0, RTMSG_LEN);
  const dv = view(header);
  dv.setUint32(8, (dv.getUint32(8, hostLittleEndian) & ~RTNH_COMPARE_MASK) >>> 0, hostLittleEndian);
  const parts: Uint8Array[] = [header];
  for (const attribute of rawAttributes(payload.subarray(RTMSG_LEN))) {
    const type = attribute.rawType & NLA_TYPE_MASK;
    if (type === RTA_PREFSRC || type === RTA_NH_ID) continue;
    if (type === RTA_OIF) {
      if (attribute.value.length < 4 || view(attribute.value).getUint32(0, hostLittleEndian) !== from) return undefined;
      parts.push(withValue(attribute, u32Bytes(to)));
    } else if (type === RTA_MULTIPATH) {
      const value = attribute.value.slice();
      const vv = view(value);
      for (const hop of nexthops(value)) {
        if (hop.index !== from) return undefined;
        value[hop.offset + 2] = value[hop.offset + 2]! & ~RTNH_COMPARE_MASK;
        vv.setInt32(hop.offset + 4, to, hostLittleEndian);
      }
      parts.push(withValue(attribute, value));
    } else {
      parts.push(padded(attribute.bytes));
    }
  }
  return concat(parts);
}

function u32Bytes(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  view(bytes).setUint32(0, value >>> 0, hostLittleEndian);
  return bytes;
}

// --- parsing --------------------------------------------------------------------

/** One message from a datagram; `payload` is a view into the received buffer. */
export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** The bytes after the header, up to nlmsg_len (padding excluded). */
  payload: Uint8Array;
}

/**
 * The result of {@link parseMessages}: the messages read, and, when the
 * buffer did not end cleanly, `malformed` saying why parsing stopped there.
 */
export type ParsedMessages = NetlinkMessage[] & { malformed?: string };

/**
 * Split a datagram into messages. Never throws: a header cut short, a
 * length below the header size or past the end of the buffer stops parsing,
 * and the messages before it are returned with `malformed` set.
 */
export function parseMessages(buf: Uint8Array): ParsedMessages {
  const out: ParsedMessages = [];
  const dv = view(buf);
  let offset = 0;
  while (offset < buf.length) {
    if (buf.length - offset < NLMSG_HDRLEN) {
      out.malformed = `truncated header at offset ${offset}`;
      break;
    }
    const length = dv.getUint32(offset, hostLittleEndian);
    if (length < NLMSG_HDRLEN) {
      out.malformed = `nlmsg_len ${length} at offset ${offset}`;
      break;
    }
    if (length > buf.length - offset) {
      out.malformed = `nlmsg_len ${length} at offset ${offset} past the end (${buf.length})`;
      break;
    }
    out.push({
      type: dv.getUint16(offset + 4, hostLittleEndian),
      flags: dv.getUint16(offset + 6, hostLittleEndian),
      seq: dv.getUint32(offset + 8, hostLittleEndian),
      pid: dv.getUint32(offset + 12, hostLittleEndian),
      payload: buf.subarray(offset + NLMSG_HDRLEN, offset + length),
    });
    offset += align4(length);
  }
  return out;
}

/** One attribute; `value` is a view, `type` has the NLA_F_* bits removed. */
export interface NetlinkAttribute {
  type: number;
  /** NLA_F_NESTED was set. */
  nested: boolean;
  value: Uint8Array;
}

/**
 * The attributes in `buf` (for example a payload after its family header, or
 * the value of a nested attribute). Never throws: an attribute with
 * nla_len < 4 or running past the end stops parsing; the ones before it are
 * returned.
 */
export function parseAttributes(buf: Uint8Array): NetlinkAttribute[] {
  const out: NetlinkAttribute[] = [];
  const dv = view(buf);
  let offset = 0;
  while (buf.length - offset >= NLA_HDRLEN) {
    const length = dv.getUint16(offset, hostLittleEndian);
    if (length < NLA_HDRLEN || length > buf.length - offset) break;
    const rawType = dv.getUint16(offset + 2, hostLittleEndian);
    out.push({
      type: rawType & NLA_TYPE_MASK,
      nested: (rawType & NLA_F_NESTED) !== 0,
      value: buf.subarray(offset + NLA_HDRLEN, offset + length),
    });
    offset += align4(length);
  }
  return out;
}

/** The first attribute of each type, by type. */
function attributeMap(buf: Uint8Array): Map<number, Uint8Array> {
  const map = new Map<number, Uint8Array>();
  for (const attribute of parseAttributes(buf)) {
    if (!map.has(attribute.type)) map.set(attribute.type, attribute.value);
  }
  return map;
}

function readU32(value: Uint8Array | undefined): number | undefined {
  if (!value || value.length < 4) return undefined;
  return view(value).getUint32(0, hostLittleEndian);
}

function readString(value: Uint8Array | undefined): string | undefined {
  if (!value) return undefined;
  const nul = value.indexOf(0);
  return new TextDecoder().decode(nul >= 0 ? value.subarray(0, nul) : value);
}

/** A decoded NLMSG_ERROR: errno 0 is an acknowledgement. */
export interface NetlinkError {
  /** Positive errno (17 for EEXIST), 0 for an ACK. */
  errno: number;
  /** Header of the request this answers, when the kernel echoed it. */
  request?: { length: number; type: number; flags: number; seq: number };
  /** Extended-ack text (NLMSGERR_ATTR_MSG), when the socket asked for it. */
  text?: string;
}

/**
 * Decode an NLMSG_ERROR payload: `int error` (negative errno or 0), the
 * echoed request header, and extended-ack attributes when NLM_F_ACK_TLVS is
 * set. Returns `undefined` if the message is not NLMSG_ERROR or too short.
 */
export function decodeError(message: NetlinkMessage): NetlinkError | undefined {
  if (message.type !== NLMSG_ERROR || message.payload.length < 4) return undefined;
  const dv = view(message.payload);
  const result: NetlinkError = { errno: -dv.getInt32(0, hostLittleEndian) | 0 };
  if (message.payload.length >= 4 + NLMSG_HDRLEN) {
    const length = dv.getUint32(4, hostLittleEndian);
    result.request = {
      length,
      type: dv.getUint16(8, hostLittleEndian),
      flags: dv.getUint16(10, hostLittleEndian),
      seq: dv.getUint32(12, hostLittleEndian),
    };
    if (message.flags & NLM_F_ACK_TLVS) {
      // The echoed request is the bare header when capped (always for ACKs).
      const echoed = message.flags & NLM_F_CAPPED || result.errno === 0 ? NLMSG_HDRLEN : length;
      const start = 4 + align4(echoed);
      if (start <= message.payload.length) {
        const text = readString(attributeMap(message.payload.subarray(start)).get(NLMSGERR_ATTR_MSG));
        if (text) result.text = text;
      }
    }
  }
  return result;
}

/**
 * Decode NLMSG_DONE: the `int` after the header is 0, or a negative errno
 * when a dump failed part way. Returns the positive errno (0 for success),
 * or `undefined` if the message is not NLMSG_DONE. A DONE without payload
 * (some old kernels) counts as success.
 */
export function decodeDone(message: NetlinkMessage): number | undefined {
  if (message.type !== NLMSG_DONE) return undefined;
  if (message.payload.length < 4) return 0;
  return -view(message.payload).getInt32(0, hostLittleEndian) | 0;
}

/** A network interface, from RTM_NEWLINK. */
export interface LinkInfo {
  index: number;
  name: string;
  /** IFF_* flags (ifi_flags). */
  flags: number;
  mtu: number;
  /** Link-layer address (IFLA_ADDRESS), absent for links without one. */
  mac?: Uint8Array;
  /** IFF_UP is set (administratively up). */
  up: boolean;
  /** ARPHRD_* link type (1 Ethernet, 772 loopback, 65534 none); always set by {@link decodeLink}. */
  type?: number;
}

/** An interface address, from RTM_NEWADDR. */
export interface AddrInfo {
  family: 4 | 6;
  index: number;
  prefixLen: number;
  /** The local address (IFA_LOCAL when present, else IFA_ADDRESS). */
  addr: Uint8Array;
  scope: number;
  /** IFA_F_* flags, from IFA_FLAGS when present (32 bits), else ifa_flags. */
  flags: number;
}

/** A route, from RTM_NEWROUTE. */
export interface RouteInfo {
  family: 4 | 6;
  /** Routing table, from RTA_TABLE when present, else rtm_table. */
  table: number;
  /** Destination network; null for the default route. */
  dst: Uint8Array | null;
  dstLen: number;
  gateway: Uint8Array | null;
  /** Output interface index; 0 when the route has none. */
  oif: number;
  /** Metric (RTA_PRIORITY), when present. */
  priority?: number;
  protocol: number;
  scope: number;
  /** RTN_* route type. */
  type: number;
  /** RTM_F_* and RTNH_F_* flags (rtm_flags); always set by {@link decodeRoute}. */
  flags?: number;
}

function afToFamily(af: number): 4 | 6 | undefined {
  if (af === AF_INET) return 4;
  if (af === AF_INET6) return 6;
  return undefined;
}

/** Copy of an attribute value if it has the address length of `family`, else undefined. */
function addressAttribute(value: Uint8Array | undefined, family: 4 | 6): Uint8Array | undefined {
  if (!value || value.length !== addressLength(family)) return undefined;
  return value.slice();
}

/** Decode RTM_NEWLINK; `undefined` for another type or a payload too short. */
export function decodeLink(message: NetlinkMessage): LinkInfo | undefined {
  if (message.type !== RTM_NEWLINK || message.payload.length < IFINFOMSG_LEN) return undefined;
  const dv = view(message.payload);
  const flags = dv.getUint32(8, hostLittleEndian);
  const attributes = attributeMap(message.payload.subarray(IFINFOMSG_LEN));
  const link: LinkInfo = {
    index: dv.getInt32(4, hostLittleEndian),
    name: readString(attributes.get(IFLA_IFNAME)) ?? '',
    flags,
    mtu: readU32(attributes.get(IFLA_MTU)) ?? 0,
    up: (flags & IFF_UP) !== 0,
    type: dv.getUint16(2, hostLittleEndian),
  };
  const mac = attributes.get(IFLA_ADDRESS);
  if (mac && mac.length > 0) link.mac = mac.slice();
  return link;
}

/** Decode RTM_NEWADDR of IPv4 or IPv6; `undefined` otherwise or when malformed. */
export function decodeAddr(message: NetlinkMessage): AddrInfo | undefined {
  if (message.type !== RTM_NEWADDR || message.payload.length < IFADDRMSG_LEN) return undefined;
  const payload = message.payload;
  const family = afToFamily(payload[0]!);
  if (family === undefined) return undefined;
  const attributes = attributeMap(payload.subarray(IFADDRMSG_LEN));
  // IFA_LOCAL is the local address; IFA_ADDRESS is the peer on
  // point-to-point links and the local address otherwise.
  const addr =
    addressAttribute(attributes.get(IFA_LOCAL), family) ?? addressAttribute(attributes.get(IFA_ADDRESS), family);
  if (!addr) return undefined;
  return {
    family,
    index: view(payload).getUint32(4, hostLittleEndian),
    prefixLen: payload[1]!,
    addr,
    scope: payload[3]!,
    flags: readU32(attributes.get(IFA_FLAGS)) ?? payload[2]!,
  };
}

/** Decode RTM_NEWROUTE of IPv4 or IPv6; `undefined` otherwise or when malformed. */
export function decodeRoute(message: NetlinkMessage): RouteInfo | undefined {
  if (message.type !== RTM_NEWROUTE || message.payload.length < RTMSG_LEN) return undefined;
  const payload = message.payload;
  const family = afToFamily(payload[0]!);
  if (family === undefined) return undefined;
  const attributes = attributeMap(payload.subarray(RTMSG_LEN));
  const dstLen = payload[1]!;
  const route: RouteInfo = {
    family,
    table: readU32(attributes.get(RTA_TABLE)) ?? payload[4]!,
    dst: dstLen === 0 ? null : (addressAttribute(attributes.get(RTA_DST), family) ?? null),
    dstLen,
    gateway: addressAttribute(attributes.get(RTA_GATEWAY), family) ?? null,
    oif: readU32(attributes.get(RTA_OIF)) ?? 0,
    protocol: payload[5]!,
    scope: payload[6]!,
    type: payload[7]!,
    flags: view(payload).getUint32(8, hostLittleEndian),
  };
  if (dstLen !== 0 && route.dst === null) return undefined;
  const priority = readU32(attributes.get(RTA_PRIORITY));
  if (priority !== undefined) route.priority = priority;

  // A multipath route has no RTA_OIF/RTA_GATEWAY of its own: report its
  // first next hop (struct rtnexthop: len u16, flags u8, hops u8, ifindex i32, attributes).
  const multipath = attributes.get(RTA_MULTIPATH);
  if (multipath && route.oif === 0 && multipath.length >= RTNEXTHOP_LEN) {
    const dv = view(multipath);
    const length = dv.getUint16(0, hostLittleEndian);
    if (length >= RTNEXTHOP_LEN && length <= multipath.length) {
      route.oif = dv.getInt32(4, hostLittleEndian);
      const hopAttributes = attributeMap(multipath.subarray(RTNEXTHOP_LEN, length));
      route.gateway ??= addressAttribute(hopAttributes.get(RTA_GATEWAY), family) ?? null;
    }
  }
  return route;
}

// --- I/O ------------------------------------------------------------------------

/**
 * Moves datagrams between {@link Netlink} and the kernel. Both methods throw
 * an Error (for example "recv: ENOBUFS", "no reply within 5000 ms") when the
 * socket fails; the caller adds which request it was.
 */
export interface NetlinkTransport {
  /** Send one request datagram. */
  send(message: Uint8Array): void;
  /** Wait for the next datagram(s) from the kernel and return them (at least one). */
  recv(): Uint8Array[];
}

/** Options of {@link nativeTransport}. */
export interface NativeTransportOptions {
  /** How long to wait for each reply datagram (default 5000 ms). */
  timeoutMs?: number;
  /** Receive buffer size; a datagram larger than this is an error (default 64 KiB). */
  bufferSize?: number;
}

let nativeAddon: NativeAddon | undefined;
let nativeLoadError: Error | undefined;
try {
  nativeAddon = (await import('./native.js')).native;
} catch (err) {
  nativeLoadError = err as Error;
}

function requireNative(purpose: string): NativeAddon {
  if (nativeAddon) return nativeAddon;
  throw new Error(`${purpose}: ${nativeLoadError?.message ?? 'native addon not loaded'}`);
}

const MSG_TRUNC = 0x20;
const EINTR = 4;

/**
 * The default transport: the native addon's send(2) and recv(2) on the
 * NETLINK_ROUTE socket `fd` (blocking or not: recv waits with poll first).
 * Asks the kernel for extended-ack error texts on the socket (NETLINK_EXT_ACK,
 * NETLINK_CAP_ACK); kernels without them just answer with the errno.
 * Throws if the addon is not available.
 */
export function nativeTransport(fd: number, options: NativeTransportOptions = {}): NetlinkTransport {
  const addon = requireNative(`netlink on fd ${fd}`);
  const timeoutMs = options.timeoutMs ?? 5000;
  const buffer = Buffer.alloc(options.bufferSize ?? 65536);
  addon.setsockoptInt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
  addon.setsockoptInt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
  return {
    send(message: Uint8Array): void {
      const bytes = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
      let sent: number;
      do sent = addon.send(fd, bytes, 0, bytes.length, 0);
      while (sent === -EINTR);
      if (sent < 0) throw new Error(`send on fd ${fd}: ${describeErrno(sent)}`);
      if (sent !== bytes.length) throw new Error(`send on fd ${fd}: ${sent} of ${bytes.length} bytes sent`);
    },
    recv(): Uint8Array[] {
      let received: number;
      do received = addon.recv(fd, buffer, 0, buffer.length, MSG_TRUNC, timeoutMs);
      while (received === -EINTR);
      if (received === -11 /* EAGAIN: the wait timed out */) {
        throw new Error(`recv on fd ${fd}: no reply within ${timeoutMs} ms`);
      }
      if (received < 0) throw new Error(`recv on fd ${fd}: ${describeErrno(received)}`);
      if (received === 0) throw new Error(`recv on fd ${fd}: socket closed`);
      if (received > buffer.length) {
        throw new Error(`recv on fd ${fd}: ${received}-byte datagram larger than the ${buffer.length}-byte buffer`);
      }
      // A copy: the receive buffer is reused by the next call, and decoded messages outlive it.
      return [Uint8Array.prototype.slice.call(buffer, 0, received)];
    },
  };
}

/** Times a dump is repeated when the kernel marks it interrupted (NLM_F_DUMP_INTR). */
const DUMP_ATTEMPTS = 5;

/**
 * Synchronous rtnetlink requests on one NETLINK_ROUTE socket.
 *
 * Configuration calls: each one sends a request and waits for its answer;
 * an error answer throws an Error naming operation, object and errno.
 */
export class Netlink {
  private readonly transport: NetlinkTransport;
  private seq = 0;
  /** The fd this object opened itself (Netlink.open), -1 if the caller owns it. */
  private ownedFd = -1;

  /**
   * Use the NETLINK_ROUTE socket `fd` (the caller keeps ownership), through
   * the native addon unless a `transport` is given.
   */
  constructor(
    readonly fd: number,
    transport?: NetlinkTransport,
  ) {
    this.transport = transport ?? nativeTransport(fd);
  }

  /**
   * Open a NETLINK_ROUTE socket in the current network namespace and wrap
   * it; {@link Netlink.close} closes it. Throws if the socket cannot be opened.
   */
  static open(options: NativeTransportOptions = {}): Netlink {
    const addon = requireNative('cannot open a NETLINK_ROUTE socket');
    const fd = addon.socket(16 /* AF_NETLINK */, 3 /* SOCK_RAW */, 0 /* NETLINK_ROUTE */);
    if (fd < 0) throw new Error(`cannot open a NETLINK_ROUTE socket: ${describeErrno(fd)}`);
    let transport: NetlinkTransport;
    try {
      transport = nativeTransport(fd, options);
    } catch (err) {
      addon.close(fd);
      throw err;
    }
    const netlink = new Netlink(fd, transport);
    netlink.ownedFd = fd;
    return netlink;
  }

  /** Close the socket if {@link Netlink.open} opened it; otherwise do nothing. Idempotent. */
  close(): void {
    if (this.ownedFd >= 0) {
      nativeAddon?.close(this.ownedFd);
      this.ownedFd = -1;
    }
  }

  /**
   * The TCP sockets of `family` in LISTEN, through sock_diag (this object's
   * socket must be a NETLINK_SOCK_DIAG one). Throws if the kernel cannot
   * answer (no inet_diag).
   */
  tcpListeners(family: 4 | 6): InetDiagSocket[] {
    const out: InetDiagSocket[] = [];
    for (const message of this.dump((seq) => encodeTcpListenDumpRequest(seq, family), `SOCK_DIAG TCP IPv${family} dump`)) {
      const socket = decodeInetDiagMsg(message);
      if (socket && socket.state === TCP_STATE_LISTEN) out.push(socket);
    }
    return out;
  }

  /** Every link (RTM_GETLINK dump). */
  links(): LinkInfo[] {
    const out: LinkInfo[] = [];
    for (const message of this.dump(encodeLinkDumpRequest, 'RTM_GETLINK dump')) {
      const link = decodeLink(message);
      if (link) out.push(link);
    }
    return out;
  }

  /** The link called `name`, or undefined. */
  linkByName(name: string): LinkInfo | undefined {
    return this.links().find((link) => link.name === name);
  }

  /** Every address of `family` on every link (RTM_GETADDR dump). */
  addrs(family: 4 | 6): AddrInfo[] {
    const out: AddrInfo[] = [];
    for (const message of this.dump((seq) => encodeAddrDumpRequest(seq, family), `RTM_GETADDR IPv${family} dump`)) {
      const addr = decodeAddr(message);
      if (addr && addr.family === family) out.push(addr);
    }
    return out;
  }

  /** Unicast routes of `family` in the main table (RTM_GETROUTE dump, cloned cache entries left out). */
  routes(family: 4 | 6): RouteInfo[] {
    const out: RouteInfo[] = [];
    for (const message of this.dump((seq) => encodeRouteDumpRequest(seq, family), `RTM_GETROUTE IPv${family} dump`)) {
      const route = decodeRoute(message);
      if (!route || route.family !== family) continue;
      if (route.table !== RT_TABLE_MAIN || route.type !== RTN_UNICAST || (route.flags ?? 0) & RTM_F_CLONED) continue;
      out.push(route);
    }
    return out;
  }

  /**
   * Every RTM_NEWADDR message of an address dump of `family`, undecoded (the
   * payloads are copies, not views of a receive buffer): what
   * {@link addrCopyPayload} copies from.
   */
  addrMessages(family: 4 | 6): NetlinkMessage[] {
    return this.dump((seq) => encodeAddrDumpRequest(seq, family), `RTM_GETADDR IPv${family} dump`)
      .filter((message) => message.type === RTM_NEWADDR)
      .map((message) => ({ ...message, payload: message.payload.slice() }));
  }

  /**
   * Every RTM_NEWROUTE message of a route dump of `family` (every table,
   * cached entries included), undecoded, payloads copied: what
   * {@link routeCopyPayload} copies from.
   */
  routeMessages(family: 4 | 6): NetlinkMessage[] {
    return this.dump((seq) => encodeRouteDumpRequest(seq, family), `RTM_GETROUTE IPv${family} dump`)
      .filter((message) => message.type === RTM_NEWROUTE)
      .map((message) => ({ ...message, payload: message.payload.slice() }));
  }

  /**
   * Send one request of `type` with nlmsg_flags `flags` (NLM_F_REQUEST and
   * NLM_F_ACK are added) and `payload`, and wait for its acknowledgement.
   * `what` names it in errors. Throws a {@link NetlinkRequestError} (with the
   * errno when the kernel refused it).
   */
  request(type: number, flags: number, payload: Uint8Array, what: string): void {
    this.execute((seq) => encodeMessage(type, flags | NLM_F_REQUEST | NLM_F_ACK, seq, payload), what);
  }

  /**
   * The interface index of the default route of `family` with the lowest
   * metric (the first one dumped on ties); 0 if there is no default route.
   */
  defaultRouteLink(family: 4 | 6): number {
    let best: RouteInfo | undefined;
    for (const route of this.routes(family)) {
      if (route.dstLen !== 0 || route.oif === 0) continue;
      if (!best || (route.priority ?? 0) < (best.priority ?? 0)) best = route;
    }
    return best?.oif ?? 0;
  }

  /** Bring link `index` up (or down with `up` false). */
  linkSetUp(index: number, up = true): void {
    this.execute(
      (seq) => encodeLinkSetRequest(seq, index, { up }),
      `RTM_NEWLINK index ${index} ${up ? 'up' : 'down'}`,
    );
  }

  /** Set the IFF_* flags of link `index` that are in `change` to their value in `flags`. */
  linkSetFlags(index: number, flags: number, change: number): void {
    this.execute(
      (seq) => encodeLinkSetRequest(seq, index, { flags: { flags, change } }),
      `RTM_NEWLINK index ${index} flags 0x${(flags >>> 0).toString(16)}/0x${(change >>> 0).toString(16)}`,
    );
  }

  /** Set the MTU of link `index`. */
  linkSetMtu(index: number, mtu: number): void {
    this.execute((seq) => encodeLinkSetRequest(seq, index, { mtu }), `RTM_NEWLINK index ${index} mtu ${mtu}`);
  }

  /** Set the link-layer address of link `index`. */
  linkSetMac(index: number, mac: Uint8Array): void {
    this.execute(
      (seq) => encodeLinkSetRequest(seq, index, { mac }),
      `RTM_NEWLINK index ${index} address ${formatMac(mac)}`,
    );
  }

  /**
   * Add `addr`/`prefixLen` to link `index`. Throws on any error, EEXIST
   * included (the address is already there): the caller decides whether that
   * matters.
   */
  addrAdd(index: number, family: 4 | 6, addr: Uint8Array, prefixLen: number, options: AddrAddOptions = {}): void {
    this.checkAddress('RTM_NEWADDR', family, addr);
    this.execute(
      (seq) => encodeAddrAddRequest(seq, index, family, addr, prefixLen, options),
      `RTM_NEWADDR ${formatIP(addr)}/${prefixLen} on index ${index}`,
    );
  }

  /** Add a route. Throws on any error, EEXIST included. */
  routeAdd(route: RouteSpec): void {
    if (route.dst) this.checkAddress('RTM_NEWROUTE', route.family, route.dst);
    if (route.gateway) this.checkAddress('RTM_NEWROUTE', route.family, route.gateway);
    this.execute((seq) => encodeRouteAddRequest(seq, route), `RTM_NEWROUTE ${describeRoute(route)}`);
  }

  /** A wrong address length is a programming error; say so before the kernel answers EINVAL. */
  private checkAddress(operation: string, family: 4 | 6, addr: Uint8Array): void {
    if (addr.length !== addressLength(family)) {
      throw new Error(`netlink ${operation}: IPv${family} address of ${addr.length} bytes`);
    }
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  /** Send a non-dump request and wait for its ACK; returns the replies before it. */
  private execute(build: (seq: number) => Uint8Array, what: string): NetlinkMessage[] {
    return this.exchange(build(this.nextSeq()), what).messages;
  }

  /** Dump, repeating while the kernel reports the dump as interrupted. */
  private dump(build: (seq: number) => Uint8Array, what: string): NetlinkMessage[] {
    let result = this.exchange(build(this.nextSeq()), what);
    for (let attempt = 1; result.interrupted && attempt < DUMP_ATTEMPTS; attempt++) {
      result = this.exchange(build(this.nextSeq()), what);
    }
    return result.messages;
  }

  /**
   * Send `request` and collect replies carrying its sequence number until
   * the ACK (NLMSG_ERROR 0) or NLMSG_DONE. Throws with `what` as context on
   * an error reply, a transport failure or an unparseable reply.
   */
  private exchange(request: Uint8Array, what: string): { messages: NetlinkMessage[]; interrupted: boolean } {
    const seq = view(request).getUint32(8, hostLittleEndian);
    try {
      this.transport.send(request);
    } catch (err) {
      fail(what, (err as Error).message);
    }

    const messages: NetlinkMessage[] = [];
    let interrupted = false;
    for (;;) {
      let datagrams: Uint8Array[] = [];
      try {
        datagrams = this.transport.recv();
      } catch (err) {
        fail(what, (err as Error).message);
      }
      if (datagrams.length === 0) fail(what, 'no reply');
      for (const datagram of datagrams) {
        const parsed = parseMessages(datagram);
        for (const message of parsed) {
          if (message.seq !== seq) continue; // a reply to an earlier request
          if (message.flags & NLM_F_DUMP_INTR) interrupted = true;
          if (message.type === NLMSG_ERROR) {
            const error = decodeError(message);
            if (!error) fail(what, 'malformed NLMSG_ERROR reply');
            if (error.errno !== 0) fail(what, describeErrno(error.errno) + (error.text ? `: ${error.text}` : ''), error.errno);
            return { messages, interrupted };
          }
          if (message.type === NLMSG_DONE) {
            const errno = decodeDone(message)!;
            if (errno !== 0) fail(what, describeErrno(errno), errno);
            return { messages, interrupted };
          }
          if (message.type === NLMSG_NOOP) continue;
          if (message.type === NLMSG_OVERRUN) fail(what, 'NLMSG_OVERRUN');
          messages.push(message);
        }
        if (parsed.malformed !== undefined) fail(what, `malformed reply: ${parsed.malformed}`);
      }
    }
  }
}

/**
 * The Error a failed request throws: "netlink RTM_NEWADDR ... on index 3:
 * File exists (EEXIST)", with the kernel's errno when it answered with one.
 */
export class NetlinkRequestError extends Error {
  /** Positive errno of the kernel's error reply (17 for EEXIST); undefined for other failures (transport, malformed reply). */
  readonly errno: number | undefined;

  constructor(message: string, errno?: number) {
    super(message);
    this.name = 'NetlinkRequestError';
    this.errno = errno;
  }
}

/** Throw the Error of a failed request: "netlink RTM_NEWADDR ... on index 3: File exists (EEXIST)". */
function fail(what: string, reason: string, errno?: number): never {
  throw new NetlinkRequestError(`netlink ${what}: ${reason}`, errno);
}


/** "default via 198.51.100.1 on index 2 metric 100", as context for errors. */
export function describeRoute(route: RouteSpec): string {
  const parts = [route.dst === null || route.dstLen === 0 ? 'default' : `${formatIP(route.dst)}/${route.dstLen}`];
  if (route.gateway) parts.push(`via ${formatIP(route.gateway)}`);
  parts.push(`on index ${route.oif}`);
  if (route.priority !== undefined) parts.push(`metric ${route.priority}`);
  if (route.onlink) parts.push('onlink');
  return parts.join(' ');
}
