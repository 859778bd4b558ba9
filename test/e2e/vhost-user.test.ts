// A real guest through `passt --vhost-user`: QEMU 10.0 from Debian trixie
// (the libvirt test bed's tree, test/libvirt/setup.sh) boots the test guest
// (test/guest/) with its guest memory in a shared memfd and its NIC on
// `-netdev vhost-user`, so that frames move through the virtqueues in that
// memory and the UNIX socket carries only the vhost-user protocol
// (src/vhost/, doc/design.md "vhost-user"). Debian bookworm's QEMU 7.2
// crashes booting this guest on vhost-user even against upstream passt, so
// the machine's QEMU is not used here.
//
// Theory of operation: our passt runs in the test topology's "host"
// namespace, without -1, with its socket in a directory under the tree's
// /tmp; QEMU runs inside the tree (test/libvirt/enter.sh: its own mount
// namespace), in the same network namespace, and reaches the socket by the
// tree's path. passt captures every frame (--pcap). Two boots:
//
//   1. the guest gets its addresses (DHCP, SLAAC, DHCPv6), resolves a name
//      through --dns-forward, pings, downloads from the remote server over
//      IPv4 and IPv6 and uploads to it (sha256 both ways), takes its link
//      down and up and downloads again, serves a port the host reaches
//      through -t; then QEMU is killed (SIGKILL: no goodbye on the socket);
//   2. a new QEMU connects to the same passt, which must serve it: DHCP, a
//      download and an upload at MTU 1500; then the guest resets its NIC
//      (the driver unbound and bound again: QEMU stops and restarts the
//      rings) and downloads once more;
//   3. createPasst({ vhostUser: true, oneOff: true }) in a small driver
//      process in the same namespace serves a third QEMU (the second boot's
//      script), and closes once the guest powers off, with stats() counting
//      its frames; then the same with sandbox: 'process' (the translator in
//      a sandboxed child).
//
// The capture shows that segmentation offload worked both ways: frames
// longer than the link's MTU came from the guest (HOST_TSO, the guest's TCP
// super-frames) and went to it (GUEST_TSO), and the guest's virtio feature
// bits (sysfs) say which features it negotiated.
//
// The tree is shared with test/e2e/libvirt.test.ts, which unmounts it when it
// ends: this test holds it meanwhile (test/lib/bedlock.js), so that it stays.
//
// Needs root (the tree is built and mounted as the libvirt test's). When the
// bed cannot be had, every test FAILS with the reason (none is skipped).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, ADDRESSES as A, type Topology, type ServerHandle } from './topology.js';
import { DNSSERVER, runScript, startTestResolver } from './helpers.js';
import { streamSha256 } from './stream.js';
import { startGuest, ensureGuestImage, type GuestResult } from '../guest/guest.js';
import { holdBed } from '../lib/bedlock.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const OURS = path.join(root, 'bin', 'passt.js');
const DIST = path.join(root, 'dist', 'index.js');
/** createPasst() with vhost-user, one-off: prints JSON lines for its events, and stats() when it closes. */
const DRIVER = `
const { createPasst } = await import(process.env.NODE_PASST_DIST);
const say = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
const p = await createPasst(JSON.parse(process.env.OPTIONS));
p.on('connect', () => say({ event: 'connect', connected: p.connected }));
p.on('close', () => say({ event: 'close', stats: p.stats() }));
say({ event: 'listening', socketPath: p.socketPath });
`;
const SETUP = path.join(root, 'test', 'libvirt', 'setup.sh');
const ENTER = path.join(root, 'test', 'libvirt', 'enter.sh');
const SETUP_TIMEOUT_MS = 420_000;
const CACHE = process.env.NODE_PASST_LIBVIRT_CACHE || '/var/cache/node-passt-libvirt';
const DNS_FORWARD = '169.254.1.1';
const FETCH_BYTES = 3_000_007;
const UPLOAD_BYTES = 2_000_003;
const GUEST_MAC = '52:54:00:12:34:56';
const SLAAC_ADDRESS = '2001:db8::5054:ff:fe12:3456';
const FORWARD_PORT = 8080;
/** Virtio feature bits the guest must have negotiated (sysfs: one character per bit, from bit 0). */
const FEATURES: Record<string, number> = {
  CSUM: 0, GUEST_CSUM: 1, GUEST_TSO4: 7, GUEST_TSO6: 8, HOST_TSO4: 11, HOST_TSO6: 12, MRG_RXBUF: 15, VERSION_1: 32,
};

