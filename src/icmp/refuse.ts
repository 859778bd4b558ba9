/**
 * Telling the guest a datagram was refused: an ICMP "communication
 * administratively prohibited" (type 3 code 13, RFC 1812 5.2.7.1) or ICMPv6
 * "communication with destination administratively prohibited" (type 1
 * code 1, RFC 4443 3.1) about a packet it sent, from the address it sent
 * the packet to.
 *
 * Theory of operation: what the flow table (flow.ts) answers when it is full
 * and a host socket cannot be had (EMFILE, ENFILE, ENOBUFS) for a new UDP
 * flow or ICMP echo flow, so that the guest's socket fails at once
 * (EACCES/EHOSTUNREACH) instead of waiting for a timeout. The message quotes
 * the guest's IP packet from its header on, within the 576 (IPv4) or 1280
 * (IPv6) bytes hosts keep their errors to. Never sent about an ICMP error,
 * a non-first fragment, or a packet to a multicast or broadcast address.
 */
import type { TapOut } from '../l2/tapio.js';
import { l4Checksum4, l4Checksum6 } from '../l2/checksum.js';
import { ETH_HLEN, ETH_P_IP, ETH_P_IPV6 } from '../l2/ethernet.js';
import { pushEthernet, pushIpv4, pushIpv6 } from '../l2/emit.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6 } from '../l2/numbers.js';

const ICMP4_ERROR_MAX = 576;
const ICMP6_ERROR_MAX = 1280;

/**
 * Queue to `out` the "administratively prohibited" error about the guest's
 * packet of `family` whose IP header is at buf[ipOff] and that is `ipLen`
 * bytes long (header included). Returns whether one was sent.
 */
export function refuseToGuest(out: TapOut, ourMac: Uint8Array, guestMac: Uint8Array, family: 4 | 6, buf: Uint8Array, ipOff: number, ipLen: number): boolean {
  const v4 = family === 4;
  const hdr = v4 ? 20 : 40;
  if (ipLen < hdr) return false;
  const srcOff = ipOff + (v4 ? 12 : 8);
  const dstOff = srcOff + (v4 ? 4 : 16);
  const d0 = buf[dstOff];
  if (v4 ? d0 >= 224 || d0 === 0 : d0 === 0xff) return false;
  if (v4 && ((buf[ipOff + 6] & 0x1f) | buf[ipOff + 7]) !== 0) return false; // a later fragment
  const ihl = v4 ? (buf[ipOff] & 0x0f) * 4 : 40;
  const proto = v4 ? buf[ipOff + 9] : buf[ipOff + 6];
  // Never an error about an error (RFC 1122 3.2.2, RFC 4443 2.4 e).
  if (proto === (v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6) && ipLen > ihl) {
    const type = buf[ipOff + ihl];
    if (v4 ? type !== 0 && type !== 8 && type !== 13 && type !== 14 : type < 128) return false;
  }
  const quote = Math.min(ipLen, (v4 ? ICMP4_ERROR_MAX : ICMP6_ERROR_MAX) - hdr - 8);
  const icmpLen = 8 + quote;
  const off = out.reserve(ETH_HLEN + hdr + icmpLen);
  const o = out.buf;
  const ip = pushEthernet(o, off, guestMac, ourMac, v4 ? ETH_P_IP : ETH_P_IPV6);
  // From where the guest sent its packet, to the guest.
  const icmp = v4
    ? pushIpv4(o, ip, hdr + icmpLen, IPPROTO_ICMP, buf, dstOff, buf, srcOff)
    : pushIpv6(o, ip, icmpLen, IPPROTO_ICMPV6, buf, dstOff, buf, srcOff);
  o[icmp] = v4 ? 3 : 1;
  o[icmp + 1] = v4 ? 13 : 1;
  o.fill(0, icmp + 2, icmp + 8);
  o.set(buf.subarray(ipOff, ipOff + quote), icmp + 8);
  if (v4) l4Checksum4(o, ip, icmp, icmpLen, 2);
  else l4Checksum6(o, ip, icmp, icmpLen, 2);
  out.commit(off, ETH_HLEN + hdr + icmpLen);
  return true;
}
