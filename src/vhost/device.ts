/**
 * A vhost-user virtio-net device as the front end (QEMU) sees it: the
 * answers to its messages, and the state they set up — features, the
 * guest's memory, the two virtqueues (RX 0, TX 1) with their kick, call and
 * error eventfds.
 *
 * Theory of operation: `handle()` takes one message (protocol.ts), acts on
 * it and returns the reply to send, if any; the memory regions and rings go
 * to the native device (native/vhost.cc), which maps them and moves frames
 * through them. A queue carries frames once it is *started* (its kick fd
 * was set: the front end set it up) and *enabled* (SET_VRING_ENABLE, or at
 * once when protocol features were not negotiated), and its rings lie in
 * guest memory; GET_VRING_BASE (the guest reset its device, or the front
 * end stops) stops it again, and the front end sets it up anew after that.
 * Every fd that comes with a message is either kept (kick fds go to the
 * owner, who watches them; call fds to the native device; memory fds are
 * closed once mapped) or closed at once, also when the message is refused.
 * A message that breaks the protocol — a size or fd count that does not fit
 * its request, a ring outside guest memory, a request we never offered or
 * do not know — throws `VuProtocolError`: the owner disconnects the front
 * end (a later one is served), as upstream's passt dies on the same input.
 */
import type { VuDevice } from '../native.js';
import { E } from '../native.js';
import type { Logger } from '../log.js';
import {
  F, FLAG_NEED_REPLY, OFFERED_FEATURES, OFFERED_PROTOCOL_FEATURES, Req, VuProtocolError, decodeAddr, decodeMemTable, decodeState,
  decodeU64, decodeVringFd, featureNames, has, replyState, replyU64, requestName, type VuMessage,
} from './protocol.js';

export const RX_QUEUE = 0;
export const TX_QUEUE = 1;

/** What the device tells its owner (the transport). */
export interface DeviceHooks {
  /** A queue's kick eventfd is now `fd` (-1: none). The owner watches it, and closes the one it replaces. */
  onKickFd(queue: number, fd: number): void;
  /** A queue started or stopped, was enabled or disabled, or the features changed: what the owner can use may differ. */
  onChange(): void;
}

interface QueueState {
  num: number;
  started: boolean;
  enabled: boolean;
  kickFd: number;
  errFd: number;
}

const idleQueue = (): QueueState => ({ num: 0, started: false, enabled: false, kickFd: -1, errFd: -1 });

export class VhostUserDevice {
  /** Features the front end acknowledged (SET_FEATURES). */
  features = 0n;
  protocolFeatures = 0n;
  readonly queues: [QueueState, QueueState] = [idleQueue(), idleQueue()];
  /** Whether guest memory is mapped. */
  memory = false;
  private readonly debugOn: boolean;

  constructor(
    readonly native: VuDevice,
    private readonly log: Logger,
    private readonly hooks: DeviceHooks,
    private readonly closeFd: (fd: number) => void,
  ) {
    this.debugOn = log.isLevelEnabled('debug');
  }

  /** Whether queue `q` carries frames: started, enabled, its rings mapped. */
  usable(q: number): boolean {
    const s = this.queues[q];
    return s.started && s.enabled && this.native.ready(q);
  }

  get mergeable(): boolean {
    return has(this.features, F.MrgRxbuf);
  }

  /**
   * Act on one message; returns the reply to send, or null. Throws
   * VuProtocolError when the front end broke the protocol (its fds are
   * closed first).
   */
  handle(msg: VuMessage): Buffer | null {
    const kept = new Set<number>();
    try {
      let reply = this.dispatch(msg, kept);
      if (!reply && msg.flags & FLAG_NEED_REPLY) reply = replyU64(msg.request, 0n);
      return reply;
    } finally {
      for (const fd of msg.fds) if (!kept.has(fd)) this.closeFd(fd);
    }
  }

