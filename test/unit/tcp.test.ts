// The TCP translation driven by literal frames, with real host sockets on loopback only.
// The engine's "tap" is a connected UDP socket: every frame the engine sends to the
// guest arrives as one datagram at `guest`, where the test reads it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import net from 'node:net';
import { native, C } from '../../src/native.js';
import { Engine } from '../../src/engine.js';
import { buildConfig } from '../../src/conf.js';
import { parseArgs } from '../../src/options.js';
import { createLogger } from '../../src/log.js';
import { l4Checksum4 } from '../../src/l2/checksum.js';

const GUEST_MAC = '02aabbccddee';
const OUR_MAC = '9a559a559a55';

/**
 * A TCP SYN from 198.51.100.2:40000 to 198.51.100.1 (the gateway) as Linux sends it:
 * MSS 1460, SACK permitted, timestamps, window scale 7. Destination port and
 * checksums are patched per test.
 */
const SYN_HEX =
  OUR_MAC + GUEST_MAC + '0800' +
  '4500003c1c4640004006' + '0000' + 'c6336402' + 'c6336401' +
  '9c40' + '0000' + '00000064' + '00000000' + 'a002' + 'faf0' + '0000' + '0000' +
  '020405b40402080a000000010000000001030307';

function frame(hex: string, dport: number, seq: number, ack: number, flags: number, payload = Buffer.alloc(0)): Buffer {
  const head = Buffer.from(hex, 'hex');
  const f = Buffer.concat([head, payload]);
  const ip = 14;
  const l4 = ip + 20;
  f.writeUInt16BE(f.length - 14, ip + 2);
  f.writeUInt16BE(dport, l4 + 2);
  f.writeUInt32BE(seq >>> 0, l4 + 4);
  f.writeUInt32BE(ack >>> 0, l4 + 8);
  f[l4 + 13] = flags;
  // IPv4 header checksum
  f.writeUInt16BE(0, ip + 10);
  let s = 0;
  for (let i = ip; i < ip + 20; i += 2) s += f.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  f.writeUInt16BE(~s & 0xffff, ip + 10);
  l4Checksum4(f, ip, l4, f.length - l4);
  return f;
}

/** A plain ACK (data offset 5, no options) built from the SYN's Ethernet and IP headers. */
const ACK_HEX = SYN_HEX.slice(0, 2 * (14 + 20)) + '9c40' + '0000' + '00000000' + '00000000' + '5010' + '0200' + '0000' + '0000';

interface Seg {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  options: Buffer;
  payload: Buffer;
  srcIp: string;
  dstIp: string;
  dstMac: string;
}

function parse(f: Buffer): Seg {
  const ip = 14;
  const ihl = (f[ip] & 15) * 4;
  const l4 = ip + ihl;
  const doff = (f[l4 + 12] >> 4) * 4;
  const total = f.readUInt16BE(ip + 2);
  return {
    sport: f.readUInt16BE(l4),
    dport: f.readUInt16BE(l4 + 2),
    seq: f.readUInt32BE(l4 + 4),
    ack: f.readUInt32BE(l4 + 8),
    flags: f[l4 + 13],
    window: f.readUInt16BE(l4 + 14),
    options: f.subarray(l4 + 20, l4 + doff),
    payload: f.subarray(l4 + doff, ip + total),
    srcIp: [...f.subarray(ip + 12, ip + 16)].join('.'),
    dstIp: [...f.subarray(ip + 16, ip + 20)].join('.'),
    dstMac: f.subarray(0, 6).toString('hex'),
  };
}

let guest: dgram.Socket;
let tapFd = -1;
let engine: Engine;
const received: Buffer[] = [];
let waiters: Array<() => void> = [];

function nextFrame(pred: (s: Seg) => boolean = () => true, timeoutMs = 3000): Promise<Seg> {
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error('no matching frame from the engine')), timeoutMs);
    const check = () => {
      const i = received.findIndex((f) => pred(parse(f)));
      if (i >= 0) {
        clearTimeout(deadline);
        const [f] = received.splice(i, 1);
        resolve(parse(f));
        return true;
      }
      return false;
    };
    if (!check()) waiters.push(() => void check());
  });
}

beforeAll(async () => {
  guest = dgram.createSocket('udp4');
  await new Promise<void>((r) => guest.bind(0, '127.0.0.1', r));
  guest.on('message', (m) => {
    received.push(m);
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  });
  tapFd = native.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
  expect(native.connect(tapFd, Uint8Array.of(127, 0, 0, 1), guest.address().port, 0)).toBe(0);
  const host = {
    links: [{ index: 2, name: 'eth0', flags: 0x1003, mtu: 65520, up: true }],
    addrs4: [{ family: 4 as const, index: 2, prefixLen: 24, addr: Uint8Array.of(198, 51, 100, 2), scope: 0, flags: 0 }],
    addrs6: [],
    routes4: [{ family: 4 as const, table: 254, dst: null, dstLen: 0, gateway: Uint8Array.of(198, 51, 100, 1), oif: 2, protocol: 4, scope: 0, type: 1 }],
    routes6: [],
  };
  const config = buildConfig(parseArgs(['--config-net'], 'pasta'), host);
  engine = new Engine({ config, tapFd, log: createLogger({ name: 'test', level: 'silent' }) });
  engine.loop.unref();
});

