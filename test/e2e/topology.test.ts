// Proves the test topology itself (topology.ts): that "the host" and "the
// remote network" are built as specified, that traffic flows between them over
// IPv4 and IPv6, that the test servers and clients agree, that rootless runs
// really are rootless, that nothing appears in the test process's own network
// namespace, and that close() leaves no process behind.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, runInHostAsUser, ADDRESSES, type Topology } from './topology.js';
import { streamSha256 } from './stream.js';
import { within } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLIENTS = path.join(here, 'clients.js');
const NODE = process.execPath;
const A = ADDRESSES;

/** What must not change in this process's own network namespace. */
function realNamespaceSnapshot(): string {
  const links = JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as Array<
    Record<string, unknown>
  >;
  const addrs = JSON.parse(execFileSync('ip', ['-j', 'address', 'show'], { encoding: 'utf8' })) as Array<{
    ifname: string;
    addr_info?: Array<{ local: string; prefixlen: number }>;
  }>;
  return JSON.stringify({
    links: links.map((l) => [l.ifindex, l.ifname, l.mtu, l.link_type, l.address, l.master ?? null]),
    addresses: addrs.map((l) => [l.ifname, (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`).sort()]),
  });
}

function nsLink(pid: number | string, kind: 'net' | 'user'): string {
  return fs.readlinkSync(`/proc/${pid}/ns/${kind}`);
}

/** PIDs of live (non-zombie) processes whose network or user namespace is one of the given links. */
function processesIn(links: Set<string>): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (/\) [ZX] /.test(stat)) continue;
      if (links.has(nsLink(entry, 'net')) || links.has(nsLink(entry, 'user'))) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function json(buf: Buffer): any {
  return JSON.parse(buf.toString('utf8'));
}

const CURL = ['curl', '-sS', '--noproxy', '*', '--max-time', '10'];

describe('test topology', () => {
  let topo: Topology;
  let before: string;

  beforeAll(async () => {
    before = realNamespaceSnapshot();
    topo = await createTopology();
  });

  afterAll(async () => {
    await topo?.close();
  });

  it('lives in namespaces of its own', () => {
    const self = { net: nsLink(process.pid, 'net'), user: nsLink(process.pid, 'user') };
    expect(nsLink(topo.hostPid, 'net')).not.toBe(self.net);
    expect(nsLink(topo.hostPid, 'user')).not.toBe(self.user);
    expect(nsLink(topo.remotePid, 'net')).not.toBe(self.net);
    expect(nsLink(topo.remotePid, 'net')).not.toBe(nsLink(topo.hostPid, 'net'));
    // the remote network namespace belongs to the host's user namespace
    expect(nsLink(topo.remotePid, 'user')).toBe(nsLink(topo.hostPid, 'user'));
    expect(topo.hostArgs(['true'])).toEqual([
      'nsenter', '-t', String(topo.hostPid), '-U', '-n', '--preserve-credentials', '--', 'true',
    ]);
  });

  it('gives the host lo, eth0 with its addresses and MTU, and default routes', async () => {
    const links = json((await topo.execHost(['ip', '-j', 'address', 'show'])).stdout) as any[];
    expect(links.map((l) => l.ifname).sort()).toEqual(['eth0', 'lo']);
    const lo = links.find((l) => l.ifname === 'lo');
    expect(lo.flags).toContain('UP');
    const eth0 = links.find((l) => l.ifname === 'eth0');
    expect(eth0.mtu).toBe(65520);
    expect(eth0.flags).toContain('UP');
    const addrs = eth0.addr_info.filter((a: any) => a.scope === 'global').map((a: any) => `${a.local}/${a.prefixlen}`);
    expect(addrs.sort()).toEqual(['198.51.100.2/24', '2001:db8::2/64']);
    expect(eth0.addr_info.some((a: any) => a.tentative || a.dadfailed)).toBe(false);

    const r4 = json((await topo.execHost(['ip', '-j', '-4', 'route', 'show'])).stdout) as any[];
    expect(r4).toContainEqual(expect.objectContaining({ dst: 'default', gateway: A.gatewayV4, dev: 'eth0' }));
    expect(r4).toContainEqual(expect.objectContaining({ dst: A.networkV4, dev: 'eth0' }));
    const r6 = json((await topo.execHost(['ip', '-j', '-6', 'route', 'show'])).stdout) as any[];
    expect(r6).toContainEqual(expect.objectContaining({ dst: 'default', gateway: A.gatewayV6, dev: 'eth0' }));
    expect(r6).toContainEqual(expect.objectContaining({ dst: A.networkV6, dev: 'eth0' }));
  });

  it('gives the remote the gateway addresses and the server addresses on its loopback', async () => {
    const links = json((await topo.execRemote(['ip', '-j', 'address', 'show'])).stdout) as any[];
    expect(links.map((l) => l.ifname).sort()).toEqual(['eth0', 'lo']);
    const global = (name: string) =>
      links
        .find((l) => l.ifname === name)
        .addr_info.filter((a: any) => a.scope !== 'link' && a.scope !== 'host')
        .map((a: any) => `${a.local}/${a.prefixlen}`)
        .sort();
    expect(global('lo')).toEqual(['2001:db8:1::10/128', '203.0.113.10/32']);
    expect(global('eth0')).toEqual(['198.51.100.1/24', '2001:db8::1/64']);
    expect(links.find((l) => l.ifname === 'eth0').mtu).toBe(65520);
    const r4 = json((await topo.execRemote(['ip', '-j', '-4', 'route', 'show'])).stdout) as any[];
    expect(r4).toContainEqual(expect.objectContaining({ dst: A.networkV4, dev: 'eth0', scope: 'link' }));
    expect(r4.some((r) => r.dst === 'default')).toBe(false); // nowhere to go beyond
  });

  it('lets every group open ping sockets in both namespaces', async () => {
    for (const exec of [topo.execHost.bind(topo), topo.execRemote.bind(topo)]) {
      const r = await exec(['cat', '/proc/sys/net/ipv4/ping_group_range']);
      expect(r.stdout.toString().trim().split(/\s+/)).toEqual(topo.fullIdMap ? ['0', '2147483647'] : ['0', '0']);
    }
  });

  it('serves HTTP on 203.0.113.10 and [2001:db8:1::10] to the host', async () => {
    const server = await topo.startRemoteServer('http');
    try {
      const v4 = await topo.execHost([...CURL, `http://${A.serverV4}:${server.port}/`]);
      expect(v4.stderr.toString()).toBe('');
      expect(v4.stdout.toString()).toBe('hello from remote\n');
      const v6 = await topo.execHost([...CURL, `http://[${A.serverV6}]:${server.port}/`]);
      expect(v6.stdout.toString()).toBe('hello from remote\n');

      const n = 3_000_000;
      const big = await topo.execHost([...CURL, `http://${A.serverV4}:${server.port}/bytes/${n}`]);
      expect(big.stdout.length).toBe(n);
      expect(createHash('sha256').update(big.stdout).digest('hex')).toBe(streamSha256(n, n));

      const ip = await topo.execHost([...CURL, `http://[${A.serverV6}]:${server.port}/ip`]);
      expect(json(ip.stdout)).toMatchObject({ address: A.hostV6, family: 'IPv6' });

      await server.waitForPeer((p) => p.address === A.hostV4 && p.localAddress === A.serverV4);
      await server.waitForPeer((p) => p.address === A.hostV6 && p.localAddress === A.serverV6);
    } finally {
      await server.stop();
    }
  });

  it.each([
    ['sink', 'send', ['4000000']],
    ['source', 'recv', ['16000000']],
    ['echo', 'echo', ['2000000']],
    ['halfclose', 'halfclose', ['100000']],
    ['rst', 'rst', []],
    ['udpecho', 'udp', ['20', '1400']],
  ])('runs the %s server against clients.js %s over IPv4 and IPv6', async (mode, clientMode, extra) => {
    const server = await topo.startRemoteServer(mode as any);
    try {
      for (const host of [A.serverV4, A.serverV6]) {
        const r = await topo.execHost([NODE, CLIENTS, clientMode, host, String(server.port), ...extra, '--timeout', '20000']);
        expect(json(r.stdout), r.stderr.toString()).toMatchObject({ ok: true });
        expect(r.code).toBe(0);
      }
      expect(server.peers.map((p) => p.address)).toEqual([A.hostV4, A.hostV6]);
    } finally {
      await server.stop();
    }
  });

  it('binds servers where asked, and in the host namespace too', async () => {
    const remote = await topo.startRemoteServer('echo', ['--bind', A.serverV4]);
    const onLoopback = await topo.startHostServer('echo', ['--bind', '127.0.0.1,::1']);
    try {
      const v4 = await topo.execHost([NODE, CLIENTS, 'echo', A.serverV4, String(remote.port), '1000']);
      expect(v4.code).toBe(0);
      const v6 = await topo.execHost([NODE, CLIENTS, 'connect', A.serverV6, String(remote.port)]);
      expect(json(v6.stdout).error).toMatch(/ECONNREFUSED/);
      for (const host of ['127.0.0.1', '::1']) {
        const r = await topo.execHost([NODE, CLIENTS, 'echo', host, String(onLoopback.port), '1000']);
        expect(r.code, r.stdout.toString()).toBe(0);
      }
      // the host's loopback is its own: the remote cannot reach it
      const r = await topo.execRemote([NODE, CLIENTS, 'connect', '127.0.0.1', String(onLoopback.port)]);
      expect(r.code).toBe(1);
    } finally {
      await remote.stop();
      await onLoopback.stop();
    }
  });

  it('runs rootless commands as a real unprivileged user without capabilities', async () => {
    expect(topo.fullIdMap).toBe(process.geteuid?.() === 0);
    const argv = runInHostAsUser(topo, 1000, 1000, [
      'sh',
      '-c',
      'id -u; id -g; grep CapEff /proc/self/status; ' +
        'ip link add dummy0 type dummy 2>/dev/null && echo added || echo refused; ' +
        'unshare -Urn sh -c "id -u; ip link set lo up && echo nested-ok"; ' +
        'ping -c 1 -W 5 203.0.113.10 >/dev/null && echo ping-ok',
    ]);
    const r = await topo.execArgs(argv);
    const lines = r.stdout.toString().trim().split('\n');
    expect(lines, r.stderr.toString()).toEqual([
      '1000',
      '1000',
      'CapEff:\t0000000000000000',
      'refused',
      '0',
      'nested-ok',
      'ping-ok',
    ]);
    // and it is in the host's network namespace
    const net = await topo.execArgs(runInHostAsUser(topo, 1000, 1000, ['readlink', '/proc/self/ns/net']));
    expect(net.stdout.toString().trim()).toBe(nsLink(topo.hostPid, 'net'));
  });

  it('makes further network namespaces under the host user namespace', async () => {
    const ns = await topo.createNetns({ name: 'container' });
    expect(ns.netnsPath).toBe(`/proc/${ns.pid}/ns/net`);
    expect(nsLink(ns.pid, 'user')).toBe(nsLink(topo.hostPid, 'user'));
    expect(nsLink(ns.pid, 'net')).not.toBe(nsLink(topo.hostPid, 'net'));
    const links = json((await ns.exec(['ip', '-j', 'link', 'show'])).stdout) as any[];
    expect(links.map((l) => l.ifname)).toEqual(['lo']);
    // nsenter --net=PATH from the host user namespace reaches it (as pasta --netns will)
    const r = await topo.execHost(['nsenter', `--net=${ns.netnsPath}`, 'readlink', '/proc/self/ns/net']);
    expect(r.stdout.toString().trim()).toBe(nsLink(ns.pid, 'net'));
  });

  it('reports exit codes, signals, stdin and timeouts of exec', async () => {
    const cat = await topo.execHost(['cat'], { input: 'abc' });
    expect(cat).toMatchObject({ code: 0, ok: true, timedOut: false });
    expect(cat.stdout.toString()).toBe('abc');
    const fail = await topo.execRemote(['sh', '-c', 'echo oops >&2; exit 3']);
    expect(fail).toMatchObject({ code: 3, ok: false });
    expect(fail.stderr.toString()).toBe('oops\n');
    const slow = await topo.execHost(['sleep', '30'], { timeoutMs: 200 });
    expect(slow).toMatchObject({ timedOut: true, ok: false, signal: 'SIGKILL' });
    // a daemon that keeps the pipes: the exit is reported, with stdioClosed false
    const daemon = await topo.execHost(['sh', '-c', 'sleep 20 & echo started'], { closeGraceMs: 300 });
    expect(daemon).toMatchObject({ code: 0, ok: true, stdioClosed: false });
    expect(daemon.stdout.toString()).toBe('started\n');
    expect(cat.stdioClosed).toBe(true);
    const cwd = await topo.execHost(['pwd']);
    expect(cwd.stdout.toString().trim()).toBe(process.cwd());
  });

  it('leaves no process behind on close(), and the real namespace untouched', async () => {
    const t = await createTopology();
    const links = new Set([nsLink(t.hostPid, 'net'), nsLink(t.hostPid, 'user'), nsLink(t.remotePid, 'net')]);
    const extra = await t.createNetns();
    links.add(nsLink(extra.pid, 'net'));
    await t.startRemoteServer('echo');
    t.spawnHost(['sleep', '987650'], { stdio: 'ignore' });
    // a daemon that left its parent, and processes in a nested user namespace
    await t.execHost(['sh', '-c', 'setsid sleep 987651 </dev/null >/dev/null 2>&1 &']);
    t.spawnHost(['unshare', '-Urn', '--fork', 'sh', '-c', 'sleep 987652 & sleep 987653'], { stdio: 'ignore' });
    t.spawnRemote(['sh', '-c', 'sleep 987654 & wait'], { stdio: 'ignore' });
    // Until every one of them runs.
    const sleepers = () => new Set(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').map((l) => /^sleep (98765[0-4])$/.exec(l.trim())?.[1]).filter(Boolean));
    await within(10_000, async () => sleepers().size === 5);

    const holders = [t.hostPid, t.remotePid, extra.pid];
    const inside = processesIn(links);
    expect(inside).toEqual(expect.arrayContaining(holders));
    expect(inside.length).toBeGreaterThanOrEqual(holders.length + 5);

    await t.close();
    await t.close(); // idempotent
    expect(processesIn(links)).toEqual([]);
    for (const pid of holders) expect(fs.existsSync(`/proc/${pid}/stat`) && !/\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))).toBe(false);
    // including those in the nested user namespace (in neither of our network namespaces)
    const leftovers = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => /sleep 98765[0-4]|--watchdog (\d+)$/.test(l) && (!l.includes('--watchdog') || l.endsWith(` ${holders[0]}`)));
    expect(leftovers).toEqual([]);
    expect(() => t.spawnHost(['true'])).toThrow(/closed/);

    // close the main topology too, then compare the real namespace
    await topo.close();
    expect(realNamespaceSnapshot()).toBe(before);
  });
});
