/**
 * The manual pages, doc/pasta.1 and doc/passt.1.
 *
 * Theory of operation: the list of options is not written here. A page
 * takes every option of its front end from the option table (OPTIONS in
 * options.ts, the table the parser and `--help` use), in the table's order,
 * with the table's names and value placeholders; this file adds only the
 * prose: a longer description per option and the page's other sections.
 * `renderManPage` turns that into man(7) source; scripts/gen-man.js writes
 * the files, and a unit test fails when a committed page differs from what
 * would be generated, or when an option has no description here.
 *
 * Prose uses two marks, so that it stays readable here: `literal` (options,
 * commands, file names: bold, with real minus signs) and *PLACEHOLDER*
 * (italic). Everything else is escaped for roff. A description is a list of
 * paragraphs; `{ example: [...] }` is a block of command lines shown as is.
 *
 * Adding a page is one entry in {@link MAN_PAGES} (with its prose in a
 * {@link PageText}); options shared by both front ends need no new text.
 * Text that differs between the pages only in a few words (the namespace or
 * the guest, pasta or passt) is written once, with `eachMode`.
 *
 * The descriptions say what this program does, which conf.ts decides;
 * where that differs from upstream's pasta(1) and passt(1), they say so.
 */
import { OPTIONS, type OptionSpec } from './options.js';

export type Mode = 'pasta' | 'passt';

/** A paragraph of prose, or lines of commands shown verbatim. */
export type Block = string | { example: string[] };

/** A titled subsection (EXAMPLES, NOTES). */
export interface Subsection {
  title: string;
  body: Block[];
}

/** Everything on a page that is not generated from the option table. */
export interface PageText {
  mode: Mode;
  /** Where the page is written, relative to the package root. */
  file: string;
  /** The NAME line after "name \-". */
  summary: string;
  /** Usage lines, after the program name. */
  synopsis: string[];
  description: Block[];
  /** Prose at the top of the OPTIONS section, before the options. */
  optionsIntro?: Block[];
  exitStatus: Block[];
  examples: Subsection[];
  notes: Subsection[];
  seeAlso: string[];
}

/** The words that differ between the two pages in text shared by both. */
interface Words {
  /** This front end: 'pasta' or 'passt'. */
  prog: Mode;
  /** The other front end. */
  other: Mode;
  /** What is connected: 'the namespace' or 'the guest'. */
  peer: string;
  /** Its possessive: "the namespace's" or "the guest's". */
  peers: string;
}

const WORDS: Readonly<Record<Mode, Words>> = {
  pasta: { prog: 'pasta', other: 'passt', peer: 'the namespace', peers: "the namespace's" },
  passt: { prog: 'passt', other: 'pasta', peer: 'the guest', peers: "the guest's" },
};

/** One text for both pages, written once with the words of each. */
function eachMode(text: (w: Words) => Block[]): Partial<Record<Mode, Block[]>> {
  return { pasta: text(WORDS.pasta), passt: text(WORDS.passt) };
}

/** "Once per IP version", in the same words wherever it applies. */
const ONCE_PER_VERSION = 'Once per IP version: a second address of the same version replaces the first, so the last one of each version takes effect.';

/** Port specs: the grammar of -t and -u, shared by both pages (`auto` is pasta's only). */
function portGrammar(w: Words): Block[] {
  const auto = w.prog === 'pasta' ? '; or `auto` (see below)' : '';
  return [
    '*SPEC* is `none` (nothing), or a comma-separated list of entries, optionally after a listening address, an interface, or both, and a slash: ' +
      '*ADDR*`/`, *ADDR*`%`*IFNAME*`/` or `%`*IFNAME*`/` (an IPv6 *ADDR* may be written in brackets; without an address, or with `*`, every address of both IP versions). ' +
      'An entry is *FIRST*[-*LAST*], those ports to the same ports; ' +
      `*FIRST*[-*LAST*]:*TOFIRST*[-*TOLAST*], to other ports (a range of the same length); ` +
      `*FIRST*[-*LAST*]:*TOADDR*/*TOFIRST*[-*TOLAST*] or *FIRST*[-*LAST*]:*TOADDR*, to the address *TOADDR* of ${w.peer} instead of its own address (0.0.0.0 and :: mean its own address); ` +
      `~*FIRST*[-*LAST*], an exclusion, which applies to every entry of the value; \`all\`[:*TOADDR*], every port${auto}.`,
    'A value with no port range in it (`all`, only exclusions' + (w.prog === 'pasta' ? ', `auto` alone' : '') + ') forwards every port but the excluded ones and the kernel\'s ephemeral range (`net.ipv4.ip_local_port_range`), best effort: a port that cannot be bound is skipped. ' +
      'An explicit port that cannot be bound (in use, or below `net.ipv4.ip_unprivileged_port_start` without privileges) is an error. ' +
      'A listening interface (`%eth0/22`) takes only traffic that arrives through it (SO_BINDTODEVICE, unprivileged since Linux 5.7).',
    'A target address needs a listening address of the same IP version (`0.0.0.0/5000:192.0.2.5/6000`, `127.0.0.6/all:192.0.2.6`): ' +
      'for every address of both versions it is refused ("Dual stack forward to IPv4 address ... unsupported"), and so is a multicast or broadcast target. ' +
      'Rules for an IP version that is not in use, or for a protocol switched off (`--no-tcp`, `--no-udp`), are refused too. ' +
      'The option may be repeated, and the rules of all its values add up: ' +
      'two rules that would listen on the same port of overlapping addresses are an error ("Forwarding configuration conflict"), ' +
      'and so is `none` after other values of the same option.',
    {
      example: [
        '-t 22                 port 22 to port 22',
        '-t 2222:22            port 2222 to port 22',
        '-t 8000-8010:9000-9010',
        '-t 192.0.2.1/80       connections to 192.0.2.1 only',
        '-t %eth0/80           connections through eth0 only',
        '-t [::1]/all          every port, on ::1 only',
        '-t 0.0.0.0/5000:192.0.2.5/6000',
        '-t 2000-5000,~3000-3010',
        '-t ~20000-20010       every port but these (and the ephemeral ones)',
      ],
    },
  ];
}

/** Where a connection from the host itself appears to come from, for -t and -u. */
function fromTheHost(w: Words): string {
  return (
    `A connection from the host itself comes from an address ${w.peer} can answer: ` +
    "from the host's 127.0.0.1 or ::1, the `--map-host-loopback` address (by default the gateway's); " +
    "from the host's own address, the `--map-guest-addr` address if there is one; otherwise the gateway address."
  );
}

/**
 * A longer description of each option, by long name, in our own words; the
 * behaviour described is this program's (conf.ts has the authoritative
 * semantics), and where it differs from upstream's pasta(1) and passt(1) the
 * text says so. A plain list of blocks applies to every front end; an object
 * gives per-front-end text.
 */
