/**
 * rtnetlink encoding and parsing against bytes written out by hand from the
 * layouts in linux/netlink.h and linux/rtnetlink.h (little-endian host), and
 * the Netlink class against a fake kernel.
 */
import { describe, expect, it } from 'vitest';
import {
  IFF_NOARP,
  NLM_F_CREATE,
  NetlinkRequestError,
  addrCopyPayload,
  addrNodadPayload,
  routeCopyPayload,
  routeInterfaces,
  encodeTcpListenDumpRequest,
  decodeInetDiagMsg,
  SOCK_DIAG_BY_FAMILY,
  IFA_F_NODAD,
  IFA_F_NOPREFIXROUTE,
  IFA_F_PERMANENT,
  IFF_UP,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTPROT_STATIC,
  RT_SCOPE_LINK,
  RT_TABLE_MAIN,
  RTN_UNICAST,
  Netlink,
  type NetlinkMessage,
  type NetlinkTransport,
  decodeAddr,
  decodeDone,
  decodeError,
  decodeLink,
  decodeRoute,
  describeErrno,
  encodeAddrAddRequest,
  encodeAddrDumpRequest,
  encodeAttribute,
  encodeLinkDumpRequest,
  encodeLinkSetRequest,
  encodeMessage,
  encodeNested,
  encodeRouteAddRequest,
  encodeRouteDumpRequest,
  encodeStringAttribute,
  encodeU32Attribute,
  parseAttributes,
  parseMessages,
} from '../../src/netlink.js';
import { parseIPv4, parseIPv6 } from '../../src/inet.js';

/** Bytes from hex text; spaces, newlines and `|` separators are ignored. */
function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/[\s|]+/g, ''), 'hex'));
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Compare as hex so a mismatch shows where the bytes differ. */
function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(toHex(actual)).toBe(toHex(expected));
}

const v4 = (s: string): Uint8Array => parseIPv4(s)!;
const v6 = (s: string): Uint8Array => parseIPv6(s)!;

// --- replies as the kernel sends them, written out by hand ----------------------

/** RTM_NEWLINK eth0, index 2, ARPHRD_ETHER, UP|BROADCAST|RUNNING|MULTICAST|LOWER_UP, mtu 1500, 02:00:00:00:00:01. */
const newlinkEth0 = hex(`
  40000000 1000 0200 01000000 39300000
  00 00 0100 02000000 43100100 00000000
  0900 0300 65746830 00 000000
  0800 0400 dc050000
  0a00 0100 020000000001 0000
`);

/** RTM_NEWLINK lo, index 1, ARPHRD_LOOPBACK (772), UP|LOOPBACK|RUNNING|LOWER_UP, mtu 65536, 00:00:00:00:00:00. */
const newlinkLo = hex(`
  44000000 1000 0200 01000000 39300000
  00 00 0403 01000000 49000100 00000000
  0700 0300 6c6f00 00
  0800 0400 00000100
  0a00 0100 000000000000 0000
  0800 ffff 00000000
`);

/** NLMSG_DONE for seq 1, error 0. */
const done1 = hex('14000000 0300 0200 01000000 39300000 00000000');

/** RTM_NEWADDR 198.51.100.2/24 on index 2: IFA_ADDRESS, IFA_LOCAL, IFA_LABEL eth0, IFA_FLAGS permanent. */
const newaddrV4 = hex(`
  3c000000 1400 0200 02000000 39300000
  02 18 80 00 02000000
  0800 0100 c6336402
  0800 0200 c6336402
  0900 0300 65746830 00 000000
  0800 0800 80000000
`);

/** RTM_NEWADDR point-to-point: local 10.0.0.1, peer (IFA_ADDRESS) 10.0.0.2, /32, index 5. */
const newaddrV4Peer = hex(`
  28000000 1400 0200 02000000 39300000
  02 20 80 00 05000000
  0800 0100 0a000002
  0800 0200 0a000001
`);

/** RTM_NEWADDR 2001:db8::2/64 on index 3, IFA_CACHEINFO, IFA_FLAGS permanent|noprefixroute (0x280). */
const newaddrV6 = hex(`
  48000000 1400 0200 02000000 39300000
  0a 40 80 00 03000000
  1400 0100 20010db8 00000000 00000000 00000002
  1400 0600 ffffffff ffffffff 64000000 64000000
  0800 0800 80020000
`);

/** RTM_NEWROUTE ::/0 via 2001:db8::1 dev index 3, table main, proto static, metric 1024, RTA_PREF. */
const newrouteV6Default = hex(`
  50000000 1800 0200 03000000 39300000
  0a 00 00 00 fe 04 00 01 00000000
  0800 0f00 fe000000
  0800 0600 00040000
  1400 0500 20010db8 00000000 00000000 00000001
  0800 0400 03000000
  0500 1400 00 000000
`);

/** NLMSG_ERROR -17 (EEXIST) for an RTM_NEWADDR with seq 7, request echoed (header only). */
const errorEexist = hex(`
  24000000 0200 0000 07000000 39300000
  efffffff
  34000000 1400 0506 07000000 00000000
`);

