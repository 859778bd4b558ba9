/**
 * DHCPv6 server (RFC 8415, DNS options of RFC 3646): one guest, one address.
 *
 * Theory of operation: as with DHCP (dhcp.ts), there is no binding table.
 * The guest's one IPv6 address (`Dhcpv6Config.addr`, the host's by default)
 * is handed out in an IA_NA with infinite lifetimes, so every message is
 * answered from the request and the configuration alone.
 *
 * `dhcpv6TapHandler` accepts what RFC 8415 lets a client send to a server on
 * its link: UDP to port 547 at All_DHCP_Relay_Agents_and_Servers (ff02::1:2)
 * from a link-local source (section 13.1: clients use their link-local
 * address). Unicast requests are never valid here, since we never grant the
 * Server Unicast option. The message is parsed by `parseDhcpv6Message` into
 * a small representation (type, transaction id, options in wire order, each
 * copied so the reply may overwrite the request), then validated by type as
 * RFC 8415 section 16 requires and answered:
 *
 * - SOLICIT (no Server Identifier): ADVERTISE, or REPLY with the Rapid
 *   Commit option when the client asked for it (section 18.3.1).
 * - REQUEST, RENEW (our Server Identifier), REBIND (none): REPLY with the
 *   address. RENEW and REBIND also return, with lifetimes 0, any other
 *   address the client listed (sections 18.3.4 and 18.3.5), so it drops it.
 * - CONFIRM (no Server Identifier): REPLY with status Success if every
 *   address listed is ours, NotOnLink otherwise (section 18.3.3); no reply
 *   when it lists no address at all.
 * - RELEASE, DECLINE (our Server Identifier): REPLY with status Success.
 * - INFORMATION-REQUEST (no IA options; a Server Identifier, if any, ours):
 *   REPLY with configuration only.
 * - Anything else (server and relay messages): dropped.
 *
 * Every reply carries our Server Identifier (a DUID-LL made of our MAC,
 * stable across restarts, unlike passt's DUID-LLT) and the client's
 * Client Identifier echoed. Address assignments answer each IA_NA of the
 * request: the first gets the address (T1 and T2 infinite, like the
 * lifetimes, so the client never needs to come back), any further IA_NA the
 * status NoAddrsAvail, since there is only one address. A SOLICIT or REQUEST
 * without any IA_NA gets a top-level NoAddrsAvail (section 18.3.9). IA_TA and
 * IA_PD are not served and left unanswered. DNS servers (option 23) and the
 * domain search list (option 24, DNS wire format without compression) follow,
 * unless disabled, in every reply that carries configuration. Options are
 * placed so that small clients walking the top level find the identifiers
 * and the IA_NA first.
 *
 * Replies come from our link-local address and go to the client's
 * link-local source address and MAC, from port 547 to port 546, hop limit
 * 255, with the UDP checksum computed. Malformed input (truncated header or
 * option, an IA shorter than its fixed part, duplicated identifiers, an
 * identifier of impossible length) is dropped, never thrown on. UDP
 * checksums of requests are not verified: a guest using checksum offload may
 * send a partial one, and the structure checks reject what matters.
 */
import { l4Checksum6 } from '../l2/checksum.js';
import { ETH_HLEN, ETH_P_IPV6, EthernetView } from '../l2/ethernet.js';
import { pushEthernet, pushIpv6, pushUdp } from '../l2/emit.js';
import { IPPROTO_UDP } from '../l2/ipv4.js';
import { IPV6_HLEN, Ipv6View, ipv6FrameL4 } from '../l2/ipv6.js';
import type { LinkState } from '../l2/link.js';
import { UDP_HLEN, UdpView } from '../l2/udp.js';
import { addressEqual, isLinkLocal6 } from '../inet.js';
import { encodeDomainNames } from './dhcp.js';

