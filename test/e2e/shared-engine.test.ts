// pasta --shared-engine: one engine process per user serving many namespaces
// (src/cli/shared.ts, native/shared-client.cc; doc/design.md, "The shared
// engine").
//
// Theory of operation: everything runs as an unprivileged user (uid 1000,
// runInHostAsUser) in the private topology's "host" network namespace, as a
// rootless Podman would: each "container" is a user and network namespace
// that user made (`unshare -rn`), held by a sleeping process, and pasta
// attaches to it by PID or by a --netns file, through bin/pasta.js run as a
// program (the launcher). Each test file run gets its own $XDG_RUNTIME_DIR,
// so its engines are its own. The tests look into the namespaces as root
// (nsenter -n) and at the engine from /proc.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { createTopology, runInHostAsUser, ADDRESSES as A, type Topology } from './topology.js';
import { DNSSERVER, childrenOf, sandboxStatus, sharedEngines, startTestResolver, within } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const PASTA = path.join(root, 'bin', 'pasta.js');
const CLIENTS = path.join(here, 'clients.js');
const NODE = process.execPath;
const UID = 1000;
/** A quiet configured namespace, no forwarded ports, and no resolver of the machine's (none at all). */
const QUIET_NONE = ['--config-net', '-q', '-t', 'none', '-u', 'none', '-D', 'none'];

let topo: Topology;
let dir: string;
let runtimeDir: string;
const holders: ChildProcess[] = [];
const resolvers: ChildProcess[] = [];
const dns1: Array<Record<string, unknown>> = [];
const dns2: Array<Record<string, unknown>> = [];

