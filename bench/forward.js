// The "splice" and "connrate" sections of bench/run.js: traffic through a
// forwarded port, ours vs pasta(1) (Debian's, and upstream's current source
// built by bench/upstream.sh), with slirp4netns' port forwarding and the bare
// loopback as references. The splice section has each tool's CPU time per
// byte too (bench/cpu.js): the -t server runs until its tool's CPU has been
// read after the client's run, the -T client in the wrapper that marks its
// start and end.
//
// Theory of operation: everything runs in the topology's "host" namespace as
// the unprivileged test user (like the tcp section), plus clients in the
// "remote" namespace for the tap path. Each pasta is started per run with an
// explicit forwarding set, the other kinds `none`, so that both pastas build
// the same path and no automatic port detection runs beside the measurement:
//
//   -t P:  pasta --config-net -t P -T none -u none -U none -- SERVER
//   -T P:  pasta --config-net -t none -T P -u none -U none -- CLIENT
//
// splice   iperf3, one TCP stream of `time` seconds (as the tcp section),
//          without and with -R, over the spliced loopback path. -t: the
//          iperf3 server runs inside the namespace (a one-off `iperf3 -s -1`,
//          pasta's command, wrapped in a shell that prints LISTENING once it
//          listens) and the client in the host namespace connects to
//          127.0.0.1:P, which pasta accepts and splices into the namespace's
//          loopback. -T: the server listens on the host namespace's
//          127.0.0.1:P and the client, pasta's command, connects to the
//          namespace's own 127.0.0.1:P. Gbit/s received.
//   connrate bench/connrate.js: for `seconds` seconds, 8 loops that each
//          connect, send 16 bytes, read the 16-byte echo and close (the
//          client closes first); the server is inside the namespace, pasta's
//          command, -t P. "spliced": the client on the host's 127.0.0.1;
//          "tap": the client in the remote namespace, bound to 203.0.113.10,
//          connecting to the host namespace's 198.51.100.2:P (so through
//          pasta's tap, the server sees 203.0.113.10). Completed connections
//          per second; a connection stuck for 1 s counts as failed. A run
//          makes more connections than there are ephemeral ports, so for
//          the section the clients' namespaces get ports 10000-65535, the
//          remote one net.ipv4.tcp_tw_reuse=1 (the client's TIME_WAIT ports
//          are reused after 1 s, as the host namespace's default, 2, already
//          does on loopback) and a route that gives 198.51.100.2 the source
//          203.0.113.10 (see prepareClients); all undone at the end.
//
// References: "direct" runs the same server in the host namespace itself (no
// tool, bare loopback or bare veth: the ceiling of this machine). slirp4netns
// has no splice path: it is measured through its port forwarding
// (`--api-socket`, add_hostfwd 0.0.0.0:P -> 10.0.2.100:P; data copied through
// its user-mode TCP/IP stack) where that exists, the -t rows and both
// connrate paths, and labelled so; it has nothing like -T.
//
// The tools take turns run by run (for each cell, run 1 of every tool, then
// run 2, ...) so that a slow phase of the shared machine hits all of them
// alike; each tool has ports of its own (slirp4netns' forwards stay open
// through the section), and every run waits until its listeners are up.
// Nothing leaves the topology's namespaces.

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInHostAsUser, ADDRESSES } from '../test/e2e/topology-core.js';
import { DEFAULT_UPSTREAM_DIR, delay, firstLine, median, parseIperf, upstreamBuild, upstreamLabel } from './common.js';
import { CPU_METHOD, TOOL_COMMS, addCpu, cpuColumn, cpuMeter, cpuText, descendants, execMarked, markedArgv, processTable } from './cpu.js';
import { startSlirp } from './slirp.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const OURS = path.join(root, 'bin', 'pasta.js');
const CONNRATE_JS = path.join(here, 'connrate.js');
const MTU = ADDRESSES.mtu;

/** The tools of these sections, in opts.tools order; each gets port BASE + its index here. */
const TOOL_ORDER = ['direct', 'ours', 'base', 'pasta', 'upstream', 'slirp4netns'];
const SPLICE_PORT_BASE = 5210;
const CONNRATE_PORT_BASE = 5220;
export const CONNRATE_CONCURRENCY = 8;
export const CONNRATE_BYTES = 16;
/** Ephemeral ports of the connrate clients' namespaces (the default, 32768-60999, runs short within a run). */
const EPHEMERAL_PORTS = '10000 65535';

