/**
 * passt's vhost-user transport (`passt --vhost-user`): the guest's frames
 * travel through virtqueues in its own memory, shared with us, instead of
 * over QEMU's stream socket; the UNIX domain socket carries only the
 * vhost-user protocol (QEMU: `-chardev socket,path=S -netdev
 * vhost-user,chardev=...` with guest memory shared: `-object
 * memory-backend-memfd,share=on`).
 *
 * Theory of operation: one front end at a time, on a connection accepted
 * from the listening socket (a second one is turned away) or inherited with
 * `--fd`. Its messages (protocol.ts) go to the device (device.ts), which
 * maps guest memory and sets the virtqueues up in the native device
 * (native/vhost.cc); the transport watches the control socket and the two
 * kick eventfds on the engine's loop (FdKind.Tap, indices CONTROL, RX_KICK,
 * TX_KICK) and gives the engine the usual two halves:
 *
 * - `VhostIn` (frames from the guest): a kick on TX makes the engine read;
 *   a read takes every chain the guest made available into one staging
 *   buffer (one copy), 12 bytes of virtio-net header before each frame as a
 *   tap with IFF_VNET_HDR gives them (their GSO type and size go to the
 *   dispatcher), and gives the chains back at once. If the buffer filled up
 *   first, the transport kicks TX itself, so that the rest is read in the
 *   next round of the loop rather than when the guest sends again.
 * - `VhostOut` (frames to the guest): the tap's allocator with a
 *   12-byte header (virtio_net_hdr_mrg_rxbuf) before each frame, filled by
 *   `commit` — partial checksums when the guest took GUEST_CSUM, GSO type
 *   and size for TCP super-frames when it took GUEST_TSO4/6 (`offloads`).
 *   A flush copies every frame into the guest's RX buffers in one native
 *   call (the second copy). When the guest has posted too few buffers, the
 *   frames left are moved aside, in order, and wait: the guest is asked to
 *   kick RX when it posts more (VRING_USED_F_NO_NOTIFY cleared), and the
 *   kick delivers them; frames flushed meanwhile queue behind them, up to
 *   the size of that buffer (beyond it they are dropped, and TCP sends them
 *   again). Frames are never cut.
 *
 * TCP data for the guest is the exception to that second copy, as in
 * upstream's tcp_vu.c: `VhostOut.direct()` gives TCP a `DirectRx` whose
 * peek reads the socket straight into the guest's RX buffers (rxPeek), the
 * headers built by TCP as for any frame and put in place by rxCommit; a
 * connection that finds no buffer waits for the guest's RX kick
 * (`directWaiting`, onBuffers). Everything else — ACKs, SYNs, UDP, ICMP,
 * the replies of the small services — is built in our buffer and copied
 * at the flush, as for every other transport (see doc/design.md,
 * "vhost-user"; bench/vhost.js compares the two passts).
 *
 * When the front end disconnects (QEMU quit or was killed), or breaks the
 * protocol or the rings (a VuProtocolError, or the native side finding a
 * ring broken), its guest memory is unmapped, every fd it gave is closed,
 * frames waiting for it are dropped, and the owner is told (passt.ts closes
 * the guest's flows and waits for the next front end, as with the stream).
 * A guest resetting its device (GET_VRING_BASE) only stops the queues until
 * the front end starts them again: flows stay.
 */
import type net from 'node:net';
import { native, C, E, errnoName, type VuDevice } from '../native.js';
import { FdKind, type Loop } from '../loop.js';
import { TapOut, NO_OFFLOADS, writeVnetHeader, type DirectRx, type FrameCapture, type FrameSource, type FrameTransport } from '../l2/tapio.js';
import { HeldConnection, peerPid, type QemuTransportHooks } from '../l2/qemu.js';
import type { Logger } from '../log.js';
import { F, MessageReader, VuProtocolError, has, type VuIo } from './protocol.js';
import { RX_QUEUE, TX_QUEUE, VhostUserDevice } from './device.js';

/** struct virtio_net_hdr_mrg_rxbuf: the header before every frame both ways (VERSION_1). */
export const VNET_HDR_LEN = 12;

