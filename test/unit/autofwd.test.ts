// The `auto` options at run time (src/fwd/autofwd.ts), fed literal /proc/net
// tables (as a little-endian kernel prints them) and, where it matters, real
// forwarders and pasta's own ListenTable on the rig's engine: which ports get
// a listener, which lose it, and which are never forwarded (outside the
// rules, excluded, ephemeral, or held by pasta itself on the watched side).
// Scans happen when the test calls poll() with its own clock.
import { describe, expect, it } from 'vitest';
import { native, C, E } from '../../src/native.js';
import { AutoForwarding, type AutoForwardingOptions, type AutoOption, type PortListener } from '../../src/fwd/autofwd.js';
import { TcpForwarder, TcpNsForwarder } from '../../src/fwd/fwd.js';
import { parsePortSpecs, type PortSpecContext } from '../../src/fwd/spec.js';
import { createLogger, type Logger } from '../../src/log.js';
import { formatIP } from '../../src/inet.js';
import { SYN, config, connectTo, connected, ip, useHostSockets, useRigs } from './engine-rig.js';

const newRig = useRigs();
const keep = useHostSockets();
const silent = createLogger({ name: 'test', level: 'silent' });

// ---------------------------------------------------------------------------
// Literal tables. Ports are written as the kernel writes them (%04X); the
// tests that listen for real put free ports of this machine there.

const TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const TCP6_HEADER = '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const UDP_HEADER = '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops';

const hex4 = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
const table = (header: string, rows: string[]) => [header, ...rows].join('\n') + '\n';

/** /proc/net/tcp: 0.0.0.0:p1 and 127.0.0.1:p2 listening, a connection on p3, a TIME_WAIT from p4. */
const tcpTable = (p1: number, p2: number, p3: number, p4: number) => table(TCP_HEADER, [
  `   0: 00000000:${hex4(p1)} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21411 1 0000000000000000 100 0 0 10 0`,
  `   1: 0100007F:${hex4(p2)} 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 24983 1 0000000000000000 100 0 0 10 0`,
  `   2: 0F02000A:${hex4(p3)} 0202000A:D4C2 01 00000000:00000000 02:0004A2B3 00000000     0        0 90412 4 0000000000000000 20 4 29 10 -1`,
  `   3: 0100007F:${hex4(p4)} 0100007F:0277 06 00000000:00000000 03:00000FA1 00000000     0        0 0 3 0000000000000000`,
]);

/** /proc/net/tcp6: [::]:p listening, [::1]:q in SYN_SENT. */
const tcp6Table = (p: number, q: number) => table(TCP6_HEADER, [
  `   0: 00000000000000000000000000000000:${hex4(p)} 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21413 1 0000000000000000 100 0 0 10 0`,
  `   1: 00000000000000000000000001000000:${hex4(q)} 00000000000000000000000001000000:0016 02 00000000:00000000 01:00000064 00000000  1000        0 90602 2 0000000000000000 100 0 0 10 -1`,
]);

/** /proc/net/tcp listing each of `ports` as a listener on 0.0.0.0. */
const listening = (...ports: number[]) => table(TCP_HEADER, ports.map((p, i) =>
  `${String(i).padStart(4)}: 00000000:${hex4(p)} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${30000 + i} 1 0000000000000000 100 0 0 10 0`));

/** /proc/net/udp: 0.0.0.0:p bound, and a socket connected from q (not a bound port). */
const udpTable = (p: number, q: number) => table(UDP_HEADER, [
  `  174: 00000000:${hex4(p)} 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 17395 2 0000000000000000 0`,
  `  221: 0F02000A:${hex4(q)} 350200C0:0035 01 00000000:00000000 00:00000000 00000000  1000        0 90522 2 0000000000000000 0`,
]);

/** The tables of one side, changed by the test; `reads` lists what was read. */
class Tables {
  readonly text = new Map<string, string | undefined>();
  readonly reads: string[] = [];
  readonly read = (name: string): string | undefined => {
    this.reads.push(name);
    return this.text.get(name);
  };
}

/** A forwarder that only says what it was asked: `ADDR:PORT=>TARGET` per listen, `-PORT` per unlisten. */
class Recorder implements PortListener {
  readonly log: string[] = [];
  readonly ports = new Set<number>();
  /** Ports taken on the listening side: listen() fails with EADDRINUSE. */
  readonly taken = new Set<number>();

  listen(port: number, target: number, addr?: Uint8Array | null): number {
    this.log.push(`${addr ? formatIP(addr) : '*'}:${port}=>${target}`);
    if (this.taken.has(port)) return -E.EADDRINUSE;
    this.ports.add(port);
    return 0;
  }

  unlisten(port: number): void {
    this.log.push(`-${port}`);
    this.ports.delete(port);
  }
}

