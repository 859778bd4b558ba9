// vhost-user (src/vhost/, native/vhost.cc) from literal bytes: the message
// reader and decoders (whole, in pieces, malformed, truncated), the device's
// answers and its care of every fd a message brings, and the native split
// virtqueues over guest memory that is a Buffer (addBufferRegion) or a real
// memfd: descriptor chains, indirect tables, mergeable receive buffers, and
// guest addresses outside every region.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { native, E } from '../../src/native.js';
import {
  MessageReader, VuProtocolError, decodeAddr, decodeMemTable, decodeState, decodeVringFd, encodeReply, encodeRequest,
  OFFERED_FEATURES, Req, type VuIo, type VuMessage,
} from '../../src/vhost/protocol.js';
import { VhostUserDevice } from '../../src/vhost/device.js';
import { createLogger } from '../../src/log.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A VuIo that hands out `chunks` one per recv (each with its fds), then EAGAIN, or end of file when `eof`. */
function scripted(chunks: Array<{ bytes: Buffer; fds?: number[] }>, eof = false): VuIo {
  let pending: Buffer | null = null;
  let pendingFds: number[] = [];
  return {
    recv(_fd, buf, off, len, fds) {
      fds[0] = 0;
      if (!pending) {
        const c = chunks.shift();
        if (!c) return eof ? 0 : -E.EAGAIN;
        pending = c.bytes;
        pendingFds = c.fds ?? [];
      }
      const n = Math.min(len, pending.length);
      pending.copy(buf, off, 0, n);
      pending = n < pending.length ? pending.subarray(n) : null;
      fds[0] = pendingFds.length;
      pendingFds.forEach((f, i) => (fds[1 + i] = f));
      pendingFds = [];
      return n;
    },
  };
}

const msg = (request: number, payload: Buffer = Buffer.alloc(0), fds: number[] = [], flags = 1): VuMessage => ({ request, flags, size: payload.length, payload, fds });

describe('MessageReader', () => {
  it('frames GET_FEATURES and SET_FEATURES from literal bytes, whole and in pieces', () => {
    const bytes = hex('01000000 01000000 00000000' + '02000000 01000000 08000000 0080000100000000');
    for (const cuts of [[bytes.length], [5, 7, 3, 100], [12, 12, 1, 100], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 100]]) {
      const chunks: Array<{ bytes: Buffer }> = [];
      let at = 0;
      for (const c of cuts) {
        if (at >= bytes.length) break;
        chunks.push({ bytes: bytes.subarray(at, at + c) });
        at += c;
      }
      const r = new MessageReader(3, scripted(chunks, true), () => {});
      const got: VuMessage[] = [];
      for (let i = 0; i < 50; i++) {
        const m = r.read();
        if (m === 'eof') break;
        if (m) got.push(m);
      }
      expect(got.map((m) => [m.request, m.flags, m.size, m.payload.toString('hex')])).toEqual([
        [1, 1, 0, ''],
        [2, 1, 8, '0080000100000000'],
      ]);
    }
  });

  it('returns null until the rest of a message comes, then the message with its fds', () => {
    const io = scripted([{ bytes: hex('0c000000 01000000 08000000 0100') , fds: [41] }]);
    const r = new MessageReader(3, io, () => {});
    expect(r.read()).toBe(null);
    (io as { recv: VuIo['recv'] }).recv = scripted([{ bytes: hex('000000000000') }]).recv;
    const m = r.read() as VuMessage;
    expect([m.request, m.size, m.payload.toString('hex'), m.fds]).toEqual([Req.SetVringKick, 8, '0100000000000000', [41]]);
  });

  it('refuses another protocol version, a payload larger than any request, and end of file inside a message; closes the fds got so far', () => {
    const cases: Array<[Buffer, RegExp]> = [
      [hex('01000000 02000000 00000000'), /protocol version 2, not 1/],
      [hex('01000000 00000000 00000000'), /protocol version 0/],
      [hex('05000000 01000000 09010000'), /a payload of 265 bytes \(at most 264\)/],
      [hex('05000000 01000000 ffffffff'), /a payload of 4294967295 bytes/],
    ];
    for (const [bytes, re] of cases) {
      const r = new MessageReader(3, scripted([{ bytes }]), () => {});
      expect(() => r.read()).toThrow(re);
      expect(() => new MessageReader(3, scripted([{ bytes }]), () => {}).read()).toThrow(VuProtocolError);
    }
    const closed: number[] = [];
    const r = new MessageReader(3, scripted([{ bytes: hex('05000000 01000000 28000000 01000000'), fds: [50, 51] }], true), (fd) => closed.push(fd));
    expect(() => r.read()).toThrow(/end of file in the middle of a message \(16 bytes of it\)/);
    r.discard();
    expect(closed).toEqual([50, 51]);
    // A clean end of file between messages is not an error.
    expect(new MessageReader(3, scripted([], true), () => {}).read()).toBe('eof');
  });

  it('takes real fds through a socket pair (vuRecv, SCM_RIGHTS), one message at a time', () => {
    const pair = new Int32Array(2);
    expect(native.unixPair(pair)).toBe(0);
    const efd = native.eventfd(0, true);
    try {
      const a = encodeRequest(Req.SetVringCall, hex('0000000000000000'));
      const b = encodeRequest(Req.GetFeatures);
      // Both in one send: the fd is attributed to the first message only.
      expect(native.vuSend(pair[1], Buffer.concat([a, b]), 0, a.length + b.length, Int32Array.of(efd), 1)).toBe(a.length + b.length);
      const r = new MessageReader(pair[0], { recv: (fd, buf, off, len, fds) => native.vuRecv(fd, buf, off, len, fds) }, (fd) => native.close(fd));
      const m1 = r.read() as VuMessage;
      const m2 = r.read() as VuMessage;
      expect([m1.request, m1.fds.length, m2.request, m2.fds.length]).toEqual([Req.SetVringCall, 1, Req.GetFeatures, 0]);
      expect(fs.readlinkSync(`/proc/self/fd/${m1.fds[0]}`)).toBe('anon_inode:[eventfd]');
      native.close(m1.fds[0]);
      expect(r.read()).toBe(null);
    } finally {
      native.close(efd);
      native.close(pair[0]);
      native.close(pair[1]);
    }
  });
});

