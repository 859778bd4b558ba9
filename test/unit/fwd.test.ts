// Port forwarding's listening side (src/fwd/fwd.ts): the ListenTable every
// forwarder's sockets are watched through, the -t forwarder (listen, accept,
// the peer as the guest sees it, splice or tap) and the -T forwarder (listen
// on the namespace's loopback, relay to the host's). Real sockets on loopback
// only; this process's network namespace stands for pasta's namespace too.
// Connections the -t forwarder opens towards the guest arrive at the rig's
// tap as SYNs (engine-rig.ts).
import { describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { native, C, E } from '../../src/native.js';
import { Loop } from '../../src/loop.js';
import { ListenTable, TcpForwarder, TcpNsForwarder } from '../../src/fwd/fwd.js';
import { parsePortSpecs } from '../../src/fwd/spec.js';
import { createLogger } from '../../src/log.js';
import type { Config } from '../../src/conf.js';
import {
  SYN, Listener, Peer, config, connectTo, connected, freePort, ip, localPort, settle, until, useHostSockets, useRigs,
  type Rig,
} from './engine-rig.js';

const newRig = useRigs();
const keep = useHostSockets();
const silent = createLogger({ name: 'test', level: 'silent' });

/** A -t forwarder of `values` on the rig's engine, closed after the test. */
function tcpForwarder(rig: Rig, values: string[], cfg: Config = config(), spliceTo?: ConstructorParameters<typeof TcpForwarder>[6]): TcpForwarder {
  const fwd = new TcpForwarder(rig.engine.listeners, silent, cfg, rig.engine.tcp, parsePortSpecs('-t', values, 'pasta'), rig.now, spliceTo);
  keep(fwd);
  fwd.start();
  return fwd;
}

/** Whether a connection to `port` on `family`'s loopback is refused (nothing listens). */
async function refused(family: 4 | 6, port: number): Promise<boolean> {
  const p = keep(connectTo(family, port));
  await p.readUntil((x) => x.error !== 0 || native.pollFd(x.fd, 4, 0) === 4, 'the connection to be answered');
  return p.error === E.ECONNREFUSED;
}

describe('ListenTable', () => {
  it('calls back for each readable socket, counts the ports held per side and protocol, and reuses freed slots', async () => {
    const loop = new Loop((err) => { throw err; }, 50, undefined, { manualTicks: true });
    loop.unref();
    const sockets: dgram.Socket[] = [];
    try {
      const table = new ListenTable(loop);
      const udp = async () => {
        const s = dgram.createSocket('udp4');
        sockets.push(s);
        await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
        return s;
      };
      // Native sockets bound to loopback ports, watched by the table; Node sockets send to them.
      const bound = () => {
        const fd = native.socket(C.AF_INET, C.SOCK_DGRAM | C.SOCK_NONBLOCK, 0);
        expect(native.bind(fd, ip('127.0.0.1'), 0, 0)).toBe(0);
        return keep({ fd, port: localPort(fd), close: () => native.close(fd) });
      };
      const [a, b, c] = [bound(), bound(), bound()];
      const calls: string[] = [];
      const drain = (name: string, fd: number) => () => {
        calls.push(name);
        native.recv(fd, Buffer.alloc(16), 0, 16, C.MSG_DONTWAIT, -1);
      };
      const ia = table.add(a.fd, drain('a', a.fd), { side: 'host', proto: 'udp', port: a.port });
      const ib = table.add(b.fd, drain('b', b.fd), { side: 'ns', proto: 'tcp', port: 5000 });
      const ic = table.add(c.fd, drain('c', c.fd), { side: 'ns', proto: 'tcp', port: 5000 });
      expect([ia, ib, ic]).toEqual([0, 1, 2]);
      expect(table.isHeld('host', 'udp', a.port)).toBe(true);
      expect(table.isHeld('ns', 'udp', a.port)).toBe(false);
      expect(table.isHeld('host', 'tcp', a.port)).toBe(false);
      expect(table.isHeld('ns', 'tcp', 5000)).toBe(true);

      const tx = await udp();
      tx.send('x', c.port, '127.0.0.1');
      await until(() => calls.length === 1, 'the callback of c');
      tx.send('x', a.port, '127.0.0.1');
      await until(() => calls.length === 2, 'the callback of a');
      expect(calls).toEqual(['c', 'a']);

      // Two listeners hold ns/tcp/5000: it stays held until both are gone.
      table.remove(b.fd, ib);
      expect(table.isHeld('ns', 'tcp', 5000)).toBe(true);
      table.remove(c.fd, ic);
      expect(table.isHeld('ns', 'tcp', 5000)).toBe(false);
      // A removed socket calls back no more; its slot is used again.
      tx.send('x', c.port, '127.0.0.1');
      tx.send('x', a.port, '127.0.0.1');
      await until(() => calls.length === 3, 'the callback of a');
      expect(calls).toEqual(['c', 'a', 'a']);
      const again = table.add(b.fd, drain('b', b.fd));
      expect([ib, ic]).toContain(again);
      // An fd the loop cannot watch (b is watched already): -errno, and the slot stays free.
      expect(table.add(b.fd, () => {})).toBe(-E.EEXIST);
      expect(table.add(c.fd, () => {})).toBe(again === ib ? ic : ib);
    } finally {
      for (const s of sockets) s.close();
      loop.close();
    }
  });
});

describe('TcpForwarder (-t)', () => {
  it('listens on every port of its rules, and on each no more once let go of', async () => {
    const rig = await newRig();
    const [p4, p6] = [freePort(4), freePort(6)];
    const fwd = tcpForwarder(rig, [`127.0.0.1/${p4}:8080`, `::1/${p6}:8081`]);
    expect(fwd.ports).toEqual([p4, p6]);
    expect(fwd.has(p4)).toBe(true);
    expect(rig.engine.listeners.isHeld('host', 'tcp', p4)).toBe(true);
    // Only the address of the rule.
    expect(await refused(6, p4)).toBe(true);
    fwd.unlisten(p4);
    expect(fwd.ports).toEqual([p6]);
    expect(rig.engine.listeners.isHeld('host', 'tcp', p4)).toBe(false);
    expect(await refused(4, p4)).toBe(true);
    expect(await refused(6, p6)).toBe(false);
    fwd.close();
    expect(fwd.ports).toEqual([]);
    expect(await refused(6, p6)).toBe(true);
  });

  it('an explicit port that cannot be bound is an error in upstream words, and nothing is left listening', async () => {
    const rig = await newRig();
    const taken = keep(new Listener(4));
    const free = freePort(4);
    const fwd = new TcpForwarder(rig.engine.listeners, silent, config(), rig.engine.tcp, parsePortSpecs('-t', [`127.0.0.1/${free}`, `127.0.0.1/${taken.port}`], 'pasta'), rig.now);
    expect(() => fwd.start()).toThrow(`Listen failed for HOST TCP port 127.0.0.1/${taken.port}: Address already in use\nCouldn't listen on requested ports`);
    expect(fwd.ports).toEqual([]);
    expect(rig.engine.listeners.isHeld('host', 'tcp', free)).toBe(false);
    expect(await refused(4, free)).toBe(true);
  });

  /** A connection from `family`'s loopback (from `bindAddr` if given) to `port`: the SYN the guest gets. */
  async function synFor(rig: Rig, family: 4 | 6, port: number, bindAddr?: string) {
    const client = keep(connectTo(family, port, { bindAddr }));
    const clientPort = await connected(client);
    const syn = await rig.next((s) => s.flags === SYN && s.sport === clientPort);
    return { syn, client, clientPort };
  }

  it('opens accepted connections towards the guest, from the peer as the guest can answer it', async () => {
    const rig = await newRig();
    const [p4, p6] = [freePort(4), freePort(6)];
    const fwd = tcpForwarder(rig, [`127.0.0.1/${p4}:8080`, `::1/${p6}:8081`]);
    // The host's loopback appears as the gateway: the address that stands for it.
    const v4 = await synFor(rig, 4, p4);
    expect(v4.syn).toMatchObject({ family: 4, srcIp: '198.51.100.1', dstIp: '198.51.100.2', sport: v4.clientPort, dport: 8080 });
    const v6 = await synFor(rig, 6, p6);
    expect(v6.syn).toMatchObject({ family: 6, srcIp: '2001:db8::1', dstIp: '2001:db8::2', sport: v6.clientPort, dport: 8081 });
    expect(rig.engine.tcp.count).toBe(2);
    expect(fwd).toMatchObject({ accepted: 2, refused: 0, spliced: 0 });
  });

  it('--map-host-loopback: 127.0.0.1 appears as its address, other loopback addresses as the gateway', async () => {
    const rig = await newRig();
    const port = freePort(4);
    tcpForwarder(rig, [`${port}`], config(['--map-host-loopback', '192.0.2.1']));
    expect((await synFor(rig, 4, port)).syn.srcIp).toBe('192.0.2.1');
    expect((await synFor(rig, 4, port, '127.0.0.2')).syn.srcIp).toBe('198.51.100.1');
  });

  it('the host\'s own address (the guest\'s too) appears as --map-guest-addr\'s, else as the gateway', async () => {
    const rig = await newRig();
    // A host whose own address the test can connect from: 127.0.0.3.
    const base = config();
    const own = (extra: Partial<Config>): Config => ({ ...base, ip4: { ...base.ip4!, addr: ip('127.0.0.3') }, ...extra });
    const [p1, p2] = [freePort(4), freePort(4)];
    tcpForwarder(rig, [`127.0.0.1/${p1}`], own({ mapGuestAddr4: ip('192.0.2.77') }));
    tcpForwarder(rig, [`127.0.0.1/${p2}`], own({ mapGuestAddr4: null }));
    expect((await synFor(rig, 4, p1, '127.0.0.3')).syn).toMatchObject({ srcIp: '192.0.2.77', dstIp: '127.0.0.3' });
    expect((await synFor(rig, 4, p2, '127.0.0.3')).syn).toMatchObject({ srcIp: '198.51.100.1', dstIp: '127.0.0.3' });
  });

  it('a rule with a target address sends connections there', async () => {
    const rig = await newRig();
    const port = freePort(4);
    tcpForwarder(rig, [`127.0.0.1/${port}:192.0.2.5/9000`]);
    expect((await synFor(rig, 4, port)).syn).toMatchObject({ srcIp: '198.51.100.1', dstIp: '192.0.2.5', dport: 9000 });
  });

  it('refuses connections of a family the guest does not have', async () => {
    const rig = await newRig({ args: ['-4'] });
    const port = freePort(6);
    const fwd = tcpForwarder(rig, [`::1/${port}`], config(['-4']));
    const client = keep(connectTo(6, port));
    expect(await client.errorSeen()).toBe(E.ECONNRESET);
    expect(fwd).toMatchObject({ accepted: 1, refused: 1 });
    expect(rig.engine.tcp.count).toBe(0);
  });

  describe('the splice decision (pasta: loopback to loopback, never through the tap)', () => {
    interface Spliced { family: 4 | 6; port: number; dest: string }
    /** A spliceTo that records its calls, keeps the fd (closed after the test) and answers `ok`. */
    function recorder(ok: boolean) {
      const calls: Spliced[] = [];
      const spliceTo = (fd: number, family: 4 | 6, port: number, dest: Uint8Array) => {
        calls.push({ family, port, dest: [...dest].join(family === 4 ? '.' : ',') });
        if (ok) keep(new Peer(fd));
        return ok;
      };
      return { calls, spliceTo };
    }

    it('from the host\'s loopback: spliced to the target port at the guest\'s own address, nothing through the tap', async () => {
      const rig = await newRig();
      const { calls, spliceTo } = recorder(true);
      const [p4, p6] = [freePort(4), freePort(6)];
      const fwd = tcpForwarder(rig, [`127.0.0.1/${p4}:8080`, `::1/${p6}:8081`], config(), spliceTo);
      await connected(keep(connectTo(4, p4)));
      await connected(keep(connectTo(6, p6)));
      await until(() => calls.length === 2, 'both connections to be spliced');
      expect(calls).toEqual([
        { family: 4, port: 8080, dest: '198.51.100.2' },
        { family: 6, port: 8081, dest: [...ip('2001:db8::2')].join(',') },
      ]);
      expect(fwd).toMatchObject({ accepted: 2, spliced: 2, refused: 0 });
      expect(await rig.barrier()).toEqual([]);
      expect(rig.engine.tcp.count).toBe(0);
    });

    it('--host-lo-to-ns-lo: to the loopback address the connection came to', async () => {
      const rig = await newRig();
      const { calls, spliceTo } = recorder(true);
      const port = freePort(4);
      tcpForwarder(rig, [`${port}`], config(['--host-lo-to-ns-lo']), spliceTo);
      await connected(keep(connectTo(4, port)));
      await until(() => calls.length === 1, 'the connection to be spliced');
      expect(calls[0]).toEqual({ family: 4, port, dest: '127.0.0.1' });
    });

    it('a rule with a target address is never spliced; a splice that fails resets the client', async () => {
      const rig = await newRig();
      const { calls, spliceTo } = recorder(false);
      const [p1, p2] = [freePort(4), freePort(4)];
      const fwd = tcpForwarder(rig, [`127.0.0.1/${p1}:192.0.2.5/9000`, `127.0.0.1/${p2}`], config(), spliceTo);
      const viaTap = keep(connectTo(4, p1));
      const viaTapPort = await connected(viaTap);
      expect(await rig.next((s) => s.flags === SYN && s.sport === viaTapPort)).toMatchObject({ dstIp: '192.0.2.5', dport: 9000 });
      expect(calls).toEqual([]);
      const failing = keep(connectTo(4, p2));
      expect(await failing.errorSeen()).toBe(E.ECONNRESET);
      expect(calls).toEqual([{ family: 4, port: p2, dest: '198.51.100.2' }]);
      expect(fwd).toMatchObject({ accepted: 2, spliced: 0, refused: 1 });
    });

    it('--splice-only: spliced to the namespace\'s loopback; what cannot be spliced is refused', async () => {
      const cfg = config(['--splice-only']);
      const rig = await newRig({ args: ['--splice-only'] });
      const { calls, spliceTo } = recorder(true);
      const [p1, p2] = [freePort(4), freePort(4)];
      const fwd = tcpForwarder(rig, [`127.0.0.1/${p1}`, `127.0.0.1/${p2}:192.0.2.5/9000`], cfg, spliceTo);
      await connected(keep(connectTo(4, p1)));
      await until(() => calls.length === 1, 'the connection to be spliced');
      expect(calls[0]).toEqual({ family: 4, port: p1, dest: '127.0.0.1' });
      const other = keep(connectTo(4, p2));
      expect(await other.errorSeen()).toBe(E.ECONNRESET);
      expect(fwd).toMatchObject({ spliced: 1, refused: 1 });
      await settle();
      expect(rig.engine.tcp.count).toBe(0);
    });
  });
});

describe('TcpNsForwarder (-T)', () => {
  /** Sockets "in the namespace": this process's own. */
  const nsTcpSocket = (family: 4 | 6) => native.socket(family === 4 ? C.AF_INET : C.AF_INET6, C.SOCK_STREAM | C.SOCK_NONBLOCK, 0);

  it('listens on the namespace\'s 127.0.0.1 and ::1 and relays each connection to the same family\'s loopback on the host', async () => {
    const rig = await newRig();
    const relayed: Array<[number, number]> = [];
    const relay = (a: number, b: number) => {
      relayed.push([a, b]);
      keep(new Peer(a));
      keep(new Peer(b));
      return true;
    };
    const port = freePort(4);
    const target4 = keep(new Listener(4));
    const fwd = new TcpNsForwarder(rig.engine.listeners, silent, parsePortSpecs('-T', [`${port}:${target4.port}`], 'pasta'), nsTcpSocket, relay);
    keep(fwd);
    fwd.start();
    expect(fwd.ports).toEqual([port]);
    expect(rig.engine.listeners.isHeld('ns', 'tcp', port)).toBe(true);
    expect(rig.engine.listeners.isHeld('host', 'tcp', port)).toBe(false);

    for (const family of [4, 6] as const) {
      const client = keep(connectTo(family, port));
      const clientPort = await connected(client);
      await until(() => relayed.length === (family === 4 ? 1 : 2), 'the relay');
      const [a, b] = relayed[relayed.length - 1];
      // A is the accepted connection of the client; B connects to the target on the host.
      const peerOfA = new Int32Array(3);
      expect(native.getpeername(a, new Uint8Array(16), peerOfA)).toBe(0);
      expect(peerOfA[1]).toBe(clientPort);
      if (family === 4) {
        const server = keep(await target4.accept());
        expect(server.peerPort).toBe(localPort(b));
      } else {
        // Nothing listens on ::1 at that port: B is refused, which the relay would handle.
        await until(() => (native.pollFd(b, 4, 0) & 8) !== 0, 'the refusal of B');
      }
    }
    expect(fwd.accepted).toBe(2);
  });

  it('resets the client when the relay does not take the connection', async () => {
    const rig = await newRig();
    const port = freePort(4);
    const target = keep(new Listener(4));
    const fwd = keep(new TcpNsForwarder(rig.engine.listeners, silent, parsePortSpecs('-T', [`${port}:${target.port}`], 'pasta'), nsTcpSocket, () => false));
    fwd.start();
    const client = keep(connectTo(4, port));
    expect(await client.errorSeen()).toBe(E.ECONNRESET);
  });

  it('a port taken in the namespace is an error naming the namespace\'s loopback', async () => {
    const rig = await newRig();
    const taken = keep(new Listener(4));
    const fwd = new TcpNsForwarder(rig.engine.listeners, silent, parsePortSpecs('-T', [`${taken.port}`], 'pasta'), nsTcpSocket, () => true);
    expect(() => fwd.start()).toThrow(`Listen failed for SPLICE TCP port *%lo/${taken.port}: Address already in use`);
    expect(fwd.ports).toEqual([]);
  });
});
