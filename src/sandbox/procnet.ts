/**
 * /proc/net tables read through fds opened before the lock-down.
 *
 * Theory of operation: `auto` port forwarding rereads the socket tables of
 * the side it watches about once a second (fwd/autofwd.ts): the
 * namespace's through /proc/PID/net of pasta's helper, the host's through
 * /proc/net. Once sandboxed, the engine can open no file (the filter
 * refuses open(2), and with an empty root there is no /proc anyway), so
 * the tables are opened while it still can and kept open. A /proc/net
 * table is a seq_file that is generated afresh by every read from offset 0,
 * and keeps the network namespace it was opened in: pread(2) from offset 0
 * to the end gives the current table, as opening it again would.
 */
import fs from 'node:fs';

/** The tables `auto` reads. */
export const PROC_NET_TABLES = ['tcp', 'tcp6', 'udp', 'udp6'] as const;

/** Tables of one directory (/proc/net, /proc/PID/net), open for the life of the run. */
export class ProcNetTables {
  private readonly fds = new Map<string, number>();
  private chunk = Buffer.alloc(1 << 16);

  /** Opens the tables of `dir` that exist (an IPv6 table is absent without IPv6). */
  constructor(readonly dir: string) {
    for (const name of PROC_NET_TABLES) {
      try {
        this.fds.set(name, fs.openSync(`${dir}/${name}`, fs.constants.O_RDONLY));
      } catch {
        // Not there: read() says undefined, as reading it by path would.
      }
    }
  }

  /** The table's current text, or undefined when it is not open or cannot be read. */
  read(name: string): string | undefined {
    const fd = this.fds.get(name);
    if (fd === undefined) return undefined;
    try {
      const parts: Buffer[] = [];
      for (let pos = 0; ; ) {
        const n = fs.readSync(fd, this.chunk, 0, this.chunk.length, pos);
        if (n === 0) break;
        parts.push(Buffer.from(this.chunk.subarray(0, n)));
        pos += n;
      }
      return Buffer.concat(parts).toString('latin1');
    } catch {
      return undefined;
    }
  }

  /** Close every table. */
  close(): void {
    for (const fd of this.fds.values()) {
      try {
        fs.closeSync(fd);
      } catch {
        // already gone
      }
    }
    this.fds.clear();
  }
}

/** The host's tables, once kept open for a sandboxed engine (keepHostProcNetOpen()). */
let host: ProcNetTables | null = null;

/** Open the host's /proc/net tables now, for `readHostProcNet` to read after the lock-down. */
export function keepHostProcNetOpen(): void {
  host ??= new ProcNetTables('/proc/net');
}

/**
 * The host's (this process's network namespace's) /proc/net table `name`:
 * through the fds kept open for the sandbox, else by path. Undefined when
 * it cannot be read.
 */
export function readHostProcNet(name: string): string | undefined {
  if (host) return host.read(name);
  try {
    return fs.readFileSync(`/proc/net/${name}`, 'latin1');
  } catch {
    return undefined;
  }
}
