/**
 * The spliced loopback path (src/fwd/splice.ts and native/splice.cc) with a
 * real Loop and real TCP connections on loopback only (127.0.0.1 and ::1).
 *
 * Each relayed connection is built as port forwarding builds it: a client
 * (a Node socket) connects to a "forwarded port" (a native listener), whose
 * accepted socket is A; B is a native socket connected to the target server
 * (a Node net.Server). The handler relays A <-> B; the test talks through
 * the Node sockets at both ends and checks what arrives, byte for byte.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { native, C, E, SPLICE_OP_INTS, SPLICE_RESULT_INTS, SpliceFlag } from '../../src/native.js';
import { Loop } from '../../src/loop.js';
import { createLogger } from '../../src/log.js';
import { SpliceHandler, type SplicePairStats } from '../../src/fwd/splice.js';
import { settle, until } from './wait.js';

const LO4 = new Uint8Array([127, 0, 0, 1]);
const LO6 = new Uint8Array(16);
LO6[15] = 1;
const MiB = 1 << 20;

/** The pause between two looks at a condition in a polling loop. */
const pause = () => new Promise((resolve) => setTimeout(resolve, 1));

/** Bytes waiting in a socket's receive queue (SIOCINQ). */
function inQueue(fd: number): number {
  const info = new Uint32Array(16);
  expect(native.tcpInfo(fd, info)).toBe(0);
  return info[12];
}

type Family = 4 | 6;
const addrOf = (family: Family) => (family === 4 ? LO4 : LO6);
const hostOf = (family: Family) => (family === 4 ? '127.0.0.1' : '::1');
const afOf = (family: Family) => (family === 4 ? C.AF_INET : C.AF_INET6);

function localPort(fd: number): number {
  const addr = new Uint8Array(16);
  const info = new Int32Array(3);
  expect(native.getsockname(fd, addr, info)).toBe(0);
  return info[1];
}

/** A native listening socket on loopback: the "forwarded port". */
function listenNative(family: Family): { fd: number; port: number } {
  const fd = native.socket(afOf(family), C.SOCK_STREAM | C.SOCK_NONBLOCK, 0);
  expect(fd).toBeGreaterThanOrEqual(0);
  expect(native.bind(fd, addrOf(family), 0, 0)).toBe(0);
  expect(native.listen(fd, 128)).toBe(0);
  return { fd, port: localPort(fd) };
}

/** Accept one connection from a nonblocking listener, waiting for it without blocking the event loop. */
async function acceptAsync(fd: number): Promise<{ fd: number; peerPort: number }> {
  const addr = new Uint8Array(16);
  const info = new Int32Array(3);
  for (let i = 0; i < 5000; i++) {
    const r = native.accept(fd, addr, info);
    if (r >= 0) return { fd: r, peerPort: info[1] };
    expect(r).toBe(-E.EAGAIN);
    await pause();
  }
  throw new Error('accept: timed out');
}

/** A target server (Node) on loopback that hands out its connections by the client's port. */
class Target {
  readonly server: net.Server;
  private readonly waiting = new Map<number, (s: net.Socket) => void>();
  private readonly arrived = new Map<number, net.Socket>();
  port = 0;

  constructor() {
    this.server = net.createServer({ allowHalfOpen: true }, (s) => {
      const resolve = this.waiting.get(s.remotePort!);
      if (resolve) {
        this.waiting.delete(s.remotePort!);
        resolve(s);
      } else {
        this.arrived.set(s.remotePort!, s);
      }
    });
  }