export const SPLICE_CELLS = [
  { key: 't-up', fwd: 't', reverse: false, label: '-t: host → namespace (client on the host\'s 127.0.0.1)' },
  { key: 't-down', fwd: 't', reverse: true, label: '-t, -R: namespace → host' },
  { key: 'T-up', fwd: 'T', reverse: false, label: '-T: namespace → host (client on the namespace\'s 127.0.0.1)' },
  { key: 'T-down', fwd: 'T', reverse: true, label: '-T, -R: host → namespace' },
];

export const CONNRATE_CELLS = [
  { key: 'splice', label: 'spliced: host 127.0.0.1 → namespace' },
  { key: 'tap', label: `tap: remote ${ADDRESSES.serverV4} → ${ADDRESSES.hostV4}` },
];

const LABELS = {
  direct: 'direct (ceiling)',
  ours: 'ours',
  base: 'base (--base-bin)',
  pasta: 'pasta(1) Debian',
  upstream: upstreamLabel(),
  slirp4netns: 'slirp4netns (hostfwd, not spliced)',
};

function which(cmd) {
  try {
    return fs.existsSync(cmd) ? cmd : process.env.PATH.split(':').map((d) => path.join(d, cmd)).find((f) => fs.existsSync(f));
  } catch {
    return undefined;
  }
}

/** Seconds of iperf3 and of connrate runs. */
export function forwardSettings(opts) {
  return { time: opts.time, connrateTime: opts.connrateTime ?? (opts.quick ? 2 : 5) };
}

export function spliceBudgetS(opts) {
  const s = forwardSettings(opts);
  return SPLICE_CELLS.length * opts.runs * opts.tools.length * (s.time + 30) + 30;
}

export function connrateBudgetS(opts) {
  const s = forwardSettings(opts);
  return CONNRATE_CELLS.length * opts.runs * opts.tools.length * (s.connrateTime + 25) + 30;
}

/** Is something listening on TCP `port` in the network namespace of `pid`? (/proc/PID/net/tcp{,6}, state 0A) */
function listening(pid, port) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const file of ['tcp', 'tcp6']) {
    let table = '';
    try {
      table = fs.readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of table.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(hex) && f[3] === '0A') return true;
    }
  }
  return false;
}

/**
 * `sh -c` text: a one-off iperf3 server on `port`, and beside it a
 * short-lived watcher that prints LISTENING once the port listens in this
 * namespace (it gives up after 10 s). The shell becomes iperf3 (so a signal
 * reaches it), or with `hold` waits for its stdin to close once iperf3 has
 * ended, so that the tool around it still runs when its CPU time is read.
 */
function iperfServerScript(port, { bind, hold } = {}) {
  const iperf = `iperf3 -s -1 -p ${port}${bind ? ` -B ${bind}` : ''} >/dev/null`;
  return (
    `(i=0; until ss -Hltn "sport = :${port}" | grep -q .; do i=$((i+1)); [ $i -gt 500 ] && exit 1; sleep 0.02; done; ` +
    `echo LISTENING) & ${hold ? `${iperf}; rc=$?; read x; exit $rc` : `exec ${iperf}`}`
  );
}

/** Signal a process we started and everything it started. */
function killTree(pid, signal) {
  if (!pid) return;
  for (const p of descendants(processTable(), [pid])) {
    try {
      process.kill(p, signal);
    } catch {
      // gone meanwhile
    }
  }
}

/**
 * A started server: resolves ready() once its stdout said LISTENING and the
 * host namespace has a listener on `hostPort` (pasta's or slirp4netns'
 * forward, or the server itself); stop() waits for it to end by itself
 * (up to `graceMs`), then closes its stdin, then SIGTERM, then SIGKILL.
 */
