/**
 * The ARP and NDP responders on literal frames: the exact reply bytes for
 * real requests, the cases that must stay unanswered (announcements, the
 * guest's own addresses, DAD probes), and malformed or truncated input that
 * must return 0 without throwing.
 */
import { describe, expect, it } from 'vitest';
import { ARP_FRAME_LEN, arpTapHandler } from '../../src/l2/arp-proxy.js';
import { formatIpv6 } from '../../src/l2/ipv6.js';
import { createLinkState, linkLocalFromMac, OUR_MAC, type LinkState } from '../../src/l2/link.js';
import { NA_FRAME_LEN, ndpTapHandler, parseNdpOptions } from '../../src/ndp/ndp.js';
import {
  ARP_REPLY,
  ARP_REQUEST,
  DAD_NS,
  GUEST_MAC,
  hex,
  NA,
  NS,
  OUR_MAC_BYTES,
  pseudo6,
  referenceChecksum,
  SYN4,
  SYN6,
} from './wire-frames.js';

const GUEST4 = hex('c6336402'); // 198.51.100.2
const GUEST6 = hex('20010db8000000000000000000000002'); // 2001:db8::2
const GUEST_LL6 = hex('fe800000000000005c8a3cfffe112233'); // fe80::5c8a:3cff:fe11:2233

function link(overrides: Partial<LinkState> = {}): LinkState {
  return createLinkState({ guestMac: GUEST_MAC, guestAddr4: GUEST4, guestAddr6: GUEST6, guestLinkLocal6: GUEST_LL6, ...overrides });
}

/** Recompute the ICMPv6 checksum of an Ethernet/IPv6/ICMPv6 frame with the reference routine. */
function refreshIcmp6Checksum(frame: Buffer): Buffer {
  const l4Len = frame.readUInt16BE(18);
  frame.writeUInt16BE(0, 56);
  const sum = referenceChecksum(pseudo6(frame.subarray(22, 38), frame.subarray(38, 54), 58, l4Len), frame.subarray(54, 54 + l4Len));
  frame.writeUInt16BE(sum, 56);
  return frame;
}

/** Apply `patch` to a copy of `frame`. */
function patched(frame: Buffer, patch: (b: Buffer) => void): Buffer {
  const b = Buffer.from(frame);
  patch(b);
  return b;
}

describe('link state', () => {
  it('defaults to passt\'s MAC and its EUI-64 link-local address', () => {
    expect([...OUR_MAC]).toEqual([...OUR_MAC_BYTES]);
    const state = createLinkState();
    expect([...state.ourMac]).toEqual([...OUR_MAC_BYTES]);
    expect([...state.guestMac]).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(state.guestAddr4).toBeNull();
    expect(formatIpv6(state.ourLinkLocal6)).toBe('fe80::9855:9aff:fe55:9a55');
    expect(formatIpv6(linkLocalFromMac(GUEST_MAC))).toBe('fe80::5c8a:3cff:fe11:2233');
    expect([...linkLocalFromMac(GUEST_MAC)]).toEqual([...GUEST_LL6]);
  });

  it('copies the arrays it is given', () => {
    const mac = Uint8Array.from(GUEST_MAC);
    const state = createLinkState({ guestMac: mac });
    mac[0] = 0;
    expect(state.guestMac[0]).toBe(0x5e);
  });
});

