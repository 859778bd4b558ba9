#!/usr/bin/env node
// Side-by-side TCP and UDP throughput (with the translator's CPU time per
// byte), ping latency, forwarded-port throughput and connection rate, and
// start-up time of this project's pasta, Debian's pasta(1), upstream's pasta
// built from current source and slirp4netns(1), and of its passt and
// passt(1): `npm run bench` (or `node bench/run.js [options]`).
//
// Theory of operation: everything happens inside the private test topology of
// test/e2e/topology-core.js ("the host" namespace, whose only way out is a
// veth to "the remote" namespace), so no packet can reach the machine's real
// network whatever a tool does. An iperf3 server runs in the remote namespace
// on 203.0.113.10 (a fresh one-off `iperf3 -s -1` per run). In the host
// namespace, as an unprivileged user (rootless, the way pasta is meant to be
// used; uid 1000 by default), each tool gives a new namespace connectivity
// and an iperf3 client in it runs `iperf3 -c 203.0.113.10 -t T -J`, without
// and with -R (namespace -> remote, remote -> namespace):
//
//   ours         node bin/pasta.js --config-net [-m 1500] -- iperf3 ...
//   pasta(1)     pasta --config-net [-m 1500] -- iperf3 ...  (Debian's, a 2023 build)
//   upstream     DIR/pasta --config-net [-m 1500] -- iperf3 ...: upstream's
//                current source, built by bench/upstream.sh into DIR
//                (--upstream-dir; $NODE_PASST_UPSTREAM_DIR, else
//                /var/cache/node-passt-upstream), labelled with its version
//                ("pasta (upstream 2026_07_16)"); without it: "not available
//                (run bench/upstream.sh)"
//   slirp4netns  unshare -Urn (holder) + slirp4netns --configure --mtu=MTU
//                --disable-host-loopback PID tap0; iperf3 run via nsenter
//                (one slirp4netns per MTU, kept for the whole run)
//   direct       iperf3 run in the host namespace itself: no translation, the
//                ceiling of this machine and topology (a reference row); in
//                the tcp section's MTU 1500 cells with -M 1460, the MSS an
//                MTU of 1500 gives, over the same veth: what MSS 1460 costs
//                the kernel alone
//
// Beside each throughput figure (tcp, udp, splice, passt) is the tool's CPU
// time per byte, "CPU s/GB": user + system CPU seconds of the translator's
// processes (/proc/PID/stat, read from the outside at the start and the end
// of each iperf3 run; the command runs in a wrapper that marks both and waits
// until the end sample is taken) per 10^9 bytes the receiver counted. See
// bench/cpu.js for how each tool's processes are found.
//
// Seven sections, each a table (--only picks some; default all but splice,
// `--only all` adds it):
//
//   tcp   one TCP stream; median of N runs (default 3 of 4 s; --quick: 1 of
//         3 s) of the receiver's bits per second, with the tool at MTU 65520
//         and at 1500; the sender's retransmissions (median and sum).
//   udp   `iperf3 -u -b 0 -l 1400` (unlimited rate; --udp-sizes 1400,16000
//         adds 16000 at MTU 65520, where it fits), both directions, the tool
//         at MTU 65520 and at 1500; the server bound to its address (-B);
//         median of N runs (default 3 of 2 s, --udp-time; --quick: 1 of 2 s)
//         of the receiver's rate, and median of the loss percentages.
//   ping  `ping -c 20 -i 0.05 -q 203.0.113.10` from the namespace; median of
//         N per-run average round-trip times (lower is better); then, in the
//         same run, 2000 flooded echoes (not measured) and the steady state,
//         `ping -c 50 -i 0.05`. Rootless tools
//         get ICMP through ping sockets, so in a tool's own namespace the
//         command first widens that namespace's ping_group_range (root in the
//         tool's user namespace may).
//   splice the spliced loopback path of a forwarded port: `pasta -t P` with
//         `iperf3 -s -1` inside the namespace and the client on the host's
//         127.0.0.1:P, and `pasta -T P` with the server on the host's
//         127.0.0.1:P and the client inside connecting to its own
//         127.0.0.1:P; without and with -R, one stream of --time seconds;
//         median of N runs, ours vs pasta(1) and upstream (the other
//         forwards `none` for all), with CPU s/GB. direct: the same over the
//         bare loopback; slirp4netns: its port forwarding (add_hostfwd, no
//         splice path), -t rows only.
//   connrate short TCP connections per second through a forwarded port (-t):
//         bench/connrate.js, 8 loops for 3 s (--connrate-time; --quick: 2)
//         of connect, 16 bytes each way, close; server inside the namespace,
//         client on the host's 127.0.0.1 (spliced) or in the remote
//         namespace from 203.0.113.10 to 198.51.100.2 (tap); median of N
//         runs. See bench/forward.js for both (tools take turns run by run).
//   startup time from invocation until the namespace is ready, ours,
//         pasta(1) and upstream, median of 5 runs (--startup-runs; --quick: 3): `pasta
//         --config-net --netns PATH` (attach, until the first process exits),
//         `pasta --config-net -- true` (spawn, whole run; and its peak RSS,
//         GNU time's maximum resident set size, in up to 3 runs of their
//         own) and `podman run
//         --rm --network pasta IMAGE true` in test/podman's Podman 5 test bed
//         (with `--network none` as the reference; "not available" without
//         root or the test bed). With ours, ours with --shared-engine too
//         (attach and podman, the engine running). See bench/startup.js.
//   density the memory of 1, 10 and 50 namespaces attached at once: total
//         PSS (and the sum of RSS) of every translator process, ours one
//         process per namespace, ours with --shared-engine, pasta(1) and
//         upstream. See bench/density.js.
//   passt a real QEMU guest (test/guest/, TCG) through ours (node
//         bin/passt.js) and upstream's passt (and Debian's passt(1) with
//         --passt-impls ours,passt,upstream), `iperf3 -c 203.0.113.10` and
//         `-R` from the guest, one TCP stream, at MTU 65520 and 1500 (passt
//         -m and the guest's eth0); median of min(N, 3) runs of 3 s (--quick:
//         1 of 2 s), ratios against upstream's (and passt(1)). See
//         bench/passt.js.
//
// Where a tool misbehaves (a failed cell, stalled seconds, heavy TCP
// retransmission), the report lists it at the top ("Where a tool misbehaved
// in this run"), and a ratio against a peer cell that stalled carries
// "(peer stalled N s)": a ratio against a tool's trouble on this kernel is
// not a speed-up.
//
// MTU: the veth between the test namespaces is 65520 throughout; the tools
// run at 65520 (pasta's default, slirp4netns' --mtu) and, in the tcp and udp
// sections, at 1500 too (pasta -m 1500, slirp4netns --mtu=1500), so the 1500
// rows show what the tap's MTU alone costs. The direct rows have no tool MTU:
// measured once, except TCP's, which has an MSS 1460 row among the 1500 ones
// (iperf3 -M 1460). The other sections are at 65520. The results
// are printed as tables and written to bench/RESULTS.md (raw numbers in
// bench/out/results.json). A section left out with --only is carried over
// from the previous bench/out/results.json into RESULTS.md, marked with its
// date. A tool that is missing or fails gets its reason in the table instead
// of a number. Every child has a timeout, the whole run has one, and the
// topology's close() removes every process and namespace the bench made.
//
// The default run (`npm run bench`: 3 runs per cell, --time 4, --udp-time 2,
// --connrate-time 3, 5 start-up runs, two passts in the guest) is sized for
// some 15 minutes on a 2-CPU machine: the MTU 1500 rows and the upstream tool
// doubled the cells, so runs are shorter than they were (TCP 10 s, UDP 4 s)
// and the splice section is left to `--only all` (some 5 minutes more).
// Every log line carries the seconds since the start.
//
// Options: --quick, --runs N, --time SECONDS, --udp-time SECONDS,
//          --only tcp,udp,ping,splice,connrate,startup,density,passt or all,
//          --udp-sizes 1400[,16000], --passt-impls ours,passt,upstream,
//          --tools direct,ours,pasta,upstream,slirp4netns, --connrate-time SECONDS,
//          --upstream-dir DIR (upstream's build, see above),
//          --uid N (--gid N), --no-write (print only), --no-profile,
//          --startup-runs N, --podman-pasta PATH (the pasta(1) that Podman
//          runs in the startup section; default: the one on $PATH),
//          --base-bin PATH (another build's bin/pasta.js, run side by side
//          with ours in the tcp, udp, splice and connrate sections as the
//          tool "base": a change measured against the build before it, in
//          one run),
//          --ours-bin PATH (another build's bin/pasta.js for the startup,
//          splice and connrate sections, to compare builds; for startup
//          inside the repository, which is all that the Podman test bed sees).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { summarizeProfile } from './profile.js';
import { measureStartup, startupBudgetS, startupRows, startupMethod, STARTUP_COLUMNS } from './startup.js';
import { measureDensity, densityBudgetS, densityRows, densityMethod, DENSITY_COLUMNS } from './density.js';
import { measurePasst, passtBudgetS, passtImpls, passtRows, passtMethod, PASST_COLUMNS } from './passt.js';
import {
  measureSplice, measureConnrate, spliceBudgetS, connrateBudgetS, spliceRows, connrateRows, spliceMethod, connrateMethod,
  SPLICE_COLUMNS, CONNRATE_COLUMNS,
} from './forward.js';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, runInHostAsUser, ADDRESSES } from '../test/e2e/topology-core.js';
import { DEFAULT_UPSTREAM_DIR, delay, firstLine, iperfJson, median, parseIperf, upstreamBuild, upstreamLabel } from './common.js';
import { CPU_METHOD, TOOL_COMMS, addCpu, clockTicks, cpuColumn, cpuMeter, cpuText, execMarked, markedArgv } from './cpu.js';
import { startSlirp } from './slirp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SERVER = ADDRESSES.serverV4;
const PORT = 5201;
const MTU = ADDRESSES.mtu;
/** The tools' MTUs in the tcp and udp sections: pasta's default (and the veth's), and Ethernet's. */
const MTUS = [MTU, 1500];
const TOOLS = ['direct', 'ours', 'base', 'pasta', 'upstream', 'slirp4netns'];

