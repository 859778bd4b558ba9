// rootlesskit 2.x (the engine under rootless Docker and nerdctl) with
// `--net=pasta`, running this project's pasta.
//
// Theory of operation
// -------------------
// rootlesskit comes from test/rootlesskit/fetch.js: Debian trixie's package,
// downloaded once through a private apt configuration and unpacked into a
// cache outside the repository ($NODE_PASST_ROOTLESSKIT_CACHE). It runs, as a
// real rootless user would, as an unprivileged uid in the private topology's
// "host" namespace (runInHostAsUser: real uid/gid, no capabilities), so all
// its traffic stays in the topology: the remote network (203.0.113.10) and a
// test resolver on the host namespace's 127.0.0.1:53 (test/e2e/dnsserver.js).
//
// What rootlesskit needs from the machine is given to it without changing the
// machine: it and its helpers run in a private mount namespace (unshare -m,
// created by this test, gone with its last process) where test-owned copies
// are bind-mounted over
//   /etc/passwd       the machine's, plus a line for the test user (newuidmap
//                     refuses a uid without an account: "Cannot determine your
//                     user name"), a uid chosen free on this machine;
//   /etc/subuid, /etc/subgid   one range for that user (read at run time by
//                     getsubids and the setuid newuidmap/newgidmap of Debian's
//                     `uidmap`, which scripts/pretest.js installs);
//   /etc/resolv.conf  "nameserver 127.0.0.1": the resolver the pasta started by
//                     rootlesskit forwards --dns-forward queries to. The
//                     machine's real resolver is never named anywhere.
//
// rootlesskit finds pasta through --pasta-binary: a `pasta` shell script in the
// test's directory that writes its argv (NUL-separated) to a log file and then
// execs the pasta under test: bin/pasta.js, or $NODE_PASST_ROOTLESSKIT_PASTA
// (e.g. upstream's pasta, to check that these assertions describe upstream's
// behaviour). The flags are the ones rootless Docker uses (--copy-up=/etc
// --copy-up=/run --disable-host-loopback), with three port/netns modes:
//   implicit      --port-driver=implicit: rootlesskit passes --tcp-ports=auto
//                 --udp-ports=auto, so ports bound in the child appear on the
//                 host's loopback;
//   none          --port-driver=none: --tcp-ports=none --udp-ports=none;
//   detach-netns  --detach-netns --port-driver=implicit: the command stays in
//                 the parent's network namespace and rootlesskit's is the file
//                 $STATE/netns, which pasta joins with --userns/--netns.
//   shared-engine as implicit, with our pasta asking the user's shared engine
//                 to serve the namespace (NODE_PASTA_SHARED_ENGINE=1 in the
//                 wrapper's environment, src/cli/shared.ts): what rootlesskit
//                 runs, and SIGKILLs at the end, is the launcher's process that
//                 stays with -f; the engine, started in the private mount
//                 namespace, exits as soon as it serves nothing. Not with
//                 NODE_PASST_ROOTLESSKIT_PASTA (another pasta has no such mode).
// rootlesskit 2.0-2.2 creates tap0 itself (`ip tuntap add`), starts pasta with
// --foreground (no --config-net) and configures the address, route and MTU
// from its child; it SIGKILLs pasta when the command exits. 2.3 and later pass
// --config-net and let pasta fork (see pkg/network/pasta/pasta.go upstream);
// the expected command line below follows the version fetched.
//
// The command under rootlesskit is test/rootlesskit/child.js: it prints what
// it sees (interfaces, routes, resolv.conf) and waits until its stdin closes.
// Meanwhile the test enters the child's namespaces from outside (nsenter -t
// CHILD_PID, with the netns file for --detach-netns) to send TCP to the remote
// server, resolve a name through 10.0.2.3, and start servers whose ports must
// (implicit) or must not (none) appear on the host's loopback. Every wait polls
// a condition; the one fixed window is the "none" check, which by its nature
// watches for something that must not happen (3 s: three of pasta's 1 s scans).
// After the command exits, nothing may be left: rootlesskit's state dir, any
// process in the child's user or network namespace, any process in the private
// mount namespace (so its bind mounts are gone), and the machine's /etc files
// and mount table are as before.
//
// Needs root (bind mounts, the topology's full id map). When rootlesskit
// cannot be had (no mirror for the first fetch) every test FAILS with the reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, runInHostAsUser, ADDRESSES as A, SERVERS_JS, type ServerHandle, type Topology } from './topology.js';
import { DNSSERVER, nsHelperOf, sandboxStatus, sharedEngines, startTestResolver } from './helpers.js';
import { ensureRootlesskit, type Rootlesskit } from '../rootlesskit/fetch.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const OUR_PASTA = path.join(root, 'bin', 'pasta.js');
const PASTA = process.env.NODE_PASST_ROOTLESSKIT_PASTA ? path.resolve(process.env.NODE_PASST_ROOTLESSKIT_PASTA) : OUR_PASTA;
const PASTA_LABEL = PASTA === OUR_PASTA ? 'our pasta' : PASTA;
const CHILD_JS = path.join(root, 'test', 'rootlesskit', 'child.js');
const UDPCLIENT = path.join(here, 'udpclient.js');
const NODE = process.execPath;
const USER = 'node-passt-rk';
const SUBID_START = 1_000_000;
const SUBID_COUNT = 65536;
const ETC_FILES = ['passwd', 'subuid', 'subgid', 'resolv.conf'];
/** rootlesskit's defaults for pasta: 10.0.2.0/24, .100 for the child, .2 gateway, .3 DNS. */
const CHILD_IP = '10.0.2.100';
const GATEWAY = '10.0.2.2';
const DNS = '10.0.2.3';
const TCP_PORT = 8081;
const UDP_PORT = 5301;
/** A first fetch downloads trixie's package lists and a 6 MB package. */
const FETCH_TIMEOUT_MS = 170_000;

