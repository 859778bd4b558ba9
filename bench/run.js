#!/usr/bin/env node
// Side-by-side TCP and UDP throughput, ping latency, forwarded-port
// throughput and connection rate, and start-up time of this project's pasta,
// Debian's pasta(1) and slirp4netns(1), and of its passt and passt(1):
// `npm run bench` (or `node bench/run.js [options]`).
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
//   ours         node bin/pasta.js --config-net -- iperf3 ...
//   pasta(1)     pasta --config-net -- iperf3 ...
//   slirp4netns  unshare -Urn (holder) + slirp4netns --configure --mtu=65520
//                --disable-host-loopback PID tap0; iperf3 run via nsenter
//   direct       iperf3 run in the host namespace itself: no translation, the
//                ceiling of this machine and topology (a reference row)
//
// Seven sections, each a table (--only picks some; default all):
//
//   tcp   one TCP stream; median of N runs (default 3 of 10 s; --quick: 1 of
//         3 s) of the receiver's bits per second.
//   udp   `iperf3 -u -b 0 -l 1400` and `-l 16000` (unlimited rate), both
//         directions; median of N runs (default 3 of 4 s, --udp-time; --quick:
//         1 of 2 s) of the receiver's rate, and median of the loss percentages.
//   ping  `ping -c 20 -i 0.05 -q 203.0.113.10` from the namespace; median of
//         N per-run average round-trip times (lower is better). Rootless tools
//         get ICMP through ping sockets, so in a tool's own namespace the
//         command first widens that namespace's ping_group_range (root in the
//         tool's user namespace may).
//   splice the spliced loopback path of a forwarded port: `pasta -t P` with
//         `iperf3 -s -1` inside the namespace and the client on the host's
//         127.0.0.1:P, and `pasta -T P` with the server on the host's
//         127.0.0.1:P and the client inside connecting to its own
//         127.0.0.1:P; without and with -R, one stream of --time seconds;
//         median of N runs, ours vs pasta(1) (the other forwards `none` for
//         both). direct: the same over the bare loopback; slirp4netns: its
//         port forwarding (add_hostfwd, no splice path), -t rows only.
//   connrate short TCP connections per second through a forwarded port (-t):
//         bench/connrate.js, 8 loops for 5 s (--connrate-time; --quick: 2)
//         of connect, 16 bytes each way, close; server inside the namespace,
//         client on the host's 127.0.0.1 (spliced) or in the remote
//         namespace from 203.0.113.10 to 198.51.100.2 (tap); median of N
//         runs. See bench/forward.js for both (tools take turns run by run).
//   startup time from invocation until the namespace is ready, ours and
//         pasta(1), median of 10 runs (--startup-runs; --quick: 3): `pasta
//         --config-net --netns PATH` (attach, until the first process exits),
//         `pasta --config-net -- true` (spawn, whole run) and `podman run
//         --rm --network pasta IMAGE true` in test/podman's Podman 5 test bed
//         (with `--network none` as the reference; "not available" without
//         root or the test bed). See bench/startup.js.
//   passt a real QEMU guest (test/guest/, TCG) through ours (node
//         bin/passt.js) and passt(1), `iperf3 -c 203.0.113.10` and `-R` from
//         the guest, one TCP stream, at MTU 65520 and 1500 (passt -m and the
//         guest's eth0); median of 3 runs of 3 s (--quick: 1 of 2 s), ratio
//         ours/passt(1). See bench/passt.js.
//
// MTU 65520 everywhere (pasta's default, and slirp4netns' --mtu). The results
// are printed as tables and written to bench/RESULTS.md (raw numbers in
// bench/out/results.json). A section left out with --only is carried over
// from the previous bench/out/results.json into RESULTS.md, marked with its
// date. A tool that is missing or fails gets its reason in the table instead
// of a number. Every child has a timeout, the whole run has one, and the
// topology's close() removes every process and namespace the bench made.
//
// Options: --quick, --runs N, --time SECONDS, --udp-time SECONDS,
//          --only tcp,udp,ping,splice,connrate,startup,passt,
//          --tools direct,ours,pasta,slirp4netns, --connrate-time SECONDS,
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
import { measurePasst, passtBudgetS, passtRows, passtMethod, PASST_COLUMNS } from './passt.js';
import {
  measureSplice, measureConnrate, spliceBudgetS, connrateBudgetS, spliceRows, connrateRows, spliceMethod, connrateMethod,
  SPLICE_COLUMNS, CONNRATE_COLUMNS,
} from './forward.js';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, runInHostAsUser, ADDRESSES } from '../test/e2e/topology-core.js';
import { delay, firstLine, iperfJson, median, parseIperf } from './common.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SERVER = ADDRESSES.serverV4;
const PORT = 5201;
const MTU = ADDRESSES.mtu;

