// pasta end to end: UDP, ICMP echo and DNS forwarding from a namespace made by
// `pasta --config-net`, inside the private topology (doc/design.md). The resolver
// is the test's own server on the host's loopback, never the machine's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, rootNote, ADDRESSES as A, type Topology } from './topology.js';
import { DNSSERVER, startTestResolver } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const PASTA = path.join(root, 'bin', 'pasta.js');
const UDP = path.join(here, 'udpclient.js');
const NODE = process.execPath;

let topo: Topology;

/** Whether the running kernel is at least `major.minor`. */
function kernelAtLeast(major: number, minor: number): boolean {
  const [a, b] = os.release().split('.').map((x) => parseInt(x, 10));
  return a > major || (a === major && b >= minor);
}

/**
 * A UDP echo server on the remote's service addresses. Bound to them (not to
 * ::), so replies leave from the address that was asked: a wildcard-bound UDP
 * server answers from whatever address routing picks (the remote's uplink),
 * which no connected client socket — on a host or in a namespace — accepts.
 */
function udpEcho() {
  return topo.startRemoteServer('udpecho', ['--bind', `${A.serverV4},${A.serverV6}`]);
}

function pasta(script: string, opts: string[] = [], timeoutMs = 60_000) {
  return topo.execHost([NODE, PASTA, '--config-net', ...opts, '--', 'sh', '-c', script], { timeoutMs });
}

