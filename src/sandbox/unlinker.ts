/**
 * Removing passt's socket file once the engine is sandboxed.
 *
 * Theory of operation: passt removes its UNIX domain socket file when it
 * stops (as node:net does when the server closes), but a sandboxed engine
 * can unlink nothing: the filter refuses unlink(2), and with an empty root
 * the path is not there to see. So before the sandbox, a small child is
 * forked (native/sandbox.cc) that knows the one path and the file it was
 * (device and inode) and does nothing else: asked (`remove()`), or when the
 * engine's end of its socket closes because the engine died, it removes the
 * path if it is still that file, and exits. It keeps the user it was
 * forked as (the socket's owner, which is what removing it in a sticky
 * directory such as /tmp takes), drops every capability, and runs under
 * its own seccomp filter (policy.ts: UNLINKER_RULES).
 */
import { native } from '../native.js';
import { unlinkerProgram } from './index.js';

/** How long the engine waits for the file to be removed when it stops. */
const REMOVE_TIMEOUT_MS = 2000;

export class SocketUnlinker {
  private fd: number;
  readonly pid: number;

  /** Fork the unlinker for `path` (the socket file just bound). Throws if it cannot be forked. */
  constructor(readonly path: string) {
    const { pid, fd } = native.unlinker(path, unlinkerProgram(), `passt: unlinker of ${path}`);
    this.pid = pid;
    this.fd = fd;
  }

  /** Remove the file now (once): 0 or -errno (-ESTALE: the path is another file now). */
  remove(): number {
    if (this.fd < 0) return 0;
    const rc = native.unlinkerRun(this.fd, REMOVE_TIMEOUT_MS);
    this.fd = -1;
    return rc;
  }
}