/** UDP port of DHCPv6 clients. */
export const DHCPV6_CLIENT_PORT = 546;
/** UDP port of DHCPv6 servers and relay agents. */
export const DHCPV6_SERVER_PORT = 547;
/** All_DHCP_Relay_Agents_and_Servers, ff02::1:2. */
export const ALL_DHCP_RELAY_AGENTS_AND_SERVERS: Uint8Array = Uint8Array.of(
  0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2,
);
/** Lifetimes and T1/T2 meaning "infinite". */
export const DHCPV6_INFINITY = 0xffffffff;
/** Length of the message header: type and 24-bit transaction id. */
export const DHCPV6_HLEN = 4;
/** Largest DUID, type code included (RFC 8415 section 11.1). */
export const DHCPV6_MAX_DUID = 130;

/** Message type: client looking for servers. */
export const DHCPV6_SOLICIT = 1;
/** Message type: server offer. */
export const DHCPV6_ADVERTISE = 2;
/** Message type: client request for addresses from one server. */
export const DHCPV6_REQUEST = 3;
/** Message type: client checking its addresses still suit the link. */
export const DHCPV6_CONFIRM = 4;
/** Message type: client extending its lease with its server. */
export const DHCPV6_RENEW = 5;
/** Message type: client extending its lease with any server. */
export const DHCPV6_REBIND = 6;
/** Message type: server reply. */
export const DHCPV6_REPLY = 7;
/** Message type: client gives up addresses. */
export const DHCPV6_RELEASE = 8;
/** Message type: client says addresses are in use. */
export const DHCPV6_DECLINE = 9;
/** Message type: client asks for configuration only. */
export const DHCPV6_INFORMATION_REQUEST = 11;

/** Option 1: client identifier (a DUID). */
export const DHCPV6_OPT_CLIENTID = 1;
/** Option 2: server identifier (a DUID). */
export const DHCPV6_OPT_SERVERID = 2;
/** Option 3: identity association for non-temporary addresses. */
export const DHCPV6_OPT_IA_NA = 3;
/** Option 4: identity association for temporary addresses. */
export const DHCPV6_OPT_IA_TA = 4;
/** Option 5: IA address. */
export const DHCPV6_OPT_IAADDR = 5;
/** Option 6: option request. */
export const DHCPV6_OPT_ORO = 6;
/** Option 8: elapsed time. */
export const DHCPV6_OPT_ELAPSED_TIME = 8;
/** Option 13: status code. */
export const DHCPV6_OPT_STATUS_CODE = 13;
/** Option 14: rapid commit, empty. */
export const DHCPV6_OPT_RAPID_COMMIT = 14;
/** Option 23: DNS recursive name servers (RFC 3646). */
export const DHCPV6_OPT_DNS_SERVERS = 23;
/** Option 24: domain search list (RFC 3646). */
export const DHCPV6_OPT_DOMAIN_LIST = 24;
/** Option 25: identity association for prefix delegation. */
export const DHCPV6_OPT_IA_PD = 25;
/** Client FQDN (RFC 4704): --fqdn. */
export const DHCPV6_OPT_CLIENT_FQDN = 39;

/** Status code: success. */
export const DHCPV6_STATUS_SUCCESS = 0;
/** Status code: no addresses available for the IA. */
export const DHCPV6_STATUS_NO_ADDRS_AVAIL = 2;
/** Status code: the addresses do not suit the link. */
export const DHCPV6_STATUS_NOT_ON_LINK = 4;

/** DUID type of a DUID-LL (link-layer address). */
export const DUID_LL = 3;

/**
 * What the DHCPv6 server hands out. Build it from `Config`: `addr` from
 * `ip6.addr`, `dns` and `search` as configured, the flags from
 * --no-dhcp-dns and --no-dhcp-search. Our MAC (for the server DUID) and
 * link-local address (the source of replies) come from `LinkState`.
 */