// ---- options -----------------------------------------------------------------

const SECTIONS = ['tcp', 'udp', 'ping', 'splice', 'connrate', 'startup', 'density', 'passt'];
/** The default run: every section but splice (`--only all` adds it), to stay near a quarter of an hour. */
const DEFAULT_SECTIONS = SECTIONS.filter((s) => s !== 'splice');
const TITLES = {
  tcp: 'TCP throughput',
  udp: 'UDP throughput',
  ping: 'Ping latency',
  splice: 'Spliced loopback path: forwarded ports, -t and -T',
  connrate: 'Connection rate through a forwarded port',
  startup: 'Start-up time',
  density: 'Memory of many namespaces at once',
  passt: 'passt: a QEMU guest, ours vs passt(1) (Debian\'s and upstream\'s)',
};

function parseOptions(argv) {
  const opts = {
    runs: 3,
    time: 4,
    udpTime: undefined,
    only: DEFAULT_SECTIONS,
    udpSizes: [1400],
    tools: ['direct', 'ours', 'pasta', 'upstream', 'slirp4netns'],
    upstreamDir: DEFAULT_UPSTREAM_DIR,
    uid: 1000,
    gid: undefined,
    write: true,
    quick: false,
    profile: true,
    startupRuns: undefined,
    podmanPasta: undefined,
    connrateTime: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--no-profile') {
      opts.profile = false;
      continue;
    }
    if (a === '--quick') {
      opts.quick = true;
      opts.runs = 1;
      opts.time = 3;
      opts.udpTime ??= 2;
      opts.startupRuns ??= 3;
      opts.connrateTime ??= 2;
    } else if (a === '--runs') opts.runs = Number(value());
    else if (a === '--time') opts.time = Number(value());
    else if (a === '--udp-time') opts.udpTime = Number(value());
    else if (a === '--connrate-time') opts.connrateTime = Number(value());
    else if (a === '--only') {
      const v = value();
      opts.only = v === 'all' ? [...SECTIONS] : v.split(',').filter(Boolean);
    } else if (a === '--udp-sizes') opts.udpSizes = value().split(',').filter(Boolean).map(Number);
    else if (a === '--tools') opts.tools = value().split(',').filter(Boolean);
    else if (a === '--uid') opts.uid = Number(value());
    else if (a === '--gid') opts.gid = Number(value());
    else if (a === '--no-write') opts.write = false;
    else if (a === '--startup-runs') opts.startupRuns = Number(value());
    else if (a === '--podman-pasta') opts.podmanPasta = value();
    else if (a === '--ours-bin') opts.oursBin = value();
    else if (a === '--base-bin') opts.baseBin = value();
    else if (a === '--upstream-dir') opts.upstreamDir = value();
    else if (a === '--passt-impls') opts.passtImpls = value().split(',').filter(Boolean);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: node bench/run.js [--quick] [--runs N] [--time S] [--udp-time S] [--connrate-time S]\n' +
          '                         [--only tcp,udp,ping,splice,connrate,startup,density,passt|all] [--udp-sizes 1400,16000]\n' +
          '                         [--passt-impls ours,passt,upstream]\n' +
          '                         [--tools direct,ours,pasta,upstream,slirp4netns] [--uid N] [--gid N] [--no-write] [--no-profile]\n' +
          '                         [--startup-runs N] [--podman-pasta PATH] [--ours-bin PATH] [--base-bin PATH]\n' +
          '                         [--upstream-dir DIR]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  opts.gid ??= opts.uid;
  // UDP reaches its rate at once (no slow start): shorter runs than TCP's keep the whole bench short.
  opts.udpTime ??= Math.min(opts.time, 2);
  opts.connrateTime ??= 3;
  opts.startupRuns ??= 5;
  for (const sec of opts.only) if (!SECTIONS.includes(sec)) throw new Error(`unknown section ${sec} (--only: ${SECTIONS.join(',')} or all)`);
  for (const size of opts.udpSizes) {
    if (!(Number.isInteger(size) && size > 0 && size <= 65000)) throw new Error('--udp-sizes: datagram sizes in bytes, 1 to 65000');
  }
  if (!(opts.runs >= 1 && Number.isInteger(opts.runs))) throw new Error('--runs: a whole number, 1 or more');
  passtImpls(opts); // throws on an unknown one
  for (const t of opts.tools) {
    if (!TOOLS.includes(t)) throw new Error(`unknown tool ${t}`);
  }
  if (opts.baseBin && !opts.tools.includes('base')) opts.tools.splice(opts.tools.indexOf('ours') + 1, 0, 'base');
  if (opts.tools.includes('base') && !opts.baseBin) throw new Error('the tool base needs --base-bin PATH');
  for (const s of opts.only) {
    if (!SECTIONS.includes(s)) throw new Error(`unknown section ${s} (--only takes ${SECTIONS.join(',')})`);
  }
  if (!opts.only.length) throw new Error(`--only needs at least one of ${SECTIONS.join(',')}`);
  if (!(opts.runs >= 1) || !(opts.time >= 1) || !(opts.udpTime >= 1) || !(opts.startupRuns >= 1) || !(opts.connrateTime >= 1)) {
    throw new Error('--runs, --time, --udp-time, --connrate-time and --startup-runs must be at least 1');
  }
  return opts;
}

// ---- facts about the machine and the tools ------------------------------------

function tryRun(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) return undefined;
  return `${r.stdout}${r.stderr}`.trim();
}

function dpkgVersion(pkg) {
  return tryRun('dpkg-query', ['-W', '-f=${Version}', pkg]);
}

function cpuModel() {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? m[1].trim() : 'unknown';
  } catch {
    return 'unknown';
  }
}

function ourVersion() {
  let version = 'unknown';
  try {
    version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  } catch {
    // keep unknown
  }
  const commit = tryRun('git', ['-C', root, 'rev-parse', '--short', 'HEAD']);
  const dirty = tryRun('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no']);
  return `${version}${commit ? ` (${commit}${dirty ? ', modified' : ''})` : ''}`;
}