function serverHandle(topo, child, hostPort, what) {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  child.stdin?.on('error', () => {});
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const waitExit = (ms) =>
    exited()
      ? Promise.resolve(true)
      : new Promise((resolve) => {
        const t = setTimeout(() => resolve(false), ms);
        child.once('exit', () => {
          clearTimeout(t);
          resolve(true);
        });
      });
  return {
    pid: child.pid,
    async ready(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (out.includes('LISTENING') && listening(topo.hostPid, hostPort)) return;
        if (exited()) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before listening: ${firstLine(err) || firstLine(out) || 'no message'}`);
        if (Date.now() > deadline) throw new Error(`${what} did not listen within ${timeoutMs} ms: ${firstLine(err) || 'no message'}`);
        await delay(20);
      }
    },
    stderr: () => err,
    async stop(graceMs = 0) {
      if (graceMs && (await waitExit(graceMs))) return;
      child.stdin?.end();
      if (await waitExit(3000)) return;
      killTree(child.pid, 'SIGTERM');
      if (await waitExit(3000)) return;
      killTree(child.pid, 'SIGKILL');
      await waitExit(5000);
    },
  };
}

/** pasta's forwarding options: only `kind` forwards `port`, every other kind is none. */
function fwdArgs(kind, port) {
  const o = { t: 'none', T: 'none', u: 'none', U: 'none' };
  o[kind] = String(port);
  return ['-t', o.t, '-T', o.T, '-u', o.u, '-U', o.U];
}

/** One request to slirp4netns' API socket, retried while the socket is not listening yet (up to 5 s). */
async function slirpApi(socketPath, request) {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      return await slirpApiOnce(socketPath, request);
    } catch (err) {
      if (!/ECONNREFUSED|ENOENT/.test(err.message) || Date.now() > deadline) throw err;
      await delay(50);
    }
  }
}

function slirpApiOnce(socketPath, request) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let answer = '';
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error('slirp4netns API: no answer'));
    }, 5000);
    sock.on('connect', () => sock.end(JSON.stringify(request)));
    sock.on('data', (d) => (answer += d));
    sock.on('error', (e) => {
      clearTimeout(t);
      reject(new Error(`slirp4netns API: ${e.message}`));
    });
    sock.on('close', () => {
      clearTimeout(t);
      try {
        const json = JSON.parse(answer);
        if (json.error) reject(new Error(`slirp4netns API: ${JSON.stringify(json.error)}`));
        else resolve(json);
      } catch {
        reject(new Error(`slirp4netns API: unreadable answer ${JSON.stringify(answer.slice(0, 100))}`));
      }
    });
  });
}

/**
 * Each tool: { available: true, serve(argv, kind, port) -> server handle,
 * command(argv, kind, port) -> the full argv that runs argv there, exec(argv,
 * kind, port, timeoutMs) -> ExecResult, supports(kind) -> true or why not,
 * comms and cpuRoots(pid) (its translator's processes: bench/cpu.js; none for
 * direct), teardown() } or { available: false, reason }. `serve` runs a
 * server in the tool's namespace with `kind` forwarding `port` (the server
 * listens on `port` there); `exec` runs a client there with `kind` forwarding
 * `port`.
 */
async function prepareTools(topo, opts, log, ports) {
  const asUser = (argv) => (topo.fullIdMap ? runInHostAsUser(topo, opts.uid, opts.gid, argv) : topo.hostArgs(argv));
  const env = { ...process.env, HOME: '/tmp' };
  const spawnOpts = { stdio: ['pipe', 'pipe', 'pipe'], env };
  const tools = {};
  const direct = {
    available: true,
    supports: () => true,
    serve: (argv, kind, port) => serverHandle(topo, topo.spawnArgs(asUser(argv), spawnOpts), port, 'server'),
    command: (argv) => asUser(argv),
    exec: (argv, kind, port, timeoutMs) => topo.execArgs(asUser(argv), { timeoutMs, closeGraceMs: 3000, env }),
    teardown: async () => {},
  };
  const upstream = upstreamBuild(opts.upstreamDir ?? DEFAULT_UPSTREAM_DIR);
  for (const name of opts.tools) {
    if (name === 'direct') tools.direct = direct;
    else if (name === 'ours' || name === 'base' || name === 'pasta' || name === 'upstream') {
      // --ours-bin: another build (a copy taken while the working tree is being rebuilt, say);
      // base: --base-bin's build, beside ours.
      const ours = name === 'base' ? path.resolve(opts.baseBin) : opts.oursBin ? path.resolve(opts.oursBin) : OURS;
      let bin;
      let why;
      if (name === 'pasta') [bin, why] = which('pasta') ? [['pasta']] : [undefined, 'pasta not installed'];
      else if (name === 'upstream') [bin, why] = upstream.available ? [[upstream.pasta]] : [undefined];
      else [bin, why] = fs.existsSync(ours) ? [[process.execPath, ours]] : [undefined, `${ours} does not exist`];
      const command = (argv, kind, port) => asUser([...bin, '--config-net', ...fwdArgs(kind, port), '--', ...argv]);
      tools[name] = !bin ? { available: false, reason: why ? `not available (${why})` : upstream.reason } : {
        available: true,
        supports: () => true,
        serve: (argv, kind, port) => serverHandle(topo, topo.spawnArgs(command(argv, kind, port), spawnOpts), port, LABELS[name]),
        command,
        exec: (argv, kind, port, timeoutMs) => topo.execArgs(command(argv, kind, port), { timeoutMs, closeGraceMs: 3000, env }),
        comms: TOOL_COMMS[name],
        cpuRoots: (pid) => [pid],
        teardown: async () => {},
      };
    } else if (name === 'slirp4netns') {
      try {
        tools.slirp4netns = await prepareSlirp(topo, opts, asUser, ports.slirp4netns);
      } catch (err) {
        tools.slirp4netns = { available: false, reason: `failed: ${err.message}` };
      }
    }
    if (!tools[name].available) log(`${LABELS[name]}: ${tools[name].reason}`);
  }
  return tools;
}

/** slirp4netns in a namespace of the test user's own, with its API socket and a forward of every port in `ports`. */
async function prepareSlirp(topo, opts, asUser, ports) {
  if (!which('slirp4netns')) return { available: false, reason: 'not available (slirp4netns not installed)' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passt-bench-slirp-'));
  fs.chmodSync(dir, 0o777);
  const apiSocket = path.join(dir, 'api.sock');
  let slirp;
  try {
    slirp = await startSlirp(topo, asUser, { mtu: MTU, apiSocket });
    for (const port of ports) {
      await slirpApi(apiSocket, { execute: 'add_hostfwd', arguments: { proto: 'tcp', host_addr: '0.0.0.0', host_port: port, guest_port: port } });
    }
  } catch (err) {
    await slirp?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    available: true,
    supports: (kind) => (kind === 't' ? true : 'not applicable (slirp4netns forwards no port of the namespace to the host)'),
    serve: (argv, kind, port) => {
      slirp.alive();
      return serverHandle(topo, topo.spawnArgs(slirp.inNs(argv), { stdio: ['pipe', 'pipe', 'pipe'] }), port, 'server in slirp4netns\' namespace');
    },
    exec: () => {
      throw new Error('slirp4netns: no -T');
    },
    comms: TOOL_COMMS.slirp4netns,
    cpuRoots: () => [slirp.pid],
    teardown: async () => {
      await slirp.teardown();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The connrate client's JSON line, or throw with the reason. */
function parseConnrate(result, what) {
  const lines = result.stdout.toString().trim().split('\n');
  let json;
  try {
    json = JSON.parse(lines[lines.length - 1]);
  } catch {
    const why = result.timedOut ? 'timed out' : `exit ${result.code ?? result.signal}`;
    throw new Error(`${what}: ${why}: ${firstLine(result.stderr) || firstLine(result.stdout) || 'no output'}`);
  }
  if (!(json.connections > 0)) throw new Error(`${what}: no connection completed${json.firstError ? ` (${json.firstError})` : ''}`);
  return json;
}

/**
 * Run `cells` for every tool, taking turns run by run. `runOne(tool, name,
 * cell, port)` measures one run; a failed run ends that tool's cell.
 */
async function takeTurns(section, tools, cells, opts, portOf, runOne, format, log) {
  const results = section.results;
  for (const name of opts.tools) {
    results[name] = {};
    for (const c of cells) {
      const t = tools[name];
      if (!t.available) results[name][c.key] = { runs: [], error: t.reason };
      else if (c.fwd && t.supports(c.fwd) !== true) results[name][c.key] = { runs: [], error: t.supports(c.fwd) };
      else results[name][c.key] = { runs: [], raw: [] };
    }
  }
  for (const c of cells) {
    for (let i = 0; i < opts.runs; i++) {
      for (const name of opts.tools) {
        const cell = results[name][c.key];
        if (cell.error) continue;
        try {
          const v = await runOne(tools[name], name, c, portOf(name));
          cell.raw.push(v);
          log(`${section.title}, ${LABELS[name]}, ${c.label}, run ${i + 1}/${opts.runs}: ${format(v)}`);
        } catch (err) {
          cell.error = `failed: ${err.message}`;
          log(`${section.title}, ${LABELS[name]}, ${c.label}, run ${i + 1}/${opts.runs}: ${cell.error}`);
        }
      }
    }
  }
}

/**
 * The splice section: { date, runs, time, tools, load, results } with
 * results[tool][cell] = { runs: [Gbit/s], stalls, median?, error? }.
 */
export async function measureSplice(topo, opts, log) {
  const s = forwardSettings(opts);
  const portOf = (name) => SPLICE_PORT_BASE + TOOL_ORDER.indexOf(name);
  const section = {
    title: 'splice',
    date: new Date().toISOString(),
    runs: opts.runs,
    time: s.time,
    tools: [...opts.tools],
    uid: opts.uid,
    oursBin: opts.oursBin,
    load: [os.loadavg()[0]],
    results: {},
  };
  const tools = await prepareTools(topo, opts, log, { slirp4netns: [portOf('slirp4netns')] });
  const timeoutMs = (s.time + 25) * 1000;
  const asUser = (a) => (topo.fullIdMap ? runInHostAsUser(topo, opts.uid, opts.gid, a) : topo.hostArgs(a));
  const env = { ...process.env, HOME: '/tmp' };
  const hostExec = (argv) => topo.execArgs(asUser(argv), { timeoutMs, closeGraceMs: 3000, env });
  const client = (port, reverse) => ['iperf3', '-c', '127.0.0.1', '-p', String(port), '-t', String(s.time), '-J', '--connect-timeout', '5000', ...(reverse ? ['-R'] : [])];
  try {
    await takeTurns(
      section,
      tools,
      SPLICE_CELLS,
      opts,
      portOf,
      async (tool, name, cell, port) => {
        const meter = cpuMeter((pid) => tool.cpuRoots(pid), tool.comms);
        if (cell.fwd === 't') {
          // the server in the tool's namespace (held until its CPU is read), the client on the host's loopback
          const server = tool.serve(['sh', '-c', iperfServerScript(port, { hold: true })], 't', port);
          try {
            await server.ready();
            meter.start(server.pid);
            const r = await hostExec(client(port, cell.reverse));
            meter.stop();
            const v = parseIperf(r, LABELS[name]);
            return { ...v, ...meter.result(v.bytes) };
          } finally {
            await server.stop();
          }
        }
        // -T: the server on the host's loopback, the client in the tool's namespace
        const server = hostServer(topo, opts, ['sh', '-c', iperfServerScript(port, { bind: '127.0.0.1' })], port);
        try {
          await server.ready();
          const r = await execMarked(topo, tool.command(markedArgv(client(port, cell.reverse)), 'T', port), { timeoutMs, env }, meter);
          const v = parseIperf(r, LABELS[name]);
          return { ...v, ...meter.result(v.bytes) };
        } finally {
          await server.stop(5000);
        }
      },
      (v) => `${v.gbps.toFixed(2)} Gbit/s${v.stalls ? ` (${v.stalls} s stalled)` : ''}${cpuText(v)}`,
      log,
    );
  } finally {
    for (const t of Object.values(tools)) if (t.available) await t.teardown();
  }
  for (const byCell of Object.values(section.results)) {
    for (const cell of Object.values(byCell)) {
      const raw = cell.raw ?? [];
      delete cell.raw;
      cell.runs = raw.map((v) => v.gbps);
      cell.stalls = raw.reduce((n, v) => n + v.stalls, 0);
      for (const v of raw) addCpu(cell, v);
      if (!cell.error && cell.runs.length) cell.median = median(cell.runs);
    }
  }
  section.upstreamTag = upstreamBuild(opts.upstreamDir ?? DEFAULT_UPSTREAM_DIR).tag;
  section.load.push(os.loadavg()[0]);
  delete section.title;
  return section;
}

/** A server in the host namespace as the test user (the -T cells' and the direct rows'). */
function hostServer(topo, opts, argv, port) {
  const asUser = (a) => (topo.fullIdMap ? runInHostAsUser(topo, opts.uid, opts.gid, a) : topo.hostArgs(a));
  return serverHandle(topo, topo.spawnArgs(asUser(argv), { stdio: ['pipe', 'pipe', 'pipe'] }), port, 'host server');
}

/**
 * Make the clients' namespaces fit for tens of thousands of connections a
 * run: the client closes first and keeps TIME_WAIT, so its namespace needs
 * ports it may reuse after a second (net.ipv4.tcp_tw_reuse: 1 in the remote
 * namespace; the host's default, 2, covers loopback) and a wider ephemeral
 * range. The remote client leaves its source address to connect() (bind()
 * first would search the port space past every TIME_WAIT socket, with no
 * reuse: 25 ms a connection once the range fills), so a host route gives
 * 198.51.100.2 the source 203.0.113.10. Returns what puts it all back.
 */
async function prepareClients(topo, section, log) {
  const undo = [];
  section.sysctls = [];
  for (const [name, ns, settings] of [
    ['remote', topo.remote, { 'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.ip_local_port_range': EPHEMERAL_PORTS }],
    ['host', topo.host, { 'net.ipv4.ip_local_port_range': EPHEMERAL_PORTS }],
  ]) {
    for (const [key, value] of Object.entries(settings)) {
      const old = await ns.exec(['sysctl', '-n', key], { timeoutMs: 5000 });
      const r = await ns.exec(['sysctl', '-w', `${key}=${value}`], { timeoutMs: 5000 });
      if (!r.ok) {
        log(`connrate: cannot set ${key} in the ${name} namespace: ${firstLine(r.stderr)}`);
        continue;
      }
      section.sysctls.push(`${name}: \`${key}=${value}\``);
      const was = old.stdout.toString().trim().replace(/\s+/g, ' ');
      if (old.ok && was) undo.push(() => ns.exec(['sysctl', '-w', `${key}=${was}`], { timeoutMs: 5000 }));
    }
  }
  const route = [`${ADDRESSES.hostV4}/32`, 'dev', ADDRESSES.ifname, 'src', ADDRESSES.serverV4];
  const r = await topo.remote.exec(['ip', 'route', 'replace', ...route], { timeoutMs: 5000 });
  if (r.ok) {
    section.sourceRoute = true;
    undo.push(() => topo.remote.exec(['ip', 'route', 'del', ...route], { timeoutMs: 5000 }));
  } else {
    log(`connrate: cannot route ${ADDRESSES.hostV4} from ${ADDRESSES.serverV4} in the remote namespace: ${firstLine(r.stderr)}`);
  }
  return async () => {
    for (const f of undo.reverse()) await f().catch(() => undefined);
  };
}

