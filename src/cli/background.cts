/**
 * Starting the background copy of an attaching pasta (see cli/pasta.ts), and
 * waiting for its report.
 *
 * Theory of operation: a caller such as Podman waits for the first process
 * to exit, and the first process waits for the background copy to report
 * that the namespace is ready, so the copy's own start (a second Node) is
 * on the path the caller waits on. So the copy starts as early as it can:
 * when the command line may attach (`mayAttach`, a cheap look at the
 * arguments), bin/pasta.js starts it before it loads anything else, and
 * then only waits for its report. The copy parses the arguments (the same
 * parser, the same arguments) and answers on its report pipe with one
 * line: "ok" (the namespace is ready), "error MESSAGE" (a usage error
 * included: the first process prints it as its own, exit 1), or "no": the
 * command line does not go to the background after all (-f, --help, no
 * --netns in the end), and the first process carries on as if nothing had
 * been started. So in the common case the first process never loads the
 * option parser or anything else, and leaves both processors of a small
 * machine to the copy.
 *
 * The copy gets its report pipe as fd 3 and the first process's standard
 * error as fd 4 (the next free numbers when -F hands pasta fd 3 or 4, which
 * the copy gets under its own number), named by two environment variables;
 * its own standard streams are on /dev/null. Node options for the copy: the first process's,
 * plus BACKGROUND_NODE_OPTIONS in NODE_OPTIONS (it loads its modules with
 * V8's code cache, cli/codecache.cts), so that its command line is the
 * first process's, as the caller gave it. NODE_EXTRA_CA_CERTS is dropped from its environment:
 * pasta opens no TLS connection, and that variable makes Node parse every
 * root certificate while starting (some 30 ms).
 *
 * CommonJS (a .cts file), as is bin/pasta.js: a CommonJS entry point starts
 * some milliseconds sooner than an ES module one, which sets up Node's ES
 * module loader first. node:child_process (some milliseconds to load) is
 * loaded only when a copy is started: the copy, which loads this file too,
 * never needs it.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';

/** Environment variable naming the fd on which a background pasta reports that it is ready. */
export const READY_FD_ENV = 'NODE_PASTA_READY_FD';
/** Environment variable naming the background's fd for the first process's standard error, until it is ready. */
export const CONSOLE_FD_ENV = 'NODE_PASTA_CONSOLE_FD';

/**
 * Node options of the background copy, besides the first process's own: it
 * loads its modules with cli/codecache.cts, and its warnings (that one
 * included) would go to /dev/null anyway.
 */
const BACKGROUND_NODE_OPTIONS = ['--experimental-vm-modules', '--no-warnings'];

/** A started background copy; `ready` resolves with its report: "ok", "error MESSAGE" or "no". */
export interface Background {
  child: ChildProcess;
  ready: Promise<string>;
}

/**
 * Could this command line attach to an existing namespace, so that a
 * background copy is worth starting before it is parsed? A cheap look for
 * `--netns` (or an abbreviation of it) before any `--`, and for no plain -f,
 * --help or --version; the copy's parser has the last word. A lone PID (pasta(1)'s other way to attach) is left to
 * the ordinary start, after parsing.
 */
export function mayAttach(argv: readonly string[]): boolean {
  let netns = false;
  for (const arg of argv) {
    if (arg === '--') break;
    // Plainly not going to the background: not worth a copy that would only answer "no".
    if (arg === '-f' || arg === '--foreground' || arg === '-h' || arg === '--help' || arg === '--version') return false;
    // -F hands pasta an fd, which the copy must get too: that is for the parsed path to do.
    if (arg.startsWith('--fd') || /^-[^-]*F/.test(arg)) return false;
    if (arg.startsWith('--ne')) netns = true;
  }
  return netns;
}

/**
 * SharedWanted() of native/shared-client.cc (keep the two in step): does
 * this command line ask for the user's shared engine (src/cli/shared.ts)?
 * --shared-engine (or an abbreviation of it), or NODE_PASTA_SHARED_ENGINE
 * set and not 0, on a command line that may attach; never after the
 * launcher fell back (NODE_PASTA_SHARED_FALLBACK), nor for --help or
 * --version, nor as root of the initial user namespace.
 */
export function sharedWanted(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, rootOfInitialUserns = isRootOfInitialUserns()): boolean {
  if (env.NODE_PASTA_SHARED_FALLBACK || rootOfInitialUserns) return false;
  let wanted = !!env.NODE_PASTA_SHARED_ENGINE && env.NODE_PASTA_SHARED_ENGINE !== '0';
  // Only a command line that may attach: --netns, or a PID last (the engine has the last word).
  let mayAttach = argv.length > 0 && /^\d+$/.test(argv[argv.length - 1]);
  for (const arg of argv) {
    if (arg === '--') break;
    if (arg === '-h' || arg === '--help' || arg === '--version') return false;
    if (arg.length >= 4 && arg.startsWith('--sh') && 'shared-engine'.startsWith(arg.slice(2))) wanted = true;
    if (arg.startsWith('--ne')) mayAttach = true;
  }
  return wanted && mayAttach;
}

