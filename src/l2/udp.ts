/**
 * UDP header view.
 *
 * Theory of operation: a zero-copy view at `buf[off]` over the 8-byte RFC 768
 * header. `checked()` requires the length field to cover the header and to
 * fit in the bytes received (the IP payload); bytes past `length` are
 * ignored. A checksum of 0 means "none" over IPv4; over IPv6 it is invalid.
 * Compute checksums with `l4Checksum4` / `l4Checksum6` from checksum.ts.
 */
import { spanFits } from './ethernet.js';

/** UDP header length. */
export const UDP_HLEN = 8;

/** Field offsets of the UDP header (RFC 768). */
export const UDP_OFF_LEN = 4;
export const UDP_OFF_CSUM = 6;

/**
 * The length field of the UDP datagram in the `len` bytes at `buf[off]` (the
 * IP payload), if 8 <= length <= len; 0 otherwise. Bytes past the length are
 * ignored, as Linux does. What `UdpView.checked()` and the data path both go by.
 */
export function udpLength(buf: Uint8Array, off: number, len: number): number {
  if (!spanFits(buf, off, len, UDP_HLEN)) return 0;
  const length = (buf[off + 4] << 8) | buf[off + 5];
  return length < UDP_HLEN || length > len ? 0 : length;
}

/** View of a UDP header at `buf[off]`. */
export class UdpView {
  constructor(
    public readonly buf: Buffer,
    public readonly off: number,
  ) {}

  /** A view if `len` bytes at `off` hold a UDP datagram with 8 <= length <= len. */
  static checked(buf: Buffer, off: number, len: number): UdpView | undefined {
    return udpLength(buf, off, len) ? new UdpView(buf, off) : undefined;
  }

  get srcPort(): number {
    return this.buf.readUInt16BE(this.off);
  }
  set srcPort(value: number) {
    this.buf.writeUInt16BE(value, this.off);
  }

  get dstPort(): number {
    return this.buf.readUInt16BE(this.off + 2);
  }
  set dstPort(value: number) {
    this.buf.writeUInt16BE(value, this.off + 2);
  }

  /** Length of header and data, in bytes. */
  get length(): number {
    return this.buf.readUInt16BE(this.off + 4);
  }
  set length(value: number) {
    this.buf.writeUInt16BE(value, this.off + 4);
  }

  get checksum(): number {
    return this.buf.readUInt16BE(this.off + 6);
  }
  set checksum(value: number) {
    this.buf.writeUInt16BE(value, this.off + 6);
  }

  /** Offset in `buf` of the data. */
  get payloadOffset(): number {
    return this.off + UDP_HLEN;
  }

  /** Length of the data (length - 8). */
  get payloadLength(): number {
    return this.length - UDP_HLEN;
  }
}