interface Mode {
  name: 'implicit' | 'none' | 'detach-netns' | 'shared-engine';
  flags: string[];
  detached: boolean;
  forwards: boolean;
  /** Our pasta with the user's shared engine (NODE_PASTA_SHARED_ENGINE=1 in the wrapper's environment). */
  shared?: boolean;
}

const MODES: Mode[] = [
  { name: 'implicit', flags: ['--port-driver=implicit'], detached: false, forwards: true },
  { name: 'none', flags: ['--port-driver=none'], detached: false, forwards: false },
  { name: 'detach-netns', flags: ['--port-driver=implicit', '--detach-netns'], detached: true, forwards: true },
  // Ours only: the same as implicit, pasta asking the user's shared engine to serve the namespace.
  ...(process.env.NODE_PASST_ROOTLESSKIT_PASTA ? [] : [{ name: 'shared-engine' as const, flags: ['--port-driver=implicit'], detached: false, forwards: true, shared: true }]),
];

interface ChildView {
  pid: number;
  uid: number;
  stateDir: string;
  detached: boolean;
  links: Array<{ ifname: string; mtu: number; flags: string[]; addr_info: Array<{ family: string; local: string; prefixlen: number }> }>;
  routes: Array<{ dst: string; gateway?: string; dev?: string }>;
  resolvConf: string;
}

interface Run {
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
  view: ChildView;
  stateDir: string;
  childPid: number;
  /** --net= file for nsenter with --detach-netns (resolved through the child's root), else undefined */
  netnsFile?: string;
  userNs: string;
  netNs: number;
  mntNs: string;
  startMs: number;
}

let topo: Topology | undefined;
let rk: Rootlesskit | undefined;
let fetchMs = 0;
let base = '';
let home = '';
let logDir = '';
let uid = 0;
let remote: ServerHandle;
/** What the test resolver printed (its queries among them). */
const dnsLines: Array<Record<string, unknown>> = [];
/** The names the test resolver was asked for, in order. */
const dnsQueries = (): string[] => dnsLines.flatMap((l) => (typeof l.query === 'string' ? [l.query] : []));
/** The machine's own files and mount points at the start, to compare at the end. */
const etcBefore = new Map<string, string>();
let mountsBefore: string[] = [];
/** Why the test bed could not be set up; every test then fails with it (never skips). */
let bedError: Error | undefined;

