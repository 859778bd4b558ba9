// passt --vhost-user's transport inside a running passt (PasstRun on an
// inherited socket, --fd), driven by a fake front end on the other end of a
// socket pair: the guest's memory is a memfd the test reads and writes with
// pread/pwrite (the same pages passt maps), the rings are laid out by hand,
// and the kicks and interrupts are real eventfds. An ARP request the guest
// transmits is answered into its receive buffers. Malformed and truncated
// messages end the connection cleanly — an error naming the cause, every fd
// QEMU gave closed — and never crash passt.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import net from 'node:net';
import { native } from '../../src/native.js';
import { buildConfig, type HostNet } from '../../src/conf.js';
import { parseArgs } from '../../src/options.js';
import type { Logger } from '../../src/log.js';
import { PasstRun } from '../../src/passt.js';
import { encodeRequest, Req } from '../../src/vhost/protocol.js';
import { until } from './wait.js';
import { ACK, ACK4_HEX, PSH, SYN, SYN4_HEX, segment } from './engine-rig.js';
import { pseudo4, referenceChecksum } from './wire-frames.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const u64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
};

const HOST: HostNet = {
  links: [{ index: 2, name: 'eth0', flags: 0x1003, mtu: 65520, up: true }],
  addrs4: [{ family: 4, index: 2, prefixLen: 24, addr: Uint8Array.of(198, 51, 100, 2), scope: 0, flags: 0 }],
  addrs6: [],
  routes4: [{ family: 4, table: 254, dst: null, dstLen: 0, gateway: Uint8Array.of(198, 51, 100, 1), oif: 2, protocol: 4, scope: 0, type: 1 }],
  routes6: [],
};

const MEM = 1 << 20;
const QVA = 0x7f0000000000n;
const NUM = 16;
/** Per queue: descriptor table, available ring, used ring (offsets in guest memory); data from 0x10000. */
const RINGS = [
  { desc: 0x1000, avail: 0x2000, used: 0x3000 },
  { desc: 0x4000, avail: 0x5000, used: 0x6000 },
];

interface Run {
  run: PasstRun;
  fe: number;
  mem: number;
  done: Promise<{ code: number; reason: string }>;
  errors: string[];
  kicks: number[];
  calls: number[];
}

let current: Run | undefined;
afterEach(async () => {
  if (!current) return;
  current.run.stop('test over');
  native.close(current.fe);
  native.close(current.mem);
  for (const fd of [...current.kicks, ...current.calls]) native.close(fd);
  current = undefined;
});

const fdCount = (): number => fs.readdirSync('/proc/self/fd').length;

function start(): Run {
  const pair = new Int32Array(2);
  expect(native.unixPair(pair)).toBe(0);
  const config = buildConfig(parseArgs(['--vhost-user', '--fd', String(pair[0]), '--dns', '192.0.2.53', '-4'], 'passt'), HOST, 'passt');
  const errors: string[] = [];
  // Errors (the disconnect's reason among them) collected; nothing else.
  const log = {
    error: (m: unknown) => void errors.push(String(m)), warn: () => {}, info: () => {}, debug: () => {}, trace: () => {}, fatal: () => {},
    isLevelEnabled: (l: string) => l === 'error' || l === 'fatal', level: 'error',
  } as unknown as Logger;
  const run = new PasstRun(config, log, null);
  const mem = native.memfd(MEM);
  current = { run, fe: pair[1], mem, done: run.done, errors, kicks: [native.eventfd(0, true), native.eventfd(0, true)], calls: [native.eventfd(0, true), native.eventfd(0, true)] };
  return current;
}

/** Send one request (with fds), and read the reply if one is expected. */
async function request(r: Run, req: number, payload: Buffer = Buffer.alloc(0), fds: number[] = [], reply = false): Promise<Buffer | null> {
  const m = encodeRequest(req, payload);
  expect(native.vuSend(r.fe, m, 0, m.length, Int32Array.from(fds), fds.length)).toBe(m.length);
  if (!reply) return null;
  const buf = Buffer.alloc(64);
  let got = 0;
  await until(() => {
    const n = native.read(r.fe, buf, got, buf.length - got);
    if (n > 0) got += n;
    return got >= 12 && got >= 12 + buf.readUInt32LE(8);
  }, `the reply to request ${req}`);
  return buf.subarray(0, got);
}