/** Loop indices (FdKind.Tap) of the transport's fds. */
export const CONTROL = 0;
export const RX_KICK = 1;
export const TX_KICK = 2;

/** Frames taken from TX per read, at most. */
const TX_BATCH = 256;

/** Frames of one direct peek, at most (one recvmsg takes 1024 pieces), and the room for each one's headers. */
const DIRECT_FRAMES = 1024;
const DIRECT_STRIDE = 128;

/** The addon's recvmsg for the reader. */
export const nativeVuIo: VuIo = { recv: (fd, buf, off, len, fds) => native.vuRecv(fd, buf, off, len, fds) };

/** What the halves ask of the transport. */
interface Owner {
  readonly dev: VuDevice;
  /** The native side found a ring broken: disconnect. */
  broken(reason: string): void;
  /** Chains are left on TX: read again in the next round of the loop. */
  kickTx(): void;
  /** Whether RX kicks should reach us (frames are waiting for buffers). */
  wantRx(on: boolean): void;
  trace(message: string): void;
}

/** Frames from the guest's TX queue, copied into a staging buffer, a batch per read. */
export class VhostIn implements FrameSource {
  readonly buf: Buffer;
  readonly vnetHdrLen = VNET_HDR_LEN;
  readonly frames = new Int32Array(2 * TX_BATCH);
  framesIn = 0;
  bytesIn = 0;
  /** TX is started (frames are taken) and enabled (they are used; taken and dropped when not). */
  started = false;
  enabled = false;
  private readonly info = new Int32Array(2);
  /** Chains dropped because their descriptors or frame were bad. */
  droppedChains = 0;

  constructor(
    private readonly owner: Owner,
    size = 8 << 20,
  ) {
    this.buf = Buffer.alloc(size);
  }

  read(): number {
    if (!this.started) return 0;
    const dev = this.owner.dev;
    const n = dev.txPop(this.buf, this.frames, TX_BATCH, VNET_HDR_LEN, this.info);
    if (n === -E.ENOTCONN) return 0;
    if (n < 0) {
      this.owner.broken(`vhost-user: ${dev.lastError() || errnoName(n)}`);
      return 0;
    }
    if (this.info[1]) {
      this.droppedChains += this.info[1];
      this.owner.trace(`vhost-user: ${this.info[1]} transmitted frame(s) dropped: ${dev.lastError()}`);
    }
    if (this.info[0]) this.owner.kickTx();
    if (!this.enabled) return 0;
    this.framesIn += n;
    for (let i = 0; i < n; i++) this.bytesIn += this.frames[2 * i + 1];
    return n;
  }
}

/**
 * TCP data peeked straight into the guest's RX buffers (DirectRx): one
 * rxPeek, the headers built here, one rxCommit. The guest is interrupted
 * once at the end of the batch (VhostOut.flush), not for every peek.
 */
class VhostDirect implements DirectRx {
  readonly buf = Buffer.alloc(DIRECT_FRAMES * DIRECT_STRIDE);
  readonly lens = new Int32Array(DIRECT_FRAMES);
  readonly checksumOffload = true;
  count = 0;
  short = 0;
  capacity = 0;
  onBuffers: (() => void) | null = null;
  private readonly frames = new Int32Array(2 * DIRECT_FRAMES);
  private committed = 0;
  private readonly info = new Int32Array(4);

  constructor(
    private readonly out: VhostOut,
    private readonly owner: Owner,
  ) {}

  peek(fd: number, discard: number, frameHdrLen: number, frameLen: number, maxBytes: number): number {
    const dev = this.owner.dev;
    this.committed = 0;
    const n = dev.rxPeek(fd, discard, frameHdrLen, frameLen, maxBytes, this.out.mergeable, this.lens, this.info);
    this.count = n > 0 ? this.info[0] : 0;
    this.short = this.info[1];
    this.capacity = this.info[3];
    if (this.info[2]) {
      this.out.badChains += this.info[2];
      this.owner.trace(`vhost-user: ${this.info[2]} bad receive chain(s) returned empty: ${dev.lastError()}`);
      this.out.notifyDue = true;
    }
    if (n === -E.EBADMSG || n === -E.ENOTCONN) {
      // The ring is broken (or the queue gone): the frames take TapOut's way, which drops them.
      if (n === -E.EBADMSG) this.owner.broken(`vhost-user: ${dev.lastError() || errnoName(n)}`);
      return -E.ENOBUFS;
    }
    return n;
  }

