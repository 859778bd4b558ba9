/**
 * Wire views over literal frames: every field of real-looking packets, the
 * setters used to emit, and untrusted input (every truncation, bad header
 * lengths, malformed options and extension-header chains) returning
 * undefined without throwing.
 */
import { describe, expect, it } from 'vitest';
import { ARP_LEN, ARPOP_REQUEST, ArpView } from '../../src/l2/arp.js';
import {
  ETH_HLEN,
  ETH_P_ARP,
  ETH_P_IP,
  ETH_P_IPV6,
  EthernetView,
  formatMac,
} from '../../src/l2/ethernet.js';
import {
  ICMP_ECHO_REQUEST,
  ICMPV6_NEIGHBOR_SOLICITATION,
  IcmpView,
} from '../../src/l2/icmp.js';
import { formatIpv4, IPPROTO_TCP, IPPROTO_UDP, Ipv4View } from '../../src/l2/ipv4.js';
import { formatIpv6, IPV6_MAX_EXT_HEADERS, ipv6L4, Ipv6View } from '../../src/l2/ipv6.js';
import {
  TCP_ACK,
  TCP_CWR,
  TCP_ECE,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  TCP_URG,
  TcpHeaderView,
  writeTcpSynOptions,
} from '../../src/l2/tcp.js';
import { UdpView } from '../../src/l2/udp.js';
import { ARP_REQUEST, DNS_QUERY, hex, NS, prng, referenceChecksum, SYN4, SYN6 } from './wire-frames.js';

/** Run `parse` on every strict prefix of `frame` and expect undefined, never a throw. */
function everyTruncationRejected(frame: Buffer, parse: (b: Buffer, len: number) => unknown): void {
  for (let len = 0; len < frame.length; len++) {
    // Exactly `len` bytes: a buffer of that size, so reads past it would be out of bounds.
    const copy = Buffer.from(frame.subarray(0, len));
    expect(() => parse(copy, len)).not.toThrow();
    expect(parse(copy, len), `prefix of ${len} bytes`).toBeUndefined();
  }
}

describe('flag and type constants', () => {
  it('have the RFC values', () => {
    expect([TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG, TCP_ECE, TCP_CWR]).toEqual([
      1, 2, 4, 8, 16, 32, 64, 128,
    ]);
    expect([ETH_HLEN, ETH_P_IP, ETH_P_ARP, ETH_P_IPV6]).toEqual([14, 0x0800, 0x0806, 0x86dd]);
  });
});

describe('EthernetView', () => {
  it('reads the header of an IPv4 frame', () => {
    const eth = EthernetView.checked(SYN4, 0, SYN4.length)!;
    expect(formatMac(eth.dst)).toBe('9a:55:9a:55:9a:55');
    expect(formatMac(eth.src)).toBe('5e:8a:3c:11:22:33');
    expect(eth.ethertype).toBe(ETH_P_IP);
    expect(eth.payloadOffset).toBe(14);
  });

  it('returns MACs that alias the frame, and setters copy', () => {
    const frame = Buffer.from(SYN4);
    const eth = new EthernetView(frame, 0);
    const src = eth.src;
    frame[6] = 0x02;
    expect(src[0]).toBe(0x02);
    const mac = Uint8Array.of(1, 2, 3, 4, 5, 6);
    eth.dst = mac;
    mac[0] = 99;
    expect([...frame.subarray(0, 6)]).toEqual([1, 2, 3, 4, 5, 6]);
    eth.ethertype = ETH_P_IPV6;
    expect(frame.readUInt16BE(12)).toBe(0x86dd);
  });

  it('works at an offset inside a larger buffer', () => {
    const big = Buffer.concat([Buffer.alloc(7, 0xee), SYN4]);
    const eth = EthernetView.checked(big, 7, SYN4.length)!;
    expect(eth.ethertype).toBe(ETH_P_IP);
    expect(formatMac(eth.src)).toBe('5e:8a:3c:11:22:33');
  });

  it('rejects short frames, bad offsets and lengths beyond the buffer', () => {
    everyTruncationRejected(SYN4.subarray(0, 14), (b, len) => EthernetView.checked(b, 0, len));
    expect(EthernetView.checked(SYN4, 0, SYN4.length + 1)).toBeUndefined();
    expect(EthernetView.checked(SYN4, -1, 20)).toBeUndefined();
    expect(EthernetView.checked(SYN4, 0.5, 20)).toBeUndefined();
    expect(EthernetView.checked(SYN4, SYN4.length - 13, 14)).toBeUndefined();
    expect(EthernetView.checked(SYN4, 0, Number.NaN)).toBeUndefined();
  });
});