describe('encodeMessage and attributes', () => {
  it('writes nlmsghdr and pads the payload to 4 bytes', () => {
    // nlmsg_len counts 16 + 5 (unpadded); the buffer is padded to 24.
    expectBytes(
      encodeMessage(RTM_GETLINK, 0x0305, 0x01020304, hex('aabbccddee')),
      hex('15000000 1200 0503 04030201 00000000 aabbccddee 000000'),
    );
  });

  it('encodes attributes with 4-byte alignment', () => {
    expectBytes(encodeAttribute(1, hex('c6336402')), hex('0800 0100 c6336402'));
    expectBytes(encodeAttribute(1, hex('020000000001')), hex('0a00 0100 020000000001 0000'));
    expectBytes(encodeAttribute(7, new Uint8Array(0)), hex('0400 0700'));
    expectBytes(encodeU32Attribute(4, 65520), hex('0800 0400 f0ff0000'));
    expectBytes(encodeStringAttribute(3, 'eth0'), hex('0900 0300 65746830 00 000000'));
  });

  it('nests attributes', () => {
    const nested = encodeNested(18, [encodeStringAttribute(1, 'veth'), encodeU32Attribute(2, 7)]);
    expectBytes(nested, hex('1800 1280 | 0900 0100 76657468 00 000000 | 0800 0200 07000000'));
    expectBytes(encodeNested(18, [], false), hex('0400 1200'));
    const [outer] = parseAttributes(nested);
    expect(outer).toMatchObject({ type: 18, nested: true });
    expect(parseAttributes(outer!.value).map((a) => [a.type, toHex(a.value)])).toEqual([
      [1, '7665746800'],
      [2, '07000000'],
    ]);
  });
});

describe('request encoders', () => {
  it('RTM_NEWADDR 198.51.100.2/24 on index 2', () => {
    expectBytes(
      encodeAddrAddRequest(1, 2, 4, v4('198.51.100.2'), 24),
      hex(`
        28000000 1400 0506 01000000 00000000
        02 18 00 00 02000000
        0800 0200 c6336402
        0800 0100 c6336402
      `),
    );
  });

  it('RTM_NEWADDR 2001:db8::2/64 on index 3, nodad', () => {
    expectBytes(
      encodeAddrAddRequest(7, 3, 6, v6('2001:db8::2'), 64, { nodad: true }),
      hex(`
        34000000 1400 0506 07000000 00000000
        0a 40 02 00 03000000
        1400 0100 20010db8 00000000 00000000 00000002
        0800 0800 02000000
      `),
    );
  });

  it('RTM_NEWADDR with noprefixroute needs IFA_FLAGS', () => {
    const bytes = encodeAddrAddRequest(2, 4, 4, v4('10.0.2.15'), 24, { nodad: true, noprefixroute: true });
    expectBytes(
      bytes,
      hex(`
        30000000 1400 0506 02000000 00000000
        02 18 02 00 04000000
        0800 0200 0a00020f
        0800 0100 0a00020f
        0800 0800 02020000
      `),
    );
    expect(IFA_F_NODAD | IFA_F_NOPREFIXROUTE).toBe(0x202);
  });

  it('RTM_NEWROUTE default via 198.51.100.1 on index 2', () => {
    expectBytes(
      encodeRouteAddRequest(2, { family: 4, dst: null, dstLen: 0, gateway: v4('198.51.100.1'), oif: 2 }),
      hex(`
        2c000000 1800 0506 02000000 00000000
        02 00 00 00 fe 04 00 01 00000000
        0800 0500 c6336401
        0800 0400 02000000
      `),
    );
  });

  it('RTM_NEWROUTE 2001:db8:1::/48 via 2001:db8::1 onlink metric 1024', () => {
    expectBytes(
      encodeRouteAddRequest(9, {
        family: 6,
        dst: v6('2001:db8:1::'),
        dstLen: 48,
        gateway: v6('2001:db8::1'),
        oif: 3,
        priority: 1024,
        onlink: true,
      }),
      hex(`
        54000000 1800 0506 09000000 00000000
        0a 30 00 00 fe 04 00 01 04000000
        1400 0100 20010db8 00010000 00000000 00000000
        1400 0500 20010db8 00000000 00000000 00000001
        0800 0400 03000000
        0800 0600 00040000
      `),
    );
  });

  it('RTM_NEWROUTE without gateway has link scope; big tables go in RTA_TABLE', () => {
    expectBytes(
      encodeRouteAddRequest(3, { family: 4, dst: v4('198.51.100.0'), dstLen: 24, gateway: null, oif: 2, table: 1000 }),
      hex(`
        34000000 1800 0506 03000000 00000000
        02 18 00 00 fc 04 fd 01 00000000
        0800 0100 c6336400
        0800 0400 02000000
        0800 0f00 e8030000
      `),
    );
  });

  it('RTM_NEWLINK up, down, mtu, address', () => {
    expectBytes(
      encodeLinkSetRequest(3, 3, { up: true }),
      hex('20000000 1000 0500 03000000 00000000 | 00 00 0000 03000000 01000000 01000000'),
    );
    expectBytes(
      encodeLinkSetRequest(4, 3, { up: false }),
      hex('20000000 1000 0500 04000000 00000000 | 00 00 0000 03000000 00000000 01000000'),
    );
    expectBytes(
      encodeLinkSetRequest(5, 3, { mtu: 65520 }),
      hex('28000000 1000 0500 05000000 00000000 | 00 00 0000 03000000 00000000 00000000 | 0800 0400 f0ff0000'),
    );
    expectBytes(
      encodeLinkSetRequest(6, 3, { mac: hex('9a5536a1c2d4') }),
      hex('2c000000 1000 0500 06000000 00000000 | 00 00 0000 03000000 00000000 00000000 | 0a00 0100 9a5536a1c2d4 0000'),
    );
  });

  it('dump requests', () => {
    expectBytes(
      encodeLinkDumpRequest(1),
      hex('20000000 1200 0503 01000000 00000000 | 00000000 00000000 00000000 00000000'),
    );
    expectBytes(encodeAddrDumpRequest(2, 6), hex('18000000 1600 0503 02000000 00000000 | 0a000000 00000000'));
    expectBytes(
      encodeRouteDumpRequest(3, 4),
      hex('1c000000 1a00 0503 03000000 00000000 | 02000000 00000000 00000000'),
    );
  });
});