/**
 * Is this process root of the initial user namespace (where pasta(1)
 * switches to nobody, and a shared engine of everyone's namespaces would run
 * with every capability)? By the namespace itself, whose inode number is
 * always PROC_USER_INIT_INO (<linux/proc_ns.h>), not by its uid map: a user
 * namespace may map every uid without being the initial one. Unreadable: yes.
 */
export function isRootOfInitialUserns(): boolean {
  if (process.geteuid?.() !== 0) return false;
  try {
    return fs.statSync('/proc/self/ns/user').ino === 0xeffffffd;
  } catch {
    return true;
  }
}

/**
 * Run pasta through the launcher (native/launch.cc), which is the shared
 * engine's client (native/shared-client.cc), and exit as it does: for
 * `node bin/pasta.js --shared-engine ...`, which does not come through it.
 */
export function runLauncher(script: string, argv: readonly string[]): never {
  // Where bin/pasta.js's first line looks: built from source, else the prebuild's copy.
  const path = require('node:path') as typeof import('node:path');
  const root = path.join(__dirname, '..', '..');
  const places = [path.join(root, 'build', 'Release', 'node-passt-launch'), path.join(root, 'prebuilds', `linux-${process.arch}`, 'node-passt-launch')];
  const launcher = places.find((p) => fs.existsSync(p));
  if (!launcher) {
    fs.writeSync(2, `pasta: --shared-engine: no launcher (${places.join(', ')})\n`);
    process.exit(1);
  }
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const r = spawnSync(launcher, [script, ...argv], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

/**
 * Start a detached copy of this pasta with the same arguments: its fd 3 the
 * pipe it reports on, its fd 4 our standard error, and `tapFd` (-F) under
 * its own number.
 */
export function startInBackground(argv: readonly string[], tapFd?: number): Background {
  // -F: the tap device the caller handed us goes to the copy under the same number;
  // the report pipe and our standard error then take the first numbers above 2 it leaves.
  const free = [3, 4, 5].filter((n) => n !== tapFd);
  const [readyFd, consoleFd] = free;
  const stdio: Array<'ignore' | 'pipe' | number> = ['ignore', 'ignore', 'ignore'];
  while (stdio.length <= Math.max(consoleFd, tapFd ?? 0)) stdio.push('ignore');
  stdio[readyFd] = 'pipe';
  stdio[consoleFd] = 2;
  if (tapFd !== undefined) stdio[tapFd] = tapFd;
  const env: NodeJS.ProcessEnv = { ...process.env, [READY_FD_ENV]: String(readyFd), [CONSOLE_FD_ENV]: String(consoleFd) };
  delete env.NODE_EXTRA_CA_CERTS;
  // In NODE_OPTIONS, not on the command line: the copy's command line is the first process's.
  const options = (env.NODE_OPTIONS ?? '').split(' ').filter(Boolean);
  for (const option of BACKGROUND_NODE_OPTIONS) if (!options.includes(option)) options.push(option);
  env.NODE_OPTIONS = options.join(' ');
  // Loaded here, not at the top: see the top of this file.
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...argv], {
    detached: true,
    stdio: stdio as import('node:child_process').StdioOptions,
    env,
  });
  const ready = new Promise<string>((resolve) => {
    let text = '';
    const pipe = child.stdio[readyFd] as NodeJS.ReadableStream;
    pipe.setEncoding('utf8');
    pipe.on('data', (d: string) => {
      text += d;
      if (text.includes('\n')) resolve(text.split('\n')[0]);
    });
    // No report before the pipe closed: the copy died. (Waiting for the end of the pipe, not
    // only for the exit, lets a report written just before the exit arrive first.)
    const died = (): void => {
      const why = child.signalCode ?? `status ${child.exitCode}`;
      resolve(`error the background process exited (${why}) before the namespace was ready`);
    };
    pipe.on('end', () => {
      if (text.includes('\n')) return;
      if (child.exitCode !== null || child.signalCode !== null) died();
      else child.once('exit', died);
    });
    child.on('error', (err) => resolve(`error cannot start the background process: ${err.message}`));
  });
  return { child, ready };
}

/**
 * Wait for a background copy's report and end this process accordingly:
 * exit 0 once the namespace is ready, or exit 1 with the error, as pasta(1)
 * does. Resolves only when the copy answered "no" (it has exited, having
 * done nothing): this process is to carry on by itself.
 */
export async function finishInForeground(background: Background): Promise<void> {
  const line = await background.ready;
  if (line === 'ok') process.exit(0);
  if (line !== 'no') {
    // The copy's error as it would print it itself (JSON-quoted: it may span lines), or one
    // of ours about the copy.
    const message = line.replace(/^error /, '');
    let text: string;
    try {
      text = message.startsWith('"') ? String(JSON.parse(message)) : `pasta: ${message}`;
    } catch {
      text = `pasta: ${message}`;
    }
    fs.writeSync(2, `${text}\n`);
    process.exit(1);
  }
  for (const stream of background.child.stdio) (stream as unknown as { destroy?(): void } | null)?.destroy?.();
}

