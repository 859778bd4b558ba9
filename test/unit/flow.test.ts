// The flow table (src/flow.ts) on its own, and through a real engine: lookups by the bytes
// of a frame, slot reuse, growth, and what the guest hears when the table is full (a TCP
// RST, an ICMP "administratively prohibited"), with the flows already open unharmed. Also
// the dispatcher's runs (src/tap.ts): interleaved segments of two connections reach each
// connection as one run, one write and one ACK. Host peers are real sockets on loopback;
// the engine's "tap" is a connected UDP socket whose datagrams are the frames it sends.
import { describe, expect, it } from 'vitest';
import { Flow, FlowTable, PROTO_TCP, PROTO_UDP, describeFlow, flowHash } from '../../src/flow.js';
import type { Logger } from '../../src/log.js';
import { ARP_REQUEST, referenceChecksum } from './wire-frames.js';
import { G, GW, R, batch, connect, frameFrom, listen, makeRig, tcpFlags, tcpPorts, tcpSegment, udpDatagram } from './tap-rig.js';


function addrs(a: Uint8Array, b: Uint8Array): Uint8Array {
  const x = new Uint8Array(a.length + b.length);
  x.set(a, 0);
  x.set(b, a.length);
  return x;
}

describe('FlowTable', () => {
  it('finds a flow by the address bytes of a frame and its ports, and nothing else', () => {
    const table = new FlowTable(8);
    const flow = new Flow(PROTO_TCP, 4, addrs(G, R), 40000, 80);
    const h = flowHash(PROTO_TCP, 4, flow.addrs, 0, 40000, 80);
    expect(table.insert(flow, h)).toBe(true);
    // The same identity read from a frame: IPv4 source and destination at 26..33.
    const frame = Buffer.alloc(34);
    frame.set(G, 26);
    frame.set(R, 30);
    expect(flowHash(PROTO_TCP, 4, frame, 26, 40000, 80)).toBe(h);
    expect(table.lookup(PROTO_TCP, 4, frame, 26, 40000, 80, h)).toBe(flow);
    // Another port, protocol or address is another flow.
    expect(table.lookup(PROTO_TCP, 4, frame, 26, 40001, 80, flowHash(PROTO_TCP, 4, frame, 26, 40001, 80))).toBeUndefined();
    expect(table.lookup(PROTO_UDP, 4, frame, 26, 40000, 80, flowHash(PROTO_UDP, 4, frame, 26, 40000, 80))).toBeUndefined();
    // Even with a hash that collides, the bytes decide.
    frame[33] ^= 1;
    expect(table.lookup(PROTO_TCP, 4, frame, 26, 40000, 80, h)).toBeUndefined();
    expect(describeFlow(flow)).toBe('TCP 0 (guest port 40000 -> 203.0.113.10:80)');
  });

  it('reuses slots, grows its buckets, keeps every flow findable, and refuses past its maximum', () => {
    const warnings: string[] = [];
    const log = { warn: (m: string) => warnings.push(m) } as unknown as Logger;
    const table = new FlowTable(3000, log);
    const flows: Flow[] = [];
    for (let i = 0; i < 3000; i++) {
      const f = new Flow(PROTO_UDP, 4, addrs(G, R), 1000 + i, 53);
      expect(table.insert(f, flowHash(PROTO_UDP, 4, f.addrs, 0, 1000 + i, 53))).toBe(true);
      flows.push(f);
    }
    expect(table.count).toBe(3000);
    for (const f of flows) expect(table.lookup(PROTO_UDP, 4, f.addrs, 0, f.guestPort, 53, f.hash)).toBe(f);
    // Full: admit() says no, counts and warns once per interval; insert() changes nothing.
    expect(table.admit(0)).toBe(false);
    expect(table.admit(1)).toBe(false);
    expect(table.refused).toBe(2);
    expect(warnings).toEqual(['Flow table full (3000 flows): refusing new flows']);
    expect(table.admit(10_000)).toBe(false);
    expect(warnings.length).toBe(2);
    const extra = new Flow(PROTO_UDP, 4, addrs(G, R), 9, 53);
    expect(table.insert(extra, 1)).toBe(false);
    expect(extra.index).toBe(-1);
    // Removing frees the slot for the next flow, and the others stay findable.
    const gone = flows[1234];
    table.remove(gone);
    expect(table.lookup(PROTO_UDP, 4, gone.addrs, 0, gone.guestPort, 53, gone.hash)).toBeUndefined();
    expect(table.admit(20_000)).toBe(true);
    expect(table.insert(extra, flowHash(PROTO_UDP, 4, extra.addrs, 0, 9, 53))).toBe(true);
    expect(extra.index).toBe(1234);
    for (const f of flows) if (f !== gone) expect(table.lookup(PROTO_UDP, 4, f.addrs, 0, f.guestPort, 53, f.hash)).toBe(f);
    expect([...table.all(PROTO_UDP)].length).toBe(3000);
    expect(() => new FlowTable(0)).toThrow(RangeError);
  });

  it('chains the flow whose insertion grows the buckets once: removing it leaves its bucket whole', () => {
    // Found by test/fuzz/engine.test.ts: the 769th flow grew the 1024 buckets after it was put in
    // its slot, so grow() chained it and insert() chained it again, pointing at itself. A lookup
    // that missed in its bucket never ended; once it expired, its bucket led to a free slot and
    // the next lookup or removal there threw (UDP expiry: "reading 'hashNext'"), every sweep.
    const table = new FlowTable(2000);
    const flows: Flow[] = [];
    for (let i = 0; i < 769; i++) {
      const f = new Flow(PROTO_UDP, 4, addrs(G, R), 1000 + i, 53);
      expect(table.insert(f, flowHash(PROTO_UDP, 4, f.addrs, 0, 1000 + i, 53))).toBe(true);
      flows.push(f);
    }
    const grew = flows[768];
    table.remove(grew);
    expect(table.lookup(PROTO_UDP, 4, grew.addrs, 0, grew.guestPort, 53, grew.hash)).toBeUndefined();
    // Another flow in the same bucket: found, removed, and the bucket is empty again.
    const same = new Flow(PROTO_UDP, 4, addrs(G, R), 9, 53);
    expect(table.insert(same, grew.hash)).toBe(true);
    expect(table.lookup(PROTO_UDP, 4, grew.addrs, 0, 9, 53, grew.hash)).toBe(same);
    expect(table.lookup(PROTO_UDP, 4, grew.addrs, 0, grew.guestPort, 53, grew.hash)).toBeUndefined();
    for (const f of [...flows.slice(0, 768), same]) {
      expect(table.lookup(PROTO_UDP, 4, f.addrs, 0, f.guestPort, 53, f.hash)).toBe(f);
      table.remove(f);
    }
    expect(table.count).toBe(0);
    for (const f of flows) expect(table.lookup(PROTO_UDP, 4, f.addrs, 0, f.guestPort, 53, f.hash)).toBeUndefined();
  });
});

