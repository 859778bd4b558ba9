/**
 * What the link-layer responders know about the one link between us and the
 * guest (the pasta namespace's tap device or the passt VM's NIC).
 *
 * Theory of operation: passt/pasta presents itself to the guest as a single
 * neighbour with one MAC address, OUR_MAC, that answers for every address
 * except the guest's own: ARP and NDP requests for anything else resolve to
 * OUR_MAC, and all traffic leaves the guest towards us. `LinkState` is the
 * small mutable record the responders read: our MAC and link-local address,
 * and what is known of the guest (its MAC, learned by the caller from the
 * source address of the frames it sends, and its configured addresses).
 */
import { MAC_BROADCAST } from './ethernet.js';

/** Our MAC address as passt(1) uses it by default: 9a:55:9a:55:9a:55. */
export const OUR_MAC: Uint8Array = Uint8Array.of(0x9a, 0x55, 0x9a, 0x55, 0x9a, 0x55);

/** State of the link shared by the ARP and NDP responders. */
export interface LinkState {
  /** Our MAC address: the source of every frame we send to the guest. */
  ourMac: Uint8Array;
  /** The guest's MAC address, learned from its frames (broadcast until then). */
  guestMac: Uint8Array;
  /** The guest's IPv4 address, or null when IPv4 is not configured. */
  guestAddr4: Uint8Array | null;
  /** The guest's global IPv6 address, or null when unknown. */
  guestAddr6: Uint8Array | null;
  /** The guest's link-local IPv6 address, or null when unknown. */
  guestLinkLocal6: Uint8Array | null;
  /** Our link-local IPv6 address (fe80::/64, EUI-64 from ourMac by default). */
  ourLinkLocal6: Uint8Array;
}

/**
 * The modified EUI-64 link-local address (RFC 4291 appendix A) of `mac`:
 * fe80:: followed by the MAC with the universal/local bit inverted and
 * ff:fe inserted in the middle. For OUR_MAC: fe80::9855:9aff:fe55:9a55.
 */
export function linkLocalFromMac(mac: Uint8Array): Uint8Array {
  return Uint8Array.of(
    0xfe, 0x80, 0, 0, 0, 0, 0, 0,
    mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5],
  );
}

/**
 * A `LinkState` with defaults: ourMac OUR_MAC, guestMac broadcast, no guest
 * addresses, ourLinkLocal6 derived from ourMac. `init` overrides any field.
 * Byte arrays are copied, so the caller's arrays are never aliased.
 */
export function createLinkState(init: Partial<LinkState> = {}): LinkState {
  const ourMac = Uint8Array.from(init.ourMac ?? OUR_MAC);
  const copy = (a: Uint8Array | null | undefined): Uint8Array | null => (a ? Uint8Array.from(a) : null);
  return {
    ourMac,
    guestMac: Uint8Array.from(init.guestMac ?? MAC_BROADCAST),
    guestAddr4: copy(init.guestAddr4),
    guestAddr6: copy(init.guestAddr6),
    guestLinkLocal6: copy(init.guestLinkLocal6),
    ourLinkLocal6: Uint8Array.from(init.ourLinkLocal6 ?? linkLocalFromMac(ourMac)),
  };
}
