/**
 * The DHCPv6 server on literal frames: busybox udhcpc6 SOLICIT and REQUEST
 * written out from its source (networking/udhcp/d6_dhcpc.c and
 * d6_packet.c: elapsed time first, IA_NA, option request 23 24, empty
 * client FQDN, DUID-LL client id last; hop limit 1), an ISC dhclient -6
 * SOLICIT (DUID-LLT, T1 3600 / T2 5400 in its IA_NA, a kernel flow label),
 * the exact ADVERTISE, every message type's answer, and malformed input
 * that must return 0 without throwing. Checksums and the expected reply
 * bytes come from a separate Python script; replies are verified again
 * with the reference checksum of wire-frames.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  DHCPV6_ADVERTISE,
  DHCPV6_REPLY,
  dhcpv6Option,
  dhcpv6TapHandler,
  emitDhcpv6Message,
  iaAddressOption,
  iaNaOption,
  parseDhcpv6Message,
  parseIaAddress,
  parseIaNa,
  parseStatusCode,
  serverDuid,
  statusCodeOption,
  type Dhcpv6Config,
  type Dhcpv6Message,
} from '../../src/dhcp/dhcpv6.js';
import { decodeDomainNames } from '../../src/dhcp/dhcp.js';
import { createLinkState, type LinkState } from '../../src/l2/link.js';
import { GUEST_MAC, hex, prng, pseudo6, referenceChecksum, SYN6 } from './wire-frames.js';

/** Hex with `# comments` to the end of each line. */
const bytes = (text: string): Buffer => hex(text.replace(/#.*$/gm, ''));

const GUEST6 = hex('20010db8000000000000000000000002');
const GUEST_LL = hex('fe800000000000005c8a3cfffe112233');
const OUR_LL = hex('fe8000000000000098559afffe559a55');

const CFG: Dhcpv6Config = {
  addr: GUEST6,
  dns: [hex('cb007135'), hex('20010db8000000000000000000000053')],
  search: ['example.org', 'lab.example.com'],
  noDhcpDns: false,
  noDhcpSearch: false,
};

const cfg = (overrides: Partial<Dhcpv6Config> = {}): Dhcpv6Config => ({ ...CFG, ...overrides });
const link = (): LinkState => createLinkState({ guestMac: GUEST_MAC });

/** busybox udhcpc6 SOLICIT (no -r, no -d): to ff02::1:2 from the link-local address, hop limit 1. */
const UDHCPC6_SOLICIT = bytes(`
  333300010002 5e8a3c112233 86dd
  60000000 003e 11 01
  fe800000000000005c8a3cfffe112233
  ff020000000000000000000000010002
  0222 0223 003e 68ce
  01 3f29c1                                   # SOLICIT
  0008 0002 0000                              # elapsed time
  0003 000c 67458b6b 00000000 00000000        # IA_NA, IAID 67458b6b
  0006 0004 0017 0018                         # option request: 23, 24
  0027 0002 0000                              # client FQDN, empty
  0001 000a 0003 0001 5e8a3c112233            # client id: DUID-LL
`);

/** udhcpc6 REQUEST after our ADVERTISE: our server id copied in, the same IA_NA. */
const UDHCPC6_REQUEST = bytes(`
  333300010002 5e8a3c112233 86dd
  60000000 004c 11 01
  fe800000000000005c8a3cfffe112233
  ff020000000000000000000000010002
  0222 0223 004c 97a1
  03 3f29c1                                   # REQUEST
  0008 0002 0000
  0002 000a 0003 0001 9a559a559a55            # server id
  0003 000c 67458b6b 00000000 00000000
  0006 0004 0017 0018
  0027 0002 0000
  0001 000a 0003 0001 5e8a3c112233
`);

/** The ADVERTISE expected for UDHCPC6_SOLICIT with CFG. */
const UDHCPC6_ADVERTISE = bytes(`
  5e8a3c112233 9a559a559a55 86dd
  60000000 008a 11 ff
  fe8000000000000098559afffe559a55
  fe800000000000005c8a3cfffe112233
  0223 0222 008a 6614
  02 3f29c1                                   # ADVERTISE
  0002 000a 0003 0001 9a559a559a55            # server id: DUID-LL of our MAC
  0001 000a 0003 0001 5e8a3c112233            # client id, echoed
  0003 0028 67458b6b ffffffff ffffffff        # IA_NA, T1 and T2 infinite
    0005 0018 20010db8000000000000000000000002 ffffffff ffffffff
  0017 0010 20010db8000000000000000000000053  # DNS servers
  0018 001e 076578616d706c65036f726700 036c6162076578616d706c6503636f6d00
`);

/** ISC dhclient -6 SOLICIT: DUID-LLT client id, request for 23 24 39 31, IA_NA with T1 3600 and T2 5400. */
const DHCLIENT6_SOLICIT = bytes(`
  333300010002 5e8a3c112233 86dd
  600a3b1c 0040 11 01
  fe800000000000005c8a3cfffe112233
  ff020000000000000000000000010002
  0222 0223 0040 c860
  01 4bd5e0
  0008 0002 0000
  0001 000e 0001 0001 2d1f3a40 5e8a3c112233   # DUID-LLT
  0006 0008 0017 0018 0027 001f
  0003 000c 3a112233 00000e10 00001518
`);

it('literal frames are what they claim', () => {
  for (const frame of [UDHCPC6_SOLICIT, UDHCPC6_REQUEST, UDHCPC6_ADVERTISE, DHCLIENT6_SOLICIT]) {
    const length = frame.readUInt16BE(18);
    expect(frame.length).toBe(54 + length);
    expect(frame.readUInt16BE(58)).toBe(length);
    expect(referenceChecksum(pseudo6(frame.subarray(22, 38), frame.subarray(38, 54), 17, length), frame.subarray(54))).toBe(0);
  }
});

/** A reply taken apart without the code under test, checksum verified. */
interface Reply {
  ethDst: string;
  ethSrc: string;
  hopLimit: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  message: Dhcpv6Message;
}

function takeApart(out: Buffer, off: number, length: number): Reply {
  const frame = out.subarray(off, off + length);
  expect(frame.readUInt16BE(12)).toBe(0x86dd);
  expect(frame.readUInt32BE(14)).toBe(0x60000000);
  expect(frame.readUInt16BE(18)).toBe(length - 54);
  expect(frame[20]).toBe(17);
  expect(frame.readUInt16BE(58)).toBe(length - 54);
  expect(referenceChecksum(pseudo6(frame.subarray(22, 38), frame.subarray(38, 54), 17, length - 54), frame.subarray(54))).toBe(0);
  const message = parseDhcpv6Message(frame, 62, length - 62)!;
  expect(message).toBeDefined();
  return {
    ethDst: frame.subarray(0, 6).toString('hex'),
    ethSrc: frame.subarray(6, 12).toString('hex'),
    hopLimit: frame[21],
    src: frame.subarray(22, 38).toString('hex'),
    dst: frame.subarray(38, 54).toString('hex'),
    srcPort: frame.readUInt16BE(54),
    dstPort: frame.readUInt16BE(56),
    message,
  };
}

function answer(frame: Buffer, config: Dhcpv6Config = CFG): Reply | undefined {
  const out = Buffer.alloc(1500, 0xee);
  const n = dhcpv6TapHandler(config, link(), frame, 0, frame.length, out, 0);
  if (!n) {
    expect(out.every((b) => b === 0xee)).toBe(true);
    return undefined;
  }
  return takeApart(out, 0, n);
}

/** A client frame around a DHCPv6 message, checksum by the reference routine. */
function v6Frame(message: string, src: Uint8Array = GUEST_LL, dst = 'ff020000000000000000000000010002', hopLimit = 1): Buffer {
  const payload = bytes(message);
  const frame = Buffer.concat([
    hex('333300010002 5e8a3c112233 86dd 60000000 0000 11'),
    Uint8Array.of(hopLimit),
    src,
    hex(dst),
    hex('0222 0223 0000 0000'),
    payload,
  ]);
  frame.writeUInt16BE(8 + payload.length, 18);
  frame.writeUInt16BE(8 + payload.length, 58);
  frame.writeUInt16BE(referenceChecksum(pseudo6(frame.subarray(22, 38), frame.subarray(38, 54), 17, 8 + payload.length), frame.subarray(54)), 60);
  return frame;
}

const CLIENT_ID = '0001 000a 0003 0001 5e8a3c112233';
const SERVER_ID = '0002 000a 0003 0001 9a559a559a55';
const IA_EMPTY = '0003 000c 67458b6b 00000000 00000000';

const optionCodes = (m: Dhcpv6Message): number[] => m.options.map((o) => o.code);
const status = (options: Dhcpv6Message['options']): { code: number; message: string } | undefined => {
  const data = dhcpv6Option(options, 13);
  return data ? parseStatusCode(data) : undefined;
};

describe('dhcpv6TapHandler: busybox udhcpc6', () => {
  it('advertises the address for a SOLICIT, byte for byte', () => {
    const out = Buffer.alloc(300, 0xee);
    const n = dhcpv6TapHandler(CFG, link(), UDHCPC6_SOLICIT, 0, UDHCPC6_SOLICIT.length, out, 9);
    expect(n).toBe(192);
    expect(out.subarray(9, 9 + n).toString('hex')).toBe(UDHCPC6_ADVERTISE.toString('hex'));
    expect(out[8]).toBe(0xee);
    expect(out[9 + n]).toBe(0xee);
    const reply = takeApart(out, 9, n);
    expect([reply.ethDst, reply.ethSrc]).toEqual(['5e8a3c112233', '9a559a559a55']);
    expect([reply.src, reply.dst]).toEqual([OUR_LL.toString('hex'), GUEST_LL.toString('hex')]);
    expect([reply.srcPort, reply.dstPort, reply.hopLimit]).toEqual([547, 546, 255]);
    const m = reply.message;
    expect([m.type, m.transactionId]).toEqual([DHCPV6_ADVERTISE, 0x3f29c1]);
    expect(optionCodes(m)).toEqual([2, 1, 3, 23, 24]);
    expect(Buffer.from(dhcpv6Option(m.options, 2)!).equals(serverDuid(link().ourMac))).toBe(true);
    const ia = parseIaNa(dhcpv6Option(m.options, 3)!)!;
    expect([ia.iaid, ia.t1, ia.t2]).toEqual([0x67458b6b, 0xffffffff, 0xffffffff]);
    const address = parseIaAddress(ia.options[0].data)!;
    expect(Buffer.from(address.address).equals(GUEST6)).toBe(true);
    expect([address.preferredLifetime, address.validLifetime]).toEqual([0xffffffff, 0xffffffff]);
    expect(decodeDomainNames(dhcpv6Option(m.options, 24)!)).toEqual(['example.org', 'lab.example.com']);
  });

  it('replies to its REQUEST with the same assignment', () => {
    const reply = answer(UDHCPC6_REQUEST)!;
    expect([reply.message.type, reply.message.transactionId]).toEqual([DHCPV6_REPLY, 0x3f29c1]);
    // Only the message type differs from the ADVERTISE.
    const expected = Buffer.from(UDHCPC6_ADVERTISE.subarray(62));
    expected[0] = DHCPV6_REPLY;
    const out = Buffer.alloc(300);
    const n = dhcpv6TapHandler(CFG, link(), UDHCPC6_REQUEST, 0, UDHCPC6_REQUEST.length, out, 0);
    expect(out.subarray(62, n).equals(expected)).toBe(true);
  });

  it('answers its renewal (a REQUEST carrying the assigned address)', () => {
    const renew = v6Frame(`03 3f29c2 0008 0002 0000 ${SERVER_ID}
      0003 0028 67458b6b ffffffff ffffffff 0005 0018 20010db8000000000000000000000002 ffffffff ffffffff
      0006 0004 0017 0018 ${CLIENT_ID}`);
    const reply = answer(renew)!;
    expect(reply.message.type).toBe(DHCPV6_REPLY);
    const ia = parseIaNa(dhcpv6Option(reply.message.options, 3)!)!;
    expect(ia.options.length).toBe(1);
    expect(Buffer.from(parseIaAddress(ia.options[0].data)!.address).equals(GUEST6)).toBe(true);
  });
});

describe('dhcpv6TapHandler: ISC dhclient -6', () => {
  it('echoes its IAID and DUID-LLT and ignores its T1/T2 hints', () => {
    const reply = answer(DHCLIENT6_SOLICIT)!;
    expect([reply.message.type, reply.message.transactionId]).toEqual([DHCPV6_ADVERTISE, 0x4bd5e0]);
    expect(Buffer.from(dhcpv6Option(reply.message.options, 1)!).toString('hex')).toBe('000100012d1f3a405e8a3c112233');
    const ia = parseIaNa(dhcpv6Option(reply.message.options, 3)!)!;
    expect([ia.iaid, ia.t1, ia.t2]).toEqual([0x3a112233, 0xffffffff, 0xffffffff]);
  });
});

describe('dhcpv6TapHandler: message types', () => {
  it('commits at once when a SOLICIT asks for Rapid Commit', () => {
    const reply = answer(v6Frame(`01 000001 0008 0002 0000 ${CLIENT_ID} 000e 0000 ${IA_EMPTY} 0006 0002 0017`))!;
    expect(reply.message.type).toBe(DHCPV6_REPLY);
    expect(optionCodes(reply.message)).toEqual([2, 1, 14, 3, 23, 24]);
    expect(dhcpv6Option(reply.message.options, 14)!.length).toBe(0);
  });

  it('advertises only NoAddrsAvail for a SOLICIT without IA_NA, and one address per client', () => {
    const none = answer(v6Frame(`01 000002 ${CLIENT_ID} 0006 0002 0017`))!;
    expect(none.message.type).toBe(DHCPV6_ADVERTISE);
    expect(optionCodes(none.message)).toEqual([2, 1, 13]);
    expect(status(none.message.options)!.code).toBe(2);
    // Rapid Commit without an IA_NA cannot commit anything: still an ADVERTISE.
    expect(answer(v6Frame(`01 000002 ${CLIENT_ID} 000e 0000`))!.message.type).toBe(DHCPV6_ADVERTISE);

    const two = answer(v6Frame(`01 000003 ${CLIENT_ID} ${IA_EMPTY} 0003 000c 00000002 00000000 00000000`))!;
    expect(optionCodes(two.message)).toEqual([2, 1, 3, 3, 23, 24]);
    const second = parseIaNa(two.message.options[3].data)!;
    expect(second.iaid).toBe(2);
    expect(status(second.options)!.code).toBe(2);
    expect(dhcpv6Option(second.options, 5)).toBeUndefined();
  });

  it('requires our server id in REQUEST and RENEW, and none in SOLICIT and REBIND', () => {
    const other = '0002 000a 0003 0001 020000000001';
    expect(answer(v6Frame(`03 000004 ${other} ${CLIENT_ID} ${IA_EMPTY}`))).toBeUndefined();
    expect(answer(v6Frame(`03 000004 ${CLIENT_ID} ${IA_EMPTY}`))).toBeUndefined();
    expect(answer(v6Frame(`05 000004 ${other} ${CLIENT_ID} ${IA_EMPTY}`))).toBeUndefined();
    expect(answer(v6Frame(`01 000004 ${SERVER_ID} ${CLIENT_ID} ${IA_EMPTY}`))).toBeUndefined();
    expect(answer(v6Frame(`06 000004 ${SERVER_ID} ${CLIENT_ID} ${IA_EMPTY}`))).toBeUndefined();
    expect(answer(v6Frame(`01 000004 ${IA_EMPTY}`))).toBeUndefined(); // no client id
    // A REQUEST without IA_NA: NoAddrsAvail, configuration still given.
    const bare = answer(v6Frame(`03 000005 ${SERVER_ID} ${CLIENT_ID}`))!;
    expect(optionCodes(bare.message)).toEqual([2, 1, 13, 23, 24]);
    expect(status(bare.message.options)!.code).toBe(2);
  });

  it('withdraws other addresses on RENEW and REBIND with lifetimes 0', () => {
    const iaWithOld = '0003 0028 67458b6b 00000000 00000000 0005 0018 20010db8000000000000000000000099 00000e10 00001c20';
    for (const [type, server] of [['05', SERVER_ID], ['06', '']]) {
      const reply = answer(v6Frame(`${type} 000006 ${server} ${CLIENT_ID} ${iaWithOld}`))!;
      expect(reply.message.type).toBe(DHCPV6_REPLY);
      const ia = parseIaNa(dhcpv6Option(reply.message.options, 3)!)!;
      const addresses = ia.options.map((o) => parseIaAddress(o.data)!);
      expect(addresses.map((a) => [Buffer.from(a.address).toString('hex'), a.preferredLifetime, a.validLifetime])).toEqual([
        ['20010db8000000000000000000000002', 0xffffffff, 0xffffffff],
        ['20010db8000000000000000000000099', 0, 0],
      ]);
    }
    // A REQUEST with an address hint just gets ours.
    const hinted = answer(v6Frame(`03 000007 ${SERVER_ID} ${CLIENT_ID} ${iaWithOld}`))!;
    expect(parseIaNa(dhcpv6Option(hinted.message.options, 3)!)!.options.length).toBe(1);
  });

  it('confirms our address and says NotOnLink for any other', () => {
    const confirm = (address: string): Reply | undefined =>
      answer(v6Frame(`04 000008 ${CLIENT_ID} 0003 0028 67458b6b 00000000 00000000 0005 0018 ${address} 00000000 00000000`));
    const ok = confirm('20010db8000000000000000000000002')!;
    expect(optionCodes(ok.message)).toEqual([2, 1, 13]);
    expect(status(ok.message.options)!.code).toBe(0);
    const foreign = confirm('20010db8000100000000000000000002')!;
    expect(optionCodes(foreign.message)).toEqual([2, 1, 13]);
    expect(status(foreign.message.options)).toEqual({ code: 4, message: 'Prefix not appropriate for link.' });
    // IA_TA addresses count too.
    const ta = answer(v6Frame(`04 000009 ${CLIENT_ID} 0004 0020 00000001 0005 0018 20010db8000100000000000000000002 00000000 00000000`))!;
    expect(status(ta.message.options)!.code).toBe(4);
    // No addresses at all: no reply (RFC 8415 18.3.3); a server id: dropped.
    expect(answer(v6Frame(`04 00000a ${CLIENT_ID} ${IA_EMPTY}`))).toBeUndefined();
    expect(answer(v6Frame(`04 00000a ${SERVER_ID} ${CLIENT_ID} 0003 0028 67458b6b 00000000 00000000 0005 0018 20010db8000000000000000000000002 00000000 00000000`))).toBeUndefined();
  });

  it('acknowledges RELEASE and DECLINE with Success', () => {
    for (const type of ['08', '09']) {
      const reply = answer(v6Frame(`${type} 00000b ${SERVER_ID} ${CLIENT_ID} ${IA_EMPTY}`))!;
      expect(reply.message.type).toBe(DHCPV6_REPLY);
      expect(optionCodes(reply.message)).toEqual([2, 1, 13]);
      expect(status(reply.message.options)!.code).toBe(0);
      expect(answer(v6Frame(`${type} 00000b ${CLIENT_ID} ${IA_EMPTY}`))).toBeUndefined();
    }
  });

  it('answers INFORMATION-REQUEST with configuration only', () => {
    const reply = answer(v6Frame(`0b 00000c 0008 0002 0000 ${CLIENT_ID} 0006 0004 0017 0018`))!;
    expect(reply.message.type).toBe(DHCPV6_REPLY);
    expect(optionCodes(reply.message)).toEqual([2, 1, 23, 24]);
    // No client id is allowed here: none echoed.
    expect(optionCodes(answer(v6Frame(`0b 00000d 0006 0002 0017`))!.message)).toEqual([2, 23, 24]);
    expect(optionCodes(answer(v6Frame(`0b 00000d ${SERVER_ID}`))!.message)).toEqual([2, 23, 24]);
    expect(answer(v6Frame(`0b 00000d 0002 000a 0003 0001 020000000001`))).toBeUndefined();
    expect(answer(v6Frame(`0b 00000d ${CLIENT_ID} ${IA_EMPTY}`))).toBeUndefined();
    expect(answer(v6Frame(`0b 00000d ${CLIENT_ID} 0019 000c 00000001 00000000 00000000`))).toBeUndefined(); // IA_PD
  });

  it('leaves out DNS options when disabled or absent', () => {
    expect(optionCodes(answer(UDHCPC6_SOLICIT, cfg({ noDhcpDns: true }))!.message)).toEqual([2, 1, 3, 24]);
    expect(optionCodes(answer(UDHCPC6_SOLICIT, cfg({ noDhcpSearch: true }))!.message)).toEqual([2, 1, 3, 23]);
    expect(optionCodes(answer(UDHCPC6_SOLICIT, cfg({ dns: [hex('cb007135')], search: ['.'] }))!.message)).toEqual([2, 1, 3]);
    const two = answer(UDHCPC6_SOLICIT, cfg({ dns: [hex('20010db8000000000000000000000053'), hex('20010db8000000000000000000000054')] }))!;
    expect(Buffer.from(dhcpv6Option(two.message.options, 23)!).toString('hex')).toBe(
      '20010db8000000000000000000000053' + '20010db8000000000000000000000054',
    );
  });

  it('drops server and relay messages and unknown types', () => {
    for (const type of ['02', '07', '0a', '0c', '0d', '00', 'ff']) {
      expect(answer(v6Frame(`${type} 00000e ${SERVER_ID} ${CLIENT_ID} ${IA_EMPTY}`)), `type ${type}`).toBeUndefined();
    }
  });

  it('answers in place and at an offset, and returns 0 without room', () => {
    const frame = Buffer.concat([UDHCPC6_SOLICIT, Buffer.alloc(100)]);
    expect(dhcpv6TapHandler(CFG, link(), frame, 0, UDHCPC6_SOLICIT.length, frame, 0)).toBe(192);
    expect(frame.subarray(0, 192).equals(UDHCPC6_ADVERTISE)).toBe(true);
    const shifted = Buffer.concat([Buffer.alloc(7), UDHCPC6_SOLICIT]);
    const out = Buffer.alloc(192);
    expect(dhcpv6TapHandler(CFG, link(), shifted, 7, UDHCPC6_SOLICIT.length, out, 0)).toBe(192);
    expect(out.equals(UDHCPC6_ADVERTISE)).toBe(true);
    expect(dhcpv6TapHandler(CFG, link(), UDHCPC6_SOLICIT, 0, 116, Buffer.alloc(191), 0)).toBe(0);
    expect(dhcpv6TapHandler(CFG, link(), UDHCPC6_SOLICIT, 0, 116, Buffer.alloc(200), 9)).toBe(0);
    expect(dhcpv6TapHandler(CFG, link(), UDHCPC6_SOLICIT, 0, 116, Buffer.alloc(200), -1)).toBe(0);
    expect(dhcpv6TapHandler(CFG, link(), UDHCPC6_SOLICIT, 0, 116, Buffer.alloc(40), 0)).toBe(0);
  });
});

describe('dhcpv6TapHandler: replies too large for a datagram', () => {
  it('sends nothing for a SOLICIT with 1500 IA_NAs, whose reply would not fit in a datagram', () => {
    // Found by test/fuzz/responders.test.ts: every IA_NA but the first gets a 44-byte NoAddrsAvail
    // answer, so this 24080-byte request made a 66148-byte reply frame with 66094 bytes of UDP,
    // whose IPv6 payload length and UDP length fields wrapped to 558.
    const iaNas = (n: number): string => Array.from({ length: n }, (_, i) => `0003 000c ${i.toString(16).padStart(8, '0')} 00000000 00000000`).join(' ');
    const frame = v6Frame(`01 000001 ${CLIENT_ID} ${iaNas(1500)}`);
    expect(frame.length).toBe(24080);
    const out = Buffer.alloc(200_000, 0xee);
    expect(dhcpv6TapHandler(CFG, link(), frame, 0, frame.length, out, 0)).toBe(0);
    expect(out.every((b) => b === 0xee)).toBe(true);
    // 1000 IA_NAs still fit.
    const fewer = v6Frame(`01 000001 ${CLIENT_ID} ${iaNas(1000)}`);
    const n = dhcpv6TapHandler(CFG, link(), fewer, 0, fewer.length, out, 0);
    expect(n).toBeGreaterThan(40_000);
    expect(out.readUInt16BE(18)).toBe(n - 54);
  });
});

describe('dhcpv6TapHandler: malformed and misdirected input', () => {
  const drop = (frame: Buffer, why: string): void => {
    const out = Buffer.alloc(1500, 0xee);
    expect(dhcpv6TapHandler(CFG, link(), frame, 0, frame.length, out, 0), why).toBe(0);
    expect(out.every((b) => b === 0xee), why).toBe(true);
  };

  it('returns 0 for every truncation of a request', () => {
    for (const request of [UDHCPC6_SOLICIT, UDHCPC6_REQUEST, DHCLIENT6_SOLICIT]) {
      for (let len = 0; len < request.length; len++) drop(Buffer.from(request.subarray(0, len)), `truncated to ${len}`);
      expect(dhcpv6TapHandler(CFG, link(), request, 0, request.length + 1, Buffer.alloc(300), 0)).toBe(0);
    }
    // Cut inside the message with consistent headers: only cuts at option boundaries that keep
    // the client id could be answered, and the client id is the last option of udhcpc6.
    const message = UDHCPC6_SOLICIT.subarray(62).toString('hex');
    for (let len = 0; len < message.length / 2; len++) drop(v6Frame(message.slice(0, 2 * len)), `message of ${len} bytes`);
  });

  it('drops unicast, non-link-local sources, other ports, IPv4 and TCP', () => {
    const message = UDHCPC6_SOLICIT.subarray(62).toString('hex');
    drop(v6Frame(message, GUEST_LL, OUR_LL.toString('hex')), 'unicast to our link-local address');
    drop(v6Frame(message, GUEST_LL, 'ff050000000000000000000000010003'), 'All_DHCP_Servers (site scope)');
    drop(v6Frame(message, GUEST6), 'global source');
    drop(v6Frame(message, new Uint8Array(16)), 'unspecified source');
    const toClientPort = Buffer.from(UDHCPC6_SOLICIT);
    toClientPort.writeUInt16BE(546, 56);
    drop(toClientPort, 'to port 546');
    const fragment = Buffer.from(UDHCPC6_SOLICIT);
    fragment[20] = 44; // a fragment header is claimed
    drop(fragment, 'fragment');
    drop(SYN6, 'TCP');
  });

  it('drops bad option lengths, short IAs, impossible or duplicated identifiers', () => {
    drop(v6Frame(`01 000010 ${CLIENT_ID} 0003 00ff 67458b6b`), 'option past the end');
    drop(v6Frame(`01 000010 ${CLIENT_ID} 00`), 'cut option header');
    drop(v6Frame(`01 000010 ${CLIENT_ID} 0003 0008 67458b6b 00000000`), 'IA_NA shorter than 12 bytes');
    drop(v6Frame(`01 000010 ${CLIENT_ID} 0003 0010 67458b6b 00000000 00000000 0005 0008`), 'IA_NA with a cut option');
    drop(v6Frame(`05 000010 ${SERVER_ID} ${CLIENT_ID} 0003 0014 67458b6b 00000000 00000000 0005 0004 20010db8`), 'short IA address');
    drop(v6Frame(`01 000010 0001 0001 00 ${IA_EMPTY}`), 'client id of 1 byte');
    drop(v6Frame(`01 000010 0001 0083 ${'ab'.repeat(131)} ${IA_EMPTY}`), 'client id of 131 bytes');
    drop(v6Frame(`01 000010 ${CLIENT_ID} ${CLIENT_ID} ${IA_EMPTY}`), 'two client ids');
    drop(v6Frame(`03 000010 ${SERVER_ID} ${SERVER_ID} ${CLIENT_ID} ${IA_EMPTY}`), 'two server ids');
    drop(v6Frame(`01 0000`), 'header cut');
    expect(answer(v6Frame(`01 000010 0001 0082 ${'ab'.repeat(130)} ${IA_EMPTY}`))).toBeDefined(); // 130 is the limit
  });

  it('never throws on randomly corrupted requests', () => {
    const random = prng(0xd6c);
    const out = Buffer.alloc(1500);
    for (let round = 0; round < 3000; round++) {
      const frame = Buffer.from([UDHCPC6_SOLICIT, UDHCPC6_REQUEST, DHCLIENT6_SOLICIT][round % 3]);
      const flips = 1 + Math.floor(random() * 6);
      for (let f = 0; f < flips; f++) frame[62 + Math.floor(random() * (frame.length - 62))] = Math.floor(random() * 256);
      const n = dhcpv6TapHandler(CFG, link(), frame, 0, frame.length, out, 0);
      if (n) takeApart(out, 0, n);
    }
  });
});

describe('DHCPv6 parse and emit', () => {
  it('parses udhcpc6 SOLICIT options as copies', () => {
    const payload = Buffer.from(UDHCPC6_SOLICIT.subarray(62));
    const m = parseDhcpv6Message(payload, 0, payload.length)!;
    expect([m.type, m.transactionId]).toEqual([1, 0x3f29c1]);
    expect(optionCodes(m)).toEqual([8, 3, 6, 39, 1]);
    payload.fill(0);
    expect(Buffer.from(dhcpv6Option(m.options, 1)!).toString('hex')).toBe('000300015e8a3c112233');
    expect(parseDhcpv6Message(payload, 0, 3)).toBeUndefined();
    expect(parseDhcpv6Message(payload, 0, payload.length + 1)).toBeUndefined();
    expect(parseDhcpv6Message(payload, -1, 4)).toBeUndefined();
  });

  it('round-trips nested options through emit', () => {
    const message: Dhcpv6Message = {
      type: DHCPV6_REPLY,
      transactionId: 0xabcdef,
      options: [
        iaNaOption({
          iaid: 7,
          t1: 1,
          t2: 2,
          options: [
            iaAddressOption({ address: GUEST6, preferredLifetime: 3, validLifetime: 4, options: [statusCodeOption(0, 'ok')] }),
          ],
        }),
      ],
    };
    const out = Buffer.alloc(100, 0xee);
    const n = emitDhcpv6Message(message, out, 1, 99);
    expect(n).toBe(4 + 4 + 12 + 4 + 24 + 4 + 2 + 2);
    expect(out.subarray(1, 1 + n).toString('hex')).toBe(
      '07abcdef' + '00030030' + '00000007' + '00000001' + '00000002' + '00050020' + GUEST6.toString('hex') + '00000003' + '00000004' +
        '000d0004' + '0000' + '6f6b',
    );
    const back = parseDhcpv6Message(out, 1, n)!;
    const ia = parseIaNa(back.options[0].data)!;
    const address = parseIaAddress(ia.options[0].data)!;
    expect([ia.iaid, ia.t1, ia.t2, address.preferredLifetime, address.validLifetime]).toEqual([7, 1, 2, 3, 4]);
    expect(parseStatusCode(address.options[0].data)).toEqual({ code: 0, message: 'ok' });
    expect(emitDhcpv6Message(message, out, 1, n - 1)).toBe(0);
    expect(emitDhcpv6Message(message, Buffer.alloc(n), 1, n)).toBe(0);
    expect(parseStatusCode(Uint8Array.of(0))).toBeUndefined();
    expect(parseIaAddress(new Uint8Array(23))).toBeUndefined();
  });
});
