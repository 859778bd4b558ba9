// passt for QEMU, end to end: passt runs in the test topology's "host"
// namespace, and a fake guest in this process speaks QEMU's stream protocol
// (4-byte big-endian length, then the Ethernet frame) over the UNIX domain
// socket, with frames built by hand: DHCP, ARP, a TCP exchange with a remote
// HTTP server, UDP and ICMP echo. Every frame passt sends is checked for
// complete IPv4 header and layer-4 checksums (there is no checksum offload
// on a stream). Then: bad framing resets only that connection, random
// framing never brings passt down, --one-off and -F quit when the guest
// leaves, the default socket path is probed as passt(1) does, and the
// background mode prints where QEMU connects.
//
// A UNIX domain socket is a file, reached from any network namespace: the
// fake guest connects from here, while everything passt sends on the guest's
// behalf leaves from the topology's host namespace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { createTopology, ADDRESSES as A, type Topology, type ServerHandle } from './topology.js';
import { referenceChecksum, pseudo4, pseudo6, prng } from '../unit/wire-frames.js';
import { streamBytes } from './stream.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const PASST = path.join(root, 'bin', 'passt.js');
const NODE = process.execPath;

const GUEST_MAC = Buffer.from('525400123456', 'hex');
const OUR_MAC = Buffer.from('9a559a559a55', 'hex');
const BROADCAST = Buffer.alloc(6, 0xff);

let topo: Topology;
let dir: string;
let http: ServerHandle;
/** Bound to the server address, not to a wildcard: a UDP reply must leave from the address that was asked. */
let udpEcho: ServerHandle;

beforeAll(async () => {
  topo = await createTopology();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passt-e2e-'));
  [http, udpEcho] = await Promise.all([topo.startRemoteServer('http', ['--port', '80']), topo.startRemoteServer('udpecho', ['--bind', `${A.serverV4},${A.serverV6}`])]);
});