  frameOffset(i: number): number {
    return i * DIRECT_STRIDE + VNET_HDR_LEN;
  }

  wait(): boolean {
    this.out.waitForBuffers();
    // Buffers posted before the guest saw that we want to hear of them: no kick comes for those.
    return !(this.owner.dev.rxAvailable() > 0);
  }

  commit(off: number, len: number, csumStart = 0, csumOffset = 0, gsoType = 0, gsoSize = 0, hdrLen = 0): void {
    writeVnetHeader(this.buf, off - VNET_HDR_LEN, VNET_HDR_LEN, csumStart, csumOffset, gsoType, gsoSize, hdrLen);
    this.frames[2 * this.committed] = off;
    this.frames[2 * this.committed + 1] = len;
    this.committed++;
  }

  finish(): void {
    const n = this.owner.dev.rxCommit(this.buf, this.frames, this.committed);
    this.committed = 0;
    if (n <= 0) return;
    this.out.framesOut += n;
    for (let i = 0; i < n; i++) this.out.bytesOut += this.frames[2 * i + 1];
    this.out.notifyDue = true;
  }
}

/** Frames to the guest's RX queue: TapOut's allocator, a 12-byte header before each frame, one native call per flush. */
export class VhostOut extends TapOut {
  /** RX is started, enabled and mapped: frames can go. */
  usable = false;
  /** Mergeable RX buffers (a frame may span chains). */
  mergeable = false;
  /** The guest takes partial checksums (GUEST_CSUM). */
  guestCsum = false;
  private readonly out = new Int32Array(4);
  /** Frames waiting for RX buffers, in order: held[frames at heldFrames[2i]], from heldFirst to heldCount. */
  private held: Buffer | null = null;
  private heldFrames: Int32Array;
  private heldFirst = 0;
  private heldCount = 0;
  private heldCursor = 0;
  /** Receive chains the guest posted with bad descriptors (returned empty). */
  badChains = 0;
  /** Used entries published by direct peeks since the guest was last interrupted. */
  notifyDue = false;
  /** A direct peek waits for the guest's buffers (its onBuffers is called when they come). */
  directWaiting = false;
  /** Straight into the guest's buffers (null: never, frames are captured). */
  private readonly directRx: VhostDirect | null;

  constructor(
    private readonly owner: Owner,
    capture?: FrameCapture,
    size = 8 << 20,
    maxFrames = 512,
  ) {
    super(-1, VNET_HDR_LEN, size, maxFrames, capture);
    this.heldFrames = new Int32Array(2 * maxFrames);
    // A capture (--pcap) sees frames in our buffer: with one, every frame is built here.
    this.directRx = capture ? null : new VhostDirect(this, owner);
  }

  /**
   * Direct peeks when the guest takes partial checksums (the TCP checksum
   * is then never summed over the payload) and nothing waits for buffers:
   * frames committed so far go first, and if any must wait, so does this.
   */
  override direct(): DirectRx | null {
    if (!this.directRx || !this.usable || !this.guestCsum) return null;
    if (this.count > 0) this.send();
    return this.waiting === 0 && this.usable ? this.directRx : null;
  }

  override get checksumOffload(): boolean {
    return this.guestCsum;
  }

  /** Frames waiting for the guest's buffers. */
  get waiting(): number {
    return this.heldCount - this.heldFirst;
  }

  /** Drop every frame, committed or waiting (the queue stopped, or the front end left). */
  reset(): void {
    this.notifyDue = false;
    this.dropped += this.count + this.waiting;
    this.count = 0;
    this.cursor = 0;
    this.heldFirst = this.heldCount = this.heldCursor = 0;
  }

  override flush(): void {
    this.send();
    if (this.notifyDue) {
      this.notifyDue = false;
      this.owner.dev.rxNotify();
    }
  }

