// The "startup" section of bench/run.js: how long each pasta takes from
// invocation until the namespace is ready, side by side with pasta(1), Debian's
// and upstream's (bench/upstream.sh's build, when it is there).
//
// Theory of operation: three measurements, each timed by bench/timeit.js
// where the command runs (so nsenter, setpriv and the Podman test bed's
// pivot_root are not in the time), `runs` times (default 10) after one
// unmeasured warm-up run that also checks the result; the tools take turns
// run by run so that a slow phase of the machine hits all of them alike.
//
//   attach  `pasta --config-net --netns FILE -P PIDFILE` as root in the
//           topology's host namespace, FILE a fresh namespace from
//           topo.createNetns() bind-mounted on an empty file as Podman does
//           (in a private mount namespace; pasta(1) drops its capabilities
//           before opening FILE, so a /proc/PID/ns/net link would be refused
//           to it). Timed until the first process exits: that is "ready",
//           the background translator then runs detached. pasta(1) gets
//           `--runas 0`: the host namespace maps every uid, which pasta(1)
//           takes for the init namespace and would switch to "nobody"
//           (under Podman it stays root of Podman's user namespace); so does
//           upstream's. The
//           background is ended by deleting FILE (a kill if it is still
//           there 3 s later).
//   spawn   `pasta --config-net -- true` as the unprivileged test user, the
//           whole run (namespace, configuration, command, teardown); then
//           min(3, runs) more runs per tool under GNU time (timeit.js --rss)
//           for the peak RSS (ru_maxrss: the largest single process).
//   podman  `podman run --rm --network pasta localhost/node-passt-bb:1 true`
//           in the Podman 5 test bed of test/podman (rootless, user "pod",
//           in the topology's host network namespace), with each pasta as
//           Podman's helper binary, and `--network none` as the reference
//           (Podman's own share). Not root, or no test bed: "not available".
//
// Nothing here touches the machine's network: every namespace is the
// topology's or made under it.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInHostAsUser } from '../test/e2e/topology-core.js';
import { runScript } from '../test/lib/script.js';
import { DEFAULT_UPSTREAM_DIR, delay, firstLine, median, upstreamBuild, upstreamLabel } from './common.js';
import { sharedEngines } from '../test/lib/engines.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const TIMEIT = path.join(here, 'timeit.js');
const OURS = path.join(root, 'bin', 'pasta.js');
const SETUP = path.join(root, 'test', 'podman', 'setup.sh');
const ENTER = path.join(root, 'test', 'podman', 'enter.sh');
const IMAGE = 'localhost/node-passt-bb:1';

/** The measurements, in report order. */
export const STARTUP_CELLS = [
  { key: 'attach', label: 'attach: `pasta --config-net --netns PATH` until the first process exits' },
  { key: 'spawn', label: 'spawn: `pasta --config-net -- true`, whole run' },
  { key: 'podman', label: '`podman run --rm --network pasta IMAGE true`' },
];

