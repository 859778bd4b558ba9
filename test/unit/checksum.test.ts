/**
 * Internet checksums against published examples (RFC 1071, the Wikipedia
 * IPv4 header example, smoltcp's TCP test vector), against the literal frames
 * of wire-frames.ts, against an independent byte-at-a-time reference, and
 * RFC 1624 incremental updates against full recomputation on seeded random
 * inputs.
 */
import { describe, expect, it } from 'vitest';
import {
  finish,
  fold,
  l4Checksum4,
  l4Checksum6,
  l4ChecksumValid4,
  l4ChecksumValid6,
  pseudoHeaderSum4,
  pseudoHeaderSum6,
  sum16,
  updateChecksum16,
  updateChecksum32,
  updateChecksumAddress,
} from '../../src/l2/checksum.js';
import { Ipv4View } from '../../src/l2/ipv4.js';
import {
  DAD_NS,
  DNS_QUERY,
  hex,
  NA,
  NS,
  prng,
  pseudo4,
  pseudo6,
  referenceChecksum,
  SYN4,
  SYN6,
} from './wire-frames.js';

/** Copy of `frame` with the 16-bit field at `pos` zeroed. */
function zeroed(frame: Buffer, pos: number): Buffer {
  const b = Buffer.from(frame);
  b.writeUInt16BE(0, pos);
  return b;
}

describe('sum16, fold, finish', () => {
  it('match the RFC 1071 numerical example', () => {
    const data = hex('0001 f203 f4f5 f6f7');
    expect(sum16(data, 0, 8)).toBe(0x2ddf0);
    expect(fold(sum16(data, 0, 8))).toBe(0xddf2);
    expect(finish(sum16(data, 0, 8))).toBe(0x220d);
    // Byte-order independence (RFC 1071 section 2(B)): swapped input, swapped sum.
    const swapped = hex('0100 03f2 f5f4 f7f6');
    expect(fold(sum16(swapped, 0, 8))).toBe(0xf2dd);
  });

  it('match the well-known IPv4 header example (checksum 0xb861)', () => {
    const header = hex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
    expect(finish(sum16(header, 0, 20))).toBe(0xb861);
    const ip = new Ipv4View(header, 0);
    expect(ip.fillHeaderChecksum()).toBe(0xb861);
    expect(header.readUInt16BE(10)).toBe(0xb861);
    expect(ip.headerChecksumValid()).toBe(true);
  });

  it('pad an odd trailing byte with zero and work at any offset', () => {
    const data = hex('ee 0102 03');
    expect(sum16(data, 1, 3)).toBe(0x0102 + 0x0300);
    expect(sum16(data, 0, 0)).toBe(0);
    expect(sum16(data, 1, 3, 5)).toBe(0x0102 + 0x0300 + 5);
  });

  it('agree with the reference on random data, lengths and offsets', () => {
    const random = prng(1);
    const buf = Buffer.alloc(4096);
    for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(random() * 256);
    for (let n = 0; n < 500; n++) {
      const off = Math.floor(random() * 64);
      const len = Math.floor(random() * 2000);
      expect(finish(sum16(buf, off, len))).toBe(referenceChecksum(buf.subarray(off, off + len)));
    }
  });

  it('chain partial sums over even-length pieces', () => {
    const random = prng(2);
    const buf = Buffer.alloc(1500);
    for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(random() * 256);
    const partial = sum16(buf, 600, 900, sum16(buf, 0, 600));
    expect(fold(partial)).toBe(fold(sum16(buf, 0, 1500)));
  });

  it('stay exact on 64 KiB inputs and long chains of them', () => {
    const ones = Buffer.alloc(65536, 0xff);
    const sum = sum16(ones, 0, 65536);
    expect(sum).toBe(32768 * 0xffff);
    expect(fold(sum)).toBe(0xffff);
    expect(finish(sum)).toBe(0);
    const pattern = Buffer.alloc(65535);
    for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 131) & 0xff;
    let chained = 0;
    for (let k = 0; k < 1000; k++) chained = sum16(pattern, 0, pattern.length, chained);
    expect(Number.isSafeInteger(chained)).toBe(true);
    // Ones'-complement arithmetic is arithmetic modulo 0xffff.
    const single = fold(sum16(pattern, 0, pattern.length));
    expect(fold(chained) % 0xffff).toBe((single * 1000) % 0xffff);
  });

  it('fold numbers beyond 32 bits by their value modulo 0xffff', () => {
    expect(fold(0)).toBe(0);
    expect(fold(0xffff)).toBe(0xffff);
    expect(fold(0x10000)).toBe(1);
    expect(fold(0x1fffe)).toBe(0xffff);
    expect(fold(0x100000000)).toBe(1);
    expect(fold(2 ** 40)).toBe(256);
    const random = prng(3);
    for (let n = 0; n < 200; n++) {
      const value = Math.floor(random() * Number.MAX_SAFE_INTEGER) + 1;
      const expected = Number(BigInt(value) % 0xffffn) || 0xffff;
      expect(fold(value)).toBe(expected);
    }
  });
});

