/**
 * Router advertisements (RFC 4861 sections 4.2, 6.2; RDNSS and DNSSL of
 * RFC 8106): what makes the guest configure IPv6 from us.
 *
 * Theory of operation: we are the guest's only router. An advertisement
 * says so (router lifetime 65535 s, the largest RFC 8319 allows), names
 * the guest's /64 as on-link and autonomous with infinite lifetimes (so
 * SLAAC works without DHCPv6), sets the Managed and Other flags when the
 * DHCPv6 server runs (so the guest also asks it for its exact address and
 * DNS), and carries our MAC (source link-layer address option), the MTU
 * when one is configured, and the DNS servers (RDNSS) and search domains
 * (DNSSL) unless --no-dhcp-dns or --no-dhcp-search. The Cur Hop Limit field
 * is 255, as in passt. It always comes from our link-local address, the
 * only source RFC 4861 6.1.2 lets a host accept, which is then the guest's
 * default router; the NDP responder (ndp.ts) resolves it to our MAC like
 * any other address that is not the guest's own.
 *
 * Two ways out:
 * - `raTapHandler` answers a Router Solicitation from the guest, after the
 *   checks of RFC 4861 6.1.1 (hop limit 255, code 0, valid ICMPv6 checksum,
 *   at least 8 bytes, well-formed options, no source link-layer option from
 *   the unspecified address). It is separate from `ndpTapHandler`, whose
 *   signature carries no configuration: the caller tries both on ICMPv6
 *   frames. The advertisement is unicast to the soliciting address and MAC
 *   when the solicitation has a source address, and multicast to all-nodes
 *   (ff02::1, 33:33:00:00:00:01) when it came from `::`.
 * - `unsolicitedRouterAdvertisement` builds the periodic multicast one;
 *   `nextRouterAdvertisementDelay` tells the caller's timer when to send the
 *   next (RFC 4861 6.2.4: randomised between MinRtrAdvInterval and
 *   MaxRtrAdvInterval, at most 16 s apart for the first three).
 *
 * The message itself has a small representation, `RouterAdvertisement`,
 * written by `emitRouterAdvertisement` and read back by
 * `parseRouterAdvertisement` (tests use it to check every field). Replies
 * are written into a caller-provided frame slot after every needed request
 * field was copied, so answering in place is safe; a frame that fails any
 * check returns 0 and nothing is thrown.
 */
import { l4Checksum6, l4ChecksumValid6 } from '../l2/checksum.js';
import { ETH_HLEN, ETH_P_IPV6, EthernetView } from '../l2/ethernet.js';
import { pushEthernet, pushIpv6 } from '../l2/emit.js';
import { ICMPV6_ROUTER_ADVERTISEMENT, ICMPV6_ROUTER_SOLICITATION, IcmpView } from '../l2/icmp.js';
import { IPPROTO_ICMPV6 } from '../l2/ipv4.js';
import { IPV6_HLEN, isUnspecified6, ipv6FrameL4 } from '../l2/ipv6.js';
import type { LinkState } from '../l2/link.js';
import { applyPrefix } from '../inet.js';
import { decodeDomainNames, encodeDomainNames } from '../dhcp/dhcp.js';
import {
  NDP_HOP_LIMIT,
  NDP_OPT_MTU,
  NDP_OPT_PREFIX_INFO,
  NDP_OPT_RDNSS,
  NDP_OPT_SOURCE_LL,
  parseNdpOptions,
  RS_LEN,
  writeLinkLayerOption,
} from './ndp.js';

/** NDP option type: DNS search list (RFC 8106). */
export const NDP_OPT_DNSSL = 31;
/** Length of a Router Advertisement before options. */
export const RA_LEN = 16;
/** Router Advertisement flag: addresses are available via DHCPv6 (Managed). */
export const RA_FLAG_MANAGED = 0x80;
/** Router Advertisement flag: other configuration is available via DHCPv6. */
export const RA_FLAG_OTHER = 0x40;
/** Prefix information flag: the prefix is on-link. */
export const PREFIX_FLAG_ON_LINK = 0x80;
/** Prefix information flag: the prefix may be used for SLAAC. */
export const PREFIX_FLAG_AUTONOMOUS = 0x40;
/** Lifetime meaning "infinite" in prefix, RDNSS and DNSSL options. */
export const NDP_INFINITY = 0xffffffff;
/** Router lifetime we advertise, seconds (RFC 8319 raised the limit to 65535). */
export const RA_ROUTER_LIFETIME = 65535;
/** The Cur Hop Limit we advertise, as passt does. */
export const RA_CUR_HOP_LIMIT = 255;