function alive(pid) {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The path of a command, or undefined. */
function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/**
 * Does this pasta(1) know Podman 5's --map-guest-addr? (Older ones fail, and
 * Podman runs them again without it.) Read from the binary's option table,
 * not its --help: a pasta(1) from another distribution may not run here.
 */
function knowsMapGuestAddr(bin) {
  try {
    const real = fs.realpathSync(bin);
    return [real, `${real}.avx2`].some((f) => fs.existsSync(f) && fs.readFileSync(f).includes('map-guest-addr'));
  } catch {
    return false;
  }
}

/** The result of a timeit.js run (its last output line), or throw with the reason the run failed. */
function timed(result, what) {
  const lines = result.stdout.toString().trim().split('\n');
  let t;
  try {
    t = JSON.parse(lines[lines.length - 1]);
  } catch {
    const why = result.timedOut ? 'timed out' : `exit ${result.code ?? result.signal}`;
    throw new Error(`${what}: ${why}: ${firstLine(result.stderr) || firstLine(result.stdout) || 'no output'}`);
  }
  if (t.code !== 0) throw new Error(`${what}: exit ${t.code ?? t.signal}: ${firstLine(t.stderr) || 'no message'}`);
  if (t.closedMs === null) throw new Error(`${what}: exited, but its stdout/stderr stayed open (a background copy holds them)`);
  return t;
}

/** Run test/podman/setup.sh ARGS; resolves with its exit code and output. */
const runSetup = (args, timeoutMs) => runScript(SETUP, args, timeoutMs);

/** A cold build of the test bed takes 30-90 s (as in test/e2e/podman.test.ts). */
export const PODMAN_SETUP_TIMEOUT_MS = 170_000;

/**
 * The Podman test bed, or { available: false, reason }. Podman finds each
 * pasta through its own helper directory (a containers.conf override), as in
 * test/e2e/podman.test.ts.
 */
async function podmanBed(topo, ours, pastas, log) {
  if (process.geteuid?.() !== 0) return { available: false, reason: 'not available (needs root: test/podman/setup.sh mounts the test bed)' };
  if (!fs.existsSync(SETUP)) return { available: false, reason: 'not available (no test/podman/setup.sh)' };
  // Unmounted again at the end only if it was not mounted before (someone else may be using it).
  const cache = process.env.NODE_PASST_PODMAN_CACHE || '/var/cache/node-passt-podman';
  const wasMounted = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === `${cache}/trixie/proc`);
  log('startup: mounting the Podman test bed (test/podman/setup.sh)');
  const setup = await runSetup([], PODMAN_SETUP_TIMEOUT_MS);
  const ready = /^ready: (\/.+)$/m.exec(setup.output);
  if (setup.code !== 0 || !ready) {
    const last = setup.output.trim().split('\n').slice(-1)[0] ?? '';
    return { available: false, reason: `not available (test/podman/setup.sh exited ${setup.code}: ${last.slice(0, 160)})` };
  }
  const chroot = ready[1];
  const dir = fs.mkdtempSync(path.join(chroot, 'tmp', 'node-passt-bench-'));
  fs.chmodSync(dir, 0o755);
  const inside = (p) => `/${path.relative(chroot, p)}`;
  const helper = {};
  const addHelper = (name, populate, more = '') => {
    const d = path.join(dir, name);
    fs.mkdirSync(d, { mode: 0o755 });
    populate(d);
    fs.writeFileSync(path.join(d, 'containers.conf'), `[engine]\nhelper_binaries_dir = ["${inside(d)}", {append=true}]\n${more}`, { mode: 0o644 });
    helper[name] = `${inside(d)}/containers.conf`;
  };
  addHelper('ours', (d) => fs.symlinkSync(ours, path.join(d, 'pasta')));
  // Ours with the shared engine, as a user would ask for it: pasta_options in containers.conf.
  addHelper('shared', (d) => fs.symlinkSync(ours, path.join(d, 'pasta')), '[network]\npasta_options = ["--shared-engine"]\n');
  let pastaNote = '';
  // pasta(1) and upstream's: pastas = { pasta: PATH, upstream: PATH }, either missing
  for (const [name, bin] of Object.entries(pastas).filter(([, b]) => b)) {
    // A copy (the tree cannot see the host's /usr/bin, nor the upstream cache); pasta re-executes itself as pasta.avx2 beside it.
    const real = fs.realpathSync(bin);
    addHelper(name, (d) => {
      fs.copyFileSync(real, path.join(d, 'pasta'));
      fs.chmodSync(path.join(d, 'pasta'), 0o755);
      if (fs.existsSync(`${real}.avx2`)) {
        fs.copyFileSync(`${real}.avx2`, path.join(d, 'pasta.avx2'));
        fs.chmodSync(path.join(d, 'pasta.avx2'), 0o755);
      }
    });
    if (!knowsMapGuestAddr(bin)) {
      pastaNote =
        `${bin} does not know --map-guest-addr: Podman's first call of it fails at once and Podman runs it ` +
        'again without that option, so its time includes one extra short run of it';
    }
  }
  const podman = (conf, args, timeoutMs = 60_000) =>
    topo.execArgs(
      // An hour of idleness before a shared engine exits: the section's runs all find it running.
      ['nsenter', '-t', String(topo.hostPid), '-n', '--', ENTER, '-u', 'pod', 'env', `CONTAINERS_CONF_OVERRIDE=${conf}`, 'NODE_PASTA_ENGINE_IDLE_MS=3600000', ...args],
      { timeoutMs },
    );
  const version = await podman(helper.ours, ['podman', '--version']);
  // a rootless pause process from earlier runs would keep old mounts
  await podman(helper.ours, ['podman', 'system', 'migrate']);
  return {
    available: true,
    helper,
    pastaNote,
    version: version.stdout.toString().trim(),
    /** timeit.js around `podman run --rm --network NET IMAGE true` with `conf`. */
    run: (conf, network) =>
      podman(conf, ['node', TIMEIT, '--', 'podman', 'run', '--rm', '--network', network, IMAGE, 'true']),
    async close() {
      // The shared engine Podman's pastas started (its socket is in the test bed's runtime directory).
      killSharedEngines('/run/user/', fs.readlinkSync(`/proc/${topo.hostPid}/ns/net`));
      await podman(helper.ours, ['podman', 'system', 'migrate']).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
      // leave no mounts behind (the repository is bound inside the tree), unless they were there before
      if (!wasMounted) await runSetup(['umount'], 60_000);
    },
  };
}

