/**
 * Errors and warnings in upstream pasta(1)/passt(1)'s words: one table.
 *
 * Theory of operation: consumers read what pasta and passt print. Podman
 * shows pasta's standard error to its users and its own tests match on it
 * (`5400.*ddress already in use` for a port that is taken), libvirt logs
 * passt's, scripts grep for it and users search the web for it. So every
 * condition that upstream reports is reported here in upstream's words,
 * taken from its current source (conf.c, fwd.c, fwd_rule.c, pasta.c, tap.c,
 * passt.c, isolation.c, util.c, log.c), with the C library's strerror()
 * text where upstream appends it (the caller passes that text: this file
 * loads no native code, so the option parser can use it). Where ours says
 * more than upstream, upstream's words come first.
 *
 * `M` builds each message; `UPSTREAM_EXAMPLES` holds, per message, an
 * example exactly as upstream prints it, which the unit tests compare
 * against `M` — so a change of wording here is a test failure, not a silent
 * drift.
 */

/** A forwarding interface as upstream names it (pif.c): the host side, or the namespace side of spliced traffic. */
export type PifName = 'HOST' | 'SPLICE';

export const M = {
  // --- options (conf.c) -----------------------------------------------------
  forPastaOnly: (option: string) => `${option} is for pasta mode only`,
  forPasstOnly: (option: string) => `${option} is for passt mode only`,
  forVhostUserOnly: (option: string) => `${option} is for vhost-user mode only`,
  socketOptionInPasta: () => '-s is for passt / vhost-user mode only',
  invalidMtu: (v: string) => `Invalid MTU: ${v}`,
  mtuTooLarge: (mtu: number | bigint, max: number) => `MTU ${mtu} too large (max ${max})`,
  mtuTooSmall: (mtu: number, family: 'IPv4' | 'IPv6', min: number) => `MTU ${mtu} is too small for ${family} (minimum ${min})`,
  invalidGuestAddress: (v: string) => `Invalid guest address: ${v}`,
  invalidPrefixLength: (v: string) => `Invalid prefix length: ${v}`,
  redundantPrefix: () => 'Redundant prefix length specification',
  invalidMac: (v: string) => `Invalid MAC address: ${v}`,
  invalidGateway: (v: string) => `Invalid gateway address: ${v}`,
  invalidInterface: (v: string) => `Invalid interface name: ${v}`,
  noSuchInterface: (v: string) => `Invalid interface name ${v}: No such device`,
  invalidOutbound: (v: string) => `Invalid or redundant outbound address: ${v}`,
  externalInterfaceNotUsable: () => 'External interface not usable',
  invalidDns: (v: string) => `Cannot use DNS address ${v}`,
  invalidSearch: (v: string) => `Cannot use DNS search domain ${v}`,
  invalidDnsForward: (v: string) => `Invalid DNS forwarding address: ${v}`,
  invalidDnsHost: (v: string) => `Invalid host nameserver address: ${v}`,
  invalidRemap: (v: string) => `Invalid address to remap to host: ${v}`,
  invalidHostname: (v: string) => `Invalid hostname: ${v}`,
  invalidFqdn: (v: string) => `Invalid FQDN: ${v}`,
  invalidLogSize: (v: string) => `Invalid --log-size: ${v}`,
  invalidPcap: (v: string) => `Invalid pcap path: ${v}`,
  invalidPidFile: (v: string) => `Invalid PID file: ${v}`,
  invalidSocketPath: (v: string) => `Invalid socket path: ${v}`,
  invalidRepairPath: (v: string) => `Invalid passt-repair path: ${v}`,
  /** Ours: upstream makes the passt-repair(1) socket; this version does no live migration, so only 'none' is taken. */
  repairPathUnsupported: (v: string) => `--repair-path ${v}: live migration (TCP_REPAIR through passt-repair) is not supported by node-passt; only 'none' is accepted`,
  invalidFd: (v: string) => `Invalid --fd: ${v}`,
  invalidUserns: (v: string) => `Invalid userns: ${v}`,
  netnsTooLong: (v: string) => `Network namespace name/path ${v} too long`,
  invalidRunas: (v: string) => `Invalid --runas option: ${v}`,
  statsNeedsForeground: () => "Can't display statistics if not running in foreground",
  hostLoIncompatible: () => '--host-lo-to-ns-lo is incompatible with --no-splice',
  spliceOnlyIncompatible: () => '--splice-only is incompatible with --no-splice',
  needsConfigNet: (option: string) => `${option} needs --config-net`,
  netnsAndCommand: () => 'Both --netns and PID or command given',
  invalidPid: (v: string) => `Invalid PID ${v}`,
  extraArgument: (v: string) => `Extra non-option argument: ${v}`,
  deprecated: (option: string) => `${option} will be dropped soon`,
  startedAsRoot: () => 'Started as root, will change to nobody.',
  noNameserver: () => "Couldn't get any nameserver address",
  noNameserver4: () => 'No IPv4 nameserver available for DHCP',
  noNameserver6: () => 'No IPv6 nameserver available for NDP/DHCPv6',
  localMode: (family: 'IPv4' | 'IPv6') => `${family}: no external interface as template, use local mode`,
  noRoutes: (family: 'IPv4' | 'IPv6') => `No interfaces with usable ${family} routes`,
  multipleDefaults: (family: 'IPv4' | 'IPv6') => `Multiple default ${family} routes, picked first`,
  multipleInterfaces: (family: 'IPv4' | 'IPv6') => `Multiple interfaces with ${family} routes, picked first`,

  // --- port forwarding (fwd_rule.c, fwd.c) ----------------------------------
  invalidPortSpec: (spec: string) => `Invalid port specifier '${spec}'`,
  noneConflicts: (option: string) => `${option} none conflicts with previous options`,
  autoOnlyPasta: () => "'auto' port forwarding is only allowed for pasta",
  addressNotAllowed: (option: string, spec: string) => `Listening address not allowed for ${option} ${spec}`,
  ruleConflict: (rule: string, other: string) => `Forwarding configuration conflict: ${rule} versus ${other}`,
  unableToAddRule: (rule: string) => `Unable to add rule ${rule}`,
  listenFailed: (pif: PifName, proto: 'TCP' | 'UDP', where: string, port: number, error: string) =>
    `Listen failed for ${pif} ${proto} port ${where}/${port}: ${error}`,
  couldNotListen: () => "Couldn't listen on requested ports",

  // --- namespaces and the tap (pasta.c, tap.c, isolation.c, util.c) ---------
  netnsOpen: (path: string, error: string) => `Couldn't open network namespace ${path}: ${error}`,
  netnsSwitch: (error: string) => `Couldn't switch to pasta namespaces: ${error}`,
  usernsOpen: (path: string, error: string) => `Couldn't open user namespace ${path}: ${error}`,
  usernsEnter: (path: string, error: string) => `Couldn't enter user namespace ${path}: ${error}`,
  usernsCreate: (error: string) => `Couldn't create user namespace: ${error}`,
  cloneFailed: (error: string) => `Failed to clone process with detached namespaces: ${error}`,
  startCommand: (error: string) => `Failed to start command or shell: ${error}`,
  tunOpen: (error: string) => `Failed to open() /dev/net/tun: ${error}`,
  tunSetIff: (error: string) => `TUNSETIFF ioctl on /dev/net/tun failed: ${error}`,
  tapInNamespace: () => 'Failed to set up tap device in namespace',
  loopbackUp: (error: string) => `Couldn't bring up loopback interface in namespace: ${error}`,
  setMac: (error: string) => `Couldn't set MAC address in namespace: ${error}`,
  setAddresses: (family: 'IPv4' | 'IPv6', error: string) => `Couldn't set ${family} address(es) in namespace: ${error}`,
  setRoutes: (family: 'IPv4' | 'IPv6', error: string) => `Couldn't set ${family} route(s) in guest: ${error}`,
  netnsDirOpen: (error: string) => `netns dir open: ${error}, exiting`,
  tapEof: () => 'EOF on tap device, exiting',
  badFrameSize: () => 'Bad frame size from guest, resetting connection',
  receiveError: (error: string) => `Receive error on guest connection, reset: ${error}`,
  clientClosed: (exiting: boolean) => `Client connection closed${exiting ? ', exiting' : ''}`,
  acceptedConnection: (pid: number) => `accepted connection from PID ${pid}`,
  socketBound: (path: string) => `UNIX domain socket bound at ${path}`,
  tapError: () => 'Error on tap device, exiting',

  // --- address configuration (dhcp.c, dhcpv6.c, ndp.c): informational -------
  dhcpOffer: () => 'DHCP: offer to discover',
  dhcpAckRapid: () => 'DHCP: ack to discover (Rapid Commit)',
  dhcpAck: (bootp: boolean) => `${bootp ? 'BOOTP' : 'DHCP'}: ack to request`,
  dhcpFrom: (mac: string) => `    from ${mac}`,
  dhcpv6Reply: (request: 'SOLICIT' | 'REQUEST/RENEW/CONFIRM' | 'INFORMATION_REQUEST' | 'REBIND') =>
    `DHCPv6: received ${request}, sending ${request === 'SOLICIT' ? 'ADVERTISE' : 'REPLY'}`,
  ndpNa: () => 'NDP: received NS, sending NA',
  ndpRa: () => 'NDP: received RS, sending RA',
  ndpUnsolicitedRa: (seconds: number) => `NDP: sending unsolicited RA, next in ${seconds}s`,

  // --- files and sockets (conf.c, util.c, log.c, pcap.c) --------------------
  socketInUse: (path: string) => `Socket path ${path} already in use`,
  socketBind: (error: string) => `Failed to bind UNIX domain socket: ${error}`,
  pidFileOpen: (path: string, error: string) => `Couldn't open PID file ${path}: ${error}`,
  logFileOpen: (path: string, error: string) => `Couldn't open log file ${path}: ${error}`,
  pcapOpen: (path: string, error: string) => `Couldn't open pcap file ${path}: ${error}`,
  setUid: (uid: number, error: string) => `Can't set UID to ${uid}: ${error}`,
  setGid: (gid: number, error: string) => `Can't set GID to ${gid}: ${error}`,
} as const;

