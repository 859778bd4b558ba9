/**
 * The numbers of the link and network layers, defined once: Ethernet types
 * and IP protocol numbers (IANA). Every module takes them from here (or
 * through ethernet.ts and ipv4.ts, which re-export them).
 */

/** Ethertype of IPv4. */
export const ETH_P_IP = 0x0800;
/** Ethertype of ARP. */
export const ETH_P_ARP = 0x0806;
/** Ethertype of IPv6. */
export const ETH_P_IPV6 = 0x86dd;

/** Protocol number of ICMP. */
export const IPPROTO_ICMP = 1;
/** Protocol number of TCP. */
export const IPPROTO_TCP = 6;
/** Protocol number of UDP. */
export const IPPROTO_UDP = 17;
/** Protocol (next header) number of ICMPv6. */
export const IPPROTO_ICMPV6 = 58;