afterAll(async () => {
  await topo?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// Frames, built and parsed by hand (checksums by wire-frames' reference code)

const ip4 = (s: string): Buffer => Buffer.from(s.split('.').map(Number));
const HOST = ip4(A.hostV4);
const GATEWAY = ip4(A.gatewayV4);
const SERVER = ip4(A.serverV4);

function eth(dst: Buffer, type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(14);
  dst.copy(h, 0);
  GUEST_MAC.copy(h, 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}

let ipId = 1;
function ipv4(src: Buffer, dst: Buffer, proto: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(ipId++ & 0xffff, 4);
  h.writeUInt16BE(0x4000, 6);
  h[8] = 64;
  h[9] = proto;
  src.copy(h, 12);
  dst.copy(h, 16);
  h.writeUInt16BE(referenceChecksum(h), 10);
  return eth(OUR_MAC, 0x0800, Buffer.concat([h, payload]));
}

function udp4(src: Buffer, dst: Buffer, sport: number, dport: number, data: Buffer, ethDst = OUR_MAC): Buffer {
  const u = Buffer.alloc(8 + data.length);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(dport, 2);
  u.writeUInt16BE(u.length, 4);
  data.copy(u, 8);
  u.writeUInt16BE(referenceChecksum(pseudo4(src, dst, 17, u.length), u) || 0xffff, 6);
  const frame = ipv4(src, dst, 17, u);
  ethDst.copy(frame, 0);
  return frame;
}

const FIN = 1;
const SYN = 2;
const RST = 4;
const PSH = 8;
const ACK = 16;

function tcp4(src: Buffer, dst: Buffer, sport: number, dport: number, seq: number, ack: number, flags: number, data = Buffer.alloc(0), wscale?: number): Buffer {
  // SYN: MSS 1460, and a window scale if asked.
  const opts = flags & SYN ? Buffer.from(`020405b4${wscale === undefined ? '' : `010303${wscale.toString(16).padStart(2, '0')}`}`, 'hex') : Buffer.alloc(0);
  const t = Buffer.alloc(20 + opts.length + data.length);
  t.writeUInt16BE(sport, 0);
  t.writeUInt16BE(dport, 2);
  t.writeUInt32BE(seq >>> 0, 4);
  t.writeUInt32BE(ack >>> 0, 8);
  t[12] = ((20 + opts.length) / 4) << 4;
  t[13] = flags;
  t.writeUInt16BE(65535, 14);
  opts.copy(t, 20);
  data.copy(t, 20 + opts.length);
  t.writeUInt16BE(referenceChecksum(pseudo4(src, dst, 6, t.length), t), 16);
  return ipv4(src, dst, 6, t);
}

function echoRequest4(src: Buffer, dst: Buffer, id: number, seq: number, data: Buffer): Buffer {
  const m = Buffer.alloc(8 + data.length);
  m[0] = 8;
  m.writeUInt16BE(id, 4);
  m.writeUInt16BE(seq, 6);
  data.copy(m, 8);
  m.writeUInt16BE(referenceChecksum(m), 2);
  return ipv4(src, dst, 1, m);
}

const ip6 = (s: string): Buffer => {
  const [head, tail = ''] = s.split('::');
  const words = (x: string) => (x ? x.split(':').map((w) => parseInt(w, 16)) : []);
  const h = words(head);
  const t = words(tail);
  const all = [...h, ...Array(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  all.forEach((w, i) => b.writeUInt16BE(w, 2 * i));
  return b;
};
const HOST6 = ip6(A.hostV6);
const SERVER6 = ip6(A.serverV6);

/** An IPv6 frame with a layer-4 payload whose checksum field sits at `csumAt` (filled here). */
function ipv6(src: Buffer, dst: Buffer, nh: number, l4: Buffer, csumAt: number): Buffer {
  l4.writeUInt16BE(0, csumAt);
  l4.writeUInt16BE(referenceChecksum(pseudo6(src, dst, nh, l4.length), l4) || (nh === 17 ? 0xffff : 0), csumAt);
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(l4.length, 4);
  h[6] = nh;
  h[7] = 64;
  src.copy(h, 8);
  dst.copy(h, 24);
  return eth(OUR_MAC, 0x86dd, Buffer.concat([h, l4]));
}

function arpRequest(spa: Buffer, tpa: Buffer): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0);
  a.writeUInt16BE(0x0800, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(1, 6);
  GUEST_MAC.copy(a, 8);
  spa.copy(a, 14);
  tpa.copy(a, 24);
  return eth(BROADCAST, 0x0806, a);
}

function dhcp(type: number, xid: number, extra: Array<[number, Buffer]> = []): Buffer {
  const m = Buffer.alloc(240);
  m[0] = 1;
  m[1] = 1;
  m[2] = 6;
  m.writeUInt32BE(xid, 4);
  m.writeUInt16BE(0x8000, 10); // broadcast flag
  GUEST_MAC.copy(m, 28);
  m.writeUInt32BE(0x63825363, 236);
  const opts: Buffer[] = [Buffer.from([53, 1, type])];
  for (const [code, value] of extra) opts.push(Buffer.from([code, value.length]), value);
  opts.push(Buffer.from([55, 4, 1, 3, 6, 26]), Buffer.from([255]));
  return udp4(Buffer.alloc(4), Buffer.alloc(4, 255), 68, 67, Buffer.concat([m, ...opts]), BROADCAST);
}

interface Ip4 {
  proto: number;
  src: Buffer;
  dst: Buffer;
  l4: Buffer;
}

function parseIp4(f: Buffer): Ip4 | null {
  if (f.length < 34 || f.readUInt16BE(12) !== 0x0800) return null;
  const ihl = (f[14] & 15) * 4;
  const total = f.readUInt16BE(16);
  return { proto: f[23], src: f.subarray(26, 30), dst: f.subarray(30, 34), l4: f.subarray(14 + ihl, 14 + total) };
}

interface Tcp {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  data: Buffer;
  src: Buffer;
  dst: Buffer;
}

function parseTcp(f: Buffer): Tcp | null {
  const ip = parseIp4(f);
  if (!ip || ip.proto !== 6) return null;
  const t = ip.l4;
  return { sport: t.readUInt16BE(0), dport: t.readUInt16BE(2), seq: t.readUInt32BE(4), ack: t.readUInt32BE(8), flags: t[13], data: t.subarray((t[12] >> 4) * 4), src: ip.src, dst: ip.dst };
}

function dhcpOptions(f: Buffer): Map<number, Buffer> | null {
  const ip = parseIp4(f);
  if (!ip || ip.proto !== 17 || ip.l4.readUInt16BE(2) !== 68) return null;
  const m = ip.l4.subarray(8);
  const opts = new Map<number, Buffer>();
  opts.set(-1, m.subarray(16, 20)); // yiaddr
  opts.set(-2, m.subarray(4, 8)); // xid
  for (let p = 240; p < m.length && m[p] !== 255; ) {
    if (m[p] === 0) {
      p++;
      continue;
    }
    opts.set(m[p], m.subarray(p + 2, p + 2 + m[p + 1]));
    p += 2 + m[p + 1];
  }
  return opts;
}

/** Why a frame from passt has a wrong checksum, or null if every checksum is complete and right. */
function checksumProblem(f: Buffer): string | null {
  const type = f.readUInt16BE(12);
  if (type === 0x0800) {
    const ihl = (f[14] & 15) * 4;
    const total = f.readUInt16BE(16);
    if (referenceChecksum(f.subarray(14, 14 + ihl)) !== 0) return 'IPv4 header checksum';
    const proto = f[23];
    const l4 = f.subarray(14 + ihl, 14 + total);
    if (proto === 1 && referenceChecksum(l4) !== 0) return 'ICMP checksum';
    if (proto === 6 && referenceChecksum(pseudo4(f.subarray(26, 30), f.subarray(30, 34), 6, l4.length), l4) !== 0) return 'TCP checksum';
    if (proto === 17) {
      if (l4.readUInt16BE(6) === 0) return 'UDP checksum missing';
      if (referenceChecksum(pseudo4(f.subarray(26, 30), f.subarray(30, 34), 17, l4.length), l4) !== 0) return 'UDP checksum';
    }
  } else if (type === 0x86dd) {
    const plen = f.readUInt16BE(18);
    const nh = f[20];
    const l4 = f.subarray(54, 54 + plen);
    if ((nh === 58 || nh === 6 || nh === 17) && referenceChecksum(pseudo6(f.subarray(22, 38), f.subarray(38, 54), nh, l4.length), l4) !== 0) return `IPv6 next header ${nh} checksum`;
  }
  return null;
}

// ---------------------------------------------------------------------------
// The fake guest

class FakeGuest {
  private pending = Buffer.alloc(0);
  private readonly queue: Buffer[] = [];
  private waiters: Array<{ match: (f: Buffer) => boolean; resolve: (f: Buffer) => void }> = [];
  readonly received: Buffer[] = [];
  readonly problems: string[] = [];
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  }

  /** A guest on a socket connected already. */
  static over(socket: net.Socket): FakeGuest {
    return new FakeGuest(socket);
  }

  static connect(sock: string): Promise<FakeGuest> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ path: sock });
      s.once('connect', () => resolve(new FakeGuest(s)));
      s.once('error', reject);
    });
  }

  private onData(d: Buffer): void {
    this.pending = Buffer.concat([this.pending, d]);
    while (this.pending.length >= 4) {
      const len = this.pending.readUInt32BE(0);
      if (len < 14 || len > 65535) {
        this.problems.push(`bad length ${len} from passt`);
        this.socket.destroy();
        return;
      }
      if (this.pending.length < 4 + len) break;
      const frame = Buffer.from(this.pending.subarray(4, 4 + len));
      this.pending = this.pending.subarray(4 + len);
      const problem = checksumProblem(frame);
      if (problem) this.problems.push(`${problem}: ${frame.toString('hex')}`);
      this.received.push(frame);
      const w = this.waiters.findIndex((x) => x.match(frame));
      if (w >= 0) this.waiters.splice(w, 1)[0].resolve(frame);
      else this.queue.push(frame);
    }
  }

  send(...frames: Buffer[]): void {
    const parts: Buffer[] = [];
    for (const f of frames) {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(f.length);
      parts.push(len, f);
    }
    this.socket.write(Buffer.concat(parts));
  }

  /** The first frame (already queued or still to come) that matches. */
  waitFor(match: (f: Buffer) => boolean, what: string, timeoutMs = 5000): Promise<Buffer> {
    const i = this.queue.findIndex(match);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (f: Buffer) => {
          clearTimeout(timer);
          resolve(f);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== waiter);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  close(): Promise<void> {
    this.socket.end();
    return this.closed;
  }

  /** DHCPDISCOVER, DHCPOFFER, DHCPREQUEST, DHCPACK; returns the ACK's options. */
  async dhcp(): Promise<Map<number, Buffer>> {
    const xid = 0x1000 + Math.floor(Math.random() * 0xffff);
    const isReply = (type: number) => (f: Buffer) => {
      const o = dhcpOptions(f);
      return !!o && o.get(-2)!.readUInt32BE(0) === xid && o.get(53)?.[0] === type;
    };
    this.send(dhcp(1, xid));
    const offer = dhcpOptions(await this.waitFor(isReply(2), 'DHCPOFFER'))!;
    this.send(dhcp(3, xid, [[50, offer.get(-1)!], [54, offer.get(54)!]]));
    return dhcpOptions(await this.waitFor(isReply(5), 'DHCPACK'))!;
  }

  /** A TCP connection from src:sport to SERVER:dport by hand: handshake, request, response until FIN, close. */
  async tcpExchange(src: Buffer, sport: number, dport: number, request: string, wscale?: number): Promise<Buffer> {
    const ours = (f: Buffer): Tcp | null => {
      const t = parseTcp(f);
      return t && t.sport === dport && t.dport === sport && t.dst.equals(src) && t.src.equals(SERVER) ? t : null;
    };
    let snd = 1000;
    this.send(tcp4(src, SERVER, sport, dport, snd, 0, SYN, undefined, wscale));
    const synAck = ours(await this.waitFor((f) => (ours(f)?.flags ?? 0) === (SYN | ACK), 'SYN-ACK'))!;
    expect(synAck.ack).toBe(snd + 1);
    snd++;
    let rcv = (synAck.seq + 1) >>> 0;
    this.send(tcp4(src, SERVER, sport, dport, snd, rcv, ACK), tcp4(src, SERVER, sport, dport, snd, rcv, ACK | PSH, Buffer.from(request)));
    snd += request.length;
    const chunks: Buffer[] = [];
    for (;;) {
      const t = ours(await this.waitFor((f) => { const x = ours(f); return !!x && (x.data.length > 0 || !!(x.flags & (FIN | RST))); }, 'response data'))!;
      if (t.flags & RST) throw new Error('connection reset by passt');
      if (t.seq === rcv) {
        chunks.push(Buffer.from(t.data));
        rcv = (rcv + t.data.length + (t.flags & FIN ? 1 : 0)) >>> 0;
      }
      this.send(tcp4(src, SERVER, sport, dport, snd, rcv, ACK));
      if (t.flags & FIN && t.seq + t.data.length === ((rcv - 1) >>> 0)) break;
    }
    this.send(tcp4(src, SERVER, sport, dport, snd, rcv, FIN | ACK));
    await this.waitFor((f) => { const x = ours(f); return !!x && x.ack === snd + 1; }, 'ACK of our FIN');
    return Buffer.concat(chunks);
  }
}

