/**
 * The sandbox: what pasta and passt give up once they are set up. It
 * cannot be turned off, as upstream's cannot.
 *
 * Theory of operation: the engine is one Node process, which runs several
 * threads before any JavaScript does (V8's platform workers, libuv's pool,
 * the inspector's signal thread). Of what isolates a process, some is per
 * process and some per thread in Linux, and a multithreaded process can
 * neither make nor enter a user namespace; so what can be applied depends
 * on who we are:
 *
 * (a) an ordinary user in the initial user namespace (rootless pasta and
 *     passt): no capabilities to drop, and no way to a mount namespace of
 *     our own (that takes CAP_SYS_ADMIN, which we do not have where our
 *     mounts live). The filesystem wall is the seccomp filter: open(2),
 *     openat(2), execve(2) and everything else that is not on the
 *     allow-list (policy.ts) fail for every thread; and where the kernel
 *     has Landlock, a Landlock domain that grants no filesystem access:
 *     with LANDLOCK_RESTRICT_SELF_TSYNC (ABI 8) on every thread at once,
 *     before it thread by thread, as the capabilities are dropped (below).
 *     Landlock is applied in the other cases too, as a second wall.
 * (b) root in the initial user namespace: as upstream, the switch to nobody
 *     (or --runas), which glibc applies to every thread and which clears
 *     every capability; before it, while we still may, the empty root.
 * (c) root of another user namespace (how rootless Podman and rootlesskit
 *     run pasta): upstream stays uid 0 there and keeps only
 *     CAP_NET_BIND_SERVICE; so do we, after the empty root.
 *
 * The empty root (b, c): the main thread unshares a mount namespace and
 * pivots into an empty read-only tmpfs (native/sandbox.cc), so that
 * /proc/PID/root is not the host's root; every other thread it can reach
 * joins that namespace and drops its capabilities in a signal handler.
 * Node's inspector thread blocks every signal, so it cannot be reached: it
 * keeps the host's root (and in case c its capabilities), blocked for good
 * on a semaphore — which nothing posts once SIGUSR1 is ours, see below —
 * and, like every thread, under the seccomp filter.
 *
 * Then, in every case: no_new_privs, not dumpable, and one seccomp filter
 * on all threads at once (SECCOMP_FILTER_FLAG_TSYNC).
 *
 * Two steps, as upstream's isolate_prefork() and isolate_postfork():
 * `prepareSandbox()` — everything that can fail for a reason worth telling
 * the caller (the empty root, capabilities, the switch of user) — then,
 * once the handlers of signals and of the end are in place,
 * `lockSandbox()` (the namespace helper's own sandbox, Landlock, then the
 * filter); both before pasta or passt reports that it is ready (so that
 * whoever looks at it after the report sees it locked, and a failure is
 * reported as any other error) and before the event loop runs again, so
 * before the first frame is translated. Before
 * the first step, whatever would otherwise be loaded or opened later is
 * loaded and opened: the host's /proc/net tables for `auto` (procnet.ts); the namespace side is
 * kept open by pasta.ts, and so is the directory of the --netns file.
 * Logging needs no file: log.ts prints our records without loading pino.
 *
 * The in-process API (createPasta(), createPasst() without
 * `sandbox: 'process'`) applies none of this to the embedding program —
 * only the namespace helper is locked — see process.ts for the child
 * process that is.
 */
import fs from 'node:fs';
import { native, type SandboxThread, type SandboxCapSets } from '../native.js';
import type { Logger } from '../log.js';
import { buildProgram, currentArch, encodeProgram, syscallNames, type Mode, type Rule } from './bpf.js';
import {
  ENGINE_DEFAULT_ERRNO, ENGINE_RULES, HELPER_DEFAULT_ERRNO, HELPER_RULES, UNLINKER_DEFAULT_ERRNO, UNLINKER_RULES,
} from './policy.js';
import { keepHostProcNetOpen } from './procnet.js';

/** NODE_PASST_SANDBOX_TRACE=1: the filters log what they would refuse instead (how policy.ts was traced). */
export const TRACE_ENV = 'NODE_PASST_SANDBOX_TRACE';

export const CAP_NET_BIND_SERVICE = 10;
export const CAP_SYS_ADMIN = 21;

