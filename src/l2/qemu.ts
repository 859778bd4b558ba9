/**
 * QEMU's stream netdev: frames to and from a virtual machine over one UNIX
 * domain stream socket — passt's side of `-netdev stream` (QEMU 7.2 and
 * later) and of the older `-net socket` framing.
 *
 * Theory of operation: on the socket, each frame is a 4-byte big-endian
 * length followed by that many bytes of Ethernet frame, with no virtio-net
 * header; so frames to the guest carry complete checksums (`StreamOut`
 * reports no checksum offload, and the protocol code computes them).
 *
 * - `StreamIn` (frames from the guest) reads once into a large buffer and
 *   splits what arrived into frames, an offsets table as a tap read gives
 *   (`FrameSource`); the frames are valid until the next read. The bytes of
 *   an incomplete frame (or length) at the end are moved to the start of the
 *   buffer before the next read, so a frame may arrive split anywhere. A
 *   length below 14 (no Ethernet header) or above 65535 means the stream is
 *   out of step: nothing after it can be trusted, so the connection is
 *   reset, with a logged error — and only that connection.
 * - `StreamOut` (frames to the guest) is the tap's bump allocator (TapOut)
 *   with 4 bytes of headroom before each frame for its length; a flush sends
 *   every committed frame with its length in one sendmsg(2). A stream cannot
 *   lose part of a frame: when the socket takes only part of a batch, the
 *   unsent tail is copied aside and finished on EPOLLOUT before anything
 *   else is sent; frames committed meanwhile are dropped whole (TCP sends
 *   them again), never cut.
 * - `QemuTransport` holds one guest connection at a time, the engine's
 *   `FrameTransport`: a connection accepted from a listening socket (a
 *   second guest trying to connect meanwhile is turned away), or a socket
 *   inherited with `--fd`. End of file, an error or bad framing closes it
 *   and tells the owner, which then tidies the guest's flows up and waits
 *   for the next guest (or quits).
 *
 * The listening socket belongs to node:net (the addon creates only IP
 * sockets): `openListener` probes and binds the path as passt(1) does, and
 * accepted connections arrive paused, so Node never reads them; their fds go
 * to the engine's epoll and are read and written with the addon's calls.
 */
import fs from 'node:fs';
import net from 'node:net';
import { native, C, E, errnoName } from '../native.js';
import { FdKind, type Loop } from '../loop.js';
import { TapOut, type FrameCapture, type FrameSource, type FrameTransport } from './tapio.js';
import type { Logger } from '../log.js';
import { M } from '../messages.js';

/** Bytes of the length before each frame on the stream. */
export const STREAM_HDR_LEN = 4;
/** Shortest frame accepted from the guest: an Ethernet header. */
export const MIN_STREAM_FRAME = 14;
/** Longest frame accepted from the guest (QEMU's own limit, and passt's). */
export const MAX_STREAM_FRAME = 65535;

const SO_PEERCRED = 17;
/** As large a socket buffer as the kernel allows (it caps this at wmem_max/rmem_max). */
const SOCKET_BUFFER = 0x3fffffff;

/** The syscalls the stream halves make; tests drive the halves with their own. */
export interface StreamIo {
  /** read(2): bytes, 0 at end of file, or -errno. */
  read(fd: number, buf: Buffer, off: number, len: number): number;
  /** One sendmsg(2) of `count` slices buf[offsets[i], +lens[i]): bytes taken, or -errno. */
  sendv(fd: number, buf: Buffer, offsets: Int32Array, lens: Int32Array, count: number): number;
  /** send(2) of buf[off, off+len): bytes taken, or -errno. */
  send(fd: number, buf: Buffer, off: number, len: number): number;
}

/** The addon's nonblocking calls. */
export const nativeStreamIo: StreamIo = {
  read: (fd, buf, off, len) => native.read(fd, buf, off, len),
  sendv: (fd, buf, offsets, lens, count) => native.sendv(fd, buf, offsets, lens, count, 0),
  send: (fd, buf, off, len) => native.send(fd, buf, off, len, 0),
};