describe('arpTapHandler', () => {
  it('answers a request for the gateway with our MAC, byte for byte', () => {
    const out = Buffer.alloc(64, 0xee);
    expect(arpTapHandler(link(), ARP_REQUEST, 0, ARP_REQUEST.length, out, 3)).toBe(ARP_FRAME_LEN);
    expect(out.subarray(3, 3 + 42).toString('hex')).toBe(ARP_REPLY.toString('hex'));
    expect(out[2]).toBe(0xee);
    expect(out[45]).toBe(0xee);
  });

  it('answers for any address but the guest\'s (proxy ARP), and with a custom MAC', () => {
    const request = patched(ARP_REQUEST, (b) => b.set(hex('cb00710a'), 38)); // 203.0.113.10
    const mac = hex('020000000001');
    const out = Buffer.alloc(42);
    expect(arpTapHandler(link({ ourMac: mac }), request, 0, request.length, out, 0)).toBe(42);
    expect(out.subarray(6, 12).toString('hex')).toBe('020000000001'); // eth src
    expect(out.subarray(22, 28).toString('hex')).toBe('020000000001'); // sha
    expect(out.subarray(28, 32).toString('hex')).toBe('cb00710a'); // spa = asked-for address
  });

  it('accepts Ethernet padding (60-byte frames) and frames at an offset', () => {
    const padded = Buffer.concat([Buffer.alloc(5), ARP_REQUEST, Buffer.alloc(18)]);
    const out = Buffer.alloc(42);
    expect(arpTapHandler(link(), padded, 5, 60, out, 0)).toBe(42);
    expect(out.equals(ARP_REPLY)).toBe(true);
  });

  it('answers in place', () => {
    const frame = Buffer.from(ARP_REQUEST);
    expect(arpTapHandler(link(), frame, 0, frame.length, frame, 0)).toBe(42);
    expect(frame.equals(ARP_REPLY)).toBe(true);
  });

  it('ignores the guest asking for its own address, including RFC 5227 probes', () => {
    const out = Buffer.alloc(42);
    const forSelf = patched(ARP_REQUEST, (b) => b.set(GUEST4, 38));
    expect(arpTapHandler(link(), forSelf, 0, 42, out, 0)).toBe(0);
    const probe = patched(forSelf, (b) => b.fill(0, 28, 32)); // sender 0.0.0.0
    expect(arpTapHandler(link(), probe, 0, 42, out, 0)).toBe(0);
    // With no guest address known, a probe for some other address is answered.
    const probeOther = patched(ARP_REQUEST, (b) => b.fill(0, 28, 32));
    expect(arpTapHandler(link({ guestAddr4: null }), probeOther, 0, 42, out, 0)).toBe(42);
    expect(out.subarray(38, 42).toString('hex')).toBe('00000000'); // tpa = requester's 0.0.0.0
    expect(out.subarray(28, 32).toString('hex')).toBe('c6336401');
  });

  it('ignores gratuitous announcements', () => {
    const out = Buffer.alloc(42);
    const announcement = patched(ARP_REQUEST, (b) => {
      b.set(hex('c6336405'), 28);
      b.set(hex('c6336405'), 38);
    });
    expect(announcement.subarray(28, 32).equals(announcement.subarray(38, 42))).toBe(true);
    expect(arpTapHandler(link(), announcement, 0, 42, out, 0)).toBe(0);
    expect(out.every((x) => x === 0)).toBe(true);
  });

  it('ignores replies, other ethertypes and non-Ethernet/IPv4 ARP', () => {
    const out = Buffer.alloc(42);
    const cases: Array<(b: Buffer) => void> = [
      (b) => (b[21] = 2), // op reply
      (b) => (b[21] = 3), // RARP request
      (b) => (b[13] = 0x00), // ethertype 0x0800
      (b) => (b[15] = 6), // hardware type 6 (IEEE 802)
      (b) => (b[16] = 0x86), // protocol type
      (b) => (b[18] = 8), // hardware length
      (b) => (b[19] = 16), // protocol length
    ];
    for (const patch of cases) expect(arpTapHandler(link(), patched(ARP_REQUEST, patch), 0, 42, out, 0)).toBe(0);
    expect(arpTapHandler(link(), SYN4, 0, SYN4.length, out, 0)).toBe(0);
  });

  it('returns 0 for every truncation and when the output has no room', () => {
    const out = Buffer.alloc(42);
    for (let len = 0; len < ARP_REQUEST.length; len++) {
      const copy = Buffer.from(ARP_REQUEST.subarray(0, len));
      expect(arpTapHandler(link(), copy, 0, len, out, 0)).toBe(0);
    }
    expect(arpTapHandler(link(), ARP_REQUEST, 0, 43, out, 0)).toBe(0); // len beyond buffer
    expect(arpTapHandler(link(), ARP_REQUEST, 0, 42, Buffer.alloc(41), 0)).toBe(0);
    expect(arpTapHandler(link(), ARP_REQUEST, 0, 42, Buffer.alloc(50), 9)).toBe(0);
    expect(arpTapHandler(link(), ARP_REQUEST, 0, 42, Buffer.alloc(50), -1)).toBe(0);
  });
});

