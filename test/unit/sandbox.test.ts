/**
 * The sandbox (src/sandbox/, native/sandbox.cc): the cBPF the policy becomes,
 * instruction by instruction; what the engine's, the namespace helper's and
 * the unlinker's filters answer for the calls that matter; the allow-lists
 * against the trace of the whole test suite they were made from
 * (fixtures/sandbox-trace.json); the system call numbers against the
 * kernel's headers; and, on this kernel, a Node process locked as pasta and
 * passt lock themselves, seen from outside (/proc/PID/status of every
 * thread, /proc/PID/root) and from inside (what it may still do, and how a
 * trapped call ends it).
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AUDIT_ARCH, RET, OP, buildProgram, encodeProgram, runProgram, syscallNames, syscallNumber, type Arch, type Rule,
} from '../../src/sandbox/bpf.js';
import {
  ENGINE_DEFAULT_ERRNO, ENGINE_RULES, HELPER_DEFAULT_ERRNO, HELPER_RULES, TRAPPED, UNLINKER_DEFAULT_ERRNO, UNLINKER_RULES,
} from '../../src/sandbox/policy.js';
import { SYSCALLS } from '../../src/sandbox/syscalls.js';
import { capHex, describeSandbox, landlockFsRights } from '../../src/sandbox/index.js';
import { native } from '../../src/native.js';

const landlockAbiHere = (): number => native.landlockAbi();

const here = path.dirname(fileURLToPath(import.meta.url));
const X86 = AUDIT_ARCH.x86_64;
const EPERM = 1;
const EAFNOSUPPORT = 97;
const ENOSYS = 38;
const errnoRet = (e: number): number => (RET.ERRNO | e) >>> 0;

/** What a policy answers for call `name` with these arguments (x86_64). */
function answer(rules: readonly Rule[], defaultErrno: number, name: string, args: number[] = [], arch: Arch = 'x86_64'): number {
  const prog = buildProgram(rules, arch, defaultErrno);
  return runProgram(prog, { nr: syscallNumber(name, arch), arch: AUDIT_ARCH[arch], args });
}

