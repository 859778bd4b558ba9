/**
 * Errors and warnings in upstream's words (src/messages.ts): every message
 * of the table against an example exactly as upstream pasta/passt prints it
 * (taken from its source, July 2026, and where it could be made to happen
 * from the running binary), and the conditions the option parser reports
 * through it, end to end through buildConfig().
 */
import { describe, expect, it } from 'vitest';
import { M, UPSTREAM_EXAMPLES, listenWhere } from '../../src/messages.js';
import { buildConfig, type HostNet } from '../../src/conf.js';
import { parseArgs, UsageError } from '../../src/options.js';

describe('the message table', () => {
  for (const { key, args, upstream, source } of UPSTREAM_EXAMPLES) {
    it(`${key} reads as upstream's ${source} prints it`, () => {
      const make = M[key] as (...a: unknown[]) => string;
      expect(make(...args)).toBe(upstream);
    });
  }

  it('has an example for every message that a consumer is known to match on', () => {
    const covered = new Set(UPSTREAM_EXAMPLES.map((e) => e.key));
    for (const key of ['listenFailed', 'couldNotListen', 'netnsOpen', 'tunOpen', 'socketInUse', 'forPastaOnly', 'startedAsRoot', 'badFrameSize', 'clientClosed'] as const) {
      expect(covered.has(key), key).toBe(true);
    }
  });

  it("names a listening address as upstream does: '*' for every address, %IF after it", () => {
    expect(listenWhere(null, null)).toBe('*');
    expect(listenWhere('127.0.0.1', null)).toBe('127.0.0.1');
    expect(listenWhere(null, 'lo')).toBe('*%lo');
    expect(listenWhere('192.0.2.1', 'eth0')).toBe('192.0.2.1%eth0');
    // Podman's test (500-networking.bats, "port on localhost") matches /5400.*ddress already in use/.
    expect(M.listenFailed('HOST', 'TCP', listenWhere('127.0.0.1', null), 5400, 'Address already in use')).toMatch(/5400.*ddress already in use/);
  });
});

/** A host with one uplink: eth0 192.0.2.2/24 via 192.0.2.1, 2001:db8::2/64 via 2001:db8::1. */
const HOST: HostNet = {
  links: [
    { index: 1, name: 'lo', flags: 0x49, mtu: 65536 },
    { index: 2, name: 'eth0', flags: 0x1043, mtu: 1500 },
  ] as unknown as HostNet['links'],
  addrs4: [{ family: 4, index: 2, prefixLen: 24, addr: Uint8Array.of(192, 0, 2, 2), scope: 0, flags: 0x80 }],
  addrs6: [
    { family: 6, index: 2, prefixLen: 64, addr: Uint8Array.of(0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2), scope: 0, flags: 0x80 },
    { family: 6, index: 2, prefixLen: 64, addr: Uint8Array.of(0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2), scope: 253, flags: 0x80 },
  ],
  routes4: [{ family: 4, table: 254, dst: null, dstLen: 0, gateway: Uint8Array.of(192, 0, 2, 1), oif: 2, protocol: 3, scope: 0, type: 1 }],
  routes6: [{ family: 6, table: 254, dst: null, dstLen: 0, gateway: Uint8Array.of(0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), oif: 2, protocol: 3, scope: 0, type: 1 }],
};

/** The message buildConfig() throws for `argv`, as the command prints it. */
function errorOf(argv: string[], mode: 'pasta' | 'passt' = 'pasta'): string {
  try {
    buildConfig(parseArgs(argv, mode), HOST, mode);
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  return '';
}

describe('conditions reported in upstream words', () => {
  // [argv, mode, exactly what upstream prints] for conditions a user, Podman or libvirt hits.
  const cases: Array<[string[], 'pasta' | 'passt', string]> = [
    [['--netns', 'x'], 'passt', '--netns is for pasta mode only'],
    [['--one-off'], 'pasta', '--one-off is for passt mode only'],
    [['-s', '/tmp/x'], 'pasta', '-s is for passt / vhost-user mode only'],
    [['-m', 'abc'], 'pasta', 'Invalid MTU: abc'],
    [['-m', '65522'], 'pasta', 'MTU 65522 too large (max 65521)'],
    [['-a', '127.0.0.1'], 'pasta', 'Invalid guest address: 127.0.0.1'],
    [['-a', '192.0.2.9/33'], 'pasta', 'Invalid prefix length: 192.0.2.9/33'],
    [['-a', '192.0.2.9/24', '-n', '16'], 'pasta', 'Redundant prefix length specification'],
    [['-M', '9a:55'], 'passt', 'Invalid MAC address: 9a:55'],
    [['-g', '::1'], 'pasta', 'Invalid gateway address: ::1'],
    [['-i', 'nope0'], 'pasta', 'Invalid interface name nope0: No such device'],
    [['--dns-forward', '127.0.0.1'], 'pasta', 'Invalid DNS forwarding address: 127.0.0.1'],
    [['--map-host-loopback', '::1'], 'pasta', 'Invalid address to remap to host: ::1'],
    [['--log-size', '100'], 'pasta', 'Invalid --log-size: 100'],
    [['--stats', '1'], 'pasta', "Can't display statistics if not running in foreground"],
    [['--no-splice', '--host-lo-to-ns-lo'], 'pasta', '--host-lo-to-ns-lo is incompatible with --no-splice'],
    [['--no-copy-routes'], 'pasta', '--no-copy-routes needs --config-net'],
    [['--netns', 'x', 'true'], 'pasta', 'Both --netns and PID or command given'],
    [['qemu'], 'passt', 'Extra non-option argument: qemu'],
    [['-t', '22-'], 'pasta', "Invalid port specifier '22-'"],
    [['-t', '22', '-t', 'none'], 'pasta', '-t none conflicts with previous options'],
    [['-t', 'auto'], 'passt', "'auto' port forwarding is only allowed for pasta"],
    [['--repair-path', '/x'], 'passt', '--repair-path is for vhost-user mode only'],
  ];
  for (const [argv, mode, message] of cases) {
    it(`${mode} ${argv.join(' ')}: ${message}`, () => {
      expect(errorOf(argv, mode)).toBe(message);
    });
  }

  it('a rule conflict gives upstream\'s two reasons on one line, its words first', () => {
    expect(errorOf(['-t', '22', '-t', '22'])).toBe(
      "Forwarding configuration conflict: TCP [*]:22  =>  22  versus TCP [*]:22  =>  22 ; Unable to add rule TCP [*]:22  =>  22  for '-t 22'",
    );
  });

  it('options not implemented are refused as such, not as unrecognized; vhost-user ones are taken', () => {
    expect(errorOf(['--vhost-user'], 'passt')).toBe('');
    expect(errorOf(['--print-capabilities'], 'passt')).toBe('');
    expect(errorOf(['--vhost-user', '--repair-path', '/run/r'], 'passt')).toMatch(/^--repair-path \/run\/r: live migration .* is not supported/);
    expect(errorOf(['-c', '/tmp/conf.sock'])).toMatch(/^--conf-path is not supported/);
  });
});