/** MaxRtrAdvInterval, seconds (RFC 4861 6.2.1 default). */
export const RA_MAX_INTERVAL = 600;
/** MinRtrAdvInterval, seconds (a third of the maximum, as passt). */
export const RA_MIN_INTERVAL = 200;
/** MAX_INITIAL_RTR_ADVERT_INTERVAL, seconds (RFC 4861 section 10). */
export const RA_MAX_INITIAL_INTERVAL = 16;
/** MAX_INITIAL_RTR_ADVERTISEMENTS (RFC 4861 section 10). */
export const RA_MAX_INITIAL_COUNT = 3;

/** ff02::1, all nodes. */
export const ALL_NODES: Uint8Array = Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);
/** 33:33:00:00:00:01, the Ethernet address of ff02::1 (RFC 2464). */
export const ALL_NODES_MAC: Uint8Array = Uint8Array.of(0x33, 0x33, 0, 0, 0, 1);

/**
 * What the advertisements say. Build it from `Config`: `prefix` from
 * `ip6.addr` (the guest's address: bits past the prefix length are cleared
 * here), `dhcpv6` false with --no-dhcpv6, `mtu` when one was given, `dns`
 * and `search` as configured, the flags from --no-dhcp-dns and
 * --no-dhcp-search. Our MAC and link-local source come from `LinkState`.
 */
export interface RaConfig {
  /** An address within the prefix to advertise (16 bytes), or null for no Prefix Information (no address known: local mode). */
  prefix: Uint8Array | null;
  /** Prefix length; default 64, the one SLAAC works with and the one passt always sends. */
  prefixLen?: number;
  /** Whether the DHCPv6 server answers: sets the Managed and Other flags. */
  dhcpv6: boolean;
  /** Link MTU for the MTU option, or null for none; values below 1280 are not sent. */
  mtu: number | null;
  /** DNS servers; the 16-byte (IPv6) entries go into RDNSS. */
  dns: readonly Uint8Array[];
  /** DNS search domains, for DNSSL. */
  search: readonly string[];
  /** --no-dhcp-dns: no RDNSS option. */
  noDhcpDns: boolean;
  /** --no-dhcp-search: no DNSSL option. */
  noDhcpSearch: boolean;
  /** Router lifetime in seconds; default RA_ROUTER_LIFETIME. */
  routerLifetime?: number;
}

/** A prefix information option (RFC 4861 4.6.2). */
export interface PrefixInformation {
  prefix: Uint8Array;
  prefixLen: number;
  onLink: boolean;
  autonomous: boolean;
  validLifetime: number;
  preferredLifetime: number;
}

/** A Router Advertisement message and the options we know. */
export interface RouterAdvertisement {
  curHopLimit: number;
  managed: boolean;
  other: boolean;
  routerLifetime: number;
  reachableTime: number;
  retransTimer: number;
  sourceLinkLayer?: Uint8Array;
  mtu?: number;
  prefixes: PrefixInformation[];
  rdnss?: { lifetime: number; servers: Uint8Array[] };
  dnssl?: { lifetime: number; domains: string[] };
}

/** The advertisement `cfg` calls for, from us (`link`); byte arrays in it are copies. */
export function routerAdvertisementFor(cfg: RaConfig, link: LinkState): RouterAdvertisement {
  const prefixLen = cfg.prefixLen ?? 64;
  const ra: RouterAdvertisement = {
    curHopLimit: RA_CUR_HOP_LIMIT,
    managed: cfg.dhcpv6,
    other: cfg.dhcpv6,
    routerLifetime: cfg.routerLifetime ?? RA_ROUTER_LIFETIME,
    reachableTime: 0,
    retransTimer: 0,
    sourceLinkLayer: Uint8Array.from(link.ourMac),
    prefixes: cfg.prefix
      ? [
          {
            prefix: applyPrefix(cfg.prefix, prefixLen),
            prefixLen,
            onLink: true,
            autonomous: prefixLen === 64,
            validLifetime: NDP_INFINITY,
            preferredLifetime: NDP_INFINITY,
          },
        ]
      : [],
  };
  if (cfg.mtu !== null && cfg.mtu >= 1280) ra.mtu = cfg.mtu;
  if (!cfg.noDhcpDns) {
    const servers = cfg.dns.filter((a) => a.length === 16);
    if (servers.length) ra.rdnss = { lifetime: NDP_INFINITY, servers: servers.map((a) => Uint8Array.from(a)) };
  }
  if (!cfg.noDhcpSearch) {
    const domains = decodeDomainNames(encodeDomainNames(cfg.search)) ?? []; // the valid ones, as sent
    if (domains.length) ra.dnssl = { lifetime: NDP_INFINITY, domains };
  }
  return ra;
}

