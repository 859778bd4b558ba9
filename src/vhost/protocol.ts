/**
 * The vhost-user protocol's messages, as QEMU (the front end) sends them on
 * passt's UNIX domain socket and as we answer: request numbers, feature
 * bits, the reader that frames messages off the socket with the file
 * descriptors passed along, payload decoders and reply encoders. Pure, but
 * for the reader's two syscalls (`VuIo`), so tests feed it literal bytes.
 *
 * Theory of operation: a message is a 12-byte header — request, flags
 * (version 1 in the low two bits, REPLY 0x4, NEED_REPLY 0x8), payload size,
 * all little-endian u32 — followed by the payload, with any file
 * descriptors (memory regions, eventfds) attached to its first bytes as
 * SCM_RIGHTS. The reader takes the header with its own recvmsg(2), so that
 * descriptors are never attributed to another message (the kernel stops a
 * read after the bytes that carried descriptors), then the payload; either
 * may arrive in pieces, and the reader waits for the rest. A header with
 * another version or a payload larger than any request has (264 bytes: a
 * memory table of 8 regions) means the stream cannot be trusted: that is a
 * `VuProtocolError`, and the owner disconnects the front end; so is a
 * payload whose size does not fit its request, or the wrong number of
 * descriptors, found by the decoders. Descriptors of a message that is not
 * used are closed by the owner, never leaked.
 */
import { E, errnoName } from '../native.js';

/** Requests from the front end (vhost-user specification, "Front-end message types"). */
export const enum Req {
  GetFeatures = 1,
  SetFeatures = 2,
  SetOwner = 3,
  ResetOwner = 4,
  SetMemTable = 5,
  SetLogBase = 6,
  SetLogFd = 7,
  SetVringNum = 8,
  SetVringAddr = 9,
  SetVringBase = 10,
  GetVringBase = 11,
  SetVringKick = 12,
  SetVringCall = 13,
  SetVringErr = 14,
  GetProtocolFeatures = 15,
  SetProtocolFeatures = 16,
  GetQueueNum = 17,
  SetVringEnable = 18,
  SendRarp = 19,
  NetSetMtu = 20,
  SetBackendReqFd = 21,
  IotlbMsg = 22,
  SetVringEndian = 23,
  GetConfig = 24,
  SetConfig = 25,
  ResetDevice = 34,
  GetMaxMemSlots = 36,
  AddMemReg = 37,
  RemMemReg = 38,
  SetStatus = 39,
  GetStatus = 40,
}

const NAMES: Record<number, string> = {
  1: 'GET_FEATURES', 2: 'SET_FEATURES', 3: 'SET_OWNER', 4: 'RESET_OWNER', 5: 'SET_MEM_TABLE', 6: 'SET_LOG_BASE',
  7: 'SET_LOG_FD', 8: 'SET_VRING_NUM', 9: 'SET_VRING_ADDR', 10: 'SET_VRING_BASE', 11: 'GET_VRING_BASE',
  12: 'SET_VRING_KICK', 13: 'SET_VRING_CALL', 14: 'SET_VRING_ERR', 15: 'GET_PROTOCOL_FEATURES',
  16: 'SET_PROTOCOL_FEATURES', 17: 'GET_QUEUE_NUM', 18: 'SET_VRING_ENABLE', 19: 'SEND_RARP', 20: 'NET_SET_MTU',
  21: 'SET_BACKEND_REQ_FD', 22: 'IOTLB_MSG', 23: 'SET_VRING_ENDIAN', 24: 'GET_CONFIG', 25: 'SET_CONFIG',
  26: 'CREATE_CRYPTO_SESSION', 27: 'CLOSE_CRYPTO_SESSION', 28: 'POSTCOPY_ADVISE', 29: 'POSTCOPY_LISTEN',
  30: 'POSTCOPY_END', 31: 'GET_INFLIGHT_FD', 32: 'SET_INFLIGHT_FD', 33: 'GPU_SET_SOCKET', 34: 'RESET_DEVICE',
  35: 'VRING_KICK', 36: 'GET_MAX_MEM_SLOTS', 37: 'ADD_MEM_REG', 38: 'REM_MEM_REG', 39: 'SET_STATUS',
  40: 'GET_STATUS', 41: 'GET_SHARED_OBJECT', 42: 'SET_DEVICE_STATE_FD', 43: 'CHECK_DEVICE_STATE',
};

/** "SET_MEM_TABLE (5)", or "request 99" for one the specification does not name. */
export function requestName(request: number): string {
  const name = NAMES[request];
  return name ? `VHOST_USER_${name} (${request})` : `request ${request}`;
}

