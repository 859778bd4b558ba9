/**
 * Fuzz target for the QEMU stream framing reader (src/l2/qemu.ts,
 * StreamIn): each frame a 4-byte big-endian length and the frame.
 *
 * The stream arrives cut at random points (inside lengths too), through an
 * injected read(2), into the smallest buffer StreamIn accepts (two whole
 * frames) or its default one. Frames must come out exactly as sent and in
 * order; a length out of range (below 14 or above 65535) must end the
 * connection through onError once (the frames before it that came in the
 * same read may be dropped with it, as upstream does);
 * the bytes held for the next read never exceed one frame and its length;
 * random bytes never make it throw, and every frame it reports lies inside
 * its buffer with a length in range.
 */
import assert from 'node:assert/strict';
import { describe } from 'vitest';
import fc from 'fast-check';
import { StreamIn, STREAM_HDR_LEN, MIN_STREAM_FRAME, MAX_STREAM_FRAME, type StreamIo } from '../../src/l2/qemu.js';
import { E } from '../../src/native.js';
import { fuzz, randomBytes } from './harness.js';

const FILE = 'test/fuzz/qemu.test.ts';
const SMALLEST = 2 * (STREAM_HDR_LEN + MAX_STREAM_FRAME);

/** A StreamIn reading `stream` in chunks that end at `cuts` (fractions of its length); a chunk larger than the room is cut. */
function reader(stream: Buffer, cuts: number[], size: number) {
  const ends = [...new Set(cuts.map((c) => Math.floor(c * stream.length)))].filter((e) => e > 0 && e < stream.length).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let at = 0;
  for (const e of [...ends, stream.length]) {
    if (e > at) chunks.push(stream.subarray(at, e));
    at = e;
  }
  const errors: string[] = [];
  const io: StreamIo = {
    read: (_fd, buf, off, len) => {
      const next = chunks.shift();
      if (!next) return -E.EAGAIN;
      const n = Math.min(len, next.length);
      buf.set(next.subarray(0, n), off);
      if (n < next.length) chunks.unshift(next.subarray(n));
      return n;
    },
    sendv: () => -E.EAGAIN,
    send: () => -E.EAGAIN,
  };
  const input = new StreamIn({ onEof: () => errors.push('eof'), onError: (why) => errors.push(why) }, io, size);
  input.reset(3);
  /** Read until the chunks run out or the connection ends; the frames, in order. */
  const drain = (): Buffer[] => {
    const frames: Buffer[] = [];
    while (chunks.length && errors.length === 0) {
      const n = input.read();
      assert.ok(input.partial >= 0 && input.partial <= STREAM_HDR_LEN + MAX_STREAM_FRAME, `${input.partial} bytes held`);
      for (let i = 0; i < n; i++) {
        const off = input.frames[2 * i];
        const len = input.frames[2 * i + 1];
        assert.ok(len >= MIN_STREAM_FRAME && len <= MAX_STREAM_FRAME && off >= STREAM_HDR_LEN && off + len <= input.buf.length, `frame at ${off}, ${len} bytes`);
        frames.push(Buffer.from(input.buf.subarray(off, off + len)));
      }
    }
    return frames;
  };
  return { input, errors, drain };
}

const frameLength = fc.oneof(fc.integer({ min: MIN_STREAM_FRAME, max: 1600 }), fc.integer({ min: 60000, max: MAX_STREAM_FRAME }), fc.constantFrom(MIN_STREAM_FRAME, MAX_STREAM_FRAME));
const badLength = fc.oneof(fc.integer({ min: 0, max: MIN_STREAM_FRAME - 1 }), fc.constantFrom(MAX_STREAM_FRAME + 1, 0x10000, 0x7fffffff, 0xffffffff), fc.nat(0xffffffff).filter((n) => n > MAX_STREAM_FRAME));

describe('QEMU stream framing', () => {
  fuzz(FILE, 'StreamIn: frames come out as sent, cut anywhere; a bad length ends the connection', fc.record({
    lengths: fc.array(frameLength, { maxLength: 8 }),
    bad: fc.option(fc.tuple(fc.nat(8), badLength), { nil: undefined }),
    cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 20 }),
    small: fc.boolean(),
    seed: fc.nat(255),
  }), ({ lengths, bad, cuts, small, seed }) => {
    const frames = lengths.map((len, i) => Buffer.alloc(len, (seed + i) & 0xff));
    const parts: Buffer[] = [];
    const badAt = bad ? Math.min(bad[0], frames.length) : -1;
    frames.forEach((f, i) => {
      if (i === badAt) parts.push(Buffer.from([bad![1] >>> 24, (bad![1] >>> 16) & 0xff, (bad![1] >>> 8) & 0xff, bad![1] & 0xff]), Buffer.alloc(20, 0xee));
      const head = Buffer.alloc(4);
      head.writeUInt32BE(f.length);
      parts.push(head, f);
    });
    if (badAt === frames.length) parts.push(Buffer.from([bad![1] >>> 24, (bad![1] >>> 16) & 0xff, (bad![1] >>> 8) & 0xff, bad![1] & 0xff]));
    const r = reader(Buffer.concat(parts), cuts, small ? SMALLEST : 2 << 20);
    const got = r.drain();
    // As passt's tap_passt_input(), the frames read together with a bad length are dropped with it: those before may be missing.
    const want = bad ? frames.slice(0, badAt) : frames;
    if (bad) assert.ok(got.length <= want.length, 'frame count');
    else assert.equal(got.length, want.length, 'frame count');
    got.forEach((f, i) => assert.ok(f.equals(want[i]), `frame ${i}`));
    assert.equal(r.errors.length, bad ? 1 : 0, r.errors.join('; '));
    if (!bad) assert.equal(r.input.partial, 0);
  }, { weight: 2 });

  fuzz(FILE, 'StreamIn: random bytes never throw nor report a frame outside the buffer', fc.tuple(randomBytes(4096), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 })), ([stream, cuts]) => {
    reader(stream, cuts, SMALLEST).drain();
  });
});
