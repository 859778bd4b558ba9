// The "passt" section of bench/run.js: TCP throughput of a real QEMU guest
// through this project's passt, Debian's passt(1) and upstream's passt built
// from current source (bench/upstream.sh), side by side.
//
// Theory of operation: for each MTU (65520, passt's default, and 1500) and
// each passt (ours: node bin/passt.js; passt(1): /usr/bin/passt; upstream:
// the passt of bench/upstream.sh's cache, when it is there), passt runs
// as root in the topology's host namespace with `-f -e -s SOCKET -m MTU`, and
// the test guest of test/guest/ (Debian's cloud kernel, busybox initramfs with
// this machine's iperf3 in it; QEMU under TCG, `-netdev stream` to the socket)
// boots in that namespace. Its script gets an address by DHCP, sets eth0's MTU,
// and runs `iperf3 -c 203.0.113.10 -t T -f k` and the same with `-R`,
// alternating, `runs` times each, against one iperf3 server (`iperf3 -s`) in the
// remote namespace that serves the whole section. Each run's receiver rate is
// one line "RESULT DIR I rc=N ...receiver line..." on the console, after a
// line "BEGIN DIR I" before it: at each of those lines, as it arrives, the
// bench reads passt's CPU time (bench/cpu.js: /proc/PID/stat of the passt
// process it started, which stays in the foreground with -f), so each run
// also has passt's CPU seconds per GB received. The (MTU, passt) boots are
// ordered ours, passt(1), upstream per MTU.
//
// TCG emulates the guest's CPU in software, so the guest's own TCP stack and
// iperf3 bound the rate for both, and short runs scatter: the ratio is what
// this section is for. Nothing leaves the topology: the guest's only link
// is passt's UNIX socket, and passt's only uplink is the host namespace's veth.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGuest, ensureGuestImage } from '../test/guest/guest.js';
import { DEFAULT_UPSTREAM_DIR, delay, median, stopChild, upstreamBuild, upstreamLabel, waitForListening } from './common.js';
import { addCpu, cpuColumn, cpuMeter, cpuText } from './cpu.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PORT = 5202;
export const PASST_MTUS = [65520, 1500];
/** Each passt: argv(opts) -> { argv } or { reason } it cannot run; comms: its processes' names (bench/cpu.js). */
export const PASST_IMPLS = [
  { key: 'ours', label: 'ours', argv: () => ({ argv: [process.execPath, path.join(root, 'bin', 'passt.js')] }), comms: ['*'] },
  {
    key: 'passt',
    label: 'passt(1) Debian',
    argv: () => (fs.existsSync('/usr/bin/passt') ? { argv: ['/usr/bin/passt'] } : { reason: 'not installed' }),
    comms: ['passt.avx2', 'passt'],
  },
  {
    key: 'upstream',
    label: upstreamLabel(undefined, 'passt'),
    argv: (opts) => {
      const b = upstreamBuild(opts.upstreamDir ?? DEFAULT_UPSTREAM_DIR);
      return b.available ? { argv: [b.passt] } : { reason: b.reason };
    },
    comms: ['passt.avx2', 'passt'],
  },
];
export const PASST_DIRECTIONS = [
  { key: 'up', label: 'guest → remote', reverse: false },
  { key: 'down', label: 'remote → guest (-R)', reverse: true },
];
/** Guest boot and set-up allowance, per boot, in seconds. */
const BOOT_S = 40;
/** Per iperf3 run, on top of its time: connection set-up and the end of the test under TCG. */
const RUN_OVERHEAD_S = 6;

/** Options of the section: its own run count and time (TCG is slow: six boots, some 4 to 5 minutes). */
export function passtSettings(opts) {
  return { runs: opts.quick ? 1 : Math.min(opts.runs, 3), time: opts.quick ? 2 : 3 };
}

/**
 * The passts of this run (--passt-impls): by default ours and upstream's,
 * the comparison that matters, in four boots; Debian's 2023 passt(1) on
 * request (two boots more).
 */
