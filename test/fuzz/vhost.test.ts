/**
 * Fuzz targets for vhost-user (src/vhost/, native/vhost.cc), what QEMU and
 * the guest control:
 *
 * - the message stream: well-formed requests with random fields and random
 *   bytes, cut anywhere, through MessageReader and the device. Nothing but a
 *   VuProtocolError may come out (the connection then goes); every fd that
 *   came with a message is kept or closed, never lost.
 * - the rings: random descriptor tables, available rings and indexes in a
 *   Buffer standing for guest memory, through txPop and rxPush. They may
 *   drop chains or call the ring broken (-EBADMSG), never crash or throw;
 *   every frame txPop reports lies inside its buffer with a length in range,
 *   and a used index never runs ahead of what was made available. The same
 *   rings through rxPeek (a stream socket's data peeked into them) and
 *   rxCommit, with EVENT_IDX on or off: the bytes and frames reported add
 *   up, and the used index moves no further.
 */
import assert from 'node:assert/strict';
import { afterAll, describe } from 'vitest';
import fc from 'fast-check';
import { native, E } from '../../src/native.js';
import { MessageReader, VuProtocolError, encodeRequest, type VuIo } from '../../src/vhost/protocol.js';
import { VhostUserDevice } from '../../src/vhost/device.js';
import { createLogger } from '../../src/log.js';
import { fuzz, randomBytes } from './harness.js';

const FILE = 'test/fuzz/vhost.test.ts';
const log = createLogger({ name: 'passt', level: 'silent' });
/** Fake fds: numbers far above any this process has open; "closing" one records it. */
const FD0 = 100_000;

/** A message as the front end sends it, possibly with fake fds. */
const request = fc.record({
  request: fc.oneof(fc.integer({ min: 1, max: 43 }), fc.nat(0xffffffff)),
  flags: fc.oneof(fc.constantFrom(1, 1 | 8), fc.nat(0xffffffff)),
  payload: fc.oneof(
    fc.constant(Buffer.alloc(0)),
    fc.bigUint64Array({ minLength: 1, maxLength: 1 }).map((a) => Buffer.from(a.buffer)),
    fc.tuple(fc.nat(3), fc.nat(0x10000)).map(([i, n]) => Buffer.from(Uint32Array.of(i, n).buffer)),
    randomBytes(300),
  ),
  fds: fc.nat(9),
});

