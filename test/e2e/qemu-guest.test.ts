// A real guest through passt: QEMU (software emulation) boots Debian's cloud
// kernel with a busybox initramfs (test/guest/) and connects to passt's UNIX
// socket with `-netdev stream`, the way users run passt. Both run in the test
// topology's "host" namespace, so the guest reaches only the private test
// networks. One boot runs one tight script (see guestScript below) whose output
// the tests check, section by section:
//
//   - udhcpc gets the host's address 198.51.100.2/24 and gateway 198.51.100.1
//   - the kernel configures IPv6 by SLAAC from passt's router advertisements,
//     and udhcpc6 gets the host's address 2001:db8::2 by DHCPv6
//   - a name resolves through --dns-forward 169.254.1.1 to the test resolver
//     (dnsserver.js) on the host's loopback
//   - wget fetches /bytes/N from the remote server over IPv4 and IPv6 (sha256)
//   - the gateway addresses reach the host's loopback
//   - busybox httpd in the guest is reached from the host through -t 8080:80
//
// Which passt: $PASST_BIN if set (a .js file runs with node), else this
// repository's bin/passt.js if it exists, else Debian's /usr/bin/passt; the
// describe() name says which one ran. The DNS part runs only with a passt
// that has --dns-host (`--help` says): Debian's 2023 passt has none, and with
// `-D 127.0.0.1` its --dns-forward does reach the test resolver but answers the
// guest from the gateway address, not from the forwarder's, so the guest's
// resolver drops the reply. There passt gets no DNS options and the guest
// resolves nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, ADDRESSES as A, type Topology, type ServerHandle } from './topology.js';
import { DNSSERVER, sandboxStatus, startTestResolver, type SandboxStatus } from './helpers.js';
import { streamSha256 } from './stream.js';
import { startGuest, ensureGuestImage, type GuestResult } from '../guest/guest.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const OURS = path.join(root, 'bin', 'passt.js');

