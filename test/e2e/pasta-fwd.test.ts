// pasta end to end: host TCP ports forwarded into the namespace (-t), reached from
// the remote network (real client addresses seen in the namespace) and from the
// host's own loopback, inside the private topology of doc/design.md.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { createTopology, rootNote, ADDRESSES as A, SERVERS_JS, type Topology } from './topology.js';
import { within } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const PASTA = path.join(root, 'bin', 'pasta.js');
const CLIENTS = path.join(here, 'clients.js');
const UDPCLIENT = path.join(here, 'udpclient.js');
const NODE = process.execPath;

let topo: Topology;

beforeAll(async () => {
  topo = await createTopology();
});

afterAll(async () => {
  await topo?.close();
});

interface Running {
  child: ChildProcess;
  lines: any[];
  waitFor(pred: (l: any) => boolean, timeoutMs?: number): Promise<any>;
  stop(): Promise<number | null>;
}

/** Run pasta with `opts` and, inside its namespace, servers.js MODE on `port` (both families). */
async function pastaServer(opts: string[], mode: string, port: number): Promise<Running> {
  const child = topo.spawnHost([NODE, PASTA, '--config-net', ...opts, '--', NODE, SERVERS_JS, mode, '--port', String(port)]);
  const lines: any[] = [];
  let waiters: Array<() => void> = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line));
      } catch {
        lines.push({ text: line });
      }
    }
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor = (pred: (l: any) => boolean, timeoutMs = 10_000) =>
    new Promise<any>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out; lines: ${JSON.stringify(lines)}`)), timeoutMs);
      const check = () => {
        const hit = lines.find(pred);
        if (hit) {
          clearTimeout(t);
          resolve(hit);
        } else waiters.push(check);
      };
      check();
    });
  await waitFor((l) => l.listening);
  return {
    child,
    lines,
    waitFor,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

describe('pasta -t (TCP port forwarding into the namespace)', () => {
  it('forwards 8080 to 80: from the remote (real client address seen) and from the host loopback, IPv4 and IPv6', async () => {
    const p = await pastaServer(['-t', '8080:80'], 'http', 80);
    try {
      const r4 = await topo.execRemote(['curl', '-sS', '--max-time', '5', '--interface', A.serverV4, `http://${A.hostV4}:8080/`]);
      expect(r4.stdout.toString()).toBe('hello from remote\n');
      await p.waitFor((l) => l.peer?.address === A.serverV4);
      const r6 = await topo.execRemote(['curl', '-sS', '--max-time', '5', '--interface', A.serverV6, `http://[${A.hostV6}]:8080/`]);
      expect(r6.stdout.toString()).toBe('hello from remote\n');
      await p.waitFor((l) => l.peer?.address === A.serverV6);
      // From the host's loopback: spliced socket to socket (no tap, no copy through pasta), to
      // the namespace's own address, as upstream (not its loopback: see --host-lo-to-ns-lo).
      const l4 = await topo.execHost(['curl', '-sS', '--max-time', '5', 'http://127.0.0.1:8080/']);
      expect(l4.stdout.toString()).toBe('hello from remote\n');
      await p.waitFor((l) => l.peer?.address === A.hostV4 && l.peer?.localAddress === A.hostV4);
      const l6 = await topo.execHost(['curl', '-sS', '--max-time', '5', 'http://[::1]:8080/']);
      expect(l6.stdout.toString()).toBe('hello from remote\n');
      await p.waitFor((l) => l.peer?.address === A.hostV6 && l.peer?.localAddress === A.hostV6);
      // The host's own (non-loopback) address goes through the tap and shows as the gateway.
      const own = await topo.execHost(['curl', '-sS', '--max-time', '5', `http://${A.hostV4}:8080/`]);
      expect(own.stdout.toString()).toBe('hello from remote\n');
      await p.waitFor((l) => l.peer?.address === A.gatewayV4);
    } finally {
      // SIGTERM goes on to the command (the server exits cleanly on it), and pasta exits with its status.
      expect(await p.stop()).toBe(0);
    }
  });

  it('moves 32 MiB each way through a forwarded port, byte-identical, on the tap path and the spliced path', async () => {
    const sink = await pastaServer(['-t', '9001'], 'sink', 9001);
    const source = await pastaServer(['-t', '9002'], 'source', 9002);
    const n = 32 * 1024 * 1024;
    try {
      for (const host of [A.hostV4, A.hostV6]) {
        const s = await topo.execRemote([NODE, CLIENTS, 'send', host, '9001', String(n)], { timeoutMs: 90_000 });
        expect(JSON.parse(s.stdout.toString())).toMatchObject({ ok: true, bytes: n });
        const r = await topo.execRemote([NODE, CLIENTS, 'recv', host, '9002', String(n)], { timeoutMs: 90_000 });
        expect(JSON.parse(r.stdout.toString())).toMatchObject({ ok: true, bytes: n });
      }
      for (const host of ['127.0.0.1', '::1']) {
        const s = await topo.execHost([NODE, CLIENTS, 'send', host, '9001', String(n)], { timeoutMs: 90_000 });
        expect(JSON.parse(s.stdout.toString())).toMatchObject({ ok: true, bytes: n });
        const r = await topo.execHost([NODE, CLIENTS, 'recv', host, '9002', String(n)], { timeoutMs: 90_000 });
        expect(JSON.parse(r.stdout.toString())).toMatchObject({ ok: true, bytes: n });
      }
      // The spliced path: the namespace's own address (see the test above).
      await sink.waitFor((l) => l.peer?.address === A.hostV6 && l.peer?.localAddress === A.hostV6);
    } finally {
      await sink.stop();
      await source.stop();
    }
  });

  it("does not expose a service bound to the namespace's loopback to the host's loopback, unless --host-lo-to-ns-lo", async () => {
    const run = async (extra: string[]) => {
      const child = topo.spawnHost([NODE, PASTA, '--config-net', '-t', '8484:80', '-u', 'none', ...extra, '--', NODE, SERVERS_JS, 'http', '--port', '80', '--bind', '127.0.0.1,::1']);
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      await within(10_000, async () => out.includes('"listening"'));
      const v4 = await topo.execHost(['curl', '-sS', '--max-time', '3', 'http://127.0.0.1:8484/']);
      const v6 = await topo.execHost(['curl', '-sS', '--max-time', '3', 'http://[::1]:8484/']);
      child.kill('SIGTERM');
      await exited;
      return [v4.stdout.toString(), v6.stdout.toString()];
    };
    // Upstream's default since it stopped exposing namespace-loopback services: to the namespace's own address.
    expect(await run([])).toEqual(['', '']);
    expect(await run(['--host-lo-to-ns-lo'])).toEqual(['hello from remote\n', 'hello from remote\n']);
  });

  it('--splice-only: no tap device; the host\'s loopback reaches the namespace\'s loopback, IPv4 and IPv6, and nothing else is forwarded', async () => {
    const child = topo.spawnHost([NODE, PASTA, '--config-net', '--splice-only', '-t', '8585:80', '-u', 'none', '-T', 'none', '-U', 'none', '--', 'sh', '-c',
      `ip -o link; ${NODE} ${SERVERS_JS} http --port 80 --bind 127.0.0.1,::1`]);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await within(10_000, async () => out.includes('"listening"'));
      // Only the loopback interface in the namespace.
      expect(out.split('\n').filter((l) => /^\d+: /.test(l)).map((l) => l.split(':')[1].trim())).toEqual(['lo']);
      for (const url of ['http://127.0.0.1:8585/', 'http://[::1]:8585/']) {
        expect((await topo.execHost(['curl', '-sS', '--max-time', '3', url])).stdout.toString()).toBe('hello from remote\n');
      }
      // From another host there is no way in (upstream: no interface to forward it to).
      expect((await topo.execRemote(['curl', '-sS', '--max-time', '3', `http://${A.hostV4}:8585/`])).code).not.toBe(0);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('forwards a range, honours exclusions, and binds to a given address only', async () => {
    const p = await pastaServer(['-t', '7000-7999:9000-9999,~7500', '-t', '127.0.0.1/8181:80'], 'http', 80);
    try {
      const bound = await topo.execHost(['curl', '-sS', '--max-time', '5', 'http://127.0.0.1:8181/']);
      expect(bound.stdout.toString()).toBe('hello from remote\n');
      const notBound = await topo.execRemote(['curl', '-sS', '--max-time', '3', `http://${A.hostV4}:8181/`]);
      expect(notBound.code).not.toBe(0);
      const listening = await topo.execHost(['ss', '-Htln']);
      const ports = new Set(listening.stdout.toString().split('\n').map((l) => Number(l.trim().split(/\s+/)[3]?.split(':').pop())));
      for (const port of [7000, 7001, 7499, 7501, 7999]) expect(ports.has(port)).toBe(true);
      expect(ports.has(7500)).toBe(false);
      expect(ports.has(8000)).toBe(false);
    } finally {
      await p.stop();
    }
  });

  it('binds a port to an interface: traffic through eth0 is forwarded, the loopback is not', async () => {
    const p = await pastaServer(['-t', '%eth0/8383:80', '-u', 'none'], 'http', 80);
    try {
      const remote = await topo.execRemote(['curl', '-sS', '--max-time', '5', '--interface', A.serverV4, `http://${A.hostV4}:8383/`]);
      expect(remote.stdout.toString()).toBe('hello from remote\n');
      const loopback = await topo.execHost(['curl', '-sS', '--max-time', '3', 'http://127.0.0.1:8383/']);
      expect(loopback.code).not.toBe(0);
    } finally {
      await p.stop();
    }
  });

  it('-T: a client in the namespace reaches a server on the host\'s loopback at its own loopback, IPv4 and IPv6', async () => {
    const db = await topo.startHostServer('http', ['--port', '5432', '--bind', '127.0.0.1,::1']);
    try {
      const r = await topo.execHost([NODE, PASTA, '--config-net', '-T', '5432', '-T', '6000:5432', '--', 'sh', '-c',
        'curl -sS --max-time 5 http://127.0.0.1:5432/ && curl -sS --max-time 5 http://[::1]:5432/ && curl -sS --max-time 5 http://127.0.0.1:6000/']);
      expect(r.stderr.toString()).toBe(rootNote(topo));
      expect(r.stdout.toString()).toBe('hello from remote\n'.repeat(3));
      expect(r.code).toBe(0);
      expect(db.peers.map((p) => p.address).sort()).toEqual(['127.0.0.1', '127.0.0.1', '::1']);
    } finally {
      await db.stop();
    }
  });

  it('refuses a port that is already in use, in upstream\'s words, and exit code 1', async () => {
    const busy = await topo.startHostServer('http', ['--port', '8282']);
    try {
      const r = await topo.execHost([NODE, PASTA, '--config-net', '-t', '8282', '--', 'true']);
      expect(r.code).toBe(1);
      expect(r.stderr.toString()).toBe(`${rootNote(topo)}Listen failed for HOST TCP port */8282: Address already in use\nCouldn't listen on requested ports\n`);
      // What Podman's own test matches (test/system/500-networking.bats, "port on localhost").
      expect(r.stderr.toString()).toMatch(/8282.*ddress already in use/);
    } finally {
      await busy.stop();
    }
  });

  it("accepts Podman's forms and rejects bad specs with one line and exit 1", async () => {
    const ok = await topo.execHost([NODE, PASTA, '--config-net', '-t', '127.0.0.1/8081-8081:80-80', '-u', 'none', '-T', 'none', '-U', 'none', '--', 'true']);
    expect(ok.stderr.toString()).toBe(rootNote(topo));
    expect(ok.code).toBe(0);
    const bad = await topo.execHost([NODE, PASTA, '--config-net', '-t', '80-22', '--', 'true']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.toString()).toBe("Invalid port specifier '80-22'\n");
    // auto covers 53 already: upstream's conflict, in its words.
    const mixed = await topo.execHost([NODE, PASTA, '--config-net', '-u', 'auto', '-u', '53', '--', 'true']);
    expect(mixed.code).toBe(1);
    expect(mixed.stderr.toString()).toMatch(/^Forwarding configuration conflict: UDP \[\*\]:53 {2}=> {2}53 {2}versus UDP \[\*\]:1-\d+ {2}=> {2}1-\d+ {2}\(best effort\) \(auto-scan\); Unable to add rule UDP \[\*\]:53 {2}=> {2}53 {2}for '-u 53'\n$/);
  });
});

