// The UDP translation driven by literal frames, with real host sockets on loopback only.
// The handler runs standalone on a real Loop. Its "tap" is a connected UDP socket: every
// frame it sends to the guest arrives as one datagram at `guest`, where the test reads it.
// Frames longer than a UDP datagram can be (65507 bytes) are taken from TapOut's capture
// hook instead. The guest's remotes 198.51.100.1 and 2001:db8::1 map to 127.0.0.1 and ::1.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { native, C } from '../../src/native.js';
import { Loop } from '../../src/loop.js';
import { TapOut } from '../../src/l2/tapio.js';
import { createLogger } from '../../src/log.js';
import { FlowTable, type FlowContext, type HostTarget } from '../../src/flow.js';
import { TapDispatcher } from '../../src/tap.js';
import { createLinkState } from '../../src/l2/link.js';
import { UdpHandler } from '../../src/udp/udp.js';
import { readUdpTimeouts, UDP_TIMEOUTS_DEFAULT } from '../../src/udp/timeout.js';
import { UdpForwarder } from '../../src/fwd/udpfwd.js';
import { ListenTable } from '../../src/fwd/fwd.js';
import { parsePortSpecs } from '../../src/fwd/spec.js';
import type { Config } from '../../src/conf.js';

const GUEST_MAC = '02aabbccddee';
const OUR_MAC = '9a559a559a55';

/**
 * A UDP/IPv4 datagram from 198.51.100.2:40001 to 198.51.100.1:53 carrying "hello", as
 * Linux sends it (DF, TTL 64). Ports, lengths, payload and checksums are patched per test.
 */
const UDP4_HEX =
  OUR_MAC + GUEST_MAC + '0800' +
  '45000021' + '3c4a4000' + '4011' + 'aa17' + 'c6336402' + 'c6336401' +
  '9c41' + '0035' + '000d' + 'cb20' +
  '68656c6c6f';

/** The same over IPv6: 2001:db8::2 port 40001 to 2001:db8::1 port 53, with a flow label. */
const UDP6_HEX =
  OUR_MAC + GUEST_MAC + '86dd' +
  '600c1f3a' + '000d' + '11' + '40' +
  '20010db8000000000000000000000002' + '20010db8000000000000000000000001' +
  '9c41' + '0035' + '000d' + 'c416' +
  '68656c6c6f';

// ---------------------------------------------------------------------------------------
// Checksums, written here independently of src/l2/checksum.ts.

