/**
 * QEMU stream framing (src/l2/qemu.ts), from literal bytes: each frame is a
 * 4-byte big-endian length and then the Ethernet frame.
 *
 * The reading half is driven with an injected read(2) that hands out
 * chunks exactly as given (split anywhere, even inside a length); the
 * writing half with an injected sendmsg(2) that takes only as many bytes as
 * the test says. Then both halves run on a real connected pair of UNIX
 * domain sockets, with a send buffer small enough that a batch does not fit.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { StreamIn, StreamOut, QemuTransport, MAX_STREAM_FRAME, type StreamIo, nativeStreamIo, listedAsListening, socketInUse } from '../../src/l2/qemu.js';
import { native, C, E } from '../../src/native.js';
import { Loop, FdKind } from '../../src/loop.js';
import { createLogger } from '../../src/log.js';
import { parseArgs, UsageError } from '../../src/options.js';
import { buildConfig, type HostNet } from '../../src/conf.js';
import { hex, prng } from './wire-frames.js';

/** A frame of `len` bytes whose bytes say which frame it is and where. */
function frame(len: number, tag: number): Buffer {
  const f = Buffer.alloc(len);
  for (let i = 0; i < len; i++) f[i] = (tag * 31 + i) & 0xff;
  return f;
}

/** The stream bytes of some frames. */
function stream(...frames: Buffer[]): Buffer {
  return Buffer.concat(
    frames.flatMap((f) => {
      const l = Buffer.alloc(4);
      l.writeUInt32BE(f.length);
      return [l, f];
    }),
  );
}

/** Parse stream bytes back into frames (the test's own reference). */
function unstream(bytes: Buffer): { frames: Buffer[]; rest: number } {
  const frames: Buffer[] = [];
  let p = 0;
  while (bytes.length - p >= 4) {
    const len = bytes.readUInt32BE(p);
    if (bytes.length - p - 4 < len) break;
    frames.push(bytes.subarray(p + 4, p + 4 + len));
    p += 4 + len;
  }
  return { frames, rest: bytes.length - p };
}

/** Same frames, same order: compared as lengths and one concatenation (deep equality of many Buffers is slow). */
function expectFrames(got: Buffer[], want: Buffer[], what?: string): void {
  expect(got.map((f) => f.length), what).toEqual(want.map((f) => f.length));
  expect(Buffer.concat(got).equals(Buffer.concat(want)), what).toBe(true);
}

const noWrite = {
  sendv: () => {
    throw new Error('no writes here');
  },
  send: () => {
    throw new Error('no writes here');
  },
};

/** A StreamIn whose read(2) hands out `chunks` one per call (a chunk larger than the room is cut), then EAGAIN. */
function reader(chunks: Buffer[], size?: number) {
  const events: string[] = [];
  const queue = [...chunks];
  const io: StreamIo = {
    ...noWrite,
    read: (_fd, buf, off, len) => {
      const next = queue.shift();
      if (!next) return -E.EAGAIN;
      if (next.length === 0) return 0; // an empty chunk stands for end of file
      if (next.length > len) queue.unshift(next.subarray(len));
      return next.copy(buf, off, 0, Math.min(len, next.length));
    },
  };
  const input = new StreamIn({ onEof: () => events.push('eof'), onError: (why) => events.push(`error: ${why}`) }, io, size);
  input.reset(7);
  /** Read until the chunks run out; the frames delivered, copied. */
  const drain = (): Buffer[] => {
    const got: Buffer[] = [];
    while (queue.length) {
      const n = input.read();
      for (let i = 0; i < n; i++) got.push(Buffer.from(input.buf.subarray(input.frames[2 * i], input.frames[2 * i] + input.frames[2 * i + 1])));
    }
    return got;
  };
  return { input, events, drain, push: (...c: Buffer[]) => queue.push(...c) };
}