// ---- options -----------------------------------------------------------------

const SECTIONS = ['tcp', 'udp', 'ping', 'splice', 'connrate', 'startup', 'passt'];
const TITLES = {
  tcp: 'TCP throughput',
  udp: 'UDP throughput',
  ping: 'Ping latency',
  splice: 'Spliced loopback path: forwarded ports, -t and -T',
  connrate: 'Connection rate through a forwarded port',
  startup: 'Start-up time',
  passt: 'passt: a QEMU guest, ours vs passt(1)',
};

function parseOptions(argv) {
  const opts = {
    runs: 3,
    time: 10,
    udpTime: undefined,
    only: [...SECTIONS],
    tools: ['direct', 'ours', 'pasta', 'slirp4netns'],
    uid: 1000,
    gid: undefined,
    write: true,
    quick: false,
    profile: true,
    startupRuns: 10,
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
      opts.startupRuns = 3;
      opts.connrateTime ??= 2;
    } else if (a === '--runs') opts.runs = Number(value());
    else if (a === '--time') opts.time = Number(value());
    else if (a === '--udp-time') opts.udpTime = Number(value());
    else if (a === '--connrate-time') opts.connrateTime = Number(value());
    else if (a === '--only') opts.only = value().split(',').filter(Boolean);
    else if (a === '--tools') opts.tools = value().split(',').filter(Boolean);
    else if (a === '--uid') opts.uid = Number(value());
    else if (a === '--gid') opts.gid = Number(value());
    else if (a === '--no-write') opts.write = false;
    else if (a === '--startup-runs') opts.startupRuns = Number(value());
    else if (a === '--podman-pasta') opts.podmanPasta = value();
    else if (a === '--ours-bin') opts.oursBin = value();
    else if (a === '--base-bin') opts.baseBin = value();
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: node bench/run.js [--quick] [--runs N] [--time S] [--udp-time S] [--connrate-time S]\n' +
          '                         [--only tcp,udp,ping,splice,connrate,startup,passt]\n' +
          '                         [--tools direct,ours,pasta,slirp4netns] [--uid N] [--gid N] [--no-write] [--no-profile]\n' +
          '                         [--startup-runs N] [--podman-pasta PATH] [--ours-bin PATH] [--base-bin PATH]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  opts.gid ??= opts.uid;
  // UDP reaches its rate at once (no slow start): shorter runs than TCP's keep the whole bench short.
  opts.udpTime ??= Math.min(opts.time, 4);
  opts.connrateTime ??= 5;
  for (const t of opts.tools) {
    if (!['direct', 'ours', 'base', 'pasta', 'slirp4netns'].includes(t)) throw new Error(`unknown tool ${t}`);
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

function facts() {
  const pastaVersion = tryRun('pasta', ['--version'])?.split('\n')[0];
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

function iperfArgs(opts, reverse) {
  return ['iperf3', '-c', SERVER, '-p', String(PORT), '-t', String(opts.time), '-J', '--connect-timeout', '5000', ...(reverse ? ['-R'] : [])];
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
  return { gbps: bps / 1e9, lossPct: Number(received.lost_percent ?? NaN), sentGbps: typeof sent === 'number' ? sent / 1e9 : null };
}

const PING_COUNT = 20;
const PING_INTERVAL = '0.05';

function pingArgs(insideTool) {
  const ping = ['ping', '-c', String(PING_COUNT), '-i', PING_INTERVAL, '-q', SERVER];
  if (!insideTool) return ping;
  // ping sockets need the group in this namespace's ping_group_range; the tool's
  // own namespace starts with none, and root in the tool's user namespace may set it
  return ['sh', '-c', `echo 0 2147483647 2>/dev/null > /proc/sys/net/ipv4/ping_group_range; exec ${ping.join(' ')}`];
}

/** Round-trip times in µs from `ping -q` output, or throw with the reason the tool cannot ping. */
function parsePing(result) {
  const text = result.stdout.toString();
  const counts = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(text);
  const rtt = /rtt min\/avg\/max\/mdev = ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(text);
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
    maxUs: Number(rtt[3]) * 1000,
    sent: Number(counts[1]),
    received: Number(counts[2]),
  };
}

/**
 * Each tool: prepare() -> { available: false, reason } |
 * { available: true, exec(argv, timeoutMs) -> ExecResult (argv run in the tool's namespace), teardown() }.
 * `insideTool`: the command runs in a namespace of the tool's own (not the host's).
 */
function toolsFor(topo, opts) {
  const asUser = (argv) => (topo.fullIdMap ? runInHostAsUser(topo, opts.uid, opts.gid, argv) : topo.hostArgs(argv));
  const exec = (argv, timeoutMs) => topo.execArgs(asUser(argv), { timeoutMs, closeGraceMs: 3000 });
  const env = { ...process.env, HOME: '/tmp' };

  /** This project's pasta from `bin` (ours, or --base-bin's build). */
  const oursTool = (label, bin) => ({
    label,
    insideTool: true,
    async prepare() {
      if (!fs.existsSync(bin)) return { available: false, reason: `not available (${bin} does not exist)` };
      return {
        available: true,
        exec: (argv, timeoutMs) => topo.execArgs(asUser([process.execPath, bin, '--config-net', '--', ...argv]), { timeoutMs, closeGraceMs: 3000, env }),
        teardown: async () => {},
      };
    },
  });

  return {
    direct: {
      label: 'direct (no translation)',
      insideTool: false,
      async prepare() {
        return {
          available: true,
          exec,
          teardown: async () => {},
        };
      },
    },
    ours: oursTool('ours (node bin/pasta.js)', path.join(root, 'bin', 'pasta.js')),
    base: oursTool(`base (${opts.baseBin})`, path.resolve(opts.baseBin ?? '')),
    pasta: {
      label: 'pasta(1)',
      insideTool: true,
      async prepare() {
        if (!tryRun('sh', ['-c', 'command -v pasta'])) return { available: false, reason: 'not available (pasta not installed)' };
        return {
          available: true,
          exec: (argv, timeoutMs) => exec(['pasta', '--config-net', '--', ...argv], timeoutMs),
          teardown: async () => {},
        };
      },
    },
    slirp4netns: {
      label: 'slirp4netns',
      insideTool: true,
      async prepare() {
        if (!tryRun('sh', ['-c', 'command -v slirp4netns'])) {
          return { available: false, reason: 'not available (slirp4netns not installed)' };
        }
        // A namespace of the user's own, held by a shell reading its stdin.
        const holder = topo.spawnArgs(asUser(['unshare', '-Urn', '--', 'sh', '-c', 'echo ready; read x']), {
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        holder.stdin?.on('error', () => {});
        await new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('slirp4netns: namespace holder did not start')), 10_000);
          holder.stdout?.once('data', () => {
            clearTimeout(t);
            resolve(undefined);
          });
          holder.once('exit', () => {
            clearTimeout(t);
            reject(new Error('slirp4netns: namespace holder exited'));
          });
        });
        const pid = String(holder.pid);
        const slirp = topo.spawnArgs(
          asUser(['slirp4netns', '--configure', `--mtu=${MTU}`, '--disable-host-loopback', pid, 'tap0']),
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let slirpOutput = '';
        slirp.stdout?.on('data', (d) => {
          slirpOutput += d;
        });
        slirp.stderr?.on('data', (d) => {
          slirpOutput += d;
        });
        const inNs = (argv) => asUser(['nsenter', '-t', pid, '-U', '-n', '--preserve-credentials', '--', ...argv]);
        const teardown = async () => {
          for (const child of [slirp, holder]) {
            if (child.exitCode === null && child.signalCode === null) {
              const exited = new Promise((resolve) => child.once('exit', resolve));
              child.kill('SIGKILL');
              await exited;
            }
          }
        };
        // Ready when tap0 has 10.0.2.100 and the default route is in place.
        const deadline = Date.now() + 10_000;
        for (;;) {
          if (slirp.exitCode !== null || slirp.signalCode !== null) {
            await teardown();
            return { available: false, reason: `slirp4netns exited: ${firstLine(slirpOutput)}` };
          }
          const r = await topo.execArgs(inNs(['ip', '-4', 'route', 'show', 'default']), { timeoutMs: 5000 });
          if (r.stdout.toString().includes('tap0')) break;
          if (Date.now() > deadline) {
            await teardown();
            return { available: false, reason: 'slirp4netns did not configure tap0' };
          }
          await delay(30);
        }
        return {
          available: true,
          exec: async (argv, timeoutMs) => {
            // a tool that died after set-up gets a clear reason, not a stream of failed runs
            if (slirp.exitCode !== null || slirp.signalCode !== null) throw new Error(`slirp4netns exited: ${firstLine(slirpOutput)}`);
            return topo.execArgs(inNs(argv), { timeoutMs });
          },
          teardown,
        };
      },
    },
  };
}

const DIRECTIONS = [
  { key: 'up', label: 'namespace → remote', reverse: false },
  { key: 'down', label: 'remote → namespace (-R)', reverse: true },
];

const UDP_SIZES = [1400, 16000];
const UDP_CELLS = UDP_SIZES.flatMap((size) =>
  DIRECTIONS.map((d) => ({ key: `${size}-${d.key}`, label: d.label, size, reverse: d.reverse })),
);

/**
 * What each section measures. A section's cells are measured for every tool,
 * `runs` times each; a failed run ends its cell (a broken tool: do not spend
 * the other runs on it). `add` folds one run's value into the cell, `finish`
 * computes the medians.
 */
function sectionsFor(opts) {
  return {
    tcp: {
      title: 'TCP',
      cells: DIRECTIONS,
      server: true,
      timeoutMs: (opts.time + 40) * 1000,
      perRunS: opts.time + 45,
      async run(prepared, name, cell) {
        return parseIperf(await prepared.exec(iperfArgs(opts, cell.reverse), this.timeoutMs), name);
      },
      newCell: () => ({ runs: [], stalls: 0 }),
      add(cell, v) {
        cell.runs.push(v.gbps);
        cell.stalls += v.stalls;
      },
      finish(cell) {
        cell.median = median(cell.runs);
      },
      format: (v) => `${v.gbps.toFixed(2)} Gbit/s${v.stalls ? ` (${v.stalls} s stalled)` : ''}`,
      failure: (err) => `failed: ${err.message}`,
    },
    udp: {
      title: 'UDP',
      cells: UDP_CELLS,
      server: true,
      timeoutMs: (opts.udpTime + 40) * 1000,
      perRunS: opts.udpTime + 45,
      async run(prepared, name, cell) {
        return parseIperfUdp(await prepared.exec(udpArgs(opts, cell.size, cell.reverse), this.timeoutMs), name);
      },
      newCell: () => ({ runs: [] }),
      add(cell, v) {
        cell.runs.push(v);
      },
      finish(cell) {
        cell.median = median(cell.runs.map((r) => r.gbps));
        cell.lossMedian = median(cell.runs.map((r) => r.lossPct));
      },
      format: (v) =>
        `${v.gbps.toFixed(2)} Gbit/s received, ${v.lossPct.toFixed(1)} % lost` +
        (v.sentGbps !== null ? ` (${v.sentGbps.toFixed(2)} Gbit/s sent)` : ''),
      failure: (err) => `failed: ${err.message}`,
    },
    ping: {
      title: 'ping',
      cells: [{ key: 'rtt', label: `namespace → ${SERVER}` }],
      server: false,
      timeoutMs: 30_000,
      perRunS: 35,
      async run(prepared, name, cell, tool) {
        return parsePing(await prepared.exec(pingArgs(tool.insideTool), this.timeoutMs));
      },
      newCell: () => ({ runs: [] }),
      add(cell, v) {
        cell.runs.push(v);
      },
      finish(cell) {
        cell.median = median(cell.runs.map((r) => r.avgUs));
        cell.minMedian = median(cell.runs.map((r) => r.minUs));
        cell.maxMedian = median(cell.runs.map((r) => r.maxUs));
        cell.lost = cell.runs.reduce((n, r) => n + (r.sent - r.received), 0);
        cell.sent = cell.runs.reduce((n, r) => n + r.sent, 0);
      },
      format: (v) =>
        `avg ${v.avgUs.toFixed(0)} µs, min ${v.minUs.toFixed(0)} µs, max ${v.maxUs.toFixed(0)} µs` +
        (v.received < v.sent ? ` (${v.sent - v.received} of ${v.sent} lost)` : ''),
      failure: (err) => `not available: ${err.message}`,
    },
  };
}

/**
 * Every tool is prepared once and measured section by section (all of TCP,
 * then all of UDP, then ping). Returns { [section]: { date, runs, time, tools,
 * results } } with results[tool][cell] = { runs, median?, error?, ... }.
 */
async function measure(topo, opts, log) {
  const tools = toolsFor(topo, opts);
  const sections = sectionsFor(opts);
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
        results,
      };
      for (const name of opts.tools) {
        const tool = tools[name];
        const p = prepared[name];
        results[name] = {};
        for (const c of section.cells) {
          if (!p.available) {
            results[name][c.key] = { runs: [], error: p.reason };
            continue;
          }
          const cell = section.newCell();
          results[name][c.key] = cell;
          const what = `${section.title}${c.size ? ` ${c.size} B` : ''}`;
          for (let i = 0; i < opts.runs; i++) {
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
            if (cell.error) break; // a broken tool: do not spend the other runs on it
          }
          if (!cell.error) section.finish(cell);
        }
      }
    }
  } finally {
    for (const p of Object.values(prepared)) if (p.available) await p.teardown();
  }
  return out;
}

