/**
 * Fuzz targets for the link-layer responders and their message parsers:
 * NDP (src/ndp/ndp.ts), router advertisements (src/ndp/ra.ts), DHCP
 * (src/dhcp/dhcp.ts) and DHCPv6 (src/dhcp/dhcpv6.ts).
 *
 * Inputs: the corpus frames mutated (lengths and checksums fixed up half
 * the time, or NDP's checksum check stops almost everything), and requests
 * built from random fields: solicitations with random addresses and
 * options, DHCP messages with random fixed fields and option lists
 * (overloaded into `file` and `sname` too), DHCPv6 messages with random
 * options, many IA_NAs included. Every handler runs through respond()
 * (wire.ts): the same reply wherever the request sits and when answering
 * in place, nothing written outside the reply, and the reply a well-formed
 * frame (checkFrame: lengths, checksums). Then what the reply must say:
 * the advertisement for the solicited target, the router advertisement the
 * configuration calls for, a DHCP reply to the client's transaction, a
 * DHCPv6 reply from our link-local address with our server id. Where an
 * emitter exists, parse(emit(x)) gives x back.
 */
import assert from 'node:assert/strict';
import { deepEqual as sameValues } from 'node:assert'; // fast-check's records have no prototype, parsers return Uint8Array or Buffer
import { describe } from 'vitest';
import fc from 'fast-check';
import { ndpTapHandler, parseNdpOptions, NA_FRAME_LEN } from '../../src/ndp/ndp.js';
import { raTapHandler, parseRouterAdvertisement, emitRouterAdvertisement, routerAdvertisementFor, type RaConfig, type RouterAdvertisement } from '../../src/ndp/ra.js';
import { dhcpTapHandler, parseDhcpMessage, emitDhcpMessage, dhcpOption, decodeDomainNames, encodeDomainNames, type DhcpConfig, type DhcpMessage } from '../../src/dhcp/dhcp.js';
import { dhcpv6TapHandler, parseDhcpv6Message, emitDhcpv6Message, dhcpv6Option, serverDuid, type Dhcpv6Config, type Dhcpv6Message } from '../../src/dhcp/dhcpv6.js';
import { createLinkState, type LinkState } from '../../src/l2/link.js';
import { fuzz, mutated, mutatedFrames, placement, randomBytes } from './harness.js';
import { FRAMES, GATEWAY4, GATEWAY6, GUEST4, GUEST6, GUEST_LL, GUEST_MAC, OUR_MAC, ethernet, ipv4, ipv6, l4, respond, udp } from './wire.js';

const FILE = 'test/fuzz/responders.test.ts';

const bytes = (n: number): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength: n, maxLength: n }).map((a) => Buffer.from(a));
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ALL_NODES = hex('ff020000000000000000000000000001');
const ALL_ROUTERS = hex('ff020000000000000000000000000002');
const DHCPV6_SERVERS = hex('ff020000000000000000000000010002');
const UNSPECIFIED = Buffer.alloc(16);

/** A link as the engine has it; the guest's addresses known or not. */
const linkArb: fc.Arbitrary<LinkState> = fc.record({ addr4: fc.boolean(), addr6: fc.boolean(), ll: fc.boolean() }).map(({ addr4, addr6, ll }) =>
  createLinkState({ guestMac: GUEST_MAC, guestAddr4: addr4 ? GUEST4 : null, guestAddr6: addr6 ? GUEST6 : null, guestLinkLocal6: ll ? GUEST_LL : null }),
);

/** IPv6 addresses a guest would use, and some it must not. */
const addr6 = fc.oneof(fc.constantFrom(GUEST_LL, GUEST6, GATEWAY6, UNSPECIFIED, ALL_NODES, ALL_ROUTERS, hex('ff0200000000000000000001ff000001')), bytes(16));

/** NDP options: link-layer addresses, MTU, prefix information, anything, with lengths right or wrong. */
const ndpOption = fc.record({ type: fc.oneof(fc.constantFrom(1, 2, 3, 5, 25, 31), fc.nat(255)), units: fc.oneof(fc.constant(1), fc.nat(4)), fill: fc.nat(255) }).map(({ type, units, fill }) => {
  const o = Buffer.alloc(Math.max(2, units * 8), fill);
  o[0] = type;
  o[1] = units;
  return o;
});

