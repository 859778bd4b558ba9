/**
 * A test rig for the engine: one Engine per test, with its own clock and no
 * tick timer, whose "tap" is a connected UDP socket on loopback. Every frame
 * the engine sends to the guest arrives as one datagram at the test's socket;
 * frames from the guest are handed to `frameFromTap` in one batch of the
 * loop (Loop.batch), as a read of the tap would. Host peers are real
 * sockets on 127.0.0.1 and ::1.
 *
 * Theory of operation: nothing here waits for time to pass. Timeouts happen
 * when a test moves the clock on and runs the timers (`advance`); frames are
 * awaited as they arrive; host sockets are polled until the condition a test
 * waits for holds (`until`). To show that the engine did NOT send something,
 * `barrier()` lets the loop handle every socket event already pending, then
 * sends a segment of no connection, which the engine must answer with a RST
 * at once: whatever it sent before arrives before that RST. To tell the
 * engine's answer to a segment from what socket events make it send
 * meanwhile, `exchange()` puts such a segment before and after it, in
 * batches that nothing can come between: the answer is what arrives
 * between the two RSTs.
 *
 * Frames from the guest are built from literal templates (Linux's SYN and a
 * plain ACK, over IPv4 and IPv6), with lengths, ports, sequence numbers and
 * checksums patched; checksums of frames both ways are computed and checked
 * with the reference implementation of wire-frames.ts, not with src/.
 */
import { afterEach, expect } from 'vitest';
import dgram from 'node:dgram';
import { native, C, E } from '../../src/native.js';
import { Engine, type EngineOptions } from '../../src/engine.js';
import { buildConfig, type Config, type HostNet } from '../../src/conf.js';
import { parseArgs } from '../../src/options.js';
import { createLogger } from '../../src/log.js';
import { formatIP, parseIP } from '../../src/inet.js';
import { pseudo4, pseudo6, referenceChecksum } from './wire-frames.js';
import { settle, until } from './wait.js';

export { settle, until };

export const GUEST_MAC = '02aabbccddee';
export const OUR_MAC = '9a559a559a55';

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;

/** TCP states of tcp_info (include/net/tcp_states.h). */
export const TCP_ESTABLISHED = 1;
export const TCP_CLOSE = 7;

/**
 * The host the engine's configuration is built from: eth0 with
 * 198.51.100.2/24 and 2001:db8::2/64 (and a link-local address), default
 * gateways 198.51.100.1 and 2001:db8::1. The guest gets the host's
 * addresses; the gateways stand for the host's loopback (127.0.0.1, ::1).
 */
export const HOST: HostNet = {
  links: [{ index: 2, name: 'eth0', flags: 0x1003, mtu: 65520, up: true }],
  addrs4: [{ family: 4, index: 2, prefixLen: 24, addr: Uint8Array.of(198, 51, 100, 2), scope: 0, flags: 0 }],
  addrs6: [
    { family: 6, index: 2, prefixLen: 64, addr: ip('2001:db8::2'), scope: 0, flags: 0 },
    { family: 6, index: 2, prefixLen: 64, addr: ip('fe80::2'), scope: 253, flags: 0 },
  ],
  routes4: [{ family: 4, table: 254, dst: null, dstLen: 0, gateway: Uint8Array.of(198, 51, 100, 1), oif: 2, protocol: 4, scope: 0, type: 1 }],
  routes6: [{ family: 6, table: 254, dst: null, dstLen: 0, gateway: ip('2001:db8::1'), oif: 2, protocol: 4, scope: 0, type: 1 }],
};

export const GUEST4 = '198.51.100.2';
export const GATEWAY4 = '198.51.100.1';
export const GUEST6 = '2001:db8::2';
export const GATEWAY6 = '2001:db8::1';

/** An address as bytes. */
export function ip(text: string): Uint8Array {
  const a = parseIP(text);
  if (!a) throw new Error(`not an address: ${text}`);
  return a.addr;
}

