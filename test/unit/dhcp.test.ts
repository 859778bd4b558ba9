/**
 * The DHCP server on literal frames: requests as real clients send them
 * (busybox udhcpc, ISC dhclient, systemd-networkd), the exact replies, where
 * they go, and malformed input that must return 0 without throwing.
 *
 * The request frames were written out from the clients' sources (busybox
 * 1.36 networking/udhcp/dhcpc.c and packet.c: option order, 576-byte
 * maximum size, zero padding to 300 bytes, TTL 64; ISC dhclient 4.4 with
 * Debian's dhclient.conf: TOS 0x10, TTL 128, host name before the request
 * list; sd-dhcp-client: TOS 0xc0, client id type 255 with IAID and DUID-EN,
 * sorted request list, no padding). Their checksums, and every expected
 * reply given as bytes, were computed by a separate Python script from the
 * RFCs; replies are checked again here with the byte-at-a-time reference
 * checksum of wire-frames.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  BOOTP_MIN_LEN,
  DHCP_OPT_CLASSLESS_ROUTES,
  DHCP_OPT_DOMAIN_SEARCH,
  decodeDomainNames,
  dhcpOption,
  dhcpTapHandler,
  emitDhcpMessage,
  encodeDomainNames,
  parseDhcpMessage,
  type DhcpConfig,
  type DhcpMessage,
} from '../../src/dhcp/dhcp.js';
import { createLinkState, type LinkState } from '../../src/l2/link.js';
import { GUEST_MAC, hex, prng, pseudo4, referenceChecksum, SYN4, SYN6 } from './wire-frames.js';

/** `n` zero bytes as hex. */
const zeros = (n: number): string => '00'.repeat(n);
/** Hex with `# comments` to the end of each line. */
const bytes = (text: string): Buffer => hex(text.replace(/#.*$/gm, ''));

const ADDR = hex('c6336402'); // 198.51.100.2
const GATEWAY = hex('c6336401'); // 198.51.100.1

const CFG: DhcpConfig = {
  addr: ADDR,
  prefixLen: 24,
  gateway: GATEWAY,
  mtu: null,
  dns: [hex('cb007135'), hex('20010db8000000000000000000000053')], // 203.0.113.53, 2001:db8::53
  search: ['example.org', 'lab.example.com'],
  noDhcpDns: false,
  noDhcpSearch: false,
};

function cfg(overrides: Partial<DhcpConfig> = {}): DhcpConfig {
  return { ...CFG, ...overrides };
}

function link(): LinkState {
  return createLinkState({ guestMac: GUEST_MAC });
}

/**
 * busybox udhcpc DISCOVER: broadcast, no broadcast flag (no -B), options
 * 53, 57 (576), 55 (1 3 6 12 15 28 42), 61 (type 1 + MAC), padded to 300.
 */
const UDHCPC_DISCOVER = bytes(`
  ffffffffffff 5e8a3c112233 0800
  4500 0148 0000 0000 4011 79a6 00000000 ffffffff   # TTL 64, no DF
  0044 0043 0134 5070
  01 01 06 00 5a3c1f27 0000 0000 00000000 00000000 00000000 00000000
  5e8a3c11223300000000000000000000                  # chaddr
  ${zeros(192)}                                     # sname, file
  63825363
  350101                                            # 53: DHCPDISCOVER
  39020240                                          # 57: 576
  37070103060c0f1c2a                                # 55
  3d07015e8a3c112233                                # 61
  ff
  ${zeros(34)}
`);

/** busybox udhcpc REQUEST (selecting): 53, 50, 54, 57, 55, 61. */
const UDHCPC_REQUEST = bytes(`
  ffffffffffff 5e8a3c112233 0800
  4500 0148 0000 0000 4011 79a6 00000000 ffffffff
  0044 0043 0134 dab3
  01 01 06 00 5a3c1f27 0000 0000 00000000 00000000 00000000 00000000
  5e8a3c11223300000000000000000000
  ${zeros(192)}
  63825363
  350103                                            # 53: DHCPREQUEST
  3204c6336402                                      # 50: 198.51.100.2
  3604c6336401                                      # 54: 198.51.100.1
  39020240
  37070103060c0f1c2a
  3d07015e8a3c112233
  ff
  ${zeros(22)}
`);

/** busybox udhcpc renewing: unicast REQUEST from its address through a UDP socket, ciaddr set. */
const UDHCPC_RENEW = bytes(`
  9a559a559a55 5e8a3c112233 0800
  4500 0148 3d2a 4000 4011 a810 c6336402 c6336401   # DF
  0044 0043 0134 d192
  01 01 06 00 2b8e4c11 0000 0000 c6336402 00000000 00000000 00000000
  5e8a3c11223300000000000000000000
  ${zeros(192)}
  63825363
  350103
  39020240
  37070103060c0f1c2a
  3d07015e8a3c112233
  ff
  ${zeros(34)}
`);

/**
 * ISC dhclient DISCOVER with Debian's dhclient.conf: TOS 0x10, TTL 128,
 * host name "guest", request list 1 28 2 3 15 6 119 12 44 47 26 121 42.
 */
const DHCLIENT_DISCOVER = bytes(`
  ffffffffffff 5e8a3c112233 0800
  4510 0148 0000 0000 8011 3996 00000000 ffffffff
  0044 0043 0134 71b9
  01 01 06 00 8c1d2e3f 0000 0000 00000000 00000000 00000000 00000000
  5e8a3c11223300000000000000000000
  ${zeros(192)}
  63825363
  350101
  0c056775657374                                    # 12: "guest"
  370d011c02030f06770c2c2f1a792a                    # 55
  ff
  ${zeros(34)}
`);

/** ISC dhclient REQUEST: 53, 54, 50, 12, 55; secs 3. */
const DHCLIENT_REQUEST = bytes(`
  ffffffffffff 5e8a3c112233 0800
  4510 0148 0000 0000 8011 3996 00000000 ffffffff
  0044 0043 0134 fbf9
  01 01 06 00 8c1d2e3f 0003 0000 00000000 00000000 00000000 00000000
  5e8a3c11223300000000000000000000
  ${zeros(192)}
  63825363
  350103
  3604c6336401
  3204c6336402
  0c056775657374
  370d011c02030f06770c2c2f1a792a
  ff
  ${zeros(22)}
`);

/**
 * systemd-networkd (sd-dhcp-client) DISCOVER: TOS 0xc0, secs 1, client id
 * type 255 (IAID 3c1122ab, DUID-EN 43793), sorted request list, maximum size
 * 1472 (1500 - 28), Rapid Commit, host name; not padded.
 */
const NETWORKD_DISCOVER = bytes(`
  ffffffffffff 5e8a3c112233 0800
  45c0 013f 0000 0000 4011 78ef 00000000 ffffffff
  0044 0043 012b 234e
  01 01 06 00 1b7e9d04 0001 0000 00000000 00000000 00000000 00000000
  5e8a3c11223300000000000000000000
  ${zeros(192)}
  63825363
  350101
  3d13ff3c1122ab00020000ab119e4f25d86c1b0a37        # 61
  370b0103060c0f212a72777879                        # 55: 1 3 6 12 15 33 42 114 119 120 121
  390205c0                                          # 57: 1472
  5000                                              # 80: Rapid Commit
  0c056775657374
  ff
`);

/** The OFFER expected for UDHCPC_DISCOVER with CFG: unicast to the offered address. */
const UDHCPC_OFFER = bytes(`
  5e8a3c112233 9a559a559a55 0800
  4500 015b 0000 4000 ff11 2627 c6336401 c6336402   # DF, TTL 255, as passt's tap_push_ip4h()
  0043 0044 0147 1cd6
  02 01 06 00 5a3c1f27 0000 0000 00000000 c6336402 00000000 00000000
  5e8a3c11223300000000000000000000
  ${zeros(192)}
  63825363
  350102                                            # 53: DHCPOFFER
  3604c6336401                                      # 54: server identifier
  3304ffffffff                                      # 51: infinite lease
  0104ffffff00                                      # 1: /24
  0304c6336401                                      # 3: router
  0604cb007135                                      # 6: 203.0.113.53
  0f0b6578616d706c652e6f7267                        # 15: "example.org"
  771e 076578616d706c65036f726700 036c6162076578616d706c6503636f6d00   # 119
  ff
`);

it('literal frames are what they claim', () => {
  expect(UDHCPC_DISCOVER.length).toBe(342);
  expect(UDHCPC_REQUEST.length).toBe(342);
  expect(DHCLIENT_DISCOVER.length).toBe(342);
  expect(NETWORKD_DISCOVER.length).toBe(333);
  expect(UDHCPC_OFFER.length).toBe(361);
  for (const frame of [UDHCPC_DISCOVER, UDHCPC_REQUEST, UDHCPC_RENEW, DHCLIENT_DISCOVER, DHCLIENT_REQUEST, NETWORKD_DISCOVER, UDHCPC_OFFER]) {
    expect(referenceChecksum(frame.subarray(14, 34))).toBe(0);
    const udpLength = frame.readUInt16BE(38);
    expect(referenceChecksum(pseudo4(frame.subarray(26, 30), frame.subarray(30, 34), 17, udpLength), frame.subarray(34, 34 + udpLength))).toBe(0);
  }
});

/** A reply frame taken apart without the code under test, checksums verified. */
interface Reply {
  ethDst: string;
  ethSrc: string;
  ipHeader: Buffer;
  ipSrc: string;
  ipDst: string;
  srcPort: number;
  dstPort: number;
  dhcp: Buffer;
  message: DhcpMessage;
  /** The options area from the magic cookie to the end option, as hex. */
  optionsHex: string;
}

function takeApart(out: Buffer, off: number, length: number): Reply {
  const frame = out.subarray(off, off + length);
  expect(frame.readUInt16BE(12)).toBe(0x0800);
  const ipHeader = frame.subarray(14, 34);
  expect(ipHeader[0]).toBe(0x45);
  expect(ipHeader.readUInt16BE(2)).toBe(length - 14);
  expect(ipHeader[9]).toBe(17);
  expect(referenceChecksum(ipHeader)).toBe(0);
  const udpLength = frame.readUInt16BE(38);
  expect(udpLength).toBe(length - 34);
  expect(frame.readUInt16BE(40)).not.toBe(0);
  expect(referenceChecksum(pseudo4(frame.subarray(26, 30), frame.subarray(30, 34), 17, udpLength), frame.subarray(34))).toBe(0);
  const dhcp = Buffer.from(frame.subarray(42));
  expect(dhcp.length).toBeGreaterThanOrEqual(BOOTP_MIN_LEN);
  expect(dhcp.subarray(44, 236).every((b) => b === 0)).toBe(true); // sname, file
  expect(dhcp.readUInt32BE(236)).toBe(0x63825363);
  const message = parseDhcpMessage(dhcp, 0, dhcp.length)!;
  expect(message).toBeDefined();
  // The options end with 255 and only zero padding follows.
  let end = 240;
  while (dhcp[end] !== 0xff) end += dhcp[end] === 0 ? 1 : 2 + dhcp[end + 1];
  expect(dhcp.subarray(end + 1).every((b) => b === 0)).toBe(true);
  return {
    ethDst: frame.subarray(0, 6).toString('hex'),
    ethSrc: frame.subarray(6, 12).toString('hex'),
    ipHeader,
    ipSrc: frame.subarray(26, 30).toString('hex'),
    ipDst: frame.subarray(30, 34).toString('hex'),
    srcPort: frame.readUInt16BE(34),
    dstPort: frame.readUInt16BE(36),
    dhcp,
    message,
    optionsHex: dhcp.subarray(236, end + 1).toString('hex'),
  };
}

function answer(frame: Buffer, config: DhcpConfig = CFG): Reply | undefined {
  const out = Buffer.alloc(1600, 0xee);
  const n = dhcpTapHandler(config, link(), frame, 0, frame.length, out, 0);
  if (n === 0) {
    expect(out.every((b) => b === 0xee)).toBe(true);
    return undefined;
  }
  return takeApart(out, 0, n);
}

/** Option codes of a message, in order. */
const codes = (m: DhcpMessage): number[] => m.options.map((o) => o.code);

/** Refresh the IPv4 and UDP checksums of an Ethernet/IPv4/UDP frame with the reference routine. */
function refresh(frame: Buffer): Buffer {
  frame.writeUInt16BE(0, 24);
  frame.writeUInt16BE(referenceChecksum(frame.subarray(14, 34)), 24);
  const udpLength = frame.readUInt16BE(38);
  frame.writeUInt16BE(0, 40);
  const sum = referenceChecksum(pseudo4(frame.subarray(26, 30), frame.subarray(30, 34), 17, udpLength), frame.subarray(34, 34 + udpLength));
  frame.writeUInt16BE(sum === 0 ? 0xffff : sum, 40);
  return frame;
}

function patched(frame: Buffer, patch: (b: Buffer) => void): Buffer {
  const b = Buffer.from(frame);
  patch(b);
  return refresh(b);
}

/** A broadcast client frame around a DHCP payload, checksums by the reference routine. */
function dhcpFrame(payload: Buffer): Buffer {
  const frame = Buffer.concat([hex('ffffffffffff 5e8a3c112233 0800 4500 0000 0000 0000 4011 0000 00000000 ffffffff 0044 0043 0000 0000'), payload]);
  frame.writeUInt16BE(20 + 8 + payload.length, 16);
  frame.writeUInt16BE(8 + payload.length, 38);
  return refresh(frame);
}

/** A BOOTREQUEST payload from its 28 fixed bytes' fields and an options hex string (cookie included by the caller). */
function bootRequest(options: string, fixed = '01010600 11223344 0000 0000 00000000 00000000 00000000 00000000'): Buffer {
  return Buffer.concat([hex(fixed), hex('5e8a3c11223300000000000000000000'), Buffer.alloc(192), bytes(options)]);
}

describe('dhcpTapHandler: busybox udhcpc', () => {
  it('offers the address for a DISCOVER, byte for byte', () => {
    const out = Buffer.alloc(400, 0xee);
    const n = dhcpTapHandler(CFG, link(), UDHCPC_DISCOVER, 0, UDHCPC_DISCOVER.length, out, 5);
    expect(n).toBe(361);
    expect(out.subarray(5, 5 + n).toString('hex')).toBe(UDHCPC_OFFER.toString('hex'));
    expect(out[4]).toBe(0xee);
    expect(out[5 + n]).toBe(0xee);
    const reply = takeApart(out, 5, n);
    expect(reply.ethDst).toBe('5e8a3c112233');
    expect(reply.ethSrc).toBe('9a559a559a55');
    expect(reply.ipHeader.readUInt16BE(4)).toBe(0); // id
    expect(reply.ipHeader.readUInt16BE(6)).toBe(0x4000); // DF, no fragment, as passt
    expect(reply.ipHeader[8]).toBe(255); // one hop: TTL 255, as passt
    expect([reply.ipSrc, reply.ipDst]).toEqual(['c6336401', 'c6336402']);
    expect([reply.srcPort, reply.dstPort]).toEqual([67, 68]);
    const m = reply.message;
    expect([m.op, m.htype, m.hlen, m.hops, m.xid, m.secs, m.flags]).toEqual([2, 1, 6, 0, 0x5a3c1f27, 0, 0]);
    expect(Buffer.from(m.ciaddr).toString('hex')).toBe('00000000');
    expect(Buffer.from(m.yiaddr).toString('hex')).toBe('c6336402');
    expect(Buffer.from(m.siaddr).toString('hex')).toBe('00000000');
    expect(Buffer.from(m.giaddr).toString('hex')).toBe('00000000');
    expect(Buffer.from(m.chaddr).toString('hex')).toBe('5e8a3c11223300000000000000000000');
    // 53 first, the mandatory 54 and 51, then the request list's order (1 3 6 15), then the rest (119).
    expect(codes(m)).toEqual([53, 54, 51, 1, 3, 6, 15, 119]);
    expect(decodeDomainNames(dhcpOption(m, DHCP_OPT_DOMAIN_SEARCH)!)).toEqual(['example.org', 'lab.example.com']);
  });

  it('acknowledges the REQUEST that selects us', () => {
    const reply = answer(UDHCPC_REQUEST)!;
    expect(reply.optionsHex).toBe(
      '63825363' + '350105' + '3604c6336401' + '3304ffffffff' + '0104ffffff00' + '0304c6336401' + '0604cb007135' +
        '0f0b6578616d706c652e6f7267' + '771e076578616d706c65036f726700036c6162076578616d706c6503636f6d00' + 'ff',
    );
    expect(reply.message.xid).toBe(0x5a3c1f27);
    expect(Buffer.from(reply.message.yiaddr).toString('hex')).toBe('c6336402');
    expect(Buffer.from(reply.message.ciaddr).toString('hex')).toBe('00000000');
    expect([reply.ethDst, reply.ipDst]).toEqual(['5e8a3c112233', 'c6336402']);
  });

  it('broadcasts to a client that set the broadcast flag (udhcpc -B), echoing the flag', () => {
    for (const request of [UDHCPC_DISCOVER, UDHCPC_REQUEST]) {
      const reply = answer(patched(request, (b) => b.writeUInt16BE(0x8000, 52)))!;
      expect([reply.ethDst, reply.ipDst]).toEqual(['ffffffffffff', 'ffffffff']);
      expect(reply.message.flags).toBe(0x8000);
      expect(Buffer.from(reply.message.yiaddr).toString('hex')).toBe('c6336402');
    }
  });

  it('renews by unicast to ciaddr, and refuses a renewal of another address', () => {
    const reply = answer(UDHCPC_RENEW)!;
    expect(reply.message.options[0]).toEqual({ code: 53, data: Uint8Array.of(5) });
    expect(Buffer.from(reply.message.ciaddr).toString('hex')).toBe('c6336402');
    expect(Buffer.from(reply.message.yiaddr).toString('hex')).toBe('c6336402');
    expect([reply.ethDst, reply.ipSrc, reply.ipDst]).toEqual(['5e8a3c112233', 'c6336401', 'c6336402']);
    expect(reply.message.xid).toBe(0x2b8e4c11);

    const stale = answer(patched(UDHCPC_RENEW, (b) => b.set(hex('c6336409'), 42 + 12)))!; // ciaddr .9
    expect(stale.message.options.map((o) => [o.code, Buffer.from(o.data).toString('hex')])).toEqual([
      [53, '06'],
      [54, 'c6336401'],
      [56, Buffer.from('requested address not available').toString('hex')],
    ]);
    expect([stale.ethDst, stale.ipDst]).toEqual(['ffffffffffff', 'ffffffff']); // NAKs are broadcast
    expect(Buffer.from(stale.message.yiaddr).toString('hex')).toBe('00000000');
    expect(Buffer.from(stale.message.ciaddr).toString('hex')).toBe('00000000');
  });

  it('answers a REQUEST for another address (INIT-REBOOT with an old lease) with a NAK', () => {
    const request = patched(UDHCPC_REQUEST, (b) => b.set(hex('0a000005'), 42 + 240 + 5)); // 50: 10.0.0.5
    const reply = answer(request)!;
    expect(codes(reply.message)).toEqual([53, 54, 56]);
    expect(reply.message.options[0].data[0]).toBe(6);
    expect([reply.ethDst, reply.ipSrc, reply.ipDst]).toEqual(['ffffffffffff', 'c6336401', 'ffffffff']);
    // Without a server identifier (INIT-REBOOT) the same.
    const reboot = patched(request, (b) => b.fill(0, 42 + 240 + 9, 42 + 240 + 15)); // 54 becomes pads
    expect(answer(reboot)!.message.options[0].data[0]).toBe(6);
    // And an INIT-REBOOT for the right address is acknowledged.
    const rebootOk = patched(UDHCPC_REQUEST, (b) => b.fill(0, 42 + 240 + 9, 42 + 240 + 15));
    expect(answer(rebootOk)!.message.options[0].data[0]).toBe(5);
  });

  it('stays silent when the client selected another server', () => {
    expect(answer(patched(UDHCPC_REQUEST, (b) => b.set(hex('c6336463'), 42 + 240 + 11)))).toBeUndefined();
    // A server identifier of the wrong length is not ours either.
    expect(answer(patched(UDHCPC_REQUEST, (b) => (b[42 + 240 + 10] = 3)))).toBeUndefined();
  });

  it('ignores DECLINE and RELEASE, and server messages sent by the guest', () => {
    for (const type of [4, 7, 2, 5, 6, 9, 0, 200]) {
      expect(answer(patched(UDHCPC_REQUEST, (b) => (b[42 + 242] = type))), `type ${type}`).toBeUndefined();
    }
  });
});

describe('dhcpTapHandler: ISC dhclient', () => {
  it('orders options as the request list asks, and adds the MTU when configured', () => {
    const offer = answer(DHCLIENT_DISCOVER)!;
    // Request list 1 28 2 3 15 6 119 12 44 47 26 121 42: 15 before 6 before 119.
    expect(codes(offer.message)).toEqual([53, 54, 51, 1, 3, 15, 6, 119]);
    expect(offer.message.options[0].data[0]).toBe(2);
    expect([offer.ethDst, offer.ipDst]).toEqual(['5e8a3c112233', 'c6336402']);

    const withMtu = answer(DHCLIENT_DISCOVER, cfg({ mtu: 1500 }))!;
    expect(codes(withMtu.message)).toEqual([53, 54, 51, 1, 3, 15, 6, 119, 26]);
    expect(Buffer.from(dhcpOption(withMtu.message, 26)!).toString('hex')).toBe('05dc');
  });

  it('acknowledges its REQUEST', () => {
    const ack = answer(DHCLIENT_REQUEST)!;
    expect(ack.message.options[0].data[0]).toBe(5);
    expect(ack.message.secs).toBe(0);
    expect(ack.message.xid).toBe(0x8c1d2e3f);
    expect(Buffer.from(dhcpOption(ack.message, 51)!).toString('hex')).toBe('ffffffff');
    expect(Buffer.from(dhcpOption(ack.message, 1)!).toString('hex')).toBe('ffffff00');
  });
});

describe('dhcpTapHandler: systemd-networkd', () => {
  it('acknowledges a Rapid Commit DISCOVER directly, with option 80', () => {
    const ack = answer(NETWORKD_DISCOVER)!;
    expect(codes(ack.message)).toEqual([53, 54, 51, 80, 1, 3, 6, 15, 119]);
    expect(ack.message.options[0].data[0]).toBe(5);
    expect(dhcpOption(ack.message, 80)!.length).toBe(0);
    expect(Buffer.from(ack.message.yiaddr).toString('hex')).toBe('c6336402');
    expect(ack.message.xid).toBe(0x1b7e9d04);
    expect(ack.message.secs).toBe(0);
  });

  it('sends classless routes to an off-subnet gateway, and keeps option 3 consistent', () => {
    const offSubnet = cfg({ gateway: hex('c0000201') }); // 192.0.2.1, outside 198.51.100.0/24
    const ack = answer(NETWORKD_DISCOVER, offSubnet)!;
    expect(codes(ack.message)).toEqual([53, 54, 51, 80, 1, 3, 6, 15, 119, 121]);
    // 192.0.2.1/32 via 0.0.0.0, then 0.0.0.0/0 via 192.0.2.1 (RFC 3442 encoding).
    expect(Buffer.from(dhcpOption(ack.message, DHCP_OPT_CLASSLESS_ROUTES)!).toString('hex')).toBe('20' + 'c0000201' + '00000000' + '00' + 'c0000201');
    expect(Buffer.from(dhcpOption(ack.message, 3)!).toString('hex')).toBe('c0000201');
    expect(Buffer.from(dhcpOption(ack.message, 54)!).toString('hex')).toBe('c0000201');
    expect(ack.ipSrc).toBe('c0000201');
    // A client that did not ask for 121 still gets it, after what it asked for.
    expect(codes(answer(UDHCPC_DISCOVER, offSubnet)!.message)).toEqual([53, 54, 51, 1, 3, 6, 15, 119, 121]);
    // A /32 address makes every gateway off-subnet.
    expect(codes(answer(UDHCPC_DISCOVER, cfg({ prefixLen: 32 }))!.message)).toContain(121);
    expect(codes(answer(UDHCPC_DISCOVER)!.message)).not.toContain(121);
  });
});

describe('dhcpTapHandler: configuration', () => {
  it('leaves out DNS servers and search domains when disabled or absent', () => {
    expect(codes(answer(UDHCPC_DISCOVER, cfg({ noDhcpDns: true }))!.message)).toEqual([53, 54, 51, 1, 3, 15, 119]);
    expect(codes(answer(UDHCPC_DISCOVER, cfg({ noDhcpSearch: true }))!.message)).toEqual([53, 54, 51, 1, 3, 6]);
    expect(codes(answer(UDHCPC_DISCOVER, cfg({ dns: [hex('20010db8000000000000000000000053')], search: [] }))!.message)).toEqual([
      53, 54, 51, 1, 3,
    ]);
  });

  it('takes the domain name from the first valid search domain', () => {
    const m = answer(UDHCPC_DISCOVER, cfg({ search: ['.', 'a..b', 'ok.example.', 'two.example'] }))!.message;
    expect(Buffer.from(dhcpOption(m, 15)!).toString()).toBe('ok.example');
    expect(decodeDomainNames(dhcpOption(m, 119)!)).toEqual(['ok.example', 'two.example']);
  });

  it('sends every IPv4 DNS server, a custom lease time and the netmask of the prefix', () => {
    const m = answer(UDHCPC_DISCOVER, cfg({ dns: [hex('01020304'), hex('05060708')], leaseTime: 3600, prefixLen: 20 }))!.message;
    expect(Buffer.from(dhcpOption(m, 6)!).toString('hex')).toBe('0102030405060708');
    expect(Buffer.from(dhcpOption(m, 51)!).toString('hex')).toBe('00000e10');
    expect(Buffer.from(dhcpOption(m, 1)!).toString('hex')).toBe('fffff000');
  });

  it('uses a separate server address, and works without a gateway', () => {
    const server = hex('c63364fe');
    const m = answer(UDHCPC_DISCOVER, cfg({ serverAddr: server }))!;
    expect(m.ipSrc).toBe('c63364fe');
    expect(Buffer.from(dhcpOption(m.message, 54)!).toString('hex')).toBe('c63364fe');
    const noGateway = answer(UDHCPC_DISCOVER, cfg({ gateway: null, serverAddr: server }))!;
    expect(codes(noGateway.message)).toEqual([53, 54, 51, 1, 6, 15, 119]);
    // Without gateway and server address there is no identity to answer with.
    expect(answer(UDHCPC_DISCOVER, cfg({ gateway: null }))).toBeUndefined();
  });

  it('leaves out what does not fit the 576-byte default, and uses the room option 57 gives', () => {
    const longSearch = Array.from({ length: 12 }, (_, i) => `domain${i}.subdomain.example.org`); // 374 bytes on the wire
    const small = answer(UDHCPC_DISCOVER, cfg({ search: longSearch }))!;
    expect(codes(small.message)).toEqual([53, 54, 51, 1, 3, 6, 15]); // 119 dropped, not truncated
    expect(small.dhcp.length + 28).toBeLessThanOrEqual(576);

    const large = answer(NETWORKD_DISCOVER, cfg({ search: longSearch }))!;
    expect(codes(large.message)).toEqual([53, 54, 51, 80, 1, 3, 6, 15, 119, 119]); // split (RFC 3396)
    expect(large.message.options.filter((o) => o.code === 119).map((o) => o.data.length)).toEqual([255, 119]);
    expect(decodeDomainNames(dhcpOption(large.message, 119)!)).toEqual(longSearch);
    expect(large.dhcp.length + 28).toBeLessThanOrEqual(1472);
  });
});

describe('dhcpTapHandler: other messages', () => {
  it('answers DHCPINFORM with configuration only, by unicast to ciaddr', () => {
    const inform = dhcpFrame(
      bootRequest(
        `63825363 350108 370401030f06 ff`,
        '01010600 0badcafe 0000 0000 c6336402 00000000 00000000 00000000',
      ),
    );
    const reply = answer(inform)!;
    expect(codes(reply.message)).toEqual([53, 54, 1, 3, 15, 6, 119]); // no lease time
    expect(reply.message.options[0].data[0]).toBe(5);
    expect(Buffer.from(reply.message.yiaddr).toString('hex')).toBe('00000000');
    expect(Buffer.from(reply.message.ciaddr).toString('hex')).toBe('c6336402');
    expect([reply.ethDst, reply.ipDst]).toEqual(['5e8a3c112233', 'c6336402']);
    // Without ciaddr it can only be broadcast.
    const anonymous = dhcpFrame(bootRequest(`63825363 350108 ff`, '01010600 0badcafe 0000 0000 00000000 00000000 00000000 00000000'));
    expect([answer(anonymous)!.ethDst, answer(anonymous)!.ipDst]).toEqual(['ffffffffffff', 'ffffffff']);
  });

  it('answers plain BOOTP without DHCP-only options', () => {
    const bootp = dhcpFrame(bootRequest(`63825363 ff ${zeros(59)}`));
    const reply = answer(bootp)!;
    expect(reply.message.op).toBe(2);
    expect(codes(reply.message)).toEqual([1, 3, 6, 15, 119]);
    expect(Buffer.from(reply.message.yiaddr).toString('hex')).toBe('c6336402');
    expect(reply.ipSrc).toBe('c6336401');
  });

  it('answers in place and at an offset, and returns 0 without room', () => {
    const frame = Buffer.concat([UDHCPC_DISCOVER, Buffer.alloc(100)]);
    expect(dhcpTapHandler(CFG, link(), frame, 0, UDHCPC_DISCOVER.length, frame, 0)).toBe(361);
    expect(frame.subarray(0, 361).equals(UDHCPC_OFFER)).toBe(true);

    const shifted = Buffer.concat([Buffer.alloc(3), UDHCPC_DISCOVER, Buffer.alloc(18)]); // Ethernet padding too
    const out = Buffer.alloc(361);
    expect(dhcpTapHandler(CFG, link(), shifted, 3, UDHCPC_DISCOVER.length + 18, out, 0)).toBe(361);
    expect(out.equals(UDHCPC_OFFER)).toBe(true);

    expect(dhcpTapHandler(CFG, link(), UDHCPC_DISCOVER, 0, 342, Buffer.alloc(360), 0)).toBe(0);
    expect(dhcpTapHandler(CFG, link(), UDHCPC_DISCOVER, 0, 342, Buffer.alloc(400), 40)).toBe(0);
    expect(dhcpTapHandler(CFG, link(), UDHCPC_DISCOVER, 0, 342, Buffer.alloc(400), -1)).toBe(0);
    expect(dhcpTapHandler(CFG, link(), UDHCPC_DISCOVER, 0, 342, Buffer.alloc(20), 0)).toBe(0);
  });
});

describe('dhcpTapHandler: malformed input', () => {
  const drop = (frame: Buffer, why: string): void => {
    const out = Buffer.alloc(1600, 0xee);
    expect(dhcpTapHandler(CFG, link(), frame, 0, frame.length, out, 0), why).toBe(0);
    expect(out.every((b) => b === 0xee), why).toBe(true);
  };

  it('returns 0 for every truncation of a request', () => {
    for (const request of [UDHCPC_DISCOVER, DHCLIENT_REQUEST, NETWORKD_DISCOVER]) {
      for (let len = 0; len < request.length; len++) drop(Buffer.from(request.subarray(0, len)), `truncated to ${len}`);
      const out = Buffer.alloc(1600);
      expect(dhcpTapHandler(CFG, link(), request, 0, request.length + 1, out, 0)).toBe(0); // len past the buffer
    }
  });

  it('returns 0 for every truncation of the DHCP message with consistent headers', () => {
    // Cut inside the message, lengths fixed up: only messages that still hold the end option are answered.
    const payload = UDHCPC_DISCOVER.subarray(42);
    const endAt = payload.indexOf(0xff, 240);
    for (let len = 0; len < payload.length; len++) {
      const out = Buffer.alloc(1600);
      const n = dhcpTapHandler(CFG, link(), dhcpFrame(Buffer.from(payload.subarray(0, len))), 0, 42 + len, out, 0);
      expect(n, `message of ${len} bytes`).toBe(len > endAt ? 361 : 0);
    }
  });

  it('drops bad cookies, replies, long hardware addresses, relayed and non-DHCP frames', () => {
    drop(patched(UDHCPC_DISCOVER, (b) => (b[42 + 236] = 0x64)), 'wrong magic cookie');
    drop(patched(UDHCPC_DISCOVER, (b) => (b[42] = 2)), 'BOOTREPLY from the guest');
    drop(patched(UDHCPC_DISCOVER, (b) => (b[42] = 3)), 'unknown op');
    drop(patched(UDHCPC_DISCOVER, (b) => (b[42 + 2] = 17)), 'hlen 17');
    drop(patched(UDHCPC_DISCOVER, (b) => b.set(hex('c0000202'), 42 + 24)), 'relayed (giaddr set)');
    drop(patched(UDHCPC_DISCOVER, (b) => (b[42 + 241] = 2)), 'message type of length 2');
    drop(patched(UDHCPC_DISCOVER, (b) => b.writeUInt16BE(69, 36)), 'to port 69');
    drop(patched(UDHCPC_DISCOVER, (b) => (b[23] = 6)), 'not UDP');
    drop(patched(UDHCPC_DISCOVER, (b) => b.writeUInt16BE(0x2000, 20)), 'a first fragment');
    drop(patched(UDHCPC_DISCOVER, (b) => b.writeUInt16BE(0x86dd, 12)), 'ethertype IPv6');
    drop(SYN4, 'TCP');
    drop(SYN6, 'IPv6');
  });

  it('drops bad option lengths, missing ends and pad-only option fields', () => {
    const msg = (options: string): Buffer => dhcpFrame(bootRequest(options));
    drop(msg('63825363 350101 3710 0103'), 'option past the end');
    drop(msg('63825363 350101 37'), 'option cut after its code');
    drop(msg('63825363 350101 370101'), 'no end option');
    drop(msg(`63825363 ${zeros(100)}`), 'only pad bytes');
    drop(msg('63825363'), 'empty option field');
    expect(answer(msg(`63825363 ${zeros(50)} 350101 ${zeros(7)} ff`))).toBeDefined(); // pads are fine
    expect(answer(msg('63825363 350101 ff 37100102'))).toBeDefined(); // bytes after end ignored
  });

  it('parses option overload and drops its abuses', () => {
    // Overload 3: options in file (first), then sname, each closed by an end option.
    const withOverload = (overload: string, sname: string, file: string): Buffer => {
      const fixed = hex('01010600 11223344 0000 0000 00000000 00000000 00000000 00000000 5e8a3c11223300000000000000000000');
      const snameField = Buffer.alloc(64);
      hex(sname).copy(snameField);
      const fileField = Buffer.alloc(128);
      hex(file).copy(fileField);
      return Buffer.concat([fixed, snameField, fileField, hex(`63825363 ${overload} ff`)]);
    };
    const good = withOverload('350101 340103', '0f03616263 ff', '370201 03 ff');
    const parsed = parseDhcpMessage(good, 0, good.length)!;
    expect(parsed.options.map((o) => o.code)).toEqual([53, 55, 15]);
    expect(answer(dhcpFrame(good))!.message.options[0].data[0]).toBe(2);
    const file = withOverload('350101 340101', '', '370201 03 ff');
    expect(parseDhcpMessage(file, 0, file.length)!.options.map((o) => o.code)).toEqual([53, 55]);

    const bad: Array<[string, Buffer]> = [
      ['overload value 0', withOverload('350101 340100', '', '')],
      ['overload value 4', withOverload('350101 340104', 'ff', 'ff')],
      ['overload of length 2', withOverload('350101 34020101', '', 'ff')],
      ['overload twice', withOverload('350101 340101 340101', '', 'ff')],
      ['file without end option', withOverload('350101 340101', '', `0104${'0'.repeat(8)}`)],
      ['sname without end option', withOverload('350101 340102', '0f03616263', 'ff')],
      ['overload inside file (a loop)', withOverload('350101 340101', '', '340101 ff')],
      ['overload inside sname', withOverload('350101 340103', '340102 ff', 'ff')],
      ['option running past the file field', withOverload('350101 340101', '', `${'00'.repeat(126)}0f05`)],
    ];
    for (const [why, message] of bad) {
      expect(parseDhcpMessage(message, 0, message.length), why).toBeUndefined();
      drop(dhcpFrame(message), why);
    }
  });

  it('never throws on randomly corrupted requests', () => {
    const random = prng(0x5eed);
    const out = Buffer.alloc(1600);
    for (let round = 0; round < 3000; round++) {
      const frame = Buffer.from([UDHCPC_DISCOVER, DHCLIENT_REQUEST, NETWORKD_DISCOVER][round % 3]);
      const flips = 1 + Math.floor(random() * 8);
      for (let f = 0; f < flips; f++) frame[42 + Math.floor(random() * (frame.length - 42))] = Math.floor(random() * 256);
      const n = dhcpTapHandler(CFG, link(), frame, 0, frame.length, out, 0);
      if (n) takeApart(out, 0, n); // whatever is answered is a well-formed reply
    }
  });
});

describe('parseDhcpMessage and emitDhcpMessage', () => {
  it('parses the udhcpc DISCOVER and returns copies', () => {
    const payload = Buffer.from(UDHCPC_DISCOVER.subarray(42));
    const m = parseDhcpMessage(payload, 0, payload.length)!;
    expect(codes(m)).toEqual([53, 57, 55, 61]);
    expect(Buffer.from(dhcpOption(m, 55)!).toString('hex')).toBe('0103060c0f1c2a');
    payload.fill(0);
    expect(m.xid).toBe(0x5a3c1f27);
    expect(Buffer.from(dhcpOption(m, 61)!).toString('hex')).toBe('015e8a3c112233');
  });

  it('returns undefined below 240 bytes and never reads past len', () => {
    const payload = UDHCPC_DISCOVER.subarray(42);
    for (let len = 0; len < 240; len++) expect(parseDhcpMessage(payload, 0, len)).toBeUndefined();
    expect(parseDhcpMessage(payload, 0, payload.length + 1)).toBeUndefined();
    expect(parseDhcpMessage(payload, -1, 300)).toBeUndefined();
    expect(parseDhcpMessage(payload, 0.5, 299)).toBeUndefined();
  });

  it('concatenates repeated options (RFC 3396) and round-trips through emit', () => {
    const message: DhcpMessage = {
      op: 2, htype: 1, hlen: 6, hops: 0, xid: 0x01020304, secs: 7, flags: 0x8000,
      ciaddr: hex('00000000'), yiaddr: hex('c6336402'), siaddr: hex('00000000'), giaddr: hex('00000000'),
      chaddr: hex('5e8a3c11223300000000000000000000'),
      options: [{ code: 53, data: Uint8Array.of(5) }, { code: 119, data: Buffer.alloc(300, 0x41) }, { code: 80, data: new Uint8Array(0) }],
    };
    const out = Buffer.alloc(700, 0xee);
    const n = emitDhcpMessage(message, out, 10, 690);
    expect(n).toBe(240 + 3 + (2 + 255) + (2 + 45) + 2 + 1);
    expect(out.subarray(10 + 240, 10 + 248).toString('hex')).toBe('350105' + '77ff' + '414141');
    const back = parseDhcpMessage(out, 10, n)!;
    expect(codes(back)).toEqual([53, 119, 119, 80]);
    expect(Buffer.from(dhcpOption(back, 119)!).equals(Buffer.alloc(300, 0x41))).toBe(true);
    expect([back.op, back.xid, back.secs, back.flags]).toEqual([2, 0x01020304, 7, 0x8000]);
    // Short messages are padded to 300 bytes; no room means nothing written.
    const small = { ...message, options: [] };
    expect(emitDhcpMessage(small, out, 0, 700)).toBe(300);
    expect(emitDhcpMessage(small, Buffer.alloc(299), 0, 299)).toBe(0);
    expect(emitDhcpMessage(small, out, 0, 299)).toBe(0);
  });
});

describe('domain name lists', () => {
  it('encodes without compression, skipping invalid names', () => {
    expect(encodeDomainNames(['example.org', 'lab.example.com.']).toString('hex')).toBe(
      '076578616d706c65036f726700' + '036c6162076578616d706c6503636f6d00',
    );
    expect(encodeDomainNames(['.', '', 'a..b', `${'x'.repeat(64)}.org`, 'ok']).toString('hex')).toBe('026f6b00');
    const long = Array.from({ length: 5 }, () => 'y'.repeat(60)).join('.');
    expect(encodeDomainNames([long]).length).toBe(0); // 306 bytes on the wire
  });

  it('decodes RFC 3397 compression and rejects loops and forward pointers', () => {
    // The example of RFC 3397 section 3: eng.apple.com and marketing.apple.com.
    const rfc3397 = hex('03656e67056170706c6503636f6d00 096d61726b6574696e67c004');
    expect(decodeDomainNames(rfc3397, true)).toEqual(['eng.apple.com', 'marketing.apple.com']);
    expect(decodeDomainNames(rfc3397, false)).toBeUndefined();
    expect(decodeDomainNames(hex('c000'), true)).toBeUndefined(); // points at itself
    expect(decodeDomainNames(hex('0161 c002 c000'), true)).toBeUndefined(); // forward
    expect(decodeDomainNames(hex('01610162c000'), true)).toBeUndefined(); // back into its own labels: loop
    expect(decodeDomainNames(hex('03616263'), true)).toBeUndefined(); // no terminator
    expect(decodeDomainNames(hex('4161 00'), true)).toBeUndefined(); // extended label type
    expect(decodeDomainNames(hex('0161 00 00 00'))).toEqual(['a']); // root names (padding) skipped
    expect(decodeDomainNames(new Uint8Array(0))).toEqual([]);
  });
});
