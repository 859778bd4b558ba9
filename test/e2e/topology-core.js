// Private test networks: "the host" and "the remote network", built in
// namespaces that this process creates, never touching the machine's own
// network namespace. Plain JavaScript (JSDoc-typed) so that both the vitest
// suites (through the typed re-export topology.ts) and bench/run.js (plain
// node, no TypeScript runner) use the same code.
//
// Theory of operation
// -------------------
// A namespace lives as long as some process is in it (or something holds an
// fd or a bind mount to it). Each namespace here is held by a *holder*: a
// `sh -c 'echo ready; read x'` whose stdin is a pipe from this process. When
// this process dies, however it dies, the pipe closes, `read` returns and the
// holder exits (setpriv --pdeathsig KILL is a second guard). Everything else
// is run with nsenter(1) into the holders' namespaces.
//
//   real namespace (untouched)
//     └─ user ns "host" (as root: identity map of every uid/gid, so that
//        setuid to an unprivileged uid inside is possible; otherwise unshare -r)
//          ├─ net ns "host":   lo up; eth0 198.51.100.2/24, 2001:db8::2/64,
//          │                   default via 198.51.100.1 and 2001:db8::1
//          │        │ veth (both ends named eth0, MTU 65520)
//          └─ net ns "remote": eth0 198.51.100.1/24, 2001:db8::1/64;
//                              lo 203.0.113.10/32, 2001:db8:1::10/128 (servers)
//
// The veth is created from inside the host namespace with its peer placed
// directly in the remote namespace (`peer name eth0 netns PID`), so nothing is
// ever created in the real namespace. DAD is turned off (accept_dad=0 and
// nodad) so IPv6 is usable at once; creation still waits until no address is
// tentative and until TCP to 203.0.113.10 and 2001:db8:1::10 gets an answer.
//
// close() kills every process this module started, then every process that is
// in one of the topology's namespaces or in any user namespace below the
// host's (lsns gives the user-namespace tree), then the holders, and waits
// until all are gone. A process 'exit' hook does the same, synchronously, if
// the test process leaves without calling close().

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Absolute path of the test servers script (test/e2e/servers.js). */
export const SERVERS_JS = path.join(here, 'servers.js');

/** The fixed addressing of every topology. */
export const ADDRESSES = Object.freeze({
  ifname: 'eth0',
  mtu: 65520,
  hostV4: '198.51.100.2',
  gatewayV4: '198.51.100.1',
  prefixV4: 24,
  networkV4: '198.51.100.0/24',
  hostV6: '2001:db8::2',
  gatewayV6: '2001:db8::1',
  prefixV6: 64,
  networkV6: '2001:db8::/64',
  serverV4: '203.0.113.10',
  serverV6: '2001:db8:1::10',
});

const READY_TIMEOUT_MS = 10_000;
const DEFAULT_EXEC_TIMEOUT_MS = 60_000;

/** @type {Set<Topology>} */
const openTopologies = new Set();
let exitHookInstalled = false;

function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const topo of openTopologies) topo.killAllSync();
  });
}

/** Sleep. @param {number} ms */
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The namespace inode link of a process ("net:[4026532...]"), or undefined.
 * @param {number|string} pid
 * @param {'net'|'user'} kind
 */
function nsLink(pid, kind) {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

/** "user:[4026532177]" -> 4026532177 @param {string|undefined} link */
function nsInode(link) {
  const m = link ? /\[(\d+)\]/.exec(link) : null;
  return m ? Number(m[1]) : undefined;
}

/** True if a pid is alive and not a zombie. @param {number} pid */
function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * Inodes of the user namespace `root` and of every user namespace below it,
 * from lsns(8)'s parent column. Falls back to just `root` if lsns fails.
 * @param {number} root
 * @returns {Set<number>}
 */
function userNamespaceTree(root) {
  const tree = new Set([root]);
  try {
    const out = execFileSync('lsns', ['-J', '-t', 'user', '-o', 'NS,PNS'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    });
    const list = JSON.parse(out).namespaces ?? [];
    let grew = true;
    while (grew) {
      grew = false;
      for (const ns of list) {
        if (!tree.has(Number(ns.ns)) && tree.has(Number(ns.pns))) {
          tree.add(Number(ns.ns));
          grew = true;
        }
      }
    }
  } catch {
    // lsns missing or failed: direct members only
  }
  return tree;
}

/**
 * PIDs of processes inside the given namespaces.
 * @param {Set<number>} userNs user-namespace inodes
 * @param {Set<number>} netNs network-namespace inodes
 * @returns {number[]}
 */
function membersOf(userNs, netNs) {
  const pids = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const u = nsInode(nsLink(pid, 'user'));
    const n = nsInode(nsLink(pid, 'net'));
    if ((u !== undefined && userNs.has(u)) || (n !== undefined && netNs.has(n))) pids.push(pid);
  }
  return pids;
}

