#!/usr/bin/env node
// Scale and endurance: many TCP connections held open at once, many UDP flows
// over time with their expiry, and a long soak of mixed traffic, through this
// project's pasta and (where a comparison makes sense) upstream pasta(1).
//
//   node bench/scale.js [--short] [--only tcp,udp,soak] [--soak-minutes N] [--serial]
//                       [--tcp-connections N] [--tcp-hold S]
//                       [--udp-flows N] [--udp-waves W] [--upstream PATH]
//                       [--tools ours,pasta] [--uid N] [--markdown FILE]
//
// Theory of operation: everything runs inside the private test topology of
// test/e2e/topology-core.js ("the host" namespace, whose only way out is a veth
// to "the remote" namespace, doc/design.md "How the tests build their
// networks"), so nothing can reach the machine's real network. Servers (this
// same file, --role tcp-server / udp-server) run in the remote namespace on
// 203.0.113.10. Each tool runs as an unprivileged user in the host namespace
// (rootless, as bench/run.js does) with `--config-net`, DNS forwarded to a
// test resolver (test/e2e/dnsserver.js on the host's 127.0.0.1), and this file
// (--role tcp-client / udp-client / soak-client) as its command. The client
// and this process talk over the command's standard input and output (which
// pasta hands through): the client says READY and waits for "go", so that the
// tool's idle memory is read before any flow exists; it reports each phase on
// a line starting with "SCALE ", and waits for the next word. Memory is the
// tool's own process: VmRSS and VmHWM (peak) from /proc/PID/status, and its
// open fds from /proc/PID/fd (for ours the namespace helper, a small forked
// child, is not counted).
//
// Sections:
//   tcp   N (15 000; --short 2 000) TCP connections from the namespace to an
//         echo server, at most 256 connecting at a time, each held open; after
//         a hold of S seconds (10; --short 2) each one writes 32 bytes and must
//         read them back. Connecting has a time limit (150 s). Memory per flow
//         is (RSS while held - RSS idle) / connections held. ours and pasta(1),
//         one after the other. The fd hard limit is the machine's (no raise).
//   udp   W waves (6; --short 2) of N flows (16 668; --short 2 000): N/4 source
//         ports x 4 server ports, each flow one 64-byte request and its echo
//         (64 source ports at a time, after one warm-up exchange):
//         100 008 flows in all. A wave's flows are alive at once, each with its
//         host socket, so N stays under the fd limit (20 000 here, and it
//         cannot be raised). After a wave, wait until the tool's fd count is
//         back to its idle value (UDP flows of one exchange expire after 30 s idle,
//         120 s for streams, in both),
//         read its RSS, and start the next wave on the same ports: RSS after
//         the last expiry against after the first says whether memory stays
//         flat. Both tools at once, in their own namespaces (memory, not speed,
//         is measured), and, unless --serial, alongside the soak (after the tcp
//         section, which runs alone): the expiry makes this section last
//         W x ~3.5 min whatever the machine does.
//   soak  M minutes (10; --soak-minutes; --short 1) of mixed traffic through
//         ours alone: 4 loops of short TCP connections (16 KiB echoed, ~40/s
//         each), 2 long TCP connections echoing 64 KiB every 10 ms, 20 new UDP
//         flows a second (request, echo, the socket closed: the flow expires in
//         the tool), and `ping -i 0.2`. RSS and fds sampled every 10 s; the
//         first 4 minutes are warm-up (UDP flows reach their steady number only
//         after their timeout); the rest is summarised by min, max and a least-squares
//         slope.
//
// Prints progress on stderr and the markdown section on stdout (and into
// FILE with --markdown).

import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(SELF), '..');
const NODE = process.execPath;
const TCP_PORT = 7000;
const UDP_BASE = 7100; // server ports 7100..7103 (ours), 7110..7113 (pasta(1))
const UDP_DST_PORTS = 4;
const UDP_SRC_BASE = 20000;

// ---------------------------------------------------------------------------
// Roles run inside the namespaces

/** Lines from standard input, one at a time. */
function stdinWords() {
  const rl = readline.createInterface({ input: process.stdin });
  const queue = [];
  const waiters = [];
  rl.on('line', (l) => (waiters.length ? waiters.shift()(l.trim()) : queue.push(l.trim())));
  rl.on('close', () => process.exit(0)); // the bench is gone: so are we
  return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r)));
}

const say = (what, obj = {}) => process.stdout.write(`SCALE ${what} ${JSON.stringify(obj)}\n`);
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