  async listen(family: Family): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, hostOf(family), resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** The server side of the connection from local port `port`. */
  connection(port: number): Promise<net.Socket> {
    const s = this.arrived.get(port);
    if (s) {
      this.arrived.delete(port);
      return Promise.resolve(s);
    }
    return new Promise((resolve) => this.waiting.set(port, resolve));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface Relayed {
  client: net.Socket;
  server: net.Socket;
  id: number;
  closed: Promise<SplicePairStats>;
}

let loop: Loop;
let splice: SpliceHandler;
const loopErrors: unknown[] = [];
const listeners: Record<Family, { fd: number; port: number }> = {} as never;
const targets: Record<Family, Target> = {} as never;

beforeAll(async () => {
  loop = new Loop((err) => loopErrors.push(err), 50);
  loop.unref();
  splice = new SpliceHandler({ loop, log: createLogger({ name: 'test', level: 'silent' }) });
  for (const family of [4, 6] as const) {
    listeners[family] = listenNative(family);
    targets[family] = new Target();
    await targets[family].listen(family);
  }
});

afterAll(async () => {
  splice.closeAll();
  for (const family of [4, 6] as const) {
    native.close(listeners[family].fd);
    await targets[family].close();
  }
  loop.close();
  expect(loopErrors).toEqual([]);
});

/**
 * A client connection to the forwarded port, relayed to the target server.
 * With `connecting`, B is handed over while its connect() is in progress.
 */
async function relay(family: Family, connecting = true): Promise<Relayed> {
  const client = net.connect({ host: hostOf(family), port: listeners[family].port, allowHalfOpen: true });
  const a = await acceptAsync(listeners[family].fd);
  expect(a.peerPort).toBeGreaterThan(0);
  const fdB = native.socket(afOf(family), C.SOCK_STREAM | C.SOCK_NONBLOCK, 0);
  expect(fdB).toBeGreaterThanOrEqual(0);
  const rc = native.connect(fdB, addrOf(family), targets[family].port, 0);
  expect([0, -E.EINPROGRESS]).toContain(rc);
  const serverSide = targets[family].connection(localPort(fdB));
  if (!connecting) await serverSide;
  let onClose!: (s: SplicePairStats) => void;
  const closed = new Promise<SplicePairStats>((resolve) => (onClose = resolve));
  const id = splice.add(a.fd, fdB, { bConnecting: connecting, onClose });
  expect(id).toBeGreaterThan(0);
  const server = await serverSide;
  if (client.connecting) await new Promise((resolve) => client.once('connect', resolve));
  return { client, server, id, closed };
}

/** Everything a socket receives until EOF: sha256, length, and whether 'end' came. */
function drain(sock: net.Socket): Promise<{ sha: string; bytes: number }> {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  return new Promise((resolve, reject) => {
    sock.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    sock.once('end', () => resolve({ sha: hash.digest('hex'), bytes }));
    sock.once('error', reject);
  });
}

const sha = (buf: Buffer) => crypto.createHash('sha256').update(buf).digest('hex');

/** The error a socket reports (or null if it closes without one). */
function errorOf(sock: net.Socket): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    sock.once('error', (err) => resolve(err as NodeJS.ErrnoException));
    sock.once('close', (hadError) => {
      if (!hadError) resolve(null);
    });
    sock.resume();
  });
}

function closeOf(sock: net.Socket): Promise<void> {
  if (sock.destroyed && sock.closed) return Promise.resolve();
  return new Promise((resolve) => sock.once('close', () => resolve()));
}

/** Open fds of this process, by what they are: "socket", "pipe", "anon_inode:[eventpoll]", ... */
function fdKinds(): Map<string, number> {
  const kinds = new Map<string, number>();
  for (const name of fs.readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // the directory's own fd, gone by now
    }
    const kind = target.replace(/:\[\d+\]$/, '');
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return kinds;
}