/** pasta --config-net with `args`, on HOST. */
export function config(args: string[] = [], host: HostNet = HOST): Config {
  return buildConfig(parseArgs(['--config-net', ...args], 'pasta'), host);
}

// ---------------------------------------------------------------------------
// Frames from the guest

/**
 * A TCP SYN from 198.51.100.2:40000 to 198.51.100.1 (the gateway) as Linux
 * sends it: MSS 1460, SACK permitted, timestamps, window scale 7.
 */
export const SYN4_HEX =
  OUR_MAC + GUEST_MAC + '0800' +
  '4500003c1c4640004006' + '0000' + 'c6336402' + 'c6336401' +
  '9c40' + '0000' + '00000064' + '00000000' + 'a002' + 'faf0' + '0000' + '0000' +
  '020405b40402080a000000010000000001030307';

/** A plain ACK (data offset 5, no options, window 512) with the SYN's Ethernet and IP headers. */
export const ACK4_HEX = SYN4_HEX.slice(0, 2 * (14 + 20)) + '9c40' + '0000' + '00000000' + '00000000' + '5010' + '0200' + '0000' + '0000';

/**
 * The same SYN over IPv6, [2001:db8::2]:40000 to [2001:db8::1] (the
 * gateway), flow label 0x5a3b1, hop limit 64: MSS 1440, SACK permitted,
 * timestamps, window scale 7.
 */
export const SYN6_HEX =
  OUR_MAC + GUEST_MAC + '86dd' +
  '6005a3b1' + '0028' + '06' + '40' +
  '20010db8000000000000000000000002' + '20010db8000000000000000000000001' +
  '9c40' + '0000' + '00000064' + '00000000' + 'a002' + 'fd20' + '0000' + '0000' +
  '020405a00402080a0badf00d0000000001030307';

/** A plain ACK over IPv6 (window 512). */
export const ACK6_HEX = SYN6_HEX.slice(0, 2 * (14 + 40)) + '9c40' + '0000' + '00000000' + '00000000' + '5010' + '0200' + '0000' + '0000';

export interface SegmentFields {
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  payload?: Buffer;
  /** Default: the template's (40000). */
  sport?: number;
  /** Default: the template's (512 in an ACK, unscaled; the guest's scale is 7). */
  window?: number;
}

/** A frame from the template `hex` with the fields patched, every length and checksum recomputed. */
export function segment(hex: string, s: SegmentFields): Buffer {
  const f = Buffer.concat([Buffer.from(hex, 'hex'), s.payload ?? Buffer.alloc(0)]);
  const v4 = f.readUInt16BE(12) === 0x0800;
  const ip = 14;
  const l4 = ip + (v4 ? 20 : 40);
  if (v4) f.writeUInt16BE(f.length - ip, ip + 2);
  else f.writeUInt16BE(f.length - l4, ip + 4);
  if (s.sport !== undefined) f.writeUInt16BE(s.sport, l4);
  f.writeUInt16BE(s.dport, l4 + 2);
  f.writeUInt32BE(s.seq >>> 0, l4 + 4);
  f.writeUInt32BE(s.ack >>> 0, l4 + 8);
  f[l4 + 13] = s.flags;
  if (s.window !== undefined) f.writeUInt16BE(s.window, l4 + 14);
  if (v4) {
    f.writeUInt16BE(0, ip + 10);
    f.writeUInt16BE(referenceChecksum(f.subarray(ip, l4)), ip + 10);
  }
  f.writeUInt16BE(0, l4 + 16);
  const len = f.length - l4;
  const pseudo = v4 ? pseudo4(f.subarray(ip + 12, ip + 16), f.subarray(ip + 16, ip + 20), 6, len) : pseudo6(f.subarray(ip + 8, ip + 24), f.subarray(ip + 24, ip + 40), 6, len);
  f.writeUInt16BE(referenceChecksum(pseudo, f.subarray(l4)), l4 + 16);
  return f;
}

