/**
 * IPv6 header view and the extension-header walk that finds the upper layer.
 *
 * Theory of operation: `Ipv6View` is a zero-copy view at `buf[off]` over the
 * fixed 40-byte header (RFC 8200). `checked()` accepts version 6 with a
 * payload that fits in the bytes received (trailing padding is ignored).
 * Jumbograms (payload length 0 with a Jumbo Payload option) are not
 * supported: a payload length of 0 means an empty payload.
 *
 * `ipv6L4()` walks the extension-header chain to the upper-layer header.
 * Hop-by-hop options (only directly after the fixed header, as RFC 8200
 * requires), routing and destination options headers are skipped by their
 * length field; a fragment header ends the walk and the result is flagged as
 * a fragment (the protocol is the fragment header's next header, the offset
 * the byte after it). Any other next-header value is the upper layer, even an
 * unknown one (the caller drops what it does not handle). The walk is bounded
 * both by the payload length (every header moves forward by at least 8
 * bytes) and by an explicit iteration cap, and never throws.
 */
import { ETH_HLEN, ETH_P_IPV6, spanFits } from './ethernet.js';

/** Length of the fixed IPv6 header. */
export const IPV6_HLEN = 40;
/** Next header: hop-by-hop options. */
export const IPV6_NH_HOPOPTS = 0;
/** Next header: routing header. */
export const IPV6_NH_ROUTING = 43;
/** Next header: fragment header. */
export const IPV6_NH_FRAGMENT = 44;
/** Next header: no next header. */
export const IPV6_NH_NONE = 59;
/** Next header: destination options. */
export const IPV6_NH_DSTOPTS = 60;

/** Upper bound on extension headers walked by `ipv6L4`. */
export const IPV6_MAX_EXT_HEADERS = 8;

/** View of an IPv6 header at `buf[off]`. */
export class Ipv6View {
  constructor(
    public readonly buf: Buffer,
    public readonly off: number,
  ) {}

  /**
   * A view if `len` bytes at `off` hold an IPv6 header with version 6 and
   * 40 + payloadLength <= len; otherwise undefined.
   */
  static checked(buf: Buffer, off: number, len: number): Ipv6View | undefined {
    if (!spanFits(buf, off, len, IPV6_HLEN)) return undefined;
    if (buf[off] >> 4 !== 6) return undefined;
    if (IPV6_HLEN + buf.readUInt16BE(off + 4) > len) return undefined;
    return new Ipv6View(buf, off);
  }

  /** Write version 6, traffic class and flow label in one go. */
  setVersionClassFlow(trafficClass: number, flowLabel: number): void {
    this.buf.writeUInt32BE(((6 << 28) | ((trafficClass & 0xff) << 20) | (flowLabel & 0xfffff)) >>> 0, this.off);
  }

  get version(): number {
    return this.buf[this.off] >> 4;
  }
  set version(value: number) {
    this.buf[this.off] = ((value & 0x0f) << 4) | (this.buf[this.off] & 0x0f);
  }

  get trafficClass(): number {
    return (this.buf.readUInt16BE(this.off) >> 4) & 0xff;
  }
  set trafficClass(value: number) {
    const word = this.buf.readUInt16BE(this.off);
    this.buf.writeUInt16BE((word & 0xf00f) | ((value & 0xff) << 4), this.off);
  }

  /** The 20-bit flow label. */
  get flowLabel(): number {
    return this.buf.readUInt32BE(this.off) & 0xfffff;
  }
  set flowLabel(value: number) {
    const word = this.buf.readUInt32BE(this.off);
    this.buf.writeUInt32BE(((word & 0xfff00000) | (value & 0xfffff)) >>> 0, this.off);
  }

  get payloadLength(): number {
    return this.buf.readUInt16BE(this.off + 4);
  }
  set payloadLength(value: number) {
    this.buf.writeUInt16BE(value, this.off + 4);
  }

  get nextHeader(): number {
    return this.buf[this.off + 6];
  }
  set nextHeader(value: number) {
    this.buf[this.off + 6] = value;
  }

  get hopLimit(): number {
    return this.buf[this.off + 7];
  }
  set hopLimit(value: number) {
    this.buf[this.off + 7] = value;
  }

  /** Source address (aliases the buffer). */
  get src(): Buffer {
    return this.buf.subarray(this.off + 8, this.off + 24);
  }
  set src(addr: Uint8Array) {
    this.buf.set(addr.subarray(0, 16), this.off + 8);
  }

