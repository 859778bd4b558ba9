/**
 * Fuzz targets for what the kernel tells us: netlink replies (rtnetlink
 * link, address and route dumps, errors, sock_diag answers; src/netlink.ts)
 * and the /proc/net socket tables (src/fwd/auto.ts, and /proc/net/unix in
 * src/l2/qemu.ts).
 *
 * - Datagrams from the corpus (test/fuzz/corpus/netlink.hex: the literal
 *   replies of the unit tests and a sock_diag dump), mutated: parsing and
 *   decoding never throw, every message and attribute lies inside the
 *   datagram, and the payloads rewritten for --config-net parse back whole.
 * - The Netlink class with a transport replaying such datagrams (sequence
 *   numbers mostly right): a dump returns its records or fails with a
 *   NetlinkRequestError naming the request, never another exception.
 * - encodeMessage and encodeAttribute read back as written.
 * - /proc/net tables printed as the kernel prints them from random sockets
 *   parse back to exactly the listening (TCP) and bound unconnected (UDP)
 *   ones; mutated and random text never throws and yields only ports 1 to
 *   65535 and addresses of the table's size.
 */
import assert from 'node:assert/strict';
import { describe } from 'vitest';
import fc from 'fast-check';
import {
  Netlink,
  NetlinkRequestError,
  NLMSG_HDRLEN,
  NLMSG_DONE,
  NLMSG_ERROR,
  RTM_NEWADDR,
  RTM_NEWROUTE,
  addrCopyPayload,
  addrNodadPayload,
  align4,
  decodeAddr,
  decodeDone,
  decodeError,
  decodeInetDiagMsg,
  decodeLink,
  decodeRoute,
  encodeAttribute,
  encodeMessage,
  parseAttributes,
  parseMessages,
  routeCopyPayload,
  routeInterfaces,
  type NetlinkTransport,
} from '../../src/netlink.js';
import { parseProcNet, TCP_STATE_LISTEN, UDP_STATE_UNCONNECTED } from '../../src/fwd/auto.js';
import { listedAsListening } from '../../src/l2/qemu.js';
import { fuzz, mutate, mutated, randomBytes } from './harness.js';
import { loadHex, loadProcNet } from './wire.js';

const FILE = 'test/fuzz/host.test.ts';
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// The corpus: whole datagrams, and route payloads wrapped into messages.
const NETLINK = [...loadHex('netlink.hex').entries()].map(([name, bytes]) => (name === 'routeWithPrefsrc' ? Buffer.from(encodeMessage(RTM_NEWROUTE, 2, 1, bytes)) : bytes));
const datagrams = fc.oneof({ weight: 4, arbitrary: mutated(NETLINK, 8) }, { weight: 1, arbitrary: fc.array(fc.constantFrom(...NETLINK), { minLength: 1, maxLength: 4 }).map((d) => Buffer.concat(d)) }, { weight: 1, arbitrary: randomBytes(300) });

/** How many bytes the attributes of `buf` take when parsed back (padding included), to compare with its length. */
function attributeBytes(buf: Uint8Array): number {
  let n = 0;
  for (const a of parseAttributes(buf)) n += align4(4 + a.value.length);
  return n;
}

/** Throw unless `view` is a view of `buf` inside it. */
function inside(view: Uint8Array, buf: Uint8Array): void {
  assert.equal(view.buffer, buf.buffer);
  assert.ok(view.byteOffset >= buf.byteOffset && view.byteOffset + view.byteLength <= buf.byteOffset + buf.byteLength, 'a view past its datagram');
}

