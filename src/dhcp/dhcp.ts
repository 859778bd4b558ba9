/**
 * DHCP server (RFC 2131, options of RFC 2132, RFC 3397, RFC 3442, RFC 4039):
 * one guest, one address, answered from configuration alone.
 *
 * Theory of operation: like passt(1), the server has no lease table. The
 * guest always gets the one configured address (the host's own, by
 * default), with an infinite lease, so there is nothing to remember between
 * messages: every request is answered as a pure function of the request and
 * the configuration (`DhcpConfig`).
 *
 * `dhcpTapHandler` takes a frame from the guest, checks that it is a UDP
 * datagram to port 67, and parses the BOOTP/DHCP message with
 * `parseDhcpMessage` into a small `DhcpMessage` (fixed fields plus the list
 * of options, in wire order). Parsing copies what it keeps, so the reply may
 * be written over the request. Then, by message type:
 *
 * - DHCPDISCOVER: a DHCPOFFER, or a DHCPACK carrying option 80 when the
 *   client asked for Rapid Commit (RFC 4039).
 * - DHCPREQUEST: a DHCPACK, unless the client selected another server
 *   (option 54 not ours: silence) or insists on an address other than ours
 *   (option 50, or `ciaddr` while renewing): a DHCPNAK, so that it starts
 *   over with a DHCPDISCOVER and gets the right one (RFC 2131 4.3.2).
 * - DHCPINFORM: a DHCPACK with configuration only: no `yiaddr`, no lease
 *   time (RFC 2131 4.3.5, table 3).
 * - DHCPDECLINE, DHCPRELEASE: nothing to answer and nothing to undo.
 * - No message type at all (plain BOOTP, RFC 1534): a BOOTREPLY with the
 *   address and the same parameters, without the DHCP-only options.
 * - Anything else (server messages sent by the guest, unknown types, relayed
 *   messages with a non-zero `giaddr`, which cannot occur on a link with one
 *   guest and nothing behind it): dropped.
 *
 * Options sent: 53 (always first: some small clients look only there), the
 * ones RFC 2131 table 3 makes mandatory (54, and 51 when an address is
 * leased) and 80 for Rapid Commit, then the options the client listed in its
 * parameter request list (55), in that order, then the others by code.
 * RFC 2131 4.3.1 lets a server return parameters that differ from the Host
 * Requirements defaults even when not requested, so every configured
 * parameter is sent (as passt does): 1 (netmask), 3 (router), 6 (DNS
 * servers), 15 (domain name: the first search domain), 26 (MTU, only when
 * configured), 51 (lease time), 54 (server identifier), 119 (domain search,
 * RFC 3397 wire format without compression, split into several option 119
 * instances past 255 bytes as RFC 3396 says) and 121 (classless static
 * routes, RFC 3442). The request list decides the order, and so what
 * survives when the reply would grow past the client's maximum message size
 * (576 bytes unless option 57 allows more, up to 1500): options that do not
 * fit are left out whole, least wanted first.
 *
 * Option 121 is sent only when the gateway lies outside the guest's subnet:
 * a host route to the gateway (on-link, router 0.0.0.0) and the default
 * route through it, exactly passt's two routes. Option 3 still names the
 * same gateway, as RFC 3442 asks of servers for the clients that do not
 * implement 121 (clients that do ignore option 3 when 121 is present, so the
 * two never disagree). RFC 3442 says servers SHOULD NOT send 121 unrequested;
 * it is sent anyway, like passt does, because a client that skips it cannot
 * reach an off-link gateway at all.
 *
 * Where the reply goes (RFC 2131 4.1): a DHCPNAK is broadcast; a reply to a
 * client that already has an address (`ciaddr`: renewing, rebinding,
 * DHCPINFORM) is unicast to it; otherwise a client that set the broadcast
 * flag gets an IP and Ethernet broadcast, and any other the offered address
 * at its MAC address. The source is the server address (the gateway, as in
 * passt) and our MAC. Every checksum is computed in full: these are rare
 * packets.
 *
 * Malformed messages are dropped, never thrown on: shorter than the 240
 * bytes of fixed fields and magic cookie, a wrong cookie, BOOTREPLY from the
 * guest, a hardware address longer than 16 bytes, an option running past the
 * end, an option field without the end option, a malformed or repeated
 * option overload (52), or one that appears inside the overloaded `file` or
 * `sname` fields. The walk over the options only ever moves forward, so pad
 * bytes or crafted lengths cannot make it loop. UDP checksums of requests are
 * not verified: a guest with checksum offload may hand over a partial one,
 * and the structure checks above already reject what cannot be answered.
 *
 * The DNS name list encoding shared with DHCPv6 (option 24) and router
 * advertisements (DNSSL) lives here too: `encodeDomainNames`,
 * `decodeDomainNames`.
 */
