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