/** @param {number} pid @param {NodeJS.Signals} [signal] */
function killQuietly(pid, signal = 'SIGKILL') {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Kill every process in the namespaces until none is left (or the deadline
 * passes). Synchronous: used by the watchdog and the 'exit' hook.
 * @param {number} userNs @param {Set<number>} netNs @param {Set<number>} [spare] pids not to kill
 */
function sweepSync(userNs, netNs, spare = new Set()) {
  const deadline = Date.now() + 5000;
  for (let round = 0; round < 50 && Date.now() < deadline; round++) {
    const members = membersOf(userNamespaceTree(userNs), netNs).filter((pid) => !spare.has(pid) && alive(pid));
    if (members.length === 0) return;
    for (const pid of members) killQuietly(pid);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

/**
 * Watchdog mode (`node topology-core.js --watchdog HOSTPID`): a detached
 * process outside the namespaces that holds them open (fds, so their inode
 * numbers cannot be reused while it runs), learns further network namespaces
 * from "net PID" lines on stdin, and when stdin closes (the test process is
 * gone or close() is done) kills whatever is still inside them.
 * @param {number} hostPid
 */
function runWatchdog(hostPid) {
  /** @type {number[]} */ const fds = [];
  /** @param {string} file */
  const hold = (file) => {
    const fd = fs.openSync(file, 'r');
    fds.push(fd);
    return Number(fs.fstatSync(fd).ino);
  };
  const userNs = hold(`/proc/${hostPid}/ns/user`);
  const netNs = new Set([hold(`/proc/${hostPid}/ns/net`)]);
  let buffered = '';
  process.stdin.on('data', (d) => {
    buffered += d;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const m = /^net (\d+)$/.exec(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      if (m) {
        try {
          netNs.add(hold(`/proc/${m[1]}/ns/net`));
        } catch {
          // already gone
        }
      }
    }
    process.stdout.write('ok\n');
  });
  const finish = () => {
    sweepSync(userNs, netNs);
    process.exit(0);
  };
  process.stdin.on('end', finish);
  process.stdin.on('error', finish);
  process.on('SIGTERM', () => {}); // only stdin closing ends the watchdog
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  process.stdout.write('ready\n');
}

if (process.argv[2] === '--watchdog' && process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runWatchdog(Number(process.argv[3]));
}

/**
 * Resolves when a child process has exited.
 * @param {import('node:child_process').ChildProcess} child
 * @returns {Promise<void>}
 */
function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
}

/**
 * Start a holder and wait for its "ready" line.
 * @param {string[]} argv
 * @returns {Promise<import('node:child_process').ChildProcess>}
 */
function startHolder(argv) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`namespace holder did not start within ${READY_TIMEOUT_MS} ms: ${argv.join(' ')}\n${err}`));
    }, READY_TIMEOUT_MS);
    const fail = (why) => {
      clearTimeout(timer);
      reject(new Error(`cannot start namespace holder (${argv.join(' ')}): ${why}\n${err}`));
    };
    child.once('error', (e) => fail(e.message));
    child.once('exit', (code, signal) => fail(`exited with ${code ?? signal}`));
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('ready\n')) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        child.removeAllListeners('error');
        child.on('error', () => {});
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        child.stderr.resume();
        // Never keep the event loop alive for a holder: it dies with us anyway.
        child.unref();
        /** @type {any} */ (child.stdin).unref?.();
        /** @type {any} */ (child.stdout).unref?.();
        /** @type {any} */ (child.stderr).unref?.();
        child.stdin.on('error', () => {});
        resolve(child);
      }
    });
  });
}