// ---- report -----------------------------------------------------------------------

const LABELS = { direct: 'direct (ceiling)', ours: 'ours', base: 'base (--base-bin)', pasta: 'pasta(1)', slirp4netns: 'slirp4netns' };

/** "a/b×" of two cells' medians, or – (the direct row is a reference, not a competitor). */
function ratioOf(name, cell, refCell) {
  return name !== 'direct' && cell.median !== undefined && refCell?.median ? `${(cell.median / refCell.median).toFixed(2)}×` : '–';
}

function rows(results, opts) {
  const out = [];
  for (const name of opts.tools) {
    for (const d of DIRECTIONS) {
      const cell = results[name][d.key];
      const ref = (tool) => results[tool]?.[d.key]?.median;
      const ratio = (tool) =>
        name !== 'direct' && cell.median !== undefined && ref(tool) ? `${(cell.median / ref(tool)).toFixed(2)}×` : '–';
      out.push({
        tool: LABELS[name],
        direction: d.label,
        median: cell.median !== undefined ? cell.median.toFixed(2) : cell.error ?? 'n/a',
        runs: cell.runs.map((v) => v.toFixed(2)).join(', ') || '–',
        stalls: cell.runs.length ? String(cell.stalls ?? 0) : '–',
        vsPasta: ratio('pasta'),
        vsSlirp: ratio('slirp4netns'),
      });
    }
  }
  return out;
}