describe('payload decoders', () => {
  it('decodes SET_MEM_TABLE from literal bytes and refuses wrong region and fd counts', () => {
    const region = '00000000 00000000' + '00000010 00000000' + '0000c0f7 ff7f0000' + '00000000 00000000';
    const two = hex('02000000 00000000' + region + '00000000 01000000' + '0000c00f 00000000' + '0000c007 00800000' + '0000001000000000');
    expect(decodeMemTable(msg(Req.SetMemTable, two, [7, 8]))).toEqual([
      { gpa: 0n, size: 0x10000000n, qva: 0x7ffff7c00000n, mmapOffset: 0n },
      { gpa: 0x100000000n, size: 0xfc00000n, qva: 0x800007c00000n, mmapOffset: 0x10000000n },
    ]);
    expect(() => decodeMemTable(msg(Req.SetMemTable, two, [7]))).toThrow(/1 file descriptors, not 2/);
    expect(() => decodeMemTable(msg(Req.SetMemTable, hex('00000000 00000000'), []))).toThrow(/0 memory regions/);
    expect(() => decodeMemTable(msg(Req.SetMemTable, hex('09000000 00000000'), []))).toThrow(/9 memory regions/);
    expect(() => decodeMemTable(msg(Req.SetMemTable, two.subarray(0, 40), [7, 8]))).toThrow(/2 regions in a payload of 40 bytes/);
    expect(() => decodeMemTable(msg(Req.SetMemTable, hex('0100'), []))).toThrow(/a payload of 2 bytes/);
    const empty = hex('01000000 00000000' + '00000000 00000000' + '00000000 00000000' + '00000000 00000000' + '00000000 00000000');
    expect(() => decodeMemTable(msg(Req.SetMemTable, empty, [7]))).toThrow(/region 0 is empty/);
  });

  it('decodes vring state, addresses and fds, and refuses a third queue or a wrong size', () => {
    expect(decodeState(msg(Req.SetVringNum, hex('01000000 00010000')))).toEqual({ index: 1, num: 256 });
    expect(() => decodeState(msg(Req.SetVringNum, hex('02000000 00010000')))).toThrow(/vring 2 \(there are 2/);
    expect(() => decodeState(msg(Req.SetVringNum, hex('01000000')))).toThrow(/a payload of 4 bytes, not 8/);
    const addr = hex('00000000 00000000' + '0010000000000000' + '0030000000000000' + '0020000000000000' + '0000000000000000');
    expect(decodeAddr(msg(Req.SetVringAddr, addr))).toEqual({ index: 0, flags: 0, desc: 0x1000n, used: 0x3000n, avail: 0x2000n, log: 0n });
    expect(() => decodeAddr(msg(Req.SetVringAddr, addr.subarray(0, 32)))).toThrow(/a payload of 32 bytes, not 40/);
    expect(decodeVringFd(msg(Req.SetVringKick, hex('0100000000000000'), [9]))).toEqual({ index: 1, fd: 9 });
    expect(decodeVringFd(msg(Req.SetVringKick, hex('0001000000000000'), []))).toEqual({ index: 0, fd: -1 });
    expect(() => decodeVringFd(msg(Req.SetVringKick, hex('0001000000000000'), [9]))).toThrow(/1 file descriptors, not 0/);
    expect(() => decodeVringFd(msg(Req.SetVringKick, hex('0000000000000000'), []))).toThrow(/0 file descriptors, not 1/);
    expect(() => decodeVringFd(msg(Req.SetVringKick, hex('0002000000000000'), []))).toThrow(/unknown flags in 0x200/);
    expect(() => decodeVringFd(msg(Req.SetVringKick, hex('0500000000000000'), [9]))).toThrow(/vring 5/);
  });

  it('encodes replies: the request, version 1 with REPLY, the size, the payload', () => {
    expect(encodeReply(Req.GetFeatures, hex('0300008001000000')).toString('hex')).toBe('01000000' + '05000000' + '08000000' + '0300008001000000');
  });
});

// ---------------------------------------------------------------------------
// The device's answers, with the native half over a Buffer region

const log = createLogger({ name: 'passt', level: 'silent' });
const openFds: number[] = [];
afterEach(() => {
  for (const fd of openFds.splice(0)) native.close(fd);
});
const isOpen = (fd: number): boolean => fs.existsSync(`/proc/self/fd/${fd}`);

function device(): { dev: VhostUserDevice; kicks: Array<[number, number]>; closed: number[] } {
  const kicks: Array<[number, number]> = [];
  const closed: number[] = [];
  const dev = new VhostUserDevice(new native.VuDevice(), log, { onKickFd: (q, fd) => kicks.push([q, fd]), onChange: () => {} }, (fd) => {
    closed.push(fd);
    native.close(fd);
  });
  return { dev, kicks, closed };
}

const u64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
};

