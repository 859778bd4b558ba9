#!/usr/bin/env node
// `npm test` runs this first ("pretest"). It makes the machine able to run the
// tests and benchmarks, and says in one line that it is when nothing was to do.
// `--packages-only` does step 1 alone (.ci/run, before `npm ci` needs a compiler).
//
// Theory of operation, in order:
//   1. Debian packages the tests and bench use (dpkg-query). Missing ones are
//      installed with apt-get when we are root (`apt-get update` only when the
//      package lists are absent or the first install attempt fails); otherwise
//      the exact `sudo apt-get install` line is printed and we exit 1.
//   2. The build: the native addon (node-gyp) and dist/ (tsc, then the code
//      cache of dist/cli/codecache.cjs) when absent or older than their
//      sources. `npm install`/`npm ci` normally did both.
//   3. Kernel facts: /dev/net/tun must be 0666 for rootless tests (made so
//      when root, as on machines that ship it 0600); user namespaces must
//      be enabled (only reported).
// Nothing here touches any network.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

/**
 * Debian packages, grouped by what needs them. A binary the tests call must
 * have its package here, so that a fresh machine and CI can run everything.
 */
const PACKAGES = {
  namespaces: ['iproute2', 'util-linux', 'procps'], // ip; unshare, nsenter, setpriv, lsns; ps
  rootless: ['uidmap'], // newuidmap, newgidmap: rootlesskit (test/e2e/rootlesskit.test.ts)
  traffic: ['iperf3', 'socat', 'curl', 'dnsutils', 'iputils-ping', 'jq', 'busybox', 'tcpdump', 'ethtool'], // busybox: udhcpc; ethtool: the tap's offloads
  references: ['passt', 'slirp4netns'], // pasta(1)/passt(1) and slirp4netns(1) for comparisons
  build: ['build-essential', 'python3'], // node-gyp
  beds: ['debootstrap'], // test/podman and test/libvirt build Debian trixie trees (their setup.sh installs it too)
  vm: ['qemu-system-x86'], // the passt guest test (TCG; the kernel and busybox come from Debian's mirror at test time)
};

const isRoot = process.geteuid?.() === 0;
const notes = [];

function fail(message) {
  process.stderr.write(`pretest: ${message}\n`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.error) return { ok: false, why: r.error.message };
  return { ok: r.status === 0, why: `exit ${r.status ?? r.signal}` };
}

// ---- 1. Debian packages ------------------------------------------------------

function missingPackages(names) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Status}\\n', ...names], { encoding: 'utf8' });
  if (r.error) fail(`cannot run dpkg-query (${r.error.message}): this project's tests need Debian (bookworm or later)`);
  const installed = new Set();
  for (const line of r.stdout.split('\n')) {
    const [pkg, ...status] = line.trim().split(' ');
    if (pkg && status.join(' ') === 'install ok installed') installed.add(pkg.split(':')[0]);
  }
  return names.filter((n) => !installed.has(n));
}

function aptListsPresent() {
  try {
    return fs.readdirSync('/var/lib/apt/lists').some((f) => f.endsWith('_Packages') || f.endsWith('_Packages.lz4'));
  } catch {
    return false;
  }
}

