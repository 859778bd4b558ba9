/**
 * Fuzz targets for the wire-format parsers of src/l2/: Ethernet, ARP (and
 * the proxy ARP responder), IPv4, IPv6 with extension headers, TCP with
 * options, UDP, ICMP. Every parser gets inputs placed inside a larger
 * buffer, twice with different bytes around them: it must never throw and
 * must give the same answer both times (it reads nothing outside its
 * span), and what it accepts must satisfy the invariants its callers rely
 * on. Where an emitter exists, parse(emit(x)) gives x back.
 */
import assert from 'node:assert/strict';
import { describe, expect } from 'vitest';
import fc from 'fast-check';
import { EthernetView, spanFits } from '../../src/l2/ethernet.js';
import { ArpView } from '../../src/l2/arp.js';
import { arpTapHandler, ARP_FRAME_LEN } from '../../src/l2/arp-proxy.js';
import { createLinkState } from '../../src/l2/link.js';
import { Ipv4View, ipv4HeaderLength, ipv4IsFragment } from '../../src/l2/ipv4.js';
import { ipv6Walk, ipv6L4, ipv6FrameL4, IPV6_MAX_EXT_HEADERS, type Ipv6L4 } from '../../src/l2/ipv6.js';
import { tcpHeaderLength, tcpOptions, writeTcpSynOptions, TcpHeaderView } from '../../src/l2/tcp.js';
import { udpLength, UdpView } from '../../src/l2/udp.js';
import { IcmpView } from '../../src/l2/icmp.js';
import { pushIpv4, pushIpv6, pushUdp } from '../../src/l2/emit.js';
import { referenceChecksum } from '../unit/wire-frames.js';
import { fuzz, mutatedFrames, placement, randomBytes, sameAnywhere } from './harness.js';
import { FRAMES, GATEWAY4, GUEST4, GUEST_MAC, respond } from './wire.js';

const FILE = 'test/fuzz/l2.test.ts';

/** Frames, and what lies after their Ethernet header, the way the IP parsers get it. */
const frames = fc.oneof({ weight: 3, arbitrary: mutatedFrames(FRAMES) }, { weight: 1, arbitrary: randomBytes(200) });
const afterEthernet = frames.map((f) => f.subarray(Math.min(14, f.length)));
const same = <T,>(a: T, b: T): void => assert.deepStrictEqual(a, b);

