#!/usr/bin/env node
// vhost-user against the stream socket: TCP throughput of a real QEMU guest
// through this project's passt and upstream passt(1) built from current
// source, each with `--vhost-user` and with QEMU's stream socket, side by
// side, at MTU 65520 and 1500. Runs alone (as root) and prints a markdown
// table:
//
//   sudo node bench/vhost.js [--runs N] [--time S] [--upstream PATH] [--only KEYS] [--mtu LIST] [--dir LIST] [--pin]
//
// (--only ours-vu,ours,up-vu,up picks passts, --mtu 65520,1500 the MTUs,
// --dir up,down the directions, --pin passt on CPU 0 and QEMU on CPU 1.)
//
// Theory of operation: the private test topology (test/e2e/topology-core.js)
// gives a "host" namespace with one uplink to a "remote" namespace, where
// one `iperf3 -s` serves the whole run. For each MTU and each of the four
// passts (ours vhost-user, ours stream, upstream vhost-user, upstream
// stream) a fresh passt runs as root in the host namespace with
// `-f -e -s SOCKET -m MTU -D none` (plus `--vhost-user`), and the test guest of
// test/guest/ (Debian's cloud kernel, busybox initramfs with this machine's
// iperf3) boots in that namespace under QEMU 10.0 from the Debian trixie
// tree of test/libvirt/setup.sh — the same QEMU for all four, since
// bookworm's QEMU 7.2 crashes booting this guest on vhost-user. With
// vhost-user the guest's memory is a shared memfd and its NIC
// `-netdev vhost-user`; otherwise `-netdev stream`. The guest's script gets
// an address by DHCP, sets eth0's MTU, and runs `iperf3 -c` to the remote
// server and the same with `-R`, alternating, N times each; the receiver's
// rate of each run is a line on the console. QEMU runs under TCG (software
// emulation), so the guest's own CPU bounds the rate for everyone: read the
// ratios. Beside the rate, passt's own CPU time per gigabyte moved: its
// user and system time (of the process and any children, from /proc) read
// when the guest announces a run and when it reports it, over the bytes
// the run moved — what passt costs the host per byte, which the emulated
// guest's speed does not decide. Nothing leaves the topology.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createTopology, ADDRESSES } from '../test/e2e/topology-core.js';
import { startGuest, ensureGuestImage } from '../test/guest/guest.js';
import { holdBed } from '../test/lib/bedlock.js';
import { delay, median, stopChild, waitForListening } from './common.js';
import { guestScript } from './passt.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SETUP = path.join(root, 'test', 'libvirt', 'setup.sh');
const ENTER = path.join(root, 'test', 'libvirt', 'enter.sh');
const PORT = 5203;
const MTUS = [65520, 1500];
const DIRECTIONS = [
  { key: 'up', label: 'guest → remote' },
  { key: 'down', label: 'remote → guest (-R)' },
];

function parseOptions(argv) {
  const o = { runs: 3, time: 3, upstream: '/work/cache/passt-src/passt', only: null, mtus: MTUS, dirs: DIRECTIONS.map((d) => d.key) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--runs' && /^\d+$/.test(v ?? '')) (o.runs = Number(v)), i++;
    else if (a === '--time' && /^\d+$/.test(v ?? '')) (o.time = Number(v)), i++;
    else if (a === '--upstream' && v) (o.upstream = v), i++;
    else if (a === '--only' && v) (o.only = v.split(',')), i++;
    else if (a === '--mtu' && /^\d+(,\d+)*$/.test(v ?? '')) (o.mtus = v.split(',').map(Number)), i++;
    else if (a === '--dir' && /^(up|down)(,(up|down))*$/.test(v ?? '')) (o.dirs = v.split(',')), i++;
    else if (a === '--pin') o.pin = true;
    else {
      process.stderr.write(`bench/vhost.js: unknown or incomplete option ${a}\nusage: node bench/vhost.js [--runs N] [--time S] [--upstream PATH] [--only ours-vu,ours,up-vu,up] [--mtu 65520,1500] [--dir up,down] [--pin]\n`);
      process.exit(1);
    }
  }
  return o;
}

const IMPLS = (o) => [
  { key: 'ours-vu', label: 'ours, vhost-user', argv: [process.execPath, path.join(root, 'bin', 'passt.js'), '--vhost-user'], vhostUser: true },
  { key: 'ours', label: 'ours, stream', argv: [process.execPath, path.join(root, 'bin', 'passt.js')], vhostUser: false },
  { key: 'up-vu', label: 'upstream, vhost-user', argv: [o.upstream, '--vhost-user'], vhostUser: true },
  { key: 'up', label: 'upstream, stream', argv: [o.upstream], vhostUser: false },
];

const UNIT = { '': 1e-6, K: 1e-3, M: 1, G: 1e3 };
const BYTES = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };
const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** User and system CPU seconds of process `pid` and its descendants (0 for those gone). */
function cpuSeconds(pid) {
  const stats = new Map();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const t = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(e), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // gone meanwhile
    }
  }
  let ticks = 0;
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop();
    ticks += stats.get(p)?.ticks ?? 0;
    for (const [c, s] of stats) if (s.ppid === p) todo.push(c);
  }
  return ticks / TICK;
}