describe('Ipv4View', () => {
  it('reads every field of a Linux TCP SYN', () => {
    const ip = Ipv4View.checked(SYN4, 14, SYN4.length - 14)!;
    expect(ip).toBeDefined();
    expect(ip.version).toBe(4);
    expect(ip.ihl).toBe(5);
    expect(ip.headerLength).toBe(20);
    expect(ip.tos).toBe(0);
    expect(ip.totalLength).toBe(60);
    expect(ip.id).toBe(0x1c46);
    expect(ip.flags).toBe(0b010);
    expect(ip.dontFragment).toBe(true);
    expect(ip.moreFragments).toBe(false);
    expect(ip.fragmentOffset).toBe(0);
    expect(ip.isFragment).toBe(false);
    expect(ip.ttl).toBe(64);
    expect(ip.protocol).toBe(IPPROTO_TCP);
    expect(ip.checksum).toBe(0xb835);
    expect(ip.headerChecksumValid()).toBe(true);
    expect(formatIpv4(ip.src)).toBe('198.51.100.2');
    expect(formatIpv4(ip.dst)).toBe('203.0.113.10');
    expect(ip.src32).toBe(0xc6336402);
    expect(ip.dst32).toBe(0xcb00710a);
    expect(ip.payloadOffset).toBe(34);
    expect(ip.payloadLength).toBe(40);
  });

  it('reads a UDP DNS query header', () => {
    const ip = Ipv4View.checked(DNS_QUERY, 14, DNS_QUERY.length - 14)!;
    expect(ip.protocol).toBe(IPPROTO_UDP);
    expect(ip.totalLength).toBe(57);
    expect(ip.id).toBe(0x8d3e);
    expect(ip.checksum).toBe(0x590b);
    expect(ip.headerChecksumValid()).toBe(true);
    expect(formatIpv4(ip.dst)).toBe('198.51.100.1');
  });

  it('accepts trailing Ethernet padding past totalLength', () => {
    const padded = Buffer.concat([DNS_QUERY, Buffer.alloc(10)]);
    expect(Ipv4View.checked(padded, 14, padded.length - 14)?.totalLength).toBe(57);
  });

  it('detects fragments by MF or offset', () => {
    const frame = Buffer.from(SYN4);
    const ip = new Ipv4View(frame, 14);
    ip.flagsFragment = 0x2000; // MF, offset 0
    expect(ip.isFragment).toBe(true);
    expect(ip.moreFragments).toBe(true);
    ip.flagsFragment = 0x0001; // offset 8 bytes
    expect(ip.isFragment).toBe(true);
    expect(ip.fragmentOffset).toBe(1);
    ip.flagsFragment = 0x4000; // DF only
    expect(ip.isFragment).toBe(false);
    ip.fragmentOffset = 0x1fff;
    expect(ip.flagsFragment).toBe(0x5fff);
    ip.flags = 0b001;
    expect(ip.flagsFragment).toBe(0x3fff);
  });

  it('does not require a valid header checksum, but reports it', () => {
    const frame = Buffer.from(SYN4);
    frame[14 + 10] ^= 0xff;
    const ip = Ipv4View.checked(frame, 14, frame.length - 14)!;
    expect(ip).toBeDefined();
    expect(ip.headerChecksumValid()).toBe(false);
    expect(ip.fillHeaderChecksum()).toBe(0xb835);
    expect(ip.headerChecksumValid()).toBe(true);
  });

  it('builds a header with setters', () => {
    const buf = Buffer.alloc(20, 0xaa);
    const ip = new Ipv4View(buf, 0);
    ip.version = 4;
    ip.headerLength = 20;
    ip.tos = 0;
    ip.totalLength = 60;
    ip.id = 0x1c46;
    ip.flagsFragment = 0x4000;
    ip.ttl = 64;
    ip.protocol = IPPROTO_TCP;
    ip.src = Uint8Array.of(198, 51, 100, 2);
    ip.dst32 = 0xcb00710a;
    ip.fillHeaderChecksum();
    expect(buf.toString('hex')).toBe(SYN4.subarray(14, 34).toString('hex'));
  });

  it('rejects every truncation, a bad version, a bad IHL and bad total lengths', () => {
    const ipPacket = SYN4.subarray(14);
    everyTruncationRejected(ipPacket, (b, len) => Ipv4View.checked(b, 0, len));
    const bad = (patch: (b: Buffer) => void): Ipv4View | undefined => {
      const b = Buffer.from(ipPacket);
      patch(b);
      return Ipv4View.checked(b, 0, b.length);
    };
    expect(bad((b) => (b[0] = 0x65))).toBeUndefined(); // version 6
    for (let ihl = 0; ihl < 5; ihl++) expect(bad((b) => (b[0] = 0x40 | ihl))).toBeUndefined();
    expect(bad((b) => ((b[0] = 0x4f), b.writeUInt16BE(56, 2)))).toBeUndefined(); // 60-byte header > totalLength
    expect(bad((b) => (b[0] = 0x4f))?.payloadLength).toBe(0); // 60-byte header == totalLength
    expect(bad((b) => b.writeUInt16BE(19, 2))).toBeUndefined(); // shorter than the header
    expect(bad((b) => b.writeUInt16BE(61, 2))).toBeUndefined(); // longer than received
    expect(bad((b) => b.writeUInt16BE(20, 2))?.payloadLength).toBe(0); // header only is fine
  });
});