/**
 * Start the watchdog (see runWatchdog) for a host holder.
 * @param {number} hostPid
 * @returns {Promise<import('node:child_process').ChildProcess>}
 */
function startWatchdog(hostPid) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--watchdog', String(hostPid)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    detached: true, // its own process group: a ^C to the test's group leaves it to clean up
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('namespace watchdog did not start'));
    }, READY_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start namespace watchdog: ${e.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`namespace watchdog exited (${code ?? signal})`));
    });
    child.stdout?.once('data', () => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.removeAllListeners('error');
      child.on('error', () => {});
      child.stdin?.on('error', () => {});
      child.unref();
      /** @type {any} */ (child.stdin).unref?.();
      /** @type {any} */ (child.stdout).unref?.();
      resolve(child);
    });
  });
}

/** The holder command: prints "ready" once inside its namespaces, then waits for EOF on stdin. */
const HOLDER = ['setpriv', '--pdeathsig', 'KILL', '--', 'sh', '-c', 'echo ready; read x'];

/**
 * @typedef {object} ExecOptions
 * @property {string|Buffer} [input]   written to stdin, which is then closed
 * @property {number} [timeoutMs]      SIGKILL after this long (default 60 s; 0: none)
 * @property {NodeJS.ProcessEnv} [env] environment (default: this process's)
 * @property {string} [cwd]            working directory (default: this process's)
 * @property {number} [closeGraceMs]   after the exit, how long to wait for stdout/stderr to
 *                                     close (a daemon may keep them); default 2000
 */

/**
 * @typedef {object} ExecResult
 * @property {number|null} code
 * @property {NodeJS.Signals|null} signal
 * @property {Buffer} stdout
 * @property {Buffer} stderr
 * @property {boolean} timedOut
 * @property {boolean} ok             code === 0 (and not timed out)
 * @property {boolean} stdioClosed    stdout and stderr reached EOF (false: something
 *                                     that outlived the process, e.g. a daemon, held them)
 */

/**
 * @typedef {object} PeerInfo
 * @property {'tcp'|'udp'} proto
 * @property {string} address         source address as the server saw it (IPv4-mapped unmapped)
 * @property {number} port
 * @property {string} family
 * @property {string} [localAddress]
 * @property {number} [localPort]
 */

/**
 * @typedef {object} ServerHandle
 * @property {number} port
 * @property {number} pid
 * @property {string} mode
 * @property {import('node:child_process').ChildProcess} process
 * @property {PeerInfo[]} peers       one entry per accepted connection / new UDP peer, in order
 * @property {() => string} stderr    what the server wrote on stderr so far
 * @property {(predicate?: (p: PeerInfo) => boolean, timeoutMs?: number) => Promise<PeerInfo>} waitForPeer
 * @property {() => Promise<void>} stop
 */

/**
 * One namespace (or pair) entered with nsenter. Used for the host, the remote
 * and extra namespaces from Topology.createNetns().
 */
export class Namespace {
  /**
   * @param {Topology} topo
   * @param {string} name
   * @param {number} pid holder PID
   */
  constructor(topo, name, pid) {
    this.topo = topo;
    this.name = name;
    this.pid = pid;
    /** /proc/PID/ns/net of the holder: usable as pasta --netns PATH while the topology is open */
    this.netnsPath = `/proc/${pid}/ns/net`;
    /** /proc/PID/ns/user of the holder */
    this.usernsPath = `/proc/${pid}/ns/user`;
  }

  /** @param {string[]} argv @returns {string[]} */
  args(argv) {
    return ['nsenter', '-t', String(this.pid), '-U', '-n', '--preserve-credentials', '--', ...argv];
  }

  /** @param {string[]} argv @param {ExecOptions} [opts] @returns {Promise<ExecResult>} */
  exec(argv, opts) {
    return this.topo.execArgs(this.args(argv), opts);
  }