describe('StreamIn: frames from the guest', () => {
  it('splits several frames that arrive in one read', () => {
    const frames = [frame(14, 1), frame(60, 2), frame(1514, 3)];
    const r = reader([stream(...frames)]);
    expect(r.input.read()).toBe(3);
    expect([...r.input.frames.subarray(0, 6)]).toEqual([4, 14, 22, 60, 86, 1514]);
    expect(r.input.framesIn).toBe(3);
    expect(r.input.bytesIn).toBe(14 + 60 + 1514);
    expect(r.input.partial).toBe(0);
    expect(r.events).toEqual([]);
  });

  it('reads literal bytes: an ARP request behind its length', () => {
    const arp = hex('ffffffffffff 5e8a3c112233 0806 0001 0800 06 04 0001 5e8a3c112233 c6336402 000000000000 c6336401');
    const r = reader([hex('0000002a'), arp]);
    expect(r.drain()).toEqual([arp]);
  });

  it('delivers every frame whole when the stream is split at any byte, in two or three reads', () => {
    const frames = [frame(60, 1), frame(14, 2), frame(100, 3)];
    const bytes = stream(...frames);
    const r = reader([], 2 * (4 + MAX_STREAM_FRAME));
    for (let i = 1; i < bytes.length; i++) {
      r.push(bytes.subarray(0, i), bytes.subarray(i));
      expectFrames(r.drain(), frames, `split at ${i}`);
      expect(r.input.partial).toBe(0);
    }
    for (let i = 1; i < bytes.length; i++) {
      for (let j = i + 1; j < bytes.length; j++) {
        r.push(bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j));
        expectFrames(r.drain(), frames, `split at ${i} and ${j}`);
      }
    }
    expect(r.events).toEqual([]);
    expect(r.input.framesIn).toBe(3 * (bytes.length - 1) + 3 * ((bytes.length - 1) * (bytes.length - 2)) / 2);
  });

  it('waits for the rest of a length split across reads, byte by byte', () => {
    const f = frame(20, 9);
    const bytes = stream(f);
    const r = reader([...bytes].map((b) => Buffer.of(b)));
    const seen: number[] = [];
    const got: Buffer[] = [];
    for (let k = 0; k < bytes.length; k++) {
      const n = r.input.read();
      seen.push(n);
      if (n) got.push(Buffer.from(r.input.buf.subarray(r.input.frames[0], r.input.frames[0] + r.input.frames[1])));
      if (k < bytes.length - 1) expect(r.input.partial).toBe(k + 1);
    }
    expect(seen.slice(0, -1).every((n) => n === 0)).toBe(true);
    expect(seen.at(-1)).toBe(1);
    expect(got).toEqual([f]);
  });

  it('accepts the shortest (14) and the longest (65535) frame', () => {
    const frames = [frame(14, 1), frame(MAX_STREAM_FRAME, 2), frame(14, 3)];
    const r = reader([stream(...frames)]);
    expect(r.drain()).toEqual(frames);
    expect(r.events).toEqual([]);
  });

  for (const bad of [0, 13, 65536, 0xffffffff]) {
    it(`resets the connection on a length of ${bad}, delivering nothing after it`, () => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(bad);
      const r = reader([Buffer.concat([stream(frame(60, 1)), len, Buffer.alloc(64, 0xaa)])]);
      expect(r.input.read()).toBe(0);
      expect(r.events).toEqual([`error: Bad frame size from guest, resetting connection: bad frame length ${bad} (14 to 65535): the stream is out of step`]);
      expect(r.input.partial).toBe(0);
    });
  }

  it('reports a bad length that arrives split, once its 4 bytes are in', () => {
    const r = reader([Buffer.of(0, 0), Buffer.of(0), Buffer.of(5)]);
    r.drain();
    expect(r.events).toEqual(['error: Bad frame size from guest, resetting connection: bad frame length 5 (14 to 65535): the stream is out of step']);
  });

  it('tells end of file and read errors apart from "nothing yet"', () => {
    const eof = reader([stream(frame(20, 1)).subarray(0, 10), Buffer.alloc(0)]);
    eof.drain();
    expect(eof.events).toEqual(['eof']);
    const again = reader([]);
    expect(again.input.read()).toBe(0);
    expect(again.events).toEqual([]);
    const events: string[] = [];
    const failing = new StreamIn({ onEof: () => events.push('eof'), onError: (why) => events.push(why) }, { ...noWrite, read: () => -E.ECONNRESET });
    failing.reset(3);
    expect(failing.read()).toBe(0);
    expect(events).toEqual(['Receive error on guest connection, reset: Connection reset by peer']);
  });

  it('reads nothing without a connection, and forgets a partial frame on reset', () => {
    const r = reader([stream(frame(30, 1)).subarray(0, 12), stream(frame(30, 2))]);
    expect(r.input.read()).toBe(0);
    expect(r.input.partial).toBe(12);
    r.input.reset(7);
    expect(r.input.partial).toBe(0);
    expect(r.drain()).toEqual([frame(30, 2)]);
    r.input.reset(-1);
    r.push(stream(frame(30, 3)));
    expect(r.input.read()).toBe(0);
  });

  it('grows its frame table for a read with thousands of frames', () => {
    const frames = Array.from({ length: 5000 }, (_, i) => frame(14, i));
    const r = reader([stream(...frames)]);
    expect(r.input.read()).toBe(5000);
    expect(r.input.frames.length).toBeGreaterThanOrEqual(10000);
    expect(r.drain()).toEqual([]);
    expect(r.input.framesIn).toBe(5000);
  });

  it('keeps frames in order across a small buffer filled again and again (random sizes and chunks)', () => {
    const random = prng(42);
    const frames = Array.from({ length: 600 }, (_, i) => frame(14 + Math.floor(random() * 9000), i));
    frames.push(frame(MAX_STREAM_FRAME, 600), frame(14, 601));
    const bytes = stream(...frames);
    const chunks: Buffer[] = [];
    for (let o = 0; o < bytes.length; ) {
      const n = 1 + Math.floor(random() * 150_000);
      chunks.push(bytes.subarray(o, o + n));
      o += n;
    }
    const r = reader(chunks, 2 * (4 + MAX_STREAM_FRAME));
    expectFrames(r.drain(), frames);
    expect(r.events).toEqual([]);
  });

  it('refuses a buffer that cannot hold two whole frames', () => {
    expect(() => new StreamIn({ onEof() {}, onError() {} }, nativeStreamIo, 100_000)).toThrow(RangeError);
  });
});