const pwrite = (r: Run, off: number, b: Buffer): void => void fs.writeSync(r.mem, b, 0, b.length, off);
const pread = (r: Run, off: number, len: number): Buffer => {
  const b = Buffer.alloc(len);
  fs.readSync(r.mem, b, 0, len, off);
  return b;
};

function desc(r: Run, q: number, i: number, addr: number, len: number, flags: number): void {
  const d = Buffer.alloc(16);
  d.writeBigUInt64LE(BigInt(addr), 0);
  d.writeUInt32LE(len, 8);
  d.writeUInt16LE(flags, 12);
  pwrite(r, RINGS[q].desc + 16 * i, d);
}

function makeAvail(r: Run, q: number, slot: number, head: number, idx: number): void {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(head);
  pwrite(r, RINGS[q].avail + 4 + 2 * slot, b);
  b.writeUInt16LE(idx);
  pwrite(r, RINGS[q].avail + 2, b);
}

/** What QEMU sends to bring the device up: features, memory, both rings with their kick and call fds. */
async function setUp(r: Run): Promise<void> {
  const features = (await request(r, Req.GetFeatures, undefined, [], true))!.readBigUInt64LE(12);
  await request(r, Req.SetFeatures, u64(features & ~(1n << 30n)));
  const table = Buffer.concat([hex('01000000 00000000'), u64(0n), u64(BigInt(MEM)), u64(QVA), u64(0n)]);
  await request(r, Req.SetMemTable, table, [r.mem]);
  for (const q of [0, 1]) {
    const state = Buffer.alloc(8);
    state.writeUInt32LE(q, 0);
    state.writeUInt32LE(NUM, 4);
    await request(r, Req.SetVringNum, state);
    const a = RINGS[q];
    await request(r, Req.SetVringAddr, Buffer.concat([state.subarray(0, 4), Buffer.alloc(4), u64(QVA + BigInt(a.desc)), u64(QVA + BigInt(a.used)), u64(QVA + BigInt(a.avail)), u64(0n)]));
    state.writeUInt32LE(0, 4);
    await request(r, Req.SetVringBase, state);
    await request(r, Req.SetVringCall, u64(BigInt(q)), [r.calls[q]]);
    await request(r, Req.SetVringKick, u64(BigInt(q)), [r.kicks[q]]);
  }
}

// An ARP request from the guest (52:54:00:12:34:56, 198.51.100.2) for the gateway 198.51.100.1.
const ARP_REQUEST = hex(
  'ffffffffffff 525400123456 0806' + '0001 0800 06 04 0001' + '525400123456 c6336402' + '000000000000 c6336401',
);

