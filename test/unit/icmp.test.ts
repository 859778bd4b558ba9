// ICMP and ICMPv6 echo through ping sockets, driven by literal frames, with real ping
// sockets on loopback only. The handler runs standalone: a real Loop, and a TapOut over
// a connected UDP socket as the fake tap, so every frame for the guest arrives as one
// datagram at `guest`, where the test reads it. "Remote" addresses the guest pings
// (198.51.100.1, 2001:db8::1) are mapped to 127.0.0.1 and ::1.
//
// Ping sockets need our group in net.ipv4.ping_group_range (per network namespace).
// The set-up widens it when it excludes us (the tests run as root) and restores it after.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { pino, type Logger } from 'pino';
import { native, C, E } from '../../src/native.js';
import { Loop } from '../../src/loop.js';
import { TapOut } from '../../src/l2/tapio.js';
import { createLogger } from '../../src/log.js';
import { FlowTable, type FlowContext, type HostTarget } from '../../src/flow.js';
import { IcmpHandler, ICMP_FLOW_TIMEOUT_MS } from '../../src/icmp/icmp.js';
import { hex, referenceChecksum, pseudo6 } from './wire-frames.js';

const PING_GROUP_RANGE = '/proc/sys/net/ipv4/ping_group_range';
const GUEST_MAC = '02aabbccddee';
const OUR_MAC = '9a559a559a55';
const GUEST4 = Uint8Array.of(198, 51, 100, 2);
const REMOTE4 = Uint8Array.of(198, 51, 100, 1);
const GUEST6 = hex('20010db8000000000000000000000002');
const REMOTE6 = hex('20010db8000000000000000000000001');
const LOOPBACK4 = Uint8Array.of(127, 0, 0, 1);
const LOOPBACK6 = hex('00000000000000000000000000000001');
/** A second remote the guest pings, 203.0.113.10: the host's 127.0.0.2. */
const SERVER4 = Uint8Array.of(203, 0, 113, 10);
const LOOPBACK4B = Uint8Array.of(127, 0, 0, 2);

/** 56 data bytes as Linux ping (iputils) sends them: a struct timeval, then 0x10, 0x11 ... 0x37. */
const PING_DATA = 'd20b5e6700000000a84e0c0000000000' + '101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637';

/** `ping -4 198.51.100.1` from the guest 198.51.100.2: id 0x2a, seq 1, DF, TTL 64. */
const ECHO4 = hex(
  OUR_MAC + GUEST_MAC + '0800' +
  '450000545d2e40004001' + '8910' + 'c6336402' + 'c6336401' +
  '0800' + '5440' + '002a' + '0001' + PING_DATA,
);

/** `ping -6 2001:db8::1` from the guest 2001:db8::2: id 0x2b, seq 1, hop limit 64, a flow label. */
const ECHO6 = hex(
  OUR_MAC + GUEST_MAC + '86dd' +
  '600d8f3a' + '0040' + '3a' + '40' + '20010db8000000000000000000000002' + '20010db8000000000000000000000001' +
  '8000' + '804f' + '002b' + '0001' + PING_DATA,
);

interface Patch {
  id?: number;
  seq?: number;
  type?: number;
  code?: number;
  dst?: Uint8Array;
}

/** A copy of a literal echo request with fields patched and its checksums recomputed by the reference routine. */
function echo(literal: Buffer, p: Patch = {}): Buffer {
  const f = Buffer.from(literal);
  const v4 = f.readUInt16BE(12) === 0x0800;
  const ip = 14;
  const l4 = v4 ? 34 : 54;
  if (p.type !== undefined) f[l4] = p.type;
  if (p.code !== undefined) f[l4 + 1] = p.code;
  if (p.id !== undefined) f.writeUInt16BE(p.id, l4 + 4);
  if (p.seq !== undefined) f.writeUInt16BE(p.seq, l4 + 6);
  if (p.dst) f.set(p.dst, v4 ? ip + 16 : ip + 24);
  f.writeUInt16BE(0, l4 + 2);
  if (v4) {
    f.writeUInt16BE(0, ip + 10);
    f.writeUInt16BE(referenceChecksum(f.subarray(ip, ip + 20)), ip + 10);
    f.writeUInt16BE(referenceChecksum(f.subarray(l4)), l4 + 2);
  } else {
    const msg = f.subarray(l4);
    f.writeUInt16BE(referenceChecksum(pseudo6(f.subarray(ip + 8, ip + 24), f.subarray(ip + 24, ip + 40), 58, msg.length), msg), l4 + 2);
  }
  return f;
}