function bedIt(name: string, fn: () => Promise<void>, timeoutMs?: number): void {
  it(name, async () => {
    if (bedError) throw new Error(`no rootlesskit test bed (see the first test): ${bedError.message.split('\n')[0]}`);
    await fn();
  }, timeoutMs);
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `probe` every `everyMs` until it returns a value that is not undefined, or throw after `ms` with `what`. */
async function until<T>(what: string | (() => string), ms: number, probe: () => Promise<T | undefined> | T | undefined, everyMs = 100): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      throw new Error(`${typeof what === 'string' ? what : what()}: not within ${ms} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    }
    await delay(everyMs);
  }
}

function nsLink(pid: number, kind: string): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX] /s.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Live processes matching a predicate on (pid, argv). */
function processes(match: (pid: number, argv: string[]) => boolean): Array<{ pid: number; argv: string }> {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
      if (alive(pid) && match(pid, argv)) found.push({ pid, argv: argv.join(' ') });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The first id >= start that no line of an /etc/passwd-like file uses (third field). */
function freeId(file: string, start: number): number {
  const used = new Set(
    fs.readFileSync(file, 'utf8').split('\n').map((l) => Number(l.split(':')[2])).filter((n) => Number.isFinite(n)),
  );
  let id = start;
  while (used.has(id)) id++;
  return id;
}

/**
 * Mount points in this process's (the machine's) mount namespace that concern
 * the test: on the /etc files it overrides, or under its directory. (Not the
 * whole table: other test files mount and unmount their own trees meanwhile.)
 */
function mountPoints(): string[] {
  const etc = new Set(ETC_FILES.flatMap((f) => {
    try {
      return [`/etc/${f}`, fs.realpathSync(`/etc/${f}`)];
    } catch {
      return [`/etc/${f}`];
    }
  }));
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m) => m && (etc.has(m) || (base !== '' && (m === base || m.startsWith(`${base}/`)))))
    .sort();
}

/** Start test/e2e/dnsserver.js on the host namespace's 127.0.0.1:53; resolves when it listens. */
function startResolver(t: Topology): Promise<void> {
  const dns = t.spawnHost([NODE, DNSSERVER, '--bind', '127.0.0.1', '--port', '53']);
  return startTestResolver(dns, dnsLines).then(() => undefined);
}

async function startBed(): Promise<void> {
  if (process.geteuid?.() !== 0) {
    throw new Error(
      'rootlesskit.test.ts must run as root: it bind-mounts test copies of /etc/subuid, /etc/subgid, /etc/passwd and ' +
        '/etc/resolv.conf in a private mount namespace and runs rootlesskit as an unprivileged uid in the private topology',
    );
  }
  for (const tool of ['/usr/bin/newuidmap', '/usr/bin/newgidmap']) {
    if (!fs.existsSync(tool)) throw new Error(`${tool} is missing: install Debian's uidmap (npm test's pretest does, as root)`);
  }
  for (const f of ETC_FILES) {
    if (!fs.existsSync(`/etc/${f}`)) throw new Error(`/etc/${f} is missing: the test bind-mounts its copy over it (Debian's login package creates /etc/subuid and /etc/subgid)`);
  }
  const t0 = Date.now();
  try {
    rk = ensureRootlesskit();
  } catch (err) {
    throw new Error(
      'cannot get rootlesskit 2.x (test/rootlesskit/fetch.js: Debian trixie\'s rootlesskit package through a private apt ' +
        `configuration into ${process.env.NODE_PASST_ROOTLESSKIT_CACHE ?? '/var/cache/node-passt-rootlesskit'}; the first fetch ` +
        `needs Debian's mirror): ${(err as Error).message}`,
    );
  }
  fetchMs = Date.now() - t0;
  if (!/^2\./.test(rk!.version)) throw new Error(`rootlesskit ${rk!.version} is not 2.x`);

  for (const f of ETC_FILES) etcBefore.set(f, fs.readFileSync(`/etc/${f}`, 'utf8'));
  mountsBefore = mountPoints();

  // The test's files: /etc copies (root's, 0644), the pasta wrapper, and the user's home and log.
  base = fs.mkdtempSync(path.join(os.tmpdir(), 'node-passt-rootlesskit-'));
  fs.chmodSync(base, 0o755);
  uid = freeId('/etc/passwd', 43210);
  const gid = uid;
  home = path.join(base, 'home');
  logDir = path.join(base, 'log');
  const etc = path.join(base, 'etc');
  const bin = path.join(base, 'bin');
  for (const d of [etc, bin, home, logDir]) {
    fs.mkdirSync(d);
    fs.chmodSync(d, 0o755); // whatever the umask
  }
  fs.chownSync(home, uid, gid);
  fs.chownSync(logDir, uid, gid);
  const passwd = etcBefore.get('passwd')!;
  fs.writeFileSync(path.join(etc, 'passwd'), `${passwd}${passwd.endsWith('\n') || passwd === '' ? '' : '\n'}${USER}:x:${uid}:${gid}:node-passt rootlesskit test:${home}:/bin/sh\n`, { mode: 0o644 });
  fs.writeFileSync(path.join(etc, 'subuid'), `${USER}:${SUBID_START}:${SUBID_COUNT}\n`, { mode: 0o644 });
  fs.writeFileSync(path.join(etc, 'subgid'), `${USER}:${SUBID_START}:${SUBID_COUNT}\n`, { mode: 0o644 });
  fs.writeFileSync(path.join(etc, 'resolv.conf'), 'nameserver 127.0.0.1\n', { mode: 0o644 });
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  /** The pasta rootlesskit runs: log the argv it gives pasta, then run the pasta under test (with `env` before it). */
  const writeWrapper = (dir: string, env = ''): void =>
    fs.writeFileSync(
      path.join(dir, 'pasta'),
      '#!/bin/sh\n' +
        '# Written by test/e2e/rootlesskit.test.ts: log the argv rootlesskit gives pasta, then run the pasta under test.\n' +
        `log=${q(logDir)}/argv.$$\n` +
        `printf '%s\\0' "$@" > "$log.tmp" && mv "$log.tmp" "$log"\n` +
        `${env}exec ${q(PASTA)} "$@"\n`,
      { mode: 0o755 },
    );
  writeWrapper(bin);

  // The same wrapper for the shared-engine mode, asking for the user's engine through the
  // environment (rootlesskit passes its own to pasta), with a runtime directory of the user's and
  // an engine that exits as soon as it serves nothing (the test wants nothing left behind).
  const binShared = path.join(base, 'bin-shared');
  const runtime = path.join(home, 'run');
  fs.mkdirSync(binShared, { mode: 0o755 });
  fs.mkdirSync(runtime, { mode: 0o700 });
  fs.chownSync(runtime, uid, gid);
  writeWrapper(binShared, `NODE_PASTA_SHARED_ENGINE=1 XDG_RUNTIME_DIR=${q(runtime)} NODE_PASTA_ENGINE_IDLE_MS=0 `);

  for (const f of ETC_FILES) fs.chmodSync(path.join(etc, f), 0o644);
  fs.chmodSync(path.join(bin, 'pasta'), 0o755);

  topo = await createTopology();
  // The test user must be able to run everything rootlesskit will run (a clone with a tight umask would not let it).
  const access = await topo.execArgs(runInHostAsUser(topo, uid, gid, ['sh', '-c', 'for f; do test -r "$f" || { echo "cannot read $f"; exit 1; }; done',
    'sh', rk!.binary, PASTA, CHILD_JS, SERVERS_JS, path.join(base, 'bin', 'pasta')]));
  if (!access.ok) throw new Error(`uid ${uid} (the test's rootless user): ${access.stdout.toString().trim() || access.stderr.toString().trim()}`);
  await startResolver(topo);
  remote = await topo.startRemoteServer('http', ['--port', '80']);
}