describe('pseudo-headers', () => {
  it('sum like the pseudo-header bytes', () => {
    const src4 = hex('c6336402');
    const dst4 = hex('cb00710a');
    expect(fold(pseudoHeaderSum4(src4, dst4, 6, 40))).toBe(fold(sum16(pseudo4(src4, dst4, 6, 40), 0, 12)));
    const src6 = hex('20010db8000000000000000000000002');
    const dst6 = hex('ff0200000000000000000001ff000001');
    expect(fold(pseudoHeaderSum6(src6, dst6, 58, 32))).toBe(fold(sum16(pseudo6(src6, dst6, 58, 32), 0, 40)));
    // Upper-layer lengths above 16 bits (jumbograms) are summed as 32-bit.
    expect(fold(pseudoHeaderSum6(src6, dst6, 17, 0x12345))).toBe(
      fold(sum16(pseudo6(src6, dst6, 17, 0x12345), 0, 40)),
    );
  });
});

describe('layer-4 checksums of literal frames', () => {
  it('verifies smoltcp\'s published TCP vector (checksum 0x01b6)', () => {
    // 192.168.1.1 -> 192.168.1.2, FIN|PSH|ACK|URG, one window-scale option, 4 data bytes.
    const segment = hex('bf00 0050 01234567 89abcdef 6035 0123 01b6 0201 03030c01 aa0000ff');
    const ipHeader = hex('4500 0030 0000 4000 4006 0000 c0a80101 c0a80102');
    const packet = Buffer.concat([ipHeader, segment]);
    expect(l4ChecksumValid4(packet, 0, 20, 28)).toBe(true);
    const copy = Buffer.from(packet);
    copy.writeUInt16BE(0xdead, 36);
    expect(l4Checksum4(copy, 0, 20, 28)).toBe(0x01b6);
    expect(copy.equals(packet)).toBe(true);
  });

  const cases: Array<{ name: string; frame: Buffer; v6: boolean; l4: number; len: number; field: number; value: number }> = [
    { name: 'IPv4 TCP SYN', frame: SYN4, v6: false, l4: 34, len: 40, field: 16, value: 0xab3a },
    { name: 'IPv4 UDP DNS query', frame: DNS_QUERY, v6: false, l4: 34, len: 37, field: 6, value: 0xf18f },
    { name: 'IPv6 TCP SYN', frame: SYN6, v6: true, l4: 54, len: 40, field: 16, value: 0x9a43 },
    { name: 'neighbor solicitation', frame: NS, v6: true, l4: 54, len: 32, field: 2, value: 0x615a },
    { name: 'neighbor advertisement', frame: NA, v6: true, l4: 54, len: 32, field: 2, value: 0x3d73 },
    { name: 'DAD solicitation', frame: DAD_NS, v6: true, l4: 54, len: 24, field: 2, value: 0x4ceb },
  ];

  for (const c of cases) {
    it(`${c.name}: 0x${c.value.toString(16)}, by reference and by l4Checksum`, () => {
      const frame = c.frame;
      expect(frame.readUInt16BE(c.l4 + c.field)).toBe(c.value);
      const segment = zeroed(frame, c.l4 + c.field).subarray(c.l4, c.l4 + c.len);
      const protocol = c.v6 ? frame[20] : frame[23];
      const pseudo = c.v6
        ? pseudo6(frame.subarray(22, 38), frame.subarray(38, 54), protocol, c.len)
        : pseudo4(frame.subarray(26, 30), frame.subarray(30, 34), protocol, c.len);
      expect(referenceChecksum(pseudo, segment)).toBe(c.value);

      const copy = Buffer.from(frame);
      copy.writeUInt16BE(0x5555, c.l4 + c.field); // garbage: the function zeroes it
      const written = c.v6 ? l4Checksum6(copy, 14, c.l4, c.len) : l4Checksum4(copy, 14, c.l4, c.len);
      expect(written).toBe(c.value);
      expect(copy.equals(frame)).toBe(true);

      const valid = c.v6 ? l4ChecksumValid6 : l4ChecksumValid4;
      expect(valid(frame, 14, c.l4, c.len)).toBe(true);
      const corrupt = Buffer.from(frame);
      corrupt[c.l4 + c.len - 1] ^= 0x10;
      expect(valid(corrupt, 14, c.l4, c.len)).toBe(false);
    });
  }

  it('IPv4 header checksums of the literal frames', () => {
    for (const [frame, value] of [[SYN4, 0xb835], [DNS_QUERY, 0x590b]] as const) {
      expect(referenceChecksum(zeroed(frame, 24).subarray(14, 34))).toBe(value);
      const copy = zeroed(frame, 24);
      expect(new Ipv4View(copy, 14).fillHeaderChecksum()).toBe(value);
      expect(copy.equals(frame)).toBe(true);
    }
  });

  it('ICMP over IPv4 has no pseudo-header', () => {
    const echo = hex('0800 0000 1f2e 0001 6c6f6f6b');
    const packet = Buffer.concat([hex('4500 0020 0000 4000 4001 0000 c6336402 cb00710a'), echo]);
    expect(l4Checksum4(packet, 0, 20, 12)).toBe(0xfcf5);
    expect(referenceChecksum(packet.subarray(20))).toBe(0);
    packet.writeUInt32BE(0x0a000001, 12); // another source changes nothing
    expect(l4ChecksumValid4(packet, 0, 20, 12)).toBe(true);
  });

  it('writes at a caller-given checksum offset', () => {
    const copy = Buffer.from(NS);
    copy.writeUInt16BE(0, 56);
    expect(l4Checksum6(copy, 14, 54, 32, 2, 58)).toBe(0x615a);
    expect(copy.equals(NS)).toBe(true);
  });
});

