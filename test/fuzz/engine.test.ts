/**
 * Engine-level fuzz: random and mutated frames through the real engine at a
 * high rate for a bounded time, read by the engine's own loop from its
 * (fake) tap with a virtio-net header each, whose GSO type and size are
 * fuzzed too, while a real TCP connection and a UDP flow go through it. No
 * exception, no internal error, the real flows' data intact during the
 * fuzzing and still moving after it, every flow expired and the process
 * back to the fds it had when the engine started once the clock has moved
 * past every timeout, no heap growth.
 *
 * Network safety: natFromTap() would send a guest's traffic wherever a frame
 * says, so the engine never runs here: test/fuzz/engine-driver.mjs runs it in
 * a private network namespace made for it (`unshare -n`, with `-r` for a
 * user namespace too when not root), with
 * loopback up and nothing else, and refuses to start anywhere else. The
 * frames are made here, from a seed (printed on failure), with the same
 * generators as the other targets; the real flows' guest ports are kept
 * out of them. The driver runs the built engine (dist/, made by pretest,
 * like the e2e scripts).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import fc from 'fast-check';
import { ipv4HeaderLength } from '../../src/l2/ipv4.js';
import { ipv6L4 } from '../../src/l2/ipv6.js';
import { FUZZ_TIME, mutatedFrames, randomBytes, runSeed } from './harness.js';
import { FRAMES, GATEWAY4, GATEWAY6, GUEST4, GUEST6, REMOTE4, echoRequest, fragments, guestFrame, tcp, udp } from './wire.js';

const DRIVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'engine-driver.mjs');
const SECONDS = Math.max(1, FUZZ_TIME * 8);
const VNET = 10;
/** The guest ports of the driver's real TCP connection and UDP flow. */
const REAL_PORTS = [61001, 61002];

/** New flows of every kind, IPv4 and IPv6, to the gateway (the namespace's loopback) and elsewhere (unreachable there). */
const REMOTE6 = Buffer.from('20010db8ffff00000000000000000010', 'hex');
const newFlows = fc.tuple(fc.constantFrom(4, 6) as fc.Arbitrary<4 | 6>, fc.constantFrom(6, 17), fc.nat(0xffff), fc.nat(0xffff), fc.boolean(), fc.uint8Array({ maxLength: 200 })).map(([family, proto, sport, dport, gw, data]) =>
  guestFrame(
    family,
    proto,
    family === 4 ? GUEST4 : GUEST6,
    family === 4 ? (gw ? GATEWAY4 : REMOTE4) : gw ? GATEWAY6 : REMOTE6,
    proto === 6 ? tcp(sport, dport, 1, 0, [0x02, 0x10, 0x11, 0x04, 0x18][sport % 5], Buffer.from(data)) : udp(sport, dport, Buffer.from(data)),
  ),
);
const frameArb = fc.oneof(
  { weight: 5, arbitrary: mutatedFrames(FRAMES) },
  { weight: 2, arbitrary: fc.constantFrom(...FRAMES) },
  { weight: 2, arbitrary: newFlows },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(4, 6) as fc.Arbitrary<4 | 6>, fc.integer({ min: 9, max: 9000 }), fc.nat(0xffff), fc.nat(7)).map(([family, n, id, k]) => { const all = fragments(family, 17, Buffer.alloc(n, id & 0xff), 1448, id); return all[k % all.length]; }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(4, 6) as fc.Arbitrary<4 | 6>, fc.nat(0xffff), fc.nat(0xffff), fc.uint8Array({ maxLength: 100 })).map(([family, id, seq, data]) => echoRequest(family, id, seq, data)) },
  { weight: 1, arbitrary: randomBytes(120) },
);

/**
 * The virtio-net header before a frame (struct virtio_net_hdr: flags, GSO
 * type, header length, GSO size, checksum start and offset, little-endian):
 * mostly none, else a GSO type (ECN bit or not, known or not) and size.
 */
const vnetArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant(Buffer.alloc(VNET)) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(0, 1, 3, 4, 5, 6, 0x81, 0x84, 0x85, 0xff), fc.oneof(fc.constantFrom(0, 1, 8, 536, 1400, 1460, 65535), fc.nat(0xffff)), fc.uint8Array({ minLength: VNET, maxLength: VNET })).map(([type, size, rest]) => {
      const h = Buffer.from(rest);
      h[1] = type;
      h.writeUInt16LE(size, 4);
      return h;
    }),
  },
);

/** Where a frame's layer-4 header starts (first fragments too), or -1. */
function l4Of(f: Buffer): number {
  if (f.length < 14) return -1;
  const type = f.readUInt16BE(12);
  if (type === 0x0800) {
    const ihl = ipv4HeaderLength(f, 14, f.length - 14);
    return ihl && (f.readUInt16BE(20) & 0x1fff) === 0 ? 14 + ihl : -1;
  }
  if (type === 0x86dd) {
    const l4 = ipv6L4(f, 14, f.length - 14);
    return l4 && (!l4.fragment || (f.readUInt16BE(l4.offset - 6) & 0xfff8) === 0) ? l4.offset : -1;
  }
  return -1;
}