export function passtImpls(opts) {
  const keys = opts.passtImpls ?? ['ours', 'upstream'];
  for (const k of keys) if (!PASST_IMPLS.some((i) => i.key === k)) throw new Error(`--passt-impls: unknown passt ${k} (ours, passt, upstream)`);
  return PASST_IMPLS.filter((i) => keys.includes(i.key));
}

export function passtBudgetS(opts) {
  const s = passtSettings(opts);
  return PASST_MTUS.length * passtImpls(opts).length * (BOOT_S + PASST_DIRECTIONS.length * s.runs * (s.time + RUN_OVERHEAD_S + 10)) + 30;
}

/**
 * The guest's side of a passt section (shared with bench/vhost.js): DHCP, the MTU, then
 * `s.runs` iperf3 runs each way against `server`:`port`, each between a "BEGIN DIR I" and
 * a "RESULT DIR I rc=N ..." line on the console.
 */
export function guestScript(server, mtu, s, port = PORT) {
  const runs = Array.from({ length: s.runs }, (_, i) => i + 1).join(' ');
  return `
udhcpc -i eth0 -s /etc/dhcp4.sh -q -n -t 5 -T 1 >/dev/null 2>&1 || echo "DHCP4 failed"
ip link set dev eth0 mtu ${mtu} || echo "MTU ${mtu} refused"
echo "MTU $(cat /sys/class/net/eth0/mtu)"
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu
for i in ${runs}; do
  for d in ${(s.dirs ?? ['up', 'down']).join(' ')}; do
    r=; [ $d = down ] && r=-R
    echo "BEGIN $d $i"
    iperf3 -c ${server} -p ${port} -t ${s.time} -f k --connect-timeout 5000 $r > /tmp/out 2>&1
    rc=$?
    echo "RESULT $d $i rc=$rc $(grep receiver /tmp/out | tail -n 1)"
    [ $rc = 0 ] || sed -n 's/^/ERR /p' /tmp/out | tail -n 3
  done
done
`;
}

/** A persistent iperf3 server in the remote namespace for the whole section. */
async function startServer(topo, server) {
  const child = topo.spawnRemote(['iperf3', '-s', '-B', server, '-p', String(PORT)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`iperf3 server exited: ${stderr.trim()}`);
    const r = await topo.execRemote(['ss', '-Hltn', `sport = :${PORT}`], { timeoutMs: 5000 });
    if (r.stdout.toString().includes(`:${PORT}`)) return child;
    if (Date.now() > deadline) throw new Error('iperf3 server did not start listening');
    await delay(30);
  }
}

const UNIT = { '': 1e-6, K: 1e-3, M: 1, G: 1e3 };