/**
 * The connrate section: { date, runs, seconds, concurrency, bytes, tools,
 * load, results } with results[tool][cell] = { runs: [conn/s], failed: [n],
 * p50: [ms], p99: [ms], median?, error? }.
 */
export async function measureConnrate(topo, opts, log) {
  const s = forwardSettings(opts);
  const portOf = (name) => CONNRATE_PORT_BASE + TOOL_ORDER.indexOf(name);
  const section = {
    title: 'connrate',
    date: new Date().toISOString(),
    runs: opts.runs,
    seconds: s.connrateTime,
    concurrency: CONNRATE_CONCURRENCY,
    bytes: CONNRATE_BYTES,
    tools: [...opts.tools],
    uid: opts.uid,
    oursBin: opts.oursBin,
    load: [os.loadavg()[0]],
    results: {},
  };
  const restore = await prepareClients(topo, section, log);
  const tools = await prepareTools(topo, opts, log, { slirp4netns: [portOf('slirp4netns')] });
  const asUser = (a) => (topo.fullIdMap ? runInHostAsUser(topo, opts.uid, opts.gid, a) : topo.hostArgs(a));
  const timeoutMs = (s.connrateTime + 20) * 1000;
  const clientArgs = (host, port) => [
    process.execPath, CONNRATE_JS, 'client', '--host', host, '--port', String(port), '--seconds', String(s.connrateTime),
    '--concurrency', String(CONNRATE_CONCURRENCY), '--bytes', String(CONNRATE_BYTES),
  ];
  try {
    await takeTurns(
      section,
      tools,
      CONNRATE_CELLS,
      opts,
      portOf,
      async (tool, name, cell, port) => {
        const server = tool.serve([process.execPath, CONNRATE_JS, 'server', '--port', String(port)], 't', port);
        try {
          await server.ready();
          const r =
            cell.key === 'splice'
              ? await topo.execArgs(asUser(clientArgs('127.0.0.1', port)), { timeoutMs, closeGraceMs: 3000 })
              : await topo.execRemote(clientArgs(ADDRESSES.hostV4, port), { timeoutMs, closeGraceMs: 3000 });
          return parseConnrate(r, LABELS[name]);
        } finally {
          await server.stop();
        }
      },
      (v) =>
        `${v.perSecond.toFixed(0)} conn/s (p50 ${v.p50Ms.toFixed(2)} ms, p99 ${v.p99Ms.toFixed(2)} ms)` +
        `${v.errors ? `, ${v.errors} failed (${v.firstError})` : ''}`,
      log,
    );
  } finally {
    for (const t of Object.values(tools)) if (t.available) await t.teardown();
    await restore();
  }
  for (const byCell of Object.values(section.results)) {
    for (const cell of Object.values(byCell)) {
      const raw = cell.raw ?? [];
      delete cell.raw;
      cell.runs = raw.map((v) => v.perSecond);
      cell.failed = raw.map((v) => v.errors);
      cell.p50 = raw.map((v) => v.p50Ms);
      cell.p99 = raw.map((v) => v.p99Ms);
      cell.firstError = raw.map((v) => v.firstError).find(Boolean);
      if (!cell.error && cell.runs.length) cell.median = median(cell.runs);
    }
  }
  section.upstreamTag = upstreamBuild(opts.upstreamDir ?? DEFAULT_UPSTREAM_DIR).tag;
  section.load.push(os.loadavg()[0]);
  delete section.title;
  return section;
}