beforeAll(async () => {
  try {
    await startBed();
  } catch (err) {
    bedError = err as Error;
  }
}, FETCH_TIMEOUT_MS + 30_000);

afterAll(async () => {
  await topo?.close();
  if (base) fs.rmSync(base, { recursive: true, force: true });
}, 30_000);

it('gets rootlesskit 2.x (test/rootlesskit/fetch.js) and starts the private topology', () => {
  if (bedError) throw bedError;
  expect(rk!.version).toMatch(/^2\./);
  console.log(`rootlesskit ${rk!.version} (${rk!.binary}) ${rk!.fetched ? 'fetched' : 'cached'} in ${fetchMs} ms; pasta: ${PASTA_LABEL}`);
});

/** The argv of every pasta invocation the wrapper logged so far. */
function loggedArgv(): Array<{ pid: number; argv: string[] }> {
  return fs
    .readdirSync(logDir)
    .filter((f) => /^argv\.\d+$/.test(f))
    .map((f) => ({ pid: Number(f.slice(5)), argv: fs.readFileSync(path.join(logDir, f), 'utf8').split('\0').slice(0, -1) }));
}

/** Run rootlesskit with `flags` and child.js as its command; resolves when the command has reported what it sees. */
async function startRootlesskit(mode: Mode): Promise<Run> {
  const t = topo!;
  const stateDir = path.join(home, `state-${mode.name}`);
  for (const f of fs.readdirSync(logDir)) fs.rmSync(path.join(logDir, f), { force: true });
  const rkArgv = [
    'env', '-i',
    `PATH=${path.dirname(NODE)}:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin`,
    `HOME=${home}`, `USER=${USER}`, `LOGNAME=${USER}`, 'LANG=C.UTF-8',
    rk!.binary, '--debug',
    '--net=pasta', `--pasta-binary=${path.join(base, mode.shared ? 'bin-shared' : 'bin', 'pasta')}`,
    '--copy-up=/etc', '--copy-up=/run', '--disable-host-loopback',
    ...mode.flags,
    `--state-dir=${stateDir}`,
    NODE, CHILD_JS,
  ];
  // Private mount namespace with the test's /etc files, then the topology's host as the test user.
  const mountAndRun = 'set -e; d=$1; shift; for f in passwd subuid subgid resolv.conf; do mount --bind "$d/etc/$f" "/etc/$f"; done; exec "$@"';
  const argv = ['unshare', '-m', '--propagation', 'private', '--', 'sh', '-c', mountAndRun, 'sh', base,
    ...runInHostAsUser(t, uid, uid, rkArgv)];
  const startMs = Date.now();
  const proc = t.spawnArgs(argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  proc.stdin!.on('error', () => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const tail = () => stderr.split('\n').filter((l) => !/level=debug msg="\[rootlesskit:(child |parent)\] (Sending|Received) /.test(l)).slice(-30).join('\n');
  const view = await new Promise<ChildView>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`rootlesskit's command did not report within 20 s; rootlesskit's stderr:\n${tail()}`)), 20_000);
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(buf.slice(0, nl)).ready);
        } catch (err) {
          reject(new Error(`bad report from child.js: ${buf.slice(0, nl)}`));
        }
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`rootlesskit exited (${code ?? signal}) before its command reported; its stderr:\n${tail()}`));
    });
  });
  const childPid = Number(fs.readFileSync(path.join(stateDir, 'child_pid'), 'utf8'));
  const netnsFile = mode.detached ? `/proc/${childPid}/root${stateDir}/netns` : undefined;
  const run: Run = {
    proc,
    exited,
    stderr: tail,
    view,
    stateDir,
    childPid,
    netnsFile,
    userNs: nsLink(childPid, 'user')!,
    netNs: netnsFile ? fs.statSync(netnsFile).ino : Number(/\[(\d+)\]/.exec(nsLink(childPid, 'net')!)![1]),
    mntNs: nsLink(proc.pid!, 'mnt')!,
    startMs,
  };
  return run;
}

