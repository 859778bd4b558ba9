// A QEMU test guest attached to passt: boot it, run a shell script in it,
// collect what the script prints.
//
//   import { bootGuest } from '../guest/guest.js';
//   const { exitCode, output } = await bootGuest({ socketPath, script: 'udhcpc ...', timeoutMs: 60_000 });
//
// Theory of operation
// -------------------
// ensureGuestImage() (build.js) provides Debian's cloud kernel and a busybox
// initramfs, cached outside the repository. The test's script is packed into a
// second, tiny cpio archive (/test.sh) and appended to the initramfs, in a file
// of its own per boot: the kernel unpacks concatenated archives in order. QEMU
// runs with software emulation (TCG: -enable-kvm hangs on these machines),
// no display, the serial port on its stdio, and one virtio-net NIC whose
// backend is `-netdev stream` connected to passt's UNIX socket. The guest's
// /init (init.sh) brings eth0 up, runs /test.sh between the lines
// "@@GUEST-BEGIN@@" and "@@GUEST-END rc=N@@" and powers off; the output
// returned is what lies between them (with "\r" removed).
//
// Where QEMU runs is the caller's choice: pass `spawn` (for example the test
// topology's host.spawn) so that it runs inside the test's namespaces. QEMU
// needs no network of its own: its only link is the UNIX socket.
//
// startGuest() is the interactive form: `waitFor(regexp)` resolves when the
// output matches, `send(text)` writes to the guest's console (the script's
// stdin), `result` resolves as bootGuest() does.

import { spawn as spawnChild } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureGuestImage, writeCpio } from './build.js';

export { ensureGuestImage } from './build.js';

const BEGIN = '@@GUEST-BEGIN@@';
const END_RE = /@@GUEST-END rc=(\d+)@@/;

/**
 * @typedef {object} GuestOptions
 * @property {string} socketPath        passt's UNIX socket (passt -s PATH)
 * @property {string} script            shell script (busybox sh) run in the guest
 * @property {number} [timeoutMs]       from QEMU's start to power-off; default 90 000
 * @property {number} [memoryMb]        default 256
 * @property {string} [mac]             the NIC's MAC address; default 52:54:00:12:34:56
 * @property {string} [append]          more kernel command line
 * @property {string} [qemu]            QEMU binary; default qemu-system-x86_64
 * @property {boolean} [vhostUser]      attach the NIC with `-netdev vhost-user` (guest memory shared through a memfd), not `-netdev stream`
 * @property {string} [dir]             where this boot's files go (the initramfs, and the kernel when `pathFor` is given); default a new directory under os.tmpdir()
 * @property {(hostPath: string) => string} [pathFor]  the path QEMU sees for a file of `dir` (QEMU runs in another mount namespace: test/lib/enter.sh)
 * @property {(argv: string[], opts: import('node:child_process').SpawnOptions) => import('node:child_process').ChildProcess} [spawn]
 *                                       how to start QEMU (default: child_process.spawn)
 * @property {(line: string) => void} [onLine]  every console line as it arrives (also kernel messages)
 */

/**
 * @typedef {object} GuestResult
 * @property {number} exitCode          the script's exit status
 * @property {string} output            what the script printed
 * @property {string} console           the whole console output
 * @property {number} bootMs            from QEMU's start to the script's start
 * @property {number} totalMs           from QEMU's start to its exit
 */

/**
 * The QEMU command line for a guest.
 * @param {{kernel: string, initrd: string, socketPath: string, memoryMb?: number, mac?: string, append?: string, qemu?: string, vhostUser?: boolean}} o
 * @returns {string[]}
 */
export function qemuArgv(o) {
  const append = ['console=ttyS0', 'quiet', 'loglevel=1', 'panic=-1', 'mitigations=off', 'tsc=reliable', o.append ?? '']
    .filter(Boolean)
    .join(' ');
  const mem = o.memoryMb ?? 256;
  // vhost-user: the back end maps the guest's memory, so it must be a shared file (a memfd) that QEMU passes along.
  const nic = o.vhostUser
    ? ['-object', `memory-backend-memfd,id=m0,size=${mem}M,share=on`, '-numa', 'node,memdev=m0',
      '-chardev', `socket,id=c0,path=${o.socketPath}`, '-netdev', 'vhost-user,id=n0,chardev=c0']
    : ['-netdev', `stream,id=n0,server=off,addr.type=unix,addr.path=${o.socketPath}`];
  return [
    o.qemu ?? 'qemu-system-x86_64',
    '-machine', 'q35',
    '-accel', 'tcg',
    '-m', String(mem),
    '-smp', '1',
    '-nodefaults',
    '-no-user-config',
    '-display', 'none',
    '-serial', 'stdio',
    '-monitor', 'none',
    '-no-reboot',
    '-kernel', o.kernel,
    '-initrd', o.initrd,
    '-append', append,
    '-device', `virtio-net-pci,netdev=n0,mac=${o.mac ?? '52:54:00:12:34:56'},romfile=`,
    ...nic,
  ];
}

/**
 * The initramfs for one boot: the cached image with /test.sh appended.
 * @param {string} baseInitrd @param {string} script @param {string} dir
 */
function initrdWithScript(baseInitrd, script, dir) {
  const file = path.join(dir, 'initramfs.cpio.gz');
  const extra = writeCpio([{ name: 'test.sh', type: 'file', mode: 0o755, data: script }]);
  const base = fs.readFileSync(baseInitrd);
  // The kernel looks for a further archive only at 4-byte boundaries (zeros between are skipped).
  const padding = Buffer.alloc((4 - (base.length % 4)) % 4);
  fs.writeFileSync(file, Buffer.concat([base, padding, extra]));
  return file;
}

