/**
 * Address translation, both directions side by side, for TCP, UDP and ICMP
 * alike: passt's fwd_nat_from_tap() and fwd_nat_from_host() (fwd.c).
 *
 * Theory of operation: there is no NAT by default — the guest has the
 * host's addresses and reaches every remote at its own address. Three
 * configured addresses stand for something else:
 *
 * - --map-host-loopback (by default the gateway, unless --no-map-gw): from
 *   the guest it reaches the host's loopback (127.0.0.1 or ::1), and a
 *   connection that comes from the host's loopback shows this address as
 *   its source;
 * - --map-guest-addr: from the guest it reaches the host's own address (the
 *   one the guest also has), and a connection from the host's own address
 *   shows this address as its source;
 * - --dns-forward: DNS (TCP or UDP to port 53 or 853) to it goes to the
 *   host's resolver (--dns-host).
 *
 * From the host, a source the guest could not answer (another loopback
 * address, the unspecified address, the guest's own address) shows as the
 * gateway; a forwarded flow goes to its rule's target address, or to the
 * guest's own address. A loopback connection spliced into pasta's
 * namespace goes to the namespace's own address — not its loopback, unless
 * --host-lo-to-ns-lo — so that a service bound only to the namespace's
 * loopback is not exposed. The table test in test/unit/nat.test.ts pins
 * every rule.
 */
import type { Config } from '../conf.js';
import type { HostTarget } from '../flow.js';
import { PROTO_TCP, PROTO_UDP } from '../flow.js';
import { addressEqual, isLinkLocal6, isLoopback, isUnspecified } from '../inet.js';

export const LOOPBACK4 = Uint8Array.of(127, 0, 0, 1);
export const LOOPBACK6 = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);

/** The loopback address of a family. */
export function loopback(family: 4 | 6): Uint8Array {
  return family === 4 ? LOOPBACK4 : LOOPBACK6;
}

/**
 * Where traffic from the guest to `dst` (`port`, 0 for ICMP) of `proto`
 * goes on the host, and how the host socket is bound: -o's source address
 * and --outbound-if4/6's interface (not for loopback). Null: refused.
 */
export function natFromTap(config: Config, family: 4 | 6, proto: number, dst: Uint8Array, port: number): HostTarget | null {
  const c = config;
  let addr: Uint8Array = dst;
  let scopeId = 0;
  const fwd = family === 4 ? c.dnsForward4 : c.dnsForward6;
  const hostLoopback = family === 4 ? c.mapHostLoopback4 : c.mapHostLoopback6;
  const guestAlias = family === 4 ? c.mapGuestAddr4 : c.mapGuestAddr6;
  const own = family === 4 ? c.ip4?.addr : c.ip6?.addr;
  if (fwd && (port === 53 || port === 853) && (proto === PROTO_UDP || proto === PROTO_TCP) && addressEqual(dst, fwd.addr)) addr = fwd.to;
  else if (hostLoopback && addressEqual(dst, hostLoopback)) addr = loopback(family);
  else if (guestAlias && own && addressEqual(dst, guestAlias)) addr = own;
  else if (family === 6 && isLinkLocal6(dst)) scopeId = c.ip6?.hostIfindex ?? 0;
  const v4 = addr.length === 4;
  return {
    addr,
    port,
    scopeId,
    source: (v4 ? c.outbound4 : c.outbound6) ?? null,
    ifname: isLoopback(addr) ? null : (v4 ? c.outboundIf4 : c.outboundIf6) ?? null,
  };
}

/**
 * Where a connection or datagram forwarded from the host (-t, -u) from
 * `peer` goes in the guest or namespace: to the rule's target address if it
 * has one, else the guest's own address of the family; and the source the
 * guest sees (`remote`). Null: it cannot be forwarded.
 */
export function natFromHost(config: Config, peer: Uint8Array, targetAddr: Uint8Array | null): { remote: Uint8Array; dest: Uint8Array } | null {
  const family: 4 | 6 = peer.length === 4 ? 4 : 6;
  const ip = family === 4 ? config.ip4 : config.ip6;
  if (!ip) return null;
  const dest = targetAddr ?? ip.addr;
  let remote: Uint8Array | null = peer;
  const mapHost = family === 4 ? config.mapHostLoopback4 : config.mapHostLoopback6;
  const mapGuest = family === 4 ? config.mapGuestAddr4 : config.mapGuestAddr6;
  // 127.0.0.1 and ::1 stand for the host (not 127.0.0.2: the guest could not tell them apart).
  if (addressEqual(peer, loopback(family)) && mapHost) remote = mapHost;
  else if (mapGuest && addressEqual(peer, ip.addr)) remote = mapGuest;
  else if (isLoopback(peer) || isUnspecified(peer) || addressEqual(peer, ip.addr)) remote = ip.gateway;
  return remote ? { remote, dest } : null;
}

/**
 * Where a loopback connection or datagram forwarded into pasta's namespace
 * is spliced to: the namespace's own address, or, with --host-lo-to-ns-lo,
 * the loopback address it came to on the host (`local`, when known and
 * loopback; else the family's loopback). Before the namespace has an
 * address (local mode, IPv6 learned later), its loopback.
 */
export function spliceDestination(config: Config, family: 4 | 6, local: Uint8Array | null): Uint8Array {
  if (config.hostLoToNsLo) return local && isLoopback(local) && local.length === (family === 4 ? 4 : 16) ? local : loopback(family);
  const ip = family === 4 ? config.ip4 : config.ip6;
  return ip && !isUnspecified(ip.addr) ? ip.addr : loopback(family);
}
