// pasta attached to an existing namespace (--netns, a PID), as Podman runs it:
// the first process exits 0 once the namespace is configured, the translator
// stays in the background with its standard streams closed, and it quits by
// itself when the namespace goes away.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, rootNote as rootNoteOf, ADDRESSES as A, type Topology } from './topology.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const PASTA = path.join(root, 'bin', 'pasta.js');
const NODE = process.execPath;
/** The launcher bin/pasta.js execs when run as a program (native/launch.cc). */
const LAUNCHER = path.join(root, 'build', 'Release', 'node-passt-launch');
/** Run as Podman runs it: bin/pasta.js as a program (its first line execs the launcher), with this node on PATH. */
const AS_PROGRAM = { env: { ...process.env, PATH: `${path.dirname(NODE)}:${process.env.PATH ?? '/usr/bin:/bin'}` } };
/** The two ways in: `node bin/pasta.js` (a Node first process) and bin/pasta.js as a program (the launcher). */
const WAYS = [
  { name: 'node bin/pasta.js', argv: [NODE, PASTA], opts: {} },
  { name: 'bin/pasta.js as a program, through the launcher', argv: [PASTA], opts: AS_PROGRAM },
];
const rootNote = (): string => rootNoteOf(topo);

let topo: Topology;
let dir: string;

beforeAll(async () => {
  topo = await createTopology();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pasta-attach-'));
});