const COLUMNS = [
  ['tool', 'tool'],
  ['direction', 'direction'],
  ['median', 'median Gbit/s'],
  ['vsPasta', 'vs pasta(1)'],
  ['vsSlirp', 'vs slirp4netns'],
  ['runs', 'runs (Gbit/s)'],
  ['stalls', 'stalled s'],
];

function udpRows(results, opts) {
  const out = [];
  for (const name of opts.tools) {
    for (const c of UDP_CELLS) {
      const cell = results[name]?.[c.key] ?? { runs: [], error: 'n/a' };
      const ok = cell.median !== undefined;
      out.push({
        tool: LABELS[name],
        size: `${c.size} B`,
        direction: c.label,
        median: ok ? cell.median.toFixed(2) : cell.error ?? 'n/a',
        loss: ok ? cell.lossMedian.toFixed(1) : '–',
        vsPasta: ratioOf(name, cell, results.pasta?.[c.key]),
        vsSlirp: ratioOf(name, cell, results.slirp4netns?.[c.key]),
        runs: cell.runs.map((r) => r.gbps.toFixed(2)).join(', ') || '–',
        runsLoss: cell.runs.map((r) => r.lossPct.toFixed(1)).join(', ') || '–',
      });
    }
  }
  return out;
}

const UDP_COLUMNS = [
  ['tool', 'tool'],
  ['size', 'datagram'],
  ['direction', 'direction'],
  ['median', 'median Gbit/s received'],
  ['loss', 'median loss %'],
  ['vsPasta', 'vs pasta(1)'],
  ['vsSlirp', 'vs slirp4netns'],
  ['runs', 'runs (Gbit/s)'],
  ['runsLoss', 'runs (loss %)'],
];