/** The user's environment: node on PATH, our runtime directory, an engine that lingers `idleMs` once idle. */
function userEnv(idleMs = 60_000, runtime = runtimeDir): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${path.dirname(NODE)}:/usr/bin:/bin`, XDG_RUNTIME_DIR: runtime, NODE_PASTA_ENGINE_IDLE_MS: String(idleMs), NODE_PASTA_ENGINE_LOG: path.join(dir, 'engine.log') };
}

function asUser(argv: string[], env = userEnv(), uid = UID) {
  return topo.execArgs(runInHostAsUser(topo, uid, uid, argv), { env, timeoutMs: 30_000 });
}

/** A "container": a user and network namespace of the user's, held by a process; its PID. */
async function container(): Promise<number> {
  const argv = runInHostAsUser(topo, UID, UID, ['unshare', '-rn', 'sh', '-c', 'echo $$; exec sleep 1000']);
  const child = topo.spawnArgs(argv, { env: userEnv() });
  holders.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`namespace holder exited (${code})`)));
  });
}

/** Run argv in a container's network namespace, as root. */
function inside(pid: number, argv: string[]) {
  return topo.execHost(['nsenter', '-t', String(pid), '-n', '--', ...argv], { timeoutMs: 30_000 });
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** PIDs of the running shared engines under `runtime` (their environment names their socket). */
function engines(runtime = runtimeDir): number[] {
  return sharedEngines(`${runtime}/`);
}

/** A TCP server in a container answering every connection with `text`, listening on port 80. */
async function textServer(pid: number, text: string): Promise<ChildProcess> {
  const js = `require('net').createServer((s) => s.end(${JSON.stringify(text + '\n')})).listen(80, () => console.log('up'))`;
  const child = topo.spawnHost(['nsenter', '-t', String(pid), '-n', '--', NODE, '-e', js]);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`server exited (${code})`)));
  });
  return child;
}

beforeAll(async () => {
  topo = await createTopology();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pasta-shared-'));
  fs.chmodSync(dir, 0o755);
  fs.chownSync(dir, UID, UID);
  runtimeDir = path.join(dir, 'run');
  fs.mkdirSync(runtimeDir, { mode: 0o700 });
  fs.chownSync(runtimeDir, UID, UID);
  // Two resolvers, one per container below: each container's queries must reach its own.
  resolvers.push(topo.spawnHost([NODE, DNSSERVER, '--bind', '127.0.0.1', '--port', '53']));
  await startTestResolver(resolvers[0], dns1);
  resolvers.push(topo.spawnHost([NODE, DNSSERVER, '--bind', '127.0.0.2', '--port', '53']));
  await startTestResolver(resolvers[1], dns2);
}, 30_000);

afterAll(async () => {
  for (const h of holders) h.kill('SIGKILL');
  for (const r of resolvers) r.kill();
  for (const pid of [...engines(), ...engines(path.join(dir, 'idle')), ...engines(path.join(dir, 'churn'))]) process.kill(pid, 'SIGKILL');
  await topo?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('pasta --shared-engine', () => {
  it('serves containers with different ports and resolvers from one engine process, each its own traffic', async () => {
    const [a, b] = [await container(), await container()];
    const pidA = path.join(dir, 'a.pid');
    const pidB = path.join(dir, 'b.pid');
    const ra = await asUser([PASTA, '--shared-engine', '--config-net', '-q', '-D', 'none', '-t', '8101:80', '-u', 'none', '--dns-forward', '169.254.1.1', '--dns-host', '127.0.0.1', '-P', pidA, String(a)]);
    expect(ra.stderr.toString()).toBe('');
    expect(ra.code).toBe(0);
    expect(ra.stdioClosed).toBe(true);
    // The other way to ask for it: the environment, as a containers.conf cannot.
    const rb = await asUser([PASTA, '--config-net', '-q', '-D', 'none', '-t', '8102:80', '-u', 'none', '--dns-forward', '169.254.1.1', '--dns-host', '127.0.0.2', '-P', pidB, String(b)], { ...userEnv(), NODE_PASTA_SHARED_ENGINE: '1' });
    expect(rb.stderr.toString()).toBe('');
    expect(rb.code).toBe(0);

    // One engine; each PID file names a small process of its own, which is not the engine.
    const [engine, ...more] = engines();
    expect(more).toEqual([]);
    const stubA = Number(fs.readFileSync(pidA, 'utf8'));
    const stubB = Number(fs.readFileSync(pidB, 'utf8'));
    expect(alive(stubA) && alive(stubB)).toBe(true);
    expect(new Set([stubA, stubB, engine]).size).toBe(3);
    expect(Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${stubA}/status`, 'utf8'))?.[1])).toBeLessThan(2048);
    // Each namespace's helper is the small node-passt-nsholder, not a copy-on-write fork of the engine.
    const helpers = childrenOf(engine);
    expect(helpers).toHaveLength(2);
    for (const h of helpers) {
      expect(path.basename(fs.readlinkSync(`/proc/${h}/exe`))).toBe('node-passt-nsholder');
      // Locked as pasta's own helper is: its filter, no_new_privs, no capabilities, an empty root.
      expect(sandboxStatus(h)).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000', root: [] });
    }

    for (const pid of [a, b]) {
      const addr = JSON.parse((await inside(pid, ['ip', '-j', 'addr', 'show', 'eth0'])).stdout.toString())[0];
      expect(addr.addr_info.map((x: { local: string; prefixlen: number }) => `${x.local}/${x.prefixlen}`)).toContain(`${A.hostV4}/${A.prefixV4}`);
    }

    // DNS: the same forwarder address in both, answered by each one's own resolver.
    const before1 = dns1.length;
    const before2 = dns2.length;
    const da = await inside(a, ['dig', '+short', '+time=2', '+tries=1', '@169.254.1.1', 'remote.test', 'A']);
    const db = await inside(b, ['dig', '+short', '+time=2', '+tries=1', '@169.254.1.1', 'host.test', 'A']);
    expect(da.stdout.toString()).toBe(`${A.serverV4}\n`);
    expect(db.stdout.toString()).toBe('192.0.2.80\n');
    expect(dns1.slice(before1).filter((l) => l.query).map((l) => l.query)).toEqual(['remote.test']);
    expect(dns2.slice(before2).filter((l) => l.query).map((l) => l.query)).toEqual(['host.test']);

    // Ports: each published port reaches its own container only.
    const sa = await textServer(a, 'container a');
    const sb = await textServer(b, 'container b');
    try {
      const fetch = (port: number) => topo.execRemote([NODE, '-e', `require('net').connect(${port}, '${A.hostV4}').pipe(process.stdout)`]);
      const got = await Promise.all([fetch(8101), fetch(8102), fetch(8101)]);
      expect(got.map((r) => r.stdout.toString())).toEqual(['container a\n', 'container b\n', 'container a\n']);
      // And outwards, both at once, byte for byte.
      const sink = await topo.startRemoteServer('sink');
      try {
        const sends = await Promise.all([a, b].map((pid) => inside(pid, [NODE, CLIENTS, 'send', A.serverV4, String(sink.port), '4000000'])));
        for (const s of sends) expect(JSON.parse(s.stdout.toString())).toMatchObject({ ok: true, bytes: 4000000 });
      } finally {
        await sink.stop();
      }
    } finally {
      sa.kill();
      sb.kill();
    }
  });

  it('keeps serving the others while one container goes away (its --netns file deleted)', async () => {
    const [a, b] = [await container(), await container()];
    const nsFile = path.join(dir, 'netns-a');
    fs.symlinkSync(`/proc/${a}/ns/net`, nsFile);
    const pidA = path.join(dir, 'gone-a.pid');
    const ra = await asUser([PASTA, '--shared-engine', ...QUIET_NONE, '--netns', nsFile, '--userns', `/proc/${a}/ns/user`, '-P', pidA]);
    expect(ra.stderr.toString() + ra.code).toBe('0');
    const rb = await asUser([PASTA, '--shared-engine', ...QUIET_NONE, String(b)]);
    expect(rb.stderr.toString() + rb.code).toBe('0');
    const stubA = Number(fs.readFileSync(pidA, 'utf8'));
    const sink = await topo.startRemoteServer('sink');
    try {
      // A transfer through b, and a's namespace file deleted while it runs.
      const transfer = inside(b, [NODE, CLIENTS, 'send', A.serverV4, String(sink.port), '60000000']);
      await within(10_000, async () => sink.peers.length > 0);
      fs.unlinkSync(nsFile);
      await within(10_000, async () => !alive(stubA));
      const done = await transfer;
      expect(JSON.parse(done.stdout.toString())).toMatchObject({ ok: true, bytes: 60000000 });
      // a's service is gone: no tap traffic reaches the remote network any more.
      const ping = await inside(a, ['ping', '-c', '1', '-W', '1', A.serverV4]);
      expect(ping.code).not.toBe(0);
      const again = await inside(b, ['ping', '-c', '1', '-W', '5', A.serverV4]);
      expect(again.code).toBe(0);
    } finally {
      await sink.stop();
    }
  });

  it('reports a killed engine in every pasta it served (standard error with -f, the log file otherwise); the next pasta starts a new one', async () => {
    const [c, d] = [await container(), await container()];
    const log = path.join(dir, 'c.log');
    fs.writeFileSync(log, '');
    fs.chownSync(log, UID, UID);
    const pidC = path.join(dir, 'c.pid');
    const rc = await asUser([PASTA, '--shared-engine', ...QUIET_NONE, '-l', log, '-P', pidC, String(c)]);
    expect(rc.stderr.toString() + rc.code).toBe('0');
    const stubC = Number(fs.readFileSync(pidC, 'utf8'));
    // -f: this process itself stays, as pasta -f does.
    const fg = topo.spawnArgs(runInHostAsUser(topo, UID, UID, [PASTA, '--shared-engine', '-f', '-q', ...QUIET_NONE, String(d)]), { env: userEnv() });
    let fgErr = '';
    fg.stderr!.on('data', (x: Buffer) => (fgErr += x.toString()));
    const fgExit = new Promise<number | null>((resolve) => fg.once('exit', (code) => resolve(code)));
    await within(10_000, async () => (await inside(d, ['ip', '-br', 'addr', 'show', 'eth0'])).stdout.toString().includes(A.hostV4));
    const [engine] = engines();
    expect(engine).toBeGreaterThan(0);

    process.kill(engine, 'SIGKILL');
    expect(await fgExit).toBe(1);
    expect(fgErr).toBe('pasta: the shared engine exited: this namespace has no network any more\n');
    await within(10_000, async () => !alive(stubC));
    expect(fs.readFileSync(log, 'utf8')).toMatch(/^\d+\.\d{4}: ERROR: {3}the shared engine exited: this namespace has no network any more$/m);

    // The next pasta starts a new engine, which serves c again.
    const again = await asUser([PASTA, '--shared-engine', ...QUIET_NONE, String(c)]);
    expect(again.stderr.toString() + again.code).toBe('0');
    const [next] = engines();
    expect(next).not.toBe(engine);
    expect((await inside(c, ['ping', '-c', '1', '-W', '5', A.serverV4])).code).toBe(0);
  });

  it("is the user's alone: another uid is refused, by the directory and by the peer's credentials", async () => {
    const c = await container();
    const r = await asUser([PASTA, '--shared-engine', ...QUIET_NONE, String(c)]);
    expect(r.stderr.toString() + r.code).toBe('0');
    const [engine] = engines();
    // Another user, same runtime directory: it cannot even look in.
    const other = await asUser([PASTA, '--shared-engine', ...QUIET_NONE, String(c)], userEnv(), 1001);
    expect(other.stderr.toString()).toMatch(/^pasta: --shared-engine: (cannot create|.* is not a directory of ours)/);
    expect(other.stderr.toString().split('\n')).toHaveLength(2);
    expect(other.code).toBe(1);
    // Root gets past the permissions: the engine itself hangs up without an answer.
    const sock = fs.readdirSync(path.join(runtimeDir, 'node-passt')).find((f) => f.endsWith('.sock'))!;
    expect(fs.statSync(path.join(runtimeDir, 'node-passt')).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(runtimeDir, 'node-passt', sock)).mode & 0o777).toBe(0o600);
    const py = [
      'import socket, sys',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)',
      's.connect(sys.argv[1])',
      'try:',
      `    s.send(b"node-pasta-engine 1\\0/\\0--netns\\0/proc/${c}/ns/net")`,
      '    print(repr(s.recv(4096)))',
      'except (BrokenPipeError, ConnectionResetError):',
      '    print("hung up")',
    ].join('\n');
    const probe = await topo.execHost(['python3', '-c', py, path.join(runtimeDir, 'node-passt', sock)]);
    expect(["b''\n", 'hung up\n']).toContain(probe.stderr.toString() + probe.stdout.toString());
    expect(alive(engine)).toBe(true);
  });

  it('says what is wrong with a command line in one line, exit 1, and keeps serving', async () => {
    const c = await container();
    const bad = await asUser([PASTA, '--shared-engine', '--netns', `/proc/${c}/ns/net`, '--bogus']);
    expect(bad.stderr.toString()).toBe("pasta: unrecognized option '--bogus'\n");
    expect(bad.code).toBe(1);
    const missing = await asUser([PASTA, '--shared-engine', '--netns', path.join(dir, 'no-such-netns')]);
    expect(missing.stderr.toString()).toMatch(/^Couldn't open network namespace .*no-such-netns: No such file or directory\n$/);
    expect(missing.code).toBe(1);
    // Garbage on the socket, from the right user: a refusal, and the engine goes on.
    const sock = fs.readdirSync(path.join(runtimeDir, 'node-passt')).find((f) => f.endsWith('.sock'))!;
    const py = [
      'import socket, sys',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)',
      's.connect(sys.argv[1])',
      "s.send(bytes(range(256)) * 3)",
      'print(s.recv(4096).split(b"\\0")[0].decode())',
    ].join('\n');
    const garbage = await asUser(['python3', '-c', py, path.join(runtimeDir, 'node-passt', sock)]);
    expect(garbage.stdout.toString()).toBe('error\n');
    // Run by node rather than as a program, pasta goes through the launcher all the same.
    const ok = await asUser([NODE, PASTA, '--shared-engine', ...QUIET_NONE, String(c)]);
    expect(ok.stderr.toString() + ok.code).toBe('0');
    expect((await inside(c, ['ping', '-c', '1', '-W', '5', A.serverV4])).code).toBe(0);
  });

  it('sends --runas back to run by itself: a pasta process of its own, not the launcher, holds the namespace', async () => {
    const c = await container();
    const pidFile = path.join(dir, 'runas.pid');
    const r = await asUser([PASTA, '--shared-engine', ...QUIET_NONE, '--runas', String(UID), '-P', pidFile, String(c)]);
    expect(r.stderr.toString() + r.code).toBe('0');
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    // The PID file names pasta's own background process (Node), not the launcher's small one.
    expect(path.basename(fs.readlinkSync(`/proc/${pid}/exe`))).not.toBe('node-passt-launch');
    expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('bin/pasta.js');
    expect((await inside(c, ['ip', '-br', 'addr', 'show', 'eth0'])).stdout.toString()).toContain(A.hostV4);
  });

  it('runs a command of its own as pasta does without --shared-engine', async () => {
    const r = await asUser([PASTA, '--shared-engine', ...QUIET_NONE, '--', 'ip', '-br', 'addr', 'show', 'eth0']);
    expect(r.stderr.toString()).toBe('');
    expect(r.stdout.toString()).toContain(`${A.hostV4}/${A.prefixV4}`);
    expect(r.code).toBe(0);
  });

  it('runs by itself, starting no engine, as root of the initial user namespace', async () => {
    if (process.geteuid?.() !== 0) throw new Error('this test runs as root (of the initial user namespace), as the suite does in CI');
    const runtime = path.join(dir, 'root');
    fs.mkdirSync(runtime, { mode: 0o700 });
    const ns = await topo.createNetns();
    const pidFile = path.join(dir, 'root.pid');
    // In the topology's host network namespace (its network, never the machine's) but the initial
    // user namespace: nsenter -n alone, from this process.
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync('nsenter', ['-t', String(topo.hostPid), '-n', '--', PASTA, '--shared-engine', ...QUIET_NONE, '--netns', ns.netnsPath, '-P', pidFile], {
      env: userEnv(60_000, runtime), encoding: 'utf8', timeout: 30_000,
    });
    expect(r.stderr).toBe('Started as root, will change to nobody.\n');
    expect(r.status).toBe(0);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    try {
      expect(engines(runtime)).toEqual([]);
      // pasta's own background process, switched to nobody as pasta(1) does.
      expect(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]).toBe('65534');
      expect((await ns.exec(['ip', '-br', 'addr', 'show', 'eth0'])).stdout.toString()).toContain(A.hostV4);
    } finally {
      process.kill(pid, 'SIGTERM');
    }
  });

  it("gives back what a namespace it let go had: memory stays level over 30 namespaces come and gone", async () => {
    const runtime = path.join(dir, 'churn');
    fs.mkdirSync(runtime, { mode: 0o700 });
    fs.chownSync(runtime, UID, UID);
    const env = userEnv(60_000, runtime);
    const pss = (pid: number): number => Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))![1]) / 1024;
    const round = async (): Promise<void> => {
      const pids = await Promise.all(Array.from({ length: 10 }, () => container()));
      for (const pid of pids) {
        const r = await asUser([PASTA, '--shared-engine', ...QUIET_NONE, String(pid)], env);
        expect(r.stderr.toString() + r.code).toBe('0');
      }
      // The holders go, and with them the namespaces: the engine lets each go.
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      const [engine] = engines(runtime);
      await within(10_000, async () => childrenOf(engine).length === 0);
    };
    await round();
    const [engine] = engines(runtime);
    const after10 = pss(engine);
    await round();
    await round();
    // A namespace's buffers (a TapOut is 8 MiB) freed while others were made once came back from
    // the heap zeroed and resident: some 70 MiB after the third round of ten.
    expect(pss(engine) - after10).toBeLessThan(15);
  });

  it('exits once it serves nothing, removing its socket, and the next pasta starts another', async () => {
    const runtime = path.join(dir, 'idle');
    fs.mkdirSync(runtime, { mode: 0o700 });
    fs.chownSync(runtime, UID, UID);
    const env = userEnv(200, runtime);
    const c = await container();
    const nsFile = path.join(dir, 'netns-idle');
    fs.symlinkSync(`/proc/${c}/ns/net`, nsFile);
    const r = await asUser([PASTA, '--shared-engine', ...QUIET_NONE, '--netns', nsFile, '--userns', `/proc/${c}/ns/user`], env);
    expect(r.stderr.toString() + r.code).toBe('0');
    const [engine] = engines(runtime);
    expect(engine).toBeGreaterThan(0);
    fs.unlinkSync(nsFile);
    await within(10_000, async () => !alive(engine));
    expect(fs.readdirSync(path.join(runtime, 'node-passt')).filter((f) => f.endsWith('.sock'))).toEqual([]);
    const again = await asUser([PASTA, '--shared-engine', ...QUIET_NONE, String(c)], env);
    expect(again.stderr.toString() + again.code).toBe('0');
    expect(engines(runtime)).toHaveLength(1);
    expect(engines(runtime)[0]).not.toBe(engine);

    // A new build of the package (an upgrade rewrites dist/) starts an engine of its own beside
    // the one still serving: never hands a namespace to older code.
    const built = path.join(root, 'dist', 'cli', 'shared.js');
    const { atime, mtime } = fs.statSync(built);
    const d = await container();
    try {
      fs.utimesSync(built, atime, new Date(mtime.getTime() + 1000));
      const upgraded = await asUser([PASTA, '--shared-engine', ...QUIET_NONE, String(d)], env);
      expect(upgraded.stderr.toString() + upgraded.code).toBe('0');
      expect(engines(runtime)).toHaveLength(2);
    } finally {
      fs.utimesSync(built, atime, mtime);
    }
  });
});
