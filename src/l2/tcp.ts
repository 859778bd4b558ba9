/**
 * TCP header view, option parsing for SYNs, and the SYN option writer.
 *
 * Theory of operation: a zero-copy view at `buf[off]` over the RFC 9293
 * header; the translation itself lives in src/tcp/. Sequence and
 * acknowledgement numbers are unsigned 32-bit numbers (compare them with
 * modular arithmetic, never with `<`). `checked()` requires a data offset of
 * at least 5 words and a header that fits in the bytes received.
 *
 * `parseOptions()` is for SYN and SYN-ACK segments, where the options that
 * matter to passt are negotiated (MSS, window scale, SACK permitted,
 * timestamps). It walks the option bytes as Linux's tcp_parse_options does:
 * EOL ends the walk, NOP is one byte, every other option has a length byte;
 * a length below 2 or one that runs past the header stops the walk, keeping
 * what was found so far. An option whose length does not match its kind is
 * ignored. It never throws.
 *
 * `writeTcpSynOptions()` emits the options of a SYN or SYN-ACK sent to the
 * guest, in the layout Linux uses: MSS, then NOP NOP SACK-permitted, then
 * NOP window-scale, so every option group stays 32-bit aligned.
 */
import { spanFits } from './ethernet.js';

/** Minimum (option-less) TCP header length. */
export const TCP_HLEN = 20;

/** Flag bit: no more data from sender. */
export const TCP_FIN = 0x01;
/** Flag bit: synchronize sequence numbers. */
export const TCP_SYN = 0x02;
/** Flag bit: reset the connection. */
export const TCP_RST = 0x04;
/** Flag bit: push. */
export const TCP_PSH = 0x08;
/** Flag bit: acknowledgement field significant. */
export const TCP_ACK = 0x10;
/** Flag bit: urgent pointer significant. */
export const TCP_URG = 0x20;
/** Flag bit: ECN echo. */
export const TCP_ECE = 0x40;
/** Flag bit: congestion window reduced. */
export const TCP_CWR = 0x80;

/** Option kind: end of option list. */
export const TCPOPT_EOL = 0;
/** Option kind: no-operation (padding). */
export const TCPOPT_NOP = 1;
/** Option kind: maximum segment size (length 4). */
export const TCPOPT_MSS = 2;
/** Option kind: window scale (length 3). */
export const TCPOPT_WINDOW = 3;
/** Option kind: SACK permitted (length 2). */
export const TCPOPT_SACK_PERMITTED = 4;
/** Option kind: timestamps (length 10). */
export const TCPOPT_TIMESTAMP = 8;

/** Largest window scale shift allowed (RFC 7323 section 2.3). */
export const TCP_MAX_WSCALE = 14;

/** Options negotiated on a SYN. */
export interface TcpSynOptions {
  /** Maximum segment size, if present. */
  mss?: number;
  /** Window scale shift, if present; values above 14 are reported as 14. */
  wscale?: number;
  /** Whether SACK-permitted was present. */
  sackPermitted: boolean;
  /** [TSval, TSecr], if present. */
  timestamp?: [number, number];
}

/** Field offsets of the TCP header (RFC 9293). */
export const TCP_OFF_SEQ = 4;
export const TCP_OFF_ACK = 8;
export const TCP_OFF_DOFF = 12;
export const TCP_OFF_FLAGS = 13;
export const TCP_OFF_WINDOW = 14;
export const TCP_OFF_CSUM = 16;

/**
 * The header length of the TCP segment whose `len` bytes (header and data)
 * start at `buf[off]`, if 20 <= headerLength <= len; 0 otherwise. What
 * `TcpHeaderView.checked()` and the data path both go by.
 */
export function tcpHeaderLength(buf: Uint8Array, off: number, len: number): number {
  if (!spanFits(buf, off, len, TCP_HLEN)) return 0;
  const headerLength = (buf[off + 12] >> 4) * 4;
  return headerLength < TCP_HLEN || headerLength > len ? 0 : headerLength;
}

/**
 * The options between byte 20 and `headerLength` of the TCP header at
 * `buf[off]` (validated with tcpHeaderLength()). Never throws: a malformed
 * option stops the walk and what was found before it is kept.
 */
