/**
 * The spliced loopback path for TCP: two connected sockets, data moved
 * between them by the kernel.
 *
 * Theory of operation, as pasta(1)'s tcp_splice.c ("Handling of local
 * traffic in pasta"): a connection that arrives on a forwarded port from the
 * host's loopback (or, for -T, from the namespace's loopback) is not
 * translated through the tap. Whoever accepted it connects a socket on the
 * other side's loopback and hands both sockets here: A (the accepted one)
 * and B (the one we connected, possibly still connecting). Each direction,
 * A→B and B→A, has a pipe; the native `spliceBatch` moves pages socket →
 * pipe → socket with splice(2), so no byte passes through JavaScript or
 * even through user space. JavaScript only decides which directions to pump:
 * while the loop dispatches a batch of epoll events, ready directions are
 * collected, and one native call at batch end pumps them all.
 *
 * Per socket, epoll watches EPOLLIN | EPOLLRDHUP while its outgoing pipe is
 * empty and its EOF has not been seen, and EPOLLOUT while its incoming pipe
 * holds data the socket could not take. A socket that wants neither stays
 * registered with no events (so a reset still reports EPOLLERR), until it
 * reports EPOLLHUP: from then on it is registered only while it wants
 * something, because a level-triggered hang-up would otherwise be reported
 * again and again while its data waits for the other side.
 *
 * Half-close: when a source reaches EOF and its pipe is empty, the
 * destination's write side is shut down (its peer sees EOF after all the
 * data) and the other direction keeps flowing. Once both directions are
 * finished, both sockets and pipes are closed. An error on either socket
 * resets both (SO_LINGER 0 close): the peers see what a reset looks like.
 *
 * Pair state is a set of event bits changed only through `setEvents`, which
 * also traces the change and recomputes what epoll watches, as in
 * src/tcp/tcp.ts. Runtime failures are traced and close the pair; nothing on
 * this path throws.
 */
import {
  native,
  C,
  E,
  errnoName,
  SPLICE_OP_INTS,
  SPLICE_RESULT_INTS,
  SpliceOp,
  SpliceResult,
  SpliceFlag,
} from '../native.js';
import { FdKind, type Loop } from '../loop.js';
import type { Logger } from '../log.js';

/** Why a spliced pair was closed. */
export type SpliceCloseReason =
  /** Both directions reached EOF and were delivered: a clean close. */
  | 'done'
  /** A socket failed (reset, for instance); both were reset. */
  | 'error'
  /** B could not connect; A was reset. */
  | 'refused'
  /** Closed by `close(id)` or `closeAll()`; both were reset. */
  | 'closed';

/** What one pair did, handed to its `onClose`. */
export interface SplicePairStats {
  id: number;
  /** Bytes read from A and written to B. */
  bytesAtoB: number;
  /** Bytes read from B and written to A. */
  bytesBtoA: number;
  reason: SpliceCloseReason;
  /** errno behind 'error' and 'refused' (positive), else 0. */
  errno: number;
}

/** Counters over all pairs. */
export interface SpliceStats {
  /** Pairs open now. */
  active: number;
  opened: number;
  closed: number;
  /** Pairs closed because B could not connect. */
  refused: number;
  /** Pairs closed because a socket failed. */
  errors: number;
  /** Bytes moved A→B and B→A, over all pairs. */
  bytesAtoB: number;
  bytesBtoA: number;
}

export interface SpliceAddOptions {
  /** B's nonblocking connect() is in progress: wait for its result before moving data. */
  bConnecting?: boolean;
  /** Called once when the pair is closed, for any reason. */
  onClose?: (stats: SplicePairStats) => void;
}

export interface SpliceHandlerContext {
  loop: Loop;
  log: Logger;
  /**
   * Pipe size to ask for (F_SETPIPE_SZ) per direction; 0 keeps the system's
   * default (64 KiB), as does a refused request (over
   * /proc/sys/fs/pipe-max-size, or an unprivileged user over its pipe page
   * limits). Default 1 MiB.
   */
  pipeSize?: number;
  /** Most bytes one direction moves per batch, so one busy pair cannot hold up the loop. Default 8 MiB. */
  maxBytesPerPump?: number;
}