function pingRows(results, opts) {
  return opts.tools.map((name) => {
    const cell = results[name]?.rtt ?? { runs: [], error: 'n/a' };
    const ok = cell.median !== undefined;
    return {
      tool: LABELS[name],
      median: ok ? cell.median.toFixed(0) : cell.error ?? 'n/a',
      vsPasta: ratioOf(name, cell, results.pasta?.rtt),
      vsSlirp: ratioOf(name, cell, results.slirp4netns?.rtt),
      runs: cell.runs.map((r) => r.avgUs.toFixed(0)).join(', ') || '–',
      min: ok ? cell.minMedian.toFixed(0) : '–',
      max: ok ? cell.maxMedian.toFixed(0) : '–',
      lost: ok ? `${cell.lost}/${cell.sent}` : '–',
    };
  });
}

const PING_COLUMNS = [
  ['tool', 'tool'],
  ['median', 'median avg RTT µs (lower is better)'],
  ['vsPasta', 'vs pasta(1) (lower is better)'],
  ['vsSlirp', 'vs slirp4netns (lower is better)'],
  ['runs', 'runs: avg RTT µs'],
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
  if (measured.tcp) out.push({ key: 'tcp', title: 'TCP throughput', table: rows(measured.tcp.results, measured.tcp), columns: COLUMNS });
  if (measured.udp) out.push({ key: 'udp', title: 'UDP throughput', table: udpRows(measured.udp.results, measured.udp), columns: UDP_COLUMNS });
  if (measured.ping) out.push({ key: 'ping', title: 'Ping latency', table: pingRows(measured.ping.results, measured.ping), columns: PING_COLUMNS });
  if (measured.splice) out.push({ key: 'splice', title: TITLES.splice, table: spliceRows(measured.splice), columns: SPLICE_COLUMNS });
  if (measured.connrate) out.push({ key: 'connrate', title: TITLES.connrate, table: connrateRows(measured.connrate), columns: CONNRATE_COLUMNS });
  if (measured.startup) out.push({ key: 'startup', title: 'Start-up time', table: startupRows(measured.startup), columns: STARTUP_COLUMNS });
  if (measured.passt) out.push({ key: 'passt', title: TITLES.passt, table: passtRows(measured.passt), columns: PASST_COLUMNS });
  return out;
}

