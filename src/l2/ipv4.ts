/**
 * IPv4 header view, and the IANA protocol numbers shared with IPv6.
 *
 * Theory of operation: a zero-copy view at `buf[off]` with getters and setters
 * at the RFC 791 field offsets. `checked()` accepts what the tap can deliver
 * and a handler can trust: version 4, a header length of at least 20 bytes,
 * and a total length that covers the header and fits in the bytes received
 * (trailing Ethernet padding beyond `totalLength` is allowed and ignored).
 * The header checksum is *not* required to be valid: the kernel's tap always
 * fills it, and checking it per packet would only cost time; callers that
 * care use `headerChecksumValid()`. Options are neither parsed nor rejected
 * (they are skipped through `headerLength`).
 *
 * Emitting: build the header with the setters in a preallocated frame, then
 * `fillHeaderChecksum()`; for a rewritten address patch the checksum with
 * `updateChecksumAddress` (checksum.ts) instead.
 */
import { finish, fold, sum16 } from './checksum.js';
import { spanFits } from './ethernet.js';

/** Minimum (option-less) IPv4 header length. */
export const IPV4_HLEN = 20;
export { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6 } from './numbers.js';
/** Field offsets of the IPv4 header (RFC 791). */
export const IPV4_OFF_TOTLEN = 2;
export const IPV4_OFF_FRAG = 6;
export const IPV4_OFF_TTL = 8;
export const IPV4_OFF_PROTO = 9;
export const IPV4_OFF_CSUM = 10;
export const IPV4_OFF_SRC = 12;
export const IPV4_OFF_DST = 16;

/** Flag bit in `flags`: don't fragment. */
export const IPV4_FLAG_DF = 0x2;
/** Flag bit in `flags`: more fragments. */
export const IPV4_FLAG_MF = 0x1;

/**
 * The header length of the IPv4 packet whose `len` bytes start at
 * `buf[off]`, if it is acceptable: version 4, IHL >= 5, headerLength <=
 * totalLength <= len. 0 otherwise. The header checksum is not checked.
 * What `Ipv4View.checked()` and the data path both go by.
 */
export function ipv4HeaderLength(buf: Uint8Array, off: number, len: number): number {
  if (!spanFits(buf, off, len, IPV4_HLEN)) return 0;
  const versionIhl = buf[off];
  if (versionIhl >> 4 !== 4) return 0;
  const headerLength = (versionIhl & 0x0f) * 4;
  if (headerLength < IPV4_HLEN) return 0;
  const totalLength = (buf[off + 2] << 8) | buf[off + 3];
  if (totalLength < headerLength || totalLength > len) return 0;
  return headerLength;
}

/** Whether the IPv4 packet at `buf[off]` is a fragment (MF set or a non-zero fragment offset). */
export function ipv4IsFragment(buf: Uint8Array, off: number): boolean {
  return ((buf[off + 6] & 0x3f) | buf[off + 7]) !== 0;
}

/** View of an IPv4 header at `buf[off]`. */
export class Ipv4View {
  constructor(
    public readonly buf: Buffer,
    public readonly off: number,
  ) {}

  /**
   * A view if `len` bytes at `off` start with an acceptable IPv4 header:
   * version 4, IHL >= 5, headerLength <= totalLength <= len. Otherwise
   * undefined. The header checksum is not checked.
   */
  static checked(buf: Buffer, off: number, len: number): Ipv4View | undefined {
    return ipv4HeaderLength(buf, off, len) ? new Ipv4View(buf, off) : undefined;
  }

  get version(): number {
    return this.buf[this.off] >> 4;
  }
  set version(value: number) {
    this.buf[this.off] = ((value & 0x0f) << 4) | (this.buf[this.off] & 0x0f);
  }

  /** Header length in 32-bit words. */
  get ihl(): number {
    return this.buf[this.off] & 0x0f;
  }
  set ihl(value: number) {
    this.buf[this.off] = (this.buf[this.off] & 0xf0) | (value & 0x0f);
  }

  /** Header length in bytes (IHL * 4). */
  get headerLength(): number {
    return (this.buf[this.off] & 0x0f) * 4;
  }
  set headerLength(bytes: number) {
    this.ihl = bytes >>> 2;
  }

  /** Type of service byte (DSCP and ECN). */
  get tos(): number {
    return this.buf[this.off + 1];
  }
  set tos(value: number) {
    this.buf[this.off + 1] = value;
  }

