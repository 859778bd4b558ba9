#!/usr/bin/env node
// rootlesskit 2.x for test/e2e/rootlesskit.test.ts: `node test/rootlesskit/fetch.js`
// prints the path of the binary (fetching it the first time), or
// ensureRootlesskit() from the test.
//
// Theory of operation
// -------------------
// rootlesskit (the engine under rootless Docker and nerdctl) is a static Go
// binary. Bookworm has none; Debian trixie's `rootlesskit` package is 2.x. So
// the package is downloaded once with `apt-get download` through a PRIVATE apt
// configuration (its own deb822 sources naming trixie, its own lists, cache and
// an empty dpkg status, all under the cache dir; the machine's own sources and
// lists are never read or changed, and nothing from trixie can be installed by
// accident; as test/guest/build.js does for busybox-static; the mirror is
// $MIRROR, default http://deb.debian.org/debian), and unpacked with
// `dpkg-deb -x`. Nothing is installed and nothing lands in the repository:
//
//   $NODE_PASST_ROOTLESSKIT_CACHE  (default /var/cache/node-passt-rootlesskit as
//                                   root, else ~/.cache/node-passt-rootlesskit)
//     debs/rootlesskit_<ver>_amd64.deb   the package, kept
//     root/usr/bin/rootlesskit           its files (dpkg-deb -x)
//     manifest.json                      {version, binary, deb}
//     lock/                              only while fetching: one fetcher at a time (mkdir is atomic)
//
// When manifest.json names a binary that exists and `rootlesskit --version`
// says 2.x, nothing is fetched (no network at all). A first fetch needs only
// Debian's mirror (the private apt lists are deleted afterwards: 20 MB not
// needed again). Unpacking goes to a temporary directory renamed into place, so
// a half-done fetch is never taken for a finished one.
//
// rootlesskit also needs newuidmap/newgidmap (Debian package `uidmap`, which
// scripts/pretest.js installs) and sub-uid ranges; the test provides those
// (see rootlesskit.test.ts), not this script.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, trixieApt } from '../lib/debian.js';


/** Each apt-get call is killed after this long (the test's hook allows 170 s for the whole fetch). */
const APT_TIMEOUT_MS = 75_000;

/** @param {string} msg */
function log(msg) {
  if (!process.env.ROOTLESSKIT_FETCH_QUIET) process.stderr.write(`rootlesskit-fetch: ${msg}\n`);
}

/** The cache directory (created). */
export function cacheDir() {
  let dir = process.env.NODE_PASST_ROOTLESSKIT_CACHE;
  if (!dir) {
    if (process.geteuid?.() === 0) dir = '/var/cache/node-passt-rootlesskit';
    else dir = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'node-passt-rootlesskit');
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o755); // whatever the umask: the test runs the binary as an unprivileged uid
  return dir;
}

/** `rootlesskit --version` -> "2.3.4", or undefined when it does not run. @param {string} binary */
export function binaryVersion(binary) {
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return /rootlesskit version (\S+)/.exec(`${r.stdout ?? ''}`)?.[1];
}

/**
 * @typedef {object} Rootlesskit
 * @property {string} binary   absolute path of the rootlesskit binary
 * @property {string} version  its `--version` ("2.3.4")
 * @property {string} deb      the package it came from
 * @property {boolean} fetched true when this call downloaded it
 */

/** @param {string} dir @returns {Rootlesskit|undefined} the cached copy, when usable */
function cached(dir) {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    const version = binaryVersion(m.binary);
    if (version && /^2\./.test(version)) return { binary: m.binary, version, deb: m.deb, fetched: false };
  } catch {
    // no manifest or no binary: fetch
  }
  return undefined;
}

/**
 * rootlesskit 2.x from the cache, fetched from trixie the first time.
 * Throws with the reason when it cannot be had.
 * @returns {Rootlesskit}
 */