describe('buildProgram', () => {
  it('gives the documented layout, instruction by instruction, for a small policy', () => {
    const rules: Rule[] = [
      { name: 'write', action: { kind: 'allow' } },
      { name: 'read', action: { kind: 'allow' } },
      { name: 'socket', action: { kind: 'allowIf', errno: EAFNOSUPPORT, when: [[{ arg: 0, oneOf: [2, 10] }], [{ arg: 0, oneOf: [16] }, { arg: 2, oneOf: [4] }]] } },
      { name: 'execve', action: { kind: 'trap' } },
      { name: 'clone3', action: { kind: 'errno', errno: ENOSYS } },
    ];
    const prog = buildProgram(rules, 'x86_64', EPERM);
    const I = (code: number, jt: number, jf: number, k: number): [number, number, number, number] => [code, jt, jf, k >>> 0];
    expect(prog.map((i) => [i.code, i.jt, i.jf, i.k])).toEqual([
      I(OP.LD_W_ABS, 0, 0, 4), // arch
      I(OP.JEQ_K, 1, 0, 0xc000003e),
      I(OP.RET_K, 0, 0, RET.KILL_PROCESS),
      I(OP.LD_W_ABS, 0, 0, 0), // nr
      I(OP.JGE_K, 0, 1, 0x40000000), // x32
      I(OP.RET_K, 0, 0, RET.KILL_PROCESS),
      I(OP.JEQ_K, 0, 1, 0), // read
      I(OP.RET_K, 0, 0, RET.ALLOW),
      I(OP.JEQ_K, 0, 1, 1), // write
      I(OP.RET_K, 0, 0, RET.ALLOW),
      I(OP.JEQ_K, 0, 9, 41), // socket: a block of 9
      I(OP.LD_W_ABS, 0, 0, 16), //   family
      I(OP.JEQ_K, 6, 0, 2), //     AF_INET: allow
      I(OP.JEQ_K, 5, 0, 10), //    AF_INET6: allow
      I(OP.LD_W_ABS, 0, 0, 16), //   family, second alternative
      I(OP.JEQ_K, 0, 2, 16), //    AF_NETLINK, else deny
      I(OP.LD_W_ABS, 0, 0, 32), //   protocol
      I(OP.JEQ_K, 1, 0, 4), //     NETLINK_SOCK_DIAG: allow
      I(OP.RET_K, 0, 0, errnoRet(EAFNOSUPPORT)),
      I(OP.RET_K, 0, 0, RET.ALLOW),
      I(OP.JEQ_K, 0, 1, 59), // execve
      I(OP.RET_K, 0, 0, RET.TRAP),
      I(OP.JEQ_K, 0, 1, 435), // clone3
      I(OP.RET_K, 0, 0, errnoRet(ENOSYS)),
      I(OP.RET_K, 0, 0, errnoRet(EPERM)), // anything else
    ]);
    // struct sock_filter, little-endian: code (16 bits), jt, jf, k (32 bits).
    expect([...encodeProgram(prog).subarray(8, 16)]).toEqual([0x15, 0x00, 1, 0, 0x3e, 0x00, 0x00, 0xc0]);
    expect(encodeProgram(prog).length).toBe(prog.length * 8);
  });

  it('in log mode lets everything through, logging what it would refuse (how the policy was traced)', () => {
    const rules: Rule[] = [
      { name: 'read', action: { kind: 'allow' } },
      { name: 'socket', action: { kind: 'allowIf', errno: EAFNOSUPPORT, when: [[{ arg: 0, oneOf: [2] }]] } },
      { name: 'execve', action: { kind: 'trap' } },
    ];
    const prog = buildProgram(rules, 'x86_64', EPERM, 'log');
    const run = (name: string, args: number[] = []): number => runProgram(prog, { nr: syscallNumber(name, 'x86_64'), arch: X86, args });
    expect(run('read')).toBe(RET.ALLOW);
    expect(run('socket', [2])).toBe(RET.ALLOW);
    expect(run('socket', [1])).toBe(RET.LOG);
    expect(run('execve')).toBe(RET.LOG);
    expect(run('openat')).toBe(RET.LOG);
    // A foreign architecture and x32 are killed in either mode.
    expect(runProgram(prog, { nr: 0, arch: 0x40000003 })).toBe(RET.KILL_PROCESS);
  });

  it('refuses two rules for one call, and a call it has no number for', () => {
    expect(() => buildProgram([{ name: 'read', action: { kind: 'allow' } }, { name: 'read', action: { kind: 'trap' } }], 'x86_64', EPERM)).toThrow('read has two rules');
    expect(() => buildProgram([{ name: 'no_such_call', action: { kind: 'allow' } }], 'x86_64', EPERM)).toThrow('unknown system call no_such_call');
  });
});

