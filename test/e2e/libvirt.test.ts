// Real libvirt 11.3 (Debian trixie) starting our passt for
// `<interface type='user'><backend type='passt'/>` and for
// `<interface type='vhostuser'><backend type='passt'/>` (passt --vhost-user,
// guest memory shared through a memfd: <memoryBacking>), and a direct run of
// passt with the command line libvirt 9.x used.
//
// Theory of operation
// -------------------
// test/libvirt/setup.sh builds (first run, from Debian's mirror) or reuses a
// Debian trixie tree with libvirt 11.3 and QEMU 10.0 in a cache outside the
// repository, and mounts it with this repository bound read-only at its own
// path. Everything below runs in the init user namespace but inside the
// private topology's "host" network namespace (nsenter -n), then enters the
// tree (test/libvirt/enter.sh: mount namespace + pivot_root) as the tree's
// unprivileged user "virt":
//
//   - libvirtd in session mode (what an unprivileged user gets: qemu:///session;
//     Debian ships no modular virtqemud), with HOME and XDG_RUNTIME_DIR in a
//     per-run directory under the tree's /tmp, and a PATH whose first entry is
//     that directory's bin/, holding `passt`: a symlink to bin/passt.js (ours),
//     or a copy of $NODE_PASST_LIBVIRT_PASST when that names another passt
//     binary (upstream's, to check that the assertions describe upstream's
//     behaviour; a .js file there is symlinked, so it must lie inside this
//     repository). libvirt 11.3 runs passt by its bare name, found in its PATH
//     at run time; the tree has no other passt.
//   - `virsh create` of a transient domain: Debian's cloud kernel and the busybox
//     initramfs of test/guest (ensureGuestImage), with the guest's script
//     appended as a second cpio archive holding /test.sh (as guest.js does);
//     its serial console is a UNIX socket that this test listens on (QEMU
//     connects to it as it starts, so no output is lost) and reads; one NIC
//     `<interface type='user'><backend type='passt'/>` with two portForwards.
//
// libvirt starts passt (--one-off --socket PATH --pid FILE --tcp-ports ...) in
// the network namespace it runs in: the guest's traffic can only reach the
// topology (198.51.100.0/24 to the "remote" namespace with 203.0.113.10 and
// 2001:db8:1::10). The tree's /etc/resolv.conf names 127.0.0.1 only, where
// test/e2e/dnsserver.js listens on the topology host's loopback: a loopback
// resolver, which upstream passt does not hand to the guest as it is (the
// guest's 127.0.0.1 is its own) but replaces with the gateway address,
// forwarding what the guest sends there to the host's 127.0.0.1.
//
// The guest's script gets a DHCP lease, waits for SLAAC, resolves a test name
// through the resolver of its lease, fetches from the remote server over IPv4
// and IPv6, starts busybox httpd on port 80 and prints "HTTPD ready"; the test
// then reaches that httpd through both forwards, records passt's command line,
// runs `virsh destroy` and checks that no passt is left.
//
// The vhost-user part boots the same guest with `<interface type='vhostuser'>`:
// libvirt starts passt with --vhost-user and QEMU with -netdev vhost-user; the
// guest must negotiate segmentation offload, get DHCP, reach the remote
// server both ways and be reached through a <portForward>.
//
// The second part runs passt directly with libvirt 9.x's argv (`passt --one-off
// --socket S --mac-addr 9a:55:9a:55:9a:56`; 9.x started passt like that,
// daemonizing) in the same tree as the same user, with the machine's QEMU
// (test/guest's startGuest) as the guest: the guest must see that MAC for its
// gateway, and passt must exit by itself once the guest has gone.
//
// Needs root (to build and mount the tree). When the bed cannot be built or
// started, every test FAILS with the reason (none is skipped).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { createTopology, ADDRESSES as A, type ExecResult, type ServerHandle, type Topology } from './topology.js';
import { DNSSERVER, runScript, startTestResolver } from './helpers.js';
import { ensureGuestImage, startGuest, type GuestResult } from '../guest/guest.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const OURS = path.join(root, 'bin', 'passt.js');
const SETUP = path.join(root, 'test', 'libvirt', 'setup.sh');
const ENTER = path.join(root, 'test', 'libvirt', 'enter.sh');
const VUSER = 'virt';
/** A cold build (debootstrap + apt-get of libvirt and QEMU) took 100-120 s here; a slow mirror takes longer. */
const SETUP_TIMEOUT_MS = 420_000;
/** The domain's NIC (libvirt 9.x passed it as --mac-addr; 11.x does not pass it). */
const GUEST_MAC = '52:54:00:12:34:56';
/** The MAC libvirt 9.x's argv gives passt in the second part (passt's own address towards the guest). */
const PASST_MAC = '9a:55:9a:55:9a:56';
const KERNEL_CMDLINE = 'console=ttyS0 quiet loglevel=1 panic=-1 mitigations=off tsc=reliable';
const BEGIN = '@@GUEST-BEGIN@@';

