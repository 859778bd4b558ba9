// Typed entry point to the private test networks. The implementation lives in
// topology-core.js (plain JavaScript, so bench/run.js can use it without a
// TypeScript runner); this file only gives it types. See topology-core.js for
// the theory of operation.
//
//   real namespace (untouched)
//     └─ user ns "host" (identity id map when run as root)
//          ├─ net ns "host":   lo up; eth0 198.51.100.2/24, 2001:db8::2/64,
//          │                   default via 198.51.100.1 and 2001:db8::1, MTU 65520
//          │        │ veth
//          └─ net ns "remote": eth0 198.51.100.1/24, 2001:db8::1/64;
//                              lo 203.0.113.10/32, 2001:db8:1::10/128 (test servers)

import type { ChildProcess, SpawnOptions } from 'node:child_process';
import * as core from './topology-core.js';

export interface ExecOptions {
  /** Written to stdin, which is then closed (stdin is closed at once without it). */
  input?: string | Buffer;
  /** SIGKILL after this long; default 60 000 ms; 0 for no limit. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * After the process exits, how long to wait for its stdout/stderr to close
   * (a daemon it left may hold them); default 2000 ms. See stdioClosed.
   */
  closeGraceMs?: number;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  /** Killed because timeoutMs ran out. */
  timedOut: boolean;
  /** code === 0 and not timed out */
  ok: boolean;
  /**
   * stdout and stderr reached EOF within closeGraceMs of the exit. False when
   * something outliving the process (a daemon) kept them open, which would
   * make Podman wait: it waits for the exit *and* for the pipe to close.
   */
  stdioClosed: boolean;
}

/** A connection (TCP) or new peer (UDP) as the test server saw it. */
export interface PeerInfo {
  proto: 'tcp' | 'udp';
  /** Source address seen by the server (IPv4-mapped IPv6 shown as plain IPv4). */
  address: string;
  port: number;
  family: string;
  localAddress?: string;
  localPort?: number;
}

export type ServerMode = 'http' | 'echo' | 'sink' | 'source' | 'halfclose' | 'rst' | 'udpecho';

export interface ServerOptions {
  /** How long to wait for the "listening" line; default 10 000 ms. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface ServerHandle {
  port: number;
  pid: number;
  mode: string;
  process: ChildProcess;
  /** One entry per accepted TCP connection / new UDP peer, in arrival order. */
  peers: PeerInfo[];
  /** What the server wrote on stderr so far. */
  stderr(): string;
  /** Resolves with the first peer (already seen or future) matching predicate. */
  waitForPeer(predicate?: (p: PeerInfo) => boolean, timeoutMs?: number): Promise<PeerInfo>;
  /** SIGTERM (SIGKILL after 2 s) and wait for exit. */
  stop(): Promise<void>;
}

/** One namespace entered with `nsenter -t PID -U -n --preserve-credentials`. */
export interface Namespace {
  readonly name: string;
  /** PID of the holder process. */
  readonly pid: number;
  /** /proc/PID/ns/net of the holder, e.g. for `pasta --netns PATH`. */
  readonly netnsPath: string;
  /** /proc/PID/ns/user of the holder (the host's user namespace for all of them). */
  readonly usernsPath: string;
  /** Full argv running argv inside this namespace (working directory kept). */
  args(argv: string[]): string[];
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Spawn inside; the child is SIGKILLed by Topology.close(). Default stdio: 'pipe'. */
  spawn(argv: string[], opts?: SpawnOptions): ChildProcess;
  /** Run test/e2e/servers.js MODE ...args here and wait until it listens. */
  startServer(mode: ServerMode, args?: string[], opts?: ServerOptions): Promise<ServerHandle>;
}

export interface Addresses {
  readonly ifname: 'eth0';
  readonly mtu: 65520;
  readonly hostV4: '198.51.100.2';
  readonly gatewayV4: '198.51.100.1';
  readonly prefixV4: 24;
  readonly networkV4: '198.51.100.0/24';
  readonly hostV6: '2001:db8::2';
  readonly gatewayV6: '2001:db8::1';
  readonly prefixV6: 64;
  readonly networkV6: '2001:db8::/64';
  readonly serverV4: '203.0.113.10';
  readonly serverV6: '2001:db8:1::10';
}

export interface Topology {
  readonly host: Namespace;
  readonly remote: Namespace;
  readonly hostPid: number;
  readonly remotePid: number;
  readonly addresses: Addresses;
  /** MTU of the veth (65520 unless createTopology({mtu})). */
  readonly mtu: number;
  /** True when created as root: the host user namespace maps every uid/gid to itself. */
  readonly fullIdMap: boolean;
  /** `nsenter -t HOSTPID -U -n --preserve-credentials -- ...argv` */
  hostArgs(argv: string[]): string[];
  remoteArgs(argv: string[]): string[];
  execHost(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  execRemote(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /**
   * Run a full argv as is (e.g. from runInHostAsUser or hostArgs), tracked
   * like execHost: killed on timeout and by close().
   */
  execArgs(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Spawn a full argv as is, killed by close(). */
  spawnArgs(argv: string[], opts?: SpawnOptions): ChildProcess;
  spawnHost(argv: string[], opts?: SpawnOptions): ChildProcess;
  spawnRemote(argv: string[], opts?: SpawnOptions): ChildProcess;
  /** servers.js in the remote namespace (listens on :: dual-stack unless --bind). */
  startRemoteServer(mode: ServerMode, args?: string[], opts?: ServerOptions): Promise<ServerHandle>;
  /** servers.js in the host namespace (e.g. on its loopback, for pasta's gateway mapping). */
  startHostServer(mode: ServerMode, args?: string[], opts?: ServerOptions): Promise<ServerHandle>;
  /**
   * Another network namespace owned by the host's user namespace (as a
   * container runtime makes one); loopback down unless loopbackUp.
   */
  createNetns(opts?: { name?: string; loopbackUp?: boolean }): Promise<Namespace>;
  /** Kill everything started in or under the topology and the holders; wait for them. Idempotent. */
  close(): Promise<void>;
}

/** Fixed addressing of every topology. */
export const ADDRESSES: Addresses = core.ADDRESSES as unknown as Addresses;

/** Absolute path of test/e2e/servers.js. */
export const SERVERS_JS: string = core.SERVERS_JS;

/** Build the host/remote topology. Always close() it (afterAll). */
export function createTopology(opts?: { mtu?: number }): Promise<Topology> {
  return core.createTopology(opts) as unknown as Promise<Topology>;
}

/**
 * Argv running argv in the host namespace as an unprivileged user (real uid/gid
 * `uid`/`gid`, no capabilities, no supplementary groups): a rootless user on
 * "the host". Falls back to `unshare -U --map-user --map-group` when the
 * topology was not created as root.
 */
export function runInHostAsUser(topo: Topology, uid: number, gid: number, argv: string[]): string[] {
  return core.runInHostAsUser(topo as unknown as core.Topology, uid, gid, argv);
}

/**
 * What pasta and passt print first when they run as root in the topology's
 * "host": its user namespace maps every uid to itself, which is how upstream
 * (and so this project) recognises the initial user namespace, and there
 * root switches to nobody with this warning. Empty for a rootless topology.
 */
export function rootNote(topo: Topology): string {
  return topo.fullIdMap ? 'Started as root, will change to nobody.\n' : '';
}
