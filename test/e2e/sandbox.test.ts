// The sandbox of pasta and passt (src/sandbox/, doc/design.md), seen from outside while they
// translate: /proc/PID/status (Seccomp: 2, NoNewPrivs: 1, the capabilities and user expected)
// and /proc/PID/root (an empty root where they had CAP_SYS_ADMIN), for the process itself and
// for the processes it keeps (pasta's namespace helper, passt's socket unlinker); as root of
// the topology's host and as an unprivileged user there. Traffic goes through each before it is
// looked at, so the sandbox is the one that translates. (Podman and rootlesskit check theirs in
// podman.test.ts and rootlesskit.test.ts, the API's sandboxed child in api*.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createTopology, rootNote, runInHostAsUser, ADDRESSES as A, type Topology } from './topology.js';
import { childrenOf, nsHelperOf, sandboxStatus } from './helpers.js';
import { FakeGuest, HOST } from './fake-guest.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const PASTA = path.join(root, 'bin', 'pasta.js');
const PASST = path.join(root, 'bin', 'passt.js');
const NODE = process.execPath;
const NOBODY = '65534\t65534\t65534\t65534';
const USER = '1000\t1000\t1000\t1000';

let topo: Topology;
let dir: string;
/** Argv as an unprivileged user (uid 1000) in the host namespace; see pasta-tcp.test.ts's rootless test. */
let asUser: (argv: string[]) => string[];
/** Whether asUser is a real uid 1000 of the initial user namespace (else uid 1000 of a child user namespace). */
let realUser = false;

beforeAll(async () => {
  topo = await createTopology();
  await topo.startRemoteServer('http', ['--port', '80']);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-e2e-'));
  fs.chmodSync(dir, 0o777);
  const probe = await new Promise<number | null>((resolve) => {
    const argv = runInHostAsUser(topo, 1000, 1000, [NODE, '-e', `require('fs').accessSync(${JSON.stringify(PASTA)})`]);
    execFile(argv[0], argv.slice(1), { timeout: 20_000 }, (err) => resolve(err ? 1 : 0));
  });
  realUser = probe === 0;
  asUser = (argv) => (realUser ? runInHostAsUser(topo, 1000, 1000, argv) : topo.hostArgs(['unshare', '-U', '--map-user=1000', '--map-group=1000', '--', ...argv]));
});

