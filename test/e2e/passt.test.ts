// passt for QEMU, end to end: passt runs in the test topology's "host"
// namespace, and a fake guest (fake-guest.ts) in this process speaks QEMU's stream protocol
// (4-byte big-endian length, then the Ethernet frame) over the UNIX domain
// socket, with frames built by hand: DHCP, ARP, a TCP exchange with a remote
// HTTP server, UDP and ICMP echo. Every frame passt sends is checked for
// complete IPv4 header and layer-4 checksums (there is no checksum offload
// on a stream). Then: bad framing resets only that connection, random
// framing never brings passt down, --one-off and -F quit when the guest
// leaves, the default socket path is probed as passt(1) does, and the
// background mode prints where QEMU connects.
//
// A UNIX domain socket is a file, reached from any network namespace: the
// fake guest connects from here, while everything passt sends on the guest's
// behalf leaves from the topology's host namespace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { createTopology, rootNote, ADDRESSES as A, type Topology, type ServerHandle } from './topology.js';
import { prng } from '../unit/wire-frames.js';
import { streamBytes } from './stream.js';
import { FakeGuest, OUR_MAC, HOST, GATEWAY, SERVER, HOST6, SERVER6, SYN, ACK, ip4, tcp4, echoRequest4, ipv6, arpRequest, parseIp4, parseTcp, dhcpOptions } from './fake-guest.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const PASST = path.join(root, 'bin', 'passt.js');
const NODE = process.execPath;

let topo: Topology;
let dir: string;
let http: ServerHandle;
/** Bound to the server address, not to a wildcard: a UDP reply must leave from the address that was asked. */
let udpEcho: ServerHandle;

beforeAll(async () => {
  topo = await createTopology();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passt-e2e-'));
  // passt started as root switches to nobody once its socket is bound (as upstream), and then
  // removes the socket file when it stops: the directory must let it.
  fs.chmodSync(dir, 0o777);
  [http, udpEcho] = await Promise.all([topo.startRemoteServer('http', ['--port', '80']), topo.startRemoteServer('udpecho', ['--bind', `${A.serverV4},${A.serverV6}`])]);
});