import { l4Checksum4 } from '../l2/checksum.js';
import { ETH_HLEN, ETH_P_IP, EthernetView, MAC_BROADCAST, spanFits } from '../l2/ethernet.js';
import { pushEthernet, pushIpv4, pushUdp } from '../l2/emit.js';
import { IPPROTO_UDP, IPV4_HLEN, Ipv4View } from '../l2/ipv4.js';
import type { LinkState } from '../l2/link.js';
import { UDP_HLEN, UdpView } from '../l2/udp.js';
import { addressEqual, prefixMatch } from '../inet.js';

/** UDP port of DHCP servers. */
export const DHCP_SERVER_PORT = 67;
/** UDP port of DHCP clients. */
export const DHCP_CLIENT_PORT = 68;

/** BOOTP op: request (client to server). */
export const BOOTREQUEST = 1;
/** BOOTP op: reply (server to client). */
export const BOOTREPLY = 2;

/** Length of the fixed BOOTP fields, up to (not including) the magic cookie. */
export const DHCP_FIXED_LEN = 236;
/** The magic cookie that opens the options field (RFC 2131 section 3). */
export const DHCP_MAGIC_COOKIE = 0x63825363;
/** Offset of the options, after the fixed fields and the magic cookie. */
export const DHCP_OPTIONS_OFFSET = DHCP_FIXED_LEN + 4;
/** Minimum BOOTP message length (RFC 1542 section 3.4); replies are padded to it. */
export const BOOTP_MIN_LEN = 300;
/** Smallest IP datagram every DHCP client must accept (RFC 2131 section 2). */
export const DHCP_MIN_DATAGRAM = 576;
/** Largest IP datagram we build, whatever option 57 allows. */
export const DHCP_MAX_DATAGRAM = 1500;
/** The broadcast bit of `flags`. */
export const DHCP_FLAG_BROADCAST = 0x8000;
/** Lease time meaning "infinite" (RFC 2131 section 3.3), as passt sends. */
export const DHCP_INFINITE_LEASE = 0xffffffff;

/** Message type (option 53): client broadcast to locate servers. */
export const DHCPDISCOVER = 1;
/** Message type: server offer of parameters. */
export const DHCPOFFER = 2;
/** Message type: client request for offered parameters, or renewal. */
export const DHCPREQUEST = 3;
/** Message type: client says the address is already in use. */
export const DHCPDECLINE = 4;
/** Message type: server acknowledgement with parameters. */
export const DHCPACK = 5;
/** Message type: server refusal (wrong address or expired lease). */
export const DHCPNAK = 6;
/** Message type: client gives up its address. */
export const DHCPRELEASE = 7;
/** Message type: client with an address asks for configuration only. */
export const DHCPINFORM = 8;

/** Option 0: pad (one byte, no length). */
export const DHCP_OPT_PAD = 0;
/** Option 1: subnet mask. */
export const DHCP_OPT_SUBNET_MASK = 1;
/** Option 3: routers. */
export const DHCP_OPT_ROUTER = 3;
/** Option 6: DNS servers. */
export const DHCP_OPT_DNS = 6;
/** Host Name (RFC 2132 3.14): -H, --hostname. */
export const DHCP_OPT_HOSTNAME = 12;
/** Option 15: domain name. */
export const DHCP_OPT_DOMAIN_NAME = 15;
/** Option 26: interface MTU. */
export const DHCP_OPT_MTU = 26;
/** Option 50: requested IP address. */
export const DHCP_OPT_REQUESTED_ADDRESS = 50;
/** Option 51: lease time, seconds. */
export const DHCP_OPT_LEASE_TIME = 51;
/** Option 52: option overload into `file` (1), `sname` (2) or both (3). */
export const DHCP_OPT_OVERLOAD = 52;
/** Option 53: DHCP message type. */
export const DHCP_OPT_MESSAGE_TYPE = 53;
/** Option 54: server identifier. */
export const DHCP_OPT_SERVER_ID = 54;
/** Option 55: parameter request list. */
export const DHCP_OPT_PARAMETER_LIST = 55;
/** Option 56: message (text, with DHCPNAK). */
export const DHCP_OPT_MESSAGE = 56;
/** Option 57: maximum DHCP message size the client accepts (IP datagram size). */
export const DHCP_OPT_MAX_MESSAGE_SIZE = 57;
/** Option 61: client identifier. */
export const DHCP_OPT_CLIENT_ID = 61;
/** Option 80: rapid commit (RFC 4039), empty. */
export const DHCP_OPT_RAPID_COMMIT = 80;
/** Client FQDN (RFC 4702): --fqdn. */
export const DHCP_OPT_CLIENT_FQDN = 81;
/** Option 119: domain search list (RFC 3397). */
export const DHCP_OPT_DOMAIN_SEARCH = 119;
/** Option 121: classless static routes (RFC 3442). */
export const DHCP_OPT_CLASSLESS_ROUTES = 121;
/** Option 255: end of options. */
export const DHCP_OPT_END = 255;