/** Landlock's filesystem rights by the ABI that introduced them (<linux/landlock.h>). */
const LANDLOCK_FS_BY_ABI: ReadonlyArray<[abi: number, rights: number]> = [
  [1, (1 << 13) - 1], // EXECUTE ... MAKE_SYM
  [2, 1 << 13], // REFER
  [3, 1 << 14], // TRUNCATE
  [5, 1 << 15], // IOCTL_DEV
];
/** Every filesystem right Landlock ABI `abi` knows (a domain handling them all and granting none denies them all). */
export function landlockFsRights(abi: number): number {
  return LANDLOCK_FS_BY_ABI.filter(([since]) => abi >= since).reduce((m, [, r]) => m | r, 0);
}

/** The ABI of LANDLOCK_RESTRICT_SELF_TSYNC, without which Landlock would restrict one thread. */
export const LANDLOCK_TSYNC_ABI = 8;

/** Whether this process's filters enforce or only log (NODE_PASST_SANDBOX_TRACE=1). */
export function sandboxMode(): Mode {
  return process.env[TRACE_ENV] === '1' ? 'log' : 'enforce';
}

function program(rules: readonly Rule[], errno: number): Buffer {
  const arch = currentArch();
  if (!arch) throw new Error(`sandbox: no system call table for ${process.arch}`);
  return encodeProgram(buildProgram(rules, arch, errno, sandboxMode()));
}

/** The engine's filter, as bytes for sandboxSeccomp(). */
export const engineProgram = (): Buffer => program(ENGINE_RULES, ENGINE_DEFAULT_ERRNO);
/** The namespace helper's, for nsLock(). */
export const helperProgram = (): Buffer => program(HELPER_RULES, HELPER_DEFAULT_ERRNO);
/** The unlinker's, for unlinker(). */
export const unlinkerProgram = (): Buffer => program(UNLINKER_RULES, UNLINKER_DEFAULT_ERRNO);

/**
 * RLIMIT_NOFILE's soft limit to its hard limit, as upstream does at start
 * (Node does it too, when it starts): [soft, hard] now, or null when it
 * cannot be read or set.
 */
export function raiseFileLimit(): [number, number] | null {
  try {
    return native.raiseNofile();
  } catch {
    return null;
  }
}

/** What prepareSandbox() did, for lockSandbox() and the --debug report. */
export interface Prepared {
  /** How the empty root was made, or null (case a: not possible). */
  emptyRoot: 'pivot_root' | 'chroot' | null;
  /** The capabilities kept (CAP_NET_BIND_SERVICE, if we had it and stay who we are). */
  keep: bigint;
  /** The capabilities of the main thread before. */
  before: SandboxCapSets;
  /** Every thread after, as the last broadcast left it (empty: none was needed). */
  threads: SandboxThread[];
  /** Where a trapped call is reported besides standard error (the log file), or -1. */
  reportFd: number;
}

export interface PrepareOptions {
  /** --chroot-fallback: chroot(2) where pivot_root(2) fails. */
  chrootFallback: boolean;
  log: Logger;
  /** Switch to --runas's user or nobody (privileges.ts): it needs capabilities the rest drops, so it runs here. */
  switchUser?: () => void;
  /** The --log-file, where a trapped call is reported too (opened now for appending). */
  logFile?: string | null;
}

const bit = (n: number): bigint => 1n << BigInt(n);

/**
 * The first step (see the top of this file). Throws an Error, in upstream's
 * words where it has them, when the empty root cannot be made or a
 * thread's capabilities cannot be dropped.
 */
