/**
 * Frame I/O on the tap device, in batches.
 *
 * Theory of operation: `TapIn` reads every ready frame in one native call
 * into a shared receive buffer with an offsets table; the frames are valid
 * until the next read. `TapOut` is a bump allocator over one large transmit
 * buffer: protocol code reserves room, builds a frame in place (headers from
 * templates, payload peeked straight from a socket into the slot), and
 * commits it; `flush()` hands every committed frame to the kernel in one
 * native call. The loop flushes at the end of each event batch, and a
 * reservation that does not fit flushes first. A tap device takes frames one
 * write each, so the batching saves crossings of the native boundary, not
 * syscalls. A tap made with IFF_VNET_HDR puts a virtio-net header before
 * each frame: the native read strips it; on the way out every reservation
 * keeps room for it before the frame, and `commit` fills it in — for TCP
 * segments as a partial checksum, so the payload is never summed here.
 *
 * Segmentation offload (enabled by the engine with TUNSETOFFLOAD, see
 * `Offloads`): the namespace's kernel then hands us TCP super-frames of up
 * to 64 KiB whatever its MTU, their virtio-net header (left in the receive
 * buffer before each frame) saying so, and takes such frames from us: a
 * frame committed with a GSO type and size is cut into segments of that
 * size by the namespace's kernel, so one frame carries what would have
 * been dozens at MTU 1500.
 *
 * The engine sees the two halves as a `FrameSource` (batches in) and a
 * `TapOut` (frames built in place, flushed in batches). Another transport
 * (`FrameTransport`: passt's QEMU stream, l2/qemu.ts) supplies its own
 * pair — a subclass of TapOut whose headroom holds the stream's length
 * prefix and whose flush writes the stream — and watches its own fds.
 */
import { native } from '../native.js';

/** The largest frame we ever build or accept: 65535 bytes of IP plus an Ethernet header. */
export const MAX_FRAME = 65535 + 14;

/** struct virtio_net_hdr: flags, GSO types. */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

/** TUNSETOFFLOAD flags. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;

/** The segmentation offloads in force on a tap (both ways: the device announces them, and we use them). */
export interface Offloads {
  tso4: boolean;
  tso6: boolean;
  uso: boolean;
}

export const NO_OFFLOADS: Offloads = { tso4: false, tso6: false, uso: false };

/**
 * Turn on what the kernel has of checksum, TCP and UDP segmentation offload
 * on a tap made with IFF_VNET_HDR; returns what is on. USO (Linux 6.2) is
 * tried first and left out where the kernel does not know it.
 */
export function enableOffloads(fd: number): Offloads {
  const tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  if (native.tapSetOffload(fd, tso | TUN_F_USO4 | TUN_F_USO6) === 0) return { tso4: true, tso6: true, uso: true };
  if (native.tapSetOffload(fd, tso) === 0) return { tso4: true, tso6: true, uso: false };
  return NO_OFFLOADS;
}

/** Called once per flush with every committed frame, as pairs [offset, length] (pcap capture, tests). */
export type FrameCapture = (buf: Buffer, frames: Int32Array, count: number) => void;

/**
 * Fill the virtio-net header at buf[h, h+12): a partial checksum from
 * `csumStart` (with `csumOffset`), a GSO type and size for a super-frame
 * whose headers are `hdrLen` bytes; zeros otherwise.
 */
export function writeVnetHeader(buf: Buffer, h: number, len: number, csumStart: number, csumOffset: number, gsoType: number, gsoSize: number, hdrLen: number): void {
  buf.fill(0, h, h + len);
  if (csumStart) {
    buf[h] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    buf.writeUInt16LE(csumStart, h + 6);
    buf.writeUInt16LE(csumOffset, h + 8);
  }
  if (gsoType) {
    buf[h + 1] = gsoType;
    buf.writeUInt16LE(hdrLen, h + 2);
    buf.writeUInt16LE(gsoSize, h + 4);
  }
}

/** Where a protocol handler commits a frame it built: TapOut, or a DirectRx's headers. */
export interface FrameSink {
  /** Whether frames carry partial layer-4 checksums (filled in by whoever gets them). */
  readonly checksumOffload: boolean;
  /** As TapOut.commit. */
  commit(off: number, len: number, csumStart?: number, csumOffset?: number, gsoType?: number, gsoSize?: number, hdrLen?: number): void;
}

/**
 * TCP data peeked from a socket straight into the guest's own receive
 * buffers (passt --vhost-user; see doc/design.md, "vhost-user"), not into
 * TapOut's buffer to be copied once more. `peek` reads into as many frames
 * as the guest's buffers and `maxBytes` allow, each with room for its
 * headers; the caller then builds each filled frame's headers in `buf` at
 * `frameOffset(i)` and commits it (FrameSink.commit, with the frame's
 * whole length: headers and `lens[i]` bytes of payload), in order, and
 * calls `finish` to put the headers in place and hand the frames over.
 */