export interface Dhcpv6Config {
  /** The address given to the guest in its IA_NA (16 bytes). */
  addr: Uint8Array;
  /** DNS servers; the 16-byte (IPv6) entries go in option 23, others are ignored. */
  dns: readonly Uint8Array[];
  /** DNS search domains, for option 24. */
  search: readonly string[];
  /** --no-dhcp-dns: send no option 23. */
  noDhcpDns: boolean;
  /** --no-dhcp-search: send no option 24. */
  noDhcpSearch: boolean;
  /** --fqdn: the client's fully qualified domain name (option 39), or null. */
  fqdn?: string | null;
}

/** One DHCPv6 option: code and data (without the 4-byte option header). */
export interface Dhcpv6Option {
  code: number;
  data: Uint8Array;
}

/** A DHCPv6 client/server message. */
export interface Dhcpv6Message {
  type: number;
  /** The 24-bit transaction id. */
  transactionId: number;
  options: Dhcpv6Option[];
}

/** An IA_NA option's content (RFC 8415 section 21.4). */
export interface Dhcpv6IaNa {
  iaid: number;
  t1: number;
  t2: number;
  options: Dhcpv6Option[];
}

/** An IA Address option's content (RFC 8415 section 21.6). */
export interface Dhcpv6IaAddress {
  address: Uint8Array;
  preferredLifetime: number;
  validLifetime: number;
  options: Dhcpv6Option[];
}

/**
 * Parse the options in `buf[off..off+len)`: each a 16-bit code, a 16-bit
 * length and that many bytes, copied. Undefined when one runs past the end
 * or a header is cut. Never throws.
 */
export function parseDhcpv6Options(buf: Uint8Array, off: number, len: number): Dhcpv6Option[] | undefined {
  if (!(off >>> 0 === off && len >>> 0 === len && off + len <= buf.length)) return undefined;
  const options: Dhcpv6Option[] = [];
  const end = off + len;
  let i = off;
  while (i < end) {
    if (i + 4 > end) return undefined;
    const code = (buf[i] << 8) | buf[i + 1];
    const length = (buf[i + 2] << 8) | buf[i + 3];
    if (i + 4 + length > end) return undefined;
    options.push({ code, data: Uint8Array.from(buf.subarray(i + 4, i + 4 + length)) });
    i += 4 + length;
  }
  return options;
}

/**
 * Parse the DHCPv6 message of `len` bytes at `buf[off]` (the UDP payload).
 * Undefined when shorter than the 4-byte header or when an option is
 * malformed. Nested options (inside IA_NA) are parsed on demand with
 * `parseIaNa`. Everything returned is a copy.
 */
export function parseDhcpv6Message(buf: Uint8Array, off: number, len: number): Dhcpv6Message | undefined {
  if (!(off >>> 0 === off && len >>> 0 === len && len >= DHCPV6_HLEN && off + len <= buf.length)) return undefined;
  const options = parseDhcpv6Options(buf, off + DHCPV6_HLEN, len - DHCPV6_HLEN);
  if (!options) return undefined;
  return { type: buf[off], transactionId: (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3], options };
}

/** The data of the first option `code` in `options`, or undefined. */
export function dhcpv6Option(options: readonly Dhcpv6Option[], code: number): Uint8Array | undefined {
  for (const option of options) if (option.code === code) return option.data;
  return undefined;
}

/** Read a big-endian 32-bit number. */
function read32(data: Uint8Array, at: number): number {
  return ((data[at] << 24) | (data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3]) >>> 0;
}

/** Write a big-endian 32-bit number. */
function write32(data: Uint8Array, at: number, value: number): void {
  data[at] = value >>> 24;
  data[at + 1] = (value >>> 16) & 0xff;
  data[at + 2] = (value >>> 8) & 0xff;
  data[at + 3] = value & 0xff;
}