describe('parseMessages and decoders', () => {
  it('splits a datagram with RTM_NEWLINK and NLMSG_DONE', () => {
    const messages = parseMessages(new Uint8Array([...newlinkEth0, ...done1]));
    expect(messages.malformed).toBeUndefined();
    expect(messages.map((m) => [m.type, m.flags, m.seq, m.pid])).toEqual([
      [RTM_NEWLINK, NLM_F_MULTI, 1, 12345],
      [NLMSG_DONE, NLM_F_MULTI, 1, 12345],
    ]);
    expect(decodeLink(messages[0]!)).toEqual({
      index: 2,
      name: 'eth0',
      flags: 0x11043,
      mtu: 1500,
      mac: hex('020000000001'),
      up: true,
      type: 1,
    });
    expect(decodeDone(messages[1]!)).toBe(0);
    expect(decodeDone(messages[0]!)).toBeUndefined();
    expect(decodeLink(messages[1]!)).toBeUndefined();
  });

  it('decodes lo, skipping an unknown attribute', () => {
    const [message] = parseMessages(newlinkLo);
    expect(decodeLink(message!)).toEqual({
      index: 1,
      name: 'lo',
      flags: 0x10049,
      mtu: 65536,
      mac: new Uint8Array(6),
      up: true,
      type: 772,
    });
  });

  it('decodes RTM_NEWADDR IPv4', () => {
    const [message] = parseMessages(newaddrV4);
    expect(decodeAddr(message!)).toEqual({
      family: 4,
      index: 2,
      prefixLen: 24,
      addr: v4('198.51.100.2'),
      scope: 0,
      flags: IFA_F_PERMANENT,
    });
  });

  it('prefers IFA_LOCAL over IFA_ADDRESS (the peer on point-to-point links)', () => {
    const [message] = parseMessages(newaddrV4Peer);
    expect(decodeAddr(message!)).toMatchObject({ index: 5, prefixLen: 32, addr: v4('10.0.0.1') });
  });

  it('decodes RTM_NEWADDR IPv6 with 32-bit IFA_FLAGS', () => {
    const [message] = parseMessages(newaddrV6);
    expect(decodeAddr(message!)).toEqual({
      family: 6,
      index: 3,
      prefixLen: 64,
      addr: v6('2001:db8::2'),
      scope: 0,
      flags: IFA_F_PERMANENT | IFA_F_NOPREFIXROUTE,
    });
  });

  it('decoded addresses do not alias the receive buffer', () => {
    const buffer = newaddrV6.slice();
    const info = decodeAddr(parseMessages(buffer)[0]!)!;
    buffer.fill(0);
    expect(info.addr).toEqual(v6('2001:db8::2'));
  });

  it('decodes a default IPv6 route with gateway', () => {
    const [message] = parseMessages(newrouteV6Default);
    expect(decodeRoute(message!)).toEqual({
      family: 6,
      table: RT_TABLE_MAIN,
      dst: null,
      dstLen: 0,
      gateway: v6('2001:db8::1'),
      oif: 3,
      priority: 1024,
      protocol: RTPROT_STATIC,
      scope: 0,
      type: RTN_UNICAST,
      flags: 0,
    });
  });

  it('takes the first next hop of a multipath route', () => {
    // 0.0.0.0/0, RTA_MULTIPATH: {len 16, ifindex 4, RTA_GATEWAY 198.51.100.1}, {len 16, ifindex 5, gw .2}
    const bytes = hex(`
      40000000 1800 0200 03000000 00000000
      02 00 00 00 fe 03 00 01 00000000
      2400 0900
        1000 00 00 04000000 0800 0500 c6336401
        1000 00 00 05000000 0800 0500 c6336402
    `);
    expect(decodeRoute(parseMessages(bytes)[0]!)).toMatchObject({ oif: 4, gateway: v4('198.51.100.1') });
  });

  it('decodes NLMSG_ERROR with -17', () => {
    const [message] = parseMessages(errorEexist);
    expect(message!.type).toBe(NLMSG_ERROR);
    expect(decodeError(message!)).toEqual({
      errno: 17,
      request: { length: 0x34, type: RTM_NEWADDR, flags: 0x605, seq: 7 },
    });
    expect(describeErrno(17)).toBe('File exists (EEXIST)');
    expect(describeErrno(-19)).toBe('No such device (ENODEV)');
    expect(describeErrno(100000)).toBe('errno 100000');
  });

  it('decodes an ACK and an extended-ack message', () => {
    const ack = hex('24000000 0200 0001 05000000 00000000 00000000 | 20000000 1000 0500 05000000 00000000');
    expect(decodeError(parseMessages(ack)[0]!)?.errno).toBe(0);

    // flags NLM_F_CAPPED | NLM_F_ACK_TLVS, error -22, capped request header, NLMSGERR_ATTR_MSG "bad gw"
    const ext = hex(`
      30000000 0200 0003 06000000 00000000
      eaffffff
      4c000000 1800 0506 06000000 00000000
      0b00 0100 62616420677700 00
    `);
    expect(decodeError(parseMessages(ext)[0]!)).toMatchObject({ errno: 22, text: 'bad gw' });
  });

  it('decodes NLMSG_DONE carrying a dump error', () => {
    const message = parseMessages(hex('14000000 0300 0200 01000000 00000000 f9ffffff'))[0]!;
    expect(decodeDone(message)).toBe(7);
    const bare = parseMessages(hex('10000000 0300 0200 01000000 00000000'))[0]!;
    expect(decodeDone(bare)).toBe(0);
  });
});

