#!/usr/bin/env node
// Write the manual pages (doc/pasta.1, ...) from the option table and the
// prose in src/manual.ts, as compiled into dist/ (run `npm run build:ts` first;
// `npm run man` does both). With --check, write nothing and exit 1 if a
// committed page differs from what would be generated.
//
// The list of pages is MAN_PAGES in src/manual.ts: a new front end's page
// (passt.1) is one entry there, and this script needs no change.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');

let manual;
try {
  manual = await import(path.join(root, 'dist', 'manual.js'));
} catch (err) {
  process.stderr.write(`gen-man: cannot load dist/manual.js (run "npm run build:ts" first): ${err.message}\n`);
  process.exit(1);
}
const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

let stale = 0;
for (const page of manual.MAN_PAGES) {
  const file = path.join(root, page.file);
  const text = manual.renderManPage(page, version);
  let current;
  try {
    current = fs.readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === text) continue;
  if (check) {
    process.stderr.write(`gen-man: ${page.file} is out of date: run "npm run man"\n`);
    stale++;
  } else {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    process.stdout.write(`gen-man: wrote ${page.file}\n`);
  }
}
process.exit(stale ? 1 : 0);