function facts(opts) {
  const pastaVersion = tryRun('pasta', ['--version'])?.split('\n')[0];
  const upstream = upstreamBuild(opts.upstreamDir);
  return {
    date: new Date().toISOString(),
    kernel: os.release(),
    cpu: cpuModel(),
    cpus: os.cpus().length,
    node: process.version,
    ours: ourVersion(),
    pasta: `passt ${dpkgVersion('passt') ?? 'not installed'}${pastaVersion && !/unknown/.test(pastaVersion) ? ` (${pastaVersion})` : ''}`,
    slirp4netns: tryRun('slirp4netns', ['--version'])?.split('\n')[0] ?? 'not installed',
    passt: `passt ${dpkgVersion('passt') ?? 'not installed'} (/usr/bin/passt)`,
    upstream: upstream.available
      ? `${upstream.version}${upstream.commit ? ` (commit ${upstream.commit})` : ''}, ${upstream.built}`
      : upstream.reason,
    upstreamTag: upstream.tag,
    clkTck: clockTicks(),
    iperf3: tryRun('iperf3', ['--version'])?.split('\n')[0] ?? 'not installed',
  };
}

/** Rootless tools need /dev/net/tun open to everyone (doc/design.md); fix it as root, as pretest does. */
function ensureTun() {
  try {
    const mode = fs.statSync('/dev/net/tun').mode & 0o777;
    if ((mode & 0o666) === 0o666) return;
    if (process.geteuid?.() === 0) {
      fs.chmodSync('/dev/net/tun', 0o666);
      process.stdout.write('bench: /dev/net/tun made 0666 for rootless runs\n');
    } else {
      process.stdout.write(`bench: WARNING /dev/net/tun is 0${mode.toString(8)}: rootless tools will fail\n`);
    }
  } catch {
    process.stdout.write('bench: WARNING /dev/net/tun is missing\n');
  }
}

// ---- measurement ------------------------------------------------------------------