describe('UDP zero checksum', () => {
  /**
   * A UDP (protocol 17) or TCP (6) packet whose layer-4 checksum computes to
   * 0: its last two data bytes are chosen, with the reference routine, so
   * that the whole ones'-complement sum is 0xffff.
   */
  function zeroSumPacket(v6: boolean, protocol: 6 | 17): { packet: Buffer; ipLen: number; l4Len: number; field: number } {
    const l4 =
      protocol === 17
        ? hex('d431 0035 000a 0000 0000')
        : hex('9c40 1f90 00000001 00000000 5010 ffff 0000 0000 0000');
    const ipHeader = v6
      ? hex('60000000 0000 00 40 20010db8000000000000000000000002 20010db8000100000000000000000010')
      : hex('4500 0000 0000 4000 4000 0000 c6336402 cb00710a');
    if (v6) {
      ipHeader.writeUInt16BE(l4.length, 4);
      ipHeader[6] = protocol;
    } else {
      ipHeader.writeUInt16BE(20 + l4.length, 2);
      ipHeader[9] = protocol;
    }
    const pseudo = v6
      ? pseudo6(ipHeader.subarray(8, 24), ipHeader.subarray(24, 40), protocol, l4.length)
      : pseudo4(ipHeader.subarray(12, 16), ipHeader.subarray(16, 20), protocol, l4.length);
    const foldedSoFar = 0xffff - referenceChecksum(pseudo, l4);
    l4.writeUInt16BE(0xffff - foldedSoFar, l4.length - 2);
    expect(referenceChecksum(pseudo, l4)).toBe(0);
    return {
      packet: Buffer.concat([ipHeader, l4]),
      ipLen: ipHeader.length,
      l4Len: l4.length,
      field: protocol === 17 ? 6 : 16,
    };
  }

  it('is sent as 0xffff over IPv4 and IPv6, while TCP sends 0', () => {
    for (const v6 of [false, true]) {
      for (const protocol of [17, 6] as const) {
        const { packet, ipLen, l4Len, field } = zeroSumPacket(v6, protocol);
        const written = v6 ? l4Checksum6(packet, 0, ipLen, l4Len) : l4Checksum4(packet, 0, ipLen, l4Len);
        const expected = protocol === 17 ? 0xffff : 0;
        expect(written, `v6=${v6} protocol=${protocol}`).toBe(expected);
        expect(packet.readUInt16BE(ipLen + field)).toBe(expected);
        const valid = v6 ? l4ChecksumValid6 : l4ChecksumValid4;
        expect(valid(packet, 0, ipLen, l4Len)).toBe(true);
      }
    }
  });

  it('of 0 means "none" over IPv4 but is invalid over IPv6', () => {
    const v4 = Buffer.from(DNS_QUERY);
    v4.writeUInt16BE(0, 40);
    expect(l4ChecksumValid4(v4, 14, 34, 37)).toBe(true);
    const { packet, ipLen, l4Len } = zeroSumPacket(true, 17);
    packet.writeUInt16BE(0, ipLen + 6);
    expect(l4ChecksumValid6(packet, 0, ipLen, l4Len)).toBe(true); // 0 and 0xffff are both zero...
    packet.writeUInt16BE(0x1234, ipLen + l4Len - 2);
    expect(l4ChecksumValid6(packet, 0, ipLen, l4Len)).toBe(false); // ...but not "no checksum"
  });
});