describe('vhost-user messages', () => {
  fuzz(FILE, 'MessageReader and the device: random requests, cut anywhere, only ever a VuProtocolError; every fd kept or closed', fc.record({
    messages: fc.array(request, { maxLength: 12 }),
    cuts: fc.array(fc.nat(400), { maxLength: 20 }),
  }), ({ messages, cuts }) => {
    let nextFd = FD0;
    const chunks: Array<{ bytes: Buffer; fds: number[] }> = [];
    for (const m of messages) {
      const bytes = encodeRequest(m.request, m.payload, m.flags);
      bytes.writeUInt32LE(m.flags, 4);
      const fds = Array.from({ length: m.fds }, () => nextFd++);
      // Cut the message where the cuts say; the fds go with its first piece, as the kernel delivers them.
      let at = 0;
      for (const c of cuts) {
        if (c <= at || c >= bytes.length) continue;
        chunks.push({ bytes: bytes.subarray(at, c), fds: at === 0 ? fds : [] });
        at = c;
      }
      chunks.push({ bytes: bytes.subarray(at), fds: at === 0 ? fds : [] });
    }
    const given = nextFd - FD0;
    let pending: { bytes: Buffer; fds: number[] } | undefined;
    const io: VuIo = {
      recv(_fd, buf, off, len, fds) {
        fds[0] = 0;
        pending ??= chunks.shift();
        if (!pending) return -E.EAGAIN;
        const n = Math.min(len, pending.bytes.length);
        pending.bytes.copy(buf, off, 0, n);
        if (pending.fds.length > fds.length - 1) {
          pending = undefined;
          return -E.EMSGSIZE;
        }
        fds[0] = pending.fds.length;
        pending.fds.forEach((f, i) => (fds[1 + i] = f));
        pending = n < pending.bytes.length ? { bytes: pending.bytes.subarray(n), fds: [] } : undefined;
        return n;
      },
    };
    const closed = new Set<number>();
    const kept = new Set<number>();
    const close = (fd: number): void => {
      assert.ok(!closed.has(fd), `fd ${fd} closed twice`);
      closed.add(fd);
    };
    const nativeDev = new native.VuDevice();
    // The native half closes call fds itself: give it none of the fake ones.
    const dev = new VhostUserDevice(
      { ...Object.fromEntries(['addRegion', 'clearRegions', 'setVringNum', 'setVringAddr', 'setVringBase', 'getVringBase', 'ready', 'reset', 'setNotify'].map((k) => [k, (nativeDev as any)[k].bind(nativeDev)])),
        setCallFd: (_q: number, fd: number) => (fd >= 0 ? (kept.add(fd), 0) : 0) } as any,
      log,
      { onKickFd: (_q, fd) => void (fd >= 0 && kept.add(fd)), onChange: () => {} },
      close,
    );
    const reader = new MessageReader(3, io, close);
    for (let i = 0; i < 100; i++) {
      let m;
      try {
        m = reader.read();
      } catch (err) {
        assert.ok(err instanceof VuProtocolError, String(err));
        reader.discard();
        break;
      }
      if (m === null || m === 'eof') break;
      try {
        dev.handle(m);
      } catch (err) {
        assert.ok(err instanceof VuProtocolError, String(err));
        break;
      }
    }
    reader.discard();
    // Every fd handed over was closed or kept by now, or is still in a message not yet read.
    const unread = chunks.flatMap((c) => c.fds).concat(pending?.fds ?? []);
    for (let fd = FD0; fd < FD0 + given; fd++) assert.ok(closed.has(fd) || kept.has(fd) || unread.includes(fd), `fd ${fd} lost`);
    nativeDev.reset();
  }, { weight: 2 });
});

// ---------------------------------------------------------------------------
// Rings over a Buffer: random contents

const GPA = 0x10000;
const QVA = 0x7f0000000000n;
const MEM = 0x8000;

/** Random ring memory: a mix of random bytes and plausible descriptors pointing in and near the region. */
const ringMemory = fc.record({
  num: fc.constantFrom(1, 2, 4, 8, 16),
  random: randomBytes(MEM),
  descs: fc.array(fc.record({
    i: fc.nat(15),
    addr: fc.oneof(fc.integer({ min: GPA - 64, max: GPA + MEM + 64 }), fc.constantFrom(0, 2 ** 53 - 1, GPA + MEM - 1)),
    len: fc.oneof(fc.nat(4096), fc.constantFrom(0, 12, 13, 26, 65549 + 12, 0xffffffff)),
    flags: fc.nat(7),
    next: fc.oneof(fc.nat(16), fc.nat(0xffff)),
  }), { maxLength: 16 }),
  avail: fc.array(fc.oneof(fc.nat(16), fc.nat(0xffff)), { maxLength: 16 }),
  availIdx: fc.oneof(fc.nat(17), fc.nat(0xffff)),
  base: fc.oneof(fc.constant(0), fc.nat(0xffff)),
  mergeable: fc.boolean(),
  frames: fc.array(fc.integer({ min: 14, max: 9000 }), { maxLength: 6 }),
});

/**
 * A generated ring into `mem`: its random bytes at 0x1000, the descriptors at 0,
 * the available ring at 0x400 (the used ring goes at 0x800; QEMU addresses),
 * data after.
 */