  /** @param {string[]} argv @param {import('node:child_process').SpawnOptions} [opts] */
  spawn(argv, opts) {
    return this.topo.spawnArgs(this.args(argv), opts);
  }

  /**
   * Start a test server (servers.js) in this namespace.
   * @param {string} mode @param {string[]} [args] @param {{timeoutMs?: number, env?: NodeJS.ProcessEnv}} [opts]
   * @returns {Promise<ServerHandle>}
   */
  startServer(mode, args = [], opts = {}) {
    return this.topo.startServerWith((argv) => this.args(argv), mode, args, opts);
  }
}

export class Topology {
  constructor() {
    /** @type {Namespace} */ this.host = /** @type {any} */ (undefined);
    /** @type {Namespace} */ this.remote = /** @type {any} */ (undefined);
    /** @type {Namespace[]} */ this.extra = [];
    /** true when the host user namespace maps every uid/gid (created as root) */
    this.fullIdMap = false;
    this.addresses = ADDRESSES;
    this.mtu = ADDRESSES.mtu;
    /** @type {import('node:child_process').ChildProcess[]} */ this.holders = [];
    /** @type {Set<import('node:child_process').ChildProcess>} */ this.children = new Set();
    /** @type {number|undefined} */ this.hostUserNs = undefined;
    /** @type {Set<number>} */ this.netNs = new Set();
    /** @type {import('node:child_process').ChildProcess|undefined} */ this.watchdog = undefined;
    /** @type {Promise<void>|undefined} */ this.closing = undefined;
    this.closed = false;
  }

  get hostPid() {
    return this.host.pid;
  }

  get remotePid() {
    return this.remote.pid;
  }

  /** @param {string[]} argv */
  hostArgs(argv) {
    return this.host.args(argv);
  }

  /** @param {string[]} argv */
  remoteArgs(argv) {
    return this.remote.args(argv);
  }

  /** @param {string[]} argv @param {ExecOptions} [opts] */
  execHost(argv, opts) {
    return this.host.exec(argv, opts);
  }

  /** @param {string[]} argv @param {ExecOptions} [opts] */
  execRemote(argv, opts) {
    return this.remote.exec(argv, opts);
  }

  /** @param {string[]} argv @param {import('node:child_process').SpawnOptions} [opts] */
  spawnHost(argv, opts) {
    return this.host.spawn(argv, opts);
  }

  /** @param {string[]} argv @param {import('node:child_process').SpawnOptions} [opts] */
  spawnRemote(argv, opts) {
    return this.remote.spawn(argv, opts);
  }

  /** @param {string} mode @param {string[]} [args] @param {{timeoutMs?: number, env?: NodeJS.ProcessEnv}} [opts] */
  startRemoteServer(mode, args = [], opts = {}) {
    return this.remote.startServer(mode, args, opts);
  }

  /** @param {string} mode @param {string[]} [args] @param {{timeoutMs?: number, env?: NodeJS.ProcessEnv}} [opts] */
  startHostServer(mode, args = [], opts = {}) {
    return this.host.startServer(mode, args, opts);
  }

  /** @param {string} [what] */
  assertOpen(what = 'use') {
    if (this.closed || this.closing) throw new Error(`topology is closed: cannot ${what}`);
  }

  /**
   * Spawn a full argv (already wrapped with nsenter) and track the child.
   * @param {string[]} full
   * @param {import('node:child_process').SpawnOptions} [opts]
   */
  spawnArgs(full, opts = {}) {
    this.assertOpen(`spawn ${full.join(' ')}`);
    // setpriv --pdeathsig: the child gets SIGKILL if this process dies without close()
    // (kept across nsenter's exec; lost only where the command itself changes uid).
    const argv = ['setpriv', '--pdeathsig', 'KILL', '--', ...full];
    const child = spawn(argv[0], argv.slice(1), { stdio: 'pipe', ...opts });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    child.once('error', () => this.children.delete(child));
    return child;
  }