describe('the policies', () => {
  it('engine: translation, the event loop and memory are allowed; other sockets, processes and files are refused; escapes are trapped', () => {
    const e = (name: string, args: number[] = []): number => answer(ENGINE_RULES, ENGINE_DEFAULT_ERRNO, name, args);
    for (const name of ['read', 'write', 'epoll_wait', 'sendmsg', 'recvmsg', 'sendmmsg', 'recvmmsg', 'splice', 'setsockopt', 'getsockopt', 'mmap', 'munmap', 'futex', 'eventfd2']) {
      expect(e(name), name).toBe(RET.ALLOW);
    }
    expect(e('socket', [2, 1, 0])).toBe(RET.ALLOW); // TCP
    expect(e('socket', [10, 2, 0])).toBe(RET.ALLOW); // UDP over IPv6
    expect(e('socket', [2, 2, 1])).toBe(RET.ALLOW); // ping
    expect(e('socket', [16, 3, 4])).toBe(RET.ALLOW); // NETLINK_SOCK_DIAG
    expect(e('socket', [16, 3, 0])).toBe(errnoRet(EAFNOSUPPORT)); // NETLINK_ROUTE
    expect(e('socket', [1, 1, 0])).toBe(errnoRet(EAFNOSUPPORT)); // AF_UNIX
    expect(e('socket', [17, 3, 0])).toBe(errnoRet(EAFNOSUPPORT)); // AF_PACKET
    expect(e('clone', [0x3d0f00])).toBe(RET.ALLOW); // pthread_create's flags
    expect(e('clone', [0x01200011])).toBe(errnoRet(EPERM)); // fork()'s
    expect(e('clone3')).toBe(errnoRet(ENOSYS));
    expect(e('io_uring_setup')).toBe(errnoRet(ENOSYS));
    expect(e('ioctl', [5, 0x541b])).toBe(RET.ALLOW); // FIONREAD
    expect(e('ioctl', [1, 0x5421])).toBe(RET.ALLOW); // FIONBIO: libuv, wrapping an fd in a stream
    expect(e('ioctl', [5, 0x400454ca])).toBe(errnoRet(EPERM)); // TUNSETIFF: the tap is set up before
    for (const name of ['openat', 'open', 'unlink', 'connect_no_such'].filter((n) => SYSCALLS[n])) expect(e(name), name).toBe(errnoRet(EPERM));
    for (const name of ['execve', 'execveat', 'ptrace', 'mount', 'pivot_root', 'setns', 'unshare', 'bpf', 'init_module']) expect(e(name), name).toBe(RET.TRAP);
  });

  it('helper: sockets in the namespace passed back, nothing else', () => {
    const h = (name: string, args: number[] = []): number => answer(HELPER_RULES, HELPER_DEFAULT_ERRNO, name, args);
    for (const name of ['recvfrom', 'sendmsg', 'close', 'exit_group']) expect(h(name), name).toBe(RET.ALLOW);
    expect(h('socket', [10, 1, 0])).toBe(RET.ALLOW);
    expect(h('socket', [16, 3, 0])).toBe(errnoRet(EAFNOSUPPORT)); // no NETLINK_ROUTE once locked
    for (const name of ['read', 'write', 'openat', 'ioctl', 'mmap']) expect(h(name), name).toBe(errnoRet(EPERM));
    expect(h('setns')).toBe(RET.TRAP);
  });

  it('unlinker: one lstat and one unlink', () => {
    const u = (name: string): number => answer(UNLINKER_RULES, UNLINKER_DEFAULT_ERRNO, name);
    for (const name of ['read', 'write', 'newfstatat', 'unlink', 'exit_group']) expect(u(name), name).toBe(RET.ALLOW);
    for (const name of ['openat', 'socket', 'rename', 'rmdir']) expect(u(name), name).toBe(errnoRet(EPERM));
    expect(u('execve')).toBe(RET.TRAP);
  });

  it('every trapped call is trapped in every program, and the programs build on both architectures', () => {
    for (const [rules, errno] of [[ENGINE_RULES, ENGINE_DEFAULT_ERRNO], [HELPER_RULES, HELPER_DEFAULT_ERRNO], [UNLINKER_RULES, UNLINKER_DEFAULT_ERRNO]] as const) {
      for (const arch of ['x86_64', 'aarch64'] as const) {
        const prog = buildProgram(rules, arch, errno);
        expect(prog.length).toBeLessThan(4096);
        for (const name of TRAPPED) {
          const nr = syscallNumber(name, arch);
          if (nr >= 0) expect(runProgram(prog, { nr, arch: AUDIT_ARCH[arch] }), `${arch} ${name}`).toBe(RET.TRAP);
        }
      }
    }
  });

  it('allows what the trace of the whole test suite saw, and refuses only what it says is refused on purpose', () => {
    const trace = JSON.parse(fs.readFileSync(path.join(here, 'fixtures', 'sandbox-trace.json'), 'utf8')) as {
      core: string[];
      first: Record<'engine' | 'helper' | 'unlinker', Record<string, number>>;
      final: Record<'engine' | 'helper' | 'unlinker', Record<string, number>>;
    };
    const programs = { engine: ENGINE_RULES, helper: HELPER_RULES, unlinker: UNLINKER_RULES } as const;
    // The engine's core list is allowed as such; the helper's and the unlinker's calls are all in their trace.
    const allowed = (rules: readonly Rule[], name: string): boolean => rules.some((r) => r.name === name && (r.action.kind === 'allow' || r.action.kind === 'allowIf'));
    for (const name of trace.core) expect(allowed(ENGINE_RULES, name), name).toBe(true);
    for (const who of ['engine', 'helper', 'unlinker'] as const) {
      const seen = new Set([...Object.keys(trace.first[who]), ...Object.keys(trace.final[who])]);
      const refused = [...seen].filter((name) => !allowed(programs[who], name)).sort();
      expect(refused, who).toEqual(Object.keys(trace.final[who]).sort());
    }
    // What the engine is seen refused, the policy says why (in a comment next to the rule list).
    const policyText = fs.readFileSync(path.join(here, '..', '..', 'src', 'sandbox', 'policy.ts'), 'utf8');
    for (const name of Object.keys(trace.final.engine)) expect(policyText, name).toMatch(new RegExp(`Refused[^]*\\b${name}\\(2\\)`));
  });
});