  private dispatch(msg: VuMessage, kept: Set<number>): Buffer | null {
    const r = msg.request;
    if (this.debugOn) this.log.debug(`vhost-user: ${requestName(r)}, ${msg.size} bytes${msg.fds.length ? `, ${msg.fds.length} fd${msg.fds.length > 1 ? 's' : ''}` : ''}`);
    const noFds = (): void => {
      if (msg.fds.length) throw new VuProtocolError(`${requestName(r)}: ${msg.fds.length} unexpected file descriptors`);
    };
    switch (r) {
      case Req.GetFeatures:
        noFds();
        return replyU64(r, OFFERED_FEATURES);
      case Req.SetFeatures: {
        noFds();
        const f = decodeU64(msg);
        if (f & ~OFFERED_FEATURES) throw new VuProtocolError(`${requestName(r)}: features we did not offer: ${featureNames(f & ~OFFERED_FEATURES)}`);
        if (!has(f, F.Version1)) throw new VuProtocolError('virtio legacy devices are not supported: VERSION_1 was not negotiated');
        this.features = f;
        if (!has(f, F.ProtocolFeatures)) for (const q of this.queues) q.enabled = true;
        this.log.debug(`vhost-user: features ${featureNames(f)}`);
        this.hooks.onChange();
        return null;
      }
      case Req.GetProtocolFeatures:
        noFds();
        return replyU64(r, OFFERED_PROTOCOL_FEATURES);
      case Req.SetProtocolFeatures: {
        noFds();
        const f = decodeU64(msg);
        if (f & ~OFFERED_PROTOCOL_FEATURES) throw new VuProtocolError(`${requestName(r)}: protocol features we did not offer (0x${f.toString(16)})`);
        this.protocolFeatures = f;
        return null;
      }
      case Req.GetQueueNum:
        noFds();
        return replyU64(r, 1n);
      case Req.SetOwner:
        noFds();
        return null;
      case Req.ResetOwner:
      case Req.ResetDevice:
        noFds();
        this.stopQueue(0);
        this.stopQueue(1);
        this.features = 0n;
        this.hooks.onChange();
        return null;
      case Req.SetMemTable: {
        const regions = decodeMemTable(msg);
        this.native.clearRegions();
        this.memory = false;
        for (let i = 0; i < regions.length; i++) {
          const g = regions[i];
          const rc = this.native.addRegion(g.gpa, g.size, g.qva, g.mmapOffset, msg.fds[i]);
          if (rc < 0) {
            this.native.clearRegions();
            throw new VuProtocolError(`${requestName(r)}: cannot map region ${i} (${g.size} bytes at guest address 0x${g.gpa.toString(16)}, offset ${g.mmapOffset}): ${rc === -E.EINVAL ? 'not a file large enough for it, or overlapping another' : `errno ${-rc}`}`);
          }
          if (this.debugOn) this.log.debug(`vhost-user: region ${i}: guest 0x${g.gpa.toString(16)}, ${g.size} bytes, QEMU 0x${g.qva.toString(16)}, offset ${g.mmapOffset}`);
        }
        this.memory = true;
        // The fds are closed (not kept): the mappings keep the memory.
        this.hooks.onChange();
        return null;
      }
      case Req.SetVringNum: {
        noFds();
        const { index, num } = decodeState(msg);
        if (this.native.setVringNum(index, num) < 0) throw new VuProtocolError(`${requestName(r)}: vring ${index} of ${num} entries (a power of 2 up to 32768)`);
        this.queues[index].num = num;
        return null;
      }
      case Req.SetVringAddr: {
        noFds();
        const a = decodeAddr(msg);
        if (this.native.setVringAddr(a.index, a.desc, a.avail, a.used) < 0) {
          throw new VuProtocolError(`${requestName(r)}: vring ${a.index}'s rings (descriptors 0x${a.desc.toString(16)}, available 0x${a.avail.toString(16)}, used 0x${a.used.toString(16)}) are not in guest memory for ${this.queues[a.index].num} entries`);
        }
        this.hooks.onChange();
        return null;
      }
      case Req.SetVringBase: {
        noFds();
        const { index, num } = decodeState(msg);
        if (num > 0xffff) throw new VuProtocolError(`${requestName(r)}: base ${num} of vring ${index}`);
        this.native.setVringBase(index, num);
        return null;
      }
      case Req.GetVringBase: {
        noFds();
        const { index } = decodeState(msg);
        const base = this.stopQueue(index);
        this.hooks.onChange();
        return replyState(r, index, base);
      }
      case Req.SetVringKick: {
        const { index, fd } = decodeVringFd(msg);
        const q = this.queues[index];
        q.kickFd = fd;
        if (fd >= 0) kept.add(fd);
        else this.log.warn(`vhost-user: vring ${index} without a kick fd (polling) is not supported: it will not be served`);
        this.hooks.onKickFd(index, fd);
        q.started = fd >= 0;
        this.hooks.onChange();
        return null;
      }
      case Req.SetVringCall: {
        const { index, fd } = decodeVringFd(msg);
        this.native.setCallFd(index, fd);
        if (fd >= 0) kept.add(fd);
        return null;
      }
      case Req.SetVringErr: {
        const { index, fd } = decodeVringFd(msg);
        const q = this.queues[index];
        if (q.errFd >= 0) this.closeFd(q.errFd);
        q.errFd = fd;
        if (fd >= 0) kept.add(fd);
        return null;
      }
      case Req.SetVringEnable: {
        noFds();
        const { index, num } = decodeState(msg);
        if (num > 1) throw new VuProtocolError(`${requestName(r)}: vring ${index} enable ${num}`);
        this.queues[index].enabled = num === 1;
        this.hooks.onChange();
        return null;
      }
      case Req.SendRarp:
        // After a migration, for switches to learn the guest's MAC address: there is no switch here.
        noFds();
        return null;
      default:
        throw new VuProtocolError(`${requestName(r)} is not supported`);
    }
  }

  /** Stop queue `q` (its kick fd goes, the native side forgets its rings and call fd); the next available index. */
  private stopQueue(q: number): number {
    const s = this.queues[q];
    if (s.kickFd >= 0) {
      this.hooks.onKickFd(q, -1);
      s.kickFd = -1;
    }
    if (s.errFd >= 0) this.closeFd(s.errFd);
    const enabled = s.enabled;
    this.queues[q] = idleQueue();
    // Disabled again only by SET_VRING_ENABLE when protocol features were negotiated.
    this.queues[q].enabled = enabled;
    return this.native.getVringBase(q);
  }

  /** The front end is gone: release everything (kick fds through the owner, call and error fds, memory). */
  reset(): void {
    for (let q = 0; q < 2; q++) {
      const s = this.queues[q];
      if (s.kickFd >= 0) this.hooks.onKickFd(q, -1);
      if (s.errFd >= 0) this.closeFd(s.errFd);
      this.queues[q] = idleQueue();
    }
    this.native.reset();
    this.features = 0n;
    this.protocolFeatures = 0n;
    this.memory = false;
  }
}