afterAll(async () => {
  await topo?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A child's standard output and error as they come, and its end. */
function watch(child: ChildProcess): { out: () => string; err: () => string; exited: Promise<number | null> } {
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { out: () => out, err: () => err, exited };
}

/**
 * pasta running a command that fetches from the remote server, prints pasta's PID (its parent)
 * and waits for a line on its standard input; returns pasta's PID and a way to end it.
 */
async function pastaTranslating(wrap: (argv: string[]) => string[], asProgram = false): Promise<{ pid: number; end: () => Promise<number | null>; err: () => string }> {
  const script = `curl -sS --max-time 10 http://${A.serverV4}/ && echo "pasta $PPID" && read x`;
  // As a program (as a user's shell runs it): bin/pasta.js execs the launcher, which execs node with
  // the options for V8's code cache (native/launch.cc), this node found on PATH.
  const start = asProgram ? [PASTA] : [NODE, PASTA];
  const env = asProgram ? { ...process.env, PATH: `${path.dirname(NODE)}:${process.env.PATH ?? '/usr/bin:/bin'}` } : process.env;
  const child = topo.spawnArgs(wrap([...start, '--config-net', '-q', '--', 'sh', '-c', script]), { stdio: ['pipe', 'pipe', 'pipe'], env });
  const w = watch(child);
  await expect.poll(() => /pasta \d+\n/.test(w.out()) || child.exitCode !== null, { timeout: 30_000 }).toBe(true);
  expect(w.out()).toMatch(/^hello from remote\npasta \d+\n$/);
  const pid = Number(/pasta (\d+)/.exec(w.out())![1]);
  return {
    pid,
    err: w.err,
    end: async () => {
      child.stdin!.end('\n');
      return w.exited;
    },
  };
}

describe('pasta, sandboxed once set up', () => {
  it('as root: switched to nobody, no capabilities, an empty root, the seccomp filter and no_new_privs; its helper locked, with an empty root of its own', async () => {
    const p = await pastaTranslating((argv) => topo.hostArgs(argv));
    try {
      const pasta = sandboxStatus(p.pid);
      if (topo.fullIdMap) {
        expect(pasta).toEqual({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000', uid: NOBODY, root: [] });
      } else {
        // A rootless topology: root of its user namespace, which keeps CAP_NET_BIND_SERVICE alone.
        expect(pasta).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000400', root: [] });
      }
      const helper = nsHelperOf(p.pid);
      expect(helper).toBeDefined();
      expect(sandboxStatus(helper!)).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000', root: [] });
    } finally {
      expect(await p.end()).toBe(0);
    }
    expect(p.err()).toBe(rootNote(topo));
  });

  it('as an unprivileged user: no capabilities, the seccomp filter and no_new_privs on the process; its helper locked with an empty root', async () => {
    const p = await pastaTranslating(asUser);
    try {
      const pasta = sandboxStatus(p.pid);
      expect(pasta).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000' });
      if (realUser) expect(pasta.uid).toBe(USER);
      const helper = nsHelperOf(p.pid);
      expect(helper).toBeDefined();
      expect(sandboxStatus(helper!)).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000', root: [] });
    } finally {
      expect(await p.end()).toBe(0);
    }
  });

  it('run as a program (the launcher; modules loaded with V8\'s code cache): as an unprivileged user, locked all the same', async () => {
    const p = await pastaTranslating(asUser, true);
    try {
      // The launcher's node, with the option that turns the code cache loader on (bin/pasta.js).
      expect(fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0').slice(0, 3)).toEqual(['node', '--experimental-vm-modules', '--no-warnings']);
      expect(sandboxStatus(p.pid)).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000' });
      const helper = nsHelperOf(p.pid);
      expect(helper).toBeDefined();
      expect(sandboxStatus(helper!)).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000', root: [] });
    } finally {
      expect(await p.end()).toBe(0);
    }
    expect(p.err()).toBe('');
  });
});

describe('passt, sandboxed once its socket is bound', () => {
  /** passt -f on a socket of `dir`, serving a fake guest's DHCP; then its sandbox and its unlinker's, and the socket file removed at the end. */
  async function check(wrap: (argv: string[]) => string[], expected: (status: ReturnType<typeof sandboxStatus>) => void): Promise<void> {
    const sock = path.join(dir, `passt-${Math.random().toString(36).slice(2)}.socket`);
    const child = topo.spawnArgs(wrap([NODE, PASST, '-f', '-s', sock]), { stdio: ['ignore', 'pipe', 'pipe'] });
    const w = watch(child);
    try {
      await expect.poll(() => /You can now start qemu/.test(w.err()) || child.exitCode !== null, { timeout: 20_000 }).toBe(true);
      expect(child.exitCode, w.err()).toBeNull();
      const g = await FakeGuest.connect(sock);
      expect([...(await g.dhcp()).get(-1)!]).toEqual([...HOST]);
      await g.close();
      expected(sandboxStatus(child.pid!));
      const unlinker = childrenOf(child.pid!).find((c) => fs.readFileSync(`/proc/${c}/comm`, 'utf8').trim() === 'unlinker');
      expect(unlinker).toBeDefined();
      expect(sandboxStatus(unlinker!)).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000' });
      expect(fs.readFileSync(`/proc/${unlinker}/cmdline`, 'utf8').replace(/\0+$/, '')).toBe(`passt: unlinker of ${sock}`);
    } finally {
      child.kill('SIGTERM');
      expect(await w.exited, w.err()).toBe(0);
    }
    expect(fs.existsSync(sock), w.err()).toBe(false);
  }

  it('as root: switched to nobody, no capabilities, an empty root, the seccomp filter and no_new_privs; the unlinker removes its socket file', async () => {
    await check((argv) => topo.hostArgs(argv), (s) => {
      if (topo.fullIdMap) expect(s).toEqual({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000', uid: NOBODY, root: [] });
      else expect(s).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000400', root: [] });
    });
  });

  it('as an unprivileged user: no capabilities, the seccomp filter and no_new_privs', async () => {
    await check(asUser, (s) => {
      expect(s).toMatchObject({ seccomp: '2', noNewPrivs: '1', capEff: '0000000000000000' });
      if (realUser) expect(s.uid).toBe(USER);
    });
  });
});