/** The passt under test: the path given, or ours. */
const PASST_BIN = path.resolve(process.env.NODE_PASST_LIBVIRT_PASST || OURS);
const PASST_LABEL = PASST_BIN === OURS ? 'ours (bin/passt.js)' : PASST_BIN;

let topo: Topology | undefined;
let tree = '';
/** Per-run directory: host path (under the tree's /tmp) and the same as seen inside the tree. */
let runDir = '';
let runInside = '';
let vuid = 0;
let vgid = 0;
let hostNetns = '';
let remote: ServerHandle;
let libvirtd: ChildProcess | undefined;
let libvirtdLog = '';
/** What the test resolver printed (its queries among them). */
const dnsLines: Array<Record<string, unknown>> = [];
/** The names the test resolver was asked for, in order. */
const dnsQueries = (): string[] => dnsLines.flatMap((l) => (typeof l.query === 'string' ? [l.query] : []));
/** Why the bed could not be built or started; every test then fails with it (never skips). */
let bedError: Error | undefined;

/** it() that fails at once when the test bed is missing. */
function bedIt(name: string, fn: () => Promise<void>, timeoutMs?: number): void {
  it(
    name,
    async () => {
      if (bedError) throw new Error(`no libvirt test bed (see the first test): ${bedError.message.split('\n')[0]}`);
      await fn();
    },
    timeoutMs,
  );
}

/** Wait for a condition (polling a file or /proc), failing with `what` after `ms`. */
async function until(what: () => string, cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** argv running ARGV in the tree as the session user, in the topology's host network namespace. */
function inTree(argv: string[]): string[] {
  const env = [`HOME=${runInside}/home`, `XDG_RUNTIME_DIR=${runInside}/xdg`,
    `PATH=${runInside}/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`];
  return ['nsenter', '-t', String(topo!.hostPid), '-n', '--', ENTER, '-u', VUSER, 'env', ...env, ...argv];
}

function virsh(args: string[], timeoutMs = 60_000): Promise<ExecResult> {
  return topo!.execArgs(inTree(['virsh', '-q', '-c', 'qemu:///session', ...args]), { timeoutMs });
}

/** Live processes in the topology's host network namespace whose argv matches. */
function processes(match: (argv: string[]) => boolean): Array<{ pid: number; argv: string[] }> {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readlinkSync(`/proc/${entry}/ns/net`) !== hostNetns) continue;
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (/\) [ZX] /.test(stat)) continue;
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').slice(0, -1);
      if (argv.length && match(argv)) found.push({ pid: Number(entry), argv });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * `virsh destroy NAME`, then what is left of the processes `match` finds once
 * they had 5 s to exit (libvirt ends passt when it stops the domain), as
 * "PID: ARGV" lines.
 */
async function destroyAndLeftovers(name: string, match: (argv: string[]) => boolean): Promise<string[]> {
  const destroyed = await virsh(['destroy', name]);
  if (!destroyed.ok) throw new Error(`virsh destroy failed (${destroyed.code}): ${destroyed.stderr}`);
  await until(() => 'passt to exit', () => processes(match).length === 0, 5_000).catch(() => undefined);
  return processes(match).map((p) => `${p.pid}: ${p.argv.join(' ')}`);
}

/** Is PATH (as seen inside the tree) a listening UNIX socket in the host namespace? */
function listening(socketPath: string): boolean {
  const table = fs.readFileSync(`/proc/${topo!.hostPid}/net/unix`, 'utf8');
  return table.split('\n').some((l) => l.endsWith(` ${socketPath}`) && l.split(/\s+/)[3] === '00010000');
}