/** A StreamOut over a fake socket that takes `take(wanted)` bytes per call (negative: an errno). */
function writer(take: (wanted: number) => number = (w) => w) {
  const wire: Buffer[] = [];
  const calls: string[] = [];
  const captured: Buffer[] = [];
  const gather = (buf: Buffer, offsets: Int32Array, lens: Int32Array, count: number): Buffer =>
    Buffer.concat(Array.from({ length: count }, (_, i) => buf.subarray(offsets[i], offsets[i] + lens[i])));
  const io: StreamIo = {
    read: () => -E.EAGAIN,
    sendv: (_fd, buf, offsets, lens, count) => {
      const bytes = gather(buf, offsets, lens, count);
      const n = take(bytes.length);
      calls.push(`sendv ${count} ${bytes.length} -> ${n}`);
      if (n > 0) wire.push(Buffer.from(bytes.subarray(0, n)));
      return n;
    },
    send: (_fd, buf, off, len) => {
      const n = take(len);
      calls.push(`send ${len} -> ${n}`);
      if (n > 0) wire.push(Buffer.from(buf.subarray(off, off + n)));
      return n;
    },
  };
  const out = new StreamOut(
    { wantWritable: (on) => calls.push(`EPOLLOUT ${on ? 'on' : 'off'}`), onError: (why) => calls.push(`error ${why}`) },
    io,
    (buf, frames, count) => {
      for (let i = 0; i < count; i++) captured.push(Buffer.from(buf.subarray(frames[2 * i], frames[2 * i] + frames[2 * i + 1])));
    },
    1 << 20,
  );
  out.reset(9);
  const queue = (...frames: Buffer[]): void => {
    for (const f of frames) {
      const off = out.reserve(f.length);
      f.copy(out.buf, off);
      out.commit(off, f.length);
    }
  };
  return { out, wire, calls, captured, queue, bytes: () => Buffer.concat(wire) };
}