function roleTcpServer(o) {
  let connections = 0;
  const srv = net.createServer({ noDelay: true }, (s) => {
    connections++;
    s.on('error', () => {});
    s.on('data', (d) => s.write(d));
  });
  srv.on('error', (e) => {
    process.stderr.write(`tcp-server: ${e.message}\n`);
    process.exit(1);
  });
  srv.listen({ port: o.port, host: '::', backlog: 4096 }, () => process.stdout.write(`LISTENING ${o.port}\n`));
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
  void connections;
}

function roleUdpServer(o) {
  let bound = 0;
  for (let i = 0; i < o.count; i++) {
    // Bound to the server's address, not a wildcard: a reply must come from the address asked.
    const s = dgram.createSocket(o.host.includes(':') ? 'udp6' : 'udp4');
    s.on('message', (m, r) => s.send(m, r.port, r.address));
    s.on('error', (e) => {
      process.stderr.write(`udp-server: ${e.message}\n`);
      process.exit(1);
    });
    s.bind(o.port + i, o.host, () => {
      if (++bound === o.count) process.stdout.write(`LISTENING ${o.port}\n`);
    });
  }
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

async function roleTcpClient(o) {
  const next = stdinWords();
  say('READY');
  await next();
  const t0 = Date.now();
  /** @type {net.Socket[]} */ const held = [];
  const connecting = new Set();
  let started = 0;
  let failed = 0;
  let firstError;
  await new Promise((resolve) => {
    let over = false;
    const finish = () => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      for (const s of connecting) s.destroy();
      resolve();
    };
    const timer = setTimeout(finish, o.connectS * 1000);
    const launch = () => {
      while (!over && connecting.size < o.pending && started < o.count) {
        started++;
        const s = net.connect({ host: o.host, port: o.port });
        connecting.add(s);
        s.alive = false;
        s.once('connect', () => {
          connecting.delete(s);
          s.alive = true;
          s.setNoDelay(true);
          held.push(s);
          launch();
          if (started >= o.count && connecting.size === 0) finish();
        });
        s.on('error', (e) => {
          if (connecting.delete(s)) {
            failed++;
            firstError ??= e.code ?? e.message;
            launch();
            if (started >= o.count && connecting.size === 0) finish();
          }
        });
        s.on('close', () => (s.alive = false));
      }
    };
    launch();
  });
  say('ESTABLISHED', { held: held.length, failed, notStarted: o.count - started, ms: Date.now() - t0, firstError });
  await next(); // "check"
  const alive = held.filter((s) => s.alive);
  let echoed = 0;
  let wrong = 0;
  const t1 = Date.now();
  await new Promise((resolve) => {
    let answered = 0;
    const timer = setTimeout(resolve, 120_000);
    const one = () => {
      if (++answered === alive.length) {
        clearTimeout(timer);
        resolve();
      }
    };
    if (alive.length === 0) resolve();
    alive.forEach((s, i) => {
      const token = Buffer.from(`echo ${String(i).padStart(26, '0')}\n`);
      let got = Buffer.alloc(0);
      let done = false;
      s.on('data', (d) => {
        got = Buffer.concat([got, d]);
        if (!done && got.length >= token.length) {
          done = true;
          if (got.subarray(0, token.length).equals(token)) echoed++;
          else wrong++;
          one();
        }
      });
      s.on('close', () => {
        if (!done) {
          done = true;
          one();
        }
      });
      s.write(token);
    });
  });
  say('RESULT', { aliveAtCheck: alive.length, echoed, wrong, echoMs: Date.now() - t1 });
  await next(); // "exit"
  for (const s of held) s.destroy();
  process.exit(0);
}

/** One UDP flow: a socket bound to `srcPort` (0: any), a request to each port, the echoes awaited (or `waitMs`). */
function udpFlows(host, srcPort, ports, waitMs) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const answered = new Set();
    let timer;
    const done = () => {
      clearTimeout(timer);
      s.close();
      resolve(answered.size);
    };
    s.on('error', () => done());
    s.on('message', (m, r) => {
      answered.add(r.port);
      if (answered.size === ports.length) done();
    });
    s.bind(srcPort, () => {
      const payload = Buffer.alloc(64, 0x5a);
      for (const p of ports) s.send(payload, p, host);
      timer = setTimeout(done, waitMs);
    });
  });
}

