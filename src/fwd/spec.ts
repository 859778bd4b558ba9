/**
 * Port-forwarding specifications: the grammar of pasta(1)/passt(1)'s -t, -u,
 * -T and -U options, and the lookup tables the forwarders consult.
 *
 * Theory of operation: as upstream, each option's values become rules in a
 * table, one value at a time, in command-line order (the last spec does not
 * replace earlier ones: they add up, and a rule that overlaps an earlier one
 * is a conflict). A value is `none`, or
 *
 *     [BINDING/]CHUNK[,CHUNK]...
 *     BINDING = ADDR[%IFNAME] | [*][%IFNAME]       (ADDR may be in brackets)
 *     CHUNK   = PORTS[:[TOADDR/]PORTS] | PORTS:TOADDR   forward, optionally translated
 *             | ~PORTS                                  exclude, within this value
 *             | all[:TOADDR]                            every non-ephemeral port
 *             | auto                                    pasta: only while bound on the other side
 *     PORTS   = PORT[-PORT]
 *
 * A value whose chunks include no port range ("all", "auto", exclusions
 * only, or nothing but a binding) means every port but the excluded and the
 * kernel's ephemeral ones, best effort (a port that cannot be bound is
 * skipped, upstream's FWD_WEAK). `auto` marks every rule of its value as
 * scanned (upstream's FWD_SCAN): such a port is listened on only while the
 * same port number is bound on the other side (fwd/auto.ts). `none` adds
 * nothing, and is an error after rules of its option (upstream: "-t none
 * conflicts with previous options"); pasta's default `auto` applies only
 * when an option is not given at all.
 *
 * Every range becomes one or more {@link ForwardRule}s: a contiguous range
 * of listening ports with a fixed offset to the target ports, split around
 * exclusions, so a forwarder opens one socket per port of each rule. Rules
 * of one option must not overlap on addresses that could both receive a
 * packet (a rule without an address overlaps everything, an unspecified
 * address overlaps its family), as upstream's conflict check does; an
 * overlap is a usage error in upstream's words.
 *
 * To answer "where does port P on address A go?" in O(1), rules are indexed
 * per distinct listening address ("any", 0.0.0.0, ::, or a specific
 * address): a 65536-entry Int32Array holding, for each port, the index of
 * the rule forwarding it (or -1), built while parsing (it is also what
 * detects overlaps) and kept out of the public object, in a WeakMap.
 *
 * Everything here is pure: no I/O and no native code. The host facts the
 * grammar depends on (the ephemeral port range, which IP versions and
 * protocols are enabled) are passed in by the caller. Every error is a
 * {@link UsageError} on one line, in upstream's words where it has them.
 */
import { formatIP, isMulticast, isUnspecified, parseIPv4, parseIPv6 } from '../inet.js';
import { UsageError } from '../options.js';
import { M } from '../messages.js';

/** The four port-forwarding options of pasta(1) (passt(1) has -t and -u only). */
export type PortOption = '-t' | '-u' | '-T' | '-U';

/**
 * A summary of what an option forwards: `none` (no rules), `auto` (every rule
 * scanned), `ports` (static rules, some perhaps scanned).
 */
export type ForwardMode = 'none' | 'auto' | 'ports';

/** An inclusive range of port numbers. */
export interface PortRange {
  readonly first: number;
  readonly last: number;
}

/**
 * A contiguous range of listening ports forwarded to a range of the same
 * length on the other side, starting at `targetFrom`. The listening side is
 * the host for -t/-u and the namespace for -T/-U.
 */