describe('StreamOut: frames to the guest', () => {
  it('sends a batch with each length before its frame, in one sendmsg, with full checksums expected of the protocol code', () => {
    const w = writer();
    expect(w.out.checksumOffload).toBe(false);
    expect(w.out.headroom).toBe(4);
    const frames = [frame(60, 1), frame(1514, 2), frame(14, 3)];
    w.queue(...frames);
    w.out.flush();
    expect(w.calls).toEqual([`sendv 3 ${60 + 1514 + 14 + 12} -> ${60 + 1514 + 14 + 12}`]);
    expect(w.bytes()).toEqual(stream(...frames));
    expect(w.out.framesOut).toBe(3);
    expect(w.out.bytesOut).toBe(60 + 1514 + 14);
    expect(w.captured).toEqual(frames);
    w.out.flush(); // nothing queued: no call
    expect(w.calls.length).toBe(1);
  });

  it('writes the literal bytes of a frame behind its length', () => {
    const w = writer();
    w.queue(hex('5e8a3c112233 9a559a559a55 0806 0001'));
    w.out.flush();
    expect(w.bytes().toString('hex')).toBe('00000010' + '5e8a3c1122339a559a559a5508060001');
  });

  it('never cuts a frame: a batch the socket takes only part of is finished on EPOLLOUT first, later frames dropped whole', () => {
    const first = [frame(60, 1), frame(100, 2), frame(14, 3)];
    const later = [frame(40, 4)];
    const total = stream(...first).length;
    for (let cut = 0; cut < total; cut++) {
      let budget = cut;
      const w = writer((wanted) => {
        if (budget === 0) return -E.EAGAIN;
        const n = Math.min(wanted, budget);
        budget -= n;
        return n;
      });
      w.queue(...first);
      w.out.flush();
      expect(w.out.blocked, `cut at ${cut}`).toBe(true);
      expect(w.calls.at(-1)).toBe('EPOLLOUT on');
      // While the tail waits, new frames are dropped whole, and nothing is written.
      const calls = w.calls.length;
      w.queue(...later);
      w.out.flush();
      expect(w.calls.length).toBe(calls);
      expect(w.out.dropped).toBe(1);
      // Writable again, a little at a time: the tail goes out, then EPOLLOUT is off.
      budget = 7;
      w.out.resume();
      expect(w.out.blocked).toBe(total - cut > 7);
      budget = 1 << 20;
      w.out.resume();
      expect(w.out.blocked).toBe(false);
      expect(w.calls.at(-1)).toBe('EPOLLOUT off');
      expect(w.bytes(), `cut at ${cut}`).toEqual(stream(...first));
      expect(w.out.framesOut).toBe(3);
      // And the next batch goes out as usual.
      w.queue(...later);
      w.out.flush();
      expect(unstream(w.bytes())).toEqual({ frames: [...first, ...later], rest: 0 });
      expect(w.out.bytesOut).toBe(60 + 100 + 14 + 40);
    }
  });

  it('keeps a whole batch the socket refuses at once (EAGAIN)', () => {
    let open = false;
    const w = writer((wanted) => (open ? wanted : -E.EAGAIN));
    const frames = [frame(30, 1), frame(31, 2)];
    w.queue(...frames);
    w.out.flush();
    expect(w.out.blocked).toBe(true);
    expect(w.wire).toEqual([]);
    open = true;
    w.out.resume();
    expect(w.bytes()).toEqual(stream(...frames));
    expect(w.out.dropped).toBe(0);
  });

  it('drops frames when the socket fails for good, and starts clean on the next connection', () => {
    const w = writer(() => -E.EPIPE);
    w.queue(frame(30, 1));
    w.out.flush();
    expect(w.calls).toEqual(['sendv 1 34 -> -32', 'error write: EPIPE']);
    w.queue(frame(30, 2));
    w.out.flush();
    expect(w.calls.length).toBe(2);
    expect(w.out.dropped).toBe(2);
    const v = writer();
    v.out.reset(-1);
    v.queue(frame(30, 3));
    v.out.flush();
    expect(v.calls).toEqual([]);
    expect(v.out.dropped).toBe(1);
  });

  it('drops a held tail when the connection is replaced', () => {
    let budget = 10;
    const w = writer((wanted) => {
      const n = Math.min(wanted, budget);
      budget -= n;
      return n || -E.EAGAIN;
    });
    w.queue(frame(60, 1), frame(60, 2));
    w.out.flush();
    expect(w.out.blocked).toBe(true);
    w.out.reset(10);
    expect(w.out.blocked).toBe(false);
    expect(w.out.dropped).toBe(2);
  });

  it('sends a batch larger than the frame table in several sendmsg calls', () => {
    const w = writer();
    const frames = Array.from({ length: 1300 }, (_, i) => frame(14 + (i % 50), i));
    w.queue(...frames);
    w.out.flush();
    expect(w.calls.length).toBe(3); // 512 + 512 + 276
    expect(unstream(w.bytes())).toEqual({ frames, rest: 0 });
  });
});