/** A newc cpio archive with one executable file (the kernel unpacks it over the initramfs). */
function cpioWithFile(name: string, data: string): Buffer {
  const parts: Buffer[] = [];
  let off = 0;
  const push = (b: Buffer): void => {
    parts.push(b);
    off += b.length;
  };
  const pad = (): void => {
    if (off % 4) push(Buffer.alloc(4 - (off % 4)));
  };
  const hex = (n: number): string => n.toString(16).padStart(8, '0');
  const entry = (ino: number, n: string, mode: number, body: Buffer): void => {
    const nameBytes = Buffer.from(`${n}\0`);
    push(Buffer.from(`070701${[ino, mode, 0, 0, 1, 0, body.length, 0, 0, 0, 0, nameBytes.length, 0].map(hex).join('')}`));
    push(nameBytes);
    pad();
    push(body);
    pad();
  };
  entry(1, name, 0o100755, Buffer.from(data));
  entry(0, 'TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

/**
 * The guest's console: a UNIX socket server QEMU connects to. waitFor() resolves
 * when the script's output (after the begin marker) matches.
 */
class Console {
  text = '';
  private server: net.Server;
  private sock: net.Socket | undefined;
  private waiters: Array<() => void> = [];
  private constructor(server: net.Server) {
    this.server = server;
    server.on('connection', (s) => {
      this.sock = s;
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        this.text += d.replace(/\r/g, '');
        for (const w of this.waiters) w();
      });
      s.on('error', () => {});
    });
  }

  static async listen(file: string, uid: number, gid: number): Promise<Console> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(file, resolve);
    });
    fs.chownSync(file, uid, gid); // QEMU runs as the session user
    return new Console(server);
  }

  output(): string {
    const b = this.text.indexOf(BEGIN);
    return b < 0 ? '' : this.text.slice(this.text.indexOf('\n', b) + 1);
  }

  waitFor(re: RegExp, ms: number, why: () => string): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const m = this.output().match(re);
        if (!m) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve(m);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`guest console did not match ${re} within ${ms} ms\n--- console ---\n${this.text.slice(-3000)}\n${why()}`));
      }, ms);
      this.waiters.push(check);
      check();
    });
  }

  close(): void {
    this.sock?.destroy();
    this.server.close();
  }
}

/** Lines of OUTPUT starting with KEY and a space, without the key. */
function lines(output: string, key: string): string[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith(`${key} `))
    .map((l) => l.slice(key.length + 1));
}

async function startResolver(): Promise<void> {
  const dns = topo!.spawnHost([process.execPath, DNSSERVER, '--bind', '127.0.0.1', '--port', '53']);
  await startTestResolver(dns, dnsLines);
}