export const OPTION_DESCRIPTIONS: Readonly<Record<string, Block[] | Partial<Record<Mode, Block[]>>>> = {
  debug: [
    'Be verbose: print debugging messages as well as informational ones, among them the configuration derived from the host and the options. ' +
      'On standard error each line then starts with the seconds since the start. ' +
      '`-d` cancels an earlier `-q`, and a later `-q` cancels `-d`: the last one takes effect.',
  ],
  trace: [
    'Print even more than `--debug`: a line for single packets as they are handled. ' +
      'This slows translation down noticeably; it is meant for finding problems. ' +
      'Implies `--debug`; a later `-q` cancels both.',
  ],
  stats: eachMode((w) => [
    'In the original, print statistics of events, at most every *DELAY* seconds. ' +
      `As there, the option needs \`-f\` given before it: otherwise ${w.prog} refuses it ("Can't display statistics if not running in foreground"). ` +
      '*DELAY* is read as a decimal number (whatever follows the digits is ignored; no digits means 0). The last one takes effect.',
    `Print, on standard error, a table of the events handled so far by kind (tap, TCP, UDP and ICMP sockets, listeners, spliced connections...), at most every *DELAY* seconds and only when there are events, with a header every 20 lines, as the original does. The same counters, and more, are available from the Node.js API (\`stats()\` of the object ${w.prog === 'pasta' ? '`createPasta()`' : '`createPasst()`'} returns).`,
  ]),
  quiet: {
    pasta: [
      'Print only warnings and errors: no informational messages, such as the summary of the configuration at the start. ' +
        'pasta running a command of its own prints none of those anyway unless `-d` is given. ' +
        '`-q` cancels an earlier `-d` or `--trace`, and a later one cancels `-q`: the last one takes effect.',
    ],
    passt: [
      'Print only warnings and errors: no informational messages, such as the summary of the configuration, the socket path and the QEMU options. ' +
        '`-q` cancels an earlier `-d` or `--trace`, and a later one cancels `-q`: the last one takes effect.',
    ],
  },
  foreground: {
    pasta: [
      'Stay in the foreground when attaching to an existing namespace (`--netns` or a *PID*): ' +
        'by default the first process returns once the namespace is configured, and a background process, its standard streams on /dev/null, keeps translating. ' +
        'With a command of its own pasta is the command\'s parent and stays in the foreground anyway, so there `-f` changes nothing. ' +
        '`--stats` needs `-f` before it. ' +
        'Unlike the original, this version never moves itself into a detached PID namespace, in the background or not.',
    ],
    passt: [
      'Stay in the foreground, logging to standard error. ' +
        "By default passt starts a copy of itself in the background, detached, with its standard streams on /dev/null; the first process waits until the copy listens on its socket, prints the socket path and the QEMU options to use, and exits with status 0 (or 1, with the copy's error). " +
        '`--stats` needs `-f` before it. ' +
        'Unlike the original, this version never moves itself into a detached PID namespace.',
    ],
  },
  stderr: [
    'Deprecated: the option has no effect but a warning ("--stderr will be dropped soon"). ' +
      'Messages go to standard error anyway unless `--log-file` is given; this program never logs to the system logger.',
  ],
  'log-file': eachMode((w) => [
    'Write log messages to the file *PATH* instead of standard error: a first line naming the program, its path and its PID, ' +
      'then a line per message, starting with the seconds since the start and the level. ' +
      `The file is created with mode 0600 if it does not exist, and emptied when ${w.prog} starts. ` +
      'Given more than once, the last one takes effect: there is one log file.',
  ]),
  'log-size': [
    'Keep the log file under *BYTES* bytes: when the next message would reach that size, the oldest messages are removed, ' +
      'about 30% of *BYTES* (rounded up to 4096 bytes, and to the end of a line), ' +
      'and the first line, followed by "- log truncated at" and the seconds since the start, takes their place. ' +
      'At least 40960 (five buffers of 8 KiB, as upstream); the default is 1048576 (1 MiB). ' +
      '*BYTES* may be written in decimal, in hexadecimal after 0x, or in octal after 0. The last one takes effect.',
  ],
  runas: {
    pasta: [
      'Switch to another user and group once the namespace and the sockets are set up. ' +
        '*UID* alone (a number) means that user ID and the group ID of the same number; *UID*:*GID* gives both; ' +
        '*LOGIN* is a user name, with its primary group, and *LOGIN*:*GROUP* a user and a group name (looked up in /etc/passwd and /etc/group; numbers and names may be mixed). ' +
        'A user name whose user ID is 0, or a name that does not exist, is refused ("Invalid --runas option"). ' +
        'Switching to another user needs privileges (root, or CAP_SETUID and CAP_SETGID). The last one takes effect.',
      'Without this option, pasta started as root in the initial user namespace switches to the user nobody, with the warning "Started as root, will change to nobody."; ' +
        'otherwise it stays the user it is. ' +
        'A command of pasta\'s own runs in a new user namespace owned by that user, in which root stands for it: ' +
        'started as root, pasta runs the command as root of a user namespace that maps root to nobody (or to the `--runas` user). ' +
        'With `--netns-only` no user namespace is created.',
    ],
    passt: [
      'Switch to another user and group once the socket is bound (or `-F` taken) and the PID file written. ' +
        '*UID* alone (a number) means that user ID and the group ID of the same number; *UID*:*GID* gives both; ' +
        '*LOGIN* is a user name, with its primary group, and *LOGIN*:*GROUP* a user and a group name (looked up in /etc/passwd and /etc/group; numbers and names may be mixed). ' +
        'A user name whose user ID is 0, or a name that does not exist, is refused ("Invalid --runas option"). ' +
        'Switching to another user needs privileges (root, or CAP_SETUID and CAP_SETGID). The last one takes effect.',
      'Without this option, passt started as root in the initial user namespace switches to the user nobody, with the warning "Started as root, will change to nobody."; otherwise it stays the user it is.',
    ],
  },
  'conf-path': eachMode((w) => [
    `The path of a control socket through which pesto(1) changes the configuration of a running ${w.prog} (experimental upstream). ` +
      `Not supported: ${w.prog} refuses the option with an error saying so ("--conf-path is not supported: ...").`,
  ]),
  help: eachMode((w) => [
    `Print a summary of ${w.prog}'s options to standard output and exit with status 0. ` +
      'The values of the options before it are checked first (an invalid one is an error); those after it are not, though an unknown option anywhere on the command line is an error.',
  ]),
  version: eachMode((w) => [
    `Print \`${w.prog} (node-passt)\` and the version of the node-passt package, and exit with status 0. ` +
      'The values of the options before it are checked first (an invalid one is an error); those after it are not, though an unknown option anywhere on the command line is an error.',
  ]),
  pcap: {
    pasta: [
      'Capture every Ethernet frame through the tap device, both ways, in *FILE*, in the pcap format that tcpdump(8) and Wireshark read. ' +
        'The file is created with mode 0600, or emptied. ' +
        'Frames to the namespace may carry partial TCP and UDP checksums, completed by the kernel after the capture (checksum offload), and with the tap\'s segmentation offload frames both ways may be super-frames of up to 64 KiB: TCP segments, or UDP datagrams of one size, that the kernel cuts at the segment size the frame\'s virtio-net header gives. ' +
        'Capturing costs a copy and a write per batch of frames; a failing write stops it with one message, never the translation. ' +
        'Given more than once, the last one takes effect: there is one capture file.',
    ],
    passt: [
      'Capture every Ethernet frame to and from the guest in *FILE*, in the pcap format that tcpdump(8) and Wireshark read. ' +
        'The file is created with mode 0600, or emptied; it spans every guest that connects while passt runs. ' +
        'Capturing costs a copy and a write per batch of frames; a failing write stops it with one message, never the translation. ' +
        'Given more than once, the last one takes effect: there is one capture file.',
    ],
  },
  pid: {
    pasta: [
      'Write the PID of the pasta process that keeps running to *FILE*, once the namespace is configured: ' +
        'with `--netns` or a *PID*, the process left in the background (or pasta itself, with `-f`); with a command, pasta itself. ' +
        'The last one takes effect.',
    ],
    passt: [
      'Write the PID of the passt process that keeps running to *FILE* once its socket listens: the copy left in the background, or passt itself with `-f`. ' +
        'The last one takes effect.',
    ],
  },
  mtu: eachMode((w) => [
    (w.prog === 'pasta'
      ? "Use *MTU* bytes as the maximum transmission unit of the namespace's interface: DHCP (option 26) and router advertisements (the MTU option) announce it, and `--config-net` sets it on the link. "
      : 'Announce an MTU of *MTU* bytes to the guest, with DHCP (option 26) and router advertisements (the MTU option). ') +
      `From 0 to 65521 ("MTU 70000 too large (max 65521)"); the default, 65520, is the largest that fits in a 64 KiB frame, rounded down to a whole number of 32-bit words. ` +
      (w.prog === 'pasta'
        ? '`-m 0` assigns no MTU: DHCP and router advertisements carry none, and `--config-net` leaves the MTU of the link as the kernel made it. '
        : "`-m 0` assigns no MTU: DHCP and router advertisements carry none, and the guest keeps its own. ") +
      `Below 68 for IPv4, or 1280 for IPv6, ${w.prog} warns ("MTU 1000 is too small for IPv6 (minimum 1280)") and goes on: DHCP then carries no MTU below 68, router advertisements none below 1280. ` +
      'The last one takes effect.',
  ]),
  address: eachMode((w) => [
    `Give ${w.peer} the IPv4 or IPv6 address *ADDR* instead of the host's` +
      (w.prog === 'passt' ? ': DHCP assigns an IPv4 one, DHCPv6 an IPv6 one, and router advertisements carry the /64 prefix of an IPv6 one. ' : '. ') +
      'A prefix length may follow, *ADDR*/*PREFIX* (0 to 32 for IPv4, 0 to 128 for IPv6; an IPv4-mapped IPv6 address counts as IPv4); ' +
      'it cannot be combined with `-n` ("Redundant prefix length specification"). ' +
      "An IPv4 address without one takes `-n`'s, else that of its historical class (8, 16 or 24 bits). " +
      'An IPv6 address always gets the prefix length 64, whatever is given. ' +
      ONCE_PER_VERSION +
      ' Unspecified, loopback, multicast and broadcast addresses are refused ("Invalid guest address").',
    'By default the address is the one with the longest prefix on the template interface of its IP version: ' +
      'the interface named by `-i`, else by `--outbound-if4` or `--outbound-if6`, else the interface of the first default route, else the first interface with any route. ' +
      'Without one, that IP version is in local mode (see NOTES), where `-a` is honoured too.' +
      (w.prog === 'pasta'
        ? ' With `--config-net`, `-a` sets this one address on the interface instead of copying every address of the template interface, for its own IP version only.'
        : ''),
  ]),
  netmask: eachMode((w) => [
    `Set the prefix length of an IPv4 address given with \`-a\` without one: in dot-decimal form (255.255.255.0, contiguous) or as a number of bits (24, at most 32). ` +
      '`-n` and a prefix length after `-a` exclude each other ("Redundant prefix length specification"), whichever comes first. ' +
      (w.prog === 'pasta'
        ? 'Without `-a` the option has no effect: an address taken from the host keeps its own prefix length (and so do the addresses `--config-net` copies), and local mode uses 16. '
        : 'Without `-a` the option has no effect: an address taken from the host keeps its own prefix length, and local mode uses 16. ') +
      'DHCP sends the prefix length as the subnet mask (option 1). ' +
      'An invalid mask is refused ("Invalid prefix length"). The last one takes effect.',
  ]),
  'mac-addr': eachMode((w) => [
    `Use *ADDR*, six hexadecimal octets separated by colons, as ${w.prog}'s own MAC address: the source of every frame to ${w.peer}, ` +
      `and the address its ARP and neighbour answers give for every address but ${w.peers} own. ` +
      'The default is 9a:55:9a:55:9a:55, a locally administered address. ' +
      'Unless the IPv6 gateway is a link-local address (which is then used), the link-local IPv6 address router advertisements and DHCPv6 replies come from is derived from it (EUI-64). ' +
      'The last one takes effect.',
  ]),
  gateway: eachMode((w) => [
    `Use *ADDR* as the default gateway of ${w.peer} for its IP version instead of the host's. ` +
      ONCE_PER_VERSION +
      ' Unspecified, loopback and broadcast addresses are refused ("Invalid gateway address"). ' +
      'By default, the gateway of the first default route through the template interface (see `-a`); in local mode 169.254.2.2 and fe80::1.',
    'DHCP sends the IPv4 gateway as the router (option 3, and option 121 with a route to it when it lies outside the subnet). ' +
      (w.prog === 'pasta'
        ? 'With `--config-net`, `-g` sets a default route via *ADDR* instead of copying every route of the template interface, for its own IP version only. '
        : '') +
      'A link-local IPv6 *ADDR* is also the address router advertisements and DHCPv6 replies come from, as in the original; for a global one they come from the link-local address made from `-M`.',
    `The gateway address also stands for the host itself: see \`--map-host-loopback\` and NOTES.`,
  ]),
  interface: eachMode((w) => [
    'Use the host interface *NAME* as the template of both IP versions: the addresses, prefix lengths and gateways' +
      (w.prog === 'pasta' ? ' (and, with `--config-net`, the routes)' : '') +
      ' come from it, instead of from the interfaces of `--outbound-if4` and `--outbound-if6`, or those of the first default routes. ' +
      'The interface must exist ("Invalid interface name NAME: No such device"); ' +
      'an IP version for which it has no usable address is in local mode (see NOTES). The last one takes effect.',
  ]),
  outbound: eachMode((w) => [
    `Bind the host sockets of the flows ${w.peer} opens (TCP connections, UDP flows, ICMP echo) to the source address *ADDR*, for *ADDR*'s IP version, instead of letting the routing tables pick the source. ` +
      ONCE_PER_VERSION +
      ' Refused ("Invalid or redundant outbound address"): unspecified, broadcast and multicast addresses, and for IPv6 loopback and IPv4-mapped or IPv4-compatible ones.',
  ]),
  'outbound-if4': eachMode((w) => [
    `Bind the host sockets of the IPv4 flows ${w.peer} opens to the host interface *NAME* (SO_BINDTODEVICE; not those to the host's loopback), ` +
      'and, unless `-i` is given, take the IPv4 address, prefix length and gateway from it. ' +
      `If IPv4 then has no template interface (local mode) while this option is given, ${w.prog} refuses to start ("External interface not usable"). ` +
      '*NAME* is at most 15 bytes. The last one takes effect.',
  ]),
  'outbound-if6': eachMode((w) => [
    `The same as \`--outbound-if4\`, for IPv6: bind the host sockets of the IPv6 flows ${w.peer} opens to the host interface *NAME*, ` +
      'and, unless `-i` is given, take the IPv6 address and gateway from it. ' +
      `If IPv6 then has no template interface while this option is given, ${w.prog} refuses to start ("External interface not usable"). The last one takes effect.`,
  ]),
  dns: eachMode((w) => [
    `Use *ADDR* (IPv4 or IPv6) as a DNS resolver for ${w.peer} instead of the \`nameserver\` lines of \`/etc/resolv.conf\`. ` +
      'Repeat the option to give several: they add up, at most three per IP version (more are ignored). ' +
      (w.prog === 'pasta'
        ? 'pasta sends them with DHCP, DHCPv6 and router advertisements only with `--dhcp-dns`. '
        : 'DHCP (option 6), DHCPv6 (option 23) and router advertisements (RDNSS) send them, unless `--no-dhcp-dns`. ') +
      `Unlike the resolvers of resolv.conf, *ADDR* is passed on as it is, never remapped: \`-D 127.0.0.1\` names ${w.peers} own loopback, not the host's. ` +
      "Resolvers given for one IP version only leave the other version's to resolv.conf.",
    '`-D none` means no resolvers at all; it also forgets `--dns-forward` and `--dns-host` given before it, and a `--dns-forward` after it needs `--dns-host`. ' +
      'A later `-D` *ADDR* undoes it. ' +
      '`-D` does not change where `--dns-forward` queries go (see `--dns-host`).',
  ]),
  'dns-forward': eachMode((w) => [
    `Make *ADDR* (IPv4 or IPv6), as ${w.peer} sees it, a DNS forwarder: TCP and UDP traffic to its port 53 or 853 goes to a resolver of the host ` +
      "(`--dns-host`, by default the first `nameserver` of `/etc/resolv.conf` of the same IP version, else of the other), and the replies come back from *ADDR*. " +
      'Other traffic to *ADDR* is handled as if the option were not given. ' +
      ONCE_PER_VERSION +
      ' Unspecified and loopback addresses (and for IPv4 the broadcast address) are refused ("Invalid DNS forwarding address"). ' +
      `When the host has no resolver to forward to, ${w.prog} warns and queries to *ADDR* go unanswered.`,
    `*ADDR* is not advertised to ${w.peer} as a resolver, except in place of a loopback resolver of resolv.conf (see DNS in NOTES).` +
      (w.prog === 'pasta' ? " Podman names 169.254.1.1 here and writes it into the container's `resolv.conf`." : ''),
  ]),
  'dns-host': eachMode((w) => [
    `The resolver of the host, IPv4 or IPv6, that DNS queries from ${w.peer} to the \`--dns-forward\` address go to, ` +
      'instead of the first `nameserver` of `/etc/resolv.conf` of the same IP version. ' +
      ONCE_PER_VERSION +
      " When there is none of the forwarder's IP version, the other version's is used (the original would send the queries nowhere). " +
      'Unspecified addresses (and the IPv4 broadcast address) are refused ("Invalid host nameserver address").',
  ]),
  search: eachMode((w) => [
    'Use the space-separated domains of *LIST* as the DNS search list instead of those of the first `search` line of `/etc/resolv.conf` (at most five are read there). ' +
      'Repeat the option to give more: the domains add up, at most six in all, each at most 253 bytes ("Cannot use DNS search domain"). ' +
      '`--search none` empties the list; a later `-S` starts a new one. ' +
      (w.prog === 'pasta'
        ? 'pasta sends the list with DHCP (option 119), DHCPv6 (option 24) and router advertisements (DNSSL) only with `--dhcp-search`.'
        : 'DHCP (option 119), DHCPv6 (option 24) and router advertisements (DNSSL) send it to the guest, unless `--no-dhcp-search`.'),
  ]),
  'no-dhcp-dns': [
    'Send no DNS resolvers to the guest: none in DHCP (option 6), DHCPv6 (option 23) and router advertisements (RDNSS). ' +
      'By default passt sends them. ' +
      'pasta refuses this option ("--no-dhcp-dns is for passt mode only"): it sends none unless `--dhcp-dns`.',
  ],
  'dhcp-dns': [
    'Send the DNS resolvers (from `-D`, or from `/etc/resolv.conf` as described under DNS in NOTES) with DHCP (option 6), DHCPv6 (option 23) and router advertisements (RDNSS). ' +
      "By default pasta does not: a namespace usually shares the host's `/etc/resolv.conf`. " +
      'passt refuses this option ("--dhcp-dns is for pasta mode only"): it sends them unless `--no-dhcp-dns`.',
  ],
  'no-dhcp-search': [
    'Send no DNS search list to the guest: none in DHCP (option 119), DHCPv6 (option 24) and router advertisements (DNSSL). ' +
      'By default passt sends it. ' +
      'pasta refuses this option ("--no-dhcp-search is for passt mode only"): it sends none unless `--dhcp-search`.',
  ],
  'dhcp-search': [
    'Send the DNS search list with DHCP (option 119), DHCPv6 (option 24) and router advertisements (DNSSL). By default pasta does not. ' +
      'passt refuses this option ("--dhcp-search is for pasta mode only"): it sends the list unless `--no-dhcp-search`.',
  ],
  'no-tcp': eachMode((w) => [
    `Do not translate TCP: TCP segments from ${w.peer} are dropped without an answer, and no TCP port is forwarded ` +
      (w.prog === 'pasta'
        ? '(no default `auto` for `-t` and `-T`; giving either is an error, "Can\'t add TCP forwarding rule, TCP not enabled").'
        : '(`-t` is an error, "Can\'t add TCP forwarding rule, TCP not enabled").'),
  ]),
  'no-udp': eachMode((w) => [
    `Do not translate UDP: UDP datagrams from ${w.peer} are dropped without an answer (DHCP and DHCPv6 are still answered), and no UDP port is forwarded ` +
      (w.prog === 'pasta' ? '(no default `auto` for `-u` and `-U`; giving either is an error).' : '(`-u` is an error).'),
  ]),
  'no-icmp': eachMode((w) => [
    `Do not translate ICMP and ICMPv6 echo: echo requests (ping) from ${w.peer} are dropped without an answer. Implies \`--no-ndp\`.`,
  ]),
  'no-dhcp': eachMode((w) => [
    (w.prog === 'pasta'
      ? 'Do not answer DHCP requests. By default a DHCP client in the namespace (for example `busybox udhcpc`, when pasta runs without `--config-net`) ' +
        "gets the address, prefix length and gateway, the MTU, and resolvers and search domains as `--dhcp-dns` and `--dhcp-search` say. "
      : "Do not answer DHCP requests. By default the guest's DHCP client gets the address, prefix length and gateway, the MTU, and the resolvers and search domains unless `--no-dhcp-dns` or `--no-dhcp-search`. ") +
      'Implied when IPv4 is not in use, and when the IPv4 configuration has no gateway.',
  ]),
  'no-ndp': eachMode((w) => [
    `Do not answer neighbour and router solicitations, and send no router advertisements: ${w.peer} cannot resolve IPv6 addresses, the gateway's included, to a MAC address. ` +
      'Implied by `--no-icmp`, and when IPv6 is not in use.',
  ]),
  'no-dhcpv6': eachMode((w) => [
    `Do not answer DHCPv6 requests (by default a DHCPv6 client gets ${w.peers} IPv6 address, and resolvers and search domains as configured). ` +
      'Implied when IPv6 is not in use, and in local mode, where no IPv6 address is known.',
  ]),
  'no-ra': {
    pasta: [
      'Send no router advertisements, solicited or periodic, and ignore router solicitations. By default the namespace can configure IPv6 by SLAAC from them (prefix, MTU); ' +
        '`--config-net` implies this option, since pasta configures the namespace itself, and so does `--no-ndp`.',
    ],
    passt: [
      'Send no router advertisements, solicited or periodic, and ignore router solicitations. ' +
        'By default the guest can configure IPv6 from them (the prefix of its address, the MTU). Implied by `--no-ndp`.',
    ],
  },
  freebind: [
    'Set IP_FREEBIND (IPV6_FREEBIND for IPv6) on the sockets that listen for `-t` and `-u`, ' +
      'so that a listening address (`-t 192.0.2.1/80`) need not be configured on the host yet: forwarding starts working once it is.',
  ],
  'map-host-loopback': eachMode((w) => [
    `Make *ADDR* (IPv4 or IPv6), as ${w.peer} sees it, stand for the host's loopback: connections and datagrams to it go to 127.0.0.1 or ::1 on the host ` +
      "(DNS may be forwarded instead: see DNS in NOTES), and forwarded connections from the host's 127.0.0.1 or ::1 appear to come from it" +
      (w.prog === 'pasta' ? ' when they are not spliced (see NOTES). ' : '. ') +
      ONCE_PER_VERSION +
      ' `none` maps no address of either version, and implies `--no-map-gw`. ' +
      'Unspecified, loopback and multicast addresses are refused ("Invalid address to remap to host"). ' +
      'By default the gateway address of each IP version plays this part, unless `--no-map-gw`.',
  ]),
  'no-map-gw': [
    'Do not let the gateway address stand for the host: connections and datagrams to it go to the gateway, as to any other address. ' +
      'An explicit `--map-host-loopback` address still stands for the host. ' +
      'Without a gateway there is nothing to map anyway (see NOTES).',
  ],
  'chroot-fallback': [
    'Once set up, the program sandboxes itself (see Security under NOTES) and, where it may, switches to an empty filesystem with pivot_root(2); ' +
      'with this option it falls back to chroot(2) where pivot_root(2) fails (a tmpfs or initramfs root).',
  ],
  'map-guest-addr': eachMode((w) => [
    `Make *ADDR* (IPv4 or IPv6), as ${w.peer} sees it, stand for ${w.peers} own address on the host ` +
      `(the \`-a\` address, by default the host's own address, which ${w.peer} has too and so cannot reach under that address): ` +
      'traffic to *ADDR* goes to that address on the host, and forwarded connections from that address appear to come from *ADDR*. ' +
      ONCE_PER_VERSION +
      ' `none` maps no address of either version; so does the default. ' +
      'Unspecified, loopback and multicast addresses are refused ("Invalid address to remap to host").' +
      (w.prog === 'pasta' ? ' Podman names 169.254.1.2 here for `host.containers.internal`.' : ''),
  ]),
  'ipv4-only': eachMode((w) => [
    `Use IPv4 only: ${w.peer} gets no IPv6 configuration and IPv6 packets from it are ignored. ` +
      '`-4` and `-6` cancel each other: the last one takes effect. ' +
      'By default each IP version is used, from its template interface if there is one, else in local mode (see NOTES).',
  ]),
  'ipv6-only': eachMode((w) => [
    `Use IPv6 only: ${w.peer} gets no IPv4 configuration and IPv4 packets from it are ignored. ` +
      '`-6` and `-4` cancel each other: the last one takes effect.',
  ]),
  hostname: {
    pasta: [
      'Send *NAME* (at most 253 bytes) as the host name in DHCP replies (option 12). ' +
        'With a command of its own, pasta runs it in a UTS namespace of its own whose host name is *NAME* (its first 64 bytes); ' +
        "without this option that name is `pasta-` followed by the host's name. The last one takes effect.",
    ],
    passt: ['Send *NAME* (at most 253 bytes) as the host name in DHCP replies (option 12). The last one takes effect.'],
  },
  fqdn: [
    "Send *NAME* (at most 253 bytes) as the client's fully qualified domain name: DHCP option 81 and DHCPv6 option 39 (Client FQDN). The last one takes effect.",
  ],
  'tcp-ports': {
    pasta: [
      'Forward TCP ports of the host into the namespace: pasta listens on them on the host and connects to the same or another port in the namespace.',
      ...portGrammar(WORDS.pasta),
      '`auto` keeps the entries of its value to the ports something in the namespace listens on, following its socket tables about once a second, and stops listening when they go: ' +
        '`-t auto` forwards any such port but the ephemeral ones, `-t 8000-8010,auto` those of 8000 to 8010 only, and `-t ::1/auto` listens for them on ::1 only. ' +
        'Ports pasta itself holds in the namespace (its `-T` listeners) are left out, and a port that is taken on the host is warned about once and tried again while it stays bound. ' +
        '`auto` is the default when `-t` is not given; passt refuses it ("\'auto\' port forwarding is only allowed for pasta").',
      "A connection from another host reaches the namespace from that host's own address and port, so servers in the namespace see their real clients. " +
        fromTheHost(WORDS.pasta) +
        " Connections from the host's loopback to a port without a target address are spliced socket to socket (splice(2)) rather than sent through the tap, " +
        "to the namespace's own address unless `--host-lo-to-ns-lo` (see NOTES); `--no-splice` sends them through the tap.",
    ],
    passt: [
      'Forward TCP ports of the host to the guest: passt listens on them on the host and connects to the same or another port of the guest. The default is `none`.',
      ...portGrammar(WORDS.passt),
      "A connection from another host reaches the guest from that host's own address and port. " +
        fromTheHost(WORDS.passt) +
        ' While no guest is connected, a connection is reset once passt gives up waiting for the guest to answer.',
    ],
  },
  'udp-ports': {
    pasta: [
      'Forward UDP ports of the host into the namespace. *SPEC* is as for `-t`, and so is the default, `auto`, ' +
        "which follows the namespace's bound UDP sockets and, as upstream, the port numbers of its listening TCP sockets too " +
        '(for protocols such as iperf3 that set up UDP over a TCP connection).',
      "Datagrams from another host reach the namespace from that host's own address and port, and the answers leave from the port they were sent to. " +
        "Datagrams from the host's loopback to a port without a target address are relayed socket to socket, in batches (recvmmsg(2), sendmmsg(2)), " +
        "to the namespace's own address unless `--host-lo-to-ns-lo`; others from the host itself come from the addresses `-t` describes. " +
        'A flow is forgotten once idle for the kernel\'s *nf_conntrack_udp_timeout* (30 seconds by default), or for *nf_conntrack_udp_timeout_stream* (120 seconds) once it has carried traffic both ways and more than one datagram on a side: both read at start, as upstream.',
      'UDP ports are forwarded only as `-u` (or its default) says: not, as the original\'s manual has it, on the port numbers `-t` forwards.',
    ],
    passt: [
      'Forward UDP ports of the host to the guest. *SPEC* is as for `-t`; the default is `none`. ' +
        "Datagrams from another host reach the guest from that host's own address and port; datagrams from the host itself come from the addresses `-t` describes. " +
        'A flow is forgotten once idle for the kernel\'s *nf_conntrack_udp_timeout* (30 seconds by default), or for *nf_conntrack_udp_timeout_stream* (120 seconds) once it has carried traffic both ways and more than one datagram on a side: both read at start, as upstream.',
      'UDP ports are forwarded only as `-u` says: not, as the original\'s manual has it, on the port numbers `-t` forwards.',
    ],
  },
  socket: [
    'Listen for QEMU on the UNIX domain socket *PATH* (at most 107 bytes). ' +
      'passt refuses a path where something accepts connections already ("Socket path PATH already in use"), and replaces a stale socket file left there by an earlier run. ' +
      'By default it takes the first of `/tmp/passt_1.socket` to `/tmp/passt_64.socket` that nobody listens on. ' +
      'The socket file is removed when passt stops (not when it is killed with SIGKILL: the next passt then replaces it). ' +
      '`-s` and `-F` replace each other: the last one takes effect. ' +
      'pasta refuses this option ("-s is for passt / vhost-user mode only").',
  ],
  'socket-path': ['Another name of `--socket` (`-s`): the same option.'],
  'vhost-user': [
    'Speak vhost-user on the `--socket` socket instead of QEMU\'s stream protocol: QEMU connects with `-chardev socket,id=c,path=PATH -netdev vhost-user,id=n,chardev=c -device virtio-net-pci,netdev=n`, ' +
      'and its guest memory must be shared (`-object memory-backend-memfd,id=m,size=SIZE,share=on -numa node,memdev=m`, or hugetlbfs). ' +
      'The socket then carries only the vhost-user protocol; the guest\'s frames move through its virtqueues in that shared memory, copied once each way. ' +
      'The device offers VERSION_1, mergeable receive buffers, indirect descriptors, checksum offload both ways and TCP segmentation offload both ways (HOST_TSO4/6: the guest sends TCP super-frames of up to 64 KiB; GUEST_TSO4/6: passt sends them to it), ' +
      'which the original does not offer. One front end at a time; with `-1` passt quits when it leaves, otherwise it waits for the next (a restarted QEMU). ' +
      'Live migration is not supported: dirty-page logging (VHOST_F_LOG_ALL) is not offered, so QEMU does not migrate such a guest, and `--repair-path` takes only `none`.',
  ],
  'print-capabilities': [
    'Print the capabilities of the vhost-user back end in JSON (`{"type": "net"}`) and exit, as vhost-user back-end programs do for their front ends (libvirt runs it). ' +
      'This version prints them on standard output, as the vhost-user specification says; the original prints them on standard error.',
  ],
  'repair-path': [
    'In vhost-user mode, the original\'s UNIX domain socket through which passt-repair(1) sets and clears TCP_REPAIR on sockets during a live migration. ' +
      'Live migration with TCP_REPAIR is not supported by this version: `--repair-path none` (no such socket: what front ends such as crosvm pass) is accepted, and any other *PATH* is refused ' +
      '("--repair-path PATH: live migration (TCP_REPAIR through passt-repair) is not supported by node-passt; only \'none\' is accepted"). ' +
      'Outside vhost-user mode a *PATH* is refused as the original refuses it ("--repair-path is for vhost-user mode only").',
  ],
  'migrate-exit': [
    'Deprecated upstream: in vhost-user mode, quit once a migration as the source has completed. ' +
      'Accepted with `--vhost-user`, with no effect (there is no migration here); refused otherwise, as the original refuses it ("--migrate-exit is for vhost-user mode only").',
  ],
  'migrate-no-linger': [
    'Deprecated upstream: in vhost-user mode, close the TCP sockets of the source once a migration has completed. ' +
      'Accepted with `--vhost-user`, with no effect (there is no migration here); refused otherwise, as the original refuses it ("--migrate-no-linger is for vhost-user mode only").',
  ],
  fd: {
    pasta: [
      'Use *FD*, a tap device opened by the caller and inherited, instead of creating one in the namespace. ' +
        'pasta then leaves the namespace as it is: it configures nothing in it, not even the loopback interface, and neither `--ns-mac-addr` nor `--config-net` has an effect. ' +
        'When the device reaches its end or fails, pasta reports it ("EOF on tap device, exiting") and stops. ' +
        '*FD* must be a tap device ("Invalid --fd: FD: not a tap device"). The last one takes effect.',
    ],
    passt: [
      'Use the connected stream socket *FD*, inherited from the parent process, instead of listening: the guest is at its other end. ' +
        'This lets the parent (libvirt, say) open the socket with privileges or an address family of its own. ' +
        'Implies `--one-off`: passt quits with status 0 when the socket is closed. ' +
        'In the background mode, the background copy gets the socket under the same number. ' +
        '*FD* must be a socket ("Invalid --fd"). `-F` and `-s` replace each other: the last one takes effect.',
    ],
  },
  'one-off': [
    'Quit with status 0 once the first guest disconnects (or its connection fails), instead of waiting for the next one. ' +
      'pasta refuses this option ("--one-off is for passt mode only").',
  ],
  'ns-ifname': [
    'Name the tap interface created in the namespace *NAME*, at most 15 bytes ("Invalid interface name"). ' +
      'By default it takes the name of the IPv4 template interface, else of the IPv6 one, else tap0. ' +
      'The last one takes effect. passt refuses this option ("-I is for pasta mode only").',
  ],
  'tcp-ns': [
    "Forward TCP ports of the namespace's loopback to the host's loopback: pasta listens on 127.0.0.1 and ::1 in the namespace, " +
      "and a client there connecting to a forwarded port reaches that port (or the mapped one) on the host's loopback. " +
      '*SPEC* is as for `-t`, without listening addresses or interfaces ("Listening address not allowed for -T ...") and without target addresses. ' +
      'Connections are relayed socket to socket with splice(2), also with `--no-splice`. ' +
      "`auto`, the default, follows the host's listening TCP sockets about once a second, leaving out pasta's own `-t` listeners. " +
      'passt refuses this option ("-T is for pasta mode only").',
  ],
  'udp-ns': [
    "Forward UDP ports of the namespace's loopback to the host's loopback, as `-T` does for TCP; datagrams are relayed socket to socket in batches. " +
      '*SPEC* is as for `-T`; `auto`, the default, follows the UDP ports bound on the host, and the port numbers of its listening TCP sockets too. ' +
      'passt refuses this option ("-U is for pasta mode only").',
  ],
  'host-lo-to-ns-lo': [
    "Deliver connections and datagrams from the host's loopback to forwarded ports (`-t`, `-u`) to the loopback in the namespace (127.0.0.1 or ::1) " +
      "instead of the namespace's own address. " +
      "This exposes services that listen only on the namespace's loopback to the host (it used to be the original's default; see NOTES). " +
      'Incompatible with `--no-splice` ("--host-lo-to-ns-lo is incompatible with --no-splice"); implied by `--splice-only`. ' +
      'passt refuses this option.',
  ],
  userns: [
    'When attaching (`--netns` or a *PID*), join the user namespace *NSPATH* (a path) before the network namespace. ' +
      'By default, the user namespace of the *PID*; with `--netns`, none (as `--netns-only`), which suits a caller that runs pasta inside the namespace\'s user namespace already, as Podman does. ' +
      '`--userns` and `--netns-only` cancel each other: the last one takes effect. ' +
      'With a command of pasta\'s own the option has no effect. passt refuses it ("--userns is for pasta mode only").',
  ],
  netns: [
    'Attach to the network namespace *PATH* (a bind-mounted namespace file or a `/proc/`*PID*`/ns/net` link) instead of creating one; ' +
      'a *PATH* without a slash is a name in `/run/netns`, as ip-netns(8) names them. ' +
      'No command is run, and neither a command nor a *PID* may follow ("Both --netns and PID or command given"). ' +
      'The first pasta process returns once the namespace is configured (exit status 0, or 1 with the error), ' +
      'leaving the translator running in the background with its standard streams on /dev/null (use `-f` to stay in the foreground). ' +
      'It quits by itself when *PATH* is deleted (see `--no-netns-quit`), or on SIGTERM, SIGINT, SIGHUP or SIGQUIT. ' +
      'The last one takes effect. passt refuses this option ("--netns is for pasta mode only").',
  ],
  'netns-only': [
    'Join or create no user namespace: when attaching to a *PID*, join only its network namespace; with a command of its own, create only a network namespace (which needs privileges). ' +
      'Implied by `--netns` without `--userns`. `--netns-only` and `--userns` cancel each other: the last one takes effect. ' +
      'passt refuses this option.',
  ],
  'no-netns-quit': [
    'Keep running when the `--netns` file is deleted, or, attached to a *PID*, when that process exits. ' +
      'passt refuses this option.',
  ],
  'config-net': [
    'Configure the namespace before the command starts: bring the tap interface up with the MTU (unless `-m 0`), ' +
      'copy every address of the template interface (not link-local or deprecated ones) and every route through it to the tap interface, ' +
      'for each IP version; with `-a` of a version set that one address instead, and with `-g` of a version only a default route via the gateway. ' +
      'In local mode, the local addresses and default routes are set (see NOTES). ' +
      'Implies `--no-ra`. ' +
      "Without this option only the loopback interface is brought up (and `--ns-mac-addr` applied), and the tap interface is left down and unconfigured for the namespace's own tools (a DHCP client, SLAAC) to set up. " +
      'passt refuses this option.',
  ],
  'no-copy-routes': [
    'Deprecated: pasta warns "--no-copy-routes will be dropped soon". ' +
      'With `--config-net`, do not copy the routes of the template interface: set only a default route via the gateway, for both IP versions (`-g` does this for its own version). ' +
      'Needs `--config-net` ("--no-copy-routes needs --config-net"). passt refuses this option.',
  ],
  'no-copy-addrs': [
    'Deprecated: pasta warns "--no-copy-addrs will be dropped soon". ' +
      'With `--config-net`, do not copy the addresses of the template interface: set only the one address, for both IP versions (`-a` does this for its own version). ' +
      'Needs `--config-net` ("--no-copy-addrs needs --config-net"). passt refuses this option.',
  ],
  'ns-mac-addr': [
    'Set the MAC address *ADDR* on the tap interface in the namespace, with `--config-net` or without (not with `-F`). ' +
      'By default the kernel gives it a random one. The last one takes effect. passt refuses this option.',
  ],
  'no-splice': [
    "Do not splice: connections and datagrams from the host's loopback to forwarded ports (`-t`, `-u`) go through the tap like any other, " +
      'appearing to come from the `--map-host-loopback` address (by default the gateway). ' +
      '`-T` and `-U` are not affected. Incompatible with `--host-lo-to-ns-lo` and `--splice-only`. ' +
      'passt accepts the option and ignores it: it never splices.',
  ],
  'splice-only': [
    "Create no tap device: pasta forwards only loopback traffic, socket to socket (`-t` and `-u` from the host's loopback to the namespace's loopback, and `-T` and `-U`), " +
      'and refuses connections to forwarded ports from any other address. ' +
      'Implies `--host-lo-to-ns-lo`, `--no-icmp`, `-D none` and `-S none`; the namespace gets no addresses and no DHCP, DHCPv6 or NDP. ' +
      'Incompatible with `--no-splice` ("--splice-only is incompatible with --no-splice"); passt refuses it ("--splice-only is for pasta mode only").',
  ],
  'shared-engine': [
    'node-passt only, not in the original. When pasta attaches to an existing namespace (`--netns`, a PID), have the user\'s shared engine serve it instead of a process of its own: ' +
      'one background process per user (and mount namespace) serves every such namespace, each with its own configuration, flows and forwarded ports, ' +
      'and pasta leaves behind only a small process that holds its place (the one `-P` names; killing it ends that namespace\'s service). ' +
      'The same is asked for by the environment variable `NODE_PASTA_SHARED_ENGINE=1`, which a container engine passes on to pasta. ' +
      'The engine listens on a socket in `$XDG_RUNTIME_DIR/node-passt/` (without `XDG_RUNTIME_DIR`, in `/run/user/UID/node-passt/` if that directory is ours), a directory closed to other users, and serves only its own user. ' +
      'It starts on first use and exits once it has served nothing for 30 seconds (`NODE_PASTA_ENGINE_IDLE_MS`). ' +
      'A command line that runs a command of pasta\'s own, or uses `-F` or `--runas`, or pasta as root of the initial user namespace, is served as without this option. ' +
      'What this trades is described under "Shared engine" below.',
  ],
};

