// Debian packages for the test beds, fetched without touching the machine's
// apt configuration: test/guest/build.js (trixie's busybox-static) and
// test/rootlesskit/fetch.js (trixie's rootlesskit) use it.
//
// Theory of operation: `trixieApt(dir)` writes a private apt configuration
// under `dir` — a sources file naming Debian trixie on $MIRROR, empty
// preferences, its own lists, cache and an empty dpkg status — and returns
// the `-o` options that make apt-get use only that, so `apt-get update` and
// `apt-get download` there can neither change the machine's sources nor
// install anything. `run` runs a command and throws with its standard error
// when it fails.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Debian's mirror ($MIRROR, as test/podman/setup.sh). */
export const MIRROR = process.env.MIRROR || 'http://deb.debian.org/debian';

const TRIXIE_SOURCES = `Types: deb
URIs: ${MIRROR}
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

/**
 * Run a command; throw with its output if it fails.
 * @param {string} cmd @param {string[]} args @param {import('node:child_process').SpawnSyncOptions} [opts]
 * @returns {string} its standard output
 */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw new Error(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${String(r.stderr ?? '').trim()}`);
  }
  return String(r.stdout ?? '');
}

/**
 * apt-get options for the private trixie configuration under `dir` (created).
 * @param {string} dir
 * @returns {string[]}
 */
export function trixieApt(dir) {
  for (const d of ['etc', 'state/lists/partial', 'cache/archives/partial']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.writeFileSync(path.join(dir, 'etc', 'trixie.sources'), TRIXIE_SOURCES);
  if (!fs.existsSync(path.join(dir, 'state', 'status'))) fs.writeFileSync(path.join(dir, 'state', 'status'), '');
  const arch = run('dpkg', ['--print-architecture']).trim();
  const opts = {
    'Dir::State': path.join(dir, 'state'),
    'Dir::State::status': path.join(dir, 'state', 'status'),
    'Dir::Cache': path.join(dir, 'cache'),
    'Dir::Etc::SourceList': '/dev/null',
    'Dir::Etc::SourceParts': path.join(dir, 'etc'),
    'Dir::Etc::Preferences': '/dev/null',
    'Dir::Etc::PreferencesParts': '/dev/null',
    'APT::Architecture': arch,
    'APT::Architectures': arch,
    'Acquire::Languages': 'none',
    'APT::Sandbox::User': os.userInfo().username,
  };
  return Object.entries(opts).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
}
