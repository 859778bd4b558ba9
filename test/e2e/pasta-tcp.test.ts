// pasta end to end: `pasta --config-net` inside the private topology (doc/design.md),
// real TCP traffic from the namespace to the "remote" network and to the host.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { createTopology, rootNote, runInHostAsUser, ADDRESSES as A, type Topology, type ServerHandle } from './topology.js';
import { within } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const PASTA = path.join(root, 'bin', 'pasta.js');
const CLIENTS = path.join(here, 'clients.js');
const NODE = process.execPath;

let topo: Topology;
let http: ServerHandle;

/** Run `sh -c script` in a pasta namespace inside the topology's host. */
function pasta(script: string, opts: string[] = [], timeoutMs = 60_000) {
  return topo.execHost([NODE, PASTA, '--config-net', ...opts, '--', 'sh', '-c', script], { timeoutMs });
}

/** Run a full argv (already wrapped for a namespace). */
function run(argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0], argv.slice(1), { timeout: 60_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function json(out: Buffer): any {
  const lines = out.toString().trim().split('\n').filter((l) => l.startsWith('{'));
  return lines.map((l) => JSON.parse(l));
}

beforeAll(async () => {
  topo = await createTopology();
  http = await topo.startRemoteServer('http', ['--port', '80']);
});

afterAll(async () => {
  await topo?.close();
});

describe('pasta --config-net', () => {
  it('mirrors the host interface: name, addresses, prefix lengths, MTU, default routes, lo up', async () => {
    const r = await pasta('ip -j addr show; echo ===; ip -j route show; echo ===; ip -6 -j route show default');
    expect(r.stderr.toString()).toBe(rootNote(topo));
    expect(r.code).toBe(0);
    const [addrs, routes4, routes6] = r.stdout.toString().split('===\n').map((s) => JSON.parse(s));
    const ifs = addrs.filter((l: any) => l.ifname !== 'lo');
    expect(ifs).toHaveLength(1);
    const eth = ifs[0];
    expect(eth.ifname).toBe(A.ifname);
    expect(eth.mtu).toBe(65520);
    expect(eth.flags).toContain('UP');
    const inet = eth.addr_info.filter((a: any) => a.family === 'inet');
    const inet6 = eth.addr_info.filter((a: any) => a.family === 'inet6' && a.scope === 'global');
    expect(inet.map((a: any) => `${a.local}/${a.prefixlen}`)).toEqual([`${A.hostV4}/${A.prefixV4}`]);
    expect(inet6.map((a: any) => `${a.local}/${a.prefixlen}`)).toEqual([`${A.hostV6}/${A.prefixV6}`]);
    const lo = addrs.find((l: any) => l.ifname === 'lo');
    expect(lo.flags).toContain('UP');
    expect(routes4.find((r: any) => r.dst === 'default')).toMatchObject({ gateway: A.gatewayV4, dev: A.ifname });
    expect(routes6.find((r: any) => r.dst === 'default')).toMatchObject({ gateway: A.gatewayV6, dev: A.ifname });
  });

  it('fetches over HTTP with IPv4 and IPv6', async () => {
    const r = await pasta(`curl -sS --max-time 10 http://${A.serverV4}/ && curl -sS --max-time 10 http://[${A.serverV6}]/`);
    expect(r.stderr.toString()).toBe(rootNote(topo));
    expect(r.stdout.toString()).toBe('hello from remote\nhello from remote\n');
    expect(r.code).toBe(0);
    // No NAT: the remote sees the host's own address.
    const peers = http.peers.map((p) => p.address);
    expect(peers).toContain(A.hostV4);
    expect(peers).toContain(A.hostV6);
  });

  // At the default MTU and at -m 1500, where segmentation offload carries the bytes in
  // super-frames of up to 64 KiB both ways (src/l2/tapio.ts).
  it.each([[65520], [1500]])('moves 64 MiB each way through one connection, byte-identical, IPv4 and IPv6, at MTU %i', async (mtu) => {
    const sink = await topo.startRemoteServer('sink');
    const source = await topo.startRemoteServer('source');
    const n = 64 * 1024 * 1024;
    try {
      const script = [
        `ip -j link show eth0`,
        `node ${CLIENTS} send ${A.serverV4} ${sink.port} ${n}`,
        `node ${CLIENTS} recv ${A.serverV4} ${source.port} ${n}`,
        `node ${CLIENTS} send ${A.serverV6} ${sink.port} ${n}`,
        `node ${CLIENTS} recv ${A.serverV6} ${source.port} ${n}`,
      ].join(' && ');
      const r = await pasta(script, ['-m', String(mtu)], 180_000);
      const link = JSON.parse(r.stdout.toString().split('\n')[0])[0];
      expect(link.mtu).toBe(mtu);
      const results = json(r.stdout);
      expect(results).toHaveLength(4);
      for (const res of results) expect(res).toMatchObject({ ok: true, bytes: n });
      expect(r.code).toBe(0);
    } finally {
      await sink.stop();
      await source.stop();
    }
  });

  it("turns on the tap's checksum and segmentation offloads (ethtool -k in the namespace)", async () => {
    const r = await pasta('ethtool -k eth0');
    const features = Object.fromEntries(r.stdout.toString().split('\n').map((l) => l.split(': ')).filter((kv) => kv.length === 2).map(([k, v]) => [k.trim(), v.split(' ')[0]]));
    expect(features).toMatchObject({
      'tx-checksumming': 'on',
      'tcp-segmentation-offload': 'on',
      'tx-tcp-segmentation': 'on',
      'tx-tcp6-segmentation': 'on',
    });
  });

  it("keeps the host path's MSS on the host side at -m 1500, and the namespace's own MSS towards it", async () => {
    // The remote end of the host's connection tells its MSS (TCP_MAXSEG of the accepted socket,
    // the MSS in use), then sends 200 000 bytes; the client in the namespace tells its own.
    const server = [
      'import socket',
      's = socket.socket(socket.AF_INET)',
      's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
      `s.bind(('${A.serverV4}', 5301))`,
      's.listen()',
      "print('up', flush=True)",
      'c, _ = s.accept()',
      'print(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG), flush=True)',
      "c.sendall(b'x' * 200000)",
      'c.close()',
    ].join('\n');
    const srv = topo.spawnRemote(['python3', '-c', server]);
    let out = '';
    srv.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await within(10_000, async () => out.startsWith('up'));
    const client = [
      'import socket',
      `s = socket.create_connection(('${A.serverV4}', 5301))`,
      'n = 0',
      'while True:',
      '    d = s.recv(65536)',
      '    if not d: break',
      '    n += len(d)',
      'print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG), n)',
    ].join('\n');
    const r = await pasta(`python3 -c "${client}"`, ['-m', '1500']);
    expect(r.code).toBe(0);
    const [nsMss, bytes] = r.stdout.toString().trim().split(' ').map(Number);
    expect(bytes).toBe(200000);
    expect(nsMss).toBeLessThanOrEqual(1460);
    await within(10_000, async () => out.split('\n').length >= 3);
    // The veth's MTU is 65520: the host's socket advertises its own MSS, not the namespace's 1460
    // (the kernel then bounds the MSS in use to half the largest window seen: 32 KiB at first).
    expect(Number(out.split('\n')[1])).toBeGreaterThan(4 * 1460);
  });

  it('carries 200 concurrent connections, each echoing 64 KiB', async () => {
    const echo = await topo.startRemoteServer('echo');
    try {
      const script = `node ${path.join(here, 'concurrent.js')} ${A.serverV4} ${echo.port} 200 65536`;
      const r = await pasta(script, [], 120_000);
      const [res] = json(r.stdout);
      expect(res).toMatchObject({ ok: true, connections: 200, failed: 0 });
      expect(r.code).toBe(0);
    } finally {
      await echo.stop();
    }
  });

  it('keeps half-closed connections open in the other direction', async () => {
    const hc = await topo.startRemoteServer('halfclose');
    try {
      const r = await pasta(`node ${CLIENTS} halfclose ${A.serverV4} ${hc.port} 1000000 && node ${CLIENTS} halfclose ${A.serverV6} ${hc.port} 1000000`);
      const results = json(r.stdout);
      expect(results).toHaveLength(2);
      for (const res of results) expect(res.ok).toBe(true);
    } finally {
      await hc.stop();
    }
  });

  it('refuses quickly and passes resets through', async () => {
    const rst = await topo.startRemoteServer('rst');
    try {
      const script = [
        // Nothing listens on port 9: the refusal must arrive as ECONNREFUSED, fast.
        `node -e "const t=Date.now();require('net').connect(9,'${A.serverV4}').on('error',e=>{console.log(JSON.stringify({code:e.code,ms:Date.now()-t}))})"`,
        `node -e "const t=Date.now();require('net').connect(9,'${A.serverV6}').on('error',e=>{console.log(JSON.stringify({code:e.code,ms:Date.now()-t}))})"`,
        `node ${CLIENTS} rst ${A.serverV4} ${rst.port}`,
      ].join('; ');
      const r = await pasta(script);
      const [ref4, ref6, reset] = json(r.stdout);
      expect(ref4.code).toBe('ECONNREFUSED');
      expect(ref4.ms).toBeLessThan(1000);
      expect(ref6.code).toBe('ECONNREFUSED');
      expect(ref6.ms).toBeLessThan(1000);
      expect(reset.ok).toBe(true);
    } finally {
      await rst.stop();
    }
  });

  it('reaches the host loopback through the gateway address, unless --no-map-gw', async () => {
    const local = await topo.startHostServer('http', ['--bind', '127.0.0.1,::1']);
    try {
      const url4 = `http://${A.gatewayV4}:${local.port}/`;
      const url6 = `http://[${A.gatewayV6}]:${local.port}/`;
      const on = await pasta(`curl -sS --max-time 5 ${url4} && curl -sS --max-time 5 ${url6}`);
      expect(on.stdout.toString()).toBe('hello from remote\nhello from remote\n');
      expect(on.code).toBe(0);
      const off = await pasta(`curl -sS --max-time 3 ${url4}; echo "rc=$?"`, ['--no-map-gw']);
      expect(off.stdout.toString()).not.toContain('hello');
      expect(off.stdout.toString()).toMatch(/rc=(7|28)/);
    } finally {
      await local.stop();
    }
  });

  it('passes the exit status through and leaves nothing running', async () => {
    // A marker in argv finds this run's processes: pasta itself, its forked namespace
    // helper (same argv, no exec) and the command.
    const marker = `leftover-check-${process.pid}-${Date.now()}`;
    const r = await pasta(`exit 42; ${marker}`);
    expect(r.code).toBe(42);
    const k = await pasta(`kill -TERM $$; ${marker}`);
    expect(k.code).toBe(128 + 15);
    // Processes that are exiting may still be listed for a moment: wait until none is.
    const left = async () => {
      const ps = await topo.execHost(['ps', '-eo', 'pid,stat,args']);
      return ps.stdout.toString().split('\n').filter((l) => l.includes(marker) && !/\sZ/.test(l.slice(0, 14)));
    };
    await within(5_000, async () => (await left()).length === 0).catch(() => {});
    expect(await left()).toEqual([]);
  });

  it('runs the default shell when no command is given', async () => {
    const r = await topo.execHost([NODE, PASTA, '--config-net'], { input: 'ip -o link show | grep -c "^[0-9]*: eth0"; exit 3\n', env: { ...process.env, SHELL: '/bin/sh' } });
    expect(r.stdout.toString().trim()).toBe('1');
    expect(r.code).toBe(3);
  });

  it('works rootless, as an unprivileged user', async () => {
    // A real unprivileged uid when it can read this checkout; otherwise (a checkout under a
    // private home directory) uid 1000 of a child user namespace, which has no capabilities
    // over the host's network namespace either.
    const probe = await run(runInHostAsUser(topo, 1000, 1000, [NODE, '-e', `require('fs').accessSync(${JSON.stringify(PASTA)})`]));
    const wrap = (argv: string[]) =>
      probe.code === 0 ? runInHostAsUser(topo, 1000, 1000, argv) : topo.hostArgs(['unshare', '-U', '--map-user=1000', '--map-group=1000', '--', ...argv]);
    const r = await run(wrap([NODE, PASTA, '--config-net', '--', 'sh', '-c', `id -u; curl -sS --max-time 10 http://${A.serverV4}/; curl -sS --max-time 10 http://[${A.serverV6}]/`]));
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('0\nhello from remote\nhello from remote\n');
    expect(r.code).toBe(0);
    // It really was unprivileged: it could not create a tap in the host's namespace.
    const check = await run(wrap(['ip', 'tuntap', 'add', 'dev', 'x0', 'mode', 'tap']));
    expect(check.code).not.toBe(0);
  });

  it('keeps an idle connection alive while the namespace sends keepalives, and resets it once the remote peer is dead', async () => {
    const sink = await topo.startRemoteServer('sink');
    // Short keepalive timers for the host's sockets (this namespace is the test's own "host").
    for (const [key, value] of [['tcp_keepalive_time', '2'], ['tcp_keepalive_intvl', '1'], ['tcp_keepalive_probes', '2']]) {
      expect((await topo.execHost(['sysctl', '-qw', `net.ipv4.${key}=${value}`])).code).toBe(0);
    }
    // socat holds an idle connection (its other side is a silent child) and probes it every second.
    const child = topo.spawnHost([NODE, PASTA, '--config-net', '--', 'sh', '-c',
      // socat -d reports the reset as a warning (it exits 0 on it: it counts as the end of the stream).
      `socat -d TCP:${A.serverV4}:${sink.port},keepalive,keepidle=1,keepintvl=1,keepcnt=3 EXEC:'sleep 60' 2>&1 >/dev/null | grep -o 'Connection reset by peer'; echo "socat-exit"`]);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    const keepaliveTimer = async () => /timer:\(keepalive/.test((await topo.execHost(['ss', '-tnoH', 'state', 'established', 'dst', A.serverV4])).stdout.toString());
    /** Keepalive probes the host's kernel has sent (TcpExt TCPKeepAlive of its network namespace): pasta's socket's. */
    const hostProbes = async () => {
      const [names, values] = (await topo.execHost(['cat', '/proc/net/netstat'])).stdout.toString().split('\n').filter((l) => l.startsWith('TcpExt:'));
      return Number(values.split(' ')[names.split(' ').indexOf('TCPKeepAlive')]);
    };
    try {
      // Only the namespace's keepalives cross pasta, which answers them and sets SO_KEEPALIVE
      // on its host socket, so the host side probes the remote too.
      await sink.waitForPeer();
      expect(await within(8_000, keepaliveTimer)).toBeLessThan(8_000);
      // Several keepalive rounds later the idle connection still stands: three probes of the host's
      // socket, which with two probes allowed means the remote answered them (else the second
      // unanswered one would have ended the connection, and no third would have gone out).
      const probes = await hostProbes();
      expect(await within(15_000, async () => (await hostProbes()) >= probes + 3)).toBeLessThan(15_000);
      expect(out).toBe('');
      expect(await keepaliveTimer()).toBe(true);
      // The remote can no longer answer: the host's keepalive probes fail, the socket errors, and
      // pasta resets the namespace's connection, which socat then sees.
      expect((await topo.execRemote(['ip', 'route', 'add', 'blackhole', `${A.hostV4}/32`])).code).toBe(0);
      expect(await within(15_000, async () => out.includes('socat-exit'))).toBeLessThan(15_000);
      expect(out).toBe('Connection reset by peer\nsocat-exit\n');
    } finally {
      await topo.execRemote(['ip', 'route', 'del', 'blackhole', `${A.hostV4}/32`]);
      child.kill('SIGKILL');
      await sink.stop();
    }
  });

  it('survives garbage and truncated frames from the namespace', async () => {
    // A packet socket inside the namespace writes raw frames onto the tap: random bytes,
    // truncated IPv4/IPv6/TCP/ARP headers, bad lengths. Then a normal connection must work.
    const inject = path.join(here, 'inject.py');
    const r = await pasta(`python3 ${inject} ${A.ifname} 3000 && curl -sS --max-time 10 http://${A.serverV4}/ && curl -sS --max-time 10 http://[${A.serverV6}]/`);
    expect(r.stderr.toString()).toBe(rootNote(topo));
    expect(r.stdout.toString()).toContain('sent 3000 frames');
    expect(r.stdout.toString()).toContain('hello from remote\nhello from remote\n');
    expect(r.code).toBe(0);
  });

  it('logs to --log-file instead of standard error, at the --debug level', async () => {
    const file = path.join(os.tmpdir(), `pasta-log-${process.pid}-${Date.now()}.txt`);
    try {
      const r = await pasta('true', ['-d', '-f', '-l', file]);
      expect(r.code).toBe(0);
      expect(r.stderr.toString()).toBe('');
      const log = fs.readFileSync(file, 'utf8');
      // Upstream's log file format: a header, then "SECONDS: LEVEL: message" (debug: no level word).
      expect(log).toMatch(/^pasta node-passt: \S+ \(\d+\)\n/);
      expect(log).toMatch(/^\d+\.\d{4}: {10}namespace configured: eth0 mtu 65520/m);
      // Quiet: nothing below a warning, so nothing from this run but the header (and, as root, upstream's warning).
      const q = await pasta('true', ['-q', '-l', file]);
      expect(q.code).toBe(0);
      const note = rootNote(topo) ? `\\d+\\.\\d{4}: WARNING: ${rootNote(topo).trim()}\\n` : '';
      expect(fs.readFileSync(file, 'utf8')).toMatch(new RegExp(`^pasta node-passt: \\S+ \\(\\d+\\)\\n${note}$`));
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('--stats prints upstream\'s table of events by kind on standard error (with -f before it)', async () => {
    // The command outlasts one DELAY after its traffic, so that a row is printed after it
    // whenever the first one came (start-up time decides that).
    const r = await pasta(`curl -sS --max-time 5 http://${A.serverV4}/ && sleep 1.2`, ['-f', '--stats', '1']);
    expect(r.code).toBe(0);
    const err = r.stderr.toString().replace(rootNote(topo), '');
    // A header naming each kind on a line of its own, then rows of counts.
    expect(err).toMatch(/^ {7}tap\n {7}\| {6}tcp\n/);
    expect(err).toMatch(/^ ( +\d+){9}$/m);
    const rows = err.split('\n').filter((l) => /^ ( +\d+){9}$/.test(l)).map((l) => l.trim().split(/ +/).map(Number));
    expect(rows.at(-1)!.reduce((a, b) => a + b, 0)).toBeGreaterThan(0); // events, counted since the start
  });

  it('rejects bad options with one line and exit code 1', async () => {
    for (const [args, msg] of [
      // getopt's words after the program's name, upstream's die() messages alone.
      [['--bogus'], "pasta: unrecognized option '--bogus'\n"],
      [['-m', '70000'], 'MTU 70000 too large (max 65521)\n'],
      [['-a', 'x.y'], 'Invalid guest address: x.y\n'],
    ] as const) {
      const r = await topo.execHost([NODE, PASTA, ...args, '--', 'true']);
      expect(r.code).toBe(1);
      expect(r.stderr.toString()).toBe(msg);
    }
  });
});