/** Pair events (bits). */
const enum Ev {
  /** B's connect() is in progress. */
  BConnecting = 1 << 0,
  /** EOF read from A (direction A→B); its pipe may still hold data. */
  AEof = 1 << 1,
  /** EOF read from B (direction B→A). */
  BEof = 1 << 2,
  /** A→B finished: everything delivered and B's write side shut down. */
  AtoBDone = 1 << 3,
  /** B→A finished: A's write side shut down. */
  BtoADone = 1 << 4,
  /** A reported EPOLLHUP. */
  AHup = 1 << 5,
  /** B reported EPOLLHUP. */
  BHup = 1 << 6,
  /** Gone: fds closed. */
  Closed = 1 << 7,
}

const EV_NAMES = ['B_CONNECTING', 'A_EOF', 'B_EOF', 'A_TO_B_DONE', 'B_TO_A_DONE', 'A_HUP', 'B_HUP', 'CLOSED'];

function eventNames(ev: number): string {
  const names: string[] = [];
  for (let i = 0; i < EV_NAMES.length; i++) if (ev & (1 << i)) names.push(EV_NAMES[i]);
  return names.join('|') || 'none';
}

/** Per direction d (0: A→B, 1: B→A): its source's EOF bit and its "finished" bit; per side s: its HUP bit. */
const EOF_BIT = [Ev.AEof, Ev.BEof];
const DONE_BIT = [Ev.AtoBDone, Ev.BtoADone];
const HUP_BIT = [Ev.AHup, Ev.BHup];

const DEFAULT_PIPE_SIZE = 1 << 20;
const DEFAULT_MAX_BYTES_PER_PUMP = 8 << 20;
/** Pair indices go into the low 24 bits of an epoll tag with the side in bit 0. */
const MAX_PAIRS = 1 << 23;
const SHUT_WR = 1;

/** Two sockets spliced together. Side 0 is A, side 1 is B; direction d reads side d and writes side 1 - d. */
interface SplicePair {
  readonly id: number;
  /** Slot in the pair table (the epoll tag is index * 2 + side). */
  readonly index: number;
  events: number;
  /** Sockets per side. */
  readonly fd: [number, number];
  /** Pipe ends per direction. */
  readonly pipeR: [number, number];
  readonly pipeW: [number, number];
  /** Bytes waiting in each direction's pipe. */
  readonly inPipe: [number, number];
  /** Bytes delivered per direction. */
  readonly bytes: [number, number];
  /** Events epoll watches per side; -1: not registered. */
  readonly watched: [number, number];
  /** Directions queued for the batch-end pump (bit d). */
  ready: number;
  readonly onClose?: (stats: SplicePairStats) => void;
}

/** Relays data between pairs of loopback sockets with splice(2); see the file comment. */
export class SpliceHandler {
  private readonly loop: Loop;
  private readonly log: Logger;
  private readonly traceOn: boolean;
  private readonly pipeSize: number;
  private readonly maxBytesPerPump: number;

  private readonly pairs: Array<SplicePair | undefined> = [];
  private readonly byId = new Map<number, SplicePair>();
  private readonly free: number[] = [];
  /** Slots freed during a batch: reused only after it, so no stale event of this batch reaches a new pair. */
  private readonly freeLater: number[] = [];
  private nextId = 1;

  /** Pairs with directions queued for the batch-end pump. */
  private readonly readyPairs: SplicePair[] = [];
  private ops = new Int32Array(SPLICE_OP_INTS * 64);
  private results = new Int32Array(SPLICE_RESULT_INTS * 64);
  private readonly opPair: Array<SplicePair | undefined> = [];
  private readonly opDir: number[] = [];

  private readonly pipeOut = new Int32Array(3);
  private readonly intOut = new Int32Array(1);

  private readonly counters = { opened: 0, closed: 0, refused: 0, errors: 0, bytesAtoB: 0, bytesBtoA: 0 };

  constructor(ctx: SpliceHandlerContext) {
    this.loop = ctx.loop;
    this.log = ctx.log;
    this.traceOn = ctx.log.isLevelEnabled('trace');
    this.pipeSize = ctx.pipeSize ?? DEFAULT_PIPE_SIZE;
    this.maxBytesPerPump = Math.min(ctx.maxBytesPerPump ?? DEFAULT_MAX_BYTES_PER_PUMP, 0x7fffffff);
    if (!Number.isInteger(this.maxBytesPerPump) || this.maxBytesPerPump < 1) {
      throw new RangeError('SpliceHandler: maxBytesPerPump must be a positive integer');
    }
    if (!Number.isInteger(this.pipeSize) || this.pipeSize < 0 || this.pipeSize > 0x7fffffff) {
      throw new RangeError('SpliceHandler: pipeSize must be an integer between 0 (the default size) and 2^31 - 1');
    }
    this.loop.on(FdKind.Splice, (index, events) => this.sockHandler(index, events));
    this.loop.onBatchEnd(() => this.pump());
  }