describe('malformed input never throws', () => {
  it('a header cut short', () => {
    const result = parseMessages(new Uint8Array([...newlinkEth0, ...done1.subarray(0, 10)]));
    expect(result).toHaveLength(1);
    expect(result.malformed).toMatch(/truncated header at offset 64/);
  });

  it('nlmsg_len past the end', () => {
    const result = parseMessages(newlinkEth0.subarray(0, 40));
    expect(result).toHaveLength(0);
    expect(result.malformed).toMatch(/past the end/);
  });

  it('nlmsg_len 0 and below the header size', () => {
    const zero = new Uint8Array([...done1, ...new Uint8Array(16)]);
    const result = parseMessages(zero);
    expect(result).toHaveLength(1);
    expect(result.malformed).toMatch(/nlmsg_len 0 at offset 20/);
    expect(parseMessages(hex('0f000000 0300 0000 01000000 00000000')).malformed).toMatch(/nlmsg_len 15/);
  });

  it('empty input', () => {
    const result = parseMessages(new Uint8Array(0));
    expect(result).toHaveLength(0);
    expect(result.malformed).toBeUndefined();
  });

  it('attributes with nla_len < 4 or past the end stop attribute parsing', () => {
    expect(parseAttributes(hex('0800 0100 c6336402 | 0200 0200 00000000'))).toHaveLength(1);
    expect(parseAttributes(hex('0800 0100 c6336402 | 0000 0200'))).toHaveLength(1);
    expect(parseAttributes(hex('0800 0100 c6336402 | 0c00 0200 00000000'))).toHaveLength(1);
    expect(parseAttributes(hex('0800 0100 c633'))).toHaveLength(0);
    expect(parseAttributes(hex('08'))).toHaveLength(0);
  });

  it('decoders reject short or inconsistent payloads', () => {
    const message = (type: number, payload: string): NetlinkMessage => ({
      type,
      flags: 0,
      seq: 1,
      pid: 0,
      payload: hex(payload),
    });
    expect(decodeLink(message(RTM_NEWLINK, '00 00 0100 02000000'))).toBeUndefined();
    expect(decodeAddr(message(RTM_NEWADDR, '02 18 00 00'))).toBeUndefined();
    // IPv4 family with a 16-byte address: not an address of this family
    expect(decodeAddr(message(RTM_NEWADDR, '02 18 00 00 02000000 | 1400 0100 20010db8000000000000000000000002'))).toBeUndefined();
    // AF_PACKET: not IPv4 or IPv6
    expect(decodeAddr(message(RTM_NEWADDR, '11 18 00 00 02000000 | 0800 0100 c6336402'))).toBeUndefined();
    // dst_len 24 without RTA_DST
    expect(decodeRoute(message(RTM_NEWROUTE, '02 18 00 00 fe 04 00 01 00000000'))).toBeUndefined();
    expect(decodeRoute(message(RTM_NEWROUTE, '02 18 00 00'))).toBeUndefined();
    expect(decodeError(message(NLMSG_ERROR, 'efff'))).toBeUndefined();
    // a garbled attribute tail leaves the link with what was before it
    expect(decodeLink(message(RTM_NEWLINK, '00 00 0100 02000000 01000000 00000000 | 0800 0400 dc050000 | ff00 0300'))).toMatchObject({
      index: 2,
      mtu: 1500,
      name: '',
    });
  });

  it('random bytes', () => {
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed >> 16;
    };
    for (let round = 0; round < 2000; round++) {
      const bytes = new Uint8Array(random() % 96);
      for (let i = 0; i < bytes.length; i++) bytes[i] = random() & 0xff;
      // plausible headers now and then, so that decoders see payloads
      if (bytes.length >= 16 && round % 2 === 0) {
        bytes[0] = bytes.length;
        bytes[1] = bytes[2] = bytes[3] = 0;
        bytes[4] = [RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE, NLMSG_ERROR, NLMSG_DONE][round % 5]!;
        bytes[5] = 0;
      }
      expect(() => {
        for (const message of parseMessages(bytes)) {
          decodeLink(message);
          decodeAddr(message);
          decodeRoute(message);
          decodeError(message);
          decodeDone(message);
          parseAttributes(message.payload);
        }
      }).not.toThrow();
    }
  });
});

// --- the Netlink class against a fake kernel ------------------------------------

/** A reply message built with the encoder (tested above against literal bytes). */
function reply(type: number, flags: number, seq: number, payload: Uint8Array): Uint8Array {
  const bytes = encodeMessage(type, flags, seq, payload);
  bytes.set(hex('39300000'), 12); // pid, as the kernel fills it in
  return bytes;
}

/** Change the seq of a literal reply. */
function withSeq(message: Uint8Array, seq: number): Uint8Array {
  const copy = message.slice();
  new DataView(copy.buffer).setUint32(8, seq, true);
  return copy;
}

function ack(seq: number, errno = 0): Uint8Array {
  const payload = new Uint8Array(20);
  new DataView(payload.buffer).setInt32(0, -errno, true);
  return reply(NLMSG_ERROR, errno === 0 ? 0x100 : 0, seq, payload);
}