const sorted = (s: Iterable<number>) => [...s].sort((a, b) => a - b);

/** AutoForwarding watching the namespace's `ns`: silent, the host unreadable, nothing held, unless `opts` says otherwise. */
function watching(ns: Tables, opts: Partial<AutoForwardingOptions>): AutoForwarding {
  return new AutoForwarding({ log: silent, readNs: ns.read, readHost: () => undefined, isHeld: () => false, ...opts });
}

/** An option's `values`, forwarded by `forwarder`. */
function option(o: '-t' | '-u' | '-T', values: string[], forwarder: PortListener, context?: PortSpecContext): AutoOption {
  return { spec: parsePortSpecs(o, values, 'pasta', context), forwarder };
}

/** Free TCP ports on 127.0.0.1 below the ephemeral range (which `auto` leaves out). */
function lowFreePorts(n: number): number[] {
  const found: number[] = [];
  for (let port = 20000 + Math.floor(Math.random() * 10000); found.length < n && port < 32768; port++) {
    const fd = native.socket(C.AF_INET, C.SOCK_STREAM, 0);
    const ok = native.bind(fd, ip('127.0.0.1'), port, 0) === 0;
    native.close(fd);
    if (ok) found.push(port);
  }
  expect(found).toHaveLength(n);
  return found;
}