interface Result {
  errors: string[];
  fed?: number;
  batches?: number;
  framesFromTap?: number;
  stats?: Record<string, unknown>;
  tcp?: { during: { toGuest: number; toServer: number }; after: { toGuest: number; toServer: number } };
  udp?: { during: number; after: number };
  expiredAfterSeconds?: number;
  fds?: { before: number; start: number; most: number; expired: number; closed: number };
  heap?: { gc: boolean; start: number; third: number; end: number; expired: number; buffersStart: number; buffersExpired: number };
}

it('engine: fuzzed frames at a high rate; real flows intact, no fd or heap growth', async () => {
  const seed = runSeed();
  // 3000 frames for the short run, more for a long one (cycled through for as long as it lasts).
  const samples = fc.sample(fc.tuple(frameArb, vnetArb), { seed, numRuns: Math.min(100_000, Math.round(750 * SECONDS)) });
  const frames = samples.map(([f]) => f);
  // The real flows' ports are theirs alone: a fuzzed frame that has one gets another.
  for (const f of frames) {
    const l4 = l4Of(f);
    if (l4 >= 0 && l4 + 2 <= f.length && REAL_PORTS.includes(f.readUInt16BE(l4))) f.writeUInt16BE(61000, l4);
  }
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'node-passt-fuzz-')), 'frames');
  // Each entry: its length (32 bits, big-endian), the virtio-net header, the frame.
  fs.writeFileSync(file, Buffer.concat(samples.flatMap(([f, vnet]) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(VNET + f.length);
    return [length, vnet, f];
  })));
  try {
    // As root, a network namespace alone, where ping sockets can be allowed (echo requests then
    // open ICMP flows); otherwise a user namespace too, where the sysctl stays as it is.
    const unshare = process.getuid?.() === 0 ? '-n' : '-rn';
    const script = 'ip link set lo up && { echo "0 2147483647" > /proc/sys/net/ipv4/ping_group_range; } 2>/dev/null; exec "$0" --expose-gc "$@"';
    const child = spawn('unshare', [unshare, 'sh', '-c', script, process.execPath, DRIVER, file, String(SECONDS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), (SECONDS + 60) * 1000);
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    clearTimeout(timer);
    // The same seed and FUZZ_TIME give the same frames (their interleaving with the real flows' varies with timing).
    const replay = `replay: FUZZ_SEED=${seed}${process.env.FUZZ_TIME !== undefined ? ` FUZZ_TIME=${process.env.FUZZ_TIME}` : ''} npx vitest run test/fuzz/engine.test.ts`;
    const line = stdout.trim().split('\n').pop() ?? '';
    let result: Result;
    try {
      result = JSON.parse(line) as Result;
    } catch {
      throw new Error(`the engine driver exited ${code} without a result\n${stdout}\n${stderr}\n${replay}`);
    }
    if (process.env.FUZZ_TIME !== undefined) process.stderr.write(`fuzz engine: ${result.fed} frames in ${result.batches} batches, seed ${seed}: ${JSON.stringify({ stats: result.stats, framesFromTap: result.framesFromTap, tcp: result.tcp, udp: result.udp, expiredAfterSeconds: result.expiredAfterSeconds, fds: result.fds, heap: result.heap })}\n`);
    const what = `${replay}\n${JSON.stringify({ ...result, stats: undefined })}`;
    expect(result.errors, what).toEqual([]);
    // A high rate: every fuzzed frame went in through the engine's tap read.
    expect(result.fed!, what).toBeGreaterThan(500 * SECONDS);
    expect(result.framesFromTap!, what).toBeGreaterThanOrEqual(result.fed!);
    // The real flows kept going during the fuzzing, both directions of TCP and the UDP exchange, and after it.
    expect(result.tcp!.during.toGuest, what).toBeGreaterThan(64 << 10);
    expect(result.tcp!.during.toServer, what).toBeGreaterThan(64 << 10);
    expect(result.udp!.during, what).toBeGreaterThan(2 * SECONDS);
    expect(result.tcp!.after.toGuest, what).toBeGreaterThanOrEqual(64 << 10);
    expect(result.tcp!.after.toServer, what).toBeGreaterThanOrEqual(64 << 10);
    expect(result.udp!.after, what).toBeGreaterThanOrEqual(2);
    // Once every flow expired, the fds the engine had at its start and no more; none after close.
    expect(result.expiredAfterSeconds!, what).toBeGreaterThanOrEqual(0);
    expect(result.fds!.expired, what).toBe(result.fds!.start);
    expect(result.fds!.closed, what).toBe(result.fds!.before);
    // No heap growth: less than 16 MiB from a third of the way in to the end, and once the flows are gone, less than 8 MiB over the start.
    expect(result.heap!.gc, what).toBe(true);
    expect(result.heap!.end - result.heap!.third, what).toBeLessThan(16 << 20);
    expect(result.heap!.expired - result.heap!.start, what).toBeLessThan(8 << 20);
    // Nor of Buffers outside the heap (frames, reassembly buffers), once the flows are gone.
    expect(result.heap!.buffersExpired - result.heap!.buffersStart, what).toBeLessThan(16 << 20);
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}, (SECONDS + 120) * 1000);