/** Segments of one family: `syn` and `ack` build from that family's templates. */
export interface Templates {
  family: 4 | 6;
  syn: (s: SegmentFields) => Buffer;
  ack: (s: SegmentFields) => Buffer;
  /** The guest's address and the gateway's (which stands for the host's loopback). */
  guest: string;
  gateway: string;
  /** The host's loopback address of the family. */
  loopback: string;
}

function templates(family: 4 | 6, synHex: string, ackHex: string, guest: string, gateway: string, loopback: string): Templates {
  return { family, syn: (s) => segment(synHex, s), ack: (s) => segment(ackHex, s), guest, gateway, loopback };
}

export const V4 = templates(4, SYN4_HEX, ACK4_HEX, GUEST4, GATEWAY4, '127.0.0.1');
export const V6 = templates(6, SYN6_HEX, ACK6_HEX, GUEST6, GATEWAY6, '::1');

// ---------------------------------------------------------------------------
// Frames to the guest

export interface Seg {
  family: 4 | 6;
  srcIp: string;
  dstIp: string;
  dstMac: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  options: Buffer;
  payload: Buffer;
  /** IPv4 header and TCP checksums are right. */
  checksumsOk: boolean;
  /** The frame. */
  raw: Buffer;
}

export function parse(f: Buffer): Seg {
  const ip = 14;
  const v4 = f.readUInt16BE(12) === 0x0800;
  const l4 = ip + (v4 ? (f[ip] & 15) * 4 : 40);
  const end = v4 ? ip + f.readUInt16BE(ip + 2) : l4 + f.readUInt16BE(ip + 4);
  const doff = (f[l4 + 12] >> 4) * 4;
  const src = v4 ? f.subarray(ip + 12, ip + 16) : f.subarray(ip + 8, ip + 24);
  const dst = v4 ? f.subarray(ip + 16, ip + 20) : f.subarray(ip + 24, ip + 40);
  const pseudo = v4 ? pseudo4(src, dst, 6, end - l4) : pseudo6(src, dst, 6, end - l4);
  return {
    family: v4 ? 4 : 6,
    srcIp: formatIP(src),
    dstIp: formatIP(dst),
    dstMac: f.subarray(0, 6).toString('hex'),
    sport: f.readUInt16BE(l4),
    dport: f.readUInt16BE(l4 + 2),
    seq: f.readUInt32BE(l4 + 4),
    ack: f.readUInt32BE(l4 + 8),
    flags: f[l4 + 13],
    window: f.readUInt16BE(l4 + 14),
    options: f.subarray(l4 + 20, l4 + doff),
    payload: f.subarray(l4 + doff, end),
    checksumsOk: (!v4 || referenceChecksum(f.subarray(ip, l4)) === 0) && referenceChecksum(pseudo, f.subarray(l4, end)) === 0,
    raw: f,
  };
}

export const hasFlags = (flags: number) => (s: Seg) => (s.flags & flags) === flags;
export const isRst = hasFlags(RST);
export const hasData = (s: Seg) => s.payload.length > 0;

/** a + n modulo 2^32. */
export const add32 = (a: number, n: number) => (a + n) >>> 0;

// ---------------------------------------------------------------------------
// The rig

export interface Rig {
  engine: Engine;
  /** The engine's clock. */
  now(): number;
  /** Move the clock on by `ms` and run the timers, as the loop's tick would. */
  advance(ms: number): void;
  /** Frames from the guest, as one batch. */
  send(...frames: Buffer[]): void;
  /** The first frame (received or still to come) matching `pred`, taken out of the queue. */
  next(pred?: (s: Seg) => boolean, timeoutMs?: number): Promise<Seg>;
  /** Every frame received and not taken yet, taken out of the queue. */
  take(): Seg[];
  /**
   * Every frame the engine sent before now, including what socket events
   * already pending make it send: see the file comment.
   */
  barrier(): Promise<Seg[]>;
  /**
   * Frames from the guest as one batch, and exactly what the engine sent in
   * answer to that batch, in order: nothing of what socket events make it
   * send before or after (those stay in the queue).
   */
  exchange(...frames: Buffer[]): Promise<Seg[]>;
  close(): void;
}