  /** Deliver (or set waiting) the frames committed; the guest is interrupted if any went. */
  private send(): void {
    const count = this.takeBatch();
    if (count === 0) return;
    if (!this.usable) {
      this.dropped += count;
      return;
    }
    if (this.waiting > 0) {
      // Behind the frames already waiting, in order.
      this.hold(this.buf, this.frames, 0, count);
      this.deliverHeld();
      return;
    }
    const taken = this.push(this.buf, this.frames, count);
    if (taken < 0) return;
    if (taken < count) {
      this.hold(this.buf, this.frames, taken, count);
      this.owner.wantRx(true);
      // Buffers posted before the guest saw that we want to hear of them: look once more.
      this.deliverHeld();
    }
  }

  /** Deliver frames [0, count) of buf (headers before them); returns how many were taken, or -1 if the ring broke. */
  private push(buf: Buffer, frames: Int32Array, count: number): number {
    const dev = this.owner.dev;
    const n = dev.rxPush(buf, frames, count, VNET_HDR_LEN, this.mergeable, this.out);
    if (n < 0) {
      this.dropped += count;
      if (n !== -E.ENOTCONN) this.owner.broken(`vhost-user: ${dev.lastError() || errnoName(n)}`);
      return -1;
    }
    const dropped = this.out[0];
    this.dropped += dropped;
    this.framesOut += n - dropped;
    this.bytesOut += this.out[3];
    if (dropped || this.out[1]) {
      this.badChains += this.out[1];
      this.owner.trace(`vhost-user: ${dropped} frame(s) too large for the guest's receive buffers dropped, ${this.out[1]} bad receive chain(s) returned empty: ${dev.lastError()}`);
    }
    return n;
  }

  /** Move frames [from, to) of buf aside to wait for buffers; those that do not fit are dropped. */
  private hold(buf: Buffer, frames: Int32Array, from: number, to: number): void {
    if (!this.held) this.held = Buffer.alloc(this.buf.length);
    if (this.heldFirst > 0 && this.heldCount + (to - from) > this.heldFrames.length / 2) this.compact();
    for (let i = from; i < to; i++) {
      const off = frames[2 * i];
      const len = frames[2 * i + 1];
      const at = this.heldCursor + VNET_HDR_LEN;
      if (2 * this.heldCount + 2 > this.heldFrames.length || at + len > this.held.length) {
        if (this.heldFirst > 0) {
          this.compact();
          i--;
          continue;
        }
        this.dropped += to - i;
        return;
      }
      buf.copy(this.held, at - VNET_HDR_LEN, off - VNET_HDR_LEN, off + len);
      this.heldFrames[2 * this.heldCount] = at;
      this.heldFrames[2 * this.heldCount + 1] = len;
      this.heldCount++;
      this.heldCursor = (at + len + 7) & ~7;
    }
  }

  /** Move the waiting frames to the start of the held buffer. */
  private compact(): void {
    const held = this.held!;
    let cursor = 0;
    let k = 0;
    for (let i = this.heldFirst; i < this.heldCount; i++) {
      const off = this.heldFrames[2 * i];
      const len = this.heldFrames[2 * i + 1];
      held.copyWithin(cursor, off - VNET_HDR_LEN, off + len);
      this.heldFrames[2 * k] = cursor + VNET_HDR_LEN;
      this.heldFrames[2 * k + 1] = len;
      cursor = (cursor + VNET_HDR_LEN + len + 7) & ~7;
      k++;
    }
    this.heldFirst = 0;
    this.heldCount = k;
    this.heldCursor = cursor;
  }

  /** A direct peek found no buffer: RX kicks are wanted until the guest posts some. */
  waitForBuffers(): void {
    if (this.directWaiting) return;
    this.directWaiting = true;
    if (this.waiting === 0) this.owner.wantRx(true);
  }

  /**
   * The guest posted buffers (an RX kick), or may have (the queue started):
   * deliver the frames that wait, then tell a direct peek that waits. Not
   * from inside a flush (a protocol handler may be building frames).
   */
  resume(): void {
    this.deliverHeld();
    if (this.directWaiting && this.waiting === 0 && this.usable) {
      this.directWaiting = false;
      this.owner.wantRx(false);
      this.directRx?.onBuffers?.();
    }
  }

