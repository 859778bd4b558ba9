import { describe, expect, it } from 'vitest';
import {
  addressEqual,
  applyPrefix,
  formatIP,
  formatIPv4,
  formatIPv6,
  isLinkLocal4,
  isLinkLocal6,
  isLoopback,
  isMulticast,
  isUnspecified,
  parseIP,
  parseIPv4,
  parseIPv6,
  prefixMatch,
} from '../../src/inet.js';

/** Bytes from hex text, spaces ignored. */
function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

describe('parseIPv4', () => {
  const valid: [string, number[]][] = [
    ['0.0.0.0', [0, 0, 0, 0]],
    ['198.51.100.2', [198, 51, 100, 2]],
    ['255.255.255.255', [255, 255, 255, 255]],
    ['127.0.0.1', [127, 0, 0, 1]],
    ['10.0.2.0', [10, 0, 2, 0]],
  ];
  it.each(valid)('parses %s', (text, bytes) => {
    expect(parseIPv4(text)).toEqual(Uint8Array.from(bytes));
  });

  const invalid = [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.0.0.1',
    '1.2.3.-1',
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3.0x4',
    '1..3.4',
    '1.2.3.4 ',
    ' 1.2.3.4',
    '1.2.3.4/24',
    '1234.1.1.1',
    '::1',
    'a.b.c.d',
    '1.2.3.',
  ];
  it.each(invalid)('rejects %j', (text) => {
    expect(parseIPv4(text)).toBeUndefined();
  });
});

