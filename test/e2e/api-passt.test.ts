// The Node API for virtual machines (createPasst) against real traffic. createPasst()
// runs in a small driver process in the test topology's "host" namespace (DRIVER below:
// it takes JSON requests on stdin, answers and reports the handles' events as JSON lines
// on stdout), so everything passt sends for the guest reaches only the private "remote"
// network. The fake guest (fake-guest.ts) lives in this process: a UNIX domain socket is a file, reached
// from any network namespace. It speaks QEMU's stream protocol (a 4-byte big-endian
// length, then the Ethernet frame) with frames built by hand: DHCP, TCP to the remote
// HTTP server, UDP to the remote echo server. The guest counts what it sends and receives,
// and stats() must count exactly the same. Forwarded host ports (TCP and UDP) reach it.
//
// Then: create/close cycles (with a guest connected, or leaving a one-off instance) and
// failed creations leak no fd; two instances at once on the default paths
// /tmp/passt_1.socket and /tmp/passt_2.socket, each with its own traffic and stats (in a
// private /tmp, so the machine's is never touched); a bad option names its field; and the
// README's createPasst() example runs as it is written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { createTopology, ADDRESSES as A, type Topology, type ServerHandle } from './topology.js';
import { FakeGuest, HOST, GATEWAY, SYN, parseIp4, parseTcp, dhcpOptions } from './fake-guest.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const DIST = path.join(root, 'dist', 'index.js');

let topo: Topology;
let dir: string;
let http: ServerHandle;
let udpEcho: ServerHandle;

beforeAll(async () => {
  topo = await createTopology();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'api-passt-'));
  [http, udpEcho] = await Promise.all([topo.startRemoteServer('http', ['--port', '80']), topo.startRemoteServer('udpecho', ['--bind', A.serverV4])]);
});

afterAll(async () => {
  await topo?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// The driver: createPasst() in the topology's host namespace, run by JSON requests

const DRIVER = `
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import readline from 'node:readline';
const { createPasst, PastaOptionError } = await import(process.env.NODE_PASST_DIST);
const instances = new Map();
const send = (message) => process.stdout.write(JSON.stringify(message) + '\\n');
// Open fds, not counting /dev/null: Node opens it on its first 'ignore' stream and keeps it.
const fdCount = () => fs.readdirSync('/proc/self/fd').filter((f) => {
  try { return fs.readlinkSync('/proc/self/fd/' + f) !== '/dev/null'; } catch { return false; }
}).length;
const handlers = {
  async create({ id, options }) {
    // The sandbox mode the test runs in (api-passt.test.ts runs the tests in both).
    if (process.env.NODE_PASST_API_SANDBOX && options.sandbox === undefined) options = { ...options, sandbox: process.env.NODE_PASST_API_SANDBOX };
    const p = await createPasst(options);
    instances.set(id, p);
    for (const event of ['connect', 'disconnect', 'flow', 'close']) p.on(event, (data) => send({ event, id, data: data ?? null }));
    p.on('error', (err) => send({ event: 'error', id, data: err.message }));
    return { socketPath: p.socketPath, exists: fs.existsSync(p.socketPath) };
  },
  stats: ({ id }) => ({ stats: instances.get(id).stats(), connected: instances.get(id).connected }),
  async close({ id }) {
    const p = instances.get(id);
    await p.close();
    instances.delete(id);
    return { exists: fs.existsSync(p.socketPath), connected: p.connected, statsAfter: p.stats().framesFromTap };
  },
  exists: ({ file }) => ({ exists: fs.existsSync(file) }),
  fds: () => ({ fds: fdCount() }),
  // A TCP connection from the host's loopback to a port: is something listening?
  probe: ({ port }) => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve({ listening: true }); });
    // Accepted and reset at once (the guest's port closed) counts: with the engine in another
    // process, the reset can beat the handshake's completion to this event loop.
    s.on('error', (e) => resolve({ listening: e.code === 'ECONNRESET' }));
  }),
  // One UDP datagram from the host's loopback to a port.
  udpSend: ({ port, text }) => new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.send(text, port, '127.0.0.1', (err) => { s.close(); if (err) reject(err); else resolve({}); });
  }),
};
readline.createInterface({ input: process.stdin }).on('line', async (line) => {
  const request = JSON.parse(line);
  try {
    send({ seq: request.seq, ok: true, ...(await handlers[request.cmd](request)) });
  } catch (err) {
    send({ seq: request.seq, ok: false, error: { name: err.name, field: err instanceof PastaOptionError ? err.field : null, message: err.message } });
  }
});
`;

interface DriverEvent {
  event: 'connect' | 'disconnect' | 'flow' | 'close' | 'error';
  id: string;
  data: any;
}

/** A stage directory for a private /tmp: removed in afterAll with `dir`'s siblings. */
const stages: string[] = [];
afterAll(() => {
  for (const s of stages) fs.rmSync(s, { recursive: true, force: true });
});

/**
 * argv that runs `argv` in a mount namespace of its own with an empty tmpfs on /tmp, so
 * that /tmp/passt_N.socket is never the machine's. The checkout may itself live under
 * /tmp (CI clones there): it is bound into the new tmpfs at the same path first.
 */
function inPrivateTmp(argv: string[]): string[] {
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'api-passt-tmp-'));
  stages.push(stage);
  const script = [
    'set -e',
    `mount -t tmpfs tmpfs ${stage}`,
    ...(root.startsWith('/tmp/') ? [`mkdir -p ${stage}${root.slice(4)}`, `mount --bind ${root} ${stage}${root.slice(4)}`] : []),
    `mount --move ${stage} /tmp`,
    'exec "$@"',
  ].join('\n');
  return ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh', ...argv];
}

