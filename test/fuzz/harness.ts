/**
 * The fuzz runner every target in test/fuzz/ uses: fast-check properties,
 * run for a time budget rather than a number of cases, with a seed that is
 * printed on failure so the failing case can be replayed exactly.
 *
 * Why fast-check (property-based) and not a coverage-guided fuzzer:
 * Jazzer.js, the libFuzzer-based one for JavaScript, does not run here: its
 * current release ships a prebuilt addon that needs glibc 2.38 (Debian 12
 * has 2.36), and older releases download their addon from GitHub at
 * install time. So the targets are structure-aware instead: each draws
 * inputs from the seed corpus (test/fuzz/corpus/, and the literal frames
 * exported by test/unit/wire-frames.ts) mutated byte-wise
 * (`mutated()`: bit flips, boundary values in 8/16/32-bit fields, cuts,
 * insertions, splices of two inputs), optionally with lengths and
 * checksums fixed up afterwards so that a mutation reaches the code behind
 * the checksum checks; from generators that build well-formed messages
 * with random fields; and from plain random bytes.
 *
 * Environment:
 * - FUZZ_TIME: seconds each target runs (default 0.5, times the target's
 *   weight; the engine-level fuzz gets 8x). `FUZZ_TIME=60 npm run fuzz` is
 *   a long run (README.md, "Fuzzing").
 * - FUZZ_SEED: the seed (default: a new one every run). A failure prints
 *   the seed, the path of the failing case and the command that replays it
 *   (FUZZ_SEED=... FUZZ_PATH=... npx vitest run FILE -t NAME): that runs
 *   only the failing case, then shrinks it without a time limit.
 */
import { it } from 'vitest';
import fc from 'fast-check';
import { referenceChecksum, pseudo4, pseudo6 } from '../unit/wire-frames.js';

/** Seconds per target (times its weight). */
export const FUZZ_TIME = Number(process.env.FUZZ_TIME ?? '0.5');
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : undefined;
const PATH = process.env.FUZZ_PATH;
/** A long run (FUZZ_TIME given): say how many cases each target ran. */
const REPORT = process.env.FUZZ_TIME !== undefined;

export interface FuzzOptions<T> {
  /** Inputs run first, every time (the seed corpus in its plain form). */
  examples?: T[];
  /** Share of FUZZ_TIME this target gets (default 1). */
  weight?: number;
}

/**
 * A fuzz target: `check` gets inputs drawn from `arb` until the time is
 * up; it fails by throwing (an assertion, or the code under test itself).
 */
export function fuzz<T>(file: string, name: string, arb: fc.Arbitrary<T>, check: (input: T) => void, options: FuzzOptions<T> = {}): void {
  const ms = Math.max(50, FUZZ_TIME * 1000 * (options.weight ?? 1));
  it(name, () => runFuzz(file, name, arb, check, ms, options.examples ?? []), ms + 120_000);
}

/** The same as an async property (a target that awaits I/O). */
export function fuzzAsync<T>(file: string, name: string, arb: fc.Arbitrary<T>, check: (input: T) => Promise<void>, options: FuzzOptions<T> = {}): void {
  const ms = Math.max(50, FUZZ_TIME * 1000 * (options.weight ?? 1));
  it(name, async () => report(file, name, await fc.check(fc.asyncProperty(arb, check), params(ms, options.examples ?? []))), ms + 120_000);
}

/** The seed of this run: FUZZ_SEED, or a new one. */
export function runSeed(): number {
  return SEED ?? (Math.random() * 0x7fffffff) | 0;
}

function params<T>(ms: number, examples: T[]): fc.Parameters<[T]> {
  const seed = runSeed();
  return PATH !== undefined
    ? { seed, path: PATH, examples: examples.map((e) => [e] as [T]), includeErrorInReport: true }
    : { seed, numRuns: 1e9, interruptAfterTimeLimit: ms, examples: examples.map((e) => [e] as [T]), includeErrorInReport: true };
}

function runFuzz<T>(file: string, name: string, arb: fc.Arbitrary<T>, check: (input: T) => void, ms: number, examples: T[]): void {
  report(file, name, fc.check(fc.property(arb, check), params(ms, examples)));
}