describe('parseIPv6', () => {
  const valid: [string, string][] = [
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['1::', '00010000000000000000000000000000'],
    ['2001:db8::2', '20010db8000000000000000000000002'],
    ['2001:DB8::2', '20010db8000000000000000000000002'],
    ['2001:0db8:0000:0000:0000:0000:0000:0002', '20010db8000000000000000000000002'],
    ['2001:db8:0:0:1:0:0:1', '20010db8000000000001000000000001'],
    ['fe80::1:2:3:4', 'fe800000000000000001000200030004'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
    ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
    ['1::8', '00010000000000000000000000000008'],
    ['::ffff:1.2.3.4', '00000000000000000000ffff01020304'],
    ['::ffff:198.51.100.2', '00000000000000000000ffffc6336402'],
    ['::1.2.3.4', '00000000000000000000000001020304'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221'],
    ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
    ['1:2:3:4:5::1.2.3.4', '00010002000300040005000001020304'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255', 'ffffffffffffffffffffffffffffffff'],
  ];
  it.each(valid)('parses %s', (text, bytes) => {
    expect(parseIPv6(text)).toEqual(hex(bytes));
  });

  const invalid = [
    '',
    ':',
    ':::',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7:8::',
    '::1:2:3:4:5:6:7:8',
    '1::2::3',
    '1:::2',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:',
    ':1::2',
    '1::2:',
    '12345::1',
    'g::1',
    'fe80::1%eth0',
    'fe80::1%1',
    '[::1]',
    '2001:db8::/32',
    '1.2.3.4',
    '1.2.3.4::',
    '::1.2.3.4:5',
    '::ffff:1.2.3',
    '::ffff:1.2.3.256',
    '1:2:3:4:5:6:7:1.2.3.4',
    ' ::1',
    '::1 ',
  ];
  it.each(invalid)('rejects %j', (text) => {
    expect(parseIPv6(text)).toBeUndefined();
  });
});

describe('parseIP', () => {
  it('tells the families apart', () => {
    expect(parseIP('198.51.100.1')).toEqual({ family: 4, addr: Uint8Array.from([198, 51, 100, 1]) });
    expect(parseIP('2001:db8::1')).toEqual({ family: 6, addr: hex('20010db8000000000000000000000001') });
    expect(parseIP('::ffff:1.2.3.4')?.family).toBe(6);
    expect(parseIP('eth0')).toBeUndefined();
    expect(parseIP('')).toBeUndefined();
  });
});

describe('formatIPv6 (RFC 5952, as glibc)', () => {
  const cases: [string, string][] = [
    ['00000000000000000000000000000000', '::'],
    ['00000000000000000000000000000001', '::1'],
    ['00010000000000000000000000000000', '1::'],
    ['20010db8000000000000000000000002', '2001:db8::2'],
    // leading zeros dropped, lowercase
    ['20010DB800AB000C0000000000000001', '2001:db8:ab:c::1'],
    // a single zero group is not shortened
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
    ['00010002000300040005000600070000', '1:2:3:4:5:6:7:0'],
    // the longest run wins
    ['20010000000000010000000000000001', '2001:0:0:1::1'],
    // the first of equal runs wins
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['00010000000000020000000000030000', '1::2:0:0:3:0'],
    ['00010000000000020000000000000003', '1:0:0:2::3'],
    ['fe800000000000000001000200030004', 'fe80::1:2:3:4'],
    ['ff020000000000000000000000000001', 'ff02::1'],
    ['ffffffffffffffffffffffffffffffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    // IPv4-mapped keeps a dotted tail
    ['00000000000000000000ffffc6336402', '::ffff:198.51.100.2'],
    ['00000000000000000000ffff00000000', '::ffff:0.0.0.0'],
    // IPv4-compatible (first six groups zero) in dotted form, as glibc's inet_ntop()
    ['00000000000000000000000001020304', '::1.2.3.4'],
    ['00000000000000000000000001020000', '::1.2.0.0'],
    ['00000000000000000000000000000002', '::2'],
    ['00000000000000000000000100000000', '::1:0:0'],
    ['00000000000000000000fffe01020304', '::fffe:102:304'],
    // other forms with IPv4 inside are written in hex
    ['0064ff9b0000000000000000c0000221', '64:ff9b::c000:221'],
  ];
  it.each(cases)('formats %s as %s', (bytes, text) => {
    expect(formatIPv6(hex(bytes))).toBe(text);
    // and the text parses back to the same bytes
    expect(parseIPv6(text)).toEqual(hex(bytes));
  });
});

describe('formatIPv4 and formatIP', () => {
  it('formats by length', () => {
    expect(formatIPv4(Uint8Array.from([198, 51, 100, 2]))).toBe('198.51.100.2');
    expect(formatIP(Uint8Array.from([0, 0, 0, 0]))).toBe('0.0.0.0');
    expect(formatIP(hex('20010db8000000000000000000000001'))).toBe('2001:db8::1');
    expect(formatIP(new Uint8Array(5))).toBe('<invalid address: 5 bytes>');
  });
});

describe('predicates', () => {
  const table: [string, { unspecified: boolean; loopback: boolean; linkLocal6: boolean; linkLocal4: boolean; multicast: boolean }][] = [
    ['0.0.0.0', { unspecified: true, loopback: false, linkLocal6: false, linkLocal4: false, multicast: false }],
    ['::', { unspecified: true, loopback: false, linkLocal6: false, linkLocal4: false, multicast: false }],
    ['127.0.0.1', { unspecified: false, loopback: true, linkLocal6: false, linkLocal4: false, multicast: false }],
    ['127.255.0.9', { unspecified: false, loopback: true, linkLocal6: false, linkLocal4: false, multicast: false }],
    ['::1', { unspecified: false, loopback: true, linkLocal6: false, linkLocal4: false, multicast: false }],
    ['::ffff:127.0.0.1', { unspecified: false, loopback: false, linkLocal6: false, linkLocal4: false, multicast: false }],
    ['fe80::1', { unspecified: false, loopback: false, linkLocal6: true, linkLocal4: false, multicast: false }],
    ['febf:ffff::1', { unspecified: false, loopback: false, linkLocal6: true, linkLocal4: false, multicast: false }],
    ['fec0::1', { unspecified: false, loopback: false, linkLocal6: false, linkLocal4: false, multicast: false }],
    ['169.254.1.1', { unspecified: false, loopback: false, linkLocal6: false, linkLocal4: true, multicast: false }],
    ['224.0.0.1', { unspecified: false, loopback: false, linkLocal6: false, linkLocal4: false, multicast: true }],
    ['239.255.255.250', { unspecified: false, loopback: false, linkLocal6: false, linkLocal4: false, multicast: true }],
    ['240.0.0.1', { unspecified: false, loopback: false, linkLocal6: false, linkLocal4: false, multicast: false }],
    ['ff02::1', { unspecified: false, loopback: false, linkLocal6: false, linkLocal4: false, multicast: true }],
    ['2001:db8::2', { unspecified: false, loopback: false, linkLocal6: false, linkLocal4: false, multicast: false }],
    ['198.51.100.2', { unspecified: false, loopback: false, linkLocal6: false, linkLocal4: false, multicast: false }],
  ];
  it.each(table)('%s', (text, expected) => {
    const addr = parseIP(text)!.addr;
    expect({
      unspecified: isUnspecified(addr),
      loopback: isLoopback(addr),
      linkLocal6: isLinkLocal6(addr),
      linkLocal4: isLinkLocal4(addr),
      multicast: isMulticast(addr),
    }).toEqual(expected);
  });

  it('answers false for other lengths', () => {
    const odd = new Uint8Array(6);
    expect(isUnspecified(odd)).toBe(false);
    expect(isLoopback(odd)).toBe(false);
    expect(isMulticast(odd)).toBe(false);
    expect(isLinkLocal6(odd)).toBe(false);
  });
});

describe('prefixes', () => {
  const v4 = (s: string): Uint8Array => parseIPv4(s)!;
  const v6 = (s: string): Uint8Array => parseIPv6(s)!;

  const matches: [string, string, number, boolean][] = [
    ['198.51.100.2', '198.51.100.1', 24, true],
    ['198.51.100.2', '198.51.101.1', 24, false],
    ['198.51.100.2', '198.51.101.1', 23, true],
    ['198.51.100.2', '198.51.100.3', 31, true],
    ['198.51.100.2', '198.51.100.4', 30, false],
    ['198.51.100.2', '198.51.100.3', 30, true],
    ['198.51.100.2', '198.51.100.2', 32, true],
    ['198.51.100.2', '198.51.100.3', 32, false],
    ['10.0.0.1', '192.168.0.1', 0, true],
    ['10.0.0.1', '11.0.0.1', 7, true],
    ['10.0.0.1', '11.0.0.1', 8, false],
    ['198.51.100.2', '198.51.100.3', 40, false], // clamped to 32
    ['2001:db8::2', '2001:db8::1', 64, true],
    ['2001:db8::2', '2001:db8:1::1', 48, false],
    ['2001:db8::2', '2001:db8:1::1', 47, true],
    ['fe80::1', 'febf::1', 10, true],
    ['fe80::1', 'fec0::1', 10, false],
    ['2001:db8::2', '2001:db8::2', 128, true],
  ];
  it.each(matches)('prefixMatch(%s, %s, %i) is %s', (a, b, length, expected) => {
    const parse = (s: string): Uint8Array => (s.includes(':') ? v6(s) : v4(s));
    expect(prefixMatch(parse(a), parse(b), length)).toBe(expected);
  });

  it('never matches across families', () => {
    expect(prefixMatch(v4('0.0.0.0'), v6('::'), 0)).toBe(false);
  });

  const applied: [string, number, string][] = [
    ['198.51.100.2', 24, '198.51.100.0'],
    ['198.51.100.130', 25, '198.51.100.128'],
    ['198.51.100.255', 30, '198.51.100.252'],
    ['198.51.100.2', 32, '198.51.100.2'],
    ['198.51.100.2', 0, '0.0.0.0'],
    ['198.51.100.2', 12, '198.48.0.0'],
    ['2001:db8:1:2:3:4:5:6', 64, '2001:db8:1:2::'],
    ['2001:db8:1:2:3:4:5:6', 48, '2001:db8:1::'],
    ['2001:db8:ffff::1', 36, '2001:db8:f000::'],
    ['2001:db8::1', 128, '2001:db8::1'],
    ['2001:db8::1', 200, '2001:db8::1'],
  ];
  it.each(applied)('applyPrefix(%s, %i) is %s', (text, length, expected) => {
    const addr = parseIP(text)!.addr;
    const before = addr.slice();
    expect(formatIP(applyPrefix(addr, length))).toBe(expected);
    expect(addr).toEqual(before);
  });

  it('addressEqual compares length and bytes', () => {
    expect(addressEqual(v4('1.2.3.4'), v4('1.2.3.4'))).toBe(true);
    expect(addressEqual(v4('1.2.3.4'), v4('1.2.3.5'))).toBe(false);
    expect(addressEqual(v4('0.0.0.0'), v6('::'))).toBe(false);
  });
});