/** Argv running `argv` in the child's user and network namespaces (as its root), from outside. */
function inChild(run: Run, argv: string[]): string[] {
  return ['nsenter', '-t', String(run.childPid), '-U', run.netnsFile ? `--net=${run.netnsFile}` : '-n', '--', ...argv];
}

async function childExec(run: Run, argv: string[], timeoutMs = 15_000) {
  return topo!.execArgs(inChild(run, argv), { timeoutMs });
}

/** Start servers.js in the child's network namespace; resolves once it listens. */
function childServer(run: Run, mode: string, args: string[]): Promise<ChildProcess> {
  const proc = topo!.spawnArgs(inChild(run, [NODE, SERVERS_JS, mode, ...args, '--no-peers']), { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`servers.js ${mode} in the child did not listen: ${err}`)), 10_000);
    proc.stdout!.once('data', () => {
      clearTimeout(timer);
      resolve(proc);
    });
    proc.once('exit', (code) => reject(new Error(`servers.js ${mode} in the child exited (${code}): ${err}`)));
  });
}

/** tap0 has carrier (pasta opened it): polled, rootlesskit 2.0-2.2 does not wait for pasta. */
async function waitCarrier(run: Run): Promise<void> {
  await until(() => `tap0 carrier in the child (pasta attached); rootlesskit's stderr:\n${run.stderr()}`, 10_000, async () => {
    const r = await childExec(run, ['ip', '-j', 'link', 'show', 'tap0']);
    const flags: string[] = JSON.parse(r.stdout.toString() || '[{}]')[0].flags ?? [];
    return flags.includes('LOWER_UP') ? true : undefined;
  }, 50);
}