function report<T>(file: string, name: string, details: fc.RunDetails<[T]>): void {
  if (REPORT) process.stderr.write(`fuzz ${name}: ${details.numRuns} cases, seed ${details.seed}\n`);
  if (!details.failed) return;
  const replay = `FUZZ_SEED=${details.seed} FUZZ_PATH=${details.counterexamplePath} npx vitest run ${file} -t '${name.replace(/'/g, "'\\''")}'`;
  const example = details.counterexample?.[0];
  const bytes = example instanceof Uint8Array ? `\ninput (hex): ${Buffer.from(example).toString('hex')}` : '';
  throw new Error(`${fc.defaultReportMessage(details)}${bytes}\nreplay: ${replay}`);
}

// --- byte mutations ----------------------------------------------------------

/** Values at the edges of 8-, 16- and 32-bit fields, and lengths that matter on this link. */
const INTERESTING = [0, 1, 2, 3, 4, 7, 8, 13, 14, 15, 16, 19, 20, 40, 54, 60, 63, 64, 127, 128, 255, 256, 576, 1279, 1280, 1500, 1514, 32767, 32768, 65507, 65515, 65527, 65528, 65535, 65536, 0x7fffffff, 0x80000000, 0xffffffff];

/** One edit of a byte string; positions are fractions of its length, so an edit applies to any input. */
export interface Mutation {
  kind: number;
  at: number;
  value: number;
  length: number;
}

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.integer({ min: 0, max: 9 }),
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  value: fc.oneof(fc.constantFrom(...INTERESTING), fc.nat()),
  length: fc.integer({ min: 1, max: 64 }),
});

/** Apply `mutations` to a copy of `input`; `other` is the second input of a splice. */
export function mutate(input: Uint8Array, mutations: readonly Mutation[], other: Uint8Array = input): Buffer {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const at = Math.min(b.length, Math.floor(m.at * (b.length + 1)));
    switch (m.kind) {
      case 0: // flip a bit
      case 1:
        if (at < b.length) b[at] ^= 1 << (m.value & 7);
        break;
      case 2: // an interesting or random byte
        if (at < b.length) b[at] = m.value & 0xff;
        break;
      case 3: // a 16-bit field, big-endian (the network's) or little-endian (netlink's)
        if (at + 2 <= b.length) {
          if (m.length & 1) b.writeUInt16LE(m.value & 0xffff, at);
          else b.writeUInt16BE(m.value & 0xffff, at);
        }
        break;
      case 4: // a 32-bit field
        if (at + 4 <= b.length) {
          if (m.length & 1) b.writeUInt32LE(m.value >>> 0, at);
          else b.writeUInt32BE(m.value >>> 0, at);
        }
        break;
      case 5: // cut here
        b = b.subarray(0, at);
        break;
      case 6: {
        // insert bytes
        const extra = Buffer.alloc(m.length, m.value & 0xff);
        b = Buffer.concat([b.subarray(0, at), extra, b.subarray(at)]);
        break;
      }
      case 7: // delete bytes
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + m.length))]);
        break;
      case 8: {
        // repeat a chunk (a repeated option, extension header, record)
        const chunk = Buffer.from(b.subarray(at, at + m.length));
        b = Buffer.concat([b.subarray(0, at), chunk, chunk, b.subarray(at + chunk.length)]);
        break;
      }
      default: {
        // splice: the head of this input, the tail of the other
        const from = Math.floor((m.value % 1024) / 1024 * (other.length + 1));
        b = Buffer.concat([b.subarray(0, at), other.subarray(from)]);
        break;
      }
    }
  }
  return b;
}

/** Inputs from `corpus`, each edited by up to `max` mutations (a splice takes its second input from the corpus too). */
export function mutated(corpus: readonly Uint8Array[], max = 6): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.constantFrom(...corpus), fc.constantFrom(...corpus), fc.array(mutationArb, { minLength: 1, maxLength: max }))
    .map(([input, other, mutations]) => mutate(input, mutations, other));
}

/** Random bytes, mostly short. */
export function randomBytes(maxLength = 1600): fc.Arbitrary<Buffer> {
  return fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
}

// --- frames: fixing lengths and checksums after a mutation ----------------------

/**
 * Make the IP lengths and the checksums of an Ethernet frame consistent
 * again after a mutation (as far as its headers still parse), so that it
 * gets past the checks a random edit would fail. Written without src/.
 */