export interface DirectRx extends FrameSink {
  /** Where the headers are built. */
  readonly buf: Buffer;
  /** Payload bytes of each frame the last peek filled. */
  readonly lens: Int32Array;
  /** Frames the last peek filled. */
  readonly count: number;
  /**
   * Why the last peek could take less than `maxBytes`: 0, a limit of its
   * own (peek again) or it could take it all; 1, the guest has no buffer
   * left (`wait`); 2, the guest's next buffer is one only TapOut's way
   * takes (its frames are copied into whatever the buffers are).
   */
  readonly short: number;
  /** Payload bytes the last peek's frames could take (more than it read: the socket has no more). */
  readonly capacity: number;
  /** What to call when the guest posts buffers after `wait`. */
  onBuffers: (() => void) | null;
  /** Ask to be told (onBuffers) when the guest posts buffers; false if it already has: peek again. */
  wait(): boolean;
  /**
   * Peek up to `maxBytes` of the stream socket `fd` (after `discard` bytes
   * already sent) into frames of up to `frameLen` payload bytes after
   * `frameHdrLen` bytes of headers. Bytes read, 0 at end of file, or
   * -errno: -EAGAIN nothing new, -ENOBUFS no buffer of the guest's to
   * read into now (use TapOut: the frames wait there for buffers).
   */
  peek(fd: number, discard: number, frameHdrLen: number, frameLen: number, maxBytes: number): number;
  /** Offset in `buf` of frame i's headers (Ethernet first). */
  frameOffset(i: number): number;
  /** Hand the frames of the last peek to the guest, with the headers committed. */
  finish(): void;
}

export class TapOut implements FrameSink {
  readonly buf: Buffer;
  // Protected, not private: the QEMU stream (l2/qemu.ts) reuses the allocator and replaces flush().
  protected readonly frames: Int32Array;
  protected count = 0;
  protected cursor = 0;
  /** Segmentation offloads the device takes from us (set by the engine, see enableOffloads). */
  offloads: Offloads = NO_OFFLOADS;
  /** Frames handed to the kernel, and frames it refused. */
  framesOut = 0;
  bytesOut = 0;
  dropped = 0;

  constructor(
    protected fd: number,
    /** Length of the virtio-net header the tap expects before each frame (0: none). */
    protected readonly vnetHdrLen = 0,
    size = 8 << 20,
    protected readonly maxFrames = 512,
    /** Called once per flush with every committed frame (pcap capture, tests). */
    protected readonly tap?: FrameCapture,
  ) {
    this.buf = Buffer.alloc(size);
    this.frames = new Int32Array(2 * maxFrames);
  }

  /** Space left without flushing. */
  get room(): number {
    return this.count >= this.maxFrames ? 0 : this.buf.length - this.cursor - this.vnetHdrLen;
  }

  /** Whether frames can carry partial layer-4 checksums (a tap with virtio-net headers). */
  get checksumOffload(): boolean {
    return this.vnetHdrLen > 0;
  }

  /** Bytes kept free before every frame for its virtio-net header. */
  get headroom(): number {
    return this.vnetHdrLen;
  }

  reserve(maxLen: number): number {
    if (this.count >= this.maxFrames || this.cursor + this.vnetHdrLen + maxLen > this.buf.length) this.flush();
    return this.cursor + this.vnetHdrLen;
  }

  /**
   * Commit the frame at `off`. With `csumStart` (offset of the layer-4
   * header in the frame) and `csumOffset` (of its checksum field), the
   * frame's layer-4 checksum field holds only the pseudo-header sum and the
   * virtio-net header asks the kernel to treat it as a partial checksum.
   * With `gsoType` and `gsoSize` (and `hdrLen`, the length of every header
   * up to the payload) the frame is a super-frame the kernel cuts into
   * segments of `gsoSize` payload bytes (see `offloads`).
   */
  commit(off: number, len: number, csumStart = 0, csumOffset = 0, gsoType = 0, gsoSize = 0, hdrLen = 0): void {
    // A reservation for many frames may outgrow the frame table: write what is
    // queued; this frame (and whatever follows it in the buffer) stays where it is.
    if (this.count >= this.maxFrames) this.flush();
    const v = this.vnetHdrLen;
    if (v) writeVnetHeader(this.buf, off - v, v, csumStart, csumOffset, gsoType, gsoSize, hdrLen);
    this.frames[2 * this.count] = off;
    this.frames[2 * this.count + 1] = len;
    this.count++;
    this.cursor = (off + len + 7) & ~7;
  }

  /**
   * Where TCP data for the guest can be peeked straight into the guest's
   * buffers right now, after the frames committed so far have gone (frames
   * stay in order); null to build frames here (the default: a tap, the
   * QEMU stream).
   */
  direct(): DirectRx | null {
    return null;
  }

  /** Number of committed frames not yet written. */
  get pending(): number {
    return this.count;
  }