/** HTTP GET on the host namespace's loopback: the body, or undefined. */
async function hostGet(port: number): Promise<string | undefined> {
  const r = await topo!.execHost(['curl', '-sS', '--max-time', '2', `http://127.0.0.1:${port}/`], { timeoutMs: 5000 });
  return r.ok ? r.stdout.toString() : undefined;
}

/** One UDP datagram to the host namespace's loopback: whether the echo came back. */
async function hostUdpEcho(port: number): Promise<boolean> {
  const r = await topo!.execHost(['env', 'UDPCLIENT_TIMEOUT_MS=300', NODE, UDPCLIENT, 'multi', '127.0.0.1', String(port)], { timeoutMs: 5000 });
  try {
    return JSON.parse(r.stdout.toString()).ok === true;
  } catch {
    return false;
  }
}

/** The pasta command line rootlesskit `version` gives in `mode` (pkg/network/pasta/pasta.go). */
function expectedArgv(version: string, mode: Mode, run: Run, seen: string[]): string[] {
  const ports = mode.forwards ? 'auto' : 'none';
  const tail = mode.detached
    ? [`--userns=/proc/${run.childPid}/ns/user`, `--netns=/proc/${run.childPid}/root${run.stateDir}/netns`]
    : [String(run.childPid)];
  const common = [`--address=${CHILD_IP}`, '--netmask=24', `--gateway=${GATEWAY}`, `--dns-forward=${DNS}`, '--no-map-gw', '--ipv4-only',
    `--tcp-ports=${ports}`, `--udp-ports=${ports}`];
  const [major, minor] = version.split('.').map(Number);
  if (major === 2 && minor < 3) {
    return ['--foreground', '--stderr', '--ns-ifname=tap0', '--mtu=65520', '--no-dhcp', '--no-ra', ...common, ...tail];
  }
  // 2.3 and later: pasta configures the interface and forks; --host-lo-to-ns-lo when `pasta --host-lo-to-ns-lo --version` works.
  const hostLo = seen.includes('--host-lo-to-ns-lo') ? ['--host-lo-to-ns-lo'] : [];
  return ['--stderr', '--ns-ifname=tap0', '--mtu=65520', '--config-net', ...common, ...hostLo, ...tail];
}