class Driver {
  readonly child: ChildProcess;
  readonly events: DriverEvent[] = [];
  private seq = 0;
  private readonly pending = new Map<number, (reply: any) => void>();
  private out = '';
  private err = '';
  private eventWaiters: Array<() => void> = [];

  constructor(opts: { privateTmp?: boolean; sandbox?: 'none' | 'process' } = {}) {
    const argv = [process.execPath, '--input-type=module', '-e', DRIVER];
    const env = { ...process.env, NODE_PASST_DIST: DIST, ...(opts.sandbox ? { NODE_PASST_API_SANDBOX: opts.sandbox } : {}) };
    this.child = topo.spawnHost(opts.privateTmp ? inPrivateTmp(argv) : argv, { env });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (d: string) => {
      this.out += d;
      let nl;
      while ((nl = this.out.indexOf('\n')) >= 0) {
        const message = JSON.parse(this.out.slice(0, nl));
        this.out = this.out.slice(nl + 1);
        if (typeof message.seq === 'number') {
          this.pending.get(message.seq)?.(message);
          this.pending.delete(message.seq);
        } else {
          this.events.push(message);
          for (const w of this.eventWaiters.splice(0)) w();
        }
      }
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (d: string) => (this.err += d));
  }

  /** What the driver wrote on standard error. */
  stderr(): string {
    return this.err;
  }

  /** The process whose /proc/PID/root reaches its private /tmp. */
  get pid(): number {
    return this.child.pid!;
  }