interface Reply {
  dstMac: string;
  srcMac: string;
  family: 4 | 6;
  src: string;
  dst: string;
  ttl: number;
  /** IPv4 header checksum (v4) and ICMP checksum, verified with the reference routine. */
  ipChecksumOk: boolean;
  checksumOk: boolean;
  ipLengthOk: boolean;
  type: number;
  code: number;
  id: number;
  seq: number;
  data: string;
}

function parseReply(f: Buffer): Reply {
  const v4 = f.readUInt16BE(12) === 0x0800;
  const ip = 14;
  const l4 = v4 ? ip + (f[ip] & 15) * 4 : ip + 40;
  const msg = f.subarray(l4);
  const src = v4 ? f.subarray(ip + 12, ip + 16) : f.subarray(ip + 8, ip + 24);
  const dst = v4 ? f.subarray(ip + 16, ip + 20) : f.subarray(ip + 24, ip + 40);
  return {
    dstMac: f.subarray(0, 6).toString('hex'),
    srcMac: f.subarray(6, 12).toString('hex'),
    family: v4 ? 4 : 6,
    src: v4 ? [...src].join('.') : src.toString('hex'),
    dst: v4 ? [...dst].join('.') : dst.toString('hex'),
    ttl: v4 ? f[ip + 8] : f[ip + 7],
    ipChecksumOk: v4 ? referenceChecksum(f.subarray(ip, ip + 20)) === 0 : f[ip + 6] === 58,
    checksumOk: v4 ? referenceChecksum(msg) === 0 : referenceChecksum(pseudo6(src, dst, 58, msg.length), msg) === 0,
    ipLengthOk: v4 ? f.readUInt16BE(ip + 2) === f.length - ip : f.readUInt16BE(ip + 4) === f.length - ip - 40,
    type: msg[0],
    code: msg[1],
    id: msg.readUInt16BE(4),
    seq: msg.readUInt16BE(6),
    data: msg.subarray(8).toString('hex'),
  };
}

function natFromTap(family: 4 | 6, proto: number, dst: Uint8Array, port: number): HostTarget | null {
  if (family === 4 && proto === 1 && Buffer.compare(dst, REMOTE4) === 0) return { addr: LOOPBACK4, port, scopeId: 0 };
  if (family === 4 && proto === 1 && Buffer.compare(dst, SERVER4) === 0) return { addr: LOOPBACK4B, port, scopeId: 0 };
  if (family === 6 && proto === 58 && Buffer.compare(dst, REMOTE6) === 0) return { addr: LOOPBACK6, port, scopeId: 0 };
  return null;
}

/** A fake tap: a UDP socket the TapOut writes to, and the frames (datagrams) that arrived. */
class FakeTap {
  readonly frames: Buffer[] = [];
  private waiters: Array<() => void> = [];
  sock!: dgram.Socket;
  fd = -1;

  async open(): Promise<void> {
    this.sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.1', r));
    this.sock.on('message', (m) => {
      this.frames.push(m);
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
    this.fd = native.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
    expect(native.connect(this.fd, LOOPBACK4, this.sock.address().port, 0)).toBe(0);
  }

  /** The next `n` frames, in arrival order. */
  next(n = 1, timeoutMs = 3000): Promise<Buffer[]> {
    return new Promise((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error(`expected ${n} frame(s) from the handler, got ${this.frames.length}`)), timeoutMs);
      const check = (): void => {
        if (this.frames.length >= n) {
          clearTimeout(deadline);
          resolve(this.frames.splice(0, n));
        } else {
          this.waiters.push(check);
        }
      };
      check();
    });
  }

  close(): void {
    if (this.fd >= 0) native.close(this.fd);
    this.sock?.close();
  }
}

