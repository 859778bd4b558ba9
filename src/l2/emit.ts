/**
 * Header emitters: the one way every frame to the guest gets its Ethernet,
 * IP and UDP headers, as passt's tap_push_*() helpers.
 *
 * Theory of operation: each `push*` writes one header at `buf[off]` and
 * returns the offset right after it, so a frame is built front to back
 * (`pushUdp(buf, pushIpv4(buf, pushEthernet(buf, off, ...), ...), ...)`),
 * the payload already in place or written after. Addresses come as
 * (array, offset) pairs so that a flow's contiguous guest/remote address
 * bytes, or a received frame's, are used without a copy. Every IPv4 header
 * is option-less with DF, TTL 255 and identification 0, and every IPv6
 * header has traffic class and flow label 0 and a hop limit of 255, as
 * passt sends them (L2_BUF_IP4_INIT, tap_push_ip4h(), tap_push_ip6h()): the
 * guest is one hop from us.
 *
 * Per-flow templates (TCP, UDP, ICMP replies) are built once with these and
 * patched per frame: `ipv4TemplateSum()` gives the unfolded sum of an IPv4
 * header without its length and checksum, `ipv4SetLength()` writes a
 * frame's total length and checksum from it. Nothing here allocates.
 */
import { finish, sum16 } from './checksum.js';

/** Write an Ethernet II header; returns the offset after it (off + 14). */
export function pushEthernet(buf: Uint8Array, off: number, dst: Uint8Array, src: Uint8Array, ethertype: number): number {
  for (let i = 0; i < 6; i++) {
    buf[off + i] = dst[i];
    buf[off + 6 + i] = src[i];
  }
  buf[off + 12] = ethertype >>> 8;
  buf[off + 13] = ethertype & 0xff;
  return off + 14;
}

/**
 * Write an IPv4 header (20 bytes, DF, TTL 255) for `totalLength` bytes of
 * `protocol`, from the 4 bytes at src[srcOff] to the 4 at dst[dstOff], with
 * its checksum (none when `totalLength` is 0: a template). Returns off + 20.
 */
export function pushIpv4(
  buf: Uint8Array,
  off: number,
  totalLength: number,
  protocol: number,
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
): number {
  buf[off] = 0x45;
  buf[off + 1] = 0;
  buf[off + 2] = totalLength >>> 8;
  buf[off + 3] = totalLength & 0xff;
  buf[off + 4] = 0;
  buf[off + 5] = 0;
  buf[off + 6] = 0x40; // DF
  buf[off + 7] = 0;
  buf[off + 8] = 255;
  buf[off + 9] = protocol;
  buf[off + 10] = 0;
  buf[off + 11] = 0;
  for (let i = 0; i < 4; i++) {
    buf[off + 12 + i] = src[srcOff + i];
    buf[off + 16 + i] = dst[dstOff + i];
  }
  if (totalLength) {
    const check = finish(sum16(buf, off, 20));
    buf[off + 10] = check >>> 8;
    buf[off + 11] = check & 0xff;
  }
  return off + 20;
}

/** Unfolded sum of the IPv4 header at `buf[off]` as pushIpv4() wrote it with total length 0 (a template). */
export function ipv4TemplateSum(buf: Uint8Array, off: number): number {
  return sum16(buf, off, 20);
}

/** Set the total length of a header copied from a template, and its checksum from the template's sum. */
export function ipv4SetLength(buf: Uint8Array, off: number, totalLength: number, templateSum: number): void {
  buf[off + 2] = totalLength >>> 8;
  buf[off + 3] = totalLength & 0xff;
  const check = finish(templateSum + totalLength);
  buf[off + 10] = check >>> 8;
  buf[off + 11] = check & 0xff;
}

/**
 * Write an IPv6 header (40 bytes) for `payloadLength` bytes of `nextHeader`,
 * from the 16 bytes at src[srcOff] to the 16 at dst[dstOff]. Returns off + 40.
 */
export function pushIpv6(
  buf: Uint8Array,
  off: number,
  payloadLength: number,
  nextHeader: number,
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  hopLimit = 255,
): number {
  buf[off] = 0x60;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = payloadLength >>> 8;
  buf[off + 5] = payloadLength & 0xff;
  buf[off + 6] = nextHeader;
  buf[off + 7] = hopLimit;
  for (let i = 0; i < 16; i++) {
    buf[off + 8 + i] = src[srcOff + i];
    buf[off + 24 + i] = dst[dstOff + i];
  }
  return off + 40;
}

/** Set the payload length of an IPv6 header (a template's, per frame). */
export function ipv6SetLength(buf: Uint8Array, off: number, payloadLength: number): void {
  buf[off + 4] = payloadLength >>> 8;
  buf[off + 5] = payloadLength & 0xff;
}

/** Write a UDP header for `length` bytes (header and data), checksum 0. Returns off + 8. */
export function pushUdp(buf: Uint8Array, off: number, srcPort: number, dstPort: number, length: number): number {
  buf[off] = srcPort >>> 8;
  buf[off + 1] = srcPort & 0xff;
  buf[off + 2] = dstPort >>> 8;
  buf[off + 3] = dstPort & 0xff;
  buf[off + 4] = length >>> 8;
  buf[off + 5] = length & 0xff;
  buf[off + 6] = 0;
  buf[off + 7] = 0;
  return off + 8;
}

/**
 * Unfolded pseudo-header sum (RFC 768, RFC 8200 8.1) of the IP header at
 * `buf[ipOff]` for `protocol`, without the layer-4 length: what a template
 * keeps, adding each frame's length before folding.
 */
export function pseudoSumOf(buf: Uint8Array, ipOff: number, v4: boolean, protocol: number): number {
  return protocol + (v4 ? sum16(buf, ipOff + 12, 8) : sum16(buf, ipOff + 8, 32));
}