/** A neighbour or router solicitation (or another ICMPv6 type) with a valid checksum, from random addresses. */
const solicitation = fc
  .record({
    type: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(133, 135) }, { weight: 1, arbitrary: fc.nat(255) }),
    code: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(255) }),
    hops: fc.oneof({ weight: 9, arbitrary: fc.constant(255) }, { weight: 1, arbitrary: fc.nat(255) }),
    src: addr6,
    dst: addr6,
    target: addr6,
    options: fc.array(ndpOption, { maxLength: 4 }),
    ethSrc: fc.oneof(fc.constant(GUEST_MAC), bytes(6)),
  })
  .map(({ type, code, hops, src, dst, target, options, ethSrc }) => {
    const body = type === 135 || type === 136 ? Buffer.concat([Buffer.alloc(4), target]) : Buffer.alloc(4);
    const m = Buffer.concat([Buffer.from([type, code, 0, 0]), body, ...options]);
    return ethernet(hex('333300000002'), ethSrc, 0x86dd, ipv6(src, dst, 58, l4(6, 58, src, dst, m, 2), hops));
  });

const ndpFrames = fc.oneof({ weight: 3, arbitrary: solicitation }, { weight: 3, arbitrary: mutatedFrames(FRAMES) }, { weight: 1, arbitrary: randomBytes(200) });