function onesSum(data: Buffer, sum = 0): number {
  for (let i = 0; i < data.length; i += 2) sum += (data[i] << 8) | (i + 1 < data.length ? data[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

function pseudo(src: Buffer, dst: Buffer, proto: number, len: number): Buffer {
  const p = Buffer.alloc(src.length + dst.length + (src.length === 4 ? 4 : 8));
  src.copy(p, 0);
  dst.copy(p, src.length);
  if (src.length === 4) {
    p[9] = proto;
    p.writeUInt16BE(len, 10);
  } else {
    p.writeUInt32BE(len, 32);
    p[39] = proto;
  }
  return p;
}

/** Whether a segment (checksum field included) sums to 0xffff with its pseudo-header (none for ICMP over IPv4). */
function checksumOk(segment: Buffer, src?: Buffer, dst?: Buffer, proto = 0): boolean {
  const start = src && dst ? onesSum(pseudo(src, dst, proto, segment.length)) : 0;
  return onesSum(segment, start) === 0xffff;
}

/** The checksum value for a segment whose checksum field (at `field`) is zero. */
function checksumFor(segment: Buffer, field: number, src?: Buffer, dst?: Buffer, proto = 0): number {
  segment.writeUInt16BE(0, field);
  const start = src && dst ? onesSum(pseudo(src, dst, proto, segment.length)) : 0;
  const c = ~onesSum(segment, start) & 0xffff;
  return c === 0 && proto === 17 ? 0xffff : c;
}

// ---------------------------------------------------------------------------------------
// Frames from the guest

/** A UDP/IPv4 frame from the template with the given ports and payload; every length and checksum patched. */
function udp4(sport: number, dport: number, payload: Buffer): Buffer {
  const f = Buffer.concat([Buffer.from(UDP4_HEX, 'hex').subarray(0, 42), payload]);
  f.writeUInt16BE(20 + 8 + payload.length, 16);
  f.writeUInt16BE(0, 24);
  f.writeUInt16BE(~onesSum(f.subarray(14, 34)) & 0xffff, 24);
  f.writeUInt16BE(sport, 34);
  f.writeUInt16BE(dport, 36);
  f.writeUInt16BE(8 + payload.length, 38);
  f.writeUInt16BE(checksumFor(f.subarray(34), 6, f.subarray(26, 30), f.subarray(30, 34), 17), 40);
  return f;
}

/** A UDP/IPv6 frame from the template with the given ports and payload. */
function udp6(sport: number, dport: number, payload: Buffer): Buffer {
  const f = Buffer.concat([Buffer.from(UDP6_HEX, 'hex').subarray(0, 62), payload]);
  f.writeUInt16BE(8 + payload.length, 18);
  f.writeUInt16BE(sport, 54);
  f.writeUInt16BE(dport, 56);
  f.writeUInt16BE(8 + payload.length, 58);
  f.writeUInt16BE(checksumFor(f.subarray(54), 6, f.subarray(22, 38), f.subarray(38, 54), 17), 60);
  return f;
}

// ---------------------------------------------------------------------------------------
// Frames to the guest

interface Frame {
  raw: Buffer;
  dstMac: string;
  srcMac: string;
  family: 4 | 6;
  /** IP header and what follows it (up to the IP length). */
  ip: Buffer;
  ipHeaderOk: boolean;
  proto: number;
  src: Buffer;
  dst: Buffer;
  /** Layer-4 segment. */
  l4: Buffer;
  /** The virtio-net header, when the tap has one. */
  vnet?: Buffer;
}

function parseFrame(datagram: Buffer, vnetHdrLen = 0): Frame {
  const vnet = vnetHdrLen ? datagram.subarray(0, vnetHdrLen) : undefined;
  const raw = datagram.subarray(vnetHdrLen);
  const type = raw.readUInt16BE(12);
  const ipAll = raw.subarray(14);
  if (type === 0x0800) {
    const ip = ipAll.subarray(0, ipAll.readUInt16BE(2));
    const ihl = (ip[0] & 15) * 4;
    return {
      raw, vnet, family: 4, ip,
      dstMac: raw.subarray(0, 6).toString('hex'),
      srcMac: raw.subarray(6, 12).toString('hex'),
      ipHeaderOk: onesSum(ip.subarray(0, ihl)) === 0xffff,
      proto: ip[9], src: ip.subarray(12, 16), dst: ip.subarray(16, 20), l4: ip.subarray(ihl),
    };
  }
  expect(type).toBe(0x86dd);
  const ip = ipAll.subarray(0, 40 + ipAll.readUInt16BE(4));
  return {
    raw, vnet, family: 6, ip,
    dstMac: raw.subarray(0, 6).toString('hex'),
    srcMac: raw.subarray(6, 12).toString('hex'),
    ipHeaderOk: true,
    proto: ip[6], src: ip.subarray(8, 24), dst: ip.subarray(24, 40), l4: ip.subarray(40),
  };
}

const ip4 = (s: string) => Buffer.from(s.split('.').map(Number));
const REMOTE4 = ip4('198.51.100.1');
const GUEST4 = ip4('198.51.100.2');
const REMOTE6 = Buffer.from('20010db8000000000000000000000001', 'hex');
const GUEST6 = Buffer.from('20010db8000000000000000000000002', 'hex');
const LOOPBACK4 = Uint8Array.of(127, 0, 0, 1);
const LOOPBACK6 = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);

// ---------------------------------------------------------------------------------------
// A handler with its loop, tap and guest

interface Rig {
  loop: Loop;
  out: TapOut;
  udp: UdpHandler;
  /** The engine's dispatcher with UDP alone: groups frames into runs of one flow (tap.ts). */
  tap: TapDispatcher;
  guest: dgram.Socket;
  tapFd: number;
  received: Buffer[];
  waiters: Array<() => void>;
  errors: unknown[];
}

async function makeRig(vnetHdrLen: number, level: 'silent' | 'trace' = 'silent', maxFrames = 512): Promise<Rig> {
  const guest = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  await new Promise<void>((r) => guest.bind(0, '127.0.0.1', r));
  const rig = { guest, received: [] as Buffer[], waiters: [] as Array<() => void>, errors: [] as unknown[] } as Rig;
  const arrived = (m: Buffer) => {
    rig.received.push(m);
    const w = rig.waiters;
    rig.waiters = [];
    for (const f of w) f();
  };
  guest.on('message', arrived);
  rig.tapFd = native.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
  expect(native.connect(rig.tapFd, LOOPBACK4, guest.address().port, 0)).toBe(0);
  native.setsockoptInt(rig.tapFd, C.SOL_SOCKET, C.SO_SNDBUF, 4 << 20);
  // A frame too long for a UDP datagram cannot cross the fake tap: take it from the capture hook.
  const capture = (buf: Buffer, frames: Int32Array, count: number) => {
    for (let i = 0; i < count; i++) {
      if (frames[2 * i + 1] > 65507) arrived(Buffer.from(buf.subarray(frames[2 * i], frames[2 * i] + frames[2 * i + 1])));
    }
  };
  rig.loop = new Loop((err) => rig.errors.push(err), 50);
  rig.loop.unref();
  rig.out = new TapOut(rig.tapFd, vnetHdrLen, 8 << 20, maxFrames, capture);
  rig.loop.onBatchEnd(() => rig.out.flush());
  const logFd = level === 'silent' ? undefined : fs.openSync('/dev/null', 'w');
  const ctx: FlowContext = {
    flows: new FlowTable(),
    loop: rig.loop,
    out: rig.out,
    log: createLogger({ name: 'test', level, fd: logFd }),
    mtu: 65520,
    ourMac: Buffer.from(OUR_MAC, 'hex'),
    guestMac: () => Buffer.from(GUEST_MAC, 'hex'),
    natFromTap: (family, proto, dst, port): HostTarget | null => {
      expect(proto).toBe(17);
      if (family === 4 && REMOTE4.equals(dst)) return { addr: LOOPBACK4, port, scopeId: 0 };
      if (family === 6 && REMOTE6.equals(dst)) return { addr: LOOPBACK6, port, scopeId: 0 };
      return null; // never anywhere else
    },
  };
  rig.udp = new UdpHandler(ctx);
  rig.tap = new TapDispatcher({
    log: ctx.log, out: rig.out, link: createLinkState({ ourMac: ctx.ourMac }), ip4: true, ip6: true,
    tcp: null, udp: rig.udp, icmp: null, ndp: false, dhcp: null, dhcpv6: null, ra: null,
  });
  return rig;
}

function closeRig(rig: Rig | undefined): void {
  if (!rig) return;
  rig.udp.closeAll();
  rig.loop.close();
  native.close(rig.tapFd);
  rig.guest.close();
}

function nextFrame(rig: Rig, pred: (f: Frame) => boolean = () => true, vnetHdrLen = 0, timeoutMs = 3000): Promise<Frame> {
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error('no matching frame from the handler')), timeoutMs);
    const check = () => {
      const i = rig.received.findIndex((f) => pred(parseFrame(f, vnetHdrLen)));
      if (i < 0) {
        rig.waiters.push(check);
        return;
      }
      clearTimeout(deadline);
      const [f] = rig.received.splice(i, 1);
      resolve(parseFrame(f, vnetHdrLen));
    };
    check();
  });
}