describe('Ipv6View and ipv6L4', () => {
  it('reads every field of an IPv6 TCP SYN', () => {
    const ip = Ipv6View.checked(SYN6, 14, SYN6.length - 14)!;
    expect(ip.version).toBe(6);
    expect(ip.trafficClass).toBe(0);
    expect(ip.flowLabel).toBe(0x5a3b1);
    expect(ip.payloadLength).toBe(40);
    expect(ip.nextHeader).toBe(IPPROTO_TCP);
    expect(ip.hopLimit).toBe(64);
    expect(formatIpv6(ip.src)).toBe('2001:db8::2');
    expect(formatIpv6(ip.dst)).toBe('2001:db8:1::10');
    expect(ip.payloadOffset).toBe(54);
    expect(ipv6L4(SYN6, 14, SYN6.length - 14)).toEqual({
      protocol: IPPROTO_TCP,
      offset: 54,
      length: 40,
      fragment: false,
    });
  });

  it('reads an NDP solicitation header', () => {
    const ip = Ipv6View.checked(NS, 14, NS.length - 14)!;
    expect(ip.hopLimit).toBe(255);
    expect(ip.nextHeader).toBe(58);
    expect(formatIpv6(ip.dst)).toBe('ff02::1:ff00:1');
  });

  it('sets traffic class and flow label without disturbing each other', () => {
    const buf = Buffer.alloc(40);
    const ip = new Ipv6View(buf, 0);
    ip.setVersionClassFlow(0xb8, 0xfffff);
    expect(buf.readUInt32BE(0)).toBe(0x6b8fffff);
    ip.trafficClass = 0x12;
    expect(ip.flowLabel).toBe(0xfffff);
    expect(ip.version).toBe(6);
    expect(ip.trafficClass).toBe(0x12);
    ip.flowLabel = 0x5a3b1;
    expect(buf.readUInt32BE(0)).toBe(0x6125a3b1);
    ip.version = 4;
    expect(ip.trafficClass).toBe(0x12);
  });

  it('rejects every truncation, version 4 and payloads past the end', () => {
    const ipPacket = SYN6.subarray(14);
    everyTruncationRejected(ipPacket, (b, len) => Ipv6View.checked(b, 0, len));
    everyTruncationRejected(ipPacket, (b, len) => ipv6L4(b, 0, len));
    const b = Buffer.from(ipPacket);
    b[0] = 0x45;
    expect(Ipv6View.checked(b, 0, b.length)).toBeUndefined();
    expect(ipv6L4(b, 0, b.length)).toBeUndefined();
    const c = Buffer.from(ipPacket);
    c.writeUInt16BE(41, 4);
    expect(Ipv6View.checked(c, 0, c.length)).toBeUndefined();
    expect(ipv6L4(c, 0, c.length)).toBeUndefined();
  });

  /** An IPv6 packet with next header `first` and the given payload bytes. */
  function ipv6With(first: number, payload: Buffer): Buffer {
    const head = hex('60000000 0000 00 40 20010db8000000000000000000000002 20010db8000100000000000000000010');
    head.writeUInt16BE(payload.length, 4);
    head[6] = first;
    return Buffer.concat([head, payload]);
  }

  it('walks hop-by-hop, routing and destination options headers', () => {
    const payload = hex(`
      2b 00 0104 00000000
      3c 00 0402 00000000
      11 01 0104 00000000 0000000000000000
      d431 0035 0008 0000`);
    const packet = ipv6With(0, payload);
    expect(ipv6L4(packet, 0, packet.length)).toEqual({
      protocol: IPPROTO_UDP,
      offset: 40 + 8 + 8 + 16,
      length: 8,
      fragment: false,
    });
  });

  it('reports a fragment header with the protocol after it', () => {
    const packet = ipv6With(44, hex('06 00 0001 12345678 9c42 1f90 00000000'));
    expect(ipv6L4(packet, 0, packet.length)).toEqual({
      protocol: IPPROTO_TCP,
      offset: 48,
      length: 8,
      fragment: true,
    });
    const short = ipv6With(44, hex('06 00 0001 1234'));
    expect(ipv6L4(short, 0, short.length)).toBeUndefined();
  });

  it('stops long or malformed extension chains', () => {
    // A chain of destination options headers, each pointing to another one.
    const chain = (n: number): Buffer =>
      ipv6With(60, Buffer.concat([...Array.from({ length: n }, () => hex('3c00 0000 00000000')), hex('3b00 0000 00000000')]));
    const ok = chain(IPV6_MAX_EXT_HEADERS - 1);
    expect(ipv6L4(ok, 0, ok.length)?.protocol).toBe(59); // no next header
    const tooLong = chain(IPV6_MAX_EXT_HEADERS + 1);
    expect(() => ipv6L4(tooLong, 0, tooLong.length)).not.toThrow();
    expect(ipv6L4(tooLong, 0, tooLong.length)).toBeUndefined();
    // A header that loops to itself until the payload ends.
    const looping = ipv6With(60, Buffer.alloc(4096).fill(hex('3c00000000000000')));
    expect(ipv6L4(looping, 0, looping.length)).toBeUndefined();
    // Header length running past the payload.
    const long = ipv6With(60, hex('06 05 00000000 0000'));
    expect(ipv6L4(long, 0, long.length)).toBeUndefined();
    // Extension header cut short by the payload length.
    const cut = ipv6With(43, hex('06 00 0000'));
    expect(ipv6L4(cut, 0, cut.length)).toBeUndefined();
    // Hop-by-hop options anywhere but first.
    const lateHbh = ipv6With(60, hex('00 00 0000 00000000 06 00 0000 00000000'));
    expect(ipv6L4(lateHbh, 0, lateHbh.length)).toBeUndefined();
  });

  it('formats addresses', () => {
    expect(formatIpv6(new Uint8Array(16))).toBe('::');
    expect(formatIpv6(hex('fe80000000000000 9855 9aff fe55 9a55'))).toBe('fe80::9855:9aff:fe55:9a55');
    expect(formatIpv6(hex('20010db8 0000 0000 0001 0000 0000 0010'))).toBe('2001:db8::1:0:0:10');
  });
});