export function prepareSandbox(opts: PrepareOptions): Prepared {
  // What would otherwise be loaded or opened later.
  keepHostProcNetOpen();
  let reportFd = -1;
  if (opts.logFile) reportFd = native.open(opts.logFile, fs.constants.O_WRONLY | fs.constants.O_APPEND);
  // SIGUSR1 would start the inspector (a debugger on a TCP port) in a running engine: ours now.
  process.on('SIGUSR1', () => {});

  const before = native.sandboxCaps(0);
  let emptyRoot: Prepared['emptyRoot'] = null;
  let mntnsFd = -1;
  if (before.effective & bit(CAP_SYS_ADMIN)) {
    const r = native.sandboxEmptyRoot(opts.chrootFallback);
    emptyRoot = r.chroot ? 'chroot' : 'pivot_root';
    mntnsFd = r.mntnsFd;
  }
  let keep = before.effective & bit(CAP_NET_BIND_SERVICE);
  let threads: SandboxThread[] = [];
  try {
    if (mntnsFd >= 0 || before.effective | before.permitted | before.inheritable) {
      // With a switch of user to come, the capabilities it needs stay until then.
      threads = native.sandboxThreads({ mntnsFd, bounding: true, keep: opts.switchUser ? null : keep });
      failedThread(threads);
    }
  } finally {
    if (mntnsFd >= 0) native.close(mntnsFd);
  }
  if (opts.switchUser) {
    opts.switchUser();
    // Leaving root clears every capability of every thread (glibc's setuid() reaches them
    // all); staying root (--runas 0) does not.
    const now = native.sandboxCaps(0);
    keep &= now.effective;
    if ((now.effective | now.permitted) & ~keep) {
      threads = native.sandboxThreads({ mntnsFd: -1, bounding: false, keep });
      failedThread(threads);
    } else if (threads.length) {
      threads = threads.map((t) => readBack(t));
    }
  }
  return { emptyRoot, keep, before, threads, reportFd };
}

/** The thread's capabilities as they are now. */
function readBack(t: SandboxThread): SandboxThread {
  try {
    const c = native.sandboxCaps(t.tid);
    return { ...t, effective: c.effective, permitted: c.permitted };
  } catch {
    return t;
  }
}

function failedThread(threads: SandboxThread[]): void {
  const failed = threads.find((t) => t.error);
  if (failed) throw new Error(`Couldn't drop capabilities of thread ${failed.tid}: ${failed.error}`);
}

export interface LockOptions {
  /** Our name, for the line a trapped call writes ("pasta: sandbox: system call ..."). */
  name: string;
  log: Logger;
  /** Control sockets of namespace helpers to lock too (pasta). */
  helpers?: number[];
}

/**
 * The second step: the namespace helpers' sandboxes, Landlock where the
 * kernel can apply it to every thread, then no_new_privs and the seccomp
 * filter on every thread. Writes the --debug report. Throws an Error in
 * upstream's words ("Failed to apply seccomp filter: ...") on failure.
 */
export function lockSandbox(prepared: Prepared, opts: LockOptions): void {
  const { log } = opts;
  let helperRoots = 0;
  for (const ctl of opts.helpers ?? []) helperRoots += lockHelper(ctl) ? 1 : 0;
  const prog = engineProgram();
  let rc = native.sandboxNoNewPrivs();
  if (rc < 0) throw new Error(`Failed to set no_new_privs: ${native.strerror(rc)}`);
  const landlock = applyLandlock(log);
  const arch = currentArch()!;
  rc = native.sandboxSeccomp(prog, syscallNames(arch), prepared.reportFd, opts.name, sandboxMode() === 'log');
  if (rc < 0) throw new Error(`Failed to apply seccomp filter: ${native.strerror(rc)}`);
  if (rc > 0) throw new Error(`Failed to apply seccomp filter: thread ${rc} could not be synchronised`);
  if (log.isLevelEnabled('debug')) {
    for (const line of describeSandbox(prepared, { instructions: prog.length / 8, helpers: opts.helpers?.length ?? 0, helperRoots, landlock, mode: sandboxMode() })) log.debug(line);
  }
}

/**
 * Landlock, a filesystem wall of its own besides the filter's: a domain
 * that handles every filesystem right the kernel knows and grants none, so
 * that no file can be opened, made or removed by path (fds already open
 * keep working). With LANDLOCK_RESTRICT_SELF_TSYNC (ABI 8) on every thread
 * at once; before it, thread by thread through sandboxThreads()'s
 * broadcast, which every thread but one that blocks all signals (Node's
 * inspector thread) answers. Returns the line for the --debug report; a
 * failure is a warning, not fatal: the seccomp filter still refuses
 * opening files.
 */
