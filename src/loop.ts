/**
 * The event loop: one epoll fd (native Poller) watched by libuv, one enum of
 * fd kinds, one switch.
 *
 * Theory of operation: every fd the engine watches is registered with a tag
 * `kind << 24 | index`, where `index` names the object of that kind (a TCP
 * connection slot, say). When epoll reports events, the native side hands a
 * batch of `[tag, events]` pairs to `dispatch`, which calls the handler
 * registered for each kind. After a batch, the "batch end" hooks run: this is
 * where frames queued for the tap during the batch leave in one write call,
 * and where data collected per flow is flushed. Timers are one periodic tick
 * that passes `now` (milliseconds, monotonic) down to the protocol code, so
 * that code never reads the clock itself and stays testable: a test gives
 * the loop its own clock and no tick timer (`LoopOptions`), and calls
 * `tick()` itself after moving that clock on.
 */
import { native, type Poller } from './native.js';

/** Kinds of fds the loop dispatches. */
export const enum FdKind {
  Tap = 1,
  TcpSock = 2,
  Child = 3,
  Watch = 4,
  UdpSock = 5,
  IcmpSock = 6,
  TcpListen = 7,
  Splice = 8,
  UdpSplice = 9,
}

/** Names of the fd kinds, for --stats (index: FdKind). */
export const FD_KIND_NAMES: readonly string[] = ['', 'tap', 'tcp', 'child', 'watch', 'udp', 'icmp', 'listen', 'splice', 'udp splice'];

export type FdHandler = (index: number, events: number, now: number) => void;

/** Milliseconds from an arbitrary origin, monotonic. */
export function monotonicNow(): number {
  return performance.now();
}

export interface LoopOptions {
  /** Milliseconds, monotonic: what `now` is for events and ticks (default: monotonicNow). */
  clock?: () => number;
  /** No tick timer: the owner calls tick() (tests, with their own clock). */
  manualTicks?: boolean;
}

export class Loop {
  private readonly poller: Poller;
  private readonly handlers: Array<FdHandler | undefined> = [];
  private readonly batchEnd: Array<(now: number) => void> = [];
  private readonly ticks: Array<(now: number) => void> = [];
  private tickTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Set while dispatching, so nested work can tell it will be flushed. */
  inBatch = false;
  /** Events dispatched so far, by FdKind (--stats). */
  readonly eventCounts = new Float64Array(FD_KIND_NAMES.length);

  private errorWindowStart = 0;
  private errorsInWindow = 0;

  /**
   * `onError` gets exceptions thrown by handlers (bugs: bad input is dropped,
   * never thrown). If they repeat — a level-triggered fd whose handler keeps
   * failing would otherwise spin — `onFatal` is called once instead.
   */
  /** The loop's clock (LoopOptions.clock). */
  readonly now: () => number;
  private readonly manualTicks: boolean;

  constructor(
    private readonly onErrorCb: (err: unknown) => void,
    readonly tickMs = 50,
    private readonly onFatal: (err: unknown) => void = (err) => {
      throw err;
    },
    options: LoopOptions = {},
  ) {
    this.now = options.clock ?? monotonicNow;
    this.manualTicks = options.manualTicks ?? false;
    this.poller = new native.Poller((events, count) => this.dispatch(events, count), 256);
  }

  private onError(err: unknown): void {
    const now = this.now();
    if (now - this.errorWindowStart > 1000) {
      this.errorWindowStart = now;
      this.errorsInWindow = 0;
    }
    if (++this.errorsInWindow > 20) {
      this.close();
      this.onFatal(err);
      return;
    }
    this.onErrorCb(err);
  }

  /** Register the handler for an fd kind. */
  on(kind: FdKind, handler: FdHandler): void {
    this.handlers[kind] = handler;
  }

  /** Run `fn` after each batch of events (and after each tick). */
  onBatchEnd(fn: (now: number) => void): void {
    this.batchEnd.push(fn);
  }

  /** Run `fn(now)` every tick. */
  onTick(fn: (now: number) => void): void {
    this.ticks.push(fn);
    if (!this.tickTimer && !this.closed && !this.manualTicks) {
      this.tickTimer = setInterval(() => this.tick(), this.tickMs);
      this.tickTimer.unref();
    }
  }

  /** Watch `fd` as (kind, index) for `events`. Returns 0 or -errno. */
  add(fd: number, kind: FdKind, index: number, events: number): number {
    return this.poller.add(fd, events, ((kind << 24) | index) >>> 0);
  }

  /** Change what is watched on `fd`. Returns 0 or -errno. */
  mod(fd: number, kind: FdKind, index: number, events: number): number {
    return this.poller.mod(fd, events, ((kind << 24) | index) >>> 0);
  }

  /** Stop watching `fd`. Returns 0 or -errno. */
  del(fd: number): number {
    return this.poller.del(fd);
  }

  /** Let the process exit even though the loop is open. */
  unref(): void {
    this.poller.unref();
  }

  ref(): void {
    this.poller.ref();
  }

  private dispatch(events: Uint32Array, count: number): void {
    this.batch((now) => {
      for (let i = 0; i < count; i++) {
        // A handler may close the loop (pasta's command exited, say) and with it the fds the
        // rest of this batch is about: their events are stale, and the fd numbers may be reused.
        if (this.closed) break;
        const tag = events[2 * i];
        const ev = events[2 * i + 1];
        const kind = tag >>> 24;
        this.eventCounts[kind]++;
        const handler = this.handlers[kind];
        if (handler) handler(tag & 0xffffff, ev, now);
      }
    });
  }

  /**
   * Run `fn` as one batch of events: `inBatch` is set while it runs, and the
   * batch-end hooks run after it (what was deferred to the end of the batch
   * happens then). The loop's own dispatch does this; a test that hands
   * frames to the engine does it to be handled exactly as the loop would.
   */
  batch(fn: (now: number) => void): void {
    const now = this.now();
    this.inBatch = true;
    try {
      fn(now);
    } catch (err) {
      this.onError(err);
    } finally {
      this.inBatch = false;
      if (!this.closed) this.runBatchEnd(now);
    }
  }

  private runBatchEnd(now: number): void {
    for (const fn of this.batchEnd) {
      try {
        fn(now);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  /** Run the tick hooks, then the batch-end hooks, at the loop's clock (the timer calls this). */
  tick(): void {
    const now = this.now();
    for (const fn of this.ticks) {
      if (this.closed) return;
      try {
        fn(now);
      } catch (err) {
        this.onError(err);
      }
    }
    if (!this.closed) this.runBatchEnd(now);
  }

  /** Stop the loop: no more events or ticks. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.poller.close();
  }
}