/** What a stream half reports to its connection. */
export interface StreamInHooks {
  /** The guest closed the stream. */
  onEof(): void;
  /** Reading failed, or the framing is broken: the connection must go. */
  onError(reason: string): void;
}

/** Frames from the guest: one read into a large buffer, split into frames. */
export class StreamIn implements FrameSource {
  readonly buf: Buffer;
  /** The stream carries plain frames. */
  readonly vnetHdrLen = 0;
  /** Pairs [offset, length] of the frames of the last read; grows when a read holds more. */
  frames: Int32Array;
  framesIn = 0;
  bytesIn = 0;
  private fd = -1;
  /** The unparsed bytes (an incomplete frame) are buf[start, end). */
  private start = 0;
  private end = 0;

  constructor(
    private readonly hooks: StreamInHooks,
    private readonly io: StreamIo = nativeStreamIo,
    size = 2 << 20,
  ) {
    if (size < 2 * (STREAM_HDR_LEN + MAX_STREAM_FRAME)) throw new RangeError(`StreamIn: a ${size}-byte buffer cannot hold two whole frames`);
    this.buf = Buffer.alloc(size);
    this.frames = new Int32Array(2 * 1024);
  }

  /** Start on a new connection (or none: -1), forgetting any partial frame. */
  reset(fd: number): void {
    this.fd = fd;
    this.start = 0;
    this.end = 0;
  }

  /** Bytes of an incomplete frame (or length) held for the next read. */
  get partial(): number {
    return this.end - this.start;
  }

  /**
   * Read what the guest sent and split it into frames. Returns the number
   * of whole frames (0 if none yet). Never negative: end of file, errors and
   * bad framing go to the hooks, and 0 is returned.
   */
  read(): number {
    if (this.fd < 0) return 0;
    if (this.start > 0) {
      const keep = this.end - this.start;
      if (keep > 0) this.buf.copyWithin(0, this.start, this.end);
      this.start = 0;
      this.end = keep;
    }
    const n = this.io.read(this.fd, this.buf, this.end, this.buf.length - this.end);
    if (n < 0) {
      if (n === -E.EAGAIN || n === -E.EINTR) return 0;
      this.hooks.onError(M.receiveError(native.strerror(n)));
      return 0;
    }
    if (n === 0) {
      this.hooks.onEof();
      return 0;
    }
    this.end += n;
    return this.split();
  }

  /** Cut buf[start, end) into whole frames; keep an incomplete one for later. */
  private split(): number {
    const buf = this.buf;
    const end = this.end;
    let p = this.start;
    let count = 0;
    let bytes = 0;
    while (end - p >= STREAM_HDR_LEN) {
      const len = buf[p] * 0x1000000 + ((buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]);
      if (len < MIN_STREAM_FRAME || len > MAX_STREAM_FRAME) {
        this.start = 0;
        this.end = 0;
        this.hooks.onError(`${M.badFrameSize()}: bad frame length ${len} (${MIN_STREAM_FRAME} to ${MAX_STREAM_FRAME}): the stream is out of step`);
        return 0;
      }
      if (end - p - STREAM_HDR_LEN < len) break;
      if (2 * count + 2 > this.frames.length) {
        const grown = new Int32Array(2 * this.frames.length);
        grown.set(this.frames);
        this.frames = grown;
      }
      this.frames[2 * count] = p + STREAM_HDR_LEN;
      this.frames[2 * count + 1] = len;
      count++;
      bytes += len;
      p += STREAM_HDR_LEN + len;
    }
    this.start = p;
    this.framesIn += count;
    this.bytesIn += bytes;
    return count;
  }
}

/** What the sending half asks of its connection. */
export interface StreamOutHooks {
  /** Watch for EPOLLOUT (true) while an unsent tail is held, or stop (false). */
  wantWritable(on: boolean): void;
  /** Sending failed for good (the guest is going away; the read side will notice). */
  onError(reason: string): void;
}