export interface RigOptions {
  /** Options after --config-net. */
  args?: string[];
  host?: HostNet;
  /** More engine options (the forwarders' namespace sockets, say). */
  engine?: Partial<EngineOptions>;
}

/**
 * Where barrier() and exchange() send their segments of no connection: ports
 * nobody uses, ACKs no one sent; the engine answers each at once with a RST
 * whose sequence number is that ACK.
 */
const MARKER_PORT = 1;
const BARRIER_ACK = 0xb0b0b0b0;
const marker = (ack: number) => V4.ack({ sport: MARKER_PORT, dport: MARKER_PORT, seq: 0, ack, flags: ACK });
const isMarker = (ack: number) => (s: Seg) => s.sport === MARKER_PORT && s.dport === MARKER_PORT && s.seq === ack && isRst(s);

export async function makeRig(opts: RigOptions = {}): Promise<Rig> {
  const guest = dgram.createSocket('udp4');
  await new Promise<void>((r) => guest.bind(0, '127.0.0.1', r));
  const received: Buffer[] = [];
  let waiters: Array<() => void> = [];
  guest.on('message', (m) => {
    received.push(m);
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  });
  const tapFd = native.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
  expect(native.connect(tapFd, Uint8Array.of(127, 0, 0, 1), guest.address().port, 0)).toBe(0);
  // Far from 0: the coarse sweeps of the timers compare with a last run at 0.
  let clock = 1_000_000;
  let engine: Engine;
  // The loop reports a handler's exception as an internal error and goes on: here it fails the test.
  const log = createLogger({ name: 'test', level: 'silent' });
  const internal: string[] = [];
  log.error = ((msg: unknown) => void internal.push(String(msg))) as typeof log.error;
  try {
    engine = new Engine({
      config: config(opts.args ?? [], opts.host ?? HOST),
      tapFd,
      log,
      clock: () => clock,
      manualTicks: true,
      ...opts.engine,
    });
  } catch (err) {
    native.close(tapFd);
    guest.close();
    throw err;
  }
  engine.loop.unref();

  let markers = 0;
  // One batch of the loop, as when the frames come in one read of the tap: the engine's and the
  // TCP handler's batch-end work (frames out, epoll changes) runs after the last.
  const send = (...frames: Buffer[]) => {
    engine.loop.batch(() => {
      for (const f of frames) engine.frameFromTap(f, 0, f.length, clock);
      engine.flushTapBatch();
    });
    if (internal.length) throw new Error(internal.splice(0).join('\n'));
  };
  const next = (pred: (s: Seg) => boolean = () => true, timeoutMs = 3000): Promise<Seg> =>
    new Promise((resolve, reject) => {
      // Made here, so that its stack names the test's line.
      const timedOut = new Error('no matching frame from the engine');
      const deadline = setTimeout(() => reject(timedOut), timeoutMs);
      const check = () => {
        const i = received.findIndex((f) => pred(parse(f)));
        if (i < 0) {
          waiters.push(check);
          return;
        }
        clearTimeout(deadline);
        const [f] = received.splice(i, 1);
        const s = parse(f);
        expect(s.checksumsOk).toBe(true);
        resolve(s);
      };
      check();
    });
  const rig: Rig = {
    engine,
    now: () => clock,
    advance(ms) {
      clock += ms;
      engine.loop.tick();
    },
    send,
    next,
    take: () => received.splice(0).map(parse),
    async barrier() {
      await settle();
      send(marker(BARRIER_ACK));
      await next(isMarker(BARRIER_ACK));
      // Datagrams arrive in order, and each is handled before the next is read: what was
      // received before the RST (taken out) is everything the engine sent before it.
      return rig.take();
    },
    async exchange(...frames) {
      // Nothing runs between the three batches: the answer is what comes between the two RSTs.
      const first = ++markers;
      const last = ++markers;
      send(marker(first));
      send(...frames);
      send(marker(last));
      await next(isMarker(last));
      const all = received.splice(0).map(parse);
      const start = all.findIndex(isMarker(first));
      expect(start).toBeGreaterThanOrEqual(0);
      received.unshift(...all.slice(0, start).map((s) => s.raw));
      return all.slice(start + 1);
    },
    close() {
      engine.close();
      native.close(tapFd);
      guest.close();
    },
  };
  return rig;
}

