#!/usr/bin/env node
// Side-by-side TCP throughput of this project's pasta, Debian's pasta(1) and
// slirp4netns(1): `npm run bench` (or `node bench/run.js [options]`).
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
// Each cell is the median of N runs (default 3 of 10 s; --quick: 1 of 3 s) of
// the receiver's bits per second. MTU 65520 everywhere (pasta's default, and
// slirp4netns' --mtu). The results are printed as a table and written to
// bench/RESULTS.md (raw numbers in bench/out/results.json). A tool that is
// missing or fails gets its reason in the table instead of a number. Every
// child has a timeout, the whole run has one, and the topology's close()
// removes every process and namespace the bench made.
//
// Options: --quick, --runs N, --time SECONDS, --tools direct,ours,pasta,slirp4netns,
//          --uid N (--gid N), --no-write (print only).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { summarizeProfile } from './profile.js';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, runInHostAsUser, ADDRESSES } from '../test/e2e/topology-core.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SERVER = ADDRESSES.serverV4;
const PORT = 5201;
const MTU = ADDRESSES.mtu;

// ---- options -----------------------------------------------------------------

function parseOptions(argv) {
  const opts = { runs: 3, time: 10, tools: ['direct', 'ours', 'pasta', 'slirp4netns'], uid: 1000, gid: undefined, write: true, quick: false, profile: true };
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
    } else if (a === '--runs') opts.runs = Number(value());
    else if (a === '--time') opts.time = Number(value());
    else if (a === '--tools') opts.tools = value().split(',').filter(Boolean);
    else if (a === '--uid') opts.uid = Number(value());
    else if (a === '--gid') opts.gid = Number(value());
    else if (a === '--no-write') opts.write = false;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node bench/run.js [--quick] [--runs N] [--time S] [--tools direct,ours,pasta,slirp4netns] [--uid N] [--gid N] [--no-write] [--no-profile]\n');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  opts.gid ??= opts.uid;
  for (const t of opts.tools) {
    if (!['direct', 'ours', 'pasta', 'slirp4netns'].includes(t)) throw new Error(`unknown tool ${t}`);
  }
  if (!(opts.runs >= 1) || !(opts.time >= 1)) throw new Error('--runs and --time must be at least 1');
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
    iperf3: tryRun('iperf3', ['--version'])?.split('\n')[0] ?? 'not installed',
  };
}

/** Rootless tools need /dev/net/tun open to everyone (DESIGN.md); fix it as root, as pretest does. */
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

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function firstLine(text) {
  return (
    String(text)
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/^Failed to send \d+ bytes to syslog/.test(l))[0] ?? ''
  ).slice(0, 200);
}

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
function parseIperf(result, what) {
  const text = result.stdout.toString();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    const why = result.timedOut ? 'timed out' : `exit ${result.code ?? result.signal}`;
    throw new Error(`${what}: ${why}: ${firstLine(result.stderr) || firstLine(text) || 'no output'}`);
  }
  if (json.error) throw new Error(`${what}: iperf3: ${json.error}`);
  const bps = json.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number' || !(bps > 0)) throw new Error(`${what}: iperf3 reported no throughput`);
  // one-second intervals in which (almost) nothing moved: stalls, not slowness
  const stalls = (json.intervals ?? []).filter((i) => (i.sum?.bits_per_second ?? 0) < 1e7).length;
  return { gbps: bps / 1e9, stalls };
}

/**
 * Each tool: prepare() -> { available: false, reason } | { available: true, run(reverse), teardown() }.
 */