  /**
   * Run a full argv (already wrapped) to completion.
   * @param {string[]} full
   * @param {ExecOptions} [opts]
   * @returns {Promise<ExecResult>}
   */
  execArgs(full, opts = {}) {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    const closeGraceMs = opts.closeGraceMs ?? 2000;
    return new Promise((resolve, reject) => {
      let child;
      try {
        child = this.spawnArgs(full, {
          stdio: ['pipe', 'pipe', 'pipe'],
          env: opts.env ?? process.env,
          cwd: opts.cwd,
        });
      } catch (e) {
        reject(e);
        return;
      }
      /** @type {Buffer[]} */ const out = [];
      /** @type {Buffer[]} */ const err = [];
      let timedOut = false;
      let settled = false;
      /** @type {NodeJS.Timeout|undefined} */ let graceTimer;
      /** @type {{code: number|null, signal: NodeJS.Signals|null}|undefined} */ let exit;
      const settle = (stdioClosed) => {
        if (settled || !exit) return;
        settled = true;
        if (timer) clearTimeout(timer);
        if (graceTimer) clearTimeout(graceTimer);
        if (!stdioClosed) {
          // a daemon that inherited our pipes keeps them open: stop reading
          child.stdout?.destroy();
          child.stderr?.destroy();
        }
        resolve({
          code: exit.code,
          signal: exit.signal,
          stdout: Buffer.concat(out),
          stderr: Buffer.concat(err),
          timedOut,
          ok: exit.code === 0 && !timedOut,
          stdioClosed,
        });
      };
      const timer = timeoutMs > 0
        ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
          if (exit) settle(false);
        }, timeoutMs)
        : undefined;
      child.stdout?.on('data', (d) => out.push(d));
      child.stderr?.on('data', (d) => err.push(d));
      child.stdin?.on('error', () => {});
      child.once('error', (e) => {
        if (timer) clearTimeout(timer);
        settled = true;
        reject(new Error(`cannot run ${full.join(' ')}: ${e.message}`));
      });
      child.once('exit', (code, signal) => {
        exit = { code, signal };
        if (timedOut) settle(false);
        else graceTimer = setTimeout(() => settle(false), closeGraceMs);
      });
      child.once('close', () => settle(true));
      if (opts.input !== undefined) child.stdin?.end(opts.input);
      else child.stdin?.end();
    });
  }

  /**
   * Run a command in a namespace and throw with its stderr if it fails.
   * @param {Namespace} ns @param {string[]} argv @param {ExecOptions} [opts]
   */
  async must(ns, argv, opts) {
    const r = await ns.exec(argv, opts);
    if (!r.ok) {
      throw new Error(
        `in ${ns.name} namespace: ${argv.join(' ')} failed (${r.timedOut ? 'timed out' : r.code ?? r.signal}): ` +
          `${r.stderr.toString().trim()}`,
      );
    }
    return r;
  }

  /**
   * Start servers.js MODE ARGS through `wrap` and wait for its "listening" line.
   * @param {(argv: string[]) => string[]} wrap
   * @param {string} mode @param {string[]} [args]
   * @param {{timeoutMs?: number, env?: NodeJS.ProcessEnv}} [opts]
   * @returns {Promise<ServerHandle>}
   */
  startServerWith(wrap, mode, args = [], opts = {}) {
    const child = this.spawnArgs(wrap([process.execPath, SERVERS_JS, mode, ...args]), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    const timeoutMs = opts.timeoutMs ?? READY_TIMEOUT_MS;
    /** @type {PeerInfo[]} */ const peers = [];
    /** @type {Array<() => void>} */ let peerWaiters = [];
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    child.stdin?.on('error', () => {});
    return new Promise((resolve, reject) => {
      let buffered = '';
      let listening = false;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`server ${mode} did not start within ${timeoutMs} ms: ${stderr}`));
      }, timeoutMs);
      child.once('exit', (code, signal) => {
        if (!listening) {
          clearTimeout(timer);
          reject(new Error(`server ${mode} exited (${code ?? signal}) before listening: ${stderr}`));
        }
        for (const w of peerWaiters) w();
      });
      child.stdout?.on('data', (d) => {
        buffered += d;
        let nl;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          let msg;
          try {
            msg = JSON.parse(line);
          } catch {
            continue;
          }
          if (msg.peer) {
            peers.push(msg.peer);
            for (const w of peerWaiters) w();
          } else if (typeof msg.listening === 'number' && !listening) {
            listening = true;
            clearTimeout(timer);
            resolve({
              port: msg.listening,
              pid: /** @type {number} */ (child.pid),
              mode,
              process: child,
              peers,
              stderr: () => stderr,
              waitForPeer: (predicate = () => true, waitMs = 10_000) =>
                new Promise((res, rej) => {
                  let seen = 0;
                  const check = () => {
                    for (; seen < peers.length; seen++) {
                      if (predicate(peers[seen])) {
                        done();
                        res(peers[seen]);
                        return true;
                      }
                    }
                    if (child.exitCode !== null || child.signalCode !== null) {
                      done();
                      rej(new Error(`server ${mode} exited before the expected peer`));
                      return true;
                    }
                    return false;
                  };
                  const t = setTimeout(() => {
                    done();
                    rej(new Error(`no matching peer within ${waitMs} ms; peers: ${JSON.stringify(peers)}`));
                  }, waitMs);
                  const waiter = () => void check();
                  const done = () => {
                    clearTimeout(t);
                    peerWaiters = peerWaiters.filter((w) => w !== waiter);
                  };
                  if (!check()) peerWaiters.push(waiter);
                }),
              stop: async () => {
                if (child.exitCode === null && child.signalCode === null) {
                  child.kill('SIGTERM');
                  const t = setTimeout(() => child.kill('SIGKILL'), 2000);
                  await exited(child);
                  clearTimeout(t);
                }
              },
            });
          }
        }
      });
    });
  }

  /**
   * A further network namespace owned by the host's user namespace (as a
   * container runtime would make one), held until close(). Loopback is down
   * unless `loopbackUp`. Its netnsPath suits `pasta --netns PATH`.
   * @param {{name?: string, loopbackUp?: boolean}} [opts]
   * @returns {Promise<Namespace>}
   */
  async createNetns(opts = {}) {
    this.assertOpen('create a namespace');
    const holder = await startHolder(this.host.args(['unshare', '-n', '--', ...HOLDER]));
    this.holders.push(holder);
    const ns = new Namespace(this, opts.name ?? `netns${this.extra.length + 1}`, /** @type {number} */ (holder.pid));
    const inode = nsInode(nsLink(ns.pid, 'net'));
    if (inode !== undefined) this.netNs.add(inode);
    await this.tellWatchdog(ns.pid);
    this.extra.push(ns);
    if (opts.loopbackUp) await this.must(ns, ['ip', 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /**
   * Have the watchdog hold and watch the network namespace of `pid`.
   * @param {number} pid
   * @returns {Promise<void>}
   */
  tellWatchdog(pid) {
    const w = this.watchdog;
    if (!w?.stdin || !w.stdout) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 5000); // keeps the loop alive until the reply
      w.stdout?.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
      w.stdin?.write(`net ${pid}\n`);
    });
  }

  /** Synchronous best-effort kill of everything (process 'exit' hook). */
  killAllSync() {
    for (const child of this.children) if (child.pid) killQuietly(child.pid);
    if (this.hostUserNs !== undefined) sweepSync(this.hostUserNs, this.netNs, new Set([this.watchdog?.pid ?? 0]));
    for (const h of this.holders) if (h.pid) killQuietly(h.pid);
    this.watchdog?.stdin?.destroy();
  }

  /**
   * Kill everything started in this topology and the holders; wait until all
   * are gone. Idempotent.
   * @returns {Promise<void>}
   */
  close() {
    if (!this.closing) {
      this.closing = this.doClose().finally(() => {
        this.closed = true;
        openTopologies.delete(this);
      });
    }
    return this.closing;
  }

  async doClose() {
    const waits = [];
    for (const child of this.children) {
      if (child.pid) killQuietly(child.pid);
      waits.push(exited(child));
    }
    // Everything in our namespaces, however it got there (daemons, grandchildren,
    // nested user namespaces): kill until none is left, holders last.
    const holderPids = new Set(this.holders.map((h) => h.pid));
    const deadline = Date.now() + 10_000;
    /** @type {Set<number>} */ const swept = new Set();
    if (this.hostUserNs !== undefined) {
      for (let round = 0; round < 20 && Date.now() < deadline; round++) {
        const members = membersOf(userNamespaceTree(this.hostUserNs), this.netNs).filter(
          (pid) => !holderPids.has(pid) && alive(pid),
        );
        if (members.length === 0) break;
        for (const pid of members) {
          swept.add(pid);
          killQuietly(pid);
        }
        await delay(20);
      }
    }
    for (const h of this.holders) {
      h.stdin?.destroy();
      if (h.pid) killQuietly(h.pid);
      waits.push(exited(h));
    }
    if (this.watchdog) {
      this.watchdog.stdin?.end();
      waits.push(exited(this.watchdog));
    }
    await Promise.race([Promise.all(waits), delay(10_000)]);
    for (const pid of swept) {
      while (alive(pid) && Date.now() < deadline) await delay(10);
    }
  }
}

