/**
 * ICMP (RFC 792) and ICMPv6 (RFC 4443, RFC 4861) header view and types.
 *
 * Theory of operation: both protocols share the first four bytes (type,
 * code, checksum); for echo messages the next four are identifier and
 * sequence number. One zero-copy view serves both; the type constants say
 * which protocol a number belongs to. `checked()` requires 8 bytes, the
 * smallest message of either protocol that passt handles (every ICMP and
 * ICMPv6 message has at least four bytes after the checksum). The checksum
 * differs: ICMP covers only the message, ICMPv6 also a pseudo-header; see
 * `l4Checksum4` / `l4Checksum6` in checksum.ts.
 */
import { spanFits } from './ethernet.js';

/** Length of the ICMP/ICMPv6 header including the echo identifier and sequence. */
export const ICMP_HLEN = 8;

/** ICMP type: echo reply. */
export const ICMP_ECHO_REPLY = 0;
/** ICMP type: destination unreachable. */
export const ICMP_DEST_UNREACH = 3;
/** ICMP type: echo request. */
export const ICMP_ECHO_REQUEST = 8;
/** ICMP type: time exceeded. */
export const ICMP_TIME_EXCEEDED = 11;
/** ICMP destination-unreachable code: fragmentation needed (the IPv4 "packet too big"). */
export const ICMP_FRAG_NEEDED = 4;

/** ICMPv6 type: destination unreachable. */
export const ICMPV6_DEST_UNREACH = 1;
/** ICMPv6 type: packet too big. */
export const ICMPV6_PACKET_TOO_BIG = 2;
/** ICMPv6 type: time exceeded. */
export const ICMPV6_TIME_EXCEEDED = 3;
/** ICMPv6 type: echo request. */
export const ICMPV6_ECHO_REQUEST = 128;
/** ICMPv6 type: echo reply. */
export const ICMPV6_ECHO_REPLY = 129;
/** ICMPv6 type: router solicitation (NDP). */
export const ICMPV6_ROUTER_SOLICITATION = 133;
/** ICMPv6 type: router advertisement (NDP). */
export const ICMPV6_ROUTER_ADVERTISEMENT = 134;
/** ICMPv6 type: neighbor solicitation (NDP). */
export const ICMPV6_NEIGHBOR_SOLICITATION = 135;
/** ICMPv6 type: neighbor advertisement (NDP). */
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;

/** View of an ICMP or ICMPv6 header at `buf[off]`. */
export class IcmpView {
  constructor(
    public readonly buf: Buffer,
    public readonly off: number,
  ) {}

  /** A view if `len` bytes at `off` hold at least the 8-byte header, else undefined. */
  static checked(buf: Buffer, off: number, len: number): IcmpView | undefined {
    if (!spanFits(buf, off, len, ICMP_HLEN)) return undefined;
    return new IcmpView(buf, off);
  }

  get type(): number {
    return this.buf[this.off];
  }
  set type(value: number) {
    this.buf[this.off] = value;
  }

  get code(): number {
    return this.buf[this.off + 1];
  }
  set code(value: number) {
    this.buf[this.off + 1] = value;
  }

  get checksum(): number {
    return this.buf.readUInt16BE(this.off + 2);
  }
  set checksum(value: number) {
    this.buf.writeUInt16BE(value, this.off + 2);
  }

  /** Echo identifier. */
  get id(): number {
    return this.buf.readUInt16BE(this.off + 4);
  }
  set id(value: number) {
    this.buf.writeUInt16BE(value, this.off + 4);
  }

  /** Echo sequence number. */
  get seq(): number {
    return this.buf.readUInt16BE(this.off + 6);
  }
  set seq(value: number) {
    this.buf.writeUInt16BE(value, this.off + 6);
  }

  /** Offset in `buf` of the data after the 8-byte header. */
  get payloadOffset(): number {
    return this.off + ICMP_HLEN;
  }
}