describe.each(MODES)(`rootlesskit --net=pasta, $name (${PASTA_LABEL})`, (mode) => {
  let run: Run | undefined;
  let runError: Error | undefined;
  /** pid of the pasta that rootlesskit started (the wrapper execs it, so the wrapper's pid). */
  let pastaPid = 0;

  /** it() that fails at once when rootlesskit did not start in this mode. */
  function runIt(name: string, fn: (r: Run) => Promise<void>): void {
    bedIt(name, async () => {
      if (runError) throw new Error(`rootlesskit did not start (see the first test of this mode): ${runError.message}`);
      await fn(run!);
    });
  }

  beforeAll(async () => {
    if (bedError) return;
    try {
      run = await startRootlesskit(mode);
    } catch (err) {
      runError = err as Error;
    }
  }, 30_000);

  afterAll(async () => {
    if (run && run.proc.exitCode === null && run.proc.signalCode === null) {
      run.proc.kill('SIGKILL');
      await run.exited;
    }
  });

  bedIt('starts, and its command reports', async () => {
    if (runError) throw runError;
    expect(run!.view.uid).toBe(0); // root in rootlesskit's user namespace
    expect(run!.view.stateDir).toBe(run!.stateDir);
    expect(run!.view.detached).toBe(mode.detached);
    expect(run!.mntNs).not.toBe(nsLink(process.pid, 'mnt')); // the private mount namespace
  });

  runIt("runs pasta with rootlesskit's command line", async (r) => {
    const logged = await until('the pasta wrapper to log its argv', 5000, () => {
      const found = loggedArgv().filter((l) => l.argv.some((a) => a.startsWith('--ns-ifname=')));
      return found.length ? found : undefined;
    }, 20);
    expect(logged).toHaveLength(1);
    pastaPid = logged[0].pid;
    console.log(`rootlesskit ${rk!.version}, ${mode.name}: pasta ${logged[0].argv.join(' ')}`);
    expect(logged[0].argv).toEqual(expectedArgv(rk!.version, mode, r, logged[0].argv));
  });

  runIt(`gives the child tap0 with ${CHILD_IP}/24, MTU 65520 and the default route via ${GATEWAY}`, async (r) => {
    const tap = r.view.links.find((l) => l.ifname === 'tap0');
    expect(tap, JSON.stringify(r.view.links)).toBeDefined();
    expect(tap!.mtu).toBe(65520);
    expect(tap!.flags).toContain('UP');
    expect(tap!.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)).toEqual([`${CHILD_IP}/24`]);
    expect(r.view.routes.filter((x) => x.dst === 'default').map((x) => `${x.gateway} ${x.dev}`)).toEqual([`${GATEWAY} tap0`]);
    // rootlesskit's own resolv.conf is bound in the child; with --detach-netns the command keeps the host's (the test's copy)
    expect(r.view.resolvConf).toBe(mode.detached ? 'nameserver 127.0.0.1\n' : `nameserver ${DNS}\n`);
    expect(fs.readFileSync(path.join(r.stateDir, 'resolv.conf'), 'utf8')).toBe(`nameserver ${DNS}\n`);
    // and pasta has attached to the tap device (carrier)
    await waitCarrier(r);
  });

  runIt('reaches the remote server over TCP, from the host namespace\'s address', async (r) => {
    await waitCarrier(r);
    const before = remote.peers.length;
    const out = await childExec(r, ['curl', '-sS', '--max-time', '5', `http://${A.serverV4}/`]);
    expect(out.stderr.toString()).toBe('');
    expect(out.stdout.toString()).toBe('hello from remote\n');
    expect(remote.peers.slice(before).map((p) => p.address)).toEqual([A.hostV4]);
  });

  runIt('runs pasta sandboxed: the seccomp filter and no_new_privs on a rootless pasta, and on its helper', async () => {
    if (mode.shared) {
      // What rootlesskit runs (and will SIGKILL) is the launcher's process that stays with -f; the
      // engine, which has no sandbox of its own (README, "Shared engine"), serves the namespace, and
      // its helper there is locked as pasta's is.
      expect(path.basename(fs.readlinkSync(`/proc/${pastaPid}/exe`))).toBe('node-passt-launch');
      const engines = sharedEngines(`${home}/run/`);
      expect(engines).toHaveLength(1);
      const helper = nsHelperOf(engines[0]);
      expect(helper).toBeDefined();
      expect(sandboxStatus(helper!)).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000', root: [] });
      return;
    }
    // rootlesskit's parent, an ordinary user in the initial user namespace, runs pasta there (attached to
    // the child's PID): no capabilities to drop and no empty root to make; the filter is the wall.
    // Translating (the test above) means it is locked.
    const pasta = sandboxStatus(pastaPid);
    expect(pasta).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000' });
    expect(pasta.uid.split('\t')[0]).not.toBe('0');
    const helper = nsHelperOf(pastaPid);
    expect(helper).toBeDefined();
    expect(sandboxStatus(helper!)).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000', root: [] });
  });

  runIt(`resolves names through ${DNS} (--dns-forward) with the test resolver`, async (r) => {
    await waitCarrier(r);
    const before = dnsQueries().length;
    const out = await childExec(r, ['dig', '+short', '+tries=1', '+time=3', `@${DNS}`, 'remote.test', 'A']);
    expect(out.stdout.toString()).toBe(`${A.serverV4}\n`);
    expect(dnsQueries().slice(before)).toContain('remote.test');
  });

  if (mode.forwards) {
    runIt(`forwards ports bound in the child to the host's loopback (TCP ${TCP_PORT}, UDP ${UDP_PORT})`, async (r) => {
      await waitCarrier(r);
      const tcp = await childServer(r, 'http', ['--port', String(TCP_PORT), '--bind', '0.0.0.0']);
      const udp = await childServer(r, 'udpecho', ['--port', String(UDP_PORT), '--bind', '0.0.0.0']);
      try {
        const t0 = Date.now();
        expect(await until(`TCP ${TCP_PORT} on the host's loopback`, 5000, () => hostGet(TCP_PORT))).toBe('hello from remote\n');
        const tcpMs = Date.now() - t0;
        expect(await until(`UDP ${UDP_PORT} on the host's loopback`, 5000, async () => ((await hostUdpEcho(UDP_PORT)) ? true : undefined))).toBe(true);
        console.log(`${mode.name}: TCP forwarded after ${tcpMs} ms, UDP after ${Date.now() - t0} ms`);
      } finally {
        tcp.kill('SIGKILL');
        udp.kill('SIGKILL');
      }
    });
  } else {
    runIt(`does not forward ports bound in the child (TCP ${TCP_PORT}, UDP ${UDP_PORT}) to the host`, async (r) => {
      await waitCarrier(r);
      const tcp = await childServer(r, 'http', ['--port', String(TCP_PORT), '--bind', '0.0.0.0']);
      const udp = await childServer(r, 'udpecho', ['--port', String(UDP_PORT), '--bind', '0.0.0.0']);
      try {
        // the servers answer inside the child...
        const inside = await childExec(r, ['curl', '-sS', '--max-time', '2', `http://127.0.0.1:${TCP_PORT}/`]);
        expect(inside.stdout.toString()).toBe('hello from remote\n');
        // ...and for three of pasta's one-second scans nothing appears on the host
        const end = Date.now() + 3000;
        while (Date.now() < end) {
          expect(await hostGet(TCP_PORT)).toBeUndefined();
          expect(await hostUdpEcho(UDP_PORT)).toBe(false);
        }
        const ss = await topo!.execHost(['ss', '-Hlntu']);
        expect(ss.stdout.toString()).not.toMatch(new RegExp(`:(${TCP_PORT}|${UDP_PORT})\\s`));
      } finally {
        tcp.kill('SIGKILL');
        udp.kill('SIGKILL');
      }
    });
  }

  runIt('exits 0 when its command does, and leaves nothing behind', async (r) => {
    expect(alive(pastaPid || -1)).toBe(true);
    r.proc.stdin!.end(); // child.js exits when its stdin closes
    const { code, signal } = await Promise.race([
      r.exited,
      delay(15_000).then(() => ({ code: null, signal: 'timeout' as unknown as NodeJS.Signals })),
    ]);
    expect({ code, signal }, r.stderr()).toEqual({ code: 0, signal: null });
    console.log(`${mode.name}: rootlesskit ran ${Date.now() - r.startMs} ms`);
    expect(fs.existsSync(r.stateDir)).toBe(false); // rootlesskit removes its state dir
    const leftovers = () =>
      processes((pid, argv) =>
        pid === pastaPid ||
        nsLink(pid, 'user') === r.userNs ||
        nsLink(pid, 'net') === `net:[${r.netNs}]` ||
        nsLink(pid, 'mnt') === r.mntNs ||
        argv.some((a) => a.includes(r.stateDir)));
    // rootlesskit 2.0-2.2 kills pasta before it exits; later versions let it quit when the namespace goes
    await until(`no process left in the child's namespaces, the private mount namespace or naming ${r.stateDir}`, 3000,
      () => (leftovers().length === 0 ? true : undefined), 50).catch((err) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(leftovers())}`);
    });
    expect(mountPoints()).toEqual(mountsBefore);
    for (const f of ETC_FILES) expect(fs.readFileSync(`/etc/${f}`, 'utf8'), `/etc/${f}`).toBe(etcBefore.get(f));
  });
});