const plural = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;

function methodParagraph(key, s, asUser) {
  if (key === 'tcp') {
    return `Method: iperf3 server in the "remote" test namespace on ${SERVER}, reached from
a namespace given connectivity by each tool, which runs ${asUser} in the "host"
test namespace (veth uplink, MTU ${MTU}; the tools' MTU is ${MTU} too).
\`iperf3 -c ${SERVER} -t ${s.time} -J\`, one TCP stream, without and with \`-R\`;
${s.runs} run${s.runs > 1 ? 's' : ''} per cell, median of the receiver's rate. "stalled s" counts
the one-second iperf3 intervals, over all runs of a cell, that moved less than
10 Mbit/s: a tool that stalls and recovers has an erratic median, not a slow one.`;
  }
  if (key === 'startup') return startupMethod(s);
  if (key === 'splice') return spliceMethod(s, asUser);
  if (key === 'connrate') return connrateMethod(s, asUser);
  if (key === 'passt') return passtMethod(s, SERVER);
  if (key === 'udp') {
    return `Method: the same server and namespaces, \`iperf3 -c ${SERVER} -u -b 0 -l SIZE -t ${s.time} -J\`
(one stream at unlimited rate, datagrams of 1400 and 16000 bytes, both within
every tool's MTU), without and with \`-R\`; ${plural(s.runs, 'run')} per cell. The rate is
the receiver's (what arrived, in Gbit/s), the loss is the receiver's count of
datagrams that never arrived, in percent of those sent; both are medians over
the runs, taken separately. With no rate limit the sender outruns every path,
so loss is expected everywhere, the direct row included: compare how much gets
through.`;
  }
  return `Method: \`ping -c ${PING_COUNT} -i ${PING_INTERVAL} -q ${SERVER}\` from the namespace, ${plural(s.runs, 'run')} per tool;
the median of the per-run average round-trip times (ping's "rtt min/avg/max/mdev"
line), in microseconds: lower is better, and so are the ratios. Each run's
average includes its first echo, which sets up the tool's flow and is usually
the run's maximum: "median min" is closer to the steady state. The tools get
ICMP through ping sockets; in a tool's own namespace the command first sets
\`net.ipv4.ping_group_range\` to every group (root in the tool's user namespace
may). A tool that cannot ping at all shows why.`;
}

