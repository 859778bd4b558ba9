/**
 * ARP responder: proxy ARP for every address but the guest's own.
 *
 * Theory of operation (as passt's arp.c): the guest sees a single neighbour,
 * us, so any ARP request for an IPv4 address is answered with our MAC, and
 * the guest then sends everything to us. Exceptions, where no reply goes out:
 * anything but an Ethernet/IPv4 ARP request; a gratuitous ARP announcement
 * (target address equals sender address, and the sender is not 0.0.0.0 as in
 * an RFC 5227 probe), since answering would make the guest believe its
 * address is taken; and requests for the guest's own address (the guest
 * probing for duplicates of itself must find none: this is what keeps an
 * RFC 5227 probe, sender 0.0.0.0, for the guest's address unanswered; with
 * no guestAddr4 configured every request is answered).
 *
 * The reply is written into a caller-provided buffer (a preallocated frame
 * slot), so nothing is allocated per request.
 */
import { ARP_LEN, ARPOP_REPLY, ARPOP_REQUEST, ArpView } from './arp.js';
import { ETH_HLEN, ETH_P_ARP, EthernetView } from './ethernet.js';
import { pushEthernet } from './emit.js';
import type { LinkState } from './link.js';

/** Length of an ARP reply frame (Ethernet header and ARP packet, no padding). */
export const ARP_FRAME_LEN = ETH_HLEN + ARP_LEN;

/** Scratch copy of the requester's MAC, so that replying in place works. */
const requesterMac = new Uint8Array(6);

/** Whether the four bytes at `buf[off]` are 0.0.0.0. */
function isZero4(buf: Uint8Array, off: number): boolean {
  return buf[off] === 0 && buf[off + 1] === 0 && buf[off + 2] === 0 && buf[off + 3] === 0;
}

/** Whether the four bytes at `a[aOff]` and `b[bOff]` are equal. */
function equal4(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  return a[aOff] === b[bOff] && a[aOff + 1] === b[bOff + 1] && a[aOff + 2] === b[bOff + 2] && a[aOff + 3] === b[bOff + 3];
}

/**
 * Handle an ARP frame from the guest: `len` bytes at `frame[off]`, starting
 * with the Ethernet header. When a reply is due, write it (42 bytes) at
 * `out[outOff]` and return its length; otherwise return 0. Malformed frames
 * return 0 and never throw. `out` may be a different buffer or a
 * non-overlapping region of the same one.
 */
export function arpTapHandler(
  link: LinkState,
  frame: Buffer,
  off: number,
  len: number,
  out: Buffer,
  outOff: number,
): number {
  const eth = EthernetView.checked(frame, off, len);
  if (!eth || eth.ethertype !== ETH_P_ARP) return 0;
  const arp = ArpView.checked(frame, off + ETH_HLEN, len - ETH_HLEN);
  if (!arp || arp.op !== ARPOP_REQUEST) return 0;
  if (!(outOff >>> 0 === outOff && outOff + ARP_FRAME_LEN <= out.length)) return 0;

  const a = arp.off;
  const spa = a + 14;
  const tpa = a + 24;
  // Announcements (gratuitous ARP): the guest telling the link its address.
  if (!isZero4(frame, spa) && equal4(frame, spa, frame, tpa)) return 0;
  // The guest asking who else has its own address: nobody does.
  if (link.guestAddr4 && equal4(frame, tpa, link.guestAddr4, 0)) return 0;

  // Fill the reply; read every request field before writing in case the
  // caller answers in place (same buffer, same offset).
  requesterMac.set(arp.sha);
  const requesterAddr = frame.readUInt32BE(spa);
  const targetAddr = frame.readUInt32BE(tpa);

  const reply = new ArpView(out, pushEthernet(out, outOff, requesterMac, link.ourMac, ETH_P_ARP));
  reply.initEthernetIpv4();
  reply.op = ARPOP_REPLY;
  reply.sha = link.ourMac;
  out.writeUInt32BE(targetAddr, reply.off + 14); // spa: the address asked for
  reply.tha = requesterMac;
  out.writeUInt32BE(requesterAddr, reply.off + 24); // tpa: the requester
  return ARP_FRAME_LEN;
}