describe('native pipe and spliceBatch', () => {
  it('pipe() makes a nonblocking pipe of the size asked for, and reports the size', () => {
    const out = new Int32Array(3);
    expect(native.pipe(out, MiB)).toBe(0);
    expect(out[0]).toBeGreaterThanOrEqual(0);
    expect(out[1]).toBeGreaterThanOrEqual(0);
    expect(out[2]).toBe(MiB);
    // Nonblocking: reading the empty pipe says EAGAIN instead of waiting.
    expect(native.read(out[0], Buffer.alloc(16), 0, 16)).toBe(-E.EAGAIN);
    expect(native.write(out[1], Buffer.from('abc'), 0, 3)).toBe(3);
    const back = Buffer.alloc(16);
    expect(native.read(out[0], back, 0, 16)).toBe(3);
    expect(back.subarray(0, 3).toString()).toBe('abc');
    native.close(out[0]);
    native.close(out[1]);

    // Without a size: the default (16 pages).
    expect(native.pipe(out)).toBe(0);
    expect(out[2]).toBe(65536);
    native.close(out[0]);
    native.close(out[1]);
  });

  it('rejects bad arguments with errors naming the function', () => {
    expect(() => native.pipe(new Int32Array(2))).toThrow(/^pipe: out holds 2 elements, 3 needed/);
    expect(() => native.pipe(new Uint32Array(3) as unknown as Int32Array)).toThrow(TypeError);
    expect(() => native.pipe(new Int32Array(3), -1)).toThrow(RangeError);
    expect(() => native.spliceBatch(new Int32Array(5), 1, new Int32Array(4))).toThrow(/^spliceBatch: ops holds 5 elements, 6 needed/);
    expect(() => native.spliceBatch(new Int32Array(6), 1, new Int32Array(3))).toThrow(RangeError);
    expect(() => native.spliceBatch(new Int32Array(6), -1, new Int32Array(4))).toThrow(/spliceBatch: count must not be negative/);
    expect(() => native.spliceBatch(new Int32Array([0, 0, 0, 0, 0, 0]), 1, new Int32Array(4))).toThrow(/maxBytes must be positive/);
    expect(() => native.spliceBatch(new Int32Array([0, 0, 0, 0, -1, 1]), 1, new Int32Array(4))).toThrow(/inPipe must not be negative/);
    expect(() => native.spliceBatch([] as unknown as Int32Array, 0, new Int32Array(0))).toThrow(/^spliceBatch: argument 1 must be an Int32Array/);
    expect(() => (native.spliceBatch as unknown as (...a: unknown[]) => number)(new Int32Array(6), 1)).toThrow(/spliceBatch: expected 3 arguments, got 2/);
    expect(native.spliceBatch(new Int32Array(0), 0, new Int32Array(0))).toBe(0);
  });

  it('moves data, reports would-block on either side, EOF, and errors per op, in one call', async () => {
    // Two TCP connections on 127.0.0.1: x1 <-> x2 and y1 <-> y2. Direction: x2 -> pipe -> y1.
    const l = listenNative(4);
    const connectPair = async () => {
      const c = native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_NONBLOCK, 0);
      expect([0, -E.EINPROGRESS]).toContain(native.connect(c, LO4, l.port, 0));
      const s = (await acceptAsync(l.fd)).fd;
      expect(native.pollFd(c, 4, 1000)).toBe(4);
      return [c, s];
    };
    const [x1, x2] = await connectPair();
    const [y1, y2] = await connectPair();
    const p = new Int32Array(3);
    expect(native.pipe(p, MiB)).toBe(0);
    const ops = new Int32Array(SPLICE_OP_INTS * 2);
    const results = new Int32Array(SPLICE_RESULT_INTS * 2);
    const setOp = (k: number, from: number, to: number, inPipe: number, max: number) =>
      ops.set([from, to, p[0], p[1], inPipe, max], SPLICE_OP_INTS * k);

    // Nothing queued: the source would block, nothing moves.
    setOp(0, x2, y1, 0, MiB);
    expect(native.spliceBatch(ops, 1, results)).toBe(1);
    expect(Array.from(results.subarray(0, 4))).toEqual([0, 0, SpliceFlag.SourceAgain, 0]);

    // 100 kB queued: all of it reaches y2.
    const data = crypto.randomBytes(100_000);
    expect(native.send(x1, data, 0, data.length, 0)).toBe(data.length);
    await until(() => inQueue(x2) === data.length, 'the data to arrive at x2');
    expect(native.spliceBatch(ops, 1, results)).toBe(1);
    expect(Array.from(results.subarray(0, 4))).toEqual([100_000, 0, SpliceFlag.SourceAgain, 0]);
    const got = Buffer.alloc(200_000);
    let n = 0;
    while (n < 100_000) {
      const r = native.recv(y2, got, n, got.length - n, 0, 1000);
      expect(r).toBeGreaterThan(0);
      n += r;
    }
    expect(got.subarray(0, n).equals(data)).toBe(true);

    // maxBytes: at most that much is written; the rest stays in the socket or the pipe.
    expect(native.send(x1, data, 0, data.length, 0)).toBe(data.length);
    await until(() => inQueue(x2) === data.length, 'the data to arrive at x2');
    setOp(0, x2, y1, 0, 1000);
    native.spliceBatch(ops, 1, results);
    expect(results[0]).toBe(1000);
    let inPipe = results[1];
    // Then the rest, in a second op of the same call that drains nothing: two ops at once.
    setOp(0, x2, y1, inPipe, MiB);
    setOp(1, -1, y1, 0, MiB);
    native.spliceBatch(ops, 2, results);
    expect(results[0] + 1000).toBe(100_000);
    expect(results[1]).toBe(0);
    expect(Array.from(results.subarray(4, 8))).toEqual([0, 0, 0, 0]); // fromFd -1, empty pipe: nothing to do
    n = 0;
    while (n < 100_000) n += native.recv(y2, got, n, got.length - n, 0, 1000);
    expect(got.subarray(0, n).equals(data)).toBe(true);

    // The destination would block: y2 does not read, so y1's buffers and then the pipe fill up.
    const big = crypto.randomBytes(8 * MiB);
    let sent = 0;
    let flags = 0;
    inPipe = 0;
    for (let i = 0; i < 200 && !(flags & SpliceFlag.DestinationAgain); i++) {
      const w = native.send(x1, big, sent % big.length, Math.min(MiB, big.length - (sent % big.length)), 0);
      if (w > 0) sent += w;
      await pause();
      setOp(0, x2, y1, inPipe, 64 * MiB);
      native.spliceBatch(ops, 1, results);
      inPipe = results[1];
      flags = results[2];
    }
    expect(flags & SpliceFlag.DestinationAgain).toBeTruthy();
    expect(inPipe).toBeGreaterThan(0);

    // EOF: x1 shuts down writing; once y2 reads everything, the rest arrives and EOF is reported.
    expect(native.shutdown(x1, 1)).toBe(0);
    let total = 0;
    let eof = false;
    for (;;) {
      // What went through before the pipe filled up.
      const r = native.recv(y2, got, 0, got.length, C.MSG_DONTWAIT, -1);
      if (r <= 0) break;
      total += r;
    }
    for (let i = 0; i < 10000 && !eof; i++) {
      const r = native.recv(y2, got, 0, got.length, C.MSG_DONTWAIT, -1);
      if (r > 0) total += r;
      setOp(0, x2, y1, inPipe, 64 * MiB);
      native.spliceBatch(ops, 1, results);
      inPipe = results[1];
      if (results[2] & SpliceFlag.SourceEof) eof = true;
      if (r <= 0) await pause();
    }
    expect(eof).toBe(true);

    // The EOF is final: the source is not read again (fromFd -1), the pipe drains to y2.
    while (inPipe > 0) {
      const r = native.recv(y2, got, 0, got.length, C.MSG_DONTWAIT, -1);
      if (r > 0) total += r;
      setOp(0, -1, y1, inPipe, 64 * MiB);
      native.spliceBatch(ops, 1, results);
      expect(results[2] & (SpliceFlag.SourceEof | SpliceFlag.SourceAgain | SpliceFlag.SourceError)).toBe(0);
      inPipe = results[1];
      if (r <= 0) await pause();
    }
    for (;;) {
      const r = native.recv(y2, got, 0, got.length, 0, 200);
      if (r <= 0) break;
      total += r;
    }
    expect(total).toBe(sent);

    // Errors, with their errno: on the destination (a pipe holding 3 bytes, an fd that
    // is not open) and on the source.
    const q = new Int32Array(3);
    expect(native.pipe(q)).toBe(0);
    expect(native.write(q[1], Buffer.from('abc'), 0, 3)).toBe(3);
    ops.set([-1, 1_000_000, q[0], q[1], 3, MiB], 0);
    ops.set([1_000_000, y1, q[0], q[1], 0, MiB], SPLICE_OP_INTS);
    expect(native.spliceBatch(ops, 2, results)).toBe(2);
    expect(Array.from(results.subarray(0, 4))).toEqual([0, 3, SpliceFlag.DestinationError, E.EBADF]);
    expect(Array.from(results.subarray(4, 8))).toEqual([0, 0, SpliceFlag.SourceError, E.EBADF]);
    native.close(q[0]);
    native.close(q[1]);

    for (const fd of [x1, x2, y1, y2, p[0], p[1], l.fd]) native.close(fd);
  });
});