describe('pasta -u and -U (UDP port forwarding)', () => {
  /** udpclient.js flood through HOST:PORT from where `exec` runs: every datagram echoed back intact. */
  async function flood(exec: (argv: string[], o?: any) => Promise<any>, host: string, port: number, count = 400, max = 8000, from?: string) {
    // Large datagrams at a gentler pace: a loaded 2-core machine may drop a burst of them anywhere, as UDP may.
    const rate = max > 10_000 ? 300 : 2000;
    const r = await exec([...(from ? ['env', `UDPCLIENT_BIND=${from}`] : []), NODE, UDPCLIENT, 'flood', host, String(port), String(count), String(max), String(rate)], { timeoutMs: 30_000 });
    const res = JSON.parse(r.stdout.toString());
    expect(res).toMatchObject({ ok: true, corrupt: 0 });
  }

  it('forwards 5353 to 53 from the remote (the server sees the real source) and from the host loopback (spliced), IPv4 and IPv6', async () => {
    const p = await pastaServer(['-u', '5353:53', '-t', 'none', '-T', 'none', '-U', 'none'], 'udpecho', 53);
    try {
      await flood(topo.execRemote.bind(topo), A.hostV4, 5353, 400, 8000, A.serverV4);
      await p.waitFor((l) => l.peer?.address === A.serverV4);
      await flood(topo.execRemote.bind(topo), A.hostV6, 5353, 400, 8000, A.serverV6);
      await p.waitFor((l) => l.peer?.address === A.serverV6);
      // Spliced, to the namespace's own address as for TCP.
      await flood(topo.execHost.bind(topo), '127.0.0.1', 5353);
      await p.waitFor((l) => l.peer?.address === A.hostV4);
      await flood(topo.execHost.bind(topo), '::1', 5353);
      await p.waitFor((l) => l.peer?.address === A.hostV6);
      // Large datagrams (up to 60000 bytes) both ways on both paths.
      await flood(topo.execRemote.bind(topo), A.hostV4, 5353, 100, 60_000, A.serverV4);
      await flood(topo.execHost.bind(topo), '127.0.0.1', 5353, 100, 60_000);
    } finally {
      expect(await p.stop()).toBe(0);
    }
  });

  it('-U: a client in the namespace reaches a UDP server on the host\'s loopback at its own loopback', async () => {
    const srv = await topo.startHostServer('udpecho', ['--port', '5444', '--bind', '127.0.0.1,::1']);
    try {
      const r = await topo.execHost([NODE, PASTA, '--config-net', '-U', '5444', '-U', '6444:5444', '--', 'sh', '-c',
        `${NODE} ${UDPCLIENT} flood 127.0.0.1 5444 300 4000 2000 && ${NODE} ${UDPCLIENT} flood ::1 5444 300 4000 2000 && ${NODE} ${UDPCLIENT} multi 127.0.0.1 6444`], { timeoutMs: 60_000 });
      const lines = r.stdout.toString().trim().split('\n').map((l: string) => JSON.parse(l));
      expect(lines[0]).toMatchObject({ ok: true, corrupt: 0 });
      expect(lines[1]).toMatchObject({ ok: true, corrupt: 0 });
      expect(r.code).toBe(0);
      expect(srv.peers.map((x) => x.address)).toContain('127.0.0.1');
      expect(srv.peers.map((x) => x.address)).toContain('::1');
    } finally {
      await srv.stop();
    }
  });

  it('refuses a UDP port already in use, in upstream\'s words, and exit 1', async () => {
    const busy = await topo.startHostServer('udpecho', ['--port', '5455']);
    try {
      const r = await topo.execHost([NODE, PASTA, '--config-net', '-u', '5455', '--', 'true']);
      expect(r.code).toBe(1);
      expect(r.stderr.toString()).toBe(`${rootNote(topo)}Listen failed for HOST UDP port */5455: Address already in use\nCouldn't listen on requested ports\n`);
    } finally {
      await busy.stop();
    }
  });
});

