/**
 * Ethernet II header view.
 *
 * Theory of operation: a view is a (buffer, offset) pair with getters and
 * setters at fixed field offsets, in the style of smoltcp's `wire` module and
 * gVisor's `header` package: nothing is parsed ahead of time and nothing is
 * copied. Reading a MAC address returns a `subarray` aliasing the frame (copy
 * it if it must outlive the buffer slot); assigning one copies six bytes in.
 *
 * Frames from the guest are untrusted: build their views with `checked()`,
 * which returns `undefined` instead of throwing when the bytes cannot hold the
 * header. Replies are built in preallocated buffers with `new EthernetView()`
 * and the setters. 802.1Q tags are not handled: a tagged frame shows its TPID
 * (0x8100) as the ethertype, which no handler accepts.
 */

/** Length of an Ethernet II header. */
export const ETH_HLEN = 14;
/** Length of a MAC address. */
export const ETH_ALEN = 6;
export { ETH_P_IP, ETH_P_ARP, ETH_P_IPV6 } from './numbers.js';
/** Field offsets of the Ethernet II header. */
export const ETH_OFF_DST = 0;
export const ETH_OFF_SRC = 6;
export const ETH_OFF_TYPE = 12;

/** The broadcast MAC address ff:ff:ff:ff:ff:ff. */
export const MAC_BROADCAST: Uint8Array = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

/**
 * Whether `len` bytes at `off` are a valid span of `buf` at least `minimum`
 * bytes long. Offsets and lengths must be non-negative integers, so a later
 * `buf.readUInt16BE(off + k)` can never throw. Shared by every `checked()`.
 */
export function spanFits(buf: Uint8Array, off: number, len: number, minimum: number): boolean {
  return off >>> 0 === off && len >>> 0 === len && len >= minimum && off + len <= buf.length;
}

/** Format a MAC address as `aa:bb:cc:dd:ee:ff` (for logs and tests). */
export function formatMac(mac: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + (mac[i] ?? 0).toString(16).padStart(2, '0');
  return s;
}

/** View of an Ethernet II header at `buf[off]`. */
export class EthernetView {
  constructor(
    public readonly buf: Buffer,
    public readonly off: number,
  ) {}

  /** A view if `len` bytes at `off` hold an Ethernet header, else undefined. */
  static checked(buf: Buffer, off: number, len: number): EthernetView | undefined {
    if (!spanFits(buf, off, len, ETH_HLEN)) return undefined;
    return new EthernetView(buf, off);
  }

  /** Destination MAC (aliases the buffer). */
  get dst(): Buffer {
    return this.buf.subarray(this.off, this.off + 6);
  }
  set dst(mac: Uint8Array) {
    this.buf.set(mac.subarray(0, 6), this.off);
  }

  /** Source MAC (aliases the buffer). */
  get src(): Buffer {
    return this.buf.subarray(this.off + 6, this.off + 12);
  }
  set src(mac: Uint8Array) {
    this.buf.set(mac.subarray(0, 6), this.off + 6);
  }

  get ethertype(): number {
    return this.buf.readUInt16BE(this.off + 12);
  }
  set ethertype(value: number) {
    this.buf.writeUInt16BE(value, this.off + 12);
  }

  /** Offset in `buf` of the payload (the byte after the header). */
  get payloadOffset(): number {
    return this.off + ETH_HLEN;
  }
}
