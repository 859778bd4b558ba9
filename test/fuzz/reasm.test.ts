/**
 * Fuzz target for fragment reassembly (src/l2/reasm.ts), fed the way the
 * tap dispatcher feeds it (the IP header checked with ipv4HeaderLength() or
 * ipv6Walk() first).
 *
 * - Datagrams of any size up to the largest IP allows, cut into fragments
 *   at random multiples of 8, sent interleaved and in any order, some with a
 *   defect (a fragment missing, repeated or overlapping another with other
 *   bytes, an IPv6 fragment with another next header, a fragment after the
 *   timeout): each datagram without a defect comes back once, byte for byte,
 *   with a valid header; none ever comes back with bytes it was not sent
 *   with; nothing throws.
 * - Mutated and random fragments: nothing throws, what comes back is a
 *   well-formed frame, and no more than MAX_REASSEMBLIES are ever pending
 *   (each holds one 64 KiB buffer: memory is bounded).
 */
import assert from 'node:assert/strict';
import { describe } from 'vitest';
import fc from 'fast-check';
import { Reassembler, MAX_REASSEMBLIES, REASM_TIMEOUT_MS, type Reassembled } from '../../src/l2/reasm.js';
import { ipv4HeaderLength, ipv4IsFragment } from '../../src/l2/ipv4.js';
import { ipv6Walk, type Ipv6L4 } from '../../src/l2/ipv6.js';
import { referenceChecksum } from '../unit/wire-frames.js';
import { fuzz, mutatedFrames, randomBytes } from './harness.js';
import { ethernet, FRAMES, GATEWAY6, GUEST4, GUEST6, GUEST_MAC, ipv4, ipv6, OUR_MAC, REMOTE4, fragments } from './wire.js';

const FILE = 'test/fuzz/reasm.test.ts';

/** A frame from the guest into the reassembler, as tap.ts passes it; the datagram when one is complete. */
function feed(r: Reassembler, frame: Buffer, now: number): Reassembled | undefined {
  const len = frame.length;
  if (len < 14) return undefined;
  const type = frame.readUInt16BE(12);
  if (type === 0x0800) {
    const ihl = ipv4HeaderLength(frame, 14, len - 14);
    if (!ihl || !ipv4IsFragment(frame, 14)) return undefined;
    return r.ipv4(frame, 0, ihl, frame.readUInt16BE(16), now);
  }
  if (type === 0x86dd) {
    const w: Ipv6L4 = { protocol: 0, offset: 0, length: 0, fragment: false };
    if (!ipv6Walk(frame, 14, len - 14, w) || !w.fragment) return undefined;
    return r.ipv6(frame, 0, w.offset - 8, w.offset + w.length, now);
  }
  return undefined;
}

/** Throw unless a reassembled datagram is a well-formed, unfragmented packet with its layer 4 at l4Off. */
function checkWhole(d: Reassembled): void {
  const f = d.frame;
  assert.equal(d.l4Off + d.l4Len, f.length, 'layer 4 runs to the end of the frame');
  if (f.readUInt16BE(12) === 0x0800) {
    const ihl = (f[14] & 15) * 4;
    assert.equal(d.l4Off, 14 + ihl);
    assert.equal(f.readUInt16BE(16), f.length - 14, 'IPv4 total length');
    assert.equal(f.readUInt16BE(20) & 0x3fff, 0, 'no fragment fields left');
    assert.equal(referenceChecksum(f.subarray(14, 14 + ihl)), 0, 'IPv4 header checksum');
    assert.equal(d.protocol, f[23]);
  } else {
    assert.equal(d.l4Off, 54);
    assert.equal(f.readUInt16BE(18), f.length - 54, 'IPv6 payload length');
    assert.equal(d.protocol, f[20]);
  }
}