/** Header fields. */
export const HDR_LEN = 12;
export const VERSION = 1;
export const VERSION_MASK = 0x3;
export const FLAG_REPLY = 0x4;
export const FLAG_NEED_REPLY = 0x8;
/** At most this many memory regions in SET_MEM_TABLE (VHOST_MEMORY_BASELINE_NREGIONS). */
export const MAX_REGIONS = 8;
/** The largest payload of any request we take: a memory table of MAX_REGIONS regions. */
export const MAX_PAYLOAD = 8 + 32 * MAX_REGIONS;
/** Most fds a message carries (a memory table's). */
export const MAX_FDS = MAX_REGIONS;

/** The vring index in SET_VRING_KICK/CALL/ERR's u64, and the "no fd: polling" flag. */
export const VRING_IDX_MASK = 0xff;
export const VRING_NOFD = 0x100;

/** Virtio feature bits (virtio 1.2 §5.1.3, §6). */
export const enum F {
  Csum = 0,
  GuestCsum = 1,
  GuestTso4 = 7,
  GuestTso6 = 8,
  GuestEcn = 9,
  GuestUfo = 10,
  HostTso4 = 11,
  HostTso6 = 12,
  HostEcn = 13,
  HostUfo = 14,
  MrgRxbuf = 15,
  NotifyOnEmpty = 24,
  AnyLayout = 27,
  IndirectDesc = 28,
  EventIdx = 29,
  /** vhost-user: the protocol feature negotiation (and rings start disabled). */
  ProtocolFeatures = 30,
  /** vhost: dirty page logging (live migration). */
  LogAll = 26,
  Version1 = 32,
}

/** vhost-user protocol feature bits. */
export const enum PF {
  Mq = 0,
  LogShmfd = 1,
  Rarp = 2,
  ReplyAck = 3,
  NetMtu = 4,
  BackendReq = 5,
  Config = 9,
  ConfigureMemSlots = 15,
  Status = 16,
  DeviceState = 19,
}

export const bit = (n: number): bigint => 1n << BigInt(n);
export const has = (features: bigint, n: number): boolean => (features & bit(n)) !== 0n;

/**
 * The virtio-net features we offer: VERSION_1 (we take no legacy device),
 * checksum offload both ways (CSUM: the guest may hand us partial checksums;
 * GUEST_CSUM: we may hand it some), TCP segmentation offload both ways
 * (HOST_TSO4/6: the guest sends super-frames of up to 64 KiB, GUEST_TSO4/6:
 * we send them, the guest's stack takes them whole), mergeable receive
 * buffers, indirect descriptors, EVENT_IDX (the guest says after which
 * used entry it wants an interrupt, we after which available entry we want
 * a kick: native/vhost.cc), and the protocol features. Not
 * VHOST_F_LOG_ALL: there is no live migration here.
 */
export const OFFERED_FEATURES =
  bit(F.Version1) | bit(F.Csum) | bit(F.GuestCsum) | bit(F.GuestTso4) | bit(F.GuestTso6) | bit(F.HostTso4) | bit(F.HostTso6) |
  bit(F.MrgRxbuf) | bit(F.IndirectDesc) | bit(F.EventIdx) | bit(F.ProtocolFeatures);

/** Protocol features offered: REPLY_ACK only (no multiqueue, no migration, no configuration space). */
export const OFFERED_PROTOCOL_FEATURES = bit(PF.ReplyAck);

/** The names of the feature bits set in `features`, for the log. */
export function featureNames(features: bigint): string {
  const names: Record<number, string> = {
    0: 'CSUM', 1: 'GUEST_CSUM', 7: 'GUEST_TSO4', 8: 'GUEST_TSO6', 9: 'GUEST_ECN', 10: 'GUEST_UFO', 11: 'HOST_TSO4',
    12: 'HOST_TSO6', 13: 'HOST_ECN', 14: 'HOST_UFO', 15: 'MRG_RXBUF', 24: 'NOTIFY_ON_EMPTY', 26: 'LOG_ALL',
    27: 'ANY_LAYOUT', 28: 'INDIRECT_DESC', 29: 'EVENT_IDX', 30: 'PROTOCOL_FEATURES', 32: 'VERSION_1',
  };
  const out: string[] = [];
  for (let i = 0; i < 64; i++) if (has(features, i)) out.push(names[i] ?? `bit ${i}`);
  return out.join(' ') || 'none';
}

/** The front end broke the protocol: the connection must go. */
export class VuProtocolError extends Error {}

