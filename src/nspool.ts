/**
 * Sockets made inside the namespace, a batch at a time.
 *
 * Theory of operation: a socket in the namespace comes from pasta's helper
 * process (Node cannot enter the namespace itself), one request and reply
 * over a UNIX socket each, which blocks the loop for a round trip. The
 * spliced path needs one per forwarded connection, so sockets are asked for
 * in batches (one round trip, one SCM_RIGHTS message) and handed out from a
 * spare list per family and type. Spare sockets are unbound and
 * unconnected: they hold no port and appear in no /proc/net table. `close()`
 * releases the spares.
 */
import { native, C } from './native.js';

/** Sockets asked for per round trip. */
const BATCH = 16;

export class NsSocketPool {
  private readonly spare = new Map<number, number[]>();
  private readonly out = new Int32Array(BATCH);
  private closed = false;
  /** Round trips to the helper, for statistics and tests. */
  calls = 0;

  constructor(private readonly ctlFd: number) {}

  /** A nonblocking socket of `family` and `type` (SOCK_STREAM or SOCK_DGRAM) in the namespace, or -errno. */
  take(family: 4 | 6, type: number): number {
    const af = family === 4 ? C.AF_INET : C.AF_INET6;
    const key = af * 16 + type;
    let list = this.spare.get(key);
    if (!list || list.length === 0) {
      if (this.closed) return -9; // EBADF
      this.calls++;
      const n = native.nsSockets(this.ctlFd, af, type | C.SOCK_NONBLOCK, 0, this.out);
      if (n < 0) return n;
      list = Array.from(this.out.subarray(0, n)).reverse();
      this.spare.set(key, list);
    }
    return list.pop()!;
  }

  /** Close the spare sockets; `take` fails from now on. */
  close(): void {
    this.closed = true;
    for (const list of this.spare.values()) for (const fd of list) native.close(fd);
    this.spare.clear();
  }
}