afterAll(async () => {
  await topo?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !alive(pid);
}

describe('pasta --netns PATH (as Podman runs it)', () => {
  it('has the launcher built beside the addon', () => {
    expect(fs.statSync(LAUNCHER).mode & 0o111).not.toBe(0);
  });

  it.each(WAYS)('$name: configures the namespace, returns with its pipes closed, serves traffic and quits when the file is deleted', async (way) => {
    const ns = await topo.createNetns();
    const nsFile = path.join(dir, `netns-podman-${way.argv.length}`);
    // A stand-in for Podman's bind-mounted namespace file: deleting it is what pasta must notice.
    fs.symlinkSync(ns.netnsPath, nsFile);
    const pidFile = path.join(dir, `pasta-${way.argv.length}.pid`);
    const http = await topo.startRemoteServer('http', ['--port', '80']);
    const local = await topo.startHostServer('http', ['--bind', `127.0.0.1,${A.hostV4}`]);
    try {
      // Podman's command line, with a published port.
      const r = await topo.execHost(
        [...way.argv, '--config-net', '-t', '8085:80', '--dns-forward', '169.254.1.1', '-u', 'none', '-T', 'none', '-U', 'none',
          '--no-map-gw', '--quiet', '--netns', nsFile, '--map-guest-addr', '169.254.1.2', '--map-host-loopback', '169.254.1.3', '-P', pidFile],
        { timeoutMs: 20_000, ...way.opts },
      );
      expect(r.stderr.toString()).toBe(rootNote());
      expect(r.code).toBe(0);
      expect(r.stdioClosed).toBe(true); // nothing left holding the caller's pipes
      const pid = Number(fs.readFileSync(pidFile, 'utf8'));
      expect(alive(pid)).toBe(true);

      const addr = await ns.exec(['ip', '-j', 'addr', 'show', 'eth0']);
      const info = JSON.parse(addr.stdout.toString())[0];
      expect(info.mtu).toBe(65520);
      expect(info.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`)).toContain(`${A.hostV4}/${A.prefixV4}`);

      const out = await ns.exec(['sh', '-c', [
        `curl -sS --max-time 5 http://${A.serverV4}/`,
        // --map-guest-addr: the host's own address; --map-host-loopback: its loopback.
        `curl -sS --max-time 5 http://169.254.1.2:${local.port}/`,
        `curl -sS --max-time 5 http://169.254.1.3:${local.port}/`,
      ].join(' && ')]);
      expect(out.stderr.toString()).toBe('');
      expect(out.stdout.toString()).toBe('hello from remote\n'.repeat(3));
      expect(local.peers.map((p) => p.address).sort()).toEqual([A.hostV4, '127.0.0.1'].sort());

      // The published port, from the remote network.
      const srv = ns.spawn([NODE, path.join(here, 'servers.js'), 'http', '--port', '80']);
      await new Promise<void>((resolve) => srv.stdout!.once('data', () => resolve()));
      const pub = await topo.execRemote(['curl', '-sS', '--max-time', '5', `http://${A.hostV4}:8085/`]);
      expect(pub.stdout.toString()).toBe('hello from remote\n');
      srv.kill();

      fs.unlinkSync(nsFile);
      expect(await waitGone(pid, 10_000)).toBe(true);
    } finally {
      await http.stop();
      await local.stop();
    }
  });

  it('stays in the foreground with -f until SIGTERM, and --no-netns-quit ignores the file', async () => {
    const ns = await topo.createNetns();
    const nsFile = path.join(dir, 'netns-fg');
    fs.symlinkSync(ns.netnsPath, nsFile);
    const child = topo.spawnHost([NODE, PASTA, '--config-net', '-f', '--no-netns-quit', '--netns', nsFile]);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await expect.poll(async () => (await ns.exec(['ip', '-br', 'addr', 'show', 'eth0'])).stdout.toString(), { timeout: 10_000 }).toContain(A.hostV4);
    fs.unlinkSync(nsFile);
    await new Promise((r) => setTimeout(r, 1500));
    expect(child.exitCode).toBeNull();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe('pasta PID', () => {
  it("joins the process's namespaces and quits when it exits", async () => {
    const ns = await topo.createNetns();
    const pidFile = path.join(dir, 'pasta-pid.pid');
    const r = await topo.execHost([NODE, PASTA, '--config-net', '-q', '-P', pidFile, String(ns.pid)], { timeoutMs: 20_000 });
    expect(r.stderr.toString()).toBe(rootNote());
    expect(r.code).toBe(0);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    const out = await ns.exec(['sh', '-c', `ping -c 1 -W 2 ${A.serverV4} >/dev/null && echo ping-ok`]);
    expect(out.stdout.toString()).toBe('ping-ok\n');
    process.kill(ns.pid, 'SIGKILL');
    expect(await waitGone(pid, 10_000)).toBe(true);
  });
});

describe('errors in upstream\'s words', () => {
  it('a tap device the user may not open: "Failed to open() /dev/net/tun: Permission denied"', async () => {
    // A private mount namespace where /dev/net/tun is a file only root may open, and pasta run
    // as an unprivileged user in it, as on a machine whose /dev/net/tun is 0600.
    const denied = path.join(dir, 'tun-0600');
    fs.writeFileSync(denied, '', { mode: 0o600 });
    fs.chmodSync(dir, 0o755);
    const script = `mount --bind ${denied} /dev/net/tun && exec setpriv --reuid=1000 --regid=1000 --clear-groups --inh-caps=-all -- ${NODE} ${PASTA} --config-net -- true`;
    const r = await topo.execHost(['unshare', '-m', '--propagation', 'private', 'sh', '-c', script]);
    expect(r.stderr.toString()).toBe('Failed to open() /dev/net/tun: Permission denied\n');
    expect(r.code).toBe(1);
  });
});

describe('attach errors', () => {
  it.each(WAYS)('$name: fails with one line and exit 1, leaving nothing behind', async (way) => {
    const missing = await topo.execHost([...way.argv, '--config-net', '--netns', '/nonexistent/netns'], way.opts);
    expect(missing.code).toBe(1);
    expect(missing.stderr.toString()).toBe(`${rootNote()}Couldn't open network namespace /nonexistent/netns: No such file or directory\n`);
    const both = await topo.execHost([...way.argv, '--netns', 'x', '1'], way.opts);
    expect(both.code).toBe(1);
    expect(both.stderr.toString()).toBe('Both --netns and PID or command given\n');
    const cmd = await topo.execHost([...way.argv, '--netns', 'x', 'true'], way.opts);
    expect(cmd.code).toBe(1);
    expect(cmd.stderr.toString()).toBe('Both --netns and PID or command given\n');
  });
});