/** One message: its header, a copy of its payload, and the fds that came with it (ours to close). */
export interface VuMessage {
  request: number;
  flags: number;
  size: number;
  payload: Buffer;
  fds: number[];
}

/** The two syscalls of the reader; tests give their own. */
export interface VuIo {
  /** recvmsg(2) into buf[off, off+len): bytes, 0 at end of file, or -errno; fds[0] = count, fds[1..] the fds. */
  recv(fd: number, buf: Buffer, off: number, len: number, fds: Int32Array): number;
}

/**
 * Frames messages off the socket. `read()` returns the next whole message,
 * `null` when more bytes are needed (wait for EPOLLIN), or 'eof'; it throws
 * `VuProtocolError` when the stream cannot be trusted (and the fds received
 * so far are closed by `discard()`, which the owner calls on disconnect).
 */
export class MessageReader {
  private readonly buf = Buffer.alloc(HDR_LEN + MAX_PAYLOAD);
  private readonly fdBuf = new Int32Array(1 + MAX_FDS + 1);
  private got = 0;
  private fds: number[] = [];

  constructor(
    private readonly fd: number,
    private readonly io: VuIo,
    private readonly closeFd: (fd: number) => void,
  ) {}

  read(): VuMessage | null | 'eof' {
    for (;;) {
      const need = this.got < HDR_LEN ? HDR_LEN : HDR_LEN + this.buf.readUInt32LE(8);
      if (this.got === need) return this.take();
      const n = this.io.recv(this.fd, this.buf, this.got, need - this.got, this.fdBuf);
      for (let i = 0; i < this.fdBuf[0]; i++) this.fds.push(this.fdBuf[1 + i]);
      if (n === -E.EAGAIN || n === -E.EINTR) return null;
      if (n === -E.EMSGSIZE) throw new VuProtocolError(`more than ${MAX_FDS} file descriptors with one message`);
      if (n < 0) throw new VuProtocolError(`receive: ${errnoName(n)}`);
      if (n === 0) {
        if (this.got > 0) throw new VuProtocolError(`end of file in the middle of a message (${this.got} bytes of it)`);
        return 'eof';
      }
      if (this.got < HDR_LEN && this.got + n >= HDR_LEN) {
        this.got += n;
        checkHeader(this.buf);
        continue;
      }
      this.got += n;
    }
  }

  private take(): VuMessage {
    const size = this.buf.readUInt32LE(8);
    const msg: VuMessage = {
      request: this.buf.readUInt32LE(0),
      flags: this.buf.readUInt32LE(4),
      size,
      payload: Buffer.from(this.buf.subarray(HDR_LEN, HDR_LEN + size)),
      fds: this.fds,
    };
    this.fds = [];
    this.got = 0;
    return msg;
  }

  /** Close the fds of a message not yet complete (on disconnect). */
  discard(): void {
    for (const fd of this.fds) this.closeFd(fd);
    this.fds = [];
    this.got = 0;
  }
}

/** A header we cannot go on from: another protocol version, or a payload larger than any request's. */
export function checkHeader(hdr: Buffer): void {
  const request = hdr.readUInt32LE(0);
  const flags = hdr.readUInt32LE(4);
  const size = hdr.readUInt32LE(8);
  if ((flags & VERSION_MASK) !== VERSION) throw new VuProtocolError(`${requestName(request)}: protocol version ${flags & VERSION_MASK}, not ${VERSION} (flags 0x${flags.toString(16)})`);
  if (size > MAX_PAYLOAD) throw new VuProtocolError(`${requestName(request)}: a payload of ${size} bytes (at most ${MAX_PAYLOAD})`);
}

function expectSize(msg: VuMessage, size: number): void {
  if (msg.size !== size) throw new VuProtocolError(`${requestName(msg.request)}: a payload of ${msg.size} bytes, not ${size}`);
}

function expectFds(msg: VuMessage, count: number): void {
  if (msg.fds.length !== count) throw new VuProtocolError(`${requestName(msg.request)}: ${msg.fds.length} file descriptors, not ${count}`);
}

/** A u64 payload (features, SET_VRING_KICK/CALL/ERR's index and flag). */
export function decodeU64(msg: VuMessage): bigint {
  expectSize(msg, 8);
  return msg.payload.readBigUInt64LE(0);
}

/** struct vhost_vring_state: a vring index and a number; the index must name one of our two queues. */
export function decodeState(msg: VuMessage): { index: number; num: number } {
  expectSize(msg, 8);
  const index = msg.payload.readUInt32LE(0);
  if (index > 1) throw new VuProtocolError(`${requestName(msg.request)}: vring ${index} (there are 2: RX 0, TX 1)`);
  return { index, num: msg.payload.readUInt32LE(4) };
}