/** pasta (default options: auto everywhere) with a shell in the namespace that runs each line written to it. */
function pastaShell(opts: string[] = []) {
  const child = topo.spawnHost([NODE, PASTA, '--config-net', ...opts, '--', 'sh', '-c', 'while IFS= read -r cmd; do eval "$cmd"; echo "{\\"done\\":$?}"; done']);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const waiters: Array<() => void> = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  /** Run `cmd` in the namespace; resolves with what it printed once it is done. */
  const run = (cmd: string, timeoutMs = 15_000) =>
    new Promise<string>((resolve, reject) => {
      const start = out.length;
      const t = setTimeout(() => reject(new Error(`timed out running ${cmd}; output: ${out.slice(start)}`)), timeoutMs);
      const check = () => {
        const m = /\{"done":(\d+)\}\n/.exec(out.slice(start));
        if (m) {
          clearTimeout(t);
          resolve(out.slice(start, start + m.index));
        } else waiters.push(check);
      };
      child.stdin!.write(`${cmd}\n`);
      check();
    });
  return { child, run, stderr: () => err, close: async () => { child.stdin!.end(); return exited; } };
}


/** The ports are scanned once a second (as upstream): two scans and a margin for a loaded machine. */
const SCAN_LIMIT_MS = 3_500;