describe('VhostUserDevice', () => {
  it('answers GET_FEATURES, GET_PROTOCOL_FEATURES and GET_QUEUE_NUM with literal replies, and acknowledges NEED_REPLY', () => {
    const { dev } = device();
    expect(dev.handle(msg(Req.GetFeatures))!.toString('hex')).toBe('01000000 05000000 08000000 83990070 01000000'.replace(/ /g, ''));
    // VERSION_1 (32), PROTOCOL_FEATURES (30), EVENT_IDX (29), INDIRECT_DESC (28), MRG_RXBUF (15), HOST_TSO6/4 (12, 11), GUEST_TSO6/4 (8, 7), GUEST_CSUM (1), CSUM (0).
    expect(OFFERED_FEATURES).toBe(0x170009983n);
    expect(dev.handle(msg(Req.GetProtocolFeatures))!.toString('hex')).toBe('0f000000050000000800000008000000' + '00000000');
    expect(dev.handle(msg(Req.GetQueueNum))!.toString('hex')).toBe('110000000500000008000000' + '0100000000000000');
    expect(dev.handle(msg(Req.SetOwner, Buffer.alloc(0), [], 1))).toBe(null);
    expect(dev.handle(msg(Req.SetOwner, Buffer.alloc(0), [], 1 | 8))!.toString('hex')).toBe('03000000050000000800000000000000' + '00000000');
  });

  it('takes the features it offered, with VERSION_1; refuses others and legacy devices', () => {
    const { dev } = device();
    expect(() => dev.handle(msg(Req.SetFeatures, u64(1n << 32n | 1n << 22n)))).toThrow(/features we did not offer: bit 22/);
    expect(() => dev.handle(msg(Req.SetFeatures, u64(1n << 15n)))).toThrow(/VERSION_1 was not negotiated/);
    dev.handle(msg(Req.SetFeatures, u64(1n << 32n | 1n << 15n | 1n << 11n)));
    expect(dev.features).toBe(1n << 32n | 1n << 15n | 1n << 11n);
    expect(dev.mergeable).toBe(true);
    expect(() => dev.handle(msg(Req.SetProtocolFeatures, u64(1n << 0n)))).toThrow(/protocol features we did not offer/);
  });

  it('keeps a kick fd, gives the replaced call fd back, and closes every fd of a refused message', () => {
    const { dev, kicks } = device();
    const kick = native.eventfd(0, true);
    const call1 = native.eventfd(0, true);
    const call2 = native.eventfd(0, true);
    openFds.push(kick);
    dev.handle(msg(Req.SetVringKick, u64(1n), [kick]));
    expect(kicks).toEqual([[1, kick]]);
    expect(isOpen(kick)).toBe(true);
    dev.handle(msg(Req.SetVringCall, u64(0n), [call1]));
    dev.handle(msg(Req.SetVringCall, u64(0n), [call2]));
    expect(isOpen(call1)).toBe(false); // replaced: closed by the native half
    dev.reset();
    expect(isOpen(call2)).toBe(false);
    // Refused: unknown request, unexpected fds, a size that does not fit.
    for (const bad of [msg(99, Buffer.alloc(0)), msg(Req.GetFeatures), msg(Req.SetVringNum, hex('0000'))]) {
      const fd = native.eventfd(0, true);
      bad.fds = [fd];
      expect(() => dev.handle(bad)).toThrow(VuProtocolError);
      expect(isOpen(fd)).toBe(false);
    }
  });

  it('refuses a memory table whose file is smaller than its region, and maps a memfd that is large enough', () => {
    const { dev } = device();
    const table = (size: bigint): Buffer => Buffer.concat([hex('01000000 00000000'), u64(0n), u64(size), u64(0x7f0000000000n), u64(0n)]);
    const small = native.memfd(4096);
    expect(() => dev.handle(msg(Req.SetMemTable, table(8192n), [small]))).toThrow(/cannot map region 0 .*not a file large enough/);
    expect(isOpen(small)).toBe(false);
    const pipe = new Int32Array(2);
    expect(native.unixPair(pipe)).toBe(0);
    openFds.push(pipe[1]);
    expect(() => dev.handle(msg(Req.SetMemTable, table(4096n), [pipe[0]]))).toThrow(/cannot map region 0/);
    const mem = native.memfd(1 << 20);
    dev.handle(msg(Req.SetMemTable, table(1n << 20n), [mem]));
    expect(dev.memory).toBe(true);
    expect(isOpen(mem)).toBe(false); // the mapping keeps the memory
    // Rings inside it are accepted, rings beyond it are not.
    dev.handle(msg(Req.SetVringNum, hex('00000000 00010000')));
    const addr = (d: bigint): Buffer => Buffer.concat([hex('00000000 00000000'), u64(d), u64(d + 0x2000n), u64(d + 0x1000n), u64(0n)]);
    dev.handle(msg(Req.SetVringAddr, addr(0x7f0000000000n)));
    expect(dev.native.ready(0)).toBe(true);
    expect(() => dev.handle(msg(Req.SetVringAddr, addr(0x7f0000000000n + (1n << 20n) - 0x1000n)))).toThrow(/are not in guest memory/);
    dev.reset();
  });
});

// ---------------------------------------------------------------------------
// The native split virtqueues over a Buffer standing for guest memory

const GPA = 0x100000;
const QVA = 0x7f0000100000n;
const NUM = 8;
/** Offsets in guest memory: descriptor table, available ring, used ring, then data. */
const DESC = 0x0;
const AVAIL = 0x200;
const USED = 0x400;

class Ring {
  readonly mem = Buffer.alloc(0x10000);
  readonly dev = new native.VuDevice();
  private availIdx = 0;
  private nextDesc = 0;

  constructor(readonly q: number) {
    expect(this.dev.addBufferRegion(this.mem, GPA, QVA)).toBe(0);
    expect(this.dev.setVringNum(q, NUM)).toBe(0);
    expect(this.dev.setVringAddr(q, QVA + BigInt(DESC), QVA + BigInt(AVAIL), QVA + BigInt(USED))).toBe(0);
  }

  desc(i: number, addr: number, len: number, flags: number, next = 0): void {
    const o = DESC + 16 * i;
    this.mem.writeBigUInt64LE(BigInt(addr), o);
    this.mem.writeUInt32LE(len, o + 8);
    this.mem.writeUInt16LE(flags, o + 12);
    this.mem.writeUInt16LE(next, o + 14);
  }