function markdownReport(info, opts, measured, asUser) {
  const parts = [`# Throughput, connection rate, latency and start-up: this project's pasta vs pasta(1) vs slirp4netns, and its passt vs passt(1)

Generated by \`npm run bench\` (bench/run.js)${[
    opts.only.length < SECTIONS.length ? `\`--only ${opts.only.join(',')}\`` : '',
    opts.quick ? '`--quick` (a smoke run: one short run per cell, not a measurement to quote)' : '',
  ].filter(Boolean).map((f, i) => (i ? ` and ${f}` : ` with ${f}`)).join('')}.

| | |
| --- | --- |
| date | ${info.date} |
| kernel (\`uname -r\`) | ${info.kernel} |
| CPU | ${info.cpu} (${info.cpus} CPUs) |
| node | ${info.node} |
| ours | ${info.ours} |
| pasta(1) | ${info.pasta} |
| slirp4netns | ${info.slirp4netns} |
| passt(1) | ${info.passt} |
| iperf3 | ${info.iperf3} |

The "direct" row is iperf3 (or ping, or the connection-rate client and server)
in the host namespace itself, with no tool in the path: the ceiling of this
machine and topology, not a competitor.
All traffic stays inside namespaces that the bench creates and removes.
The machine is shared with whatever else runs on it (2 CPUs here): compare
rows of one run, not numbers across runs.
`];
  const tables = sectionTables(measured);
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

// ---- main -------------------------------------------------------------------------

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  const log = (msg) => process.stdout.write(`bench: ${msg}\n`);
  if (['tcp', 'udp', 'splice', 'passt'].some((s) => opts.only.includes(s)) && !tryRun('sh', ['-c', 'command -v iperf3'])) {
    throw new Error('iperf3 is not installed (run `node scripts/pretest.js`)');
  }
  if (opts.only.includes('ping') && !tryRun('sh', ['-c', 'command -v ping'])) {
    throw new Error('ping is not installed (iputils-ping)');
  }
  ensureTun();
  const info = facts();
  const doProfile = opts.profile && opts.tools.includes('ours') && opts.only.includes('tcp');

  // The whole run has a deadline too: every run, plus generous set-up time.
  const sections = sectionsFor(opts);
  const budgetS =
    opts.only.reduce((sum, key) => sum + (sections[key] ? opts.tools.length * sections[key].cells.length * opts.runs * sections[key].perRunS : 0), 0) +
    (opts.only.includes('startup') ? startupBudgetS(opts) : 0) +
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
    if (opts.only.includes('passt')) measured.passt = await measurePasst(topo, opts, log, SERVER);
  } finally {
    await topo?.close();
    clearTimeout(watchdog);
  }
  for (const s of Object.values(measured)) s.quick = opts.quick;

  const asUser = topo.fullIdMap ? `as an unprivileged user (uid ${opts.uid}, rootless)` : 'as the test user';
  for (const t of sectionTables(measured)) {
    process.stdout.write(`\n${t.title}${t.key === 'ping' || t.key === 'startup' ? ' (lower is better)' : ''}\n\n${textTable(t.table, t.columns)}\n`);
  }
  process.stdout.write(`\npasta(1): ${info.pasta}; slirp4netns: ${info.slirp4netns}; kernel ${info.kernel}; ${info.cpu}\n`);
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
    fs.writeFileSync(
      path.join(root, 'bench', 'RESULTS.md'),
      markdownReport(info, opts, report, asUser) +
        (profile ? profileReport(profile.list, { time: profile.time }, profile.carried ? profile.date : undefined) : ''),
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