/** The rule for options given more than once, in the OPTIONS section of each page. */
function optionsIntro(w: Words): Block[] {
  return [
    'Unless the description of an option says otherwise, an option given more than once takes effect as given last, ' +
      'and of two options that contradict each other (`-q` and `-d`, `-4` and `-6`' +
      (w.prog === 'passt' ? ', `-s` and `-F`' : ', `--userns` and `--netns-only`') +
      ') the later one wins. ' +
      'Options that take one address of either IP version (`-a`, `-g`, `-o`, `--dns-forward`, `--dns-host`, `--map-host-loopback`, `--map-guest-addr`) ' +
      'keep one address per version: the last one of each. ' +
      '`-D`, `-S` and the port forwarding options (' +
      (w.prog === 'pasta' ? '`-t`, `-u`, `-T`, `-U`' : '`-t`, `-u`') +
      ') add up.',
    `Both programs parse the options of both pages: one that belongs to ${w.other}(1) alone is refused, in the original's words where it has them (${w.prog === 'pasta' ? '"--one-off is for passt mode only"' : '"--netns is for pasta mode only"'}).`,
  ];
}

/** Notes shared by both pages, with each page's words. */
function addressMappingNote(w: Words): Subsection {
  return {
    title: 'Address mapping of the gateway',
    body: [
      `${w.peer.charAt(0).toUpperCase() + w.peer.slice(1)} has the host's own address, so it cannot reach the host through it. ` +
        `Instead, the gateway address stands for the host: connections and datagrams from ${w.peer} to the default gateway's IPv4 or IPv6 address ` +
        "go to the host's loopback address of that version (127.0.0.1 or ::1), " +
        `so services that listen only on the host's loopback can be reached from ${w.peer}. ` +
        `The real gateway is then not reachable at its own address from ${w.peer} (it still routes everything else), except for DNS when it is also a resolver (see DNS below).`,
      '`--map-host-loopback` makes another address stand for the host\'s loopback, and `--no-map-gw` (or `--map-host-loopback none`) turns the mapping off: ' +
        'traffic to the gateway address then goes to the gateway. ' +
        "`--map-guest-addr` makes an address stand for the host's own address. " +
        'A `--dns-forward` address is mapped to a resolver of the host, for DNS only. ' +
        'Every other destination is used as it is.',
      `In the other direction, a connection or datagram that reaches a forwarded port from the host itself cannot keep its source address, which ${w.peer} could not answer: ` +
        "one from the host's 127.0.0.1 or ::1 comes from the `--map-host-loopback` address, one from the host's own address from the `--map-guest-addr` address if there is one, and any other from the gateway address. " +
        'With no `--map-host-loopback` address (`--no-map-gw`), the host\'s loopback too comes from the gateway address; the original\'s manual says such traffic is dropped.' +
        (w.prog === 'pasta' ? ' That is for traffic through the tap; what is spliced is described below.' : ''),
    ],
  };
}