  get totalLength(): number {
    return this.buf.readUInt16BE(this.off + 2);
  }
  set totalLength(value: number) {
    this.buf.writeUInt16BE(value, this.off + 2);
  }

  get id(): number {
    return this.buf.readUInt16BE(this.off + 4);
  }
  set id(value: number) {
    this.buf.writeUInt16BE(value, this.off + 4);
  }

  /** The 16-bit flags and fragment offset word, raw. */
  get flagsFragment(): number {
    return this.buf.readUInt16BE(this.off + 6);
  }
  set flagsFragment(value: number) {
    this.buf.writeUInt16BE(value, this.off + 6);
  }

  /** The three flag bits (reserved, DF = 0x2, MF = 0x1). */
  get flags(): number {
    return this.buf[this.off + 6] >> 5;
  }
  set flags(value: number) {
    this.buf[this.off + 6] = ((value & 0x7) << 5) | (this.buf[this.off + 6] & 0x1f);
  }

  /** Fragment offset in 8-byte units. */
  get fragmentOffset(): number {
    return this.buf.readUInt16BE(this.off + 6) & 0x1fff;
  }
  set fragmentOffset(value: number) {
    this.buf.writeUInt16BE((this.buf.readUInt16BE(this.off + 6) & 0xe000) | (value & 0x1fff), this.off + 6);
  }

  get dontFragment(): boolean {
    return (this.buf[this.off + 6] & 0x40) !== 0;
  }
  get moreFragments(): boolean {
    return (this.buf[this.off + 6] & 0x20) !== 0;
  }

  /** Whether this is a fragment (MF set or a non-zero fragment offset). */
  get isFragment(): boolean {
    return ipv4IsFragment(this.buf, this.off);
  }

  get ttl(): number {
    return this.buf[this.off + 8];
  }
  set ttl(value: number) {
    this.buf[this.off + 8] = value;
  }

  get protocol(): number {
    return this.buf[this.off + 9];
  }
  set protocol(value: number) {
    this.buf[this.off + 9] = value;
  }

  get checksum(): number {
    return this.buf.readUInt16BE(this.off + 10);
  }
  set checksum(value: number) {
    this.buf.writeUInt16BE(value, this.off + 10);
  }

  /** Source address (aliases the buffer). */
  get src(): Buffer {
    return this.buf.subarray(this.off + 12, this.off + 16);
  }
  set src(addr: Uint8Array) {
    this.buf.set(addr.subarray(0, 4), this.off + 12);
  }

  /** Destination address (aliases the buffer). */
  get dst(): Buffer {
    return this.buf.subarray(this.off + 16, this.off + 20);
  }
  set dst(addr: Uint8Array) {
    this.buf.set(addr.subarray(0, 4), this.off + 16);
  }

  /** Source address as an unsigned 32-bit number. */
  get src32(): number {
    return this.buf.readUInt32BE(this.off + 12);
  }
  set src32(value: number) {
    this.buf.writeUInt32BE(value >>> 0, this.off + 12);
  }

  /** Destination address as an unsigned 32-bit number. */
  get dst32(): number {
    return this.buf.readUInt32BE(this.off + 16);
  }
  set dst32(value: number) {
    this.buf.writeUInt32BE(value >>> 0, this.off + 16);
  }

  /** Offset in `buf` of the payload (after any options). */
  get payloadOffset(): number {
    return this.off + this.headerLength;
  }

  /** Payload length: totalLength - headerLength. */
  get payloadLength(): number {
    return this.totalLength - this.headerLength;
  }

  /** Whether the header checksum is correct (header sums to 0xffff). */
  headerChecksumValid(): boolean {
    return fold(sum16(this.buf, this.off, this.headerLength)) === 0xffff;
  }

  /** Compute the header checksum and store it; returns the value written. */
  fillHeaderChecksum(): number {
    this.buf[this.off + 10] = 0;
    this.buf[this.off + 11] = 0;
    const check = finish(sum16(this.buf, this.off, this.headerLength));
    this.buf.writeUInt16BE(check, this.off + 10);
    return check;
  }
}

/** Dotted-quad text of an IPv4 address; the one implementation is in inet.ts. */
export { formatIPv4 as formatIpv4 } from '../inet.js';
