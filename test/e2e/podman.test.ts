// Real Podman 5 with our pasta, rootless and as root in a user namespace.
//
// Theory of operation: test/podman/setup.sh builds (first run, from Debian's
// mirror) or reuses a Debian trixie tree with Podman 5 in a cache outside the
// repository, and mounts it with this repository bound read-only at its own
// path. Podman finds our pasta through a containers.conf override
// (CONTAINERS_CONF_OVERRIDE) whose `helper_binaries_dir` holds a `pasta`
// symlink to bin/pasta.js; the tree has no other pasta, so Podman cannot fall
// back to one. Every `podman` runs in the init user namespace but inside the
// private topology's "host" network namespace (nsenter -n), then enters the
// tree (test/podman/enter.sh: mount namespace + pivot_root): Podman starts
// pasta in the network namespace it runs in, so the containers' traffic can
// only reach the topology (198.51.100.0/24 to the "remote" namespace with
// 203.0.113.10 and 2001:db8:1::10). The tree's /etc/resolv.conf names
// 127.0.0.1, where test/e2e/dnsserver.js listens in the topology's host.
// Podman runs pasta with its exact command line (test/e2e/podman.test.ts
// checks it, README "Podman 5"); the tests check what a container gets from it and
// that no pasta outlives its container by more than 2 s.
//
// Needs root (to build and mount the tree). When the tree cannot be built
// (no mirror reachable, not root) the tests FAIL with the reason.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, ADDRESSES as A, type ExecResult, type ServerHandle, type Topology } from './topology.js';
import { DNSSERVER, nsHelperOf, runScript, sandboxStatus, sharedEngines, startTestResolver } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const PASTA = path.join(root, 'bin', 'pasta.js');
const SETUP = path.join(root, 'test', 'podman', 'setup.sh');
const ENTER = path.join(root, 'test', 'podman', 'enter.sh');
const UDPCLIENT = path.join(here, 'udpclient.js');
const IMAGE = 'localhost/node-passt-bb:1';
const WEB = 'node-passt-web';
/** A cold build (debootstrap + apt-get) takes 30-90 s depending on the mirror. */
const SETUP_TIMEOUT_MS = 170_000;

type Mode = 'rootless' | 'root';

let topo: Topology | undefined;
let chroot = '';
/** Directory inside the tree's /tmp with `pasta` -> bin/pasta.js and containers.conf (host path). */
let helperDir = '';
/** The same directory as Podman sees it. */
let helperInside = '';
let hostNetns = '';
let remote: ServerHandle;
let hostServer: ServerHandle;
/** What the test resolver printed (its queries among them). */
const dnsLines: Array<Record<string, unknown>> = [];
/** The names the test resolver was asked for, in order. */
const dnsQueries = (): string[] => dnsLines.flatMap((l) => (typeof l.query === 'string' ? [l.query] : []));
/** Why the test bed could not be built or started; every test then fails with it (never skips). */
let bedError: Error | undefined;

/** it() that fails at once when the test bed is missing. */
function bedIt(name: string, fn: () => Promise<void>): void {
  it(name, async () => {
    if (bedError) throw new Error(`no Podman test bed (see the first test): ${bedError.message.split('\n')[0]}`);
    await fn();
  });
}

/** `podman ARGS` in the tree, in the topology's host network namespace, as the rootless user or as root in a user namespace. */
function podman(mode: Mode, args: string[], timeoutMs = 60_000, conf = 'containers.conf'): Promise<ExecResult> {
  const env = ['env', `CONTAINERS_CONF_OVERRIDE=${helperInside}/${conf}`];
  const inTree =
    mode === 'rootless'
      ? [ENTER, '-u', 'pod', ...env, 'podman', ...args]
      : // plain rootful Podman refuses pasta; root inside a user namespace is supported
        [ENTER, 'unshare', '-U', '-m', '--map-users=0:0:65536', '--map-groups=0:0:65536', '--', ...env, 'podman', ...args];
  return topo!.execArgs(['nsenter', '-t', String(topo!.hostPid), '-n', '--', ...inTree], { timeoutMs });
}

/** `podman run --rm --network pasta IMAGE sh -c SCRIPT`; fails the test unless it exits 0. */
async function runInContainer(mode: Mode, script: string): Promise<string> {
  const r = await podman(mode, ['run', '--rm', '--network', 'pasta', IMAGE, 'sh', '-c', script]);
  expect(r.stderr.toString()).toBe('');
  expect(r.code).toBe(0);
  return r.stdout.toString();
}

