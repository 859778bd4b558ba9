// A fake QEMU guest for the passt end-to-end tests (passt.test.ts, api-passt.test.ts).
// It speaks QEMU's stream protocol over passt's UNIX domain socket (a 4-byte big-endian
// length, then the Ethernet frame), with frames built and parsed by hand here: DHCP,
// ARP, TCP, UDP, ICMP and IPv6, checksums by wire-frames' reference code. Every frame
// passt sends is checked for complete IPv4 header and layer-4 checksums (there is no
// checksum offload on a stream), and counted with its bytes, as is every frame sent.
//
// A UNIX domain socket is a file, reached from any network namespace: the guest
// connects from the test process, while everything passt sends on its behalf leaves
// from the topology's host namespace. The addresses are the topology's.
import { expect } from 'vitest';
import net from 'node:net';
import { ADDRESSES as A } from './topology.js';
import { referenceChecksum, pseudo4, pseudo6 } from '../unit/wire-frames.js';

export const GUEST_MAC = Buffer.from('525400123456', 'hex');
/** passt's own MAC address, as the guest sees it. */
export const OUR_MAC = Buffer.from('9a559a559a55', 'hex');
export const BROADCAST = Buffer.alloc(6, 0xff);

export const ip4 = (s: string): Buffer => Buffer.from(s.split('.').map(Number));

