/**
 * Fuzz target for the frame dispatcher (src/tap.ts, TapDispatcher.frame)
 * with the real responders and reassembler and stub TCP, UDP and ICMP
 * handlers that check what they are given.
 *
 * A batch is many frames (mutated corpus frames, runs of one flow,
 * fragments, random bytes, runts) in one buffer with gaps between them, as
 * a tap read leaves them, under a random configuration (IPv4 or IPv6 off,
 * no NDP, no DHCP...). Nothing may throw. Every run handed to TCP or UDP
 * holds frames of the batch of one protocol, addresses and ports, in batch
 * order, each frame in at most one run, with its IP and layer-4 headers
 * inside its frame; ICMP gets spans inside a frame or a reassembled
 * datagram; every frame queued for the guest is well-formed (checkFrame).
 */
import assert from 'node:assert/strict';
import { describe } from 'vitest';
import fc from 'fast-check';
import { TapDispatcher, type TapTargets } from '../../src/tap.js';
import { TapOut } from '../../src/l2/tapio.js';
import { createLinkState } from '../../src/l2/link.js';
import type { FrameRun } from '../../src/run.js';
import type { Logger } from '../../src/log.js';
import type { TcpHandler } from '../../src/tcp/tcp.js';
import type { UdpHandler } from '../../src/udp/udp.js';
import type { IcmpHandler } from '../../src/icmp/icmp.js';
import { fuzz, mutatedFrames, randomBytes } from './harness.js';
import { FRAMES, GATEWAY4, GUEST4, GUEST6, GUEST_MAC, checkFrame, fragments, guestFrame, tcp, udp, REMOTE4, GATEWAY6 } from './wire.js';

const FILE = 'test/fuzz/tap.test.ts';

/** Frames queued for the guest are checked at every flush instead of written. */
class CheckingTapOut extends TapOut {
  frames_ = 0;
  constructor() {
    super(-1, 0, 1 << 20, 64);
  }
  /** Frames queued since the last flush. */
  get queued(): number {
    return this.count;
  }
  override flush(): void {
    for (let i = 0; i < this.count; i++) checkFrame(this.buf.subarray(this.frames[2 * i], this.frames[2 * i] + this.frames[2 * i + 1]));
    this.frames_ += this.count;
    this.count = 0;
    this.cursor = 0;
  }
}

/** A logger with every level on (the trace and info lines are built too), keeping nothing. */
const log = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, isLevelEnabled: () => true } as unknown as Logger;

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const out = new CheckingTapOut();

/** Frames of a few flows, to make runs: the same connection's segments, interleaved with others. */
const flowFrames = fc.tuple(fc.constantFrom(4, 6) as fc.Arbitrary<4 | 6>, fc.constantFrom(6, 17), fc.nat(3), fc.nat(0xffffffff), fc.uint8Array({ maxLength: 64 })).map(([family, proto, port, seq, data]) => {
  const message = proto === 6 ? tcp(40000 + port, 80, seq, 1, 0x18, data) : udp(40000 + port, 53, data);
  return family === 4 ? guestFrame(4, proto, GUEST4, port & 1 ? REMOTE4 : GATEWAY4, message) : guestFrame(6, proto, GUEST6, GATEWAY6, message);
});

const frameArb = fc.oneof(
  { weight: 4, arbitrary: mutatedFrames(FRAMES) },
  { weight: 3, arbitrary: fc.constantFrom(...FRAMES) },
  { weight: 3, arbitrary: flowFrames },
  { weight: 1, arbitrary: randomBytes(80) },
);

/**
 * GSO type and size from a frame's virtio-net header (what the kernel says
 * of a super-frame): mostly none; else a known type (with the ECN bit or
 * not), or any byte, with any size.
 */
