#!/usr/bin/env node
// The test guest's kernel and initramfs: `node test/guest/build.js [--force]`,
// or ensureGuestImage() from guest.js. Prints the paths when done.
//
// Theory of operation
// -------------------
// Everything lives in a cache outside the repository (cacheDir(): $NODE_PASST_GUEST_CACHE,
// else /var/cache/node-passt-guest as root, else ~/.cache/node-passt-guest):
//
//   debs/      the two Debian packages, downloaded once with apt-get download:
//              linux-image-<ver>-cloud-amd64 (bookworm, the machine's own apt
//              sources; <ver> from the linux-image-cloud-amd64 metapackage), and
//              busybox-static from trixie (bookworm's busybox has no udhcpc6).
//              Trixie comes from a private apt configuration under apt/ (its own
//              sources, lists and cache), so the machine's apt sources are never
//              changed and nothing from trixie can be installed by accident.
//              Without network, the Podman chroot's copy (/opt/trixie) serves.
//   vmlinuz    the kernel from the package
//   initramfs.cpio.gz
//              busybox (static) as the only program, /init (init.sh), the
//              DHCP client scripts (dhcp4.sh, dhcp6.sh), /dev/console, and the
//              virtio-net driver modules with their dependencies (read from each
//              module's .modinfo "depends=" list, since the package ships no
//              modules.dep), in load order in /etc/modules.order; and the
//              machine's own iperf3 (/usr/bin/iperf3, for bench/run.js's passt
//              section) with the shared libraries `ldd` lists and the dynamic
//              loader, at the paths ldd gives (left out, with a warning, when
//              the machine has no iperf3).
//   manifest.json
//              versions and a hash of the inputs (this file and the guest scripts):
//              when they match and the files exist, nothing is done; when only the
//              scripts changed, the initramfs is rebuilt from the cached packages.
//
// The cpio archives are written here (newc format, see writeCpio), not with
// cpio(1): guest.js also uses writeCpio to append the test's script as a
// second archive, which the kernel unpacks over the first.
//
// Needs: apt-get, apt-cache and dpkg-deb (always on Debian); root only for
// `apt-get update` of the machine's own lists when they are missing.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { run, trixieApt } from '../lib/debian.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Files whose content decides the initramfs. */
const INPUTS = ['build.js', 'init.sh', 'dhcp4.sh', 'dhcp6.sh'];

/** Kernel modules the guest needs (the rest is built in: IPv6, packet sockets, 8250 console). */
const WANTED_MODULES = ['virtio_pci', 'virtio_net'];

/** Dynamically linked programs copied from this machine into the initramfs, with their libraries. */
const HOST_PROGRAMS = ['/usr/bin/iperf3'];
/** Bump to force a rebuild of cached images when the initramfs layout changes. */
const LAYOUT_VERSION = 2;

const KERNEL_META = 'linux-image-cloud-amd64';
const TRIXIE_CHROOT = '/opt/trixie';

/** @param {string} msg */
function log(msg) {
  if (!process.env.GUEST_BUILD_QUIET) process.stderr.write(`guest-build: ${msg}\n`);
}

/** The cache directory (created). */
export function cacheDir() {
  let dir = process.env.NODE_PASST_GUEST_CACHE;
  if (!dir) {
    if (process.geteuid?.() === 0) dir = '/var/cache/node-passt-guest';
    else dir = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'node-passt-guest');
  }
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** @param {string} dir @param {RegExp} re @returns {string|undefined} newest matching file */
function findFile(dir, re) {
  try {
    const hits = fs.readdirSync(dir).filter((f) => re.test(f)).map((f) => path.join(dir, f));
    hits.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
    return hits[0];
  } catch {
    return undefined;
  }
}

// ---- downloads ---------------------------------------------------------------

