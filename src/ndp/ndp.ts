/**
 * NDP responder (RFC 4861): neighbour advertisements for the guest, and the
 * place where router advertisements go.
 *
 * Theory of operation: as with ARP (src/l2/arp-proxy.ts), the guest sees one
 * neighbour, us, answering for every IPv6 address except the guest's own.
 * `ndpTapHandler` gets each ICMPv6 frame from the guest, validates it the way
 * RFC 4861 asks of every NDP message (hop limit 255, so it cannot have been
 * forwarded; code 0; a valid ICMPv6 checksum; a long enough body; options of
 * non-zero length inside the message) and dispatches on the ICMPv6 type:
 *
 * - Neighbor Solicitation: unless its target is one of the guest's addresses,
 *   or its source is the unspecified address (duplicate address detection
 *   probes must stay unanswered, or the guest would give up its address),
 *   reply with a Neighbor Advertisement carrying our MAC. Like passt, the
 *   advertisement comes *from* the address that was asked for, so the
 *   guest's neighbour cache entry is confirmed by a packet of its own, with
 *   the Router, Solicited and Override flags.
 * - Router Solicitation: not answered here. Router advertisements need the
 *   configuration (prefix, MTU, resolvers), so they live in ra.ts
 *   (`raTapHandler`), which the engine calls when this returns 0.
 *
 * Replies are written into a caller-provided frame slot; every request field
 * needed is copied to module scratch space first, so answering in place (the
 * same buffer and offset as the request) is safe. Nothing throws: a bad
 * frame returns 0.
 */
import { l4Checksum6, l4ChecksumValid6 } from '../l2/checksum.js';
import { ETH_HLEN, ETH_P_IPV6, EthernetView } from '../l2/ethernet.js';
import { pushEthernet, pushIpv6 } from '../l2/emit.js';
import {
  ICMPV6_NEIGHBOR_ADVERTISEMENT,
  ICMPV6_NEIGHBOR_SOLICITATION,
  ICMPV6_ROUTER_SOLICITATION,
  IcmpView,
} from '../l2/icmp.js';
import { IPPROTO_ICMPV6 } from '../l2/ipv4.js';
import { IPV6_HLEN, isUnspecified6, ipv6FrameL4 } from '../l2/ipv6.js';
import type { LinkState } from '../l2/link.js';

/** NDP option type: source link-layer address. */
export const NDP_OPT_SOURCE_LL = 1;
/** NDP option type: target link-layer address. */
export const NDP_OPT_TARGET_LL = 2;
/** NDP option type: prefix information. */
export const NDP_OPT_PREFIX_INFO = 3;
/** NDP option type: MTU. */
export const NDP_OPT_MTU = 5;
/** NDP option type: recursive DNS server (RFC 8106). */
export const NDP_OPT_RDNSS = 25;

/** Neighbor Advertisement flag: the sender is a router. */
export const NA_FLAG_ROUTER = 0x80;
/** Neighbor Advertisement flag: sent in response to a solicitation. */
export const NA_FLAG_SOLICITED = 0x40;
/** Neighbor Advertisement flag: override an existing cache entry. */
export const NA_FLAG_OVERRIDE = 0x20;

/** Hop limit every NDP message must carry (RFC 4861 section 6.1 and 7.1). */
export const NDP_HOP_LIMIT = 255;
/** Length of a Neighbor Solicitation or Advertisement before options. */
export const NS_NA_LEN = 24;
/** Length of a Router Solicitation before options. */
export const RS_LEN = 8;
/** Length of the ICMPv6 part of our Neighbor Advertisement (with one option). */
export const NA_LEN = NS_NA_LEN + 8;
/** Length of the whole Neighbor Advertisement frame we send. */
export const NA_FRAME_LEN = ETH_HLEN + IPV6_HLEN + NA_LEN;

/** The NDP options this responder reads. */
export interface NdpOptions {
  /** Source link-layer address (aliases the buffer), if present. */
  sourceLinkLayer?: Buffer;
  /** Target link-layer address (aliases the buffer), if present. */
  targetLinkLayer?: Buffer;
  /** Link MTU, if present. */
  mtu?: number;
}

/**
 * Parse the NDP options in `buf` from `off` to `end`. Returns undefined when
 * an option has length 0 or runs past `end` (RFC 4861 says to drop such a
 * message); unknown options are skipped. Link-layer address options are read
 * only in their Ethernet form (length 1, six address bytes).
 */
export function parseNdpOptions(buf: Buffer, off: number, end: number): NdpOptions | undefined {
  const options: NdpOptions = {};
  let i = off;
  while (i < end) {
    if (i + 2 > end) return undefined;
    const type = buf[i];
    const length = buf[i + 1] * 8;
    if (length === 0 || i + length > end) return undefined;
    switch (type) {
      case NDP_OPT_SOURCE_LL:
        if (length === 8) options.sourceLinkLayer = buf.subarray(i + 2, i + 8);
        break;
      case NDP_OPT_TARGET_LL:
        if (length === 8) options.targetLinkLayer = buf.subarray(i + 2, i + 8);
        break;
      case NDP_OPT_MTU:
        if (length === 8) options.mtu = buf.readUInt32BE(i + 4);
        break;
      default:
        break;
    }
    i += length;
  }
  return options;
}

