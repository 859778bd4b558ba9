// A shared hold on a test bed (test/lib/testbed.sh) by a run that uses the
// tree without owning it: test/e2e/vhost-user.test.ts and bench/vhost.js run
// QEMU 10.0 from the libvirt bed. While held, `setup.sh umount` (which
// test/e2e/libvirt.test.ts runs when it ends, possibly in the other vitest
// worker at the same time) leaves the tree mounted instead of killing every
// process inside it. Take it before `setup.sh` mounts the tree, release it
// when done.
//
// Theory of operation: flock(1) takes a shared lock on $CACHE/users and runs
// `cat`, which holds it (the lock is on flock's open file, inherited by cat)
// until its standard input closes; do_umount tries an exclusive lock on the
// same file without waiting and leaves when it cannot have it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

/**
 * Hold the bed whose cache is `cache` (e.g. /var/cache/node-passt-libvirt).
 * Resolves once held, with release() (which resolves once let go).
 * @param {string} cache
 * @returns {Promise<{ release: () => Promise<void> }>}
 */
export function holdBed(cache) {
  fs.mkdirSync(cache, { recursive: true });
  const child = spawn('flock', ['-s', '-w', '900', `${cache}/users`, '-c', 'echo held; exec cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.once('error', (e) => reject(new Error(`cannot run flock(1) to hold ${cache}/users: ${e.message}`)));
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('held\n')) {
        resolve({
          release: async () => {
            child.stdin.end();
            await exited;
          },
        });
      }
    });
    exited.then((code) => reject(new Error(`flock(1) on ${cache}/users exited (${code}) before holding it: ${err.trim()}`)));
  });
}