describe('system call numbers', () => {
  it('are the kernel headers\' (x86_64: <asm/unistd_64.h>, where installed)', () => {
    const header = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';
    const text = fs.readFileSync(header, 'utf8');
    const fromHeader = new Map([...text.matchAll(/^#define __NR_(\w+) (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
    let checked = 0;
    for (const [name, [x86]] of Object.entries(SYSCALLS)) {
      if (x86 < 0) {
        expect(fromHeader.has(name), name).toBe(false);
        continue;
      }
      expect(fromHeader.get(name), name).toBe(x86);
      checked++;
    }
    expect(checked).toBeGreaterThan(300);
    // Every call a policy names has a number here.
    for (const r of [...ENGINE_RULES, ...HELPER_RULES, ...UNLINKER_RULES]) expect(SYSCALLS[r.name], r.name).toBeDefined();
  });

  it('are the generic table\'s on aarch64 (<asm-generic/unistd.h>, where installed)', () => {
    const text = fs.readFileSync('/usr/include/asm-generic/unistd.h', 'utf8');
    const fromHeader = new Map([...text.matchAll(/^#define __NR(?:3264)?_(\w+) (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
    for (const name of ['read', 'write', 'openat', 'socket', 'sendmmsg', 'recvmmsg', 'eventfd2', 'clone', 'clone3', 'mmap', 'unshare', 'setns', 'execve', 'fstat']) {
      expect(SYSCALLS[name][1], name).toBe(fromHeader.get(name));
    }
    expect(syscallNames('aarch64')[SYSCALLS.openat[1]]).toBe('openat');
  });
});

describe('describeSandbox', () => {
  it('says what was applied, and which thread it could not reach', () => {
    const lines = describeSandbox(
      {
        emptyRoot: 'pivot_root',
        keep: 1n << 10n,
        before: { effective: 0x1ffffffffffn, permitted: 0x1ffffffffffn, inheritable: 0n },
        threads: [
          { tid: 10, state: 'self', error: '', effective: 0x400n, permitted: 0x400n },
          { tid: 11, state: 'done', error: '', effective: 0x400n, permitted: 0x400n },
          { tid: 12, state: 'blocked', error: '', effective: 0x1ffffffffffn, permitted: 0x1ffffffffffn },
        ],
        reportFd: -1,
      },
      { instructions: 120, helpers: 1, helperRoots: 1, landlock: 'Landlock ABI 7: no filesystem access, on 2 of 3 threads', mode: 'enforce' },
    );
    expect(lines).toEqual([
      'sandbox: an empty read-only root (pivot_root into a tmpfs, in a mount namespace of our own)',
      'sandbox: capabilities kept: 0000000000000400 (CAP_NET_BIND_SERVICE)',
      'sandbox: 2 of 3 threads reached',
      'sandbox: thread 12 blocks every signal (Node\'s inspector thread): it keeps capabilities 000001ffffffffff and the host\'s root, under the seccomp filter',
      'sandbox: Landlock ABI 7: no filesystem access, on 2 of 3 threads',
      'sandbox: seccomp filter of 120 instructions on every thread, no_new_privs',
      'sandbox: namespace helper: an empty read-only root, no capabilities, its own seccomp filter',
    ]);
    expect(capHex(0n)).toBe('0000000000000000');
  });
});

// A Node process locked with the addon as sandbox/index.ts locks pasta and passt (the empty root
// and capabilities where it has CAP_SYS_ADMIN, Landlock where the kernel has it, the engine's
// filter on every thread), then made to try things. The program is the engine's as built here,
// plus a trap for getppid(2), a call JavaScript can make at will (process.ppid), so that the
// report of a trapped call and the death by SIGSYS are seen for real.
const LOCKED_CHILD = `
const n = require(process.argv[1]);
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const prog = Buffer.from(process.argv[2], 'hex');
const names = JSON.parse(process.argv[3]);
const rights = Number(process.argv[4]);
const report = {};
const caps = n.sandboxCaps(0);
report.admin = Boolean(caps.effective & (1n << 21n));
if (report.admin) {
  const r = n.sandboxEmptyRoot(false);
  n.sandboxThreads({ mntnsFd: r.mntnsFd, bounding: true, keep: 1n << 10n });
  n.close(r.mntnsFd);
}
if (n.sandboxNoNewPrivs() !== 0) throw new Error('no_new_privs');
report.landlock = n.landlockAbi();
if (report.landlock > 0) {
  const fd = n.landlockRuleset(rights);
  report.landlockThreads = n.sandboxThreads({ mntnsFd: -1, bounding: false, keep: null, landlockFd: fd }).map((t) => t.state + (t.error ? ' ' + t.error : ''));
  n.close(fd);
}
const rc = n.sandboxSeccomp(prog, names, -1, 'sandbox-test', false);
if (rc !== 0) throw new Error('seccomp ' + rc);
// Inside: no file opens, no process starts, sockets only of the kinds the engine uses.
try { fs.readFileSync('/etc/hostname'); report.open = 'opened'; } catch (e) { report.open = e.code; }
const r = spawnSync('/bin/true');
report.spawn = r.error ? r.error.code : 'ran ' + r.status;
report.unixSocket = n.socket(1, 1, 0);
const udp = n.socket(2, 2, 0);
report.udpSocket = udp >= 0;
if (udp >= 0) n.close(udp);
// process.stdout is made now, after the lock: libuv sets its fd non-blocking (FIONBIO).
process.stdout.write(JSON.stringify(report) + '\\n');
process.stdin.once('data', () => {
  // getppid(2), which this test's program traps.
  process.stdout.write('survived ' + process.ppid + '\\n');
});
`;

describe('a locked process, on this kernel', () => {
  it('shows Seccomp 2 and NoNewPrivs 1 on every thread, CAP_NET_BIND_SERVICE alone and an empty root as root; opens no file, starts no process; dies of SIGSYS naming a trapped call', async () => {
    const addon = createRequire(import.meta.url).resolve('../../build/Release/passt_native.node');
    const names = syscallNames('x86_64');
        expect(ENGINE_RULES.some((r) => r.name === 'getppid')).toBe(false);
    const prog = encodeProgram(buildProgram([...ENGINE_RULES, { name: 'getppid', action: { kind: 'trap' } }], 'x86_64', ENGINE_DEFAULT_ERRNO));
    const child = spawn(process.execPath, ['-e', LOCKED_CHILD, addon, prog.toString('hex'), JSON.stringify(names), String(landlockFsRights(Math.min(7, landlockAbiHere())))], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const exited = new Promise<[number | null, string | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
    try {
      await expect.poll(() => out.includes('\n') || err.length > 0, { timeout: 10_000 }).toBe(true);
      expect(err).toBe('');
      const report = JSON.parse(out.split('\n')[0]) as Record<string, unknown>;
      expect(report).toMatchObject({ open: 'EPERM', spawn: 'EPERM', unixSocket: -EAFNOSUPPORT, udpSocket: true });
      const pid = child.pid!;
      const field = (text: string, name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1].trim() ?? '';
      const tasks = fs.readdirSync(`/proc/${pid}/task`);
      expect(tasks.length).toBeGreaterThan(1); // Node's threads: TSYNC reached them all
      for (const tid of tasks) {
        const status = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
        expect([field(status, 'Seccomp'), field(status, 'NoNewPrivs')], `thread ${tid}`).toEqual(['2', '1']);
      }
      const main = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      if (report.admin) {
        expect(field(main, 'CapEff')).toBe('0000000000000400');
        expect(fs.readdirSync(`/proc/${pid}/root`)).toEqual([]);
      } else {
        expect(field(main, 'CapEff')).toBe('0000000000000000');
      }
      if ((report.landlock as number) > 0) {
        // Every thread but the inspector's, which blocks every signal.
        const states = report.landlockThreads as string[];
        expect(states.filter((s) => s === 'self' || s === 'done').length).toBeGreaterThanOrEqual(states.length - 1);
        expect(states.every((s) => ['self', 'done', 'blocked', 'gone'].includes(s)), states.join(', ')).toBe(true);
      }
      child.stdin.write('go\n');
      expect(await exited).toEqual([null, 'SIGSYS']);
      expect(err).toBe(`sandbox-test: sandbox: system call getppid (${SYSCALLS.getppid[0]}) is not permitted after set-up; exiting\n`);
      expect(out).not.toContain('survived');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