describe('l2 parsers', () => {
  fuzz(FILE, 'spanFits accepts only whole, in-bounds spans', fc.tuple(fc.nat(100), fc.oneof(fc.integer({ min: -5, max: 120 }), fc.double()), fc.oneof(fc.integer({ min: -5, max: 120 }), fc.double()), fc.nat(40)), ([size, off, len, min]) => {
    const ok = spanFits(new Uint8Array(size), off, len, min);
    expect(ok).toBe(Number.isInteger(off) && Number.isInteger(len) && off >= 0 && len >= min && off + len <= size && off < 2 ** 32 && len < 2 ** 32);
  }, { weight: 0.3 });

  fuzz(FILE, 'Ethernet and ARP views', fc.tuple(frames, placement), ([input, where]) => {
    sameAnywhere(input, where, ({ buf, off, len }) => {
      const eth = EthernetView.checked(buf, off, len);
      expect(eth !== undefined).toBe(len >= 14);
      const arp = ArpView.checked(buf, off + 14, len - 14);
      if (arp) {
        expect(len).toBeGreaterThanOrEqual(42);
        expect([arp.hardwareType, arp.protocolType, arp.hardwareLength, arp.protocolLength]).toEqual([1, 0x0800, 6, 4]);
      }
      return { type: eth?.ethertype, src: eth && Buffer.from(eth.src), arp: arp && [arp.op, arp.spa32, arp.tpa32, Buffer.from(arp.sha)] };
    }, same);
  }, { weight: 0.5 });

  // ARP packets with plausible fields: requests and replies, for the gateway, the guest, anyone.
  const addr4 = fc.oneof(fc.constantFrom(GUEST4, GATEWAY4, Buffer.alloc(4)), fc.uint8Array({ minLength: 4, maxLength: 4 }));
  const arpFrames = fc
    .record({ op: fc.oneof(fc.constant(1), fc.nat(3)), spa: addr4, tpa: addr4, same: fc.boolean(), fixed: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }), pad: fc.nat(18) })
    .map(({ op, spa, tpa, same, fixed, pad }) => {
      const f = Buffer.concat([Buffer.from('ffffffffffff5e8a3c1122330806000108000604', 'hex'), Buffer.alloc(24 + pad)]);
      if (!fixed) f[18] = 8;
      f.writeUInt16BE(op, 20);
      GUEST_MAC.copy(f, 22);
      f.set(spa, 28);
      f.set(same ? spa : tpa, 38);
      return f;
    });
  fuzz(FILE, 'arpTapHandler: replies are well-formed proxy ARP replies', fc.tuple(fc.oneof(arpFrames, frames), placement, fc.boolean()), ([input, where, withGuest]) => {
    const link = createLinkState({ guestMac: GUEST_MAC, guestAddr4: withGuest ? GUEST4 : null });
    const reply = respond((frame, off, len, out, outOff) => arpTapHandler(link, frame, off, len, out, outOff), input, where);
    if (!reply) return;
    const request = Buffer.from(input);
    expect(reply.length).toBe(ARP_FRAME_LEN);
    expect(request.readUInt16BE(12)).toBe(0x0806);
    expect(request.readUInt16BE(20)).toBe(1); // only requests are answered
    expect(reply.readUInt16BE(20)).toBe(2);
    expect(reply.subarray(0, 6)).toEqual(request.subarray(22, 28)); // to the requester's hardware address
    expect(reply.subarray(28, 32)).toEqual(request.subarray(38, 42)); // for the address asked about
    expect(reply.subarray(32, 38)).toEqual(request.subarray(22, 28));
    expect(reply.subarray(38, 42)).toEqual(request.subarray(28, 32));
    if (withGuest) expect(request.subarray(38, 42).equals(GUEST4)).toBe(false); // never for the guest's own address
  });

  fuzz(FILE, 'ipv4HeaderLength and Ipv4View', fc.tuple(afterEthernet, placement), ([input, where]) => {
    sameAnywhere(input, where, ({ buf, off, len }) => {
      const hl = ipv4HeaderLength(buf, off, len);
      const view = Ipv4View.checked(buf, off, len);
      expect(view !== undefined).toBe(hl !== 0);
      if (!view) return 0;
      expect(hl % 4).toBe(0);
      expect(hl).toBeGreaterThanOrEqual(20);
      expect(hl).toBeLessThanOrEqual(60);
      expect(view.headerLength).toBe(hl);
      expect(view.totalLength).toBeGreaterThanOrEqual(hl);
      expect(view.totalLength).toBeLessThanOrEqual(len);
      expect(view.payloadOffset + view.payloadLength).toBeLessThanOrEqual(off + len);
      return [hl, view.totalLength, view.protocol, view.src32, view.dst32, ipv4IsFragment(buf, off), view.headerChecksumValid()];
    }, same);
  });

  fuzz(FILE, 'IPv4 headers read back as pushIpv4 wrote them', fc.tuple(fc.integer({ min: 20, max: 0xffff }), fc.nat(255), fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.nat(16)), ([total, proto, addrs, at]) => {
    const buf = Buffer.alloc(at + total + 4);
    expect(pushIpv4(buf, at, total, proto, addrs, 0, addrs, 4)).toBe(at + 20);
    const view = Ipv4View.checked(buf, at, total)!;
    expect([view.version, view.headerLength, view.totalLength, view.protocol, view.ttl, view.dontFragment, view.isFragment]).toEqual([4, 20, total, proto, 255, true, false]);
    expect([...view.src, ...view.dst]).toEqual([...addrs]);
    expect(view.headerChecksumValid()).toBe(true);
    expect(referenceChecksum(buf.subarray(at, at + 20))).toBe(0);
  }, { weight: 0.3 });

  fuzz(FILE, 'ipv6Walk finds an upper layer inside the payload', fc.tuple(afterEthernet, placement), ([input, where]) => {
    sameAnywhere(input, where, ({ buf, off, len }) => {
      const out: Ipv6L4 = { protocol: -1, offset: -1, length: -1, fragment: false };
      const ok = ipv6Walk(buf, off, len, out);
      const again = ipv6L4(buf, off, len);
      expect(again !== undefined).toBe(ok);
      if (!ok) return undefined;
      expect(again).toEqual(out);
      const end = off + 40 + buf.readUInt16BE(off + 4);
      expect(end).toBeLessThanOrEqual(off + len);
      expect(out.offset).toBeGreaterThanOrEqual(off + 40);
      expect(out.length).toBeGreaterThanOrEqual(0);
      expect(out.offset + out.length).toBe(end);
      expect((out.offset - off - 40) % 8).toBe(0);
      if (out.fragment) expect(out.protocol).toBe(buf[out.offset - 8]);
      else expect([0, 43, 44, 60]).not.toContain(out.protocol);
      return out;
    }, same);
  });

  // A chain of extension headers: [hop-by-hop] {routing | destination options}*, then an upper layer or a fragment header.
  const chain = fc.record({
    hopByHop: fc.boolean(),
    headers: fc.array(fc.tuple(fc.constantFrom(43, 60), fc.nat(3)), { maxLength: IPV6_MAX_EXT_HEADERS + 1 }),
    upper: fc.oneof(fc.constantFrom(6, 17, 58, 59, 44), fc.nat(255).filter((n) => ![0, 43, 44, 60].includes(n))),
    data: fc.nat(64),
    padding: fc.nat(16),
  });
  fuzz(FILE, 'ipv6Walk walks every chain of extension headers IPv6 allows', chain, ({ hopByHop, headers, upper, data, padding }) => {
    const all: Array<[number, number]> = [...(hopByHop ? [[0, 0] as [number, number]] : []), ...headers];
    const parts: Buffer[] = [];
    all.forEach(([, units], i) => {
      const h = Buffer.alloc((units + 1) * 8, 0x01);
      h[0] = i + 1 < all.length ? all[i + 1][0] : upper;
      h[1] = units;
      parts.push(h);
    });
    const extensions = Buffer.concat(parts);
    const tail = upper === 44 ? Buffer.concat([Buffer.from([17, 0, 0, 1, 0, 0, 0, 7]), Buffer.alloc(data)]) : Buffer.alloc(data);
    const packet = Buffer.concat([Buffer.alloc(40), extensions, tail, Buffer.alloc(padding, 0xee)]);
    pushIpv6(packet, 0, extensions.length + tail.length, all.length ? all[0][0] : upper, GUEST4, 0, GUEST4, 0);
    const l4 = ipv6L4(packet, 0, packet.length);
    if (all.length > IPV6_MAX_EXT_HEADERS) {
      expect(l4).toBeUndefined();
      return;
    }
    const at = 40 + extensions.length;
    expect(l4).toEqual(upper === 44 ? { protocol: 17, offset: at + 8, length: data, fragment: true } : { protocol: upper, offset: at, length: data, fragment: false });
    // Through an Ethernet frame, as the responders see it.
    const frame = Buffer.concat([Buffer.from('9a559a559a555e8a3c11223386dd', 'hex'), packet]);
    const framed = ipv6FrameL4(frame, 0, frame.length, upper);
    expect(framed?.offset).toBe(upper === 44 ? undefined : at + 14);
  }, { weight: 0.5 });

  fuzz(FILE, 'tcpHeaderLength and tcpOptions', fc.tuple(frames.map((f) => f.subarray(Math.min(f.length, 34))), placement), ([input, where]) => {
    sameAnywhere(input, where, ({ buf, off, len }) => {
      const hl = tcpHeaderLength(buf, off, len);
      expect(TcpHeaderView.checked(buf, off, len) !== undefined).toBe(hl !== 0);
      if (!hl) return undefined;
      expect(hl % 4).toBe(0);
      expect(hl).toBeGreaterThanOrEqual(20);
      expect(hl).toBeLessThanOrEqual(Math.min(60, len));
      const options = tcpOptions(buf, off, hl);
      if (options.mss !== undefined) expect(options.mss).toBeLessThanOrEqual(0xffff);
      if (options.wscale !== undefined) expect(options.wscale).toBeLessThanOrEqual(14);
      for (const t of options.timestamp ?? []) expect(t >>> 0).toBe(t);
      return { hl, options };
    }, same);
  });

  fuzz(FILE, 'TCP SYN options read back as written', fc.record({ mss: fc.nat(0xffff), wscale: fc.option(fc.nat(255), { nil: undefined }), sackPermitted: fc.boolean(), at: fc.nat(8) }), ({ mss, wscale, sackPermitted, at }) => {
    const buf = Buffer.alloc(at + 40);
    buf[at + 12] = 0x80; // 32 bytes of header
    const n = writeTcpSynOptions(buf, at + 20, { mss, wscale, sackPermitted });
    expect(n).toBeLessThanOrEqual(12);
    const options = tcpOptions(buf, at, tcpHeaderLength(buf, at, 32));
    expect(options).toEqual({ sackPermitted, mss, ...(wscale !== undefined ? { wscale: Math.min(wscale, 14) } : {}) });
  }, { weight: 0.3 });

  fuzz(FILE, 'udpLength and UdpView, ICMP views', fc.tuple(frames.map((f) => f.subarray(Math.min(f.length, 34))), placement), ([input, where]) => {
    sameAnywhere(input, where, ({ buf, off, len }) => {
      const length = udpLength(buf, off, len);
      const view = UdpView.checked(buf, off, len);
      expect(view !== undefined).toBe(length !== 0);
      if (view) {
        expect(length).toBeGreaterThanOrEqual(8);
        expect(length).toBeLessThanOrEqual(len);
        expect(view.payloadOffset + view.payloadLength).toBe(off + length);
      }
      const icmp = IcmpView.checked(buf, off, len);
      expect(icmp !== undefined).toBe(len >= 8);
      return [length, icmp && [icmp.type, icmp.code, icmp.id, icmp.seq]];
    }, same);
  }, { weight: 0.5 });

  fuzz(FILE, 'UDP headers read back as pushUdp wrote them', fc.tuple(fc.nat(0xffff), fc.nat(0xffff), fc.integer({ min: 8, max: 0xffff })), ([sport, dport, length]) => {
    const buf = Buffer.alloc(length);
    pushUdp(buf, 0, sport, dport, length);
    const view = UdpView.checked(buf, 0, length)!;
    expect([view.srcPort, view.dstPort, view.length, udpLength(buf, 0, length), udpLength(buf, 0, length - 1)]).toEqual([sport, dport, length, length, 0]);
  }, { weight: 0.2 });
});
