// An engine on a fake tap, for unit tests that drive it with literal frames: the "tap" is a
// connected UDP socket, so every frame the engine sends arrives as one datagram at `guest`
// (after its virtio-net header, when the rig has one), and the test feeds frames from "the
// guest" with frameFromTap(). The engine has its own clock and no tick timer. The host is
// 198.51.100.2/24 via 198.51.100.1 (IPv4) and 2001:db8::2/64 via 2001:db8::1 (IPv6); the
// gateway addresses stand for the host's loopback, where the tests' peers listen. Used by
// flow.test.ts and gso.test.ts (tcp.test.ts and others have engine-rig.ts).
import { afterEach, expect } from 'vitest';
import dgram from 'node:dgram';
import net from 'node:net';
import { native, C } from '../../src/native.js';
import { Engine } from '../../src/engine.js';
import { buildConfig, type HostNet } from '../../src/conf.js';
import { parseArgs } from '../../src/options.js';
import { createLogger } from '../../src/log.js';
import type { Offloads } from '../../src/l2/tapio.js';
import { PROTO_TCP, PROTO_UDP } from '../../src/flow.js';
import { hex, pseudo4, pseudo6, referenceChecksum } from './wire-frames.js';

export const G = hex('c6336402'); // the guest, 198.51.100.2
export const GW = hex('c6336401'); // the gateway, standing for the host's loopback
export const R = hex('cb00710a'); // a remote, 203.0.113.10
export const G6 = hex('20010db8000000000000000000000002');
export const GW6 = hex('20010db8000000000000000000000001');

const HOST: HostNet = {
  links: [{ index: 2, name: 'eth0', flags: 0x1003, mtu: 65520, up: true }],
  addrs4: [{ family: 4, index: 2, prefixLen: 24, addr: Uint8Array.from(G), scope: 0, flags: 0 }],
  addrs6: [
    { family: 6, index: 2, prefixLen: 64, addr: Uint8Array.from(G6), scope: 0, flags: 0x80 },
    { family: 6, index: 2, prefixLen: 64, addr: hex('fe800000000000000000000000000002'), scope: 253, flags: 0x80 },
  ],
  routes4: [{ family: 4, table: 254, dst: null, dstLen: 0, gateway: Uint8Array.from(GW), oif: 2, protocol: 4, scope: 0, type: 1 }],
  routes6: [{ family: 6, table: 254, dst: null, dstLen: 0, gateway: Uint8Array.from(GW6), oif: 2, protocol: 4, scope: 0, type: 1 }],
};

export interface Rig {
  engine: Engine;
  guest: dgram.Socket;
  tapFd: number;
  /** Frames from the engine not taken yet (without their virtio-net header). */
  frames: Buffer[];
  /** The virtio-net header of each frame in `frames` (empty without one). */
  vnet: Map<Buffer, Buffer>;
  waiters: Array<() => void>;
}

let current: Rig | undefined;
const closers: Array<() => void> = [];

afterEach(() => {
  for (const c of closers.splice(0)) c();
  if (current) {
    current.engine.close();
    native.close(current.tapFd);
    current.guest.close();
    current = undefined;
  }
});

/** An engine on a fake tap; closed after the test. */
export async function makeRig(opts: { maxFlows?: number; mtu?: number; vnetHdrLen?: number; offloads?: Offloads } = {}): Promise<Rig> {
  const guest = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
  await new Promise<void>((r) => guest.bind(0, '127.0.0.1', r));
  const tapFd = native.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
  expect(native.connect(tapFd, Uint8Array.of(127, 0, 0, 1), guest.address().port, 0)).toBe(0);
  native.setsockoptInt(tapFd, C.SOL_SOCKET, C.SO_SNDBUF, 8 << 20);
  const config = buildConfig(parseArgs(['--config-net', '-m', String(opts.mtu ?? 65520)], 'pasta'), HOST);
  let now = 1000;
  const vnet = opts.vnetHdrLen ?? 0;
  const engine = new Engine({
    config, tapFd, vnetHdrLen: vnet, offloads: opts.offloads, log: createLogger({ name: 'test', level: 'silent' }),
    maxFlows: opts.maxFlows, clock: () => now++, manualTicks: true,
  });
  engine.loop.unref();
  const r: Rig = { engine, guest, tapFd, frames: [], vnet: new Map(), waiters: [] };
  guest.on('message', (m) => {
    const frame = m.subarray(vnet);
    r.vnet.set(frame, m.subarray(0, vnet));
    r.frames.push(frame);
    for (const w of r.waiters.splice(0)) w();
  });
  current = r;
  return r;
}

/** The next frame from the engine that `pred` accepts. */
export function frameFrom(r: Rig, pred: (f: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve) => {
    const check = (): void => {
      const i = r.frames.findIndex(pred);
      if (i >= 0) resolve(r.frames.splice(i, 1)[0]);
      else r.waiters.push(check);
    };
    check();
  });
}

