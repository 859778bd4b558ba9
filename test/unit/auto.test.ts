import { execFileSync } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  AUTO_SCAN_INTERVAL_MS,
  AutoListeners,
  PortScanner,
  autoForwardPlan,
  diffPorts,
  parseProcNet,
  type BoundPort,
  type ScanFamily,
  type ScanProtocol,
} from '../../src/fwd/auto.js';
import { AutoForwarding, type PortListener } from '../../src/fwd/autofwd.js';
import { parsePortSpecs } from '../../src/fwd/spec.js';
import type { Logger } from '../../src/log.js';
import { formatIP } from '../../src/inet.js';

// Literal tables as a little-endian (x86-64) kernel prints them. Comments
// are not part of the files: they are kept out of the strings.

const TCP_HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     ';
const TCP6_HEADER =
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const UDP_HEADER =
  '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            ';
const UDP6_HEADER =
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops';

const lines = (...rows: string[]): string => rows.join('\n') + '\n';

const PROC_NET_TCP = lines(
  TCP_HEADER,
  // 0.0.0.0:22 LISTEN (sshd)
  '   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21411 1 0000000000000000 100 0 0 10 0                     ',
  // 127.0.0.1:631 LISTEN (cupsd)
  '   1: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 24983 1 0000000000000000 100 0 0 10 0                     ',
  // 127.0.0.53:53 LISTEN (systemd-resolved)
  '   2: 3500007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 18832 1 0000000000000000 100 0 0 10 5                     ',
  // 10.0.2.15:8080 LISTEN
  '   3: 0F02000A:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 90311 1 0000000000000000 100 0 0 10 0                     ',
  // 10.0.2.15:22 <- 10.0.2.2:54466 ESTABLISHED
  '   4: 0F02000A:0016 0202000A:D4C2 01 00000000:00000000 02:0004A2B3 00000000     0        0 90412 4 0000000000000000 20 4 29 10 -1                    ',
  // 127.0.0.1:40046 -> 127.0.0.1:631 TIME_WAIT (no inode any more)
  '   5: 0100007F:9C6E 0100007F:0277 06 00000000:00000000 03:00000FA1 00000000     0        0 0 3 0000000000000000                                      ',
  // 127.0.0.1:631 <- 127.0.0.1:45780 ESTABLISHED
  '   6: 0100007F:0277 0100007F:B2D4 01 00000000:00000000 00:00000000 00000000     0        0 90533 1 0000000000000000 20 4 30 10 -1                    ',
  // 0.0.0.0:5000 bound, not listening (CLOSE)
  '   7: 00000000:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 90601 1 0000000000000000 100 0 0 10 0                     ',
  // 127.0.0.1:33000 -> 127.0.0.1:22 SYN_SENT
  '   8: 0100007F:80E8 0100007F:0016 02 00000000:00000000 01:00000064 00000000  1000        0 90602 2 0000000000000000 100 0 0 10 -1                    ',
);

const PROC_NET_TCP6 = lines(
  TCP6_HEADER,
  // [::]:22 LISTEN
  '   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21413 1 0000000000000000 100 0 0 10 0',
  // [::1]:631 LISTEN
  '   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 24982 1 0000000000000000 100 0 0 10 0',
  // [::ffff:127.0.0.1]:8081 LISTEN (a v6 socket bound to a v4-mapped loopback address)
  '   2: 0000000000000000FFFF00000100007F:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 90700 1 0000000000000000 100 0 0 10 0',
  // [::ffff:10.0.2.15]:8082 LISTEN
  '   3: 0000000000000000FFFF00000F02000A:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 90701 1 0000000000000000 100 0 0 10 0',
  // [2001:db8::1]:443 LISTEN
  '   4: B80D0120000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 90702 1 0000000000000000 100 0 0 10 0',
  // [2001:db8::1]:443 <- [2001:db8::2]:50000 ESTABLISHED
  '   5: B80D0120000000000000000001000000:01BB B80D0120000000000000000002000000:C350 01 00000000:00000000 02:00000C35 00000000     0        0 90800 2 0000000000000000 21 4 30 10 -1',
  // [::1]:41000 -> [::1]:631 TIME_WAIT
  '   6: 00000000000000000000000001000000:A028 00000000000000000000000001000000:0277 06 00000000:00000000 03:00000E2C 00000000     0        0 0 3 0000000000000000',
);

const PROC_NET_UDP = lines(
  UDP_HEADER,
  // 127.0.0.53:53 (systemd-resolved)
  '  128: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 18831 2 0000000000000000 0          ',
  // 0.0.0.0:68 (DHCP client)
  '  174: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 17395 2 0000000000000000 0          ',
  // 10.0.2.15:55001 connected to 192.0.2.53:53: must be ignored
  '  221: 0F02000A:D6D9 350200C0:0035 01 00000000:00000000 00:00000000 00000000  1000        0 90522 2 0000000000000000 0          ',
  // 0.0.0.0:5353 (mDNS)
  '  301: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000   104        0 19001 2 0000000000000000 0          ',
  // state 07 but with a peer (disconnected oddity): not a bound port
  '  402: 00000000:2710 350200C0:0035 07 00000000:00000000 00:00000000 00000000     0        0 19002 2 0000000000000000 0          ',
  // the same with a peer address but port 0: still not a bound port
  '  403: 00000000:2711 350200C0:0000 07 00000000:00000000 00:00000000 00000000     0        0 19004 2 0000000000000000 0          ',
);