/** A `makeRig` whose rigs are closed after each test. Call at the top of a test file. */
export function useRigs(): (opts?: RigOptions) => Promise<Rig> {
  const open: Rig[] = [];
  afterEach(() => {
    for (const r of open.splice(0)) r.close();
  });
  return async (opts) => {
    const r = await makeRig(opts);
    open.push(r);
    return r;
  };
}

// ---------------------------------------------------------------------------
// Host peers: native sockets on loopback

const afOf = (family: 4 | 6) => (family === 4 ? C.AF_INET : C.AF_INET6);
const IPPROTO_MPTCP = 262;

/** The local port of a socket. */
export function localPort(fd: number): number {
  const addr = new Uint8Array(16);
  const info = new Int32Array(3);
  expect(native.getsockname(fd, addr, info)).toBe(0);
  return info[1];
}

/** A port of `family`'s loopback that nothing is bound to now (TCP). */
export function freePort(family: 4 | 6 = 4, type: number = C.SOCK_STREAM): number {
  const fd = native.socket(afOf(family), type, 0);
  expect(native.bind(fd, ip(family === 4 ? '127.0.0.1' : '::1'), 0, 0)).toBe(0);
  const port = localPort(fd);
  native.close(fd);
  return port;
}

/** One end of a TCP connection on the host: a nonblocking native socket. */
export class Peer {
  private readonly info = new Uint32Array(18);
  private readonly scratch = Buffer.alloc(1 << 20);
  /** Everything read so far. */
  readonly got: Buffer[] = [];
  /** An error read, or 0; whether EOF was read. */
  error = 0;
  eof = false;

  constructor(readonly fd: number) {}

  write(data: string | Buffer): number {
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    return native.send(this.fd, b, 0, b.length, 0);
  }

  /** Read whatever is there now (into `got`); false once EOF or an error was read. */
  read(): boolean {
    for (;;) {
      const n = native.recv(this.fd, this.scratch, 0, this.scratch.length, C.MSG_DONTWAIT, -1);
      if (n > 0) {
        this.got.push(Buffer.from(this.scratch.subarray(0, n)));
        continue;
      }
      if (n === 0) this.eof = true;
      else if (n !== -E.EAGAIN) this.error = -n;
      return n === -E.EAGAIN;
    }
  }

  get text(): string {
    return Buffer.concat(this.got).toString();
  }

  get bytes(): number {
    let n = 0;
    for (const b of this.got) n += b.length;
    return n;
  }

  /** Read until `cond` holds. */
  async readUntil(cond: (p: Peer) => boolean, what: string): Promise<void> {
    await until(() => {
      this.read();
      return cond(this);
    }, what);
  }

  /** Read until an error comes (a reset: ECONNRESET); the errno. */
  async errorSeen(): Promise<number> {
    await this.readUntil((p) => p.error !== 0, 'an error on the socket');
    return this.error;
  }

  /** tcp_info and queues (see native.tcpInfo). */
  tcpInfo(): Uint32Array {
    expect(native.tcpInfo(this.fd, this.info)).toBe(0);
    return this.info;
  }

  get state(): number {
    return this.tcpInfo()[0];
  }

  /** Until everything written has been taken by the other end's kernel (nothing unsent or unacknowledged). */
  async flushed(): Promise<void> {
    await until(() => {
      const i = this.tcpInfo();
      return i[10] === 0 && i[9] === 0;
    }, 'the peer to deliver what it wrote');
  }

