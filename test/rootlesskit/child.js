#!/usr/bin/env node
// The command test/e2e/rootlesskit.test.ts runs under rootlesskit:
// `rootlesskit ... node test/rootlesskit/child.js`.
//
// Theory of operation: it reports what a program started by rootlesskit sees,
// then stays until told to go, so that the test can use the namespaces while
// it lives. It prints one JSON line {"ready": VIEW} on stdout, where VIEW has
// its pid and uid, ROOTLESSKIT_STATE_DIR, the interfaces and routes of its
// network namespace (`ip -j addr`, `ip -j route`) and its /etc/resolv.conf.
// With `--detach-netns` the command itself stays in the parent's network
// namespace and rootlesskit's namespace is the file $ROOTLESSKIT_STATE_DIR/netns
// (created only in that mode): then the `ip` commands run in it through
// nsenter, as a program there would use it. It exits 0 when its stdin closes
// (the test ends rootlesskit that way), 1 with the reason if `ip` fails.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const stateDir = process.env.ROOTLESSKIT_STATE_DIR ?? '';
const netnsFile = stateDir && fs.existsSync(`${stateDir}/netns`) ? `${stateDir}/netns` : undefined;

/** @param {string[]} argv */
function inNetns(argv) {
  const full = netnsFile ? ['nsenter', `--net=${netnsFile}`, '--', ...argv] : argv;
  return execFileSync(full[0], full.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

try {
  const view = {
    pid: process.pid,
    uid: process.getuid?.(),
    stateDir,
    detached: netnsFile !== undefined,
    links: JSON.parse(inNetns(['ip', '-j', 'addr', 'show'])),
    routes: JSON.parse(inNetns(['ip', '-j', 'route', 'show'])),
    resolvConf: fs.readFileSync('/etc/resolv.conf', 'utf8'),
  };
  process.stdout.write(`${JSON.stringify({ ready: view })}\n`);
} catch (err) {
  process.stderr.write(`child.js: ${/** @type {Error} */ (err).message}\n`);
  process.exit(1);
}
process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