/** Option overload values (option 52): which fixed fields carry options. */
const OVERLOAD_FILE = 1;
const OVERLOAD_SNAME = 2;
/** Offsets and lengths of the `sname` and `file` fields. */
const SNAME_OFFSET = 44;
const SNAME_LEN = 64;
const FILE_OFFSET = 108;
const FILE_LEN = 128;

/**
 * What the DHCP server hands out. Build it from `Config`: `addr`,
 * `prefixLen` and `gateway` from `ip4`, the server address normally the
 * gateway, `dns` and `search` as configured, the two flags from
 * --no-dhcp-dns and --no-dhcp-search.
 */
export interface DhcpConfig {
  /** The address given to the guest (`yiaddr`): the host's, by default. 4 bytes. */
  addr: Uint8Array;
  /** Prefix length of the guest's subnet, sent as a netmask (option 1). */
  prefixLen: number;
  /** Default gateway (option 3, and option 121 when off-subnet), or null for none. */
  gateway: Uint8Array | null;
  /**
   * Our own address on the link: the server identifier (option 54) and the
   * source of every reply. passt uses the gateway address; when omitted, the
   * gateway is used. With neither, no request is answered.
   */
  serverAddr?: Uint8Array | null;
  /** Link MTU for option 26, or null to send none (passt's default). */
  mtu: number | null;
  /** DNS servers; the 4-byte (IPv4) entries are sent in option 6, others ignored. */
  dns: readonly Uint8Array[];
  /** DNS search domains: all in option 119, the first also in option 15. */
  search: readonly string[];
  /** --no-dhcp-dns: send no DNS servers. */
  noDhcpDns: boolean;
  /** --no-dhcp-search: send neither option 15 nor option 119. */
  noDhcpSearch: boolean;
  /** Lease time in seconds (option 51); default DHCP_INFINITE_LEASE. */
  leaseTime?: number;
  /** -H: the host name the client is given (option 12), or null. */
  hostname?: string | null;
  /** --fqdn: the client's fully qualified domain name (option 81), or null. */
  fqdn?: string | null;
}

/** One DHCP option: its code and data (without code and length bytes). */
export interface DhcpOption {
  code: number;
  data: Uint8Array;
}

/**
 * A BOOTP/DHCP message: the fixed fields that matter and the options in
 * wire order. `sname` and `file` are not kept (they are emitted as zeros);
 * options overloaded into them are merged into `options` by the parser,
 * after those of the options field, file first, as RFC 2131 4.1 orders them.
 * Option 52 itself is consumed by the parser and never listed.
 */
export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  /** Client address (4 bytes). */
  ciaddr: Uint8Array;
  /** "Your" address (4 bytes). */
  yiaddr: Uint8Array;
  /** Next server address (4 bytes). */
  siaddr: Uint8Array;
  /** Relay agent address (4 bytes). */
  giaddr: Uint8Array;
  /** Client hardware address field, all 16 bytes. */
  chaddr: Uint8Array;
  options: DhcpOption[];
}

/**
 * Walk the option area `buf[start..end)`, appending options (copied) to
 * `into`. Returns the overload value found (0 for none), or -1 when the
 * area is malformed: an option running past `end`, no end option, or an
 * option overload that is repeated, badly formed, or not allowed here.
 */