describe('both halves on a connected pair of UNIX domain sockets', () => {
  let dir: string;
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A listening socket, a client connected to it, and the accepted side's fd (paused: Node never reads it). */
  async function pair(): Promise<{ fd: number; client: net.Socket; serverSide: net.Socket }> {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qemu-unit-'));
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve) => server.listen(path.join(dir, 's'), resolve));
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const client = net.connect({ path: path.join(dir, 's') });
    const serverSide = await accepted;
    server.close();
    cleanups.push(() => {
      client.destroy();
      serverSide.destroy();
    });
    const fd = (serverSide as unknown as { _handle: { fd: number } })._handle.fd;
    expect(fd).toBeGreaterThan(2);
    return { fd, client, serverSide };
  }

  const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('reads frames the peer writes in pieces', async () => {
    const { fd, client } = await pair();
    const random = prng(7);
    const frames = Array.from({ length: 200 }, (_, i) => frame(14 + Math.floor(random() * 3000), i));
    const bytes = stream(...frames);
    const events: string[] = [];
    const input = new StreamIn({ onEof: () => events.push('eof'), onError: (why) => events.push(why) });
    input.reset(fd);
    const got: Buffer[] = [];
    for (let o = 0; o < bytes.length; ) {
      const n = 1 + Math.floor(random() * 20_000);
      client.write(bytes.subarray(o, o + n));
      o += n;
      await tick();
      for (let k = input.read(); k > 0; k = input.read()) {
        for (let i = 0; i < k; i++) got.push(Buffer.from(input.buf.subarray(input.frames[2 * i], input.frames[2 * i] + input.frames[2 * i + 1])));
      }
    }
    expectFrames(got, frames);
    client.end();
    await tick();
    for (let k = 0; k < 100 && events.length === 0; k++) {
      input.read();
      await tick();
    }
    expect(events).toEqual(['eof']);
  });

  it('finishes a batch larger than the send buffer on EPOLLOUT, with no frame cut', async () => {
    const { fd, client } = await pair();
    native.setsockoptInt(fd, C.SOL_SOCKET, C.SO_SNDBUF, 4096);
    client.pause();
    const received: Buffer[] = [];
    client.on('data', (d: Buffer) => received.push(d));
    const wants: boolean[] = [];
    const out = new StreamOut({ wantWritable: (on) => wants.push(on), onError: (why) => wants.push(why as never) });
    out.reset(fd);
    const batch = Array.from({ length: 300 }, (_, i) => frame(1000 + i, i));
    for (const f of batch) {
      const off = out.reserve(f.length);
      f.copy(out.buf, off);
      out.commit(off, f.length);
    }
    out.flush();
    expect(out.blocked).toBe(true);
    expect(wants).toEqual([true]);
    // Frames while blocked are dropped whole.
    const off = out.reserve(100);
    out.commit(off, 100);
    out.flush();
    expect(out.dropped).toBe(1);
    client.resume();
    /** Let the client read; resume the held tail whenever the socket is writable (as EPOLLOUT would). */
    const pump = async (done: () => boolean): Promise<void> => {
      for (let k = 0; k < 5000 && !done(); k++) {
        await tick();
        if (out.blocked && native.pollFd(fd, 4 /* POLLOUT */, 0) > 0) out.resume();
      }
    };
    await pump(() => !out.blocked);
    expect(out.blocked).toBe(false);
    expect(wants.slice(0, 2)).toEqual([true, false]);
    const later = frame(77, 999);
    const o2 = out.reserve(later.length);
    later.copy(out.buf, o2);
    out.commit(o2, later.length);
    out.flush();
    const expected = stream(...batch, later);
    await pump(() => Buffer.concat(received).length >= expected.length);
    const { frames: sent, rest } = unstream(Buffer.concat(received));
    expectFrames(sent, [...batch, later]);
    expect(rest).toBe(0);
    expect(out.framesOut).toBe(301);
  });

  it('QemuTransport on a loop: EPOLLOUT finishes a held batch; frames in; bad framing closes the connection', async () => {
    const { fd, client, serverSide } = await pair();
    const loop = new Loop((err) => {
      throw err;
    });
    cleanups.push(() => loop.close());
    const events: string[] = [];
    const transport = new QemuTransport(loop, createLogger({ name: 'test', level: 'silent' }), undefined, {
      onConnect: ({ pid }) => events.push(`connect from ${pid === process.pid ? 'us' : pid}`),
      onDisconnect: (why, error) => events.push(`disconnect: ${why}${error ? ' (error)' : ''}`),
    });
    const got: Buffer[] = [];
    loop.on(FdKind.Tap, (index, ev) => {
      if (!transport.events(index, ev)) return;
      const input = transport.input;
      for (let n = input.read(), i = 0; i < n; i++) got.push(Buffer.from(input.buf.subarray(input.frames[2 * i], input.frames[2 * i] + input.frames[2 * i + 1])));
    });
    expect(transport.attach(fd, serverSide)).toBe(true);
    expect(transport.connected).toBe(true);
    expect(events).toEqual(['connect from us']);
    // A second connection is refused (and closed) while one is up.
    const spare = native.socket(C.AF_INET, C.SOCK_STREAM, 0);
    expect(transport.attach(spare)).toBe(false);
    expect(native.close(spare)).toBe(-E.EBADF);

    native.setsockoptInt(fd, C.SOL_SOCKET, C.SO_SNDBUF, 4096);
    client.pause();
    const received: Buffer[] = [];
    client.on('data', (d: Buffer) => received.push(d));
    const out = transport.output;
    const batch = Array.from({ length: 200 }, (_, i) => frame(1400, i));
    for (const f of batch) {
      const off = out.reserve(f.length);
      f.copy(out.buf, off);
      out.commit(off, f.length);
    }
    out.flush();
    expect(out.blocked).toBe(true);
    client.resume();
    const wait = async (done: () => boolean): Promise<void> => {
      for (let k = 0; k < 5000 && !done(); k++) await new Promise((resolve) => setImmediate(resolve));
      expect(done()).toBe(true);
    };
    // Nothing here calls resume(): the loop's EPOLLOUT does.
    await wait(() => !out.blocked && Buffer.concat(received).length === stream(...batch).length);
    const { frames: sent, rest } = unstream(Buffer.concat(received));
    expectFrames(sent, batch);
    expect(rest).toBe(0);

    const mine = [frame(60, 1), frame(1514, 2)];
    client.write(stream(...mine));
    await wait(() => got.length === 2);
    expectFrames(got, mine);

    const closed = new Promise<void>((resolve) => client.on('close', () => resolve()));
    client.write(Buffer.from([0, 0, 0, 1, 2, 3]));
    await wait(() => events.length === 2);
    expect(events[1]).toBe('disconnect: Bad frame size from guest, resetting connection: bad frame length 1 (14 to 65535): the stream is out of step (error)');
    expect(transport.connected).toBe(false);
    await closed;
    transport.close();
  });
});