async function roleUdpClient(o) {
  const next = stdinWords();
  const ports = Array.from({ length: UDP_DST_PORTS }, (_, i) => o.port + i);
  // One exchange first (from another port range), so that the namespace has resolved its
  // gateway before the burst: the kernel queues only a few datagrams per unresolved neighbour.
  await udpFlows(o.host, 0, ports.slice(0, 1), 5000);
  say('READY');
  await next();
  const sources = Math.ceil(o.flows / ports.length);
  for (let wave = 0; wave < o.waves; wave++) {
    const t0 = Date.now();
    let replied = 0;
    let i = 0;
    const worker = async () => {
      while (i < sources) {
        const src = UDP_SRC_BASE + i++;
        const got = await udpFlows(o.host, src, ports, 2000);
        replied += got;
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    say('WAVE', { wave, flows: sources * ports.length, replied, ms: Date.now() - t0 });
    await next(); // "next"
  }
  say('DONE');
  await next();
  process.exit(0);
}

async function roleSoakClient(o) {
  const next = stdinWords();
  say('READY');
  await next();
  const end = Date.now() + o.seconds * 1000;
  const c = { tcpShort: 0, tcpShortErrors: 0, bulkBytes: 0, bulkErrors: 0, udpFlows: 0, udpAnswered: 0, firstError: undefined };
  const ping = spawn('ping', ['-q', '-i', '0.2', '-w', String(o.seconds), o.host], { stdio: ['ignore', 'pipe', 'pipe'] });
  let pingOut = '';
  ping.stdout.on('data', (d) => (pingOut += d));
  ping.stderr.on('data', (d) => (pingOut += d));
  const pingDone = new Promise((r) => ping.on('exit', r));
  const chunk16 = Buffer.alloc(16384, 0x61);
  const shortLoop = async () => {
    while (Date.now() < end) {
      const ok = await new Promise((resolve) => {
        const s = net.connect({ host: o.host, port: o.port });
        let got = 0;
        const t = setTimeout(() => s.destroy(new Error('stuck')), 5000);
        s.on('connect', () => s.write(chunk16));
        s.on('data', (d) => {
          got += d.length;
          if (got >= chunk16.length) s.end();
        });
        s.on('error', (e) => {
          c.firstError ??= e.code ?? e.message;
        });
        s.on('close', () => {
          clearTimeout(t);
          resolve(got >= chunk16.length);
        });
      });
      if (ok) c.tcpShort++;
      else c.tcpShortErrors++;
      await delay(ok ? 20 : 200);
    }
  };
  const chunk64 = Buffer.alloc(65536, 0x62);
  const bulkLoop = async () => {
    while (Date.now() < end) {
      await new Promise((resolve) => {
        const s = net.connect({ host: o.host, port: o.port });
        let want = 0;
        let stop = false;
        const round = () => {
          if (Date.now() >= end) {
            stop = true;
            s.end();
            return;
          }
          want = chunk64.length;
          s.write(chunk64);
        };
        s.on('connect', round);
        s.on('data', (d) => {
          want -= d.length;
          c.bulkBytes += d.length;
          if (want <= 0 && !stop) setTimeout(round, 10);
        });
        s.on('error', (e) => {
          c.bulkErrors++;
          c.firstError ??= e.code ?? e.message;
        });
        s.on('close', () => resolve());
      });
    }
  };
  const udpLoop = async () => {
    const ports = [o.udpPort];
    while (Date.now() < end) {
      const t = Date.now();
      const batch = [];
      for (let k = 0; k < 20; k++) batch.push(udpFlows(o.host, 0, ports, 1000));
      const got = await Promise.all(batch);
      c.udpFlows += batch.length;
      c.udpAnswered += got.reduce((a, b) => a + b, 0);
      await delay(Math.max(0, 1000 - (Date.now() - t)));
    }
  };
  const progress = setInterval(() => say('PROGRESS', c), 10_000);
  await Promise.all([shortLoop(), shortLoop(), shortLoop(), shortLoop(), bulkLoop(), bulkLoop(), udpLoop()]);
  clearInterval(progress);
  await Promise.race([pingDone, delay(5000)]);
  const pc = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(pingOut);
  say('RESULT', { ...c, pingSent: pc ? Number(pc[1]) : 0, pingReceived: pc ? Number(pc[2]) : 0, pingNote: pc ? undefined : pingOut.trim().slice(0, 200) });
  await next();
  process.exit(0);
}

// ---------------------------------------------------------------------------
// The bench

function parseOptions(argv) {
  const o = {
    short: false,
    only: ['tcp', 'udp', 'soak'],
    tools: ['ours', 'pasta'],
    soakMinutes: undefined,
    tcpConnections: undefined,
    tcpHold: undefined,
    udpFlows: undefined,
    udpWaves: undefined,
    serial: false,
    upstream: '/work/cache/passt-src/pasta',
    uid: 1000,
    markdown: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const number = () => {
      const v = Number(value());
      if (!(v > 0)) throw new Error(`${a} needs a positive number`);
      return v;
    };
    if (a === '--short') o.short = true;
    else if (a === '--serial') o.serial = true;
    else if (a === '--only') o.only = value().split(',');
    else if (a === '--tools') o.tools = value().split(',');
    else if (a === '--soak-minutes') o.soakMinutes = number();
    else if (a === '--tcp-connections') o.tcpConnections = number();
    else if (a === '--tcp-hold') o.tcpHold = number();
    else if (a === '--udp-flows') o.udpFlows = number();
    else if (a === '--udp-waves') o.udpWaves = number();
    else if (a === '--upstream') o.upstream = value();
    else if (a === '--uid') o.uid = number();
    else if (a === '--markdown') o.markdown = value();
    else throw new Error(`unknown option ${a}`);
  }
  for (const s of o.only) if (!['tcp', 'udp', 'soak'].includes(s)) throw new Error(`--only: unknown section ${s}`);
  for (const t of o.tools) if (!['ours', 'pasta'].includes(t)) throw new Error(`--tools: unknown tool ${t}`);
  o.soakMinutes ??= o.short ? 1 : 10;
  o.tcpConnections ??= o.short ? 2000 : 15000;
  o.tcpHold ??= o.short ? 2 : 10;
  o.udpFlows ??= o.short ? 2000 : 16668;
  o.udpWaves ??= o.short ? 2 : 6;
  return o;
}

const log = (...a) => process.stderr.write(`scale: ${a.join(' ')}\n`);
const MiB = (kb) => kb / 1024;
const fmt = (x, d = 1) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d));

