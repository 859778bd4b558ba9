// CPU per byte: how many CPU seconds a translator spends per gigabyte it
// moves, for the "CPU s/GB" columns of bench/run.js (tcp, udp, splice) and
// bench/passt.js.
//
// Theory of operation: a tool's CPU time is read from the outside, from
// /proc/PID/stat (utime + stime, fields 14 and 15, in clock ticks of
// `getconf CLK_TCK`; every thread of the process included), which any
// process may read, even one that made itself undumpable as pasta(1) does,
// and even across the PID namespaces the tools make. The tool's processes
// are found by a walk of the parent links (field 4) of every process in
// /proc, down from the process the bench started (the tool itself, the
// wrappers before it being exec()s: setpriv, nsenter), but not into the
// command the tool runs (every command of the bench starts as `sh -c`, so the
// walk stops at a process named `sh`: the command and its iperf3), keeping
// those whose name (comm, field 2) is the tool's:
//
//   ours, base   every one: the engine (`node`) and the helper it forks into
//                the namespace (`node` too, or whatever name a build gives it)
//   pasta(1), upstream  `passt.avx2` (pasta re-executes itself as the AVX2
//                build of passt where the CPU has AVX2), `passt` or `pasta`;
//                with a command pasta stays in the foreground, in the PID
//                namespace it was started in, the command's parent
//   slirp4netns  `slirp4netns`, the one process started for the namespace
//   passt        `node` (ours) or `passt.avx2` / `passt` (passt(1))
//
// A sample is the sum over those processes; a process that appears between
// two samples counts from zero, one that is gone at the end is lost (none
// ends during a run). So that the end sample is taken while the tool still
// runs, the measured command is wrapped (markedArgv): it prints a start
// marker, runs iperf3 with its output kept, prints the output and an end
// marker, and waits for its standard input to close, which execMarked()
// does once it has taken the end sample.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { median } from './common.js';

let clkTck;
/** Clock ticks per second of /proc/PID/stat's times (`getconf CLK_TCK`, 100 nearly everywhere). */
export function clockTicks() {
  if (clkTck === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    clkTck = Number(r.stdout?.trim()) > 0 ? Number(r.stdout.trim()) : 100;
  }
  return clkTck;
}

/** Every process: pid -> { ppid, comm, ticks (utime + stime) }. */
export function processTable() {
  const table = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const close = stat.lastIndexOf(')');
    const f = stat.slice(close + 2).split(' '); // f[0] is field 3 (state)
    table.set(Number(entry), {
      ppid: Number(f[1]),
      comm: stat.slice(stat.indexOf('(') + 1, close),
      ticks: Number(f[11]) + Number(f[12]),
    });
  }
  return table;
}

/**
 * `roots` and all their descendants in `table`, parents before children;
 * `prune`: names (comm) of processes left out with all their descendants.
 */
export function descendants(table, roots, prune = []) {
  const children = new Map();
  for (const [pid, p] of table) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(pid);
  }
  const out = roots.filter((pid) => table.has(pid));
  for (let i = 0; i < out.length; i++) {
    out.push(...(children.get(out[i]) ?? []).filter((pid) => !prune.includes(table.get(pid).comm)));
  }
  return out;
}

/** Where the tool's tree stops: the command it runs (the bench's commands are `sh -c ...`). */
const COMMAND_COMMS = ['sh'];

/** Process names of each tool's translator (see the top of this file); '*': any name. */
export const TOOL_COMMS = {
  ours: ['*'],
  base: ['*'],
  pasta: ['passt.avx2', 'passt', 'pasta'],
  upstream: ['passt.avx2', 'passt', 'pasta'],
  slirp4netns: ['slirp4netns'],
};

/**
 * A meter of the CPU time of the processes named `comms` under `roots` (pids,
 * or a function of the pid given to start() that returns them): start(pid)
 * and stop() take a sample each and never throw; result(bytes) is { cpuS,
 * cpuPerGB } over the bytes moved between them, or { cpuError } with the
 * reason there is none. Without `comms` (no translator: the direct rows)
 * result() is {}.
 */
export function cpuMeter(roots, comms) {
  let first;
  let last;
  let error;
  let pids;
  const sample = (pid) => {
    pids ??= typeof roots === 'function' ? roots(pid) : roots;
    const table = processTable();
    const ticks = new Map();
    for (const pid of descendants(table, pids, COMMAND_COMMS)) {
      const p = table.get(pid);
      if (comms.includes('*') || comms.includes(p.comm)) ticks.set(pid, p.ticks);
    }
    return ticks;
  };
  const take = (what, pid) => {
    if (!comms || error) return undefined;
    try {
      const ticks = sample(pid);
      if (!ticks.size) error = `no ${comms.includes('*') ? '' : `${comms.join(', ')} `}process of the tool's at the run's ${what}`;
      return ticks;
    } catch (err) {
      error = `${what}: ${err.message}`;
      return undefined;
    }
  };
  return {
    start(pid) {
      first = take('start', pid);
    },
    stop() {
      last = take('end');
    },
    result(bytes) {
      if (!comms) return {};
      if (error) return { cpuError: error };
      if (!first || !last) return { cpuError: 'the run did not reach its end' };
      let ticks = 0;
      for (const [pid, t] of last) ticks += t - (first.get(pid) ?? 0);
      const cpuS = ticks / clockTicks();
      return bytes > 0 ? { cpuS, cpuPerGB: cpuS / (bytes / 1e9) } : { cpuError: 'no bytes received' };
    },
  };
}