describe("passt's own options, as the configuration holds them", () => {
  const host: HostNet = { links: [], addrs4: [], addrs6: [], routes4: [], routes6: [] };
  const passt = (...argv: string[]) => buildConfig(parseArgs(argv, 'passt'), host, 'passt');

  it('takes -s, -F, -1 and -p', () => {
    const plain = passt();
    expect([plain.socketPath, plain.socketFd, plain.oneOff, plain.pcap]).toEqual([null, null, false, null]);
    const c = passt('-s', '/run/user/1000/vm.socket', '-1', '-p', 'guest.pcap');
    expect([c.socketPath, c.socketFd, c.oneOff, c.pcap]).toEqual(['/run/user/1000/vm.socket', null, true, 'guest.pcap']);
    // -F implies --one-off: the socket is the only one there will be.
    expect([passt('--fd', '5').socketFd, passt('--fd', '5').oneOff]).toEqual([5, true]);
    expect(passt('-F', '0').socketFd).toBe(0);
    // --pcap works for pasta too; the socket options are passt's: refused in upstream's words.
    expect(buildConfig(parseArgs(['--pcap', 'ns.pcap'], 'pasta'), host, 'pasta').pcap).toBe('ns.pcap');
    expect(() => buildConfig(parseArgs(['-s', 'x'], 'pasta'), host, 'pasta')).toThrow('-s is for passt / vhost-user mode only');
    expect(() => buildConfig(parseArgs(['--one-off'], 'pasta'), host, 'pasta')).toThrow('--one-off is for passt mode only');
    // --socket-path is --socket.
    expect(passt('--socket-path', '/tmp/vm.socket').socketPath).toBe('/tmp/vm.socket');
  });

  it('refuses bad values in upstream\'s words, and the last of -s and -F wins', () => {
    expect(() => passt('-s', 'x'.repeat(108))).toThrow(`Invalid socket path: ${'x'.repeat(108)}`);
    expect(passt('-s', 'x'.repeat(107)).socketPath).toBe('x'.repeat(107));
    expect(() => passt('-s', '')).toThrow(UsageError);
    for (const bad of ['-3', 'x', '3x', '2147483648']) expect(() => passt('-F', bad), bad).toThrow(`Invalid --fd: ${bad}`);
    // As upstream: -F takes any descriptor number (0x hex too); the last of -s and -F wins.
    expect(passt('-F', '0x5').socketFd).toBe(5);
    expect([passt('-s', 'a', '-F', '3').socketPath, passt('-s', 'a', '-F', '3').socketFd]).toEqual([null, 3]);
    expect([passt('-F', '3', '-s', 'a').socketPath, passt('-F', '3', '-s', 'a').socketFd]).toEqual(['a', null]);
    expect(passt('-s', 'a', '-s', 'b').socketPath).toBe('b');
    expect(() => passt('-p', '')).toThrow('Invalid pcap path: ');
  });
});