function done(seq: number, errno = 0): Uint8Array {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setInt32(0, -errno, true);
  return reply(NLMSG_DONE, NLM_F_MULTI, seq, payload);
}

function datagram(...messages: Uint8Array[]): Uint8Array {
  return new Uint8Array(messages.flatMap((m) => [...m]));
}

/**
 * Records requests and answers each with the datagrams `answer` returns for
 * it, handed out one recv() at a time.
 */
class FakeKernel implements NetlinkTransport {
  readonly sent: Uint8Array[] = [];
  private pending: Uint8Array[] = [];

  constructor(private readonly answer: (request: NetlinkMessage, index: number) => Uint8Array[]) {}

  send(message: Uint8Array): void {
    this.sent.push(message.slice());
    const [request] = parseMessages(message);
    this.pending.push(...this.answer(request!, this.sent.length - 1));
  }

  recv(): Uint8Array[] {
    const next = this.pending.shift();
    if (!next) throw new Error('no reply within 5000 ms');
    return [next];
  }
}

describe('Netlink', () => {
  it('dumps links across datagrams, skipping replies to other requests', () => {
    const kernel = new FakeKernel((request) => {
      expect(request.type).toBe(RTM_GETLINK);
      return [
        datagram(withSeq(newlinkEth0, 99), withSeq(done1, 99)), // left over from an earlier request
        datagram(withSeq(newlinkLo, request.seq)),
        datagram(withSeq(newlinkEth0, request.seq), done(request.seq)),
      ];
    });
    const netlink = new Netlink(7, kernel);
    const links = netlink.links();
    expect(links.map((l) => [l.index, l.name, l.mtu, l.up])).toEqual([
      [1, 'lo', 65536, true],
      [2, 'eth0', 1500, true],
    ]);
    expectBytes(kernel.sent[0]!, encodeLinkDumpRequest(1));
    expect(netlink.linkByName('eth0')?.index).toBe(2);
    expect(netlink.linkByName('eth1')).toBeUndefined();
    // every request has a new seq
    expect(kernel.sent.map((m) => parseMessages(m)[0]!.seq)).toEqual([1, 2, 3]);
  });

  it('dumps addresses of one family', () => {
    const kernel = new FakeKernel((request) => {
      expect(request.type).toBe(RTM_GETADDR);
      const family = request.payload[0];
      const messages = family === 10 ? [newaddrV6] : [newaddrV4, newaddrV4Peer];
      return [datagram(...messages.map((m) => withSeq(m, request.seq)), done(request.seq))];
    });
    const netlink = new Netlink(7, kernel);
    expect(netlink.addrs(6)).toEqual([
      { family: 6, index: 3, prefixLen: 64, addr: v6('2001:db8::2'), scope: 0, flags: 0x280 },
    ]);
    expect(netlink.addrs(4).map((a) => [a.index, a.prefixLen, [...a.addr].join('.')])).toEqual([
      [2, 24, '198.51.100.2'],
      [5, 32, '10.0.0.1'],
    ]);
    expectBytes(kernel.sent[0]!, encodeAddrDumpRequest(1, 6));
  });

  it('lists main-table unicast routes and finds the default route link with the lowest metric', () => {
    const route = (seq: number, fields: string, attributes: string): Uint8Array =>
      reply(RTM_NEWROUTE, NLM_F_MULTI, seq, hex(fields + attributes));
    const kernel = new FakeKernel((request) => {
      expect(request.type).toBe(RTM_GETROUTE);
      const s = request.seq;
      return [
        datagram(
          // default via 198.51.100.1 dev 2 metric 200
          route(s, '02 00 00 00 fe 04 00 01 00000000', '0800 0500 c6336401 | 0800 0400 02000000 | 0800 0600 c8000000'),
          // default via 192.0.2.1 dev 4 metric 100
          route(s, '02 00 00 00 fe 04 00 01 00000000', '0800 0500 c0000201 | 0800 0400 04000000 | 0800 0600 64000000'),
          // 198.51.100.0/24 dev 2 proto kernel scope link
          route(s, '02 18 00 00 fe 02 fd 01 00000000', '0800 0100 c6336400 | 0800 0400 02000000'),
        ),
        datagram(
          // local table: left out
          route(s, '02 20 00 00 ff 02 fe 02 00000000', '0800 0f00 ff000000 | 0800 0100 c6336402 | 0800 0400 02000000'),
          // default in table 1000 (RTA_TABLE), metric 1: left out
          route(s, '02 00 00 00 fc 04 00 01 00000000', '0800 0f00 e8030000 | 0800 0400 09000000 | 0800 0600 01000000'),
          // unreachable 203.0.113.0/24 (RTN_UNREACHABLE): left out
          route(s, '02 18 00 00 fe 04 00 07 00000000', '0800 0100 cb007100'),
          done(s),
        ),
      ];
    });
    const netlink = new Netlink(7, kernel);
    const routes = netlink.routes(4);
    expect(routes.map((r) => [r.dst && [...r.dst].join('.'), r.dstLen, r.oif, r.priority, r.scope])).toEqual([
      [null, 0, 2, 200, 0],
      [null, 0, 4, 100, 0],
      ['198.51.100.0', 24, 2, undefined, RT_SCOPE_LINK],
    ]);
    expect(netlink.defaultRouteLink(4)).toBe(4);
    expectBytes(kernel.sent[0]!, encodeRouteDumpRequest(1, 4));
  });

  it('defaultRouteLink is 0 without a default route', () => {
    const kernel = new FakeKernel((request) => [datagram(done(request.seq))]);
    expect(new Netlink(7, kernel).defaultRouteLink(6)).toBe(0);
  });

  it('finds the IPv6 default route', () => {
    const kernel = new FakeKernel((request) => [datagram(withSeq(newrouteV6Default, request.seq), done(request.seq))]);
    expect(new Netlink(7, kernel).defaultRouteLink(6)).toBe(3);
  });

  it('sends changes and waits for their ACK', () => {
    const kernel = new FakeKernel((request) => [ack(request.seq)]);
    const netlink = new Netlink(7, kernel);
    netlink.linkSetUp(3);
    netlink.linkSetMtu(3, 65520);
    netlink.linkSetMac(3, hex('9a5536a1c2d4'));
    netlink.addrAdd(2, 4, v4('198.51.100.2'), 24);
    netlink.routeAdd({ family: 4, dst: null, dstLen: 0, gateway: v4('198.51.100.1'), oif: 2 });
    netlink.linkSetUp(3, false);
    expect(kernel.sent.map(toHex)).toEqual(
      [
        encodeLinkSetRequest(1, 3, { up: true }),
        encodeLinkSetRequest(2, 3, { mtu: 65520 }),
        encodeLinkSetRequest(3, 3, { mac: hex('9a5536a1c2d4') }),
        encodeAddrAddRequest(4, 2, 4, v4('198.51.100.2'), 24),
        encodeRouteAddRequest(5, { family: 4, dst: null, dstLen: 0, gateway: v4('198.51.100.1'), oif: 2 }),
        encodeLinkSetRequest(6, 3, { up: false }),
      ].map(toHex),
    );
    expect(parseMessages(kernel.sent[0]!)[0]!.payload[8]! & IFF_UP).toBe(IFF_UP);
  });

  it('waits past a stale error reply for the ACK with its own seq', () => {
    const kernel = new FakeKernel((request) => [ack(request.seq + 100, 17), ack(request.seq)]);
    expect(() => new Netlink(7, kernel).linkSetUp(1)).not.toThrow();
  });

  it('throws on an error reply, naming operation, object and errno', () => {
    const kernel = new FakeKernel((request) => [withSeq(errorEexist, request.seq)]);
    const netlink = new Netlink(7, kernel);
    expect(() => netlink.addrAdd(3, 6, v6('2001:db8::2'), 64, { nodad: true })).toThrow(
      'netlink RTM_NEWADDR 2001:db8::2/64 on index 3: File exists (EEXIST)',
    );
    expect(() =>
      netlink.routeAdd({ family: 4, dst: null, dstLen: 0, gateway: v4('198.51.100.1'), oif: 2, priority: 100 }),
    ).toThrow('netlink RTM_NEWROUTE default via 198.51.100.1 on index 2 metric 100: File exists (EEXIST)');
    expect(() => netlink.linkSetMtu(3, 70000)).toThrow('netlink RTM_NEWLINK index 3 mtu 70000: File exists (EEXIST)');
  });

  it('adds the extended-ack text to the error', () => {
    const kernel = new FakeKernel((request) => [
      withSeq(
        hex(`
          30000000 0200 0003 00000000 00000000
          9bffffff
          4c000000 1800 0506 00000000 00000000
          0b00 0100 62616420677700 00
        `),
        request.seq,
      ),
    ]);
    expect(() =>
      new Netlink(7, kernel).routeAdd({
        family: 6,
        dst: v6('2001:db8:1::'),
        dstLen: 48,
        gateway: v6('2001:db8::1'),
        oif: 3,
      }),
    ).toThrow('netlink RTM_NEWROUTE 2001:db8:1::/48 via 2001:db8::1 on index 3: Network is unreachable (ENETUNREACH): bad gw');
  });

  it('throws when a dump ends with an error', () => {
    const kernel = new FakeKernel((request) => [datagram(withSeq(newlinkLo, request.seq), done(request.seq, 16))]);
    expect(() => new Netlink(7, kernel).links()).toThrow('netlink RTM_GETLINK dump: Device or resource busy (EBUSY)');
  });

  it('repeats an interrupted dump', () => {
    const kernel = new FakeKernel((request, index) => {
      const flags = index === 0 ? NLM_F_MULTI | NLM_F_DUMP_INTR : NLM_F_MULTI;
      const link = reply(RTM_NEWLINK, flags, request.seq, parseMessages(newlinkEth0)[0]!.payload);
      return [datagram(link, done(request.seq))];
    });
    const links = new Netlink(7, kernel).links();
    expect(links).toHaveLength(1);
    expect(kernel.sent).toHaveLength(2);
  });

  it('wraps transport failures and malformed replies with context', () => {
    const silent = new FakeKernel(() => []);
    expect(() => new Netlink(7, silent).linkSetUp(4)).toThrow('netlink RTM_NEWLINK index 4 up: no reply within 5000 ms');

    const broken: NetlinkTransport = {
      send(): void {
        throw new Error('send on fd 7: No buffer space available (ENOBUFS)');
      },
      recv(): Uint8Array[] {
        return [];
      },
    };
    expect(() => new Netlink(7, broken).addrs(4)).toThrow(
      'netlink RTM_GETADDR IPv4 dump: send on fd 7: No buffer space available (ENOBUFS)',
    );

    const garbage = new FakeKernel((request) => [datagram(withSeq(newlinkEth0, request.seq)).subarray(0, 30)]);
    expect(() => new Netlink(7, garbage).links()).toThrow(/netlink RTM_GETLINK dump: malformed reply: nlmsg_len 64/);

    const empty: NetlinkTransport = { send(): void {}, recv: () => [] };
    expect(() => new Netlink(7, empty).linkSetUp(1)).toThrow('netlink RTM_NEWLINK index 1 up: no reply');
  });

  it('rejects an address of the wrong length before sending', () => {
    const kernel = new FakeKernel((request) => [ack(request.seq)]);
    expect(() => new Netlink(7, kernel).addrAdd(2, 6, v4('198.51.100.2'), 24)).toThrow(/IPv6 address of 4 bytes/);
    expect(kernel.sent).toHaveLength(0);
  });
});