/** Domain names, valid or not (empty labels, long labels, dots, non-ASCII). */
const domain = fc.oneof(
  fc.array(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.')),
  fc.constantFrom('.', '', 'a..b', 'example.org.', 'x'.repeat(64) + '.com', `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}`, 'bücher.example'),
  fc.string({ maxLength: 20 }),
);

const raConfigArb: fc.Arbitrary<RaConfig> = fc.record({
  prefix: fc.option(bytes(16), { nil: null }),
  prefixLen: fc.option(fc.nat(128), { nil: undefined }),
  dhcpv6: fc.boolean(),
  mtu: fc.option(fc.oneof(fc.constantFrom(1279, 1280, 1500, 65520), fc.nat(0xffffffff)), { nil: null }),
  dns: fc.array(fc.oneof(bytes(4), bytes(16)), { maxLength: 4 }),
  search: fc.array(domain, { maxLength: 4 }),
  noDhcpDns: fc.boolean(),
  noDhcpSearch: fc.boolean(),
  routerLifetime: fc.option(fc.nat(0xffff), { nil: undefined }),
});

describe('NDP and router advertisements', () => {
  fuzz(FILE, 'ndpTapHandler: neighbour advertisements for the solicited target only', fc.tuple(ndpFrames, placement, linkArb), ([input, where, link]) => {
    const reply = respond6((f, off, len, out, outOff) => ndpTapHandler(link, f, off, len, out, outOff), input, where);
    if (!reply) return;
    const request = Buffer.from(input);
    assert.equal(reply.length, NA_FRAME_LEN);
    assert.equal(request[54], 135, 'only solicitations are answered');
    assert.equal(request[21], 255, 'hop limit 255');
    const target = request.subarray(62, 78);
    const source = request.subarray(22, 38);
    assert.ok(!source.equals(UNSPECIFIED) && source[0] !== 0xff && target[0] !== 0xff, 'no answer to DAD or a multicast source or target');
    for (const own of [link.guestAddr6, link.guestLinkLocal6]) if (own) assert.ok(!target.equals(own), "never for the guest's own address");
    assert.equal(reply[54], 136);
    assert.deepEqual(reply.subarray(22, 38), target, 'from the address asked about');
    assert.deepEqual(reply.subarray(38, 54), source, 'to the one who asked');
    assert.deepEqual(reply.subarray(62, 78), target);
    assert.deepEqual(reply.subarray(80, 86), Buffer.from(link.ourMac), 'with our MAC');
  }, { weight: 1.5 });

  fuzz(FILE, 'raTapHandler: the configured advertisement, for router solicitations only', fc.tuple(ndpFrames, placement, linkArb, raConfigArb), ([input, where, link, cfg]) => {
    const reply = respond6((f, off, len, out, outOff) => raTapHandler(cfg, link, f, off, len, out, outOff), input, where);
    if (!reply) return;
    const request = Buffer.from(input);
    assert.equal(request[54], 133, 'only router solicitations are answered');
    assert.equal(request[21], 255);
    assert.deepEqual(reply.subarray(22, 38), Buffer.from(link.ourLinkLocal6), 'from our link-local address');
    const source = request.subarray(22, 38);
    assert.deepEqual(reply.subarray(38, 54), source.equals(UNSPECIFIED) ? ALL_NODES : source);
    sameValues(parseRouterAdvertisement(reply, 54, reply.length - 54), routerAdvertisementFor(cfg, link));
  }, { weight: 1.5 });

  const raArb: fc.Arbitrary<RouterAdvertisement> = fc.record(
    {
      curHopLimit: fc.nat(255),
      managed: fc.boolean(),
      other: fc.boolean(),
      routerLifetime: fc.nat(0xffff),
      reachableTime: fc.nat(0xffffffff),
      retransTimer: fc.nat(0xffffffff),
      sourceLinkLayer: bytes(6).map((b) => Uint8Array.from(b)),
      mtu: fc.nat(0xffffffff),
      prefixes: fc.array(fc.record({ prefix: bytes(16).map((b) => Uint8Array.from(b)), prefixLen: fc.nat(128), onLink: fc.boolean(), autonomous: fc.boolean(), validLifetime: fc.nat(0xffffffff), preferredLifetime: fc.nat(0xffffffff) }), { maxLength: 3 }),
      rdnss: fc.record({ lifetime: fc.nat(0xffffffff), servers: fc.array(bytes(16).map((b) => Uint8Array.from(b)), { minLength: 1, maxLength: 4 }) }),
      dnssl: fc.record({ lifetime: fc.nat(0xffffffff), domains: fc.array(fc.array(fc.stringMatching(/^[a-z0-9-]{1,20}$/), { minLength: 1, maxLength: 3 }).map((l) => l.join('.')), { minLength: 1, maxLength: 4 }) }),
    },
    { requiredKeys: ['curHopLimit', 'managed', 'other', 'routerLifetime', 'reachableTime', 'retransTimer', 'prefixes'] },
  );
  fuzz(FILE, 'router advertisements: parse(emit(ra)) is ra; parsing random options never throws', fc.tuple(raArb, fc.nat(8), mutated([Buffer.from('86000000000000000000000000000000030440c0ffffffffffffffff0000000020010db8000000000000000000000000', 'hex')])), ([ra, at, junk]) => {
    const out = Buffer.alloc(at + 4096);
    const n = emitRouterAdvertisement(ra, out, at, 4096);
    assert.ok(n > 0);
    sameValues(parseRouterAdvertisement(out, at, n), ra);
    assert.equal(emitRouterAdvertisement(ra, out, at, n - 1), 0, 'no room: nothing');
    parseRouterAdvertisement(junk, 0, junk.length);
    parseNdpOptions(junk, 0, junk.length);
  });
});

/** respond() (wire.ts), but the reply also comes from our MAC to a unicast or all-nodes MAC. */
function respond6(handler: Parameters<typeof respond>[0], input: Uint8Array, where: Parameters<typeof respond>[2]): Buffer | undefined {
  const reply = respond(handler, input, where);
  if (reply) assert.deepEqual(reply.subarray(6, 12), OUR_MAC);
  return reply;
}

// --- DHCP ---------------------------------------------------------------------------

const dhcpConfigArb: fc.Arbitrary<DhcpConfig> = fc.record({
  addr: fc.oneof(fc.constant(GUEST4), bytes(4)),
  prefixLen: fc.oneof(fc.constant(24), fc.integer({ min: -1, max: 33 })),
  gateway: fc.option(fc.oneof(fc.constant(GATEWAY4), bytes(4)), { nil: null }),
  serverAddr: fc.option(bytes(4), { nil: undefined }),
  mtu: fc.option(fc.oneof(fc.constantFrom(67, 68, 1500, 65520, 65535, 65536), fc.nat(0x1ffff)), { nil: null }),
  dns: fc.array(fc.oneof(bytes(4), bytes(16)), { maxLength: 6 }),
  search: fc.array(domain, { maxLength: 6 }),
  noDhcpDns: fc.boolean(),
  noDhcpSearch: fc.boolean(),
  leaseTime: fc.option(fc.nat(0xffffffff), { nil: undefined }),
  hostname: fc.option(fc.string({ maxLength: 300 }), { nil: null }),
  fqdn: fc.option(domain, { nil: null }),
});

/** A DHCP option as bytes: a known code with plausible data, or anything; sometimes a pad or an end. */
const dhcpOptionBytes = fc.oneof(
  fc.tuple(fc.constantFrom(53), fc.oneof(fc.integer({ min: 1, max: 8 }).map((t) => Buffer.from([t])), bytes(2))).map(([c, d]) => [c, d] as const),
  fc.tuple(fc.constantFrom(50, 54), fc.oneof(fc.constant(GUEST4), fc.constant(GATEWAY4), bytes(4), bytes(3))),
  fc.tuple(fc.constant(55), fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a))),
  fc.tuple(fc.constant(57), fc.oneof(fc.nat(0xffff).map((n) => Buffer.from([n >> 8, n & 0xff])), bytes(1))),
  fc.tuple(fc.constant(52), fc.oneof(fc.integer({ min: 0, max: 4 }).map((v) => Buffer.from([v])), bytes(2))),
  fc.tuple(fc.constantFrom(61, 80, 12, 81, 119), fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a))),
  fc.tuple(fc.nat(255), fc.uint8Array({ maxLength: 255 }).map((a) => Buffer.from(a))),
).map(([code, data]) => (code === 0 ? Buffer.from([0]) : code === 255 ? Buffer.from([255]) : Buffer.concat([Buffer.from([code, data.length]), data])));

