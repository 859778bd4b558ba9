// Types for guest.js (a QEMU test guest attached to passt); see that file.
import type { ChildProcess, SpawnOptions } from 'node:child_process';

export interface GuestImage {
  /** Path of the kernel (vmlinuz) in the cache. */
  kernel: string;
  /** Path of the initramfs (cpio.gz) in the cache. */
  initrd: string;
  kernelVersion: string;
  kernelPackage: string;
  busyboxVersion: string;
}

export interface GuestOptions {
  /** passt's UNIX domain socket (passt -s PATH). */
  socketPath: string;
  /** Shell script (busybox sh) run in the guest once eth0 is up. */
  script: string;
  /** From QEMU's start to its exit; default 90 000 ms. */
  timeoutMs?: number;
  /** Guest memory; default 256 MiB. */
  memoryMb?: number;
  /** MAC address of the guest's NIC; default 52:54:00:12:34:56. */
  mac?: string;
  /** More kernel command line. */
  append?: string;
  /** QEMU binary; default qemu-system-x86_64. */
  qemu?: string;
  /** Attach the NIC with `-netdev vhost-user` (guest memory in a shared memfd), not `-netdev stream`. */
  vhostUser?: boolean;
  /** Where this boot's files go (default: a new directory under os.tmpdir()). */
  dir?: string;
  /** The path QEMU sees for a file under `dir` (QEMU in another mount namespace); the kernel is then copied there too. */
  pathFor?: (hostPath: string) => string;
  /** How to start QEMU, e.g. `(argv, opts) => topo.host.spawn(argv, opts)`. */
  spawn?: (argv: string[], opts: SpawnOptions) => ChildProcess;
  /** Every console line as it arrives (kernel messages included). */
  onLine?: (line: string) => void;
}

export interface GuestResult {
  /** The script's exit status. */
  exitCode: number;
  /** What the script printed (stdout and stderr), "\r" removed. */
  output: string;
  /** The whole console output. */
  console: string;
  /** From QEMU's start to the script's start. */
  bootMs: number;
  /** From QEMU's start to its exit. */
  totalMs: number;
}

export interface Guest {
  process: ChildProcess;
  result: Promise<GuestResult>;
  /** What the script printed so far. */
  output(): string;
  /** Resolves once the script's output matches `re`. */
  waitFor(re: RegExp, waitMs?: number): Promise<RegExpMatchArray>;
  /** Write to the guest's console, which is the script's stdin. */
  send(text: string): void;
  kill(): void;
}

export declare function ensureGuestImage(opts?: { force?: boolean }): GuestImage;
export declare function qemuArgv(o: {
  kernel: string;
  initrd: string;
  socketPath: string;
  memoryMb?: number;
  mac?: string;
  append?: string;
  qemu?: string;
  vhostUser?: boolean;
}): string[];
export declare function startGuest(opts: GuestOptions): Guest;
export declare function bootGuest(opts: GuestOptions): Promise<GuestResult>;