/** VmRSS and VmHWM (kB) and the number of open fds of a process; undefined once it is gone. */
function procStat(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1]);
    return { rss: kb('VmRSS'), hwm: kb('VmHWM'), fds: fs.readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return undefined;
  }
}

/** A client run as a tool's command: its SCALE lines in order, words to its stdin. */
function startClient(topo, argv) {
  const child = topo.spawnArgs(argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const lines = [];
  const waiters = [];
  readline.createInterface({ input: child.stdout }).on('line', (l) => {
    const m = /^SCALE (\w+) (.*)$/.exec(l);
    if (!m) return;
    lines.push({ what: m[1], data: JSON.parse(m[2]) });
    for (const w of [...waiters]) w();
  });
  const exited = new Promise((r) => child.on('exit', (code, sig) => r(code ?? sig)));
  let gone = false;
  exited.then(() => {
    gone = true;
    for (const w of [...waiters]) w();
  });
  let seen = 0;
  return {
    child,
    exited,
    stderr: () => stderr,
    /** The next SCALE line, which must be `what` (progress lines are handed to onProgress). */
    async expect(what, timeoutMs, onProgress) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        while (seen < lines.length) {
          const l = lines[seen++];
          if (l.what === what) return l.data;
          if (l.what === 'PROGRESS' && onProgress) onProgress(l.data);
          else if (l.what !== 'PROGRESS') throw new Error(`expected ${what}, got ${l.what}`);
        }
        if (gone) throw new Error(`client exited before ${what}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
        if (Date.now() > end) throw new Error(`no ${what} within ${timeoutMs} ms`);
        await new Promise((r) => {
          const t = setTimeout(r, Math.min(1000, end - Date.now() + 10));
          waiters.push(() => {
            clearTimeout(t);
            waiters.splice(waiters.indexOf(r), 1);
            r();
          });
        });
      }
    },
    tell(word) {
      if (child.stdin.writable) child.stdin.write(`${word}\n`);
    },
  };
}

/** Start a server role in the remote namespace; resolves once it listens. */
async function startServer(topo, args) {
  const child = topo.spawnRemote([NODE, SELF, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  await new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const t = setTimeout(() => reject(new Error(`server ${args.join(' ')} did not start: ${err}`)), 15_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('LISTENING')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (c) => {
      clearTimeout(t);
      reject(new Error(`server ${args.join(' ')} exited (${c}): ${err}`));
    });
  });
  child.removeAllListeners('exit');
  return child;
}

function toolArgv(topo, o, tool, command) {
  const bin = tool === 'ours' ? [NODE, path.join(root, 'bin', 'pasta.js')] : [o.upstream];
  const { runInHostAsUser } = o.topologyModule;
  const argv = [...bin, '--config-net', '--dns-forward', '169.254.1.1', '--dns-host', '127.0.0.1', '--', ...command];
  return topo.fullIdMap ? runInHostAsUser(topo, o.uid, o.uid, argv) : topo.hostArgs(argv);
}

const TOOL_NAME = { ours: 'ours', pasta: 'pasta(1)' };

async function measureTcp(topo, o, tool) {
  const A = o.topologyModule.ADDRESSES;
  const c = startClient(
    topo,
    toolArgv(topo, o, tool, [NODE, SELF, '--role', 'tcp-client', '--host', A.serverV4, '--port', String(TCP_PORT), '--count', String(o.tcpConnections), '--pending', '256', '--connect-s', '150']),
  );
  try {
    await c.expect('READY', 30_000);
    const pid = c.child.pid;
    const idle = procStat(pid);
    c.tell('go');
    let peakFds = 0;
    const sampler = setInterval(() => {
      const s = procStat(pid);
      if (s) peakFds = Math.max(peakFds, s.fds);
    }, 1000);
    const est = await c.expect('ESTABLISHED', 200_000);
    log(`tcp ${tool}: ${est.held}/${o.tcpConnections} held after ${est.ms} ms (${est.failed} failed${est.firstError ? `, first: ${est.firstError}` : ''})`);
    const holdEnd = Date.now() + o.tcpHold * 1000;
    const rssHeld = [];
    while (Date.now() < holdEnd) {
      const s = procStat(pid);
      if (s) rssHeld.push(s.rss);
      await new Promise((r) => setTimeout(r, 500));
    }
    const held = procStat(pid);
    c.tell('check');
    const res = await c.expect('RESULT', 150_000);
    clearInterval(sampler);
    const end = procStat(pid);
    c.tell('exit');
    await Promise.race([c.exited, new Promise((r) => setTimeout(r, 30_000))]);
    log(`tcp ${tool}: ${res.echoed}/${res.aliveAtCheck} echoed after the hold (${res.echoMs} ms); RSS idle ${fmt(MiB(idle.rss))} held ${fmt(MiB(held.rss))} peak ${fmt(MiB(end.hwm))} MiB`);
    return {
      tool,
      wanted: o.tcpConnections,
      ...est,
      ...res,
      idleRss: idle.rss,
      heldRss: held.rss,
      peakRss: end.hwm,
      idleFds: idle.fds,
      heldFds: held.fds,
      peakFds,
      perFlowKiB: est.held ? (held.rss - idle.rss) / est.held : undefined,
    };
  } catch (e) {
    log(`tcp ${tool}: ${e.message}`);
    return { tool, error: e.message };
  } finally {
    c.child.kill('SIGKILL');
  }
}

async function measureUdp(topo, o, tool, port) {
  const A = o.topologyModule.ADDRESSES;
  const c = startClient(
    topo,
    toolArgv(topo, o, tool, [NODE, SELF, '--role', 'udp-client', '--host', A.serverV4, '--port', String(port), '--flows', String(o.udpFlows), '--waves', String(o.udpWaves)]),
  );
  try {
    await c.expect('READY', 30_000);
    const pid = c.child.pid;
    const idle = procStat(pid);
    c.tell('go');
    const waves = [];
    for (let w = 0; w < o.udpWaves; w++) {
      let peakFds = 0;
      const sampler = setInterval(() => {
        const s = procStat(pid);
        if (s) peakFds = Math.max(peakFds, s.fds);
      }, 1000);
      const wave = await c.expect('WAVE', 600_000);
      const after = procStat(pid);
      peakFds = Math.max(peakFds, after.fds);
      log(`udp ${tool}: wave ${w + 1}: ${wave.replied}/${wave.flows} answered in ${wave.ms} ms, ${after.fds} fds, RSS ${fmt(MiB(after.rss))} MiB; waiting for expiry`);
      // Expiry: the fd count back to idle (a few over allowed: the tool may have opened some at start).
      const t0 = Date.now();
      let s = after;
      while (Date.now() - t0 < 300_000) {
        s = procStat(pid);
        peakFds = Math.max(peakFds, s.fds);
        if (s.fds <= idle.fds + 2) break;
        await new Promise((r) => setTimeout(r, 2000));
      }
      clearInterval(sampler);
      const expired = s.fds <= idle.fds + 2;
      const expiredAfterS = expired ? (Date.now() - t0 + wave.ms) / 1000 : undefined;
      // a little later: what stays
      await new Promise((r) => setTimeout(r, 5000));
      const rest = procStat(pid);
      waves.push({ ...wave, peakFds, rssAtEnd: after.rss, expiredAfterS, fdsAfter: rest.fds, rssAfter: rest.rss });
      log(`udp ${tool}: wave ${w + 1}: ${expired ? 'expired' : 'NOT expired'}; then ${rest.fds} fds, RSS ${fmt(MiB(rest.rss))} MiB`);
      c.tell('next');
    }
    await c.expect('DONE', 30_000);
    const end = procStat(pid);
    c.tell('exit');
    return { tool, idleRss: idle.rss, idleFds: idle.fds, peakRss: end.hwm, waves };
  } catch (e) {
    log(`udp ${tool}: ${e.message}`);
    return { tool, error: e.message };
  } finally {
    c.child.kill('SIGKILL');
  }
}

function slope(points) {
  const n = points.length;
  if (n < 2) return undefined;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den ? num / den : undefined;
}

async function measureSoak(topo, o) {
  const A = o.topologyModule.ADDRESSES;
  const seconds = Math.round(o.soakMinutes * 60);
  const c = startClient(
    topo,
    toolArgv(topo, o, 'ours', [
      'sh', '-c',
      `echo 0 2147483647 2>/dev/null > /proc/sys/net/ipv4/ping_group_range; exec ${NODE} ${SELF} --role soak-client --host ${A.serverV4} --port ${TCP_PORT} --udp-port ${UDP_BASE + 20} --seconds ${seconds}`,
    ]),
  );
  try {
    await c.expect('READY', 30_000);
    const pid = c.child.pid;
    const idle = procStat(pid);
    const t0 = Date.now();
    c.tell('go');
    const samples = [];
    let last = {};
    const sample = () => {
      const s = procStat(pid);
      if (s) samples.push({ t: (Date.now() - t0) / 1000, ...s, ...last });
    };
    const sampler = setInterval(sample, 10_000);
    const res = await c.expect('RESULT', (seconds + 120) * 1000, (p) => (last = p));
    clearInterval(sampler);
    sample();
    c.tell('exit');
    log(`soak: ${JSON.stringify(res)}`);
    return { idleRss: idle.rss, idleFds: idle.fds, samples, res, seconds };
  } catch (e) {
    log(`soak: ${e.message}`);
    return { error: e.message };
  } finally {
    c.child.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------
// Report

function tcpReport(results, o) {
  const lines = [
    `### ${o.tcpConnections} concurrent TCP connections, held ${o.tcpHold} s`,
    '',
    `From the namespace to an echo server in the remote namespace, at most 256 connecting at a time (time limit 150 s),`,
    `then each one held writes 32 bytes and must read them back (time limit 120 s). Memory per flow: (RSS held − RSS idle) / connections held.`,
    `fd hard limit ${fs.readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+\d+\s+(\d+)/)?.[1]} (not raised).`,
    '',
    '| tool | held | time to hold all | echoed after the hold | RSS idle | RSS held | peak RSS (VmHWM) | per flow | fds held |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    if (r.error) {
      lines.push(`| ${TOOL_NAME[r.tool]} | failed: ${r.error} | | | | | | | |`);
      continue;
    }
    lines.push(
      `| ${TOOL_NAME[r.tool]} | ${r.held}/${r.wanted}${r.failed ? ` (${r.failed} failed${r.firstError ? `: ${r.firstError}` : ''}${r.notStarted ? `, ${r.notStarted} not tried in time` : ''})` : r.notStarted ? ` (${r.notStarted} not tried in time)` : ''} | ${fmt(r.ms / 1000)} s | ${r.echoed}/${r.aliveAtCheck}${r.wrong ? ` (${r.wrong} wrong)` : ''} | ${fmt(MiB(r.idleRss))} MiB | ${fmt(MiB(r.heldRss))} MiB | ${fmt(MiB(r.peakRss))} MiB | ${fmt(r.perFlowKiB, 2)} KiB | ${r.heldFds} |`,
    );
  }
  return lines;
}

function udpReport(results, o) {
  const lines = [
    `### ${o.udpWaves * o.udpFlows} UDP flows over time, with expiry`,
    '',
    `${o.udpWaves} wave(s) of ${o.udpFlows} flows (${o.udpFlows / UDP_DST_PORTS} source ports × ${UDP_DST_PORTS} server ports, one 64-byte request and its echo each);`,
    `after each wave, the tool's fds polled (every 2 s) until back to idle, then RSS read 5 s later. "Gone after": from the wave's start until its`,
    `flows were closed. Both expire a UDP flow of one datagram each way after 30 s idle, a stream after 120 s`,
    `(nf_conntrack_udp_timeout and _stream, or those defaults).`,
    `Both tools at once, in their own namespaces${o.serial ? '' : ', while the soak ran'}. Flat memory: RSS after the last expiry ≈ after the first.`,
    '',
    '| tool | wave | answered | time to send | peak fds | fds after expiry (idle) | gone after | RSS at wave end | RSS after expiry (idle) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    if (r.error) {
      lines.push(`| ${TOOL_NAME[r.tool]} | failed: ${r.error} | | | | | | | |`);
      continue;
    }
    r.waves.forEach((w, i) => {
      lines.push(
        `| ${TOOL_NAME[r.tool]} | ${i + 1} | ${w.replied}/${w.flows} | ${fmt(w.ms / 1000)} s | ${w.peakFds} | ${w.fdsAfter} (${r.idleFds}) | ${w.expiredAfterS === undefined ? 'not within 300 s' : `${fmt(w.expiredAfterS, 0)} s`} | ${fmt(MiB(w.rssAtEnd))} MiB | ${fmt(MiB(w.rssAfter))} MiB (${fmt(MiB(r.idleRss))} MiB) |`,
      );
    });
  }
  lines.push('');
  for (const r of results) {
    if (r.error || r.waves.length < 2) continue;
    const d = MiB(r.waves.at(-1).rssAfter - r.waves[0].rssAfter);
    lines.push(`${TOOL_NAME[r.tool]}: RSS after the last expiry ${d >= 0 ? '+' : ''}${fmt(d)} MiB against the first; peak RSS ${fmt(MiB(r.peakRss))} MiB.`);
  }
  return lines;
}