  /** Destination address (aliases the buffer). */
  get dst(): Buffer {
    return this.buf.subarray(this.off + 24, this.off + 40);
  }
  set dst(addr: Uint8Array) {
    this.buf.set(addr.subarray(0, 16), this.off + 24);
  }

  /** Offset in `buf` of the payload (the first extension or upper-layer header). */
  get payloadOffset(): number {
    return this.off + IPV6_HLEN;
  }
}

/** Where the upper-layer header of an IPv6 packet is. */
export interface Ipv6L4 {
  /** Upper-layer protocol (next header value after the extension headers). */
  protocol: number;
  /** Offset in the buffer of the upper-layer header. */
  offset: number;
  /** Length of the upper-layer data, to the end of the IPv6 payload. */
  length: number;
  /** True when a fragment header was met: offset and length are of the fragment. */
  fragment: boolean;
}

/** Field offsets of the IPv6 header (RFC 8200). */
export const IPV6_OFF_PLEN = 4;
export const IPV6_OFF_NH = 6;
export const IPV6_OFF_HOPS = 7;
export const IPV6_OFF_SRC = 8;
export const IPV6_OFF_DST = 24;

/**
 * Find the upper-layer header of the IPv6 packet whose `len` bytes start at
 * `buf[off]` (the IPv6 header itself) and write it to `out`, which is reused
 * (the data path walks every frame with one). Returns false when the packet
 * is not valid IPv6, an extension header runs past the payload, hop-by-hop
 * options appear anywhere but first, or the chain is longer than
 * IPV6_MAX_EXT_HEADERS. Never throws. The one walker: the data path and the
 * link-layer responders both use it.
 */
export function ipv6Walk(buf: Uint8Array, off: number, len: number, out: Ipv6L4): boolean {
  if (!spanFits(buf, off, len, IPV6_HLEN)) return false;
  if (buf[off] >> 4 !== 6) return false;
  const end = off + IPV6_HLEN + ((buf[off + 4] << 8) | buf[off + 5]);
  if (end > off + len) return false;

  let next = buf[off + 6];
  let cursor = off + IPV6_HLEN;
  for (let count = 0; ; count++) {
    switch (next) {
      case IPV6_NH_HOPOPTS:
      case IPV6_NH_ROUTING:
      case IPV6_NH_DSTOPTS: {
        if (count >= IPV6_MAX_EXT_HEADERS) return false;
        if (next === IPV6_NH_HOPOPTS && cursor !== off + IPV6_HLEN) return false;
        if (cursor + 8 > end) return false;
        const headerLength = (buf[cursor + 1] + 1) * 8;
        if (cursor + headerLength > end) return false;
        next = buf[cursor];
        cursor += headerLength;
        break;
      }
      case IPV6_NH_FRAGMENT:
        if (cursor + 8 > end) return false;
        out.protocol = buf[cursor];
        out.offset = cursor + 8;
        out.length = end - cursor - 8;
        out.fragment = true;
        return true;
      default:
        out.protocol = next;
        out.offset = cursor;
        out.length = end - cursor;
        out.fragment = false;
        return true;
    }
  }
}

/** As ipv6Walk(), into a new object; undefined when the packet is not acceptable. */
export function ipv6L4(buf: Buffer, off: number, len: number): Ipv6L4 | undefined {
  const out: Ipv6L4 = { protocol: 0, offset: 0, length: 0, fragment: false };
  return ipv6Walk(buf, off, len, out) ? out : undefined;
}

/** Whether `addr` (16 bytes at `off`) is the unspecified address `::`. */
export function isUnspecified6(addr: Uint8Array, off = 0): boolean {
  for (let i = 0; i < 16; i++) if (addr[off + i] !== 0) return false;
  return true;
}

/**
 * The upper-layer part of an Ethernet frame carrying IPv6 with `protocol`
 * (not fragmented): what the link-layer responders (NDP, router
 * advertisements, DHCPv6) check first. `frame[off]` is the Ethernet header.
 * Returns undefined for anything else. Never throws.
 */
export function ipv6FrameL4(frame: Buffer, off: number, len: number, protocol: number): Ipv6L4 | undefined {
  if (!spanFits(frame, off, len, ETH_HLEN) || frame.readUInt16BE(off + 12) !== ETH_P_IPV6) return undefined;
  const l4 = ipv6L4(frame, off + ETH_HLEN, len - ETH_HLEN);
  if (!l4 || l4.fragment || l4.protocol !== protocol) return undefined;
  return l4;
}

/** Text form of an IPv6 address (RFC 5952); the one implementation is in inet.ts. */
export { formatIPv6 as formatIpv6 } from '../inet.js';