describe('a full flow table, through the engine', () => {
  it('answers a SYN with a RST and a UDP datagram with ICMP "administratively prohibited", and the open flows go on', async () => {
    const r = await makeRig({ maxFlows: 2 });
    const srv = await listen();
    const issA = await connect(r, 40001, srv.port);
    const issB = await connect(r, 40002, srv.port);
    expect(r.engine.stats().flows).toEqual({ active: 2, max: 2, refused: 0 });

    // A third connection: refused at once.
    batch(r, [tcpSegment(40003, srv.port, 5000, 0, 0x02)]);
    const rst = await frameFrom(r, (f) => tcpPorts(f)[1] === 40003);
    expect(tcpFlags(rst)).toBe(0x14); // RST | ACK
    expect(rst.readUInt32BE(42)).toBe(5001);

    // A datagram for a new UDP flow: ICMP type 3 code 13 quoting it, from where it was sent.
    const dgram = udpDatagram(40004, 53, Buffer.from('query'));
    batch(r, [dgram]);
    const icmp = await frameFrom(r, (f) => f[23] === 1);
    expect(icmp.subarray(26, 34)).toEqual(Buffer.concat([GW, G]));
    expect([icmp[34], icmp[35]]).toEqual([3, 13]);
    expect(referenceChecksum(icmp.subarray(34))).toBe(0);
    expect(icmp.subarray(42).equals(dgram.subarray(14))).toBe(true);
    expect(r.engine.stats().flows.refused).toBe(2);

    // The two connections still carry data.
    batch(r, [tcpSegment(40001, srv.port, 1001, issA, 0x18, Buffer.from('a')), tcpSegment(40002, srv.port, 1001, issB, 0x18, Buffer.from('b'))]);
    await expect.poll(() => Buffer.concat(srv.got).toString().split('').sort().join('')).toBe('ab');
  });
});

describe('runs of one flow (tap.ts)', () => {
  it('gives interleaved segments of two connections to each as one run: in order, one write, one ACK', async () => {
    const r = await makeRig({ maxFlows: 16 });
    const srv = await listen();
    const issA = await connect(r, 41001, srv.port);
    const a = await srv.accepted;
    const issB = await connect(r, 41002, srv.port);
    const got = new Map<number, string>();
    a.on('data', (d) => got.set(1, (got.get(1) ?? '') + d));
    r.frames.length = 0;
    // A B A B A: five segments, two flows.
    const seg = (sport: number, iss: number, seq: number, text: string): Buffer => tcpSegment(sport, srv.port, seq, iss, 0x18, Buffer.from(text));
    batch(r, [seg(41001, issA, 1001, 'one '), seg(41002, issB, 1001, 'x'), seg(41001, issA, 1005, 'two '), seg(41002, issB, 1002, 'y'), seg(41001, issA, 1009, 'three')]);
    // One ACK per connection, for everything it sent in the batch: all frames of the batch
    // are in once the answer to an ARP request sent after it is (the tap keeps their order).
    batch(r, [ARP_REQUEST]);
    await frameFrom(r, (f) => f.readUInt16BE(12) === 0x0806);
    const acks = r.frames.filter((f) => f.readUInt16BE(12) === 0x0800 && (tcpFlags(f) & 0x10) !== 0);
    expect(acks.map((f) => [tcpPorts(f)[1], f.readUInt32BE(42)]).sort()).toEqual([[41001, 1014], [41002, 1003]]);
    await expect.poll(() => got.get(1)).toBe('one two three');
  });
});
