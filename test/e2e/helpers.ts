// Small helpers the end-to-end tests share: polling for a condition, the
// test resolver (dnsserver.js) and the test beds' set-up scripts.
//
// Theory of operation: nothing here sleeps to synchronise. `within` polls a
// condition until it holds or a limit passes; `startTestResolver` resolves
// once the resolver says it listens (its JSON lines on standard output),
// collecting every line it prints afterwards; `runScript` runs a set-up
// script to its end with a time limit and gives back its combined output,
// never throwing, so a test can fail with the script's own words.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** test/e2e/dnsserver.js: the resolver every test instance is given (never the machine's). */
export const DNSSERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dnsserver.js');

/** Poll `probe` every 100 ms until it returns true; the time that took, in ms (throws after `limitMs`). */
export async function within(limitMs: number, probe: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await probe()) return Date.now() - t0;
    if (Date.now() - t0 > limitMs) throw new Error(`not within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Wait until a started dnsserver.js (`child`) listens; every JSON line it
 * prints (queries included) is pushed to `lines`, from the start on.
 * Rejects if it exits first or does not listen within 10 s.
 */
export function startTestResolver(child: ChildProcess, lines: Array<Record<string, unknown>> = []): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let listening = false;
    const timer = setTimeout(() => reject(new Error('test resolver did not start')), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as Record<string, unknown>;
        buf = buf.slice(nl + 1);
        lines.push(msg);
        if (msg.listening && !listening) {
          listening = true;
          clearTimeout(timer);
          resolve(lines);
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!listening) reject(new Error(`test resolver exited (${code})`));
    });
  });
}

export { runScript } from '../lib/script.js';

/** What a process's sandbox looks like from outside: its /proc/PID/status lines and its root. */
export interface SandboxStatus {
  /** "2": a seccomp filter. */
  seccomp: string;
  /** "1": no_new_privs. */
  noNewPrivs: string;
  /** Effective capabilities, 16 hex digits. */
  capEff: string;
  /** Real, effective, saved and file system uid, as seen from here. */
  uid: string;
  /** The entries of /proc/PID/root (an empty root has none), or the error reading it. */
  root: string[] | string;
}

/** The sandbox of process `pid`, read from /proc (the tests run as root, who may read /proc/PID/root of anyone). */
export function sandboxStatus(pid: number): SandboxStatus {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1].trim() ?? '';
  let root: string[] | string;
  try {
    root = fs.readdirSync(`/proc/${pid}/root`);
  } catch (err) {
    root = (err as NodeJS.ErrnoException).code ?? String(err);
  }
  return { seccomp: field('Seccomp'), noNewPrivs: field('NoNewPrivs'), capEff: field('CapEff'), uid: field('Uid'), root };
}

/** The children of `pid` (from /proc/PID/task/PID/children). */
export function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** pasta's namespace helper among the children of `pid` (its name is "nshelper"), or undefined. */
export function nsHelperOf(pid: number): number | undefined {
  return childrenOf(pid).find((c) => {
    try {
      return fs.readFileSync(`/proc/${c}/comm`, 'utf8').trim() === 'nshelper';
    } catch {
      return false;
    }
  });
}

export { sharedEngines } from '../lib/engines.js';
