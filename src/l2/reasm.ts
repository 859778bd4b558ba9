/**
 * IPv4 and IPv6 fragment reassembly for datagrams the guest sends.
 *
 * Theory of operation: a guest that sends a UDP datagram (or an ICMP echo)
 * larger than its link MTU fragments it — 65507 bytes of UDP payload is a
 * 65535-byte IPv4 packet, above pasta's MTU of 65520. Host sockets take whole
 * datagrams, so fragments are put back together here before the protocol
 * handlers see them. TCP never needs this (it segments to the MSS).
 *
 * A reassembly is keyed by (source, destination, protocol, identification);
 * each collects its fragments' payload into one 64 KiB buffer and a list of
 * the byte ranges received. When the last fragment (no "more fragments" flag)
 * has been seen and the ranges cover [0, total), the datagram is rebuilt as a
 * frame with the first fragment's Ethernet and IP headers (fragment fields
 * cleared, lengths and IPv4 header checksum fixed) and handed back.
 * Overlapping fragments (RFC 5722) or a datagram past 65535 bytes (for IPv4,
 * header included) discard the reassembly. At most MAX_REASSEMBLIES are in
 * progress; a new one past that, or one older than REASM_TIMEOUT_MS, evicts
 * the oldest. Nothing here throws on bad input: it returns undefined and the
 * caller traces the drop.
 */

/** Most reassemblies in progress at once. */
export const MAX_REASSEMBLIES = 64;
/** Fragments of a datagram must all arrive within this time (RFC 791 suggests 15 s up to a minute). */
export const REASM_TIMEOUT_MS = 30_000;

const ETH_HLEN = 14;
const MAX_DATAGRAM = 65535;

interface Reassembly {
  key: string;
  started: number;
  /** Ethernet + IP header of the first fragment (offset 0), once seen. */
  head: Buffer | null;
  /** Next-header value for IPv6 (from the fragment header). */
  nextHeader: number;
  data: Buffer;
  ranges: Array<[number, number]>;
  /** Payload length, known once the last fragment arrived (-1 before). */
  total: number;
}

/** A reassembled datagram as a frame: Ethernet header at 0, IP header at 14. */
export interface Reassembled {
  frame: Buffer;
  /** Offset and length of the layer-4 part within `frame`. */
  l4Off: number;
  l4Len: number;
  protocol: number;
}

export class Reassembler {
  private readonly pending = new Map<string, Reassembly>();
  /** Datagrams completed, and reassemblies given up (overlap, timeout, eviction). */
  completed = 0;
  discarded = 0;

  /**
   * An IPv4 fragment: `buf[off]` is the Ethernet frame, the IPv4 header (with
   * `ihl` bytes) at off + 14, `total` the IP total length. Returns the whole
   * datagram when this fragment completes it.
   */
  ipv4(buf: Buffer, off: number, ihl: number, total: number, now: number): Reassembled | undefined {
    const ip = off + ETH_HLEN;
    const fragField = buf.readUInt16BE(ip + 6);
    const more = (fragField & 0x2000) !== 0;
    const start = (fragField & 0x1fff) * 8;
    const len = total - ihl;
    if (len <= 0 || (more && len % 8 !== 0)) return this.reject();
    const key = `4:${buf.toString('latin1', ip + 12, ip + 20)}:${buf[ip + 9]}:${buf.readUInt16BE(ip + 4)}`;
    const r = this.entry(key, now);
    if (!r) return undefined;
    if (!this.add(r, buf, ip + ihl, start, len, more)) return undefined;
    if (start === 0) r.head = Buffer.from(buf.subarray(off, ip + ihl));
    if (!this.done(r)) return undefined;
    const head = r.head!;
    // The payload fits in 65535 bytes, but with the header it may not: no IPv4 packet can carry it.
    if (head.length - ETH_HLEN + r.total > MAX_DATAGRAM) {
      this.drop(r);
      return undefined;
    }
    const frame = Buffer.allocUnsafe(head.length + r.total);
    head.copy(frame, 0);
    r.data.copy(frame, head.length, 0, r.total);
    frame.writeUInt16BE(head.length - ETH_HLEN + r.total, ETH_HLEN + 2);
    frame.writeUInt16BE(0, ETH_HLEN + 6);
    frame.writeUInt16BE(0, ETH_HLEN + 10);
    let sum = 0;
    for (let i = ETH_HLEN; i < head.length; i += 2) sum += frame.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    frame.writeUInt16BE(~sum & 0xffff, ETH_HLEN + 10);
    this.finish(r);
    return { frame, l4Off: head.length, l4Len: r.total, protocol: frame[ETH_HLEN + 9] };
  }