function walkOptions(buf: Uint8Array, start: number, end: number, into: DhcpOption[], allowOverload: boolean): number {
  let overload = 0;
  let i = start;
  for (;;) {
    if (i >= end) return -1; // no end option
    const code = buf[i];
    if (code === DHCP_OPT_PAD) {
      i++;
      continue;
    }
    if (code === DHCP_OPT_END) return overload;
    if (i + 2 > end) return -1;
    const length = buf[i + 1];
    if (i + 2 + length > end) return -1;
    if (code === DHCP_OPT_OVERLOAD) {
      if (!allowOverload || overload !== 0 || length !== 1) return -1;
      const value = buf[i + 2];
      if (value < 1 || value > 3) return -1;
      overload = value;
    } else {
      into.push({ code, data: Uint8Array.from(buf.subarray(i + 2, i + 2 + length)) });
    }
    i += 2 + length;
  }
}

/**
 * Parse the BOOTP/DHCP message of `len` bytes at `buf[off]` (the UDP
 * payload). Returns undefined for anything malformed (see the file comment);
 * never throws. Everything returned is a copy: the buffer may be reused.
 */
export function parseDhcpMessage(buf: Uint8Array, off: number, len: number): DhcpMessage | undefined {
  if (!spanFits(buf, off, len, DHCP_OPTIONS_OFFSET)) return undefined;
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.readUInt32BE(off + DHCP_FIXED_LEN) !== DHCP_MAGIC_COOKIE) return undefined;
  const hlen = buf[off + 2];
  if (hlen > 16) return undefined;
  const options: DhcpOption[] = [];
  const overload = walkOptions(buf, off + DHCP_OPTIONS_OFFSET, off + len, options, true);
  if (overload < 0) return undefined;
  if (overload & OVERLOAD_FILE) {
    if (walkOptions(buf, off + FILE_OFFSET, off + FILE_OFFSET + FILE_LEN, options, false) < 0) return undefined;
  }
  if (overload & OVERLOAD_SNAME) {
    if (walkOptions(buf, off + SNAME_OFFSET, off + SNAME_OFFSET + SNAME_LEN, options, false) < 0) return undefined;
  }
  const copy4 = (at: number): Uint8Array => Uint8Array.from(buf.subarray(off + at, off + at + 4));
  return {
    op: buf[off],
    htype: buf[off + 1],
    hlen,
    hops: buf[off + 3],
    xid: view.readUInt32BE(off + 4),
    secs: view.readUInt16BE(off + 8),
    flags: view.readUInt16BE(off + 10),
    ciaddr: copy4(12),
    yiaddr: copy4(16),
    siaddr: copy4(20),
    giaddr: copy4(24),
    chaddr: Uint8Array.from(buf.subarray(off + 28, off + 44)),
    options,
  };
}

/**
 * The data of option `code` in `message`, or undefined when absent. Several
 * instances of one option are concatenated in order, as RFC 3396 says.
 */
export function dhcpOption(message: DhcpMessage, code: number): Uint8Array | undefined {
  let found: Uint8Array | undefined;
  for (const option of message.options) {
    if (option.code !== code) continue;
    found = found ? Buffer.concat([found, option.data]) : option.data;
  }
  return found;
}

/** Bytes that `options` take on the wire (code and length per 255-byte piece), without the end option. */
export function dhcpOptionsLength(options: readonly DhcpOption[]): number {
  let total = 0;
  for (const option of options) total += encodedOptionLength(option.data.length);
  return total;
}

/** Wire length of one option with `dataLength` bytes of data, split in 255-byte pieces (RFC 3396). */
function encodedOptionLength(dataLength: number): number {
  return dataLength + 2 * Math.max(1, Math.ceil(dataLength / 255));
}

/**
 * Write `message` at `out[off]`: the fixed fields (`sname` and `file` as
 * zeros), the magic cookie, the options (an option longer than 255 bytes is
 * split into consecutive instances, RFC 3396), the end option, and zero
 * padding up to `minLength` (by default the 300-byte BOOTP minimum). Returns
 * the length written, or 0 (writing nothing) when it exceeds `capacity` or
 * the buffer.
 */