/**
 * Build the host/remote topology (see the top of this file).
 * @param {{mtu?: number}} [opts]
 * @returns {Promise<Topology>}
 */
export async function createTopology(opts = {}) {
  const mtu = opts.mtu ?? ADDRESSES.mtu;
  const topo = new Topology();
  topo.mtu = mtu;
  openTopologies.add(topo);
  installExitHook();
  try {
    const asRoot = process.geteuid?.() === 0;
    // 1. The host: a new user namespace + network namespace.
    const hostHolder = await startHolder(
      asRoot ? ['unshare', '-U', '-n', '--', ...HOLDER] : ['unshare', '-U', '-r', '-n', '--', ...HOLDER],
    );
    topo.holders.push(hostHolder);
    const hostPid = /** @type {number} */ (hostHolder.pid);
    if (asRoot) {
      // Identity map of all ids: root inside is root; an unprivileged uid inside is that uid.
      fs.writeFileSync(`/proc/${hostPid}/uid_map`, '0 0 4294967295\n');
      fs.writeFileSync(`/proc/${hostPid}/gid_map`, '0 0 4294967295\n');
      topo.fullIdMap = true;
    }
    topo.host = new Namespace(topo, 'host', hostPid);
    topo.watchdog = await startWatchdog(hostPid);
    topo.hostUserNs = nsInode(nsLink(hostPid, 'user'));
    const hostNet = nsInode(nsLink(hostPid, 'net'));
    if (hostNet !== undefined) topo.netNs.add(hostNet);
    if (topo.hostUserNs === nsInode(nsLink(process.pid, 'user')) || hostNet === nsInode(nsLink(process.pid, 'net'))) {
      throw new Error('namespace holder is not in new namespaces');
    }

    // 2. The remote: a network namespace under the host's user namespace.
    const remoteHolder = await startHolder(topo.host.args(['unshare', '-n', '--', ...HOLDER]));
    topo.holders.push(remoteHolder);
    topo.remote = new Namespace(topo, 'remote', /** @type {number} */ (remoteHolder.pid));
    const remoteNet = nsInode(nsLink(topo.remote.pid, 'net'));
    if (remoteNet !== undefined) topo.netNs.add(remoteNet);
    await topo.tellWatchdog(topo.remote.pid);

    // 3. Per-namespace settings before any interface exists: ping sockets for
    //    every group, no DAD on new interfaces.
    const groups = topo.fullIdMap ? '0 2147483647' : '0 0';
    const sysctls =
      `echo '${groups}' > /proc/sys/net/ipv4/ping_group_range && ` +
      'if [ -d /proc/sys/net/ipv6 ]; then ' +
      'echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad && echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad; fi';
    await Promise.all([
      topo.must(topo.host, ['sh', '-c', sysctls]),
      topo.must(topo.remote, ['sh', '-c', sysctls]),
    ]);

    // 4. The veth, created from inside the host with its peer put straight into the remote.
    const A = ADDRESSES;
    await topo.must(topo.host, ['ip', '-batch', '-'], {
      input: [
        'link set lo up',
        `link add ${A.ifname} mtu ${mtu} type veth peer name ${A.ifname} mtu ${mtu} netns ${topo.remote.pid}`,
        '',
      ].join('\n'),
    });
    await topo.must(topo.remote, ['ip', '-batch', '-'], {
      input: [
        'link set lo up',
        `address add ${A.serverV4}/32 dev lo`,
        `address add ${A.serverV6}/128 dev lo`,
        `link set ${A.ifname} mtu ${mtu} up`,
        `address add ${A.gatewayV4}/${A.prefixV4} dev ${A.ifname}`,
        `address add ${A.gatewayV6}/${A.prefixV6} dev ${A.ifname} nodad`,
        '',
      ].join('\n'),
    });
    await topo.must(topo.host, ['ip', '-batch', '-'], {
      input: [
        `link set ${A.ifname} mtu ${mtu} up`,
        `address add ${A.hostV4}/${A.prefixV4} dev ${A.ifname}`,
        `address add ${A.hostV6}/${A.prefixV6} dev ${A.ifname} nodad`,
        `route add default via ${A.gatewayV4} dev ${A.ifname}`,
        `route add default via ${A.gatewayV6} dev ${A.ifname}`,
        '',
      ].join('\n'),
    });

    // 5. Wait for IPv6 to be usable on both sides (no tentative address left).
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (const ns of [topo.host, topo.remote]) {
      for (;;) {
        const r = await topo.must(ns, ['ip', '-j', '-6', 'address', 'show']);
        const tentative = JSON.parse(r.stdout.toString() || '[]').some((/** @type {any} */ link) =>
          (link.addr_info ?? []).some((/** @type {any} */ a) => a.tentative || a.dadfailed),
        );
        if (!tentative) break;
        if (Date.now() > deadline) throw new Error(`IPv6 addresses still tentative in ${ns.name} namespace`);
        await delay(50);
      }
    }

    // 6. The server addresses answer TCP from the host (a refusal is an answer).
    const probe = `
      const net = require('node:net');
      const deadline = Date.now() + ${READY_TIMEOUT_MS};
      function attempt(host) {
        return new Promise((resolve) => {
          const s = net.connect({ host, port: 9, timeout: 1000 });
          s.on('connect', () => { s.destroy(); resolve('ok'); });
          s.on('timeout', () => { s.destroy(); resolve('timeout'); });
          s.on('error', (e) => resolve(e.code === 'ECONNREFUSED' ? 'ok' : e.code));
        });
      }
      (async () => {
        for (const host of ['${A.serverV4}', '${A.serverV6}']) {
          for (;;) {
            const r = await attempt(host);
            if (r === 'ok') break;
            if (Date.now() > deadline) { console.error(host + ': ' + r); process.exit(1); }
            await new Promise((res) => setTimeout(res, 50));
          }
        }
      })();`;
    await topo.must(topo.host, [process.execPath, '-e', probe], { timeoutMs: READY_TIMEOUT_MS + 5000 });
    return topo;
  } catch (err) {
    await topo.close();
    throw err;
  }
}

/**
 * The argv that runs `argv` in the host namespace as an unprivileged user: uid
 * and gid really are `uid`/`gid` (the host user namespace maps ids one to one),
 * supplementary groups cleared, no capabilities at all. This is a rootless user
 * on "the host": it can make its own user namespaces, cannot touch the host's
 * network configuration, and sees files with its own uid (so /dev/net/tun at
 * 0600 is refused to it, as on a real machine).
 *
 * Without a full id map (the test itself is not root), falls back to a child
 * user namespace mapping the caller to uid/gid (no capabilities over the host
 * namespace, but file access is still the caller's).
 * @param {Topology} topo
 * @param {number} uid
 * @param {number} gid
 * @param {string[]} argv
 * @returns {string[]}
 */
export function runInHostAsUser(topo, uid, gid, argv) {
  if (topo.fullIdMap) {
    return topo.hostArgs([
      'setpriv',
      `--reuid=${uid}`,
      `--regid=${gid}`,
      '--clear-groups',
      '--inh-caps=-all',
      '--',
      ...argv,
    ]);
  }
  return topo.hostArgs(['unshare', '-U', `--map-user=${uid}`, `--map-group=${gid}`, '--', ...argv]);
}