  /**
   * Take ownership of two nonblocking stream sockets and relay A→B and B→A
   * until both directions are finished or one fails. With `bConnecting`, B's
   * connect() is in progress: data moves once it completes, and if it fails
   * A is reset. Returns the pair's id (>= 1), or -errno when the pipes
   * cannot be made (too many open files, say) — then A has been reset and B
   * closed.
   */
  add(fdA: number, fdB: number, opts: SpliceAddOptions = {}): number {
    let rc = native.setNonblock(fdA, true);
    if (rc === 0) rc = native.setNonblock(fdB, true);
    const pipes: number[] = [];
    for (let d = 0; d < 2 && rc === 0; d++) {
      rc = native.pipe(this.pipeOut, this.pipeSize);
      if (rc === 0) pipes.push(this.pipeOut[0], this.pipeOut[1]);
    }
    if (rc === 0 && this.free.length === 0 && this.pairs.length >= MAX_PAIRS) rc = -E.ENOBUFS;
    if (rc < 0) {
      this.log.debug(`splice: cannot relay fds ${fdA} and ${fdB}: ${errnoName(rc)}`);
      for (const fd of pipes) native.close(fd);
      native.closeReset(fdA);
      native.close(fdB);
      return rc;
    }

    const index = this.free.length > 0 ? this.free.pop()! : this.pairs.length;
    const pair: SplicePair = {
      id: this.nextId++,
      index,
      events: 0,
      fd: [fdA, fdB],
      pipeR: [pipes[0], pipes[2]],
      pipeW: [pipes[1], pipes[3]],
      inPipe: [0, 0],
      bytes: [0, 0],
      watched: [-1, -1],
      ready: 0,
      onClose: opts.onClose,
    };
    this.pairs[index] = pair;
    this.byId.set(pair.id, pair);
    this.counters.opened++;
    this.trace(pair, `relaying fd ${fdA} <-> fd ${fdB}${opts.bConnecting ? ' (connecting)' : ''}`);
    this.setEvents(pair, opts.bConnecting ? Ev.BConnecting : 0, 0);
    return pair.id;
  }

  /** Reset and close one pair (onClose gets reason 'closed'). Returns false if no pair has this id. */
  close(id: number): boolean {
    const pair = this.byId.get(id);
    if (!pair) return false;
    this.closePair(pair, 'closed', 0);
    return true;
  }

  /** Reset and close every pair (engine shutdown). */
  closeAll(): void {
    for (const pair of [...this.byId.values()]) this.closePair(pair, 'closed', 0);
    this.recycleSlots();
  }

  /** Counters over all pairs. */
  stats(): SpliceStats {
    return { active: this.byId.size, ...this.counters };
  }

  // ---------------------------------------------------------------------
  // Events from the loop

  /** A socket of a pair is ready: note which directions to pump at batch end. */
  private sockHandler(index: number, events: number): void {
    const pair = this.pairs[index >>> 1];
    const side = index & 1;
    if (!pair || pair.events & Ev.Closed) return;

    if (pair.events & Ev.BConnecting) {
      if (side === 1) this.connectResult(pair, events);
      else if (events & C.EPOLLERR) this.sockError(pair, side);
      else if (events & C.EPOLLHUP) this.setEvents(pair, HUP_BIT[side], 0);
      return;
    }
    if (events & C.EPOLLERR) {
      this.sockError(pair, side);
      return;
    }
    if (events & (C.EPOLLIN | C.EPOLLRDHUP | C.EPOLLHUP)) this.queue(pair, side);
    if (events & (C.EPOLLOUT | C.EPOLLHUP)) this.queue(pair, 1 - side);
    if (events & C.EPOLLHUP && !(pair.events & HUP_BIT[side])) this.setEvents(pair, HUP_BIT[side], 0);
  }

  /** B's connect() finished: relay, or reset A if it failed. */
  private connectResult(pair: SplicePair, events: number): void {
    let err = native.getsockoptInt(pair.fd[1], C.SOL_SOCKET, C.SO_ERROR, this.intOut) < 0 ? E.EBADF : this.intOut[0];
    if (err === 0 && !(events & C.EPOLLOUT)) err = E.ENOTCONN;
    if (err !== 0) {
      this.log.debug(`splice ${pair.id}: connect: ${errnoName(err)}`);
      this.closePair(pair, 'refused', err);
      return;
    }
    this.setEvents(pair, 0, Ev.BConnecting);
    // Data may already wait on A: pump it now rather than after another epoll round.
    this.queue(pair, 0);
  }

