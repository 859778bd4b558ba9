// The "density" section of bench/run.js: what 1, 10 and 50 namespaces
// attached at once cost in memory, in total, for each pasta: ours one process
// per namespace (the default), ours with --shared-engine, pasta(1) Debian's
// and upstream's (bench/upstream.sh's build, when it is there).
//
// Theory of operation: for each tool and each count N, N fresh namespaces
// (topo.createNetns()) are attached one after another, as root in the
// topology's host namespace, with Podman's kind of command line
// (`--config-net -t none -u none -T none -U none -q`: no port scanning, which
// would only add time), and once all N are ready the memory of every
// translator process is read from /proc: the sum of their proportional set
// sizes (PSS, smaps_rollup: pages shared between processes counted once in
// the total, so a binary or a Node runtime mapped by N processes is not
// counted N times) and, beside it, the plain sum of their resident sets
// (RSS, which does count shared pages again for each process). The
// translator processes are the new processes in the topology's host network
// namespace (the background pasta, pasta(1) itself, the shared engine, the
// launcher's processes that stay with --shared-engine) and their
// descendants (ours: the helper each keeps inside its namespace), the
// namespaces' own holders excluded. Then all N are ended (their files
// deleted, or for the shared engine the processes that stay killed) and the
// section waits until every translator process is gone.
//
// Attaching is as in the startup section (bench/startup.js): the namespace
// is bind-mounted on an empty file in a private mount namespace, and
// pasta(1) and upstream's get `--runas 0`. The shared engine is given the
// namespace's /proc/PID/ns/net instead: one engine per user and mount
// namespace (src/cli/shared.ts), and a mount namespace for each pasta would
// start an engine for each. Its runtime directory is a fresh 0700 one, its
// idle time long enough for the section, and it is killed at the end.
//
// Nothing here touches the machine's network: every namespace is the
// topology's or made under it.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_UPSTREAM_DIR, delay, firstLine, upstreamBuild, upstreamLabel } from './common.js';
import { sharedEngines } from '../test/lib/engines.js';
import { spawnSync } from 'node:child_process';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const OURS = path.join(root, 'bin', 'pasta.js');
export const DENSITY_COUNTS = process.env.DENSITY_COUNTS ? process.env.DENSITY_COUNTS.split(",").map(Number) : [1, 10, 50];
const QUIET = ['--config-net', '-q', '-t', 'none', '-u', 'none', '-T', 'none', '-U', 'none', '-D', 'none'];

/** The path of a command, or undefined. */
function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Every live process: pid -> { ppid, netns }. */
function processes() {
  const out = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const m = /^\d+ \(.*\) (\S) (\d+)/s.exec(stat);
      if (!m || m[1] === 'Z' || m[1] === 'X') continue;
      let netns = '';
      try {
        netns = fs.readlinkSync(`/proc/${entry}/ns/net`);
      } catch {
        // a kernel thread, or gone
      }
      out.set(Number(entry), { ppid: Number(m[2]), netns });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** PSS and RSS of a process, in KiB (0 if it is gone). */
function memoryOf(pid) {
  let pss = 0;
  let rss = 0;
  try {
    pss = Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    // gone meanwhile
  }
  return { pss, rss };
}

/**
 * The translator processes started since `baseline`: new processes in the
 * host network namespace `hostNetns`, but for `exclude`, and their descendants.
 */
function translators(baseline, hostNetns, exclude, more = []) {
  const now = processes();
  const roots = [...now].filter(([pid, p]) => !baseline.has(pid) && p.netns === hostNetns && !exclude.has(pid)).map(([pid]) => pid);
  roots.push(...more.filter((pid) => now.has(pid)));
  const found = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of now) {
      if (!found.has(pid) && found.has(p.ppid) && !exclude.has(pid)) {
        found.add(pid);
        grew = true;
      }
    }
  }
  return [...found];
}

/** Seconds the section may take (for the bench's overall deadline). */
export function densityBudgetS(opts) {
  const total = DENSITY_COUNTS.reduce((a, b) => a + b, 0);
  return densityTools(opts).length * (total * 2 + 30) + 60;
}

/** The tools of this section, among opts.tools: ours, each way, pasta(1) and upstream. */
const densityTools = (opts) => [
  ...(opts.tools.includes('ours') ? ['ours', 'shared'] : []),
  ...opts.tools.filter((t) => t === 'pasta' || t === 'upstream'),
];