describe('sock_diag: listening TCP sockets', () => {
  it('asks for TCP sockets in LISTEN of one family (inet_diag_req_v2)', () => {
    const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
    const hex = Buffer.from(encodeTcpListenDumpRequest(7, 6)).toString('hex');
    const u32 = (n: number) => Buffer.from(le ? [n & 255, (n >> 8) & 255, (n >> 16) & 255, n >>> 24] : [n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255]).toString('hex');
    const u16 = (n: number) => Buffer.from(le ? [n & 255, n >> 8] : [n >> 8, n & 255]).toString('hex');
    // nlmsghdr: length 72, SOCK_DIAG_BY_FAMILY, REQUEST|ACK|DUMP, seq 7, pid 0.
    expect(hex.slice(0, 32)).toBe(u32(72) + u16(20) + u16(0x305) + u32(7) + u32(0));
    // AF_INET6, IPPROTO_TCP, no extensions, pad, states 1 << TCP_LISTEN, then an empty socket id.
    expect(hex.slice(32)).toBe('0a060000' + u32(1 << 10) + '00'.repeat(48));
  });

  it('decodes the local address and port of an inet_diag_msg', () => {
    const p = new Uint8Array(72);
    p.set([2, 10, 0, 0], 0); // AF_INET, TCP_LISTEN
    p.set([0x1f, 0x90, 0, 0], 4); // sport 8080, dport 0
    p.set([127, 0, 0, 1], 8);
    expect(decodeInetDiagMsg({ type: SOCK_DIAG_BY_FAMILY, flags: 2, seq: 1, pid: 0, payload: p })).toEqual({
      family: 4,
      state: 10,
      port: 8080,
      addr: Uint8Array.of(127, 0, 0, 1),
    });
    expect(decodeInetDiagMsg({ type: SOCK_DIAG_BY_FAMILY, flags: 2, seq: 1, pid: 0, payload: p.subarray(0, 40) })).toBeUndefined();
    expect(decodeInetDiagMsg({ type: 3, flags: 2, seq: 1, pid: 0, payload: p })).toBeUndefined();
  });
});