function guestScript(o: { remotePort: number; sinkPort: number; hostPort: number }): string {
  const v4 = `http://${A.serverV4}:${o.remotePort}/bytes/${FETCH_BYTES}`;
  const v6 = `http://[${A.serverV6}]:${o.remotePort}/bytes/${FETCH_BYTES}`;
  return `
get() { # KEY URL: fetch, print size and sha256
  rm -f /tmp/get
  wget -q -T 15 -O /tmp/get "$2"
  echo "$1 rc=$? size=$(wc -c < /tmp/get) sha=$(sha256sum < /tmp/get | cut -d' ' -f1)"
}
echo "FEATURES $(cat /sys/class/net/eth0/device/features)"
udhcpc -i eth0 -s /etc/dhcp4.sh -q -n -t 5 -T 1 2>/dev/null || echo "DHCP4 failed"
i=0
while [ $i -lt 100 ]; do
  ip -6 route show default | grep -q via && ip -6 addr show dev eth0 scope global | grep -q 'inet6 2001:db8::' && break
  sleep 0.1; i=$((i + 1))
done
ip -6 addr show dev eth0 scope global | sed -n 's/^ *inet6 /SLAAC /p'
udhcpc6 -i eth0 -s /etc/dhcp6.sh -q -n -t 5 -T 1 2>/dev/null || echo "DHCP6 failed"
ip -6 addr show dev eth0 scope global | sed -n 's/^ *inet6 /ADDR6 /p'
nslookup remote.test ${DNS_FORWARD} 2>&1 | sed 's/^/DNS /'
echo "PING4 $(ping -c 2 -W 5 ${A.serverV4} >/dev/null 2>&1; echo rc=$?)"
echo "PING6 $(ping -c 2 -W 5 ${A.serverV6} >/dev/null 2>&1; echo rc=$?)"
get GET4 ${v4}
get GET6 ${v6}
head -c ${UPLOAD_BYTES} /dev/urandom > /tmp/up
echo "UPSHA $(sha256sum < /tmp/up | cut -d' ' -f1)"
echo "PUT4 $(nc ${A.serverV4} ${o.sinkPort} < /tmp/up | head -n 1)"
echo "PUT6 $(nc ${A.serverV6} ${o.sinkPort} < /tmp/up | head -n 1)"
ip link set eth0 down
ip link set eth0 up
# IPv4's default route went with the link, and every IPv6 address: SLAAC comes back by itself, DHCPv6's is asked for again.
ip route add default via ${A.gatewayV4} dev eth0
i=0
while [ $i -lt 100 ]; do
  ip -6 route show default | grep -q via && ip -6 addr show dev eth0 scope global | grep -q 'inet6 2001:db8::' && break
  sleep 0.1; i=$((i + 1))
done
udhcpc6 -i eth0 -s /etc/dhcp6.sh -q -n -t 5 -T 1 >/dev/null 2>&1 || echo "DHCP6 failed again"
get AGAIN4 ${v4}
get AGAIN6 ${v6}
mkdir -p /www
head -c 1000003 /dev/urandom > /www/blob
httpd -p 80 -h /www
echo "HTTPD ready blob=$(sha256sum < /www/blob | cut -d' ' -f1)"
read -t 60 -r line
echo "HOST said $line"
`;
}