/** Kill every shared engine whose socket is under `dir`, in network namespace `netns` if given. */
function killSharedEngines(dir, netns) {
  for (const pid of sharedEngines(dir.endsWith('/') ? dir : `${dir}/`, netns)) process.kill(pid, 'SIGKILL');
}

/** The tools of this section, among opts.tools; with ours, ours with --shared-engine too (not for spawn). */
const startupTools = (opts) => opts.tools.flatMap((t) => (t === 'ours' ? ['ours', 'shared'] : t === 'pasta' || t === 'upstream' ? [t] : []));

/**
 * Measure the three start-up cells for `ours`, `pasta` and `upstream` (those
 * of opts.tools). Returns { date, runs, uid, tools, podman (its version),
 * podmanPasta, upstreamTag, notes, load (1-min load average at start and end), results }
 * with results[cell][tool] = { runs: [ms], median?, error? } (podman also
 * has tool "none").
 */
export async function measureStartup(topo, opts, log) {
  const tools = startupTools(opts);
  const pastaBin = which('pasta');
  const upstream = upstreamBuild(opts.upstreamDir ?? DEFAULT_UPSTREAM_DIR);
  const results = { attach: {}, spawn: {}, podman: {} };
  const notes = [];
  const out = {
    date: new Date().toISOString(),
    runs: opts.startupRuns,
    uid: opts.uid,
    tools,
    upstreamTag: upstream.tag,
    results,
    notes,
    podman: undefined,
    load: [os.loadavg()[0]],
  };
  const unavailable = {};
  if (tools.includes('pasta') && !pastaBin) unavailable.pasta = 'not available (pasta not installed)';
  if (tools.includes('upstream') && !upstream.available) unavailable.upstream = upstream.reason;
  if (tools.includes('ours') && !fs.existsSync(opts.oursBin ?? OURS)) unavailable.ours = unavailable.shared = `not available (${opts.oursBin ?? 'bin/pasta.js'} does not exist)`;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passt-bench-startup-'));
  fs.chmodSync(dir, 0o755);
  const asUser = (argv) => (topo.fullIdMap ? runInHostAsUser(topo, opts.uid, opts.gid, argv) : topo.hostArgs(argv));
  // NODE_EXTRA_CA_CERTS (set on some machines, such as CI sandboxes) makes every Node start
  // parse all root certificates: some 30 ms that belong to the machine, not to a pasta. Podman's
  // environment in the test bed does not have it either.
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  // Ours runs as a program, as Podman and a user's shell run it (bin/pasta.js's first line
  // execs the launcher, native/launch.cc, or `node`): the node it finds is this one.
  env.PATH = `${path.dirname(process.execPath)}:${env.PATH ?? '/usr/bin:/bin'}`;
  const userEnv = { ...env, HOME: '/tmp' };
  // --shared-engine: a runtime directory of its own, and an engine that outlasts the section (killed at its end).
  const runtime = path.join(dir, 'run');
  fs.mkdirSync(runtime, { mode: 0o700 });
  const sharedEnv = { ...env, XDG_RUNTIME_DIR: runtime, NODE_PASTA_ENGINE_IDLE_MS: '3600000' };
  const ours = opts.oursBin ? path.resolve(opts.oursBin) : OURS;
  const command = (tool) =>
    tool === 'ours' ? [ours] : tool === 'shared' ? [ours, '--shared-engine'] : tool === 'upstream' ? [upstream.pasta] : [pastaBin];
  let serial = 0;

  /** One attach run: resolves with the time until the first process exited. */
  const attach = async (tool, check) => {
    const ns = await topo.createNetns();
    if (tool === 'shared') return attachShared(ns, check);
    const n = ++serial;
    const file = path.join(dir, `netns-${n}`);
    const pidFile = path.join(dir, `pasta-${n}.pid`);
    fs.writeFileSync(file, '');
    const pasta = [...command(tool), ...(tool !== 'ours' ? ['--runas', '0'] : []), '--config-net', '--netns', file, '-P', pidFile];
    const argv = topo.hostArgs([
      'unshare', '-m', '--propagation', 'private', '--',
      'sh', '-c', 'mount --bind "$1" "$2" && shift 2 && exec "$@"', 'sh', ns.netnsPath, file,
      process.execPath, TIMEIT, '--', ...pasta,
    ]);
    let pid = 0;
    try {
      const t = timed(await topo.execArgs(argv, { timeoutMs: 30_000, env }), tool);
      pid = Number(fs.readFileSync(pidFile, 'utf8'));
      if (check) {
        const r = await ns.exec(['ip', '-4', '-o', 'addr', 'show']);
        if (!r.stdout.toString().includes(String(topo.addresses.hostV4))) {
          throw new Error(`${tool}: exited 0 but the namespace has no ${topo.addresses.hostV4}: ${firstLine(r.stdout)}`);
        }
      }
      return t;
    } finally {
      // Podman's way: delete the file; the background quits by itself.
      fs.rmSync(file, { force: true });
      const end = Date.now() + 3000;
      while (pid && alive(pid) && Date.now() < end) await delay(20);
      if (pid && alive(pid)) {
        notes.push(`attach, ${tool}: the background did not quit within 3 s of the deletion of its --netns file; killed`);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
  };

  /**
   * --shared-engine: the namespace by its /proc path, not bind-mounted in a mount namespace of
   * its own (one engine per mount namespace: each run would start one). Ended by killing the
   * launcher's process that stays (the PID file's).
   */
  const attachShared = async (ns, check) => {
    const pidFile = path.join(dir, `pasta-${++serial}.pid`);
    let pid = 0;
    try {
      const t = timed(
        await topo.execArgs(topo.hostArgs([process.execPath, TIMEIT, '--', ...command('shared'), '--config-net', '--netns', ns.netnsPath, '-P', pidFile]), { timeoutMs: 30_000, env: sharedEnv }),
        'shared',
      );
      pid = Number(fs.readFileSync(pidFile, 'utf8'));
      if (check) {
        const r = await ns.exec(['ip', '-4', '-o', 'addr', 'show']);
        if (!r.stdout.toString().includes(String(topo.addresses.hostV4))) throw new Error(`shared: exited 0 but the namespace has no ${topo.addresses.hostV4}`);
      }
      return t;
    } finally {
      if (pid) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // gone meanwhile
        }
        const end = Date.now() + 3000;
        while (alive(pid) && Date.now() < end) await delay(20);
      }
    }
  };

  const spawnRun = async (tool, check, rss) =>
    timed(
      await topo.execArgs(asUser([process.execPath, TIMEIT, ...(rss ? ['--rss'] : []), '--', ...command(tool), '--config-net', '--', 'true']), {
        timeoutMs: 30_000,
        env: userEnv,
      }),
      tool,
    );

  const cells = [
    { key: 'attach', tools, run: attach },
    // A command of pasta's own never goes to the shared engine.
    { key: 'spawn', tools: tools.filter((t) => t !== 'shared'), run: spawnRun },
  ];

  let bed;
  try {
    const podmanTools = [...tools, 'none'];
    const podmanPasta = tools.includes('pasta') && !unavailable.pasta ? opts.podmanPasta ?? pastaBin : undefined;
    out.podmanPasta = podmanPasta;
    const podmanUpstream = tools.includes('upstream') && !unavailable.upstream ? upstream.pasta : undefined;
    try {
      bed = await podmanBed(topo, ours, { pasta: podmanPasta, upstream: podmanUpstream }, log);
    } catch (err) {
      bed = { available: false, reason: `not available (${err.message})` };
    }
    if (bed.available) {
      out.podman = bed.version;
      if (bed.pastaNote) notes.push(bed.pastaNote);
      cells.push({
        key: 'podman',
        tools: podmanTools,
        run: async (tool) => {
          const conf = tool === 'none' ? bed.helper.ours : bed.helper[tool === 'shared' ? 'shared' : tool];
          return timed(await bed.run(conf, tool === 'none' ? 'none' : 'pasta'), `podman with ${tool}`);
        },
      });
    } else {
      log(`startup: podman: ${bed.reason}`);
      for (const t of podmanTools) results.podman[t] = { runs: [], error: bed.reason };
    }

    for (const cell of cells) {
      for (const tool of cell.tools) {
        results[cell.key][tool] = unavailable[tool] ? { runs: [], error: unavailable[tool] } : { runs: [], closed: [] };
      }
      // one unmeasured run each (caches, Podman's storage), which also checks the result
      for (let i = -1; i < opts.startupRuns; i++) {
        for (const tool of cell.tools) {
          const c = results[cell.key][tool];
          if (c.error) continue;
          try {
            const t = await cell.run(tool, i < 0);
            if (i < 0) continue;
            c.runs.push(t.ms);
            c.closed.push(t.closedMs);
            log(`startup ${cell.key}, ${tool}, run ${i + 1}/${opts.startupRuns}: ${t.ms.toFixed(1)} ms`);
          } catch (err) {
            c.error = `failed: ${err.message}`;
            log(`startup ${cell.key}, ${tool}: ${c.error}`);
          }
        }
      }
      for (const tool of cell.tools) {
        const c = results[cell.key][tool];
        if (!c.error && c.runs.length) {
          c.median = median(c.runs);
          c.closedMedian = median(c.closed);
        }
      }
    }

    // Peak RSS of the spawn run, in runs of their own (GNU time's fork is not in the times above).
    if (fs.existsSync('/usr/bin/time')) {
      for (let i = 0; i < rssRuns(opts); i++) {
        for (const tool of tools.filter((t) => t !== 'shared')) {
          const c = results.spawn[tool];
          if (c.error || c.rssError) continue;
          try {
            const t = await spawnRun(tool, false, true);
            if (typeof t.rssKiB !== 'number') throw new Error('GNU time reported no maximum resident set size');
            (c.rssKiB ??= []).push(t.rssKiB);
            c.rssMedianKiB = median(c.rssKiB);
            log(`startup spawn, ${tool}, peak RSS run ${i + 1}/${rssRuns(opts)}: ${(t.rssKiB / 1024).toFixed(1)} MiB`);
          } catch (err) {
            c.rssError = `failed: ${err.message}`;
            log(`startup spawn, ${tool}, peak RSS: ${c.rssError}`);
          }
        }
      }
    } else {
      for (const tool of tools) if (results.spawn[tool]) results.spawn[tool].rssError = 'not measured (no /usr/bin/time)';
    }
  } finally {
    if (bed?.available) await bed.close();
    killSharedEngines(runtime);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  out.load.push(os.loadavg()[0]);
  return out;
}

/** Runs of the peak-RSS measurement (the figure hardly varies from run to run). */
const rssRuns = (opts) => Math.min(3, opts.startupRuns);

/** Seconds the section may take (for the bench's overall deadline). */
export function startupBudgetS(opts) {
  const tools = startupTools(opts).length;
  return (opts.startupRuns + 1) * (tools * (5 + 2) + 3 * 3) + rssRuns(opts) * tools * 5 + PODMAN_SETUP_TIMEOUT_MS / 1000 + 90;
}

const LABELS = { ours: 'ours', shared: 'ours, `--shared-engine` (engine running)', pasta: 'pasta(1) Debian', none: '`--network none` (reference)' };

/** The rows of the startup table. */
export function startupRows(section) {
  const out = [];
  for (const cell of STARTUP_CELLS) {
    const byTool = section.results[cell.key] ?? {};
    const none = byTool.none?.median;
    for (const tool of Object.keys(byTool)) {
      const c = byTool[tool];
      const ok = c.median !== undefined;
      const ratio = (ref) => (ok && byTool[ref]?.median && tool !== 'none' ? `${(c.median / byTool[ref].median).toFixed(2)}×` : '–');
      out.push({
        what: cell.key,
        tool: tool === 'upstream' ? upstreamLabel(section.upstreamTag) : LABELS[tool] ?? tool,
        median: ok ? c.median.toFixed(1) : c.error ?? 'n/a',
        vsPasta: ratio('pasta'),
        vsUpstream: ratio('upstream'),
        overNone: ok && none !== undefined && tool !== 'none' ? `+${(c.median - none).toFixed(1)}` : '–',
        runs: c.runs.map((v) => v.toFixed(0)).join(', ') || '–',
        rss:
          cell.key !== 'spawn'
            ? '–'
            : c.rssMedianKiB !== undefined
              ? `${(c.rssMedianKiB / 1024).toFixed(1)} (${c.rssKiB.map((v) => (v / 1024).toFixed(1)).join(', ')})`
              : c.rssError ?? '–',
      });
    }
  }
  return out;
}

export const STARTUP_COLUMNS = [
  ['what', 'measurement'],
  ['tool', 'tool'],
  ['median', 'median ms (lower is better)'],
  ['vsPasta', 'vs pasta(1) Debian'],
  ['vsUpstream', 'vs upstream'],
  ['overNone', 'ms over `--network none`'],
  ['runs', 'runs (ms)'],
  ['rss', 'peak RSS MiB (runs)'],
];

export function startupMethod(section) {
  const runs = section.runs;
  const notes = section.notes?.length ? `\n\nNotes from this run: ${section.notes.join('; ')}.` : '';
  const load = section.load?.length === 2
    ? `\nThe machine's load average (1 min) was ${section.load[0].toFixed(2)} when the section started and ${section.load[1].toFixed(2)} when it
ended: start-up times are short and move with whatever else runs.`
    : '';
  const podman = [
    section.podman ? ` (${section.podman})` : '',
    section.podmanPasta ? `; pasta(1) is a copy of ${section.podmanPasta}` : '',
  ];
  return `Method: the time from invocation until the namespace is ready, median of ${runs} run${runs === 1 ? '' : 's'}
after one unmeasured warm-up run (which checks the namespace got its address); the tools
take turns run by run.${load}
Each command is timed by bench/timeit.js inside the namespace and as the user it runs
as, so the wrappers that put it there are not counted; its stdout/stderr are pipes, as
under Podman. NODE_EXTRA_CA_CERTS is removed from the environment (it costs every Node
start some 30 ms of certificate parsing on machines that set it; Podman's environment in
the test bed has no such variable either).

- **attach**: \`pasta --config-net --netns FILE -P PIDFILE\` as root in the test
  topology's host namespace; FILE is a fresh namespace from \`createNetns()\` bind-mounted
  on an empty file, as Podman does. Timed until the first process exits (the translator
  then runs in the background; it is ended by deleting FILE). Ours is run as a program,
  as Podman runs it: the first process is the small native launcher (native/launch.cc),
  and Node starts once, as the background translator (a Node process cannot fork). pasta(1)
  also gets \`--runas 0\` (the test namespace maps every uid, which pasta(1) takes for the
  init namespace and would switch to "nobody"; under Podman it stays root), and so does
  upstream's; without \`-t none\` and the like, pasta(1) scans /proc/net for ports to
  forward, most of its time.
- **spawn**: \`pasta --config-net -- true\` as the unprivileged test user (uid ${section.uid ?? 1000}), the
  whole run: user and network namespaces, configuration, the command, teardown.
  "peak RSS" is from ${Math.min(3, runs)} more such runs of their own under GNU time
  (\`/usr/bin/time -f %M\`): ru_maxrss of the run, which is that of its largest single
  process (ours: the Node engine or the helper it forks into the namespace, whichever is
  larger; pasta(1): the one pasta process, re-executed as passt.avx2), not their sum.
- **podman**: \`podman run --rm --network pasta ${IMAGE} true\`, end to end, rootless, in
  the Podman test bed of test/podman${podman[0]}, in the topology's host network namespace;
  each pasta is Podman's helper binary in turn${podman[1]}${section.upstreamTag ? ", upstream's a copy of bench/upstream.sh's build" : ''}. \`--network none\` is the
  reference, Podman's own share: "ms over \`--network none\`" is what the pasta adds. The
  aim is ours within 1.5× of pasta(1) here.
- **ours, \`--shared-engine\`**: the same commands with \`--shared-engine\`, the user's engine
  already running (the warm-up run starts it; it stays for the section): what a container
  costs once the engine serves others. For attach the namespace is given as its
  /proc/PID/ns/net path, not bind-mounted in a mount namespace of the run's own (there is
  one engine per mount namespace); Podman gets \`pasta_options = ["--shared-engine"]\` in
  its containers.conf. The aim is at most pasta(1)'s time over \`--network none\`.${notes}`;
}
