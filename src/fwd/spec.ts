/**
 * Port-forwarding specifications: the grammar of pasta(1)/passt(1)'s -t, -u,
 * -T and -U options, and the lookup tables the forwarder consults.
 *
 * Theory of operation: each option may be given several times; its values
 * are parsed together by {@link parsePortSpecs} into one immutable
 * {@link PortForwardSpec}. A value is one of the keywords `none`, `auto`
 * (pasta: follow the ports bound on the other side), `all` (every
 * non-ephemeral port, best effort), or a list:
 *
 *     [ADDR][%IFNAME]/ITEM[,ITEM]...      (the last '/' ends the binding)
 *     ITEM = PORT[-PORT][:PORT[-PORT]]    forward, optionally translated
 *          | ~PORT[-PORT]                 exclude, within this value only
 *
 * ADDR is IPv4 or IPv6, optionally in brackets (`[2001:db8::1]`, also
 * `[192.0.2.1]`); `%IFNAME` alone binds to an interface on every address.
 * A list of exclusions only means "every non-ephemeral port except these",
 * with bind failures tolerated, as upstream does for `all`.
 *
 * Every list item becomes one or more {@link ForwardRule}s: a contiguous
 * range of listening ports with a fixed offset to the target ports. Ranges
 * are split around exclusions here, once, so a rule never has holes and the
 * forwarder opens one socket per port of each rule (see
 * {@link listeningPorts}). Rules of one option must not overlap on
 * addresses that could both receive a packet (a rule without an address
 * overlaps everything, an unspecified address overlaps its family, as
 * upstream's conflict check does); overlaps are usage errors, which makes
 * "where does port P on address A go?" a well-defined question.
 *
 * To answer it in O(1), rules are indexed per distinct listening address
 * ("any", 0.0.0.0, ::, or a specific address): a 65536-entry Int32Array
 * holding, for each port, the index of the rule forwarding it (or -1). The
 * index is built while parsing (it is also what detects overlaps) and kept
 * out of the public object, in a WeakMap, so nobody can modify it;
 * {@link forwardRule} and {@link forwardedPort} read it.
 *
 * Everything here is pure: no I/O and no native code. The one host fact the
 * grammar depends on, the ephemeral port range
 * (/proc/sys/net/ipv4/ip_local_port_range), is passed in by the caller.
 * Every error is a {@link UsageError} naming the option and the value, on
 * one line, for the command line front end to print.
 */
import { formatIP, isUnspecified, parseIPv4, parseIPv6 } from '../inet.js';
import { UsageError } from '../options.js';

/** The four port-forwarding options of pasta(1) (passt(1) has -t and -u only). */
export type PortOption = '-t' | '-u' | '-T' | '-U';

/**
 * How an option forwards: `none` (nothing), `auto` (pasta only: follow the
 * ports bound on the target side, decided at run time), `all` (every
 * non-ephemeral port, best effort) or `ports` (the rules listed).
 */
export type ForwardMode = 'none' | 'all' | 'auto' | 'ports';

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
  /** Interface to bind to (SO_BINDTODEVICE), or null. */
  readonly ifname: string | null;
  /** First listening port (1-65535). */
  readonly from: number;
  /** Last listening port, inclusive. */
  readonly to: number;
  /** Target port for `from`; port `from + n` goes to `targetFrom + n`. */
  readonly targetFrom: number;
  /**
   * Best effort: a port that cannot be bound is skipped instead of being
   * an error (`all` and exclusion-only lists, as upstream's FWD_WEAK).
   */
  readonly weak: boolean;
  /** The option value this rule came from, for messages. */
  readonly source: string;
}

/** The parsed values of one option: what to forward and where. Immutable. */
export interface PortForwardSpec {
  readonly option: PortOption;
  readonly mode: ForwardMode;
  /**
   * Static rules, in the order given. Empty for `none` and `auto`; for `all`,
   * every non-ephemeral port on every address, weak.
   */
  readonly rules: readonly ForwardRule[];
  /** The option values as given (empty when the mode is the default). */
  readonly values: readonly string[];
}