const PROC_NET_UDP6 = lines(
  UDP6_HEADER,
  // [::]:5353 (mDNS)
  '  301: 00000000000000000000000000000000:14E9 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000   104        0 19003 2 0000000000000000 0',
  // [::1]:8000
  '  422: 00000000000000000000000001000000:1F40 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 90901 2 0000000000000000 0',
  // [2001:db8::1]:40961 connected to [2001:db8::35]:53: must be ignored
  '  500: B80D0120000000000000000001000000:A001 B80D0120000000000000000035000000:0035 01 00000000:00000000 00:00000000 00000000  1000        0 90902 2 0000000000000000 0',
);

const LE = { littleEndian: true } as const;

/** Sockets as `ADDR port inode` strings, IPv6 in brackets, for exact comparisons. */
const show = (bound: BoundPort[]): string[] =>
  bound.map((b) => `${b.family === 6 ? `[${formatIP(b.addr)}]` : formatIP(b.addr)} ${b.port} ${b.inode}`);

describe('parseProcNet', () => {
  it('/proc/net/tcp: LISTEN sockets only, addresses converted from little-endian words', () => {
    const bound = parseProcNet(PROC_NET_TCP, 'tcp', 4, LE);
    expect(show(bound)).toEqual([
      '0.0.0.0 22 21411',
      '127.0.0.1 631 24983',
      '127.0.0.53 53 18832',
      '10.0.2.15 8080 90311',
    ]);
    expect(bound.every((b) => b.family === 4 && b.addr.length === 4)).toBe(true);
    expect([...bound[3]!.addr]).toEqual([10, 0, 2, 15]);
  });

  it('/proc/net/tcp6: wildcard, loopback, v4-mapped (reported as IPv4) and global addresses', () => {
    const bound = parseProcNet(PROC_NET_TCP6, 'tcp', 6, LE);
    expect(show(bound)).toEqual([
      '[::] 22 21413',
      '[::1] 631 24982',
      '127.0.0.1 8081 90700',
      '10.0.2.15 8082 90701',
      '[2001:db8::1] 443 90702',
    ]);
    expect(bound.map((b) => b.family)).toEqual([6, 6, 4, 4, 6]);
    expect(bound.map((b) => b.addr.length)).toEqual([16, 16, 4, 4, 16]);
    expect([...bound[4]!.addr]).toEqual([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  });

  it('/proc/net/udp: unconnected bound sockets; connected ones and ones with a peer are ignored', () => {
    expect(show(parseProcNet(PROC_NET_UDP, 'udp', 4, LE))).toEqual([
      '127.0.0.53 53 18831',
      '0.0.0.0 68 17395',
      '0.0.0.0 5353 19001',
    ]);
  });

  it('/proc/net/udp6', () => {
    expect(show(parseProcNet(PROC_NET_UDP6, 'udp', 6, LE))).toEqual(['[::] 5353 19003', '[::1] 8000 90901']);
  });

  it('the state that counts depends on the protocol: LISTEN for TCP, CLOSE for UDP', () => {
    // The TCP table read as UDP: only the bound, not listening, CLOSE socket on 5000 matches.
    expect(show(parseProcNet(PROC_NET_TCP, 'udp', 4, LE))).toEqual(['0.0.0.0 5000 90601']);
    // The UDP table read as TCP: nothing is in LISTEN.
    expect(parseProcNet(PROC_NET_UDP, 'tcp', 4, LE)).toEqual([]);
  });

  it('a table of the other family is malformed throughout and yields nothing', () => {
    expect(parseProcNet(PROC_NET_TCP6, 'tcp', 4, LE)).toEqual([]);
    expect(parseProcNet(PROC_NET_TCP, 'tcp', 6, LE)).toEqual([]);
  });

  it('big-endian machines print the words in network order', () => {
    const text = lines(
      TCP_HEADER,
      '   0: 7F000001:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1 0000000000000000 100 0 0 10 0',
    );
    const text6 = lines(
      TCP6_HEADER,
      '   0: 20010DB8000000000000000000000001:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 101 1 0000000000000000 100 0 0 10 0',
      '   1: 00000000000000000000FFFF7F000001:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 102 1 0000000000000000 100 0 0 10 0',
    );
    expect(show(parseProcNet(text, 'tcp', 4, { littleEndian: false }))).toEqual(['127.0.0.1 22 100']);
    expect(show(parseProcNet(text6, 'tcp', 6, { littleEndian: false }))).toEqual([
      '[2001:db8::1] 443 101',
      '127.0.0.1 8081 102',
    ]);
  });

  it('skips malformed lines without throwing and keeps the good ones', () => {
    const good = (sl: number, port: string, inode: number) =>
      `  ${sl}: 0100007F:${port} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0`;
    const text = [
      TCP_HEADER,
      '',
      '   ',
      'garbage',
      good(0, '0050', 1000),
      // truncated before the inode
      '   1: 0100007F:0051 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0',
      // cut in the middle of the local address
      '   2: 0100007',
      // not hex in the address, in the port, in the state
      '   3: 0100G07F:0052 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1003 1',
      '   4: 0100007F:00Z3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1004 1',
      '   5: 0100007F:0054 00000000:0000 0X 00000000:00000000 00:00000000 00000000     0        0 1005 1',
      // address too short, too long, colon missing, port too long
      '   6: 100007F:0055 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1006 1',
      '   7: 0100007F00:0056 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1007 1',
      '   8: 0100007F0057 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1008 1',
      '   9: 0100007F:10058 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1009 1',
      // slot number not decimal, slot colon missing
      '  1x: 0100007F:0059 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1010 1',
      '  11 0100007F:005A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1011 1',
      // inode not a number, remote address malformed, state of three digits
      '  12: 0100007F:005B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12ab 1',
      '  13: 0100007F:005C 0000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1013 1',
      '  14: 0100007F:005D 00000000:0000 00A 00000000:00000000 00:00000000 00000000     0        0 1014 1',
      // port 0 (never a listener) and an inode too large to be exact
      '  15: 0100007F:0000 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1015 1',
      '  16: 0100007F:005E 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99999999999999999999 1',
      // tabs and a carriage return are blanks; the last line has no newline
      '\t17:\t0100007F:005F\t00000000:0000\t0A\t00000000:00000000 00:00000000 00000000 0 0 1017 1\r',
      good(18, 'FFFF', 1018),
    ].join('\n');
    expect(show(parseProcNet(text, 'tcp', 4, LE))).toEqual([
      '127.0.0.1 80 1000',
      '127.0.0.1 95 1017',
      '127.0.0.1 65535 1018',
    ]);
    for (const junk of ['', '\n', '\n\n\n', ':', '0:', '0: :', '\u0000\u0000', 'sl'.repeat(10_000), TCP_HEADER]) {
      expect(parseProcNet(junk, 'tcp', 4, LE)).toEqual([]);
      expect(parseProcNet(junk, 'udp', 6, LE)).toEqual([]);
    }
  });

  it('parses a table of 100 000 sockets in one pass, quickly', () => {
    const rows = [TCP_HEADER];
    for (let i = 0; i < 100_000; i++) {
      const port = (1024 + (i % 60_000)).toString(16).toUpperCase().padStart(4, '0');
      const state = i % 100 === 0 ? '0A' : '01';
      rows.push(
        `${String(i).padStart(6)}: 0F02000A:${port} 0202000A:C350 ${state} 00000000:00000000 00:00000000 00000000  1000        0 ${i + 1} 1 0000000000000000 20 4 30 10 -1`,
      );
    }
    const text = rows.join('\n');
    const started = performance.now();
    const bound = parseProcNet(text, 'tcp', 4, LE);
    const elapsed = performance.now() - started;
    expect(bound.length).toBe(1000);
    expect(bound[1]).toMatchObject({ port: 1124, inode: 101 });
    expect(elapsed).toBeLessThan(1000);
    // A single huge line made of near-misses is linear too.
    const hostile = '0: ' + '0'.repeat(2_000_000) + ':0016 00000000:0000 0A';
    expect(parseProcNet(hostile, 'tcp', 4, LE)).toEqual([]);
  });
});

/** A mutable set of /proc/net tables for one side, read by a scanner. */
class FakeProcNet {
  readonly tables = new Map<string, string | undefined>();
  readonly reads: string[] = [];

  constructor(tcp = PROC_NET_TCP, tcp6 = PROC_NET_TCP6, udp = PROC_NET_UDP, udp6 = PROC_NET_UDP6) {
    this.set('tcp', 4, tcp);
    this.set('tcp', 6, tcp6);
    this.set('udp', 4, udp);
    this.set('udp', 6, udp6);
  }

  set(proto: ScanProtocol, family: ScanFamily, text: string | undefined): void {
    this.tables.set(`${proto}${family === 6 ? '6' : ''}`, text);
  }

  /** Add a line to a table, as if a socket had been bound. */
  append(proto: ScanProtocol, family: ScanFamily, line: string): void {
    const key = `${proto}${family === 6 ? '6' : ''}`;
    this.tables.set(key, (this.tables.get(key) ?? '') + line + '\n');
  }

  /** Remove the lines containing `needle`, as if the socket had been closed. */
  remove(proto: ScanProtocol, family: ScanFamily, needle: string): void {
    const key = `${proto}${family === 6 ? '6' : ''}`;
    const text = this.tables.get(key) ?? '';
    this.tables.set(
      key,
      text
        .split('\n')
        .filter((line) => !line.includes(needle))
        .join('\n'),
    );
  }

  readonly read = (proto: ScanProtocol, family: ScanFamily): string | undefined => {
    const key = `${proto}${family === 6 ? '6' : ''}`;
    this.reads.push(key);
    return this.tables.get(key);
  };
}

const sorted = (set: ReadonlySet<number>): number[] => [...set].sort((a, b) => a - b);

/** A listening TCP line for 0.0.0.0:port. */
const tcpListen = (port: number, inode = 70000 + port): string =>
  `  99: 00000000:${port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 ${inode} 1 0000000000000000 100 0 0 10 0`;

/** Tables with nothing bound. */
const nothingBound = () => new FakeProcNet(lines(TCP_HEADER), lines(TCP6_HEADER), lines(UDP_HEADER), lines(UDP6_HEADER));
/** Tables with one listener, 0.0.0.0:22. */
const onlySsh = () => new FakeProcNet(lines(TCP_HEADER, tcpListen(22)), lines(TCP6_HEADER), lines(UDP_HEADER), lines(UDP6_HEADER));

describe('PortScanner.scan', () => {
  it('merges the four tables: ports bound on any address, loopback-only ones flagged', () => {
    const proc = new FakeProcNet();
    const scan = new PortScanner({ read: proc.read, littleEndian: true }).scan();
    expect(sorted(scan.tcp)).toEqual([22, 53, 443, 631, 8080, 8081, 8082]);
    // 631 is bound to 127.0.0.1 and ::1, 53 to 127.0.0.53, 8081 to ::ffff:127.0.0.1.
    expect(sorted(scan.tcpLoopbackOnly)).toEqual([53, 631, 8081]);
    expect(sorted(scan.udp)).toEqual([53, 68, 5353, 8000]);
    expect(sorted(scan.udpLoopbackOnly)).toEqual([53, 8000]);
    // Sets iterate in ascending order.
    expect([...scan.tcp]).toEqual(sorted(scan.tcp));
    expect(proc.reads.sort()).toEqual(['tcp', 'tcp6', 'udp', 'udp6']);
  });

  it('takes listening TCP sockets from tcpListeners (sock_diag) when it answers, and the tables when it does not', () => {
    const proc = new FakeProcNet();
    let answer = true;
    const scanner = new PortScanner({
      read: proc.read,
      littleEndian: true,
      tcpListeners: (family) =>
        !answer ? undefined : family === 4 ? [{ addr: Uint8Array.of(127, 0, 0, 1), port: 9000 }, { addr: Uint8Array.of(0, 0, 0, 0), port: 9001 }] : [],
    });
    const scan = scanner.scan();
    expect(sorted(scan.tcp)).toEqual([9000, 9001]);
    expect(sorted(scan.tcpLoopbackOnly)).toEqual([9000]);
    // The TCP tables were not read; the UDP ones were.
    expect(proc.reads.sort()).toEqual(['udp', 'udp6']);
    answer = false;
    expect(sorted(scanner.scan().tcp)).toEqual([22, 53, 443, 631, 8080, 8081, 8082]);
  });

  it('a port bound to loopback on one socket and to a wildcard on another is not loopback-only', () => {
    const proc = new FakeProcNet();
    proc.append('tcp', 4, tcpListen(631));
    const scan = new PortScanner({ read: proc.read, littleEndian: true }).scan();
    expect(scan.tcp.has(631)).toBe(true);
    expect(scan.tcpLoopbackOnly.has(631)).toBe(false);
  });

  it('never reports the ports pasta holds (exclude), per protocol', () => {
    const proc = new FakeProcNet();
    const asked: string[] = [];
    const scanner = new PortScanner({
      read: proc.read,
      littleEndian: true,
      exclude: (proto, port) => {
        asked.push(`${proto}/${port}`);
        return (proto === 'tcp' && (port === 8080 || port === 631)) || (proto === 'udp' && port === 5353);
      },
    });
    const scan = scanner.scan();
    expect(sorted(scan.tcp)).toEqual([22, 53, 443, 8081, 8082]);
    expect(sorted(scan.tcpLoopbackOnly)).toEqual([53, 8081]);
    expect(sorted(scan.udp)).toEqual([53, 68, 8000]);
    // Asked once per bound port and protocol.
    expect(asked.filter((a) => a === 'tcp/22')).toHaveLength(1);
    expect(asked).not.toContain('udp/8080');
  });

  it('reports only ports inside the configured ranges', () => {
    const proc = new FakeProcNet();
    const scanner = new PortScanner({
      read: proc.read,
      littleEndian: true,
      ranges: [
        { first: 1, last: 100 },
        { first: 8000, last: 8081 },
      ],
    });
    const scan = scanner.scan();
    expect(sorted(scan.tcp)).toEqual([22, 53, 8080, 8081]);
    expect(sorted(scan.udp)).toEqual([53, 68, 8000]);
    expect(() => new PortScanner({ read: proc.read, ranges: [{ first: 10, last: 9 }] })).toThrow(RangeError);
  });

  it('udpFollowsTcp: UDP also gets the TCP ports left after exclusion, as upstream', () => {
    const proc = new FakeProcNet();
    const scanner = new PortScanner({
      read: proc.read,
      littleEndian: true,
      udpFollowsTcp: true,
      exclude: (proto, port) => (proto === 'tcp' && port === 8080) || (proto === 'udp' && port === 443),
    });
    const scan = scanner.scan();
    expect(sorted(scan.tcp)).toEqual([22, 53, 443, 631, 8081, 8082]);
    // 8080: pasta's own TCP port, not followed; 443: pasta's own UDP port.
    expect(sorted(scan.udp)).toEqual([22, 53, 68, 631, 5353, 8000, 8081, 8082]);
    expect(sorted(scan.udpLoopbackOnly)).toEqual([53, 631, 8000, 8081]);
  });

  it('reads only the tables of the protocols asked for', () => {
    const proc = new FakeProcNet();
    const scan = new PortScanner({ read: proc.read, littleEndian: true, protocols: ['udp'] }).scan();
    expect(proc.reads.sort()).toEqual(['udp', 'udp6']);
    expect(scan.tcp.size).toBe(0);
    expect(sorted(scan.udp)).toEqual([53, 68, 5353, 8000]);
  });

  it('a table that cannot be read counts as it was last read; one never read counts as empty', () => {
    const proc = new FakeProcNet();
    proc.set('tcp', 6, undefined); // no IPv6 in this namespace
    const scanner = new PortScanner({ read: proc.read, littleEndian: true });
    expect(sorted(scanner.scan().tcp)).toEqual([22, 53, 631, 8080]);
    proc.set('tcp', 4, undefined); // a passing read failure
    expect(sorted(scanner.scan().tcp)).toEqual([22, 53, 631, 8080]);
    proc.set('tcp', 4, lines(TCP_HEADER)); // read again: now empty
    expect(sorted(scanner.scan().tcp)).toEqual([]);
  });
});

describe('PortScanner.poll', () => {
  it('reports a server starting (added) and stopping (removed), at most once per second', () => {
    const proc = onlySsh();
    const scanner = new PortScanner({ read: proc.read, littleEndian: true });
    expect(scanner.nextScanAt).toBe(-Infinity);

    const first = scanner.poll(10_000)!;
    expect(first.tcp).toEqual({ added: [22], removed: [] });
    expect(first.udp).toEqual({ added: [], removed: [] });
    expect(scanner.current).toBe(first.scan);
    expect(scanner.nextScanAt).toBe(10_000 + AUTO_SCAN_INTERVAL_MS);

    // A web server starts in the namespace.
    proc.append('tcp', 4, tcpListen(8080));
    const readsBefore = proc.reads.length;
    expect(scanner.poll(10_500)).toBeUndefined();
    expect(scanner.poll(10_999)).toBeUndefined();
    expect(proc.reads.length).toBe(readsBefore); // rate-limited polls read nothing

    const second = scanner.poll(11_000)!;
    expect(second.tcp).toEqual({ added: [8080], removed: [] });
    expect(sorted(second.scan.tcp)).toEqual([22, 8080]);

    // Nothing changes: a scan with no changes.
    const third = scanner.poll(12_000)!;
    expect(third.tcp).toEqual({ added: [], removed: [] });

    // It stops; a DNS server binds UDP 53 on ::1.
    proc.remove('tcp', 4, ':1F90 ');
    proc.append(
      'udp',
      6,
      '  422: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5353 2 0000000000000000 0',
    );
    expect(scanner.poll(12_999)).toBeUndefined();
    const fourth = scanner.poll(13_250)!;
    expect(fourth.tcp).toEqual({ added: [], removed: [8080] });
    expect(fourth.udp).toEqual({ added: [53], removed: [] });
    expect(fourth.scan.udpLoopbackOnly.has(53)).toBe(true);
    // The interval counts from the last scan, not from a fixed grid.
    expect(scanner.poll(14_000)).toBeUndefined();
    expect(scanner.poll(14_250)).toBeDefined();
  });

  it('changes are relative to the last scan, including one made by scan()', () => {
    const proc = nothingBound();
    const scanner = new PortScanner({ read: proc.read, littleEndian: true });
    expect(scanner.poll(0)!.tcp.added).toEqual([]);
    proc.append('tcp', 4, tcpListen(3000));
    scanner.scan();
    expect(scanner.poll(1000)!.tcp).toEqual({ added: [], removed: [] });
  });

  it('follows the exclusion set as it changes (pasta opening its own listener)', () => {
    const proc = onlySsh();
    const ours = new Set<number>();
    const scanner = new PortScanner({
      read: proc.read,
      littleEndian: true,
      exclude: (proto, port) => proto === 'tcp' && ours.has(port),
    });
    expect(scanner.poll(0)!.tcp.added).toEqual([22]);
    // pasta (-T) starts listening on 9000 on this side: it shows up in the table, and is ours.
    ours.add(9000);
    proc.append('tcp', 4, tcpListen(9000));
    expect(scanner.poll(1000)!.tcp).toEqual({ added: [], removed: [] });
  });

  it('a clock that goes backwards rescans at once', () => {
    const proc = new FakeProcNet();
    const scanner = new PortScanner({ read: proc.read, littleEndian: true });
    expect(scanner.poll(5000)).toBeDefined();
    expect(scanner.poll(4000)).toBeDefined();
    expect(scanner.poll(4999)).toBeUndefined();
  });
});

describe('diffPorts', () => {
  it('added and removed, ascending', () => {
    expect(diffPorts(new Set([80, 22, 443]), new Set([8080, 22, 53]))).toEqual({
      added: [53, 8080],
      removed: [80, 443],
    });
    expect(diffPorts(new Set(), new Set())).toEqual({ added: [], removed: [] });
  });
});

describe('autoForwardPlan and AutoListeners', () => {
  const tcpAuto = parsePortSpecs('-t', ['auto'], 'pasta');
  const udpAuto = parsePortSpecs('-U', ['auto'], 'pasta');

  it('opens listeners for bound ports, closes those no longer bound; TCP or UDP by option', () => {
    const scan = new PortScanner({ read: new FakeProcNet().read, littleEndian: true }).scan();
    const plan = autoForwardPlan(tcpAuto, scan, new Set([22, 9999]));
    expect(plan.open).toEqual([53, 443, 631, 8080, 8081, 8082]);
    expect(plan.close).toEqual([9999]);
    expect(sorted(plan.wanted)).toEqual([22, 53, 443, 631, 8080, 8081, 8082]);
    expect(autoForwardPlan(udpAuto, scan, new Set()).open).toEqual([53, 68, 5353, 8000]);
  });

  it('keeps the bound ports that a scanned rule of the option covers, and only those', () => {
    const proc = new FakeProcNet();
    proc.append('tcp', 4, tcpListen(40000)); // in the ephemeral range: `auto` does not cover it
    const scan = new PortScanner({ read: proc.read, littleEndian: true }).scan();
    expect(sorted(scan.tcp)).toEqual([22, 53, 443, 631, 8080, 8081, 8082, 40000]);
    const wanted = (option: '-t' | '-u', values: string[]) => sorted(autoForwardPlan(parsePortSpecs(option, values, 'pasta'), scan, new Set()).wanted);
    expect(wanted('-t', ['auto'])).toEqual([22, 53, 443, 631, 8080, 8081, 8082]);
    expect(wanted('-t', ['8080-8081,auto'])).toEqual([8080, 8081]);
    expect(wanted('-t', ['auto,~22,~631'])).toEqual([53, 443, 8080, 8081, 8082]);
    expect(wanted('-t', ['127.0.0.1/8080,auto', '::1/22,auto'])).toEqual([22, 8080]);
    expect(wanted('-t', ['1-65535,auto'])).toEqual([22, 53, 443, 631, 8080, 8081, 8082, 40000]);
    // Static rules are listened on from the start, not planned; none and all have no scanned rule.
    expect(wanted('-t', ['22', '::1/8080-8082,auto'])).toEqual([8080, 8081, 8082]);
    expect(wanted('-t', ['22'])).toEqual([]);
    expect(wanted('-t', ['none'])).toEqual([]);
    expect(wanted('-t', ['all'])).toEqual([]);
    // -u plans from the UDP ports of the scan.
    expect(wanted('-u', ['5000-6000,auto'])).toEqual([5353]);

    const spec = parsePortSpecs('-t', ['8080-8081,auto'], 'pasta');
    const plan = autoForwardPlan(spec, scan, new Set([22, 8081, 9999]));
    expect(plan.open).toEqual([8080]);
    expect(plan.close).toEqual([22, 9999]);
    // A spec without scanned rules is fine: nothing to do.
    const listeners = new AutoListeners(parsePortSpecs('-t', ['22'], 'pasta'));
    expect(listeners.plan(scan)).toEqual({ wanted: new Set(), open: [], close: [] });
  });

  it('follows a namespace over time; a port taken on the listening side is warned about once and retried', () => {
    const proc = onlySsh();
    const scanner = new PortScanner({ read: proc.read, littleEndian: true });
    const listeners = new AutoListeners(tcpAuto);
    const takenOnHost = new Set([22]);
    const warnings: number[] = [];

    /** What the lead's timer does: poll, then follow the plan. */
    const tick = (now: number) => {
      const changes = scanner.poll(now);
      if (!changes) return;
      const plan = listeners.plan(changes.scan);
      for (const port of plan.close) listeners.closed(port);
      for (const port of plan.open) {
        if (takenOnHost.has(port)) {
          if (listeners.failed(port)) warnings.push(port);
        } else {
          listeners.opened(port);
        }
      }
    };

    tick(0);
    expect(sorted(listeners.open)).toEqual([]);
    expect(warnings).toEqual([22]);

    proc.append('tcp', 4, tcpListen(8080));
    tick(1000);
    tick(2000);
    expect(sorted(listeners.open)).toEqual([8080]);
    expect(warnings).toEqual([22]); // once, although retried at every scan

    // The host program lets go of 22: the retry succeeds.
    takenOnHost.delete(22);
    tick(3000);
    expect(sorted(listeners.open)).toEqual([22, 8080]);

    // 22 taken again after we closed it, the namespace rebinds it: warned again.
    proc.remove('tcp', 4, ':0016 ');
    tick(4000);
    expect(sorted(listeners.open)).toEqual([8080]);
    takenOnHost.add(22);
    proc.append('tcp', 4, tcpListen(22));
    tick(5000);
    expect(warnings).toEqual([22, 22]);

    // A port that stops being wanted while failing is forgotten: warned again when it comes back.
    proc.remove('tcp', 4, ':0016 ');
    tick(6000);
    proc.append('tcp', 4, tcpListen(22));
    tick(7000);
    expect(warnings).toEqual([22, 22, 22]);

    // The web server stops: its listener closes.
    proc.remove('tcp', 4, ':1F90 ');
    tick(8000);
    expect(sorted(listeners.open)).toEqual([]);
  });
});

/** A forwarder that records what it is asked to listen on. */
class FakeForwarder implements PortListener {
  readonly calls: string[] = [];
  readonly listening = new Set<number>();
  /** Ports that cannot be listened on, with the -errno to return. */
  readonly taken = new Map<number, number>();

  listen(port: number, target: number, addr?: Uint8Array | null, ifname?: string | null): number {
    this.calls.push(`${addr ? formatIP(addr) : '*'}${ifname ? `%${ifname}` : ''}:${port}=>${target}`);
    const rc = this.taken.get(port) ?? 0;
    if (rc === 0) this.listening.add(port);
    return rc;
  }

  unlisten(port: number): void {
    this.listening.delete(port);
  }
}

describe('AutoForwarding', () => {
  const EADDRINUSE = -98;
  const setup = (specs: { tcp?: string[]; udp?: string[]; tcpNs?: string[]; udpNs?: string[] }) => {
    const ns = new FakeProcNet();
    const host = onlySsh();
    const reads: string[] = [];
    const warnings: string[] = [];
    const log = { debug: () => {}, warn: (message: string) => warnings.push(message) } as unknown as Logger;
    const option = (o: '-t' | '-u' | '-T' | '-U', values?: string[]) =>
      values ? { spec: parsePortSpecs(o, values, 'pasta'), forwarder: new FakeForwarder() } : undefined;
    const options = { tcp: option('-t', specs.tcp), udp: option('-u', specs.udp), tcpNs: option('-T', specs.tcpNs), udpNs: option('-U', specs.udpNs) };
    const auto = new AutoForwarding({
      log,
      ...options,
      readNs: (name) => (reads.push(`ns/${name}`), ns.tables.get(name)),
      readHost: (name) => (reads.push(`host/${name}`), host.tables.get(name)),
      isHeld: () => false,
    });
    return { auto, ns, host, reads, warnings, ...options };
  };

  it('a UDP option that scans reads the TCP tables too, and forwards the bound TCP port numbers (fwd_scan_ports_udp())', () => {
    const { auto, reads, udp } = setup({ udp: ['auto'] });
    expect(auto.active).toBe(true);
    auto.poll(0);
    expect(reads.sort()).toEqual(['ns/tcp', 'ns/tcp6', 'ns/udp', 'ns/udp6']);
    // UDP 53 68 5353 8000, and TCP 22 53 443 631 8080 8081 8082.
    expect(sorted(udp!.forwarder.listening)).toEqual([22, 53, 68, 443, 631, 5353, 8000, 8080, 8081, 8082]);
  });

  it('with -t and -u both scanning, UDP still follows TCP; -t alone reads only the TCP tables', () => {
    const both = setup({ tcp: ['auto'], udp: ['auto'] });
    both.auto.poll(0);
    expect(sorted(both.tcp!.forwarder.listening)).toEqual([22, 53, 443, 631, 8080, 8081, 8082]);
    expect(sorted(both.udp!.forwarder.listening)).toEqual([22, 53, 68, 443, 631, 5353, 8000, 8080, 8081, 8082]);

    const tcpOnly = setup({ tcp: ['8080-8090,auto'] });
    tcpOnly.auto.poll(0);
    expect(tcpOnly.reads.sort()).toEqual(['ns/tcp', 'ns/tcp6']);
    expect(tcpOnly.tcp!.forwarder.calls).toEqual(['*:8080=>8080', '*:8081=>8081', '*:8082=>8082']);
  });

  it('the UDP option forwards only what its scanned rules cover', () => {
    const { auto, udp } = setup({ udp: ['5000-8080,auto'] });
    auto.poll(0);
    expect(sorted(udp!.forwarder.listening)).toEqual([5353, 8000, 8080]);
  });

  it('listens once per scanned rule covering the port, with its address and target', () => {
    const { auto, tcp } = setup({ tcp: ['0.0.0.0/22,auto', '::/22,auto', '127.0.0.1/8080:9080,auto'] });
    auto.poll(0);
    expect(tcp!.forwarder.calls).toEqual(['0.0.0.0:22=>22', ':::22=>22', '127.0.0.1:8080=>9080']);
  });

  it('follows the host for -T and -U, on the namespace loopback interface', () => {
    const { auto, host, reads, tcpNs, udpNs } = setup({ tcpNs: ['auto'], udpNs: ['auto'] });
    auto.poll(0);
    expect(reads.every((r) => r.startsWith('host/'))).toBe(true);
    expect(tcpNs!.forwarder.calls).toEqual(['*%lo:22=>22']);
    expect(sorted(udpNs!.forwarder.listening)).toEqual([22]);
    host.append('tcp', 4, tcpListen(5432));
    auto.poll(1000);
    expect(sorted(tcpNs!.forwarder.listening)).toEqual([22, 5432]);
    expect(sorted(udpNs!.forwarder.listening)).toEqual([22, 5432]);
  });

  it('a port taken on the listening side is warned about once, in upstream words, and retried', () => {
    const { auto, ns, tcp, warnings } = setup({ tcp: ['0.0.0.0/auto'] });
    tcp!.forwarder.taken.set(8080, EADDRINUSE);
    auto.poll(0);
    auto.poll(1000);
    expect(warnings).toEqual(['Listen failed for HOST TCP port 0.0.0.0/8080: Address already in use']);
    expect(tcp!.forwarder.listening.has(8080)).toBe(false);
    tcp!.forwarder.taken.delete(8080);
    auto.poll(2000);
    expect(tcp!.forwarder.listening.has(8080)).toBe(true);
    // Unbound in the namespace: closed.
    ns.remove('tcp', 4, ':1F90 ');
    auto.poll(3000);
    expect(tcp!.forwarder.listening.has(8080)).toBe(false);
    expect(auto.scans).toBe(4);
  });

  it('-T: the warning names the namespace loopback (SPLICE, */lo)', () => {
    const { auto, tcpNs, warnings } = setup({ tcpNs: ['auto'] });
    tcpNs!.forwarder.taken.set(22, EADDRINUSE);
    auto.poll(0);
    expect(warnings).toEqual(['Listen failed for SPLICE TCP port *%lo/22: Address already in use']);
  });
});

// ---------------------------------------------------------------------------
// This machine

/** Ports in the local address column of `ss -H` output. */
function ssPorts(args: string[]): Set<number> {
  const out = execFileSync('ss', args, { encoding: 'utf8' });
  const ports = new Set<number>();
  for (const line of out.split('\n')) {
    const columns = line.trim().split(/\s+/);
    if (columns.length < 5) continue;
    const local = columns[3]!;
    ports.add(Number(local.slice(local.lastIndexOf(':') + 1)));
  }
  return ports;
}

function procPorts(proto: ScanProtocol): Set<number> {
  const ports = new Set<number>();
  for (const [file, family] of [
    [proto, 4],
    [`${proto}6`, 6],
  ] as const) {
    let text: string;
    try {
      text = readFileSync(`/proc/net/${file}`, 'utf8');
    } catch {
      continue; // no IPv6 on this machine
    }
    for (const bound of parseProcNet(text, proto, family)) ports.add(bound.port);
  }
  return ports;
}

/** Compare /proc with ss, retrying if something on the machine changed in between. */
function expectConsistentWithSs(proto: ScanProtocol, ssArgs: string[]): void {
  for (let attempt = 0; ; attempt++) {
    const before = procPorts(proto);
    const fromSs = ssPorts(ssArgs);
    const after = procPorts(proto);
    const stable = sorted(before).join() === sorted(after).join();
    if (stable || attempt === 4) {
      expect(sorted(before)).toEqual(sorted(fromSs));
      return;
    }
  }
}

const listenTcp = (host: string): Promise<Server> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => resolve(server));
  });