// ---- report ---------------------------------------------------------------------

const ratio = (name, cell, ref) =>
  name !== 'direct' && cell?.median !== undefined && ref?.median ? `${(cell.median / ref.median).toFixed(2)}×` : '–';

/** A tool's label in a section's rows (the upstream build's with its version). */
const labelOf = (name, section) => (name === 'upstream' ? upstreamLabel(section.upstreamTag) : LABELS[name] ?? name);

export function spliceRows(section) {
  const out = [];
  for (const name of section.tools) {
    for (const c of SPLICE_CELLS) {
      const cell = section.results[name]?.[c.key] ?? { runs: [], error: 'n/a' };
      out.push({
        tool: labelOf(name, section),
        direction: c.label,
        median: cell.median !== undefined ? cell.median.toFixed(2) : cell.error ?? 'n/a',
        vsPasta: ratio(name, cell, section.results.pasta?.[c.key]),
        vsUpstream: ratio(name, cell, section.results.upstream?.[c.key]),
        cpu: cell.error ? '–' : cpuColumn(name, cell),
        runs: cell.runs.map((v) => v.toFixed(2)).join(', ') || '–',
        stalls: cell.runs.length ? String(cell.stalls ?? 0) : '–',
      });
    }
  }
  return out;
}

export const SPLICE_COLUMNS = [
  ['tool', 'tool'],
  ['direction', 'path and direction of the data'],
  ['median', 'median Gbit/s'],
  ['vsPasta', 'vs pasta(1) Debian'],
  ['vsUpstream', 'vs upstream'],
  ['cpu', 'CPU s/GB'],
  ['runs', 'runs (Gbit/s)'],
  ['stalls', 'stalled s'],
];