/** Options of {@link parsePortSpecs} that depend on the host. */
export interface PortSpecContext {
  /**
   * The kernel's ephemeral port range (net.ipv4.ip_local_port_range),
   * left out by `all` and by lists of exclusions only. Default
   * {@link DEFAULT_EPHEMERAL_PORTS}.
   */
  readonly ephemeral?: PortRange;
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
const KEYWORDS = new Set(['none', 'auto', 'all']);
const RANGE_SYNTAX = /^([0-9]+)(?:-([0-9]+))?$/;

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

/**
 * Add `rules[ruleIndex]` to the index. With `option` set, an overlap with a
 * rule already indexed is a UsageError (rules from `valueStart` on come from
 * the same value as the new one); without, the earlier rule wins.
 */
function indexRule(
  index: SpecIndex,
  rules: readonly ForwardRule[],
  ruleIndex: number,
  option?: PortOption,
  valueStart = 0,
): void {
  const rule = rules[ruleIndex]!;
  if (option !== undefined) {
    for (const binding of index.bindings) {
      if (!addressesOverlap(binding.addr, rule.addr)) continue;
      for (let port = rule.from; port <= rule.to; port++) {
        const owner = binding.owners[port]!;
        if (owner < 0) continue;
        if (owner >= valueStart) {
          throw new UsageError(`${option}: port ${port} is forwarded twice in '${rule.source}'`);
        }
        const earlier = rules[owner]!.source;
        throw new UsageError(`${option}: port ${port} in '${rule.source}' is already forwarded by '${earlier}'`);
      }
    }
  }
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

function makeSpec(
  option: PortOption,
  mode: ForwardMode,
  values: readonly string[],
  rules: readonly ForwardRule[],
  index: SpecIndex,
): PortForwardSpec {
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
// Parsing

/** Everything one value says, before its exclusions are applied. */
interface ParsedValue {
  addr: Uint8Array | null;
  family: 0 | 4 | 6;
  ifname: string | null;
  /** Ranges to forward and the target of their first port. */
  includes: Array<{ first: number; last: number; target: number }>;
  /** 1 for each excluded port. */
  excluded: Uint8Array;
}

/**
 * Parse `PORT[-PORT]` into a range. `item` and `value` are for messages.
 * Port 0 is accepted only where `allowZero` (exclusions, as upstream).
 */
function parseRange(
  option: PortOption,
  text: string,
  item: string,
  value: string,
  what: string,
  allowZero: boolean,
): PortRange {
  const match = RANGE_SYNTAX.exec(text);
  if (!match) throw new UsageError(`${option}: invalid ${what} '${item}' in '${value}'`);
  const firstText = match[1]!;
  const lastText = match[2] ?? firstText;
  for (const portText of [firstText, lastText]) {
    const port = Number(portText);
    if (port > NUM_PORTS - 1 || (port === 0 && !allowZero)) {
      throw new UsageError(`${option}: invalid port '${portText}' in '${value}': ports are 1 to 65535`);
    }
  }
  const first = Number(firstText);
  const last = Number(lastText);
  if (first > last) throw new UsageError(`${option}: invalid port range '${text}' in '${value}'`);
  return { first, last };
}

/** Linux's dev_valid_name(), with the length in bytes (IFNAMSIZ). */
function checkIfname(option: PortOption, ifname: string, value: string): void {
  if (ifname === '') throw new UsageError(`${option}: empty interface name in '${value}'`);
  if (Buffer.byteLength(ifname, 'utf8') > MAX_IFNAME_BYTES) {
    throw new UsageError(`${option}: interface name '${ifname}' in '${value}' is longer than ${MAX_IFNAME_BYTES} bytes`);
  }
  if (ifname === '.' || ifname === '..' || /[/:\s]/.test(ifname)) {
    throw new UsageError(`${option}: invalid interface name '${ifname}' in '${value}'`);
  }
}

/** Parse the part before the last '/': `ADDR`, `[ADDR]`, `ADDR%IF`, `[ADDR]%IF` or `%IF`. */
function parseBinding(
  option: PortOption,
  text: string,
  value: string,
): { addr: Uint8Array | null; family: 0 | 4 | 6; ifname: string | null } {
  if (option === '-T' || option === '-U') {
    throw new UsageError(`${option}: listening address or interface not allowed in '${value}'`);
  }
  const percent = text.indexOf('%');
  const addrText = percent >= 0 ? text.slice(0, percent) : text;
  const ifname = percent >= 0 ? text.slice(percent + 1) : null;
  if (ifname !== null) checkIfname(option, ifname, value);
  if (addrText === '' && ifname !== null) return { addr: null, family: 0, ifname };

  let bare = addrText;
  if (bare.length >= 2 && bare.startsWith('[') && bare.endsWith(']')) bare = bare.slice(1, -1);
  let addr: Uint8Array | undefined = parseIPv4(bare);
  let family: 4 | 6 = 4;
  if (!addr) {
    addr = parseIPv6(bare);
    family = 6;
  }
  if (!addr) throw new UsageError(`${option}: invalid address '${addrText}' in '${value}'`);
  if (family === 6 && isV4Mapped(addr)) {
    addr = addr.slice(12);
    family = 4;
  }
  return { addr, family, ifname };
}

/** True for ::ffff:0:0/96. */
function isV4Mapped(addr: Uint8Array): boolean {
  if (addr.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (addr[i] !== 0) return false;
  return addr[10] === 0xff && addr[11] === 0xff;
}

/** Parse one value that is not a keyword. */
function parseValue(option: PortOption, value: string): ParsedValue {
  if (value === '') throw new UsageError(`${option}: empty port specification ''`);
  const slash = value.lastIndexOf('/');
  const binding =
    slash >= 0 ? parseBinding(option, value.slice(0, slash), value) : { addr: null, family: 0 as const, ifname: null };
  const portsText = slash >= 0 ? value.slice(slash + 1) : value;
  if (portsText === '') throw new UsageError(`${option}: missing ports in '${value}'`);

  const parsed: ParsedValue = { ...binding, includes: [], excluded: new Uint8Array(NUM_PORTS) };
  for (const item of portsText.split(',')) {
    if (item === '') throw new UsageError(`${option}: empty item in '${value}'`);
    if (KEYWORDS.has(item)) throw new UsageError(`${option}: '${item}' must be given alone, not in '${value}'`);
    if (item.startsWith('~')) {
      const range = parseRange(option, item.slice(1), item, value, 'exclusion', true);
      parsed.excluded.fill(1, range.first, range.last + 1);
      continue;
    }
    const colon = item.indexOf(':');
    const sourceText = colon >= 0 ? item.slice(0, colon) : item;
    const source = parseRange(option, sourceText, item, value, 'port specifier', false);
    let target = source.first;
    if (colon >= 0) {
      const mapped = parseRange(option, item.slice(colon + 1), item, value, 'port specifier', false);
      const sourceLength = source.last - source.first + 1;
      const mappedLength = mapped.last - mapped.first + 1;
      if (sourceLength !== mappedLength) {
        throw new UsageError(
          `${option}: invalid mapping '${item}' in '${value}': ${sourceLength} port${sourceLength === 1 ? '' : 's'} to ${mappedLength}`,
        );
      }
      target = mapped.first;
    }
    parsed.includes.push({ first: source.first, last: source.last, target });
  }
  return parsed;
}

/**
 * Split `first..last` (translated to start at `target`) into rules around
 * the ports marked in `excluded`, appending them to `out`.
 */
function splitAround(
  out: ForwardRule[],
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
    out.push({ ...template, from: port, to: end, targetFrom: port + delta });
    port = end + 1;
  }
}

/** 1 for each port in `range`. */
function portMask(range: PortRange): Uint8Array {
  return new Uint8Array(NUM_PORTS).fill(1, range.first, range.last + 1);
}

/**
 * Parse every value given for one of -t, -u, -T, -U, in order, into one
 * spec. Values add up; a keyword (`none`, `auto`, `all`) must be the only
 * value of its option (repeating the same keyword is allowed). With no
 * values, the result is the default: `auto` for pasta, `none` for passt.
 *
 * @param option which option the values belong to, for messages and rules.
 * @param values the option's values, in command line order.
 * @param mode pasta accepts `auto` and -T/-U; passt does not.
 * @param context host facts the grammar depends on (the ephemeral range).
 * @throws UsageError naming the option and the offending value.
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
  if (mode === 'passt' && (option === '-T' || option === '-U')) {
    throw new UsageError(`${option}: only supported by pasta`);
  }
  if (values.length === 0) return makeSpec(option, mode === 'pasta' ? 'auto' : 'none', [], [], emptyIndex());

  let keyword: string | undefined;
  let firstList: string | undefined;
  const rules: ForwardRule[] = [];
  const index = emptyIndex();

  for (const value of values) {
    if (KEYWORDS.has(value)) {
      if (value === keyword) continue;
      const earlier = keyword ?? firstList;
      if (earlier !== undefined) throw new UsageError(`${option}: '${value}' cannot be combined with '${earlier}'`);
      if (value === 'auto' && mode !== 'pasta') throw new UsageError(`${option}: 'auto' is only supported by pasta`);
      keyword = value;
      continue;
    }
    if (keyword !== undefined) throw new UsageError(`${option}: '${value}' cannot be combined with '${keyword}'`);
    firstList ??= value;

    const parsed = parseValue(option, value);
    const template = { addr: parsed.addr, family: parsed.family, ifname: parsed.ifname, source: value };
    const start = rules.length;
    if (parsed.includes.length === 0) {
      // Exclusions only: every other non-ephemeral port, best effort.
      const excluded = portMask(ephemeral);
      for (let port = 0; port < NUM_PORTS; port++) if (parsed.excluded[port]) excluded[port] = 1;
      splitAround(rules, { ...template, weak: true }, 1, NUM_PORTS - 1, 1, excluded);
    } else {
      for (const include of parsed.includes) {
        splitAround(rules, { ...template, weak: false }, include.first, include.last, include.target, parsed.excluded);
      }
    }
    for (let i = start; i < rules.length; i++) indexRule(index, rules, i, option, start);
  }

  if (keyword === 'none' || keyword === 'auto') return makeSpec(option, keyword, values, [], index);
  if (keyword === 'all') {
    const template = { addr: null, family: 0 as const, ifname: null, weak: true, source: 'all' };
    splitAround(rules, template, 1, NUM_PORTS - 1, 1, portMask(ephemeral));
    for (let i = 0; i < rules.length; i++) indexRule(index, rules, i);
    return makeSpec(option, 'all', values, rules, index);
  }
  return makeSpec(option, 'ports', values, rules, index);
}

// ---------------------------------------------------------------------------
// Questions the forwarder asks

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
 * first. `auto` has no static rules: its answer is always undefined.
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
 * forwarded to: the target port, or -1 if it is not forwarded. O(1): one
 * lookup per candidate address binding. See {@link forwardRule} for how the
 * address is matched.
 */
export function forwardedPort(spec: PortForwardSpec, hostPort: number, addr?: Uint8Array): number {
  const rule = forwardRule(spec, hostPort, addr);
  return rule ? rule.targetFrom + (hostPort - rule.from) : -1;
}

/**
 * Every port to listen on, rule by rule in the order given, with its
 * target: what the forwarder binds at start. Empty for `none` and `auto`.
 */
export function* listeningPorts(spec: PortForwardSpec): Generator<ListeningPort, void, undefined> {
  for (const rule of spec.rules) {
    for (let port = rule.from; port <= rule.to; port++) {
      yield { rule, port, target: rule.targetFrom + (port - rule.from) };
    }
  }
}

/**
 * The rule of upstream's man page for UDP: "unless overridden, UDP ports
 * with numbers corresponding to forwarded TCP port numbers are forwarded
 * too, without, however, any port translation". Given the spec of -t (or
 * -T), returns the spec -u (or -U) gets when it was not given: the same
 * mode and the same listening ports and bindings, each forwarded to the
 * same port number. The caller decides when it applies.
 */
export function udpDefaultsFromTcp(tcp: PortForwardSpec): PortForwardSpec {
  if (tcp.option !== '-t' && tcp.option !== '-T') {
    throw new TypeError(`udpDefaultsFromTcp: expected the spec of -t or -T, got ${tcp.option}`);
  }
  const option: PortOption = tcp.option === '-t' ? '-u' : '-U';
  const rules = tcp.rules.map((rule) => ({ ...rule, targetFrom: rule.from }));
  const index = emptyIndex();
  for (let i = 0; i < rules.length; i++) indexRule(index, rules, i);
  return makeSpec(option, tcp.mode, tcp.values, rules, index);
}

// ---------------------------------------------------------------------------
// Text

/**
 * One rule as text: `[ADDR][%IF]:PORTS[ => TARGETS][ (best effort)]`, with
 * `*` for no address and IPv6 addresses in brackets, e.g.
 * `*:22-80 => 32-90`, `192.0.2.1%eth0:22`, `[2001:db8::1]:8080`.
 */
export function formatForwardRule(rule: ForwardRule): string {
  let where = rule.addr === null ? '*' : rule.family === 6 ? `[${formatIP(rule.addr)}]` : formatIP(rule.addr);
  if (rule.ifname !== null) where += `%${rule.ifname}`;
  const range = (first: number, last: number): string => (first === last ? `${first}` : `${first}-${last}`);
  let text = `${where}:${range(rule.from, rule.to)}`;
  if (rule.targetFrom !== rule.from) text += ` => ${range(rule.targetFrom, rule.targetFrom + rule.to - rule.from)}`;
  if (rule.weak) text += ' (best effort)';
  return text;
}

/**
 * One line for --debug output: the option, its mode and its rules, e.g.
 * `-t: none`, `-t: auto`, `-t: *:8080 => 80, 127.0.0.1:8081 => 80`, or
 * `-t: no ports` when exclusions removed every port listed.
 */
export function describePortSpec(spec: PortForwardSpec): string {
  if (spec.mode !== 'ports') {
    const rules = spec.rules.map(formatForwardRule).join(', ');
    return rules === '' ? `${spec.option}: ${spec.mode}` : `${spec.option}: ${spec.mode}: ${rules}`;
  }
  if (spec.rules.length === 0) return `${spec.option}: no ports`;
  return `${spec.option}: ${spec.rules.map(formatForwardRule).join(', ')}`;
}