export function tcpOptions(buf: Uint8Array, off: number, headerLength: number): TcpSynOptions {
  const result: TcpSynOptions = { sackPermitted: false };
  const end = Math.min(off + headerLength, buf.length);
  let i = off + TCP_HLEN;
  while (i < end) {
    const kind = buf[i];
    if (kind === TCPOPT_EOL) break;
    if (kind === TCPOPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) break;
    const length = buf[i + 1];
    if (length < 2 || i + length > end) break;
    switch (kind) {
      case TCPOPT_MSS:
        if (length === 4) result.mss = (buf[i + 2] << 8) | buf[i + 3];
        break;
      case TCPOPT_WINDOW:
        if (length === 3) result.wscale = Math.min(buf[i + 2], TCP_MAX_WSCALE);
        break;
      case TCPOPT_SACK_PERMITTED:
        if (length === 2) result.sackPermitted = true;
        break;
      case TCPOPT_TIMESTAMP:
        if (length === 10) result.timestamp = [((buf[i + 2] << 24) | (buf[i + 3] << 16) | (buf[i + 4] << 8) | buf[i + 5]) >>> 0, ((buf[i + 6] << 24) | (buf[i + 7] << 16) | (buf[i + 8] << 8) | buf[i + 9]) >>> 0];
        break;
      default:
        break;
    }
    i += length;
  }
  return result;
}

/** View of a TCP header at `buf[off]`. */
export class TcpHeaderView {
  constructor(
    public readonly buf: Buffer,
    public readonly off: number,
  ) {}

  /**
   * A view if `len` bytes at `off` (the segment, header and data) hold a TCP
   * header with 20 <= headerLength <= len; otherwise undefined.
   */
  static checked(buf: Buffer, off: number, len: number): TcpHeaderView | undefined {
    return tcpHeaderLength(buf, off, len) ? new TcpHeaderView(buf, off) : undefined;
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

  /** Sequence number (unsigned 32-bit). */
  get seq(): number {
    return this.buf.readUInt32BE(this.off + 4);
  }
  set seq(value: number) {
    this.buf.writeUInt32BE(value >>> 0, this.off + 4);
  }

  /** Acknowledgement number (unsigned 32-bit). */
  get ack(): number {
    return this.buf.readUInt32BE(this.off + 8);
  }
  set ack(value: number) {
    this.buf.writeUInt32BE(value >>> 0, this.off + 8);
  }

  /** Data offset in 32-bit words. Setting it clears the reserved bits. */
  get dataOffset(): number {
    return this.buf[this.off + 12] >> 4;
  }
  set dataOffset(words: number) {
    this.buf[this.off + 12] = (words & 0x0f) << 4;
  }

  /** Header length in bytes (data offset * 4). */
  get headerLength(): number {
    return (this.buf[this.off + 12] >> 4) * 4;
  }
  set headerLength(bytes: number) {
    this.dataOffset = bytes >>> 2;
  }

  /** The eight flag bits (TCP_FIN ... TCP_CWR). */
  get flags(): number {
    return this.buf[this.off + 13];
  }
  set flags(value: number) {
    this.buf[this.off + 13] = value;
  }

  get window(): number {
    return this.buf.readUInt16BE(this.off + 14);
  }
  set window(value: number) {
    this.buf.writeUInt16BE(value, this.off + 14);
  }

  get checksum(): number {
    return this.buf.readUInt16BE(this.off + 16);
  }
  set checksum(value: number) {
    this.buf.writeUInt16BE(value, this.off + 16);
  }

  get urgent(): number {
    return this.buf.readUInt16BE(this.off + 18);
  }
  set urgent(value: number) {
    this.buf.writeUInt16BE(value, this.off + 18);
  }

  /** Offset in `buf` of the segment data. */
  get payloadOffset(): number {
    return this.off + this.headerLength;
  }

  /**
   * Parse the options between byte 20 and `headerLength`. Never throws: a
   * malformed option stops the walk and what was found before it is kept.
   * The caller must have validated the view with `checked()` (or built it).
   */
  parseOptions(): TcpSynOptions {
    return tcpOptions(this.buf, this.off, this.headerLength);
  }
}

/**
 * Write SYN options at `buf[off]`: MSS (4 bytes), then if `sackPermitted`
 * NOP NOP SACK-permitted (4 bytes), then if `wscale` is given NOP
 * window-scale (4 bytes). Returns the number of bytes written, a multiple of
 * 4 (add it to 20 for the header length). The caller ensures room for 12
 * bytes.
 */
export function writeTcpSynOptions(
  buf: Uint8Array,
  off: number,
  options: { mss: number; wscale?: number; sackPermitted?: boolean },
): number {
  let i = off;
  buf[i++] = TCPOPT_MSS;
  buf[i++] = 4;
  buf[i++] = (options.mss >>> 8) & 0xff;
  buf[i++] = options.mss & 0xff;
  if (options.sackPermitted) {
    buf[i++] = TCPOPT_NOP;
    buf[i++] = TCPOPT_NOP;
    buf[i++] = TCPOPT_SACK_PERMITTED;
    buf[i++] = 2;
  }
  if (options.wscale !== undefined) {
    buf[i++] = TCPOPT_NOP;
    buf[i++] = TCPOPT_WINDOW;
    buf[i++] = 3;
    buf[i++] = Math.min(options.wscale, TCP_MAX_WSCALE);
  }
  return i - off;
}