function applyLandlock(log: Logger): string {
  const abi = native.landlockAbi();
  if (abi <= 0) return `no Landlock (${native.strerror(abi)})`;
  const rights = landlockFsRights(abi);
  let line: string;
  if (abi >= LANDLOCK_TSYNC_ABI) {
    const rc = native.landlockDenyFiles(rights);
    line = rc < 0 ? `Landlock ABI ${abi}: not applied: ${native.strerror(rc)}` : `Landlock ABI ${abi}: no filesystem access, on every thread`;
    if (rc < 0) log.warn(`sandbox: ${line}`);
    return line;
  }
  const fd = native.landlockRuleset(rights);
  if (fd < 0) {
    line = `Landlock ABI ${abi}: not applied: ${native.strerror(fd)}`;
    log.warn(`sandbox: ${line}`);
    return line;
  }
  try {
    const threads = native.sandboxThreads({ mntnsFd: -1, bounding: false, keep: null, landlockFd: fd });
    const failed = threads.find((t) => t.error);
    if (failed) {
      line = `Landlock ABI ${abi}: thread ${failed.tid}: ${failed.error}`;
      log.warn(`sandbox: ${line}`);
      return line;
    }
    const reached = threads.filter((t) => t.state === 'self' || t.state === 'done').length;
    const live = threads.filter((t) => t.state !== 'gone').length;
    return `Landlock ABI ${abi}: no filesystem access, on ${reached} of ${live} threads` + (reached < live ? ' (the others block every signal)' : '');
  } finally {
    native.close(fd);
  }
}

/**
 * Sandbox pasta's namespace helper (its control socket `ctlFd`) now that
 * the namespace is set up: an empty root of its own where it can have one
 * (it is single-threaded: wherever it has CAP_SYS_ADMIN, which it has in
 * the namespace's user namespace), no capabilities, its own seccomp filter
 * (policy.ts: HELPER_RULES). Returns whether it got the empty root.
 * Throws on failure.
 */
export function lockHelper(ctlFd: number): boolean {
  const rc = native.nsLock(ctlFd, helperProgram());
  if (rc < 0) throw new Error(`Failed to sandbox the namespace helper: ${native.strerror(rc)}`);
  return rc === 1;
}

/** Capability sets as upstream's /proc/PID/status shows them: 16 hex digits. */
export function capHex(caps: bigint): string {
  return caps < 0n ? 'unknown' : caps.toString(16).padStart(16, '0');
}

/** The --debug report of a sandbox. Pure, for tests. */
export function describeSandbox(
  p: Prepared,
  extra: { instructions: number; helpers: number; helperRoots?: number; landlock: string; mode: Mode },
): string[] {
  const lines: string[] = [];
  lines.push(
    p.emptyRoot === 'pivot_root'
      ? 'sandbox: an empty read-only root (pivot_root into a tmpfs, in a mount namespace of our own)'
      : p.emptyRoot === 'chroot'
        ? 'sandbox: an empty read-only root (chroot into a tmpfs, in a mount namespace of our own: pivot_root failed)'
        : 'sandbox: no empty root (no CAP_SYS_ADMIN here): the seccomp filter refuses opening files',
  );
  lines.push(`sandbox: capabilities kept: ${capHex(p.keep)}${p.keep ? ' (CAP_NET_BIND_SERVICE)' : ''}`);
  const reached = p.threads.filter((t) => t.state === 'self' || t.state === 'done');
  if (p.threads.length) lines.push(`sandbox: ${reached.length} of ${p.threads.length} threads reached`);
  for (const t of p.threads) {
    if (t.state === 'self' || t.state === 'done' || t.state === 'gone') continue;
    const why = t.state === 'blocked' ? 'blocks every signal (Node\'s inspector thread)' : 'did not answer in time';
    const root = p.emptyRoot ? ' and the host\'s root' : '';
    lines.push(`sandbox: thread ${t.tid} ${why}: it keeps capabilities ${capHex(t.effective)}${root}, under the seccomp filter`);
  }
  lines.push(`sandbox: ${extra.landlock}`);
  lines.push(`sandbox: seccomp filter of ${extra.instructions} instructions on every thread, no_new_privs` + (extra.mode === 'log' ? ' (tracing: refusals are logged, not enforced)' : ''));
  if (extra.helpers) lines.push(`sandbox: namespace helper: ${extra.helperRoots ? 'an empty read-only root, ' : ''}no capabilities, its own seccomp filter`);
  return lines;
}