function toolsFor(topo, opts) {
  const asUser = (argv) => (topo.fullIdMap ? runInHostAsUser(topo, opts.uid, opts.gid, argv) : topo.hostArgs(argv));
  const execTimeout = (opts.time + 40) * 1000;
  const exec = (argv) => topo.execArgs(asUser(argv), { timeoutMs: execTimeout, closeGraceMs: 3000 });
  const env = { ...process.env, HOME: '/tmp' };

  return {
    direct: {
      label: 'direct (no translation)',
      async prepare() {
        return {
          available: true,
          run: async (reverse) => parseIperf(await exec(iperfArgs(opts, reverse)), 'direct'),
          teardown: async () => {},
        };
      },
    },
    ours: {
      label: 'ours (node bin/pasta.js)',
      async prepare() {
        const bin = path.join(root, 'bin', 'pasta.js');
        if (!fs.existsSync(bin)) return { available: false, reason: 'not available (bin/pasta.js does not exist yet)' };
        return {
          available: true,
          run: async (reverse) =>
            parseIperf(
              await topo.execArgs(asUser([process.execPath, bin, '--config-net', '--', ...iperfArgs(opts, reverse)]), {
                timeoutMs: execTimeout,
                closeGraceMs: 3000,
                env,
              }),
              'ours',
            ),
          teardown: async () => {},
        };
      },
    },
    pasta: {
      label: 'pasta(1)',
      async prepare() {
        if (!tryRun('sh', ['-c', 'command -v pasta'])) return { available: false, reason: 'not available (pasta not installed)' };
        return {
          available: true,
          run: async (reverse) => parseIperf(await exec(['pasta', '--config-net', '--', ...iperfArgs(opts, reverse)]), 'pasta'),
          teardown: async () => {},
        };
      },
    },
    slirp4netns: {
      label: 'slirp4netns',
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
          run: async (reverse) =>
            parseIperf(await topo.execArgs(inNs(iperfArgs(opts, reverse)), { timeoutMs: execTimeout }), 'slirp4netns'),
          teardown,
        };
      },
    },
  };
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const DIRECTIONS = [
  { key: 'up', label: 'namespace → remote', reverse: false },
  { key: 'down', label: 'remote → namespace (-R)', reverse: true },
];

async function measure(topo, opts, log) {
  const tools = toolsFor(topo, opts);
  /** results[tool][direction] = { runs: number[], median?: number, error?: string } */
  const results = {};
  for (const name of opts.tools) {
    const tool = tools[name];
    results[name] = {};
    let prepared;
    try {
      prepared = await tool.prepare();
    } catch (err) {
      prepared = { available: false, reason: `failed: ${err.message}` };
    }
    if (!prepared.available) {
      log(`${tool.label}: ${prepared.reason}`);
      for (const d of DIRECTIONS) results[name][d.key] = { runs: [], error: prepared.reason };
      continue;
    }
    try {
      for (const d of DIRECTIONS) {
        const cell = { runs: [], stalls: 0 };
        results[name][d.key] = cell;
        for (let i = 0; i < opts.runs; i++) {
          const server = await startIperfServer(topo);
          try {
            const { gbps, stalls } = await prepared.run(d.reverse);
            cell.runs.push(gbps);
            cell.stalls += stalls;
            log(`${tool.label}, ${d.label}, run ${i + 1}/${opts.runs}: ${gbps.toFixed(2)} Gbit/s` +
              (stalls ? ` (${stalls} s stalled)` : ''));
          } catch (err) {
            cell.error = `failed: ${err.message}`;
            log(`${tool.label}, ${d.label}, run ${i + 1}/${opts.runs}: ${cell.error}`);
          } finally {
            await server.stop();
          }
          if (cell.error) break; // a broken tool: do not spend the other runs on it
        }
        if (!cell.error) cell.median = median(cell.runs);
      }
    } finally {
      await prepared.teardown();
    }
  }
  return results;
}

// ---- report -----------------------------------------------------------------------

const LABELS = { direct: 'direct (ceiling)', ours: 'ours', pasta: 'pasta(1)', slirp4netns: 'slirp4netns' };

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