const dhcpRequest = fc
  .record({
    op: fc.oneof({ weight: 9, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.nat(255) }),
    hlen: fc.oneof(fc.constant(6), fc.nat(20)),
    xid: fc.nat(0xffffffff),
    flags: fc.constantFrom(0, 0x8000, 0xffff),
    ciaddr: fc.oneof(fc.constant(Buffer.alloc(4)), fc.constant(GUEST4), bytes(4)),
    giaddr: fc.oneof({ weight: 9, arbitrary: fc.constant(Buffer.alloc(4)) }, { weight: 1, arbitrary: bytes(4) }),
    chaddr: fc.oneof(fc.constant(Buffer.concat([GUEST_MAC, Buffer.alloc(10)])), bytes(16)),
    options: fc.array(dhcpOptionBytes, { maxLength: 12 }),
    end: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    file: fc.array(dhcpOptionBytes, { maxLength: 4 }),
    sname: fc.array(dhcpOptionBytes, { maxLength: 3 }),
    padding: fc.nat(64),
  })
  .map((m) => {
    const fixed = Buffer.alloc(236);
    fixed[0] = m.op;
    fixed[1] = 1;
    fixed[2] = m.hlen;
    fixed.writeUInt32BE(m.xid, 4);
    fixed.writeUInt16BE(m.flags, 10);
    m.ciaddr.copy(fixed, 12);
    m.giaddr.copy(fixed, 24);
    m.chaddr.copy(fixed, 28);
    // Options overloaded into sname (44, 64 bytes) and file (108, 128 bytes), when they fit.
    const sname = Buffer.concat([...m.sname, Buffer.from([255])]);
    if (sname.length <= 64) sname.copy(fixed, 44);
    const file = Buffer.concat([...m.file, Buffer.from([255])]);
    if (file.length <= 128) file.copy(fixed, 108);
    const payload = Buffer.concat([fixed, hex('63825363'), ...m.options, Buffer.from(m.end ? [255] : []), Buffer.alloc(m.padding)]);
    return ethernet(hex('ffffffffffff'), GUEST_MAC, 0x0800, ipv4(Buffer.alloc(4), hex('ffffffff'), 17, l4(4, 17, Buffer.alloc(4), hex('ffffffff'), udp(68, 67, payload), 6), 0, 0, 64));
  });