const BYTES = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** One boot: passt `impl` at `mtu`; returns { up: {runs, error?}, down: {...}, guestMtu }. */
async function measureOne(topo, impl, mtu, s, server, log, opts) {
  const cells = Object.fromEntries(PASST_DIRECTIONS.map((d) => [d.key, { runs: [] }]));
  const fail = (why) => {
    for (const c of Object.values(cells)) c.error ??= why;
    return { cells };
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passt-bench-'));
  fs.chmodSync(dir, 0o777); // passt(1) run as root drops to nobody before it binds the socket
  const socketPath = path.join(dir, 'passt.sock');
  let passtLog = '';
  let passt;
  try {
    const bin = impl.argv(opts);
    if (!bin.argv) return fail(bin.reason);
    passt = topo.host.spawn([...bin.argv, '-f', '-e', '-s', socketPath, '-m', String(mtu)]);
    passt.stdout?.on('data', (d) => (passtLog += d));
    passt.stderr?.on('data', (d) => (passtLog += d));
    try {
      await waitForListening(topo, socketPath, passt, () => passtLog);
    } catch (err) {
      return fail(`failed: ${err.message}`);
    }
    const timeoutMs = (BOOT_S + PASST_DIRECTIONS.length * s.runs * (s.time + RUN_OVERHEAD_S + 10)) * 1000;
    // passt's CPU over each iperf3 run: from its BEGIN line to its RESULT line
    const meters = new Map();
    const onLine = (line) => {
      const m = /^(BEGIN|RESULT) (up|down) (\d+)\b/.exec(line);
      if (!m) return;
      const key = `${m[2]} ${m[3]}`;
      if (m[1] === 'BEGIN') {
        meters.set(key, cpuMeter([passt.pid], impl.comms));
        meters.get(key).start();
      } else meters.get(key)?.stop();
    };
    const guest = startGuest({
      socketPath,
      timeoutMs,
      spawn: (argv, o) => topo.host.spawn(argv, o),
      script: guestScript(server, mtu, s),
      onLine,
    });
    let result;
    try {
      result = await guest.result;
    } catch (err) {
      return fail(`failed: ${String(err.message).split('\n')[0]}`);
    }
    const out = result.output;
    const guestMtu = Number(/^MTU (\d+)$/m.exec(out)?.[1]) || undefined;
    for (const line of out.split('\n')) {
      const m = /^RESULT (up|down) (\d+) rc=(\d+)(.*)$/.exec(line);
      if (!m) continue;
      const cell = cells[m[1]];
      const rate = /([\d.]+) ([KMG]?)bits\/sec\s+receiver/.exec(m[4]);
      const moved = /([\d.]+) ([KMGT]?)Bytes/.exec(m[4]);
      const what = `${impl.label}, MTU ${mtu}, ${PASST_DIRECTIONS.find((d) => d.key === m[1]).label}, run ${m[2]}/${s.runs}`;
      if (m[3] === '0' && rate) {
        const mbps = Number(rate[1]) * UNIT[rate[2]];
        const cpu = meters.get(`${m[1]} ${m[2]}`)?.result(moved ? Number(moved[1]) * BYTES[moved[2]] : 0) ?? { cpuError: 'no BEGIN line' };
        cell.runs.push(mbps);
        addCpu(cell, cpu);
        log(`${what}: ${mbps.toFixed(1)} Mbit/s${cpuText(cpu)}`);
      } else {
        const err = out.split('\n').filter((l) => l.startsWith('ERR ')).map((l) => l.slice(4).trim()).filter(Boolean).pop();
        cell.error ??= `failed: iperf3 exit ${m[3]}${err ? `: ${err}` : ''}`;
        log(`${what}: ${cell.error}`);
      }
    }
    for (const c of Object.values(cells)) {
      if (guestMtu !== mtu) c.error = `failed: guest MTU is ${guestMtu ?? 'unknown'}, not ${mtu}`;
      else if (c.runs.length) c.median = median(c.runs); // a failed later run leaves the earlier ones' median
      else c.error ??= 'failed: no result';
    }
    return { cells, guestMtu, bootMs: result.bootMs };
  } finally {
    await stopChild(passt);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The section: { date, runs, time, results: { [mtu]: { [impl]: { up, down } } } }.
 */
export async function measurePasst(topo, opts, log, server) {
  const s = passtSettings(opts);
  const upstream = upstreamBuild(opts.upstreamDir ?? DEFAULT_UPSTREAM_DIR);
  const section = {
    date: new Date().toISOString(),
    runs: s.runs,
    time: s.time,
    impls: passtImpls(opts).map((i) => i.key),
    upstreamTag: upstream.tag,
    results: {},
  };
  try {
    ensureGuestImage();
  } catch (err) {
    for (const mtu of PASST_MTUS) {
      section.results[mtu] = Object.fromEntries(
        passtImpls(opts).map((i) => [i.key, Object.fromEntries(PASST_DIRECTIONS.map((d) => [d.key, { runs: [], error: `no guest image: ${err.message}` }]))]),
      );
    }
    return section;
  }
  const iperf = await startServer(topo, server);
  try {
    for (const mtu of PASST_MTUS) {
      section.results[mtu] = {};
      for (const impl of passtImpls(opts)) {
        const r = await measureOne(topo, impl, mtu, s, server, log, opts);
        section.results[mtu][impl.key] = r.cells;
        if (r.bootMs) log(`${impl.label}, MTU ${mtu}: guest booted in ${(r.bootMs / 1000).toFixed(1)} s`);
      }
    }
  } finally {
    await stopChild(iperf);
  }
  return section;
}

export function passtRows(section) {
  const out = [];
  // a section of the time before the upstream build has no `impls`: ours and passt(1)
  const impls = PASST_IMPLS.filter((i) => (section.impls ?? ['ours', 'passt']).includes(i.key));
  for (const mtu of PASST_MTUS) {
    for (const impl of impls) {
      for (const d of PASST_DIRECTIONS) {
        const cell = section.results[mtu]?.[impl.key]?.[d.key] ?? { runs: [], error: 'n/a' };
        const ratio = (ref) => {
          const r = section.results[mtu]?.[ref]?.[d.key];
          return cell.median !== undefined && r?.median ? `${(cell.median / r.median).toFixed(2)}×` : '–';
        };
        out.push({
          mtu: String(mtu),
          tool: impl.key === 'upstream' ? upstreamLabel(section.upstreamTag, 'passt') : impl.label,
          direction: d.label,
          median: cell.median !== undefined ? cell.median.toFixed(1) : cell.error ?? 'n/a',
          vsPasst: ratio('passt'),
          vsUpstream: ratio('upstream'),
          cpu: cell.error && cell.median === undefined ? '–' : cpuColumn(impl.key, cell),
          runs: cell.runs.map((v) => v.toFixed(1)).join(', ') || '–',
        });
      }
    }
  }
  return out;
}

export const PASST_COLUMNS = [
  ['mtu', 'MTU'],
  ['tool', 'passt'],
  ['direction', 'direction'],
  ['median', 'median Mbit/s'],
  ['vsPasst', 'vs passt(1) Debian'],
  ['vsUpstream', 'vs upstream'],
  ['cpu', 'passt CPU s/GB'],
  ['runs', 'runs (Mbit/s)'],
];

const PASST_NAMES = {
  ours: 'ours (`node bin/passt.js`)',
  passt: "Debian's passt(1)",
  upstream: "upstream's current source (bench/upstream.sh)",
};

export function passtMethod(section, server) {
  return `Method: a real guest, QEMU under software emulation (TCG, one vCPU, 256 MiB)
booting Debian's cloud kernel with the busybox initramfs of test/guest/ (plus
this machine's iperf3), its virtio-net NIC on \`-netdev stream\` to passt's UNIX
socket. Each passt — ${(section.impls ?? ['ours', 'passt']).map((k) => PASST_NAMES[k]).join(', ')} — runs as root in the "host" test namespace with
\`-f -e -s SOCKET -m MTU\`, one fresh passt and one boot per (MTU, passt), at
MTU 65520 (passt's default) and 1500, the guest's eth0 set to the same MTU.
In the guest, after DHCP: \`iperf3 -c ${server} -t ${section.time} -f k\`, one TCP stream,
alternately without and with \`-R\`, ${section.runs} run${section.runs > 1 ? 's' : ''} each (short runs of ${section.time} s to keep the
section to a few minutes under TCG), against one \`iperf3 -s\` in the "remote"
namespace; median of the receiver's rate in Mbit/s. The guest's CPU is
emulated, so its own TCP stack and iperf3 bound the rate for every passt, and
short runs under TCG scatter widely (see the runs column): the absolute
numbers say little about passt, the ratios are the figures to read. "passt CPU
s/GB" is the CPU time (user + system, /proc/PID/stat) of the passt process
alone — not QEMU's — from the guest's "BEGIN" line before each iperf3 run to
its result line, per GB the receiver counted; the median over the runs. Under
TCG the guest is slow, so passt idles much of each run: the figure is passt's
cost per byte at this rate, not at its own limit.`;
}