// ---------------------------------------------------------------------------
// passt processes

interface Running {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
  /** Wait until stderr matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
}

/**
 * passt with `args` in the host namespace (`stdio` for fds to hand it), or
 * `command` there instead: something that ends up exec'ing passt.
 */
function startPasst(args: string[], opts: { stdio?: Array<'pipe' | 'ignore' | net.Socket>; command?: string[] } = {}): Running {
  const argv = opts.command ?? [NODE, PASST, ...args];
  const child = topo.spawnHost(argv, opts.stdio ? { stdio: opts.stdio } : undefined);
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (err += d));
  let signal: string | null = null;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, sig) => {
      signal = sig;
      resolve(code);
    }),
  );
  return {
    child,
    stderr: () => (signal ? `${err}\n[passt was killed by ${signal}]` : err),
    exited,
    waitFor: async (re, timeoutMs = 10_000) => {
      const end = Date.now() + timeoutMs;
      while (!re.test(err)) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`passt: no ${re} in:\n${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

/** SIGTERM (unless it exited already); the exit status. Whatever happened, no internal error was logged. */
async function stopPasst(p: Running): Promise<number | null> {
  if (p.child.exitCode === null) p.child.kill('SIGTERM');
  const code = await p.exited;
  expect(p.stderr()).not.toMatch(/internal error/);
  if (code !== 0) console.error(`passt exited with ${code}; its standard error:\n${p.stderr()}`);
  return code;
}

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

/** TCP sockets in the host namespace connected to the remote server. */
async function hostSocketsToServer(): Promise<string> {
  const r = await topo.execHost(['ss', '-Htn', 'dst', A.serverV4]);
  return r.stdout.toString().trim();
}

let sockCounter = 0;
const sockPath = (): string => path.join(dir, `passt-${++sockCounter}.socket`);

// ---------------------------------------------------------------------------

describe('passt with a fake QEMU guest', () => {
  it('prints the socket and the QEMU options, and serves DHCP, ARP, TCP, UDP and ICMP with complete checksums', async () => {
    const sock = sockPath();
    const pcap = path.join(dir, 'capture.pcap');
    const p = startPasst(['-f', '-s', sock, '--pcap', pcap]);
    try {
      await p.waitFor(/You can now start qemu/);
      expect(p.stderr()).toContain(`passt: UNIX domain socket bound at ${sock}\n`);
      expect(p.stderr()).toContain(`-device virtio-net-pci,netdev=s -netdev stream,id=s,server=off,addr.type=unix,addr.path=${sock}\n`);
      const g = await FakeGuest.connect(sock);

      const ack = await g.dhcp();
      expect([...ack.get(-1)!]).toEqual([...HOST]);
      expect([...ack.get(1)!]).toEqual([255, 255, 255, 0]);
      expect([...ack.get(3)!]).toEqual([...GATEWAY]);

      g.send(arpRequest(HOST, GATEWAY));
      const arp = await g.waitFor((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 2, 'ARP reply');
      expect(arp.subarray(22, 28).equals(OUR_MAC)).toBe(true);
      expect([...arp.subarray(28, 32)]).toEqual([...GATEWAY]);

      const response = (await g.tcpExchange(HOST, 40000, 80, 'GET / HTTP/1.0\r\nHost: server\r\n\r\n')).toString();
      expect(response).toMatch(/^HTTP\/1\.[01] 200/);
      expect(response.endsWith('hello from remote\n')).toBe(true);

      g.send(udp4(HOST, SERVER, 40001, udpEcho.port, Buffer.from('echo over passt')));
      const echoed = await g.waitFor((f) => { const ip = parseIp4(f); return !!ip && ip.proto === 17 && ip.l4.readUInt16BE(2) === 40001; }, 'UDP echo');
      expect(parseIp4(echoed)!.l4.subarray(8).toString()).toBe('echo over passt');

      g.send(echoRequest4(HOST, SERVER, 0x1234, 1, Buffer.from('ping over passt')));
      const pong = await g.waitFor((f) => { const ip = parseIp4(f); return !!ip && ip.proto === 1 && ip.l4[0] === 0; }, 'ICMP echo reply');
      const reply = parseIp4(pong)!;
      expect(reply.l4.readUInt16BE(4)).toBe(0x1234);
      expect(reply.l4.subarray(8).toString()).toBe('ping over passt');
      expect([...reply.src]).toEqual([...SERVER]);

      // IPv6: UDP and ICMPv6 echo, whose checksums cover a pseudo-header too.
      const u6 = Buffer.concat([Buffer.alloc(8), Buffer.from('echo over IPv6')]);
      u6.writeUInt16BE(40003, 0);
      u6.writeUInt16BE(udpEcho.port, 2);
      u6.writeUInt16BE(u6.length, 4);
      g.send(ipv6(HOST6, SERVER6, 17, u6, 6));
      const echoed6 = await g.waitFor((f) => f.readUInt16BE(12) === 0x86dd && f[20] === 17 && f.readUInt16BE(56) === 40003, 'UDP echo over IPv6');
      expect(echoed6.subarray(62).toString()).toBe('echo over IPv6');
      const e6 = Buffer.concat([Buffer.from([128, 0, 0, 0, 0x12, 0x35, 0, 1]), Buffer.from('ping over IPv6')]);
      g.send(ipv6(HOST6, SERVER6, 58, e6, 2));
      const pong6 = await g.waitFor((f) => f.readUInt16BE(12) === 0x86dd && f[20] === 58 && f[54] === 129, 'ICMPv6 echo reply');
      expect(pong6.readUInt16BE(58)).toBe(0x1235);
      expect(pong6.subarray(62).toString()).toBe('ping over IPv6');

      // A guest that uses another address than the one DHCP gave is translated all the same.
      const other = ip4('10.0.2.15');
      const seen = (await g.tcpExchange(other, 40002, 80, 'GET /ip HTTP/1.0\r\n\r\n')).toString();
      expect(JSON.parse(seen.slice(seen.indexOf('\r\n\r\n') + 4)).address).toBe(A.hostV4);

      expect(g.problems).toEqual([]);
      expect(g.received.length).toBeGreaterThan(10);
      await g.close();

      // --pcap: a pcap file with every frame, both ways, whole.
      const cap = fs.readFileSync(pcap);
      expect(cap.readUInt32LE(0)).toBe(0xa1b2c3d4);
      expect(cap.readUInt32LE(20)).toBe(1);
      const records: Buffer[] = [];
      for (let o = 24; o + 16 <= cap.length; ) {
        const incl = cap.readUInt32LE(o + 8);
        expect(cap.readUInt32LE(o + 12)).toBe(incl);
        records.push(cap.subarray(o + 16, o + 16 + incl));
        o += 16 + incl;
      }
      expect(dhcpOptions(records[1])?.get(53)?.[0]).toBe(2); // the guest's DISCOVER, then our OFFER
      for (const f of g.received) expect(records.some((r) => r.equals(f))).toBe(true);
      expect(records.length).toBeGreaterThan(g.received.length);
      expect(p.child.exitCode).toBeNull();
    } finally {
      expect(await stopPasst(p)).toBe(0);
    }
    expect(fs.existsSync(sock)).toBe(false);
  });

  it('carries a 4 MB download whole to a guest that keeps pausing, every frame whole and checksummed', async () => {
    const sock = sockPath();
    const p = startPasst(['-f', '-s', sock]);
    try {
      await p.waitFor(/You can now start qemu/);
      const g = await FakeGuest.connect(sock);
      await g.dhcp();
      // Stop reading for a while every MiB, with a large window (scale 10). (Whether passt's
      // writes then come up short depends on the machine's wmem_max; the unit tests make sure.)
      let seen = 0;
      g.socket.on('data', (d: Buffer) => {
        seen += d.length;
        if (seen >= 1 << 20) {
          seen = 0;
          g.socket.pause();
          setTimeout(() => g.socket.resume(), 40);
        }
      });
      const size = 4_000_000;
      const response = await g.tcpExchange(HOST, 42000, 80, `GET /bytes/${size} HTTP/1.0\r\n\r\n`, 10);
      const body = response.subarray(response.indexOf('\r\n\r\n') + 4);
      expect(body.length).toBe(size);
      expect(body.equals(streamBytes(size, size))).toBe(true);
      expect(g.problems).toEqual([]);
      await g.close();
    } finally {
      expect(await stopPasst(p)).toBe(0);
    }
    expect(p.stderr()).not.toMatch(/internal error/);
  });

  it('turns a second guest away while one is connected, and takes the next one after it leaves, its flows closed', async () => {
    const sock = sockPath();
    const p = startPasst(['-f', '-s', sock]);
    try {
      await p.waitFor(/You can now start qemu/);
      const first = await FakeGuest.connect(sock);
      await first.dhcp();
      // An open TCP connection of the first guest: its host side goes when the guest does.
      first.send(tcp4(HOST, SERVER, 41000, 80, 5000, 0, SYN));
      const synAck = parseTcp(await first.waitFor((f) => parseTcp(f)?.dport === 41000, 'SYN-ACK'))!;
      first.send(tcp4(HOST, SERVER, 41000, 80, 5001, synAck.seq + 1, ACK));
      await expect.poll(hostSocketsToServer).toContain(`${A.serverV4}:80`);

      const second = await FakeGuest.connect(sock);
      await second.closed;
      await p.waitFor(/discarding connection from PID \d+: a guest is connected already/);
      await first.close();
      await p.waitFor(/client connection closed/);
      await expect.poll(hostSocketsToServer).toBe('');

      const third = await FakeGuest.connect(sock);
      expect([...(await third.dhcp()).get(-1)!]).toEqual([...HOST]);
      expect(third.problems).toEqual([]);
      await third.close();
    } finally {
      expect(await stopPasst(p)).toBe(0);
    }
  });

  it('resets only the connection with a bad frame length (0, 13, 65536, or 2^32 - 1); the next guest is served', async () => {
    const sock = sockPath();
    const p = startPasst(['-f', '-s', sock]);
    try {
      await p.waitFor(/You can now start qemu/);
      for (const bad of [0, 13, 65536, 0xffffffff]) {
        const g = await FakeGuest.connect(sock);
        await g.dhcp();
        const len = Buffer.alloc(4);
        len.writeUInt32BE(bad);
        // A good frame, then the bad length with some bytes after it, in one write.
        g.socket.write(Buffer.concat([Buffer.from([0, 0, 0, 60]), arpRequest(HOST, GATEWAY).subarray(0, 42), Buffer.alloc(18), len, Buffer.alloc(100, 0xaa)]));
        await g.closed;
        await p.waitFor(new RegExp(`passt error: guest connection closed: bad frame length ${bad} `));
      }
      const g = await FakeGuest.connect(sock);
      expect([...(await g.dhcp()).get(3)!]).toEqual([...GATEWAY]);
      await g.close();
      expect(p.child.exitCode).toBeNull();
    } finally {
      expect(await stopPasst(p)).toBe(0);
    }
  });

  it('survives random framing and random frames; the next guest is served', async () => {
    const sock = sockPath();
    const p = startPasst(['-f', '-s', sock]);
    try {
      await p.waitFor(/You can now start qemu/);
      const random = prng(0x9a55);
      const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
      for (let round = 0; round < 12; round++) {
        const g = await FakeGuest.connect(sock);
        const parts: Buffer[] = [];
        for (let k = 0; k < 40; k++) {
          const r = random();
          if (r < 0.6) {
            // A well-framed frame with random contents, sometimes with a real Ethernet type.
            const frame = bytes(14 + Math.floor(random() * 1500));
            if (random() < 0.5) frame.writeUInt16BE([0x0800, 0x86dd, 0x0806][Math.floor(random() * 3)], 12);
            if (random() < 0.3 && frame.readUInt16BE(12) === 0x0800) frame[14] = 0x45;
            const len = Buffer.alloc(4);
            len.writeUInt32BE(frame.length);
            parts.push(len, frame);
          } else if (r < 0.7) {
            parts.push(bytes(1 + Math.floor(random() * 64))); // garbage: out of step from here on
          } else {
            const len = Buffer.alloc(4);
            len.writeUInt32BE(Math.floor(random() * 0x20000));
            parts.push(len, bytes(Math.floor(random() * 200)));
          }
        }
        // Written in random pieces, as a stream may arrive.
        const all = Buffer.concat(parts);
        for (let o = 0; o < all.length; ) {
          const n = 1 + Math.floor(random() * 3000);
          g.socket.write(all.subarray(o, o + n));
          o += n;
        }
        if (round % 2) await g.close();
        else {
          g.socket.destroy();
          await g.closed;
        }
      }
      expect(p.child.exitCode).toBeNull();
      const g = await FakeGuest.connect(sock);
      expect([...(await g.dhcp()).get(-1)!]).toEqual([...HOST]);
      expect(g.problems).toEqual([]);
      await g.close();
    } finally {
      expect(await stopPasst(p)).toBe(0);
    }
  });
});

describe('passt lifetime', () => {
  it('--one-off quits once the first guest leaves', async () => {
    const sock = sockPath();
    const p = startPasst(['-f', '-1', '-s', sock]);
    await p.waitFor(/You can now start qemu/);
    const g = await FakeGuest.connect(sock);
    await g.dhcp();
    await g.close();
    expect(await p.exited).toBe(0);
    expect(p.stderr()).toContain('client connection closed, exiting');
    expect(fs.existsSync(sock)).toBe(false);
  });

  /** A connected pair of UNIX domain stream sockets: the guest's end, and the one to hand to passt. */
  async function connectedPair(): Promise<{ guestSide: net.Socket; passtSide: net.Socket }> {
    const server = net.createServer({ pauseOnConnect: true });
    const where = sockPath();
    await new Promise<void>((resolve) => server.listen(where, resolve));
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const guestSide = net.connect({ path: where });
    const passtSide = await accepted;
    server.close();
    return { guestSide, passtSide };
  }

  it('-F uses an inherited connected socket and quits when it closes', async () => {
    const { guestSide, passtSide } = await connectedPair();
    const p = startPasst(['-f', '-F', '3'], { stdio: ['ignore', 'pipe', 'pipe', passtSide] });
    passtSide.destroy(); // passt holds its own copy
    const guest = FakeGuest.over(guestSide);
    expect([...(await guest.dhcp()).get(-1)!]).toEqual([...HOST]);
    expect(guest.problems).toEqual([]);
    await guest.close();
    expect(await stopPasst(p)).toBe(0);
    expect(p.stderr()).toContain('client connection closed, exiting');
  });

  it('-F in the background: the copy gets the socket under the same number', async () => {
    const { guestSide, passtSide } = await connectedPair();
    const pidFile = path.join(dir, 'passt-fd.pid');
    const p = startPasst(['-F', '5', '-P', pidFile], { stdio: ['ignore', 'pipe', 'pipe', 'ignore', 'ignore', passtSide] });
    passtSide.destroy();
    expect(await p.exited).toBe(0); // the first process, once the copy is ready
    expect(p.stderr()).toBe('');
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(pid).not.toBe(p.child.pid);
    expect(alive(pid)).toBe(true);
    const guest = FakeGuest.over(guestSide);
    expect([...(await guest.dhcp()).get(3)!]).toEqual([...GATEWAY]);
    await guest.close();
    await expect.poll(() => alive(pid)).toBe(false);
  });

  it('runs in the background by default: prints where QEMU connects, exits 0, and -P names the process that serves', async () => {
    const sock = sockPath();
    const pidFile = path.join(dir, 'passt.pid');
    const r = await topo.execHost([NODE, PASST, '-s', sock, '-P', pidFile], { timeoutMs: 20_000 });
    expect(r.code).toBe(0);
    expect(r.stdioClosed).toBe(true);
    const err = r.stderr.toString();
    expect(err).toContain(`passt: UNIX domain socket bound at ${sock}\n`);
    expect(err).toContain(`addr.type=unix,addr.path=${sock}`);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(alive(pid)).toBe(true);
    const g = await FakeGuest.connect(sock);
    expect([...(await g.dhcp()).get(-1)!]).toEqual([...HOST]);
    await g.close();
    process.kill(pid, 'SIGTERM');
    await expect.poll(() => alive(pid)).toBe(false);
    expect(fs.existsSync(sock)).toBe(false);
  });

  it('probes /tmp/passt_N.socket: skips one in use, replaces a stale one', async () => {
    // A private /tmp (tmpfs in a mount namespace of its own), so the machine's /tmp is never
    // touched. The checkout may itself live under /tmp (CI clones there): it is bound into the
    // new tmpfs at the same path before the tmpfs is moved over /tmp.
    const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'passt-probe-'));
    const repo = path.resolve(here, '..', '..');
    const script = [
      'set -e',
      `mount -t tmpfs tmpfs ${stage}`,
      ...(repo.startsWith('/tmp/') ? [`mkdir -p ${stage}${repo.slice(4)}`, `mount --bind ${repo} ${stage}${repo.slice(4)}`] : []),
      `mount --move ${stage} /tmp`,
      'set +e',
      `${NODE} -e "require('net').createServer().listen('/tmp/passt_1.socket')" &`,
      `${NODE} -e "require('net').createServer().listen('/tmp/passt_2.socket', () => process.exit(0))"`,
      'while ! [ -S /tmp/passt_1.socket ]; do sleep 0.02; done',
      `exec ${NODE} ${PASST} -f`,
    ].join('\n');
    const p = startPasst([], { command: ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script] });
    try {
      await p.waitFor(/You can now start qemu/);
      expect(p.stderr()).toContain('passt: UNIX domain socket bound at /tmp/passt_2.socket\n');
      const g = await FakeGuest.connect(`/proc/${p.child.pid}/root/tmp/passt_2.socket`);
      expect([...(await g.dhcp()).get(-1)!]).toEqual([...HOST]);
      await g.close();
    } finally {
      const code = await stopPasst(p);
      fs.rmSync(stage, { recursive: true, force: true });
      expect(code, `passt's exit status; its standard error:\n${p.stderr()}`).toBe(0);
    }
  });

  it('refuses a socket path in use, and bad option combinations, with one line and exit 1', async () => {
    const sock = sockPath();
    const p = startPasst(['-f', '-s', sock]);
    try {
      await p.waitFor(/You can now start qemu/);
      const r = await topo.execHost([NODE, PASST, '-f', '-s', sock]);
      expect(r.code).toBe(1);
      expect(r.stderr.toString()).toBe(`passt: socket path ${sock} already in use\n`);
    } finally {
      expect(await stopPasst(p)).toBe(0);
    }
    const both = await topo.execHost([NODE, PASST, '-s', sock, '-F', '3']);
    expect(both.stderr.toString()).toBe('passt: --socket and --fd are mutually exclusive\n');
    expect(both.code).toBe(1);
    const arg = await topo.execHost([NODE, PASST, 'qemu']);
    expect(arg.stderr.toString()).toBe("passt: unexpected argument 'qemu': passt takes options only\n");
    const notSock = await topo.execHost(['sh', '-c', `exec ${NODE} ${PASST} -f -F 0 </dev/null`]);
    expect(notSock.stderr.toString()).toBe('passt: --fd 0: not a socket\n');
  });
});

describe('--pcap with pasta', () => {
  it("captures the namespace's frames both ways", async () => {
    const pcap = path.join(dir, 'pasta.pcap');
    const r = await topo.execHost([NODE, path.join(root, 'bin', 'pasta.js'), '--config-net', '--pcap', pcap, '--', 'ping', '-c', '1', '-W', '2', A.serverV4], { timeoutMs: 20_000 });
    expect(r.code).toBe(0);
    const cap = fs.readFileSync(pcap);
    expect(cap.readUInt32LE(0)).toBe(0xa1b2c3d4);
    const icmp: number[] = [];
    for (let o = 24; o + 16 <= cap.length; ) {
      const incl = cap.readUInt32LE(o + 8);
      const ip = parseIp4(cap.subarray(o + 16, o + 16 + incl));
      if (ip?.proto === 1) icmp.push(ip.l4[0]);
      o += 16 + incl;
    }
    expect(icmp).toEqual([8, 0]); // the echo request from the namespace, the reply to it
  });
});