function soakReport(s, o) {
  const lines = [`### Soak: ${o.soakMinutes} minute(s) of mixed TCP, UDP and ICMP through ours`, ''];
  if (s.error) return [...lines, `failed: ${s.error}`];
  const warm = Math.min(240, s.seconds / 2);
  const after = s.samples.filter((x) => x.t >= warm);
  const rss = after.map((x) => MiB(x.rss));
  const fds = after.map((x) => x.fds);
  const k = slope(after.map((x) => [x.t / 60, MiB(x.rss)]));
  const r = s.res;
  lines.push(
    `4 loops of short TCP connections (16 KiB echoed), 2 long TCP connections echoing 64 KiB every 10 ms, 20 new UDP flows a second`,
    `(the client's socket closed after the echo; the flow expires in pasta after 30 s), \`ping -i 0.2\`. Sampled every 10 s.`,
    '',
    `Traffic: ${r.tcpShort} short TCP connections (${r.tcpShortErrors} failed), ${fmt(r.bulkBytes / 2 ** 20, 0)} MiB echoed on the long ones (${r.bulkErrors} errors),`,
    `${r.udpFlows} UDP flows (${r.udpAnswered} answered), ${r.pingReceived}/${r.pingSent} pings answered${r.firstError ? `; first error: ${r.firstError}` : ''}.`,
    '',
    `After ${warm / 60} min of warm-up: RSS ${fmt(Math.min(...rss))}–${fmt(Math.max(...rss))} MiB (slope ${k === undefined ? '–' : `${k >= 0 ? '+' : ''}${fmt(k, 2)}`} MiB/min), fds ${Math.min(...fds)}–${Math.max(...fds)}; idle before: ${fmt(MiB(s.idleRss))} MiB, ${s.idleFds} fds; peak RSS ${fmt(MiB(Math.max(...s.samples.map((x) => x.hwm))))} MiB.`,
    '',
    '| minute | RSS MiB | fds | short TCP so far (failed) | UDP flows so far (answered) |',
    '| --- | --- | --- | --- | --- |',
  );
  for (let m = 1; m <= Math.ceil(s.seconds / 60); m++) {
    const x = s.samples.filter((y) => y.t <= m * 60 + 1).at(-1);
    if (x) lines.push(`| ${m} | ${fmt(MiB(x.rss))} | ${x.fds} | ${x.tcpShort ?? '–'} (${x.tcpShortErrors ?? '–'}) | ${x.udpFlows ?? '–'} (${x.udpAnswered ?? '–'}) |`);
  }
  return lines;
}

