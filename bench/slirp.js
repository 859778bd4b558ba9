// slirp4netns for bench/run.js and bench/forward.js: one copy of its set-up.
//
// A namespace of the test user's own (`unshare -Urn`, held by a shell that
// reads its stdin), slirp4netns attached to it as that user with
// `--configure --mtu=MTU --disable-host-loopback` (and `--api-socket` where
// ports are to be forwarded), ready once tap0 carries the default route.
// Commands run in it through nsenter.

import fs from 'node:fs';
import { delay, firstLine } from './common.js';

/**
 * Start slirp4netns at `mtu`; `asUser(argv)` wraps a command to run as the
 * test user in the topology's host namespace. Resolves with { pid (slirp4netns'
 * process, for its CPU time), inNs(argv) (argv wrapped to run in its
 * namespace), alive() (throws once slirp4netns has exited), teardown() },
 * or throws with the reason (everything it started already ended).
 */
export async function startSlirp(topo, asUser, { mtu, apiSocket }) {
  const holder = topo.spawnArgs(asUser(['unshare', '-Urn', '--', 'sh', '-c', 'echo ready; read x']), { stdio: ['pipe', 'pipe', 'pipe'] });
  holder.stdin?.on('error', () => {});
  let slirp;
  let output = '';
  const teardown = async () => {
    for (const child of [slirp, holder]) {
      if (child && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    }
  };
  const alive = () => {
    if (slirp.exitCode !== null || slirp.signalCode !== null) throw new Error(`slirp4netns exited: ${firstLine(output)}`);
  };
  try {
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('namespace holder did not start')), 10_000);
      holder.stdout?.once('data', () => {
        clearTimeout(t);
        resolve(undefined);
      });
      holder.once('exit', () => {
        clearTimeout(t);
        reject(new Error('namespace holder exited'));
      });
    });
    const pid = String(holder.pid);
    slirp = topo.spawnArgs(
      asUser(['slirp4netns', '--configure', `--mtu=${mtu}`, '--disable-host-loopback', ...(apiSocket ? ['--api-socket', apiSocket] : []), pid, 'tap0']),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    slirp.stdout?.on('data', (d) => (output += d));
    slirp.stderr?.on('data', (d) => (output += d));
    const inNs = (argv) => asUser(['nsenter', '-t', pid, '-U', '-n', '--preserve-credentials', '--', ...argv]);
    const deadline = Date.now() + 10_000;
    for (;;) {
      alive();
      const r = await topo.execArgs(inNs(['ip', '-4', 'route', 'show', 'default']), { timeoutMs: 5000 });
      if (r.stdout.toString().includes('tap0') && (!apiSocket || fs.existsSync(apiSocket))) break;
      if (Date.now() > deadline) throw new Error('slirp4netns did not configure tap0');
      await delay(30);
    }
    return { pid: slirp.pid, inNs, alive, teardown };
  } catch (err) {
    await teardown();
    throw err;
  }
}