describe('TcpHeaderView', () => {
  it('reads every field and option of a Linux IPv4 SYN', () => {
    const tcp = TcpHeaderView.checked(SYN4, 34, 40)!;
    expect(tcp.srcPort).toBe(40000);
    expect(tcp.dstPort).toBe(8080);
    expect(tcp.seq).toBe(0x7b2d9f0e);
    expect(tcp.ack).toBe(0);
    expect(tcp.dataOffset).toBe(10);
    expect(tcp.headerLength).toBe(40);
    expect(tcp.flags).toBe(TCP_SYN);
    expect(tcp.window).toBe(64240);
    expect(tcp.checksum).toBe(0xab3a);
    expect(tcp.urgent).toBe(0);
    expect(tcp.payloadOffset).toBe(74);
    expect(tcp.parseOptions()).toEqual({
      mss: 1460,
      sackPermitted: true,
      timestamp: [0xa1b2c3d4, 0],
      wscale: 7,
    });
  });

  it('reads an IPv6 SYN, with sequence numbers above 2^31 unsigned', () => {
    const tcp = TcpHeaderView.checked(SYN6, 54, 40)!;
    expect(tcp.seq).toBe(0xdeadbeef);
    expect(tcp.srcPort).toBe(40002);
    expect(tcp.window).toBe(64800);
    expect(tcp.checksum).toBe(0x9a43);
    expect(tcp.parseOptions()).toEqual({ mss: 1440, sackPermitted: true, timestamp: [0x0badf00d, 0], wscale: 7 });
  });

  it('writes fields with setters', () => {
    const buf = Buffer.alloc(20, 0xff);
    const tcp = new TcpHeaderView(buf, 0);
    tcp.srcPort = 8080;
    tcp.dstPort = 40000;
    tcp.seq = 0xfffffffe;
    tcp.ack = 0x7b2d9f0f;
    tcp.headerLength = 20;
    tcp.flags = TCP_SYN | TCP_ACK;
    tcp.window = 65535;
    tcp.checksum = 0;
    tcp.urgent = 0;
    expect(buf.toString('hex')).toBe('1f909c40fffffffe7b2d9f0f5012ffff00000000');
    tcp.seq = -1; // wraps to 2^32 - 1
    expect(tcp.seq).toBe(0xffffffff);
  });

  it('rejects every truncation and data offsets below 5 or past the segment', () => {
    const segment = SYN4.subarray(34);
    everyTruncationRejected(segment, (b, len) => TcpHeaderView.checked(b, 0, len));
    for (let doff = 0; doff < 16; doff++) {
      const b = Buffer.from(segment);
      b[12] = doff << 4;
      const view = TcpHeaderView.checked(b, 0, b.length);
      if (doff >= 5 && doff <= 10) expect(view?.headerLength).toBe(doff * 4);
      else expect(view).toBeUndefined();
    }
  });

  /** A TCP header with the given option bytes (padded to a multiple of 4). */
  function withOptions(options: string): TcpHeaderView {
    const opts = hex(options);
    const padded = Buffer.concat([opts, Buffer.alloc((4 - (opts.length % 4)) % 4)]);
    const head = hex('9c40 1f90 00000001 00000000 0002 ffff 0000 0000');
    head[12] = ((20 + padded.length) / 4) << 4;
    const b = Buffer.concat([head, padded]);
    return TcpHeaderView.checked(b, 0, b.length)!;
  }

  it('parses options safely', () => {
    expect(withOptions('').parseOptions()).toEqual({ sackPermitted: false });
    // EOL stops the walk.
    expect(withOptions('00 020405b4').parseOptions()).toEqual({ sackPermitted: false });
    // Length 0 and 1 stop the walk; what came before is kept.
    expect(withOptions('020405b4 0800 0303 07').parseOptions()).toEqual({ mss: 1460, sackPermitted: false });
    expect(withOptions('0402 0501 020405b4').parseOptions()).toEqual({ sackPermitted: true });
    // An option running past the header stops the walk.
    expect(withOptions('01 01 0402 030a07').parseOptions()).toEqual({ sackPermitted: true });
    // A kind byte alone at the end of the header.
    expect(withOptions('020405b4 010101 02').parseOptions()).toEqual({ mss: 1460, sackPermitted: false });
    // Wrong lengths for known kinds are skipped, the walk goes on.
    expect(withOptions('0205 05b400 0402').parseOptions()).toEqual({ sackPermitted: true });
    // Unknown options are skipped by their length.
    expect(withOptions('1e06 01020304 030307').parseOptions()).toEqual({ sackPermitted: false, wscale: 7 });
    // Window scale above 14 is used as 14 (RFC 7323).
    expect(withOptions('03031f').parseOptions()).toEqual({ sackPermitted: false, wscale: 14 });
  });

  it('never throws on random option bytes', () => {
    const random = prng(2024);
    // Bytes drawn mostly from option kinds and lengths, so real options occur.
    const alphabet = [0, 1, 2, 3, 4, 8, 10, 4, 2, 3];
    const pick = (): number =>
      random() < 0.8 ? alphabet[Math.floor(random() * alphabet.length)] : Math.floor(random() * 256);
    const seen = { mss: 0, wscale: 0, sack: 0, timestamp: 0 };
    for (let n = 0; n < 5000; n++) {
      const b = Buffer.alloc(60);
      for (let i = 0; i < 60; i++) b[i] = pick();
      b[12] = (5 + (n % 11)) << 4;
      const tcp = TcpHeaderView.checked(b, 0, b.length)!;
      const options = tcp.parseOptions();
      if (options.mss !== undefined) {
        seen.mss++;
        expect(options.mss).toBeLessThan(65536);
      }
      if (options.wscale !== undefined) {
        seen.wscale++;
        expect(options.wscale).toBeLessThanOrEqual(14);
      }
      if (options.sackPermitted) seen.sack++;
      if (options.timestamp) seen.timestamp++;
    }
    expect(seen.mss).toBeGreaterThan(0);
    expect(seen.wscale).toBeGreaterThan(0);
    expect(seen.sack).toBeGreaterThan(0);
    expect(seen.timestamp).toBeGreaterThan(0);
  });

  it('writes SYN options as Linux lays them out', () => {
    const buf = Buffer.alloc(16, 0xee);
    expect(writeTcpSynOptions(buf, 2, { mss: 65495, wscale: 7, sackPermitted: true })).toBe(12);
    expect(buf.toString('hex')).toBe('eeee' + '0204ffd7' + '01010402' + '01030307' + 'eeee');
    expect(writeTcpSynOptions(buf, 0, { mss: 1460 })).toBe(4);
    expect(writeTcpSynOptions(buf, 0, { mss: 1460, wscale: 0 })).toBe(8);
    expect(buf.subarray(0, 8).toString('hex')).toBe('020405b401030300');
    expect(writeTcpSynOptions(buf, 0, { mss: 1460, sackPermitted: true })).toBe(8);
    // What is written parses back.
    const segment = Buffer.alloc(32);
    const tcp = new TcpHeaderView(segment, 0);
    tcp.headerLength = 20 + writeTcpSynOptions(segment, 20, { mss: 1400, wscale: 9, sackPermitted: true });
    expect(tcp.parseOptions()).toEqual({ mss: 1400, wscale: 9, sackPermitted: true });
  });
});