/** Parse an IA_NA option's data; undefined when shorter than 12 bytes or its options are malformed. */
export function parseIaNa(data: Uint8Array): Dhcpv6IaNa | undefined {
  if (data.length < 12) return undefined;
  const options = parseDhcpv6Options(data, 12, data.length - 12);
  if (!options) return undefined;
  return { iaid: read32(data, 0), t1: read32(data, 4), t2: read32(data, 8), options };
}

/** Parse an IA Address option's data; undefined when shorter than 24 bytes or malformed. */
export function parseIaAddress(data: Uint8Array): Dhcpv6IaAddress | undefined {
  if (data.length < 24) return undefined;
  const options = parseDhcpv6Options(data, 24, data.length - 24);
  if (!options) return undefined;
  return {
    address: Uint8Array.from(data.subarray(0, 16)),
    preferredLifetime: read32(data, 16),
    validLifetime: read32(data, 20),
    options,
  };
}

/** Parse a Status Code option's data: the code and its UTF-8 message; undefined when shorter than 2 bytes. */
export function parseStatusCode(data: Uint8Array): { code: number; message: string } | undefined {
  if (data.length < 2) return undefined;
  return { code: (data[0] << 8) | data[1], message: Buffer.from(data.subarray(2)).toString('utf8') };
}

/** Bytes the options take on the wire. */
function optionsLength(options: readonly Dhcpv6Option[]): number {
  let total = 0;
  for (const option of options) total += 4 + option.data.length;
  return total;
}

/** Write options at `out[at]`; returns the offset after them. The caller checked the room. */
function writeOptions(options: readonly Dhcpv6Option[], out: Uint8Array, at: number): number {
  let i = at;
  for (const option of options) {
    out[i] = option.code >>> 8;
    out[i + 1] = option.code & 0xff;
    out[i + 2] = option.data.length >>> 8;
    out[i + 3] = option.data.length & 0xff;
    out.set(option.data, i + 4);
    i += 4 + option.data.length;
  }
  return i;
}

/** Encode options (code, length, data each) into one byte string, for nesting. */
export function encodeDhcpv6Options(options: readonly Dhcpv6Option[]): Uint8Array {
  const out = new Uint8Array(optionsLength(options));
  writeOptions(options, out, 0);
  return out;
}

/** An IA_NA option (code 3) with these fields and nested options. */
export function iaNaOption(ia: Dhcpv6IaNa): Dhcpv6Option {
  const nested = encodeDhcpv6Options(ia.options);
  const data = new Uint8Array(12 + nested.length);
  write32(data, 0, ia.iaid);
  write32(data, 4, ia.t1);
  write32(data, 8, ia.t2);
  data.set(nested, 12);
  return { code: DHCPV6_OPT_IA_NA, data };
}

/** An IA Address option (code 5). */
export function iaAddressOption(ia: Dhcpv6IaAddress): Dhcpv6Option {
  const nested = encodeDhcpv6Options(ia.options);
  const data = new Uint8Array(24 + nested.length);
  data.set(ia.address.subarray(0, 16), 0);
  write32(data, 16, ia.preferredLifetime);
  write32(data, 20, ia.validLifetime);
  data.set(nested, 24);
  return { code: DHCPV6_OPT_IAADDR, data };
}

/** A Status Code option (code 13) with a UTF-8 message. */
export function statusCodeOption(code: number, message: string): Dhcpv6Option {
  const text = Buffer.from(message, 'utf8');
  const data = new Uint8Array(2 + text.length);
  data[0] = code >>> 8;
  data[1] = code & 0xff;
  data.set(text, 2);
  return { code: DHCPV6_OPT_STATUS_CODE, data };
}