const bindUdp = (type: 'udp4' | 'udp6', address: string): Promise<UdpSocket> =>
  new Promise((resolve, reject) => {
    const socket = createSocket(type);
    socket.once('error', reject);
    socket.bind({ address, port: 0 }, () => resolve(socket));
  });

const hasIPv6Loopback = (() => {
  try {
    return readFileSync('/proc/net/if_inet6', 'utf8').includes('00000000000000000000000000000001');
  } catch {
    return false;
  }
})();

describe('this machine', () => {
  it('/proc/net/tcp and tcp6 as parsed agree with ss -Htln (ports)', async () => {
    const servers = [await listenTcp('127.0.0.1'), await listenTcp('0.0.0.0')];
    if (hasIPv6Loopback) servers.push(await listenTcp('::1'), await listenTcp('::'));
    try {
      const ours = servers.map((server) => (server.address() as { port: number }).port);
      const scanned = procPorts('tcp');
      for (const port of ours) expect(scanned.has(port)).toBe(true);
      expectConsistentWithSs('tcp', ['-Htln']);
    } finally {
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    }
  });

  it('/proc/net/udp and udp6 as parsed agree with ss -Hlun (ports), connected sockets left out', async () => {
    const sockets = [await bindUdp('udp4', '127.0.0.1')];
    if (hasIPv6Loopback) sockets.push(await bindUdp('udp6', '::1'));
    // A connected socket: ESTABLISHED, not listed by ss -l, not a bound port for us.
    const connected = await bindUdp('udp4', '127.0.0.1');
    await new Promise<void>((resolve) => connected.connect(sockets[0]!.address().port, '127.0.0.1', () => resolve()));
    try {
      const scanned = procPorts('udp');
      for (const socket of sockets) expect(scanned.has(socket.address().port)).toBe(true);
      expect(scanned.has(connected.address().port)).toBe(false);
      expectConsistentWithSs('udp', ['-Hlun']);
    } finally {
      for (const socket of [...sockets, connected]) socket.close();
    }
  });

  it('a PortScanner over the real /proc sees a listener come and go', async () => {
    const scanner = new PortScanner({
      read: (proto, family) => {
        try {
          return readFileSync(`/proc/net/${proto}${family === 6 ? '6' : ''}`, 'utf8');
        } catch {
          return undefined;
        }
      },
      protocols: ['tcp'],
    });
    scanner.poll(0);
    const server = await listenTcp('127.0.0.1');
    const port = (server.address() as { port: number }).port;
    const up = scanner.poll(1000)!;
    expect(up.tcp.added).toContain(port);
    expect(up.scan.tcpLoopbackOnly.has(port)).toBe(true);
    await new Promise((resolve) => server.close(resolve));
    expect(scanner.poll(2000)!.tcp.removed).toContain(port);
  });
});
