/**
 * The spliced loopback path for UDP: pairs of connected sockets, datagrams
 * moved between them in batches.
 *
 * Theory of operation, as pasta(1)'s "spliced" UDP flows: a datagram that
 * comes to a forwarded port from the host's loopback (-u), or to a -U
 * listener on the namespace's loopback, never goes through the tap. The
 * forwarder opens a *pair* for its source: socket A on the listening side,
 * bound to the listening address and port (SO_REUSEADDR) and connected to
 * the source — so the kernel hands the source's next datagrams to A rather
 * than to the listener, and replies leave from the port the source wrote
 * to — and socket B on the other side, connected to the target port on that
 * side's loopback. Readable A: one recvmmsg(2) takes a batch into a scratch
 * buffer and one sendmmsg(2) writes it to B; readable B the same towards A.
 * Datagrams keep their boundaries; what a full socket does not take is
 * dropped, as UDP may. Idle pairs (either direction counts) are closed
 * after the timeouts of passt's UDP flows (udp/timeout.ts: 30 s, or 120 s
 * for a stream).
 *
 * Pairs are found by a key the forwarder chooses (listener and source), for
 * the datagrams the listener still gets before A is connected. Socket errors
 * (an ICMP port unreachable from a closed target, say) are read and counted;
 * a socket that fails otherwise closes its pair. Nothing here throws at run
 * time.
 */
import { native, C, E, errnoName } from '../native.js';
import { UdpActivity, UDP_TIMEOUTS_DEFAULT, type UdpTimeouts } from '../udp/timeout.js';
import { FdKind, type Loop } from '../loop.js';
import type { Logger } from '../log.js';

/** Datagrams moved per recvmmsg/sendmmsg. */
const BATCH = 16;
/** Room per datagram: the largest UDP payload over IPv6 (65527) fits, rounded up. */
const SLOT = 65536;
/** How often the tick looks for idle pairs. */
const SWEEP_MS = 1_000;
/** Batches moved per readiness event, so one busy pair cannot hold up the loop. */
const MAX_ROUNDS = 8;
const MSG_TRUNC = 0x20;

/** Counters over all pairs. */
export interface UdpSpliceStats {
  /** Pairs open now. */
  active: number;
  opened: number;
  closed: number;
  /** Datagrams and payload bytes moved from A (the listening side) to B, and back. */
  datagramsAtoB: number;
  bytesAtoB: number;
  datagramsBtoA: number;
  bytesBtoA: number;
  /** Datagrams lost: a full or failing socket, or truncated. */
  dropped: number;
}

interface Pair {
  index: number;
  key: string;
  a: number;
  b: number;
  lastActivity: number;
  /** Datagrams each way (A, the listening side, opened the pair), for the idle timeout. */
  activity: UdpActivity;
}

export class UdpSpliceHandler {
  private readonly pairs: Array<Pair | undefined> = [];
  private readonly free: number[] = [];
  private readonly byKey = new Map<string, Pair>();
  private scratch: Buffer | null = null;
  private readonly offsets = new Int32Array(BATCH);
  private readonly lens = new Int32Array(BATCH);
  private readonly info = new Int32Array(5 * BATCH);
  private readonly addrs = new Uint8Array(16 * BATCH);
  /** Destinations for sendmmsg: family 0 (connected), never written. */
  private readonly dest = new Int32Array(3 * BATCH);
  private readonly noAddrs = new Uint8Array(0);
  private readonly intOut = new Int32Array(1);
  private lastSweep = 0;
  private readonly traceOn: boolean;
  readonly counters: UdpSpliceStats = { active: 0, opened: 0, closed: 0, datagramsAtoB: 0, bytesAtoB: 0, datagramsBtoA: 0, bytesBtoA: 0, dropped: 0 };

  constructor(
    private readonly loop: Loop,
    private readonly log: Logger,
    /** Idle timeouts (udp/timeout.ts), as for the flows through the tap. */
    private readonly timeouts: UdpTimeouts = UDP_TIMEOUTS_DEFAULT,
  ) {
    loop.on(FdKind.UdpSplice, (tag, events, now) => this.handler(tag, events, now));
    loop.onTick((now) => {
      if (now - this.lastSweep < SWEEP_MS) return;
      this.lastSweep = now;
      this.expire(now);
    });
    this.traceOn = log.isLevelEnabled('trace');
  }

  /** The pair opened for `key`, if it is still open. */
  lookup(key: string): Pair | undefined {
    return this.byKey.get(key);
  }

  /**
   * Make a pair of two connected sockets (A on the listening side, B on the
   * other) and watch both. On failure both are closed and undefined returned.
   */
  add(key: string, a: number, b: number, now: number): Pair | undefined {
    const index = this.free.length ? this.free.pop()! : this.pairs.length;
    if (index >= 1 << 23) {
      native.close(a);
      native.close(b);
      return undefined;
    }
    const pair: Pair = { index, key, a, b, lastActivity: now, activity: new UdpActivity() };
    let rc = this.loop.add(a, FdKind.UdpSplice, 2 * index, C.EPOLLIN);
    if (rc === 0) {
      rc = this.loop.add(b, FdKind.UdpSplice, 2 * index + 1, C.EPOLLIN);
      if (rc < 0) this.loop.del(a);
    }
    if (rc < 0) {
      this.log.debug(`UDP splice: cannot watch the sockets: ${errnoName(rc)}`);
      native.close(a);
      native.close(b);
      this.free.push(index);
      return undefined;
    }
    this.pairs[index] = pair;
    this.byKey.set(key, pair);
    this.counters.opened++;
    this.counters.active++;
    if (this.traceOn) this.log.trace(`UDP splice ${index} (${key}): opened`);
    return pair;
  }

