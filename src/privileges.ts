/**
 * Switching user once set up: --runas's user, or nobody when started as
 * root in the initial user namespace (conf.ts decides which), as upstream's
 * isolate_user() does — after what needs the original user (the namespace,
 * the tap, the listening sockets, the PID and log files) is done.
 *
 * Node.js's process.setgid()/setuid() change every thread (the C library
 * does it for all of them). setgroups() fails without CAP_SETGID, as
 * upstream's does, and is then left alone.
 */
import type { Config } from './conf.js';
import { M } from './messages.js';
import { native } from './native.js';

/** Switch to `config.runAs`, if any; on failure `fail` is called with upstream's words. */
export function dropPrivileges(config: Config, fail: (message: string) => never): void {
  const to = config.runAs;
  if (!to || (process.geteuid?.() === to.uid && process.getegid?.() === to.gid)) return;
  try {
    process.setgroups?.([]);
  } catch {
    // Without CAP_SETGID, as upstream: carry on.
  }
  const why = (err: unknown): string => {
    const e = err as NodeJS.ErrnoException;
    return typeof e.errno === 'number' ? native.strerror(e.errno) : e.message;
  };
  try {
    process.setgid?.(to.gid);
  } catch (err) {
    fail(M.setGid(to.gid, why(err)));
  }
  try {
    process.setuid?.(to.uid);
  } catch (err) {
    fail(M.setUid(to.uid, why(err)));
  }
}