describe('UdpView', () => {
  it('reads a DNS query', () => {
    const udp = UdpView.checked(DNS_QUERY, 34, DNS_QUERY.length - 34)!;
    expect(udp.srcPort).toBe(53211);
    expect(udp.dstPort).toBe(53);
    expect(udp.length).toBe(37);
    expect(udp.checksum).toBe(0xf18f);
    expect(udp.payloadOffset).toBe(42);
    expect(udp.payloadLength).toBe(29);
    expect(DNS_QUERY.readUInt16BE(udp.payloadOffset)).toBe(0x1a2b);
  });

  it('rejects truncations and lengths below 8 or past the datagram', () => {
    const datagram = DNS_QUERY.subarray(34);
    everyTruncationRejected(datagram, (b, len) => UdpView.checked(b, 0, len));
    for (const length of [0, 7, 38, 0xffff]) {
      const b = Buffer.from(datagram);
      b.writeUInt16BE(length, 4);
      expect(UdpView.checked(b, 0, b.length)).toBeUndefined();
    }
    const b = Buffer.from(datagram);
    b.writeUInt16BE(8, 4);
    expect(UdpView.checked(b, 0, b.length)?.payloadLength).toBe(0);
  });

  it('writes fields with setters', () => {
    const b = Buffer.alloc(8);
    const udp = new UdpView(b, 0);
    udp.srcPort = 53;
    udp.dstPort = 53211;
    udp.length = 37;
    udp.checksum = 0xffff;
    expect(b.toString('hex')).toBe('0035cfdb0025ffff');
  });
});