function dnsNote(w: Words): Subsection {
  return {
    title: 'DNS',
    body: [
      `Unless \`-D\` names resolvers (for an IP version), ${w.prog} takes them from the \`nameserver\` lines of \`/etc/resolv.conf\`, at most three per version, and the search list from its first \`search\` line. ` +
        (w.prog === 'pasta'
          ? 'It sends them with DHCP, DHCPv6 and router advertisements only with `--dhcp-dns` and `--dhcp-search`: a namespace usually shares the host\'s `/etc/resolv.conf`.'
          : 'It sends them with DHCP, DHCPv6 and router advertisements unless `--no-dhcp-dns` and `--no-dhcp-search`.'),
      `A resolver on the host's loopback (127.0.0.53 of systemd-resolved, say) is of no use to ${w.peer} at that address. ` +
        `So, as the original does, ${w.prog} advertises in its place the address that stands for the host's loopback (the gateway address, or \`--map-host-loopback\`'s), ` +
        'or the `--dns-forward` address of that IP version if there is one, and makes that address a DNS forwarder: ' +
        'TCP and UDP traffic to its port 53 or 853 goes to `--dns-host`, by default the first `nameserver` of resolv.conf of that version. ' +
        'A resolver at the address standing for the host\'s loopback (a gateway that is also a resolver) is handled the same way: DNS to that address goes to the `--dns-host` resolver, not to the host\'s loopback. ' +
        'With `--no-map-gw` and no `--dns-forward`, a loopback resolver is left out. ' +
        `When no resolver is left, ${w.prog} warns ("Couldn't get any nameserver address").`,
      'Resolvers given with `-D` are advertised as they are, never remapped.',
    ],
  };
}