function json(out: Buffer): any[] {
  return out
    .toString()
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

beforeAll(async () => {
  topo = await createTopology();
});

afterAll(async () => {
  await topo?.close();
});

describe('pasta UDP', () => {
  it('echoes 10 000 datagrams of mixed sizes up to the MTU, IPv4 and IPv6, intact', async () => {
    const echo = await udpEcho();
    try {
      // Up to the largest UDP datagram over IPv4 (65507 bytes: a 65535-byte packet, which
      // the namespace's kernel fragments at MTU 65520 and pasta reassembles) and over IPv6
      // the largest one whose echo still fits a frame to the namespace (65487).
      const r = await pasta(
        `node ${UDP} flood ${A.serverV4} ${echo.port} 10000 65507 1000 && node ${UDP} flood ${A.serverV6} ${echo.port} 10000 65487 1000`,
        [],
        120_000,
      );
      const [v4, v6] = json(r.stdout);
      expect(v4).toMatchObject({ ok: true, corrupt: 0 });
      expect(v4.received).toBeGreaterThanOrEqual(9990);
      expect(v6).toMatchObject({ ok: true, corrupt: 0 });
      expect(v6.received).toBeGreaterThanOrEqual(9990);
      expect(r.code).toBe(0);
      // No NAT: the remote saw the host's own addresses.
      const peers = echo.peers.map((p) => p.address);
      expect(peers).toContain(A.hostV4);
      expect(peers).toContain(A.hostV6);
    } finally {
      await echo.stop();
    }
  });

  // Runs of equal-size datagrams from a host socket go to the namespace as UDP super-frames
  // (USO, src/udp/udp.ts) that the namespace's kernel cuts again: every datagram must come
  // out whole, in its own boundaries, and the tap must have carried fewer packets than that.
  it('receives bursts of equal-size datagrams intact, several to a tap write (USO), IPv4 and IPv6', async () => {
    const echo = await udpEcho();
    try {
      const r = await pasta(
        `node ${UDP} burst ${A.serverV4} ${echo.port} 32 1,100,1000,1472 10 && node ${UDP} burst ${A.serverV6} ${echo.port} 32 1,100,1000,1452 10`,
      );
      const results = json(r.stdout);
      expect(results).toHaveLength(2);
      for (const res of results) {
        expect(res).toMatchObject({ ok: true, asked: 1280, received: 1280, bad: 0 });
        // USO on a tap needs Linux 6.2 (l2/tapio.ts enableOffloads); before it, a frame per datagram.
        if (kernelAtLeast(6, 2)) expect(res.rxPackets).toBeLessThan(1280);
        else expect(res.rxPackets).toBeGreaterThanOrEqual(1280);
      }
      expect(r.code).toBe(0);
    } finally {
      await echo.stop();
    }
  });

  it('gives one namespace socket a flow to each of three remote ports', async () => {
    const servers = await Promise.all([0, 1, 2].map(() => udpEcho()));
    try {
      const ports = servers.map((s) => s.port).join(',');
      const r = await pasta(`node ${UDP} multi ${A.serverV4} ${ports} && node ${UDP} multi ${A.serverV6} ${ports}`);
      const [v4, v6] = json(r.stdout);
      const expected = servers.map((s) => s.port).sort();
      expect(v4).toMatchObject({ ok: true, answered: expected });
      expect(v6).toMatchObject({ ok: true, answered: expected });
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  });

  it('reports ECONNREFUSED for a closed remote port, IPv4 and IPv6', async () => {
    const r = await pasta(`node ${UDP} refused ${A.serverV4} 9; node ${UDP} refused ${A.serverV6} 9`);
    const [v4, v6] = json(r.stdout);
    expect(v4).toMatchObject({ ok: true, code: 'ECONNREFUSED' });
    expect(v6).toMatchObject({ ok: true, code: 'ECONNREFUSED' });
  });

  it('drops UDP with --no-udp', async () => {
    const echo = await udpEcho();
    try {
      const r = await pasta(`node ${UDP} multi ${A.serverV4} ${echo.port}`, ['--no-udp']);
      expect(json(r.stdout)[0]).toMatchObject({ ok: false, answered: [] });
      expect(echo.peers).toHaveLength(0);
    } finally {
      await echo.stop();
    }
  });
});

describe('pasta ICMP echo', () => {
  it('pings the remote and the gateway (the host), IPv4 and IPv6', async () => {
    const r = await pasta(
      [
        `ping -c 3 -i 0.2 -W 2 ${A.serverV4}`,
        `ping -6 -c 3 -i 0.2 -W 2 ${A.serverV6}`,
        `ping -c 3 -i 0.2 -W 2 ${A.gatewayV4}`,
        `ping -6 -c 3 -i 0.2 -W 2 ${A.gatewayV6}`,
      ].join(' && '),
    );
    const out = r.stdout.toString();
    expect(out.match(/3 packets transmitted, 3 received/g)).toHaveLength(4);
    expect(r.code).toBe(0);
  });

  it('drops echo requests with --no-icmp', async () => {
    const r = await pasta(`ping -c 2 -i 0.2 -W 1 ${A.serverV4}; echo rc=$?`, ['--no-icmp']);
    expect(r.stdout.toString()).toContain('0 received');
    expect(r.stdout.toString()).toContain('rc=1');
  });
});

describe('pasta DNS forwarding', () => {
  it('answers dig through --dns-forward to the test resolver, over UDP and TCP, IPv4 and IPv6', async () => {
    const dns = topo.spawnHost([NODE, DNSSERVER, '--bind', '127.0.0.1', '--port', '53']);
    const lines: any[] = await startTestResolver(dns);
    try {
      const r = await pasta(
        [
          'dig +short +time=2 +tries=1 @169.254.1.1 remote.test A',
          'dig +short +time=2 +tries=1 +tcp @169.254.1.1 remote.test AAAA',
          'dig +short +time=2 +tries=1 @fd00::53 host.test A',
          'dig +short +time=2 +tries=1 +tcp @fd00::53 host.test AAAA',
        ].join(' && '),
        ['--dns-forward', '169.254.1.1', '--dns-forward', 'fd00::53', '--dns-host', '127.0.0.1'],
      );
      expect(r.stderr.toString()).toBe(rootNote(topo));
      expect(r.stdout.toString()).toBe('203.0.113.10\n2001:db8:1::10\n192.0.2.80\n2001:db8::80\n');
      expect(r.code).toBe(0);
      const queries = lines.filter((l) => l.query);
      expect(queries.map((q) => q.tcp)).toEqual([false, true, false, true]);
    } finally {
      dns.kill();
    }
  });
});

describe('pasta robustness', () => {
  it('survives a flood of malformed UDP and ICMP frames; other flows unharmed', async () => {
    // A TCP transfer runs while the garbage is injected (it must arrive byte-identical:
    // a reliable flow shows harm as corruption or a stall, where a UDP flood would only
    // show the tap queue overflowing); afterwards UDP and ICMP flows still work.
    const sink = await topo.startRemoteServer('sink');
    const echo = await udpEcho();
    try {
      const inject = path.join(here, 'inject.py');
      const clients = path.join(here, 'clients.js');
      const r = await pasta(
        [
          `node ${clients} send ${A.serverV4} ${sink.port} 8000000 & python3 ${inject} ${A.ifname} 5000; wait $!`,
          `node ${UDP} multi ${A.serverV4} ${echo.port}`,
          `ping -c 1 -W 2 ${A.serverV4} >/dev/null && echo ping-ok`,
        ].join(' && '),
      );
      const [tcp, udp] = json(r.stdout);
      expect(tcp).toMatchObject({ ok: true, bytes: 8000000 });
      expect(udp).toMatchObject({ ok: true, answered: [echo.port] });
      expect(r.stdout.toString()).toContain('sent 5000 frames');
      expect(r.stdout.toString()).toContain('ping-ok');
      expect(r.code).toBe(0);
    } finally {
      await sink.stop();
      await echo.stop();
    }
  });
});
