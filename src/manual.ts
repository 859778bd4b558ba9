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
  exitStatus: Block[];
  examples: Subsection[];
  notes: Subsection[];
  seeAlso: string[];
}

/**
 * A longer description of each option, by long name, in our own words
 * (pasta(1) is the reference for behaviour). A plain list of blocks applies to
 * every front end; an object gives per-front-end text.
 */
export const OPTION_DESCRIPTIONS: Readonly<Record<string, Block[] | Partial<Record<Mode, Block[]>>>> = {
  debug: ['Be verbose: print debugging messages as well as informational ones, among them the configuration derived from the host and the options.'],
  trace: [
    'Print even more than `--debug`: a line for single packets as they are handled. ' +
      'This slows translation down noticeably; it is meant for finding problems. Implies `--debug`.',
  ],
  quiet: ['Print only warnings and errors, no informational messages. Cannot be combined with `--debug` or `--trace`.'],
  foreground: {
    pasta: [
      'Stay in the foreground. ' +
        'The original forks into the background when it attaches to an existing namespace. ' +
        'This version always runs a command in a namespace of its own and stays its parent until the command exits, ' +
        'so it is always in the foreground: the option is accepted for compatibility and changes nothing.',
    ],
    passt: [
      'Stay in the foreground, logging to standard error. ' +
        "By default passt starts a copy of itself in the background, detached, with its standard streams on /dev/null; the first process waits until the copy listens on its socket, prints the socket path and the QEMU options to use, and exits with status 0 (or 1, with the copy's error).",
    ],
  },
  stderr: [
    'Log to standard error. ' +
      'That is where messages go anyway unless `--log-file` is given, so the option is accepted for compatibility; ' +
      'this program never logs to the system logger.',
  ],
  'log-file': {
    pasta: [
      'Write log messages to the file *PATH* instead of standard error, each line preceded by a timestamp. ' +
        'The file is created with mode 0600 if it does not exist, and emptied when pasta starts.',
    ],
    passt: [
      'Write log messages to the file *PATH* instead of standard error, each line preceded by a timestamp. ' +
        'The file is created with mode 0600 if it does not exist, and emptied when passt starts.',
    ],
  },
  'log-size': [
    'Keep the log file under *BYTES* bytes: when the next message would not fit, the file is emptied and logging starts again at its beginning. ' +
      'At least 4096; the default is 1048576 (1 MiB).',
  ],
  help: ['Print a summary of the options to standard output and exit with status 0.'],
  version: ['Print the program name and the version of the node-passt package, and exit with status 0.'],
  pcap: {
    pasta: [
      'Capture every Ethernet frame through the tap device, both ways, in *FILE*, in the pcap format that tcpdump(8) and Wireshark read. ' +
        'The file is created with mode 0600, or emptied. ' +
        'Frames to the namespace may carry partial TCP and UDP checksums, completed by the kernel after the capture (checksum offload). ' +
        'Capturing costs a copy and a write per batch of frames; a failing write stops it with one message, never the translation.',
    ],
    passt: [
      'Capture every Ethernet frame to and from the guest in *FILE*, in the pcap format that tcpdump(8) and Wireshark read. ' +
        'The file is created with mode 0600, or emptied; it spans every guest that connects while passt runs. ' +
        'Capturing costs a copy and a write per batch of frames; a failing write stops it with one message, never the translation.',
    ],
  },
  mtu: {
    pasta: [
      'Use *MTU* bytes as the maximum transmission unit of the namespace interface: ' +
        '`--config-net` sets it on the link, DHCP and router advertisements announce it, and pasta never sends the namespace a larger packet. ' +
        'From 68 to 65520; the default, 65520, is the largest Ethernet payload that fits in a 64 KiB frame, rounded down to a multiple of eight. ' +
        'IPv6 needs at least 1280: below that, IPv6 is turned off.',
    ],
    passt: [
      'Announce an MTU of *MTU* bytes to the guest, with DHCP (option 26) and router advertisements (the MTU option). ' +
        'From 68 to 65520. ' +
        'The default, 65520, lets a guest that accepts it use the largest frames (QEMU\'s virtio-net does). ' +
        'IPv6 needs at least 1280: below that, IPv6 is turned off.',
    ],
  },
  address: {
    pasta: [
      "Give the namespace the IPv4 or IPv6 address *ADDR* instead of the host's. " +
        'May be given twice, once for each IP version. ' +
        'By default the namespace gets the first global address of the host interface that holds the first default route of that IP version (see `--interface`). ' +
        'Unspecified, loopback, multicast, broadcast and (for IPv6) link-local addresses are refused.',
    ],
    passt: [
      "Give the guest the IPv4 or IPv6 address *ADDR* instead of the host's: DHCP assigns an IPv4 one, DHCPv6 an IPv6 one, and router advertisements carry the /64 prefix of an IPv6 one. " +
        'May be given twice, once for each IP version. ' +
        'By default the guest gets the first global address of the host interface that holds the first default route of that IP version (see `--interface`). ' +
        'Unspecified, loopback, multicast, broadcast and (for IPv6) link-local addresses are refused.',
    ],
  },
  netmask: {
    pasta: [
      "Set the prefix length of the namespace's IPv4 address, written in dot-decimal form (255.255.255.0) or as a number of bits (24). " +
        "By default it is the prefix length of the host address whose subnet holds the namespace's address; " +
        "if there is none, that of the address's historical class (8, 16 or 24 bits). " +
        'An IPv6 address keeps the prefix length it has on the host, else 64.',
    ],
    passt: [
      "Set the prefix length of the guest's IPv4 address, the subnet mask DHCP sends (option 1), written in dot-decimal form (255.255.255.0) or as a number of bits (24). " +
        "By default it is the prefix length of the host address whose subnet holds the guest's address; if there is none, that of the address's historical class (8, 16 or 24 bits).",
    ],
  },
  gateway: {
    pasta: [
      'Use *ADDR* as the default gateway of the namespace for its IP version. ' +
        'May be given twice, once for each IP version. ' +
        "By default, the gateway of the host's default route through the interface the addresses come from.",
      'The gateway address is also how the namespace reaches the host itself: see `--no-map-gw` and NOTES.',
    ],
    passt: [
      'Use *ADDR* as the default gateway of the guest for its IP version (DHCP option 3, for IPv4). ' +
        'May be given twice, once for each IP version. ' +
        "By default, the gateway of the host's default route through the interface the addresses come from.",
      'The gateway address is also how the guest reaches the host itself: see `--no-map-gw` and NOTES.',
    ],
  },
  interface: [
    'Take the addresses, prefix lengths and gateways from the host interface *NAME* ' +
      'instead of from the interfaces that hold the first IPv4 and the first IPv6 default route. ' +
      'The interface must exist on the host.',
  ],
  dns: [
    'Use *ADDR* (IPv4 or IPv6) as a DNS resolver instead of the `nameserver` lines of `/etc/resolv.conf`. ' +
      'Repeat the option to give several; `-D none` means no resolvers at all. ' +
      'A `--dns-forward` address leads to the first of these of its own IP version (or to the first of any version), unless `--dns-host` says otherwise.',
  ],
  'dns-forward': {
    pasta: [
      'Make *ADDR*, as the namespace sees it, a DNS forwarder: UDP and TCP traffic to its port 53 goes to the resolver on the host side ' +
        '(`--dns-host`, or else the first resolver from `-D` or `/etc/resolv.conf`), and the answers come back from *ADDR*. ' +
        'May be given twice, once for each IP version; the resolver may be of the other version. ' +
        'When the host has no resolver, pasta warns and queries to *ADDR* go unanswered.',
      "Podman names 169.254.1.1 here and writes it into the container's `resolv.conf`.",
    ],
    passt: [
      'Make *ADDR*, as the guest sees it, a DNS forwarder: UDP and TCP traffic to its port 53 goes to the resolver on the host side (`--dns-host`, or else the first resolver from `-D` or `/etc/resolv.conf`), and the answers come back from *ADDR*. ' +
        'May be given twice, once for each IP version; the resolver may be of the other version. ' +
        'When the host has no resolver, passt warns and queries to *ADDR* go unanswered.',
    ],
  },
  'dns-host': {
    pasta: [
      'Send what the namespace sends to a `--dns-forward` address to *ADDR* (IPv4 or IPv6, an address as the host sees it) instead of to the first resolver. ' +
        'Given at most once.',
    ],
    passt: [
      'Send what the guest sends to a `--dns-forward` address to *ADDR* (IPv4 or IPv6, an address as the host sees it) instead of to the first resolver. ' +
        'Given at most once.',
    ],
  },
  search: {
    pasta: [
      'Use the space-separated domains of *LIST* as the DNS search list instead of the `search` or `domain` line of `/etc/resolv.conf`; ' +
        '`--search none` gives an empty list. ' +
        'The list is for the address-configuration services (DHCP, DHCPv6, router advertisements), which send it only with `--dhcp-search`.',
    ],
    passt: [
      'Use the space-separated domains of *LIST* as the DNS search list instead of the `search` or `domain` line of `/etc/resolv.conf`; `--search none` gives an empty list. ' +
        'DHCP (option 119), DHCPv6 (option 24) and router advertisements (DNSSL) send it to the guest, unless `--no-dhcp-search`.',
    ],
  },
  'tcp-ports': {
    pasta: [
      'Forward TCP ports of the host into the namespace. *SPEC* is `none`, `auto`, `all`, or a comma-separated list of ports (`22`), ranges (`1000-2000`) ' +
        'and mappings to other ports in the namespace (`8080:80`, `1000-1009:2000-2009`), optionally for one address only (`192.0.2.1/22`, `[2001:db8::1]/8080`), ' +
        'with exclusions after a tilde (`2000-5000,~3000-3010`; exclusions alone forward every port but those and the ephemeral ones). ' +
        'The option may be repeated; the ports of all its values add up, and a port given twice is an error.',
      'pasta listens on each port on the host. A connection from another host reaches the namespace from that host\'s own address and port, so servers in the namespace see their real clients; ' +
        "a connection from the host itself (its loopback or its own address) comes from the gateway address, which the namespace can answer. " +
        'An explicit port that cannot be bound (already in use, or below `net.ipv4.ip_unprivileged_port_start` without privileges) is an error. ' +
        "A connection from the host's loopback is spliced socket to socket (splice(2)) to the same port on the namespace's loopback, without going through the tap.",
      '`auto` (the default) forwards, on every address of the host, each port that something in the namespace listens on, following `/proc/net/tcp` and `tcp6` of the namespace about once a second; ' +
        "ports pasta itself holds there (its `-T` listeners) are left out, and a port that is taken on the host is warned about once and tried again while it stays bound. " +
        '`all` forwards every port that is not in the ephemeral range, best effort. A port bound to an interface (`%eth0/22`, `192.0.2.1%eth0/22`) takes only traffic that arrives through it (SO_BINDTODEVICE).',
    ],
    passt: [
      'Forward TCP ports of the host to the guest. ' +
        '*SPEC* is `none`, or a comma-separated list of ports (`22`), ranges (`1000-2000`) and mappings to other ports of the guest (`2222:22`, `1000-1009:2000-2009`), optionally for one address only (`192.0.2.1/22`, `[2001:db8::1]/8080`), with exclusions after a tilde (`2000-5000,~3000-3010`; exclusions alone forward every port but those and the ephemeral ones). ' +
        'The option may be repeated; the ports of all its values add up, and a port given twice is an error.',
      'passt listens on each port on the host. ' +
        "A connection from another host reaches the guest from that host's own address and port; a connection from the host itself (its loopback or its own address) comes from the gateway address, which the guest can answer. " +
        'While no guest is connected, such a connection is reset once passt gives up waiting for the guest to answer. ' +
        'An explicit port that cannot be bound (already in use, or below `net.ipv4.ip_unprivileged_port_start` without privileges) is an error. ' +
        'A port bound to an interface (`%eth0/22`) takes only traffic that arrives through it (SO_BINDTODEVICE).',
    ],
  },
  'udp-ports': {
    pasta: [
      'Forward UDP ports of the host into the namespace. *SPEC* is as for `-t`. ' +
        "Datagrams from another host reach the namespace from that host's own address and port, and the answers leave from the port they were sent to; " +
        "datagrams from the host's loopback are relayed socket to socket to the namespace's loopback, in batches (recvmmsg(2), sendmmsg(2)). " +
        'Flows idle for 180 seconds are forgotten.',
      'Unless `-u` is given, the UDP ports with the numbers of the ports `-t` forwards are forwarded too, without translation and best effort; ' +
        'with `-t` and `-u` both `auto` (the default), the UDP ports follow both the bound UDP ports and the bound TCP ports of the namespace (for protocols that set up UDP over a TCP connection, such as iperf3).',
    ],
    passt: [
      'Forward UDP ports of the host to the guest. *SPEC* is as for `-t`. ' +
        "Datagrams from another host reach the guest from that host's own address and port; datagrams from the host itself come from the gateway address. " +
        'Unless `-u` is given, the UDP ports with the numbers of the ports `-t` forwards are forwarded too, without translation and best effort.',
    ],
  },
  'tcp-ns': [
    "Forward TCP ports of the namespace's loopback to the host's loopback: a client in the namespace connecting to 127.0.0.1 or ::1 on a forwarded port reaches that port (or the mapped one) on the host's loopback. " +
      '*SPEC* is `none`, `auto` (the default) or ports, ranges, mappings and exclusions as for `-t`, without addresses. ' +
      "Connections are relayed socket to socket with splice(2). `auto` follows the ports bound on the host (`/proc/net/tcp` and `tcp6`) about once a second, leaving out pasta's own `-t` listeners.",
  ],
  'udp-ns': [
    "Forward UDP ports of the namespace's loopback to the host's loopback, as `-T` does for TCP; datagrams are relayed socket to socket in batches. " +
      '*SPEC* is as for `-T`; `auto` (the default) follows the UDP ports bound on the host, and with `-T auto` its TCP ports too.',
  ],
  pid: {
    pasta: [
      'Write the PID of the pasta process that keeps running to *FILE*, once the namespace is configured: ' +
        'with `--netns` or a *PID*, the process left in the background; with a command, pasta itself.',
    ],
    passt: [
      'Write the PID of the passt process that keeps running to *FILE* once its socket listens: the copy left in the background, or passt itself with `-f`.',
    ],
  },
  'map-host-loopback': {
    pasta: [
      "Make *ADDR* (IPv4 or IPv6), as the namespace sees it, stand for the host's loopback: connections and packets to it go to 127.0.0.1 or ::1 on the host, " +
        "and forwarded connections from the host's loopback appear to come from it. Without this option the gateway address plays that part (unless `--no-map-gw`).",
    ],
    passt: [
      "Make *ADDR* (IPv4 or IPv6), as the guest sees it, stand for the host's loopback: connections and packets to it go to 127.0.0.1 or ::1 on the host, and forwarded connections from the host's loopback appear to come from it. " +
        'Without this option the gateway address plays that part (unless `--no-map-gw`).',
    ],
  },
  'map-guest-addr': {
    pasta: [
      "Make *ADDR* (IPv4 or IPv6), as the namespace sees it, stand for the host's own address (the one the namespace has too, so it cannot be reached by its own name): " +
        'traffic to *ADDR* goes to that address on the host, and forwarded connections from it appear to come from *ADDR*. ' +
        'Podman names 169.254.1.2 here for `host.containers.internal`.',
    ],
    passt: [
      "Make *ADDR* (IPv4 or IPv6), as the guest sees it, stand for the host's own address (the one the guest has too, so it cannot be reached by its own name): traffic to *ADDR* goes to that address on the host, and forwarded connections from it appear to come from *ADDR*.",
    ],
  },
  userns: [
    'When attaching (`--netns` or a *PID*), join the user namespace *PATH* before the network namespace. ' +
      "By default, the user namespace of the *PID*; none with `--netns`, which suits a caller that runs pasta inside the namespace's user namespace already, as Podman does.",
  ],
  netns: [
    'Attach to the network namespace *PATH* (a bind-mounted namespace file or a `/proc/`*PID*`/ns/net` link); a *PATH* without a slash is a name in `/run/netns`, as ip-netns(8) names them; ' +
      'instead of creating one; no command is run. ' +
      'The first pasta process returns once the namespace is configured (exit status 0, or 1 with the error), ' +
      'leaving the translator running in the background with its standard streams on /dev/null (use `-f` to stay in the foreground). ' +
      'It quits by itself when *PATH* is deleted (see `--no-netns-quit`), or on SIGTERM or SIGINT.',
  ],
  'netns-only': ['When attaching to a *PID*, join only its network namespace, not its user namespace.'],
  'no-netns-quit': ['Keep running when the `--netns` file is deleted.'],
  'no-dhcp-dns': ['Do not send DNS resolvers with DHCP (option 6), DHCPv6 (option 23) and router advertisements (RDNSS).'],
  'dhcp-dns': [
    'Send the DNS resolvers (from `-D` or `/etc/resolv.conf`) with DHCP (option 6), DHCPv6 (option 23) and router advertisements (RDNSS). ' +
      'By default pasta does not: a namespace usually shares the host\'s `/etc/resolv.conf`.',
  ],
  'no-dhcp-search': ['Do not send the DNS search list with DHCP (option 119), DHCPv6 (option 24) and router advertisements (DNSSL).'],
  'dhcp-search': ['Send the DNS search list with DHCP (option 119), DHCPv6 (option 24) and router advertisements (DNSSL). By default pasta does not.'],
  'no-dhcp': {
    pasta: [
      'Do not answer DHCP requests. By default a DHCP client in the namespace (for example `busybox udhcpc`, when pasta runs without `--config-net`) ' +
        "gets the host's address, prefix length and gateway, the MTU, and resolvers and search domains as `--dhcp-dns` and `--dhcp-search` say.",
    ],
    passt: [
      'Do not answer DHCP requests. ' +
        "By default the guest's DHCP client gets the host's address (or `--address`), prefix length and gateway, the MTU, and the resolvers and search domains unless `--no-dhcp-dns` or `--no-dhcp-search`.",
    ],
  },
  'no-ndp': ['Do not answer neighbour and router solicitations: IPv6 cannot resolve the gateway, and no router advertisements are sent.'],
  'no-dhcpv6': ["Do not answer DHCPv6 requests (by default a DHCPv6 client gets the host's IPv6 address)."],
  'no-ra': {
    pasta: [
      'Send no router advertisements, solicited or periodic. By default the namespace can configure IPv6 by SLAAC from them (prefix, MTU); ' +
        'with `--config-net` none are sent, since pasta configures the namespace itself.',
    ],
    passt: [
      'Send no router advertisements, solicited or periodic. ' +
        'By default the guest can configure IPv6 from them (the prefix of its address, the MTU).',
    ],
  },
  'no-tcp': {
    pasta: ['Do not translate TCP: TCP segments from the namespace are dropped without an answer.'],
    passt: [
      'Do not translate TCP: TCP segments from the guest are dropped without an answer.',
    ],
  },
  'no-udp': {
    pasta: ['Do not translate UDP: UDP datagrams from the namespace are dropped without an answer.'],
    passt: [
      'Do not translate UDP: UDP datagrams from the guest are dropped without an answer (DHCP and DHCPv6 are still answered).',
    ],
  },
  'no-icmp': {
    pasta: ['Do not translate ICMP and ICMPv6 echo: echo requests (ping) from the namespace are dropped without an answer.'],
    passt: [
      'Do not translate ICMP and ICMPv6 echo: echo requests (ping) from the guest are dropped without an answer.',
    ],
  },
  'no-map-gw': [
    'Do not treat the gateway address as the host: connections and packets to it go to that address, as to any other. ' +
      "By default they go to the host's loopback address instead (see NOTES).",
  ],
  'ipv4-only': {
    pasta: [
      'Use IPv4 only: the namespace gets no IPv6 configuration and IPv6 packets from it are ignored. ' +
        'By default each IP version is enabled when the host has an address and a default route for it. ' +
        'pasta fails if the host has no usable IPv4 address and default route.',
    ],
    passt: [
      'Use IPv4 only: the guest gets no IPv6 configuration and IPv6 packets from it are ignored. ' +
        'By default each IP version is enabled when the host has an address and a default route for it. passt fails if the host has no usable IPv4 address and default route.',
    ],
  },
  'ipv6-only': {
    pasta: [
      'Use IPv6 only: the namespace gets no IPv4 configuration and IPv4 packets from it are ignored. ' +
        'pasta fails if the host has no usable IPv6 address and default route, or if the MTU is below 1280.',
    ],
    passt: [
      'Use IPv6 only: the guest gets no IPv4 configuration and IPv4 packets from it are ignored. passt fails if the host has no usable IPv6 address and default route, or if the MTU is below 1280.',
    ],
  },
  socket: [
    'Listen for QEMU on the UNIX domain socket *PATH* (at most 107 bytes). ' +
      'passt refuses a path where something accepts connections already, and replaces a stale socket file left there by an earlier run. ' +
      'By default it takes the first of `/tmp/passt_1.socket` to `/tmp/passt_64.socket` that nobody listens on. ' +
      'The socket file is removed when passt stops (not when it is killed with SIGKILL: the next passt then replaces it).',
  ],
  fd: [
    'Use the connected stream socket *FD*, inherited from the parent process, instead of listening: the guest is at its other end. ' +
      'This lets the parent (libvirt, say) open the socket with privileges or an address family of its own. ' +
      'passt quits with status 0 when the socket is closed, as with `--one-off`. ' +
      '*FD* may be 0 (standard input) or 3 and above; it cannot be combined with `--socket`.',
  ],
  'one-off': ['Quit with status 0 once the first guest disconnects (or its connection fails), instead of waiting for the next one.'],
  'ns-ifname': [
    'Name the tap interface created in the namespace *NAME*: at most 15 characters, with no spaces, slashes or colons. ' +
      'By default it takes the name of the host interface the addresses come from, or tap0 if there is none.',
  ],
  'config-net': [
    'Configure the namespace before the command starts: bring the tap interface up with the MTU, give it the addresses and prefix lengths, ' +
      'and add default routes through the gateways (on-link, so a gateway outside the prefix works too). ' +
      'Without this option only the loopback interface is brought up, and the tap interface is left down and unconfigured for the command to set up.',
  ],
};