afterAll(async () => {
  await topo?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// passt processes

interface Running {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
  /** Wait until stderr matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
}

/**
 * passt with `args` in the host namespace (`stdio` for fds to hand it), or
 * `command` there instead: something that ends up exec'ing passt.
 */
function startPasst(args: string[], opts: { stdio?: Array<'pipe' | 'ignore' | net.Socket>; command?: string[] } = {}): Running {
  const argv = opts.command ?? [NODE, PASST, ...args];
  const child = topo.spawnHost(argv, opts.stdio ? { stdio: opts.stdio } : undefined);
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (err += d));
  let signal: string | null = null;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code, sig) => {
      signal = sig;
      resolve(code);
    }),
  );
  return {
    child,
    stderr: () => (signal ? `${err}\n[passt was killed by ${signal}]` : err),
    exited,
    waitFor: async (re, timeoutMs = 10_000) => {
      const end = Date.now() + timeoutMs;
      while (!re.test(err)) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`passt: no ${re} in:\n${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

/** SIGTERM (unless it exited already); the exit status. Whatever happened, no internal error was logged. */
async function stopPasst(p: Running): Promise<number | null> {
  if (p.child.exitCode === null) p.child.kill('SIGTERM');
  const code = await p.exited;
  expect(p.stderr()).not.toMatch(/internal error/);
  if (code !== 0) console.error(`passt exited with ${code}; its standard error:\n${p.stderr()}`);
  return code;
}

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

/** TCP sockets in the host namespace connected to the remote server. */
async function hostSocketsToServer(): Promise<string> {
  const r = await topo.execHost(['ss', '-Htn', 'dst', A.serverV4]);
  return r.stdout.toString().trim();
}

/** The announcement, whole: its last line is the QEMU options (each line is a write of its own). */
const READY = /You can now start qemu.*\n.*kvm \.\.\. .*\n/;

let sockCounter = 0;
const sockPath = (): string => path.join(dir, `passt-${++sockCounter}.socket`);

// ---------------------------------------------------------------------------

describe('passt with a fake QEMU guest', () => {
  it('prints the socket and the QEMU options, and serves DHCP, ARP, TCP, UDP and ICMP with complete checksums', async () => {
    const sock = sockPath();
    const pcap = path.join(dir, 'capture.pcap');
    const p = startPasst(['-f', '-s', sock, '--pcap', pcap]);
    try {
      await p.waitFor(READY);
      expect(p.stderr()).toContain(`UNIX domain socket bound at ${sock}\n`);
      expect(p.stderr()).toContain(`-device virtio-net-pci,netdev=s -netdev stream,id=s,server=off,addr.type=unix,addr.path=${sock}\n`);
      const g = await FakeGuest.connect(sock);

      const ack = await g.dhcp();
      expect([...ack.get(-1)!]).toEqual([...HOST]);
      expect([...ack.get(1)!]).toEqual([255, 255, 255, 0]);
      expect([...ack.get(3)!]).toEqual([...GATEWAY]);

      g.send(arpRequest(HOST, GATEWAY));
      const arp = await g.waitFor((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 2, 'ARP reply');
      expect(arp.subarray(22, 28).equals(OUR_MAC)).toBe(true);
      expect([...arp.subarray(28, 32)]).toEqual([...GATEWAY]);

      const response = (await g.tcpExchange(40000, 80, 'GET / HTTP/1.0\r\nHost: server\r\n\r\n')).toString();
      expect(response).toMatch(/^HTTP\/1\.[01] 200/);
      expect(response.endsWith('hello from remote\n')).toBe(true);

      expect(await g.udpEcho(udpEcho.port, 40001, 'echo over passt')).toBe('echo over passt');

      g.send(echoRequest4(HOST, SERVER, 0x1234, 1, Buffer.from('ping over passt')));
      const pong = await g.waitFor((f) => { const ip = parseIp4(f); return !!ip && ip.proto === 1 && ip.l4[0] === 0; }, 'ICMP echo reply');
      const reply = parseIp4(pong)!;
      expect(reply.l4.readUInt16BE(4)).toBe(0x1234);
      expect(reply.l4.subarray(8).toString()).toBe('ping over passt');
      expect([...reply.src]).toEqual([...SERVER]);

      // IPv6: UDP and ICMPv6 echo, whose checksums cover a pseudo-header too.
      const u6 = Buffer.concat([Buffer.alloc(8), Buffer.from('echo over IPv6')]);
      u6.writeUInt16BE(40003, 0);
      u6.writeUInt16BE(udpEcho.port, 2);
      u6.writeUInt16BE(u6.length, 4);
      g.send(ipv6(HOST6, SERVER6, 17, u6, 6));
      const echoed6 = await g.waitFor((f) => f.readUInt16BE(12) === 0x86dd && f[20] === 17 && f.readUInt16BE(56) === 40003, 'UDP echo over IPv6');
      expect(echoed6.subarray(62).toString()).toBe('echo over IPv6');
      const e6 = Buffer.concat([Buffer.from([128, 0, 0, 0, 0x12, 0x35, 0, 1]), Buffer.from('ping over IPv6')]);
      g.send(ipv6(HOST6, SERVER6, 58, e6, 2));
      const pong6 = await g.waitFor((f) => f.readUInt16BE(12) === 0x86dd && f[20] === 58 && f[54] === 129, 'ICMPv6 echo reply');
      expect(pong6.readUInt16BE(58)).toBe(0x1235);
      expect(pong6.subarray(62).toString()).toBe('ping over IPv6');

      // A guest that uses another address than the one DHCP gave is translated all the same.
      const other = ip4('10.0.2.15');
      const seen = (await g.tcpExchange(40002, 80, 'GET /ip HTTP/1.0\r\n\r\n', { src: other })).toString();
      expect(JSON.parse(seen.slice(seen.indexOf('\r\n\r\n') + 4)).address).toBe(A.hostV4);

      expect(g.problems).toEqual([]);
      expect(g.received.length).toBeGreaterThan(10);
      await g.close();

      // --pcap: a pcap file with every frame, both ways, whole.
      const cap = fs.readFileSync(pcap);
      expect(cap.readUInt32LE(0)).toBe(0xa1b2c3d4);
      expect(cap.readUInt32LE(20)).toBe(1);
      const records: Buffer[] = [];
      for (let o = 24; o + 16 <= cap.length; ) {
        const incl = cap.readUInt32LE(o + 8);
        expect(cap.readUInt32LE(o + 12)).toBe(incl);
        records.push(cap.subarray(o + 16, o + 16 + incl));
        o += 16 + incl;
      }
      expect(dhcpOptions(records[1])?.get(53)?.[0]).toBe(2); // the guest's DISCOVER, then our OFFER
      for (const f of g.received) expect(records.some((r) => r.equals(f))).toBe(true);
      expect(records.length).toBeGreaterThan(g.received.length);
      expect(p.child.exitCode).toBeNull();
    } finally {
      expect(await stopPasst(p)).toBe(0);
    }
    expect(fs.existsSync(sock)).toBe(false);
  });

  it('carries a 4 MB download whole to a guest that keeps pausing, every frame whole and checksummed', async () => {
    const sock = sockPath();
    const p = startPasst(['-f', '-s', sock]);
    try {
      await p.waitFor(READY);
      const g = await FakeGuest.connect(sock);
      await g.dhcp();
      // Stop reading for a while every MiB, with a large window (scale 10). (Whether passt's
      // writes then come up short depends on the machine's wmem_max; the unit tests make sure.)
      let seen = 0;
      g.socket.on('data', (d: Buffer) => {
        seen += d.length;
        if (seen >= 1 << 20) {
          seen = 0;
          g.socket.pause();
          setTimeout(() => g.socket.resume(), 40);
        }
      });
      const size = 4_000_000;
      const response = await g.tcpExchange(42000, 80, `GET /bytes/${size} HTTP/1.0\r\n\r\n`, { wscale: 10 });
      const body = response.subarray(response.indexOf('\r\n\r\n') + 4);
      expect(body.length).toBe(size);
      expect(body.equals(streamBytes(size, size))).toBe(true);
      expect(g.problems).toEqual([]);
      await g.close();
    } finally {
      expect(await stopPasst(p)).toBe(0);
    }
    expect(p.stderr()).not.toMatch(/internal error/);
  });

  it('turns a second guest away while one is connected, and takes the next one after it leaves, its flows closed', async () => {
    const sock = sockPath();
    const p = startPasst(['-f', '-s', sock]);
    try {
      await p.waitFor(READY);
      const first = await FakeGuest.connect(sock);
      await first.dhcp();
      // An open TCP connection of the first guest: its host side goes when the guest does.
      first.send(tcp4(HOST, SERVER, 41000, 80, 5000, 0, SYN));
      const synAck = parseTcp(await first.waitFor((f) => parseTcp(f)?.dport === 41000, 'SYN-ACK'))!;
      first.send(tcp4(HOST, SERVER, 41000, 80, 5001, synAck.seq + 1, ACK));
      await expect.poll(hostSocketsToServer).toContain(`${A.serverV4}:80`);

      const second = await FakeGuest.connect(sock);
      await second.closed;
      await p.waitFor(/discarding connection from PID \d+: a guest is connected already/);
      await first.close();
      await p.waitFor(/Client connection closed/);
      await expect.poll(hostSocketsToServer).toBe('');

      const third = await FakeGuest.connect(sock);
      expect([...(await third.dhcp()).get(-1)!]).toEqual([...HOST]);
      expect(third.problems).toEqual([]);
      await third.close();
    } finally {
      expect(await stopPasst(p)).toBe(0);
    }
  });

  it('resets only the connection with a bad frame length (0, 13, 65536, or 2^32 - 1); the next guest is served', async () => {
    const sock = sockPath();
    const p = startPasst(['-f', '-s', sock]);
    try {
      await p.waitFor(READY);
      for (const bad of [0, 13, 65536, 0xffffffff]) {
        const g = await FakeGuest.connect(sock);
        await g.dhcp();
        const len = Buffer.alloc(4);
        len.writeUInt32BE(bad);
        // A good frame, then the bad length with some bytes after it, in one write.
        g.socket.write(Buffer.concat([Buffer.from([0, 0, 0, 60]), arpRequest(HOST, GATEWAY).subarray(0, 42), Buffer.alloc(18), len, Buffer.alloc(100, 0xaa)]));
        await g.closed;
        await p.waitFor(new RegExp(`^Bad frame size from guest, resetting connection: bad frame length ${bad} `, 'm'));
      }
      const g = await FakeGuest.connect(sock);
      expect([...(await g.dhcp()).get(3)!]).toEqual([...GATEWAY]);
      await g.close();
      expect(p.child.exitCode).toBeNull();
    } finally {
      expect(await stopPasst(p)).toBe(0);
    }
  });

  it('survives random framing and random frames; the next guest is served', async () => {
    const sock = sockPath();
    const p = startPasst(['-f', '-s', sock]);
    try {
      await p.waitFor(READY);
      const random = prng(0x9a55);
      const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
      for (let round = 0; round < 12; round++) {
        const g = await FakeGuest.connect(sock);
        const parts: Buffer[] = [];
        for (let k = 0; k < 40; k++) {
          const r = random();
          if (r < 0.6) {
            // A well-framed frame with random contents, sometimes with a real Ethernet type.
            const frame = bytes(14 + Math.floor(random() * 1500));
            if (random() < 0.5) frame.writeUInt16BE([0x0800, 0x86dd, 0x0806][Math.floor(random() * 3)], 12);
            if (random() < 0.3 && frame.readUInt16BE(12) === 0x0800) frame[14] = 0x45;
            const len = Buffer.alloc(4);
            len.writeUInt32BE(frame.length);
            parts.push(len, frame);
          } else if (r < 0.7) {
            parts.push(bytes(1 + Math.floor(random() * 64))); // garbage: out of step from here on
          } else {
            const len = Buffer.alloc(4);
            len.writeUInt32BE(Math.floor(random() * 0x20000));
            parts.push(len, bytes(Math.floor(random() * 200)));
          }
        }
        // Written in random pieces, as a stream may arrive.
        const all = Buffer.concat(parts);
        for (let o = 0; o < all.length; ) {
          const n = 1 + Math.floor(random() * 3000);
          g.socket.write(all.subarray(o, o + n));
          o += n;
        }
        if (round % 2) await g.close();
        else {
          g.socket.destroy();
          await g.closed;
        }
      }
      expect(p.child.exitCode).toBeNull();
      const g = await FakeGuest.connect(sock);
      expect([...(await g.dhcp()).get(-1)!]).toEqual([...HOST]);
      expect(g.problems).toEqual([]);
      await g.close();
    } finally {
      expect(await stopPasst(p)).toBe(0);
    }
  });
});

describe('passt lifetime', () => {
  it('--one-off quits once the first guest leaves', async () => {
    const sock = sockPath();
    const p = startPasst(['-f', '-1', '-s', sock]);
    await p.waitFor(READY);
    const g = await FakeGuest.connect(sock);
    await g.dhcp();
    await g.close();
    expect(await p.exited).toBe(0);
    expect(p.stderr()).toContain('Client connection closed, exiting');
    expect(fs.existsSync(sock)).toBe(false);
  });

  /** A connected pair of UNIX domain stream sockets: the guest's end, and the one to hand to passt. */
  async function connectedPair(): Promise<{ guestSide: net.Socket; passtSide: net.Socket }> {
    const server = net.createServer({ pauseOnConnect: true });
    const where = sockPath();
    await new Promise<void>((resolve) => server.listen(where, resolve));
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const guestSide = net.connect({ path: where });
    const passtSide = await accepted;
    server.close();
    return { guestSide, passtSide };
  }

  it('-F uses an inherited connected socket and quits when it closes', async () => {
    const { guestSide, passtSide } = await connectedPair();
    const p = startPasst(['-f', '-F', '3'], { stdio: ['ignore', 'pipe', 'pipe', passtSide] });
    passtSide.destroy(); // passt holds its own copy
    const guest = FakeGuest.over(guestSide);
    expect([...(await guest.dhcp()).get(-1)!]).toEqual([...HOST]);
    expect(guest.problems).toEqual([]);
    await guest.close();
    expect(await stopPasst(p)).toBe(0);
    expect(p.stderr()).toContain('Client connection closed, exiting');
  });

  it('-F in the background: the copy gets the socket under the same number', async () => {
    const { guestSide, passtSide } = await connectedPair();
    const pidFile = path.join(dir, 'passt-fd.pid');
    const p = startPasst(['-F', '5', '-P', pidFile], { stdio: ['ignore', 'pipe', 'pipe', 'ignore', 'ignore', passtSide] });
    passtSide.destroy();
    expect(await p.exited).toBe(0); // the first process, once the copy is ready
    // Upstream's start-up summary, and nothing else (no error).
    expect(p.stderr()).toMatch(new RegExp(`^${rootNote(topo)}(No IPv6 nameserver available for NDP/DHCPv6\\n)?Template interface: eth0 \\(IPv4\\), eth0 \\(IPv6\\)\\n`));
    expect(p.stderr()).not.toMatch(/rror|fail/i);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(pid).not.toBe(p.child.pid);
    expect(alive(pid)).toBe(true);
    const guest = FakeGuest.over(guestSide);
    expect([...(await guest.dhcp()).get(3)!]).toEqual([...GATEWAY]);
    await guest.close();
    await expect.poll(() => alive(pid)).toBe(false);
  });

  it('runs in the background by default: prints where QEMU connects, exits 0, and -P names the process that serves', async () => {
    const sock = sockPath();
    const pidFile = path.join(dir, 'passt.pid');
    const r = await topo.execHost([NODE, PASST, '-s', sock, '-P', pidFile], { timeoutMs: 20_000 });
    expect(r.code).toBe(0);
    expect(r.stdioClosed).toBe(true);
    const err = r.stderr.toString();
    expect(err).toContain(`UNIX domain socket bound at ${sock}\n`);
    expect(err).toContain(`addr.type=unix,addr.path=${sock}`);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(alive(pid)).toBe(true);
    const g = await FakeGuest.connect(sock);
    expect([...(await g.dhcp()).get(-1)!]).toEqual([...HOST]);
    await g.close();
    process.kill(pid, 'SIGTERM');
    await expect.poll(() => alive(pid)).toBe(false);
    expect(fs.existsSync(sock)).toBe(false);
  });

  it('probes /tmp/passt_N.socket: skips one in use, replaces a stale one', async () => {
    // A private /tmp (tmpfs in a mount namespace of its own), so the machine's /tmp is never
    // touched. The checkout may itself live under /tmp (CI clones there): it is bound into the
    // new tmpfs at the same path before the tmpfs is moved over /tmp.
    const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'passt-probe-'));
    const repo = path.resolve(here, '..', '..');
    const script = [
      'set -e',
      `mount -t tmpfs tmpfs ${stage}`,
      ...(repo.startsWith('/tmp/') ? [`mkdir -p ${stage}${repo.slice(4)}`, `mount --bind ${repo} ${stage}${repo.slice(4)}`] : []),
      `mount --move ${stage} /tmp`,
      'set +e',
      `${NODE} -e "require('net').createServer().listen('/tmp/passt_1.socket')" &`,
      `${NODE} -e "require('net').createServer().listen('/tmp/passt_2.socket', () => process.exit(0))"`,
      'while ! [ -S /tmp/passt_1.socket ]; do sleep 0.02; done',
      `exec ${NODE} ${PASST} -f`,
    ].join('\n');
    const p = startPasst([], { command: ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script] });
    try {
      await p.waitFor(READY);
      expect(p.stderr()).toContain('UNIX domain socket bound at /tmp/passt_2.socket\n');
      // passt's own root is an empty tmpfs (its sandbox): the private /tmp is reached through the
      // root of the server holding passt_1.socket, a child of the shell that became passt.
      const pid = p.child.pid!;
      const holder = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)
        .find((c) => fs.readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('passt_1.socket'));
      expect(holder).toBeDefined();
      const g = await FakeGuest.connect(`/proc/${holder}/root/tmp/passt_2.socket`);
      expect([...(await g.dhcp()).get(-1)!]).toEqual([...HOST]);
      await g.close();
    } finally {
      const code = await stopPasst(p);
      fs.rmSync(stage, { recursive: true, force: true });
      expect(code, `passt's exit status; its standard error:\n${p.stderr()}`).toBe(0);
    }
  });

  it('refuses a socket path in use, and bad option combinations, with one line and exit 1', async () => {
    const sock = sockPath();
    const p = startPasst(['-f', '-s', sock]);
    try {
      await p.waitFor(READY);
      const r = await topo.execHost([NODE, PASST, '-f', '-s', sock]);
      expect(r.code).toBe(1);
      expect(r.stderr.toString()).toMatch(new RegExp(`^${rootNote(topo)}(.*\\n)*Socket path ${sock} already in use\\n$`));
    } finally {
      expect(await stopPasst(p)).toBe(0);
    }
    // The last of -s and -F wins, as upstream: -s then -F takes the socket on fd 0 (not a socket here).
    const both = await topo.execHost(['sh', '-c', `exec ${NODE} ${PASST} -f -s ${sock} -F 0 </dev/null`]);
    expect(both.stderr.toString()).toMatch(/Invalid --fd: 0: not a socket\n$/);
    expect(both.code).toBe(1);
    const arg = await topo.execHost([NODE, PASST, 'qemu']);
    expect(arg.stderr.toString()).toBe('Extra non-option argument: qemu\n');
    const pastaOnly = await topo.execHost([NODE, PASST, '--netns', 'x']);
    expect(pastaOnly.stderr.toString()).toBe('--netns is for pasta mode only\n');
    expect(pastaOnly.code).toBe(1);
  });
});

describe('--pcap with pasta', () => {
  it("captures the namespace's frames both ways", async () => {
    const pcap = path.join(dir, 'pasta.pcap');
    const r = await topo.execHost([NODE, path.join(root, 'bin', 'pasta.js'), '--config-net', '--pcap', pcap, '--', 'ping', '-c', '1', '-W', '2', A.serverV4], { timeoutMs: 20_000 });
    expect(r.code).toBe(0);
    const cap = fs.readFileSync(pcap);
    expect(cap.readUInt32LE(0)).toBe(0xa1b2c3d4);
    const icmp: number[] = [];
    for (let o = 24; o + 16 <= cap.length; ) {
      const incl = cap.readUInt32LE(o + 8);
      const ip = parseIp4(cap.subarray(o + 16, o + 16 + incl));
      if (ip?.proto === 1) icmp.push(ip.l4[0]);
      o += 16 + incl;
    }
    expect(icmp).toEqual([8, 0]); // the echo request from the namespace, the reply to it
  });
});