/** The package name of the current cloud kernel, from the machine's apt lists. */
function kernelPackageName() {
  const query = () => {
    const r = spawnSync('apt-cache', ['depends', KERNEL_META], { encoding: 'utf8' });
    const m = /Depends: (linux-image-\S+-cloud-amd64)\b/.exec(r.stdout ?? '');
    return m?.[1];
  };
  let name = query();
  if (!name && process.geteuid?.() === 0) {
    log('apt lists lack the cloud kernel: apt-get update');
    run('apt-get', ['-q', 'update'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    name = query();
  }
  if (!name) throw new Error(`apt-cache knows no ${KERNEL_META} (run apt-get update as root)`);
  return name;
}

/** @param {string} debs @returns {string} path of the kernel .deb */
function fetchKernel(debs) {
  const cached = findFile(debs, /^linux-image-.*-cloud-amd64_.*\.deb$/);
  if (cached) return cached;
  const name = kernelPackageName();
  log(`downloading ${name}`);
  run('apt-get', ['-q', 'download', name], { cwd: debs });
  const deb = findFile(debs, /^linux-image-.*-cloud-amd64_.*\.deb$/);
  if (!deb) throw new Error(`apt-get download ${name} left no .deb in ${debs}`);
  return deb;
}

/** @param {string} debs @returns {string} path of the busybox-static .deb (trixie) */
function fetchBusybox(debs) {
  const re = /^busybox-static_.*\.deb$/;
  const cached = findFile(debs, re);
  if (cached) return cached;
  const aptDir = path.join(cacheDir(), 'apt');
  try {
    const opts = trixieApt(aptDir);
    log('downloading busybox-static from trixie (private apt configuration)');
    run('apt-get', [...opts, '-q', 'update']);
    run('apt-get', [...opts, '-q', 'download', 'busybox-static'], { cwd: debs });
  } catch (err) {
    const local = findFile(path.join(TRIXIE_CHROOT, 'var/cache/apt/archives'), re);
    if (!local) throw err;
    log(`apt failed (${String(/** @type {Error} */ (err).message).split('\n')[0]}); using ${local}`);
    fs.copyFileSync(local, path.join(debs, path.basename(local)));
  } finally {
    fs.rmSync(aptDir, { recursive: true, force: true }); // 20 MB of lists, not needed again
  }
  const deb = findFile(debs, re);
  if (!deb) throw new Error(`no busybox-static .deb in ${debs}`);
  return deb;
}

/** @param {string} deb @param {string} field */
function debField(deb, field) {
  return run('dpkg-deb', ['-f', deb, field]).trim();
}

// ---- kernel modules -----------------------------------------------------------

/**
 * The modules (paths) needed for `wanted`, dependencies first.
 * @param {string} modulesDir  .../lib/modules/<version>
 * @param {string[]} wanted
 */
function moduleClosure(modulesDir, wanted) {
  /** @type {Map<string, string>} */ const byName = new Map();
  const walk = (/** @type {string} */ dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const m = /^(.*)\.ko(\.xz|\.zst|\.gz)?$/.exec(e.name);
        if (m) byName.set(m[1].replace(/-/g, '_'), p);
      }
    }
  };
  walk(path.join(modulesDir, 'kernel'));
  /** @type {string[]} */ const order = [];
  const seen = new Set();
  const visit = (/** @type {string} */ name, /** @type {string[]} */ chain) => {
    if (seen.has(name)) return;
    if (chain.includes(name)) throw new Error(`module dependency loop: ${[...chain, name].join(' -> ')}`);
    const file = byName.get(name);
    if (!file) throw new Error(`kernel module ${name} not found under ${modulesDir}`);
    const text = moduleBytes(file).toString('latin1');
    const m = /(?:^|\0)depends=([^\0]*)\0/.exec(text);
    for (const dep of (m?.[1] ?? '').split(',').filter(Boolean)) visit(dep.replace(/-/g, '_'), [...chain, name]);
    seen.add(name);
    order.push(file);
  };
  for (const name of wanted) visit(name, []);
  return order;
}