describe('passt --vhost-user on an inherited socket, with a fake front end', () => {
  it('answers an ARP request the guest transmits into its receive buffers, and interrupts it', async () => {
    const r = start();
    await setUp(r);
    // RX: two 2 KiB buffers for passt's frames.
    desc(r, 0, 0, 0x10000, 2048, 2);
    desc(r, 0, 1, 0x10800, 2048, 2);
    makeAvail(r, 0, 0, 0, 1);
    makeAvail(r, 0, 1, 1, 2);
    // TX: the ARP request after a zeroed 12-byte header, then a kick.
    pwrite(r, 0x20000, Buffer.concat([Buffer.alloc(12), ARP_REQUEST]));
    desc(r, 1, 0, 0x20000, 12 + ARP_REQUEST.length, 0);
    makeAvail(r, 1, 0, 0, 1);
    native.write(r.kicks[1], u64(1n), 0, 8);
    const cnt = Buffer.alloc(8);
    await until(() => native.read(r.calls[0], cnt, 0, 8) === 8, 'an interrupt on RX');
    // TX came back (used index 1), RX holds the reply: num_buffers 1, then an ARP reply from the gateway.
    expect(pread(r, RINGS[1].used + 2, 2).readUInt16LE()).toBe(1);
    expect(pread(r, RINGS[0].used + 2, 2).readUInt16LE()).toBe(1);
    const [head, len] = [pread(r, RINGS[0].used + 4, 4).readUInt32LE(), pread(r, RINGS[0].used + 8, 4).readUInt32LE()];
    expect(head).toBe(0);
    expect(len).toBeGreaterThanOrEqual(12 + 42);
    const got = pread(r, 0x10000, len);
    expect(got.readUInt16LE(10)).toBe(1);
    const reply = got.subarray(12);
    expect(reply.subarray(0, 6).toString('hex')).toBe('525400123456');
    expect(reply.subarray(12, 22).toString('hex')).toBe('0806000108000604' + '0002');
    expect(reply.subarray(28, 32).toString('hex')).toBe('c6336401'); // sender: the gateway
    expect(reply.subarray(32, 38).toString('hex')).toBe('525400123456');
    expect(r.errors).toEqual([]);
  });

  const broken: Array<[string, (r: Run) => Promise<void>, RegExp]> = [
    ['another protocol version', async (r) => void native.send(r.fe, hex('01000000 02000000 00000000'), 0, 12, 0), /protocol version 2/],
    ['a payload larger than any request', async (r) => void native.send(r.fe, hex('05000000 01000000 00100000'), 0, 12, 0), /a payload of 4096 bytes/],
    ['a request we do not know', async (r) => void (await request(r, 77)), /request 77 is not supported/],
    ['a memory table without its fd', async (r) => void (await request(r, Req.SetMemTable, Buffer.concat([hex('01000000 00000000'), u64(0n), u64(4096n), u64(QVA), u64(0n)]))), /0 file descriptors, not 1/],
    ['rings outside guest memory', async (r) => {
      await setUp(r);
      await request(r, Req.SetVringAddr, Buffer.concat([Buffer.alloc(8), u64(QVA + BigInt(MEM)), u64(QVA), u64(QVA), u64(0n)]));
    }, /are not in guest memory/],
    ['a broken ring: the guest makes descriptor 99 of 16 available', async (r) => {
      await setUp(r);
      makeAvail(r, 1, 0, 99, 1);
      native.write(r.kicks[1], u64(1n), 0, 8);
    }, /descriptor 99 is available in a ring of 16/],
  ];
  for (const [what, send, re] of broken) {
    it(`disconnects on ${what}, with an error saying so, closing every fd QEMU gave`, async () => {
      const before = fdCount();
      const r = start();
      await send(r);
      const { reason } = await r.done;
      expect(reason).toMatch(/socket closed/);
      expect(r.errors.join('\n')).toMatch(re);
      // Ours (the socket pair's other end, the memfd, the eventfds) are all that remain.
      await r.run.released;
      expect(fdCount()).toBe(before + 6);
    });
  }

  it('peeks TCP data from a host socket straight into the guest\'s receive buffers with literal headers; with no buffer the connection waits for the guest\'s RX kick', async () => {
    const r = start();
    await setUp(r);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    let peer: net.Socket | undefined;
    server.on('connection', (s) => (peer = s));
    try {
      // RX: two 4 KiB buffers (the SYN-ACK, then the data).
      for (let i = 0; i < 2; i++) {
        desc(r, 0, i, 0x10000 + 0x1000 * i, 4096, 2);
        makeAvail(r, 0, i, i, i + 1);
      }
      let tx = 0;
      const transmit = (frame: Buffer): void => {
        pwrite(r, 0x20000 + 0x1000 * tx, Buffer.concat([Buffer.alloc(12), frame]));
        desc(r, 1, tx, 0x20000 + 0x1000 * tx, 12 + frame.length, 0);
        makeAvail(r, 1, tx, tx, tx + 1);
        tx++;
        native.write(r.kicks[1], u64(1n), 0, 8);
      };
      const rxUsed = (): number => pread(r, RINGS[0].used + 2, 2).readUInt16LE();
      const rxFlags = (): number => pread(r, RINGS[0].used, 2).readUInt16LE();
      // The guest (02:aa:bb:cc:dd:ee, 198.51.100.2:40000, MSS 1460) connects to the gateway, which is the host's loopback.
      transmit(segment(SYN4_HEX, { dport: port, seq: 100, ack: 0, flags: SYN }));
      await until(() => rxUsed() >= 1, 'the SYN-ACK');
      const synAck = pread(r, 0x10000 + 12, 14 + 20 + 32);
      expect(synAck[14 + 20 + 13]).toBe(SYN | ACK);
      const isn = synAck.readUInt32BE(14 + 20 + 4);
      transmit(segment(ACK4_HEX, { dport: port, seq: 101, ack: isn + 1, flags: ACK }));
      await until(() => peer !== undefined, 'the connection at the server');
      const data = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 13 + 1) & 0xff));
      peer!.write(data);
      await until(() => rxUsed() >= 2, 'the data');
      const [head, len] = [pread(r, RINGS[0].used + 12, 4).readUInt32LE(), pread(r, RINGS[0].used + 16, 4).readUInt32LE()];
      expect([head, len]).toEqual([1, 12 + 54 + 3000]);
      const got = pread(r, 0x11000, len);
      // A TSO frame (3000 bytes > MSS 1460, GUEST_TSO4) with a partial checksum, in one buffer.
      const window = got.readUInt16BE(12 + 14 + 20 + 14);
      const ipHeader = (ipCsum: number): string => '45000be0' + '00004000' + 'ff06' + ipCsum.toString(16).padStart(4, '0') + 'c6336401' + 'c6336402';
      const ipCsum = referenceChecksum(Buffer.from(ipHeader(0), 'hex'));
      const partial = 0xffff - referenceChecksum(pseudo4(Uint8Array.of(198, 51, 100, 1), Uint8Array.of(198, 51, 100, 2), 6, 20 + 3000));
      const expected =
        '01' + '01' + '3600' + 'b405' + '2200' + '1000' + '0100' + // NEEDS_CSUM, GSO TCPv4, hdr_len 54, gso_size 1460, csum 34+16, num_buffers 1
        '02aabbccddee' + '9a559a559a55' + '0800' +
        ipHeader(ipCsum) +
        port.toString(16).padStart(4, '0') + '9c40' + ((isn + 1) >>> 0).toString(16).padStart(8, '0') + '00000065' + '5018' +
        window.toString(16).padStart(4, '0') + partial.toString(16).padStart(4, '0') + '0000';
      expect(got.subarray(0, 12 + 54).toString('hex')).toBe(expected);
      expect(got.subarray(12 + 54).equals(data)).toBe(true);
      // No buffer left: 2000 more bytes wait in the socket, and the guest is asked to kick RX.
      peer!.write(data.subarray(0, 2000));
      await until(() => rxFlags() === 0, 'RX kicks wanted');
      expect(rxUsed()).toBe(2);
      // The guest posts two buffers and kicks: the data comes, after the first 3000 bytes, and one buffer is left.
      desc(r, 0, 2, 0x12000, 4096, 2);
      desc(r, 0, 3, 0x13000, 4096, 2);
      makeAvail(r, 0, 2, 2, 3);
      makeAvail(r, 0, 3, 3, 4);
      native.write(r.kicks[0], u64(1n), 0, 8);
      await until(() => rxUsed() >= 3, 'the data after the kick');
      const more = pread(r, 0x12000, 12 + 54 + 2000);
      expect(more.readUInt32BE(12 + 14 + 20 + 4)).toBe((isn + 1 + 3000) >>> 0);
      expect(more.subarray(12 + 54).equals(data.subarray(0, 2000))).toBe(true);
      expect(rxFlags()).toBe(1); // no longer wanted
      expect(rxUsed()).toBe(3);
      expect(r.errors).toEqual([]);
    } finally {
      peer?.destroy();
      server.close();
    }
  });

  it('disconnects cleanly when the front end closes in the middle of a message', async () => {
    const r = start();
    native.vuSend(r.fe, hex('05000000 01000000 28000000 01000000'), 0, 16, Int32Array.of(r.mem), 1);
    native.close(r.fe);
    r.fe = native.eventfd(0, true); // something for afterEach to close
    await r.done;
    expect(r.errors.join('\n')).toMatch(/end of file in the middle of a message \(16 bytes of it\)/);
  });
});