describe('IcmpView', () => {
  it('reads an echo request (ping from Linux)', () => {
    const echo = hex('0800 fcf5 1f2e 0001 6c6f6f6b');
    const icmp = IcmpView.checked(echo, 0, echo.length)!;
    expect(icmp.type).toBe(ICMP_ECHO_REQUEST);
    expect(icmp.code).toBe(0);
    expect(icmp.checksum).toBe(0xfcf5);
    expect(referenceChecksum(echo)).toBe(0); // a correct checksum sums the message to zero
    expect(icmp.id).toBe(0x1f2e);
    expect(icmp.seq).toBe(1);
    expect(icmp.payloadOffset).toBe(8);
  });

  it('reads the ICMPv6 part of a neighbor solicitation', () => {
    const icmp = IcmpView.checked(NS, 54, 32)!;
    expect(icmp.type).toBe(ICMPV6_NEIGHBOR_SOLICITATION);
    expect(icmp.checksum).toBe(0x615a);
  });

  it('rejects truncations and writes fields', () => {
    everyTruncationRejected(NS.subarray(54, 62), (b, len) => IcmpView.checked(b, 0, len));
    const b = Buffer.alloc(8);
    const icmp = new IcmpView(b, 0);
    icmp.type = 129;
    icmp.code = 0;
    icmp.checksum = 0x1234;
    icmp.id = 7;
    icmp.seq = 0xffff;
    expect(b.toString('hex')).toBe('810012340007ffff');
  });
});