  /** Make a chain of buffers (guest addresses, lengths) available; returns its head. */
  chain(bufs: Array<[number, number]>, write: boolean): number {
    const head = this.nextDesc;
    bufs.forEach(([addr, len], k) => {
      const last = k === bufs.length - 1;
      this.desc(this.nextDesc, addr, len, (last ? 0 : 1) | (write ? 2 : 0), last ? 0 : this.nextDesc + 1);
      this.nextDesc++;
    });
    this.publish(head);
    return head;
  }

  publish(head: number): void {
    this.mem.writeUInt16LE(head, AVAIL + 4 + 2 * (this.availIdx % NUM));
    this.availIdx++;
    this.mem.writeUInt16LE(this.availIdx, AVAIL + 2);
  }

  usedIdx(): number {
    return this.mem.readUInt16LE(USED + 2);
  }

  used(i: number): [number, number] {
    return [this.mem.readUInt32LE(USED + 4 + 8 * i), this.mem.readUInt32LE(USED + 8 + 8 * i)];
  }
}

const pattern = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

describe('native split virtqueues', () => {
  it('TX: gathers a chain of three buffers into one frame after its 12-byte header, returns the chain and interrupts the guest', () => {
    const r = new Ring(1);
    const call = native.eventfd(0, true);
    r.dev.setCallFd(1, call);
    const hdr = hex('01 01 3600 a805 2200 1000 0000'); // NEEDS_CSUM, GSO TCPv4, hdr_len 54, gso_size 1448, csum 34+16
    const frame = pattern(1000, 3);
    const whole = Buffer.concat([hdr, frame]);
    whole.copy(r.mem, 0x1000, 0, 20);
    whole.copy(r.mem, 0x2000, 20, 500);
    whole.copy(r.mem, 0x3000, 500);
    const head = r.chain([[GPA + 0x1000, 20], [GPA + 0x2000, 480], [GPA + 0x3000, whole.length - 500]], false);
    const buf = Buffer.alloc(1 << 20);
    const frames = new Int32Array(16);
    const info = new Int32Array(2);
    expect(r.dev.txPop(buf, frames, 8, 12, info)).toBe(1);
    expect([...info]).toEqual([0, 0]);
    expect(buf.subarray(frames[0] - 12, frames[0]).toString('hex')).toBe(hdr.toString('hex'));
    expect(buf.subarray(frames[0], frames[0] + frames[1]).equals(frame)).toBe(true);
    expect([r.usedIdx(), ...r.used(0)]).toEqual([1, head, 0]);
    const cnt = Buffer.alloc(8);
    expect(native.read(call, cnt, 0, 8)).toBe(8);
    expect(cnt.readBigUInt64LE()).toBe(1n);
    // Nothing more: no frame, no interrupt.
    expect(r.dev.txPop(buf, frames, 8, 12, info)).toBe(0);
    expect(native.read(call, cnt, 0, 8)).toBe(-E.EAGAIN);
    r.dev.reset();
  });

  it('TX: reads an indirect descriptor table', () => {
    const r = new Ring(1);
    const frame = pattern(200, 9);
    Buffer.concat([Buffer.alloc(12), frame]).copy(r.mem, 0x2000);
    // The table at 0x1000: two descriptors, header and frame.
    const t = 0x1000;
    r.mem.writeBigUInt64LE(BigInt(GPA + 0x2000), t);
    r.mem.writeUInt32LE(12, t + 8);
    r.mem.writeUInt16LE(1, t + 12);
    r.mem.writeUInt16LE(1, t + 14);
    r.mem.writeBigUInt64LE(BigInt(GPA + 0x200c), t + 16);
    r.mem.writeUInt32LE(200, t + 24);
    r.desc(0, GPA + t, 32, 4);
    r.publish(0);
    const buf = Buffer.alloc(1 << 20);
    const frames = new Int32Array(16);
    const info = new Int32Array(2);
    expect(r.dev.txPop(buf, frames, 8, 12, info)).toBe(1);
    expect(buf.subarray(frames[0], frames[0] + frames[1]).equals(frame)).toBe(true);
  });

  it('TX: drops (and returns) chains with a buffer outside every region, a loop, a writable buffer or a frame too short; the next chain still goes', () => {
    const r = new Ring(1);
    const buf = Buffer.alloc(1 << 20);
    const frames = new Int32Array(16);
    const info = new Int32Array(2);
    const cases: Array<[() => void, RegExp]> = [
      [() => r.chain([[GPA + 0x10000, 100]], false), /outside guest memory/], // just past the region
      [() => r.chain([[0x1000, 100]], false), /outside guest memory/], // below it
      [() => r.chain([[GPA + 0xff00, 0x200]], false), /outside guest memory/], // straddling its end
      [() => r.chain([[GPA + 0x1000, 12], [GPA + 0x1000, 100]], true), /device-writable buffer in a transmit chain/],
      [() => r.chain([[GPA + 0x1000, 12 + 13]], false), /a frame of 13 bytes/],
      [
        () => {
          r.desc(7, GPA + 0x1000, 100, 1, 7); // next is itself
          r.publish(7);
        },
        /loops/,
      ],
    ];
    for (const [make, re] of cases) {
      const before = r.usedIdx();
      make();
      expect(r.dev.txPop(buf, frames, 8, 12, info)).toBe(0);
      expect(info[1]).toBe(1);
      expect(r.dev.lastError()).toMatch(re);
      expect(r.usedIdx()).toBe(before + 1);
    }
    Buffer.concat([Buffer.alloc(12), pattern(60, 1)]).copy(r.mem, 0x4000);
    r.chain([[GPA + 0x4000, 72]], false);
    expect(r.dev.txPop(buf, frames, 8, 12, info)).toBe(1);
    expect([frames[1], info[1]]).toEqual([60, 0]);
  });

  it('TX: a head index beyond the ring, or an available index running ahead of it, is a broken ring (-EBADMSG)', () => {
    const r = new Ring(1);
    const buf = Buffer.alloc(1 << 20);
    r.publish(NUM);
    expect(r.dev.txPop(buf, new Int32Array(16), 8, 12, new Int32Array(2))).toBe(-E.EBADMSG);
    expect(r.dev.lastError()).toMatch(/descriptor 8 is available in a ring of 8/);
    const r2 = new Ring(1);
    r2.mem.writeUInt16LE(NUM + 1, AVAIL + 2);
    expect(r2.dev.txPop(buf, new Int32Array(16), 8, 12, new Int32Array(2))).toBe(-E.EBADMSG);
    expect(r2.dev.lastError()).toMatch(/9 buffers available in a ring of 8/);
  });

  it('RX: spreads a frame over mergeable buffers, says how many in num_buffers, and publishes once', () => {
    const r = new Ring(0);
    for (let i = 0; i < 4; i++) r.chain([[GPA + 0x1000 * (i + 1), 1024]], true);
    const frame = pattern(3000, 5);
    const buf = Buffer.alloc(8192);
    buf.fill(0xee, 0, 12);
    buf.writeUInt8(0, 0); // flags
    frame.copy(buf, 12);
    const out = new Int32Array(4);
    expect(r.dev.rxPush(buf, Int32Array.of(12, 3000), 1, 12, true, out)).toBe(1);
    expect([...out]).toEqual([0, 0, 0, 3000]);
    expect(r.usedIdx()).toBe(3);
    expect([r.used(0), r.used(1), r.used(2)]).toEqual([[0, 1024], [1, 1024], [2, 3012 - 2048]]);
    const got = Buffer.concat([r.mem.subarray(0x1000, 0x1400), r.mem.subarray(0x2000, 0x2400), r.mem.subarray(0x3000, 0x3000 + 3012 - 2048)]);
    expect(got.readUInt16LE(10)).toBe(3); // num_buffers
    expect(got.subarray(12).equals(frame)).toBe(true);
  });

  it('RX: a frame that finds too few buffers waits (nothing taken); without mergeable buffers one too large for a chain is dropped', () => {
    const r = new Ring(0);
    r.chain([[GPA + 0x1000, 1024]], true);
    const buf = Buffer.alloc(8192);
    const out = new Int32Array(4);
    expect(r.dev.rxPush(buf, Int32Array.of(12, 2000), 1, 12, true, out)).toBe(0);
    expect(out[2]).toBe(1);
    expect(r.usedIdx()).toBe(0);
    // One more buffer: now it goes.
    r.chain([[GPA + 0x2000, 1024]], true);
    expect(r.dev.rxPush(buf, Int32Array.of(12, 2000), 1, 12, true, out)).toBe(1);
    expect(r.usedIdx()).toBe(2);
    // Not mergeable: 2000 bytes do not fit a 1024-byte chain, ever: dropped, the chain stays for the next frame.
    r.chain([[GPA + 0x3000, 1024]], true);
    expect(r.dev.rxPush(buf, Int32Array.of(12, 2000, 2048, 100), 2, 12, false, out)).toBe(2);
    expect(out[0]).toBe(1);
    expect(r.usedIdx()).toBe(3);
    expect(r.used(2)).toEqual([2, 112]);
  });

  it('RX: a chain outside guest memory or of device-readable buffers is returned empty; the frame takes the next one', () => {
    const r = new Ring(0);
    r.chain([[GPA + 0x20000, 1024]], true);
    r.chain([[GPA + 0x1000, 1024]], false);
    r.chain([[GPA + 0x2000, 1024]], true);
    const buf = Buffer.alloc(4096);
    pattern(100, 2).copy(buf, 12);
    const out = new Int32Array(4);
    expect(r.dev.rxPush(buf, Int32Array.of(12, 100), 1, 12, true, out)).toBe(1);
    expect([...out]).toEqual([0, 2, 0, 100]);
    expect([r.used(0), r.used(1), r.used(2)]).toEqual([[0, 0], [1, 0], [2, 112]]);
    expect(r.mem.subarray(0x2000 + 12, 0x2000 + 112).equals(pattern(100, 2))).toBe(true);
  });

  it('EVENT_IDX: interrupts as the guest\'s used_event says (not its flag); asks for kicks with avail_event after TX and when RX kicks are wanted', () => {
    const r = new Ring(0);
    const call = native.eventfd(0, true);
    r.dev.setCallFd(0, call);
    expect(r.dev.setEventIdx(true)).toBe(0);
    const cnt = Buffer.alloc(8);
    const interrupted = (): boolean => native.read(call, cnt, 0, 8) === 8;
    const usedEvent = (v: number): void => void r.mem.writeUInt16LE(v, AVAIL + 4 + 2 * NUM);
    const availEvent = (): number => r.mem.readUInt16LE(USED + 4 + 8 * NUM);
    for (let i = 0; i < NUM; i++) r.chain([[GPA + 0x1000 + 0x200 * i, 0x200]], true);
    const buf = Buffer.alloc(4096);
    const out = new Int32Array(4);
    const push = (n: number): void => {
      const frames = new Int32Array(2 * n);
      for (let i = 0; i < n; i++) frames.set([12 + 128 * i, 60], 2 * i);
      expect(r.dev.rxPush(buf, frames, n, 12, true, out)).toBe(n);
    };
    r.mem.writeUInt16LE(1, AVAIL); // VRING_AVAIL_F_NO_INTERRUPT: ignored with EVENT_IDX
    usedEvent(0);
    push(1); // used 0 -> 1: the first decision always interrupts
    expect(interrupted()).toBe(true);
    push(1); // 1 -> 2: passes used_event 0? no
    expect(interrupted()).toBe(false);
    usedEvent(2);
    push(1); // 2 -> 3 passes 2
    expect(interrupted()).toBe(true);
    usedEvent(5);
    push(2); // 3 -> 5 does not pass 5
    expect(interrupted()).toBe(false);
    push(1); // 5 -> 6 does
    expect(interrupted()).toBe(true);
    // RX kicks wanted: avail_event is the guest's next entry.
    expect(r.dev.setNotify(0, true)).toBe(0);
    expect(availEvent()).toBe(NUM);
    // TX: after a pop, a kick is asked for the next entry.
    const t = new Ring(1);
    t.dev.setEventIdx(true);
    Buffer.concat([Buffer.alloc(12), pattern(60, 1)]).copy(t.mem, 0x1000);
    t.chain([[GPA + 0x1000, 72]], false);
    t.chain([[GPA + 0x1000, 72]], false);
    const info = new Int32Array(2);
    expect(t.dev.txPop(Buffer.alloc(1 << 20), new Int32Array(16), 8, 12, info)).toBe(2);
    expect([t.mem.readUInt16LE(USED + 4 + 8 * NUM), info[0]]).toEqual([2, 0]);
    // Taken up to a limit: nothing to ask yet, the rest is read in the next round.
    t.chain([[GPA + 0x1000, 72]], false);
    t.chain([[GPA + 0x1000, 72]], false);
    expect(t.dev.txPop(Buffer.alloc(1 << 20), new Int32Array(16), 1, 12, info)).toBe(1);
    expect([t.mem.readUInt16LE(USED + 4 + 8 * NUM), info[0]]).toEqual([2, 1]);
    expect(t.dev.txPop(Buffer.alloc(1 << 20), new Int32Array(16), 8, 12, info)).toBe(1);
    expect([t.mem.readUInt16LE(USED + 4 + 8 * NUM), info[0]]).toEqual([4, 0]);
    native.close(call);
  });

  it('refuses rings outside guest memory or misaligned, and a queue size that is not a power of 2', () => {
    const dev = new native.VuDevice();
    const mem = Buffer.alloc(0x10000);
    expect(dev.addBufferRegion(mem, GPA, QVA)).toBe(0);
    expect(dev.addBufferRegion(Buffer.alloc(4096), GPA + 0x8000, 0x1000)).toBe(-E.EINVAL); // overlapping
    expect(dev.setVringNum(0, 6)).toBe(-E.EINVAL);
    expect(dev.setVringNum(0, 65536)).toBe(-E.EINVAL);
    expect(dev.setVringNum(0, 256)).toBe(0);
    expect(dev.setVringAddr(0, QVA + 0xf800n, QVA, QVA + 0x1000n)).toBe(-E.EINVAL); // the table runs past the end
    expect(dev.setVringAddr(0, QVA + 8n, QVA + 0x2000n, QVA + 0x3000n)).toBe(-E.EINVAL); // misaligned
    expect(dev.setVringAddr(0, 0x1000n, QVA + 0x2000n, QVA + 0x3000n)).toBe(-E.EINVAL); // not QEMU's address of it
    expect(dev.ready(0)).toBe(false);
    expect(dev.setVringAddr(0, QVA, QVA + 0x1000n, QVA + 0x2000n)).toBe(0);
    expect(dev.ready(0)).toBe(true);
    // A queue that is not set up carries nothing.
    expect(dev.txPop(Buffer.alloc(1 << 20), new Int32Array(2), 1, 12, new Int32Array(2))).toBe(-E.ENOTCONN);
  });
});