function securityNote(w: Words): Subsection {
  const set = w.prog === 'pasta' ? 'once the namespace is configured and the tap device made, before the first frame' : 'once its socket is bound (or the `--fd` socket taken), before the first frame';
  return {
    title: 'Security',
    body: [
      `${w.prog === 'pasta' ? 'pasta' : 'passt'} sandboxes itself ${set}; this cannot be turned off. ` +
        'Started as root outside a user namespace, it switches to nobody (or the `--runas` user), which leaves it no capabilities. ' +
        'As root of a user namespace (Podman, rootlesskit) it keeps only CAP_NET_BIND_SERVICE. ' +
        'Where it has CAP_SYS_ADMIN before that, it moves into a mount namespace of its own whose root is an empty read-only tmpfs (pivot_root(2), or chroot(2) with `--chroot-fallback`); ' +
        'where the kernel has Landlock, a Landlock domain denies every filesystem access. ' +
        'It sets no_new_privs, is not dumpable, and installs a seccomp filter on all its threads (SECCOMP_FILTER_FLAG_TSYNC) that allows only the system calls translation needs: ' +
        'opening files, starting processes and sockets other than IPv4, IPv6 and sock_diag fail with EPERM or EAFNOSUPPORT; ' +
        'a call that only a takeover would make (exec, ptrace, mount, namespaces, modules, BPF) ends the process with a message naming it ("sandbox: system call execve (59) is not permitted after set-up; exiting") and SIGSYS. ' +
        'Files needed later are opened before (the log and pcap files, the /proc/net tables `auto` reads' + (w.prog === 'pasta' ? ', the directory of the `--netns` file' : '') + ').',
      w.prog === 'pasta'
        ? "The helper process inside the namespace moves to an empty root of its own, drops all its capabilities and gets a filter of its own that only makes sockets and passes them back."
        : 'A small process forked before the sandbox removes the socket file when passt ends, since passt itself can no longer remove it.',
    ],
  };
}