  shutdownWrite(): void {
    expect(native.shutdown(this.fd, 1)).toBe(0);
  }

  private closed = false;

  /** Close with SO_LINGER 0: the other end gets a RST. */
  reset(): void {
    if (this.closed) return;
    this.closed = true;
    native.closeReset(this.fd);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    native.close(this.fd);
  }
}

/** A listening socket on loopback, native, nonblocking. */
export class Listener {
  readonly fd: number;
  readonly port: number;
  private readonly addr = new Uint8Array(16);
  private readonly info = new Int32Array(3);

  /**
   * `rcvbuf`: the receive buffer accepted connections inherit. `mptcp`: an
   * MPTCP socket (SO_PEEK_OFF does not work on those).
   */
  constructor(readonly family: 4 | 6 = 4, opts: { rcvbuf?: number; mptcp?: boolean } = {}) {
    this.fd = native.socket(afOf(family), C.SOCK_STREAM | C.SOCK_NONBLOCK, opts.mptcp ? IPPROTO_MPTCP : 0);
    expect(this.fd).toBeGreaterThanOrEqual(0);
    if (opts.rcvbuf) expect(native.setsockoptInt(this.fd, C.SOL_SOCKET, C.SO_RCVBUF, opts.rcvbuf)).toBe(0);
    expect(native.bind(this.fd, ip(family === 4 ? '127.0.0.1' : '::1'), 0, 0)).toBe(0);
    expect(native.listen(this.fd, 16)).toBe(0);
    this.port = localPort(this.fd);
  }

  /** The next connection, without blocking the event loop; its peer's port in `peerPort`. */
  async accept(): Promise<Peer & { peerPort: number }> {
    let fd = -1;
    await until(() => {
      fd = native.accept(this.fd, this.addr, this.info);
      if (fd < 0) expect(fd).toBe(-E.EAGAIN);
      return fd >= 0;
    }, `a connection on port ${this.port}`);
    return Object.assign(new Peer(fd), { peerPort: this.info[1] });
  }

  /** A connection accepted now, or null. */
  acceptNow(): Peer | null {
    const fd = native.accept(this.fd, this.addr, this.info);
    return fd >= 0 ? new Peer(fd) : null;
  }

  close(): void {
    native.close(this.fd);
  }
}

/**
 * A client socket connecting to `port` on `family`'s loopback (connect in
 * progress or done), from `bindAddr` (another loopback address) and
 * `bindPort` if given.
 */
export function connectTo(family: 4 | 6, port: number, opts: { mptcp?: boolean; bindPort?: number; bindAddr?: string } = {}): Peer {
  const fd = native.socket(afOf(family), C.SOCK_STREAM | C.SOCK_NONBLOCK, opts.mptcp ? IPPROTO_MPTCP : 0);
  expect(fd).toBeGreaterThanOrEqual(0);
  const lo = ip(family === 4 ? '127.0.0.1' : '::1');
  if (opts.bindPort || opts.bindAddr) {
    expect(native.setsockoptInt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, 1)).toBe(0);
    expect(native.bind(fd, opts.bindAddr ? ip(opts.bindAddr) : lo, opts.bindPort ?? 0, 0)).toBe(0);
  }
  expect([0, -E.EINPROGRESS]).toContain(native.connect(fd, lo, port, 0));
  return new Peer(fd);
}

/** Until a connecting socket is connected (writable); its local port. */
export async function connected(p: Peer): Promise<number> {
  await until(() => native.pollFd(p.fd, 4, 0) === 4, 'the connection to be established');
  return localPort(p.fd);
}

/** Sockets and listeners of one test, closed after it. */
export function useHostSockets(): <T extends { close(): void }>(s: T) => T {
  const open: Array<{ close(): void }> = [];
  afterEach(() => {
    for (const s of open.splice(0).reverse()) s.close();
  });
  return (s) => {
    open.push(s);
    return s;
  };
}