// ---------------------------------------------------------------------------
// Direct receive: a stream socket's data peeked straight into RX buffers

/** A nonblocking AF_UNIX stream pair [ours, peer] with `data` written by the peer. */
function streamWith(data: Buffer): [number, number] {
  const pair = new Int32Array(2);
  expect(native.unixPair(pair)).toBe(0);
  if (data.length) expect(native.write(pair[1], data, 0, data.length)).toBe(data.length);
  return [pair[0], pair[1]];
}

/** Headers as a caller builds them: a 12-byte virtio-net header (num_buffers left 0), then `frameHdr` bytes of `fill`. */
function headers(frameHdr: number, fill: number): Buffer {
  return Buffer.concat([hex('01 00 0000 0000 2200 1000 0000'), Buffer.alloc(frameHdr, fill)]);
}

/** A stage holding `hdrs` at 128-byte strides, and the frames table for them with payload lengths `lens`. */
function stage(hdrs: Buffer[], lens: number[]): { buf: Buffer; frames: Int32Array } {
  const buf = Buffer.alloc(128 * hdrs.length);
  const frames = new Int32Array(2 * hdrs.length);
  hdrs.forEach((h, i) => {
    h.copy(buf, 128 * i);
    frames[2 * i] = 128 * i + 12;
    frames[2 * i + 1] = h.length - 12 + lens[i];
  });
  return { buf, frames };
}

