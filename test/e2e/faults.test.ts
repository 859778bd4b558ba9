// Faults, end to end: what goes wrong around a running pasta or passt, with real traffic
// through the private topology (doc/design.md, "How the tests build their networks"):
//
// - passt: a guest that vanishes mid-transfer, again and again, on a passt started
//   without -1, and one that leaves cleanly; then SIGTERM in the middle of transfers;
// - pasta: peers resetting in bulk, from the remote side and from the namespace's;
//   the namespace deleted (its processes killed, its file removed) under load; SIGTERM
//   in the middle of transfers.
//
// After each: no crash (no "internal error", the expected exit status), no fd leak (the
// process's open fds back to what they were before the fault), no process left (the
// tool, pasta's namespace helper, its command), no host socket left towards the
// remote, and the next client served. The fake QEMU guest (fake-guest.ts) stands for
// the guest: killing QEMU is, for passt, its stream socket closing abruptly, which is
// what the guest here does. Load comes from faultload.js.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { createTopology, ADDRESSES as A, type Namespace, type ServerHandle, type Topology } from './topology.js';
import { DNSSERVER, startTestResolver, within } from './helpers.js';
import { FakeGuest, HOST } from './fake-guest.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const PASTA = path.join(root, 'bin', 'pasta.js');
const PASST = path.join(root, 'bin', 'passt.js');
const LOAD = path.join(here, 'faultload.js');
const NODE = process.execPath;
/** Every instance forwards DNS to the test resolver on the host's loopback (never the machine's). */
const DNS = ['--dns-forward', '169.254.1.1', '--dns-host', '127.0.0.1'];

let topo: Topology;
let dir: string;
let http: ServerHandle;
let echo: ServerHandle;
let udpEcho: ServerHandle;

beforeAll(async () => {
  topo = await createTopology();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faults-e2e-'));
  fs.chmodSync(dir, 0o777); // passt as root becomes nobody, and removes its socket file when it stops
  await startTestResolver(topo.spawnHost([NODE, DNSSERVER, '--bind', '127.0.0.1', '--port', '53']));
  [http, echo, udpEcho] = await Promise.all([
    topo.startRemoteServer('http', ['--port', '80']),
    topo.startRemoteServer('echo'),
    topo.startRemoteServer('udpecho', ['--bind', A.serverV4]), // a reply must come from the address asked
  ]);
});

afterAll(async () => {
  await topo?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// Processes

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Open fds of a process. */
function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** Every live descendant of `pid`. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) if (pp === p && alive(c)) out.push(c), walk(c);
  };
  walk(pid);
  return out;
}

interface Proc {
  child: ChildProcess;
  pid: number;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** The first JSON line on stdout that `match` accepts (already printed or to come). */
  line(match: (o: any) => boolean, what: string, timeoutMs?: number): Promise<any>;
}

function track(child: ChildProcess): Proc {
  let err = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => (err += d));
  const lines: any[] = [];
  let buf = '';
  const waiters: Array<() => void> = [];
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (l.startsWith('{')) lines.push(JSON.parse(l));
    }
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    pid: child.pid!,
    stderr: () => err,
    exited,
    line: async (match, what, timeoutMs = 15_000) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const hit = lines.find(match);
        if (hit) return hit;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited before ${what}: ${err}`);
        if (Date.now() > end) throw new Error(`no ${what} within ${timeoutMs} ms; lines: ${JSON.stringify(lines)}; stderr: ${err}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, 200);
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
    },
  };
}

/** Established TCP sockets in the host namespace towards `port` of the remote server (pasta's or passt's host side). */
async function hostSocketsTo(port: number): Promise<number> {
  const r = await topo.execHost(['ss', '-Htn', 'state', 'established', 'dst', `${A.serverV4}:${port}`]);
  return r.stdout.toString().split('\n').filter((l) => l.trim()).length;
}

/** Wait until `pid` has no more open fds than `fds`, its number before the fault (which left none behind). */
async function fdsBackTo(pid: number, fds: number): Promise<void> {
  await expect.poll(() => fdCount(pid), { timeout: 15_000, interval: 100 }).toBeLessThanOrEqual(fds);
}

// ---------------------------------------------------------------------------
// pasta attached to a namespace of the topology (as Podman runs it), in the foreground

interface Attached {
  ns: Namespace;
  nsFile: string;
  pasta: Proc;
  helper: number[];
}

/**
 * pasta -f attached through a link to the namespace's /proc/PID/ns/net. Started as root
 * it becomes nobody, who may not look at that link's target: it must stay all the same
 * (it used to take that for the file being gone and quit within a second).
 */
async function attachPasta(name: string, extra: string[] = []): Promise<Attached> {
  const ns = await topo.createNetns({ loopbackUp: true });
  const nsFile = path.join(dir, name);
  fs.symlinkSync(ns.netnsPath, nsFile); // stands for the bind-mounted file a runtime deletes
  const pasta = track(topo.spawnHost([NODE, PASTA, '--config-net', '-f', '--quiet', ...extra, ...DNS, '--netns', nsFile]));
  await expect.poll(async () => (await ns.exec(['ip', '-br', 'addr', 'show', 'eth0'])).stdout.toString(), { timeout: 15_000 }).toContain(A.hostV4);
  return { ns, nsFile, pasta, helper: descendants(pasta.pid) };
}