describe('ndpTapHandler', () => {
  it('answers a solicitation for the gateway with an advertisement, byte for byte', () => {
    const out = Buffer.alloc(100, 0xee);
    expect(ndpTapHandler(link(), NS, 0, NS.length, out, 7)).toBe(NA_FRAME_LEN);
    expect(NA_FRAME_LEN).toBe(86);
    expect(out.subarray(7, 7 + 86).toString('hex')).toBe(NA.toString('hex'));
    expect(out[6]).toBe(0xee);
    expect(out[93]).toBe(0xee);
    // The checksum written, 0x3d73, checked by the reference routine.
    expect(out.readUInt16BE(7 + 56)).toBe(0x3d73);
    expect(referenceChecksum(pseudo6(NA.subarray(22, 38), NA.subarray(38, 54), 58, 32), NA.subarray(54))).toBe(0);
  });

  it('sends to the frame\'s source MAC when there is no link-layer option', () => {
    const noOption = refreshIcmp6Checksum(
      patched(NS.subarray(0, 78), (b) => {
        b.writeUInt16BE(24, 18);
        b.set(hex('020000000099'), 6); // a different Ethernet source
      }),
    );
    const out = Buffer.alloc(86);
    expect(ndpTapHandler(link(), noOption, 0, noOption.length, out, 0)).toBe(86);
    expect(out.subarray(0, 6).toString('hex')).toBe('020000000099');
    expect(out.subarray(6).equals(NA.subarray(6))).toBe(true);
  });

  it('prefers the source link-layer option over the frame source', () => {
    const otherSource = patched(NS, (b) => b.set(hex('020000000099'), 6)); // not covered by the checksum
    const out = Buffer.alloc(86);
    expect(ndpTapHandler(link(), otherSource, 0, otherSource.length, out, 0)).toBe(86);
    expect(out.equals(NA)).toBe(true);
  });

  it('answers for our link-local address and for remote addresses, from the target', () => {
    const ours = createLinkState().ourLinkLocal6;
    for (const target of [ours, hex('20010db8000100000000000000000010')]) {
      const ns = refreshIcmp6Checksum(patched(NS, (b) => b.set(target, 62)));
      const out = Buffer.alloc(86);
      expect(ndpTapHandler(link(), ns, 0, ns.length, out, 0)).toBe(86);
      expect(out.subarray(22, 38).equals(Buffer.from(target))).toBe(true); // IPv6 source
      expect(out.subarray(62, 78).equals(Buffer.from(target))).toBe(true); // NA target
      expect(referenceChecksum(pseudo6(out.subarray(22, 38), out.subarray(38, 54), 58, 32), out.subarray(54))).toBe(0);
    }
  });

  it('answers in place', () => {
    const frame = Buffer.from(NS);
    expect(ndpTapHandler(link(), frame, 0, frame.length, frame, 0)).toBe(86);
    expect(frame.equals(NA)).toBe(true);
  });

  it('leaves duplicate address detection probes unanswered', () => {
    const out = Buffer.alloc(86);
    expect(ndpTapHandler(link(), DAD_NS, 0, DAD_NS.length, out, 0)).toBe(0);
    // Even when the tentative address is not one we know as the guest's.
    expect(ndpTapHandler(link({ guestAddr6: null }), DAD_NS, 0, DAD_NS.length, out, 0)).toBe(0);
    expect(out.every((x) => x === 0)).toBe(true);
  });

  it('does not answer for the guest\'s own addresses', () => {
    const out = Buffer.alloc(86);
    for (const target of [GUEST6, GUEST_LL6]) {
      const ns = refreshIcmp6Checksum(patched(NS, (b) => b.set(target, 62)));
      expect(ndpTapHandler(link(), ns, 0, ns.length, out, 0)).toBe(0);
    }
    // Unknown guest addresses: answered.
    const ns = refreshIcmp6Checksum(patched(NS, (b) => b.set(GUEST6, 62)));
    expect(ndpTapHandler(link({ guestAddr6: null }), ns, 0, ns.length, out, 0)).toBe(86);
  });

  it('drops solicitations that fail validation', () => {
    const out = Buffer.alloc(86);
    const drop = (frame: Buffer, why: string): void => {
      expect(ndpTapHandler(link(), frame, 0, frame.length, out, 0), why).toBe(0);
    };
    drop(patched(NS, (b) => (b[21] = 254)), 'hop limit 254'); // not in the ICMPv6 checksum
    drop(patched(NS, (b) => (b[56] ^= 1)), 'bad checksum');
    drop(refreshIcmp6Checksum(patched(NS, (b) => (b[55] = 1))), 'code 1');
    drop(
      refreshIcmp6Checksum(patched(NS.subarray(0, 74), (b) => b.writeUInt16BE(20, 18))),
      'ICMPv6 body shorter than 24 bytes',
    );
    drop(refreshIcmp6Checksum(patched(NS, (b) => (b[79] = 0))), 'option length 0');
    drop(refreshIcmp6Checksum(patched(NS, (b) => (b[79] = 2))), 'option past the end');
    drop(refreshIcmp6Checksum(patched(NS, (b) => b.set(hex('ff020000000000000000000000000001'), 62))), 'multicast target');
    drop(refreshIcmp6Checksum(patched(NS, (b) => b.set(hex('ff020000000000000000000000000001'), 22))), 'multicast source');
    drop(patched(NS, (b) => (b[20] = 17)), 'not ICMPv6');
    drop(refreshIcmp6Checksum(patched(NS, (b) => (b[54] = 128))), 'echo request');
    drop(SYN6, 'TCP');
    drop(ARP_REQUEST, 'ARP');
    expect(out.every((x) => x === 0)).toBe(true);
  });

  it('returns 0 for router solicitations (no advertisements yet)', () => {
    const rs = refreshIcmp6Checksum(
      hex(`3333 00000002 5e8a3c112233 86dd 60000000 0010 3a ff
        fe800000000000005c8a3cfffe112233 ff020000000000000000000000000002
        85 00 0000 00000000 0101 5e8a3c112233`),
    );
    expect(ndpTapHandler(link(), rs, 0, rs.length, Buffer.alloc(200), 0)).toBe(0);
  });

  it('finds ICMPv6 after a hop-by-hop header', () => {
    const withHbh = Buffer.concat([NS.subarray(0, 54), hex('3a00 0100 00000000'), NS.subarray(54)]);
    withHbh[20] = 0;
    withHbh.writeUInt16BE(40, 18);
    // Checksum over the ICMPv6 message only (length 32), unchanged by the extension header.
    const out = Buffer.alloc(86);
    expect(ndpTapHandler(link(), withHbh, 0, withHbh.length, out, 0)).toBe(86);
    expect(out.equals(NA)).toBe(true);
  });

  it('returns 0 for every truncation and when the output has no room', () => {
    const out = Buffer.alloc(86);
    for (let len = 0; len < NS.length; len++) {
      const copy = Buffer.from(NS.subarray(0, len));
      expect(ndpTapHandler(link(), copy, 0, len, out, 0)).toBe(0);
    }
    expect(ndpTapHandler(link(), NS, 0, NS.length + 1, out, 0)).toBe(0);
    expect(ndpTapHandler(link(), NS, 0, NS.length, Buffer.alloc(85), 0)).toBe(0);
    expect(ndpTapHandler(link(), NS, 0, NS.length, Buffer.alloc(100), 15)).toBe(0);
  });
});

describe('parseNdpOptions', () => {
  it('reads link-layer and MTU options and skips unknown ones', () => {
    const options = hex('0101 5e8a3c112233 1801 000000000000 0501 0000 000005dc 0201 9a559a559a55');
    const parsed = parseNdpOptions(options, 0, options.length)!;
    expect(parsed.sourceLinkLayer?.toString('hex')).toBe('5e8a3c112233');
    expect(parsed.targetLinkLayer?.toString('hex')).toBe('9a559a559a55');
    expect(parsed.mtu).toBe(1500);
    expect(parseNdpOptions(options, 0, 0)).toEqual({});
  });

  it('rejects zero-length, overrunning and cut options', () => {
    expect(parseNdpOptions(hex('0100 5e8a3c112233'), 0, 8)).toBeUndefined();
    expect(parseNdpOptions(hex('0102 5e8a3c112233'), 0, 8)).toBeUndefined();
    expect(parseNdpOptions(hex('0101 5e8a3c112233 01'), 0, 9)).toBeUndefined();
  });
});