function localModeNote(w: Words): Subsection {
  return {
    title: 'Local mode',
    body: [
      `When the host has no interface that can serve as the template of an IP version (no route of that version through an interface other than lo, or no address on it), ${w.prog} uses local mode for that version, ` +
        'saying so ("IPv4: no external interface as template, use local mode"): ' +
        `for IPv4 ${w.peer} gets 169.254.2.1/16 with the gateway 169.254.2.2, for IPv6 no address and the gateway fe80::1, unless \`-a\` and \`-g\` say otherwise. ` +
        'DHCPv6 is off then, since there is no IPv6 address to hand out' +
        (w.prog === 'pasta' ? '; `--config-net` sets the local addresses and default routes. ' : '. ') +
        `Traffic from ${w.peer} is still translated to sockets of the host, and the gateway address still stands for the host.`,
    ],
  };
}

const PASTA_PAGE: PageText = {
  mode: 'pasta',
  file: 'doc/pasta.1',
  summary: 'connect a network namespace to the host network, without privileges',
  synopsis: ['[*OPTION*]... [`--`] [*COMMAND* [*ARG*]...]', '[*OPTION*]... *PID*', '[*OPTION*]... `--netns` *PATH*|*NAME*'],
  description: [
    "pasta runs *COMMAND* (by default the user's `$SHELL`, else `/bin/sh`) in a new network namespace, and connects that namespace to the network of the host. " +
      'It also creates a new user namespace, in which root stands for the user pasta runs as, so no privileges are needed (see `--runas` and `--netns-only`). ' +
      'pasta stays in the foreground while the command runs and exits with its status, leaving nothing behind.',
    'Given a *PID* or `--netns`, pasta connects the network namespace of that process, or the one bound at *PATH*, instead, and runs no command: ' +
      'it returns once the namespace is configured and keeps translating in the background until the namespace goes (see `--netns`). ' +
      'That is how Podman and rootlesskit run it.',
    "A tap device inside the namespace carries the namespace's Ethernet frames to pasta, which turns them into operations on ordinary sockets of the host: " +
      'a TCP connection from the namespace becomes a TCP connection from the host to the same address and port, and the same holds for UDP datagrams and ICMP echo requests. ' +
      'There is no NAT and no full TCP/IP stack in between. ' +
      "With the default options the namespace gets the host's own addresses, prefix lengths and gateways (all of its addresses and routes with `--config-net`), " +
      "so it sees what the host sees, and servers it talks to see the host's address.",
    'TCP is adapted rather than terminated: data from a host socket is only consumed once the namespace acknowledges it, ' +
      'and the acknowledgements and window sent to the namespace reflect the state of the host socket. ' +
      "pasta answers ARP requests and IPv6 neighbour solicitations from the namespace for every address but the namespace's own. " +
      "Traffic between the host's loopback and forwarded ports takes a shorter way, socket to socket, without the tap (see NOTES).",
    'This pasta comes from node-passt, a reimplementation in TypeScript for Node.js of pasta from the passt project. ' +
      "It accepts every option of the original, with the same meaning; the few it does not implement are refused with an error saying so, or accepted without effect, as their descriptions say. See NOTES for the differences.",
  ],
  optionsIntro: optionsIntro(WORDS.pasta),
  exitStatus: [
    'pasta exits with the exit status of *COMMAND*, or 128 plus the signal number if the command was killed by a signal. ' +
      'It exits with status 0 after `--help` and `--version`, and with status 1, after printing one line to standard error, ' +
      'when an option is invalid, when the namespace cannot be set up, or when translation stops on an internal error (the command is then killed).',
    'Signals that would end pasta (SIGTERM, SIGHUP, and SIGINT and SIGQUIT when not on a terminal) are passed on to the command instead.',
    'With `--netns` or a *PID*, the first process exits with status 0 once the namespace is configured, or with status 1 and the error; ' +
      'the process left in the background exits with status 0 when the namespace goes, or on SIGTERM, SIGINT, SIGHUP or SIGQUIT.',
  ],
  examples: [
    {
      title: 'A shell in a connected namespace',
      body: [
        { example: ['$ pasta --config-net', '# ip -brief address show', '# curl -sI https://example.org/', '# exit'] },
        "The shell runs as root in a new user and network namespace, with the host's addresses and routes on an interface named like the host's upstream interface.",
      ],
    },
    {
      title: "Run one command; its exit status is pasta's",
      body: [{ example: ['$ pasta --config-net -- curl -sS http://example.org/'] }],
    },
    {
      title: "Reach a service on the host's loopback through the gateway address",
      body: [
        {
          example: [
            '$ python3 -m http.server --bind 127.0.0.1 8000 &',
            "$ pasta --config-net -- sh -c 'curl http://$(ip -4 route show default | cut -d\" \" -f3):8000/'",
          ],
        },
      ],
    },
    {
      title: 'A DNS forwarder, as Podman sets one up',
      body: [{ example: ['$ pasta --config-net --dns-forward 169.254.1.1 -- dig @169.254.1.1 example.org'] }],
    },
    {
      title: 'Connect a namespace made by someone else',
      body: [
        {
          example: [
            '$ unshare -rn sleep infinity &',
            '$ pasta --config-net $!',
            '$ nsenter -t $! -U -n --preserve-credentials ip -brief address show',
          ],
        },
      ],
    },
    {
      title: 'From the package tarball, without a global install',
      body: [{ example: ['$ npm install ./node-passt-*.tgz', '$ npx pasta --config-net'] }],
    },
  ],
  notes: [
    addressMappingNote(WORDS.pasta),
    {
      title: "Connections from the host's loopback",
      body: [
        "A connection from the host's loopback to a port forwarded with `-t` (and a datagram to one forwarded with `-u`) does not go through the tap: " +
          'pasta accepts it on the host and opens a socket in the namespace, and relays the data between the two, with splice(2) for TCP and batches of recvmmsg(2) and sendmmsg(2) for UDP. ' +
          "`-T` and `-U` work the same way in the other direction, from the namespace's loopback to the host's.",
        "Such a connection goes to the namespace's own address, not to its loopback: " +
          "a service that listens only on 127.0.0.1 or ::1 in the namespace is not exposed to the host through a forwarded port, as one would expect of a loopback-only service. " +
          '`--host-lo-to-ns-lo` sends these connections to the loopback in the namespace instead (the original\'s old default), and `--no-splice` sends them through the tap, ' +
          'where they come from the `--map-host-loopback` address. ' +
          'Rules with a target address are never spliced.',
      ],
    },
    dnsNote(WORDS.pasta),
    localModeNote(WORDS.pasta),
    securityNote(WORDS.pasta),
    {
      title: 'Shared engine',
      body: [
        'With `--shared-engine` (or `NODE_PASTA_SHARED_ENGINE=1`), each pasta that attaches to a namespace hands it to one background process of the user, the shared engine, ' +
          'which it starts when there is none (`$XDG_RUNTIME_DIR/node-passt/engine-*.sock`, one per user namespace, mount namespace and installed build of node-passt) and which exits when it has served nothing for `NODE_PASTA_ENGINE_IDLE_MS` milliseconds (default 30000). ' +
          'pasta returns as it otherwise would: exit 0 once the namespace is configured, or 1 with the message. ' +
          'What stays behind for each namespace is a process of some hundred kilobytes that holds its connection to the engine: `-P` names it, killing it ends the service of that namespace, ' +
          'and it exits 0 when the namespace goes away (the `--netns` file deleted, the PID exited). ' +
          'If the engine ends first (killed, or it failed), that process says so ("the shared engine exited: this namespace has no network any more") on standard error with `-f`, else to the system logger, and in the `--log-file`, and exits 1; ' +
          'the namespaces it served have no network any more, as when pasta(1) is killed: a container engine that started them does not restart them. ' +
          'The next pasta starts a new engine. `NODE_PASTA_ENGINE_LOG=FILE` keeps the engine\'s own standard error (each request and its answer, a crash) in *FILE*.',
        'Each namespace keeps its own configuration (ports, DNS, addresses, mapping), flow table, sockets and helper process, and traffic of one cannot reach another\'s flows. ' +
          'What it trades against one sandboxed process per container, as pasta(1) runs: the engine has no sandbox of its own (see Security): it must open each new namespace\'s files and start helpers long after it started, ' +
          'so it keeps the filesystem access and system calls of the user it runs as; only the helper inside each namespace is locked as always. ' +
          'And the namespaces it serves share one process\'s fate: a crash or a kill of the engine ends the networking of all of them. ' +
          'Only the user the engine runs as may use it (a directory of mode 0700, a socket of mode 0600, and the peer credentials of every connection checked). ' +
          'It is off unless asked for.',
      ],
    },
    {
      title: 'Differences from the original pasta',
      body: [
        'The host side of a TCP connection keeps the host path\'s own MSS: pasta(1) sets the MSS the namespace advertised as the host socket\'s TCP_MAXSEG, so that at `-m 1500` a remote peer sends 1460-byte segments over the host\'s link; the namespace sees segments of its own MSS either way. ' +
          '`auto` rescans the UDP ports every second too, where pasta(1) reads them only at start. ' +
          "UDP is not forwarded on the port numbers `-t` forwards unless `-u` says so, as in the original's code, though its manual says otherwise.",
        'Node.js runs several threads before any JavaScript starts, and a multithreaded process cannot enter a user namespace; ' +
          "so a small single-threaded helper process lives inside the namespace and hands the tap device and the namespace's sockets to pasta over a UNIX domain socket.",
        'The sandbox (see Security under NOTES) is set up once the namespace is, not before creating it; so is the change to the `--runas` user (or nobody). ' +
          'There is no detached PID namespace, and Node.js\'s inspector thread, which blocks every signal, keeps the host\'s root and its capabilities (under the seccomp filter, asleep for good).',
        'Not implemented: `--conf-path` (pesto(1)) is refused. ' +
          'Router advertisements and DHCPv6 replies come from the `-g` gateway when it is a link-local address, else from a link-local address made from `-M` (the original uses the host\'s own link-local address then).',
        'Messages are plain lines on standard error or in the `--log-file` file, never sent to the system logger (but for the one of `--shared-engine` when its engine is gone); a full log file is emptied and started again rather than trimmed at its beginning.',
      ],
    },
  ],
  seeAlso: ['passt(1)', 'namespaces(7)', 'network_namespaces(7)', 'user_namespaces(7)', 'unshare(1)', 'ip(8)', 'slirp4netns(1)', 'podman(1)'],
};