async function bench() {
  const o = parseOptions(process.argv.slice(2));
  o.topologyModule = await import('../test/e2e/topology-core.js');
  const { createTopology } = o.topologyModule;
  const started = new Date();
  log(`options: ${JSON.stringify({ ...o, topologyModule: undefined })}`);
  const topo = await createTopology();
  const out = [];
  try {
    const dns = topo.spawnHost([NODE, path.join(root, 'test', 'e2e', 'dnsserver.js'), '--bind', '127.0.0.1', '--port', '53'], { stdio: ['pipe', 'pipe', 'pipe'] });
    dns.stdout.resume();
    const tools = o.tools.filter((t) => t === 'ours' || fs.existsSync(o.upstream));
    const sections = {};
    if (o.only.includes('tcp') || o.only.includes('soak')) await startServer(topo, ['--role', 'tcp-server', '--port', String(TCP_PORT)]);
    const udp = async () => {
      const port = { ours: UDP_BASE, pasta: UDP_BASE + 10 };
      for (const t of tools) await startServer(topo, ['--role', 'udp-server', '--host', o.topologyModule.ADDRESSES.serverV4, '--port', String(port[t]), '--count', String(UDP_DST_PORTS)]);
      const results = await Promise.all(tools.map((t) => measureUdp(topo, o, t, port[t])));
      sections.udp = udpReport(results, o);
    };
    // TCP alone (its times are measured); then UDP (whose expiry takes its time) beside the soak.
    if (o.only.includes('tcp')) {
      const results = [];
      for (const t of tools) results.push(await measureTcp(topo, o, t));
      sections.tcp = tcpReport(results, o);
    }
    const soak = async () => {
      if (o.only.includes('soak')) {
        await startServer(topo, ['--role', 'udp-server', '--host', o.topologyModule.ADDRESSES.serverV4, '--port', String(UDP_BASE + 20), '--count', '1']);
        sections.soak = soakReport(await measureSoak(topo, o), o);
      }
    };
    if (!o.only.includes('udp')) await soak();
    else if (o.serial) {
      await soak();
      await udp();
    } else await Promise.all([udp(), soak()]);
    for (const k of ['tcp', 'udp', 'soak']) if (sections[k]) out.push(...sections[k], '');
  } finally {
    await topo.close();
  }
  const load = os.loadavg().map((x) => x.toFixed(2)).join(', ');
  const head = [
    `## Scale and endurance (bench/scale.js${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''})`,
    '',
    `Run ${started.toISOString()} on ${os.hostname()} (${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} CPUs, ${fmt(os.totalmem() / 2 ** 30, 0)} GiB), Linux ${os.release()}, Node ${process.version}; load average at the end ${load}.`,
    `Tools rootless (uid ${o.uid}) in the private topology; pasta(1) is ${o.upstream}. Memory is the tool's own process (VmRSS; peak VmHWM).`,
    '',
  ];
  const text = [...head, ...out].join('\n');
  process.stdout.write(`${text}\n`);
  if (o.markdown) fs.writeFileSync(o.markdown, `${text}\n`);
}

// ---------------------------------------------------------------------------

function roleOptions(argv) {
  const o = { role: argv[1], host: '', port: 0, count: 1, pending: 256, connectS: 150, flows: 0, waves: 1, seconds: 60, udpPort: 0 };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '').replace(/-(\w)/g, (_, ch) => ch.toUpperCase());
    const v = argv[i + 1];
    o[k] = k === 'host' ? v : Number(v);
  }
  return o;
}

if (process.argv[2] === '--role') {
  const o = roleOptions(process.argv.slice(2));
  const roles = { 'tcp-server': roleTcpServer, 'udp-server': roleUdpServer, 'tcp-client': roleTcpClient, 'udp-client': roleUdpClient, 'soak-client': roleSoakClient };
  if (!roles[o.role]) throw new Error(`unknown role ${o.role}`);
  roles[o.role](o);
} else {
  bench().catch((e) => {
    process.stderr.write(`scale: ${e.stack ?? e}\n`);
    process.exit(1);
  });
}