/** Write a big-endian 32-bit number. */
function write32(out: Uint8Array, at: number, value: number): void {
  out[at] = value >>> 24;
  out[at + 1] = (value >>> 16) & 0xff;
  out[at + 2] = (value >>> 8) & 0xff;
  out[at + 3] = value & 0xff;
}

/** Read a big-endian 32-bit number. */
function read32(data: Uint8Array, at: number): number {
  return ((data[at] << 24) | (data[at + 1] << 16) | (data[at + 2] << 8) | data[at + 3]) >>> 0;
}

/**
 * Write `ra` as an ICMPv6 Router Advertisement at `out[off]`, checksum
 * field zero (the caller fills it with the addresses it sends from and to).
 * Options in order: prefix information, source link-layer address, MTU,
 * RDNSS, DNSSL (domain names in DNS wire format, zero-padded to 8 bytes).
 * Returns the length, or 0 (writing nothing) when it exceeds `capacity` or
 * the buffer, or an option would exceed the 2040 bytes NDP can describe.
 */
export function emitRouterAdvertisement(ra: RouterAdvertisement, out: Uint8Array, off: number, capacity: number): number {
  const dnsslNames = ra.dnssl ? encodeDomainNames(ra.dnssl.domains) : undefined;
  const dnsslLength = dnsslNames && dnsslNames.length ? 8 + Math.ceil(dnsslNames.length / 8) * 8 : 0;
  const rdnssLength = ra.rdnss && ra.rdnss.servers.length ? 8 + 16 * ra.rdnss.servers.length : 0;
  if (dnsslLength > 255 * 8 || rdnssLength > 255 * 8) return 0;
  const length =
    RA_LEN + 32 * ra.prefixes.length + (ra.sourceLinkLayer ? 8 : 0) + (ra.mtu !== undefined ? 8 : 0) + rdnssLength + dnsslLength;
  if (!(off >>> 0 === off && length <= capacity && off + length <= out.length)) return 0;
  out.fill(0, off, off + length);
  out[off] = ICMPV6_ROUTER_ADVERTISEMENT;
  out[off + 4] = ra.curHopLimit;
  out[off + 5] = (ra.managed ? RA_FLAG_MANAGED : 0) | (ra.other ? RA_FLAG_OTHER : 0);
  out[off + 6] = ra.routerLifetime >>> 8;
  out[off + 7] = ra.routerLifetime & 0xff;
  write32(out, off + 8, ra.reachableTime);
  write32(out, off + 12, ra.retransTimer);
  let i = off + RA_LEN;
  for (const p of ra.prefixes) {
    out[i] = NDP_OPT_PREFIX_INFO;
    out[i + 1] = 4;
    out[i + 2] = p.prefixLen;
    out[i + 3] = (p.onLink ? PREFIX_FLAG_ON_LINK : 0) | (p.autonomous ? PREFIX_FLAG_AUTONOMOUS : 0);
    write32(out, i + 4, p.validLifetime);
    write32(out, i + 8, p.preferredLifetime);
    out.set(p.prefix.subarray(0, 16), i + 16);
    i += 32;
  }
  if (ra.sourceLinkLayer) i += writeLinkLayerOption(out, i, NDP_OPT_SOURCE_LL, ra.sourceLinkLayer);
  if (ra.mtu !== undefined) {
    out[i] = NDP_OPT_MTU;
    out[i + 1] = 1;
    write32(out, i + 4, ra.mtu);
    i += 8;
  }
  if (rdnssLength) {
    out[i] = NDP_OPT_RDNSS;
    out[i + 1] = rdnssLength / 8;
    write32(out, i + 4, ra.rdnss!.lifetime);
    ra.rdnss!.servers.forEach((server, n) => out.set(server.subarray(0, 16), i + 8 + 16 * n));
    i += rdnssLength;
  }
  if (dnsslLength) {
    out[i] = NDP_OPT_DNSSL;
    out[i + 1] = dnsslLength / 8;
    write32(out, i + 4, ra.dnssl!.lifetime);
    out.set(dnsslNames!, i + 8);
    i += dnsslLength;
  }
  return length;
}