describe('RFC 1624 incremental updates', () => {
  /** Random buffer of `len` bytes, not all zero, and its full checksum. */
  function randomPacket(random: () => number, len: number): { buf: Buffer; check: number } {
    const buf = Buffer.alloc(len);
    for (let i = 0; i < len; i++) buf[i] = Math.floor(random() * 256);
    buf[0] |= 1;
    return { buf, check: finish(sum16(buf, 0, len)) };
  }

  it('updateChecksum16 equals full recomputation', () => {
    const random = prng(1624);
    for (let n = 0; n < 2000; n++) {
      const { buf, check } = randomPacket(random, 2 + 2 * Math.floor(random() * 750));
      const pos = 2 * Math.floor(random() * (buf.length / 2));
      if (pos === 0) continue; // keep the packet non-zero
      const oldWord = buf.readUInt16BE(pos);
      const newWord = n % 10 === 0 ? (n % 20 === 0 ? 0 : 0xffff) : Math.floor(random() * 0x10000);
      buf.writeUInt16BE(newWord, pos);
      expect(updateChecksum16(check, oldWord, newWord)).toBe(finish(sum16(buf, 0, buf.length)));
    }
  });

  it('updateChecksum32 equals full recomputation', () => {
    const random = prng(32);
    for (let n = 0; n < 2000; n++) {
      const { buf, check } = randomPacket(random, 8 + 2 * Math.floor(random() * 100));
      const pos = 2 + 2 * Math.floor(random() * ((buf.length - 6) / 2));
      const oldValue = buf.readUInt32BE(pos);
      const newValue = Math.floor(random() * 0x100000000);
      buf.writeUInt32BE(newValue, pos);
      expect(updateChecksum32(check, oldValue, newValue)).toBe(finish(sum16(buf, 0, buf.length)));
    }
  });

  it('updateChecksumAddress equals full recomputation for 4- and 16-byte addresses', () => {
    const random = prng(6);
    for (let n = 0; n < 2000; n++) {
      const size = n % 2 ? 16 : 4;
      const { buf, check } = randomPacket(random, 40 + 2 * Math.floor(random() * 100));
      const pos = 2 + 2 * Math.floor(random() * ((buf.length - size - 2) / 2));
      const oldAddress = Buffer.from(buf.subarray(pos, pos + size));
      const newAddress = Buffer.alloc(size);
      for (let i = 0; i < size; i++) newAddress[i] = Math.floor(random() * 256);
      buf.set(newAddress, pos);
      expect(updateChecksumAddress(check, oldAddress, newAddress)).toBe(finish(sum16(buf, 0, buf.length)));
    }
  });

  it('rewrites the destination of a real IPv4 SYN: IP and TCP checksums both', () => {
    const frame = Buffer.from(SYN4);
    const ip = new Ipv4View(frame, 14);
    const oldDst = Buffer.from(ip.dst);
    const newDst = hex('7f000001');
    ip.dst = newDst;
    const ipCheck = updateChecksumAddress(ip.checksum, oldDst, newDst);
    const tcpCheck = updateChecksumAddress(frame.readUInt16BE(50), oldDst, newDst);
    ip.checksum = ipCheck;
    frame.writeUInt16BE(tcpCheck, 50);
    expect(ip.headerChecksumValid()).toBe(true);
    expect(l4ChecksumValid4(frame, 14, 34, 40)).toBe(true);
    const full = Buffer.from(frame);
    expect(new Ipv4View(full, 14).fillHeaderChecksum()).toBe(ipCheck);
    expect(l4Checksum4(full, 14, 34, 40)).toBe(tcpCheck);
    // Decrementing the TTL: the word holding TTL and protocol changes.
    const oldWord = frame.readUInt16BE(22);
    ip.ttl -= 1;
    ip.checksum = updateChecksum16(ip.checksum, oldWord, frame.readUInt16BE(22));
    expect(ip.headerChecksumValid()).toBe(true);
  });

  it('rewrites the source of a real IPv6 SYN', () => {
    const frame = Buffer.from(SYN6);
    const oldSrc = Buffer.from(frame.subarray(22, 38));
    const newSrc = hex('fe800000000000009855 9aff fe55 9a55');
    frame.set(newSrc, 22);
    frame.writeUInt16BE(updateChecksumAddress(frame.readUInt16BE(70), oldSrc, newSrc), 70);
    expect(l4ChecksumValid6(frame, 14, 54, 40)).toBe(true);
    const check = frame.readUInt16BE(70);
    expect(l4Checksum6(frame, 14, 54, 40)).toBe(check);
  });
});