/** A module file's bytes, decompressed. @param {string} file */
function moduleBytes(file) {
  if (file.endsWith('.gz')) return zlib.gunzipSync(fs.readFileSync(file));
  if (file.endsWith('.xz')) return execFileSync('xz', ['-dc', file], { maxBuffer: 256 << 20 });
  if (file.endsWith('.zst')) return execFileSync('zstd', ['-dc', file], { maxBuffer: 256 << 20 });
  return fs.readFileSync(file);
}

// ---- programs from this machine ---------------------------------------------------

/**
 * The files (absolute paths) a dynamically linked program needs: itself, the
 * libraries `ldd` lists, and the dynamic loader. Empty when it does not exist.
 * @param {string} program
 */
function programClosure(program) {
  if (!fs.existsSync(program)) {
    log(`${program} not found: the guest will have no ${path.basename(program)}`);
    return [];
  }
  const files = [program];
  for (const line of run('ldd', [program]).split('\n')) {
    // "libx.so.1 => /lib/.../libx.so.1 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (m && !files.includes(m[1])) files.push(m[1]);
  }
  return files;
}

/**
 * cpio entries for the programs and their libraries, parent directories first
 * (those in `have` are not repeated; they are added to it).
 * @param {string[]} programs @param {Set<string>} have
 * @returns {CpioEntry[]}
 */
function programEntries(programs, have) {
  /** @type {CpioEntry[]} */ const out = [];
  for (const file of [...new Set(programs.flatMap(programClosure))]) {
    const name = file.replace(/^\/+/, '');
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!have.has(dir)) {
        have.add(dir);
        out.push({ name: dir, type: 'dir' });
      }
    }
    // the content, not the symlink (libraries are mostly symlinks to versioned files)
    out.push({ name, type: 'file', mode: 0o755, data: fs.readFileSync(fs.realpathSync(file)) });
  }
  return out;
}

// ---- cpio (newc) ---------------------------------------------------------------

/**
 * @typedef {object} CpioEntry
 * @property {string} name            path inside the archive, without leading "/"
 * @property {'dir'|'file'|'symlink'|'chardev'} type
 * @property {number} [mode]          permission bits (default 0755 dirs/executables, 0644 files)
 * @property {Buffer|string} [data]   file content, or the symlink's target
 * @property {[number, number]} [rdev] major, minor of a device
 */

/**
 * A cpio archive in the "newc" format the kernel unpacks as an initramfs.
 * @param {CpioEntry[]} entries
 * @returns {Buffer}
 */