  request(cmd: string, args: Record<string, unknown> = {}): Promise<any> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`driver: no answer to ${cmd}; its standard error:\n${this.err}`)), 20_000);
      this.pending.set(seq, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.child.stdin!.write(`${JSON.stringify({ seq, cmd, ...args })}\n`);
    });
  }

  /** createPasst(options) as `id`; throws what it threw (name, field, message). */
  async create(id: string, options: Record<string, unknown> = {}): Promise<{ socketPath: string; exists: boolean }> {
    const r = await this.request('create', { id, options });
    if (!r.ok) throw Object.assign(new Error(r.error.message), r.error);
    return r;
  }

  async stats(id: string): Promise<{ stats: any; connected: boolean }> {
    return this.request('stats', { id });
  }

  /** close() it; whether its socket file is left, and more, afterwards. */
  async close(id: string): Promise<{ exists: boolean; connected: boolean; statsAfter: number }> {
    const r = await this.request('close', { id });
    expect(r.ok, r.error?.message).toBe(true);
    return r;
  }

  async fds(): Promise<number> {
    return (await this.request('fds')).fds;
  }

  /** The first event of instance `id` that matches (already seen, or still to come). */
  async waitEvent(id: string, event: DriverEvent['event'], match: (data: any) => boolean = () => true, timeoutMs = 5000): Promise<any> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find((e) => e.id === id && e.event === event && match(e.data));
      if (found) return found.data;
      if (Date.now() > end) throw new Error(`driver: no '${event}' event of ${id} in ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        this.eventWaiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  eventsOf(id: string, event: DriverEvent['event']): any[] {
    return this.events.filter((e) => e.id === id && e.event === event).map((e) => e.data);
  }

  /** End the driver: it exits once its instances are closed (killed after 3 s if a failed test left one open). */
  async end(): Promise<void> {
    this.child.stdin!.end();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await new Promise((resolve) => this.child.once('exit', resolve));
    clearTimeout(timer);
  }
}

let sockCounter = 0;
const sockPath = (): string => path.join(dir, `vm-${++sockCounter}.socket`);
const settle = (ms = 150): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------

// Both ways the engine can run: in the driver's process, and in a sandboxed child of it.
for (const sandbox of ['none', 'process'] as const) describe(`createPasst() (sandbox: '${sandbox}')`, () => {
  it('serves a guest on its socket: DHCP, TCP and UDP to the remote network, counted exactly by stats(); events; close() removes the socket', async () => {
    const d = new Driver({ sandbox });
    try {
      const sock = sockPath();
      const pcap = path.join(dir, 'api.pcap');
      // IPv4 only: no router advertisements, so passt sends nothing the guest did not ask for
      // and every frame can be counted.
      const created = await d.create('a', { socketPath: sock, ipv6: false, pcap, ports: { tcp: ['2222:22'], udp: ['5353:53'] } });
      expect(created).toMatchObject({ ok: true, socketPath: sock, exists: true });
      expect(fs.statSync(sock).isSocket()).toBe(true);
      expect((await d.stats('a')).connected).toBe(false);

      const g = await FakeGuest.connect(sock);
      expect(await d.waitEvent('a', 'connect')).toEqual({ pid: process.pid });
      const ack = await g.dhcp();
      expect([...ack.get(-1)!]).toEqual([...HOST]);
      expect([...ack.get(3)!]).toEqual([...GATEWAY]);

      const request = 'GET / HTTP/1.0\r\nHost: server\r\n\r\n';
      const response = (await g.tcpExchange(40000, 80, request)).toString();
      expect(response).toMatch(/^HTTP\/1\.[01] 200/);
      expect(response.endsWith('hello from remote\n')).toBe(true);
      expect(await g.udpEcho(udpEcho.port, 40001, 'echo through createPasst')).toBe('echo through createPasst');

      const { stats, connected } = await d.stats('a');
      expect(connected).toBe(true);
      // Whatever passt wrote before it answered has reached the guest (nothing unasked-for comes after).
      await expect.poll(() => g.framesReceived).toBe(stats.framesToTap);
      expect({ framesFromTap: stats.framesFromTap, bytesFromTap: stats.bytesFromTap, framesToTap: stats.framesToTap, bytesToTap: stats.bytesToTap }).toEqual({
        framesFromTap: g.framesSent,
        bytesFromTap: g.bytesSent,
        framesToTap: g.framesReceived,
        bytesToTap: g.bytesReceived,
      });
      expect(stats.droppedFromTap).toBe(0);
      expect(stats.tcp).toMatchObject({ opened: 1, bytesFromTap: request.length, bytesToTap: response.length, refused: 0 });
      expect(stats.udp).toMatchObject({ opened: 1, datagramsFromTap: 1, bytesFromTap: 24, datagramsToTap: 1, bytesToTap: 24 });
      expect(stats.icmp.opened).toBe(0);
      expect(d.eventsOf('a', 'flow')).toEqual([
        { protocol: 'tcp', direction: 'out', family: 4, guest: { address: A.hostV4, port: 40000 }, remote: { address: A.serverV4, port: 80 } },
        { protocol: 'udp', direction: 'out', family: 4, guest: { address: A.hostV4, port: 40001 }, remote: { address: A.serverV4, port: udpEcho.port } },
      ]);
      expect(http.peers.at(-1)?.address).toBe(A.hostV4); // no NAT: the remote sees the host's address

      // ports.tcp: the host's port 2222 reaches the guest's port 22 (a SYN for it arrives).
      expect((await d.request('probe', { port: 2222 })).listening).toBe(true);
      const syn = parseTcp(await g.waitFor((f) => parseTcp(f)?.dport === 22, 'SYN to the forwarded port'))!;
      expect(syn.flags & SYN).toBe(SYN);
      expect(await d.waitEvent('a', 'flow', (e) => e.direction === 'in')).toMatchObject({ protocol: 'tcp', direction: 'in', guest: { port: 22 } });
      // ports.udp: a datagram to the host's port 5353 reaches the guest's port 53.
      await d.request('udpSend', { port: 5353, text: 'to the guest over UDP' });
      const inbound = parseIp4(await g.waitFor((f) => { const ip = parseIp4(f); return !!ip && ip.proto === 17 && ip.l4.readUInt16BE(2) === 53; }, 'UDP datagram to the forwarded port'))!;
      expect(inbound.l4.subarray(8).toString()).toBe('to the guest over UDP');
      expect(await d.waitEvent('a', 'flow', (e) => e.protocol === 'udp' && e.direction === 'in')).toMatchObject({ guest: { port: 53 } });

      // Every frame passt sent this guest had right lengths and checksums.
      expect(g.problems).toEqual([]);
      // The guest leaves: 'disconnect'; the instance waits for the next guest, which is served.
      await g.close();
      expect(await d.waitEvent('a', 'disconnect')).toEqual({ reason: 'end of file', error: false });
      expect((await d.stats('a')).connected).toBe(false);
      const h = await FakeGuest.connect(sock);
      expect([...(await h.dhcp()).get(-1)!]).toEqual([...HOST]);
      expect(d.eventsOf('a', 'connect')).toHaveLength(2);

      // close() with that guest connected: its connection ends, the socket file goes.
      const closed = await d.close('a');
      expect(closed).toMatchObject({ exists: false, connected: false });
      expect(closed.statsAfter).toBeGreaterThan(0); // stats() still reads after close()
      await h.closed;
      expect(fs.existsSync(sock)).toBe(false);
      expect(d.eventsOf('a', 'close')).toHaveLength(1);
      expect(d.eventsOf('a', 'error')).toEqual([]);
      await expect(FakeGuest.connect(sock)).rejects.toThrow(/ENOENT|ECONNREFUSED/);

      // --pcap: every frame both ways, the second guest's included (and any frame
      // flushed while no guest was connected, which nobody received).
      const cap = fs.readFileSync(pcap);
      expect(cap.readUInt32LE(0)).toBe(0xa1b2c3d4);
      const records: Buffer[] = [];
      for (let o = 24; o + 16 <= cap.length; o += 16 + cap.readUInt32LE(o + 8)) records.push(cap.subarray(o + 16, o + 16 + cap.readUInt32LE(o + 8)));
      expect(records.length).toBeGreaterThanOrEqual(g.framesSent + g.framesReceived + h.framesSent + h.framesReceived);
      expect(records.length).toBeGreaterThanOrEqual(stats.framesFromTap + stats.framesToTap);
      expect(records.filter((r) => dhcpOptions(r)?.get(53)?.[0] === 5)).toHaveLength(2); // a DHCPACK for each guest
    } finally {
      await d.end();
    }
    // Only upstream's warning that the machine's resolv.conf names no IPv6 resolver, if it does not.
    expect(d.stderr().replace(/^No IPv6 nameserver available for NDP\/DHCPv6\n/gm, '')).toBe('');
  });

  it('leaks no fd over create/close cycles (a guest connected at close(), or a one-off instance the guest left) or failed creations', async () => {
    const d = new Driver({ sandbox });
    try {
      // The first instance loads the modules and the native addon: not counted.
      await d.create('warm-up', { socketPath: sockPath() });
      await d.close('warm-up');
      const before = await d.fds();
      for (let i = 0; i < 6; i++) {
        const id = `cycle-${i}`;
        const oneOff = i % 2 === 1;
        const sock = sockPath();
        await d.create(id, { socketPath: sock, oneOff });
        const g = await FakeGuest.connect(sock);
        await g.dhcp();
        expect(await g.udpEcho(udpEcho.port, 41000 + i, `cycle ${i}`)).toBe(`cycle ${i}`);
        if (oneOff) {
          // The guest leaves: the instance stops by itself.
          await g.close();
          expect(await d.waitEvent(id, 'disconnect')).toEqual({ reason: 'end of file', error: false });
          await d.waitEvent(id, 'close');
          expect((await d.request('exists', { file: sock })).exists).toBe(false);
        } else {
          expect((await d.close(id)).exists).toBe(false);
          await g.closed;
        }
        expect(d.eventsOf(id, 'close')).toHaveLength(1);
      }
      // Failures after the options were checked: a bad value, a socket path in use.
      const busy = sockPath();
      await d.create('busy', { socketPath: busy });
      await expect(d.create('refused', { socketPath: busy })).rejects.toMatchObject({ name: 'Error', message: `Socket path ${busy} already in use` });
      await expect(d.create('bad', { mtu: 70000 })).rejects.toMatchObject({ name: 'PastaOptionError', field: 'mtu' });
      const again = sockPath();
      await expect(d.create('no-pcap', { socketPath: again, pcap: path.join(dir, 'no-such-dir', 'x.pcap') })).rejects.toMatchObject({ message: expect.stringMatching(/^Couldn't open pcap file .*: No such file or directory$/) });
      await d.create('again', { socketPath: again }); // the failed creation let go of its path
      await d.close('again');
      await d.close('busy');
      expect(fs.readdirSync(dir).filter((f) => f.endsWith('.socket'))).toEqual([]);
      expect((await d.fds()) - before).toBe(0);
    } finally {
      await d.end();
    }
    // Only upstream's warning that the machine's resolv.conf names no IPv6 resolver, if it does not.
    expect(d.stderr().replace(/^No IPv6 nameserver available for NDP\/DHCPv6\n/gm, '')).toBe('');
  });

  it('runs two instances at once on the default paths /tmp/passt_1.socket and /tmp/passt_2.socket, each with its own traffic and stats', async () => {
    const d = new Driver({ privateTmp: true, sandbox });
    try {
      const a = await d.create('a', { ipv6: false });
      const b = await d.create('b', { ipv6: false });
      expect([a.socketPath, b.socketPath]).toEqual(['/tmp/passt_1.socket', '/tmp/passt_2.socket']);
      // Another instance never probes (connects to) these: that would take a's guest slot for a moment.
      await expect(d.create('c', { socketPath: a.socketPath })).rejects.toMatchObject({ message: 'Socket path /tmp/passt_1.socket already in use' });
      await settle(50);
      expect(d.events).toEqual([]);
      const reach = (p: string): string => `/proc/${d.pid}/root${p}`;
      const [ga, gb] = await Promise.all([FakeGuest.connect(reach(a.socketPath)), FakeGuest.connect(reach(b.socketPath))]);
      await Promise.all([ga.dhcp(), gb.dhcp()]);
      const [response, echoed] = await Promise.all([ga.tcpExchange(42000, 80, 'GET / HTTP/1.0\r\n\r\n'), gb.udpEcho(udpEcho.port, 42001, 'to b')]);
      expect(response.toString().endsWith('hello from remote\n')).toBe(true);
      expect(echoed).toBe('to b');
      const [sa, sb] = [(await d.stats('a')).stats, (await d.stats('b')).stats];
      await expect.poll(() => [ga.framesReceived, gb.framesReceived]).toEqual([sa.framesToTap, sb.framesToTap]);
      expect([sa.tcp.opened, sa.udp.opened, sa.framesFromTap, sa.framesToTap]).toEqual([1, 0, ga.framesSent, ga.framesReceived]);
      expect([sb.tcp.opened, sb.udp.opened, sb.framesFromTap, sb.framesToTap]).toEqual([0, 1, gb.framesSent, gb.framesReceived]);
      expect(d.eventsOf('a', 'flow').map((f) => f.protocol)).toEqual(['tcp']);
      expect(d.eventsOf('b', 'flow').map((f) => f.protocol)).toEqual(['udp']);

      // Closing one leaves the other serving.
      expect((await d.close('a')).exists).toBe(false);
      await ga.closed;
      expect(await gb.udpEcho(udpEcho.port, 42002, 'b still there')).toBe('b still there');
      expect((await d.close('b')).exists).toBe(false);
      await gb.closed;
    } finally {
      await d.end();
    }
    // Only upstream's warning that the machine's resolv.conf names no IPv6 resolver, if it does not.
    expect(d.stderr().replace(/^No IPv6 nameserver available for NDP\/DHCPv6\n/gm, '')).toBe('');
  });

  it('throws a PastaOptionError naming the bad field', async () => {
    const d = new Driver({ sandbox });
    try {
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ mtu: 70000 }, 'mtu'],
        [{ mtu: '1500' }, 'mtu'],
        [{ bogus: 1 }, 'bogus'],
        [{ socketPath: 42 }, 'socketPath'],
        [{ socketPath: `/tmp/${'x'.repeat(120)}` }, 'socketPath'],
        [{ addresses: ['not an address'] }, 'addresses'],
        [{ interface: 'nope0' }, 'interface'],
        [{ ports: { tcp: ['80-22'] } }, 'ports.tcp'],
        [{ ports: { udp: ['70000'] } }, 'ports.udp'],
        [{ dnsForward: [1] }, 'dnsForward[0]'],
        [{ log: { level: 'loud' } }, 'log.level'],
        [{ oneOff: 1 }, 'oneOff'],
      ];
      for (const [options, field] of cases) {
        await expect(d.create('bad', options), JSON.stringify(options)).rejects.toMatchObject({ name: 'PastaOptionError', field, message: expect.stringMatching(new RegExp(`^${field.replace(/[.[\]]/g, '\\$&')}: `)) });
      }
      expect(d.events).toEqual([]);
    } finally {
      await d.end();
    }
    // Only upstream's warning that the machine's resolv.conf names no IPv6 resolver, if it does not.
    expect(d.stderr().replace(/^No IPv6 nameserver available for NDP\/DHCPv6\n/gm, '')).toBe('');
  });
});

describe("the README's createPasst() example", () => {
  it('runs as written', async () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const m = /```js\n(\/\/ README example: test\/e2e\/api-passt\.test\.ts[^\n]*\n[\s\S]*?)```/.exec(readme);
    expect(m).not.toBeNull();
    const code = m![1].replace("from 'node-passt'", `from ${JSON.stringify(DIST)}`);
    expect(code).toContain(JSON.stringify(DIST));
    // In a private /tmp: the example takes the default socket path.
    const child = topo.spawnHost(inPrivateTmp([process.execPath, '--input-type=module', '-e', code]));
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const until = async (re: RegExp): Promise<RegExpExecArray> => {
      const end = Date.now() + 10_000;
      for (;;) {
        const found = re.exec(out);
        if (found) return found;
        if (Date.now() > end || child.exitCode !== null) throw new Error(`no ${re} in:\n${out}\nstandard error:\n${err}`);
        await settle(20);
      }
    };
    const [, sock] = await until(/addr\.path=(\S+)\n/);
    expect(sock).toBe('/tmp/passt_1.socket');
    expect(out.split('\n')[0]).toBe('qemu-system-x86_64 ... -device virtio-net-pci,netdev=s -netdev stream,id=s,server=off,addr.type=unix,addr.path=/tmp/passt_1.socket');
    const g = await FakeGuest.connect(`/proc/${child.pid}/root${sock}`);
    await until(/guest connected\n/);
    expect([...(await g.dhcp()).get(-1)!]).toEqual([...HOST]);
    expect(g.problems).toEqual([]);
    await g.close();
    expect(await exited).toBe(0);
    // Only upstream's warning about the machine's resolv.conf naming no IPv6 resolver, if any.
    expect(err.replace(/^No IPv6 nameserver available for NDP\/DHCPv6\n/, '')).toBe('');
    expect(out).toMatch(/\nguest connected\nguest left: 2 frames from it, \d+ to it, 0 TCP connections\n$/);
  });
});