  /**
   * For a flush(): the number of frames committed since the last one (in
   * `frames`), once the capture (--pcap) has seen them; the table and the
   * buffer start again from empty, so the caller must be done with them
   * before it commits anything.
   */
  protected takeBatch(): number {
    const count = this.count;
    this.cursor = 0;
    if (count === 0) return 0;
    if (this.tap) this.tap(this.buf, this.frames, count);
    this.count = 0;
    return count;
  }

  /** Write every committed frame to the tap. Frames the kernel refuses are dropped (TCP retransmits). */
  flush(): void {
    const count = this.takeBatch();
    let done = 0;
    while (done < count) {
      const n = native.tapWrite(this.fd, this.buf, done === 0 ? this.frames : this.frames.subarray(2 * done), count - done, this.vnetHdrLen);
      if (n < 0) {
        // The namespace is not keeping up (EAGAIN, ENOBUFS) or anything else: drop this frame, keep the rest.
        this.dropped++;
        done++;
        continue;
      }
      for (let i = done; i < done + n; i++) this.bytesOut += this.frames[2 * i + 1];
      this.framesOut += n;
      done += n;
      if (n === 0) {
        this.dropped += count - done;
        break;
      }
    }
  }
}

/** Frames from the guest, a batch per read: what the engine reads. */
export interface FrameSource {
  /** Receive buffer; the frames of the last read are valid until the next read. */
  readonly buf: Buffer;
  /** Length of the virtio-net header left in `buf` before each frame (0: none). */
  readonly vnetHdrLen: number;
  /** Pairs [offset, length] of the frames of the last read. */
  readonly frames: Int32Array;
  framesIn: number;
  bytesIn: number;
  /** Read a batch; returns the frame count (0 if none), or -errno. */
  read(): number;
}

/**
 * A way to the guest other than a tap device (passt's QEMU stream socket,
 * l2/qemu.ts). The engine reads frames from `input` and writes them through
 * `output` exactly as it does with a tap; the transport watches its own fds
 * on the engine's loop as FdKind.Tap, and their events come to `events`
 * first.
 */
export interface FrameTransport {
  readonly input: FrameSource;
  readonly output: TapOut;
  /** Events of an fd the transport watches; returns true when frames may be waiting in `input`. */
  events(index: number, events: number): boolean;
  /** Stop watching and release the transport's fds. */
  close(): void;
}

const TAP_IN_SIZE = 4 << 20;
const TAP_IN_FRAMES = 256;
/** The receive buffer every TapIn of the default size shares in this process (see TapIn). */
let sharedIn: { buf: Buffer; frames: Int32Array } | null = null;

/**
 * A tap's receive side: batches of frames read into one buffer. A batch is
 * handled whole before the next read (the engine writes what points into
 * it before reading again, and keeps no view of it), and a process runs one
 * handler at a time, so every TapIn of the default size in a process — the
 * namespaces of createPasta() in one program, of the shared engine
 * (src/cli/shared.ts) — reads into the same 4 MiB, which a busy namespace
 * would otherwise touch whole for itself.
 */
export class TapIn implements FrameSource {
  readonly buf: Buffer;
  readonly frames: Int32Array;
  framesIn = 0;
  bytesIn = 0;

  constructor(
    private fd: number,
    /** Length of the virtio-net header before each frame the tap gives us (0: none). */
    readonly vnetHdrLen = 0,
    size = TAP_IN_SIZE,
    private readonly maxFrames = TAP_IN_FRAMES,
  ) {
    if (size === TAP_IN_SIZE && maxFrames === TAP_IN_FRAMES) {
      sharedIn ??= { buf: Buffer.alloc(size), frames: new Int32Array(2 * maxFrames) };
      this.buf = sharedIn.buf;
      this.frames = sharedIn.frames;
    } else {
      this.buf = Buffer.alloc(size);
      this.frames = new Int32Array(2 * maxFrames);
    }
  }

  /** Read a batch; returns the frame count (0 if none), or -errno. */
  read(): number {
    const n = native.tapRead(this.fd, this.buf, this.frames, this.maxFrames, this.vnetHdrLen);
    if (n > 0) {
      this.framesIn += n;
      for (let i = 0; i < n; i++) this.bytesIn += this.frames[2 * i + 1];
    }
    return n;
  }
}

/** Frames written to no link: counted as dropped (see {@link NullTransport}). */
class DiscardingTapOut extends TapOut {
  override flush(): void {
    this.dropped += this.count;
    this.count = 0;
    this.cursor = 0;
  }
}

/**
 * No link at all: pasta --splice-only makes no tap device, and only
 * loopback traffic is forwarded, socket to socket. Nothing is ever read;
 * a frame written (none should be) is counted as dropped.
 */
export class NullTransport implements FrameTransport {
  readonly input: FrameSource = { buf: Buffer.alloc(0), vnetHdrLen: 0, frames: new Int32Array(0), framesIn: 0, bytesIn: 0, read: () => 0 };
  readonly output: TapOut = new DiscardingTapOut(-1, 0, 256 << 10, 16);

  events(): boolean {
    return false;
  }

  close(): void {}
}