/** Processes in the topology's host network namespace with "--config-net" in their argv: the pastas Podman started. */
function pastaProcesses(): Array<{ pid: number; argv: string[] }> {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readlinkSync(`/proc/${entry}/ns/net`) !== hostNetns) continue;
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').slice(0, -1);
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (/\) [ZX] /.test(stat)) continue;
      if (argv.includes('--config-net')) found.push({ pid: Number(entry), argv });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Podman never kills pasta: each must have quit by itself within 2 s of its container's end. */
async function expectNoPastaLeft(): Promise<void> {
  const end = Date.now() + 2000;
  while (pastaProcesses().length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  expect(pastaProcesses().map((p) => p.argv.join(' '))).toEqual([]);
}

/** "default via GW" / "PREFIX" for each route on eth0, from busybox `ip route` text. */
function routesFromText(text: string): string[] {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)(?: via (\S+))? dev (\S+)/.exec(line.trim());
    if (m && m[3] === A.ifname) out.add(m[2] ? `${m[1]} via ${m[2]}` : m[1]);
  }
  return [...out].sort();
}

/** The same from `ip -j route` output. */
function routesFromJson(json: string): string[] {
  const out = new Set<string>();
  for (const r of JSON.parse(json) as Array<{ dst: string; gateway?: string; dev?: string }>) {
    if (r.dev === A.ifname) out.add(r.gateway ? `${r.dst} via ${r.gateway}` : r.dst);
  }
  return [...out].sort();
}

async function hostOutput(argv: string[]): Promise<string> {
  const r = await topo!.execHost(argv);
  expect(r.code, `${argv.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout.toString();
}

async function startBed(): Promise<void> {
  if (process.geteuid?.() !== 0) {
    throw new Error(
      'podman.test.ts must run as root: it builds and mounts a Debian trixie tree with Podman 5 (test/podman/setup.sh) ' +
        'and runs Podman inside a private network namespace',
    );
  }
  const setup = await runScript(SETUP, [], SETUP_TIMEOUT_MS);
  const ready = /^ready: (\/.+)$/m.exec(setup.output);
  if (setup.code !== 0 || !ready) {
    throw new Error(
      `cannot build or mount the Podman test bed: test/podman/setup.sh exited ${setup.code}. ` +
        `The first build needs Debian's mirror (debootstrap and apt-get; MIRROR=${process.env.MIRROR ?? 'http://deb.debian.org/debian'}). ` +
        `Its last output:\n${setup.output.split('\n').slice(-25).join('\n')}`,
    );
  }
  chroot = ready[1];

  topo = await createTopology();
  hostNetns = fs.readlinkSync(`/proc/${topo.hostPid}/ns/net`);

  // The tree's resolver is ours (setup.sh writes it too; never the machine's).
  fs.writeFileSync(path.join(chroot, 'etc', 'resolv.conf'), 'nameserver 127.0.0.1\n');
  const dns = topo.spawnHost([process.execPath, DNSSERVER, '--bind', '127.0.0.1', '--port', '53']);
  await startTestResolver(dns, dnsLines);
  remote = await topo.startRemoteServer('http', ['--port', '80']);
  // host.containers.internal (169.254.1.2) stands for the host's own address.
  hostServer = await topo.startHostServer('http', ['--bind', A.hostV4]);

  helperDir = fs.mkdtempSync(path.join(chroot, 'tmp', 'node-passt-pasta-'));
  fs.chmodSync(helperDir, 0o755);
  helperInside = `/${path.relative(chroot, helperDir)}`;
  fs.symlinkSync(PASTA, path.join(helperDir, 'pasta'));
  fs.writeFileSync(
    path.join(helperDir, 'containers.conf'),
    `[engine]\nhelper_binaries_dir = ["${helperInside}", {append=true}]\n`,
    { mode: 0o644 },
  );
  // A user's containers.conf asking for the shared engine (ours: --shared-engine).
  fs.writeFileSync(
    path.join(helperDir, 'shared.conf'),
    `[engine]\nhelper_binaries_dir = ["${helperInside}", {append=true}]\n[network]\npasta_options = ["--shared-engine"]\n`,
    { mode: 0o644 },
  );
  // A user's containers.conf with pasta_options, which Podman puts before the command line's.
  fs.writeFileSync(
    path.join(helperDir, 'pasta-options.conf'),
    `[engine]\nhelper_binaries_dir = ["${helperInside}", {append=true}]\n` +
      `[network]\npasta_options = ["-I", "myname", "--ns-mac-addr", "${NS_MAC}", "--mtu", "1400"]\n`,
    { mode: 0o644 },
  );
}