/** ", 0.84 CPU s/GB" for a run's log line, or why there is no figure; '' for no translator. */
export function cpuText(v) {
  if (typeof v.cpuPerGB === 'number') return `, ${v.cpuPerGB.toFixed(2)} CPU s/GB`;
  return v.cpuError ? ` (CPU not measured: ${v.cpuError})` : '';
}

/**
 * Add one run's CPU figure (v.cpuPerGB, or v.cpuError; neither for no
 * translator) to a cell: cpuPerGB [per run], cpuMedian, the first cpuError.
 */
export function addCpu(cell, v) {
  cell.cpuPerGB ??= [];
  if (typeof v.cpuPerGB === 'number') {
    cell.cpuPerGB.push(v.cpuPerGB);
    cell.cpuMedian = median(cell.cpuPerGB);
  } else if (v.cpuError) cell.cpuError ??= v.cpuError;
}

/** A table's "CPU s/GB" for a cell of tool `name`: the median over its runs, or why there is none. */
export function cpuColumn(name, cell) {
  if (typeof cell.cpuMedian === 'number') return cell.cpuMedian.toFixed(2);
  if (name === 'direct') return '– (no translator)';
  if (cell.cpuError) return `not measured (${cell.cpuError})`;
  return cell.runs?.length ? 'not measured' : '–';
}

/** How the "CPU s/GB" columns are measured, for the method paragraphs of RESULTS.md. */
export const CPU_METHOD = `"CPU s/GB" is the translator's CPU time, user + system (so the kernel's work in its
system calls too), per 10^9 bytes the receiver counted: read from the outside, in
/proc/PID/stat, at the start and at the end of each iperf3 run (the command marks both
and waits until the end is read), the median over the runs. Whose CPU: ours, every
process under the \`node bin/pasta.js\` the bench started short of the command (the engine
and the helper it forks into the namespace); pasta(1) and upstream, the process named
\`passt.avx2\` (or \`passt\`, \`pasta\`) under the one started (pasta re-executes itself as the
AVX2 build and, with a command, stays in the foreground, the command's parent, though
undumpable); slirp4netns, its one process. Not counted: iperf3, the command's shell,
and the kernel's work in softirq context, which is charged to whatever process runs.`;

const START = '@@BENCH-START@@';
const END = '@@BENCH-END@@';

/**
 * `argv` wrapped to be run by execMarked(): start marker, the command with
 * its standard output kept, that output, end marker, then wait for stdin to
 * close; the exit status is the command's.
 */
export function markedArgv(argv) {
  return ['sh', '-c', `echo ${START}; out=$("$@"); rc=$?; printf '%s\\n' "$out"; echo ${END}; read x; exit $rc`, 'sh', ...argv];
}

/**
 * Run `full` (a markedArgv() command, already wrapped for the topology) to
 * completion, calling meter.start(pid) at the start marker and meter.stop()
 * at the end marker, before the command is let go; `pid` is the process
 * spawned. Resolves like Topology.execArgs(), with the markers taken out of
 * stdout.
 */
export function execMarked(topo, full, { timeoutMs, env, closeGraceMs = 3000 }, meter) {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = topo.spawnArgs(full, { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
    } catch (err) {
      reject(err);
      return;
    }
    let out = '';
    const err = [];
    let started = false;
    let ended = false;
    let timedOut = false;
    let exit;
    let settled = false;
    const settle = () => {
      if (settled || !exit) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      child.stdout?.destroy();
      child.stderr?.destroy();
      const stdout = out.replace(`${START}\n`, '').replace(`${END}\n`, '');
      resolve({
        code: exit.code,
        signal: exit.signal,
        stdout: Buffer.from(stdout),
        stderr: Buffer.concat(err),
        timedOut,
        ok: exit.code === 0 && !timedOut,
      });
    };
    let grace;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdin?.on('error', () => {});
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d) => {
      out += d;
      if (!started && out.includes(`${START}\n`)) {
        started = true;
        meter.start(child.pid);
      }
      if (started && !ended && out.includes(`${END}\n`)) {
        ended = true;
        meter.stop();
        child.stdin?.end();
      }
    });
    child.stderr?.on('data', (d) => err.push(d));
    child.once('error', (e) => {
      clearTimeout(timer);
      settled = true;
      reject(new Error(`cannot run ${full.join(' ')}: ${e.message}`));
    });
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      grace = setTimeout(settle, timedOut ? 0 : closeGraceMs);
    });
    child.once('close', settle);
  });
}