/** The passt under test: argv prefix, a label for the test names, and whether it has --dns-host. */
function choosePasst(): { argv: string[]; label: string; dnsHost: boolean } {
  const bin = process.env.PASST_BIN || (fs.existsSync(OURS) ? OURS : '/usr/bin/passt');
  const argv = bin.endsWith('.js') ? [process.execPath, bin] : [bin];
  const label =
    path.resolve(bin) === OURS ? 'ours (bin/passt.js)' : bin === '/usr/bin/passt' ? "Debian's /usr/bin/passt" : bin;
  let help = '';
  try {
    help = execFileSync(argv[0], [...argv.slice(1), '--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  } catch (err: any) {
    // passt(1) exits non-zero after --help and prints it on stderr
    help = `${err.stdout ?? ''}${err.stderr ?? ''}`;
  }
  return { argv, label, dnsHost: help.includes('--dns-host') };
}

const PASST = choosePasst();
const DNS_FORWARD = '169.254.1.1';
const FETCH_BYTES = 3_000_007;
const GUEST_MAC = '52:54:00:12:34:56';
/** The SLAAC address from GUEST_MAC (EUI-64) in the host's /64. */
const SLAAC_ADDRESS = '2001:db8::5054:ff:fe12:3456';
const FORWARD_PORT = 8080;

/** The script the guest runs (busybox sh). Every result is one line "KEY ..." that the tests find. */
function guestScript(o: { remotePort: number; hostPort: number; dns: boolean }): string {
  const v4 = `http://${A.serverV4}:${o.remotePort}/bytes/${FETCH_BYTES}`;
  const v6 = `http://[${A.serverV6}]:${o.remotePort}/bytes/${FETCH_BYTES}`;
  return `
get() { # KEY URL: fetch, print size and sha256
  rm -f /tmp/get
  wget -q -T 15 -O /tmp/get "$2"
  echo "$1 rc=$? size=$(wc -c < /tmp/get) sha=$(sha256sum < /tmp/get | cut -d' ' -f1)"
}

udhcpc -i eth0 -s /etc/dhcp4.sh -q -n -t 5 -T 1 2>/dev/null || echo "DHCP4 failed"
ip -4 addr show dev eth0 | sed -n 's/^ *inet /ADDR4 /p'
ip -4 route show default | sed 's/^/ROUTE4 /'

# SLAAC started when /init brought eth0 up: wait for the address and the default route.
i=0
while [ $i -lt 100 ]; do
  ip -6 route show default | grep -q via && ip -6 addr show dev eth0 scope global | grep -q 'inet6 2001:db8::' && break
  sleep 0.1; i=$((i + 1))
done
ip -6 addr show dev eth0 scope global | sed -n 's/^ *inet6 /SLAAC /p'
ip -6 route show default | sed 's/^/ROUTE6 /'

udhcpc6 -i eth0 -s /etc/dhcp6.sh -q -n -t 5 -T 1 2>/dev/null || echo "DHCP6 failed"
ip -6 addr show dev eth0 scope global | sed -n 's/^ *inet6 /ADDR6 /p'

${o.dns ? `nslookup remote.test ${DNS_FORWARD} 2>&1 | sed 's/^/DNS /'` : ''}

get GET4 ${v4}
get GET6 ${v6}

echo "GW4 $(wget -q -T 10 -O - http://${A.gatewayV4}:${o.hostPort}/ip 2>&1)"
echo "GW6 $(wget -q -T 10 -O - http://[${A.gatewayV6}]:${o.hostPort}/ip 2>&1)"

mkdir -p /www
echo "hello from the guest" > /www/index.html
head -c 1000003 /dev/urandom > /www/blob
httpd -p 80 -h /www
echo "HTTPD ready blob=$(sha256sum < /www/blob | cut -d' ' -f1)"
read -t 60 -r line
echo "HOST said $line"
`;
}

let topo: Topology;
let dir: string;
let passt: ChildProcess | undefined;
/** passt's sandbox, read from /proc while the guest was running. */
let passtSandbox: SandboxStatus | undefined;
let passtLog = '';
let remote: ServerHandle;
let hostHttp: ServerHandle;
let dns: ChildProcess | undefined;
let run: GuestResult;
/** What the host got through -t: body sha256 per URL. */
const forwarded: Record<string, { ok: boolean; sha: string; err: string }> = {};
let guestBlobSha = '';
/** The host's own link-local address on eth0: passt's on the guest's link (upstream's our_tap_ll). */
let hostLinkLocal = '';

/** Lines of the guest's output that start with KEY and a space, without the key. */
function lines(key: string): string[] {
  return run.output
    .split('\n')
    .filter((l) => l.startsWith(`${key} `))
    .map((l) => l.slice(key.length + 1));
}

/** Resolves once `socketPath` is a listening UNIX socket in the host namespace. */
async function waitForListening(socketPath: string, child: ChildProcess, waitMs = 20_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    // Flags 00010000 (__SO_ACCEPTCON) mark a listening socket; the path is the last field.
    const table = fs.readFileSync(`/proc/${topo.host.pid}/net/unix`, 'utf8');
    if (table.split('\n').some((l) => l.endsWith(` ${socketPath}`) && l.split(/\s+/)[3] === '00010000')) return;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`passt exited (${child.exitCode ?? child.signalCode}) before listening:\n${passtLog}`);
    }
    if (Date.now() > deadline) throw new Error(`passt did not listen on ${socketPath} within ${waitMs} ms:\n${passtLog}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startDnsServer(): Promise<ChildProcess> {
  const child = topo.host.spawn([process.execPath, DNSSERVER, '--bind', '127.0.0.1', '--port', '53']);
  await startTestResolver(child);
  return child;
}

async function curlSha(url: string): Promise<{ ok: boolean; sha: string; err: string }> {
  const r = await topo.execHost(['curl', '-sS', '-g', '--max-time', '20', '-o', '-', url], { timeoutMs: 30_000 });
  return { ok: r.ok, sha: createHash('sha256').update(r.stdout).digest('hex'), err: r.stderr.toString() };
}

beforeAll(async () => {
  ensureGuestImage(); // downloads and builds on the first run only (a few seconds)
  topo = await createTopology();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passt-qemu-'));
  fs.chmodSync(dir, 0o777); // passt(1) run as root drops to nobody before it binds the socket
  const socketPath = path.join(dir, 'passt.sock');

  [remote, hostHttp, dns] = await Promise.all([
    topo.startRemoteServer('http', ['--port', '80']),
    topo.startHostServer('http', ['--bind', '127.0.0.1,::1']),
    startDnsServer(),
  ]);

  const ll = await topo.execHost(['ip', '-6', '-o', 'addr', 'show', 'dev', A.ifname, 'scope', 'link']);
  hostLinkLocal = /inet6 (fe80::[0-9a-f:]+)\//.exec(ll.stdout.toString())?.[1] ?? '';
  if (!hostLinkLocal) throw new Error(`no link-local address on the host's ${A.ifname}: ${ll.stdout}`);

  // -D: the guest is told of the forwarder only (never of the machine's own resolver), which
  // --dns-forward sends to the test resolver on the host's 127.0.0.1.
  const dnsOptions = PASST.dnsHost ? ['-D', DNS_FORWARD, '--dns-forward', DNS_FORWARD, '--dns-host', '127.0.0.1'] : [];
  passt = topo.host.spawn([...PASST.argv, '-f', '-e', '-s', socketPath, '-t', `${FORWARD_PORT}:80`, ...dnsOptions]);
  passt.stdout?.on('data', (d) => (passtLog += d));
  passt.stderr?.on('data', (d) => (passtLog += d));
  await waitForListening(socketPath, passt);

  const guest = startGuest({
    socketPath,
    mac: GUEST_MAC,
    timeoutMs: 100_000,
    spawn: (argv, opts) => topo.host.spawn(argv, opts),
    script: guestScript({ remotePort: remote.port, hostPort: hostHttp.port, dns: PASST.dnsHost }),
  });
  try {
    const ready = await guest.waitFor(/^HTTPD ready blob=([0-9a-f]{64})$/m);
    guestBlobSha = ready[1];
    forwarded.v4 = await curlSha(`http://127.0.0.1:${FORWARD_PORT}/blob`);
    forwarded.v6 = await curlSha(`http://[::1]:${FORWARD_PORT}/blob`);
    // passt's sandbox while it serves the guest (src/sandbox/; upstream's looks the same).
    passtSandbox = sandboxStatus(passt!.pid!);
    guest.send('done\n');
  } catch (err) {
    guest.kill();
    await guest.result.catch((e) => {
      throw new Error(`${(err as Error).message}\n(guest: ${(e as Error).message.split('\n')[0]})\npasst:\n${passtLog.slice(-3000)}`);
    });
    throw err;
  }
  run = await guest.result;
  if (process.env.GUEST_DEBUG) process.stderr.write(`${run.console}\n--- passt ---\n${passtLog}\n`);
}, 150_000);

