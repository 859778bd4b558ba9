/**
 * Router advertisements on literal frames: the Router Solicitation the
 * Linux kernel sends (ndisc_send_rs: from the link-local address with a
 * source link-layer option, or from :: without one; hop limit 255; to
 * ff02::2), the exact advertisement, the unsolicited one, the timer, and
 * solicitations that must be ignored. Checksums and the expected
 * advertisement bytes come from a separate Python script; replies are
 * verified again with the reference checksum of wire-frames.ts.
 */
import { describe, expect, it } from 'vitest';
import { createLinkState, type LinkState } from '../../src/l2/link.js';
import { ndpTapHandler } from '../../src/ndp/ndp.js';
import {
  emitRouterAdvertisement,
  nextRouterAdvertisementDelay,
  parseRouterAdvertisement,
  RA_MAX_INITIAL_INTERVAL,
  RA_MAX_INTERVAL,
  RA_MIN_INTERVAL,
  raTapHandler,
  routerAdvertisementFor,
  unsolicitedRouterAdvertisement,
  type RaConfig,
  type RouterAdvertisement,
} from '../../src/ndp/ra.js';
import { GUEST_MAC, hex, NS, prng, pseudo6, referenceChecksum, SYN6 } from './wire-frames.js';

/** Hex with `# comments` to the end of each line. */
const bytes = (text: string): Buffer => hex(text.replace(/#.*$/gm, ''));

const GUEST_LL = hex('fe800000000000005c8a3cfffe112233');
const OUR_LL = hex('fe8000000000000098559afffe559a55');

const CFG: RaConfig = {
  prefix: hex('20010db8000000000000000000000002'), // the guest's address; the /64 is advertised
  dhcpv6: true,
  mtu: null,
  dns: [hex('cb007135'), hex('20010db8000000000000000000000053')],
  search: ['example.org', 'lab.example.com'],
  noDhcpDns: false,
  noDhcpSearch: false,
};
const cfg = (overrides: Partial<RaConfig> = {}): RaConfig => ({ ...CFG, ...overrides });
const link = (): LinkState => createLinkState({ guestMac: GUEST_MAC });

/** Linux Router Solicitation from the link-local address, with a source link-layer option. */
const LINUX_RS = bytes(`
  333300000002 5e8a3c112233 86dd
  60000000 0010 3a ff
  fe800000000000005c8a3cfffe112233
  ff020000000000000000000000000002
  85 00 0591 00000000
  01 01 5e8a3c112233
`);

/** Linux Router Solicitation sent before the link-local address is usable: from ::, no options. */
const LINUX_RS_UNSPECIFIED = bytes(`
  333300000002 5e8a3c112233 86dd
  60000000 0008 3a ff
  00000000000000000000000000000000
  ff020000000000000000000000000002
  85 00 7bb8 00000000
`);

/** The advertisement expected for LINUX_RS with CFG. */
const LINUX_RS_RA = bytes(`
  5e8a3c112233 9a559a559a55 86dd
  60000000 0078 3a ff
  fe8000000000000098559afffe559a55
  fe800000000000005c8a3cfffe112233
  86 00 4483 ff c0 ffff 00000000 00000000   # hop limit 255, M and O, lifetime 65535
  03 04 40 c0 ffffffff ffffffff 00000000 20010db8000000000000000000000000   # prefix /64, L and A
  01 01 9a559a559a55                        # source link-layer address
  19 03 0000 ffffffff 20010db8000000000000000000000053                      # RDNSS
  1f 05 0000 ffffffff 076578616d706c65036f726700 036c6162076578616d706c6503636f6d00 0000     # DNSSL
`);

it('literal frames are what they claim', () => {
  for (const frame of [LINUX_RS, LINUX_RS_UNSPECIFIED, LINUX_RS_RA]) {
    const length = frame.readUInt16BE(18);
    expect(frame.length).toBe(54 + length);
    expect(referenceChecksum(pseudo6(frame.subarray(22, 38), frame.subarray(38, 54), 58, length), frame.subarray(54))).toBe(0);
  }
});

/** An advertisement frame taken apart: headers checked, checksum verified, message parsed. */
function takeApart(out: Buffer, off: number, length: number): { ethDst: string; ethSrc: string; src: string; dst: string; ra: RouterAdvertisement } {
  const frame = out.subarray(off, off + length);
  expect(frame.readUInt16BE(12)).toBe(0x86dd);
  expect(frame.readUInt32BE(14)).toBe(0x60000000);
  expect(frame.readUInt16BE(18)).toBe(length - 54);
  expect(frame[20]).toBe(58);
  expect(frame[21]).toBe(255);
  expect(referenceChecksum(pseudo6(frame.subarray(22, 38), frame.subarray(38, 54), 58, length - 54), frame.subarray(54))).toBe(0);
  const ra = parseRouterAdvertisement(frame, 54, length - 54)!;
  expect(ra).toBeDefined();
  return {
    ethDst: frame.subarray(0, 6).toString('hex'),
    ethSrc: frame.subarray(6, 12).toString('hex'),
    src: frame.subarray(22, 38).toString('hex'),
    dst: frame.subarray(38, 54).toString('hex'),
    ra,
  };
}

function solicit(frame: Buffer, config: RaConfig = CFG): ReturnType<typeof takeApart> | undefined {
  const out = Buffer.alloc(600, 0xee);
  const n = raTapHandler(config, link(), frame, 0, frame.length, out, 0);
  if (!n) {
    expect(out.every((b) => b === 0xee)).toBe(true);
    return undefined;
  }
  return takeApart(out, 0, n);
}

/** Recompute the ICMPv6 checksum of an Ethernet/IPv6/ICMPv6 frame with the reference routine. */
function refresh(frame: Buffer): Buffer {
  const length = frame.readUInt16BE(18);
  frame.writeUInt16BE(0, 56);
  frame.writeUInt16BE(referenceChecksum(pseudo6(frame.subarray(22, 38), frame.subarray(38, 54), 58, length), frame.subarray(54, 54 + length)), 56);
  return frame;
}

function patched(frame: Buffer, patch: (b: Buffer) => void, fixChecksum = true): Buffer {
  const b = Buffer.from(frame);
  patch(b);
  return fixChecksum ? refresh(b) : b;
}

describe('raTapHandler', () => {
  it('answers a Linux solicitation with the advertisement, byte for byte', () => {
    const out = Buffer.alloc(300, 0xee);
    const n = raTapHandler(CFG, link(), LINUX_RS, 0, LINUX_RS.length, out, 11);
    expect(n).toBe(174);
    expect(out.subarray(11, 11 + n).toString('hex')).toBe(LINUX_RS_RA.toString('hex'));
    expect(out[10]).toBe(0xee);
    expect(out[11 + n]).toBe(0xee);
    const { ethDst, ethSrc, src, dst, ra } = takeApart(out, 11, n);
    expect([ethDst, ethSrc]).toEqual(['5e8a3c112233', '9a559a559a55']);
    expect([src, dst]).toEqual([OUR_LL.toString('hex'), GUEST_LL.toString('hex')]);
    expect(ra).toEqual({
      curHopLimit: 255,
      managed: true,
      other: true,
      routerLifetime: 65535,
      reachableTime: 0,
      retransTimer: 0,
      sourceLinkLayer: Uint8Array.from(hex('9a559a559a55')),
      prefixes: [
        {
          prefix: Uint8Array.from(hex('20010db8000000000000000000000000')),
          prefixLen: 64,
          onLink: true,
          autonomous: true,
          validLifetime: 0xffffffff,
          preferredLifetime: 0xffffffff,
        },
      ],
      rdnss: { lifetime: 0xffffffff, servers: [Uint8Array.from(hex('20010db8000000000000000000000053'))] },
      dnssl: { lifetime: 0xffffffff, domains: ['example.org', 'lab.example.com'] },
    });
  });

  it('multicasts to all nodes when solicited from ::', () => {
    const reply = solicit(LINUX_RS_UNSPECIFIED)!;
    expect([reply.ethDst, reply.dst]).toEqual(['333300000001', 'ff020000000000000000000000000001']);
    expect(reply.src).toBe(OUR_LL.toString('hex'));
    expect(reply.ra.managed).toBe(true);
  });

  it('sends to the frame source without a link-layer option, and prefers the option', () => {
    const noOption = refresh(
      patched(LINUX_RS.subarray(0, 62), (b) => {
        b.writeUInt16BE(8, 18);
        b.set(hex('020000000099'), 6);
      }, false),
    );
    expect(solicit(noOption)!.ethDst).toBe('020000000099');
    const otherSource = patched(LINUX_RS, (b) => b.set(hex('020000000099'), 6), false); // Ethernet source: not checksummed
    expect(solicit(otherSource)!.ethDst).toBe('5e8a3c112233');
  });

  it('follows the configuration: flags, MTU, DNS, search, prefix length, lifetime', () => {
    expect(solicit(LINUX_RS, cfg({ dhcpv6: false }))!.ra).toMatchObject({ managed: false, other: false });
    expect(solicit(LINUX_RS, cfg({ mtu: 1500 }))!.ra.mtu).toBe(1500);
    expect(solicit(LINUX_RS, cfg({ mtu: 65520 }))!.ra.mtu).toBe(65520);
    expect(solicit(LINUX_RS, cfg({ mtu: 1279 }))!.ra.mtu).toBeUndefined(); // below the IPv6 minimum
    expect(solicit(LINUX_RS, cfg({ noDhcpDns: true }))!.ra.rdnss).toBeUndefined();
    expect(solicit(LINUX_RS, cfg({ noDhcpSearch: true }))!.ra.dnssl).toBeUndefined();
    const bare = solicit(LINUX_RS, cfg({ dns: [hex('cb007135')], search: [] }))!.ra;
    expect([bare.rdnss, bare.dnssl]).toEqual([undefined, undefined]);
    const two = solicit(LINUX_RS, cfg({ dns: [hex('20010db8000000000000000000000053'), hex('20010db8000000000000000000000054')] }))!.ra;
    expect(two.rdnss!.servers.map((s) => Buffer.from(s).toString('hex'))).toEqual([
      '20010db8000000000000000000000053',
      '20010db8000000000000000000000054',
    ]);
    const wide = solicit(LINUX_RS, cfg({ prefix: hex('20010db8abcdef120000000000000002'), prefixLen: 48 }))!.ra.prefixes[0];
    expect([Buffer.from(wide.prefix).toString('hex'), wide.prefixLen, wide.onLink, wide.autonomous]).toEqual([
      '20010db8abcd00000000000000000000',
      48,
      true,
      false, // SLAAC needs a /64
    ]);
    expect(solicit(LINUX_RS, cfg({ routerLifetime: 1800 }))!.ra.routerLifetime).toBe(1800);
    expect(solicit(LINUX_RS, cfg({ search: ['.', 'a..b', 'ok.example.'] }))!.ra.dnssl!.domains).toEqual(['ok.example']);
    expect(solicit(LINUX_RS, cfg({ search: ['.'] }))!.ra.dnssl).toBeUndefined();
  });

  it('answers in place and returns 0 without room', () => {
    const frame = Buffer.concat([LINUX_RS, Buffer.alloc(200)]);
    expect(raTapHandler(CFG, link(), frame, 0, LINUX_RS.length, frame, 0)).toBe(174);
    expect(frame.subarray(0, 174).equals(LINUX_RS_RA)).toBe(true);
    expect(raTapHandler(CFG, link(), LINUX_RS, 0, LINUX_RS.length, Buffer.alloc(173), 0)).toBe(0);
    expect(raTapHandler(CFG, link(), LINUX_RS, 0, LINUX_RS.length, Buffer.alloc(200), 27)).toBe(0);
    expect(raTapHandler(CFG, link(), LINUX_RS, 0, LINUX_RS.length, Buffer.alloc(200), -1)).toBe(0);
    expect(raTapHandler(CFG, link(), LINUX_RS, 0, LINUX_RS.length, Buffer.alloc(30), 0)).toBe(0);
  });

  it('ignores solicitations that fail RFC 4861 validation, and everything else', () => {
    const drop = (frame: Buffer, why: string): void => expect(solicit(frame), why).toBeUndefined();
    drop(patched(LINUX_RS, (b) => (b[21] = 254), false), 'hop limit 254');
    drop(patched(LINUX_RS, (b) => (b[21] = 1), false), 'hop limit 1');
    drop(patched(LINUX_RS, (b) => (b[57] ^= 0x40), false), 'bad checksum');
    drop(patched(LINUX_RS, (b) => (b[55] = 1)), 'code 1');
    drop(patched(LINUX_RS, (b) => (b[63] = 0)), 'option of length 0');
    drop(patched(LINUX_RS, (b) => (b[63] = 2)), 'option past the end');
    drop(patched(LINUX_RS, (b) => b.set(hex('ff020000000000000000000000000001'), 22)), 'multicast source');
    drop(
      refresh(patched(LINUX_RS, (b) => b.fill(0, 22, 38), false)),
      'from :: with a source link-layer option',
    );
    drop(
      refresh(patched(LINUX_RS.subarray(0, 58), (b) => b.writeUInt16BE(4, 18), false)),
      'ICMPv6 body of 4 bytes',
    );
    drop(NS, 'neighbor solicitation');
    drop(LINUX_RS_RA, 'an advertisement');
    drop(SYN6, 'TCP');
    drop(patched(LINUX_RS, (b) => b.writeUInt16BE(0x0800, 12), false), 'ethertype IPv4');
  });

  it('returns 0 for every truncation, and never throws on corrupted solicitations', () => {
    for (const rs of [LINUX_RS, LINUX_RS_UNSPECIFIED]) {
      for (let len = 0; len < rs.length; len++) expect(solicit(Buffer.from(rs.subarray(0, len))), `truncated to ${len}`).toBeUndefined();
      expect(raTapHandler(CFG, link(), rs, 0, rs.length + 1, Buffer.alloc(300), 0)).toBe(0);
    }
    const random = prng(0x4a);
    const out = Buffer.alloc(600);
    for (let round = 0; round < 2000; round++) {
      const frame = Buffer.from(LINUX_RS);
      frame[14 + Math.floor(random() * (frame.length - 14))] = Math.floor(random() * 256);
      if (random() < 0.5) refresh(frame);
      const n = raTapHandler(CFG, link(), frame, 0, frame.length, out, 0);
      if (n) takeApart(out, 0, n);
    }
  });

  it('is left alone by the neighbour responder, so both can see every ICMPv6 frame', () => {
    expect(ndpTapHandler(link(), LINUX_RS, 0, LINUX_RS.length, Buffer.alloc(300), 0)).toBe(0);
    expect(raTapHandler(CFG, link(), NS, 0, NS.length, Buffer.alloc(300), 0)).toBe(0);
  });
});

describe('unsolicitedRouterAdvertisement', () => {
  it('builds the periodic advertisement to all nodes', () => {
    const out = Buffer.alloc(300, 0xee);
    const n = unsolicitedRouterAdvertisement(CFG, link(), out, 3);
    expect(n).toBe(174);
    const reply = takeApart(out, 3, n);
    expect([reply.ethDst, reply.ethSrc, reply.src, reply.dst]).toEqual([
      '333300000001',
      '9a559a559a55',
      OUR_LL.toString('hex'),
      'ff020000000000000000000000000001',
    ]);
    // The same message as the solicited one.
    expect(out.subarray(3 + 54 + 4, 3 + n).equals(LINUX_RS_RA.subarray(54 + 4))).toBe(true);
    expect(unsolicitedRouterAdvertisement(CFG, link(), Buffer.alloc(173), 0)).toBe(0);
    // From a custom MAC: source link-layer option and link-local source follow it.
    const custom = createLinkState({ ourMac: hex('020000000001') });
    const m = Buffer.alloc(300);
    const len = unsolicitedRouterAdvertisement(CFG, custom, m, 0);
    const parsed = takeApart(m, 0, len);
    expect(parsed.src).toBe('fe80000000000000' + '000000fffe000001');
    expect(Buffer.from(parsed.ra.sourceLinkLayer!).toString('hex')).toBe('020000000001');
  });
});

describe('nextRouterAdvertisementDelay', () => {
  it('stays within RFC 4861 6.2.4 bounds', () => {
    const random = prng(7);
    for (let sent = 0; sent < 10; sent++) {
      for (let i = 0; i < 100; i++) {
        const delay = nextRouterAdvertisementDelay(sent, random);
        if (sent < 3) expect(delay).toBeLessThanOrEqual(RA_MAX_INITIAL_INTERVAL);
        else {
          expect(delay).toBeGreaterThanOrEqual(RA_MIN_INTERVAL);
          expect(delay).toBeLessThan(RA_MAX_INTERVAL);
        }
      }
    }
    expect(nextRouterAdvertisementDelay(3, () => 0)).toBe(200);
    expect(nextRouterAdvertisementDelay(3, () => 0.5)).toBe(400);
    expect(nextRouterAdvertisementDelay(0, () => 0.5)).toBe(16);
    expect(nextRouterAdvertisementDelay(5, () => 7)).toBe(600); // a bad random source is clamped
  });
});

describe('RouterAdvertisement parse and emit', () => {
  it('round-trips every field', () => {
    const ra = routerAdvertisementFor(cfg({ mtu: 9000 }), link());
    const out = Buffer.alloc(300, 0xee);
    const n = emitRouterAdvertisement(ra, out, 2, 298);
    expect(n).toBe(16 + 32 + 8 + 8 + 24 + 40);
    expect(out.readUInt16BE(2 + 2)).toBe(0); // the checksum is the caller's
    expect(parseRouterAdvertisement(out, 2, n)).toEqual(ra);
    expect(emitRouterAdvertisement(ra, out, 2, n - 1)).toBe(0);
    expect(emitRouterAdvertisement(ra, Buffer.alloc(n + 1), 2, n)).toBe(0);
  });

  it('rejects malformed advertisements', () => {
    const message = Buffer.from(LINUX_RS_RA.subarray(54));
    expect(parseRouterAdvertisement(message, 0, message.length)).toBeDefined();
    for (let len = 0; len < 16; len++) expect(parseRouterAdvertisement(message, 0, len)).toBeUndefined();
    const bad = (patch: (b: Buffer) => void, why: string): void => {
      const b = Buffer.from(message);
      patch(b);
      expect(parseRouterAdvertisement(b, 0, b.length), why).toBeUndefined();
    };
    bad((b) => (b[0] = 133), 'a solicitation');
    bad((b) => (b[1] = 1), 'code 1');
    bad((b) => (b[17] = 0), 'zero-length option');
    bad((b) => (b[17] = 40), 'option past the end');
    bad((b) => (b[17] = 3), 'prefix option of 24 bytes');
    bad((b) => (b[18] = 129), 'prefix length 129');
    bad((b) => (b[16 + 32 + 8 + 1] = 2), 'RDNSS of 16 bytes');
    bad((b) => (b[16 + 32 + 8 + 24 + 8] = 0xc0), 'compressed name in DNSSL');
    expect(parseRouterAdvertisement(message, 0, message.length + 1)).toBeUndefined();
  });
});
