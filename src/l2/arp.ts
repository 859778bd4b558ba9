/**
 * ARP packet view, for Ethernet hardware and IPv4 protocol addresses only.
 *
 * Theory of operation: a zero-copy view at `buf[off]`, the byte after the
 * Ethernet header. ARP could carry other address families; nothing on a
 * passt/pasta link does, so `checked()` accepts only hardware type 1
 * (Ethernet), protocol type 0x0800 (IPv4), hardware length 6 and protocol
 * length 4, which fixes every field offset. Address getters alias the buffer;
 * setters copy into it.
 */
import { ETH_P_IP, spanFits } from './ethernet.js';

/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = 28;
/** Hardware type: Ethernet. */
export const ARPHRD_ETHER = 1;
/** Operation: request. */
export const ARPOP_REQUEST = 1;
/** Operation: reply. */
export const ARPOP_REPLY = 2;

/** View of an Ethernet/IPv4 ARP packet at `buf[off]`. */
export class ArpView {
  constructor(
    public readonly buf: Buffer,
    public readonly off: number,
  ) {}

  /**
   * A view if `len` bytes at `off` hold an Ethernet/IPv4 ARP packet, else
   * undefined (short, or another hardware or protocol type).
   */
  static checked(buf: Buffer, off: number, len: number): ArpView | undefined {
    if (!spanFits(buf, off, len, ARP_LEN)) return undefined;
    if (
      buf.readUInt16BE(off) !== ARPHRD_ETHER ||
      buf.readUInt16BE(off + 2) !== ETH_P_IP ||
      buf[off + 4] !== 6 ||
      buf[off + 5] !== 4
    ) {
      return undefined;
    }
    return new ArpView(buf, off);
  }

  /** Write the fixed prefix: Ethernet hardware, IPv4 protocol, lengths 6 and 4. */
  initEthernetIpv4(): void {
    this.buf.writeUInt16BE(ARPHRD_ETHER, this.off);
    this.buf.writeUInt16BE(ETH_P_IP, this.off + 2);
    this.buf[this.off + 4] = 6;
    this.buf[this.off + 5] = 4;
  }

  get hardwareType(): number {
    return this.buf.readUInt16BE(this.off);
  }
  get protocolType(): number {
    return this.buf.readUInt16BE(this.off + 2);
  }
  get hardwareLength(): number {
    return this.buf[this.off + 4];
  }
  get protocolLength(): number {
    return this.buf[this.off + 5];
  }

  /** Operation: ARPOP_REQUEST or ARPOP_REPLY. */
  get op(): number {
    return this.buf.readUInt16BE(this.off + 6);
  }
  set op(value: number) {
    this.buf.writeUInt16BE(value, this.off + 6);
  }

  /** Sender hardware address. */
  get sha(): Buffer {
    return this.buf.subarray(this.off + 8, this.off + 14);
  }
  set sha(mac: Uint8Array) {
    this.buf.set(mac.subarray(0, 6), this.off + 8);
  }

  /** Sender protocol (IPv4) address. */
  get spa(): Buffer {
    return this.buf.subarray(this.off + 14, this.off + 18);
  }
  set spa(addr: Uint8Array) {
    this.buf.set(addr.subarray(0, 4), this.off + 14);
  }

  /** Target hardware address. */
  get tha(): Buffer {
    return this.buf.subarray(this.off + 18, this.off + 24);
  }
  set tha(mac: Uint8Array) {
    this.buf.set(mac.subarray(0, 6), this.off + 18);
  }

  /** Target protocol (IPv4) address. */
  get tpa(): Buffer {
    return this.buf.subarray(this.off + 24, this.off + 28);
  }
  set tpa(addr: Uint8Array) {
    this.buf.set(addr.subarray(0, 4), this.off + 24);
  }

  /** Sender protocol address as an unsigned 32-bit number. */
  get spa32(): number {
    return this.buf.readUInt32BE(this.off + 14);
  }
  /** Target protocol address as an unsigned 32-bit number. */
  get tpa32(): number {
    return this.buf.readUInt32BE(this.off + 24);
  }
}