afterAll(async () => {
  dns?.stdin?.end();
  await topo?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe(`a QEMU guest through passt: ${PASST.label}`, () => {
  it('is served by a sandboxed passt: seccomp filter, no_new_privs, no capabilities; as root, nobody and an empty root', () => {
    expect(passtSandbox).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000' });
    if (topo.fullIdMap) expect(passtSandbox).toMatchObject({ uid: '65534\t65534\t65534\t65534', root: [] });
  });

  it('boots, runs its script to the end and powers off', () => {
    expect(run.output).toMatch(/^HOST said done$/m);
    expect(run.exitCode).toBe(0);
    expect(run.totalMs).toBeLessThan(90_000);
  });

  it(`gets ${A.hostV4}/${A.prefixV4} and gateway ${A.gatewayV4} by DHCP (udhcpc)`, () => {
    const [dhcp] = lines('DHCP4');
    expect(dhcp).toContain(`ip=${A.hostV4} mask=${A.prefixV4} router=${A.gatewayV4}`);
    // -D names the forwarder as the one resolver DHCP hands out.
    if (PASST.dnsHost) expect(dhcp).toMatch(new RegExp(`dns=${DNS_FORWARD.replace(/\./g, '\\.')}( |$)`));
    expect(lines('ADDR4').join('\n')).toContain(`${A.hostV4}/${A.prefixV4}`);
    expect(lines('ROUTE4').join('\n')).toContain(`default via ${A.gatewayV4}`);
  });

  it("configures IPv6 by SLAAC from passt's router advertisements", () => {
    const slaac = lines('SLAAC').find((l) => l.startsWith(`${SLAAC_ADDRESS}/64 `));
    expect(slaac, lines('SLAAC').join('\n')).toBeDefined();
    // The gateway (2001:db8::1) is not link-local: passt speaks from the host's own link-local
    // address, as upstream, and the guest routes through it.
    expect(lines('ROUTE6').join('\n')).toMatch(new RegExp(`^default via ${hostLinkLocal} dev eth0`, 'm'));
  });

  it(`gets ${A.hostV6} by DHCPv6 (udhcpc6)`, () => {
    const [dhcp] = lines('DHCP6');
    const ip = /ip=(\S+)/.exec(dhcp ?? '')?.[1];
    expect(ip && new URL(`http://[${ip}]/`).hostname, dhcp).toBe(`[${A.hostV6}]`);
    expect(lines('ADDR6').join('\n')).toContain(`${A.hostV6}/128`);
  });

  // Only where passt has --dns-host (see the top of this file).
  if (PASST.dnsHost) it(`resolves remote.test through --dns-forward ${DNS_FORWARD} --dns-host 127.0.0.1 (nslookup)`, () => {
    const answer = lines('DNS').join('\n');
    expect(answer).toMatch(new RegExp(`Address:\\s*${A.serverV4.replace(/\./g, '\\.')}$`, 'm'));
    expect(answer).toMatch(new RegExp(`Address:\\s*${A.serverV6}$`, 'm'));
  });

  it(`fetches ${FETCH_BYTES} bytes from the remote server over IPv4 and IPv6 (wget, sha256)`, () => {
    const want = `rc=0 size=${FETCH_BYTES} sha=${streamSha256(FETCH_BYTES, FETCH_BYTES)}`;
    expect(lines('GET4')).toEqual([want]);
    expect(lines('GET6')).toEqual([want]);
    expect(remote.peers.some((p) => p.address === A.hostV4)).toBe(true);
    expect(remote.peers.some((p) => p.address === A.hostV6)).toBe(true);
  });

  it(`reaches the host's loopback through the gateway addresses ${A.gatewayV4} and ${A.gatewayV6}`, () => {
    expect(JSON.parse(lines('GW4')[0] ?? 'null')).toMatchObject({ address: '127.0.0.1' });
    expect(JSON.parse(lines('GW6')[0] ?? 'null')).toMatchObject({ address: '::1' });
  });

  it(`serves a port that the host reaches through -t ${FORWARD_PORT}:80 (busybox httpd, curl)`, () => {
    expect(guestBlobSha).toMatch(/^[0-9a-f]{64}$/);
    expect(forwarded.v4).toEqual({ ok: true, sha: guestBlobSha, err: '' });
    expect(forwarded.v6).toEqual({ ok: true, sha: guestBlobSha, err: '' });
  });
});
