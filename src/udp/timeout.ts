/**
 * When an idle UDP flow expires, as upstream passt decides it (udp_flow_timer):
 * a flow that only went one way, or answered a single datagram with a single
 * datagram (a DNS query, say), is closed after `timeoutMs` without traffic; a
 * flow with traffic both ways and more than one datagram on either side (a
 * "stream": QUIC, RTP, WireGuard) after `streamTimeoutMs`. Both are read at
 * start from the kernel's conntrack settings for UDP, as upstream does, and
 * default to the kernel's own defaults (30 s and 120 s) where the conntrack
 * module is not loaded. See doc/design.md, "Time".
 */
import fs from 'node:fs';

export interface UdpTimeouts {
  /** Idle time (ms) after which a flow that is not a stream expires. */
  timeoutMs: number;
  /** Idle time (ms) after which a stream expires. */
  streamTimeoutMs: number;
}

export const UDP_TIMEOUTS_DEFAULT: Readonly<UdpTimeouts> = { timeoutMs: 30_000, streamTimeoutMs: 120_000 };

const CONNTRACK_UDP_TIMEOUT = '/proc/sys/net/netfilter/nf_conntrack_udp_timeout';
const CONNTRACK_UDP_TIMEOUT_STREAM = '/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream';

/** A positive whole number of seconds from `file`, or `fallback` (missing, unreadable, malformed). */
function readSeconds(file: string, fallback: number, read: (file: string) => string): number {
  try {
    const text = read(file).trim();
    if (!/^\d{1,9}$/.test(text)) return fallback;
    const s = Number(text);
    return s > 0 ? s * 1000 : fallback;
  } catch {
    return fallback;
  }
}

/** The timeouts as upstream reads them at start (the files read with `read`, for tests). */
export function readUdpTimeouts(read: (file: string) => string = (f) => fs.readFileSync(f, 'utf8')): UdpTimeouts {
  return {
    timeoutMs: readSeconds(CONNTRACK_UDP_TIMEOUT, UDP_TIMEOUTS_DEFAULT.timeoutMs, read),
    streamTimeoutMs: readSeconds(CONNTRACK_UDP_TIMEOUT_STREAM, UDP_TIMEOUTS_DEFAULT.streamTimeoutMs, read),
  };
}

/** Most datagrams counted per side: only "none", "one" and "more than one" matter. */
const ACTIVITY_MAX = 255;

/** Datagrams seen from each side of a UDP flow, the initiating side and the other. */
export class UdpActivity {
  fromInitiator = 0;
  fromTarget = 0;

  /** A datagram (or a batch of `n`) from the side that opened the flow. */
  initiator(n = 1): void {
    this.fromInitiator = Math.min(ACTIVITY_MAX, this.fromInitiator + n);
  }

  /** A datagram (or a batch of `n`) from the other side. */
  target(n = 1): void {
    this.fromTarget = Math.min(ACTIVITY_MAX, this.fromTarget + n);
  }

  /** Whether the flow counts as a stream: the target answered, and some side sent more than once. */
  isStream(): boolean {
    return this.fromTarget > 0 && (this.fromInitiator > 1 || this.fromTarget > 1);
  }

  /** How long the flow may stay idle under `t`. */
  idleLimit(t: UdpTimeouts): number {
    return this.isStream() ? t.streamTimeoutMs : t.timeoutMs;
  }
}