describe('DHCP', () => {
  fuzz(FILE, 'dhcpTapHandler: replies to the client transaction, within the size it accepts', fc.tuple(fc.oneof({ weight: 3, arbitrary: dhcpRequest }, { weight: 2, arbitrary: mutatedFrames(FRAMES) }), placement, dhcpConfigArb, linkArb), ([input, where, cfg, link]) => {
    const reply = respond((f, off, len, out, outOff) => dhcpTapHandler(cfg, link, f, off, len, out, outOff), input, where);
    if (!reply) return;
    const request = Buffer.from(input);
    assert.ok(reply.length <= 14 + 1500, `a ${reply.length}-byte reply`);
    assert.equal(reply[23], 17);
    assert.deepEqual([reply.readUInt16BE(34), reply.readUInt16BE(36)], [67, 68]);
    const asked = parseDhcpMessage(request, 42, request.readUInt16BE(38) - 8);
    const answered = parseDhcpMessage(reply, 42, reply.length - 42);
    assert.ok(asked && answered, 'both parse');
    assert.equal(asked.op, 1);
    assert.deepEqual(asked.giaddr, new Uint8Array(4));
    assert.equal(answered.op, 2);
    assert.equal(answered.xid, asked.xid);
    assert.deepEqual(answered.chaddr, asked.chaddr);
    if (dhcpOption(asked, 53)) assert.equal(answered.options[0]?.code, 53, 'the message type first');
  }, { weight: 2 });

  const messageArb: fc.Arbitrary<DhcpMessage> = fc.record({
    op: fc.nat(255),
    htype: fc.nat(255),
    hlen: fc.nat(16),
    hops: fc.nat(255),
    xid: fc.nat(0xffffffff),
    secs: fc.nat(0xffff),
    flags: fc.nat(0xffff),
    ciaddr: bytes(4).map((b) => Uint8Array.from(b)),
    yiaddr: bytes(4).map((b) => Uint8Array.from(b)),
    siaddr: bytes(4).map((b) => Uint8Array.from(b)),
    giaddr: bytes(4).map((b) => Uint8Array.from(b)),
    chaddr: bytes(16).map((b) => Uint8Array.from(b)),
    options: fc.array(fc.record({ code: fc.integer({ min: 1, max: 254 }).filter((c) => c !== 52), data: fc.uint8Array({ maxLength: 600 }) }), { maxLength: 6 }),
  });
  fuzz(FILE, 'DHCP messages: parse(emit(m)) is m; domain name lists decode without looping', fc.tuple(messageArb, fc.nat(8), fc.array(domain, { maxLength: 5 }), fc.uint8Array({ maxLength: 300 })), ([message, at, names, junk]) => {
    const out = Buffer.alloc(at + 8192);
    const n = emitDhcpMessage(message, out, at, 8192);
    assert.ok(n >= 300);
    const parsed = parseDhcpMessage(out, at, n)!;
    // An option past 255 bytes goes out as several (RFC 3396) and comes back concatenated.
    sameValues({ ...parsed, options: [] }, { ...message, options: [] });
    for (const option of message.options) sameValues(dhcpOption(parsed, option.code), Buffer.concat(message.options.filter((o) => o.code === option.code).map((o) => o.data)));
    const encoded = encodeDomainNames(names);
    const decoded = decodeDomainNames(encoded);
    assert.ok(decoded);
    for (const name of decoded) assert.ok(name.length <= 253 && !name.startsWith('.') && !name.endsWith('.'));
    decodeDomainNames(junk, true);
    decodeDomainNames(junk, false);
  });
});

// --- DHCPv6 --------------------------------------------------------------------------

const dhcpv6ConfigArb: fc.Arbitrary<Dhcpv6Config> = fc.record({
  addr: fc.oneof(fc.constant(GUEST6), bytes(16), bytes(4)),
  dns: fc.array(fc.oneof(bytes(4), bytes(16)), { maxLength: 6 }),
  search: fc.array(domain, { maxLength: 6 }),
  noDhcpDns: fc.boolean(),
  noDhcpSearch: fc.boolean(),
  fqdn: fc.option(domain, { nil: null }),
});