/** The address part of upstream's "port ADDR%IF/PORT": `*` for every address. */
export function listenWhere(addrText: string | null, ifname: string | null): string {
  return `${addrText ?? '*'}${ifname ? `%${ifname}` : ''}`;
}

/**
 * One message per condition, as upstream prints it, with the arguments
 * that reproduce it here. Unit tests check `M[key](...args)` against
 * `upstream` verbatim; where upstream's source is the only reference, the
 * example is built from its format string.
 */
export const UPSTREAM_EXAMPLES: ReadonlyArray<{ key: keyof typeof M; args: readonly unknown[]; upstream: string; source: string }> = [
  { key: 'forPastaOnly', args: ['--netns'], upstream: '--netns is for pasta mode only', source: 'conf.c' },
  { key: 'forPasstOnly', args: ['--one-off'], upstream: '--one-off is for passt mode only', source: 'conf.c' },
  { key: 'forVhostUserOnly', args: ['--repair-path'], upstream: '--repair-path is for vhost-user mode only', source: 'conf.c' },
  { key: 'socketOptionInPasta', args: [], upstream: '-s is for passt / vhost-user mode only', source: 'conf.c' },
  { key: 'invalidMtu', args: ['abc'], upstream: 'Invalid MTU: abc', source: 'conf.c' },
  { key: 'mtuTooLarge', args: [70000, 65521], upstream: 'MTU 70000 too large (max 65521)', source: 'conf.c' },
  { key: 'mtuTooSmall', args: [1000, 'IPv6', 1280], upstream: 'MTU 1000 is too small for IPv6 (minimum 1280)', source: 'conf.c' },
  { key: 'invalidGuestAddress', args: ['127.0.0.1'], upstream: 'Invalid guest address: 127.0.0.1', source: 'conf.c' },
  { key: 'invalidPrefixLength', args: ['33'], upstream: 'Invalid prefix length: 33', source: 'conf.c' },
  { key: 'redundantPrefix', args: [], upstream: 'Redundant prefix length specification', source: 'conf.c' },
  { key: 'invalidMac', args: ['zz'], upstream: 'Invalid MAC address: zz', source: 'conf.c' },
  { key: 'invalidGateway', args: ['x'], upstream: 'Invalid gateway address: x', source: 'conf.c' },
  { key: 'noSuchInterface', args: ['nope0'], upstream: 'Invalid interface name nope0: No such device', source: 'conf.c' },
  { key: 'invalidOutbound', args: ['x'], upstream: 'Invalid or redundant outbound address: x', source: 'conf.c' },
  { key: 'externalInterfaceNotUsable', args: [], upstream: 'External interface not usable', source: 'conf.c' },
  { key: 'invalidDns', args: ['x'], upstream: 'Cannot use DNS address x', source: 'conf.c' },
  { key: 'invalidDnsForward', args: ['127.0.0.1'], upstream: 'Invalid DNS forwarding address: 127.0.0.1', source: 'conf.c' },
  { key: 'invalidDnsHost', args: ['0.0.0.0'], upstream: 'Invalid host nameserver address: 0.0.0.0', source: 'conf.c' },
  { key: 'invalidRemap', args: ['::1'], upstream: 'Invalid address to remap to host: ::1', source: 'conf.c' },
  { key: 'invalidLogSize', args: ['10'], upstream: 'Invalid --log-size: 10', source: 'conf.c' },
  { key: 'invalidRepairPath', args: ['x'], upstream: 'Invalid passt-repair path: x', source: 'conf.c' },
  { key: 'invalidFd', args: ['x'], upstream: 'Invalid --fd: x', source: 'conf.c' },
  { key: 'invalidRunas', args: ['nosuchuser'], upstream: 'Invalid --runas option: nosuchuser', source: 'conf.c' },
  { key: 'statsNeedsForeground', args: [], upstream: "Can't display statistics if not running in foreground", source: 'conf.c' },
  { key: 'hostLoIncompatible', args: [], upstream: '--host-lo-to-ns-lo is incompatible with --no-splice', source: 'conf.c' },
  { key: 'needsConfigNet', args: ['--no-copy-routes'], upstream: '--no-copy-routes needs --config-net', source: 'conf.c' },
  { key: 'netnsAndCommand', args: [], upstream: 'Both --netns and PID or command given', source: 'conf.c' },
  { key: 'extraArgument', args: ['foo'], upstream: 'Extra non-option argument: foo', source: 'conf.c' },
  { key: 'deprecated', args: ['--stderr'], upstream: '--stderr will be dropped soon', source: 'conf.c' },
  { key: 'startedAsRoot', args: [], upstream: 'Started as root, will change to nobody.', source: 'conf.c' },
  { key: 'noNameserver', args: [], upstream: "Couldn't get any nameserver address", source: 'conf.c' },
  { key: 'noNameserver4', args: [], upstream: 'No IPv4 nameserver available for DHCP', source: 'conf.c' },
  { key: 'noNameserver6', args: [], upstream: 'No IPv6 nameserver available for NDP/DHCPv6', source: 'conf.c' },
  { key: 'localMode', args: ['IPv4'], upstream: 'IPv4: no external interface as template, use local mode', source: 'conf.c' },
  { key: 'noRoutes', args: ['IPv6'], upstream: 'No interfaces with usable IPv6 routes', source: 'netlink.c' },
  { key: 'invalidPortSpec', args: ['22-'], upstream: "Invalid port specifier '22-'", source: 'fwd_rule.c' },
  { key: 'noneConflicts', args: ['-t'], upstream: '-t none conflicts with previous options', source: 'fwd_rule.c' },
  { key: 'autoOnlyPasta', args: [], upstream: "'auto' port forwarding is only allowed for pasta", source: 'fwd_rule.c' },
  { key: 'ruleConflict', args: ['TCP [*]:22  =>  22 ', 'TCP [*]:22  =>  22 '], upstream: 'Forwarding configuration conflict: TCP [*]:22  =>  22  versus TCP [*]:22  =>  22 ', source: 'fwd_rule.c' },
  { key: 'unableToAddRule', args: ['TCP [*]:22  =>  22 '], upstream: 'Unable to add rule TCP [*]:22  =>  22 ', source: 'fwd_rule.c' },
  { key: 'listenFailed', args: ['HOST', 'TCP', '*', 5400, 'Address already in use'], upstream: 'Listen failed for HOST TCP port */5400: Address already in use', source: 'fwd.c' },
  { key: 'couldNotListen', args: [], upstream: "Couldn't listen on requested ports", source: 'fwd.c' },
  { key: 'netnsOpen', args: ['/run/netns/nope', 'No such file or directory'], upstream: "Couldn't open network namespace /run/netns/nope: No such file or directory", source: 'pasta.c' },
  { key: 'netnsSwitch', args: ['Operation not permitted'], upstream: "Couldn't switch to pasta namespaces: Operation not permitted", source: 'pasta.c' },
  { key: 'usernsOpen', args: ['/proc/1/ns/user', 'Permission denied'], upstream: "Couldn't open user namespace /proc/1/ns/user: Permission denied", source: 'isolation.c' },
  { key: 'usernsEnter', args: ['/proc/1/ns/user', 'Operation not permitted'], upstream: "Couldn't enter user namespace /proc/1/ns/user: Operation not permitted", source: 'isolation.c' },
  { key: 'usernsCreate', args: ['Operation not permitted'], upstream: "Couldn't create user namespace: Operation not permitted", source: 'isolation.c' },
  { key: 'startCommand', args: ['No such file or directory'], upstream: 'Failed to start command or shell: No such file or directory', source: 'pasta.c' },
  { key: 'tunOpen', args: ['Permission denied'], upstream: 'Failed to open() /dev/net/tun: Permission denied', source: 'tap.c' },
  { key: 'tunSetIff', args: ['Device or resource busy'], upstream: 'TUNSETIFF ioctl on /dev/net/tun failed: Device or resource busy', source: 'tap.c' },
  { key: 'badFrameSize', args: [], upstream: 'Bad frame size from guest, resetting connection', source: 'tap.c' },
  { key: 'receiveError', args: ['Connection reset by peer'], upstream: 'Receive error on guest connection, reset: Connection reset by peer', source: 'tap.c' },
  { key: 'clientClosed', args: [true], upstream: 'Client connection closed, exiting', source: 'tap.c' },
  { key: 'acceptedConnection', args: [1234], upstream: 'accepted connection from PID 1234', source: 'tap.c' },
  { key: 'socketBound', args: ['/tmp/passt_1.socket'], upstream: 'UNIX domain socket bound at /tmp/passt_1.socket', source: 'util.c' },
  { key: 'dhcpOffer', args: [], upstream: 'DHCP: offer to discover', source: 'dhcp.c' },
  { key: 'dhcpAckRapid', args: [], upstream: 'DHCP: ack to discover (Rapid Commit)', source: 'dhcp.c' },
  { key: 'dhcpAck', args: [false], upstream: 'DHCP: ack to request', source: 'dhcp.c' },
  { key: 'dhcpFrom', args: ['52:54:00:12:34:56'], upstream: '    from 52:54:00:12:34:56', source: 'dhcp.c' },
  { key: 'dhcpv6Reply', args: ['SOLICIT'], upstream: 'DHCPv6: received SOLICIT, sending ADVERTISE', source: 'dhcpv6.c' },
  { key: 'dhcpv6Reply', args: ['REQUEST/RENEW/CONFIRM'], upstream: 'DHCPv6: received REQUEST/RENEW/CONFIRM, sending REPLY', source: 'dhcpv6.c' },
  { key: 'ndpNa', args: [], upstream: 'NDP: received NS, sending NA', source: 'ndp.c' },
  { key: 'ndpRa', args: [], upstream: 'NDP: received RS, sending RA', source: 'ndp.c' },
  { key: 'ndpUnsolicitedRa', args: [600], upstream: 'NDP: sending unsolicited RA, next in 600s', source: 'ndp.c' },
  { key: 'socketInUse', args: ['/tmp/passt_1.socket'], upstream: 'Socket path /tmp/passt_1.socket already in use', source: 'util.c' },
  { key: 'socketBind', args: ['Permission denied'], upstream: 'Failed to bind UNIX domain socket: Permission denied', source: 'util.c' },
  { key: 'pidFileOpen', args: ['/x/pid', 'No such file or directory'], upstream: "Couldn't open PID file /x/pid: No such file or directory", source: 'conf.c' },
  { key: 'pcapOpen', args: ['/x/cap', 'No such file or directory'], upstream: "Couldn't open pcap file /x/cap: No such file or directory", source: 'pcap.c' },
  { key: 'logFileOpen', args: ['/x/log', 'No such file or directory'], upstream: "Couldn't open log file /x/log: No such file or directory", source: 'log.c' },
];