describe('SpliceHandler', () => {
  for (const family of [4, 6] as const) {
    it(`relays 32 MiB each way at once over ${hostOf(family)}, byte for byte`, async () => {
      const before = splice.stats();
      const r = await relay(family);
      const up = crypto.randomBytes(32 * MiB);
      const down = crypto.randomBytes(32 * MiB);
      const atServer = drain(r.server);
      const atClient = drain(r.client);
      r.client.write(up);
      r.server.write(down);
      // Halfway (or so), both directions are moving through a live relay.
      for (let i = 0; i < 2000; i++) {
        const s = splice.stats();
        if (s.bytesAtoB - before.bytesAtoB > 4 * MiB && s.bytesBtoA - before.bytesBtoA > 4 * MiB) break;
        await pause();
      }
      const mid = splice.stats();
      expect(mid.active).toBe(before.active + 1);
      expect(mid.bytesAtoB - before.bytesAtoB).toBeGreaterThan(0);
      expect(mid.bytesBtoA - before.bytesBtoA).toBeGreaterThan(0);
      r.client.end();
      r.server.end();
      const [s, c] = await Promise.all([atServer, atClient]);
      expect(s).toEqual({ sha: sha(up), bytes: up.length });
      expect(c).toEqual({ sha: sha(down), bytes: down.length });
      const closed = await r.closed;
      expect(closed).toEqual({ id: r.id, bytesAtoB: up.length, bytesBtoA: down.length, reason: 'done', errno: 0 });
      const after = splice.stats();
      expect(after.active).toBe(before.active);
      expect(after.closed).toBe(before.closed + 1);
      expect(after.bytesAtoB - before.bytesAtoB).toBe(up.length);
      expect(after.bytesBtoA - before.bytesBtoA).toBe(down.length);
      await Promise.all([closeOf(r.client), closeOf(r.server)]);
    });
  }

  it('passes a half-close on: one side stops writing, the other keeps sending, EOF in order at both ends', async () => {
    for (const family of [4, 6] as const) {
      for (const first of ['client', 'server'] as const) {
        const r = await relay(family, first === 'client');
        const early = first === 'client' ? r.client : r.server;
        const late = first === 'client' ? r.server : r.client;
        const log: string[] = [];
        const request = crypto.randomBytes(300_000);
        const response = crypto.randomBytes(3 * MiB);
        const atLate = drain(late).then((x) => (log.push('late saw EOF'), x));
        const atEarly = drain(early).then((x) => (log.push('early saw EOF'), x));

        early.end(request);
        const gotRequest = await atLate;
        expect(gotRequest).toEqual({ sha: sha(request), bytes: request.length });
        // The relay is still up and the other direction still open.
        expect(splice.stats().active).toBeGreaterThanOrEqual(1);
        expect(late.writable).toBe(true);
        for (let off = 0; off < response.length; off += 256 * 1024) {
          // Each chunk once the socket has taken the one before: the relay moves it meanwhile.
          await new Promise<void>((resolve, reject) => late.write(response.subarray(off, off + 256 * 1024), (err) => (err ? reject(err) : resolve())));
        }
        log.push('late done writing');
        late.end();
        const gotResponse = await atEarly;
        expect(gotResponse).toEqual({ sha: sha(response), bytes: response.length });
        expect(log).toEqual(['late saw EOF', 'late done writing', 'early saw EOF']);
        const closed = await r.closed;
        expect(closed.reason).toBe('done');
        const [ab, ba] = first === 'client' ? [request.length, response.length] : [response.length, request.length];
        expect([closed.bytesAtoB, closed.bytesBtoA]).toEqual([ab, ba]);
        await Promise.all([closeOf(r.client), closeOf(r.server)]);
      }
    }
  });

  it('passes a reset on: the other end sees ECONNRESET', async () => {
    for (const family of [4, 6] as const) {
      for (const resetter of ['client', 'server'] as const) {
        const r = await relay(family);
        const resetting = resetter === 'client' ? r.client : r.server;
        const other = resetter === 'client' ? r.server : r.client;
        // Some traffic first, so the relay is known to work.
        const echoed = new Promise<Buffer>((resolve) => other.once('data', resolve));
        resetting.write('ping');
        expect((await echoed).toString()).toBe('ping');
        const otherError = errorOf(other);
        resetting.resetAndDestroy();
        const err = await otherError;
        expect(err?.code).toBe('ECONNRESET');
        const closed = await r.closed;
        expect(closed.reason).toBe('error');
        expect(closed.errno).toBe(E.ECONNRESET);
        await Promise.all([closeOf(r.client), closeOf(r.server)]);
      }
    }
  });

  it('resets A when B cannot connect (nothing listens on the port)', async () => {
    for (const family of [4, 6] as const) {
      // A port nobody listens on: bound, then released.
      const probe = native.socket(afOf(family), C.SOCK_STREAM, 0);
      expect(native.bind(probe, addrOf(family), 0, 0)).toBe(0);
      const closedPort = localPort(probe);
      native.close(probe);

      const before = splice.stats();
      const client = net.connect({ host: hostOf(family), port: listeners[family].port });
      const clientError = errorOf(client);
      const a = await acceptAsync(listeners[family].fd);
      const fdB = native.socket(afOf(family), C.SOCK_STREAM | C.SOCK_NONBLOCK, 0);
      const rc = native.connect(fdB, addrOf(family), closedPort, 0);
      // A nonblocking connect on loopback reports the refusal later, through epoll.
      expect(rc).toBe(-E.EINPROGRESS);
      let onClose!: (s: SplicePairStats) => void;
      const closed = new Promise<SplicePairStats>((resolve) => (onClose = resolve));
      const id = splice.add(a.fd, fdB, { bConnecting: true, onClose });
      expect(await closed).toEqual({ id, bytesAtoB: 0, bytesBtoA: 0, reason: 'refused', errno: E.ECONNREFUSED });
      expect((await clientError)?.code).toBe('ECONNRESET');
      const after = splice.stats();
      expect(after.refused).toBe(before.refused + 1);
      expect(after.active).toBe(before.active);
      await closeOf(client);
    }
  });

  it('does not spin on a hung-up socket whose data waits for a slow reader', async () => {
    // A handler of its own with tiny pipes, so little data fills everything.
    const errors: unknown[] = [];
    const ownLoop = new Loop((err) => errors.push(err), 50);
    ownLoop.unref();
    const own = new SpliceHandler({ loop: ownLoop, log: createLogger({ name: 'test', level: 'silent' }), pipeSize: 4096 });
    const far = listenNative(4);
    expect(native.setsockoptInt(far.fd, C.SOL_SOCKET, C.SO_RCVBUF, 4096)).toBe(0);
    const client = net.connect({ host: '127.0.0.1', port: listeners[4].port, allowHalfOpen: true });
    const a = await acceptAsync(listeners[4].fd);
    const fdB = native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_NONBLOCK, 0);
    expect(native.setsockoptInt(fdB, C.SOL_SOCKET, C.SO_SNDBUF, 4096)).toBe(0);
    expect(native.connect(fdB, LO4, far.port, 0)).toBe(-E.EINPROGRESS);
    const farFd = (await acceptAsync(far.fd)).fd;
    let onClose!: (s: SplicePairStats) => void;
    const closed = new Promise<SplicePairStats>((resolve) => (onClose = resolve));
    own.add(a.fd, fdB, { bConnecting: true, onClose });

    // B -> A finishes first: the far end shuts down writing, the client sees EOF.
    const atClient = drain(client);
    expect(native.shutdown(farFd, 1)).toBe(0);
    expect(await atClient).toEqual({ sha: sha(Buffer.alloc(0)), bytes: 0 });
    // Then the client sends more than the far end (which reads nothing) can hold, and its FIN:
    // A has data queued, its EOF pending and its write side shut, so it reports EPOLLHUP.
    const request = crypto.randomBytes(48 * 1024);
    client.end(request);
    const POLLHUP = 16;
    await until(() => (native.pollFd(a.fd, 1, 0) & POLLHUP) !== 0, 'EPOLLHUP on A');
    // The relay handles what that brought.
    await settle();

    // While the far end does not read, the relay has nothing to do and must not poll in a loop:
    // a hang-up reported again and again would be dispatched at every turn of the event loop.
    const spliceBatch = native.spliceBatch;
    let calls = 0;
    native.spliceBatch = (ops, count, results) => (calls++, spliceBatch(ops, count, results));
    try {
      await settle(50);
    } finally {
      native.spliceBatch = spliceBatch;
    }
    expect(calls).toBeLessThan(5);

    // The far end reads: everything arrives, then EOF, and the pair closes cleanly.
    const got: Buffer[] = [];
    const sink = Buffer.alloc(65536);
    for (let i = 0; i < 5000; i++) {
      const r = native.recv(farFd, sink, 0, sink.length, C.MSG_DONTWAIT, -1);
      if (r === 0) break;
      if (r > 0) got.push(Buffer.from(sink.subarray(0, r)));
      else await pause();
    }
    expect(sha(Buffer.concat(got))).toBe(sha(request));
    expect(await closed).toEqual({ id: 1, bytesAtoB: request.length, bytesBtoA: 0, reason: 'done', errno: 0 });
    native.close(farFd);
    native.close(far.fd);
    await closeOf(client);
    ownLoop.close();
    expect(errors).toEqual([]);
  });

  it('relays 50 connections at once, each byte for byte', async () => {
    const before = splice.stats();
    const relays: Relayed[] = [];
    for (let i = 0; i < 50; i++) relays.push(await relay(i % 2 ? 6 : 4, i % 3 !== 0));
    expect(splice.stats().active).toBe(before.active + 50);
    const checks = relays.map(async (r, i) => {
      const up = crypto.randomBytes(256 * 1024 + i * 1000);
      const down = crypto.randomBytes(512 * 1024 - i * 1000);
      const atServer = drain(r.server);
      const atClient = drain(r.client);
      r.client.end(up);
      r.server.end(down);
      expect(await atServer).toEqual({ sha: sha(up), bytes: up.length });
      expect(await atClient).toEqual({ sha: sha(down), bytes: down.length });
      const closed = await r.closed;
      expect(closed).toEqual({ id: r.id, bytesAtoB: up.length, bytesBtoA: down.length, reason: 'done', errno: 0 });
      await Promise.all([closeOf(r.client), closeOf(r.server)]);
    });
    await Promise.all(checks);
    const after = splice.stats();
    expect(after.active).toBe(before.active);
    expect(after.opened).toBe(before.opened + 50);
    expect(after.closed).toBe(before.closed + 50);
    expect(after.errors).toBe(before.errors);
  });

  it('closeAll() resets every pair and leaves no fd behind', async () => {
    // Sockets of earlier tests may still be closing: the census after may only have fewer.
    const before = fdKinds();
    const listener = listenNative(4);
    const silent = listenNative(4);
    const target = new Target();
    await target.listen(4);
    const saved = { l: listeners[4], t: targets[4] };
    listeners[4] = listener;
    targets[4] = target;
    try {
      const relays: Relayed[] = [];
      for (let i = 0; i < 10; i++) relays.push(await relay(4, i % 2 === 0));
      for (const r of relays) {
        const arrived = new Promise((resolve) => r.server.once('data', resolve));
        r.client.write('x');
        await arrived;
      }
      // One more pair whose far end is a native socket that reads nothing, so
      // its pipe holds bytes when everything is closed.
      const stuckClient = net.connect({ host: '127.0.0.1', port: listener.port });
      const stuckA = await acceptAsync(listener.fd);
      const stuckB = native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_NONBLOCK, 0);
      expect(native.connect(stuckB, LO4, silent.port, 0)).toBe(-E.EINPROGRESS);
      const stuckFar = (await acceptAsync(silent.fd)).fd;
      const stuckClosed = new Promise<SplicePairStats>((resolve) => splice.add(stuckA.fd, stuckB, { bConnecting: true, onClose: resolve }));
      const stuckError = errorOf(stuckClient);
      const movedBefore = splice.stats().bytesAtoB;
      stuckClient.write(crypto.randomBytes(16 * MiB));
      await until(() => splice.stats().bytesAtoB !== movedBefore, 'the stuck pair to move data');
      // Until it is stuck: the far end's buffers full, the pipe holding what B cannot take, so
      // that nothing moves through turns of the loop while A has data waiting to be read.
      const deadline = performance.now() + 10_000;
      for (;;) {
        expect(performance.now()).toBeLessThan(deadline);
        const moved = splice.stats().bytesAtoB;
        await settle();
        if (splice.stats().bytesAtoB === moved && inQueue(stuckA.fd) > 0) break;
      }

      const during = fdKinds();
      // Per pair: four pipe ends of ours (the rest are sockets).
      expect((during.get('pipe') ?? 0) - (before.get('pipe') ?? 0)).toBe(11 * 4);
      expect(splice.stats().active).toBe(11);

      const errors = relays.map((r) => Promise.all([errorOf(r.client), errorOf(r.server)]));
      splice.closeAll();
      expect(splice.stats().active).toBe(0);
      const reasons = await Promise.all([...relays.map((r) => r.closed), stuckClosed].map((c) => c.then((s) => s.reason)));
      expect(reasons).toEqual(Array(11).fill('closed'));
      // The stuck pair was cut off mid-transfer.
      const stuck = await stuckClosed;
      expect(stuck.bytesAtoB).toBeGreaterThan(0);
      expect(stuck.bytesAtoB).toBeLessThan(16 * MiB);
      // Both ends of every connection were reset.
      for (const [c, s] of await Promise.all(errors)) {
        expect(c?.code).toBe('ECONNRESET');
        expect(s?.code).toBe('ECONNRESET');
      }
      expect((await stuckError)?.code).toBe('ECONNRESET');
      // The far end that read nothing gets what had arrived, then the reset.
      const sink = Buffer.alloc(MiB);
      let rc: number;
      do rc = native.recv(stuckFar, sink, 0, sink.length, C.MSG_DONTWAIT, -1);
      while (rc > 0);
      expect(rc).toBe(-E.ECONNRESET);
      native.close(stuckFar);
      await closeOf(stuckClient);
      await Promise.all(relays.flatMap((r) => [closeOf(r.client), closeOf(r.server)]));
    } finally {
      native.close(listener.fd);
      native.close(silent.fd);
      await target.close();
      listeners[4] = saved.l;
      targets[4] = saved.t;
    }
    // Every fd of the test is closed (those Node closes, once their 'close' came): no kind has more than before.
    const more = () => [...fdKinds()].filter(([kind, n]) => n > (before.get(kind) ?? 0));
    await expect.poll(more).toEqual([]);
  });
});