export function fixFrame(frame: Buffer, setLengths: boolean): Buffer {
  if (frame.length < 14) return frame;
  const type = frame.readUInt16BE(12);
  const ip = 14;
  if (type === 0x0800 && frame.length >= ip + 20 && frame[ip] >> 4 === 4) {
    const ihl = (frame[ip] & 15) * 4;
    if (ihl < 20 || ip + ihl > frame.length) return frame;
    if (setLengths && frame.length - ip <= 0xffff) frame.writeUInt16BE(frame.length - ip, ip + 2);
    frame.writeUInt16BE(0, ip + 10);
    frame.writeUInt16BE(referenceChecksum(frame.subarray(ip, ip + ihl)), ip + 10);
    const total = frame.readUInt16BE(ip + 2);
    if (total < ihl || ip + total > frame.length || (frame.readUInt16BE(ip + 6) & 0x3fff) !== 0) return frame;
    const l4 = frame.subarray(ip + ihl, ip + total);
    const proto = frame[ip + 9];
    if (proto === 17 && setLengths && l4.length >= 8) l4.writeUInt16BE(l4.length, 4);
    const field = proto === 6 ? 16 : proto === 17 ? 6 : proto === 1 ? 2 : -1;
    if (field < 0 || l4.length < field + 2) return frame;
    l4.writeUInt16BE(0, field);
    const pseudo = proto === 1 ? Buffer.alloc(0) : pseudo4(frame.subarray(ip + 12, ip + 16), frame.subarray(ip + 16, ip + 20), proto, l4.length);
    l4.writeUInt16BE(referenceChecksum(pseudo, l4), field);
  } else if (type === 0x86dd && frame.length >= ip + 40 && frame[ip] >> 4 === 6) {
    if (setLengths && frame.length - ip - 40 <= 0xffff) frame.writeUInt16BE(frame.length - ip - 40, ip + 4);
    const end = ip + 40 + frame.readUInt16BE(ip + 4);
    if (end > frame.length) return frame;
    // Skip extension headers (hop-by-hop, routing, destination options) to the upper layer.
    let next = frame[ip + 6];
    let at = ip + 40;
    for (let n = 0; n < 8 && (next === 0 || next === 43 || next === 60) && at + 8 <= end; n++) {
      const length = (frame[at + 1] + 1) * 8;
      next = frame[at];
      at += length;
    }
    if (at > end) return frame;
    const l4 = frame.subarray(at, end);
    if (next === 17 && setLengths && l4.length >= 8) l4.writeUInt16BE(l4.length & 0xffff, 4);
    const field = next === 6 ? 16 : next === 17 ? 6 : next === 58 ? 2 : -1;
    if (field < 0 || l4.length < field + 2) return frame;
    l4.writeUInt16BE(0, field);
    l4.writeUInt16BE(referenceChecksum(pseudo6(frame.subarray(ip + 8, ip + 24), frame.subarray(ip + 24, ip + 40), next, l4.length), l4), field);
  }
  return frame;
}

/** Frames from the corpus, mutated, and then half the time with lengths and checksums fixed up. */
export function mutatedFrames(corpus: readonly Uint8Array[], max = 6): fc.Arbitrary<Buffer> {
  return fc
    .tuple(mutated(corpus, max), fc.constantFrom('none', 'checksums', 'lengths'))
    .map(([frame, fix]) => (fix === 'none' ? frame : fixFrame(frame, fix === 'lengths')));
}

// --- where the input sits -----------------------------------------------------

/** An input placed at `off` in a larger buffer whose other bytes are `fill`: a parser must give the same answer whatever they are. */
export interface Placed {
  buf: Buffer;
  off: number;
  len: number;
}

export function place(input: Uint8Array, before: number, after: number, fill: number): Placed {
  const buf = Buffer.alloc(before + input.length + after, fill);
  buf.set(input, before);
  return { buf, off: before, len: input.length };
}

/** Where an input goes: bytes before and after it, and the two fills it is tried with. */
export const placement = fc.record({
  before: fc.integer({ min: 0, max: 64 }),
  after: fc.integer({ min: 0, max: 64 }),
  fills: fc.constantFrom([0x00, 0xff], [0xff, 0x00], [0x55, 0xaa], [0x01, 0x80]),
});
export type Placement = { before: number; after: number; fills: readonly number[] };

/** Run `parse` on `input` placed twice with different surroundings; the results must agree (nothing read outside the span). */
export function sameAnywhere<R>(input: Uint8Array, where: Placement, parse: (p: Placed) => R, compare: (a: R, b: R) => void): R {
  const a = parse(place(input, where.before, where.after, where.fills[0]));
  const b = parse(place(input, where.before, where.after, where.fills[1]));
  compare(a, b);
  return a;
}