/** One echo through pasta from the namespace: the next client is served. */
async function echoFrom(ns: Namespace): Promise<void> {
  const r = await ns.exec([NODE, LOAD, 'echo1', A.serverV4, String(echo.port)], { timeoutMs: 20_000 });
  expect(r.stdout.toString()).toBe('{"ok":true}\n');
}

describe('pasta under faults', () => {
  it('peers resetting in bulk, from the remote and from the namespace: every reset passed on, no fd left, the next client served', async () => {
    // The debug log names each connection whose host socket was reset, and so got a RST to the guest.
    const logFile = path.join(dir, 'resets.log');
    const { ns, pasta } = await attachPasta('netns-resets', ['-d', '-l', logFile, '--log-size', '10000000']);
    const resetPorts = (port: number): number =>
      new Set([...fs.readFileSync(logFile, 'utf8').matchAll(new RegExp(`guest port (\\d+) -> ${A.serverV4.replace(/\./g, '\\.')}:${port}\\): (?:receive|write|socket error):? (?:ECONNRESET|EPIPE)`, 'g'))].map((m) => m[1])).size;
    try {
      await echoFrom(ns);
      const idle = fdCount(pasta.pid);
      const n = 150;

      // The remote resets all of them at once while it streams to them.
      const server = track(topo.spawnRemote([NODE, LOAD, 'reset-server', '7200', String(n)]));
      await server.line((o) => o.listening, 'reset server');
      const victims = track(ns.spawn([NODE, LOAD, 'many', A.serverV4, '7200', String(n)]));
      await victims.line((o) => o.connected === n, 'every connection up, with data', 20_000);
      server.child.stdin!.write('reset\n');
      await server.line((o) => o.reset === n, 'the bulk reset');
      const gone = await victims.line((o) => o.closed === n, 'every connection closed', 20_000);
      // Every one reset on the host side, and reset towards the guest in turn. (Whether the
      // guest's Node reports each as ECONNRESET depends on what it was doing: some just close.)
      await expect.poll(() => resetPorts(7200), { timeout: 10_000 }).toBe(n);
      expect(Object.keys(gone.errors).filter((code) => code !== 'ECONNRESET')).toEqual([]);
      await expect.poll(() => hostSocketsTo(7200), { timeout: 15_000 }).toBe(0);
      await fdsBackTo(pasta.pid, idle);

      // The namespace resets all of its connections at once while data flows both ways.
      const resetters = track(ns.spawn([NODE, LOAD, 'many', A.serverV4, String(echo.port), String(n), '--reset']));
      await resetters.line((o) => o.reset === n, 'the bulk reset from the namespace');
      await expect.poll(() => hostSocketsTo(echo.port), { timeout: 15_000 }).toBe(0);
      await fdsBackTo(pasta.pid, idle);

      await echoFrom(ns);
      expect(pasta.child.exitCode).toBeNull();
    } finally {
      pasta.child.kill('SIGTERM');
      expect((await pasta.exited).code).toBe(0);
    }
    expect(pasta.stderr()).not.toMatch(/internal error/i);
    expect(fs.readFileSync(logFile, 'utf8')).not.toMatch(/internal error/i); // with -l, the log is there
  });

  it('the namespace deleted under load (its processes killed, its file removed): pasta quits, leaving nothing; the next one serves', async () => {
    const { ns, nsFile, pasta, helper } = await attachPasta('netns-deleted');
    expect(helper.length).toBeGreaterThan(0);
    const load = track(ns.spawn([NODE, LOAD, 'stream', A.serverV4, String(echo.port), '8']));
    await load.line((o) => o.flowing, 'traffic');
    const ping = ns.spawn(['ping', '-q', '-i', '0.05', A.serverV4]);
    const udp = ns.spawn([NODE, path.join(here, 'clients.js'), 'udp', A.serverV4, String(udpEcho.port), '100000', '200']);
    expect(await hostSocketsTo(echo.port)).toBe(8);
    // What a container runtime does when the container goes: every process in it dies,
    // and the namespace's file is removed.
    for (const c of [load.child, ping, udp]) c.kill('SIGKILL');
    process.kill(ns.pid, 'SIGKILL');
    fs.unlinkSync(nsFile);
    const { code } = await pasta.exited;
    expect(code).toBe(0);
    expect(pasta.stderr()).not.toMatch(/internal error/i);
    await within(5_000, async () => !alive(pasta.pid) && helper.every((h) => !alive(h)));
    await expect.poll(() => hostSocketsTo(echo.port), { timeout: 10_000 }).toBe(0);
    // The next one is served.
    const next = await attachPasta('netns-next');
    try {
      await echoFrom(next.ns);
    } finally {
      next.pasta.child.kill('SIGTERM');
      expect((await next.pasta.exited).code).toBe(0);
    }
  });

  it('SIGTERM in the middle of transfers: the command gets it, pasta exits with its status, nothing is left', async () => {
    // The command is the load itself (no shell between): it dies of the SIGTERM pasta passes on.
    const pasta = track(topo.spawnHost([NODE, PASTA, '--config-net', '--quiet', ...DNS, '--', NODE, LOAD, 'stream', A.serverV4, String(echo.port), '8']));
    await pasta.line((o) => o.flowing, 'traffic', 20_000);
    const tree = descendants(pasta.pid);
    expect(tree.length).toBeGreaterThanOrEqual(2); // the namespace helper and the command
    expect(await hostSocketsTo(echo.port)).toBe(8);
    pasta.child.kill('SIGTERM');
    const { code } = await pasta.exited;
    expect(code).toBe(128 + 15);
    expect(pasta.stderr()).not.toMatch(/internal error/i);
    await within(5_000, async () => tree.every((p) => !alive(p)));
    await expect.poll(() => hostSocketsTo(echo.port), { timeout: 10_000 }).toBe(0);
  });
});