const PASST_PAGE: PageText = {
  mode: 'passt',
  file: 'doc/passt.1',
  summary: 'connect a QEMU virtual machine to the host network, without privileges',
  synopsis: ['[*OPTION*]...'],
  description: [
    'passt connects a virtual machine run by QEMU to the network of the host, without privileges. ' +
      'QEMU (7.2 or later) connects to a UNIX domain socket of passt with `-netdev stream`; ' +
      "the Ethernet frames of the guest's network interface travel over that socket, each behind its length as a 4-byte big-endian number. " +
      'passt turns them into operations on ordinary sockets of the host: a TCP connection from the guest becomes a TCP connection from the host to the same address and port, ' +
      'and the same holds for UDP datagrams and ICMP echo requests. ' +
      'There is no NAT and no full TCP/IP stack in between.',
    'Small built-in services answer what the guest asks on the link: ARP and IPv6 neighbour solicitations for every address but its own, ' +
      "and DHCP, DHCPv6 and router advertisements, which give the guest the host's own addresses, prefix lengths and default gateway " +
      "(and the resolvers and search domains of the host), so the guest sees what the host sees, and servers it talks to see the host's address. " +
      'A guest that uses another address, set by hand, is served all the same (see NOTES).',
    'One guest at a time: while one is connected, another connection is closed at once. ' +
      'When the guest disconnects, the host side of its connections and flows is closed, and passt waits for the next guest, ' +
      'unless `--one-off` or `--fd` make it quit.',
    'By default passt runs in the background: it prints the socket path and the QEMU options to use, ' +
      '`-device virtio-net-pci,netdev=s -netdev stream,id=s,server=off,addr.type=unix,addr.path=`*PATH*, ' +
      'and returns once the socket listens (see `--foreground`). ' +
      'libvirt starts passt itself for an interface with `<backend type=\'passt\'/>`.',
    'TCP is adapted rather than terminated: data from a host socket is only consumed once the guest acknowledges it, ' +
      'and the acknowledgements and window sent to the guest reflect the state of the host socket. ' +
      "Frames to the guest carry complete checksums: the stream has no virtio-net header that could leave them to the guest's network card. " +
      'A stream cannot lose part of a frame: when the guest does not read fast enough, frames are held or dropped whole (TCP sends them again), never cut.',
    'This passt comes from node-passt, a reimplementation in TypeScript for Node.js of passt from the passt project. ' +
      "It accepts every option of the original, with the same meaning; the few it does not implement (live migration with `--repair-path`, pesto(1)'s `--conf-path`) are refused with an error saying so, or accepted without effect, as their descriptions say. See NOTES for the differences.",
  ],
  optionsIntro: optionsIntro(WORDS.passt),
  exitStatus: [
    'passt exits with status 0 when it is stopped with SIGTERM, SIGINT, SIGHUP or SIGQUIT, when the guest leaves with `--one-off` or `--fd`, ' +
      'and after `--help` and `--version`. ' +
      'It exits with status 1, after printing one line to standard error, when an option is invalid, ' +
      'when the socket cannot be set up (the path is in use, or all the default paths are), or when translation stops on an internal error.',
    "In the background mode, the first process exits with status 0 once the background copy listens, or with status 1 and the copy's error.",
  ],
  examples: [
    {
      title: 'Start passt, then QEMU',
      body: [
        {
          example: [
            '$ passt',
            'passt: UNIX domain socket bound at /tmp/passt_1.socket',
            'passt: You can now start qemu (>= 7.2):',
            'passt:     kvm ... -device virtio-net-pci,netdev=s -netdev stream,id=s,server=off,addr.type=unix,addr.path=/tmp/passt_1.socket',
            '$ qemu-system-x86_64 -m 1G -drive file=guest.qcow2 \\',
            '    -device virtio-net-pci,netdev=s -netdev stream,id=s,server=off,addr.type=unix,addr.path=/tmp/passt_1.socket',
          ],
        },
      ],
    },
    {
      title: 'In the foreground, on a socket of your own, until the guest shuts down',
      body: [{ example: ['$ passt -f -1 -s "$XDG_RUNTIME_DIR/vm.socket"'] }],
    },
    {
      title: "Reach the guest's SSH server through port 2222 of the host",
      body: [{ example: ['$ passt -t 2222:22', '$ ssh -p 2222 user@localhost'] }],
    },
    {
      title: "Capture the guest's traffic",
      body: [{ example: ['$ passt -f --pcap /tmp/guest.pcap', '$ tcpdump -nr /tmp/guest.pcap'] }],
    },
  ],
  notes: [
    addressMappingNote(WORDS.passt),
    {
      title: "The guest's address",
      body: [
        "DHCP and DHCPv6 hand out one address per IP version, the host's (or `--address`), with no lease to keep. " +
          'Traffic is translated whatever source address the guest uses: replies go back to the address each flow came from. ' +
          'Connections forwarded from the host (`-t`) go to the assigned address, or to a rule\'s target address.',
      ],
    },
    dnsNote(WORDS.passt),
    localModeNote(WORDS.passt),
    securityNote(WORDS.passt),
    {
      title: 'Differences from the original passt',
      body: [
        'Not supported yet: live migration of a vhost-user guest (TCP_REPAIR through passt-repair(1): `--repair-path` takes only `none`, and dirty-page logging is not offered), ' +
          'the qrap(1) wrapper for QEMU older than 7.2, and `--conf-path` (pesto(1)). ' +
          'In vhost-user mode the device offers TCP segmentation offload both ways (HOST_TSO4/6, GUEST_TSO4/6), which the original does not, and copies each frame once between its own buffers and the guest\'s, where the original peeks socket data straight into the guest\'s buffers; `--print-capabilities` prints on standard output, the original on standard error. ' +
          'The sandbox (see Security under NOTES) has no detached PID namespace, and an unprivileged passt gets no empty filesystem (the seccomp filter and Landlock keep it from opening files instead).',
        'The host side of a TCP connection keeps the host path\'s own MSS, where the original sets the MSS the guest advertised as the host socket\'s TCP_MAXSEG; the guest sees segments of its own MSS either way. ' +
          'Router advertisements and DHCPv6 replies come from the `-g` gateway when it is a link-local address, else from a link-local address made from `-M` (the original uses the host\'s own link-local address then). ' +
          "UDP is not forwarded on the port numbers `-t` forwards unless `-u` says so, as in the original's code, though its manual says otherwise.",
        'Messages are plain lines on standard error or in the `--log-file` file, never sent to the system logger; a full log file is emptied and started again rather than trimmed at its beginning.',
        'Node.js cannot fork once it runs, so the background copy is a new process started with the same arguments, ' +
          'which tells the first one over an inherited pipe when it listens; ' +
          'the socket file is removed when passt stops.',
      ],
    },
  ],
  seeAlso: ['pasta(1)', 'qemu(1)', 'tcpdump(8)', 'slirp4netns(1)'],
};