const wanted = [...new Set(Object.values(PACKAGES).flat())];
let missing = missingPackages(wanted);
if (missing.length > 0) {
  const install = ['install', '-y', '--no-install-recommends', ...missing];
  if (!isRoot) {
    fail(`missing Debian packages: ${missing.join(' ')}\nrun:\n  sudo apt-get ${install.join(' ')}`);
  }
  process.stdout.write(`pretest: installing ${missing.join(' ')}\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const aptQuiet = ['-q', '-o', 'Dpkg::Use-Pty=0'];
  let updated = false;
  if (!aptListsPresent()) {
    if (!run('apt-get', [...aptQuiet, 'update'], { env }).ok) fail('apt-get update failed');
    updated = true;
  }
  let r = run('apt-get', [...aptQuiet, ...install], { env });
  if (!r.ok && !updated) {
    // stale or partial lists: refresh once and try again
    if (!run('apt-get', [...aptQuiet, 'update'], { env }).ok) fail('apt-get update failed');
    r = run('apt-get', [...aptQuiet, ...install], { env });
  }
  if (!r.ok) fail(`apt-get install ${missing.join(' ')} failed (${r.why})`);
  missing = missingPackages(wanted);
  if (missing.length > 0) fail(`still missing after apt-get install: ${missing.join(' ')}`);
  notes.push(`installed ${install.slice(3).join(' ')}`);
}

if (process.argv.includes('--packages-only')) {
  // .ci/run calls this before `npm ci`, whose install step already compiles the addon
  process.stdout.write(`pretest: ${notes.length ? notes.join('; ') : `${wanted.length} Debian packages present`}\n`);
  process.exit(0);
}

// ---- 2. The build ------------------------------------------------------------

/** Newest mtime (ms) of the files under a path matching a filter, 0 if none. */
function newest(p, filter = () => true) {
  let best = 0;
  let st;
  try {
    st = fs.statSync(p);
  } catch {
    return 0;
  }
  if (st.isDirectory()) {
    for (const entry of fs.readdirSync(p)) {
      if (entry === 'node_modules' || entry.startsWith('.')) continue;
      best = Math.max(best, newest(path.join(p, entry), filter));
    }
    return best;
  }
  return filter(p) ? st.mtimeMs : 0;
}

function npx(args, what) {
  const r = run('npx', ['--no-install', ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (!r.ok) fail(`${what} failed (${r.why}): npx ${args.join(' ')}`);
}

const addon = path.join(root, 'build', 'Release', 'passt_native.node');
if (fs.existsSync(path.join(root, 'binding.gyp'))) {
  const builtAt = newest(addon);
  const sourcesAt = Math.max(newest(path.join(root, 'native')), newest(path.join(root, 'binding.gyp')));
  if (builtAt === 0 || sourcesAt > builtAt) {
    const makefile = path.join(root, 'build', 'Makefile');
    const incremental = builtAt > 0 && fs.existsSync(makefile) && newest(makefile) >= newest(path.join(root, 'binding.gyp'));
    process.stdout.write(`pretest: ${builtAt === 0 ? 'building' : 'rebuilding'} the native addon\n`);
    npx(['node-gyp', incremental ? 'build' : 'rebuild'], 'native addon build');
    notes.push('built the native addon');
  }
}

if (fs.existsSync(path.join(root, 'tsconfig.json')) && fs.existsSync(path.join(root, 'src'))) {
  const distAt = newest(path.join(root, 'dist'), (f) => f.endsWith('.js'));
  const srcAt = Math.max(newest(path.join(root, 'src'), (f) => f.endsWith('.ts')), newest(path.join(root, 'tsconfig.json')));
  if (distAt === 0 || srcAt > distAt) {
    process.stdout.write(`pretest: ${distAt === 0 ? 'building' : 'rebuilding'} dist/ (tsc)\n`);
    npx(['tsc', '-p', 'tsconfig.json'], 'TypeScript build');
    run(process.execPath, [path.join(root, 'dist', 'cli', 'codecache.cjs')]); // never fails; see there
    notes.push('built dist/');
  }
}

// ---- 3. Kernel facts ---------------------------------------------------------

const TUN = '/dev/net/tun';
let tunMode;
try {
  tunMode = fs.statSync(TUN).mode & 0o777;
} catch {
  if (isRoot) {
    fs.mkdirSync('/dev/net', { recursive: true });
    execFileSync('mknod', ['-m', '0666', TUN, 'c', '10', '200']);
    tunMode = 0o666;
    notes.push(`created ${TUN}`);
  } else {
    notes.push(`WARNING: ${TUN} is missing (rootless tests will fail); as root: mknod -m 0666 ${TUN} c 10 200`);
  }
}
if (tunMode !== undefined && (tunMode & 0o666) !== 0o666) {
  if (isRoot) {
    fs.chmodSync(TUN, 0o666);
    notes.push(`${TUN} made 0666 (was 0${tunMode.toString(8)})`);
  } else {
    notes.push(`WARNING: ${TUN} is 0${tunMode.toString(8)}: rootless tests need 0666 (sudo chmod 0666 ${TUN})`);
  }
}

// The rootless tests (rootlesskit, Podman, libvirt, the spawn tests) run this checkout as
// other users: they must be able to enter its top directory (a checkout made in `mktemp -d`
// is 0700). Only that directory's search bit is added, as test/lib/testbed.sh does; what is
// inside keeps the modes git gave it. A directory above it that others cannot enter is only
// reported: it is not this checkout's to change.
if ((fs.statSync(root).mode & 0o001) === 0) {
  if (isRoot || fs.statSync(root).uid === process.geteuid?.()) {
    fs.chmodSync(root, fs.statSync(root).mode & 0o7777 | 0o001);
    notes.push(`added o+x to ${root}: the rootless tests run it as other users`);
  } else {
    notes.push(`WARNING: others cannot enter ${root}: the rootless tests will fail (chmod o+x ${root})`);
  }
}
for (let dir = path.dirname(root); dir !== path.dirname(dir); dir = path.dirname(dir)) {
  if ((fs.statSync(dir).mode & 0o001) === 0) {
    notes.push(`WARNING: others cannot enter ${dir}: the rootless tests, which run ${root} as other users, will fail`);
  }
}

function readNumber(file) {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
}
if (readNumber('/proc/sys/user/max_user_namespaces') === 0) {
  notes.push('WARNING: /proc/sys/user/max_user_namespaces is 0: user namespaces are disabled, the namespace tests cannot run');
}
if (readNumber('/proc/sys/kernel/unprivileged_userns_clone') === 0) {
  notes.push('WARNING: kernel.unprivileged_userns_clone is 0: rootless tests cannot make user namespaces');
}
if (readNumber('/proc/sys/kernel/apparmor_restrict_unprivileged_userns') === 1) {
  notes.push('WARNING: kernel.apparmor_restrict_unprivileged_userns is 1: rootless user namespaces are restricted');
}

if (notes.length === 0) {
  process.stdout.write(`pretest: ok (${wanted.length} Debian packages, addon and dist/ built, ${TUN} 0666)\n`);
} else {
  for (const note of notes) process.stdout.write(`pretest: ${note}\n`);
}