export function emitDhcpMessage(
  message: DhcpMessage,
  out: Buffer,
  off: number,
  capacity: number,
  minLength: number = BOOTP_MIN_LEN,
): number {
  const length = Math.max(DHCP_OPTIONS_OFFSET + dhcpOptionsLength(message.options) + 1, minLength);
  if (!(off >>> 0 === off && length <= capacity && off + length <= out.length)) return 0;
  out.fill(0, off, off + length);
  out[off] = message.op;
  out[off + 1] = message.htype;
  out[off + 2] = message.hlen;
  out[off + 3] = message.hops;
  out.writeUInt32BE(message.xid >>> 0, off + 4);
  out.writeUInt16BE(message.secs & 0xffff, off + 8);
  out.writeUInt16BE(message.flags & 0xffff, off + 10);
  out.set(message.ciaddr.subarray(0, 4), off + 12);
  out.set(message.yiaddr.subarray(0, 4), off + 16);
  out.set(message.siaddr.subarray(0, 4), off + 20);
  out.set(message.giaddr.subarray(0, 4), off + 24);
  out.set(message.chaddr.subarray(0, 16), off + 28);
  out.writeUInt32BE(DHCP_MAGIC_COOKIE, off + DHCP_FIXED_LEN);
  let i = off + DHCP_OPTIONS_OFFSET;
  for (const option of message.options) {
    let done = 0;
    do {
      const piece = Math.min(255, option.data.length - done);
      out[i] = option.code;
      out[i + 1] = piece;
      out.set(option.data.subarray(done, done + piece), i + 2);
      i += 2 + piece;
      done += piece;
    } while (done < option.data.length);
  }
  out[i] = DHCP_OPT_END;
  return length;
}

/**
 * Encode domain names in DNS wire format (RFC 1035 section 3.1), one after
 * the other and without compression: the form of DHCP option 119 (RFC 3397
 * allows but does not require compression), DHCPv6 option 24 (RFC 8415
 * forbids it) and the DNSSL option (RFC 8106). A trailing dot is ignored;
 * the root name, names with an empty or over-long (> 63 bytes) label, and
 * names longer than 255 bytes on the wire are skipped.
 */
export function encodeDomainNames(names: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const raw of names) {
    const name = raw.endsWith('.') ? raw.slice(0, -1) : raw;
    if (!name) continue;
    const labels = name.split('.').map((label) => Buffer.from(label, 'utf8'));
    if (labels.some((label) => label.length === 0 || label.length > 63)) continue;
    const wire = Buffer.alloc(labels.reduce((sum, label) => sum + 1 + label.length, 1));
    if (wire.length > 255) continue;
    let i = 0;
    for (const label of labels) {
      wire[i] = label.length;
      label.copy(wire, i + 1);
      i += 1 + label.length;
    }
    parts.push(wire); // the last byte, already 0, is the root label
  }
  return Buffer.concat(parts);
}

/**
 * Decode a list of domain names in DNS wire format from `data`. With
 * `allowCompression`, RFC 1035 4.1.4 pointers are followed (offsets count
 * from the start of `data`, as in DHCP option 119); every pointer must lead
 * to a pointer position earlier than the last one followed, so a crafted
 * pointer loop ends in failure rather than running forever. Root names (a
 * lone zero byte, also the padding of a DNSSL option) are skipped. Returns
 * undefined for a truncated name, a bad label type, a name past 255 bytes,
 * or a pointer where compression is not allowed.
 */
export function decodeDomainNames(data: Uint8Array, allowCompression = false): string[] | undefined {
  const names: string[] = [];
  let i = 0;
  while (i < data.length) {
    const labels: string[] = [];
    let wireLength = 1;
    let cursor = i;
    let resume = -1; // where the next name starts, once a pointer was followed
    let lastPointer = Infinity;
    for (;;) {
      if (cursor >= data.length) return undefined;
      const length = data[cursor];
      if (length === 0) {
        cursor++;
        break;
      }
      if ((length & 0xc0) === 0xc0) {
        if (!allowCompression || cursor + 2 > data.length) return undefined;
        if (cursor >= lastPointer) return undefined;
        const target = ((length & 0x3f) << 8) | data[cursor + 1];
        if (target >= cursor) return undefined;
        if (resume < 0) resume = cursor + 2;
        lastPointer = cursor;
        cursor = target;
        continue;
      }
      if (length & 0xc0) return undefined; // 0x40 and 0x80 label types are not names
      if (cursor + 1 + length > data.length) return undefined;
      wireLength += 1 + length;
      if (wireLength > 255) return undefined;
      labels.push(Buffer.from(data.buffer, data.byteOffset + cursor + 1, length).toString('utf8'));
      cursor += 1 + length;
    }
    i = resume >= 0 ? resume : cursor;
    if (labels.length) names.push(labels.join('.'));
  }
  return names;
}