  /** EPOLLERR on a socket: reset the pair. */
  private sockError(pair: SplicePair, side: number): void {
    const rc = native.getsockoptInt(pair.fd[side], C.SOL_SOCKET, C.SO_ERROR, this.intOut);
    const err = rc === 0 && this.intOut[0] !== 0 ? this.intOut[0] : E.ECONNRESET;
    this.log.debug(`splice ${pair.id}: socket ${side === 0 ? 'A' : 'B'}: ${errnoName(err)}`);
    if (pair.events & Ev.BConnecting && side === 1) this.closePair(pair, 'refused', err);
    else this.closePair(pair, 'error', err);
  }

  /** Queue direction d of a pair for the batch-end pump. */
  private queue(pair: SplicePair, d: number): void {
    if (pair.ready === 0) this.readyPairs.push(pair);
    pair.ready |= 1 << d;
  }

  // ---------------------------------------------------------------------
  // The pump

  /** Batch end: one spliceBatch over every queued direction that can move data, then act on the results. */
  private pump(): void {
    let count = 0;
    for (const pair of this.readyPairs) {
      const dirs = pair.ready;
      pair.ready = 0;
      if (pair.events & (Ev.Closed | Ev.BConnecting)) continue;
      for (let d = 0; d < 2; d++) {
        if (!(dirs & (1 << d))) continue;
        const eof = (pair.events & EOF_BIT[d]) !== 0;
        if (pair.events & DONE_BIT[d] || (eof && pair.inPipe[d] === 0)) continue;
        if (count * SPLICE_OP_INTS >= this.ops.length) this.grow();
        const op = count * SPLICE_OP_INTS;
        this.ops[op + SpliceOp.FromFd] = eof ? -1 : pair.fd[d];
        this.ops[op + SpliceOp.ToFd] = pair.fd[1 - d];
        this.ops[op + SpliceOp.PipeR] = pair.pipeR[d];
        this.ops[op + SpliceOp.PipeW] = pair.pipeW[d];
        this.ops[op + SpliceOp.InPipe] = pair.inPipe[d];
        this.ops[op + SpliceOp.MaxBytes] = this.maxBytesPerPump;
        this.opPair[count] = pair;
        this.opDir[count] = d;
        count++;
      }
    }
    this.readyPairs.length = 0;

    if (count > 0) {
      native.spliceBatch(this.ops, count, this.results);
      for (let k = 0; k < count; k++) {
        this.pumped(this.opPair[k]!, this.opDir[k], k * SPLICE_RESULT_INTS);
        this.opPair[k] = undefined;
      }
    }
    this.recycleSlots();
  }

  /** Act on the result of pumping direction d of a pair. */
  private pumped(pair: SplicePair, d: number, r: number): void {
    if (pair.events & Ev.Closed) return;
    const moved = this.results[r + SpliceResult.Moved];
    const flags = this.results[r + SpliceResult.Flags];
    pair.inPipe[d] = this.results[r + SpliceResult.InPipe];
    pair.bytes[d] += moved;
    if (d === 0) this.counters.bytesAtoB += moved;
    else this.counters.bytesBtoA += moved;

    if (flags & (SpliceFlag.SourceError | SpliceFlag.DestinationError)) {
      const err = this.results[r + SpliceResult.Errno];
      const side = flags & SpliceFlag.SourceError ? d : 1 - d;
      this.log.debug(`splice ${pair.id}: ${side === 0 ? 'A' : 'B'}: ${flags & SpliceFlag.SourceError ? 'read' : 'write'}: ${errnoName(err)}`);
      this.closePair(pair, 'error', err);
      return;
    }
    let set = 0;
    if (flags & SpliceFlag.SourceEof) set |= EOF_BIT[d];
    if ((pair.events | set) & EOF_BIT[d] && pair.inPipe[d] === 0) {
      // Everything from this source is delivered: pass its EOF on.
      const rc = native.shutdown(pair.fd[1 - d], SHUT_WR);
      if (rc < 0) {
        this.log.debug(`splice ${pair.id}: shutdown: ${errnoName(rc)}`);
        this.closePair(pair, 'error', -rc);
        return;
      }
      set |= DONE_BIT[d];
    }
    if (((pair.events | set) & (Ev.AtoBDone | Ev.BtoADone)) === (Ev.AtoBDone | Ev.BtoADone)) {
      // Both directions finished: no need to update epoll on the way out.
      if (this.traceOn) this.trace(pair, `${eventNames(pair.events)} -> ${eventNames(pair.events | set)}`);
      pair.events |= set;
      this.closePair(pair, 'done', 0);
      return;
    }
    // The interest depends on inPipe too: recompute it even when no bit changes.
    this.setEvents(pair, set, 0);
  }

