#!/usr/bin/env node
// npm's "prepack" (before `npm pack` and `npm publish`): make everything the
// tarball carries that is not in git.
//   1. dist/ with tsc, then remove files in dist/ whose source in src/ is
//      gone (tsc never deletes, and the tarball takes dist/ whole).
//   2. The manual pages (scripts/gen-man.js): a page generated from a stale
//      table must not ship.
//   3. The prebuilt addon (scripts/prebuild.js), so that installing the
//      tarball needs no compiler where a prebuild fits.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = (await import('node:module')).createRequire(import.meta.url);

function step(what, file, args) {
  process.stdout.write(`prepack: ${what}\n`);
  execFileSync(process.execPath, [file, ...args], { cwd: root, stdio: 'inherit' });
}

step('compiling TypeScript into dist/', require.resolve('typescript/bin/tsc'), ['-p', 'tsconfig.json']);

/** dist/a/b.js, .d.ts, .js.map -> src/a/b.ts */
function sourceOf(rel) {
  const m = /^(.*?)(\.d\.ts|\.js\.map|\.d\.ts\.map|\.js)$/.exec(rel);
  return m ? path.join(root, 'src', `${m[1]}.ts`) : undefined;
}
function prune(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      prune(file);
      if (fs.readdirSync(file).length === 0) fs.rmdirSync(file);
      continue;
    }
    const source = sourceOf(path.relative(path.join(root, 'dist'), file));
    if (source && !fs.existsSync(source)) {
      process.stdout.write(`prepack: removing stale ${path.relative(root, file)}\n`);
      fs.rmSync(file);
    }
  }
}
prune(path.join(root, 'dist'));

step('generating the manual pages', path.join(root, 'scripts', 'gen-man.js'), []);
step('building the prebuilt addon', path.join(root, 'scripts', 'prebuild.js'), []);