/**
 * Write a link-layer address option (type NDP_OPT_SOURCE_LL or
 * NDP_OPT_TARGET_LL) for an Ethernet address at `buf[off]`. Returns 8.
 */
export function writeLinkLayerOption(buf: Uint8Array, off: number, type: number, mac: Uint8Array): number {
  buf[off] = type;
  buf[off + 1] = 1;
  buf.set(mac.subarray(0, 6), off + 2);
  return 8;
}

/** Scratch copies of request fields, so that a reply may overwrite its request. */
const scratchTarget = new Uint8Array(16);
const scratchSource = new Uint8Array(16);
const scratchMac = new Uint8Array(6);

/**
 * Handle an ICMPv6 frame from the guest: `len` bytes at `frame[off]`,
 * starting with the Ethernet header. When a reply is due, write the reply
 * frame at `out[outOff]` and return its length; otherwise (not NDP, not to be
 * answered, malformed, or no room in `out`) return 0. Never throws.
 */
export function ndpTapHandler(
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
  if (!icmp) return 0;

  switch (icmp.type) {
    case ICMPV6_NEIGHBOR_SOLICITATION:
      if (!validNdp(frame, ipOff, l4.offset, l4.length, NS_NA_LEN)) return 0;
      return neighborSolicitation(link, eth, ipOff, l4.offset, l4.length, out, outOff);
    case ICMPV6_ROUTER_SOLICITATION:
      // Router advertisements are not sent yet: validate with
      // validNdp(frame, ipOff, l4.offset, l4.length, RS_LEN) and answer here.
      return 0;
    default:
      return 0;
  }
}

/**
 * RFC 4861 checks shared by every NDP message: hop limit 255, code 0, an
 * ICMPv6 body of at least `minimum` bytes, and a correct checksum.
 */
function validNdp(buf: Buffer, ipOff: number, icmpOff: number, icmpLen: number, minimum: number): boolean {
  return (
    buf[ipOff + 7] === NDP_HOP_LIMIT &&
    buf[icmpOff + 1] === 0 &&
    icmpLen >= minimum &&
    l4ChecksumValid6(buf, ipOff, icmpOff, icmpLen, IPPROTO_ICMPV6)
  );
}

/** Whether `addr` is present and equal to the 16 bytes at `buf[off]`. */
function sameAddress6(addr: Uint8Array | null, buf: Uint8Array, off: number): boolean {
  if (!addr) return false;
  for (let i = 0; i < 16; i++) if (addr[i] !== buf[off + i]) return false;
  return true;
}

/** Answer a validated Neighbor Solicitation, or return 0. */
function neighborSolicitation(
  link: LinkState,
  eth: EthernetView,
  ipOff: number,
  icmpOff: number,
  icmpLen: number,
  out: Buffer,
  outOff: number,
): number {
  const buf = eth.buf;
  const sourceOff = ipOff + 8;
  const targetOff = icmpOff + 8;
  if (isUnspecified6(buf, sourceOff)) return 0; // duplicate address detection
  if (buf[sourceOff] === 0xff) return 0; // a multicast source is never valid
  if (buf[targetOff] === 0xff) return 0; // RFC 4861 7.1.1: target must not be multicast
  if (sameAddress6(link.guestAddr6, buf, targetOff)) return 0;
  if (sameAddress6(link.guestLinkLocal6, buf, targetOff)) return 0;
  const options = parseNdpOptions(buf, icmpOff + NS_NA_LEN, icmpOff + icmpLen);
  if (!options) return 0;
  if (!(outOff >>> 0 === outOff && outOff + NA_FRAME_LEN <= out.length)) return 0;

  scratchTarget.set(buf.subarray(targetOff, targetOff + 16));
  scratchSource.set(buf.subarray(sourceOff, sourceOff + 16));
  scratchMac.set(options.sourceLinkLayer ?? eth.src);
  return neighborAdvertisement(link, out, outOff, scratchMac, scratchSource, scratchTarget);
}

/**
 * Write a solicited Neighbor Advertisement frame at `out[outOff]` (the
 * caller checked there is room for NA_FRAME_LEN bytes): from ourMac to
 * `dstMac`, from the IPv6 address `target` to `dst`, flags Router, Solicited
 * and Override, with a target link-layer address option carrying ourMac.
 * Returns NA_FRAME_LEN.
 */
function neighborAdvertisement(
  link: LinkState,
  out: Buffer,
  outOff: number,
  dstMac: Uint8Array,
  dst: Uint8Array,
  target: Uint8Array,
): number {
  const ipOff = pushEthernet(out, outOff, dstMac, link.ourMac, ETH_P_IPV6);
  const icmpOff = pushIpv6(out, ipOff, NA_LEN, IPPROTO_ICMPV6, target, 0, dst, 0, NDP_HOP_LIMIT);
  out[icmpOff] = ICMPV6_NEIGHBOR_ADVERTISEMENT;
  out[icmpOff + 1] = 0;
  out.writeUInt32BE(((NA_FLAG_ROUTER | NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE) << 24) >>> 0, icmpOff + 4);
  out.set(target.subarray(0, 16), icmpOff + 8);
  writeLinkLayerOption(out, icmpOff + NS_NA_LEN, NDP_OPT_TARGET_LL, link.ourMac);
  l4Checksum6(out, ipOff, icmpOff, NA_LEN, 2, IPPROTO_ICMPV6);
  return NA_FRAME_LEN;
}