/** Start a one-off iperf3 server in the remote namespace and wait until it listens. */
async function startIperfServer(topo) {
  const server = topo.spawnRemote(['iperf3', '-s', '-1', '-B', SERVER, '-p', String(PORT)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  server.stderr?.on('data', (d) => {
    stderr += d;
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (server.exitCode !== null || server.signalCode !== null) throw new Error(`iperf3 server exited: ${firstLine(stderr)}`);
    const r = await topo.execRemote(['ss', '-Hltn', `sport = :${PORT}`], { timeoutMs: 5000 });
    if (r.stdout.toString().includes(`:${PORT}`)) break;
    if (Date.now() > deadline) throw new Error('iperf3 server did not start listening');
    await delay(30);
  }
  return {
    async stop() {
      if (server.exitCode === null && server.signalCode === null) {
        const exited = new Promise((resolve) => server.once('exit', resolve));
        const t = setTimeout(() => server.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

function iperfArgs(opts, reverse, mss) {
  return [
    'iperf3', '-c', SERVER, '-p', String(PORT), '-t', String(opts.time), '-J', '--connect-timeout', '5000',
    ...(reverse ? ['-R'] : []), ...(mss ? ['-M', String(mss)] : []),
  ];
}

/** Gbit/s (and stalled seconds) from iperf3 -J output, or throw with the reason. */
function udpArgs(opts, size, reverse) {
  return [
    'iperf3', '-c', SERVER, '-p', String(PORT), '-u', '-b', '0', '-l', String(size), '-t', String(opts.udpTime), '-J',
    '--connect-timeout', '5000', ...(reverse ? ['-R'] : []),
  ];
}

/** The receiver's Gbit/s and loss percentage from iperf3 -u -J output, or throw with the reason. */
function parseIperfUdp(result, what) {
  const json = iperfJson(result, what);
  // iperf3 >= 3.10 reports both ends; older ones only `sum` (the client's view)
  const received = json.end?.sum_received ?? json.end?.sum;
  const bps = received?.bits_per_second;
  if (typeof bps !== 'number' || !(bps > 0)) throw new Error(`${what}: no datagram arrived`);
  const sent = json.end?.sum_sent?.bits_per_second;
  return {
    gbps: bps / 1e9,
    lossPct: Number(received.lost_percent ?? NaN),
    sentGbps: typeof sent === 'number' ? sent / 1e9 : null,
    bytes: Number(received.bytes) || 0,
  };
}

const PING_COUNT = 20;
const PING_INTERVAL = '0.05';
/** Echoes flooded (unmeasured) to warm the path up, then the steady-state count at PING_INTERVAL. */
const PING_WARMUP = 2000;
const PING_STEADY_COUNT = 50;

function pingArgs(insideTool) {
  const ping = `ping -c ${PING_COUNT} -i ${PING_INTERVAL} -q ${SERVER}`;
  // Cold (the tool's first echoes: its flow set up, its code run for the first times),
  // then a flood nobody measures, then the steady state at the same pace as the first.
  const script = `${ping}; ping -f -c ${PING_WARMUP} -q ${SERVER} >/dev/null 2>&1; ping -c ${PING_STEADY_COUNT} -i ${PING_INTERVAL} -q ${SERVER}`;
  if (!insideTool) return ['sh', '-c', script];
  // ping sockets need the group in this namespace's ping_group_range; the tool's
  // own namespace starts with none, and root in the tool's user namespace may set it
  return ['sh', '-c', `echo 0 2147483647 2>/dev/null > /proc/sys/net/ipv4/ping_group_range; ${script}`];
}

/** Round-trip times in µs from `ping -q` output, or throw with the reason the tool cannot ping. */
function parsePing(result) {
  const text = result.stdout.toString();
  const counts = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(text);
  const rtts = [...text.matchAll(/rtt min\/avg\/max\/mdev = ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/g)];
  const rtt = rtts[0];
  // The steady state: the last of the three pings (pingArgs), if it answered.
  const steady = rtts.length === 2 ? rtts[1] : null;
  if (!counts || !rtt || Number(counts[2]) === 0) {
    const why = result.timedOut
      ? 'timed out'
      : counts
        ? `no echo reply (${counts[1]} sent, ${counts[2]} received)`
        : `exit ${result.code ?? result.signal}`;
    const detail = firstLine(result.stderr);
    throw new Error(`${why}${detail ? `: ${detail}` : ''}`);
  }
  return {
    avgUs: Number(rtt[2]) * 1000,
    minUs: Number(rtt[1]) * 1000,
    steadyAvgUs: steady ? Number(steady[2]) * 1000 : null,
    maxUs: Number(rtt[3]) * 1000,
    sent: Number(counts[1]),
    received: Number(counts[2]),
  };
}

/**
 * Each tool: prepare() -> { available: false, reason } | { available: true,
 * command(argv, mtu) -> { full, roots } (argv run in the tool's namespace,
 * the tool at `mtu`, wrapped for the topology; roots(pid) the processes under
 * which its translator is: bench/cpu.js), env, comms (its translator's
 * process names; none for direct), teardown() }.
 * `insideTool`: the command runs in a namespace of the tool's own (not the host's).
 */
function toolsFor(topo, opts) {
  const asUser = (argv) => (topo.fullIdMap ? runInHostAsUser(topo, opts.uid, opts.gid, argv) : topo.hostArgs(argv));
  const env = { ...process.env, HOME: '/tmp' };
  const self = (pid) => [pid];
  const mtuArgs = (mtu) => (mtu && mtu !== MTU ? ['-m', String(mtu)] : []);

  /** A pasta (ours, --base-bin's build, pasta(1), the upstream build): `bin` with `--config-net [-m MTU] -- argv`. */
  const pastaTool = (name, label, find) => ({
    label,
    insideTool: true,
    async prepare() {
      const { bin, reason } = find();
      if (!bin) return { available: false, reason };
      return {
        available: true,
        command: async (argv, mtu) => ({ full: asUser([...bin, '--config-net', ...mtuArgs(mtu), '--', ...argv]), roots: self }),
        env,
        comms: TOOL_COMMS[name],
        teardown: async () => {},
      };
    },
  });
  const oursBin = (bin) => () => (fs.existsSync(bin) ? { bin: [process.execPath, bin] } : { reason: `not available (${bin} does not exist)` });
  const upstream = upstreamBuild(opts.upstreamDir);

  return {
    direct: {
      label: 'direct (no translation)',
      insideTool: false,
      async prepare() {
        return { available: true, command: async (argv) => ({ full: asUser(argv), roots: self }), env, teardown: async () => {} };
      },
    },
    ours: pastaTool('ours', 'ours (node bin/pasta.js)', oursBin(path.join(root, 'bin', 'pasta.js'))),
    base: pastaTool('base', `base (${opts.baseBin})`, oursBin(path.resolve(opts.baseBin ?? ''))),
    pasta: pastaTool('pasta', 'pasta(1) Debian', () =>
      tryRun('sh', ['-c', 'command -v pasta']) ? { bin: ['pasta'] } : { reason: 'not available (pasta not installed)' },
    ),
    upstream: pastaTool('upstream', upstreamLabel(upstream.tag), () => (upstream.available ? { bin: [upstream.pasta] } : { reason: upstream.reason })),
    slirp4netns: {
      label: 'slirp4netns',
      insideTool: true,
      async prepare() {
        if (!tryRun('sh', ['-c', 'command -v slirp4netns'])) {
          return { available: false, reason: 'not available (slirp4netns not installed)' };
        }
        // One slirp4netns (and namespace) per MTU, started when first used, kept for every section.
        const instances = new Map();
        const instance = (mtu) => {
          if (!instances.has(mtu)) {
            const started = startSlirp(topo, asUser, { mtu });
            started.catch(() => {});
            instances.set(mtu, started);
          }
          return instances.get(mtu);
        };
        try {
          await instance(MTU);
        } catch (err) {
          return { available: false, reason: err.message };
        }
        return {
          available: true,
          command: async (argv, mtu = MTU) => {
            const slirp = await instance(mtu);
            // a tool that died after set-up gets a clear reason, not a stream of failed runs
            slirp.alive();
            return { full: slirp.inNs(argv), roots: () => [slirp.pid] };
          },
          comms: TOOL_COMMS.slirp4netns,
          teardown: async () => {
            for (const started of instances.values()) await (await started.catch(() => undefined))?.teardown();
          },
        };
      },
    },
  };
}

/** Run argv in a prepared tool's namespace (the tool at `mtu`) to completion. */
async function execIn(topo, prepared, argv, timeoutMs, mtu) {
  const { full } = await prepared.command(argv, mtu);
  return topo.execArgs(full, { timeoutMs, closeGraceMs: 3000, env: prepared.env });
}

/**
 * Run an iperf3 client in a prepared tool's namespace, with the tool's CPU
 * time read at the command's start and end (bench/cpu.js): { result, meter }.
 */
async function execMeasured(topo, prepared, argv, timeoutMs, mtu) {
  const { full, roots } = await prepared.command(markedArgv(argv), mtu);
  const meter = cpuMeter(roots, prepared.comms);
  const result = await execMarked(topo, full, { timeoutMs, env: prepared.env }, meter);
  return { result, meter };
}

const DIRECTIONS = [
  { key: 'up', label: 'namespace → remote', reverse: false },
  { key: 'down', label: 'remote → namespace (-R)', reverse: true },
];

/**
 * The cells of the tcp section: each direction at each of MTUS (the keys of
 * MTU 65520's cells are those of the time before MTU 1500 rows, "up" and
 * "down", so that earlier results still read). `directMss`: what the direct
 * row runs at instead of a tool MTU, the MSS of IPv4 TCP at that MTU (iperf3
 * -M sets it on the client's socket, and the SYN's MSS option holds the
 * server to it with -R).
 */
const TCP_CELLS = MTUS.flatMap((mtu) =>
  DIRECTIONS.map((d) => ({
    key: mtu === MTU ? d.key : `m${mtu}-${d.key}`,
    mtu,
    label: d.label,
    reverse: d.reverse,
    ...(mtu === MTU ? {} : { directMss: mtu - 40 }),
  })),
);

/**
 * The cells of the udp section for datagram `sizes` (--udp-sizes; a section
 * of the time before that option had 1400 and 16000): each size at each of
 * MTUS where it fits in one IPv4 packet (no IP fragmentation, which would
 * measure the reassembly, not the path), each direction.
 */
const udpCells = (sizes = [1400, 16000]) =>
  MTUS.flatMap((mtu) =>
    sizes
      .filter((size) => size + 28 <= mtu)
      .flatMap((size) =>
        DIRECTIONS.map((d) => ({ key: `${mtu === MTU ? '' : `m${mtu}-`}${size}-${d.key}`, mtu, label: d.label, size, reverse: d.reverse })),
      ),
  );

/**
 * The direct rows have no tool, so no tool MTU: they are measured in the MTU
 * 65520 cells, and in those of another MTU only where the cell says at which
 * MSS (TCP's).
 */
const cellsFor = (cells, name) => (name === 'direct' ? cells.filter((c) => !c.mtu || c.mtu === MTU || c.directMss) : cells);

/**
 * What each section measures. A section's cells are measured for every tool,
 * `runs` times each; a failed run ends its cell (a broken tool: do not spend
 * the other runs on it). `add` folds one run's value into the cell, `finish`
 * computes the medians.
 */
function sectionsFor(opts, topo) {
  return {
    tcp: {
      title: 'TCP',
      cells: TCP_CELLS,
      server: true,
      timeoutMs: (opts.time + 40) * 1000,
      perRunS: opts.time + 45,
      async run(prepared, name, cell) {
        const mss = name === 'direct' ? cell.directMss : undefined;
        const { result, meter } = await execMeasured(topo, prepared, iperfArgs(opts, cell.reverse, mss), this.timeoutMs, cell.mtu);
        const v = parseIperf(result, name);
        return { ...v, ...meter.result(v.bytes) };
      },
      newCell: () => ({ runs: [], stalls: 0, retransmits: [] }),
      add(cell, v) {
        cell.runs.push(v.gbps);
        cell.stalls += v.stalls;
        cell.retransmits.push(v.retransmits);
        addCpu(cell, v);
      },
      finish(cell) {
        cell.median = median(cell.runs);
        const retr = cell.retransmits.filter((n) => typeof n === 'number');
        if (retr.length) {
          cell.retransmitsMedian = median(retr);
          cell.retransmitsSum = retr.reduce((a, b) => a + b, 0);
        }
      },
      format: (v) =>
        `${v.gbps.toFixed(2)} Gbit/s${v.stalls ? ` (${v.stalls} s stalled)` : ''}` +
        `${v.retransmits !== null ? `, ${v.retransmits} retransmitted` : ''}${cpuText(v)}`,
      failure: (err) => `failed: ${err.message}`,
    },
    udp: {
      title: 'UDP',
      cells: udpCells(opts.udpSizes),
      server: true,
      timeoutMs: (opts.udpTime + 40) * 1000,
      perRunS: opts.udpTime + 45,
      async run(prepared, name, cell) {
        const { result, meter } = await execMeasured(topo, prepared, udpArgs(opts, cell.size, cell.reverse), this.timeoutMs, cell.mtu);
        const v = parseIperfUdp(result, name);
        return { ...v, ...meter.result(v.bytes) };
      },
      newCell: () => ({ runs: [] }),
      add(cell, v) {
        cell.runs.push(v);
        addCpu(cell, v);
      },
      finish(cell) {
        cell.median = median(cell.runs.map((r) => r.gbps));
        cell.lossMedian = median(cell.runs.map((r) => r.lossPct));
      },
      format: (v) =>
        `${v.gbps.toFixed(2)} Gbit/s received, ${v.lossPct.toFixed(1)} % lost` +
        (v.sentGbps !== null ? ` (${v.sentGbps.toFixed(2)} Gbit/s sent)` : '') +
        cpuText(v),
      failure: (err) => `failed: ${err.message}`,
    },
    ping: {
      title: 'ping',
      cells: [{ key: 'rtt', label: `namespace → ${SERVER}` }],
      server: false,
      timeoutMs: 30_000,
      perRunS: 35,
      async run(prepared, name, cell, tool) {
        return parsePing(await execIn(topo, prepared, pingArgs(tool.insideTool), this.timeoutMs, MTU));
      },
      newCell: () => ({ runs: [] }),
      add(cell, v) {
        cell.runs.push(v);
      },
      finish(cell) {
        cell.median = median(cell.runs.map((r) => r.avgUs));
        cell.minMedian = median(cell.runs.map((r) => r.minUs));
        const steady = cell.runs.map((r) => r.steadyAvgUs).filter((v) => v !== null);
        cell.steady = steady.length ? { median: median(steady) } : undefined;
        cell.maxMedian = median(cell.runs.map((r) => r.maxUs));
        cell.lost = cell.runs.reduce((n, r) => n + (r.sent - r.received), 0);
        cell.sent = cell.runs.reduce((n, r) => n + r.sent, 0);
      },
      format: (v) =>
        `avg ${v.avgUs.toFixed(0)} µs, min ${v.minUs.toFixed(0)} µs, max ${v.maxUs.toFixed(0)} µs` +
        (v.steadyAvgUs !== null ? `; steady state avg ${v.steadyAvgUs.toFixed(0)} µs` : '; no steady-state figure') +
        (v.received < v.sent ? ` (${v.sent - v.received} of ${v.sent} lost)` : ''),
      failure: (err) => `not available: ${err.message}`,
    },
  };
}

/**
 * Every tool is prepared once and measured section by section (all of TCP,
 * then all of UDP, then ping); inside a section, round by round. Returns
 * { [section]: { date, runs, time, tools, results } } with
 * results[tool][cell] = { runs, median?, error?, ... }.
 */
async function measure(topo, opts, log) {
  const tools = toolsFor(topo, opts);
  const sections = sectionsFor(opts, topo);
  const prepared = {};
  const out = {};
  if (!opts.only.some((s) => sections[s])) return out;
  try {
    for (const name of opts.tools) {
      const tool = tools[name];
      try {
        prepared[name] = await tool.prepare();
      } catch (err) {
        prepared[name] = { available: false, reason: `failed: ${err.message}` };
      }
      if (!prepared[name].available) log(`${tool.label}: ${prepared[name].reason}`);
    }
    for (const key of SECTIONS.filter((s) => opts.only.includes(s) && sections[s])) {
      const section = sections[key];
      const results = {};
      out[key] = {
        date: new Date().toISOString(),
        runs: opts.runs,
        time: key === 'tcp' ? opts.time : key === 'udp' ? opts.udpTime : undefined,
        tools: [...opts.tools],
        mtus: key === 'ping' ? [MTU] : MTUS,
        ...(key === 'udp' ? { udpSizes: opts.udpSizes } : {}),
        upstreamTag: upstreamBuild(opts.upstreamDir).tag,
        results,
      };
      // The section's cells, every tool's, measured round by round: run i of
      // every cell before run i + 1 of any, so that a burst of load on this
      // shared machine falls on one run of many cells, not on all the runs of
      // one (which would bias a ratio between two cells).
      const live = [];
      for (const name of opts.tools) {
        const p = prepared[name];
        results[name] = {};
        for (const c of cellsFor(section.cells, name)) {
          if (!p.available) {
            results[name][c.key] = { runs: [], error: p.reason };
            continue;
          }
          const cell = section.newCell();
          results[name][c.key] = cell;
          const what = `${section.title}${c.mtu ? ` MTU ${c.mtu}` : ''}${c.size ? ` ${c.size} B` : ''}`;
          live.push({ name, tool: tools[name], p, c, cell, what });
        }
      }
      for (let i = 0; i < opts.runs; i++) {
        for (const { name, tool, p, c, cell, what } of live) {
          if (cell.error) continue; // a broken tool: do not spend the other runs on it
          const server = section.server ? await startIperfServer(topo) : undefined;
          try {
            const v = await section.run(p, name, c, tool);
            section.add(cell, v);
            log(`${tool.label}, ${what}, ${c.label}, run ${i + 1}/${opts.runs}: ${section.format(v)}`);
          } catch (err) {
            cell.error = section.failure(err);
            log(`${tool.label}, ${what}, ${c.label}, run ${i + 1}/${opts.runs}: ${cell.error}`);
          } finally {
            await server?.stop();
          }
        }
      }
      for (const { cell } of live) if (!cell.error) section.finish(cell);
    }
  } finally {
    for (const p of Object.values(prepared)) if (p.available) await p.teardown();
  }
  return out;
}

// ---- report -----------------------------------------------------------------------

const LABELS = { direct: 'direct (ceiling)', ours: 'ours', base: 'base (--base-bin)', pasta: 'pasta(1) Debian', slirp4netns: 'slirp4netns' };

/** A tool's label in a section's rows (the upstream build's with its version). */
const labelOf = (name, section) => (name === 'upstream' ? upstreamLabel(section.upstreamTag) : LABELS[name] ?? name);

/** "a/b×" of two cells' medians, or – (the direct row is a reference, not a competitor). */
function ratioOf(name, cell, refCell) {
  if (name === 'direct' || cell.median === undefined) return '–';
  if (refCell?.error && refCell.runs?.length === 0 && !/^not (available|applicable)/.test(refCell.error)) return '– (peer failed)';
  if (!refCell?.median) return '–';
  const ratio = `${(cell.median / refCell.median).toFixed(2)}×`;
  // a peer that stalled on this kernel makes any ratio against it flattering: say so beside it
  return refCell.stalls > 0 && cell !== refCell ? `${ratio} (peer stalled ${refCell.stalls} s)` : ratio;
}

/** A table row's cell description: what the columns other than the figures say. */
const rowWhat = (r) => [r.what, r.mtu !== undefined ? `MTU ${String(r.mtu).replace(/ .*/, '')}` : '', r.size, r.direction, r.path].filter(Boolean).join(', ');

/**
 * Where a tool misbehaved, from the report's tables: cells whose median is a
 * failure (not "not available" / "not applicable", which say the tool is
 * missing or has no such path), cells with stalled seconds, and TCP cells
 * whose sender retransmitted more than 1 % of the segments a full-size
 * stream of its rate would take. One line each, for the top of the report,
 * so that a ratio against such a cell is read with it.
 */
function misbehaviour(tables) {
  const out = [];
  for (const t of tables) {
    for (const r of t.table) {
      if (/^direct/.test(r.tool)) continue;
      const where = `${t.title}: ${r.tool}, ${rowWhat(r)}`;
      const median = String(r.median);
      if (!/^[\d.+]+$/.test(median) && !/^(not (available|applicable)|n\/a|–)/.test(median)) out.push(`${where}: ${median}`);
      if (/^[1-9]/.test(String(r.failed ?? ''))) out.push(`${where}: ${r.failed} connections failed`);
      if (/^\d+$/.test(String(r.stalls)) && Number(r.stalls) > 0) {
        out.push(`${where}: ${r.stalls} s stalled (one-second intervals under 10 Mbit/s), median ${median} Gbit/s; runs ${r.runs}`);
      }
      if (r.retrSum !== undefined && /^\d+$/.test(String(r.retrSum)) && /^[\d.]+$/.test(median)) {
        const mss = r.mtu && String(r.mtu).startsWith('1500') ? 1448 : 65000;
        const segments = (Number(median) * 1e9 * (t.time ?? 1)) / 8 / mss;
        if (Number(r.retrMedian) > 100 && Number(r.retrMedian) > 0.01 * segments) {
          out.push(`${where}: ${r.retrMedian} retransmissions per run (median) at ${median} Gbit/s`);
        }
      }
    }
  }
  return out;
}

/**
 * The rows of a tcp or udp section, MTU by MTU (a section of the time before
 * the MTU 1500 rows has 65520's only), each tool's cells of that MTU; `row`
 * gives a row's own columns, beside the common ones.
 */
function mtuRows(section, cells, row) {
  const out = [];
  for (const mtu of section.mtus ?? [MTU]) {
    for (const name of section.tools) {
      for (const c of cellsFor(cells, name).filter((x) => x.mtu === mtu)) {
        const cell = section.results[name]?.[c.key] ?? { runs: [], error: 'n/a' };
        const ref = (tool) => section.results[tool]?.[c.key];
        out.push({
          tool: labelOf(name, section),
          mtu: name !== 'direct' ? String(mtu) : c.directMss ? `${mtu} (MSS ${c.directMss} over the ${MTU} veth)` : `${mtu} (veth)`,
          direction: c.label,
          vsPasta: ratioOf(name, cell, ref('pasta')),
          vsUpstream: ratioOf(name, cell, ref('upstream')),
          vsSlirp: ratioOf(name, cell, ref('slirp4netns')),
          cpu: cell.error ? '–' : cpuColumn(name, cell),
          ...row(cell, c),
        });
      }
    }
  }
  return out;
}

function rows(section) {
  return mtuRows(section, TCP_CELLS, (cell) => {
    const retr = cell.retransmitsMedian !== undefined;
    return {
      median: cell.median !== undefined ? cell.median.toFixed(2) : cell.error ?? 'n/a',
      runs: cell.runs.map((v) => v.toFixed(2)).join(', ') || '–',
      stalls: cell.runs.length ? String(cell.stalls ?? 0) : '–',
      retrMedian: retr ? String(cell.retransmitsMedian) : '–',
      retrSum: retr ? String(cell.retransmitsSum) : '–',
    };
  });
}

const COLUMNS = [
  ['tool', 'tool'],
  ['mtu', 'MTU'],
  ['direction', 'direction'],
  ['median', 'median Gbit/s'],
  ['vsPasta', 'vs pasta(1) Debian'],
  ['vsUpstream', 'vs upstream'],
  ['vsSlirp', 'vs slirp4netns'],
  ['cpu', 'CPU s/GB'],
  ['retrMedian', 'retransmits (median)'],
  ['retrSum', 'retransmits (sum)'],
  ['runs', 'runs (Gbit/s)'],
  ['stalls', 'stalled s'],
];

function udpRows(section) {
  return mtuRows(section, udpCells(section.udpSizes), (cell, c) => {
    const ok = cell.median !== undefined;
    return {
      size: `${c.size} B`,
      median: ok ? cell.median.toFixed(2) : cell.error ?? 'n/a',
      loss: ok ? cell.lossMedian.toFixed(1) : '–',
      runs: cell.runs.map((r) => r.gbps.toFixed(2)).join(', ') || '–',
      runsLoss: cell.runs.map((r) => r.lossPct.toFixed(1)).join(', ') || '–',
    };
  });
}

const UDP_COLUMNS = [
  ['tool', 'tool'],
  ['mtu', 'MTU'],
  ['size', 'datagram'],
  ['direction', 'direction'],
  ['median', 'median Gbit/s received'],
  ['loss', 'median loss %'],
  ['vsPasta', 'vs pasta(1) Debian'],
  ['vsUpstream', 'vs upstream'],
  ['vsSlirp', 'vs slirp4netns'],
  ['cpu', 'CPU s/GB'],
  ['runs', 'runs (Gbit/s)'],
  ['runsLoss', 'runs (loss %)'],
];

function pingRows(section) {
  const results = section.results;
  return section.tools.map((name) => {
    const cell = results[name]?.rtt ?? { runs: [], error: 'n/a' };
    const ok = cell.median !== undefined;
    return {
      tool: labelOf(name, section),
      median: ok ? cell.median.toFixed(0) : cell.error ?? 'n/a',
      vsPasta: ratioOf(name, cell, results.pasta?.rtt),
      vsUpstream: ratioOf(name, cell, results.upstream?.rtt),
      vsSlirp: ratioOf(name, cell, results.slirp4netns?.rtt),
      runs: cell.runs.map((r) => r.avgUs.toFixed(0)).join(', ') || '–',
      steady: cell.steady ? cell.steady.median.toFixed(0) : '–',
      steadyVsPasta: cell.steady ? ratioOf(name, cell.steady, results.pasta?.rtt?.steady) : '–',
      steadyVsUpstream: cell.steady ? ratioOf(name, cell.steady, results.upstream?.rtt?.steady) : '–',
      min: ok ? cell.minMedian.toFixed(0) : '–',
      max: ok ? cell.maxMedian.toFixed(0) : '–',
      lost: ok ? `${cell.lost}/${cell.sent}` : '–',
    };
  });
}

const PING_COLUMNS = [
  ['tool', 'tool'],
  ['median', 'median avg RTT µs (lower is better)'],
  ['vsPasta', 'vs pasta(1) Debian (lower is better)'],
  ['vsUpstream', 'vs upstream (lower is better)'],
  ['vsSlirp', 'vs slirp4netns (lower is better)'],
  ['runs', 'runs: avg RTT µs'],
  ['steady', `steady state: median avg RTT µs (after ${PING_WARMUP} flooded echoes)`],
  ['steadyVsPasta', 'steady vs pasta(1) Debian'],
  ['steadyVsUpstream', 'steady vs upstream'],
  ['min', 'median min RTT µs'],
  ['max', 'median max RTT µs'],
  ['lost', 'lost'],
];

function textTable(table, columns = COLUMNS) {
  const widths = columns.map(([k, h]) => Math.max(h.length, ...table.map((r) => String(r[k]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
  return [line(columns.map(([, h]) => h)), line(widths.map((w) => '-'.repeat(w))), ...table.map((r) => line(columns.map(([k]) => r[k])))].join('\n');
}

function markdownTable(table, columns = COLUMNS) {
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  return [
    `| ${columns.map(([, h]) => h).join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`,
    ...table.map((r) => `| ${columns.map(([k]) => esc(r[k])).join(' | ')} |`),
  ].join('\n');
}

/** The rows of each section, and its columns, in report order. */
function sectionTables(measured) {
  const out = [];
  if (measured.tcp) out.push({ key: 'tcp', title: 'TCP throughput', table: rows(measured.tcp), columns: COLUMNS, time: measured.tcp.time });
  if (measured.udp) out.push({ key: 'udp', title: 'UDP throughput', table: udpRows(measured.udp), columns: UDP_COLUMNS });
  if (measured.ping) out.push({ key: 'ping', title: 'Ping latency', table: pingRows(measured.ping), columns: PING_COLUMNS });
  if (measured.splice) out.push({ key: 'splice', title: TITLES.splice, table: spliceRows(measured.splice), columns: SPLICE_COLUMNS });
  if (measured.connrate) out.push({ key: 'connrate', title: TITLES.connrate, table: connrateRows(measured.connrate), columns: CONNRATE_COLUMNS });
  if (measured.startup) out.push({ key: 'startup', title: 'Start-up time', table: startupRows(measured.startup), columns: STARTUP_COLUMNS });
  if (measured.density) out.push({ key: 'density', title: TITLES.density, table: densityRows(measured.density), columns: DENSITY_COLUMNS });
  if (measured.passt) out.push({ key: 'passt', title: TITLES.passt, table: passtRows(measured.passt), columns: PASST_COLUMNS });
  return out;
}

const plural = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;

/** The MTU sentence of the tcp and udp methods (`directMss`: the tcp section's direct MSS 1460 rows). */
function mtuMethod(mtus, directMss = false) {
  if (!mtus.includes(1500)) return `The tools' MTU is ${MTU} too.`;
  return `The tools run at MTU ${MTU} (their default) and at 1500 (\`pasta -m 1500\`, \`slirp4netns
--mtu=1500\`), the veth staying at ${MTU}: the 1500 rows show what the tap's MTU costs
alone. The direct rows have no tool MTU: ${directMss
    ? `among the 1500 rows, the direct one is iperf3 with \`-M 1460\` (the MSS of an MTU of
1500) over the same veth, segmentation offloaded as at ${MTU}: what MSS 1460 costs the
kernel alone, the ceiling of the tools' 1500 rows.`
    : 'they are measured once, over the veth.'}`;
}

function methodParagraph(key, s, asUser) {
  if (key === 'tcp') {
    const mtus = s.mtus ?? [MTU];
    return `Method: iperf3 server in the "remote" test namespace on ${SERVER}, reached from
a namespace given connectivity by each tool, which runs ${asUser} in the "host"
test namespace (veth uplink, MTU ${MTU} in every row). ${mtuMethod(mtus, Object.keys(s.results?.direct ?? {}).some((k) => /^m\d/.test(k)))}
\`iperf3 -c ${SERVER} -t ${s.time} -J\`, one TCP stream, without and with \`-R\`;
${s.runs} run${s.runs > 1 ? 's' : ''} per cell, median of the receiver's rate. "stalled s" counts
the one-second iperf3 intervals, over all runs of a cell, that moved less than
10 Mbit/s: a tool that stalls and recovers has an erratic median, not a slow one.
"retransmits" is iperf3's count of the sender's TCP retransmissions (TCP_INFO), the
median per run and the sum over the runs: namespace → remote, the sender is the
client inside the tool's namespace, writing into the tap, so frames the tool did not
take show here; with \`-R\` it is the server in the remote namespace, sending to the
tool's socket on the host side.

${CPU_METHOD}`;
  }
  if (key === 'startup') return startupMethod(s);
  if (key === 'density') return densityMethod(s);
  if (key === 'splice') return spliceMethod(s, asUser);
  if (key === 'connrate') return connrateMethod(s, asUser);
  if (key === 'passt') return passtMethod(s, SERVER);
  if (key === 'udp') {
    const mtus = s.mtus ?? [MTU];
    const sizes = s.udpSizes ?? [1400, 16000];
    const big = sizes.filter((size) => size + 28 > 1500);
    return `Method: the same server (\`iperf3 -s -B ${SERVER}\`: bound, so that its datagrams leave from
the address the client sent to) and namespaces, \`iperf3 -c ${SERVER} -u -b 0 -l SIZE -t ${s.time} -J\`
(one stream at unlimited rate, datagrams of ${sizes.join(' and ')} bytes${big.length && mtus.includes(1500)
    ? `; ${big.join(' and ')} at MTU ${MTU}
only: at 1500 it would need IP fragmentation, which measures the reassembly, not
the path`
    : ''}), without and with \`-R\`; ${plural(s.runs, 'run')} per cell. ${mtuMethod(mtus)} The rate is
the receiver's (what arrived, in Gbit/s), the loss is the receiver's count of
datagrams that never arrived, in percent of those sent; both are medians over
the runs, taken separately. With no rate limit the sender outruns every path,
so loss is expected everywhere, the direct row included: compare how much gets
through. The CPU per byte is per byte received, so a tool's work on datagrams it
forwarded but the receiver then dropped is in it.

${CPU_METHOD}`;
  }
  return `Method: \`ping -c ${PING_COUNT} -i ${PING_INTERVAL} -q ${SERVER}\` from the namespace, ${plural(s.runs, 'run')} per tool;
the median of the per-run average round-trip times (ping's "rtt min/avg/max/mdev"
line), in microseconds: lower is better, and so are the ratios. Each run's
average includes its first echo, which sets up the tool's flow and is usually
the run's maximum, and the tool's first passes through its code (ours runs
JavaScript that V8 has not compiled yet). The steady state: in the same run,
after \`ping -f -c ${PING_WARMUP}\` (not measured), \`ping -c ${PING_STEADY_COUNT} -i ${PING_INTERVAL}\`, the median
of its averages. The tools get
ICMP through ping sockets; in a tool's own namespace the command first sets
\`net.ipv4.ping_group_range\` to every group (root in the tool's user namespace
may). A tool that cannot ping at all shows why.`;
}

function markdownReport(info, opts, measured, asUser) {
  const parts = [`# Throughput, CPU per byte, connection rate, latency and start-up: this project's pasta vs pasta(1) (Debian's and upstream's) vs slirp4netns, and its passt vs passt(1)

Generated by \`npm run bench\` (bench/run.js; bench/README.md says how to set it up)${[
    opts.only.join(',') !== DEFAULT_SECTIONS.join(',') ? `\`--only ${opts.only.join(',')}\`` : '',
    opts.quick ? '`--quick` (a smoke run: one short run per cell, not a measurement to quote)' : '',
    !opts.quick && opts.runs !== 3 ? `\`--runs ${opts.runs}\`${opts.runs < 3 ? ' (too few runs for a median to quote)' : ''}` : '',
  ].filter(Boolean).map((f, i) => (i ? ` and ${f}` : ` with ${f}`)).join('')}, in one run:
every table below is from it, except a section marked as carried over. The
"History" section at the end, if any, is kept from the file as it was.

| | |
| --- | --- |
| date | ${info.date} |
| kernel (\`uname -r\`) | ${info.kernel} |
| CPU | ${info.cpu} (${info.cpus} CPUs) |
| node | ${info.node} |
| ours | ${info.ours} |
| pasta(1) Debian | ${info.pasta} |
| upstream pasta and passt | ${info.upstream ?? 'not in this run'} |
| slirp4netns | ${info.slirp4netns} |
| passt(1) Debian | ${info.passt} |
| iperf3 | ${info.iperf3} |

The "direct" row is iperf3 (or ping, or the connection-rate client and server)
in the host namespace itself, with no tool in the path: the ceiling of this
machine and topology, not a competitor.
All traffic stays inside namespaces that the bench creates and removes.
The machine is shared with whatever else runs on it (2 CPUs here): compare
rows of one run, not numbers across runs. Inside a section the cells are measured
round by round (run 1 of every tool's every cell, then run 2, and so on), so that a
burst of load spreads over many cells rather than falling on every run of one.
`];
  const tables = sectionTables(measured);
  const trouble = misbehaviour(tables.filter((t) => !measured[t.key]?.carried));
  parts.push(
    '## Where a tool misbehaved in this run\n',
    trouble.length
      ? `Failures, stalls (one-second iperf3 intervals under 10 Mbit/s) and heavy TCP retransmission, found in
the tables below. A ratio against a cell that stalled says so beside it ("peer stalled"):
it measures the peer's trouble on this kernel, not a speed-up.

${trouble.map((l) => `- ${l.replace(/\|/g, '\\|')}`).join('\n')}
`
      : '_None: no failed cell, no stall, no heavy retransmission._\n',
  );
  for (const key of SECTIONS) {
    const title = TITLES[key];
    const s = measured[key];
    const t = tables.find((x) => x.key === key);
    parts.push(`## ${title}\n`);
    if (!s) {
      parts.push(`_Not measured (\`--only ${opts.only.join(',')}\`, and no earlier results in bench/out/results.json)._\n`);
      continue;
    }
    if (s.carried) {
      parts.push(
        `_Not measured in this run (\`--only ${opts.only.join(',')}\`): carried over from the run of ${s.date}` +
          `${s.quick ? ' (a `--quick` smoke run)' : ''}._\n`,
      );
    }
    parts.push(`${methodParagraph(key, s, asUser)}\n`, `${markdownTable(t.table, t.columns)}\n`);
  }
  return parts.join('\n');
}

// ---- where the time goes ------------------------------------------------------------

/**
 * One more run of ours per direction under `node --cpu-prof`, summarised by
 * self time per function: the profile that performance work starts from.
 */
async function profileOurs(topo, opts, log) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passt-bench-prof-'));
  fs.chmodSync(dir, 0o777);
  const asUser = (argv) => (topo.fullIdMap ? runInHostAsUser(topo, opts.uid, opts.gid, argv) : topo.hostArgs(argv));
  const out = [];
  try {
    for (const reverse of [false, true]) {
      const sub = path.join(dir, reverse ? 'reverse' : 'forward');
      fs.mkdirSync(sub, { mode: 0o777 });
      fs.chmodSync(sub, 0o777);
      const argv = [process.execPath, '--cpu-prof', `--cpu-prof-dir=${sub}`, path.join(root, 'bin', 'pasta.js'), '--config-net', '--', ...iperfArgs(opts, reverse)];
      const server = await startIperfServer(topo);
      let r;
      try {
        r = await topo.execArgs(asUser(argv), { timeoutMs: (opts.time + 40) * 1000, closeGraceMs: 3000, env: { ...process.env, HOME: '/tmp' } });
      } finally {
        await server.stop();
      }
      let gbps = null;
      try {
        gbps = parseIperf(r, 'ours (profiled)').gbps;
      } catch {
        // The profile is still useful without a rate.
      }
      const files = fs.readdirSync(sub).filter((f) => f.endsWith('.cpuprofile'));
      if (!files.length) {
        log(`profile (${reverse ? '-R' : 'forward'}): no profile written`);
        continue;
      }
      out.push({ reverse, gbps, summary: summarizeProfile(path.join(sub, files[0])) });
      log(`profiled ours ${reverse ? 'remote → namespace' : 'namespace → remote'}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

function profileReport(profiles, opts, carried) {
  if (!profiles.length) return '';
  const lines = [
    '',
    '## Where the time goes',
    '',
    ...(carried ? [`_Not measured in this run: carried over from the run of ${carried}._`, ''] : []),
    `One more ${opts.time} s run of ours per direction under \`node --cpu-prof\`, by self time.`,
    'Syscalls made through the addon have no frame of their own: their time is the',
    'self time of the JavaScript function that called them (`flush`: tap writes;',
    '`read`: tap reads; `flushTapBatch`: socket writes of guest data; `dataFromSock`:',
    'MSG_PEEK receives; `ackFromTap`: consuming acknowledged data). "(idle)" is the',
    'event loop waiting, that is, the other side was the bottleneck.',
    '',
  ];
  for (const p of profiles) {
    const rate = typeof p.gbps === 'number' ? ` (${p.gbps.toFixed(2)} Gbit/s while profiled)` : '';
    lines.push(`### ${p.reverse ? 'remote → namespace (-R)' : 'namespace → remote'}${rate}`, '');
    lines.push('| self time | function |', '| --- | --- |');
    for (const row of p.summary.rows) lines.push(`| ${(100 * row.share).toFixed(1)} % | \`${row.name}\` |`);
    lines.push('');
  }
  return lines.join('\n');
}

// ---- results of earlier runs ------------------------------------------------------

/**
 * The sections of the previous bench/out/results.json, in this file's format
 * ({ tcp, udp, ping, profile }, each with its own date), or {} when there is
 * none. A file of the TCP-only bench ({ info, opts, results }) is read as its
 * tcp section.
 */
function previousResults(file) {
  let json;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return {};
  }
  if (json.results && !json.tcp) {
    return {
      tcp: {
        date: json.info?.date,
        runs: json.opts?.runs,
        time: json.opts?.time,
        tools: json.opts?.tools ?? [],
        quick: json.opts?.quick,
        results: json.results,
      },
    };
  }
  const out = {};
  for (const key of [...SECTIONS, 'profile']) if (json[key]) out[key] = json[key];
  return out;
}

/**
 * The "## History" section of the RESULTS.md being replaced (from that
 * heading to the end), kept as it is below the new run: earlier runs worth
 * remembering, written by hand. '' when there is none.
 */
function historyOf(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  const at = text.search(/^## History\b/m);
  return at < 0 ? '' : `\n${text.slice(at).trimEnd()}\n`;
}

// ---- main -------------------------------------------------------------------------

async function main() {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${err.message}\n`); // a bad option: one line, as pasta(1) does
    process.exit(1);
  }
  const t0 = Date.now();
  // every line with the seconds since the start, so that a run shows where its time goes
  const log = (msg) => process.stdout.write(`bench: [${String(Math.round((Date.now() - t0) / 1000)).padStart(4)} s] ${msg}\n`);
  if (['tcp', 'udp', 'splice', 'passt'].some((s) => opts.only.includes(s)) && !tryRun('sh', ['-c', 'command -v iperf3'])) {
    throw new Error('iperf3 is not installed (run `node scripts/pretest.js`)');
  }
  if (opts.only.includes('ping') && !tryRun('sh', ['-c', 'command -v ping'])) {
    throw new Error('ping is not installed (iputils-ping)');
  }
  ensureTun();
  const info = facts(opts);
  const doProfile = opts.profile && opts.tools.includes('ours') && opts.only.includes('tcp');

  // The whole run has a deadline too: every run, plus generous set-up time.
  const sections = sectionsFor(opts);
  const cellCount = (key) => opts.tools.reduce((n, name) => n + cellsFor(sections[key].cells, name).length, 0);
  const budgetS =
    opts.only.reduce((sum, key) => sum + (sections[key] ? cellCount(key) * opts.runs * sections[key].perRunS : 0), 0) +
    (opts.only.includes('startup') ? startupBudgetS(opts) : 0) +
    (opts.only.includes('density') ? densityBudgetS(opts) : 0) +
    (opts.only.includes('passt') ? passtBudgetS(opts) : 0) +
    (opts.only.includes('splice') ? spliceBudgetS(opts) : 0) +
    (opts.only.includes('connrate') ? connrateBudgetS(opts) : 0) +
    (doProfile ? DIRECTIONS.length * (opts.time + 45) : 0) +
    opts.tools.length * 15 +
    120;
  const budgetMs = budgetS * 1000;
  let topo;
  const abort = async (why) => {
    process.stderr.write(`bench: ${why}; cleaning up\n`);
    await topo?.close();
    process.exit(1);
  };
  const watchdog = setTimeout(() => void abort(`did not finish within ${Math.round(budgetMs / 1000)} s`), budgetMs);
  process.once('SIGINT', () => void abort('interrupted'));
  process.once('SIGTERM', () => void abort('terminated'));

  let measured;
  let profiles = [];
  const started = Date.now();
  try {
    topo = await createTopology();
    log(
      `topology up (host ${topo.hostPid}, remote ${topo.remotePid}); ${opts.only.join(', ')}; ${opts.runs} run${opts.runs > 1 ? 's' : ''} per cell` +
        `${opts.only.includes('tcp') || opts.only.includes('splice') ? `, TCP ${opts.time} s` : ''}${opts.only.includes('udp') ? `, UDP ${opts.udpTime} s` : ''}` +
        `${opts.only.includes('connrate') ? `, connection rate ${opts.connrateTime} s` : ''}`,
    );
    measured = await measure(topo, opts, log);
    if (doProfile) profiles = await profileOurs(topo, opts, log);
    if (opts.only.includes('splice')) measured.splice = await measureSplice(topo, opts, log);
    if (opts.only.includes('connrate')) measured.connrate = await measureConnrate(topo, opts, log);
    if (opts.only.includes('startup')) measured.startup = await measureStartup(topo, opts, log);
    if (opts.only.includes('density')) measured.density = await measureDensity(topo, opts, log);
    if (opts.only.includes('passt')) measured.passt = await measurePasst(topo, opts, log, SERVER);
  } finally {
    await topo?.close();
    clearTimeout(watchdog);
  }
  for (const s of Object.values(measured)) s.quick = opts.quick;

  const asUser = topo.fullIdMap ? `as an unprivileged user (uid ${opts.uid}, rootless)` : 'as the test user';
  for (const t of sectionTables(measured)) {
    process.stdout.write(`\n${t.title}${t.key === 'ping' || t.key === 'startup' || t.key === 'density' ? ' (lower is better)' : ''}\n\n${textTable(t.table, t.columns)}\n`);
  }
  const trouble = misbehaviour(sectionTables(measured));
  process.stdout.write(`\nWhere a tool misbehaved in this run:${trouble.length ? `\n${trouble.map((l) => `  - ${l}`).join('\n')}` : ' nowhere'}\n`);
  process.stdout.write(
    `\npasta(1): ${info.pasta}; upstream: ${info.upstream}; slirp4netns: ${info.slirp4netns}; kernel ${info.kernel}; ${info.cpu}\n`,
  );
  log(`measured in ${Math.round((Date.now() - started) / 1000)} s`);

  if (opts.write) {
    const outDir = path.join(root, 'bench', 'out');
    const jsonFile = path.join(outDir, 'results.json');
    // Sections left out with --only keep their last results, marked as carried over.
    const previous = previousResults(jsonFile);
    const report = { ...measured };
    for (const key of SECTIONS) {
      if (!report[key] && previous[key]) report[key] = { ...previous[key], carried: true };
    }
    let profile = doProfile ? { date: info.date, time: opts.time, list: profiles } : undefined;
    if (!doProfile && previous.profile && !opts.only.includes('tcp')) profile = { ...previous.profile, carried: true };
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(jsonFile, `${JSON.stringify({ info, opts, ...report, profile }, null, 2)}\n`);
    const resultsMd = path.join(root, 'bench', 'RESULTS.md');
    fs.writeFileSync(
      resultsMd,
      markdownReport(info, opts, report, asUser) +
        (profile ? profileReport(profile.list, { time: profile.time }, profile.carried ? profile.date : undefined) : '') +
        historyOf(resultsMd),
    );
    log('wrote bench/RESULTS.md and bench/out/results.json');
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench: ${err.stack ?? err}\n`);
    process.exit(1);
  },
);