  /** Deliver the frames that wait for buffers, as many as fit now. */
  private deliverHeld(): void {
    if (this.waiting === 0 || !this.usable || !this.held) return;
    const frames = this.heldFrames.subarray(2 * this.heldFirst, 2 * this.heldCount);
    const taken = this.push(this.held, frames, this.waiting);
    if (taken < 0) return;
    this.heldFirst += taken;
    if (this.heldFirst === this.heldCount) {
      this.heldFirst = this.heldCount = this.heldCursor = 0;
      if (!this.directWaiting) this.owner.wantRx(false);
    }
  }
}

/**
 * One vhost-user front end at a time: the engine's frame transport for
 * `passt --vhost-user`. Made by the engine's `transport` factory; then
 * `serve(server)` takes front ends from a listening socket, or `attach(fd)`
 * uses an inherited connected socket.
 */
export class VhostUserTransport implements FrameTransport {
  readonly input: VhostIn;
  readonly output: VhostOut;
  readonly dev: VuDevice;
  readonly device: VhostUserDevice;
  private readonly conn: HeldConnection;
  private reader: MessageReader | null = null;
  private readonly kickFds = [-1, -1];
  private readonly kickBuf = Buffer.alloc(8);
  /** Connections so far. */
  connections = 0;
  private readonly traceOn: boolean;

  constructor(
    private readonly loop: Loop,
    private readonly log: Logger,
    capture?: FrameCapture,
    private readonly hooks: QemuTransportHooks = {},
    private readonly io: VuIo = nativeVuIo,
  ) {
    this.traceOn = log.isLevelEnabled('trace');
    this.conn = new HeldConnection(loop, log, 'vhost-user connection', 'a front end is connected already');
    this.dev = new native.VuDevice();
    const owner: Owner = {
      dev: this.dev,
      broken: (reason) => this.broken(reason),
      kickTx: () => this.selfKick(TX_QUEUE),
      wantRx: (on) => {
        if (this.traceOn) this.log.trace(on ? 'vhost-user: receive buffers exhausted, frames wait for the guest' : 'vhost-user: waiting frames delivered');
        this.dev.setNotify(RX_QUEUE, on);
      },
      trace: (message) => {
        if (this.traceOn) this.log.trace(message);
      },
    };
    this.input = new VhostIn(owner);
    this.output = new VhostOut(owner, capture);
    this.device = new VhostUserDevice(this.dev, log, { onKickFd: (q, fd) => this.setKickFd(q, fd), onChange: () => this.update() }, (fd) => native.close(fd));
  }

  /** Whether a front end is connected. */
  get connected(): boolean {
    return this.conn.fd >= 0;
  }

  /** Take front ends from `server` (listening with `pauseOnConnect`); one at a time. */
  serve(server: net.Server): void {
    this.conn.serve(server, (fd, socket) => this.attach(fd, socket));
  }

  /** Use the connected socket `fd` (accepted from `socket`, or inherited: -F). False if it cannot be watched. */
  attach(fd: number, socket: net.Socket | null = null): boolean {
    if (!this.conn.take(fd, socket, CONTROL)) return false;
    this.reader = new MessageReader(fd, this.io, (f) => native.close(f));
    this.connections++;
    this.hooks.onConnect?.({ fd, pid: peerPid(fd) });
    return true;
  }

  events(index: number, events: number): boolean {
    if (this.conn.fd < 0) return false;
    if (index === CONTROL) {
      this.control(events);
      return false;
    }
    const q = index === TX_KICK ? TX_QUEUE : RX_QUEUE;
    const fd = this.kickFds[q];
    if (fd < 0) return false;
    // An eventfd: one read takes every kick so far.
    native.read(fd, this.kickBuf, 0, 8);
    if (q === RX_QUEUE) {
      this.output.resume();
      return false;
    }
    return true;
  }