/**
 * Parse the ICMPv6 Router Advertisement of `len` bytes at `buf[off]`.
 * Undefined when it is not one (type 134, code 0, at least 16 bytes) or an
 * option is malformed (zero length, past the end, or a prefix, MTU, RDNSS
 * or DNSSL option of impossible size or content). Unknown options are
 * skipped. The checksum is not checked here. Never throws.
 */
export function parseRouterAdvertisement(buf: Uint8Array, off: number, len: number): RouterAdvertisement | undefined {
  if (!(off >>> 0 === off && len >>> 0 === len && len >= RA_LEN && off + len <= buf.length)) return undefined;
  if (buf[off] !== ICMPV6_ROUTER_ADVERTISEMENT || buf[off + 1] !== 0) return undefined;
  const ra: RouterAdvertisement = {
    curHopLimit: buf[off + 4],
    managed: (buf[off + 5] & RA_FLAG_MANAGED) !== 0,
    other: (buf[off + 5] & RA_FLAG_OTHER) !== 0,
    routerLifetime: (buf[off + 6] << 8) | buf[off + 7],
    reachableTime: read32(buf, off + 8),
    retransTimer: read32(buf, off + 12),
    prefixes: [],
  };
  const end = off + len;
  let i = off + RA_LEN;
  while (i < end) {
    if (i + 2 > end) return undefined;
    const type = buf[i];
    const length = buf[i + 1] * 8;
    if (length === 0 || i + length > end) return undefined;
    const body = buf.subarray(i, i + length);
    switch (type) {
      case NDP_OPT_SOURCE_LL:
        if (length === 8) ra.sourceLinkLayer = Uint8Array.from(body.subarray(2, 8));
        break;
      case NDP_OPT_MTU:
        if (length !== 8) return undefined;
        ra.mtu = read32(body, 4);
        break;
      case NDP_OPT_PREFIX_INFO:
        if (length !== 32 || body[2] > 128) return undefined;
        ra.prefixes.push({
          prefixLen: body[2],
          onLink: (body[3] & PREFIX_FLAG_ON_LINK) !== 0,
          autonomous: (body[3] & PREFIX_FLAG_AUTONOMOUS) !== 0,
          validLifetime: read32(body, 4),
          preferredLifetime: read32(body, 8),
          prefix: Uint8Array.from(body.subarray(16, 32)),
        });
        break;
      case NDP_OPT_RDNSS: {
        if (length < 24 || (length - 8) % 16 !== 0) return undefined;
        const servers: Uint8Array[] = [];
        for (let s = 8; s < length; s += 16) servers.push(Uint8Array.from(body.subarray(s, s + 16)));
        ra.rdnss = { lifetime: read32(body, 4), servers };
        break;
      }
      case NDP_OPT_DNSSL: {
        if (length < 16) return undefined;
        const domains = decodeDomainNames(body.subarray(8));
        if (!domains) return undefined;
        ra.dnssl = { lifetime: read32(body, 4), domains };
        break;
      }
      default:
        break;
    }
    i += length;
  }
  return ra;
}

/**
 * Write a complete Router Advertisement frame at `out[outOff]`: from our MAC
 * and link-local address to `dstMac` and `dst`, hop limit 255, ICMPv6
 * checksum filled. Returns the frame length, or 0 when `out` has no room.
 */