// --- copying addresses and routes (--config-net) --------------------------------

/** The payload of a literal message (the bytes after its 16-byte header). */
const payloadOf = (message: Uint8Array): Uint8Array => message.subarray(16);

/**
 * RTM_NEWROUTE payload: 10.30.0.0/16 via 198.51.100.253 dev 2 src 192.0.2.5
 * metric 50 mtu 1400, proto boot, rtm_flags linkdown|onlink (0x14), with a
 * nexthop id: RTA_TABLE, RTA_DST, RTA_PRIORITY, RTA_PREFSRC, RTA_GATEWAY,
 * RTA_OIF, RTA_METRICS (RTAX_MTU 1400), RTA_NH_ID 5.
 */
const routeWithPrefsrc = hex(`
  02 10 00 00 fe 03 00 01 14000000
  0800 0f00 fe000000
  0800 0100 0a1e0000
  0800 0600 32000000
  0800 0700 c0000205
  0800 0500 c63364fd
  0800 0400 02000000
  0c00 0800 | 0800 0200 78050000
  0800 1e00 05000000
`);

/** RTM_NEWROUTE payload: 10.40.0.0/16, two next hops on dev 2 (the first flagged linkdown), each with RTA_GATEWAY. */
const routeMultipath = (secondIndex: string): Uint8Array =>
  hex(`
    02 10 00 00 fe 03 00 01 00000000
    0800 0f00 fe000000
    0800 0100 0a280000
    2400 0900
      1000 10 00 02000000 | 0800 0500 c633640a
      1000 00 00 ${secondIndex} | 0800 0500 c633640b
  `);