/** The Server Identifier option's data for `mac`: a DUID-LL, hardware type 1 (Ethernet). */
export function serverDuid(mac: Uint8Array): Uint8Array {
  return Uint8Array.of(0, DUID_LL, 0, 1, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/**
 * Write `message` at `out[off]`: type, transaction id, options. Returns the
 * length, or 0 (writing nothing) when it exceeds `capacity` or the buffer.
 */
export function emitDhcpv6Message(message: Dhcpv6Message, out: Uint8Array, off: number, capacity: number): number {
  const length = DHCPV6_HLEN + optionsLength(message.options);
  if (!(off >>> 0 === off && length <= capacity && off + length <= out.length)) return 0;
  out[off] = message.type;
  out[off + 1] = (message.transactionId >>> 16) & 0xff;
  out[off + 2] = (message.transactionId >>> 8) & 0xff;
  out[off + 3] = message.transactionId & 0xff;
  writeOptions(message.options, out, off + DHCPV6_HLEN);
  return length;
}

/** How many options with `code` appear at the top level. */
function count(options: readonly Dhcpv6Option[], code: number): number {
  let n = 0;
  for (const option of options) if (option.code === code) n++;
  return n;
}

/**
 * The Client FQDN option (RFC 4704) for --fqdn, as upstream sends it: flags
 * 0, or O (the server overrode the client's request) when the client set S
 * (asking the server to update DNS), then the name in wire format.
 */
function clientFqdnOption(cfg: Dhcpv6Config, request: Dhcpv6Message): Dhcpv6Option | undefined {
  if (!cfg.fqdn) return undefined;
  const name = encodeDomainNames([cfg.fqdn]);
  if (!name.length) return undefined;
  const asked = dhcpv6Option(request.options, DHCPV6_OPT_CLIENT_FQDN);
  const flags = asked && asked.length >= 1 && asked[0] & 0x01 ? 0x02 : 0x00;
  return { code: DHCPV6_OPT_CLIENT_FQDN, data: Buffer.concat([Uint8Array.of(flags), name]) };
}

/** DNS servers and search list options for the configuration. */
function configurationOptions(cfg: Dhcpv6Config): Dhcpv6Option[] {
  const options: Dhcpv6Option[] = [];
  if (!cfg.noDhcpDns) {
    const servers = cfg.dns.filter((a) => a.length === 16);
    if (servers.length) options.push({ code: DHCPV6_OPT_DNS_SERVERS, data: Buffer.concat(servers.map((a) => Buffer.from(a))) });
  }
  if (!cfg.noDhcpSearch) {
    const list = encodeDomainNames(cfg.search);
    if (list.length) options.push({ code: DHCPV6_OPT_DOMAIN_LIST, data: list });
  }
  return options;
}

/**
 * The reply to a validated request, as a message, or undefined for none.
 * `ours` is our Server Identifier data.
 */
function answer(cfg: Dhcpv6Config, request: Dhcpv6Message, ours: Uint8Array): Dhcpv6Message | undefined {
  const options = request.options;
  if (count(options, DHCPV6_OPT_CLIENTID) > 1 || count(options, DHCPV6_OPT_SERVERID) > 1) return undefined;
  const clientId = dhcpv6Option(options, DHCPV6_OPT_CLIENTID);
  if (clientId && (clientId.length < 2 || clientId.length > DHCPV6_MAX_DUID)) return undefined;
  const serverId = dhcpv6Option(options, DHCPV6_OPT_SERVERID);
  const serverIsUs = serverId !== undefined && addressEqual(serverId, ours);

  // IA_NAs, all well formed, with the addresses they list.
  const iaNas: Dhcpv6IaNa[] = [];
  for (const option of options) {
    if (option.code !== DHCPV6_OPT_IA_NA) continue;
    const ia = parseIaNa(option.data);
    if (!ia) return undefined;
    iaNas.push(ia);
  }
  const listedAddresses = (kinds: number[]): Uint8Array[] | undefined => {
    const addresses: Uint8Array[] = [];
    for (const option of options) {
      if (!kinds.includes(option.code)) continue;
      const fixed = option.code === DHCPV6_OPT_IA_TA ? 4 : 12;
      if (option.data.length < fixed) return undefined;
      const nested = parseDhcpv6Options(option.data, fixed, option.data.length - fixed);
      if (!nested) return undefined;
      for (const inner of nested) {
        if (inner.code !== DHCPV6_OPT_IAADDR) continue;
        const address = parseIaAddress(inner.data);
        if (!address) return undefined;
        addresses.push(address.address);
      }
    }
    return addresses;
  };

  const reply: Dhcpv6Message = { type: DHCPV6_REPLY, transactionId: request.transactionId, options: [] };
  const identifiers = (): void => {
    reply.options.push({ code: DHCPV6_OPT_SERVERID, data: ours });
    if (clientId) reply.options.push({ code: DHCPV6_OPT_CLIENTID, data: clientId });
  };
  const assign = (returnOthers: boolean, noIaStatus: boolean): void => {
    iaNas.forEach((ia, index) => {
      const nested: Dhcpv6Option[] = [];
      if (index === 0) {
        nested.push(iaAddressOption({ address: cfg.addr, preferredLifetime: DHCPV6_INFINITY, validLifetime: DHCPV6_INFINITY, options: [] }));
        if (returnOthers) {
          for (const inner of ia.options) {
            if (inner.code !== DHCPV6_OPT_IAADDR) continue;
            const listed = parseIaAddress(inner.data);
            if (listed && !addressEqual(listed.address, cfg.addr)) {
              nested.push(iaAddressOption({ address: listed.address, preferredLifetime: 0, validLifetime: 0, options: [] }));
            }
          }
        }
        reply.options.push(iaNaOption({ iaid: ia.iaid, t1: DHCPV6_INFINITY, t2: DHCPV6_INFINITY, options: nested }));
      } else {
        nested.push(statusCodeOption(DHCPV6_STATUS_NO_ADDRS_AVAIL, 'one address per client'));
        reply.options.push(iaNaOption({ iaid: ia.iaid, t1: 0, t2: 0, options: nested }));
      }
    });
    if (!iaNas.length && noIaStatus) reply.options.push(statusCodeOption(DHCPV6_STATUS_NO_ADDRS_AVAIL, 'no IA_NA requested'));
  };

  switch (request.type) {
    case DHCPV6_SOLICIT: {
      if (!clientId || serverId) return undefined;
      const rapid = dhcpv6Option(options, DHCPV6_OPT_RAPID_COMMIT) !== undefined && iaNas.length > 0;
      reply.type = rapid ? DHCPV6_REPLY : DHCPV6_ADVERTISE;
      identifiers();
      if (rapid) reply.options.push({ code: DHCPV6_OPT_RAPID_COMMIT, data: new Uint8Array(0) });
      assign(false, true);
      if (!iaNas.length) return reply; // "only a Status Code option" (section 18.3.9)
      break;
    }
    case DHCPV6_REQUEST:
    case DHCPV6_RENEW:
      if (!clientId || !serverIsUs) return undefined;
      if (!listedAddresses([DHCPV6_OPT_IA_NA])) return undefined;
      identifiers();
      assign(request.type === DHCPV6_RENEW, request.type === DHCPV6_REQUEST);
      break;
    case DHCPV6_REBIND:
      if (!clientId || serverId) return undefined;
      if (!listedAddresses([DHCPV6_OPT_IA_NA])) return undefined;
      identifiers();
      assign(true, false);
      break;
    case DHCPV6_CONFIRM: {
      if (!clientId || serverId) return undefined;
      const addresses = listedAddresses([DHCPV6_OPT_IA_NA, DHCPV6_OPT_IA_TA]);
      if (!addresses || !addresses.length) return undefined; // section 18.3.3: no addresses, no reply
      identifiers();
      reply.options.push(
        addresses.every((a) => addressEqual(a, cfg.addr))
          ? statusCodeOption(DHCPV6_STATUS_SUCCESS, 'all addresses on link')
          : statusCodeOption(DHCPV6_STATUS_NOT_ON_LINK, 'Prefix not appropriate for link.'),
      );
      return reply;
    }
    case DHCPV6_RELEASE:
    case DHCPV6_DECLINE:
      if (!clientId || !serverIsUs) return undefined;
      identifiers();
      reply.options.push(statusCodeOption(DHCPV6_STATUS_SUCCESS, ''));
      return reply;
    case DHCPV6_INFORMATION_REQUEST:
      if (serverId && !serverIsUs) return undefined;
      if (count(options, DHCPV6_OPT_IA_NA) || count(options, DHCPV6_OPT_IA_TA) || count(options, DHCPV6_OPT_IA_PD)) return undefined;
      identifiers();
      break;
    default:
      return undefined;
  }
  reply.options.push(...configurationOptions(cfg));
  const fqdn = clientFqdnOption(cfg, request);
  if (fqdn) reply.options.push(fqdn);
  return reply;
}

/** Scratch copies of request fields, so the reply may overwrite the request. */
const scratchMac = new Uint8Array(6);
const scratchSource = new Uint8Array(16);

/**
 * Handle a frame from the guest: `len` bytes at `frame[off]`, starting with
 * the Ethernet header. If it is a DHCPv6 client message to ff02::1:2 port 547
 * that deserves an answer, write the complete reply frame (Ethernet, IPv6,
 * UDP with checksum, DHCPv6) at `out[outOff]` and return its length;
 * otherwise return 0, also when `out` has no room or the reply would not fit
 * in a UDP datagram. Never throws. The caller routes IPv6 UDP frames to port
 * 547 here unless --no-dhcpv6.
 */
export function dhcpv6TapHandler(
  cfg: Dhcpv6Config,
  link: LinkState,
  frame: Buffer,
  off: number,
  len: number,
  out: Buffer,
  outOff: number,
): number {
  const l4 = ipv6FrameL4(frame, off, len, IPPROTO_UDP);
  if (!l4) return 0;
  const eth = new EthernetView(frame, off);
  const ipOff = off + ETH_HLEN;
  const ip = new Ipv6View(frame, ipOff);
  if (!addressEqual(ip.dst, ALL_DHCP_RELAY_AGENTS_AND_SERVERS) || !isLinkLocal6(ip.src)) return 0;
  const udp = UdpView.checked(frame, l4.offset, l4.length);
  if (!udp || udp.dstPort !== DHCPV6_SERVER_PORT) return 0;
  const request = parseDhcpv6Message(frame, udp.payloadOffset, udp.payloadLength);
  if (!request || cfg.addr.length !== 16) return 0;
  const reply = answer(cfg, request, serverDuid(link.ourMac));
  if (!reply) return 0;
  scratchMac.set(eth.src);
  scratchSource.set(ip.src);

  const headers = ETH_HLEN + IPV6_HLEN + UDP_HLEN;
  if (!(outOff >>> 0 === outOff && outOff + headers <= out.length)) return 0;
  const messageOff = outOff + headers;
  // A request with many IA_NAs gets a reply several times its size: beyond what one UDP datagram holds, none at all.
  const messageLen = emitDhcpv6Message(reply, out, messageOff, Math.min(out.length - messageOff, 0xffff - UDP_HLEN));
  if (!messageLen) return 0;

  const outIpOff = pushEthernet(out, outOff, scratchMac, link.ourMac, ETH_P_IPV6);
  const udpOff = pushIpv6(out, outIpOff, UDP_HLEN + messageLen, IPPROTO_UDP, link.ourLinkLocal6, 0, scratchSource, 0, 255);
  pushUdp(out, udpOff, DHCPV6_SERVER_PORT, DHCPV6_CLIENT_PORT, UDP_HLEN + messageLen);
  l4Checksum6(out, outIpOff, udpOff, UDP_HLEN + messageLen);
  return headers + messageLen;
}