  /**
   * An IPv6 fragment whose fragment header (8 bytes at `fragOff`) directly
   * follows the IPv6 header; `end` is the end of the IPv6 payload. Returns
   * the whole datagram when this fragment completes it.
   */
  ipv6(buf: Buffer, off: number, fragOff: number, end: number, now: number): Reassembled | undefined {
    const ip = off + ETH_HLEN;
    if (fragOff !== ip + 40 || fragOff + 8 > end) return this.reject();
    const nextHeader = buf[fragOff];
    const field = buf.readUInt16BE(fragOff + 2);
    const start = field & 0xfff8;
    const more = (field & 1) !== 0;
    const len = end - (fragOff + 8);
    if (len <= 0 || (more && len % 8 !== 0)) return this.reject();
    const key = `6:${buf.toString('latin1', ip + 8, ip + 40)}:${buf.readUInt32BE(fragOff + 4)}`;
    const r = this.entry(key, now);
    if (!r) return undefined;
    if (r.ranges.length && r.nextHeader !== nextHeader) {
      this.drop(r);
      return undefined;
    }
    r.nextHeader = nextHeader;
    if (!this.add(r, buf, fragOff + 8, start, len, more)) return undefined;
    if (start === 0) r.head = Buffer.from(buf.subarray(off, ip + 40));
    if (!this.done(r)) return undefined;
    const head = r.head!;
    if (r.total > MAX_DATAGRAM) {
      this.drop(r);
      return undefined;
    }
    const frame = Buffer.allocUnsafe(head.length + r.total);
    head.copy(frame, 0);
    r.data.copy(frame, head.length, 0, r.total);
    frame.writeUInt16BE(r.total, ETH_HLEN + 4);
    frame[ETH_HLEN + 6] = r.nextHeader;
    this.finish(r);
    return { frame, l4Off: head.length, l4Len: r.total, protocol: r.nextHeader };
  }

  /** Give up on reassemblies older than the timeout (the engine calls this on its tick). */
  expire(now: number): void {
    for (const r of this.pending.values()) {
      if (now - r.started > REASM_TIMEOUT_MS) this.drop(r);
    }
  }

  /** Reassemblies in progress. */
  get count(): number {
    return this.pending.size;
  }

  private entry(key: string, now: number): Reassembly | undefined {
    let r = this.pending.get(key);
    if (r && now - r.started > REASM_TIMEOUT_MS) {
      this.drop(r);
      r = undefined;
    }
    if (r) return r;
    if (this.pending.size >= MAX_REASSEMBLIES) {
      // Map iteration order is insertion order: the first is the oldest.
      const oldest = this.pending.values().next().value as Reassembly;
      this.drop(oldest);
    }
    r = { key, started: now, head: null, nextHeader: -1, data: Buffer.alloc(MAX_DATAGRAM), ranges: [], total: -1 };
    this.pending.set(key, r);
    return r;
  }

  /** Record a fragment's payload; false (and the reassembly dropped) on overlap or overflow. */
  private add(r: Reassembly, buf: Buffer, from: number, start: number, len: number, more: boolean): boolean {
    const stop = start + len;
    if (stop > MAX_DATAGRAM || (r.total >= 0 && stop > r.total) || (!more && r.total >= 0)) {
      this.drop(r);
      return false;
    }
    for (const [a, b] of r.ranges) {
      if (start < b && a < stop) {
        this.drop(r);
        return false;
      }
    }
    if (!more) {
      for (const [, b] of r.ranges) {
        if (b > stop) {
          this.drop(r);
          return false;
        }
      }
      r.total = stop;
    }
    buf.copy(r.data, start, from, from + len);
    r.ranges.push([start, stop]);
    return true;
  }

  private done(r: Reassembly): boolean {
    if (r.total < 0 || !r.head) return false;
    let covered = 0;
    for (const [a, b] of r.ranges) covered += b - a;
    return covered === r.total;
  }

  private finish(r: Reassembly): void {
    this.pending.delete(r.key);
    this.completed++;
  }

  private drop(r: Reassembly): void {
    this.pending.delete(r.key);
    this.discarded++;
  }

  private reject(): undefined {
    this.discarded++;
    return undefined;
  }
}