export function connrateRows(section) {
  const out = [];
  for (const name of section.tools) {
    for (const c of CONNRATE_CELLS) {
      const cell = section.results[name]?.[c.key] ?? { runs: [], error: 'n/a' };
      const ok = cell.median !== undefined;
      const failed = (cell.failed ?? []).reduce((a, b) => a + b, 0);
      out.push({
        tool: labelOf(name, section),
        path: c.label,
        median: ok ? cell.median.toFixed(0) : cell.error ?? 'n/a',
        vsPasta: ratio(name, cell, section.results.pasta?.[c.key]),
        vsUpstream: ratio(name, cell, section.results.upstream?.[c.key]),
        runs: cell.runs.map((v) => v.toFixed(0)).join(', ') || '–',
        p50: ok ? median(cell.p50).toFixed(2) : '–',
        p99: ok ? median(cell.p99).toFixed(2) : '–',
        failed: ok ? `${failed}${failed && cell.firstError ? ` (${cell.firstError})` : ''}` : '–',
      });
    }
  }
  return out;
}

export const CONNRATE_COLUMNS = [
  ['tool', 'tool'],
  ['path', 'path'],
  ['median', 'median connections/s'],
  ['vsPasta', 'vs pasta(1) Debian'],
  ['vsUpstream', 'vs upstream'],
  ['runs', 'runs (connections/s)'],
  ['p50', 'median p50 ms'],
  ['p99', 'median p99 ms'],
  ['failed', 'failed connections (all runs)'],
];