const PASTA_PAGE: PageText = {
  mode: 'pasta',
  file: 'doc/pasta.1',
  summary: 'connect a network namespace to the host network, without privileges',
  synopsis: ['[*OPTION*]... [`--`] [*COMMAND* [*ARG*]...]'],
  description: [
    "pasta runs *COMMAND* (by default the user's `$SHELL`, else `/bin/sh`) in a new network namespace, and connects that namespace to the network of the host. " +
      'Run by an ordinary user, it also creates a new user namespace in which that user is root, so no privileges are needed. ' +
      'pasta stays in the foreground while the command runs and exits with its status, leaving nothing behind.',
    "A tap device inside the namespace carries the namespace's Ethernet frames to pasta, which turns them into operations on ordinary sockets of the host: " +
      'a TCP connection from the namespace becomes a TCP connection from the host to the same address and port, and the same holds for UDP datagrams and ICMP echo requests. ' +
      'There is no NAT and no full TCP/IP stack in between. ' +
      "With the default options the namespace gets the host's own addresses, prefix lengths and default routes, so it sees what the host sees, and servers it talks to see the host's address.",
    'TCP is adapted rather than terminated: data from a host socket is only consumed once the namespace acknowledges it, ' +
      'and the acknowledgements and window sent to the namespace reflect the state of the host socket. ' +
      "pasta answers ARP requests and IPv6 neighbour solicitations from the namespace for every address but the namespace's own.",
    'This pasta comes from node-passt, a reimplementation in TypeScript for Node.js of pasta from the passt project. ' +
      "It accepts the original's options, as far as it implements them, with the same meaning; see NOTES for the differences.",
  ],
  exitStatus: [
    'pasta exits with the exit status of *COMMAND*, or 128 plus the signal number if the command was killed by a signal. ' +
      'It exits with status 0 after `--help` and `--version`, and with status 1, after printing one line to standard error, ' +
      'when an option is invalid, when the namespace cannot be set up, or when translation stops on an internal error (the command is then killed).',
    'Signals that would end pasta (SIGTERM, SIGHUP, and SIGINT and SIGQUIT when not on a terminal) are passed on to the command instead.',
  ],
  examples: [
    {
      title: 'A shell in a connected namespace',
      body: [
        { example: ['$ pasta --config-net', '# ip -brief address show', '# curl -sI https://example.org/', '# exit'] },
        "The shell runs as root in a new user and network namespace, with the host's addresses on an interface named like the host's upstream interface.",
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
      title: 'From the package tarball, without a global install',
      body: [{ example: ['$ npm install ./node-passt-*.tgz', '$ npx pasta --config-net'] }],
    },
  ],
  notes: [
    {
      title: 'Address mapping of the gateway',
      body: [
        "Inside the namespace, the host's own address is the namespace's own address, so the namespace cannot reach the host through it. " +
          "Instead, the gateway address stands for the host: connections and packets from the namespace to the default gateway's IPv4 or IPv6 address " +
          "go to the host's loopback address of that version (127.0.0.1 or ::1), " +
          "so services that listen only on the host's loopback can be reached from the namespace. " +
          'The real gateway is then not reachable at its own address from the namespace (it still routes everything else).',
        '`--no-map-gw` turns this off, and traffic to the gateway address goes to the gateway. ' +
          'A `--dns-forward` address is mapped in the same way, to the resolver, for port 53 only. ' +
          'Every other destination is used as it is.',
      ],
    },
    {
      title: 'Differences from the original pasta',
      body: [
        '`auto` rescans the UDP ports every second too, where pasta(1) reads them only at start.',
        'Node.js runs several threads before any JavaScript starts, and a multithreaded process cannot enter a user namespace; ' +
          "so a small single-threaded helper process lives inside the namespace and hands the tap device and the namespace's sockets to pasta over a UNIX domain socket.",
        'Messages are plain lines on standard error or in the `--log-file` file, never sent to the system logger.',
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
      '(and the resolvers and search domains of the host), so the guest sees what the host sees, and servers it talks to see the host\'s address. ' +
      'A guest that uses another address, set by hand, is served all the same (see NOTES).',
    'One guest at a time: while one is connected, another connection is closed at once. ' +
      'When the guest disconnects, the host side of its connections and flows is closed, and passt waits for the next guest, ' +
      'unless `--one-off` or `--fd` make it quit.',
    'By default passt runs in the background: it prints the socket path and the QEMU options to use, ' +
      '`-device virtio-net-pci,netdev=s -netdev stream,id=s,server=off,addr.type=unix,addr.path=`*PATH*, ' +
      'and returns once the socket listens (see `--foreground`).',
    'TCP is adapted rather than terminated: data from a host socket is only consumed once the guest acknowledges it, ' +
      'and the acknowledgements and window sent to the guest reflect the state of the host socket. ' +
      'Frames to the guest carry complete checksums: the stream has no virtio-net header that could leave them to the guest\'s network card. ' +
      'A stream cannot lose part of a frame: when the guest does not read fast enough, frames are held or dropped whole (TCP sends them again), never cut.',
    'This passt comes from node-passt, a reimplementation in TypeScript for Node.js of passt from the passt project. ' +
      "It accepts the original's options, as far as it implements them, with the same meaning; see NOTES for the differences.",
  ],
  exitStatus: [
    'passt exits with status 0 when it is stopped with SIGTERM, SIGINT, SIGHUP or SIGQUIT, when the guest leaves with `--one-off` or `--fd`, ' +
      'and after `--help` and `--version`. ' +
      'It exits with status 1, after printing one line to standard error, when an option is invalid, ' +
      'when the socket cannot be set up (the path is in use, or all the default paths are), or when translation stops on an internal error.',
    'In the background mode, the first process exits with status 0 once the background copy listens, or with status 1 and the copy\'s error.',
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
    {
      title: 'Address mapping of the gateway',
      body: [
        "The guest has the host's own address, so it cannot reach the host through it. " +
          "Instead, the gateway address stands for the host: connections and packets from the guest to the default gateway's IPv4 or IPv6 address " +
          "go to the host's loopback address of that version (127.0.0.1 or ::1), " +
          "so services that listen only on the host's loopback can be reached from the guest. " +
          'The real gateway is then not reachable at its own address from the guest (it still routes everything else).',
        '`--no-map-gw` turns this off, and traffic to the gateway address goes to the gateway. ' +
          'A `--dns-forward` address is mapped in the same way, to the resolver, for port 53 only. ' +
          'Every other destination is used as it is.',
      ],
    },
    {
      title: "The guest's address",
      body: [
        "DHCP and DHCPv6 hand out one address per IP version, the host's (or `--address`), with no lease to keep. " +
          'Traffic is translated whatever source address the guest uses: replies go back to the address each flow came from. ' +
          'Connections forwarded from the host (`-t`) go to the assigned address.',
      ],
    },
    {
      title: 'Differences from the original passt',
      body: [
        'Not supported yet: vhost-user, the qrap(1) wrapper for QEMU older than 7.2, and `--runas` (passt does not change its user). ' +
          'Messages are plain lines on standard error or in the `--log-file` file, never sent to the system logger.',
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

/** The options a front end accepts, in the table's (pasta(1)'s) order. */
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
      lines.push('.RS 4', '.nf');
      for (const line of block.example) lines.push(guard(escapeText(line).replace(/-/g, '\\-')));
      lines.push('.fi', '.RE');
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
  lines.push('.SH OPTIONS');
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