afterEach(() => {
  received.length = 0;
});

afterAll(() => {
  engine?.close();
  if (tapFd >= 0) native.close(tapFd);
  guest?.close();
});

/** Feed one frame from "the guest" and flush, as the loop does after a batch. */
function fromGuest(f: Buffer): void {
  engine.frameFromTap(f, 0, f.length, performance.now());
  engine.finishBatch();
}

describe('TCP translation', () => {
  it('connects, answers SYN-ACK with our options, moves data both ways, closes', async () => {
    const got: Buffer[] = [];
    let serverSocket: net.Socket | undefined;
    const server = net.createServer((s) => {
      serverSocket = s;
      s.on('data', (d) => got.push(d));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      // SYN to the gateway: mapped to the host's loopback.
      fromGuest(frame(SYN_HEX, port, 100, 0, 0x02));
      const synAck = await nextFrame((s) => (s.flags & 0x12) === 0x12);
      expect(synAck.ack).toBe(101);
      expect(synAck.sport).toBe(port);
      expect(synAck.dport).toBe(40000);
      expect(synAck.srcIp).toBe('198.51.100.1');
      expect(synAck.dstIp).toBe('198.51.100.2');
      expect(synAck.dstMac).toBe(GUEST_MAC);
      // MSS for MTU 65520 (65480), window scale 8.
      expect(synAck.options.toString('hex')).toBe('0204ffc801030308');
      const iss = synAck.seq;

      // ACK of the SYN-ACK, then data.
      fromGuest(frame(ACK_HEX, port, 101, iss + 1, 0x10));
      fromGuest(frame(ACK_HEX, port, 101, iss + 1, 0x18, Buffer.from('hello')));
      const ack = await nextFrame((s) => s.ack === 106);
      expect(ack.flags & 0x10).toBe(0x10);
      expect(ack.window).toBeGreaterThan(0);
      await expect.poll(() => Buffer.concat(got).toString()).toBe('hello');

      // A retransmission of the same data is acknowledged again and not written twice.
      fromGuest(frame(ACK_HEX, port, 101, iss + 1, 0x18, Buffer.from('hello')));
      await nextFrame((s) => s.ack === 106);
      expect(Buffer.concat(got).toString()).toBe('hello');

      // Data from the host side arrives as a segment with the next sequence number.
      serverSocket!.write('world');
      const data = await nextFrame((s) => s.payload.length > 0);
      expect(data.payload.toString()).toBe('world');
      expect(data.seq).toBe((iss + 1) >>> 0);
      expect(data.ack).toBe(106);

      // Not acknowledged yet: still in the socket (peeked, not consumed).
      expect(engine.tcp.count).toBe(1);
      fromGuest(frame(ACK_HEX, port, 106, iss + 6, 0x10));

      // Guest FIN: the host side sees EOF.
      const ended = new Promise<void>((r) => serverSocket!.on('end', r));
      fromGuest(frame(ACK_HEX, port, 106, iss + 6, 0x11));
      await ended;
      await nextFrame((s) => s.ack === 107);
      // Host closes too: FIN to the guest, the guest acknowledges, the flow is gone.
      serverSocket!.end();
      const fin = await nextFrame((s) => (s.flags & 0x01) === 0x01);
      expect(fin.seq).toBe((iss + 6) >>> 0);
      fromGuest(frame(ACK_HEX, port, 107, iss + 7, 0x10));
      expect(engine.tcp.count).toBe(0);
    } finally {
      server.close();
    }
  });

  it('retransmits unacknowledged data on the ACK timeout and on three duplicate ACKs', async () => {
    let serverSocket: net.Socket | undefined;
    const server = net.createServer((s) => {
      serverSocket = s;
      s.on('error', () => {}); // the guest resets this connection at the end
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      fromGuest(frame(SYN_HEX, port, 7000, 0, 0x02));
      const synAck = await nextFrame((s) => (s.flags & 0x12) === 0x12);
      const iss = synAck.seq;
      fromGuest(frame(ACK_HEX, port, 7001, iss + 1, 0x10));
      await expect.poll(() => serverSocket !== undefined).toBe(true);
      serverSocket!.write('first');
      const d1 = await nextFrame((s) => s.payload.length > 0);
      expect(d1.payload.toString()).toBe('first');
      // No ACK from the guest: after the timeout the same bytes come again, same sequence number.
      engine.tcp.timer(performance.now() + 1500);
      (engine as unknown as { tapOut: { flush(): void } }).tapOut.flush();
      const again = await nextFrame((s) => s.payload.length > 0);
      expect(again.seq).toBe(d1.seq);
      expect(again.payload.toString()).toBe('first');
      // Acknowledge it; more data; then three duplicate ACKs of the old point make it go again.
      fromGuest(frame(ACK_HEX, port, 7001, iss + 6, 0x10));
      serverSocket!.write('second');
      const d2 = await nextFrame((s) => s.payload.length > 0);
      expect(d2.seq).toBe((iss + 6) >>> 0);
      expect(engine.stats().tcp.retransmits).toBe(1);
      for (let k = 0; k < 3; k++) fromGuest(frame(ACK_HEX, port, 7001, iss + 6, 0x10));
      const d3 = await nextFrame((s) => s.payload.length > 0);
      expect(d3.seq).toBe(d2.seq);
      expect(d3.payload.toString()).toBe('second');
      expect(engine.stats().tcp.retransmits).toBe(2);
      fromGuest(frame(ACK_HEX, port, 7001, iss + 12, 0x14)); // RST: done
      expect(engine.tcp.count).toBe(0);
    } finally {
      server.close();
    }
  });

  it('answers a SYN to a closed port with a RST', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    fromGuest(frame(SYN_HEX, port, 5000, 0, 0x02));
    const rst = await nextFrame((s) => (s.flags & 0x04) === 0x04);
    expect(rst.ack).toBe(5001);
    expect(engine.tcp.count).toBe(0);
  });

  it('answers an old connection\'s ACK to our SYN with a RST, sends the SYN again, and starts a new incarnation above the old', async () => {
    // A connection accepted on a host socket, to open towards the guest (as -t does).
    const lfd = native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_NONBLOCK, 0);
    expect(native.bind(lfd, Uint8Array.of(127, 0, 0, 1), 0, 0)).toBe(0);
    expect(native.listen(lfd, 8)).toBe(0);
    const addr = new Uint8Array(16);
    const info = new Int32Array(3);
    native.getsockname(lfd, addr, info);
    const clients: net.Socket[] = [];
    const accepted = async (): Promise<number> => {
      const c = net.connect(info[1], '127.0.0.1');
      c.on('error', () => {}); // reset when the guest resets
      clients.push(c);
      await new Promise((r) => c.once('connect', r));
      for (;;) {
        const fd = native.accept(lfd, new Uint8Array(16), new Int32Array(3));
        if (fd >= 0) return fd;
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const GUEST = Uint8Array.of(198, 51, 100, 2);
    const REMOTE = Uint8Array.of(198, 51, 100, 1);
    // Frames from the guest's port 8080 to the remote's port 5555.
    const fromPort8080 = (hex: string) => hex.slice(0, 68) + '1f90' + hex.slice(72);
    try {
      expect(engine.tcp.connFromSock(await accepted(), 4, GUEST, 8080, REMOTE, 5555, performance.now())).toBe(true);
      const syn = await nextFrame((s) => s.flags === 0x02 && s.dport === 8080);
      // The guest's kernel still has an old connection of these ports in TIME_WAIT and acknowledges that.
      const staleAck = (syn.seq + 0x40000000) >>> 0;
      fromGuest(frame(fromPort8080(ACK_HEX), 5555, 12345, staleAck, 0x10));
      const rst = await nextFrame((s) => (s.flags & 0x04) === 0x04);
      expect(rst.seq).toBe(staleAck);
      expect(rst.dport).toBe(8080);
      const again = await nextFrame((s) => s.flags === 0x02 && s.dport === 8080);
      expect(again.seq).toBe(syn.seq);
      // The guest accepts now: SYN-ACK, and we acknowledge it.
      fromGuest(frame(fromPort8080(SYN_HEX), 5555, 7000, (syn.seq + 1) >>> 0, 0x12));
      const ack = await nextFrame((s) => s.flags === 0x10 && s.dport === 8080);
      expect(ack.ack).toBe(7001);
      // The guest resets it; the same ports again get an initial sequence number above the old one.
      fromGuest(frame(fromPort8080(ACK_HEX), 5555, 7001, 0, 0x04));
      expect(engine.tcp.connFromSock(await accepted(), 4, GUEST, 8080, REMOTE, 5555, performance.now())).toBe(true);
      const next = await nextFrame((s) => s.flags === 0x02 && s.dport === 8080);
      const advance = (next.seq - syn.seq) >>> 0;
      expect(advance).toBeGreaterThan(0);
      expect(advance).toBeLessThan(0x40000000);
      fromGuest(frame(fromPort8080(ACK_HEX), 5555, 0, 0, 0x04));
    } finally {
      for (const c of clients) c.destroy();
      native.close(lfd);
    }
  });

  it('resets segments of unknown connections and drops malformed ones without harm', async () => {
    fromGuest(frame(ACK_HEX, 9999, 1, 77, 0x10));
    const rst = await nextFrame((s) => (s.flags & 0x04) === 0x04);
    expect(rst.seq).toBe(77);
    const good = frame(SYN_HEX, 9999, 1, 0, 0x02);
    for (let len = 0; len < good.length; len++) fromGuest(good.subarray(0, len));
    const bad = Buffer.from(good);
    bad[14 + 20 + 12] = 0xf0; // data offset past the segment
    fromGuest(bad);
    bad[14] = 0x4f; // IHL past the packet
    fromGuest(bad);
    expect(engine.tcp.count).toBe(0);
    expect(engine.stats().droppedFromTap).toBeGreaterThan(0);
  });
});