export interface ForwardRule {
  /** Address to bind, 4 or 16 bytes; null for every address of both families. Do not modify. */
  readonly addr: Uint8Array | null;
  /** Family of `addr`: 0 when `addr` is null (dual stack). */
  readonly family: 0 | 4 | 6;
  /** Interface to bind to (SO_BINDTODEVICE), or null; always 'lo' for -T and -U, as upstream. */
  readonly ifname: string | null;
  /** First listening port (1-65535). */
  readonly from: number;
  /** Last listening port, inclusive. */
  readonly to: number;
  /** Target port for `from`; port `from + n` goes to `targetFrom + n`. */
  readonly targetFrom: number;
  /**
   * Where connections go on the other side (`:TOADDR`), or null for the
   * default: the guest's or namespace's own address (also for a TOADDR of
   * 0.0.0.0 or ::, as upstream). A rule with a target address is never
   * spliced (upstream does not either).
   */
  readonly targetAddr: Uint8Array | null;
  /** Best effort: a port that cannot be bound is skipped instead of being an error (upstream's FWD_WEAK). */
  readonly weak: boolean;
  /** `auto`: listened on only while the port is bound on the other side (upstream's FWD_SCAN). */
  readonly scan: boolean;
  /** The option value this rule came from, for messages. */
  readonly source: string;
}

/** The parsed values of one option: what to forward and where. Immutable. */
export interface PortForwardSpec {
  readonly option: PortOption;
  readonly mode: ForwardMode;
  /** Every rule, in the order given. */
  readonly rules: readonly ForwardRule[];
  /** The option values as given (empty when the option was not given). */
  readonly values: readonly string[];
}

/** What {@link parsePortSpecs} needs to know of the host and the configuration. */
export interface PortSpecContext {
  /**
   * The kernel's ephemeral port range (net.ipv4.ip_local_port_range), left
   * out where a value forwards every port. Default
   * {@link DEFAULT_EPHEMERAL_PORTS}.
   */
  readonly ephemeral?: PortRange;
  /** IP versions enabled (default: both). A rule of a disabled version is an error, as upstream. */
  readonly ipv4?: boolean;
  readonly ipv6?: boolean;
  /** Whether the option's protocol is enabled (not --no-tcp / --no-udp); default true. */
  readonly enabled?: boolean;
}

/** Linux's default net.ipv4.ip_local_port_range. */
export const DEFAULT_EPHEMERAL_PORTS: PortRange = Object.freeze({ first: 32768, last: 60999 });

/** A listening port of a rule, as yielded by {@link listeningPorts}. */
export interface ListeningPort {
  readonly rule: ForwardRule;
  readonly port: number;
  /** Where the port is forwarded to on the other side. */
  readonly target: number;
}

const NUM_PORTS = 65536;
/** IFNAMSIZ minus the terminating NUL. */
const MAX_IFNAME_BYTES = 15;

// ---------------------------------------------------------------------------
// Index: per listening address, which rule owns each port.

/** The rules of one listening address, by port. */
interface Binding {
  /** 'any' for rules without an address, else the address text. */
  readonly key: string;
  readonly addr: Uint8Array | null;
  readonly family: 0 | 4 | 6;
  /** Index into the spec's rules of the rule forwarding each port, or -1. */
  readonly owners: Int32Array;
}

interface SpecIndex {
  readonly bindings: Binding[];
  readonly byKey: Map<string, Binding>;
}

const indexes = new WeakMap<PortForwardSpec, SpecIndex>();

function bindingKey(addr: Uint8Array | null): string {
  return addr === null ? 'any' : formatIP(addr);
}

/**
 * True if a packet could reach both a socket bound to `a` and one bound to
 * `b` (upstream's inany_matches): null matches everything, an unspecified
 * address matches its family, other addresses only themselves.
 */