describe('copying addresses and routes', () => {
  it('RTM_NEWLINK flags: up and NOARP, NOARP off', () => {
    expectBytes(
      encodeLinkSetRequest(8, 2, { flags: { flags: IFF_UP | IFF_NOARP, change: IFF_UP | IFF_NOARP } }),
      hex('20000000 1000 0500 08000000 00000000 | 00 00 0000 02000000 81000000 81000000'),
    );
    expectBytes(
      encodeLinkSetRequest(9, 2, { flags: { flags: 0, change: IFF_NOARP } }),
      hex('20000000 1000 0500 09000000 00000000 | 00 00 0000 02000000 00000000 80000000'),
    );
    // Bits of `flags` outside `change` are not sent; `up` adds IFF_UP to both.
    expectBytes(
      encodeLinkSetRequest(10, 2, { up: true, flags: { flags: 0x80 | 0x1000, change: 0x80 } }),
      hex('20000000 1000 0500 0a000000 00000000 | 00 00 0000 02000000 81000000 81000000'),
    );
  });

  it('copies an IPv4 address: new index, NODAD added, IFA_LABEL left out', () => {
    expectBytes(
      addrCopyPayload(payloadOf(newaddrV4), 7)!,
      hex(`
        02 18 82 00 07000000
        0800 0100 c6336402
        0800 0200 c6336402
        0800 0800 82000000
      `),
    );
  });

  it('copies an IPv6 address: IFA_CACHEINFO left out, NODAD in IFA_FLAGS too', () => {
    expectBytes(
      addrCopyPayload(payloadOf(newaddrV6), 2)!,
      hex(`
        0a 40 82 00 02000000
        1400 0100 20010db8 00000000 00000000 00000002
        0800 0800 82020000
      `),
    );
    // Without IFA_FLAGS, ifa_flags alone carries NODAD.
    expectBytes(addrCopyPayload(payloadOf(newaddrV4Peer), 9)!, hex('02 20 82 00 09000000 | 0800 0100 0a000002 | 0800 0200 0a000001'));
    expect(addrCopyPayload(hex('02 18 80'), 2)).toBeUndefined();
  });

  it('marks an address NODAD in place, every attribute kept (for NLM_F_REPLACE)', () => {
    expectBytes(
      addrNodadPayload(payloadOf(newaddrV6))!,
      hex(`
        0a 40 82 00 03000000
        1400 0100 20010db8 00000000 00000000 00000002
        1400 0600 ffffffff ffffffff 64000000 64000000
        0800 0800 82020000
      `),
    );
  });

  it('copies a route: RTA_OIF moved, RTA_PREFSRC and RTA_NH_ID left out, state flags cleared, the rest kept', () => {
    expectBytes(
      routeCopyPayload(routeWithPrefsrc, 2, 9)!,
      hex(`
        02 10 00 00 fe 03 00 01 04000000
        0800 0f00 fe000000
        0800 0100 0a1e0000
        0800 0600 32000000
        0800 0500 c63364fd
        0800 0400 09000000
        0c00 0800 | 0800 0200 78050000
      `),
    );
    expect(routeInterfaces(routeWithPrefsrc)).toEqual([2]);
    // Through another interface: not copied.
    expect(routeCopyPayload(routeWithPrefsrc, 3, 9)).toBeUndefined();
    expect(routeCopyPayload(hex('02 10 00 00'), 2, 9)).toBeUndefined();
  });

  it('copies a multipath route whose next hops all use the interface, and no other', () => {
    expectBytes(
      routeCopyPayload(routeMultipath('02000000'), 2, 9)!,
      hex(`
        02 10 00 00 fe 03 00 01 00000000
        0800 0f00 fe000000
        0800 0100 0a280000
        2400 0900
          1000 00 00 09000000 | 0800 0500 c633640a
          1000 00 00 09000000 | 0800 0500 c633640b
      `),
    );
    expect(routeInterfaces(routeMultipath('03000000'))).toEqual([2, 3]);
    expect(routeCopyPayload(routeMultipath('03000000'), 2, 9)).toBeUndefined();
    expect(routeInterfaces(hex('02 10 00 00 fe 03 00 01 00000000 | 0800 0100 0a280000'))).toEqual([]);
  });

  it('request() sends any message and reports the errno of a refusal', () => {
    const kernel = new FakeKernel((request, index) => [ack(request.seq, index === 0 ? 0 : 101)]);
    const netlink = new Netlink(7, kernel);
    netlink.request(RTM_NEWROUTE, NLM_F_CREATE, routeWithPrefsrc, 'RTM_NEWROUTE 10.30.0.0/16');
    expectBytes(kernel.sent[0]!, encodeMessage(RTM_NEWROUTE, 0x405, 1, routeWithPrefsrc));
    let error: unknown;
    try {
      netlink.request(RTM_NEWROUTE, NLM_F_CREATE, routeWithPrefsrc, 'RTM_NEWROUTE 10.30.0.0/16');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(NetlinkRequestError);
    expect((error as NetlinkRequestError).errno).toBe(101);
    expect((error as Error).message).toBe('netlink RTM_NEWROUTE 10.30.0.0/16: Network is unreachable (ENETUNREACH)');
  });

  it('linkSetFlags sends ifi_flags and ifi_change', () => {
    const kernel = new FakeKernel((request) => [ack(request.seq)]);
    new Netlink(7, kernel).linkSetFlags(2, 0, IFF_NOARP);
    expectBytes(kernel.sent[0]!, hex('20000000 1000 0500 01000000 00000000 | 00 00 0000 02000000 00000000 80000000'));
  });

  it('dumps addresses and routes undecoded, as copies', () => {
    const kernel = new FakeKernel((request) => {
      const messages = request.type === RTM_GETADDR ? [newaddrV4, newaddrV4Peer] : [newrouteV6Default];
      return [datagram(...messages.map((m) => withSeq(m, request.seq)), done(request.seq))];
    });
    const netlink = new Netlink(7, kernel);
    const addrs = netlink.addrMessages(4);
    expect(addrs.map((m) => toHex(m.payload))).toEqual([toHex(payloadOf(newaddrV4)), toHex(payloadOf(newaddrV4Peer))]);
    expect(addrs[0]!.payload.byteOffset).toBe(0);
    const routes = netlink.routeMessages(6);
    expect(routes.map((m) => [m.type, toHex(m.payload)])).toEqual([[RTM_NEWROUTE, toHex(payloadOf(newrouteV6Default))]]);
    expectBytes(kernel.sent[1]!, encodeRouteDumpRequest(2, 6));
  });
});
