/**
 * A run: consecutive frames of one flow from one batch, as the protocol
 * handlers take them.
 *
 * Theory of operation, as passt's tap4_handler()/tap6_handler(): the tap
 * dispatcher (tap.ts) walks a batch of guest frames once and gathers the
 * frames that belong to the same flow — same protocol, IP version,
 * addresses and ports — into a `FrameRun`, in their order, whatever other
 * frames come between them; at the end of the batch it hands each run to
 * its handler in one call. The handler looks its flow up once per run, and
 * writes the run's payload to the flow's socket with one call (TCP: one
 * sendmsg; UDP: one sendmmsg). The frames stay in the reader's buffer; the
 * run only records where each one's IP and layer-4 headers are. A run is
 * capped at `RUN_MAX` frames; more frames of the flow go to another run.
 */

/** Most frames in one run. */
export const RUN_MAX = 256;

export class FrameRun {
  /** The buffer all the run's frames are in. */
  buf: Buffer = Buffer.alloc(0);
  family: 4 | 6 = 4;
  /** IP protocol of the layer-4 headers (TCP or UDP). */
  protocol = 0;
  /** flowHash() of the run's flow identity (see flow.ts). */
  hash = 0;
  /** Offset of the first frame's source address: guest then remote address, contiguous. */
  addrOff = 0;
  /** The guest's and the remote's port, from the first frame. */
  guestPort = 0;
  remotePort = 0;
  /** Frames in the run. */
  count = 0;
  /** Per frame: offset of the IP header, of the layer-4 header, and the layer-4 length (to the end of the IP payload). */
  readonly ipOff = new Int32Array(RUN_MAX);
  readonly l4Off = new Int32Array(RUN_MAX);
  readonly l4Len = new Int32Array(RUN_MAX);
  /** Per frame: the payload size of a UDP super-datagram's segments (USO), or 0 for a plain frame. */
  readonly gsoSize = new Int32Array(RUN_MAX);

  /** Start a run of one frame. */
  start(buf: Buffer, family: 4 | 6, protocol: number, hash: number, ipOff: number, l4Off: number, l4Len: number, gsoSize = 0): void {
    this.buf = buf;
    this.family = family;
    this.protocol = protocol;
    this.hash = hash;
    this.addrOff = ipOff + (family === 4 ? 12 : 8);
    this.guestPort = (buf[l4Off] << 8) | buf[l4Off + 1];
    this.remotePort = (buf[l4Off + 2] << 8) | buf[l4Off + 3];
    this.ipOff[0] = ipOff;
    this.l4Off[0] = l4Off;
    this.l4Len[0] = l4Len;
    this.gsoSize[0] = gsoSize;
    this.count = 1;
  }

  /**
   * Whether the frame with these headers (in this run's buffer) belongs to
   * the run's flow: same protocol, version, hash, ports and addresses.
   */
  matches(family: 4 | 6, protocol: number, hash: number, ipOff: number, l4Off: number): boolean {
    if (this.count === 0 || this.count >= RUN_MAX || hash !== this.hash || protocol !== this.protocol || family !== this.family) return false;
    const buf = this.buf;
    if (((buf[l4Off] << 8) | buf[l4Off + 1]) !== this.guestPort || ((buf[l4Off + 2] << 8) | buf[l4Off + 3]) !== this.remotePort) return false;
    const a = ipOff + (family === 4 ? 12 : 8);
    const n = family === 4 ? 8 : 32;
    for (let i = 0; i < n; i++) if (buf[a + i] !== buf[this.addrOff + i]) return false;
    return true;
  }

  /** Add a frame of the same flow (see matches()). */
  push(ipOff: number, l4Off: number, l4Len: number, gsoSize = 0): void {
    const i = this.count++;
    this.ipOff[i] = ipOff;
    this.l4Off[i] = l4Off;
    this.l4Len[i] = l4Len;
    this.gsoSize[i] = gsoSize;
  }
}