/** Every manual page, one entry each. */
export const MAN_PAGES: readonly PageText[] = [PASTA_PAGE, PASST_PAGE];

/** The options a front end documents, in the table's (upstream's manual's) order. */
export function optionsFor(mode: Mode): OptionSpec[] {
  return OPTIONS.filter((o) => o.modes.includes(mode));
}

/** The long description of an option for a front end, or undefined if there is none. */
export function describeOption(long: string, mode: Mode): Block[] | undefined {
  const entry = OPTION_DESCRIPTIONS[long];
  if (!entry) return undefined;
  const blocks = Array.isArray(entry) ? entry : entry[mode];
  return blocks && blocks.length > 0 ? blocks : undefined;
}

/** Options of the front end with no description: the page cannot be generated while any is missing. */
export function undescribedOptions(mode: Mode): string[] {
  return optionsFor(mode)
    .filter((o) => !describeOption(o.long, mode))
    .map((o) => o.long);
}

/** Descriptions of options that are not in the table (left behind when an option was renamed or removed). */
export function strayDescriptions(): string[] {
  const known = new Set(OPTIONS.map((o) => o.long));
  return Object.keys(OPTION_DESCRIPTIONS).filter((name) => !known.has(name));
}

// ---- roff -------------------------------------------------------------------

/** Escape plain text for roff: a backslash is printed with \e. */
function escapeText(text: string): string {
  return text.replace(/\\/g, '\\e');
}

/** A literal (option, command, file): bold, with real minus signs. */
function literal(text: string): string {
  return `\\fB${escapeText(text).replace(/-/g, '\\-')}\\fR`;
}

/** Convert the prose marks (`literal`, *PLACEHOLDER*) to roff font changes. */
function inline(text: string): string {
  let out = '';
  const re = /`([^`]+)`|\*([^*\s][^*]*)\*/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out += escapeText(text.slice(last, m.index));
    out += m[1] !== undefined ? literal(m[1]) : `\\fI${escapeText(m[2])}\\fR`;
    last = re.lastIndex;
  }
  return out + escapeText(text.slice(last));
}

/** A source line must not start with a control character (a dot or an apostrophe). */
function guard(line: string): string {
  return /^[.']/.test(line) ? `\\&${line}` : line;
}

/** A paragraph as roff source: one sentence per line, as man(7) asks. */
function sourceLines(text: string): string[] {
  return inline(text)
    .split(/(?<=[.!?])\s+/)
    .map(guard);
}

/**
 * Blocks as roff source. In a section, each block starts a paragraph (.PP),
 * except the first right after the heading; in a tagged item (.TP), the first
 * block follows the tag and later ones are indented paragraphs (.IP).
 */
function renderBlocks(blocks: Block[], where: 'section' | 'item'): string[] {
  const lines: string[] = [];
  blocks.forEach((block, i) => {
    if (i > 0) lines.push(where === 'item' ? '.IP' : '.PP');
    if (typeof block === 'string') {
      lines.push(...sourceLines(block));
    } else {
      // In a section, indented by hand; in an item, at the item's own indentation.
      const example = block.example.map((line) => guard(escapeText(line).replace(/-/g, '\\-')));
      lines.push(...(where === 'item' ? ['.nf', ...example, '.fi'] : ['.RS 4', '.nf', ...example, '.fi', '.RE']));
    }
  });
  return lines;
}

/** The tag line of an option: "-d, --debug" or "-l, --log-file PATH". */
function optionTag(o: OptionSpec): string {
  const names = (o.short ? `${literal(`-${o.short}`)}, ` : '') + literal(`--${o.long}`);
  return o.valueName ? `${names} \\fI${o.valueName}\\fR` : names;
}

/**
 * The man(7) source of a page. Deterministic (no date), so that the committed
 * file can be compared with a fresh rendering; `version` goes in the footer.
 */
export function renderManPage(page: PageText, version: string): string {
  const missing = undescribedOptions(page.mode);
  if (missing.length > 0) {
    throw new Error(`${page.file}: no description in src/manual.ts for --${missing.join(', --')}`);
  }
  const NAME = page.mode.toUpperCase();
  const lines: string[] = [
    `.\\" ${page.file}: generated by scripts/gen-man.js from the option table in`,
    '.\\" src/options.ts and the prose in src/manual.ts. Do not edit: change those.',
    `.TH ${NAME} 1 "" "node\\-passt ${version}" "User Commands"`,
    '.SH NAME',
    `${page.mode} \\- ${inline(page.summary)}`,
    '.SH SYNOPSIS',
  ];
  page.synopsis.forEach((usage, i) => {
    if (i > 0) lines.push('.br');
    lines.push(`.B ${page.mode}`, inline(usage));
  });
  lines.push('.SH DESCRIPTION', ...renderBlocks(page.description, 'section'));
  lines.push('.SH OPTIONS', ...renderBlocks(page.optionsIntro ?? [], 'section'));
  for (const o of optionsFor(page.mode)) {
    lines.push('.TP', optionTag(o), ...renderBlocks(describeOption(o.long, page.mode)!, 'item'));
  }
  lines.push('.SH "EXIT STATUS"', ...renderBlocks(page.exitStatus, 'section'));
  for (const [title, subsections] of [['EXAMPLES', page.examples], ['NOTES', page.notes]] as const) {
    lines.push(`.SH ${title}`);
    for (const s of subsections) lines.push(`.SS "${escapeText(s.title)}"`, ...renderBlocks(s.body, 'section'));
  }
  lines.push('.SH "SEE ALSO"', page.seeAlso.map((ref) => ref.replace(/^([^(]+)\((\w+)\)$/, '.BR $1 ($2)')).join(',\n'));
  lines.push('.PP', 'The original passt and pasta: https://passt.top/');
  return lines.join('\n') + '\n';
}