function writeRing(mem: Buffer, r: { random: Uint8Array; descs: Array<{ i: number; addr: number; len: number; flags: number; next: number }>; num: number; avail: number[]; availIdx: number }): void {
  Buffer.from(r.random).copy(mem, 0x1000);
  for (const d of r.descs) {
    const o = 16 * (d.i % r.num);
    mem.writeBigUInt64LE(BigInt(d.addr), o);
    mem.writeUInt32LE(d.len >>> 0, o + 8);
    mem.writeUInt16LE(d.flags, o + 12);
    mem.writeUInt16LE(d.next, o + 14);
  }
  r.avail.slice(0, r.num).forEach((h, k) => mem.writeUInt16LE(h, 0x400 + 4 + 2 * k));
  mem.writeUInt16LE(r.availIdx, 0x400 + 2);
}

describe('vhost-user rings', () => {
  fuzz(FILE, 'txPop and rxPush over random rings: no crash, frames inside the buffer, the used index never ahead of the available one', ringMemory, (r) => {
    const mem = Buffer.alloc(MEM);
    writeRing(mem, r);
    for (const q of [0, 1]) {
      const dev = new native.VuDevice();
      assert.equal(dev.addBufferRegion(mem, GPA, QVA), 0);
      assert.equal(dev.setVringNum(q, r.num), 0);
      assert.equal(dev.setVringAddr(q, QVA, QVA + 0x400n, QVA + 0x800n), 0);
      dev.setVringBase(q, r.base);
      const usedBefore = mem.readUInt16LE(0x800 + 2);
      if (q === 1) {
        const buf = Buffer.alloc(1 << 20);
        const frames = new Int32Array(2 * 32);
        const info = new Int32Array(2);
        const n = dev.txPop(buf, frames, 32, 12, info);
        assert.ok(n === -E.EBADMSG || (n >= 0 && n <= 32), `txPop returned ${n}`);
        for (let i = 0; i < Math.max(n, 0); i++) {
          const off = frames[2 * i];
          const len = frames[2 * i + 1];
          assert.ok(off >= 12 && len >= 14 && len <= 65549 && off + len <= buf.length, `frame at ${off}, ${len} bytes`);
        }
      } else {
        const buf = Buffer.alloc(64 * 1024);
        const frames = new Int32Array(2 * r.frames.length);
        let at = 0;
        r.frames.forEach((len, i) => {
          frames[2 * i] = at + 12;
          frames[2 * i + 1] = len;
          at = (at + 12 + len + 7) & ~7;
        });
        const out = new Int32Array(4);
        const n = dev.rxPush(buf, frames, r.frames.length, 12, r.mergeable, out);
        assert.ok(n === -E.EBADMSG || (n >= 0 && n <= r.frames.length), `rxPush returned ${n}`);
      }
      // At most one used entry per available one taken: never more than the ring holds.
      const usedAfter = mem.readUInt16LE(0x800 + 2);
      assert.ok(((usedAfter - usedBefore) & 0xffff) <= r.num, `used index moved by ${(usedAfter - usedBefore) & 0xffff} in a ring of ${r.num}`);
      dev.lastError();
      dev.reset();
    }
  }, { weight: 2 });

  // A stream socket whose 20000 bytes are only ever peeked: one for the whole run.
  const pair = new Int32Array(2);
  assert.equal(native.unixPair(pair), 0);
  const data = Buffer.alloc(20000, 0x5a);
  assert.equal(native.write(pair[1], data, 0, data.length), data.length);
  afterAll(() => {
    native.close(pair[0]);
    native.close(pair[1]);
  });

  /** Rings that are mostly sound (writable buffers in memory, heads in range), so that peeks reach the socket. */
  const soundRing = fc.constantFrom(4, 8, 16).chain((num) => fc.record({
    num: fc.constant(num),
    random: randomBytes(MEM),
    descs: fc.array(fc.record({
      i: fc.nat(num - 1),
      addr: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: GPA + 0x1000, max: GPA + MEM - 1 }) }, { weight: 1, arbitrary: fc.integer({ min: GPA - 64, max: GPA + MEM + 64 }) }),
      len: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 0x1800 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 12, 66, 86, 0xffffffff) }),
      flags: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(2, 3) }, { weight: 1, arbitrary: fc.nat(7) }),
      next: fc.oneof({ weight: 4, arbitrary: fc.nat(num - 1) }, { weight: 1, arbitrary: fc.nat(0xffff) }),
    }), { minLength: 1, maxLength: 16 }),
    avail: fc.array(fc.oneof({ weight: 8, arbitrary: fc.nat(num - 1) }, { weight: 1, arbitrary: fc.nat(0xffff) }), { maxLength: 16 }),
    availIdx: fc.oneof({ weight: 8, arbitrary: fc.nat(num) }, { weight: 1, arbitrary: fc.nat(0xffff) }),
    base: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(0xffff) }),
    mergeable: fc.boolean(),
    frames: fc.constant([] as number[]),
  }));
  const peekCase = fc.record({ ring: fc.oneof(soundRing, ringMemory), eventIdx: fc.boolean(), discard: fc.oneof(fc.constant(0), fc.nat(25000)), frameLen: fc.integer({ min: 1, max: 65549 }), maxBytes: fc.integer({ min: 1, max: 1 << 20 }), hdr: fc.constantFrom(0, 54, 74, 256) });
  fuzz(FILE, 'rxPeek and rxCommit over random rings: no crash, lengths that add up, the used index never ahead of the available one', peekCase, (c) => {
    const r = c.ring;
    const mem = Buffer.alloc(MEM);
    writeRing(mem, r);
    const dev = new native.VuDevice();
    assert.equal(dev.addBufferRegion(mem, GPA, QVA), 0);
    assert.equal(dev.setVringNum(0, r.num), 0);
    assert.equal(dev.setVringAddr(0, QVA, QVA + 0x400n, QVA + 0x800n), 0);
    dev.setVringBase(0, r.base);
    dev.setEventIdx(c.eventIdx);
    const usedBefore = mem.readUInt16LE(0x800 + 2);
    const lens = new Int32Array(64);
    const out = new Int32Array(4);
    const n = dev.rxPeek(pair[0], c.discard, c.hdr, c.frameLen, c.maxBytes, r.mergeable, lens, out);
    const fresh = Math.max(0, data.length - c.discard);
    assert.ok([-E.EBADMSG, -E.ENOBUFS, -E.EAGAIN].includes(n) || (n > 0 && n <= Math.min(fresh, c.maxBytes)), `rxPeek returned ${n}`);
    if (n > 0) {
      let sum = 0;
      for (let i = 0; i < out[0]; i++) {
        assert.ok(lens[i] > 0 && lens[i] <= c.frameLen, `frame ${i}: ${lens[i]} bytes`);
        sum += lens[i];
      }
      assert.equal(sum, n);
      assert.ok(out[3] >= n && out[3] <= c.maxBytes, `reserved ${out[3]}`);
      const stage = Buffer.alloc(out[0] * 512);
      const frames = new Int32Array(2 * out[0]);
      for (let i = 0; i < out[0]; i++) frames.set([512 * i + 12, c.hdr + lens[i]], 2 * i);
      assert.equal(dev.rxCommit(stage, frames, out[0]), out[0]);
    }
    const usedAfter = mem.readUInt16LE(0x800 + 2);
    assert.ok(((usedAfter - usedBefore) & 0xffff) <= r.num, `used index moved by ${(usedAfter - usedBefore) & 0xffff} in a ring of ${r.num}`);
    const left = dev.rxAvailable();
    assert.ok(left === -E.EBADMSG || (left >= 0 && left <= r.num), `rxAvailable ${left}`);
    dev.lastError();
    dev.reset();
  }, { weight: 2 });
});