  private grow(): void {
    const ops = new Int32Array(this.ops.length * 2);
    ops.set(this.ops);
    this.ops = ops;
    const results = new Int32Array(this.results.length * 2);
    results.set(this.results);
    this.results = results;
  }

  private recycleSlots(): void {
    for (const index of this.freeLater) this.free.push(index);
    this.freeLater.length = 0;
  }

  // ---------------------------------------------------------------------
  // State changes, polling, closing

  /** The only place pair events change: traces the change and updates what epoll watches. */
  private setEvents(pair: SplicePair, set: number, clear: number): void {
    const before = pair.events;
    pair.events = (pair.events | set) & ~clear;
    if (this.traceOn && before !== pair.events) this.trace(pair, `${eventNames(before)} -> ${eventNames(pair.events)}`);
    if (pair.events & Ev.Closed) return;
    for (let side = 0; side < 2; side++) {
      let want = 0;
      if (pair.events & Ev.BConnecting) {
        if (side === 1) want = C.EPOLLOUT;
      } else {
        // Outgoing direction (d = side): read while its pipe is empty and EOF is not seen.
        if (!(pair.events & EOF_BIT[side]) && pair.inPipe[side] === 0) want |= C.EPOLLIN | C.EPOLLRDHUP;
        // Incoming direction (d = 1 - side): write when the data left in its pipe can go.
        if (pair.inPipe[1 - side] > 0) want |= C.EPOLLOUT;
      }
      // Registered with no events, a socket still reports errors; after a
      // hang-up it would report that forever, so then only while it wants something.
      const register = want !== 0 || !(pair.events & HUP_BIT[side]);
      this.watch(pair, side, register ? want : -1);
    }
  }

  /** Apply what epoll should watch on one side (-1: not registered). */
  private watch(pair: SplicePair, side: number, want: number): void {
    const had = pair.watched[side];
    if (want === had) return;
    const fd = pair.fd[side];
    const tag = pair.index * 2 + side;
    let rc: number;
    if (want < 0) rc = this.loop.del(fd);
    else if (had < 0) rc = this.loop.add(fd, FdKind.Splice, tag, want);
    else rc = this.loop.mod(fd, FdKind.Splice, tag, want);
    if (rc < 0) this.log.debug(`splice ${pair.id}: epoll for fd ${fd}: ${errnoName(rc)}`);
    pair.watched[side] = want;
  }

  /** Close both sockets (reset them unless the pair finished cleanly) and the pipes; report once. */
  private closePair(pair: SplicePair, reason: SpliceCloseReason, errno: number): void {
    if (pair.events & Ev.Closed) return;
    for (let side = 0; side < 2; side++) {
      if (pair.watched[side] >= 0) this.loop.del(pair.fd[side]);
      pair.watched[side] = -1;
    }
    if (reason === 'done') {
      native.close(pair.fd[0]);
      native.close(pair.fd[1]);
    } else if (reason === 'refused') {
      native.closeReset(pair.fd[0]);
      native.close(pair.fd[1]);
    } else {
      native.closeReset(pair.fd[0]);
      native.closeReset(pair.fd[1]);
    }
    for (let d = 0; d < 2; d++) {
      native.close(pair.pipeR[d]);
      native.close(pair.pipeW[d]);
    }
    this.setEvents(pair, Ev.Closed, 0);
    this.trace(pair, `closed (${reason}${errno ? `: ${errnoName(errno)}` : ''}), ${pair.bytes[0]} bytes A->B, ${pair.bytes[1]} B->A`);

    this.pairs[pair.index] = undefined;
    this.byId.delete(pair.id);
    this.freeLater.push(pair.index);
    this.counters.closed++;
    if (reason === 'refused') this.counters.refused++;
    else if (reason === 'error') this.counters.errors++;
    pair.onClose?.({ id: pair.id, bytesAtoB: pair.bytes[0], bytesBtoA: pair.bytes[1], reason, errno });
  }

  private trace(pair: SplicePair, msg: string): void {
    if (this.traceOn) this.log.trace(`splice ${pair.id} (fds ${pair.fd[0]}, ${pair.fd[1]}): ${msg}`);
  }
}