export function writeCpio(entries) {
  /** @type {Buffer[]} */ const parts = [];
  let offset = 0;
  const push = (/** @type {Buffer} */ b) => {
    parts.push(b);
    offset += b.length;
  };
  const pad = () => {
    const n = (4 - (offset % 4)) % 4;
    if (n) push(Buffer.alloc(n));
  };
  const hex = (/** @type {number} */ n) => (n >>> 0).toString(16).padStart(8, '0');
  let ino = 1;
  const entry = (/** @type {string} */ name, /** @type {number} */ mode, /** @type {Buffer} */ data, rdev = [0, 0]) => {
    const nameBytes = Buffer.from(`${name}\0`);
    const header = `070701${[ino++, mode, 0, 0, mode & 0o040000 ? 2 : 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0]
      .map(hex)
      .join('')}`;
    push(Buffer.from(header, 'ascii'));
    push(nameBytes);
    pad();
    push(data);
    pad();
  };
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    switch (e.type) {
      case 'dir':
        entry(e.name, 0o040000 | (e.mode ?? 0o755), Buffer.alloc(0));
        break;
      case 'file':
        entry(e.name, 0o100000 | (e.mode ?? 0o644), data);
        break;
      case 'symlink':
        entry(e.name, 0o120000 | 0o777, data);
        break;
      case 'chardev':
        entry(e.name, 0o020000 | (e.mode ?? 0o600), Buffer.alloc(0), e.rdev ?? [0, 0]);
        break;
      default:
        throw new Error(`cpio: unknown entry type ${/** @type {any} */ (e).type}`);
    }
  }
  ino = 0;
  entry('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

// ---- the image ------------------------------------------------------------------

function inputsHash() {
  const h = createHash('sha256');
  h.update(`layout ${LAYOUT_VERSION}\0`);
  for (const p of HOST_PROGRAMS) h.update(`${p} ${fs.existsSync(p) ? fs.statSync(p).size : 'missing'}\0`);
  for (const f of INPUTS) h.update(f).update('\0').update(fs.readFileSync(path.join(here, f)));
  return h.digest('hex').slice(0, 16);
}

/**
 * @typedef {object} GuestImage
 * @property {string} kernel           path of vmlinuz
 * @property {string} initrd           path of initramfs.cpio.gz
 * @property {string} kernelVersion    e.g. 6.1.0-56-cloud-amd64
 * @property {string} kernelPackage    package version
 * @property {string} busyboxVersion   busybox-static package version
 */

/**
 * Make sure the guest kernel and initramfs exist (download and build what is
 * missing or stale) and return their paths.
 * @param {{force?: boolean}} [opts]
 * @returns {GuestImage}
 */
export function ensureGuestImage(opts = {}) {
  const dir = cacheDir();
  const manifestPath = path.join(dir, 'manifest.json');
  const hash = inputsHash();
  if (!opts.force) {
    try {
      const m = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
      if (m.inputs === hash && fs.existsSync(m.kernel) && fs.existsSync(m.initrd)) return m;
    } catch {
      // none yet
    }
  }
  const unlock = lock(path.join(dir, 'lock'));
  try {
    // another process may have built it while we waited for the lock
    const m = opts.force ? undefined : JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    if (m && m.inputs === hash && fs.existsSync(m.kernel) && fs.existsSync(m.initrd)) return m;
  } catch {
    // none yet
  }
  try {
    return build(dir, manifestPath, hash);
  } finally {
    unlock();
  }
}

/**
 * Take a lock directory (waiting for another builder; one older than 10 minutes is stale).
 * @param {string} lockDir
 * @returns {() => void} release
 */
function lock(lockDir) {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      return () => fs.rmSync(lockDir, { recursive: true, force: true });
    } catch (err) {
      if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'EEXIST') throw err;
    }
    try {
      if (Date.now() - fs.statSync(lockDir).mtimeMs > 10 * 60_000) fs.rmSync(lockDir, { recursive: true, force: true });
    } catch {
      // released meanwhile
    }
    if (Date.now() > deadline) throw new Error(`guest image lock ${lockDir} is held too long`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
  }
}

/**
 * Download what is missing and build the image (under the lock).
 * @param {string} dir @param {string} manifestPath @param {string} hash
 * @returns {GuestImage}
 */
