// The "passt" section of bench/run.js: TCP throughput of a real QEMU guest
// through this project's passt and Debian's passt(1), side by side.
//
// Theory of operation: for each MTU (65520, passt's default, and 1500) and
// each passt (ours: node bin/passt.js; passt(1): /usr/bin/passt), passt runs
// as root in the topology's host namespace with `-f -e -s SOCKET -m MTU`, and
// the test guest of test/guest/ (Debian's cloud kernel, busybox initramfs with
// this machine's iperf3 in it; QEMU under TCG, `-netdev stream` to the socket)
// boots in that namespace. Its script gets an address by DHCP, sets eth0's MTU,
// and runs `iperf3 -c 203.0.113.10 -t T -f k` and the same with `-R`,
// alternating, `runs` times each, against one iperf3 server (`iperf3 -s`) in the
// remote namespace that serves the whole section. Each run's receiver rate is
// one line "RESULT DIR I rc=N ...receiver line..." on the console. The
// (MTU, passt) boots are ordered ours, passt(1) per MTU.
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
import { delay, median } from './common.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PORT = 5202;
export const PASST_MTUS = [65520, 1500];
export const PASST_IMPLS = [
  { key: 'ours', label: 'ours', argv: () => [process.execPath, path.join(root, 'bin', 'passt.js')] },
  { key: 'passt', label: 'passt(1)', argv: () => ['/usr/bin/passt'] },
];
export const PASST_DIRECTIONS = [
  { key: 'up', label: 'guest → remote', reverse: false },
  { key: 'down', label: 'remote → guest (-R)', reverse: true },
];
/** Guest boot and set-up allowance, per boot, in seconds. */
const BOOT_S = 40;
/** Per iperf3 run, on top of its time: connection set-up and the end of the test under TCG. */
const RUN_OVERHEAD_S = 6;

/** Options of the section: its own run count and time (TCG is slow; keep it to about 3 minutes). */
export function passtSettings(opts) {
  return { runs: opts.quick ? 1 : Math.min(opts.runs, 3), time: opts.quick ? 2 : 3 };
}

export function passtBudgetS(opts) {
  const s = passtSettings(opts);
  return PASST_MTUS.length * PASST_IMPLS.length * (BOOT_S + PASST_DIRECTIONS.length * s.runs * (s.time + RUN_OVERHEAD_S + 10)) + 30;
}

function guestScript(server, mtu, s) {
  const runs = Array.from({ length: s.runs }, (_, i) => i + 1).join(' ');
  return `
udhcpc -i eth0 -s /etc/dhcp4.sh -q -n -t 5 -T 1 >/dev/null 2>&1 || echo "DHCP4 failed"
ip link set dev eth0 mtu ${mtu} || echo "MTU ${mtu} refused"
echo "MTU $(cat /sys/class/net/eth0/mtu)"
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu
for i in ${runs}; do
  for d in up down; do
    r=; [ $d = down ] && r=-R
    iperf3 -c ${server} -p ${PORT} -t ${s.time} -f k --connect-timeout 5000 $r > /tmp/out 2>&1
    rc=$?
    echo "RESULT $d $i rc=$rc $(grep receiver /tmp/out | tail -n 1)"
    [ $rc = 0 ] || sed -n 's/^/ERR /p' /tmp/out | tail -n 3
  done
done
`;
}