/** Frames to the guest: TapOut's allocator, length-prefixed frames, one sendmsg per flush. */
export class StreamOut extends TapOut {
  private readonly iovOff: Int32Array;
  private readonly iovLen: Int32Array;
  /** The unsent tail of a batch: tail[pendingStart, pendingEnd), holding `pendingFrames` frames. */
  private tail: Buffer | null = null;
  private pendingStart = 0;
  private pendingEnd = 0;
  private pendingFrames = 0;
  private pendingBytes = 0;
  /** Sending failed: drop everything until the connection is replaced. */
  private broken = false;

  constructor(
    private readonly hooks: StreamOutHooks,
    private readonly io: StreamIo = nativeStreamIo,
    capture?: FrameCapture,
    size = 8 << 20,
    maxFrames = 512,
  ) {
    // One sendmsg takes at most IOV_MAX (1024) slices.
    super(-1, STREAM_HDR_LEN, size, Math.min(maxFrames, 1024), capture);
    this.iovOff = new Int32Array(this.maxFrames);
    this.iovLen = new Int32Array(this.maxFrames);
  }

  /** The guest gets complete checksums: there is no virtio-net header on a stream. */
  override get checksumOffload(): boolean {
    return false;
  }

  /** Whether an unsent tail is waiting for the socket. */
  get blocked(): boolean {
    return this.pendingEnd > this.pendingStart;
  }

  /** Start on a new connection (or none: -1). Frames not yet sent are dropped. */
  reset(fd: number): void {
    this.dropped += this.count + this.pendingFrames;
    this.count = 0;
    this.cursor = 0;
    this.clearPending();
    this.broken = false;
    this.fd = fd;
  }

  override commit(off: number, len: number): void {
    super.commit(off, len);
    this.buf.writeUInt32BE(len, off - STREAM_HDR_LEN);
  }

  /** Send every committed frame, with its length, in one sendmsg. */
  override flush(): void {
    const count = this.takeBatch();
    if (count === 0) return;
    if (this.fd < 0 || this.broken || this.pendingEnd > this.pendingStart) {
      // No guest, or it has not taken the last batch yet: drop whole frames.
      this.dropped += count;
      return;
    }
    let total = 0;
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const len = this.frames[2 * i + 1];
      this.iovOff[i] = this.frames[2 * i] - STREAM_HDR_LEN;
      this.iovLen[i] = len + STREAM_HDR_LEN;
      total += len + STREAM_HDR_LEN;
      bytes += len;
    }
    const n = this.io.sendv(this.fd, this.buf, this.iovOff, this.iovLen, count);
    if (n === total) {
      this.framesOut += count;
      this.bytesOut += bytes;
      return;
    }
    if (n < 0 && n !== -E.EAGAIN) {
      this.broken = true;
      this.dropped += count;
      this.hooks.onError(`write: ${errnoName(n)}`);
      return;
    }
    this.keepTail(n < 0 ? 0 : n, count);
  }

  /** The socket took only `sent` bytes of the batch: copy the rest aside and wait for EPOLLOUT. */
  private keepTail(sent: number, count: number): void {
    if (!this.tail) this.tail = Buffer.alloc(this.buf.length);
    let skip = sent;
    let p = 0;
    for (let i = 0; i < count; i++) {
      const o = this.iovOff[i];
      const l = this.iovLen[i];
      if (skip >= l) {
        skip -= l;
        this.framesOut++;
        this.bytesOut += l - STREAM_HDR_LEN;
        continue;
      }
      this.buf.copy(this.tail, p, o + skip, o + l);
      p += l - skip;
      skip = 0;
      this.pendingFrames++;
      this.pendingBytes += l - STREAM_HDR_LEN;
    }
    this.pendingStart = 0;
    this.pendingEnd = p;
    this.hooks.wantWritable(true);
  }

  /** The socket is writable again: send the held tail; once it is all gone, stop watching EPOLLOUT. */
  resume(): void {
    if (this.fd < 0 || !this.tail) return;
    while (this.pendingStart < this.pendingEnd) {
      const n = this.io.send(this.fd, this.tail, this.pendingStart, this.pendingEnd - this.pendingStart);
      if (n === -E.EAGAIN || n === 0) return;
      if (n < 0) {
        this.broken = true;
        this.dropped += this.pendingFrames;
        this.clearPending();
        this.hooks.wantWritable(false);
        this.hooks.onError(`write: ${errnoName(n)}`);
        return;
      }
      this.pendingStart += n;
    }
    this.framesOut += this.pendingFrames;
    this.bytesOut += this.pendingBytes;
    this.clearPending();
    this.hooks.wantWritable(false);
  }

  private clearPending(): void {
    this.pendingStart = 0;
    this.pendingEnd = 0;
    this.pendingFrames = 0;
    this.pendingBytes = 0;
  }
}

