/**
 * Flows: the one table of every TCP connection, UDP flow and ICMP echo flow
 * of an engine, and what each protocol handler gets from the engine.
 *
 * Theory of operation, as passt's flow.c: a flow is one conversation
 * between the guest and a remote as the guest sees it, identified by
 * (protocol, IP version, guest address, remote address, guest port, remote
 * port); for ICMP echo the guest's identifier stands as the guest port and
 * the remote port is 0. Every flow has a slot in one `FlowTable` — its
 * index is also the epoll tag of its host socket (loop.ts) — and is found
 * from a guest frame by a numeric FNV-1a hash over those fields, read
 * straight from the frame's header bytes (the IPv4 and IPv6 source and
 * destination addresses are contiguous): no string, no object, no
 * allocation per lookup. Chains of equal bucket are linked through the
 * flows' `hashNext` indexes in an Int32Array of bucket heads that doubles
 * as the table grows.
 *
 * The table has a stated maximum (`FLOW_MAX`, passt's FLOW_MAX: 128 Ki
 * flows, or EngineOptions.maxFlows). When it is full a new flow is refused,
 * and the guest hears so at once — a TCP RST for a SYN, an ICMP
 * "administratively prohibited" for a UDP datagram or an echo request —
 * with a warning at most every `FULL_WARN_INTERVAL_MS`; existing flows are
 * not touched.
 *
 * Protocol handlers (tcp/, udp/, icmp/) subclass `Flow` for their state,
 * insert and remove their flows here, and describe and trace them through
 * `describeFlow()`. They get frames from the guest in runs of one flow
 * (tap.ts groups a batch before dispatch) and write frames to the guest into
 * `FlowContext.out`. Where a flow from the guest goes on the host is decided
 * by `natFromTap` alone (fwd/nat.ts). Time comes in as `now`
 * (milliseconds, monotonic). See doc/design.md.
 */