describe('finding a passt socket in use without connecting to it', () => {
  it('reads listening sockets from /proc/net/unix text', () => {
    const table = [
      'Num       RefCount Protocol Flags    Type St Inode Path',
      '0000000000000000: 00000002 00000000 00010000 0001 01 12345 /tmp/passt_1.socket',
      '0000000000000000: 00000003 00000000 00000000 0001 03 12346 /tmp/passt_2.socket',
      '0000000000000000: 00000002 00000000 00010000 0001 01 12347 @abstract',
    ].join('\n');
    expect(listedAsListening('/tmp/passt_1.socket', table)).toBe(true);
    // Connected, not listening: a peer of a listener elsewhere, not a claim on the path.
    expect(listedAsListening('/tmp/passt_2.socket', table)).toBe(false);
    expect(listedAsListening('/tmp/passt_3.socket', table)).toBe(false);
  });

  it('finds a real listener (no connection made), and a stale file is free', async () => {
    const file = path.join(os.tmpdir(), `qemu-probe-${process.pid}.socket`);
    const server = net.createServer();
    let connections = 0;
    server.on('connection', (c) => {
      connections++;
      c.destroy();
    });
    await new Promise<void>((r) => server.listen(file, r));
    try {
      expect(listedAsListening(file)).toBe(true);
      expect(await socketInUse(file)).toBe(true);
      expect(connections).toBe(0);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    // A socket file nobody listens on any more: its process bound, listened and exited.
    const r = spawnSync('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()', file]);
    expect(r.status).toBe(0);
    expect(fs.lstatSync(file).isSocket()).toBe(true);
    expect(listedAsListening(file)).toBe(false);
    expect(await socketInUse(file)).toBe(false);
    fs.rmSync(file, { force: true });
  });
});
