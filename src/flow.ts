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
}

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
