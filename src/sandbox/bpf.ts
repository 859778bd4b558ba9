/**
 * Seccomp programs: classic BPF built from a policy (policy.ts).
 *
 * Theory of operation: a seccomp filter is a classic BPF program run on
 * struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64
 * args[6]; } at every system call, returning an action. The program built
 * here is a flat list, easy to read back instruction by instruction:
 *
 *     ld  [4]                       arch
 *     jeq #AUDIT_ARCH, 1, 0
 *     ret KILL_PROCESS              a foreign architecture (i386 on x86_64)
 *     ld  [0]                       nr
 *     jge #0x40000000, 0, 1         (x86_64 only: the x32 ABI)
 *     ret KILL_PROCESS
 *     jeq #nr1, 0, 1                one rule per call, in number order
 *     ret ACTION1
 *     ...
 *     ret DEFAULT                   anything else
 *
 * A rule with conditions on arguments replaces its `ret` with a short
 * block: alternatives, each a list of conditions on the low 32 bits of one
 * argument (one of some values, or some bits all set), then `ret ALLOW` if
 * one alternative holds, else `ret` of the rule's errno. Every jump goes
 * forward a few instructions at most, well within cBPF's 8-bit offsets, and
 * every path ends in a `ret`. The kernel caches the result of calls whose
 * rule looks at no argument (SECCOMP's action cache), so the length of the
 * list costs nothing at run time for them.
 *
 * Arguments are read at their little-endian low halves (offset 16 + 8 * i):
 * both architectures here are little-endian, and the arguments compared are
 * ints or flags in the low 32 bits.
 */
import { SYSCALLS } from './syscalls.js';

/** The architectures the sandbox has system call numbers for. */
export type Arch = 'x86_64' | 'aarch64';

/** AUDIT_ARCH_* of each (<linux/audit.h>): EM_* | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE. */
export const AUDIT_ARCH: Readonly<Record<Arch, number>> = { x86_64: 0xc000003e, aarch64: 0xc00000b7 };

/** The x32 ABI's bit in a system call number on x86_64 (__X32_SYSCALL_BIT). */
export const X32_SYSCALL_BIT = 0x40000000;