/** A handler on its own loop and fake tap. */
async function makeHandler(log: Logger, vnetHdrLen = 0, maxFrames = 512) {
  const tap = new FakeTap();
  await tap.open();
  const errors: unknown[] = [];
  const loop = new Loop((err) => errors.push(err), 50);
  loop.unref();
  const out = new TapOut(tap.fd, vnetHdrLen, 1 << 20, maxFrames);
  loop.onBatchEnd(() => out.flush());
  const ctx: FlowContext = {
    flows: new FlowTable(),
    loop,
    out,
    log,
    mtu: 65520,
    ourMac: hex(OUR_MAC),
    guestMac: () => hex(GUEST_MAC),
    natFromTap,
  };
  const handler = new IcmpHandler(ctx);
  /** Feed one frame from "the guest" and flush, as the engine does after a batch. */
  const fromGuest = (f: Buffer, l4Len?: number, now = performance.now()): void => {
    const v4 = f.readUInt16BE(12) === 0x0800;
    const l4 = v4 ? 14 + (f[14] & 15) * 4 : 54;
    handler.tapHandler(v4 ? 4 : 6, f, 14, l4, l4Len ?? f.length - l4, now);
    out.flush();
  };
  const close = (): void => {
    handler.closeAll();
    loop.close();
    tap.close();
  };
  return { tap, loop, out, handler, fromGuest, errors, close };
}

let previousRange: string | undefined;
let env: Awaited<ReturnType<typeof makeHandler>>;

function setPingGroupRange(value: string): void {
  fs.writeFileSync(PING_GROUP_RANGE, value);
}

beforeAll(async () => {
  const current = fs.readFileSync(PING_GROUP_RANGE, 'utf8').trim();
  const [lo, hi] = current.split(/\s+/).map(Number);
  const gid = process.getegid!();
  if (!(lo <= gid && gid <= hi)) {
    previousRange = current;
    setPingGroupRange('0 2147483647');
  }
  env = await makeHandler(createLogger({ name: 'test', level: 'silent' }));
});

afterEach(() => {
  env.handler.closeAll();
  env.tap.frames.length = 0;
  expect(env.errors).toEqual([]);
});

afterAll(() => {
  env?.close();
  if (previousRange !== undefined) setPingGroupRange(previousRange);
});