/** Netmask bytes for a prefix length (clamped to 0..32). */
function netmask(prefixLen: number): Uint8Array {
  const bits = Math.max(0, Math.min(32, prefixLen | 0));
  const value = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

/** Big-endian bytes of a 32-bit number. */
function be32(value: number): Uint8Array {
  return Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
}

/** 0.0.0.0 and 255.255.255.255. */
const ZERO4 = new Uint8Array(4);
const BROADCAST4 = Uint8Array.of(255, 255, 255, 255);

/**
 * The options a reply may carry besides 53 (and 80 for rapid commit), by
 * code, for the configuration: what `dhcpTapHandler` picks from.
 * `withLease` adds option 51; `dhcp` (false for a BOOTP reply) adds 54.
 */
export function dhcpReplyParameters(cfg: DhcpConfig, withLease: boolean, dhcp = true): Map<number, Uint8Array> {
  const parameters = new Map<number, Uint8Array>();
  const serverAddr = cfg.serverAddr ?? cfg.gateway;
  parameters.set(DHCP_OPT_SUBNET_MASK, netmask(cfg.prefixLen));
  if (cfg.gateway) {
    parameters.set(DHCP_OPT_ROUTER, Uint8Array.from(cfg.gateway.subarray(0, 4)));
    if (!prefixMatch(cfg.addr, cfg.gateway, cfg.prefixLen)) {
      // RFC 3442: a.b.c.d/32 via 0.0.0.0 (on-link), then 0.0.0.0/0 via a.b.c.d.
      const routes = new Uint8Array(14);
      routes[0] = 32;
      routes.set(cfg.gateway.subarray(0, 4), 1);
      routes[9] = 0;
      routes.set(cfg.gateway.subarray(0, 4), 10);
      parameters.set(DHCP_OPT_CLASSLESS_ROUTES, routes);
    }
  }
  if (!cfg.noDhcpDns) {
    const servers = cfg.dns.filter((a) => a.length === 4);
    if (servers.length) parameters.set(DHCP_OPT_DNS, Buffer.concat(servers.map((a) => Buffer.from(a))));
  }
  if (!cfg.noDhcpSearch) {
    const search = encodeDomainNames(cfg.search);
    if (search.length) {
      parameters.set(DHCP_OPT_DOMAIN_SEARCH, search);
      const first = decodeDomainNames(search)![0]!;
      parameters.set(DHCP_OPT_DOMAIN_NAME, Buffer.from(first, 'utf8'));
    }
  }
  if (cfg.mtu !== null && cfg.mtu >= 68 && cfg.mtu <= 0xffff) {
    parameters.set(DHCP_OPT_MTU, Uint8Array.of(cfg.mtu >>> 8, cfg.mtu & 0xff));
  }
  if (cfg.hostname) parameters.set(DHCP_OPT_HOSTNAME, Buffer.from(cfg.hostname, 'utf8'));
  if (cfg.fqdn) {
    // As upstream: flags E (canonical wire format), RCODE1 and RCODE2 255, then the name.
    const name = encodeDomainNames([cfg.fqdn]);
    if (name.length) parameters.set(DHCP_OPT_CLIENT_FQDN, Buffer.concat([Uint8Array.of(0x04, 0xff, 0xff), name]));
  }
  if (dhcp && withLease) parameters.set(DHCP_OPT_LEASE_TIME, be32(cfg.leaseTime ?? DHCP_INFINITE_LEASE));
  if (dhcp && serverAddr) parameters.set(DHCP_OPT_SERVER_ID, Uint8Array.from(serverAddr.subarray(0, 4)));
  return parameters;
}

/**
 * Order `parameters` for the reply: message type first, then what the
 * parameter request list asks for in its order, then the rest by code;
 * options that would not fit in `budget` bytes (the end option excluded)
 * are left out. The server identifier and lease time are mandatory in DHCP
 * replies (RFC 2131 table 3) and are placed right after the message type.
 */
function orderOptions(
  messageType: number | null,
  mandatory: DhcpOption[],
  parameters: Map<number, Uint8Array>,
  requestList: Uint8Array | undefined,
  budget: number,
): DhcpOption[] {
  const chosen: DhcpOption[] = [];
  let used = 0;
  const add = (code: number, data: Uint8Array): void => {
    const size = encodedOptionLength(data.length);
    if (used + size > budget) return;
    chosen.push({ code, data });
    used += size;
  };
  if (messageType !== null) add(DHCP_OPT_MESSAGE_TYPE, Uint8Array.of(messageType));
  for (const code of [DHCP_OPT_SERVER_ID, DHCP_OPT_LEASE_TIME]) {
    const data = parameters.get(code);
    if (data) add(code, data);
    parameters.delete(code);
  }
  for (const option of mandatory) add(option.code, option.data);
  if (requestList) {
    for (const code of requestList) {
      const data = parameters.get(code);
      if (!data) continue;
      add(code, data);
      parameters.delete(code);
    }
  }
  for (const code of [...parameters.keys()].sort((a, b) => a - b)) add(code, parameters.get(code)!);
  return chosen;
}

/** What to send back, decided from a parsed request. */
interface Decision {
  type: number | null; // DHCP message type of the reply, null for BOOTP
  yiaddr: Uint8Array;
  ciaddr: Uint8Array;
  withLease: boolean;
  rapidCommit: boolean;
}

/** Decide the reply to `request`, or undefined for none (RFC 2131 4.3). */
function decide(cfg: DhcpConfig, request: DhcpMessage, serverAddr: Uint8Array): Decision | undefined {
  const typeOption = dhcpOption(request, DHCP_OPT_MESSAGE_TYPE);
  const ack = (ciaddr: Uint8Array): Decision => ({ type: DHCPACK, yiaddr: cfg.addr, ciaddr, withLease: true, rapidCommit: false });
  const nak: Decision = { type: DHCPNAK, yiaddr: ZERO4, ciaddr: ZERO4, withLease: false, rapidCommit: false };
  if (!typeOption) return { type: null, yiaddr: cfg.addr, ciaddr: request.ciaddr, withLease: false, rapidCommit: false };
  if (typeOption.length !== 1) return undefined;
  switch (typeOption[0]) {
    case DHCPDISCOVER: {
      const rapid = dhcpOption(request, DHCP_OPT_RAPID_COMMIT) !== undefined;
      return { type: rapid ? DHCPACK : DHCPOFFER, yiaddr: cfg.addr, ciaddr: ZERO4, withLease: true, rapidCommit: rapid };
    }
    case DHCPREQUEST: {
      const serverId = dhcpOption(request, DHCP_OPT_SERVER_ID);
      if (serverId && !(serverId.length === 4 && addressEqual(serverId, serverAddr))) return undefined; // not us
      const requested = dhcpOption(request, DHCP_OPT_REQUESTED_ADDRESS);
      if (requested) return requested.length === 4 && addressEqual(requested, cfg.addr) ? ack(ZERO4) : nak;
      if (!addressEqual(request.ciaddr, ZERO4)) return addressEqual(request.ciaddr, cfg.addr) ? ack(request.ciaddr) : nak;
      return ack(ZERO4);
    }
    case DHCPINFORM:
      return { type: DHCPACK, yiaddr: ZERO4, ciaddr: request.ciaddr, withLease: false, rapidCommit: false };
    default:
      return undefined; // DECLINE, RELEASE: nothing to answer; server messages: not for us
  }
}

/** Scratch copy of the request's Ethernet source, so the reply may overwrite the request. */
const scratchMac = new Uint8Array(6);

/**
 * Handle a frame from the guest: `len` bytes at `frame[off]`, starting with
 * the Ethernet header. If it is a DHCP request to port 67 that deserves an
 * answer, write the complete reply frame (Ethernet, IPv4, UDP, DHCP, all
 * checksums filled) at `out[outOff]` and return its length; otherwise return
 * 0, also when `out` has no room. Never throws. The caller routes IPv4 UDP
 * frames to port 67 here unless --no-dhcp.
 */
export function dhcpTapHandler(
  cfg: DhcpConfig,
  link: LinkState,
  frame: Buffer,
  off: number,
  len: number,
  out: Buffer,
  outOff: number,
): number {
  const eth = EthernetView.checked(frame, off, len);
  if (!eth || eth.ethertype !== ETH_P_IP) return 0;
  const ip = Ipv4View.checked(frame, off + ETH_HLEN, len - ETH_HLEN);
  if (!ip || ip.protocol !== IPPROTO_UDP || ip.isFragment) return 0;
  const udp = UdpView.checked(frame, ip.payloadOffset, ip.payloadLength);
  if (!udp || udp.dstPort !== DHCP_SERVER_PORT) return 0;
  const request = parseDhcpMessage(frame, udp.payloadOffset, udp.payloadLength);
  if (!request || request.op !== BOOTREQUEST) return 0;
  if (!addressEqual(request.giaddr, ZERO4)) return 0; // relayed: no relay can sit on this link
  const serverAddr = cfg.serverAddr ?? cfg.gateway;
  if (!serverAddr || cfg.addr.length !== 4) return 0;
  const decision = decide(cfg, request, serverAddr);
  if (!decision) return 0;
  scratchMac.set(eth.src);

  // Size: 576-byte datagrams unless the client accepts more (option 57).
  let datagram = DHCP_MIN_DATAGRAM;
  const maxSize = dhcpOption(request, DHCP_OPT_MAX_MESSAGE_SIZE);
  if (maxSize && maxSize.length === 2) {
    datagram = Math.min(DHCP_MAX_DATAGRAM, Math.max(DHCP_MIN_DATAGRAM, (maxSize[0] << 8) | maxSize[1]));
  }
  const budget = datagram - IPV4_HLEN - UDP_HLEN - DHCP_OPTIONS_OFFSET - 1;

  let options: DhcpOption[];
  if (decision.type === DHCPNAK) {
    const nakOptions = [{ code: DHCP_OPT_MESSAGE, data: Buffer.from('requested address not available', 'ascii') }];
    const parameters = new Map([[DHCP_OPT_SERVER_ID, Uint8Array.from(serverAddr.subarray(0, 4))]]);
    options = orderOptions(DHCPNAK, nakOptions, parameters, undefined, budget);
  } else {
    const parameters = dhcpReplyParameters(cfg, decision.withLease, decision.type !== null);
    const mandatory = decision.rapidCommit ? [{ code: DHCP_OPT_RAPID_COMMIT, data: new Uint8Array(0) }] : [];
    options = orderOptions(decision.type, mandatory, parameters, dhcpOption(request, DHCP_OPT_PARAMETER_LIST), budget);
  }
  const reply: DhcpMessage = {
    op: BOOTREPLY,
    htype: request.htype,
    hlen: request.hlen,
    hops: 0,
    xid: request.xid,
    secs: 0,
    flags: request.flags,
    ciaddr: decision.ciaddr,
    yiaddr: decision.yiaddr,
    siaddr: ZERO4,
    giaddr: ZERO4,
    chaddr: request.chaddr,
    options,
  };

  // Where it goes (RFC 2131 4.1).
  let dstAddr: Uint8Array;
  let dstMac: Uint8Array;
  if (decision.type === DHCPNAK) {
    dstAddr = BROADCAST4;
    dstMac = MAC_BROADCAST;
  } else if (!addressEqual(request.ciaddr, ZERO4)) {
    dstAddr = request.ciaddr;
    dstMac = scratchMac;
  } else if (request.flags & DHCP_FLAG_BROADCAST) {
    dstAddr = BROADCAST4;
    dstMac = MAC_BROADCAST;
  } else {
    dstAddr = decision.yiaddr;
    dstMac = scratchMac;
  }
  if (addressEqual(dstAddr, ZERO4)) {
    dstAddr = BROADCAST4; // DHCPINFORM without ciaddr
    dstMac = MAC_BROADCAST;
  }

  const headers = ETH_HLEN + IPV4_HLEN + UDP_HLEN;
  if (!(outOff >>> 0 === outOff && outOff + headers <= out.length)) return 0;
  const dhcpOff = outOff + headers;
  const dhcpLen = emitDhcpMessage(reply, out, dhcpOff, out.length - dhcpOff);
  if (!dhcpLen) return 0;

  const ipOff = pushEthernet(out, outOff, dstMac, link.ourMac, ETH_P_IP);
  const udpOff = pushIpv4(out, ipOff, IPV4_HLEN + UDP_HLEN + dhcpLen, IPPROTO_UDP, serverAddr, 0, dstAddr, 0);
  pushUdp(out, udpOff, DHCP_SERVER_PORT, DHCP_CLIENT_PORT, UDP_HLEN + dhcpLen);
  l4Checksum4(out, ipOff, udpOff, UDP_HLEN + dhcpLen);
  return headers + dhcpLen;
}