// ---------------------------------------------------------------------------
// passt with fake guests

describe('passt under faults', () => {
  /** passt without -1, in the foreground; resolves once it listens. */
  async function startPasst(sock: string): Promise<Proc> {
    const p = track(topo.spawnHost([NODE, PASST, '-f', ...DNS, '-s', sock]));
    await within(15_000, async () => /You can now start qemu/.test(p.stderr()) || p.child.exitCode !== null);
    expect(p.stderr()).toMatch(/You can now start qemu/);
    return p;
  }

  /** A guest that starts `n` downloads of `size` bytes each from the remote's HTTP server. */
  async function downloading(sock: string, n: number, size: number, firstPort: number): Promise<FakeGuest> {
    const g = await FakeGuest.connect(sock);
    await g.dhcp();
    for (let i = 0; i < n; i++) g.tcpExchange(firstPort + i, 80, `GET /bytes/${size} HTTP/1.0\r\n\r\n`, { wscale: 7 }).catch(() => {});
    await within(15_000, async () => g.bytesReceived > 1 << 20);
    expect(await hostSocketsTo(80)).toBe(n);
    return g;
  }

  it('guests vanishing mid-transfer and one leaving cleanly, without -1: passt goes on, its fds back, the next guest served', async () => {
    const sock = path.join(dir, 'passt-vanish.socket');
    const p = await startPasst(sock);
    try {
      // A first guest comes and goes, so that whatever passt opens once is open.
      const first = await FakeGuest.connect(sock);
      await first.dhcp();
      expect((await first.tcpExchange(40000, 80, 'GET / HTTP/1.0\r\n\r\n')).toString()).toMatch(/hello from remote\n$/);
      await first.close();
      await within(5_000, async () => (p.stderr().match(/Client connection closed/g) ?? []).length === 1);
      const idle = fdCount(p.pid);

      for (let round = 0; round < 3; round++) {
        const g = await downloading(sock, 4, 50_000_000, 41000 + round * 10);
        g.socket.destroy(); // QEMU killed: the stream ends, whatever was in flight
        await within(10_000, async () => (p.stderr().match(/Client connection closed/g) ?? []).length === round + 2);
        await expect.poll(() => hostSocketsTo(80), { timeout: 10_000 }).toBe(0);
        await fdsBackTo(p.pid, idle);
      }
      // One that leaves cleanly in the middle of transfers (QEMU quitting).
      const clean = await downloading(sock, 2, 50_000_000, 42000);
      await clean.close();
      await expect.poll(() => hostSocketsTo(80), { timeout: 10_000 }).toBe(0);
      await fdsBackTo(p.pid, idle);

      const next = await FakeGuest.connect(sock);
      expect([...(await next.dhcp()).get(-1)!]).toEqual([...HOST]);
      expect((await next.tcpExchange(43000, 80, 'GET / HTTP/1.0\r\n\r\n')).toString()).toMatch(/hello from remote\n$/);
      expect(next.problems).toEqual([]);
      await next.close();
      expect(p.child.exitCode).toBeNull();
    } finally {
      p.child.kill('SIGTERM');
      expect((await p.exited).code).toBe(0);
    }
    expect(p.stderr()).not.toMatch(/internal error/i);
    expect(fs.existsSync(sock)).toBe(false);
  });

  it('SIGTERM in the middle of transfers: passt exits 0, its socket file gone, no socket to the remote left', async () => {
    const sock = path.join(dir, 'passt-term.socket');
    const p = await startPasst(sock);
    const g = await downloading(sock, 4, 50_000_000, 44000);
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
    await g.closed;
    expect(p.stderr()).not.toMatch(/internal error/i);
    expect(alive(p.pid)).toBe(false);
    expect(fs.existsSync(sock)).toBe(false);
    await expect.poll(() => hostSocketsTo(80), { timeout: 10_000 }).toBe(0);
  });
});
