/**
 * Packet capture (`--pcap FILE`): every frame to and from the guest, in the
 * classic pcap format that tcpdump(8) and Wireshark read.
 *
 * Theory of operation: the file starts with the pcap global header
 * (microsecond timestamps, native byte order, link type Ethernet, snapshot
 * length 65535) and then holds one record per frame: a 16-byte header
 * (seconds, microseconds, captured length, original length) followed by the
 * frame. Frames arrive in batches, as the engine reads and writes them
 * (pairs [offset, length] into one buffer); a batch becomes one write(2)
 * from a staging buffer, so capturing costs one copy and one syscall per
 * batch, and nothing at all when it is off. Frames are captured whole.
 *
 * Frames to a tap device with checksum offload (pasta) carry partial TCP
 * and UDP checksums, completed later by the kernel; the capture shows them
 * as they were handed over. Frames to a QEMU guest carry full checksums.
 * A failing write (disk full) is reported once and capture stops: it must
 * never stop translation.
 */
import { M } from '../messages.js';
import fs from 'node:fs';
import { MAX_FRAME } from './tapio.js';
import { native } from '../native.js';

/** pcap's magic number for microsecond timestamps. */
export const PCAP_MAGIC = 0xa1b2c3d4;
/** LINKTYPE_ETHERNET. */
export const PCAP_LINKTYPE_ETHERNET = 1;
/** The snapshot length in the header: the largest frame, so none is cut. */
export const PCAP_SNAPLEN = MAX_FRAME;

const GLOBAL_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;

/** The 24-byte global header of a pcap file (little-endian). */
export function pcapGlobalHeader(): Buffer {
  const h = Buffer.alloc(GLOBAL_HEADER_LEN);
  h.writeUInt32LE(PCAP_MAGIC, 0);
  h.writeUInt16LE(2, 4); // version 2.4
  h.writeUInt16LE(4, 6);
  h.writeInt32LE(0, 8); // thiszone
  h.writeUInt32LE(0, 12); // sigfigs
  h.writeUInt32LE(PCAP_SNAPLEN, 16);
  h.writeUInt32LE(PCAP_LINKTYPE_ETHERNET, 20);
  return h;
}

export class PcapWriter {
  private fd: number;
  private staging = Buffer.alloc(1 << 20);
  /** Frames written to the file. */
  frames = 0;
  private failed = false;

  /**
   * Create (or truncate) `file` and write the global header. Throws with
   * the file name on failure. `clock` gives the wall-clock time in
   * milliseconds (injected for tests); `onError` hears about the first
   * failed write, after which capture stops.
   */
  constructor(
    readonly file: string,
    private readonly clock: () => number = Date.now,
    private readonly onError: (message: string) => void = () => {},
  ) {
    try {
      this.fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
      fs.writeSync(this.fd, pcapGlobalHeader());
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new Error(M.pcapOpen(file, typeof e.errno === 'number' ? native.strerror(e.errno) : e.message));
    }
  }

  /** Append `count` frames of `buf`, given as pairs [offset, length] in `frames`, with one timestamp. */
  write(buf: Buffer, frames: Int32Array, count: number): void {
    if (this.failed || this.fd < 0 || count <= 0) return;
    const ms = this.clock();
    const sec = Math.floor(ms / 1000);
    const usec = Math.floor((ms - sec * 1000) * 1000);
    let need = 0;
    for (let i = 0; i < count; i++) need += RECORD_HEADER_LEN + Math.min(frames[2 * i + 1], PCAP_SNAPLEN);
    if (need > this.staging.length) this.staging = Buffer.alloc(Math.max(need, 2 * this.staging.length));
    const s = this.staging;
    let p = 0;
    for (let i = 0; i < count; i++) {
      const off = frames[2 * i];
      const len = frames[2 * i + 1];
      const caplen = Math.min(len, PCAP_SNAPLEN);
      s.writeUInt32LE(sec, p);
      s.writeUInt32LE(usec, p + 4);
      s.writeUInt32LE(caplen, p + 8);
      s.writeUInt32LE(len, p + 12);
      buf.copy(s, p + RECORD_HEADER_LEN, off, off + caplen);
      p += RECORD_HEADER_LEN + caplen;
    }
    try {
      let done = 0;
      while (done < p) done += fs.writeSync(this.fd, s, done, p - done);
      this.frames += count;
    } catch (err) {
      this.failed = true;
      this.onError(`pcap file ${this.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; capture stopped`);
    }
  }

  /** Close the file. Idempotent. */
  close(): void {
    if (this.fd < 0) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // Nothing left to do about it.
    }
    this.fd = -1;
  }
}