const option6 = (code: number, data: Uint8Array): Buffer => Buffer.concat([Buffer.from([code >> 8, code & 0xff, data.length >> 8, data.length & 0xff]), data]);
const OUR_DUID = serverDuid(OUR_MAC);
const iaAddress = fc.oneof(fc.constant(GUEST6), bytes(16)).map((a) => option6(5, Buffer.concat([a, hex('ffffffff ffffffff')])));
const dhcpv6OptionArb = fc.oneof(
  fc.constant(option6(1, hex('0003 0001 5e8a3c112233'))),
  fc.uint8Array({ maxLength: 140 }).map((d) => option6(1, d)),
  fc.constant(option6(2, OUR_DUID)),
  fc.uint8Array({ maxLength: 20 }).map((d) => option6(2, d)),
  fc.tuple(fc.constantFrom(3, 4, 25), bytes(12), fc.array(fc.oneof(iaAddress, fc.uint8Array({ maxLength: 30 }).map((d) => option6(13, d))), { maxLength: 3 })).map(([code, fixed, inner]) => option6(code, Buffer.concat([code === 4 ? fixed.subarray(0, 4) : fixed, ...inner]))),
  fc.constantFrom(option6(6, hex('0017 0018')), option6(8, hex('0000')), option6(14, Buffer.alloc(0)), option6(39, hex('01'))),
  fc.tuple(fc.nat(0xffff), fc.uint8Array({ maxLength: 64 })).map(([code, data]) => option6(code, data)),
);
const dhcpv6Request = fc
  .record({
    type: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(1, 3, 4, 5, 6, 8, 9, 11) }, { weight: 1, arbitrary: fc.nat(255) }),
    tid: fc.nat(0xffffff),
    clientId: fc.oneof({ weight: 6, arbitrary: fc.constant(option6(1, hex('0003 0001 5e8a3c112233'))) }, { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 140 }).map((d) => option6(1, d)) }),
    // Mostly the server id the type calls for (ours in REQUEST, RENEW, RELEASE, DECLINE; none in the others), else any.
    serverId: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.oneof(fc.constant(Buffer.alloc(0)), fc.constant(option6(2, OUR_DUID)), fc.uint8Array({ maxLength: 20 }).map((d) => option6(2, d))) }),
    options: fc.oneof(fc.constant([]), fc.array(dhcpv6OptionArb, { maxLength: 6 })),
    // Many IA_NAs at once: each one not served gets its own status in the reply.
    iaNas: fc.oneof({ weight: 4, arbitrary: fc.nat(3) }, { weight: 1, arbitrary: fc.constantFrom(100, 1000, 1500, 2000, 4000) }),
    src: fc.oneof({ weight: 4, arbitrary: fc.constant(GUEST_LL) }, { weight: 1, arbitrary: addr6 }),
    dst: fc.oneof({ weight: 4, arbitrary: fc.constant(DHCPV6_SERVERS) }, { weight: 1, arbitrary: addr6 }),
    hops: fc.constantFrom(1, 255),
  })
  .map((m) => {
    const ias = Array.from({ length: m.iaNas }, (_, i) => option6(3, Buffer.concat([Buffer.from([i >> 24, i >> 16, i >> 8, i]), Buffer.alloc(8)])));
    let message = Buffer.concat([Buffer.from([m.type, m.tid >> 16, (m.tid >> 8) & 0xff, m.tid & 0xff]), m.clientId, m.serverId ?? ([3, 5, 8, 9].includes(m.type) ? option6(2, OUR_DUID) : Buffer.alloc(0)), ...m.options, ...ias]);
    if (message.length > 65535 - 8) message = message.subarray(0, 65535 - 8);
    return ethernet(hex('333300010002'), GUEST_MAC, 0x86dd, ipv6(m.src, m.dst, 17, l4(6, 17, m.src, m.dst, udp(546, 547, message), 6), m.hops));
  });

describe('DHCPv6', () => {
  fuzz(FILE, 'dhcpv6TapHandler: replies from our link-local address with our server id, echoing the client', fc.tuple(fc.oneof({ weight: 3, arbitrary: dhcpv6Request }, { weight: 2, arbitrary: mutatedFrames(FRAMES) }), placement, dhcpv6ConfigArb, linkArb), ([input, where, cfg, link]) => {
    const reply = respond((f, off, len, out, outOff) => dhcpv6TapHandler(cfg, link, f, off, len, out, outOff), input, where);
    if (!reply) return;
    const request = Buffer.from(input);
    assert.deepEqual(request.subarray(38, 54), DHCPV6_SERVERS);
    assert.deepEqual(reply.subarray(22, 38), Buffer.from(link.ourLinkLocal6));
    assert.deepEqual(reply.subarray(38, 54), request.subarray(22, 38));
    assert.deepEqual([reply.readUInt16BE(54), reply.readUInt16BE(56)], [547, 546]);
    const asked = parseDhcpv6Message(request, 62, request.readUInt16BE(58) - 8)!;
    const answered = parseDhcpv6Message(reply, 62, reply.length - 62);
    assert.ok(answered);
    assert.ok(answered.type === 2 || answered.type === 7, `reply type ${answered.type}`);
    assert.equal(answered.transactionId, asked.transactionId);
    assert.deepEqual(dhcpv6Option(answered.options, 2), OUR_DUID);
    assert.deepEqual(dhcpv6Option(answered.options, 1), dhcpv6Option(asked.options, 1));
  }, { weight: 2 });

  const messageArb: fc.Arbitrary<Dhcpv6Message> = fc.record({
    type: fc.nat(255),
    transactionId: fc.nat(0xffffff),
    options: fc.array(fc.record({ code: fc.nat(0xffff), data: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 8 }),
  });
  fuzz(FILE, 'DHCPv6 messages: parse(emit(m)) is m', fc.tuple(messageArb, fc.nat(8)), ([message, at]) => {
    const out = Buffer.alloc(at + 4096);
    const n = emitDhcpv6Message(message, out, at, 4096);
    assert.ok(n >= 4);
    sameValues(parseDhcpv6Message(out, at, n), message);
    assert.equal(emitDhcpv6Message(message, out, at, n - 1), 0);
  }, { weight: 0.5 });
});