describe('ArpView', () => {
  it('reads every field of an ARP request', () => {
    const arp = ArpView.checked(ARP_REQUEST, 14, ARP_REQUEST.length - 14)!;
    expect(arp.hardwareType).toBe(1);
    expect(arp.protocolType).toBe(0x0800);
    expect(arp.hardwareLength).toBe(6);
    expect(arp.protocolLength).toBe(4);
    expect(arp.op).toBe(ARPOP_REQUEST);
    expect(formatMac(arp.sha)).toBe('5e:8a:3c:11:22:33');
    expect(formatIpv4(arp.spa)).toBe('198.51.100.2');
    expect(formatMac(arp.tha)).toBe('00:00:00:00:00:00');
    expect(formatIpv4(arp.tpa)).toBe('198.51.100.1');
    expect(arp.spa32).toBe(0xc6336402);
    expect(arp.tpa32).toBe(0xc6336401);
  });

  it('rejects truncations and other hardware or protocol types', () => {
    everyTruncationRejected(ARP_REQUEST.subarray(14), (b, len) => ArpView.checked(b, 0, len));
    for (const [pos, value] of [[1, 6], [2, 0x86], [4, 8], [5, 16]] as const) {
      const b = Buffer.from(ARP_REQUEST.subarray(14));
      b[pos] = value;
      expect(ArpView.checked(b, 0, b.length)).toBeUndefined();
    }
  });

  it('builds a packet with setters', () => {
    const b = Buffer.alloc(ARP_LEN, 0xcc);
    const arp = new ArpView(b, 0);
    arp.initEthernetIpv4();
    arp.op = ARPOP_REQUEST;
    arp.sha = hex('5e8a3c112233');
    arp.spa = Uint8Array.of(198, 51, 100, 2);
    arp.tha = new Uint8Array(6);
    arp.tpa = Uint8Array.of(198, 51, 100, 1);
    expect(b.toString('hex')).toBe(ARP_REQUEST.subarray(14).toString('hex'));
  });
});