function build(dir, manifestPath, hash) {
  const started = Date.now();
  const debs = path.join(dir, 'debs');
  fs.mkdirSync(debs, { recursive: true });
  const kernelDeb = fetchKernel(debs);
  const busyboxDeb = fetchBusybox(debs);

  const work = fs.mkdtempSync(path.join(dir, 'work-'));
  try {
    const kx = path.join(work, 'kernel');
    const bx = path.join(work, 'busybox');
    run('dpkg-deb', ['-x', kernelDeb, kx]);
    run('dpkg-deb', ['-x', busyboxDeb, bx]);
    const vmlinuz = findFile(path.join(kx, 'boot'), /^vmlinuz-/);
    if (!vmlinuz) throw new Error(`no vmlinuz in ${kernelDeb}`);
    const kernelVersion = path.basename(vmlinuz).slice('vmlinuz-'.length);
    const modulesDir = [path.join(kx, 'lib/modules', kernelVersion), path.join(kx, 'usr/lib/modules', kernelVersion)].find((d) =>
      fs.existsSync(d),
    );
    if (!modulesDir) throw new Error(`no modules for ${kernelVersion} in ${kernelDeb}`);
    const busybox = [path.join(bx, 'bin/busybox'), path.join(bx, 'usr/bin/busybox')].find((f) => fs.existsSync(f));
    if (!busybox) throw new Error(`no busybox binary in ${busyboxDeb}`);

    const modules = moduleClosure(modulesDir, WANTED_MODULES);
    const script = (/** @type {string} */ f) => fs.readFileSync(path.join(here, f));
    const baseDirs = ['bin', 'dev', 'etc', 'lib', 'lib/modules', 'proc', 'sys', 'tmp', 'run', 'www'];
    /** @type {CpioEntry[]} */
    const entries = [
      ...baseDirs.map(
        (name) => /** @type {CpioEntry} */ ({ name, type: 'dir' }),
      ),
      { name: 'dev/console', type: 'chardev', rdev: [5, 1] },
      { name: 'dev/null', type: 'chardev', mode: 0o666, rdev: [1, 3] },
      { name: 'bin/busybox', type: 'file', mode: 0o755, data: fs.readFileSync(busybox) },
      { name: 'bin/sh', type: 'symlink', data: 'busybox' },
      { name: 'init', type: 'file', mode: 0o755, data: script('init.sh') },
      { name: 'etc/dhcp4.sh', type: 'file', mode: 0o755, data: script('dhcp4.sh') },
      { name: 'etc/dhcp6.sh', type: 'file', mode: 0o755, data: script('dhcp6.sh') },
      { name: 'etc/passwd', type: 'file', data: 'root:x:0:0:root:/:/bin/sh\n' },
      { name: 'etc/group', type: 'file', data: 'root:x:0:\n' },
      { name: 'etc/modules.order', type: 'file', data: modules.map((m) => `${path.basename(m).replace(/\.(xz|zst|gz)$/, '')}\n`).join('') },
      ...modules.map((m) => /** @type {CpioEntry} */ ({
        name: `lib/modules/${path.basename(m).replace(/\.(xz|zst|gz)$/, '')}`,
        type: 'file',
        data: moduleBytes(m),
      })),
      ...programEntries(HOST_PROGRAMS, new Set(baseDirs)),
    ];
    const initrdData = zlib.gzipSync(writeCpio(entries), { level: 6 });

    const kernel = path.join(dir, 'vmlinuz');
    const initrd = path.join(dir, 'initramfs.cpio.gz');
    fs.copyFileSync(vmlinuz, `${kernel}.tmp`);
    fs.renameSync(`${kernel}.tmp`, kernel);
    fs.writeFileSync(`${initrd}.tmp`, initrdData);
    fs.renameSync(`${initrd}.tmp`, initrd);
    /** @type {GuestImage & {inputs: string, modules: string[], programs: string[]}} */
    const manifest = {
      kernel,
      initrd,
      kernelVersion,
      kernelPackage: debField(kernelDeb, 'Version'),
      busyboxVersion: debField(busyboxDeb, 'Version'),
      modules: modules.map((m) => path.basename(m)),
      programs: HOST_PROGRAMS.filter((p) => fs.existsSync(p)),
      inputs: hash,
    };
    fs.writeFileSync(`${manifestPath}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
    fs.renameSync(`${manifestPath}.tmp`, manifestPath);
    log(
      `built ${initrd} (${(initrdData.length / 1024).toFixed(0)} KiB; kernel ${kernelVersion}, busybox ${manifest.busyboxVersion}) ` +
        `in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    return manifest;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const image = ensureGuestImage({ force: process.argv.includes('--force') });
    process.stdout.write(`${JSON.stringify(image, null, 2)}\n`);
  } catch (err) {
    process.stderr.write(`guest-build: ${/** @type {Error} */ (err).message}\n`);
    process.exit(1);
  }
}