/** The second boot: at MTU 1500 (set by the guest), TCP super-frames are far larger than a frame on the link. */
function rebootScript(remotePort: number, sinkPort: number): string {
  return `
udhcpc -i eth0 -s /etc/dhcp4.sh -q -n -t 5 -T 1 2>/dev/null || echo "DHCP4 failed"
ip link set eth0 mtu 1500
rm -f /tmp/get
wget -q -T 15 -O /tmp/get http://${A.serverV4}:${remotePort}/bytes/${FETCH_BYTES}
echo "GET4 rc=$? size=$(wc -c < /tmp/get) sha=$(sha256sum < /tmp/get | cut -d' ' -f1)"
head -c ${UPLOAD_BYTES} /dev/urandom > /tmp/up
echo "UPSHA $(sha256sum < /tmp/up | cut -d' ' -f1)"
echo "PUT4 $(nc ${A.serverV4} ${sinkPort} < /tmp/up | head -n 1)"
# The guest resets its device: the driver lets go of it and takes it again (QEMU stops the rings, GET_VRING_BASE, and sets them up anew).
dev=$(basename $(readlink /sys/class/net/eth0/device))
echo $dev > /sys/bus/virtio/drivers/virtio_net/unbind
echo $dev > /sys/bus/virtio/drivers/virtio_net/bind
i=0
while [ $i -lt 100 ] && ! ip link show eth0 >/dev/null 2>&1; do sleep 0.1; i=$((i + 1)); done
ip link set eth0 up
udhcpc -i eth0 -s /etc/dhcp4.sh -q -n -t 5 -T 1 >/dev/null 2>&1 || echo "DHCP4 failed after the reset"
rm -f /tmp/get
wget -q -T 15 -O /tmp/get http://${A.serverV4}:${remotePort}/bytes/${FETCH_BYTES}
echo "RESET4 rc=$? size=$(wc -c < /tmp/get) sha=$(sha256sum < /tmp/get | cut -d' ' -f1)"
`;
}

let topo: Topology | undefined;
let tree = '';
let runDir = '';
let passt: ChildProcess | undefined;
let passtLog = '';
let remote: ServerHandle;
let sink: ServerHandle;
let hostHttp: ServerHandle;
let first: { output: string; killed: boolean } = { output: '', killed: false };
let second: GuestResult | undefined;
/** The guests served through createPasst(), by its sandbox option, and what its driver printed (JSON lines). */
const apiRuns: Record<string, GuestResult> = {};
const apiEvents: Record<string, Array<Record<string, any>>> = {};
const forwarded: Record<string, { ok: boolean; sha: string; err: string }> = {};
let guestBlobSha = '';
let bedError: Error | undefined;
/** Our hold on the tree: libvirt.test.ts, ending meanwhile in the other worker, leaves it mounted. */
let bedHold: { release: () => Promise<void> } | undefined;
/** passt's seccomp mode (/proc/PID/status) while it served the first guest. */
let passtSeccomp = '';
/** Where the capture stood when the second QEMU started. */
let pcapMark = 0;

const inside = (p: string): string => `/${path.relative(tree, p)}`;

function lines(output: string, key: string): string[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith(`${key} `))
    .map((l) => l.slice(key.length + 1));
}