/**
 * Boot a guest and start its script; see the top of this file.
 * @param {GuestOptions} opts
 */
export function startGuest(opts) {
  const qemu = opts.qemu ?? 'qemu-system-x86_64';
  if (!qemu.includes('/') && !(process.env.PATH ?? '').split(':').some((d) => d && fs.existsSync(path.join(d, qemu)))) {
    throw new Error(`${qemu} not found: install Debian's qemu-system-x86 package (scripts/pretest.js does)`);
  }
  const image = ensureGuestImage();
  const dir = fs.mkdtempSync(path.join(opts.dir ?? os.tmpdir(), 'passt-guest-'));
  fs.chmodSync(dir, 0o755); // QEMU may run as another user inside the test's namespaces
  const initrd = initrdWithScript(image.initrd, opts.script, dir);
  let kernel = image.kernel;
  if (opts.pathFor) {
    // QEMU sees another file system: the kernel goes beside the initramfs.
    kernel = path.join(dir, 'vmlinuz');
    fs.copyFileSync(image.kernel, kernel);
  }
  const inside = opts.pathFor ?? ((/** @type {string} */ p) => p);
  const argv = qemuArgv({ ...opts, kernel: inside(kernel), initrd: inside(initrd) });
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const started = Date.now();
  const doSpawn = opts.spawn ?? ((a, o) => spawnChild(a[0], a.slice(1), o));
  const child = doSpawn(argv, { stdio: ['pipe', 'pipe', 'pipe'] });

  let consoleText = '';
  let stderr = '';
  let lineBuf = '';
  let beganAt = 0;
  /** @type {Array<{re: RegExp, resolve: (m: RegExpMatchArray) => void, reject: (e: Error) => void, timer: NodeJS.Timeout}>} */
  let waiters = [];

  const scriptOutput = () => {
    const b = consoleText.indexOf(BEGIN);
    if (b < 0) return '';
    const rest = consoleText.slice(consoleText.indexOf('\n', b) + 1);
    const e = rest.search(END_RE);
    return e < 0 ? rest : rest.slice(0, e);
  };
  const tail = () => `--- console (last 4000 characters) ---\n${consoleText.slice(-4000)}\n--- qemu stderr ---\n${stderr.slice(-2000)}`;

  const checkWaiters = () => {
    const out = scriptOutput();
    waiters = waiters.filter((w) => {
      const m = out.match(w.re);
      if (!m) return true;
      clearTimeout(w.timer);
      w.resolve(m);
      return false;
    });
  };

  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (/** @type {string} */ d) => {
    const text = d.replace(/\r/g, '');
    consoleText += text;
    if (!beganAt && consoleText.includes(BEGIN)) beganAt = Date.now();
    if (opts.onLine) {
      lineBuf += text;
      let nl;
      while ((nl = lineBuf.indexOf('\n')) >= 0) {
        opts.onLine(lineBuf.slice(0, nl));
        lineBuf = lineBuf.slice(nl + 1);
      }
    }
    checkWaiters();
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  child.stdin?.on('error', () => {});

  /** @type {Promise<GuestResult>} */
  const result = new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${argv[0]}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      fs.rmSync(dir, { recursive: true, force: true });
      for (const w of waiters) {
        clearTimeout(w.timer);
        w.reject(new Error(`guest ended before its output matched ${w.re}\n${tail()}`));
      }
      waiters = [];
      const end = END_RE.exec(consoleText);
      if (timedOut) {
        reject(new Error(`guest did not finish within ${timeoutMs} ms (${beganAt ? 'script started' : 'script never started'})\n${tail()}`));
      } else if (!end) {
        reject(new Error(`QEMU exited (${code ?? signal}) without the guest's end marker\n${tail()}`));
      } else {
        const now = Date.now();
        resolve({
          exitCode: Number(end[1]),
          output: scriptOutput(),
          console: consoleText,
          bootMs: (beganAt || now) - started,
          totalMs: now - started,
        });
      }
    });
  });
  result.catch(() => {}); // the caller may only use waitFor(); the rejection still reaches result's users

  return {
    /** QEMU's process */
    process: child,
    /** resolves when QEMU has exited; see GuestResult */
    result,
    /** what the script printed so far */
    output: scriptOutput,
    /**
     * Resolves with the match once the script's output matches `re`.
     * @param {RegExp} re @param {number} [waitMs]
     * @returns {Promise<RegExpMatchArray>}
     */
    waitFor(re, waitMs = timeoutMs) {
      return new Promise((resolve, reject) => {
        const m = scriptOutput().match(re);
        if (m) {
          resolve(m);
          return;
        }
        if (child.exitCode !== null || child.signalCode !== null) {
          reject(new Error(`guest has ended; its output never matched ${re}\n${tail()}`));
          return;
        }
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w.timer !== timer);
          reject(new Error(`guest output did not match ${re} within ${waitMs} ms\n${tail()}`));
        }, waitMs);
        waiters.push({ re, resolve, reject, timer });
      });
    },
    /** Write to the guest's console (the script's stdin). @param {string} text */
    send(text) {
      child.stdin?.write(text);
    },
    /** Kill QEMU. */
    kill() {
      child.kill('SIGKILL');
    },
  };
}

/**
 * Boot a guest, run `script`, and resolve with its exit status and output
 * once the guest has powered off. Rejects on timeout or if the guest never
 * reached its end marker, with the console's tail in the message.
 * @param {GuestOptions} opts
 * @returns {Promise<GuestResult>}
 */
export function bootGuest(opts) {
  return startGuest(opts).result;
}