import type { Loop } from './loop.js';
import type { TapOut } from './l2/tapio.js';
import type { Logger } from './log.js';
import { native, C } from './native.js';
import { formatIP } from './inet.js';
import { ETH_P_IP, ETH_P_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from './l2/numbers.js';
import { ipv4SetLength, ipv4TemplateSum, ipv6SetLength, pseudoSumOf, pushEthernet, pushIpv4, pushIpv6 } from './l2/emit.js';

/** IP protocol numbers handled (from l2/numbers.ts). */
export const PROTO_ICMP = IPPROTO_ICMP;
export const PROTO_TCP = IPPROTO_TCP;
export const PROTO_UDP = IPPROTO_UDP;
export const PROTO_ICMPV6 = IPPROTO_ICMPV6;

/** Most flows of one engine, of all protocols (passt's FLOW_MAX). */
export const FLOW_MAX = 128 * 1024;
/** Epoll tags hold a flow index in 24 bits. */
const FLOW_INDEX_LIMIT = 1 << 24;
/** A full table is reported at most this often. */
export const FULL_WARN_INTERVAL_MS = 10_000;

/** The host side of a flow the guest opens. */
export interface HostTarget {
  addr: Uint8Array;
  port: number;
  scopeId: number;
  /** -o: the source address to bind the host socket to (its family is `addr`'s), or null. */
  source?: Uint8Array | null;
  /** --outbound-if4/6: the host interface to bind the socket to (SO_BINDTODEVICE), or null. */
  ifname?: string | null;
}

/**
 * Bind a new outbound socket as `target` asks: to its interface
 * (SO_BINDTODEVICE), and to its source address with `port` (0: any) when
 * it has one, else, for a nonzero `port` (or `always`), to the unspecified
 * address.
 * 0, or -errno from the step that failed.
 */
export function bindOutbound(fd: number, target: HostTarget, port: number, always = false): number {
  if (target.ifname) {
    const rc = native.setsockoptBytes(fd, C.SOL_SOCKET, C.SO_BINDTODEVICE, Buffer.from(`${target.ifname}\0`));
    if (rc < 0) return rc;
  }
  if (target.source) return native.bind(fd, target.source, port, 0);
  if (port !== 0 || always) return native.bind(fd, target.addr.length === 4 ? ANY4 : ANY6, port, 0);
  return 0;
}

const ANY4 = new Uint8Array(4);
const ANY6 = new Uint8Array(16);

/** A new flow, as reported to `FlowContext.onFlow` (the API's `flow` event). */
export interface FlowEvent {
  protocol: 'tcp' | 'udp' | 'icmp';
  /** 'out': opened by the guest; 'in': from the host through a forwarded port. */
  direction: 'out' | 'in';
  family: 4 | 6;
  /** The guest's side and the remote side as the guest sees them, as text. */
  guest: { address: string; port: number };
  remote: { address: string; port: number };
}

export interface FlowContext {
  /** The engine's flow table, shared by every protocol. */
  flows: FlowTable;
  /** Told about every new flow (optional; costs nothing when absent). */
  onFlow?: (event: FlowEvent) => void;
  loop: Loop;
  /** Frames to the guest. With `out.checksumOffload`, layer-4 checksums may be left partial (see TapOut.commit). */
  out: TapOut;
  log: Logger;
  mtu: number;
  ourMac: Uint8Array;
  /** The guest's MAC, learned from its frames. */
  guestMac(): Uint8Array;
  /**
   * Where traffic from the guest to `dst` port `port` (0 for ICMP) goes on
   * the host, or null to refuse it. No NAT by default: the same address.
   */
  natFromTap(family: 4 | 6, proto: number, dst: Uint8Array, port: number): HostTarget | null;
}

const PROTO_NAMES: Record<number, string> = { [PROTO_TCP]: 'TCP', [PROTO_UDP]: 'UDP', [PROTO_ICMP]: 'ICMP', [PROTO_ICMPV6]: 'ICMPv6' };

/**
 * What every flow is: its identity, its place in the table, its host socket
 * and the template of the frames it sends the guest. Handlers subclass it;
 * `index`, `hash` and `hashNext` belong to the table.
 */
export class Flow {
  /** Slot in the table, and the epoll tag of the flow's socket (-1: not in the table). */
  index = -1;
  /** The identity hash, and the next flow of the same bucket (-1: none). */
  hash = 0;
  hashNext = -1;
  /** Guest address followed by the remote address as the guest sees it (2 × 4 or 2 × 16 bytes). */
  addrs: Uint8Array;
  /** The host socket (-1: none, or closed). */
  fd = -1;
  /** Last activity (ms, monotonic): what idle flows are expired by. */
  lastActivity = 0;
  /** Frame template (buildTemplate()): Ethernet, IP and the layer-4 ports, from the remote to the guest. */
  header: Buffer = EMPTY;
  hdrLen = 0;
  /** Unfolded sum of the IPv4 header template (total length and checksum zero). */
  ipSum = 0;
  /** Unfolded pseudo-header sum without the length (addresses and protocol). */
  pseudoSum = 0;

  constructor(
    readonly protocol: number,
    readonly family: 4 | 6,
    addrs: Uint8Array,
    /** The guest's port (ICMP: its echo identifier). */
    readonly guestPort: number,
    /** The remote's port as the guest addressed it (ICMP: 0). */
    readonly remotePort: number,
  ) {
    this.addrs = addrs;
  }

  get guestAddr(): Uint8Array {
    return this.addrs.subarray(0, this.addrs.length / 2);
  }

  get remoteAddr(): Uint8Array {
    return this.addrs.subarray(this.addrs.length / 2);
  }

  /**
   * Build the template of the frames to the guest (l2/emit.ts): Ethernet,
   * IPv4 or IPv6 from the remote (as the guest sees it) to the guest, and
   * `l4Len` bytes of layer-4 header starting with the remote's and the
   * guest's port (TCP 20, UDP 8; ICMP 0: its header comes with each reply).
   */
  buildTemplate(guestMac: Uint8Array, ourMac: Uint8Array, l4Len: number): void {
    const v4 = this.family === 4;
    const alen = v4 ? 4 : 16;
    const h = Buffer.alloc(14 + (v4 ? 20 : 40) + l4Len);
    const ip = pushEthernet(h, 0, guestMac, ourMac, v4 ? ETH_P_IP : ETH_P_IPV6);
    const l4 = v4 ? pushIpv4(h, ip, 0, this.protocol, this.addrs, alen, this.addrs, 0) : pushIpv6(h, ip, 0, this.protocol, this.addrs, alen, this.addrs, 0);
    if (v4) this.ipSum = ipv4TemplateSum(h, ip);
    this.pseudoSum = pseudoSumOf(h, ip, v4, this.protocol);
    if (l4Len >= 4) {
      h.writeUInt16BE(this.remotePort, l4);
      h.writeUInt16BE(this.guestPort, l4 + 2);
    }
    this.header = h;
    this.hdrLen = h.length;
  }

  /**
   * Copy the template to a frame at `buf[off]` whose layer-4 part (header
   * and data) is `l4Len` bytes, with the IP lengths (and IPv4 checksum) set.
   * Returns the offset of the layer-4 header.
   */
  fillTemplate(buf: Buffer, off: number, l4Len: number): number {
    this.header.copy(buf, off, 0, this.hdrLen);
    const ip = off + 14;
    if (this.family === 4) {
      ipv4SetLength(buf, ip, 20 + l4Len, this.ipSum);
      return ip + 20;
    }
    ipv6SetLength(buf, ip, l4Len);
    return ip + 40;
  }
}

const EMPTY = Buffer.alloc(0);

/** The flow identity hash: FNV-1a over protocol, family, both addresses (contiguous at buf[addrOff]) and both ports. */
export function flowHash(protocol: number, family: 4 | 6, buf: Uint8Array, addrOff: number, guestPort: number, remotePort: number): number {
  const addrLen = family === 4 ? 8 : 32;
  let h = Math.imul(0x811c9dc5 ^ protocol, 0x01000193);
  h = Math.imul(h ^ family, 0x01000193);
  for (let i = addrOff; i < addrOff + addrLen; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  h = Math.imul(h ^ guestPort, 0x01000193);
  h = Math.imul(h ^ remotePort, 0x01000193);
  return h | 0;
}

/** "TCP 12 (guest port 40000 -> [2001:db8::1]:80)": how logs and traces name a flow. */
export function describeFlow(flow: Flow): string {
  const r = flow.family === 6 ? `[${formatIP(flow.remoteAddr)}]` : formatIP(flow.remoteAddr);
  const name = PROTO_NAMES[flow.protocol] ?? `protocol ${flow.protocol}`;
  if (flow.protocol === PROTO_ICMP || flow.protocol === PROTO_ICMPV6) return `${name} ${flow.index} (guest id ${flow.guestPort} -> ${r})`;
  return `${name} ${flow.index} (guest port ${flow.guestPort} -> ${r}:${flow.remotePort})`;
}

/** The new-flow event of `flow` for FlowContext.onFlow. */
export function flowEvent(flow: Flow, direction: 'in' | 'out'): FlowEvent {
  const protocol = flow.protocol === PROTO_TCP ? 'tcp' : flow.protocol === PROTO_UDP ? 'udp' : 'icmp';
  return {
    protocol,
    direction,
    family: flow.family,
    guest: { address: formatIP(flow.guestAddr), port: flow.guestPort },
    remote: { address: formatIP(flow.remoteAddr), port: flow.remotePort },
  };
}

/**
 * The flow table of one engine: slots by index (reused from a free list),
 * found by identity through a hash of bucket chains.
 */
export class FlowTable {
  private readonly slots: Array<Flow | undefined> = [];
  private readonly free: number[] = [];
  private buckets = new Int32Array(1024).fill(-1);
  private mask = 1023;
  private live = 0;
  private lastFullWarning = -Infinity;
  /** Flows refused because the table was full, since the start. */
  refused = 0;

  constructor(
    /** Most flows at once. */
    readonly max: number = FLOW_MAX,
    private readonly log?: Logger,
  ) {
    if (!(max >= 1 && max <= FLOW_INDEX_LIMIT)) throw new RangeError(`FlowTable: maximum ${max} outside 1..${FLOW_INDEX_LIMIT}`);
  }

  /** Flows in the table. */
  get count(): number {
    return this.live;
  }

  /** The flow in slot `index`, if any. */
  get(index: number): Flow | undefined {
    return this.slots[index];
  }

  /**
   * The flow of `protocol` and `family` whose addresses are the bytes at
   * `buf[addrOff]` (guest then remote: a guest frame's source and
   * destination) and whose ports are `guestPort`, `remotePort`; `hash` is
   * flowHash() of the same. Undefined if there is none.
   */
  lookup(protocol: number, family: 4 | 6, buf: Uint8Array, addrOff: number, guestPort: number, remotePort: number, hash: number): Flow | undefined {
    for (let i = this.buckets[hash & this.mask]; i >= 0; ) {
      const flow = this.slots[i]!;
      if (flow.hash === hash && flow.protocol === protocol && flow.family === family && flow.guestPort === guestPort && flow.remotePort === remotePort && sameBytes(flow.addrs, buf, addrOff)) return flow;
      i = flow.hashNext;
    }
    return undefined;
  }

  /**
   * Whether a new flow fits. When it does not, the refusal is counted and
   * warned about (rate-limited); the caller tells the guest.
   */
  admit(now: number): boolean {
    if (this.live < this.max) return true;
    this.refused++;
    if (now - this.lastFullWarning >= FULL_WARN_INTERVAL_MS) {
      this.lastFullWarning = now;
      this.log?.warn(`Flow table full (${this.max} flows): refusing new flows`);
    }
    return false;
  }

  /** Put `flow` in a free slot, findable by `hash`; false (nothing changed) when the table is full. */
  insert(flow: Flow, hash: number): boolean {
    if (this.live >= this.max) return false;
    // Grow before the flow is in a slot: grow() chains every flow in the slots, and the flow
    // chained twice would point at itself (a lookup that misses in its bucket never ends).
    if (this.live + 1 > this.buckets.length * 0.75) this.grow();
    const index = this.free.length ? this.free.pop()! : this.slots.length;
    flow.index = index;
    flow.hash = hash;
    this.slots[index] = flow;
    this.live++;
    const b = hash & this.mask;
    flow.hashNext = this.buckets[b];
    this.buckets[b] = index;
    return true;
  }

  /** Take `flow` out of the table; its slot is reused. */
  remove(flow: Flow): void {
    const index = flow.index;
    if (index < 0 || this.slots[index] !== flow) return;
    const b = flow.hash & this.mask;
    if (this.buckets[b] === index) {
      this.buckets[b] = flow.hashNext;
    } else {
      for (let i = this.buckets[b]; i >= 0; ) {
        const prev = this.slots[i]!;
        if (prev.hashNext === index) {
          prev.hashNext = flow.hashNext;
          break;
        }
        i = prev.hashNext;
      }
    }
    this.slots[index] = undefined;
    this.free.push(index);
    this.live--;
    flow.hashNext = -1;
  }

  /** Every flow of `protocol` (or of all), for sweeps and shutdown; safe against removal while iterating. */
  *all(protocol?: number): IterableIterator<Flow> {
    const n = this.slots.length;
    for (let i = 0; i < n; i++) {
      const flow = this.slots[i];
      if (flow && (protocol === undefined || flow.protocol === protocol)) yield flow;
    }
  }

  private grow(): void {
    const size = this.buckets.length * 2;
    this.buckets = new Int32Array(size).fill(-1);
    this.mask = size - 1;
    for (const flow of this.slots) {
      if (!flow) continue;
      const b = flow.hash & this.mask;
      flow.hashNext = this.buckets[b];
      this.buckets[b] = flow.index;
    }
  }
}

function sameBytes(a: Uint8Array, buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== buf[off + i]) return false;
  return true;
}