/** Resolves once `socketPath` listens (a UNIX socket in the host namespace), or throws. */
async function waitForListening(topo, socketPath, child, getLog, waitMs = 20_000) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const table = fs.readFileSync(`/proc/${topo.hostPid}/net/unix`, 'utf8');
    if (table.split('\n').some((l) => l.endsWith(` ${socketPath}`) && l.split(/\s+/)[3] === '00010000')) return;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited (${child.exitCode ?? child.signalCode}) before listening: ${getLog().trim().split('\n').slice(-1)[0] ?? ''}`);
    }
    if (Date.now() > deadline) throw new Error(`did not listen on its socket within ${waitMs} ms`);
    await delay(50);
  }
}

async function stopChild(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
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

/** One boot: passt `impl` at `mtu`; returns { up: {runs, error?}, down: {...}, guestMtu }. */
async function measureOne(topo, impl, mtu, s, server, log) {
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
    if (impl.key === 'passt' && !fs.existsSync('/usr/bin/passt')) return fail('not installed');
    passt = topo.host.spawn([...impl.argv(), '-f', '-e', '-s', socketPath, '-m', String(mtu)]);
    passt.stdout?.on('data', (d) => (passtLog += d));
    passt.stderr?.on('data', (d) => (passtLog += d));
    try {
      await waitForListening(topo, socketPath, passt, () => passtLog);
    } catch (err) {
      return fail(`failed: ${err.message}`);
    }
    const timeoutMs = (BOOT_S + PASST_DIRECTIONS.length * s.runs * (s.time + RUN_OVERHEAD_S + 10)) * 1000;
    const guest = startGuest({
      socketPath,
      timeoutMs,
      spawn: (argv, o) => topo.host.spawn(argv, o),
      script: guestScript(server, mtu, s),
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
      const what = `${impl.label}, MTU ${mtu}, ${PASST_DIRECTIONS.find((d) => d.key === m[1]).label}, run ${m[2]}/${s.runs}`;
      if (m[3] === '0' && rate) {
        const mbps = Number(rate[1]) * UNIT[rate[2]];
        cell.runs.push(mbps);
        log(`${what}: ${mbps.toFixed(1)} Mbit/s`);
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
  const section = { date: new Date().toISOString(), runs: s.runs, time: s.time, results: {} };
  try {
    ensureGuestImage();
  } catch (err) {
    for (const mtu of PASST_MTUS) {
      section.results[mtu] = Object.fromEntries(
        PASST_IMPLS.map((i) => [i.key, Object.fromEntries(PASST_DIRECTIONS.map((d) => [d.key, { runs: [], error: `no guest image: ${err.message}` }]))]),
      );
    }
    return section;
  }
  const iperf = await startServer(topo, server);
  try {
    for (const mtu of PASST_MTUS) {
      section.results[mtu] = {};
      for (const impl of PASST_IMPLS) {
        const r = await measureOne(topo, impl, mtu, s, server, log);
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
  for (const mtu of PASST_MTUS) {
    for (const impl of PASST_IMPLS) {
      for (const d of PASST_DIRECTIONS) {
        const cell = section.results[mtu]?.[impl.key]?.[d.key] ?? { runs: [], error: 'n/a' };
        const ref = section.results[mtu]?.passt?.[d.key];
        out.push({
          mtu: String(mtu),
          tool: impl.label,
          direction: d.label,
          median: cell.median !== undefined ? cell.median.toFixed(1) : cell.error ?? 'n/a',
          vsPasst: impl.key === 'ours' && cell.median !== undefined && ref?.median ? `${(cell.median / ref.median).toFixed(2)}×` : '–',
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
  ['vsPasst', 'ours / passt(1)'],
  ['runs', 'runs (Mbit/s)'],
];

export function passtMethod(section, server) {
  return `Method: a real guest, QEMU under software emulation (TCG, one vCPU, 256 MiB)
booting Debian's cloud kernel with the busybox initramfs of test/guest/ (plus
this machine's iperf3), its virtio-net NIC on \`-netdev stream\` to passt's UNIX
socket. Each passt runs as root in the "host" test namespace with
\`-f -e -s SOCKET -m MTU\`, one fresh passt and one boot per (MTU, passt), at
MTU 65520 (passt's default) and 1500, the guest's eth0 set to the same MTU.
In the guest, after DHCP: \`iperf3 -c ${server} -t ${section.time} -f k\`, one TCP stream,
alternately without and with \`-R\`, ${section.runs} run${section.runs > 1 ? 's' : ''} each (short runs of ${section.time} s to keep the
section near 3 minutes under TCG), against one \`iperf3 -s\` in the "remote"
namespace; median of the receiver's rate in Mbit/s. The guest's CPU is
emulated, so its own TCP stack and iperf3 bound the rate for both passts, and
short runs under TCG scatter widely (see the runs column): the absolute
numbers say little about passt, the ratio ours / passt(1) is the figure to read.`;
}