describe('native direct receive (rxPeek, rxCommit)', () => {
  const open: number[] = [];
  afterEach(() => {
    for (const fd of open.splice(0)) native.close(fd);
  });
  const socket = (data: Buffer): [number, number] => {
    const p = streamWith(data);
    open.push(...p);
    return p;
  };

  it('peeks into frames over mergeable buffers after room for the headers; rxCommit puts the headers given in place, sets num_buffers, publishes the chains used and rewinds the one left; the data stays in the socket', () => {
    const r = new Ring(0);
    const call = native.eventfd(0, true);
    r.dev.setCallFd(0, call);
    for (let i = 0; i < 4; i++) r.chain([[GPA + 0x1000 * (i + 1), 1024]], true);
    const data = pattern(1500, 11);
    const [fd] = socket(data);
    const lens = new Int32Array(16);
    const out = new Int32Array(4);
    // Frames of up to 1000 bytes after 12 + 54 bytes of headers: two chains each.
    expect(r.dev.rxPeek(fd, 0, 54, 1000, 10000, true, lens, out)).toBe(1500);
    expect([...out]).toEqual([2, 1, 0, 2000]); // 2 filled, the ring ran out, no bad chain, 2000 bytes reserved
    expect([lens[0], lens[1]]).toEqual([1000, 500]);
    expect(r.usedIdx()).toBe(0); // nothing published before rxCommit
    const h0 = headers(54, 0xaa);
    const h1 = headers(54, 0xbb);
    const s = stage([h0, h1], [1000, 500]);
    expect(r.dev.rxCommit(s.buf, s.frames, 2)).toBe(2);
    // Frame 0: headers (num_buffers 2) and 958 payload bytes in chain 0, the other 42 in chain 1.
    expect(r.mem.subarray(0x1000, 0x1000 + 66).toString('hex')).toBe('0100000000002200100002' + '00' + 'aa'.repeat(54));
    expect(r.mem.subarray(0x1000 + 66, 0x1400).equals(data.subarray(0, 958))).toBe(true);
    expect(r.mem.subarray(0x2000, 0x2000 + 42).equals(data.subarray(958, 1000))).toBe(true);
    expect(r.mem[0x2000 + 42]).toBe(0); // nothing beyond
    // Frame 1: headers (num_buffers 1) and the last 500 bytes in chain 2; chain 3 was not needed.
    expect(r.mem.subarray(0x3000, 0x3000 + 66).toString('hex')).toBe('0100000000002200100001' + '00' + 'bb'.repeat(54));
    expect(r.mem.subarray(0x3000 + 66, 0x3000 + 566).equals(data.subarray(1000))).toBe(true);
    expect(r.usedIdx()).toBe(3);
    expect([r.used(0), r.used(1), r.used(2)]).toEqual([[0, 1024], [1, 42], [2, 566]]);
    expect(r.dev.rxAvailable()).toBe(1); // chain 3, given back
    // The interrupt waits for rxNotify (once per batch).
    const cnt = Buffer.alloc(8);
    expect(native.read(call, cnt, 0, 8)).toBe(-E.EAGAIN);
    expect(r.dev.rxNotify()).toBe(0);
    expect(native.read(call, cnt, 0, 8)).toBe(8);
    expect(r.dev.rxNotify()).toBe(0);
    expect(native.read(call, cnt, 0, 8)).toBe(-E.EAGAIN); // once
    // Peeked, not read: the socket still holds every byte.
    const again = Buffer.alloc(2000);
    expect(native.read(fd, again, 0, 2000)).toBe(1500);
    expect(again.subarray(0, 1500).equals(data)).toBe(true);
    // The chain given back is the next one rxPush takes.
    const f = Buffer.alloc(200);
    expect(r.dev.rxPush(f, Int32Array.of(12, 100), 1, 12, true, out)).toBe(1);
    expect(r.used(3)).toEqual([3, 112]);
  });

  it('without mergeable buffers a frame takes one chain; skips `discard` bytes already sent; a frame left empty when the socket has less is given back', () => {
    const r = new Ring(0);
    r.chain([[GPA + 0x1000, 512], [GPA + 0x2000, 512]], true); // one chain of two buffers
    r.chain([[GPA + 0x3000, 1024]], true);
    const data = pattern(700, 3);
    const [fd] = socket(data);
    const lens = new Int32Array(16);
    const out = new Int32Array(4);
    // 100 bytes were sent before: the frame's payload starts at byte 100.
    expect(r.dev.rxPeek(fd, 100, 74, 2000, 4000, false, lens, out)).toBe(600);
    // Frame 0 can take 1024 - 86 bytes, frame 1 as much: 600 fill frame 0 alone.
    expect([...out]).toEqual([1, 1, 0, 2 * (1024 - 86)]);
    expect(lens[0]).toBe(600);
    const s = stage([headers(74, 0xcc)], [600]);
    expect(r.dev.rxCommit(s.buf, s.frames, 1)).toBe(1);
    expect(r.mem.readUInt16LE(0x1000 + 10)).toBe(1);
    expect(r.mem.subarray(0x1000 + 12, 0x1000 + 86).equals(Buffer.alloc(74, 0xcc))).toBe(true);
    // The payload goes on in the chain's second buffer.
    expect(r.mem.subarray(0x1000 + 86, 0x1200).equals(data.subarray(100, 100 + 426))).toBe(true);
    expect(r.mem.subarray(0x2000, 0x2000 + 174).equals(data.subarray(526))).toBe(true);
    expect([r.usedIdx(), ...r.used(0)]).toEqual([1, 0, 86 + 600]);
    expect(r.dev.rxAvailable()).toBe(1);
  });

  it('at end of file (0), with nothing new (-EAGAIN) and with no buffer (-ENOBUFS) takes nothing', () => {
    const r = new Ring(0);
    r.chain([[GPA + 0x1000, 1024]], true);
    const lens = new Int32Array(16);
    const out = new Int32Array(4);
    const [fd, peer] = socket(pattern(10, 1));
    // Only the 10 bytes already sent are queued: nothing new.
    expect(r.dev.rxPeek(fd, 10, 54, 1000, 1000, true, lens, out)).toBe(-E.EAGAIN);
    expect([r.usedIdx(), r.dev.rxAvailable()]).toEqual([0, 1]);
    // Empty and open: EAGAIN from recvmsg.
    const [quiet] = socket(Buffer.alloc(0));
    expect(r.dev.rxPeek(quiet, 0, 54, 1000, 1000, true, lens, out)).toBe(-E.EAGAIN);
    expect([r.usedIdx(), r.dev.rxAvailable()]).toEqual([0, 1]);
    // The peer closed and every byte was read: end of file.
    expect(native.read(fd, Buffer.alloc(10), 0, 10)).toBe(10);
    native.close(peer);
    open.splice(open.indexOf(peer), 1);
    expect(r.dev.rxPeek(fd, 0, 54, 1000, 1000, true, lens, out)).toBe(0);
    expect([r.usedIdx(), r.dev.rxAvailable()]).toEqual([0, 1]);
    // No buffer at all: the ring is short (1) and nothing is read.
    const r2 = new Ring(0);
    const [full] = socket(pattern(100, 2));
    expect(r2.dev.rxPeek(full, 0, 54, 1000, 1000, true, lens, out)).toBe(-E.ENOBUFS);
    expect(out[1]).toBe(1);
    expect(native.read(full, Buffer.alloc(200), 0, 200)).toBe(100);
  });

  it('returns bad chains empty ahead of the frames; stops at a chain whose first buffer cannot hold the headers (2: left for rxPush); a chain left unused before a bad one is returned empty, not rewound', () => {
    const r = new Ring(0);
    r.chain([[GPA + 0x20000, 1024]], true); // 0: outside guest memory
    r.chain([[GPA + 0x1000, 1024]], true); // 1
    r.chain([[GPA + 0x3000, 40], [GPA + 0x3100, 1000]], true); // 2, 3: 40 bytes first
    const data = pattern(500, 9);
    const [fd] = socket(data);
    const lens = new Int32Array(16);
    const out = new Int32Array(4);
    // Frames of up to 500 bytes: chain 1 holds frame 0; frame 1 would start in the 40-byte buffer.
    expect(r.dev.rxPeek(fd, 0, 54, 500, 5000, true, lens, out)).toBe(500);
    expect([...out]).toEqual([1, 2, 1, 500]);
    expect(r.dev.lastError()).toMatch(/outside guest memory/);
    const s = stage([headers(54, 0xdd)], [500]);
    expect(r.dev.rxCommit(s.buf, s.frames, 1)).toBe(1);
    expect([r.usedIdx(), r.used(0), r.used(1)]).toEqual([2, [0, 0], [1, 566]]);
    // The chain with the small first buffer is still there, and rxPush (which copies) takes it.
    expect(r.dev.rxAvailable()).toBe(1);
    const f = Buffer.alloc(200);
    expect(r.dev.rxPush(f, Int32Array.of(12, 100), 1, 12, true, out)).toBe(1);
    expect(r.used(2)).toEqual([2, 112]);

    // Frames of one chain each; the second goes unused, and a bad chain lies after it.
    const r2 = new Ring(0);
    r2.chain([[GPA + 0x1000, 1024]], true); // 0
    r2.chain([[GPA + 0x2000, 1024]], true); // 1
    r2.chain([[GPA + 0x3000, 1024]], false); // 2: device-readable
    const [fd2] = socket(pattern(100, 4));
    expect(r2.dev.rxPeek(fd2, 0, 54, 1000, 5000, false, lens, out)).toBe(100);
    expect([...out]).toEqual([1, 1, 1, 2 * 958]);
    const s2 = stage([headers(54, 0xee)], [100]);
    expect(r2.dev.rxCommit(s2.buf, s2.frames, 1)).toBe(1);
    expect([r2.usedIdx(), r2.used(0), r2.used(1), r2.used(2)]).toEqual([3, [2, 0], [0, 166], [1, 0]]);
    expect(r2.dev.rxAvailable()).toBe(0);
  });

  it('gives the chains back when rxCommit is called wrongly or not at all (the next rxPeek or rxPush), and refuses bad arguments', () => {
    const r = new Ring(0);
    r.chain([[GPA + 0x1000, 1024]], true);
    const lens = new Int32Array(16);
    const out = new Int32Array(4);
    const [fd] = socket(pattern(300, 5));
    expect(r.dev.rxPeek(fd, 0, 54, 1000, 1000, true, lens, out)).toBe(300);
    expect(r.dev.rxAvailable()).toBe(0);
    const s = stage([headers(54, 1)], [300]);
    expect(() => r.dev.rxCommit(s.buf, s.frames, 2)).toThrow(/count must be the 1 frames rxPeek filled/);
    expect([r.usedIdx(), r.dev.rxAvailable()]).toEqual([0, 1]);
    expect(() => r.dev.rxCommit(s.buf, s.frames, 1)).toThrow(/no rxPeek is waiting/);
    // A frame length that is not the headers and the bytes peeked.
    expect(r.dev.rxPeek(fd, 0, 54, 1000, 1000, true, lens, out)).toBe(300);
    const bad = stage([headers(54, 1)], [299]);
    expect(() => r.dev.rxCommit(bad.buf, bad.frames, 1)).toThrow(/frame 0 must be its headers and the 300 bytes peeked/);
    expect(r.dev.rxAvailable()).toBe(1);
    // Not committed at all: rxPush gives the chain back first, then uses it.
    expect(r.dev.rxPeek(fd, 0, 54, 1000, 1000, true, lens, out)).toBe(300);
    expect(r.dev.rxPush(Buffer.alloc(200), Int32Array.of(12, 100), 1, 12, true, out)).toBe(1);
    expect([r.usedIdx(), ...r.used(0)]).toEqual([1, 0, 112]);
    expect(() => r.dev.rxPeek(fd, 0, 54, 0, 1000, true, lens, out)).toThrow(/frameLen must be between 1 and 65549/);
    expect(() => r.dev.rxPeek(fd, 0, 300, 1000, 1000, true, lens, out)).toThrow(/frameHdrLen must be between 0 and 256/);
    expect(() => r.dev.rxPeek(fd, -1, 54, 1000, 1000, true, lens, out)).toThrow(/discard must be between/);
    expect(() => r.dev.rxPeek(fd, 0, 54, 1000, 1000, true, lens, new Int32Array(3))).toThrow(/out holds 3/);
    // A queue not set up.
    const dev = new native.VuDevice();
    expect(dev.rxPeek(fd, 0, 54, 1000, 1000, true, lens, out)).toBe(-E.ENOTCONN);
    expect(dev.rxAvailable()).toBe(-E.ENOTCONN);
  });
});