/** The MAC address pasta_options asks for (--ns-mac-addr). */
const NS_MAC = '02:00:00:0a:0b:0c';

beforeAll(async () => {
  try {
    await startBed();
  } catch (err) {
    bedError = err as Error;
  }
}, SETUP_TIMEOUT_MS + 30_000);

it('builds or reuses the Podman test bed (test/podman/setup.sh) and starts the private topology', () => {
  if (bedError) throw bedError;
});

afterAll(async () => {
  if (topo) {
    for (const mode of ['rootless', 'root'] as const) await podman(mode, ['rm', '-f', '-t', '0', WEB]).catch(() => undefined);
    await topo.close();
  }
  if (helperDir) fs.rmSync(helperDir, { recursive: true, force: true });
  // leave no mounts behind (the repository is bound inside the tree), also after a failed build
  if (process.geteuid?.() === 0) await runScript(SETUP, ['umount'], 60_000);
}, 90_000);

describe.each(['rootless', 'root'] as const)('podman run --network pasta (%s)', (mode) => {
  beforeAll(async () => {
    // a rootless pause process from earlier runs would keep old mounts
    if (mode === 'rootless' && !bedError) await podman(mode, ['system', 'migrate']);
  });

  bedIt("finds our pasta through helper_binaries_dir and reads its --version on a pipe", async () => {
    const r = await podman(mode, ['info', '--format', '{{.Host.Pasta.Executable}}|{{.Host.Pasta.Version}}']);
    expect(r.stderr.toString()).toBe('');
    expect(r.stdout.toString().trim()).toMatch(new RegExp(`^${helperInside}/pasta\\|pasta \\(node-passt\\) \\S+$`));
  });

  bedIt("gives the container the host's addresses, routes and MTU, and Podman's resolver and host entries", async () => {
    const out = await runInContainer(
      mode,
      'ip addr show eth0; echo @@; ip route; echo @@; ip -6 route; echo @@; cat /etc/resolv.conf; echo @@; cat /etc/hosts',
    );
    const [addr, route4, route6, resolv, hosts] = out.split('@@\n');
    const hostAddr = JSON.parse(await hostOutput(['ip', '-j', 'addr', 'show', A.ifname]))[0];
    const globalHost = hostAddr.addr_info
      .filter((a: { scope: string }) => a.scope === 'global')
      .map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)
      .sort();
    const globalContainer = [...addr.matchAll(/inet6? (\S+) scope global/g)].map((m) => m[1]).sort();
    expect(globalContainer).toEqual(globalHost);
    expect(globalContainer).toEqual([`${A.hostV6}/${A.prefixV6}`, `${A.hostV4}/${A.prefixV4}`].sort());
    expect(Number(/ mtu (\d+)/.exec(addr)?.[1])).toBe(hostAddr.mtu);
    expect(routesFromText(route4)).toEqual(routesFromJson(await hostOutput(['ip', '-j', 'route'])));
    expect(routesFromText(route6)).toEqual(routesFromJson(await hostOutput(['ip', '-j', '-6', 'route'])));
    expect(routesFromText(route4)).toContain(`default via ${A.gatewayV4}`);
    expect(routesFromText(route6)).toContain(`default via ${A.gatewayV6}`);
    // Podman puts the --dns-forward address first when pasta configured the namespace.
    expect(/^nameserver (\S+)/m.exec(resolv)?.[1]).toBe('169.254.1.1');
    expect(hosts).toMatch(/^169\.254\.1\.2\s+host\.containers\.internal\b/m);
    await expectNoPastaLeft();
  });

  bedIt('reaches the remote server over IPv4 and IPv6 with the host addresses as source', async () => {
    const before = remote.peers.length;
    const out = await runInContainer(
      mode,
      `wget -q -T 5 -O- http://${A.serverV4}/ && wget -q -T 5 -O- 'http://[${A.serverV6}]/'`,
    );
    expect(out).toBe('hello from remote\n'.repeat(2));
    expect(remote.peers.slice(before).map((p) => p.address)).toEqual([A.hostV4, A.hostV6]);
    await expectNoPastaLeft();
  });

  bedIt('resolves names through 169.254.1.1 with the test resolver', async () => {
    const before = dnsQueries().length;
    const out = await runInContainer(mode, 'nslookup remote.test 169.254.1.1');
    expect(out).toMatch(/^Server:\s+169\.254\.1\.1$/m);
    expect(out).toContain(`Address: ${A.serverV4}`);
    expect(dnsQueries().slice(before)).toContain('remote.test');
    await expectNoPastaLeft();
  });

  bedIt("reaches host.containers.internal: the host's own address", async () => {
    const before = hostServer.peers.length;
    const out = await runInContainer(mode, `wget -q -T 5 -O- http://host.containers.internal:${hostServer.port}/`);
    expect(out).toBe('hello from remote\n');
    expect(hostServer.peers.slice(before).map((p) => p.address)).toEqual([A.hostV4]);
    await expectNoPastaLeft();
  });

  bedIt('publishes -p 8080:80 to the host (busybox httpd in the container)', async () => {
    const run = await podman(mode, ['run', '-d', '--replace', '--name', WEB, '--network', 'pasta', '-p', '8080:80',
      IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www']);
    expect(run.stderr.toString()).toBe('');
    expect(run.code).toBe(0);
    try {
      // Podman's exact command line, seen on the translator it left running.
      const running = pastaProcesses();
      expect(running).toHaveLength(1);
      const argv = running[0].argv;
      expect(argv[0]).toMatch(/(^|\/)node$/);
      expect(argv[1]).toBe(`${helperInside}/pasta`);
      const rest = argv.slice(2);
      const netns = mode === 'rootless' ? '/run/user/1000/netns/' : '/run/user/0/netns/';
      expect(rest).toEqual(['--config-net', '-t', '8080-8080:80-80', '--dns-forward', '169.254.1.1', '-u', 'none',
        '-T', 'none', '-U', 'none', '--no-map-gw', '--quiet', '--netns', expect.stringContaining(netns),
        '--map-guest-addr', '169.254.1.2']);
      // Sandboxed: a seccomp filter and no_new_privs, an empty root. Podman runs pasta as root of a user
      // namespace either way (its own when rootless; the one it runs in here as root), where pasta keeps
      // CAP_NET_BIND_SERVICE alone.
      expect(sandboxStatus(running[0].pid)).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000400', root: [] });
      const helper = nsHelperOf(running[0].pid);
      expect(helper).toBeDefined();
      expect(sandboxStatus(helper!)).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000', root: [] });

      const get = async (url: string, where: 'host' | 'remote'): Promise<string> => {
        const argv = ['curl', '-sS', '--max-time', '3', url];
        let last = '';
        for (let i = 0; i < 50; i++) {
          const r = where === 'host' ? await topo!.execHost(argv) : await topo!.execRemote(argv);
          if (r.ok) return r.stdout.toString();
          last = r.stderr.toString();
          await new Promise((res) => setTimeout(res, 100)); // httpd may not listen yet
        }
        return `failed: ${last}`;
      };
      expect(await get('http://127.0.0.1:8080/', 'host')).toBe('hello from bb\n');
      expect(await get('http://[::1]:8080/', 'host')).toBe('hello from bb\n');
      expect(await get(`http://${A.hostV4}:8080/`, 'remote')).toBe('hello from bb\n');
      expect(await get(`http://[${A.hostV6}]:8080/`, 'remote')).toBe('hello from bb\n');
    } finally {
      const rm = await podman(mode, ['rm', '-f', '-t', '0', WEB]);
      expect(rm.code).toBe(0);
    }
    await expectNoPastaLeft();
  });

  bedIt('serves containers from one shared engine with pasta_options = ["--shared-engine"], and leaves no pasta behind', async () => {
    for (const pid of sharedEngines('', hostNetns)) process.kill(pid, 'SIGKILL');
    const run = await podman(mode, ['run', '-d', '--replace', '--name', WEB, '--network', 'pasta', '-p', '8080:80',
      IMAGE, 'httpd', '-f', '-p', '80', '-h', '/www'], 60_000, 'shared.conf');
    expect(run.stderr.toString()).toBe('');
    expect(run.code).toBe(0);
    try {
      // What stays for the container is the launcher's small process, with Podman's command line.
      const running = pastaProcesses();
      expect(running).toHaveLength(1);
      expect(running[0].argv[0]).toMatch(/node-passt-launch$/);
      expect(running[0].argv).toContain('--shared-engine');
      expect(Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${running[0].pid}/status`, 'utf8'))?.[1])).toBeLessThan(2048);
      const engines = sharedEngines('', hostNetns);
      expect(engines).toHaveLength(1);
      // The engine has no sandbox of its own (README, "Shared engine"); the container's helper is locked.
      const helper = nsHelperOf(engines[0]);
      expect(helper).toBeDefined();
      expect(sandboxStatus(helper!)).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000', root: [] });
      // A second container, served by the same engine, reaches the remote network and the first container's
      // published port through the host (host.containers.internal).
      let out = '';
      for (let i = 0; i < 50 && !out.includes('hello from bb'); i++) {
        const r = await podman(mode, ['run', '--rm', '--network', 'pasta', IMAGE, 'sh', '-c',
          `wget -q -T 5 -O- http://${A.serverV4}/ && wget -q -T 3 -O- http://169.254.1.2:8080/ || true`], 60_000, 'shared.conf');
        expect(r.stderr.toString()).toBe('');
        expect(r.code).toBe(0);
        out = r.stdout.toString();
      }
      expect(out).toBe('hello from remote\nhello from bb\n');
      // One engine per user namespace: rootless Podman keeps one (its pause process's); as root here,
      // each podman command runs in a user namespace of its own (podman() above), so each has its own engine.
      if (mode === 'rootless') expect(sharedEngines('', hostNetns)).toEqual(engines);
      else expect(sharedEngines('', hostNetns)).toEqual(expect.arrayContaining(engines));
      expect(pastaProcesses()).toHaveLength(1);
    } finally {
      const rm = await podman(mode, ['rm', '-f', '-t', '0', WEB]);
      expect(rm.code).toBe(0);
    }
    await expectNoPastaLeft();
    for (const pid of sharedEngines('', hostNetns)) process.kill(pid, 'SIGKILL');
  });

  bedIt("takes containers.conf's pasta_options (-I, --ns-mac-addr, --mtu), the command line's --mtu last, as pasta(1) says", async () => {
    const r = await podman(mode, ['run', '--rm', '--network', 'pasta:--mtu,1300', IMAGE, 'sh', '-c', 'cat /sys/class/net/myname/address /sys/class/net/myname/mtu'], 60_000, 'pasta-options.conf');
    expect(r.stderr.toString()).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(`${NS_MAC}\n1300\n`);
    await expectNoPastaLeft();
  });

  bedIt("fails to publish a port that is taken on the host, with the message Podman's own tests match", async () => {
    const busy = await topo!.startHostServer('http', ['--port', '5400']);
    try {
      const r = await podman(mode, ['run', '--rm', '--network', 'pasta', '-p', '5400:80', IMAGE, 'true']);
      expect(r.code).toBe(126);
      // test/system/500-networking.bats, "port on localhost", in Podman 5.4.2.
      expect(r.stderr.toString()).toMatch(/Error: pasta failed with exit code 1:\n[\s\S]*5400.*ddress already in use/);
    } finally {
      await busy.stop();
    }
    await expectNoPastaLeft();
  });

  bedIt('publishes -p 5353:53/udp to the host (a UDP echo server in the container)', async () => {
    const run = await podman(mode, ['run', '-d', '--replace', '--name', WEB, '--network', 'pasta', '-p', '5353:53/udp',
      IMAGE, 'udpecho', '53']);
    expect(run.stderr.toString()).toBe('');
    expect(run.code).toBe(0);
    try {
      const running = pastaProcesses();
      expect(running).toHaveLength(1);
      const argv = running[0].argv.slice(2);
      expect(argv[argv.indexOf('-u') + 1]).toBe('5353-5353:53-53');
      expect(argv[argv.indexOf('-t') + 1]).toBe('none');
      // udpclient.js multi: the answer must come back from port 5353, with what was sent.
      const echo = async (host: string, where: 'host' | 'remote', from?: string): Promise<unknown> => {
        const argv = ['env', 'UDPCLIENT_TIMEOUT_MS=1000', ...(from ? [`UDPCLIENT_BIND=${from}`] : []), process.execPath, UDPCLIENT, 'multi', host, '5353'];
        let last: unknown;
        for (let i = 0; i < 10; i++) {
          const r = where === 'host' ? await topo!.execHost(argv) : await topo!.execRemote(argv);
          last = JSON.parse(r.stdout.toString() || '{}');
          if ((last as { ok?: boolean }).ok) return last;
        }
        return last;
      };
      expect(await echo('127.0.0.1', 'host')).toEqual({ ok: true, answered: [5353] });
      expect(await echo('::1', 'host')).toEqual({ ok: true, answered: [5353] });
      expect(await echo(A.hostV4, 'remote', A.serverV4)).toEqual({ ok: true, answered: [5353] });
      expect(await echo(A.hostV6, 'remote', A.serverV6)).toEqual({ ok: true, answered: [5353] });
    } finally {
      const rm = await podman(mode, ['rm', '-f', '-t', '0', WEB]);
      expect(rm.code).toBe(0);
    }
    await expectNoPastaLeft();
  });
});
