/**
 * What every protocol handler (TCP, UDP, ICMP) gets from the engine.
 *
 * Theory of operation: a handler is given frames from the guest through its
 * `tapHandler(family, buf, ipOff, l4Off, l4Len, now)` and writes frames to
 * the guest into `out` (reserve, build in place, commit). Its host sockets
 * are registered with `loop` under its own fd kind. Where a flow from the
 * guest goes on the host is decided by `natFromTap` alone, so address
 * mapping rules (gateway to host loopback, the DNS forwarder) live in one
 * place. Time comes in as `now` (milliseconds, monotonic).
 */
import type { Loop } from './loop.js';
import type { TapOut } from './l2/tapio.js';
import type { Logger } from './log.js';
import { native, C } from './native.js';

/** IP protocol numbers handled. */
export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

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