/** struct vhost_vring_addr (QEMU's virtual addresses of a ring's three parts). */
export interface VringAddr {
  index: number;
  flags: number;
  desc: bigint;
  used: bigint;
  avail: bigint;
  log: bigint;
}

export function decodeAddr(msg: VuMessage): VringAddr {
  expectSize(msg, 40);
  const p = msg.payload;
  const index = p.readUInt32LE(0);
  if (index > 1) throw new VuProtocolError(`${requestName(msg.request)}: vring ${index} (there are 2: RX 0, TX 1)`);
  return { index, flags: p.readUInt32LE(4), desc: p.readBigUInt64LE(8), used: p.readBigUInt64LE(16), avail: p.readBigUInt64LE(24), log: p.readBigUInt64LE(32) };
}

/** SET_VRING_KICK, CALL and ERR: the queue, and the fd (or -1 with the "no fd" flag). Extra fds are a protocol error. */
export function decodeVringFd(msg: VuMessage): { index: number; fd: number } {
  const v = decodeU64(msg);
  const index = Number(v & BigInt(VRING_IDX_MASK));
  if (index > 1) throw new VuProtocolError(`${requestName(msg.request)}: vring ${index} (there are 2: RX 0, TX 1)`);
  if (v & ~BigInt(VRING_IDX_MASK | VRING_NOFD)) throw new VuProtocolError(`${requestName(msg.request)}: unknown flags in 0x${v.toString(16)}`);
  const nofd = (v & BigInt(VRING_NOFD)) !== 0n;
  expectFds(msg, nofd ? 0 : 1);
  return { index, fd: nofd ? -1 : msg.fds[0] };
}

/** One region of SET_MEM_TABLE. */
export interface MemRegion {
  gpa: bigint;
  size: bigint;
  qva: bigint;
  mmapOffset: bigint;
}

/** struct vhost_user_memory: 1 to 8 regions, one fd each, in order. */
export function decodeMemTable(msg: VuMessage): MemRegion[] {
  if (msg.size < 8) throw new VuProtocolError(`${requestName(msg.request)}: a payload of ${msg.size} bytes`);
  const n = msg.payload.readUInt32LE(0);
  if (n < 1 || n > MAX_REGIONS) throw new VuProtocolError(`${requestName(msg.request)}: ${n} memory regions (1 to ${MAX_REGIONS})`);
  // QEMU sends the whole array of MAX_REGIONS; the regions used must be there at least.
  if (msg.size < 8 + 32 * n) throw new VuProtocolError(`${requestName(msg.request)}: ${n} regions in a payload of ${msg.size} bytes`);
  expectFds(msg, n);
  const out: MemRegion[] = [];
  for (let i = 0; i < n; i++) {
    const o = 8 + 32 * i;
    const r = { gpa: msg.payload.readBigUInt64LE(o), size: msg.payload.readBigUInt64LE(o + 8), qva: msg.payload.readBigUInt64LE(o + 16), mmapOffset: msg.payload.readBigUInt64LE(o + 24) };
    if (r.size === 0n) throw new VuProtocolError(`${requestName(msg.request)}: region ${i} is empty`);
    out.push(r);
  }
  return out;
}

/** A reply: the request's number, version 1 and REPLY, and the payload. */
export function encodeReply(request: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(HDR_LEN + payload.length);
  b.writeUInt32LE(request, 0);
  b.writeUInt32LE(VERSION | FLAG_REPLY, 4);
  b.writeUInt32LE(payload.length, 8);
  payload.copy(b, HDR_LEN);
  return b;
}

export function replyU64(request: number, value: bigint): Buffer {
  const p = Buffer.alloc(8);
  p.writeBigUInt64LE(value, 0);
  return encodeReply(request, p);
}

export function replyState(request: number, index: number, num: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32LE(index, 0);
  p.writeUInt32LE(num, 4);
  return encodeReply(request, p);
}

/** A request as the front end sends it (tests, and the fake front end in them). */
export function encodeRequest(request: number, payload: Buffer = Buffer.alloc(0), flags = VERSION): Buffer {
  const b = Buffer.alloc(HDR_LEN + payload.length);
  b.writeUInt32LE(request, 0);
  b.writeUInt32LE(flags, 4);
  b.writeUInt32LE(payload.length, 8);
  payload.copy(b, HDR_LEN);
  return b;
}