  /** Messages on the control socket: each handled and answered in order. */
  private control(events: number): void {
    for (;;) {
      if (this.conn.fd < 0 || !this.reader) return;
      let msg;
      try {
        msg = this.reader.read();
      } catch (err) {
        this.disconnect(`vhost-user: ${(err as Error).message}`, true);
        return;
      }
      if (msg === 'eof') {
        this.disconnect('end of file', false);
        return;
      }
      if (msg === null) break;
      let reply: Buffer | null;
      try {
        reply = this.device.handle(msg);
      } catch (err) {
        if (!(err instanceof VuProtocolError)) throw err;
        this.disconnect(`vhost-user: ${err.message}`, true);
        return;
      }
      if (reply) {
        const n = native.send(this.conn.fd, reply, 0, reply.length, 0);
        if (n !== reply.length) {
          this.disconnect(`vhost-user: cannot send a reply: ${n < 0 ? errnoName(n) : `${n} of ${reply.length} bytes taken`}`, true);
          return;
        }
      }
    }
    if (events & (C.EPOLLHUP | C.EPOLLERR)) this.disconnect('the connection was closed', false);
  }

  /** The device replaced a queue's kick fd: watch the new one, close the old one. */
  private setKickFd(q: number, fd: number): void {
    const old = this.kickFds[q];
    if (old >= 0 && old !== fd) {
      this.loop.del(old);
      native.close(old);
    }
    this.kickFds[q] = fd;
    if (fd >= 0 && old !== fd) {
      native.setNonblock(fd, true);
      const rc = this.loop.add(fd, FdKind.Tap, q === TX_QUEUE ? TX_KICK : RX_KICK, C.EPOLLIN);
      if (rc < 0) this.log.warn(`vhost-user: cannot watch the kick fd of vring ${q}: ${errnoName(rc)}`);
    }
  }

  /** Kick a queue ourselves: its fd turns readable, and the loop comes back to it. */
  private selfKick(q: number): void {
    const fd = this.kickFds[q];
    if (fd < 0) return;
    this.kickBuf.writeBigUInt64LE(1n, 0);
    native.write(fd, this.kickBuf, 0, 8);
  }

  /** The device's state changed: what the halves may use now. */
  private update(): void {
    const d = this.device;
    const f = d.features;
    const out = this.output;
    const wasUsable = out.usable;
    out.usable = d.usable(RX_QUEUE);
    out.mergeable = has(f, F.MrgRxbuf);
    this.dev.setEventIdx(has(f, F.EventIdx));
    out.guestCsum = has(f, F.GuestCsum);
    out.offloads = out.guestCsum ? { tso4: has(f, F.GuestTso4), tso6: has(f, F.GuestTso6), uso: false } : NO_OFFLOADS;
    if (!out.usable && out.waiting > 0) out.reset();
    // No RX kicks wanted until frames (or direct peeks) wait for buffers.
    if (out.usable && !wasUsable) {
      this.dev.setNotify(RX_QUEUE, out.waiting > 0 || out.directWaiting);
      out.resume();
    }
    const wasStarted = this.input.started && this.input.enabled;
    this.input.started = d.queues[TX_QUEUE].started && this.dev.ready(TX_QUEUE);
    this.input.enabled = d.queues[TX_QUEUE].enabled;
    // What the guest sent before the queue could be read: read it now.
    if (this.input.started && this.input.enabled && !wasStarted) this.selfKick(TX_QUEUE);
  }

  /**
   * The native side found a ring broken, in the middle of a read or a flush
   * (a protocol handler may be building frames): stop using the queues now,
   * disconnect once the current event is done.
   */
  private broken(reason: string): void {
    this.output.usable = false;
    this.input.started = false;
    const connection = this.connections;
    setImmediate(() => {
      if (this.connections === connection) this.disconnect(reason, true);
    });
  }

  /** Close the front end's connection (if any), release what it gave us, and tell the owner why. */
  disconnect(reason: string, error = false): void {
    if (this.conn.fd < 0) return;
    this.release();
    this.hooks.onDisconnect?.(reason, error);
  }

  private release(): void {
    this.conn.release();
    this.reader?.discard();
    this.reader = null;
    this.device.reset();
    this.update();
    this.output.reset();
  }

  /** Stop: close the connection without telling the owner, and turn later ones away. */
  close(): void {
    if (this.conn.closed) return;
    this.conn.closed = true;
    if (this.conn.fd >= 0) this.release();
    else this.device.reset();
  }
}