const gsoArb = fc.oneof(
  { weight: 5, arbitrary: fc.constant([0, 0] as [number, number]) },
  { weight: 1, arbitrary: fc.tuple(fc.oneof(fc.constantFrom(1, 4, 5, 0x81, 0x84, 0x85), fc.nat(0xff)), fc.oneof(fc.constantFrom(0, 1, 1400, 65535), fc.nat(0xffff))) },
);
/** What a frame with GSO type `type` (ECN bit cleared) may be: TCPV4 TCP over IPv4, TCPV6 TCP over IPv6, UDP_L4 UDP with a segment size. */
function gsoAllows(type: number, size: number, family: 4 | 6, proto: number): boolean {
  switch (type & 0x7f) {
    case 0:
      return true;
    case 1:
      return family === 4 && proto === 6;
    case 4:
      return family === 6 && proto === 6;
    case 5:
      return proto === 17 && size > 0;
    default:
      return false;
  }
}

const configArb = fc.record({ ip4: fc.boolean(), ip6: fc.boolean(), tcp: fc.boolean(), udp: fc.boolean(), icmp: fc.boolean(), ndp: fc.boolean(), dhcp: fc.boolean(), dhcpv6: fc.boolean(), ra: fc.boolean() });

describe('frame dispatcher', () => {
  fuzz(FILE, 'TapDispatcher.frame: runs of one flow inside their frames, GSO types as the frames allow, well-formed replies, no throw', fc.tuple(fc.array(fc.tuple(frameArb, fc.nat(7), gsoArb), { minLength: 1, maxLength: 40 }), configArb, fc.nat(3)), ([batch, c, batches]) => {
    // One buffer, frames at the offsets a tap read would give (with gaps), each with the GSO type and size of its virtio-net header.
    const spans: Array<{ off: number; len: number; gso: [number, number] }> = [];
    let size = 0;
    for (const [f, gap, gso] of batch) {
      spans.push({ off: size + gap, len: f.length, gso });
      size += gap + f.length;
    }
    const buf = Buffer.alloc(size, 0xee);
    batch.forEach(([f], i) => f.copy(buf, spans[i].off));
    const spanOf = (ip: number): number => spans.findIndex((s) => s.off + 14 === ip && s.len >= 14);
    const taken = new Set<number>();
    const checkRun = (proto: number) => (run: FrameRun): void => {
      assert.equal(run.protocol, proto);
      assert.ok(run.count >= 1);
      let last = -1;
      for (let i = 0; i < run.count; i++) {
        const s = spanOf(run.ipOff[i]);
        assert.ok(s >= 0, 'a run frame at no frame of the batch');
        assert.ok(s > last, 'run frames in batch order');
        assert.ok(!taken.has(s), 'a frame in two runs');
        taken.add(s);
        last = s;
        const l4 = run.l4Off[i];
        assert.ok(l4 > run.ipOff[i] && run.l4Len[i] >= 4 && l4 + run.l4Len[i] <= spans[s].off + spans[s].len, 'layer 4 inside its frame');
        assert.equal((buf[l4] << 8) | buf[l4 + 1], run.guestPort);
        assert.equal((buf[l4 + 2] << 8) | buf[l4 + 3], run.remotePort);
        const a = run.ipOff[i] + (run.family === 4 ? 12 : 8);
        assert.ok(buf.subarray(a, a + (run.family === 4 ? 8 : 32)).equals(buf.subarray(run.addrOff, run.addrOff + (run.family === 4 ? 8 : 32))), 'one flow per run');
        const [type, size] = spans[s].gso;
        assert.ok(gsoAllows(type, size, run.family, proto), `GSO type ${type} size ${size} on a ${proto} run over IPv${run.family}`);
        assert.equal(run.gsoSize[i], (type & 0x7f) === 5 ? size : 0, 'the UDP segment size of a super-datagram, else 0');
      }
    };
    /** The GSO type of the frame being dispatched: ICMP (and the responders) take none. */
    let gsoNow = 0;
    const within = (b: Buffer, l4: number, len: number): void => {
      assert.equal(gsoNow & 0x7f, 0, 'no GSO type on ICMP, nor on a reassembled datagram');
      if (b === buf) {
        const s = spans.findIndex((sp) => l4 >= sp.off + 14 && l4 + len <= sp.off + sp.len);
        assert.ok(s >= 0 && len >= 0, 'a span inside a frame of the batch');
      } else assert.equal(l4 + len, b.length, 'a reassembled datagram to its end');
    };
    const link = createLinkState({ guestMac: GUEST_MAC, guestAddr4: GUEST4, guestAddr6: GUEST6 });
    const targets: TapTargets = {
      log,
      out,
      link,
      ip4: c.ip4,
      ip6: c.ip6,
      tcp: c.tcp ? ({ tapRun: checkRun(6) } as unknown as TcpHandler) : null,
      udp: c.udp ? ({ tapRun: checkRun(17), tapFrame: (_f: number, b: Buffer, _ip: number, l4: number, len: number) => within(b, l4, len) } as unknown as UdpHandler) : null,
      icmp: c.icmp ? ({ tapHandler: (_f: number, b: Buffer, _ip: number, l4: number, len: number) => within(b, l4, len) } as unknown as IcmpHandler) : null,
      ndp: c.ndp,
      dhcp: c.dhcp ? { addr: GUEST4, prefixLen: 24, gateway: GATEWAY4, mtu: null, dns: [hex('cb007135')], search: ['example.org'], noDhcpDns: false, noDhcpSearch: false } : null,
      dhcpv6: c.dhcpv6 ? { addr: GUEST6, dns: [hex('20010db8000000000000000000000053')], search: ['example.org'], noDhcpDns: false, noDhcpSearch: false } : null,
      ra: c.ra ? { prefix: GUEST6, dhcpv6: c.dhcpv6, mtu: 65520, dns: [], search: [], noDhcpDns: false, noDhcpSearch: false } : null,
    };
    const d = new TapDispatcher(targets);
    // The same batch again (a retransmission), and then some, with fragments completing across batches.
    for (let round = 0; round <= batches; round++) {
      taken.clear();
      for (const s of spans) {
        gsoNow = s.gso[0];
        const queued = out.queued;
        d.frame(buf, s.off, s.len, 1000 * round, s.gso[0], s.gso[1]);
        if (s.gso[0] & 0x7f) assert.equal(out.queued, queued, 'no reply to a super-frame');
      }
      d.flushRuns(1000 * round);
      out.flush();
    }
  }, { weight: 3 });

  fuzz(FILE, 'TapDispatcher.frame: fragments of many datagrams, each reassembled to UDP or ICMP once', fc.tuple(fc.array(fc.tuple(fc.constantFrom(4, 6) as fc.Arbitrary<4 | 6>, fc.constantFrom(17, 1, 58, 6), fc.integer({ min: 9, max: 4000 })), { minLength: 1, maxLength: 6 }), fc.nat(0xff00)), ([datagrams, base]) => {
    const frames = datagrams.flatMap(([family, proto, length], i) => fragments(family, proto, Buffer.alloc(length, i), 1232, base + i));
    let calls = 0;
    const whole = (_f: number, b: Buffer, _ip: number, l4: number, len: number): void => {
      assert.ok(l4 + len <= b.length);
      calls++;
    };
    const d = new TapDispatcher({
      log, out, link: createLinkState({}), ip4: true, ip6: true, ndp: true, dhcp: null, dhcpv6: null, ra: null, tcp: null,
      udp: { tapRun: () => {}, tapFrame: whole } as unknown as UdpHandler,
      icmp: { tapHandler: whole } as unknown as IcmpHandler,
    });
    for (const f of frames) d.frame(f, 0, f.length, 0);
    d.flushRuns(0);
    // UDP over IPv4 in one piece is no fragment: it goes to a run. Every other UDP or ICMP datagram comes once.
    const expected = datagrams.filter(([family, proto, length]) => (family === 4 ? proto === 1 || (proto === 17 && length > 1232) : proto === 17 || proto === 58)).length;
    assert.equal(calls, expected);
  });
});