function addressesOverlap(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return true;
  if (a.length !== b.length) return false;
  if (isUnspecified(a) || isUnspecified(b)) return true;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function emptyIndex(): SpecIndex {
  return { bindings: [], byKey: new Map() };
}

/** The first rule already indexed that `rule` overlaps, or undefined. */
function conflictOf(index: SpecIndex, rules: readonly ForwardRule[], rule: ForwardRule): ForwardRule | undefined {
  for (const binding of index.bindings) {
    if (!addressesOverlap(binding.addr, rule.addr)) continue;
    for (let port = rule.from; port <= rule.to; port++) {
      const owner = binding.owners[port]!;
      if (owner >= 0) return rules[owner];
    }
  }
  return undefined;
}

/** Add `rules[ruleIndex]` to the index (an earlier rule keeps a port it already has). */
function indexRule(index: SpecIndex, rules: readonly ForwardRule[], ruleIndex: number): void {
  const rule = rules[ruleIndex]!;
  const key = bindingKey(rule.addr);
  let binding = index.byKey.get(key);
  if (!binding) {
    binding = { key, addr: rule.addr, family: rule.family, owners: new Int32Array(NUM_PORTS).fill(-1) };
    index.byKey.set(key, binding);
    index.bindings.push(binding);
  }
  for (let port = rule.from; port <= rule.to; port++) {
    if (binding.owners[port]! < 0) binding.owners[port] = ruleIndex;
  }
}

/** The index of a spec: the one built by the parser, or built now for a spec made by hand. */
function indexOf(spec: PortForwardSpec): SpecIndex {
  let index = indexes.get(spec);
  if (!index) {
    index = emptyIndex();
    for (let i = 0; i < spec.rules.length; i++) indexRule(index, spec.rules, i);
    indexes.set(spec, index);
  }
  return index;
}

function makeSpec(option: PortOption, values: readonly string[], rules: readonly ForwardRule[], index: SpecIndex): PortForwardSpec {
  const mode: ForwardMode = rules.length === 0 ? 'none' : rules.every((r) => r.scan) ? 'auto' : 'ports';
  const spec: PortForwardSpec = Object.freeze({
    option,
    mode,
    rules: Object.freeze(rules.map((rule) => Object.freeze(rule))),
    values: Object.freeze([...values]),
  });
  indexes.set(spec, index);
  return spec;
}

// ---------------------------------------------------------------------------
// Parsing, with a cursor as upstream's parse.c: each parser consumes what it
// recognises and returns undefined (consuming nothing) otherwise.

class Cursor {
  constructor(
    readonly text: string,
    public pos = 0,
  ) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  literal(lit: string): boolean {
    if (!this.text.startsWith(lit, this.pos)) return false;
    this.pos += lit.length;
    return true;
  }

  /**
   * A decimal number as strtoul() reads it (upstream's parse_unsigned()):
   * leading white space and a sign are accepted, and a negative number
   * wraps around to a huge one (so "-0" is 0, and "-1" is out of any port
   * range). Undefined if there are no digits.
   */
  unsigned(): number | undefined {
    const m = /^[ \t\n\v\f\r]*([+-]?)([0-9]+)/.exec(this.text.slice(this.pos));
    if (!m) return undefined;
    this.pos += m[0].length;
    const value = Number(m[2]);
    return m[1] === '-' && value !== 0 ? Number.MAX_SAFE_INTEGER : value;
  }

  /** `PORT[-PORT]` with last >= first and both below 65536. */
  portRange(): PortRange | undefined {
    const start = this.pos;
    const first = this.unsigned();
    if (first === undefined) return undefined;
    let last = first;
    if (this.literal('-')) {
      const l = this.unsigned();
      if (l === undefined) return this.rewind(start);
      last = l;
    }
    if (last < first || last >= NUM_PORTS) return this.rewind(start);
    return { first, last };
  }

  /** An IPv6 or IPv4 address, optionally in brackets (IPv4-mapped IPv6 becomes IPv4). */
  address(): Uint8Array | undefined {
    const start = this.pos;
    const bracket = this.literal('[');
    for (const [chars, parse] of [
      [/^[0-9a-fA-F:.]*/, parseIPv6],
      [/^[0-9.]*/, parseIPv4],
    ] as const) {
      this.pos = start + (bracket ? 1 : 0);
      const rest = this.text.slice(this.pos);
      const body = bracket ? rest.slice(0, rest.indexOf(']') < 0 ? rest.length : rest.indexOf(']')) : chars.exec(rest)![0];
      let addr = parse(body);
      if (!addr) continue;
      this.pos += body.length;
      if (bracket && !this.literal(']')) continue;
      if (addr.length === 16 && isV4Mapped(addr)) addr = addr.slice(12);
      return addr;
    }
    return this.rewind(start);
  }

  /** `%IFNAME`, or nothing ('' ); undefined if malformed. */
  ifspec(): string | undefined {
    if (!this.literal('%')) return '';
    const m = /^[^/\s]*/.exec(this.text.slice(this.pos))![0];
    if (m.length === 0 || Buffer.byteLength(m) > MAX_IFNAME_BYTES) return undefined;
    this.pos += m.length;
    return m;
  }

  rewind(to: number): undefined {
    this.pos = to;
    return undefined;
  }
}

/** True for 255.255.255.255, which upstream's inany_is_multicast() counts as multicast. */
function isBroadcast(addr: Uint8Array): boolean {
  return addr.length === 4 && addr.every((b) => b === 255);
}

/** True for ::ffff:0:0/96. */
function isV4Mapped(addr: Uint8Array): boolean {
  if (addr.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (addr[i] !== 0) return false;
  return addr[10] === 0xff && addr[11] === 0xff;
}

/** `ADDR[%IF]/` or `[*][%IF]/`: the listening address (null: any) and interface, or undefined. */
function parseBinding(c: Cursor): { addr: Uint8Array | null; ifname: string } | undefined {
  const start = c.pos;
  const addr = c.address();
  if (addr) {
    const ifname = c.ifspec();
    if (ifname !== undefined && c.literal('/')) return { addr, ifname };
    c.pos = start;
  }
  c.literal('*');
  const ifname = c.ifspec();
  if (ifname !== undefined && c.literal('/')) return { addr: null, ifname };
  c.pos = start;
  return undefined;
}

type Chunk =
  | { kind: 'all'; targetAddr: Uint8Array | null }
  | { kind: 'auto' }
  | { kind: 'exclude'; range: PortRange }
  | { kind: 'include'; range: PortRange; targetAddr: Uint8Array | null; target: PortRange };

/** A target address, or null for 0.0.0.0 and ::, which upstream takes as "no target address". */
function specified(addr: Uint8Array): Uint8Array | null {
  return isUnspecified(addr) ? null : addr;
}

/** One chunk of a port list, as upstream's parse_port_chunk(), or undefined. */
function parseChunk(c: Cursor): Chunk | undefined {
  const start = c.pos;
  if (c.literal('all')) {
    const at = c.pos;
    if (c.literal(':')) {
      const targetAddr = c.address();
      if (targetAddr) return { kind: 'all', targetAddr: specified(targetAddr) };
      c.pos = at;
    }
    return { kind: 'all', targetAddr: null };
  }
  if (c.literal('auto')) return { kind: 'auto' };
  if (c.literal('~')) {
    const range = c.portRange();
    return range ? { kind: 'exclude', range } : c.rewind(start);
  }
  const range = c.portRange();
  if (!range) return c.rewind(start);
  const at = c.pos;
  if (c.literal(':')) {
    // TOADDR/PORTS, then TOADDR alone, then PORTS alone: the order upstream tries them.
    const targetAddr = c.address();
    if (targetAddr) {
      const afterAddr = c.pos;
      if (c.literal('/')) {
        const target = c.portRange();
        if (target) return { kind: 'include', range, targetAddr: specified(targetAddr), target };
      }
      c.pos = afterAddr;
      return { kind: 'include', range, targetAddr: specified(targetAddr), target: range };
    }
    const target = c.portRange();
    if (target) return { kind: 'include', range, targetAddr: null, target };
    c.pos = at;
  }
  return { kind: 'include', range, targetAddr: null, target: range };
}

/**
 * The chunks of a port list, as far as they parse: `bad` if a chunk does not
 * parse, `garbage` if something other than a comma follows the last one.
 * Upstream acts on the chunks before it looks at what follows them (an
 * `auto` in passt, a conflict or port 0 is reported before trailing
 * garbage), so the caller does too.
 */
function parseChunks(c: Cursor): { chunks: Chunk[]; end: 'ok' | 'bad' | 'garbage' } {
  const chunks: Chunk[] = [];
  do {
    const chunk = parseChunk(c);
    if (!chunk) return { chunks, end: 'bad' };
    chunks.push(chunk);
  } while (c.literal(','));
  return { chunks, end: c.done ? 'ok' : 'garbage' };
}

const PROTO_NAME: Record<PortOption, 'TCP' | 'UDP'> = { '-t': 'TCP', '-T': 'TCP', '-u': 'UDP', '-U': 'UDP' };

/**
 * Parse every value given for one of -t, -u, -T, -U, in order, into one
 * spec, as upstream's fwd_rule_parse() fills its table. No values: no rules
 * (the caller applies pasta's default, `auto`, when the option was not
 * given at all).
 *
 * @param option which option the values belong to, for messages and rules.
 * @param values the option's values, in command line order.
 * @param mode pasta accepts `auto` and -T/-U; passt does not.
 * @param context host facts the grammar depends on.
 * @throws UsageError in upstream's words.
 */
export function parsePortSpecs(
  option: PortOption,
  values: readonly string[],
  mode: 'pasta' | 'passt',
  context: PortSpecContext = {},
): PortForwardSpec {
  const ephemeral = context.ephemeral ?? DEFAULT_EPHEMERAL_PORTS;
  if (
    !Number.isInteger(ephemeral.first) ||
    !Number.isInteger(ephemeral.last) ||
    ephemeral.first < 1 ||
    ephemeral.first > ephemeral.last ||
    ephemeral.last > NUM_PORTS - 1
  ) {
    throw new RangeError(`parsePortSpecs: invalid ephemeral port range ${ephemeral.first}-${ephemeral.last}`);
  }
  const ipv4 = context.ipv4 ?? true;
  const ipv6 = context.ipv6 ?? true;
  const proto = PROTO_NAME[option];
  if (mode === 'passt' && (option === '-T' || option === '-U')) throw new UsageError(M.forPastaOnly(option));
  const rules: ForwardRule[] = [];
  const index = emptyIndex();

  const add = (rule: ForwardRule): void => {
    const problem = ruleProblem(rule, proto, ipv4, ipv6, context.enabled ?? true);
    const conflict = problem ? undefined : conflictOf(index, rules, rule);
    const why = problem ?? (conflict ? M.ruleConflict(formatForwardRule(rule, proto), formatForwardRule(conflict, proto)) : undefined);
    // Upstream prints the reason, then "Unable to add rule ...": one line here, both phrases.
    if (why) throw new UsageError(`${why}; ${M.unableToAddRule(formatForwardRule(rule, proto))} for '${option} ${rule.source}'`);
    rules.push(rule);
    indexRule(index, rules, rules.length - 1);
  };

  for (const value of values) {
    if (value === 'none') {
      if (rules.length > 0) throw new UsageError(M.noneConflicts(option));
      continue;
    }
    const c = new Cursor(value);
    let addr: Uint8Array | null = null;
    let ifname: string | null = null;
    const binding = parseBinding(c);
    if (binding) {
      if (option === '-T' || option === '-U') throw new UsageError(M.addressNotAllowed(option, value));
      if (binding.ifname === '.' || binding.ifname === '..') throw new UsageError(M.invalidInterface(binding.ifname));
      addr = binding.addr;
      ifname = binding.ifname || null;
    }
    // -T and -U listen on the namespace's loopback interface, as upstream (SO_BINDTODEVICE "lo").
    if (option === '-T' || option === '-U') ifname = 'lo';
    // No need for dual stack with one IP version only.
    if (addr === null && !ipv4) addr = new Uint8Array(16);
    else if (addr === null && !ipv6) addr = new Uint8Array(4);
    // Upstream names the port list alone (what follows the binding) in this message.
    const ports = value.slice(c.pos);
    const invalid = (): UsageError => new UsageError(M.invalidPortSpec(ports));
    const { chunks, end } = parseChunks(c);

    // As upstream's fwd_rule_parse_ports(): `auto` and exclusions first...
    const excluded = new Uint8Array(NUM_PORTS);
    let scan = false;
    for (const chunk of chunks) {
      if (chunk.kind === 'auto') {
        if (mode !== 'pasta') throw new UsageError(M.autoOnlyPasta());
        scan = true;
      } else if (chunk.kind === 'exclude') {
        excluded.fill(1, chunk.range.first, chunk.range.last + 1);
      }
    }
    if (end === 'bad') throw invalid();
    // ...then the ranges, in order, each checked as it comes...
    const family: 0 | 4 | 6 = addr === null ? 0 : addr.length === 4 ? 4 : 6;
    const template = { addr, family, ifname, scan, source: value };
    let allTarget: Uint8Array | null = null;
    let includes = 0;
    for (const chunk of chunks) {
      if (chunk.kind === 'all') {
        allTarget = chunk.targetAddr;
      } else if (chunk.kind === 'include') {
        includes++;
        if (chunk.target.last - chunk.target.first !== chunk.range.last - chunk.range.first) throw invalid();
        splitAround(add, { ...template, weak: false, targetAddr: chunk.targetAddr }, chunk.range.first, chunk.range.last, chunk.target.first, excluded);
      }
    }
    // ...then trailing garbage, and last `all` (or exclusions only).
    if (end === 'garbage') throw invalid();
    if (includes === 0) {
      excluded.fill(1, ephemeral.first, ephemeral.last + 1);
      splitAround(add, { ...template, weak: true, targetAddr: allTarget }, 1, NUM_PORTS - 1, 1, excluded);
    }
  }
  return makeSpec(option, values, rules, index);
}

/** Why upstream's fwd_rule_add() would refuse `rule`, in its words, or undefined. */
function ruleProblem(rule: ForwardRule, proto: 'TCP' | 'UDP', ipv4: boolean, ipv6: boolean, enabled: boolean): string | undefined {
  if (rule.from === 0) return 'Forwarding rule attempts to map from port 0';
  if (rule.targetFrom === 0 || rule.targetFrom + (rule.to - rule.from) > NUM_PORTS - 1) return 'Forwarding rule attempts to map to port 0';
  if (rule.addr === null) {
    if (!ipv4) return 'Dual stack forward, but IPv4 not enabled';
    if (!ipv6) return 'Dual stack forward, but IPv6 not enabled';
  } else if (rule.addr.length === 4 && !ipv4) {
    return 'IPv4 forward, but IPv4 not enabled';
  } else if (rule.addr.length === 16 && !ipv6) {
    return 'IPv6 forward, but IPv6 not enabled';
  }
  if (!enabled) return `Can't add ${proto} forwarding rule, ${proto} not enabled`;
  const t = rule.targetAddr;
  if (t && !isUnspecified(t)) {
    const name = (a: Uint8Array): string => (a.length === 4 ? 'IPv4' : 'IPv6');
    if (isMulticast(t) || isBroadcast(t)) return `Multicast target address ${formatIP(t)} for forwarding rule`;
    if (rule.addr === null) {
      return `Dual stack forward to ${name(t)} address ${formatIP(t)} unsupported; Did you mean ${t.length === 4 ? '0.0.0.0' : '[::]'}/... instead?`;
    }
    if (rule.addr.length !== t.length) {
      return `Forward from ${name(rule.addr)} (${formatIP(rule.addr)}) to ${name(t)} (${formatIP(t)}) unsupported`;
    }
  }
  return undefined;
}

/**
 * Split `first..last` (translated to start at `target`) into rules around
 * the ports marked in `excluded`, handing each to `add`.
 */
function splitAround(
  add: (rule: ForwardRule) => void,
  template: Omit<ForwardRule, 'from' | 'to' | 'targetFrom'>,
  first: number,
  last: number,
  target: number,
  excluded: Uint8Array,
): void {
  const delta = target - first;
  let port = first;
  while (port <= last) {
    if (excluded[port]) {
      port++;
      continue;
    }
    let end = port;
    while (end < last && !excluded[end + 1]) end++;
    add({ ...template, from: port, to: end, targetFrom: port + delta });
    port = end + 1;
  }
}

/** The spec of an option that is not given: pasta's `auto` (every non-ephemeral port, scanned), else none. */
export function defaultPortSpec(option: PortOption, mode: 'pasta' | 'passt', context: PortSpecContext = {}): PortForwardSpec {
  return mode === 'pasta' ? parsePortSpecs(option, ['auto'], mode, context) : parsePortSpecs(option, [], mode, context);
}

// ---------------------------------------------------------------------------
// Questions the forwarders ask

/** `addr` as 4 bytes if it is IPv4 or IPv4-mapped IPv6, 16 bytes if IPv6, else undefined. */
function normalizeAddress(addr: Uint8Array): Uint8Array | undefined {
  if (addr.length === 4) return addr;
  if (addr.length !== 16) return undefined;
  return isV4Mapped(addr) ? addr.subarray(12) : addr;
}

/**
 * The rule forwarding listening port `port` on local address `addr`, or
 * undefined. With an address, a rule bound to exactly that address wins,
 * then one bound to the unspecified address of its family, then one bound
 * to no address (IPv4-mapped IPv6 addresses count as IPv4). Without an
 * address, any rule forwarding the port, the earliest listening address
 * first.
 */
export function forwardRule(spec: PortForwardSpec, port: number, addr?: Uint8Array): ForwardRule | undefined {
  if (!Number.isInteger(port) || port < 1 || port >= NUM_PORTS) return undefined;
  const index = indexOf(spec);
  if (addr === undefined) {
    for (const binding of index.bindings) {
      const owner = binding.owners[port]!;
      if (owner >= 0) return spec.rules[owner];
    }
    return undefined;
  }
  const local = normalizeAddress(addr);
  if (!local) return undefined;
  for (const key of [formatIP(local), local.length === 4 ? '0.0.0.0' : '::', 'any']) {
    const owner = index.byKey.get(key)?.owners[port] ?? -1;
    if (owner >= 0) return spec.rules[owner];
  }
  return undefined;
}

/**
 * Where listening port `hostPort` (on local address `addr`, if given) is
 * forwarded to: the target port, or -1 if it is not forwarded.
 */
export function forwardedPort(spec: PortForwardSpec, hostPort: number, addr?: Uint8Array): number {
  const rule = forwardRule(spec, hostPort, addr);
  return rule ? rule.targetFrom + (hostPort - rule.from) : -1;
}

/**
 * Every port to listen on from the start, rule by rule in the order given,
 * with its target: the static rules (scanned ones are listened on as the
 * other side binds them, see {@link scannedPorts}).
 */
export function* listeningPorts(spec: PortForwardSpec): Generator<ListeningPort, void, undefined> {
  for (const rule of spec.rules) {
    if (rule.scan) continue;
    for (let port = rule.from; port <= rule.to; port++) {
      yield { rule, port, target: rule.targetFrom + (port - rule.from) };
    }
  }
}

/** Whether any rule of the spec is scanned (`auto`). */
export function hasScanRules(spec: PortForwardSpec | null): boolean {
  return spec !== null && spec.rules.some((r) => r.scan);
}

/**
 * The scanned rules of a spec that cover `port`, with its target: where an
 * `auto` listener on `port` goes. One per listening address at most.
 */
export function scannedPorts(spec: PortForwardSpec, port: number): ListeningPort[] {
  const out: ListeningPort[] = [];
  for (const rule of spec.rules) {
    if (rule.scan && port >= rule.from && port <= rule.to) out.push({ rule, port, target: rule.targetFrom + (port - rule.from) });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Text

/**
 * One rule as upstream's fwd_rule_fmt() prints it: `TCP [*]:22  =>  22 `,
 * `TCP [0.0.0.0]:5000  =>  192.0.2.5:6000 `, with ` (best effort)` and
 * ` (auto-scan)` for weak and scanned rules, `%IF` after the address.
 */
export function formatForwardRule(rule: ForwardRule, proto: 'TCP' | 'UDP' = 'TCP'): string {
  const addr = rule.addr === null ? '*' : formatIP(rule.addr);
  const percent = rule.ifname ? `%${rule.ifname}` : '';
  const taddr = rule.targetAddr && !isUnspecified(rule.targetAddr) ? `${formatIP(rule.targetAddr)}:` : '';
  const range = (first: number, last: number): string => (first === last ? `${first}` : `${first}-${last}`);
  const weak = rule.weak ? ' (best effort)' : '';
  const scan = rule.scan ? ' (auto-scan)' : '';
  return `${proto} [${addr}]${percent}:${range(rule.from, rule.to)}  =>  ${taddr}${range(rule.targetFrom, rule.targetFrom + rule.to - rule.from)} ${weak}${scan}`;
}

/** The rules of an option, one line each, for --debug and start-up output. */
export function describePortSpec(spec: PortForwardSpec): string[] {
  if (spec.rules.length === 0) return [`${spec.option}: none`];
  return spec.rules.map((rule) => `${spec.option}: ${formatForwardRule(rule, PROTO_NAME[spec.option])}`);
}