/**
 * Measure the memory of N attached namespaces for each tool and count.
 * Returns { date, tools, counts, upstreamTag, notes, results } with
 * results[tool][N] = { pssKiB, rssKiB, processes } or { error }.
 */
export async function measureDensity(topo, opts, log) {
  const tools = densityTools(opts);
  const pastaBin = which('pasta');
  const upstream = upstreamBuild(opts.upstreamDir ?? DEFAULT_UPSTREAM_DIR);
  const results = {};
  const notes = [];
  const out = { date: new Date().toISOString(), tools, counts: DENSITY_COUNTS, upstreamTag: upstream.tag, results, notes };
  const unavailable = {};
  if (tools.includes('pasta') && !pastaBin) unavailable.pasta = 'not available (pasta not installed)';
  if (tools.includes('upstream') && !upstream.available) unavailable.upstream = upstream.reason;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passt-bench-density-'));
  fs.chmodSync(dir, 0o755);
  const runtime = path.join(dir, 'run');
  fs.mkdirSync(runtime, { mode: 0o700 });
  const env = { ...process.env, XDG_RUNTIME_DIR: runtime, NODE_PASTA_ENGINE_IDLE_MS: '600000' };
  delete env.NODE_EXTRA_CA_CERTS;
  env.PATH = `${path.dirname(process.execPath)}:${env.PATH ?? '/usr/bin:/bin'}`;
  const hostNetns = fs.readlinkSync(`/proc/${topo.hostPid}/ns/net`);
  const command = (tool) =>
    tool === 'ours' ? [OURS, ...QUIET] : tool === 'shared' ? [OURS, '--shared-engine', ...QUIET] : [tool === 'upstream' ? upstream.pasta : pastaBin, '--runas', '0', ...QUIET];
  let serial = 0;

  try {
    for (const tool of tools) {
      results[tool] = {};
      for (const n of DENSITY_COUNTS) {
        if (unavailable[tool]) {
          results[tool][n] = { error: unavailable[tool] };
          continue;
        }
        const baseline = processes();
        const holders = new Set();
        /** How to end each: a --netns file to delete, or the PID file of the process that stays. */
        const ends = [];
        try {
          for (let i = 0; i < n; i++) {
            const ns = await topo.createNetns();
            holders.add(ns.pid);
            const k = ++serial;
            const pidFile = path.join(dir, `pasta-${k}.pid`);
            let argv;
            if (tool === 'shared') {
              argv = topo.hostArgs([...command(tool), '-P', pidFile, '--netns', ns.netnsPath]);
              ends.push({ pidFile });
            } else {
              const file = path.join(dir, `netns-${k}`);
              fs.writeFileSync(file, '');
              argv = topo.hostArgs([
                'unshare', '-m', '--propagation', 'private', '--',
                'sh', '-c', 'mount --bind "$1" "$2" && shift 2 && exec "$@"', 'sh', ns.netnsPath, file,
                ...command(tool), '-P', pidFile, '--netns', file,
              ]);
              ends.push({ pidFile, file });
            }
            const r = await topo.execArgs(argv, { timeoutMs: 30_000, env });
            if (r.code !== 0) throw new Error(`${tool}: exit ${r.code ?? r.signal}: ${firstLine(r.stderr) || 'no message'}`);
          }
          // Containers run for a while: what they cost once settled, a second after the last
          // started (the shared engine collects its garbage after an answer), for every tool alike.
          await delay(1000);
          // Every namespace ready: the processes, and their memory (the shared engine's too,
          // though it was started by an earlier cell, and its helpers).
          const pids = translators(baseline, hostNetns, holders, tool === 'shared' ? sharedEngines(`${runtime}/`) : []);
          if (process.env.DENSITY_DEBUG) for (const p of pids) log(`  ${p} ${fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 80)} ${JSON.stringify(memoryOf(p))}`);
          let pssKiB = 0;
          let rssKiB = 0;
          for (const pid of pids) {
            const m = memoryOf(pid);
            pssKiB += m.pss;
            rssKiB += m.rss;
          }
          results[tool][n] = { pssKiB, rssKiB, processes: pids.length };
          log(`density ${tool}, ${n} namespace${n > 1 ? 's' : ''}: ${pids.length} processes, PSS ${(pssKiB / 1024).toFixed(1)} MiB, RSS ${(rssKiB / 1024).toFixed(1)} MiB`);
        } catch (err) {
          results[tool][n] = { error: `failed: ${err.message}` };
          log(`density ${tool}, ${n}: ${results[tool][n].error}`);
        } finally {
          // End them all, and wait until every process of theirs is gone (the shared engine stays, idle).
          const pids = [];
          for (const e of ends) {
            let pid = 0;
            try {
              pid = Number(fs.readFileSync(e.pidFile, 'utf8'));
            } catch {
              // never started
            }
            if (e.file) fs.rmSync(e.file, { force: true });
            else if (pid) process.kill(pid, 'SIGTERM');
            if (pid) pids.push(pid);
          }
          const deadline = Date.now() + 10_000;
          const alive = () => pids.filter((p) => processes().has(p));
          while (alive().length && Date.now() < deadline) await delay(50);
          for (const p of alive()) {
            notes.push(`${tool}: a process did not quit within 10 s of the end of its namespace; killed`);
            try {
              process.kill(p, 'SIGKILL');
            } catch {
              // gone meanwhile
            }
          }
          // The namespaces themselves go with their holders.
          for (const h of holders) {
            try {
              process.kill(h, 'SIGKILL');
            } catch {
              // gone meanwhile
            }
          }
        }
      }
    }
  } finally {
    for (const pid of sharedEngines(`${runtime}/`)) process.kill(pid, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

const LABELS = { ours: 'ours, a process per namespace', shared: 'ours, `--shared-engine`', pasta: 'pasta(1) Debian' };

/** The rows of the density table. */
export function densityRows(section) {
  const out = [];
  for (const n of section.counts ?? DENSITY_COUNTS) {
    for (const tool of section.tools) {
      const c = section.results[tool]?.[n] ?? { error: 'n/a' };
      const ratio = (ref) => {
        const r = section.results[ref]?.[n];
        return c.pssKiB !== undefined && r?.pssKiB ? `${(c.pssKiB / r.pssKiB).toFixed(2)}×` : '–';
      };
      out.push({
        what: String(n),
        tool: tool === 'upstream' ? upstreamLabel(section.upstreamTag) : LABELS[tool] ?? tool,
        median: c.pssKiB !== undefined ? (c.pssKiB / 1024).toFixed(1) : c.error,
        perNs: c.pssKiB !== undefined ? (c.pssKiB / 1024 / n).toFixed(2) : '–',
        rss: c.rssKiB !== undefined ? (c.rssKiB / 1024).toFixed(1) : '–',
        processes: c.processes !== undefined ? String(c.processes) : '–',
        vsPasta: ratio('pasta'),
        vsUpstream: ratio('upstream'),
      });
    }
  }
  return out;
}

export const DENSITY_COLUMNS = [
  ['what', 'namespaces'],
  ['tool', 'tool'],
  ['median', 'total PSS MiB (lower is better)'],
  ['perNs', 'PSS per namespace MiB'],
  ['rss', 'sum of RSS MiB'],
  ['processes', 'processes'],
  ['vsPasta', 'PSS vs pasta(1) Debian'],
  ['vsUpstream', 'PSS vs upstream'],
];

export function densityMethod(section) {
  const notes = section.notes?.length ? `\n\nNotes from this run: ${section.notes.join('; ')}.` : '';
  return `Method: for each tool, ${(section.counts ?? DENSITY_COUNTS).join(', ')} fresh namespaces of the test topology
attached at once, one after another, as root in its host namespace, each with Podman's kind
of command line (\`--config-net -q\`, no forwarded or scanned ports, \`-D none\`); once all are
ready and a second later (settled: the shared engine collects the garbage of its requests once
the answer is out), the memory of every translator process — the new processes in the host network
namespace and their descendants: the background pasta, pasta(1) itself, the shared
engine and the launcher's process that stays for each namespace with \`--shared-engine\`,
ours' helper inside each namespace — read from /proc. "total PSS" sums their
proportional set sizes (smaps_rollup), which count a page shared by k processes as 1/k
in each: the memory they cost together. "sum of RSS" counts shared pages again for
each process. Ours and \`--shared-engine\` are run as programs (the launcher); pasta(1)
and upstream's get \`--runas 0\` as in the startup section. One measurement per cell:
memory does not move with the machine's load as times do. The aim for \`--shared-engine\`:
50 namespaces at most 0.3× the memory of 50 pasta(1) processes.${notes}`;
}
