#!/usr/bin/env node
// `npm run prebuild` (and `npm pack`/`npm publish`, through prepack): compile
// the addon into prebuilds/linux-<arch>/node-passt.glibc.node with
// prebuildify, so that `npm install` of the package needs no compiler on a
// machine the prebuild fits (node-gyp-build loads it; see src/native.ts).
//
// Theory of operation:
//   - One prebuild per architecture: the machine's own, and every other one
//     in CROSS whose GNU cross compiler is on PATH (on Debian:
//     `apt-get install g++-aarch64-linux-gnu`); the others are skipped with a
//     note. The addon uses Node-API only (NAPI_VERSION in binding.gyp), so one
//     file serves every Node version from 20 on. The file is tagged "glibc":
//     on a musl system (Alpine) node-gyp-build does not take it and the
//     install builds from source instead.
//   - prebuildify runs `node-gyp rebuild`, which deletes and recreates
//     build/ in its working directory. It works in a copy of binding.gyp and
//     native/ under .cache/prebuild/<platform>-<arch>/ instead, so the
//     checkout's own build/Release (which the loader prefers, and which tests
//     running at the same time use) is never touched, and a cross build never
//     puts a foreign binary there.
//   - Node's headers: when npm does not name a `nodedir` and the headers sit
//     beside the running node (PREFIX/include/node, as in Node's own tarballs
//     and distribution packages), node-gyp is pointed at them, so nothing is
//     downloaded.
//   - Each result is checked: the machine's own prebuild must load, a cross
//     one must be an ELF shared object for its architecture.

import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const prebuildify = require('prebuildify');

/** Architectures we can cross-compile for: Node's name, GNU triplet, ELF e_machine. */
const ARCHES = [
  { arch: 'x64', triplet: 'x86_64-linux-gnu', machine: 0x3e },
  { arch: 'arm64', triplet: 'aarch64-linux-gnu', machine: 0xb7 },
];

const platform = 'linux';
if (os.platform() !== platform) {
  process.stderr.write(`prebuild: this package runs on Linux only (this is ${os.platform()})\n`);
  process.exit(1);
}

function log(line) {
  process.stdout.write(`prebuild: ${line}\n`);
}

/** Absolute path of an executable on PATH, or undefined. */
function which(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Node's headers next to the running binary (PREFIX/include/node), as node-gyp's nodedir. */
function localNodedir() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

/** A fresh copy of what node-gyp needs, so that its `rebuild` happens away from the checkout's build/. */
function stage(arch) {
  const dir = path.join(root, '.cache', 'prebuild', `${platform}-${arch}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(dir, 'binding.gyp'));
  fs.cpSync(path.join(root, 'native'), path.join(dir, 'native'), { recursive: true });
  const { name, version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version, private: true }) + '\n');
  return dir;
}

function run(opts) {
  return new Promise((resolve, reject) => prebuildify(opts, (err) => (err ? reject(err) : resolve())));
}

/** ELF e_machine of a file, or undefined if it is not a 64-bit little-endian ELF file. */
function elfMachine(file) {
  const head = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, head, 0, 20, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return undefined;
  return head.readUInt16LE(18);
}

async function build(target, cross) {
  const cwd = stage(target.arch);
  const out = path.join(root, 'prebuilds', `${platform}-${target.arch}`);
  fs.rmSync(out, { recursive: true, force: true });
  const saved = { ...process.env };
  try {
    if (!process.env.npm_config_nodedir) {
      const nodedir = localNodedir();
      if (nodedir) process.env.npm_config_nodedir = nodedir;
    }
    if (cross) {
      Object.assign(process.env, {
        CC: `${target.triplet}-gcc`,
        CXX: `${target.triplet}-g++`,
        LINK: `${target.triplet}-g++`,
        AR: `${target.triplet}-ar`,
      });
    }
    const nodeGyp = path.join(root, 'node_modules', '.bin', 'node-gyp');
    await run({
      cwd,
      out: root,
      arch: target.arch,
      platform,
      napi: true,
      strip: true,
      stripBin: cross ? `${target.triplet}-strip` : 'strip',
      tagLibc: true,
      libc: 'glibc',
      targets: [{ runtime: 'node', target: process.versions.node }],
      ...(fs.existsSync(nodeGyp) ? { nodeGyp } : {}),
    });
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
  // The namespace holder's program (native/nsholder.cc), which src/native.ts looks for beside
  // the addon; without it the holder and helper stay forked copies of Node (doc/design.md,
  // "The namespace holder").
  // And the launcher (native/launch.cc, statically linked), which bin/pasta.js's first line looks
  // for there when build/Release has none: attaching without a Node in front, and the client of
  // the shared engine (--shared-engine needs it).
  for (const program of ['node-passt-nsholder', 'node-passt-launch']) {
    const built = path.join(cwd, 'build', 'Release', program);
    if (fs.existsSync(built)) {
      fs.copyFileSync(built, path.join(out, program));
      fs.chmodSync(path.join(out, program), 0o755);
    }
  }
  fs.rmSync(cwd, { recursive: true, force: true });
  const files = fs.readdirSync(out).filter((f) => f.endsWith('.node'));
  if (files.length !== 1) throw new Error(`expected one .node file in ${out}, found ${files.length}`);
  const file = path.join(out, files[0]);
  const machine = elfMachine(file);
  if (target.machine !== undefined && machine !== target.machine) {
    throw new Error(`${file} is not an ELF shared object for ${target.arch} (e_machine ${machine})`);
  }
  if (!cross) {
    // Load it in a fresh process: a prebuild that does not load is worse than none.
    execFileSync(process.execPath, ['-e', `const m = require(${JSON.stringify(file)}); if (typeof m.Poller !== 'function') process.exit(1);`], {
      stdio: 'inherit',
    });
  }
  log(`${path.relative(root, file)} (${fs.statSync(file).size} bytes${cross ? `, cross-compiled with ${target.triplet}-g++` : ', loads'})`);
}

const hostArch = os.arch();
const host = ARCHES.find((a) => a.arch === hostArch) ?? { arch: hostArch, triplet: '', machine: undefined };
try {
  await build(host, false);
  for (const target of ARCHES) {
    if (target.arch === hostArch) continue;
    if (!which(`${target.triplet}-g++`)) {
      log(`skipped ${platform}-${target.arch}: no ${target.triplet}-g++ on PATH (Debian: apt-get install g++-${target.triplet})`);
      continue;
    }
    await build(target, true);
  }
} catch (err) {
  process.stderr.write(`prebuild: ${err.message}\n`);
  process.exit(1);
}