/** What the owner of a transport hears about guests. */
export interface QemuTransportHooks {
  /** A guest connected; `pid` is the peer's process (SO_PEERCRED), if known. */
  onConnect?(info: { fd: number; pid: number | null }): void;
  /** The guest's connection was closed: end of file, an error or bad framing (`reason`). */
  onDisconnect?(reason: string, error: boolean): void;
}

/** The fd of a node:net socket (a connection accepted paused), or -1. */
export function socketFd(socket: net.Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: number } })._handle;
  return typeof handle?.fd === 'number' ? handle.fd : -1;
}

/** The PID of the process at the other end of a UNIX domain socket, or null. */
export function peerPid(fd: number): number | null {
  const out = new Int32Array(1);
  // SO_PEERCRED fills a struct ucred; its first field, the PID, is all an int holds.
  return fd >= 0 && native.getsockoptInt(fd, C.SOL_SOCKET, SO_PEERCRED, out) === 0 && out[0] > 0 ? out[0] : null;
}

/**
 * The one connection a passt transport holds at a time (the QEMU stream
 * socket's, vhost-user's): taken from a listening socket or inherited,
 * watched in the loop, let go. `fd` is -1 while there is none; `closed`
 * turns every later one away.
 */
export class HeldConnection {
  fd = -1;
  /** The node:net socket that owns `fd` (closing it closes the fd), or null for an inherited fd. */
  private socket: net.Socket | null = null;
  closed = false;

  /** `name` in the log ("guest connection"); `busy`, why a second one is turned away. */
  constructor(
    private readonly loop: Loop,
    private readonly log: Logger,
    private readonly name: string,
    private readonly busy: string,
  ) {}

  /**
   * Take connections from `server`, a node:net server listening with
   * `pauseOnConnect` (see {@link openListener}), handing each to `attach`;
   * one that comes while this one is held (or after close) is closed at once,
   * with a line in the log naming its peer.
   */
  serve(server: net.Server, attach: (fd: number, socket: net.Socket) => void): void {
    server.on('connection', (socket: net.Socket) => {
      socket.on('error', () => {});
      const fd = socketFd(socket);
      const reason = fd < 0 ? 'no file descriptor' : this.closed ? 'shutting down' : this.fd >= 0 ? this.busy : null;
      if (reason !== null) {
        const pid = peerPid(fd);
        this.log.info(`discarding connection${pid ? ` from PID ${pid}` : ''}: ${reason}`);
        socket.destroy();
        return;
      }
      attach(fd, socket);
    });
  }

  /**
   * Hold the connected socket `fd` (accepted from `socket`, which owns it, or
   * inherited: -F, closed with close(2) when done): nonblocking, `prepare(fd)`,
   * then watched as the tap's `index`. False, and the fd let go, if one is
   * held already, after close, or if it cannot be watched.
   */
  take(fd: number, socket: net.Socket | null, index: number, prepare?: (fd: number) => void): boolean {
    const drop = (): void => {
      if (socket) socket.destroy();
      else native.close(fd);
    };
    if (this.closed || this.fd >= 0) {
      drop();
      return false;
    }
    native.setNonblock(fd, true);
    prepare?.(fd);
    const rc = this.loop.add(fd, FdKind.Tap, index, C.EPOLLIN | C.EPOLLRDHUP);
    if (rc < 0) {
      this.log.error(`cannot watch the ${this.name}: ${errnoName(rc)}`);
      drop();
      return false;
    }
    this.fd = fd;
    this.socket = socket;
    return true;
  }