describe('netlink', () => {
  fuzz(FILE, 'parseMessages and the decoders: never throw, never read past the datagram', datagrams, (datagram) => {
    // The datagram inside a larger buffer: views must stay within their part of it.
    const backing = Buffer.alloc(datagram.length + 64, 0xa5);
    datagram.copy(backing, 32);
    const buf = backing.subarray(32, 32 + datagram.length);
    const messages = parseMessages(buf);
    assert.ok(messages.length <= buf.length / NLMSG_HDRLEN);
    for (const m of messages) {
      inside(m.payload, buf);
      for (const a of parseAttributes(m.payload)) inside(a.value, m.payload);
      decodeLink(m);
      decodeAddr(m);
      decodeRoute(m);
      decodeDone(m);
      const error = decodeError(m);
      if (error) assert.ok(Number.isInteger(error.errno));
      const socket = decodeInetDiagMsg(m);
      if (socket) assert.equal(socket.addr.length, socket.family === 4 ? 4 : 16);
      // What --config-net makes of a dumped address or route parses back whole.
      for (const [out, header] of [[addrCopyPayload(m.payload, 7), 8], [addrNodadPayload(m.payload), 8], [routeCopyPayload(m.payload, 2, 9), 12]] as const) {
        if (out) assert.equal(header + attributeBytes(out.subarray(header)), out.length, 'rewritten payload parses back whole');
      }
      for (const index of routeInterfaces(m.payload)) assert.ok(Number.isInteger(index));
    }
  }, { weight: 1.5 });

  fuzz(FILE, 'encodeMessage and encodeAttribute read back as written', fc.record({ type: fc.nat(0xffff), flags: fc.nat(0xffff), seq: fc.nat(0xffffffff), payload: fc.uint8Array({ maxLength: 200 }), attributes: fc.array(fc.tuple(fc.nat(0x3fff), fc.uint8Array({ maxLength: 40 })), { maxLength: 6 }) }), ({ type, flags, seq, payload, attributes }) => {
    const [m, ...rest] = parseMessages(encodeMessage(type, flags, seq, payload));
    assert.equal(rest.length, 0);
    assert.deepEqual([m.type, m.flags, m.seq, m.pid, Buffer.from(m.payload)], [type, flags, seq, 0, Buffer.from(payload)]);
    const parsed = parseAttributes(Buffer.concat(attributes.map(([t, v]) => encodeAttribute(t, v))));
    assert.deepEqual(parsed.map((a) => [a.type, Buffer.from(a.value)]), attributes.map(([t, v]) => [t, Buffer.from(v)]));
  }, { weight: 0.3 });

  // Replies to a dump: the records, then usually its end (NLMSG_DONE, or an error), sometimes nothing more.
  const messageOf = (type: number, payload: Uint8Array): Buffer => Buffer.from(encodeMessage(type, 2, 0, payload));
  const RECORDS = parseMessages(Buffer.concat(NETLINK)).map((m) => messageOf(m.type, m.payload));
  const ending = fc.constantFrom(messageOf(NLMSG_DONE, new Uint8Array(4)), messageOf(NLMSG_DONE, Uint8Array.of(0xf9, 0xff, 0xff, 0xff)), messageOf(NLMSG_ERROR, new Uint8Array(20)), messageOf(NLMSG_ERROR, Uint8Array.of(0xef, 0xff, 0xff, 0xff)), Buffer.alloc(0));
  const replies = fc.array(
    fc.record({
      messages: fc.array(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...RECORDS) }, { weight: 1, arbitrary: mutated(RECORDS, 3) }), { maxLength: 5 }),
      end: ending,
      seq: fc.constantFrom('right', 'right', 'right', 'wrong', 'as sent'),
      dumpInterrupted: fc.boolean(),
    }),
    { minLength: 1, maxLength: 8 },
  );
  const operations = ['links', 'addrs4', 'addrs6', 'routes4', 'routes6', 'tcpListeners4', 'tcpListeners6', 'addrMessages', 'routeMessages', 'defaultRouteLink', 'request'] as const;
  fuzz(FILE, 'Netlink requests over replayed replies: records or a NetlinkRequestError', fc.tuple(replies, fc.constantFrom(...operations)), ([script, operation]) => {
    let seq = 0;
    let recvs = 0;
    const transport: NetlinkTransport = {
      send(request) {
        seq = Buffer.from(request.buffer, request.byteOffset).readUInt32LE(8);
      },
      recv() {
        const next = script[recvs++];
        if (!next || recvs > 50) throw new Error('no reply within 5000 ms');
        const datagram = Buffer.concat([...next.messages, next.end]);
        // Patch each message's sequence number (and the dump-interrupted flag) as the script says.
        for (let off = 0; off + 16 <= datagram.length; ) {
          const len = LITTLE ? datagram.readUInt32LE(off) : datagram.readUInt32BE(off);
          if (next.seq === 'right') datagram.writeUInt32LE(seq, off + 8);
          if (next.seq === 'wrong') datagram.writeUInt32LE((seq + 1) >>> 0, off + 8);
          if (next.dumpInterrupted) datagram[off + 6] |= 0x10;
          if (len < 16) break;
          off += Math.ceil(len / 4) * 4; // not align4(): a mutated length may be near 2^32
        }
        return [datagram];
      },
    };
    const netlink = new Netlink(-1, transport);
    try {
      const result =
        operation === 'links' ? netlink.links()
        : operation === 'addrs4' ? netlink.addrs(4)
        : operation === 'addrs6' ? netlink.addrs(6)
        : operation === 'routes4' ? netlink.routes(4)
        : operation === 'routes6' ? netlink.routes(6)
        : operation === 'tcpListeners4' ? netlink.tcpListeners(4)
        : operation === 'tcpListeners6' ? netlink.tcpListeners(6)
        : operation === 'addrMessages' ? netlink.addrMessages(4)
        : operation === 'routeMessages' ? netlink.routeMessages(6)
        : operation === 'defaultRouteLink' ? netlink.defaultRouteLink(4)
        : netlink.request(RTM_NEWADDR, 0, new Uint8Array(8), 'RTM_NEWADDR test');
      if (Array.isArray(result)) for (const r of result) assert.ok(r && typeof r === 'object');
    } catch (err) {
      if (!(err instanceof NetlinkRequestError)) throw err;
      assert.match(err.message, /^netlink /);
    }
  });
});

// --- /proc/net ---------------------------------------------------------------------

interface Sock {
  local: Uint8Array;
  port: number;
  remote: Uint8Array;
  rport: number;
  state: number;
  inode: number;
}