  /** Send one datagram that came to the listener for this pair on to B. False if it was dropped. */
  forward(pair: Pair, payload: Buffer, off: number, len: number, now: number): boolean {
    pair.lastActivity = now;
    pair.activity.initiator();
    const n = native.write(pair.b, payload, off, len);
    if (n < 0) {
      this.counters.dropped++;
      if (this.traceOn) this.log.trace(`UDP splice ${pair.index}: send: ${errnoName(n)}`);
      return false;
    }
    this.counters.datagramsAtoB++;
    this.counters.bytesAtoB += len;
    return true;
  }

  private handler(tag: number, events: number, now: number): void {
    const pair = this.pairs[tag >>> 1];
    if (!pair) return;
    const fromA = (tag & 1) === 0;
    const from = fromA ? pair.a : pair.b;
    const to = fromA ? pair.b : pair.a;
    pair.lastActivity = now;
    if (events & C.EPOLLERR && !this.readError(pair, from)) return;
    if (events & C.EPOLLIN) this.move(pair, from, to, fromA);
  }

  /** A pending socket error: ICMP errors (a closed port on the other side) are counted; others close the pair. */
  private readError(pair: Pair, fd: number): boolean {
    native.getsockoptInt(fd, C.SOL_SOCKET, C.SO_ERROR, this.intOut);
    const err = this.intOut[0];
    if (err === 0 || err === E.ECONNREFUSED || err === E.EHOSTUNREACH || err === E.ENETUNREACH) {
      if (err !== 0 && this.traceOn) this.log.trace(`UDP splice ${pair.index}: ${errnoName(-err)}`);
      return true;
    }
    this.log.debug(`UDP splice ${pair.index}: socket error ${errnoName(-err)}, closing`);
    this.close(pair);
    return false;
  }

  private move(pair: Pair, from: number, to: number, fromA: boolean): void {
    const buf = (this.scratch ??= Buffer.allocUnsafe(BATCH * SLOT));
    for (let i = 0; i < BATCH; i++) this.offsets[i] = i * SLOT;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const n = native.recvmmsg(from, buf, this.offsets, SLOT, BATCH, this.info, this.addrs);
      if (n < 0) {
        if (n === -E.EAGAIN) return;
        if (n === -E.ECONNREFUSED || n === -E.EHOSTUNREACH || n === -E.ENETUNREACH) continue;
        this.log.debug(`UDP splice ${pair.index}: receive: ${errnoName(n)}, closing`);
        this.close(pair);
        return;
      }
      if (n === 0) return;
      if (fromA) pair.activity.initiator(n);
      else pair.activity.target(n);
      let count = 0;
      let bytes = 0;
      for (let i = 0; i < n; i++) {
        if (this.info[5 * i + 4] & MSG_TRUNC) {
          this.counters.dropped++;
          continue;
        }
        this.offsets[count] = i * SLOT;
        this.lens[count] = this.info[5 * i];
        bytes += this.lens[count];
        count++;
      }
      let sent = count > 0 ? native.sendmmsg(to, buf, this.offsets, this.lens, count, this.dest, this.noAddrs) : 0;
      // Restore the receive offsets that the send compacted.
      for (let i = 0; i < BATCH; i++) this.offsets[i] = i * SLOT;
      if (sent < 0) {
        if (this.traceOn) this.log.trace(`UDP splice ${pair.index}: send: ${errnoName(sent)}`);
        sent = 0;
      }
      if (sent < count) {
        // A full socket (or a refusal): UDP may lose datagrams, and so do we.
        for (let i = sent; i < count; i++) bytes -= this.lens[i];
        this.counters.dropped += count - sent;
      }
      if (fromA) {
        this.counters.datagramsAtoB += sent;
        this.counters.bytesAtoB += bytes;
      } else {
        this.counters.datagramsBtoA += sent;
        this.counters.bytesBtoA += bytes;
      }
      if (n < BATCH) return;
    }
  }

  /** Close pairs idle for longer than their timeout (udp/timeout.ts) at `now`. */
  expire(now: number): void {
    for (const pair of this.pairs) {
      if (pair && now - pair.lastActivity > pair.activity.idleLimit(this.timeouts)) this.close(pair);
    }
  }

  private close(pair: Pair): void {
    if (this.pairs[pair.index] !== pair) return;
    this.loop.del(pair.a);
    this.loop.del(pair.b);
    native.close(pair.a);
    native.close(pair.b);
    this.pairs[pair.index] = undefined;
    this.free.push(pair.index);
    if (this.byKey.get(pair.key) === pair) this.byKey.delete(pair.key);
    this.counters.closed++;
    this.counters.active--;
    if (this.traceOn) this.log.trace(`UDP splice ${pair.index}: closed`);
  }

  closeAll(): void {
    for (const pair of this.pairs) if (pair) this.close(pair);
  }

  stats(): UdpSpliceStats {
    return { ...this.counters };
  }
}