  /** Stop watching the held connection and close it (nothing if none is held). */
  release(): void {
    if (this.fd < 0) return;
    this.loop.del(this.fd);
    if (this.socket) this.socket.destroy();
    else native.close(this.fd);
    this.fd = -1;
    this.socket = null;
  }
}

/**
 * One guest at a time over a QEMU stream socket: the engine's frame
 * transport. Made by the engine's `transport` factory (which passes the
 * loop and the pcap capture); then `serve(server)` takes guests from a
 * listening socket, or `attach(fd)` uses an inherited connected socket.
 */
export class QemuTransport implements FrameTransport {
  readonly input: StreamIn;
  readonly output: StreamOut;
  private readonly conn: HeldConnection;
  /** Connections so far. */
  connections = 0;
  private readonly traceOn: boolean;

  constructor(
    private readonly loop: Loop,
    private readonly log: Logger,
    capture?: FrameCapture,
    private readonly hooks: QemuTransportHooks = {},
    io: StreamIo = nativeStreamIo,
  ) {
    this.traceOn = log.isLevelEnabled('trace');
    this.conn = new HeldConnection(loop, log, 'guest connection', 'a guest is connected already');
    this.input = new StreamIn({ onEof: () => this.disconnect('end of file', false), onError: (why) => this.disconnect(why, true) }, io);
    this.output = new StreamOut(
      {
        wantWritable: (on) => {
          if (this.conn.fd < 0) return;
          if (this.traceOn) this.log.trace(on ? 'guest connection: socket full, the rest of a batch waits for EPOLLOUT' : 'guest connection: writable again, the held batch is out');
          this.loop.mod(this.conn.fd, FdKind.Tap, 0, C.EPOLLIN | C.EPOLLRDHUP | (on ? C.EPOLLOUT : 0));
        },
        // The read side sees the same failure (EPOLLERR/EPOLLHUP) and closes the connection there.
        onError: (why) => this.log.debug(`guest connection: ${why}`),
      },
      io,
      capture,
    );
  }

  /** Whether a guest is connected. */
  get connected(): boolean {
    return this.conn.fd >= 0;
  }

  /**
   * Take guests from `server`, a node:net server listening with
   * `pauseOnConnect` (see {@link openListener}). While a guest is
   * connected, another connection is accepted and closed at once.
   */
  serve(server: net.Server): void {
    this.conn.serve(server, (fd, socket) => this.attach(fd, socket));
  }

  /**
   * Use the connected stream socket `fd` for the guest: one accepted from
   * `socket` (which owns the fd), or an inherited one (-F, closed with
   * close(2) when done). Returns false if it cannot be watched.
   */
  attach(fd: number, socket: net.Socket | null = null): boolean {
    const taken = this.conn.take(fd, socket, 0, (f) => {
      // As passt(1): socket buffers as large as allowed, so a batch rarely has to wait.
      native.setsockoptInt(f, C.SOL_SOCKET, C.SO_SNDBUF, SOCKET_BUFFER);
      native.setsockoptInt(f, C.SOL_SOCKET, C.SO_RCVBUF, SOCKET_BUFFER);
    });
    if (!taken) return false;
    this.input.reset(fd);
    this.output.reset(fd);
    this.connections++;
    this.hooks.onConnect?.({ fd, pid: peerPid(fd) });
    return true;
  }

  events(_index: number, events: number): boolean {
    if (this.conn.fd < 0) return false;
    if (events & C.EPOLLOUT) this.output.resume();
    return (events & (C.EPOLLIN | C.EPOLLHUP | C.EPOLLERR | C.EPOLLRDHUP)) !== 0;
  }

  /** Close the guest's connection (if any) and tell the owner why. */
  disconnect(reason: string, error = false): void {
    if (this.conn.fd < 0) return;
    this.conn.release();
    this.input.reset(-1);
    this.output.reset(-1);
    this.hooks.onDisconnect?.(reason, error);
  }