function loadNote(section) {
  return (
    (section.load?.length === 2
      ? ` The machine's load average (1 min) was ${section.load[0].toFixed(2)} when the section started and ${section.load[1].toFixed(2)} when it ended.`
      : '') + (section.oursBin ? ` Ours ran from \`${section.oursBin}\` (\`--ours-bin\`).` : '')
  );
}

export function spliceMethod(section, asUser) {
  return `Method: the spliced loopback path (pasta's splice(2) between two loopback sockets, no
tap). Each pasta (ours, Debian's pasta(1), upstream's current source) runs ${asUser} in the "host" test namespace, started afresh per run
with only the forward under test (\`-t P -T none -u none -U none\`, or \`-t none -T P -u
none -U none\`), and one TCP stream of \`iperf3 -t ${section.time} -J\`, without and with \`-R\`:

- **-t**: \`pasta --config-net -t P ... -- iperf3 -s -1 -p P\` (the server inside the
  namespace), client \`iperf3 -c 127.0.0.1 -p P\` in the host namespace; pasta accepts on
  the host's loopback and splices into the namespace's.
- **-T**: \`iperf3 -s -1 -B 127.0.0.1 -p P\` in the host namespace, \`pasta --config-net -T P
  ... -- iperf3 -c 127.0.0.1 -p P\`: the client connects to the namespace's own loopback,
  pasta splices it to the host's.

"direct" is the same iperf3 pair over the host namespace's loopback, no tool. slirp4netns
has no splice path: its rows are its port forwarding (\`--api-socket\`, add_hostfwd
0.0.0.0:P → 10.0.2.100:P), through its user-mode TCP/IP stack, for comparison only; it
has nothing like -T. ${plural(section.runs, 'run')} per cell, the tools taking turns run by run;
median of the receiver's rate.${loadNote(section)} The issue's target is ours ≥ 0.9× pasta(1)
on this path.

${CPU_METHOD} Here the CPU is read, for -t, from when the server in the namespace
listens until the client on the host has finished (the server's shell then waits for
the bench before it exits); for -T, as in the tcp section.`;
}