export const ip6 = (s: string): Buffer => {
  const [head, tail = ''] = s.split('::');
  const words = (x: string) => (x ? x.split(':').map((w) => parseInt(w, 16)) : []);
  const h = words(head);
  const t = words(tail);
  const all = [...h, ...Array(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  all.forEach((w, i) => b.writeUInt16BE(w, 2 * i));
  return b;
};

/** The guest's address (the host's, which passt hands out), its gateway, and the remote server. */
export const HOST = ip4(A.hostV4);
export const GATEWAY = ip4(A.gatewayV4);
export const SERVER = ip4(A.serverV4);
export const HOST6 = ip6(A.hostV6);
export const SERVER6 = ip6(A.serverV6);

// TCP flags
export const FIN = 1;
export const SYN = 2;
export const RST = 4;
export const PSH = 8;
export const ACK = 16;

// ---------------------------------------------------------------------------
// Frames from the guest, built by hand

export function eth(dst: Buffer, type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(14);
  dst.copy(h, 0);
  GUEST_MAC.copy(h, 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}

let ipId = 1;
export function ipv4(src: Buffer, dst: Buffer, proto: number, payload: Buffer, ethDst = OUR_MAC): Buffer {
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
  return eth(ethDst, 0x0800, Buffer.concat([h, payload]));
}

export function udp4(src: Buffer, dst: Buffer, sport: number, dport: number, data: Buffer, ethDst = OUR_MAC): Buffer {
  const u = Buffer.alloc(8 + data.length);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(dport, 2);
  u.writeUInt16BE(u.length, 4);
  data.copy(u, 8);
  u.writeUInt16BE(referenceChecksum(pseudo4(src, dst, 17, u.length), u) || 0xffff, 6);
  return ipv4(src, dst, 17, u, ethDst);
}

export function tcp4(src: Buffer, dst: Buffer, sport: number, dport: number, seq: number, ack: number, flags: number, data = Buffer.alloc(0), wscale?: number): Buffer {
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

export function echoRequest4(src: Buffer, dst: Buffer, id: number, seq: number, data: Buffer): Buffer {
  const m = Buffer.alloc(8 + data.length);
  m[0] = 8;
  m.writeUInt16BE(id, 4);
  m.writeUInt16BE(seq, 6);
  data.copy(m, 8);
  m.writeUInt16BE(referenceChecksum(m), 2);
  return ipv4(src, dst, 1, m);
}

/** An IPv6 frame with a layer-4 payload whose checksum field sits at `csumAt` (filled here). */
export function ipv6(src: Buffer, dst: Buffer, nh: number, l4: Buffer, csumAt: number): Buffer {
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

export function arpRequest(spa: Buffer, tpa: Buffer): Buffer {
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

/** A DHCP message of `type` (option 53) from the guest, broadcast, asking for options 1, 3, 6 and 26. */
export function dhcpMessage(type: number, xid: number, extra: Array<[number, Buffer]> = []): Buffer {
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

// ---------------------------------------------------------------------------
// Frames from passt, parsed

export interface Ip4 {
  proto: number;
  src: Buffer;
  dst: Buffer;
  l4: Buffer;
}

export function parseIp4(f: Buffer): Ip4 | null {
  if (f.length < 34 || f.readUInt16BE(12) !== 0x0800) return null;
  const ihl = (f[14] & 15) * 4;
  const total = f.readUInt16BE(16);
  return { proto: f[23], src: f.subarray(26, 30), dst: f.subarray(30, 34), l4: f.subarray(14 + ihl, 14 + total) };
}

export interface Tcp {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  data: Buffer;
  src: Buffer;
  dst: Buffer;
}

export function parseTcp(f: Buffer): Tcp | null {
  const ip = parseIp4(f);
  if (!ip || ip.proto !== 6) return null;
  const t = ip.l4;
  return { sport: t.readUInt16BE(0), dport: t.readUInt16BE(2), seq: t.readUInt32BE(4), ack: t.readUInt32BE(8), flags: t[13], data: t.subarray((t[12] >> 4) * 4), src: ip.src, dst: ip.dst };
}

/** DHCP options of a reply (with -1: yiaddr, -2: xid), or null. */
export function dhcpOptions(f: Buffer): Map<number, Buffer> | null {
  const ip = parseIp4(f);
  if (!ip || ip.proto !== 17 || ip.l4.readUInt16BE(2) !== 68) return null;
  const m = ip.l4.subarray(8);
  const opts = new Map<number, Buffer>([[-1, m.subarray(16, 20)], [-2, m.subarray(4, 8)]]);
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
export function checksumProblem(f: Buffer): string | null {
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
// The guest

/**
 * A guest on the stream socket. It keeps every frame passt sent (`received`), notes
 * each bad length or checksum in `problems`, and counts every frame and byte each way.
 */
export class FakeGuest {
  framesSent = 0;
  bytesSent = 0;
  framesReceived = 0;
  bytesReceived = 0;
  readonly received: Buffer[] = [];
  readonly problems: string[] = [];
  readonly closed: Promise<void>;
  private pending = Buffer.alloc(0);
  private readonly queue: Buffer[] = [];
  private waiters: Array<{ match: (f: Buffer) => boolean; resolve: (f: Buffer) => void }> = [];

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
      this.framesReceived++;
      this.bytesReceived += frame.length;
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
      this.framesSent++;
      this.bytesSent += f.length;
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
    this.send(dhcpMessage(1, xid));
    const offer = dhcpOptions(await this.waitFor(isReply(2), 'DHCPOFFER'))!;
    this.send(dhcpMessage(3, xid, [[50, offer.get(-1)!], [54, offer.get(54)!]]));
    return dhcpOptions(await this.waitFor(isReply(5), 'DHCPACK'))!;
  }

  /**
   * A TCP connection from src:sport (src: HOST unless given) to SERVER:dport by hand:
   * handshake (with a window scale if given), request, response until FIN, close.
   */
  async tcpExchange(sport: number, dport: number, request: string, { src = HOST, wscale }: { src?: Buffer; wscale?: number } = {}): Promise<Buffer> {
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

  /** One datagram from HOST:sport to the echo server at SERVER:port and its echo; returns the echoed payload. */
  async udpEcho(port: number, sport: number, text: string): Promise<string> {
    this.send(udp4(HOST, SERVER, sport, port, Buffer.from(text)));
    const echoed = await this.waitFor((f) => { const ip = parseIp4(f); return !!ip && ip.proto === 17 && ip.l4.readUInt16BE(2) === sport; }, 'UDP echo');
    return parseIp4(echoed)!.l4.subarray(8).toString();
  }
}