async function startBed(): Promise<void> {
  if (process.geteuid?.() !== 0) {
    throw new Error(
      'libvirt.test.ts must run as root: it builds and mounts a Debian trixie tree with libvirt 11.3 and QEMU 10.0 ' +
        '(test/libvirt/setup.sh) and runs them inside a private network namespace',
    );
  }
  if (!fs.existsSync(PASST_BIN)) throw new Error(`no passt at ${PASST_BIN} (NODE_PASST_LIBVIRT_PASST, or run npm install for dist/)`);
  const setup = await runScript(SETUP, [], SETUP_TIMEOUT_MS);
  const ready = /^ready: (\/.+)$/m.exec(setup.output);
  if (setup.code !== 0 || !ready) {
    throw new Error(
      `cannot build or mount the libvirt test bed: test/libvirt/setup.sh exited ${setup.code}. ` +
        `The first build needs Debian's mirror (debootstrap and apt-get; MIRROR=${process.env.MIRROR ?? 'http://deb.debian.org/debian'}). ` +
        `Its last output:\n${setup.output.split('\n').slice(-25).join('\n')}`,
    );
  }
  tree = ready[1];
  const pw = fs.readFileSync(path.join(tree, 'etc', 'passwd'), 'utf8').split('\n').find((l) => l.startsWith(`${VUSER}:`));
  if (!pw) throw new Error(`the tree has no user ${VUSER}: run test/libvirt/setup.sh purge, then the test again`);
  [vuid, vgid] = pw.split(':').slice(2, 4).map(Number);
  const image = ensureGuestImage();

  topo = await createTopology();
  hostNetns = fs.readlinkSync(`/proc/${topo.hostPid}/ns/net`);
  // The tree's resolver is ours, on the host's loopback (setup.sh writes it too; never the machine's).
  fs.writeFileSync(path.join(tree, 'etc', 'resolv.conf'), 'nameserver 127.0.0.1\n');
  await startResolver();
  remote = await topo.startRemoteServer('http', ['--port', '80']);

  // The per-run directory: passt for libvirt's PATH, the session's HOME and runtime directory, the guest's files.
  runDir = fs.mkdtempSync(path.join(tree, 'tmp', 'nplv-'));
  runInside = `/${path.relative(tree, runDir)}`;
  for (const d of ['bin', 'home', 'xdg']) fs.mkdirSync(path.join(runDir, d));
  if (PASST_BIN.endsWith('.js')) fs.symlinkSync(PASST_BIN, path.join(runDir, 'bin', 'passt'));
  else fs.copyFileSync(PASST_BIN, path.join(runDir, 'bin', 'passt'));
  fs.chmodSync(path.join(runDir, 'bin', 'passt'), 0o755);
  fs.copyFileSync(image.kernel, path.join(runDir, 'vmlinuz'));
  for (const d of ['', 'home', 'xdg']) fs.chownSync(path.join(runDir, d), vuid, vgid);
  fs.chmodSync(runDir, 0o755);
  fs.chmodSync(path.join(runDir, 'xdg'), 0o700);

  // libvirtd in session mode, as the session user; ready when its socket listens.
  libvirtd = topo.spawnArgs(inTree(['libvirtd']), { stdio: ['ignore', 'pipe', 'pipe'] });
  libvirtd.stdout!.on('data', (d) => (libvirtdLog += d));
  libvirtd.stderr!.on('data', (d) => (libvirtdLog += d));
  const sock = `${runInside}/xdg/libvirt/libvirt-sock`;
  await until(
    () => `libvirtd's socket ${sock}; libvirtd said:\n${libvirtdLog}`,
    () => {
      if (libvirtd!.exitCode !== null || libvirtd!.signalCode !== null) throw new Error(`libvirtd exited (${libvirtd!.exitCode ?? libvirtd!.signalCode}):\n${libvirtdLog}`);
      return listening(sock);
    },
    30_000,
  );
}

/** What libvirtd and the domain's QEMU log said (for failure messages). */
function logs(name: string): string {
  let qemuLog = '';
  try {
    qemuLog = fs.readFileSync(path.join(runDir, 'home', '.cache', 'libvirt', 'qemu', 'log', `${name}.log`), 'utf8');
  } catch {
    // no domain log yet
  }
  return `--- libvirtd ---\n${libvirtdLog.slice(-3000)}\n--- ${name}.log ---\n${qemuLog.slice(-4000)}`;
}

beforeAll(async () => {
  try {
    await startBed();
  } catch (err) {
    bedError = err as Error;
  }
}, SETUP_TIMEOUT_MS + 60_000);

afterAll(async () => {
  await topo?.close();
  if (runDir) fs.rmSync(runDir, { recursive: true, force: true });
  // leave no mounts behind (the repository is bound inside the tree), also after a failed build
  if (process.geteuid?.() === 0) await runScript(SETUP, ['umount'], 60_000);
}, 90_000);

it('builds or reuses the libvirt test bed (test/libvirt/setup.sh), starts the private topology and a session libvirtd', () => {
  if (bedError) throw bedError;
});

/** The guest's script under libvirt; every result is one line "KEY ...". */
function libvirtGuestScript(remotePort: number): string {
  return `
udhcpc -i eth0 -s /etc/dhcp4.sh -q -n -t 5 -T 1 2>/dev/null || echo "DHCP4 failed"
i=0
while [ $i -lt 100 ]; do
  ip -6 route show default | grep -q via && ip -6 addr show dev eth0 scope global | grep -q 'inet6 2001:db8::' && break
  sleep 0.1; i=$((i + 1))
done
ns=$(sed -n 's/^nameserver //p' /etc/resolv.conf | head -n 1)
echo "RESOLVER $ns"
[ -n "$ns" ] && nslookup remote.test "$ns" 2>&1 | sed 's/^/DNS /'
echo "GET4 $(wget -q -T 10 -O - http://${A.serverV4}:${remotePort}/ 2>&1)"
echo "GET6 $(wget -q -T 10 -O - http://[${A.serverV6}]:${remotePort}/ 2>&1)"
mkdir -p /www
echo "hello from the guest" > /www/index.html
httpd -p 80 -h /www
echo "HTTPD ready"
read -t 120 -r line
`;
}

