// pasta end to end: host TCP ports forwarded into the namespace (-t), reached from
// the remote network (real client addresses seen in the namespace) and from the
// host's own loopback, inside the private topology of DESIGN.md.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { createTopology, ADDRESSES as A, SERVERS_JS, type Topology } from './topology.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const PASTA = path.join(root, 'bin', 'pasta.js');
const CLIENTS = path.join(here, 'clients.js');
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
      // From the host's loopback: spliced socket to socket into the namespace's loopback,
      // so the server sees a loopback client (no tap, no copy through pasta).
      const l4 = await topo.execHost(['curl', '-sS', '--max-time', '5', 'http://127.0.0.1:8080/']);
      expect(l4.stdout.toString()).toBe('hello from remote\n');
      await p.waitFor((l) => l.peer?.address === '127.0.0.1');
      const l6 = await topo.execHost(['curl', '-sS', '--max-time', '5', 'http://[::1]:8080/']);
      expect(l6.stdout.toString()).toBe('hello from remote\n');
      await p.waitFor((l) => l.peer?.address === '::1');
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
      await sink.waitFor((l) => l.peer?.address === '::1');
    } finally {
      await sink.stop();
      await source.stop();
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

  it('-T: a client in the namespace reaches a server on the host\'s loopback at its own loopback, IPv4 and IPv6', async () => {
    const db = await topo.startHostServer('http', ['--port', '5432', '--bind', '127.0.0.1,::1']);
    try {
      const r = await topo.execHost([NODE, PASTA, '--config-net', '-T', '5432', '-T', '6000:5432', '--', 'sh', '-c',
        'curl -sS --max-time 5 http://127.0.0.1:5432/ && curl -sS --max-time 5 http://[::1]:5432/ && curl -sS --max-time 5 http://127.0.0.1:6000/']);
      expect(r.stderr.toString()).toBe('');
      expect(r.stdout.toString()).toBe('hello from remote\n'.repeat(3));
      expect(r.code).toBe(0);
      expect(db.peers.map((p) => p.address).sort()).toEqual(['127.0.0.1', '127.0.0.1', '::1']);
    } finally {
      await db.stop();
    }
  });

  it('refuses a port that is already in use, with one line naming it and exit code 1', async () => {
    const busy = await topo.startHostServer('http', ['--port', '8282']);
    try {
      const r = await topo.execHost([NODE, PASTA, '--config-net', '-t', '8282', '--', 'true']);
      expect(r.code).toBe(1);
      expect(r.stderr.toString()).toBe('pasta: -t: cannot listen on port 8282: address in use\n');
    } finally {
      await busy.stop();
    }
  });

  it("accepts Podman's forms and rejects what this version cannot do", async () => {
    const ok = await topo.execHost([NODE, PASTA, '--config-net', '-t', '127.0.0.1/8081-8081:80-80', '-u', 'none', '-T', 'none', '-U', 'none', '--', 'true']);
    const tAuto = await topo.execHost([NODE, PASTA, '--config-net', '-T', 'auto', '--', 'true']);
    expect(tAuto.code).toBe(1);
    expect(tAuto.stderr.toString()).toBe("pasta: -T: 'auto' is not supported by this version: give the ports\n");
    expect(ok.stderr.toString()).toBe('');
    expect(ok.code).toBe(0);
    const u = await topo.execHost([NODE, PASTA, '--config-net', '-u', '53', '--', 'true']);
    expect(u.code).toBe(1);
    expect(u.stderr.toString()).toBe("pasta: -u: only 'none' is supported by this version, not '53'\n");
    const bad = await topo.execHost([NODE, PASTA, '--config-net', '-t', '80-22', '--', 'true']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.toString()).toBe("pasta: -t: invalid port range '80-22' in '80-22'\n");
  });
});