async function waitForListening(socketPath: string, child: ChildProcess, waitMs = 20_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const table = fs.readFileSync(`/proc/${topo!.host.pid}/net/unix`, 'utf8');
    if (table.split('\n').some((l) => l.endsWith(` ${socketPath}`) && l.split(/\s+/)[3] === '00010000')) return;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`passt exited (${child.exitCode ?? child.signalCode}) before listening:\n${passtLog}`);
    if (Date.now() > deadline) throw new Error(`passt did not listen on ${socketPath} within ${waitMs} ms:\n${passtLog}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function curlSha(url: string): Promise<{ ok: boolean; sha: string; err: string }> {
  const r = await topo!.execHost(['curl', '-sS', '-g', '--max-time', '20', '-o', '-', url], { timeoutMs: 30_000 });
  return { ok: r.ok, sha: createHash('sha256').update(r.stdout).digest('hex'), err: r.stderr.toString() };
}

/** QEMU 10.0 of the tree, in the topology's host network namespace. */
function guest(script: string) {
  return startGuest({
    socketPath: inside(path.join(runDir, 'passt.sock')),
    mac: GUEST_MAC,
    vhostUser: true,
    timeoutMs: 120_000,
    dir: runDir,
    pathFor: inside,
    spawn: (argv, opts) => topo!.spawnArgs(['nsenter', '-t', String(topo!.hostPid), '-n', '--', ENTER, ...argv], opts),
    script,
  });
}

/** Frame lengths in a pcap file from record offset `from` on, split by direction (from the guest's MAC, or to it). */
function pcapLengths(file: string, from: number): { fromGuest: number[]; toGuest: number[] } {
  const b = fs.readFileSync(file);
  const mac = Buffer.from(GUEST_MAC.split(':').map((x) => parseInt(x, 16)));
  const out = { fromGuest: [] as number[], toGuest: [] as number[] };
  for (let o = Math.max(24, from); o + 16 <= b.length; ) {
    const incl = b.readUInt32LE(o + 8);
    const orig = b.readUInt32LE(o + 12);
    const f = b.subarray(o + 16, o + 16 + incl);
    if (f.length >= 12) {
      if (f.subarray(6, 12).equals(mac)) out.fromGuest.push(orig);
      else if (f.subarray(0, 6).equals(mac)) out.toGuest.push(orig);
    }
    o += 16 + incl;
  }
  return out;
}

async function startBed(): Promise<void> {
  if (process.geteuid?.() !== 0) throw new Error('vhost-user.test.ts must run as root: QEMU 10.0 comes from the Debian trixie tree of test/libvirt/setup.sh, which root builds and mounts');
  bedHold = await holdBed(CACHE);
  const setup = await runScript(SETUP, [], SETUP_TIMEOUT_MS);
  const ready = /^ready: (\/.+)$/m.exec(setup.output);
  if (setup.code !== 0 || !ready) {
    throw new Error(`cannot build or mount the trixie tree with QEMU 10.0: test/libvirt/setup.sh exited ${setup.code}:\n${setup.output.split('\n').slice(-25).join('\n')}`);
  }
  tree = ready[1];
  ensureGuestImage();
  topo = await createTopology();
  runDir = fs.mkdtempSync(path.join(tree, 'tmp', 'npvu-'));
  fs.chmodSync(runDir, 0o777); // our passt, run as root, works as nobody
  const socketPath = path.join(runDir, 'passt.sock');
  const pcap = path.join(runDir, 'passt.pcap');

  const dns = topo.host.spawn([process.execPath, DNSSERVER, '--bind', '127.0.0.1', '--port', '53']);
  await startTestResolver(dns);
  [remote, sink, hostHttp] = await Promise.all([
    topo.startRemoteServer('http', ['--port', '80']),
    topo.startRemoteServer('halfclose'),
    topo.startHostServer('http', ['--bind', '127.0.0.1,::1']),
  ]);

  passt = topo.host.spawn([process.execPath, OURS, '--vhost-user', '-f', '-e', '-s', socketPath, '--pcap', pcap, '-t', `${FORWARD_PORT}:80`,
    '-D', DNS_FORWARD, '--dns-forward', DNS_FORWARD, '--dns-host', '127.0.0.1']);
  passt.stdout?.on('data', (d) => (passtLog += d));
  passt.stderr?.on('data', (d) => (passtLog += d));
  await waitForListening(socketPath, passt);

  const g = guest(guestScript({ remotePort: remote.port, sinkPort: sink.port, hostPort: hostHttp.port }));
  try {
    const ready = await g.waitFor(/^HTTPD ready blob=([0-9a-f]{64})$/m);
    guestBlobSha = ready[1];
    forwarded.v4 = await curlSha(`http://127.0.0.1:${FORWARD_PORT}/blob`);
    forwarded.v6 = await curlSha(`http://[::1]:${FORWARD_PORT}/blob`);
    // passt serves the guest from inside its sandbox (seccomp filter mode 2).
    for (const pid of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
      try {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        if (argv[1] === OURS && argv.includes(socketPath)) passtSeccomp = /^Seccomp:\s*(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';
      } catch {
        // gone meanwhile
      }
    }
  } catch (err) {
    g.kill();
    await g.result.catch(() => {});
    throw new Error(`${(err as Error).message}\npasst:\n${passtLog.slice(-3000)}`);
  }
  // Killed, not powered off: the back end sees the socket close under it.
  first = { output: g.output(), killed: true };
  g.kill();
  await g.result.catch(() => {});

  pcapMark = fs.statSync(pcap).size;
  second = await guest(rebootScript(remote.port, sink.port)).result.catch((err) => {
    throw new Error(`${(err as Error).message}\npasst:\n${passtLog.slice(-3000)}`);
  });

  // 3. The API: in this process's way (the default), then in a sandboxed child (sandbox: 'process').
  const driverFile = path.join(runDir, 'driver.mjs');
  fs.writeFileSync(driverFile, DRIVER);
  for (const sandbox of ['none', 'process'] as const) {
    const apiSocket = path.join(runDir, `api-${sandbox}.sock`);
    const options = { vhostUser: true, oneOff: true, sandbox, socketPath: apiSocket, dns: [DNS_FORWARD], dnsForward: [DNS_FORWARD], dnsHost: '127.0.0.1' };
    const driver = topo.host.spawn([process.execPath, driverFile], { env: { ...process.env, NODE_PASST_DIST: DIST, OPTIONS: JSON.stringify(options) } });
    const events: Array<Record<string, any>> = (apiEvents[sandbox] = []);
    let driverOut = '';
    let driverErr = '';
    driver.stderr?.on('data', (d) => (driverErr += d));
    driver.stdout?.on('data', (d) => {
      driverOut += d;
      let nl;
      while ((nl = driverOut.indexOf('\n')) >= 0) {
        events.push(JSON.parse(driverOut.slice(0, nl)));
        driverOut = driverOut.slice(nl + 1);
      }
    });
    const exited = new Promise<number | null>((resolve) => driver.once('exit', (code) => resolve(code)));
    await waitForListening(apiSocket, driver);
    apiRuns[sandbox] = await startGuest({
      socketPath: inside(apiSocket), mac: GUEST_MAC, vhostUser: true, timeoutMs: 120_000, dir: runDir, pathFor: inside,
      spawn: (argv, opts) => topo!.spawnArgs(['nsenter', '-t', String(topo!.hostPid), '-n', '--', ENTER, ...argv], opts),
      script: rebootScript(remote.port, sink.port),
    }).result.catch((err) => {
      throw new Error(`${(err as Error).message}\ndriver (sandbox: ${sandbox}):\n${driverErr.slice(-3000)}`);
    });
    // One-off: the instance closes once the guest has gone, and the driver ends by itself.
    const code = await exited;
    if (code !== 0) throw new Error(`the createPasst() driver (sandbox: ${sandbox}) exited ${code}:\n${driverErr}`);
  }
}