/** Seccomp actions (<linux/seccomp.h>). */
export const RET = {
  KILL_PROCESS: 0x80000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

/** BPF opcodes used here (<linux/bpf_common.h>). */
export const OP = {
  LD_W_ABS: 0x20, // BPF_LD | BPF_W | BPF_ABS
  JEQ_K: 0x15, // BPF_JMP | BPF_JEQ | BPF_K
  JGE_K: 0x35, // BPF_JMP | BPF_JGE | BPF_K
  JSET_K: 0x45, // BPF_JMP | BPF_JSET | BPF_K
  RET_K: 0x06, // BPF_RET | BPF_K
} as const;

/** Offsets in struct seccomp_data. */
export const DATA = { nr: 0, arch: 4, arg: (i: number): number => 16 + 8 * i } as const;

/** One struct sock_filter. */
export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** A condition on the low 32 bits of argument `arg`: one of the values `oneOf`, or some bit of `anyBit` set. */
export type ArgCondition = { arg: number; oneOf: readonly number[] } | { arg: number; anyBit: number };

/** What a rule does with its call. */
export type Action =
  | { kind: 'allow' }
  /** Allowed when one of the alternatives (each a list of conditions, all of which must hold) holds; else errno. */
  | { kind: 'allowIf'; when: ReadonlyArray<readonly ArgCondition[]>; errno: number }
  | { kind: 'errno'; errno: number }
  /** SIGSYS: the process reports the call and dies (native/sandbox.cc). */
  | { kind: 'trap' };

/** One call of a policy: its name (as in syscalls.ts) and what happens to it. */
export interface Rule {
  name: string;
  action: Action;
}

/** How a policy's denials are carried out: as written, or logged and let through (tracing, see policy.ts). */
export type Mode = 'enforce' | 'log';

/** The number of a call on an architecture, or -1 when it has none. */
export function syscallNumber(name: string, arch: Arch): number {
  const entry = SYSCALLS[name];
  if (!entry) throw new Error(`seccomp: unknown system call ${name}`);
  return entry[arch === 'x86_64' ? 0 : 1];
}

/** The names of an architecture's calls, indexed by number ('' for gaps). */
export function syscallNames(arch: Arch): string[] {
  const names: string[] = [];
  for (const [name, numbers] of Object.entries(SYSCALLS)) {
    const nr = numbers[arch === 'x86_64' ? 0 : 1];
    if (nr < 0) continue;
    while (names.length <= nr) names.push('');
    names[nr] = name;
  }
  return names;
}

const stmt = (code: number, k: number): Insn => ({ code, jt: 0, jf: 0, k: k >>> 0 });
const jump = (code: number, k: number, jt: number, jf: number): Insn => {
  if (jt < 0 || jt > 255 || jf < 0 || jf > 255) throw new Error(`seccomp: jump out of range (${jt}, ${jf})`);
  return { code, jt, jf, k: k >>> 0 };
};
const ret = (k: number): Insn => stmt(OP.RET_K, k);
const errnoRet = (errno: number): number => (RET.ERRNO | (errno & 0xffff)) >>> 0;

/**
 * The block of an `allowIf` rule, entered with the number in the
 * accumulator and leaving by a `ret` on every path: each alternative's
 * conditions in turn (a load of the argument, then its tests); a test that
 * passes goes to the next condition, or to `ret ALLOW` after the last one;
 * a condition that fails goes to the next alternative, or to `ret ERRNO`
 * after the last one.
 */
function conditionBlock(when: ReadonlyArray<readonly ArgCondition[]>, errno: number): Insn[] {
  // Assembled with labels, then resolved to forward offsets.
  type Item = { insn: Insn; t?: string; f?: string } | { label: string };
  const items: Item[] = [];
  when.forEach((conditions, a) => {
    const fail = a === when.length - 1 ? 'deny' : `a${a + 1}`;
    items.push({ label: `a${a}` });
    conditions.forEach((c, ci) => {
      const pass = ci === conditions.length - 1 ? 'allow' : `a${a}c${ci + 1}`;
      items.push({ label: `a${a}c${ci}` }, { insn: stmt(OP.LD_W_ABS, DATA.arg(c.arg)) });
      if ('oneOf' in c) {
        c.oneOf.forEach((v, j) => items.push({ insn: { code: OP.JEQ_K, jt: 0, jf: 0, k: v >>> 0 }, t: pass, f: j === c.oneOf.length - 1 ? fail : undefined }));
      } else {
        items.push({ insn: { code: OP.JSET_K, jt: 0, jf: 0, k: c.anyBit >>> 0 }, t: pass, f: fail });
      }
    });
  });
  items.push({ label: 'deny' }, { insn: ret(errnoRet(errno)) }, { label: 'allow' }, { insn: ret(RET.ALLOW) });
  const at = new Map<string, number>();
  let n = 0;
  for (const item of items) {
    if ('label' in item) at.set(item.label, n);
    else n++;
  }
  const out: Insn[] = [];
  for (const item of items) {
    if ('label' in item) continue;
    const here = out.length + 1;
    const off = (label: string | undefined): number => (label === undefined ? 0 : at.get(label)! - here);
    out.push(item.t !== undefined || item.f !== undefined ? jump(item.insn.code, item.insn.k, off(item.t), off(item.f)) : item.insn);
  }
  return out;
}

/**
 * The program of a policy for an architecture. In `log` mode every action
 * but ALLOW becomes SECCOMP_RET_LOG: the call goes through and the kernel
 * logs it (audit type 1326), which is how the policy was traced.
 */
export function buildProgram(rules: readonly Rule[], arch: Arch, defaultErrno: number, mode: Mode = 'enforce'): Insn[] {
  const seen = new Set<string>();
  const numbered: Array<{ nr: number; rule: Rule }> = [];
  for (const rule of rules) {
    if (seen.has(rule.name)) throw new Error(`seccomp: ${rule.name} has two rules`);
    seen.add(rule.name);
    const nr = syscallNumber(rule.name, arch);
    if (nr >= 0) numbered.push({ nr, rule });
  }
  numbered.sort((a, b) => a.nr - b.nr);
  const deny = (k: number): number => (mode === 'log' ? RET.LOG : k);
  const prog: Insn[] = [
    stmt(OP.LD_W_ABS, DATA.arch),
    jump(OP.JEQ_K, AUDIT_ARCH[arch], 1, 0),
    ret(RET.KILL_PROCESS),
    stmt(OP.LD_W_ABS, DATA.nr),
  ];
  if (arch === 'x86_64') prog.push(jump(OP.JGE_K, X32_SYSCALL_BIT, 0, 1), ret(RET.KILL_PROCESS));
  for (const { nr, rule } of numbered) {
    const a = rule.action;
    let body: Insn[];
    if (a.kind === 'allow') body = [ret(RET.ALLOW)];
    else if (a.kind === 'errno') body = [ret(deny(errnoRet(a.errno)))];
    else if (a.kind === 'trap') body = [ret(deny(RET.TRAP))];
    else {
      body = conditionBlock(a.when, a.errno);
      if (mode === 'log') body = body.map((i) => (i.code === OP.RET_K && i.k !== RET.ALLOW ? ret(RET.LOG) : i));
    }
    prog.push(jump(OP.JEQ_K, nr, 0, body.length), ...body);
  }
  prog.push(ret(deny(errnoRet(defaultErrno))));
  if (prog.length > 4096) throw new Error(`seccomp: ${prog.length} instructions, more than BPF_MAXINSNS`);
  return prog;
}

/** The program as struct sock_filter[] in this machine's byte order (little-endian here). */
export function encodeProgram(prog: readonly Insn[]): Buffer {
  const buf = Buffer.alloc(prog.length * 8);
  prog.forEach((insn, i) => {
    buf.writeUInt16LE(insn.code, i * 8);
    buf.writeUInt8(insn.jt, i * 8 + 2);
    buf.writeUInt8(insn.jf, i * 8 + 3);
    buf.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return buf;
}

/**
 * Run a program on one system call, as the kernel would: for tests, and to
 * check a policy against the calls a trace recorded. Returns the action.
 */
export function runProgram(prog: readonly Insn[], data: { nr: number; arch: number; args?: readonly number[] }): number {
  const word = (off: number): number => {
    if (off === DATA.nr) return data.nr >>> 0;
    if (off === DATA.arch) return data.arch >>> 0;
    const i = (off - 16) / 8;
    if (Number.isInteger(i) && i >= 0 && i < 6) return (data.args?.[i] ?? 0) >>> 0;
    return 0; // high halves and the instruction pointer: zero here
  };
  let acc = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const { code, jt, jf, k } = prog[pc];
    switch (code) {
      case OP.LD_W_ABS:
        acc = word(k);
        break;
      case OP.JEQ_K:
        pc += acc === k ? jt : jf;
        break;
      case OP.JGE_K:
        pc += acc >= k ? jt : jf;
        break;
      case OP.JSET_K:
        pc += (acc & k) >>> 0 ? jt : jf;
        break;
      case OP.RET_K:
        return k >>> 0;
      default:
        throw new Error(`seccomp: opcode ${code} at ${pc} is not one of ours`);
    }
  }
  throw new Error('seccomp: the program ran off its end');
}

/** The architecture of this process, if the sandbox knows it. */
export function currentArch(): Arch | null {
  return process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : null;
}