/**
 * With --pin, passt runs on CPU 0 and QEMU (every thread of it) on CPU 1:
 * the same placement for every passt, instead of whatever the scheduler picks
 * for each boot (the emulated guest's vCPU thread alone fills a CPU).
 */
function pinTo(o, cpu) {
  return o.pin ? ['taskset', '-c', String(cpu)] : [];
}

/** One boot: { up: {runs, median?, error?}, down: {...} }. */
async function measureOne(topo, tree, impl, mtu, o) {
  const dirs = DIRECTIONS.filter((d) => o.dirs.includes(d.key));
  const cells = Object.fromEntries(dirs.map((d) => [d.key, { runs: [], cpu: [] }]));
  /** passt's CPU seconds at the start of the run in progress, by direction. */
  const cpuAt = {};
  const fail = (why) => {
    for (const c of Object.values(cells)) c.error ??= why;
    return cells;
  };
  const dir = fs.mkdtempSync(path.join(tree, 'tmp', 'npvb-'));
  fs.chmodSync(dir, 0o777); // passt run as root works as nobody
  const socketPath = path.join(dir, 'passt.sock');
  const inside = (p) => `/${path.relative(tree, p)}`;
  let log = '';
  let passt;
  try {
    if (!fs.existsSync(impl.argv[0])) return fail(`${impl.argv[0]} not found`);
    // -D none: the guest is told of no resolver (it needs none: iperf3 goes to an address), never the machine's.
    passt = topo.host.spawn([...pinTo(o, 0), ...impl.argv, '-f', '-e', '-s', socketPath, '-m', String(mtu), '-D', 'none']);
    passt.stdout?.on('data', (d) => (log += d));
    passt.stderr?.on('data', (d) => (log += d));
    try {
      await waitForListening(topo, socketPath, passt, () => log);
    } catch (err) {
      return fail(`failed: ${err.message}`);
    }
    const guest = startGuest({
      socketPath: inside(socketPath),
      vhostUser: impl.vhostUser,
      timeoutMs: (40 + dirs.length * o.runs * (o.time + 16)) * 1000,
      onLine: (line) => {
        const b = /^BEGIN (up|down) \d+/.exec(line);
        if (b) cpuAt[b[1]] = cpuSeconds(passt.pid);
        const r = /^RESULT (up|down) \d+ rc=0.*?([\d.]+) ([KMG]?)Bytes\s+[\d.]+ [KMG]?bits\/sec\s+receiver/.exec(line);
        if (r && cpuAt[r[1]] !== undefined) {
          const used = cpuSeconds(passt.pid) - cpuAt[r[1]];
          const bytes = Number(r[2]) * BYTES[r[3]];
          if (bytes > 0 && used >= 0) cells[r[1]].cpu.push(used / (bytes / 1e9));
        }
      },
      dir,
      pathFor: inside,
      spawn: (argv, opts) => topo.spawnArgs([...pinTo(o, 1), 'nsenter', '-t', String(topo.hostPid), '-n', '--', ENTER, ...argv], opts),
      script: guestScript(ADDRESSES.serverV4, mtu, o, PORT),
    });
    let out;
    let failure;
    try {
      out = (await guest.result).output;
    } catch (err) {
      if (process.env.BENCH_DEBUG) process.stderr.write(`${err.message}\n--- passt ---\n${log.slice(-3000)}\n`);
      // The runs that finished still count; the cells without one say why the boot failed (passt's last words if it died).
      out = guest.output();
      const died = passt.exitCode !== null || passt.signalCode !== null;
      failure = died
        ? `passt died (${passt.exitCode ?? passt.signalCode}): ${log.trim().split('\n').filter((l) => !/^\s*$/.test(l)).pop() ?? ''}`
        : `failed: ${String(err.message).split('\n')[0]}`;
    }
    const guestMtu = Number(/^MTU (\d+)$/m.exec(out)?.[1]) || undefined;
    for (const line of out.split('\n')) {
      const m = /^RESULT (up|down) (\d+) rc=(\d+)(.*)$/.exec(line);
      if (!m) continue;
      const cell = cells[m[1]];
      const rate = /([\d.]+) ([KMG]?)bits\/sec\s+receiver/.exec(m[4]);
      const what = `${impl.label}, MTU ${mtu}, ${m[1]}, run ${m[2]}/${o.runs}`;
      if (m[3] === '0' && rate) {
        const mbps = Number(rate[1]) * UNIT[rate[2]];
        cell.runs.push(mbps);
        process.stderr.write(`${what}: ${mbps.toFixed(1)} Mbit/s\n`);
      } else {
        const err = out.split('\n').filter((l) => l.startsWith('ERR ')).map((l) => l.slice(4).trim()).filter(Boolean).pop();
        cell.error ??= `failed: iperf3 exit ${m[3]}${err ? `: ${err}` : ''}`;
        process.stderr.write(`${what}: ${cell.error}\n`);
      }
    }
    for (const c of Object.values(cells)) {
      if (failure) c.error = failure;
      if (guestMtu !== mtu) c.error = failure ?? `failed: guest MTU is ${guestMtu ?? 'unknown'}, not ${mtu}`;
      if (c.runs.length && guestMtu === mtu) c.median = median(c.runs);
      if (c.cpu.length) c.cpuMedian = median(c.cpu);
      else c.error ??= 'failed: no result';
    }
    return cells;
  } finally {
    await stopChild(passt);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function table(results, impls, o) {
  const ratio = (a, b) => (a?.median !== undefined && b?.median ? `${(a.median / b.median).toFixed(2)}×` : '–');
  const lines = [
    '| MTU | direction | passt | median Mbit/s | ours vhost-user / this | runs (Mbit/s) | passt CPU s/GB (median; runs) |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const mtu of MTUS.filter((m) => results[m])) {
    for (const d of DIRECTIONS.filter((x) => o.dirs.includes(x.key))) {
      const ours = results[mtu]['ours-vu']?.[d.key];
      for (const impl of impls) {
        const c = results[mtu][impl.key][d.key];
        const med = c.median !== undefined ? `${c.median.toFixed(1)}${c.error ? ` (then ${c.error})` : ''}` : c.error ?? 'n/a';
        const cpu = c.cpuMedian !== undefined ? `${c.cpuMedian.toFixed(2)}; ${c.cpu.map((v) => v.toFixed(2)).join(', ')}` : '–';
        lines.push(`| ${mtu} | ${d.label} | ${impl.label} | ${med} | ${impl.key === 'ours-vu' ? '–' : ratio(ours, c)} | ${c.runs.map((v) => v.toFixed(1)).join(', ') || '–'} | ${cpu} |`);
      }
    }
  }
  return lines.join('\n');
}

async function main() {
  const o = parseOptions(process.argv.slice(2));
  if (process.geteuid?.() !== 0) {
    process.stderr.write('bench/vhost.js must run as root: it builds or mounts the Debian trixie tree with QEMU 10.0 (test/libvirt/setup.sh) and makes the private test topology\n');
    process.exit(1);
  }
  if (!fs.existsSync(path.join(root, 'dist', 'cli', 'passt.js'))) {
    process.stderr.write('bench/vhost.js: no dist/: run `npm run build:ts` first\n');
    process.exit(1);
  }
  // Held for the whole run: a libvirt test ending meanwhile (setup.sh umount) leaves the tree mounted.
  const hold = await holdBed(process.env.NODE_PASST_LIBVIRT_CACHE || '/var/cache/node-passt-libvirt');
  const setup = spawnSync(SETUP, [], { encoding: 'utf8', timeout: 420_000 });
  const ready = /^ready: (\/.+)$/m.exec(setup.stdout ?? '');
  if (setup.status !== 0 || !ready) {
    process.stderr.write(`bench/vhost.js: cannot build or mount the trixie tree (test/libvirt/setup.sh exited ${setup.status}):\n${(setup.stdout ?? '') + (setup.stderr ?? '')}\n`);
    process.exit(1);
  }
  const tree = ready[1];
  ensureGuestImage();
  const impls = IMPLS(o).filter((i) => !o.only || o.only.includes(i.key));
  const topo = await createTopology();
  let iperf;
  const results = {};
  const started = new Date();
  try {
    iperf = topo.spawnRemote(['iperf3', '-s', '-B', ADDRESSES.serverV4, '-p', String(PORT)], { stdio: ['ignore', 'ignore', 'pipe'] });
    for (let i = 0; ; i++) {
      const r = await topo.execRemote(['ss', '-Hltn', `sport = :${PORT}`], { timeoutMs: 5000 });
      if (r.stdout.toString().includes(`:${PORT}`)) break;
      if (i > 300 || iperf.exitCode !== null) throw new Error('iperf3 server did not start listening');
      await delay(30);
    }
    for (const mtu of o.mtus) {
      results[mtu] = {};
      for (const impl of impls) results[mtu][impl.key] = await measureOne(topo, tree, impl, mtu, o);
    }
  } finally {
    await stopChild(iperf);
    await topo.close();
    await hold.release();
  }
  const qemu = spawnSync(ENTER, ['qemu-system-x86_64', '--version'], { encoding: 'utf8' }).stdout?.split('\n')[0] ?? '';
  process.stdout.write(`### vhost-user (bench/vhost.js, ${started.toISOString().slice(0, 10)})

Guest iperf3, one TCP stream, ${o.runs} run${o.runs > 1 ? 's' : ''} of ${o.time} s each way per cell (median of the
receiver's rate); ${qemu || 'QEMU 10.0'} under TCG (one vCPU, 256 MiB) from the trixie tree of
test/libvirt/setup.sh for every row; upstream is ${o.upstream}. The guest's CPU is
emulated and bounds every rate: read the ratios.${o.pin ? ' Pinned (--pin): passt on CPU 0, QEMU on CPU 1.' : ''}

${table(results, impls, o)}
`);
}

main().catch((err) => {
  process.stderr.write(`bench/vhost.js: ${err.stack ?? err}\n`);
  process.exit(1);
});