beforeAll(async () => {
  try {
    await startBed();
  } catch (err) {
    bedError = err as Error;
  }
}, 600_000);

afterAll(async () => {
  passt?.kill('SIGTERM');
  await topo?.close();
  if (runDir) fs.rmSync(runDir, { recursive: true, force: true });
  await bedHold?.release();
});

function bedIt(name: string, fn: () => void): void {
  it(name, () => {
    if (bedError) throw bedError;
    fn();
  });
}

describe('a QEMU 10.0 guest through our passt --vhost-user', () => {
  bedIt('serves it from inside the sandbox (a seccomp filter: the vhost-user path is on its allow-list)', () => {
    expect(passtSeccomp).toBe('2');
  });

  bedIt('negotiates VERSION_1, MRG_RXBUF, checksum and TCP segmentation offload both ways', () => {
    const bits = lines(first.output, 'FEATURES')[0] ?? '';
    for (const [name, bit] of Object.entries(FEATURES)) expect(bits[bit], `${name} (bit ${bit}) in ${bits}`).toBe('1');
  });

  bedIt(`gets ${A.hostV4}/${A.prefixV4} by DHCP, SLAAC and ${A.hostV6} by DHCPv6`, () => {
    expect(lines(first.output, 'DHCP4')[0]).toContain(`ip=${A.hostV4} mask=${A.prefixV4} router=${A.gatewayV4} mtu=65520`);
    expect(lines(first.output, 'SLAAC').some((l) => l.startsWith(`${SLAAC_ADDRESS}/64 `)), first.output).toBe(true);
    expect(lines(first.output, 'ADDR6').join('\n')).toContain(`${A.hostV6}/128`);
  });

  bedIt(`resolves remote.test through --dns-forward ${DNS_FORWARD}`, () => {
    const answer = lines(first.output, 'DNS').join('\n');
    expect(answer).toMatch(new RegExp(`Address:\\s*${A.serverV4.replace(/\./g, '\\.')}$`, 'm'));
    expect(answer).toMatch(new RegExp(`Address:\\s*${A.serverV6}$`, 'm'));
  });

  bedIt('pings the remote server over IPv4 and IPv6', () => {
    expect(lines(first.output, 'PING4')).toEqual(['rc=0']);
    expect(lines(first.output, 'PING6')).toEqual(['rc=0']);
  });

  bedIt(`downloads ${FETCH_BYTES} bytes over IPv4 and IPv6, and again after its link went down and up (sha256)`, () => {
    const want = `rc=0 size=${FETCH_BYTES} sha=${streamSha256(FETCH_BYTES, FETCH_BYTES)}`;
    expect(lines(first.output, 'GET4')).toEqual([want]);
    expect(lines(first.output, 'GET6')).toEqual([want]);
    expect(lines(first.output, 'AGAIN4')).toEqual([want]);
    expect(lines(first.output, 'AGAIN6')).toEqual([want]);
  });

  bedIt(`uploads ${UPLOAD_BYTES} bytes over IPv4 and IPv6 (sha256 as the remote server got them)`, () => {
    const [sha] = lines(first.output, 'UPSHA');
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
    expect(lines(first.output, 'PUT4')).toEqual([sha]);
    expect(lines(first.output, 'PUT6')).toEqual([sha]);
  });

  bedIt(`serves a port that the host reaches through -t ${FORWARD_PORT}:80`, () => {
    expect(guestBlobSha).toMatch(/^[0-9a-f]{64}$/);
    expect(forwarded.v4).toEqual({ ok: true, sha: guestBlobSha, err: '' });
    expect(forwarded.v6).toEqual({ ok: true, sha: guestBlobSha, err: '' });
  });

  bedIt('serves a new QEMU after the first was killed (passt without -1)', () => {
    expect(first.killed).toBe(true);
    expect(passt!.exitCode).toBe(null);
    expect(second!.exitCode).toBe(0);
    expect(lines(second!.output, 'DHCP4')[0]).toContain(`ip=${A.hostV4}`);
    expect(lines(second!.output, 'GET4')).toEqual([`rc=0 size=${FETCH_BYTES} sha=${streamSha256(FETCH_BYTES, FETCH_BYTES)}`]);
    const [sha] = lines(second!.output, 'UPSHA');
    expect(lines(second!.output, 'PUT4')).toEqual([sha]);
  });

  bedIt('serves the guest again after it reset its device (virtio_net unbound and bound)', () => {
    expect(lines(second!.output, 'RESET4')).toEqual([`rc=0 size=${FETCH_BYTES} sha=${streamSha256(FETCH_BYTES, FETCH_BYTES)}`]);
  });

  for (const sandbox of ['none', 'process']) {
    bedIt(`serves a QEMU through createPasst({ vhostUser: true, oneOff: true, sandbox: '${sandbox}' }), whose stats() count its frames`, () => {
      const want = `rc=0 size=${FETCH_BYTES} sha=${streamSha256(FETCH_BYTES, FETCH_BYTES)}`;
      const run = apiRuns[sandbox];
      const events = apiEvents[sandbox];
      expect(run.exitCode).toBe(0);
      expect(lines(run.output, 'DHCP4')[0]).toContain(`ip=${A.hostV4}`);
      expect(lines(run.output, 'GET4')).toEqual([want]);
      expect(lines(run.output, 'RESET4')).toEqual([want]);
      expect(events.map((e) => e.event)).toEqual(['listening', 'connect', 'close']);
      expect(events[1].connected).toBe(true);
      const stats = events[2].stats;
      expect(stats.tcp.opened).toBeGreaterThanOrEqual(3);
      expect(stats.bytesToTap).toBeGreaterThan(2 * FETCH_BYTES);
      expect(stats.bytesFromTap).toBeGreaterThan(UPLOAD_BYTES);
    });
  }

  bedIt('moves TCP super-frames both ways at MTU 1500 (HOST_TSO4 from the guest, GUEST_TSO4 to it: the capture)', () => {
    const { fromGuest, toGuest } = pcapLengths(path.join(runDir, 'passt.pcap'), pcapMark);
    expect(fromGuest.length).toBeGreaterThan(10);
    expect(toGuest.length).toBeGreaterThan(10);
    // A frame on a link of MTU 1500 is at most 1514 bytes: longer ones are super-frames the receiver's side cuts.
    expect(Math.max(...fromGuest)).toBeGreaterThan(1514 * 4);
    expect(Math.max(...toGuest)).toBeGreaterThan(1514 * 4);
  });
});