/** The address as the kernel prints it: each 32-bit word as a native-endian number, %08X. */
function procAddress(addr: Uint8Array, little: boolean): string {
  let s = '';
  for (let w = 0; w < addr.length; w += 4) {
    const word = little ? [addr[w + 3], addr[w + 2], addr[w + 1], addr[w]] : [addr[w], addr[w + 1], addr[w + 2], addr[w + 3]];
    s += Buffer.from(word).toString('hex').toUpperCase();
  }
  return s;
}

/** A table as /proc/net/{tcp,udp}{,6} prints it (net/ipv4/tcp_ipv4.c get_tcp4_sock(), udp.c udp4_format_sock()). */
function procTable(proto: 'tcp' | 'udp', family: 4 | 6, socks: Sock[], little: boolean): string {
  const header = family === 4 ? '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode' : '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
  const lines = socks.map((s, i) => {
    const hex4 = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
    const tail = proto === 'tcp' ? ' 1 0000000000000000 100 0 0 10 0' : ' 2 0000000000000000 0';
    return `${String(i).padStart(4)}: ${procAddress(s.local, little)}:${hex4(s.port)} ${procAddress(s.remote, little)}:${hex4(s.rport)} ${s.state.toString(16).toUpperCase().padStart(2, '0')} 00000000:00000000 00:00000000 00000000  1000        0 ${s.inode}${tail}`;
  });
  return [header, ...lines, ''].join('\n');
}

const V4_MAPPED = (a: Uint8Array): boolean => a.length === 16 && a.subarray(0, 10).every((b) => b === 0) && a[10] === 0xff && a[11] === 0xff;

describe('/proc/net', () => {
  const sock = (family: 4 | 6): fc.Arbitrary<Sock> =>
    fc.record({
      local: fc.oneof(fc.uint8Array({ minLength: family === 4 ? 4 : 16, maxLength: family === 4 ? 4 : 16 }), fc.constant(new Uint8Array(family === 4 ? 4 : 16)), fc.constant(family === 4 ? Uint8Array.of(127, 0, 0, 1) : Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1))),
      port: fc.oneof(fc.nat(0xffff), fc.constantFrom(0, 1, 0xffff)),
      remote: fc.oneof(fc.constant(new Uint8Array(family === 4 ? 4 : 16)), fc.uint8Array({ minLength: family === 4 ? 4 : 16, maxLength: family === 4 ? 4 : 16 })),
      rport: fc.oneof(fc.constant(0), fc.nat(0xffff)),
      state: fc.oneof(fc.constantFrom(TCP_STATE_LISTEN, UDP_STATE_UNCONNECTED, 1, 6), fc.nat(0xff)),
      inode: fc.oneof(fc.nat(), fc.constant(2 ** 32 + 5)),
    });
  const table = fc.tuple(fc.constantFrom('tcp', 'udp') as fc.Arbitrary<'tcp' | 'udp'>, fc.constantFrom(4, 6) as fc.Arbitrary<4 | 6>, fc.boolean()).chain(([proto, family, little]) => fc.tuple(fc.constant(proto), fc.constant(family), fc.constant(little), fc.array(sock(family), { maxLength: 12 })));
  fuzz(FILE, 'parseProcNet: the bound sockets of a table the kernel printed, exactly', table, ([proto, family, little, socks]) => {
    const found = parseProcNet(procTable(proto, family, socks, little), proto, family, { littleEndian: little });
    const zero = (a: Uint8Array): boolean => a.every((b) => b === 0);
    const want = socks
      .filter((s) => s.port >= 1 && (proto === 'tcp' ? s.state === TCP_STATE_LISTEN : s.state === UDP_STATE_UNCONNECTED && s.rport === 0 && zero(s.remote)))
      .map((s) => (family === 6 && V4_MAPPED(s.local) ? { family: 4, addr: Buffer.from(s.local.subarray(12)), port: s.port, inode: s.inode } : { family, addr: Buffer.from(s.local), port: s.port, inode: s.inode }));
    assert.deepEqual(found.map((f) => ({ ...f, addr: Buffer.from(f.addr) })), want);
  });

  const TABLES = loadProcNet();
  fuzz(FILE, 'parseProcNet and /proc/net/unix: mutated and random text never throws', fc.tuple(fc.constantFrom(...TABLES), fc.array(fc.record({ kind: fc.nat(9), at: fc.double({ min: 0, max: 1, noNaN: true }), value: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }), { maxLength: 8 }), fc.string({ maxLength: 200 })), ([t, mutations, junk]) => {
    const text = Buffer.from(mutate(Buffer.from(t.text, 'latin1'), mutations)).toString('latin1') + junk;
    for (const b of parseProcNet(text, t.proto, t.family)) {
      assert.ok(b.port >= 1 && b.port <= 0xffff && Number.isSafeInteger(b.inode));
      assert.equal(b.addr.length, b.family === 4 ? 4 : 16);
    }
    listedAsListening('/tmp/passt_1.socket', text);
  }, { weight: 0.7 });
});