export function ensureRootlesskit() {
  const dir = cacheDir();
  const hit = cached(dir);
  if (hit) return hit;

  // One fetcher at a time (mkdir is atomic); a stale lock older than 10 min is broken.
  const lock = path.join(dir, 'lock');
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch (err) {
      if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - fs.statSync(lock).mtimeMs > 10 * 60_000) fs.rmSync(lock, { recursive: true, force: true });
      } catch {
        // gone meanwhile
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    const again = cached(dir);
    if (again) return again;

    const debs = path.join(dir, 'debs');
    fs.mkdirSync(debs, { recursive: true });
    let deb = fs.readdirSync(debs).find((f) => /^rootlesskit_.*\.deb$/.test(f));
    if (!deb) {
      const aptDir = path.join(dir, 'apt');
      try {
        const opts = trixieApt(aptDir);
        log('downloading rootlesskit from Debian trixie (private apt configuration)');
        // apt-get update exits 0 even when the mirror cannot be reached: look at what it says
        const update = spawnSync('apt-get', [...opts, '-q', 'update'], { encoding: 'utf8', timeout: APT_TIMEOUT_MS });
        const said = `${update.stdout ?? ''}${update.stderr ?? ''}`;
        if (update.error || update.status !== 0 || /^(W|E|Err): .*(Failed to fetch|Could not|Unable|failed)/im.test(said)) {
          throw new Error(`apt-get update of the private trixie lists failed (${update.error?.message ?? `exit ${update.status}`}):\n${said.trim().split('\n').slice(-8).join('\n')}`);
        }
        // into a temporary directory first: a download cut short never looks like a package
        const partial = fs.mkdtempSync(path.join(debs, 'partial-'));
        try {
          const download = spawnSync('apt-get', [...opts, '-q', 'download', 'rootlesskit'], { encoding: 'utf8', cwd: partial, timeout: APT_TIMEOUT_MS });
          if (download.error || download.status !== 0) {
            throw new Error(`apt-get download rootlesskit (trixie) failed (${download.error?.message ?? `exit ${download.status}`}):\n${String(download.stderr ?? '').trim()}`);
          }
          for (const f of fs.readdirSync(partial)) fs.renameSync(path.join(partial, f), path.join(debs, f));
        } finally {
          fs.rmSync(partial, { recursive: true, force: true });
        }
      } finally {
        fs.rmSync(aptDir, { recursive: true, force: true }); // 20 MB of lists, not needed again
      }
      deb = fs.readdirSync(debs).find((f) => /^rootlesskit_.*\.deb$/.test(f));
      if (!deb) throw new Error(`apt-get download rootlesskit left no .deb in ${debs}`);
    }
    const debPath = path.join(debs, deb);

    const tmp = fs.mkdtempSync(path.join(dir, 'root.tmp-'));
    run('dpkg-deb', ['-x', debPath, tmp]);
    const rootDir = path.join(dir, 'root');
    fs.rmSync(rootDir, { recursive: true, force: true });
    fs.renameSync(tmp, rootDir);
    fs.chmodSync(rootDir, 0o755); // mkdtemp made it 0700: the test runs it as an unprivileged uid
    const binary = path.join(rootDir, 'usr', 'bin', 'rootlesskit');
    const version = binaryVersion(binary);
    if (!version) throw new Error(`${binary} (from ${deb}) does not run: ${run('file', [binary]).trim()}`);
    if (!/^2\./.test(version)) throw new Error(`${deb} has rootlesskit ${version}, not 2.x`);
    fs.writeFileSync(path.join(dir, 'manifest.json'), `${JSON.stringify({ version, binary, deb: debPath }, null, 2)}\n`);
    log(`rootlesskit ${version} in ${binary}`);
    return { binary, version, deb: debPath, fetched: true };
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const r = ensureRootlesskit();
    process.stdout.write(`${r.binary}\n`);
  } catch (err) {
    process.stderr.write(`rootlesskit-fetch: ${/** @type {Error} */ (err).message}\n`);
    process.exit(1);
  }
}