function domainXml(name: string): string {
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>${runInside}/vmlinuz</kernel>
    <initrd>${runInside}/initramfs.cpio.gz</initrd>
    <cmdline>${KERNEL_CMDLINE}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='user'>
      <mac address='${GUEST_MAC}'/>
      <backend type='passt'/>
      <model type='virtio'/>
      <rom enabled='no'/>
      <portForward proto='tcp'>
        <range start='2222' to='80'/>
      </portForward>
      <portForward proto='tcp' address='127.0.0.1'>
        <range start='2223' to='80'/>
      </portForward>
    </interface>
    <serial type='unix'>
      <source mode='connect' path='${runInside}/console.sock'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

describe(`libvirt 11.3 runs passt for <interface type='user'><backend type='passt'/>: ${PASST_LABEL}`, () => {
  const name = `node-passt-${process.pid}`;
  let output = '';
  let passtArgv: string[] = [];
  let passtPid = 0;
  let socketPath = '';
  let pidFileText = '';
  /** passt's executable is the per-run bin/passt (a binary) or node running it (a script). */
  let ranPerRunPasst = false;
  const fetched: Record<string, ExecResult> = {};
  let leftAfterDestroy: string[] | undefined;
  let runError: Error | undefined;

  beforeAll(async () => {
    if (bedError) return;
    try {
      const image = ensureGuestImage();
      const base = fs.readFileSync(image.initrd);
      const padding = Buffer.alloc((4 - (base.length % 4)) % 4); // the kernel finds the next archive at a 4-byte boundary
      fs.writeFileSync(path.join(runDir, 'initramfs.cpio.gz'),
        Buffer.concat([base, padding, zlib.gzipSync(cpioWithFile('test.sh', libvirtGuestScript(remote.port)))]));
      fs.writeFileSync(path.join(runDir, 'domain.xml'), domainXml(name));
      const cons = await Console.listen(path.join(runDir, 'console.sock'), vuid, vgid);
      try {
        const created = await virsh(['create', `${runInside}/domain.xml`]);
        if (!created.ok) throw new Error(`virsh create failed (${created.code}): ${created.stderr}\n${logs(name)}`);
        await cons.waitFor(/^HTTPD ready$/m, 60_000, () => logs(name));
        output = cons.output();

        // passt as libvirt started it: the one process with --socket in its argv (QEMU's argv holds the path in JSON).
        const passts = processes((argv) => argv.includes('--socket') && argv.some((a) => a.startsWith(`${runInside}/`)));
        if (passts.length !== 1) throw new Error(`expected one passt, found ${JSON.stringify(passts)}\n${logs(name)}`);
        passtArgv = passts[0].argv;
        passtPid = passts[0].pid;
        socketPath = passtArgv[passtArgv.indexOf('--socket') + 1];
        const exe = fs.statSync(`/proc/${passtPid}/exe`);
        const perRun = fs.statSync(path.join(runDir, 'bin', 'passt')); // follows the symlink to bin/passt.js
        ranPerRunPasst = PASST_BIN.endsWith('.js')
          ? passtArgv[1] === `${runInside}/bin/passt` && exe.ino === fs.statSync(process.execPath).ino
          : exe.ino === perRun.ino && exe.dev === perRun.dev;
        // libvirt stops passt by the pid in this file (qemuPasstKill)
        const pidFile = passtArgv[passtArgv.indexOf('--pid') + 1] ?? '';
        if (pidFile.startsWith(`${runInside}/`)) pidFileText = fs.readFileSync(path.join(runDir, path.relative(runInside, pidFile)), 'utf8');

        const curl = (url: string): Promise<ExecResult> => topo!.execHost(['curl', '-sS', '--max-time', '5', url], { timeoutMs: 10_000 });
        fetched.all = await curl(`http://${A.hostV4}:2222/`);
        fetched.loopback = await curl('http://127.0.0.1:2223/');
        fetched.notBound = await curl(`http://${A.hostV4}:2223/`);

        // libvirt kills passt by its pid file when it stops the domain; --one-off ends it when QEMU goes
        leftAfterDestroy = await destroyAndLeftovers(name, (argv) => argv.includes(socketPath) || argv.some((a) => a === PASST_BIN || a.startsWith(`${runInside}/bin/`)));
      } finally {
        cons.close();
      }
    } catch (err) {
      runError = err as Error;
    }
    if (process.env.GUEST_DEBUG) process.stderr.write(`${output}\n${logs(name)}\n`);
  }, 90_000);

  const check = (): void => {
    if (runError) throw runError;
  };

  bedIt('runs passt from its PATH with the domain\'s socket, pid file and both port forwards', async () => {
    check();
    process.stdout.write(`libvirt 11.3 ran: ${passtArgv.join(' ')}\n`);
    const args = passtArgv.slice(passtArgv.indexOf('--one-off'));
    expect(args).toEqual(['--one-off', '--socket', socketPath, '--pid', expect.stringMatching(/-passt\.pid$/),
      '--tcp-ports', '2222:80', '--tcp-ports', '127.0.0.1/2223:80']);
    expect(socketPath).toMatch(new RegExp(`^${runInside}/xdg/libvirt/qemu/run/passt/.*-net0\\.socket$`));
    // the passt libvirt found is the one in the per-run directory, first in its PATH
    expect(ranPerRunPasst, `argv ${passtArgv.join(' ')}`).toBe(true);
  });

  bedIt('writes the pid of the running passt to the --pid file (libvirt stops passt by it)', async () => {
    check();
    expect(pidFileText.trim()).toBe(String(passtPid));
  });

  bedIt(`gets ${A.hostV4}/${A.prefixV4} by DHCP and a resolver that answers: not the host's loopback 127.0.0.1 (upstream advertises the gateway ${A.gatewayV4})`, async () => {
    check();
    const [dhcp] = lines(output, 'DHCP4');
    expect(dhcp).toContain(`ip=${A.hostV4} mask=${A.prefixV4} router=${A.gatewayV4}`);
    const [resolver] = lines(output, 'RESOLVER');
    expect(resolver, `DHCP4 ${dhcp}`).toMatch(/^\S+$/);
    expect(resolver, 'a loopback resolver of the host cannot be reached from the guest').not.toMatch(/^127\./);
    const answer = lines(output, 'DNS').join('\n');
    expect(answer).toMatch(new RegExp(`Address:\\s*${A.serverV4.replace(/\./g, '\\.')}$`, 'm'));
    expect(dnsQueries()).toContain('remote.test');
  });

  bedIt('connects out to the remote server over IPv4 and IPv6', async () => {
    check();
    expect(lines(output, 'GET4')).toEqual(['hello from remote']);
    expect(lines(output, 'GET6')).toEqual(['hello from remote']);
    expect(remote.peers.map((p) => p.address)).toEqual(expect.arrayContaining([A.hostV4, A.hostV6]));
  });

  bedIt(`forwards ${A.hostV4}:2222 and 127.0.0.1:2223 (and not ${A.hostV4}:2223) to the guest's httpd on port 80`, async () => {
    check();
    expect({ out: fetched.all.stdout.toString(), err: fetched.all.stderr.toString() }).toEqual({ out: 'hello from the guest\n', err: '' });
    expect({ out: fetched.loopback.stdout.toString(), err: fetched.loopback.stderr.toString() }).toEqual({ out: 'hello from the guest\n', err: '' });
    expect(fetched.notBound.ok).toBe(false);
    expect(fetched.notBound.stderr.toString()).toMatch(/Couldn't connect|Connection refused/);
  });

  bedIt('leaves no passt process after virsh destroy', async () => {
    check();
    expect(leftAfterDestroy).toEqual([]);
  });
});

describe(`passt run directly with libvirt 9.x's argv (--one-off --socket S --mac-addr ${PASST_MAC}): ${PASST_LABEL}`, () => {
  let started: ExecResult | undefined;
  let run: GuestResult | undefined;
  let leftAfterGuest: string[] | undefined;
  let passtPid = 0;
  let runError: Error | undefined;

  beforeAll(async () => {
    if (bedError) return;
    const socketPath = `${runInside}/passt9.socket`;
    try {
      // libvirt 9.x: virCommandNew("passt") + --one-off --socket --mac-addr, no -f: passt daemonizes and the parent exits 0.
      started = await topo!.execArgs(inTree(['passt', '--one-off', '--socket', socketPath, '--mac-addr', PASST_MAC]), { timeoutMs: 20_000 });
      if (!started.ok) return;
      const daemon = processes((argv) => argv.includes(socketPath));
      if (daemon.length !== 1) throw new Error(`expected one passt running for ${socketPath}, found ${JSON.stringify(daemon)}`);
      passtPid = daemon[0].pid;
      await until(() => `passt to listen on ${socketPath}`, () => listening(socketPath), 10_000);
      const guest = startGuest({
        socketPath: path.join(runDir, 'passt9.socket'),
        mac: GUEST_MAC,
        timeoutMs: 60_000,
        spawn: (argv, opts) => topo!.host.spawn(argv, opts),
        script: `
udhcpc -i eth0 -s /etc/dhcp4.sh -q -n -t 5 -T 1 2>/dev/null || echo "DHCP4 failed"
ping -c 1 -W 5 ${A.gatewayV4} >/dev/null 2>&1
ip neigh show ${A.gatewayV4} | sed 's/^/NEIGH4 /'
i=0
while [ $i -lt 100 ]; do ip -6 route show default | grep -q via && break; sleep 0.1; i=$((i + 1)); done
gw6=$(ip -6 route show default | sed -n 's/^default via \\([^ ]*\\) .*/\\1/p')
ping -c 1 -W 5 "$gw6%eth0" >/dev/null 2>&1
ip -6 neigh show "$gw6" | sed 's/^/NEIGH6 /'
`,
      });
      run = await guest.result;
      // --one-off: passt quits when its guest has gone
      await until(() => 'passt to exit', () => processes((argv) => argv.includes(socketPath)).length === 0, 5_000).catch(() => undefined);
      leftAfterGuest = processes((argv) => argv.includes(socketPath)).map((p) => `${p.pid}: ${p.argv.join(' ')}`);
    } catch (err) {
      runError = err as Error;
    }
    if (process.env.GUEST_DEBUG) process.stderr.write(`${run?.console ?? ''}\n`);
  }, 90_000);

  bedIt('accepts the argv and daemonizes (exit status 0, socket listening)', async () => {
    expect(started, 'passt was not started').toBeDefined();
    expect({ code: started!.code, stderr: started!.stderr.toString() }).toEqual({ code: 0, stderr: expect.any(String) });
    if (runError) throw runError;
    expect(passtPid).toBeGreaterThan(0);
  });

  bedIt(`gives the guest ${PASST_MAC} as its gateway's MAC address (IPv4 and IPv6 neighbours)`, async () => {
    if (!started?.ok) throw new Error(`passt exited ${started?.code}: ${started?.stderr}`);
    if (runError) throw runError;
    expect(lines(run!.output, 'DHCP4')[0]).toContain(`router=${A.gatewayV4}`);
    expect(lines(run!.output, 'NEIGH4').join('\n')).toMatch(new RegExp(`^${A.gatewayV4.replace(/\./g, '\\.')} dev eth0 lladdr ${PASST_MAC}\\b`, 'm'));
    expect(lines(run!.output, 'NEIGH6').join('\n')).toMatch(new RegExp(`^fe80::\\S+ dev eth0 lladdr ${PASST_MAC}\\b`, 'm'));
  });

  bedIt('exits by itself once the guest has gone (--one-off)', async () => {
    if (!started?.ok) throw new Error(`passt exited ${started?.code}: ${started?.stderr}`);
    if (runError) throw runError;
    expect(run!.exitCode).toBe(0);
    expect(leftAfterGuest).toEqual([]);
  });
});

// <interface type='vhostuser'><backend type='passt'/>: libvirt 11.3 asks passt for its capabilities
// (--print-capabilities), starts it with --vhost-user, and QEMU 10.0 attaches the NIC with
// -netdev vhost-user over guest memory shared through a memfd (<memoryBacking>).
function vhostDomainXml(name: string): string {
  return domainXml(name)
    .replace('<vcpu>1</vcpu>', `<vcpu>1</vcpu>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>`)
    .replace("<interface type='user'>", "<interface type='vhostuser'>")
    .replace("      <rom enabled='no'/>\n", '')
    .replace(/<portForward proto='tcp' address='127.0.0.1'>[\s\S]*?<\/portForward>\n\s*/, '');
}

describe(`libvirt 11.3 runs passt for <interface type='vhostuser'><backend type='passt'/>: ${PASST_LABEL}`, () => {
  const name = `node-passt-vu-${process.pid}`;
  let output = '';
  let passtArgv: string[] = [];
  let qemuArgv: string[] = [];
  const fetched: Record<string, ExecResult> = {};
  let leftAfterDestroy: string[] | undefined;
  let runError: Error | undefined;

  beforeAll(async () => {
    if (bedError) return;
    try {
      const image = ensureGuestImage();
      const base = fs.readFileSync(image.initrd);
      const padding = Buffer.alloc((4 - (base.length % 4)) % 4);
      const script = `echo "FEATURES $(cat /sys/class/net/eth0/device/features)"\n${libvirtGuestScript(remote.port)}`;
      fs.writeFileSync(path.join(runDir, 'initramfs.cpio.gz'), Buffer.concat([base, padding, zlib.gzipSync(cpioWithFile('test.sh', script))]));
      fs.writeFileSync(path.join(runDir, 'domain-vu.xml'), vhostDomainXml(name));
      fs.rmSync(path.join(runDir, 'console.sock'), { force: true });
      const cons = await Console.listen(path.join(runDir, 'console.sock'), vuid, vgid);
      try {
        const created = await virsh(['create', `${runInside}/domain-vu.xml`]);
        if (!created.ok) throw new Error(`virsh create failed (${created.code}): ${created.stderr}\n${logs(name)}`);
        await cons.waitFor(/^HTTPD ready$/m, 60_000, () => logs(name));
        output = cons.output();
        const passts = processes((argv) => argv.includes('--vhost-user'));
        if (passts.length !== 1) throw new Error(`expected one passt with --vhost-user, found ${JSON.stringify(passts)}\n${logs(name)}`);
        passtArgv = passts[0].argv;
        qemuArgv = processes((argv) => argv.some((a) => a.includes('qemu-system')) && argv.includes('-name') && argv.join(' ').includes(name))[0]?.argv ?? [];
        fetched.all = await topo!.execHost(['curl', '-sS', '--max-time', '5', `http://${A.hostV4}:2222/`], { timeoutMs: 10_000 });
        leftAfterDestroy = await destroyAndLeftovers(name, (argv) => argv.includes('--vhost-user'));
      } finally {
        cons.close();
      }
    } catch (err) {
      runError = err as Error;
    }
    if (process.env.GUEST_DEBUG) process.stderr.write(`${output}\n${logs(name)}\n`);
  }, 90_000);

  const check = (): void => {
    if (runError) throw runError;
  };

  bedIt('runs passt with --vhost-user, and QEMU with -netdev vhost-user over shared memory', async () => {
    check();
    process.stdout.write(`libvirt 11.3 ran: ${passtArgv.join(' ')}\n`);
    expect(passtArgv).toContain('--vhost-user');
    expect(passtArgv).toContain('--socket');
    const q = qemuArgv.join(' ');
    expect(q).toMatch(/vhost-user/);
    expect(q).toMatch(/memory-backend-memfd/);
  });

  bedIt('the guest negotiates VERSION_1, MRG_RXBUF and TSO both ways; gets DHCP and reaches the remote server over IPv4 and IPv6', async () => {
    check();
    const bits = lines(output, 'FEATURES')[0] ?? '';
    for (const bit of [0, 1, 7, 8, 11, 12, 15, 32]) expect(bits[bit], `bit ${bit} of ${bits}`).toBe('1');
    expect(lines(output, 'DHCP4')[0]).toContain(`ip=${A.hostV4} mask=${A.prefixV4} router=${A.gatewayV4}`);
    expect(lines(output, 'GET4')).toEqual(['hello from remote']);
    expect(lines(output, 'GET6')).toEqual(['hello from remote']);
    expect(lines(output, 'DNS').join('\n')).toMatch(new RegExp(`Address:\\s*${A.serverV4.replace(/\./g, '\\.')}$`, 'm'));
  });

  bedIt(`forwards ${A.hostV4}:2222 to the guest's httpd (<portForward>), and leaves no passt after virsh destroy`, async () => {
    check();
    expect({ out: fetched.all.stdout.toString(), err: fetched.all.stderr.toString() }).toEqual({ out: 'hello from the guest\n', err: '' });
    expect(leftAfterDestroy).toEqual([]);
  });
});
