#!/usr/bin/env node
// Time one command, from the moment it is started until it exits:
// `node bench/timeit.js -- CMD [ARG...]`. Prints one JSON line
// {"ms", "closedMs", "code", "signal", "stderr"} on standard output.
//
// Theory of operation: bench/run.js (the "startup" section) runs this helper
// where the command itself must run (in a test namespace, as a test user,
// inside the Podman test bed), so that what is timed is the command alone,
// not the nsenter/setpriv/pivot_root wrappers that put it there. Node's own
// start-up happens before the clock starts. The command's standard output
// and error are pipes, as when Podman runs pasta: "ms" is the time until the
// process exits (pasta's "ready"), "closedMs" until both pipes are closed too
// (a background copy that kept them open would show here), null if they were
// still open 5 s after the exit. Standard error is kept (up to 4 KiB) for the
// report of a failed run.
//
// `--rss`: the command runs under GNU time (/usr/bin/time -f %M) and the line
// has "rssKiB" too, its peak resident set size: ru_maxrss of wait4(), which
// is the largest single process of the command's tree that was waited for
// (not their sum). GNU time's own fork and exec are then in "ms": the bench
// takes the times from runs without --rss.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

let argv = process.argv.slice(2);
const rss = argv[0] === '--rss';
if (rss) argv.shift();
if (argv[0] === '--') argv.shift();
if (!argv.length) {
  process.stderr.write('usage: node bench/timeit.js [--rss] -- CMD [ARG...]\n');
  process.exit(2);
}
let rssFile;
if (rss) {
  rssFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'timeit-')), 'rss');
  argv = ['/usr/bin/time', '-q', '-f', '%M', '-o', rssFile, '--', ...argv];
}
const rssKiB = () => {
  if (!rssFile) return {};
  try {
    const v = Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop());
    fs.rmSync(path.dirname(rssFile), { recursive: true, force: true });
    return Number.isFinite(v) && v > 0 ? { rssKiB: v } : {};
  } catch {
    return {};
  }
};

const start = process.hrtime.bigint();
const elapsed = () => Number(process.hrtime.bigint() - start) / 1e6;
const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
let stderr = '';
child.stdout.resume();
child.stderr.on('data', (d) => {
  if (stderr.length < 4096) stderr += d;
});
let exit;
let closedMs = null;
let open = 2;
const done = () => {
  process.stdout.write(`${JSON.stringify({ ...exit, closedMs, ...rssKiB(), stderr: stderr.slice(0, 4096) })}\n`);
  process.exit(0);
};
for (const stream of [child.stdout, child.stderr]) {
  stream.on('close', () => {
    if (--open === 0) {
      closedMs = elapsed();
      if (exit) done();
    }
  });
}
child.on('error', (err) => {
  exit = { ms: elapsed(), code: null, signal: null };
  stderr += `cannot run ${argv[0]}: ${err.message}`;
  done();
});
child.on('exit', (code, signal) => {
  exit = { ms: elapsed(), code, signal };
  if (open === 0) done();
  else {
    setTimeout(done, 5000); // closedMs stays null: something still holds the pipes
  }
});