/**
 * Feed frames from "the guest" as one batch, all in one buffer as the tap reader leaves
 * them, through the dispatcher (runs of one flow); then end the batch.
 */
function fromGuest(rig: Rig, frames: Buffer[], now = performance.now()): void {
  const buf = Buffer.concat(frames);
  let off = 0;
  for (const f of frames) {
    rig.tap.frame(buf, off, f.length, now);
    off += f.length;
  }
  rig.tap.flushRuns(now);
  rig.out.flush();
}

interface Server {
  socket: dgram.Socket;
  port: number;
  got: Array<{ data: Buffer; port: number }>;
}

/** A UDP server on loopback that records datagrams and answers each with `reply(data)` (if given). */
async function server(type: 'udp4' | 'udp6', reply?: (data: Buffer, port: number) => Buffer): Promise<Server> {
  const socket = dgram.createSocket({ type, recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
  await new Promise<void>((r) => socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', r));
  const s: Server = { socket, port: socket.address().port, got: [] };
  socket.on('message', (data, rinfo) => {
    s.got.push({ data, port: rinfo.port });
    if (reply) socket.send(reply(data, s.port), rinfo.port, rinfo.address);
  });
  return s;
}

/** A loopback UDP port nobody listens on (bound, then closed). */
async function freePort(type: 'udp4' | 'udp6'): Promise<number> {
  const s = dgram.createSocket(type);
  await new Promise<void>((r) => s.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const servers: Server[] = [];
async function track(s: Promise<Server>): Promise<Server> {
  const got = await s;
  servers.push(got);
  return got;
}

let rig: Rig;

beforeAll(async () => {
  rig = await makeRig(0);
});

afterEach(() => {
  rig.udp.closeAll();
  rig.received.length = 0;
  for (const s of servers.splice(0)) s.socket.close();
  expect(rig.errors).toEqual([]);
});

afterAll(() => {
  closeRig(rig);
});

describe('UDP translation', () => {
  it('relays a datagram to the remote and its reply back to the guest (IPv4)', async () => {
    const echo = await track(server('udp4', () => Buffer.from('hello, guest')));
    const guestPort = await freePort('udp4');
    fromGuest(rig, [udp4(guestPort, echo.port, Buffer.from('hello'))]);
    const f = await nextFrame(rig);
    // The remote saw the guest's own source port.
    expect(echo.got).toEqual([{ data: Buffer.from('hello'), port: guestPort }]);

    expect(f.dstMac).toBe(GUEST_MAC);
    expect(f.srcMac).toBe(OUR_MAC);
    expect(f.family).toBe(4);
    expect(f.ip[0]).toBe(0x45);
    expect(f.ip.readUInt16BE(2)).toBe(20 + 8 + 12);
    expect(f.ip[8]).toBeGreaterThan(0);
    expect(f.proto).toBe(17);
    expect(f.ipHeaderOk).toBe(true);
    // From the remote as the guest addressed it, not from the host's loopback.
    expect(f.src).toEqual(REMOTE4);
    expect(f.dst).toEqual(GUEST4);
    expect(f.l4.readUInt16BE(0)).toBe(echo.port);
    expect(f.l4.readUInt16BE(2)).toBe(guestPort);
    expect(f.l4.readUInt16BE(4)).toBe(8 + 12);
    expect(f.l4.readUInt16BE(6)).not.toBe(0);
    expect(checksumOk(f.l4, f.src, f.dst, 17)).toBe(true);
    expect(f.l4.subarray(8).toString()).toBe('hello, guest');

    expect(rig.udp.count).toBe(1);
    expect(rig.udp.stats).toMatchObject({ flows: 1, datagramsFromTap: 1, bytesFromTap: 5, datagramsToTap: 1, bytesToTap: 12 });

    // The same flow carries the next datagram: no new socket.
    const opened = rig.udp.stats.opened;
    fromGuest(rig, [udp4(guestPort, echo.port, Buffer.from('again'))]);
    const g = await nextFrame(rig);
    expect(g.l4.subarray(8).toString()).toBe('hello, guest');
    expect(rig.udp.stats.opened).toBe(opened);
    expect(echo.got[1]).toEqual({ data: Buffer.from('again'), port: guestPort });
  });

  it('relays a datagram and its reply over IPv6', async () => {
    const echo = await track(server('udp6', (d) => Buffer.concat([Buffer.from('re: '), d])));
    const guestPort = await freePort('udp6');
    fromGuest(rig, [udp6(guestPort, echo.port, Buffer.from('hello six'))]);
    const f = await nextFrame(rig);
    expect(echo.got).toEqual([{ data: Buffer.from('hello six'), port: guestPort }]);
    expect(f.family).toBe(6);
    expect(f.dstMac).toBe(GUEST_MAC);
    expect(f.ip[0] >> 4).toBe(6);
    expect(f.ip.readUInt16BE(4)).toBe(8 + 13);
    expect(f.proto).toBe(17);
    expect(f.ip[7]).toBeGreaterThan(0);
    expect(f.src).toEqual(REMOTE6);
    expect(f.dst).toEqual(GUEST6);
    expect(f.l4.readUInt16BE(0)).toBe(echo.port);
    expect(f.l4.readUInt16BE(2)).toBe(guestPort);
    expect(f.l4.readUInt16BE(4)).toBe(8 + 13);
    expect(checksumOk(f.l4, f.src, f.dst, 17)).toBe(true);
    expect(f.l4.subarray(8).toString()).toBe('re: hello six');
  });

  it('gives one guest port talking to three remote ports three flows, each reply from its port', async () => {
    const answer = (_: Buffer, port: number) => Buffer.from(`from ${port}`);
    const s = [await track(server('udp4', answer)), await track(server('udp4', answer)), await track(server('udp4', answer))];
    const guestPort = await freePort('udp4');
    fromGuest(rig, s.map((x, i) => udp4(guestPort, x.port, Buffer.from(`to ${i}`))));
    expect(rig.udp.count).toBe(3);
    const frames = [await nextFrame(rig), await nextFrame(rig), await nextFrame(rig)];
    for (const x of s) {
      const f = frames.find((y) => y.l4.readUInt16BE(0) === x.port);
      expect(f).toBeDefined();
      expect(f!.l4.subarray(8).toString()).toBe(`from ${x.port}`);
      expect(f!.l4.readUInt16BE(2)).toBe(guestPort);
      expect(f!.src).toEqual(REMOTE4);
      expect(checksumOk(f!.l4, f!.src, f!.dst, 17)).toBe(true);
      // Every host socket has the guest's port (SO_REUSEADDR), connected to its own remote.
      expect(x.got).toEqual([{ data: Buffer.from(`to ${s.indexOf(x)}`), port: guestPort }]);
    }
  });

  it('carries a 65507-byte datagram both ways over IPv4 at MTU 65520', async () => {
    const echo = await track(server('udp4', (d) => d));
    const guestPort = await freePort('udp4');
    const payload = Buffer.alloc(65507);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 8)) & 0xff;
    const frame = udp4(guestPort, echo.port, payload);
    expect(frame.length).toBe(14 + 20 + 8 + 65507);
    fromGuest(rig, [frame]);
    const f = await nextFrame(rig);
    expect(echo.got.length).toBe(1);
    expect(echo.got[0].data.equals(payload)).toBe(true);
    expect(f.raw.length).toBe(14 + 20 + 8 + 65507);
    expect(f.ip.readUInt16BE(2)).toBe(65535);
    expect(f.ipHeaderOk).toBe(true);
    expect(f.l4.readUInt16BE(4)).toBe(65515);
    expect(checksumOk(f.l4, f.src, f.dst, 17)).toBe(true);
    expect(f.l4.subarray(8).equals(payload)).toBe(true);
    expect(rig.udp.stats.bytesToTap).toBeGreaterThanOrEqual(65507);
  });

  it('sends the datagrams of one batch with one sendmmsg per flow', async () => {
    const a = await track(server('udp4'));
    const b = await track(server('udp6'));
    const guestPort = await freePort('udp4');
    const before = rig.udp.sendmmsgCalls;
    const fromBefore = rig.udp.stats.datagramsFromTap;
    const batch: Buffer[] = [];
    for (let i = 0; i < 5; i++) {
      batch.push(udp4(guestPort, a.port, Buffer.from(`a${i}`)));
      if (i < 3) batch.push(udp6(guestPort, b.port, Buffer.from(`b${i}`)));
    }
    fromGuest(rig, batch);
    expect(rig.udp.sendmmsgCalls - before).toBe(2);
    expect(rig.udp.stats.datagramsFromTap - fromBefore).toBe(8);
    await expect.poll(() => a.got.length).toBe(5);
    await expect.poll(() => b.got.length).toBe(3);
    expect(a.got.map((g) => g.data.toString())).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
    expect(b.got.map((g) => g.data.toString())).toEqual(['b0', 'b1', 'b2']);
  });

  it('expires a one-way flow after 30 s of the time it is given (the kernel default upstream reads), activity keeping it', async () => {
    const echo = await track(server('udp4'));
    const guestPort = await freePort('udp4');
    const T = UDP_TIMEOUTS_DEFAULT.timeoutMs;
    const t0 = performance.now();
    fromGuest(rig, [udp4(guestPort, echo.port, Buffer.from('one'))], t0);
    expect(rig.udp.count).toBe(1);
    const closed = rig.udp.stats.closed;
    rig.udp.expire(t0 + T);
    expect(rig.udp.count).toBe(1);
    // Traffic keeps it alive.
    fromGuest(rig, [udp4(guestPort, echo.port, Buffer.from('two'))], t0 + 20_000);
    rig.udp.expire(t0 + T + 1);
    expect(rig.udp.count).toBe(1);
    rig.udp.expire(t0 + 20_000 + T + 1);
    expect(rig.udp.count).toBe(0);
    expect(rig.udp.stats.closed).toBe(closed + 1);
    expect(rig.udp.stats.flows).toBe(0);
    // The next datagram opens a new flow.
    const opened = rig.udp.stats.opened;
    fromGuest(rig, [udp4(guestPort, echo.port, Buffer.from('three'))]);
    expect(rig.udp.stats.opened).toBe(opened + 1);
    await expect.poll(() => echo.got.map((g) => g.data.toString())).toEqual(['one', 'two', 'three']);
  });

  it('a query answered once is not a stream (30 s); answers to more than one datagram make one (120 s), as upstream', async () => {
    const echo = await track(server('udp4', (d) => d));
    const T = UDP_TIMEOUTS_DEFAULT;
    // One query, one answer.
    const queryPort = await freePort('udp4');
    const t0 = performance.now();
    fromGuest(rig, [udp4(queryPort, echo.port, Buffer.from('query'))], t0);
    await expect.poll(() => rig.udp.stats.datagramsToTap).toBeGreaterThanOrEqual(1);
    // The answer's arrival was activity too, at the real clock.
    const t1 = performance.now();
    rig.udp.expire(t1 + T.timeoutMs + 1);
    expect(rig.udp.count).toBe(0);
    // Two datagrams each way: a stream, kept past 30 s idle, closed after 120 s.
    const toTap = rig.udp.stats.datagramsToTap;
    const streamPort = await freePort('udp4');
    fromGuest(rig, [udp4(streamPort, echo.port, Buffer.from('a')), udp4(streamPort, echo.port, Buffer.from('b'))], t0);
    await expect.poll(() => rig.udp.stats.datagramsToTap).toBe(toTap + 2);
    const t2 = performance.now();
    rig.udp.expire(t2 + T.timeoutMs + 1);
    expect(rig.udp.count).toBe(1);
    rig.udp.expire(t2 + T.streamTimeoutMs + 1);
    expect(rig.udp.count).toBe(0);
  });

  it('reads its timeouts from the kernel\'s conntrack settings, as upstream; defaults where they are missing or malformed', () => {
    const files: Record<string, string> = {
      '/proc/sys/net/netfilter/nf_conntrack_udp_timeout': '45\n',
      '/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream': '200\n',
    };
    const read = (f: string): string => {
      if (!(f in files)) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return files[f];
    };
    expect(readUdpTimeouts(read)).toEqual({ timeoutMs: 45_000, streamTimeoutMs: 200_000 });
    files['/proc/sys/net/netfilter/nf_conntrack_udp_timeout'] = 'x\n';
    delete files['/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream'];
    expect(readUdpTimeouts(read)).toEqual({ timeoutMs: 30_000, streamTimeoutMs: 120_000 });
  });

  it('relays port unreachable as ICMP 3/3 quoting the guest datagram (IPv4)', async () => {
    const closedPort = await freePort('udp4');
    const guestPort = await freePort('udp4');
    const relayed = rig.udp.stats.errorsRelayed;
    const sent = udp4(guestPort, closedPort, Buffer.from('anyone?'));
    fromGuest(rig, [sent]);
    const f = await nextFrame(rig);
    expect(f.family).toBe(4);
    expect(f.proto).toBe(1);
    expect(f.ipHeaderOk).toBe(true);
    expect(f.src).toEqual(REMOTE4);
    expect(f.dst).toEqual(GUEST4);
    expect(f.dstMac).toBe(GUEST_MAC);
    expect(f.l4[0]).toBe(3);
    expect(f.l4[1]).toBe(3);
    expect(checksumOk(f.l4)).toBe(true);
    // The quoted datagram: as the guest sent it (addresses, ports, lengths, checksum, payload).
    const inner = f.l4.subarray(8);
    expect(inner[0]).toBe(0x45);
    expect(inner[9]).toBe(17);
    expect(inner.readUInt16BE(2)).toBe(20 + 8 + 7);
    expect(onesSum(inner.subarray(0, 20))).toBe(0xffff);
    expect(inner.subarray(12, 16)).toEqual(GUEST4);
    expect(inner.subarray(16, 20)).toEqual(REMOTE4);
    expect(inner.subarray(20)).toEqual(sent.subarray(34));
    expect(rig.udp.stats.errorsRelayed).toBe(relayed + 1);
    // The flow stays: UDP errors are not fatal.
    expect(rig.udp.count).toBe(1);

    // A long datagram is quoted in part: the ICMP packet stays within 576 bytes.
    const long = Buffer.alloc(2000, 0x5a);
    fromGuest(rig, [udp4(guestPort, closedPort, long)]);
    const g = await nextFrame(rig);
    expect(g.proto).toBe(1);
    expect(g.ip.length).toBe(576);
    expect(g.l4[0]).toBe(3);
    expect(g.l4[1]).toBe(3);
    expect(checksumOk(g.l4)).toBe(true);
    const quoted = g.l4.subarray(8);
    expect(quoted.readUInt16BE(2)).toBe(20 + 8 + 2000);
    expect(quoted.readUInt16BE(20)).toBe(guestPort);
    expect(quoted.readUInt16BE(22)).toBe(closedPort);
    expect(quoted.readUInt16BE(24)).toBe(8 + 2000);
    expect(quoted.subarray(28).equals(long.subarray(0, 576 - 56))).toBe(true);
  });

  it('relays port unreachable as ICMPv6 1/4 quoting the guest datagram (IPv6)', async () => {
    const closedPort = await freePort('udp6');
    const guestPort = await freePort('udp6');
    const relayed = rig.udp.stats.errorsRelayed;
    const sent = udp6(guestPort, closedPort, Buffer.from('anyone six?'));
    fromGuest(rig, [sent]);
    const f = await nextFrame(rig);
    expect(f.family).toBe(6);
    expect(f.proto).toBe(58);
    expect(f.src).toEqual(REMOTE6);
    expect(f.dst).toEqual(GUEST6);
    expect(f.l4[0]).toBe(1);
    expect(f.l4[1]).toBe(4);
    expect(checksumOk(f.l4, f.src, f.dst, 58)).toBe(true);
    const inner = f.l4.subarray(8);
    expect(inner[0] >> 4).toBe(6);
    expect(inner[6]).toBe(17);
    expect(inner.readUInt16BE(4)).toBe(8 + 11);
    expect(inner.subarray(8, 24)).toEqual(GUEST6);
    expect(inner.subarray(24, 40)).toEqual(REMOTE6);
    expect(inner.subarray(40)).toEqual(sent.subarray(54));

    const long = Buffer.alloc(3000, 0xa5);
    fromGuest(rig, [udp6(guestPort, closedPort, long)]);
    const g = await nextFrame(rig);
    expect(g.ip.length).toBe(1280);
    expect(g.l4[0]).toBe(1);
    expect(g.l4[1]).toBe(4);
    expect(checksumOk(g.l4, g.src, g.dst, 58)).toBe(true);
    expect(g.l4.readUInt16BE(8 + 4)).toBe(8 + 3000);
    expect(g.l4.readUInt16BE(8 + 40 + 4)).toBe(8 + 3000);
    expect(g.l4.subarray(8 + 48).equals(long.subarray(0, 1280 - 96))).toBe(true);
    expect(rig.udp.stats.errorsRelayed).toBe(relayed + 2);
  });

  it('drops malformed datagrams without throwing and without disturbing a flow', async () => {
    const echo = await track(server('udp4', (d) => d));
    const guestPort = await freePort('udp4');
    fromGuest(rig, [udp4(guestPort, echo.port, Buffer.from('first'))]);
    await nextFrame(rig);
    const dropped = rig.udp.stats.dropped;
    const good = udp4(guestPort, echo.port, Buffer.from('hello'));
    const now = performance.now();
    let bad = 0;
    const feed = (buf: Buffer, l4Len: number, family: 4 | 6 = 4) => {
      expect(() => rig.udp.tapFrame(family, buf, 14, family === 4 ? 34 : 54, l4Len, now)).not.toThrow();
      bad++;
    };
    // Every truncation, of the frame and of the IP payload the caller reports.
    for (let cut = 0; cut < good.length; cut++) feed(Buffer.from(good.subarray(0, cut)), Math.max(0, cut - 34));
    for (let l4Len = 0; l4Len < 13; l4Len++) feed(good, l4Len);
    // An IP payload length past the end of the buffer.
    feed(good, 200);
    // UDP lengths below the header size, and past the IP payload.
    for (const len of [0, 1, 7, 14, 0xffff]) {
      const f = Buffer.from(good);
      f.writeUInt16BE(len, 38);
      feed(f, 13);
    }
    // A fragment, port 0 both ways, broadcast, multicast, and a destination the mapping refuses.
    const frag = Buffer.from(good);
    frag.writeUInt16BE(0x2000, 20);
    feed(frag, 13);
    for (const [o, v] of [[34, 0], [36, 0]] as const) {
      const f = Buffer.from(good);
      f.writeUInt16BE(v, o);
      feed(f, 13);
    }
    for (const dst of ['255.255.255.255', '224.0.0.251', '203.0.113.5']) {
      const f = Buffer.from(good);
      ip4(dst).copy(f, 30);
      feed(f, 13);
    }
    const six = udp6(guestPort, echo.port, Buffer.from('x'));
    for (let cut = 54; cut < six.length; cut++) feed(Buffer.from(six.subarray(0, cut)), cut - 54, 6);
    Buffer.from('ff020000000000000000000000000001', 'hex').copy(six, 38);
    feed(six, 9, 6);
    rig.out.flush();

    expect(rig.udp.stats.dropped - dropped).toBe(bad);
    expect(rig.udp.count).toBe(1);
    expect(echo.got.length).toBe(1);

    // Bytes past the UDP length (inside the IP payload) are ignored, and the flow works as before.
    const padded = Buffer.concat([good, Buffer.from('pad')]);
    padded.writeUInt16BE(20 + 8 + 5 + 3, 16);
    fromGuest(rig, [padded]);
    const f = await nextFrame(rig);
    expect(f.l4.subarray(8).toString()).toBe('hello');
    expect(echo.got.map((g) => g.data.toString())).toEqual(['first', 'hello']);
    expect(rig.udp.count).toBe(1);
  });
});

describe('native recvErr', () => {
  it('checks its arguments, reports an empty queue as -EAGAIN and reads an ICMP error', async () => {
    const fd = native.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
    try {
      const buf = Buffer.alloc(32);
      const info = new Int32Array(7);
      const offender = new Uint8Array(16);
      expect(() => native.recvErr(fd, buf, 0, 33, info, offender)).toThrow(/recvErr/);
      expect(() => native.recvErr(fd, buf, 0, 8, new Int32Array(6), offender)).toThrow(/recvErr: info/);
      expect(() => native.recvErr(fd, buf, 0, 8, info, new Uint8Array(4))).toThrow(/recvErr: offender/);
      expect(() => (native.recvErr as (...a: unknown[]) => number)(fd, buf, 0, 8, info)).toThrow(TypeError);
      expect(native.recvErr(fd, buf, 0, 32, info, offender)).toBe(-11);
      expect(native.setsockoptInt(fd, C.IPPROTO_IP, 11 /* IP_RECVERR */, 1)).toBe(0);
      expect(native.connect(fd, LOOPBACK4, await freePort('udp4'), 0)).toBe(0);
      const payload = Buffer.from('0123456789');
      expect(native.send(fd, payload, 0, payload.length, 0)).toBe(10);
      expect(native.pollFd(fd, 1, 2000) & C.EPOLLERR).toBe(C.EPOLLERR);
      // Room for 4 bytes of the payload: the rest is cut and flagged.
      expect(native.recvErr(fd, buf, 3, 4, info, offender)).toBe(4);
      expect(buf.subarray(3, 7).toString()).toBe('0123');
      expect([...info]).toEqual([111 /* ECONNREFUSED */, 2 /* ICMP */, 3, 3, 0, C.AF_INET, info[6]]);
      expect(info[6] & 0x20).toBe(0x20); // MSG_TRUNC
      expect([...offender.subarray(0, 4)]).toEqual([127, 0, 0, 1]);
      expect(native.recvErr(fd, buf, 0, 32, info, offender)).toBe(-11);
    } finally {
      native.close(fd);
    }
  });
});

describe('UDP bursts from the host', () => {
  let small: Rig | undefined;

  afterAll(() => closeRig(small));

  it('receives a burst with one recvmmsg, even past the frame table of the tap', async () => {
    small = await makeRig(0, 'silent', 8);
    // The remote is a native socket, so the whole burst is queued before the loop runs.
    const remote = native.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
    try {
      expect(native.bind(remote, LOOPBACK4, 0, 0)).toBe(0);
      const addr = new Uint8Array(16);
      const info = new Int32Array(3);
      native.getsockname(remote, addr, info);
      const guestPort = await freePort('udp4');
      fromGuest(small, [udp4(guestPort, info[1], Buffer.from('go'))]);
      // Answer to where the guest's datagram came from (the flow's socket).
      const got = Buffer.alloc(64);
      const from = new Int32Array(5);
      const fromAddr = new Uint8Array(16);
      expect(native.pollFd(remote, 1, 2000)).toBe(1);
      expect(native.recvmmsg(remote, got, Int32Array.of(0), 64, 1, from, fromAddr)).toBe(1);
      expect(got.subarray(0, from[0]).toString()).toBe('go');
      const flowPort = from[2];
      expect(flowPort).toBe(guestPort);
      const burst = 20;
      const data = Buffer.alloc(burst * 16);
      const offs = new Int32Array(burst);
      const lens = new Int32Array(burst).fill(16);
      const dest = new Int32Array(3 * burst);
      const addrs = new Uint8Array(16 * burst);
      for (let i = 0; i < burst; i++) {
        data.write(`burst ${String(i).padStart(10, '0')}`, i * 16);
        offs[i] = i * 16;
        dest.set([C.AF_INET, flowPort, 0], 3 * i);
        addrs.set(LOOPBACK4, 16 * i);
      }
      const before = small.udp.recvmmsgCalls;
      expect(native.sendmmsg(remote, data, offs, lens, burst, dest, addrs)).toBe(burst);
      const frames: Frame[] = [];
      for (let i = 0; i < burst; i++) frames.push(await nextFrame(small));
      expect(frames.map((f) => f.l4.subarray(8).toString())).toEqual(Array.from({ length: burst }, (_, i) => `burst ${String(i).padStart(10, '0')}`));
      for (const f of frames) expect(checksumOk(f.l4, f.src, f.dst, 17)).toBe(true);
      expect(small.udp.recvmmsgCalls - before).toBe(1);
      expect(small.udp.stats.datagramsToTap).toBe(burst);
      expect(small.out.dropped).toBe(0);
    } finally {
      native.close(remote);
    }
  });
});

describe('UDP to a tap with virtio-net headers', () => {
  let vrig: Rig | undefined;

  afterAll(() => closeRig(vrig));

  it('leaves a partial checksum for the kernel to finish, and traces without failing', async () => {
    vrig = await makeRig(10, 'trace');
    const echo = await track(server('udp4', () => Buffer.from('offloaded reply')));
    const guestPort = await freePort('udp4');
    fromGuest(vrig, [udp4(guestPort, echo.port, Buffer.from('hi'))]);
    const f = await nextFrame(vrig, () => true, 10);
    const vnet = f.vnet!;
    expect(vnet[0]).toBe(1); // VIRTIO_NET_HDR_F_NEEDS_CSUM
    expect(vnet.readUInt16LE(6)).toBe(14 + 20); // csum_start: the UDP header
    expect(vnet.readUInt16LE(8)).toBe(6); // csum_offset: UDP checksum field
    expect(f.ipHeaderOk).toBe(true);
    // The field holds the pseudo-header sum; finishing the sum from csum_start as the kernel does gives a valid datagram.
    const l4 = Buffer.from(f.l4);
    expect(l4.readUInt16BE(6)).toBe(onesSum(pseudo(f.src, f.dst, 17, l4.length)));
    l4.writeUInt16BE(~onesSum(l4) & 0xffff, 6);
    expect(checksumOk(l4, f.src, f.dst, 17)).toBe(true);
    expect(l4.subarray(8).toString()).toBe('offloaded reply');
    expect(vrig.errors).toEqual([]);
  });
});

describe('UDP port forwarding into the guest (-u), through the tap', () => {
  it("opens a flow from the source's address and port, and the guest's reply leaves from the forwarded port", async () => {
    const hostPort = await freePort('udp4');
    const table = new ListenTable(rig.loop);
    // The gateway (REMOTE4) stands for the host's loopback, as in pasta(1) and passt(1).
    const config = { ip4: { addr: GUEST4, prefixLen: 24, gateway: REMOTE4 }, ip6: null, mapHostLoopback4: null, mapHostLoopback6: null, mapGuestAddr4: null, mapGuestAddr6: null } as unknown as Config;
    const spec = parsePortSpecs('-u', [`127.0.0.1/${hostPort}:5353`], 'passt');
    const fwd = new UdpForwarder(table, createLogger({ name: 'test', level: 'silent' }), config, rig.udp, spec, () => performance.now(), null);
    fwd.start();
    const client = dgram.createSocket('udp4');
    const replies: Array<{ data: Buffer; port: number }> = [];
    client.on('message', (data, rinfo) => replies.push({ data, port: rinfo.port }));
    try {
      await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
      const clientPort = client.address().port;
      client.send('query', hostPort, '127.0.0.1');
      const f = await nextFrame(rig);
      expect(f.family).toBe(4);
      expect(f.src).toEqual(REMOTE4);
      expect(f.dst).toEqual(GUEST4);
      expect(f.l4.readUInt16BE(0)).toBe(clientPort);
      expect(f.l4.readUInt16BE(2)).toBe(5353);
      expect(checksumOk(f.l4, f.src, f.dst, 17)).toBe(true);
      expect(f.l4.subarray(8).toString()).toBe('query');
      expect(rig.udp.stats.flows).toBe(1);
      const opened = rig.udp.stats.opened;

      // The guest answers the address and port it saw; the client gets it from the port it wrote to.
      const reply = udp4(5353, clientPort, Buffer.from('answer'));
      REMOTE4.copy(reply, 30);
      GUEST4.copy(reply, 26);
      reply.writeUInt16BE(0, 24);
      reply.writeUInt16BE(0, 40); // IPv4 UDP: no checksum is valid
      fromGuest(rig, [reply]);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no reply at the client')), 3000);
        const poll = setInterval(() => {
          if (replies.length) {
            clearTimeout(t);
            clearInterval(poll);
            resolve();
          }
        }, 10);
      });
      expect(replies[0]).toEqual({ data: Buffer.from('answer'), port: hostPort });

      // The client's next datagram comes to the flow's own socket: the same flow, no new one.
      client.send('again', hostPort, '127.0.0.1');
      const g = await nextFrame(rig);
      expect(g.l4.subarray(8).toString()).toBe('again');
      expect(rig.udp.stats.flows).toBe(1);
      expect(rig.udp.stats.opened).toBe(opened);
      expect(fwd.received).toBe(1);
    } finally {
      client.close();
      fwd.close();
    }
  });
});