export function connrateMethod(section, asUser) {
  const sysctls = section.sysctls?.length ? section.sysctls.join(', ') : 'nothing (it could not be set in this run)';
  return `Method: short TCP connections through a forwarded port. \`pasta --config-net -t P
-T none -u none -U none -- node bench/connrate.js server\` ${asUser} in the "host" test
namespace, fresh per run; the server echoes and closes once the client has. The client,
bench/connrate.js, runs ${section.concurrency} loops for ${section.seconds} s, each: connect, send ${section.bytes} bytes, read the
${section.bytes}-byte reply, close (the client's FIN goes first). A connection stuck for 1 s counts as
failed (and its loop pauses 20 ms).

- **spliced**: the client in the host namespace connects to 127.0.0.1:P; pasta splices it
  into the namespace's loopback.
- **tap**: the client in the "remote" namespace connects from ${ADDRESSES.serverV4} to ${ADDRESSES.hostV4}:P; pasta
  accepts it on the host side and opens it to the server through the tap (the server sees
  ${ADDRESSES.serverV4}).

"direct" is the same server in the host namespace itself; slirp4netns' rows are its port
forwarding (add_hostfwd 0.0.0.0:P), which has no spliced path. Client, server and tool
share the machine's CPUs, and the client and the server are Node processes: the direct
rows are their own ceiling. A run makes more connections than there are ephemeral ports,
so for this section the clients' namespaces have ${sysctls}${section.sourceRoute ? `, and the remote
namespace a route that gives ${ADDRESSES.hostV4} the source ${ADDRESSES.serverV4} (the client leaves the source to connect(),
which reuses TIME_WAIT ports after a second; the host namespace's default does that on loopback)` : ''}.
${plural(section.runs, 'run')} per cell, the tools taking turns run by run; median of the completed connections
per second, and of the per-run median (p50) and 99th-percentile connection times.${loadNote(section)}`;
}

const plural = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;