/** An IPv4 or IPv6 frame from the guest to `dst`, with a layer-4 message whose checksum field is at `csum`. */
export function ipFrame(proto: number, dst: Uint8Array, l4: Buffer, csum: number): Buffer {
  const v4 = dst.length === 4;
  const src = v4 ? G : G6;
  const ip = Buffer.alloc(v4 ? 20 : 40);
  if (v4) {
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + l4.length, 2);
    ip.writeUInt16BE(0x4000, 6);
    ip[8] = 64;
    ip[9] = proto;
    ip.set(src, 12);
    ip.set(dst, 16);
    ip.writeUInt16BE(referenceChecksum(ip), 10);
  } else {
    ip[0] = 0x60;
    ip.writeUInt16BE(l4.length, 4);
    ip[6] = proto;
    ip[7] = 64;
    ip.set(src, 8);
    ip.set(dst, 24);
  }
  const seg = Buffer.from(l4);
  seg.writeUInt16BE(referenceChecksum(v4 ? pseudo4(src, dst, proto, seg.length) : pseudo6(src, dst, proto, seg.length), seg), csum);
  return Buffer.concat([hex(`9a559a559a55 5e8a3c112233 ${v4 ? '0800' : '86dd'}`), ip, seg]);
}

/** A TCP segment from the guest's `sport` to the gateway's `dport` (IPv4, or IPv6 with `v6`). */
export function tcpSegment(sport: number, dport: number, seq: number, ack: number, flags: number, data = Buffer.alloc(0), v6 = false): Buffer {
  const t = Buffer.alloc(20);
  t.writeUInt16BE(sport, 0);
  t.writeUInt16BE(dport, 2);
  t.writeUInt32BE(seq >>> 0, 4);
  t.writeUInt32BE(ack >>> 0, 8);
  t[12] = 0x50;
  t[13] = flags;
  t.writeUInt16BE(0xffff, 14);
  return ipFrame(PROTO_TCP, v6 ? GW6 : GW, Buffer.concat([t, data]), 16);
}

/** A UDP datagram from the guest's `sport` to the gateway's `dport`. */
export function udpDatagram(sport: number, dport: number, data: Buffer, v6 = false): Buffer {
  const u = Buffer.alloc(8);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(dport, 2);
  u.writeUInt16BE(8 + data.length, 4);
  return ipFrame(PROTO_UDP, v6 ? GW6 : GW, Buffer.concat([u, data]), 6);
}

/** Offset of the layer-4 header of a frame from the engine. */
export const l4Of = (f: Buffer): number => (f.readUInt16BE(12) === 0x86dd ? 54 : 34);
export const tcpFlags = (f: Buffer): number => f[l4Of(f) + 13];
export const tcpPorts = (f: Buffer): [number, number] => [f.readUInt16BE(l4Of(f)), f.readUInt16BE(l4Of(f) + 2)];

/** Feed frames from "the guest" as one batch, in one buffer as the tap reader leaves them; `gso` gives a frame's GSO type and size. */
export function batch(r: Rig, frames: Buffer[], gso: Array<[number, number] | undefined> = []): void {
  const buf = Buffer.concat(frames);
  let off = 0;
  frames.forEach((f, i) => {
    r.engine.frameFromTap(buf, off, f.length, r.engine.loop.now(), gso[i]?.[0] ?? 0, gso[i]?.[1] ?? 0);
    off += f.length;
  });
  r.engine.finishBatch();
}

/** A TCP server on the host's loopback (IPv4, or ::1 with `v6`), closed after the test. */
export async function listen(v6 = false): Promise<{ port: number; got: Buffer[]; accepted: Promise<net.Socket> }> {
  const got: Buffer[] = [];
  let onAccept!: (s: net.Socket) => void;
  const accepted = new Promise<net.Socket>((r) => (onAccept = r));
  const server = net.createServer((s) => {
    s.on('error', () => {}); // the engine's close() resets what is left
    s.on('data', (d) => got.push(d));
    onAccept(s);
  });
  await new Promise<void>((r) => server.listen(0, v6 ? '::1' : '127.0.0.1', r));
  closers.push(() => server.close());
  return { port: (server.address() as net.AddressInfo).port, got, accepted };
}

/** Open a connection from the guest to the host's loopback `port`: SYN, SYN-ACK, ACK. Returns our ISN + 1. */
export async function connect(r: Rig, sport: number, port: number, v6 = false): Promise<number> {
  batch(r, [tcpSegment(sport, port, 1000, 0, 0x02, undefined, v6)]);
  const synAck = await frameFrom(r, (f) => tcpPorts(f)[1] === sport && (tcpFlags(f) & 0x12) === 0x12);
  const iss = (synAck.readUInt32BE(l4Of(synAck) + 4) + 1) >>> 0;
  batch(r, [tcpSegment(sport, port, 1001, iss, 0x10, undefined, v6)]);
  return iss;
}