/** Bytes of a datagram's payload, from its seed. */
function pattern(seed: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const DEFECTS = ['none', 'none', 'none', 'missing', 'repeated', 'overlap', 'other-next-header', 'late'] as const;

const datagramArb = fc.record({
  family: fc.constantFrom(4, 6) as fc.Arbitrary<4 | 6>,
  // Mostly small; often at the very top of what IP can carry.
  length: fc.oneof(fc.integer({ min: 9, max: 3000 }), fc.integer({ min: 65000, max: 65535 })),
  seed: fc.integer(),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
  defect: fc.constantFrom(...DEFECTS),
  at: fc.double({ min: 0, max: 1, noNaN: true }),
});
type DatagramSpec = typeof datagramArb extends fc.Arbitrary<infer T> ? T : never;

/** The fragments of one datagram (with its defect applied), the last of them marked, and whether it must come back. */
function fragmentsOf(spec: DatagramSpec, id: number): { frames: Buffer[]; payload: Buffer; other?: Buffer; deliver: boolean } {
  const { family, length } = spec;
  const payload = pattern(spec.seed ^ id, length);
  // Cut points at multiples of 8; no piece larger than a frame can carry; at least two pieces.
  const most = family === 4 ? 65512 : 65520;
  const cuts = new Set<number>(spec.cuts.map((c) => Math.floor((c * length) / 8) * 8).filter((c) => c > 0 && c < length));
  if (cuts.size === 0) cuts.add(Math.max(8, Math.floor(length / 16) * 8));
  const sorted = [...cuts].sort((a, b) => a - b);
  const points = [0];
  for (const c of [...sorted, length]) {
    while (c - points[points.length - 1] > most) points.push(points[points.length - 1] + most);
    if (c < length) points.push(c);
  }
  const pieces: Array<[number, number]> = points.map((p, i) => [p, i + 1 < points.length ? points[i + 1] : length]);
  const frame = (start: number, stop: number, more: boolean, next = 17, bytes = payload.subarray(start, stop)): Buffer => {
    if (family === 4) return ethernet(OUR_MAC, GUEST_MAC, 0x0800, ipv4(GUEST4, REMOTE4, 17, bytes, (more ? 0x2000 : 0) | (start >> 3), id & 0xffff));
    const fh = Buffer.alloc(8);
    fh[0] = next;
    fh.writeUInt16BE(start | (more ? 1 : 0), 2);
    fh.writeUInt32BE(id, 4);
    return ethernet(OUR_MAC, GUEST_MAC, 0x86dd, ipv6(GUEST6, GATEWAY6, 44, Buffer.concat([fh, bytes])));
  };
  const frames = pieces.map(([a, b], i) => frame(a, b, i + 1 < pieces.length));
  const k = Math.min(frames.length - 1, Math.floor(spec.at * frames.length));
  const [a, b] = pieces[k];
  let other: Buffer | undefined;
  switch (spec.defect) {
    case 'missing':
      frames.splice(k, 1);
      break;
    case 'repeated':
      frames.push(frames[k]);
      break;
    case 'overlap': {
      // Another fragment covering 8 bytes of piece k, with other bytes.
      const start = Math.min(a, Math.max(0, b - 8) & ~7);
      const stop = Math.min(length, start + 8);
      frames.push(frame(start, stop, stop < length, 17, Buffer.alloc(stop - start, 0xee)));
      // Where it covers whole pieces exactly, it may stand in for them if it comes first: the datagram is then whole, with its bytes.
      if (points.includes(start) && (stop === length || points.includes(stop))) other = Buffer.concat([payload.subarray(0, start), Buffer.alloc(stop - start, 0xee), payload.subarray(stop)]);
      break;
    }
    case 'other-next-header':
      if (family === 6) frames[k] = frame(a, b, k + 1 < pieces.length, 58);
      break;
    default:
      break;
  }
  const fits = family === 4 ? 20 + length <= 65535 : length <= 65535;
  const deliver = fits && (spec.defect === 'none' || (spec.defect === 'other-next-header' && family === 4));
  return { frames, payload, other, deliver };
}

describe('fragment reassembly', () => {
  fuzz(FILE, 'Reassembler: datagrams come back whole, in any order, or not at all', fc.tuple(fc.array(datagramArb, { minLength: 1, maxLength: 3 }), fc.array(fc.nat(), { maxLength: 64 })), ([specs, order]) => {
    const r = new Reassembler();
    const sent = specs.map((spec, i) => ({ spec, ...fragmentsOf(spec, 0x1000 + i) }));
    // Interleave all fragments in a random order; a 'late' datagram's last fragment comes after the timeout.
    const queue = sent.flatMap((s, i) => s.frames.map((f, j) => ({ f, i, last: j === s.frames.length - 1 })));
    for (let i = queue.length - 1; i > 0; i--) {
      const j = (order[i % Math.max(1, order.length)] ?? 0) % (i + 1);
      [queue[i], queue[j]] = [queue[j], queue[i]];
    }
    const lateLast = new Map<number, (typeof queue)[number]>();
    sent.forEach((s, i) => {
      if (s.spec.defect !== 'late') return;
      const at = queue.findIndex((q) => q.i === i && q.last);
      lateLast.set(i, queue.splice(at, 1)[0]);
    });
    const got = new Map<number, number>();
    let now = 1000;
    const take = (frame: Buffer): void => {
      const d = feed(r, frame, now++);
      assert.ok(r.count <= MAX_REASSEMBLIES);
      if (!d) return;
      checkWhole(d);
      const data = d.frame.subarray(d.l4Off);
      const i = sent.findIndex((s) => s.payload.equals(data) || s.other?.equals(data));
      assert.ok(i >= 0, 'a datagram came back with bytes it was not sent with');
      got.set(i, (got.get(i) ?? 0) + 1);
    };
    for (const q of queue) take(q.f);
    now += REASM_TIMEOUT_MS + 1;
    for (const q of lateLast.values()) take(q.f);
    sent.forEach((s, i) => {
      const n = got.get(i) ?? 0;
      const what = `datagram ${i} (IPv${s.spec.family}, ${s.spec.length} bytes, ${s.frames.length} fragments, defect ${s.spec.defect})`;
      if (s.deliver) assert.equal(n, 1, `${what} came back ${n} times`);
      // A repeated or overlapping fragment after the whole datagram came back starts a new reassembly that never completes.
      else if (s.spec.defect === 'repeated' || s.spec.defect === 'overlap') assert.ok(n <= 1, `${what} came back ${n} times`);
      else assert.equal(n, 0, `${what} came back`);
    });
  }, { weight: 3 });

  const fragmentCorpus = FRAMES.filter((f) => feed(new Reassembler(), f, 0) !== undefined || (f.length > 20 && (f.readUInt16BE(20) & 0x3fff) !== 0) || f[20] === 44);
  fragmentCorpus.push(...fragments(4, 17, pattern(7, 200), 64, 0x42), ...fragments(6, 58, pattern(9, 200), 64, 0x43));
  fuzz(FILE, 'Reassembler: mutated fragments, many at once, memory bounded', fc.array(fc.tuple(fc.oneof({ weight: 4, arbitrary: mutatedFrames(fragmentCorpus, 4) }, { weight: 1, arbitrary: randomBytes(200) }), fc.nat(REASM_TIMEOUT_MS / 4)), { maxLength: 150 }), (steps) => {
    const r = new Reassembler();
    let now = 0;
    for (const [frame, dt] of steps) {
      now += dt;
      const d = feed(r, frame, now);
      if (d) checkWhole(d);
      assert.ok(r.count <= MAX_REASSEMBLIES);
      if (dt % 7 === 0) r.expire(now);
    }
  }, { weight: 2 });
});