describe('pasta auto (the default): following ports bound on the other side', () => {
  it('-t/-u auto: a server started in the namespace after pasta is up is reachable within 2 s, and the forward goes away when it stops', async () => {
    const sh = pastaShell();
    try {
      await sh.run('true');
      // TCP, bound on every address: reached from the host's loopback (spliced) and from the remote (tap).
      // Timed from when the server listens (node starting it is not pasta's time).
      await sh.run(`${NODE} ${SERVERS_JS} http --port 7777 --no-peers & HTTP_PID=$!; until ss -Htln | grep -q ':7777 '; do sleep 0.05; done`);
      const curl = (url: string, exec = topo.execHost.bind(topo)) => async () => (await exec(['curl', '-sS', '--max-time', '1', url])).stdout.toString() === 'hello from remote\n';
      expect(await within(SCAN_LIMIT_MS, curl('http://127.0.0.1:7777/'))).toBeLessThan(SCAN_LIMIT_MS);
      expect(await curl(`http://${A.hostV4}:7777/`, topo.execRemote.bind(topo))()).toBe(true);
      // UDP: an echo server bound later; the host reaches it through the port that appeared.
      await sh.run(`${NODE} ${SERVERS_JS} udpecho --port 7778 --no-peers & UDP_PID=$!; until ss -Huln | grep -q ':7778 '; do sleep 0.05; done`);
      const udp = async () => JSON.parse((await topo.execHost(['env', 'UDPCLIENT_TIMEOUT_MS=400', NODE, UDPCLIENT, 'multi', '127.0.0.1', '7778'])).stdout.toString()).ok === true;
      expect(await within(SCAN_LIMIT_MS, udp)).toBeLessThan(SCAN_LIMIT_MS);
      // Stop the TCP server: the host's listener goes away (connection refused from the host's loopback).
      await sh.run('kill $HTTP_PID; wait $HTTP_PID');
      const gone = async () => !(await topo.execHost(['ss', '-Htln', 'sport = :7777'])).stdout.toString().includes('7777');
      expect(await within(SCAN_LIMIT_MS, gone)).toBeLessThan(SCAN_LIMIT_MS);
      const refused = await topo.execHost(['curl', '-sS', '--max-time', '2', 'http://127.0.0.1:7777/']);
      expect(refused.code).not.toBe(0);
    } finally {
      await sh.run('kill $UDP_PID 2>/dev/null; true').catch(() => undefined);
      expect(await sh.close()).toBe(0);
    }
  });

  it('auto: a port taken on the host is warned about once, pasta goes on, and the rest is forwarded', async () => {
    const busy = await topo.startHostServer('http', ['--port', '7790']);
    const sh = pastaShell(['-T', 'none', '-U', 'none']);
    try {
      await sh.run('true');
      await sh.run(`${NODE} ${SERVERS_JS} http --port 7790 --no-peers & ${NODE} ${SERVERS_JS} http --port 7791 --no-peers &`);
      const curl = async () => (await topo.execHost(['curl', '-sS', '--max-time', '1', 'http://127.0.0.1:7791/'])).stdout.toString() === 'hello from remote\n';
      await within(2_500, curl);
      // Two more scans: still one warning, and pasta still runs.
      await new Promise((r) => setTimeout(r, 2_200));
      const warnings = sh.stderr().split('\n').filter((l) => l.includes('7790'));
      expect(warnings).toEqual(['Listen failed for HOST TCP port */7790: Address already in use']);
      expect(await sh.run('echo alive')).toBe('alive\n');
    } finally {
      await sh.run('kill $(jobs -p) 2>/dev/null; true').catch(() => undefined);
      expect(await sh.close()).toBe(0);
      await busy.stop();
    }
  });

  it('-T auto: a host loopback server started after pasta is up is reachable at the namespace\'s own loopback within 2 s', async () => {
    const sh = pastaShell(['-t', 'none', '-u', 'none']);
    let srv: Awaited<ReturnType<Topology['startHostServer']>> | undefined;
    try {
      await sh.run('true');
      srv = await topo.startHostServer('http', ['--port', '6543', '--bind', '127.0.0.1']);
      const probe = async () => (await sh.run('curl -sS --max-time 1 http://127.0.0.1:6543/ 2>/dev/null; true')) === 'hello from remote\n';
      expect(await within(SCAN_LIMIT_MS, probe)).toBeLessThan(SCAN_LIMIT_MS);
      await srv.stop();
      srv = undefined;
      const gone = async () => !(await sh.run('ss -Htln')).includes(':6543');
      expect(await within(SCAN_LIMIT_MS, gone)).toBeLessThan(SCAN_LIMIT_MS);
    } finally {
      await srv?.stop();
      expect(await sh.close()).toBe(0);
    }
  });
});