function writeAdvertisementFrame(
  cfg: RaConfig,
  link: LinkState,
  out: Buffer,
  outOff: number,
  dstMac: Uint8Array,
  dst: Uint8Array,
): number {
  const headers = ETH_HLEN + IPV6_HLEN;
  if (!(outOff >>> 0 === outOff && outOff + headers <= out.length)) return 0;
  const icmpOff = outOff + headers;
  const icmpLen = emitRouterAdvertisement(routerAdvertisementFor(cfg, link), out, icmpOff, out.length - icmpOff);
  if (!icmpLen) return 0;
  const ipOff = pushEthernet(out, outOff, dstMac, link.ourMac, ETH_P_IPV6);
  pushIpv6(out, ipOff, icmpLen, IPPROTO_ICMPV6, link.ourLinkLocal6, 0, dst, 0, NDP_HOP_LIMIT);
  l4Checksum6(out, ipOff, icmpOff, icmpLen, 2, IPPROTO_ICMPV6);
  return headers + icmpLen;
}

/**
 * Build the periodic (unsolicited) Router Advertisement frame, to all nodes
 * (ff02::1, 33:33:00:00:00:01), at `out[outOff]`. Returns its length, or 0
 * when `out` has no room. The caller sends it on its timer (see
 * `nextRouterAdvertisementDelay`) unless --no-ra.
 */
export function unsolicitedRouterAdvertisement(cfg: RaConfig, link: LinkState, out: Buffer, outOff: number): number {
  return writeAdvertisementFrame(cfg, link, out, outOff, ALL_NODES_MAC, ALL_NODES);
}

/** Scratch copies of request fields, so that a reply may overwrite its request. */
const scratchMac = new Uint8Array(6);
const scratchSource = new Uint8Array(16);

/**
 * Handle an ICMPv6 frame from the guest: `len` bytes at `frame[off]`,
 * starting with the Ethernet header. If it is a valid Router Solicitation,
 * write the Router Advertisement frame at `out[outOff]` and return its
 * length; otherwise (not a solicitation, invalid, or no room in `out`)
 * return 0. Never throws. The caller tries it on ICMPv6 frames besides
 * `ndpTapHandler` (which leaves solicitations alone) unless --no-ra.
 */
export function raTapHandler(
  cfg: RaConfig,
  link: LinkState,
  frame: Buffer,
  off: number,
  len: number,
  out: Buffer,
  outOff: number,
): number {
  const l4 = ipv6FrameL4(frame, off, len, IPPROTO_ICMPV6);
  if (!l4) return 0;
  const eth = new EthernetView(frame, off);
  const ipOff = off + ETH_HLEN;
  const icmp = IcmpView.checked(frame, l4.offset, l4.length);
  if (!icmp || icmp.type !== ICMPV6_ROUTER_SOLICITATION || icmp.code !== 0) return 0;
  if (frame[ipOff + 7] !== NDP_HOP_LIMIT || l4.length < RS_LEN) return 0;
  if (!l4ChecksumValid6(frame, ipOff, l4.offset, l4.length, IPPROTO_ICMPV6)) return 0;
  const options = parseNdpOptions(frame, l4.offset + RS_LEN, l4.offset + l4.length);
  if (!options) return 0;
  const sourceOff = ipOff + 8;
  if (frame[sourceOff] === 0xff) return 0; // a multicast source is never valid
  if (isUnspecified6(frame, sourceOff)) {
    if (options.sourceLinkLayer) return 0; // RFC 4861 6.1.1
    return writeAdvertisementFrame(cfg, link, out, outOff, ALL_NODES_MAC, ALL_NODES);
  }
  scratchMac.set(options.sourceLinkLayer ?? eth.src);
  scratchSource.set(frame.subarray(sourceOff, sourceOff + 16));
  return writeAdvertisementFrame(cfg, link, out, outOff, scratchMac, scratchSource);
}

/**
 * Seconds until the next unsolicited advertisement, after `sent` of them
 * went out: uniformly random in [RA_MIN_INTERVAL, RA_MAX_INTERVAL) from
 * `random()` (a number in [0, 1), such as Math.random), but at most
 * RA_MAX_INITIAL_INTERVAL while fewer than RA_MAX_INITIAL_COUNT were sent
 * (RFC 4861 6.2.4). Call with sent = 0 when the link comes up.
 */
export function nextRouterAdvertisementDelay(sent: number, random: () => number): number {
  const r = Math.min(Math.max(random(), 0), 1);
  const delay = RA_MIN_INTERVAL + r * (RA_MAX_INTERVAL - RA_MIN_INTERVAL);
  return sent < RA_MAX_INITIAL_COUNT ? Math.min(delay, RA_MAX_INITIAL_INTERVAL) : delay;
}