describe('AutoForwarding', () => {
  it('follows the namespace\'s listeners with real listeners on the host, opening and closing them as the tables change', async () => {
    const rig = await newRig();
    const [p1, p2, p3, p4, p5] = lowFreePorts(5);
    const spec = parsePortSpecs('-t', ['127.0.0.1/auto'], 'pasta');
    const fwd = keep(new TcpForwarder(rig.engine.listeners, silent, config(), rig.engine.tcp, spec, rig.now));
    const ns = new Tables();
    ns.text.set('tcp', tcpTable(p1, p2, p3, p4));
    ns.text.set('tcp6', tcp6Table(p5, p3));
    const auto = watching(ns, { tcp: { spec, forwarder: fwd }, isHeld: (side, proto, port) => rig.engine.listeners.isHeld(side, proto, port) });
    expect(auto.active).toBe(true);
    auto.poll(0);
    // Listening sockets of any address, loopback included; not connections, not TIME_WAIT.
    expect(sorted(fwd.ports)).toEqual(sorted([p1, p2, p5]));
    expect(auto.scans).toBe(1);
    // A listener forwards for real: the guest gets a SYN to the same port.
    const client = keep(connectTo(4, p1));
    const clientPort = await connected(client);
    expect(await rig.next((s) => s.flags === SYN && s.sport === clientPort)).toMatchObject({ dport: p1, dstIp: '198.51.100.2' });

    // p1 goes, p3 starts listening over IPv6.
    ns.text.set('tcp', tcpTable(p2, p2, p3, p4));
    ns.text.set('tcp6', tcp6Table(p3, p5));
    auto.poll(999);
    expect(sorted(fwd.ports)).toEqual(sorted([p1, p2, p5]));
    auto.poll(1000);
    expect(sorted(fwd.ports)).toEqual(sorted([p2, p3]));
    expect(auto.scans).toBe(2);
    const late = keep(connectTo(4, p1));
    expect(await late.errorSeen()).toBe(E.ECONNREFUSED);
  });

  it('forwards only what its scanned rules cover: ranges with their targets, exclusions, never the ephemeral range', () => {
    const ns = new Tables();
    ns.text.set('tcp', listening(22, 80, 20005, 20011, 40000, 61000));
    const rec = new Recorder();
    const auto = watching(ns, { tcp: option('-t', ['127.0.0.1/20000-20010:30000-30010,auto', '::1/auto,~22'], rec) });
    auto.poll(0);
    // 20005 is covered by both rules (two addresses); 40000 is in the kernel's ephemeral range.
    expect(rec.log.sort()).toEqual(['127.0.0.1:20005=>30005', '::1:20005=>20005', '::1:20011=>20011', '::1:61000=>61000', '::1:80=>80'].sort());

    // With another ephemeral range, `auto` covers what it no longer includes.
    const other: PortSpecContext = { ephemeral: { first: 20000, last: 20010 } };
    const rec2 = new Recorder();
    const auto2 = watching(ns, { tcp: option('-t', ['auto'], rec2, other) });
    auto2.poll(0);
    expect(sorted(rec2.ports)).toEqual([22, 80, 20011, 40000, 61000]);
  });

  it('never forwards back the ports pasta itself holds on the watched side, and picks them up once it lets go', async () => {
    const rig = await newRig();
    const [mine, theirs] = lowFreePorts(2);
    const nsSocket = (family: 4 | 6) => native.socket(family === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_STREAM | C.SOCK_NONBLOCK, 0);
    // pasta's own -T listener on the namespace's loopback (this process's, here): it shows in the namespace's table.
    const back = keep(new TcpNsForwarder(rig.engine.listeners, silent, parsePortSpecs('-T', [`${mine}`], 'pasta'), nsSocket, () => false));
    back.start();
    // And a UDP socket it holds there.
    const udpFd = native.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
    keep({ close: () => native.close(udpFd) });
    const udpIndex = rig.engine.listeners.add(udpFd, () => {}, { side: 'ns', proto: 'udp', port: 5353 });
    const ns = new Tables();
    ns.text.set('tcp', listening(mine, theirs));
    ns.text.set('udp', udpTable(5353, 5400));
    const tcp = new Recorder();
    const udp = new Recorder();
    const auto = watching(ns, {
      tcp: option('-t', ['auto'], tcp),
      udp: option('-u', ['auto'], udp),
      isHeld: (side, proto, port) => rig.engine.listeners.isHeld(side, proto, port),
    });
    auto.poll(0);
    expect(sorted(tcp.ports)).toEqual([theirs]);
    // UDP: (as upstream) the TCP ports left, not the bound port pasta holds, nor the connected socket's.
    expect(sorted(udp.ports)).toEqual([theirs]);
    // pasta lets go of its own: from the next scan they are someone else's, and forwarded.
    back.unlisten(mine);
    rig.engine.listeners.remove(udpFd, udpIndex);
    auto.poll(1000);
    expect(sorted(tcp.ports)).toEqual(sorted([mine, theirs]));
    expect(sorted(udp.ports)).toEqual(sorted([mine, theirs, 5353]));
  });

  it('takes listening TCP sockets from sock_diag while it answers, from the tables when it does not', () => {
    const ns = new Tables();
    ns.text.set('tcp', listening(8080));
    let diag: Array<{ addr: Uint8Array; port: number }> | undefined = [{ addr: ip('0.0.0.0'), port: 9090 }];
    const rec = new Recorder();
    const auto = watching(ns, { tcp: option('-t', ['auto'], rec), tcpListenersNs: (family) => (family === 4 ? diag : []) });
    auto.poll(0);
    expect(sorted(rec.ports)).toEqual([9090]);
    expect(ns.reads).toEqual([]);
    diag = undefined;
    auto.poll(1000);
    expect(sorted(rec.ports)).toEqual([8080]);
    expect(ns.reads).toEqual(['tcp']);
  });

  it('a table that cannot be read counts as last read: a passing failure closes nothing', () => {
    const ns = new Tables();
    ns.text.set('tcp', listening(8080, 8081));
    const rec = new Recorder();
    const auto = watching(ns, { tcp: option('-t', ['auto'], rec) });
    auto.poll(0);
    ns.text.set('tcp', undefined);
    auto.poll(1000);
    expect(sorted(rec.ports)).toEqual([8080, 8081]);
    expect(rec.log).toEqual(['*:8080=>8080', '*:8081=>8081']);
    ns.text.set('tcp', listening(8081));
    auto.poll(2000);
    expect(rec.log).toEqual(['*:8080=>8080', '*:8081=>8081', '-8080']);
  });

  it('a port taken on the listening side is warned about once and retried at every scan', () => {
    const ns = new Tables();
    ns.text.set('tcp', listening(8080));
    const rec = new Recorder();
    rec.taken.add(8080);
    const warnings: string[] = [];
    const log = { debug: () => {}, warn: (m: string) => warnings.push(m) } as unknown as Logger;
    const auto = watching(ns, { log, tcp: option('-t', ['auto'], rec) });
    auto.poll(0);
    auto.poll(1000);
    expect(warnings).toEqual(['Listen failed for HOST TCP port */8080: Address already in use']);
    rec.taken.delete(8080);
    auto.poll(2000);
    expect(sorted(rec.ports)).toEqual([8080]);
  });

  it('poll(now, side) scans one side only; the other waits for the next poll', () => {
    const ns = new Tables();
    const host = new Tables();
    ns.text.set('tcp', listening(8080));
    host.text.set('tcp', listening(5432));
    const toHost = new Recorder();
    const toNs = new Recorder();
    const auto = watching(ns, { tcp: option('-t', ['auto'], toHost), tcpNs: option('-T', ['auto'], toNs), readHost: host.read });
    auto.poll(0, 'host');
    expect(ns.reads).toEqual([]);
    expect(sorted(toNs.ports)).toEqual([5432]);
    expect(sorted(toHost.ports)).toEqual([]);
    auto.poll(0);
    expect(sorted(toHost.ports)).toEqual([8080]);
    // The host side was scanned at 0 already: not again before a second has passed.
    expect(host.reads.filter((r) => r === 'tcp')).toHaveLength(1);
  });
});