function textTable(table) {
  const widths = COLUMNS.map(([k, h]) => Math.max(h.length, ...table.map((r) => String(r[k]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
  return [line(COLUMNS.map(([, h]) => h)), line(widths.map((w) => '-'.repeat(w))), ...table.map((r) => line(COLUMNS.map(([k]) => r[k])))].join('\n');
}

function markdownTable(table) {
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  return [
    `| ${COLUMNS.map(([, h]) => h).join(' | ')} |`,
    `| ${COLUMNS.map(() => '---').join(' | ')} |`,
    ...table.map((r) => `| ${COLUMNS.map(([k]) => esc(r[k])).join(' | ')} |`),
  ].join('\n');
}

function markdownReport(info, opts, table, asUser) {
  return `# Throughput: this project's pasta vs pasta(1) vs slirp4netns

Generated by \`npm run bench\` (bench/run.js)${opts.quick ? ' with `--quick` (a smoke run: one short run per cell, not a measurement to quote)' : ''}.

| | |
| --- | --- |
| date | ${info.date} |
| kernel (\`uname -r\`) | ${info.kernel} |
| CPU | ${info.cpu} (${info.cpus} CPUs) |
| node | ${info.node} |
| ours | ${info.ours} |
| pasta(1) | ${info.pasta} |
| slirp4netns | ${info.slirp4netns} |
| iperf3 | ${info.iperf3} |

The "direct" row is iperf3 from the host namespace itself, with no tool in
the path: the ceiling of this machine and topology, not a competitor.

Method: iperf3 server in the "remote" test namespace on ${SERVER}, reached from
a namespace given connectivity by each tool, which runs ${asUser} in the "host"
test namespace (veth uplink, MTU ${MTU}; the tools' MTU is ${MTU} too).
\`iperf3 -c ${SERVER} -t ${opts.time} -J\`, one TCP stream, without and with \`-R\`;
${opts.runs} run${opts.runs > 1 ? 's' : ''} per cell, median of the receiver's rate. "stalled s" counts
the one-second iperf3 intervals, over all runs of a cell, that moved less than
10 Mbit/s: a tool that stalls and recovers has an erratic median, not a slow one.
All traffic stays inside namespaces that the bench creates and removes.
The machine is shared with whatever else runs on it (2 CPUs here): compare
rows of one run, not numbers across runs.

${markdownTable(table)}
`;
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

function profileReport(profiles, opts) {
  if (!profiles.length) return '';
  const lines = [
    '',
    '## Where the time goes',
    '',
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

// ---- main -------------------------------------------------------------------------

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  const log = (msg) => process.stdout.write(`bench: ${msg}\n`);
  if (!tryRun('sh', ['-c', 'command -v iperf3'])) throw new Error('iperf3 is not installed (run `node scripts/pretest.js`)');
  ensureTun();
  const info = facts();

  // The whole run has a deadline too: every run, plus generous set-up time.
  const budgetMs = (opts.tools.length * DIRECTIONS.length * opts.runs * (opts.time + 45) + 120) * 1000;
  let topo;
  const abort = async (why) => {
    process.stderr.write(`bench: ${why}; cleaning up\n`);
    await topo?.close();
    process.exit(1);
  };
  const watchdog = setTimeout(() => void abort(`did not finish within ${Math.round(budgetMs / 1000)} s`), budgetMs);
  process.once('SIGINT', () => void abort('interrupted'));
  process.once('SIGTERM', () => void abort('terminated'));

  let results;
  let profiles = [];
  try {
    topo = await createTopology();
    log(`topology up (host ${topo.hostPid}, remote ${topo.remotePid}); ${opts.runs} × ${opts.time} s per cell`);
    results = await measure(topo, opts, log);
    if (opts.profile && opts.tools.includes('ours')) profiles = await profileOurs(topo, opts, log);
  } finally {
    await topo?.close();
    clearTimeout(watchdog);
  }

  const asUser = topo.fullIdMap ? `as an unprivileged user (uid ${opts.uid}, rootless)` : 'as the test user';
  const table = rows(results, opts);
  process.stdout.write(`\n${textTable(table)}\n\n`);
  process.stdout.write(`pasta(1): ${info.pasta}; slirp4netns: ${info.slirp4netns}; kernel ${info.kernel}; ${info.cpu}\n`);

  if (opts.write) {
    const outDir = path.join(root, 'bench', 'out');
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'results.json'), `${JSON.stringify({ info, opts, results }, null, 2)}\n`);
    fs.writeFileSync(path.join(root, 'bench', 'RESULTS.md'), markdownReport(info, opts, table, asUser) + profileReport(profiles, opts));
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