describe('ICMP echo through ping sockets', () => {
  it('answers an IPv4 echo request with a reply from the pinged address, id, seq and data intact', async () => {
    const { handler, fromGuest, tap } = env;
    const before = { ...handler.stats };
    fromGuest(echo(ECHO4));
    expect(handler.count).toBe(1);
    const flow = [...handler.flows()][0];
    // The socket was bound with the guest's identifier: the request left unchanged.
    expect(flow.guestId).toBe(0x2a);
    expect(flow.hostId).toBe(0x2a);
    const [f] = await tap.next();
    const r = parseReply(f);
    expect(r).toEqual({
      dstMac: GUEST_MAC,
      srcMac: OUR_MAC,
      family: 4,
      src: '198.51.100.1',
      dst: '198.51.100.2',
      ttl: 255, // one hop, as passt
      ipChecksumOk: true,
      checksumOk: true,
      ipLengthOk: true,
      type: 0,
      code: 0,
      id: 0x2a,
      seq: 1,
      data: PING_DATA,
    });
    expect(f.length).toBe(ECHO4.length);
    expect(f.readUInt16BE(14 + 6)).toBe(0x4000); // DF, not a fragment
    expect(handler.stats.requests - before.requests).toBe(1);
    expect(handler.stats.replies - before.replies).toBe(1);
    expect(handler.stats.opened - before.opened).toBe(1);
    expect(handler.stats.flows).toBe(1);
  });

  it('answers an IPv6 echo request, checksum over the pseudo-header of the addresses the guest sees', async () => {
    const { handler, fromGuest, tap } = env;
    fromGuest(echo(ECHO6));
    expect(handler.count).toBe(1);
    const [f] = await tap.next();
    expect(parseReply(f)).toEqual({
      dstMac: GUEST_MAC,
      srcMac: OUR_MAC,
      family: 6,
      src: REMOTE6.toString('hex'),
      dst: GUEST6.toString('hex'),
      ttl: 255,
      ipChecksumOk: true,
      checksumOk: true,
      ipLengthOk: true,
      type: 129,
      code: 0,
      id: 0x2b,
      seq: 1,
      data: PING_DATA,
    });
    expect(f.length).toBe(ECHO6.length);
  });

  it('makes one flow per guest identifier: two ids to the same remote are two flows with their own replies', async () => {
    const { handler, fromGuest, tap } = env;
    const opened = handler.stats.opened;
    fromGuest(echo(ECHO4, { id: 1000 }));
    fromGuest(echo(ECHO4, { id: 1001 }));
    expect(handler.count).toBe(2);
    const ids = (await tap.next(2)).map((f) => parseReply(f).id).sort();
    expect(ids).toEqual([1000, 1001]);
    // A second request with a known id uses its flow.
    fromGuest(echo(ECHO4, { id: 1000, seq: 2 }));
    const [again] = await tap.next();
    expect([parseReply(again).id, parseReply(again).seq]).toEqual([1000, 2]);
    expect(handler.count).toBe(2);
    expect(handler.stats.opened - opened).toBe(2);
    // Same id, other family: another flow.
    fromGuest(echo(ECHO6, { id: 1000 }));
    await tap.next();
    expect(handler.count).toBe(3);
  });

  it('keeps flows with the same guest identifier to different remotes apart', async () => {
    const { handler, fromGuest, tap } = env;
    fromGuest(echo(ECHO4, { id: 500, seq: 1 }));
    fromGuest(echo(ECHO4, { id: 500, seq: 2, dst: SERVER4 }));
    expect(handler.count).toBe(2);
    // One flow has the identifier on the host; the other gets its own from the kernel.
    const flows = [...handler.flows()];
    const toGateway = flows.find((f) => Buffer.compare(f.remoteAddr, REMOTE4) === 0)!;
    const toServer = flows.find((f) => Buffer.compare(f.remoteAddr, SERVER4) === 0)!;
    expect([toGateway.guestId, toGateway.hostId]).toEqual([500, 500]);
    expect(toServer.guestId).toBe(500);
    expect(toServer.hostId).not.toBe(500);
    const replies = (await tap.next(2)).map(parseReply).sort((a, b) => a.seq - b.seq);
    expect(replies.map((r) => [r.src, r.dst, r.id, r.seq, r.checksumOk])).toEqual([
      ['198.51.100.1', '198.51.100.2', 500, 1, true],
      ['203.0.113.10', '198.51.100.2', 500, 2, true],
    ]);
    // Again, in the other order: each reply still reaches its own flow.
    fromGuest(echo(ECHO4, { id: 500, seq: 4, dst: SERVER4 }));
    fromGuest(echo(ECHO4, { id: 500, seq: 3 }));
    const again = (await tap.next(2)).map(parseReply).sort((a, b) => a.seq - b.seq);
    expect(again.map((r) => [r.src, r.id, r.seq])).toEqual([
      ['198.51.100.1', 500, 3],
      ['203.0.113.10', 500, 4],
    ]);
    expect(handler.stats.dropped).toBe(0);
  });

  it('returns three replies in order for three requests with increasing sequence numbers', async () => {
    const { handler, fromGuest, tap } = env;
    for (const family of [4, 6] as const) {
      for (let seq = 1; seq <= 3; seq++) fromGuest(echo(family === 4 ? ECHO4 : ECHO6, { seq }));
      const replies = (await tap.next(3)).map(parseReply);
      expect(replies.map((r) => r.seq)).toEqual([1, 2, 3]);
      expect(replies.every((r) => r.checksumOk && r.ipChecksumOk && r.family === family && r.data === PING_DATA)).toBe(true);
    }
    expect(handler.count).toBe(2);
  });

  it('maps identifiers both ways when the guest identifier is taken on the host', async () => {
    const { handler, fromGuest, tap } = env;
    for (const family of [4, 6] as const) {
      // A ping socket of "the host" holding identifier 4242.
      const taken = native.socket(family === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_DGRAM | C.SOCK_NONBLOCK, family === 4 ? C.IPPROTO_ICMP : C.IPPROTO_ICMPV6);
      expect(taken).toBeGreaterThanOrEqual(0);
      try {
        expect(native.bind(taken, new Uint8Array(family === 4 ? 4 : 16), 4242, 0)).toBe(0);
        fromGuest(echo(family === 4 ? ECHO4 : ECHO6, { id: 4242, seq: 7 }));
        const flow = [...handler.flows()].find((f) => f.family === family)!;
        expect(flow.guestId).toBe(4242);
        expect(flow.hostId).not.toBe(4242);
        const r = parseReply((await tap.next())[0]);
        expect([r.id, r.seq, r.checksumOk, r.data]).toEqual([4242, 7, true, PING_DATA]);
      } finally {
        native.close(taken);
      }
    }
  });

  it('closes a flow and its socket once idle for ICMP_FLOW_TIMEOUT_MS', async () => {
    const { handler, fromGuest, tap } = env;
    const t0 = Math.round(performance.now()); // whole milliseconds: the boundary below is exact
    fromGuest(echo(ECHO4, { id: 77 }), undefined, t0);
    await tap.next();
    const t1 = t0 + 30_000;
    fromGuest(echo(ECHO4, { id: 77, seq: 2 }), undefined, t1); // activity renews the flow
    await tap.next();
    const fd = [...handler.flows()][0].fd;
    const closed = handler.stats.closed;
    handler.expire(t1 + ICMP_FLOW_TIMEOUT_MS);
    expect(handler.count).toBe(1);
    expect(native.getsockname(fd, new Uint8Array(16), new Int32Array(3))).toBe(0);
    handler.expire(t1 + ICMP_FLOW_TIMEOUT_MS + 1);
    expect(handler.count).toBe(0);
    expect(handler.stats.closed - closed).toBe(1);
    expect(handler.stats.flows).toBe(0);
    expect(native.getsockname(fd, new Uint8Array(16), new Int32Array(3))).toBe(-E.EBADF);
    // The next request opens a new flow.
    fromGuest(echo(ECHO4, { id: 77, seq: 3 }));
    expect(parseReply((await tap.next())[0]).seq).toBe(3);
    expect(handler.count).toBe(1);
  });

  it('drops malformed and non-echo messages without disturbing an existing flow', async () => {
    const { handler, fromGuest, tap } = env;
    fromGuest(echo(ECHO4, { id: 9 }));
    fromGuest(echo(ECHO6, { id: 9 }));
    await tap.next(2);
    const fds = [...handler.flows()].map((f) => f.fd);
    const before = { ...handler.stats };
    let expectedDrops = 0;
    const bad = (f: Buffer, l4Len?: number): void => {
      expect(() => fromGuest(f, l4Len)).not.toThrow();
      expectedDrops++;
    };

    for (const literal of [ECHO4, ECHO6]) {
      const good = echo(literal, { id: 9, seq: 50 });
      const l4Len = good.length - (literal === ECHO4 ? 34 : 54);
      // Every truncation of the message (short header, or a checksum that no longer adds up).
      for (let len = 0; len < l4Len; len++) bad(good, len);
      // Longer than the IP header says.
      bad(Buffer.concat([good, Buffer.alloc(8)]), l4Len + 8);
      // An IP length that ends before the message does.
      const shortIp = Buffer.from(good);
      if (literal === ECHO4) shortIp.writeUInt16BE(20 + 4, 14 + 2);
      else shortIp.writeUInt16BE(4, 14 + 4);
      bad(shortIp, l4Len);
      // A payload byte changed after the checksum was computed.
      const corrupt = Buffer.from(good);
      corrupt[corrupt.length - 1] ^= 0x40;
      bad(corrupt);
      // Echo request with a nonzero code.
      bad(echo(literal, { id: 9, code: 1 }));
    }
    // Not echo requests: ICMP echo reply, destination unreachable, timestamp; ICMPv6
    // echo reply, neighbor solicitation (the engine routes NDP elsewhere), an ICMP type
    // number in ICMPv6.
    for (const type of [0, 3, 13]) bad(echo(ECHO4, { id: 9, type }));
    for (const type of [129, 135, 8]) bad(echo(ECHO6, { id: 9, type }));
    // An echo request that parses but may not leave: to an address the mapping refuses,
    // to multicast and broadcast.
    bad(echo(ECHO4, { id: 9, dst: Uint8Array.of(192, 0, 2, 7) }));
    bad(echo(ECHO4, { id: 9, dst: Uint8Array.of(224, 0, 0, 1) }));
    bad(echo(ECHO4, { id: 9, dst: Uint8Array.of(255, 255, 255, 255) }));
    bad(echo(ECHO6, { id: 9, dst: hex('ff020000000000000000000000000001') }));
    // Offsets pointing outside the buffer.
    expect(() => env.handler.tapHandler(4, echo(ECHO4), 90, 110, 64, performance.now())).not.toThrow();
    expectedDrops++;

    expect(handler.stats.dropped - before.dropped).toBe(expectedDrops);
    expect(handler.stats.requests).toBe(before.requests);
    expect(handler.stats.opened).toBe(before.opened);
    expect(handler.count).toBe(2);
    await new Promise((r) => setTimeout(r, 100));
    expect(tap.frames).toEqual([]);

    // The flows are untouched: same sockets, and they still work.
    fromGuest(echo(ECHO4, { id: 9, seq: 51 }));
    fromGuest(echo(ECHO6, { id: 9, seq: 51 }));
    const replies = (await tap.next(2)).map(parseReply);
    expect(replies.map((r) => [r.family, r.id, r.seq, r.checksumOk])).toEqual([
      [4, 9, 51, true],
      [6, 9, 51, true],
    ]);
    expect([...handler.flows()].map((f) => f.fd)).toEqual(fds);
  });

  it('leaves partial checksums for a tap with checksum offload', async () => {
    const offload = await makeHandler(createLogger({ name: 'test', level: 'silent' }), 10);
    try {
      expect(offload.out.checksumOffload).toBe(true);
      for (const literal of [ECHO4, ECHO6]) {
        offload.fromGuest(echo(literal, { id: 0x1234, seq: 9 }));
        const [d] = await offload.tap.next();
        // struct virtio_net_hdr: flags NEEDS_CSUM, csum_start, csum_offset.
        const csumStart = d.readUInt16LE(6);
        const csumOffset = d.readUInt16LE(8);
        expect([d[0], csumStart, csumOffset]).toEqual([1, literal === ECHO4 ? 34 : 54, 2]);
        // Finish the checksum as the kernel would: sum from csum_start to the end, field included.
        const f = Buffer.from(d.subarray(10));
        const field = csumStart + csumOffset;
        f.writeUInt16BE(referenceChecksum(f.subarray(csumStart)), field);
        const r = parseReply(f);
        expect([r.checksumOk, r.ipChecksumOk, r.id, r.seq, r.data]).toEqual([true, true, 0x1234, 9, PING_DATA]);
      }
    } finally {
      offload.close();
    }
    expect(offload.errors).toEqual([]);
  });

  it('delivers every reply of a batch when the tap frame table fills up in the middle of it', async () => {
    const small = await makeHandler(createLogger({ name: 'test', level: 'silent' }), 0, 2);
    try {
      // Loopback answers during send(): all five replies wait on the socket for one recvmmsg.
      for (let seq = 1; seq <= 5; seq++) {
        small.handler.tapHandler(4, echo(ECHO4, { seq }), 14, 34, ECHO4.length - 34, performance.now());
      }
      const replies = (await small.tap.next(5)).map(parseReply);
      expect(replies.map((r) => [r.seq, r.checksumOk, r.ipChecksumOk, r.data === PING_DATA])).toEqual(
        [1, 2, 3, 4, 5].map((seq) => [seq, true, true, true]),
      );
      expect(small.handler.stats.replies).toBe(5);
    } finally {
      small.close();
    }
    expect(small.errors).toEqual([]);
  });

  it('warns once, and only once, when the kernel refuses ping sockets, and drops the requests', async () => {
    const records: Array<{ level: number; msg: string }> = [];
    const log = pino({ level: 'trace', base: undefined, timestamp: false }, { write: (s: string) => void records.push(JSON.parse(s)) });
    const refused = await makeHandler(log);
    const range = fs.readFileSync(PING_GROUP_RANGE, 'utf8');
    setPingGroupRange('1 0');
    try {
      for (let id = 1; id <= 3; id++) {
        expect(() => refused.fromGuest(echo(ECHO4, { id }))).not.toThrow();
        expect(() => refused.fromGuest(echo(ECHO6, { id }))).not.toThrow();
      }
    } finally {
      setPingGroupRange(range);
      refused.close();
    }
    const warnings = records.filter((r) => r.level >= 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0].msg).toContain(`ping sockets are not permitted for group ${process.getegid!()}`);
    expect(warnings[0].msg).toContain('net.ipv4.ping_group_range is "1 0"');
    expect(refused.handler.count).toBe(0);
    expect(refused.handler.stats).toMatchObject({ flows: 0, opened: 0, requests: 0, dropped: 6 });
    expect(refused.tap.frames).toEqual([]);
    expect(refused.errors).toEqual([]);
  });
});