  /** Stop: close the guest's connection without telling the owner, and turn later ones away. */
  close(): void {
    if (this.conn.closed) return;
    this.conn.closed = true;
    if (this.conn.fd < 0) return;
    this.conn.release();
    this.input.reset(-1);
    this.output.reset(-1);
  }
}

/** Default socket paths, as passt(1) probes them. */
export function defaultSocketPath(n: number): string {
  return `/tmp/passt_${n}.socket`;
}
export const DEFAULT_SOCKET_COUNT = 64;

/**
 * Whether a listening UNIX socket of this network namespace is bound at
 * `path`, from /proc/net/unix (proc(5): flags 00010000 is __SO_ACCEPTCON,
 * listening). Undefined if the table cannot be read.
 */
export function listedAsListening(path: string, table?: string): boolean | undefined {
  let text = table;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/net/unix', 'latin1');
    } catch {
      return undefined;
    }
  }
  for (const line of text.split('\n')) {
    // Num RefCount Protocol Flags Type St Inode Path
    const fields = line.trim().split(/\s+/);
    if (fields.length >= 8 && fields[7] === path && (parseInt(fields[3], 16) & 0x10000) !== 0) return true;
  }
  return false;
}

/**
 * Whether something accepts connections at `path`. A listener of this
 * network namespace is found in /proc/net/unix without connecting — a probe
 * connection to a running passt would be taken for its guest for a moment,
 * as with passt(1). Otherwise (a stale file, or a listener in another
 * network namespace sharing the file system), a connect decides: it
 * succeeds, or fails other than "nobody there".
 */
export function socketInUse(path: string): Promise<boolean> {
  if (listedAsListening(path)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const probe = net.connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => {
      probe.destroy();
      resolve(!(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'EACCES'));
    });
  });
}

/** Listen on `path` with connections delivered paused; rejects with the bind error. */
function listenAt(path: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ pauseOnConnect: true });
    const onError = (err: Error): void => {
      server.close();
      reject(err);
    };
    server.once('error', onError);
    server.listen({ path }, () => {
      server.off('error', onError);
      server.on('error', () => {});
      resolve(server);
    });
  });
}

/** Remove a stale socket file (only a socket: never some other file that happens to be there). */
function removeStaleSocket(path: string): void {
  try {
    if (fs.lstatSync(path).isSocket()) fs.unlinkSync(path);
  } catch {
    // Not there, or not ours to remove: bind will say.
  }
}

/**
 * The listening socket QEMU connects to, as passt(1) picks it: the given
 * path, refused if something listens there already (a stale socket file
 * left by a previous run is replaced); or else the first of
 * /tmp/passt_1.socket ... /tmp/passt_64.socket nobody listens on. Throws
 * with the reason when there is none.
 */
export async function openListener(path: string | null): Promise<{ server: net.Server; path: string }> {
  if (path !== null) {
    if (await socketInUse(path)) throw new Error(M.socketInUse(path));
    removeStaleSocket(path);
    try {
      return { server: await listenAt(path), path };
    } catch (err) {
      throw new Error(M.socketBind(strerrorOf(err)));
    }
  }
  for (let n = 1; n <= DEFAULT_SOCKET_COUNT; n++) {
    const candidate = defaultSocketPath(n);
    if (await socketInUse(candidate)) continue;
    removeStaleSocket(candidate);
    try {
      return { server: await listenAt(candidate), path: candidate };
    } catch {
      // Taken meanwhile, or not ours (another user's file): try the next.
    }
  }
  throw new Error(`${M.socketBind('Address already in use')}: ${defaultSocketPath(1)} to ${defaultSocketPath(DEFAULT_SOCKET_COUNT)} are all in use`);
}

/** The C library's text for a Node.js error with an errno ("Permission denied"). */
function strerrorOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return typeof e.errno === 'number' ? native.strerror(e.errno) : e.message;
}
