/**
 * --config-net: what pasta puts into the namespace, and putting it there.
 *
 * Theory of operation: upstream pasta(1) (pasta_ns_conf() and netlink.c)
 * configures the namespace's tap interface from a *template interface* of
 * the host, one per IP version (conf.ts picks it: `hostIfindex`, 0 in local
 * mode, where there is none). This file does the same in two halves.
 *
 * {@link planNamespace} is a pure function of the configuration, the tap's
 * index and the host's undecoded address and route dumps. It returns the
 * steps, in upstream's order:
 *
 * 1. loopback up; the tap's MAC address when --ns-mac-addr gave one (both on
 *    every run, with --config-net or not); the rest only with --config-net:
 * 2. the MTU, unless it is 0; the link up, with IFF_NOARP as well when IPv6
 *    is configured, so that the kernel runs no duplicate address detection
 *    (DAD) on the link-local address it makes as the link comes up;
 * 3. IPv4: every address of the template interface (not link-scope, not
 *    deprecated; label and lifetimes dropped, IFA_F_NODAD added: see
 *    addrCopyPayload in netlink.ts), or, when addresses are not copied (-a,
 *    --no-copy-addrs, local mode), `addr`/`prefixLen` alone; then every
 *    main-table unicast route of the template interface (RTA_OIF and next
 *    hops moved to the tap, RTA_PREFSRC and RTA_NH_ID dropped: see
 *    routeCopyPayload), or, when routes are not copied (-g,
 *    --no-copy-routes, local mode), a default route via `gateway`;
 * 4. IPv6: the link-local address made IFA_F_NODAD, IFF_NOARP cleared, then
 *    addresses and routes as for IPv4 (a set address has prefix length 64 and
 *    is skipped when it is `::`, as in local mode).
 *
 * {@link runNamespacePlan} sends the steps over the namespace's rtnetlink
 * socket. Copied routes may depend on each other (a gateway reachable only
 * through another copied route) while the host lists them in its own order:
 * like upstream, routes refused as unreachable (ENETUNREACH, EHOSTUNREACH)
 * are sent again after a pass that added any, and EEXIST counts as done
 * (the kernel made some of them itself, as prefix routes of the addresses).
 *
 * Where this differs from upstream, on purpose:
 * - The link-local address: upstream marks it IFA_F_NODAD with NLM_F_REPLACE,
 *   which leaves it tentative until the kernel's DAD work, delayed at random
 *   by up to rtr_solicit_delay (1 s), finds the flag: the command may start
 *   (and, in practice, does) with a tentative link-local address and no
 *   usable IPv6 next hop. Here a link-local address still tentative is
 *   deleted and added again with IFA_F_NODAD, which the kernel never marks
 *   tentative: the same address and flags, usable at once.
 * - Host routes are read with one dump of the whole table and filtered here
 *   (main table, unicast, not cached, through the template interface), where
 *   upstream asks the kernel to filter (NETLINK_GET_STRICT_CHK) and gives up
 *   beyond one 64 KiB datagram of routes.
 * - Next-hop state flags are cleared in each next hop of a multipath route
 *   too (upstream clears them in rtm_flags only, and the kernel refuses a
 *   next hop flagged dead or linkdown).
 */
import type { Config } from './conf.js';
import {
  AF_INET,
  AF_INET6,
  IFA_F_DEPRECATED,
  IFA_F_TENTATIVE,
  IFF_NOARP,
  IFF_UP,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NetlinkRequestError,
  RTM_DELADDR,
  RTM_F_CLONED,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTN_UNICAST,
  RTPROT_BOOT,
  RT_SCOPE_LINK,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  addrCopyPayload,
  addrNodadPayload,
  decodeAddr,
  decodeRoute,
  describeRoute,
  encodeAddrAddPayload,
  encodeLinkSetPayload,
  encodeRouteAddPayload,
  routeCopyPayload,
  routeInterfaces,
  type LinkChange,
  type Netlink,
  type NetlinkMessage,
} from './netlink.js';
import { formatIP, isUnspecified } from './inet.js';
import { formatMac } from './l2/ethernet.js';

/** The loopback interface's index in every network namespace (LOOPBACK_IFINDEX). */
export const LOOPBACK_IFINDEX = 1;

const EEXIST = 17;
const EOPNOTSUPP = 95;
const ENETUNREACH = 101;
const EHOSTUNREACH = 113;

/** The host's address and route dumps of one IP version, undecoded (Netlink.addrMessages, routeMessages). */
export interface TemplateDump {
  /** RTM_NEWADDR messages of an address dump (every interface). */
  addrs: NetlinkMessage[];
  /** RTM_NEWROUTE messages of a route dump (every interface and table). */
  routes: NetlinkMessage[];
}

/** One rtnetlink request of a plan. */
export interface RequestStep {
  kind: 'request';
  /** RTM_NEWLINK, RTM_NEWADDR or RTM_NEWROUTE. */
  type: number;
  /** nlmsg_flags besides NLM_F_REQUEST | NLM_F_ACK. */
  flags: number;
  payload: Uint8Array;
  /** The object, for errors and the debug log ("RTM_NEWADDR 198.51.100.2/24 on index 2"). */
  what: string;
  /** What failed, when it fails ("cannot set IPv4 address(es) in the namespace"). */
  context: string;
  /** Local mode: when the kernel answers EOPNOTSUPP, warn and leave this IP version out (as upstream does). */
  unsupportedSkips?: 4 | 6;
  /** A failure is only a warning (upstream ignores the result of this request). */
  optional?: boolean;
}

/** Copied routes, sent again while some are refused as unreachable and others get added. */
export interface RoutesStep {
  kind: 'routes';
  family: 4 | 6;
  routes: { payload: Uint8Array; what: string }[];
  context: string;
}

/** Make the link-local addresses of `index` IFA_F_NODAD (and not tentative): needs the namespace's own dump. */
export interface LinkLocalStep {
  kind: 'linkLocalNodad';
  index: number;
}

/** A step of {@link planNamespace}. */
export type NsStep = RequestStep | RoutesStep | LinkLocalStep;

/** nlmsg_flags of copied addresses and routes: create, not exclusive (upstream's: the dump's flags plus NLM_F_CREATE). */
const COPY_FLAGS = NLM_F_CREATE;
/** nlmsg_flags of addresses and routes set from the configuration. */
const SET_FLAGS = NLM_F_CREATE | NLM_F_EXCL;

function familyOf(payload: Uint8Array): 4 | 6 | undefined {
  if (payload[0] === AF_INET) return 4;
  if (payload[0] === AF_INET6) return 6;
  return undefined;
}

/**
 * The addresses of `family` on host interface `index` that pasta copies:
 * not link-scope, not deprecated; in dump order.
 */
export function templateAddrs(messages: readonly NetlinkMessage[], index: number, family: 4 | 6): NetlinkMessage[] {
  return messages.filter((message) => {
    if (message.type !== RTM_NEWADDR || familyOf(message.payload) !== family) return false;
    const addr = decodeAddr(message);
    if (!addr || addr.index !== index) return false;
    return addr.scope !== RT_SCOPE_LINK && !(addr.flags & IFA_F_DEPRECATED) && !(message.payload[2]! & IFA_F_DEPRECATED);
  });
}

/**
 * The routes of `family` that upstream's filtered dump returns for host
 * interface `index`: main table, unicast, not cached (RTM_F_CLONED), going
 * out of `index` (RTA_OIF, or any next hop of a multipath route); in dump
 * order. Whether they can be copied (no next hop elsewhere) is
 * routeCopyPayload's decision.
 */
export function templateRoutes(messages: readonly NetlinkMessage[], index: number, family: 4 | 6): NetlinkMessage[] {
  return messages.filter((message) => {
    if (message.type !== RTM_NEWROUTE || familyOf(message.payload) !== family) return false;
    const route = decodeRoute(message);
    if (!route || route.table !== RT_TABLE_MAIN || route.type !== RTN_UNICAST || (route.flags ?? 0) & RTM_F_CLONED) return false;
    return routeInterfaces(message.payload).includes(index);
  });
}

function describeAddr(payload: Uint8Array): string {
  const addr = decodeAddr({ type: RTM_NEWADDR, flags: 0, seq: 0, pid: 0, payload });
  return addr ? `${formatIP(addr.addr)}/${addr.prefixLen} on index ${addr.index}` : 'address';
}

function describeRoutePayload(payload: Uint8Array): string {
  const route = decodeRoute({ type: RTM_NEWROUTE, flags: 0, seq: 0, pid: 0, payload });
  return route ? describeRoute(route) : 'route';
}

function linkStep(index: number, change: LinkChange, what: string, context: string, optional = false): RequestStep {
  const step: RequestStep = { kind: 'request', type: RTM_NEWLINK, flags: 0, payload: encodeLinkSetPayload(index, change), what: `RTM_NEWLINK index ${index} ${what}`, context };
  if (optional) step.optional = true;
  return step;
}

/**
 * The steps configuring the namespace for `config`, in upstream pasta's
 * order (see the top of this file): loopback up and the tap's MAC address
 * always, addresses, routes and link settings with --config-net. `host`
 * holds the host's dumps for the IP versions whose addresses or routes are
 * copied (an IP version without one copies nothing). Pure: sends nothing.
 */
export function planNamespace(config: Config, tapIndex: number, host: { 4?: TemplateDump; 6?: TemplateDump } = {}): NsStep[] {
  const steps: NsStep[] = [];
  steps.push(linkStep(LOOPBACK_IFINDEX, { up: true }, 'up', 'cannot bring up the loopback interface in the namespace'));
  // --splice-only: no tap device, nothing more to configure (as upstream's pasta_ns_conf()).
  if (config.spliceOnly || tapIndex === 0) return steps;
  if (config.nsMac) {
    const mac = formatMac(config.nsMac);
    steps.push(linkStep(tapIndex, { mac: config.nsMac }, `address ${mac}`, 'cannot set the MAC address in the namespace'));
  }
  if (!config.configNet) return steps;

  // Upstream does not check the result of the MTU and NOARP requests: a warning here.
  if (config.mtu) steps.push(linkStep(tapIndex, { mtu: config.mtu }, `mtu ${config.mtu}`, 'cannot set the MTU in the namespace', true));
  // Up, and with IPv6 also NOARP: the link-local address comes without duplicate address detection.
  const upFlags = IFF_UP | (config.ip6 ? IFF_NOARP : 0);
  steps.push(linkStep(tapIndex, { flags: { flags: upFlags, change: upFlags } }, config.ip6 ? 'up noarp' : 'up', 'cannot bring up the interface in the namespace'));

  for (const family of [4, 6] as const) {
    const ip = family === 4 ? config.ip4 : config.ip6;
    if (!ip) continue;
    const local = ip.hostIfindex === 0;
    const dump = host[family];
    const addrContext = `cannot set IPv${family} address(es) in the namespace`;
    const routeContext = `cannot set IPv${family} route(s) in the namespace`;

    if (family === 6) {
      steps.push({ kind: 'linkLocalNodad', index: tapIndex });
      // The link-local address is NODAD now: neighbour solicitations back on.
      steps.push(linkStep(tapIndex, { flags: { flags: 0, change: IFF_NOARP } }, 'arp on', 'cannot clear NOARP on the interface in the namespace', true));
    }

    if (ip.copyAddrs && !local) {
      for (const message of templateAddrs(dump?.addrs ?? [], ip.hostIfindex, family)) {
        const payload = addrCopyPayload(message.payload, tapIndex);
        if (!payload) continue;
        steps.push({ kind: 'request', type: RTM_NEWADDR, flags: COPY_FLAGS, payload, what: `RTM_NEWADDR ${describeAddr(payload)}`, context: addrContext });
      }
    } else if (family === 4 || !isUnspecified(ip.addr)) {
      const prefixLen = family === 4 ? ip.prefixLen : 64;
      const payload = encodeAddrAddPayload(tapIndex, family, ip.addr, prefixLen, family === 6 ? { nodad: true } : {});
      const step: RequestStep = { kind: 'request', type: RTM_NEWADDR, flags: SET_FLAGS, payload, what: `RTM_NEWADDR ${formatIP(ip.addr)}/${prefixLen} on index ${tapIndex}`, context: addrContext };
      if (local && family === 4) step.unsupportedSkips = 4;
      steps.push(step);
    }

    if (ip.copyRoutes && !local) {
      const routes: RoutesStep['routes'] = [];
      for (const message of templateRoutes(dump?.routes ?? [], ip.hostIfindex, family)) {
        const payload = routeCopyPayload(message.payload, ip.hostIfindex, tapIndex);
        if (payload) routes.push({ payload, what: `RTM_NEWROUTE ${describeRoutePayload(payload)}` });
      }
      if (routes.length) steps.push({ kind: 'routes', family, routes, context: routeContext });
    } else if (ip.gateway) {
      const route = { family, dst: null, dstLen: 0, gateway: ip.gateway, oif: tapIndex, protocol: RTPROT_BOOT, scope: RT_SCOPE_UNIVERSE };
      const step: RequestStep = { kind: 'request', type: RTM_NEWROUTE, flags: SET_FLAGS, payload: encodeRouteAddPayload(route), what: `RTM_NEWROUTE ${describeRoute(route)}`, context: routeContext };
      if (local && family === 6) step.unsupportedSkips = 6;
      steps.push(step);
    }
  }
  return steps;
}

/** Where {@link runNamespacePlan} reports: what it did (debug) and what it could not do (warn). */
export interface PlanLog {
  debug(message: string): void;
  warn(message: string): void;
}

function errnoOf(err: unknown): number | undefined {
  return err instanceof NetlinkRequestError ? err.errno : undefined;
}

/** Rethrow `err` with the step's context in front. */
function withContext(context: string, err: unknown): Error {
  return new Error(`${context}: ${(err as Error).message}`);
}

/**
 * Send the steps of {@link planNamespace} over `nl`, a NETLINK_ROUTE socket
 * in the namespace, in order. Throws an Error with the failing step's
 * context (as upstream dies) on any refusal, except: copied routes refused
 * as existing or unreachable (see the top of this file), optional steps and
 * the link-local step (warnings), and, in local mode, an IP version the
 * kernel does not support (a warning, and the rest of that version left out).
 */
export function runNamespacePlan(nl: Netlink, steps: readonly NsStep[], log: PlanLog): void {
  const skipped = new Set<4 | 6>();
  for (const step of steps) {
    if (step.kind === 'request') {
      const family = step.type === RTM_NEWLINK ? undefined : familyOf(step.payload);
      if (family && skipped.has(family)) continue;
      try {
        nl.request(step.type, step.flags, step.payload, step.what);
        log.debug(`namespace: ${step.what}`);
      } catch (err) {
        if (step.unsupportedSkips && errnoOf(err) === EOPNOTSUPP) {
          log.warn(`IPv${step.unsupportedSkips} not supported, disabling`);
          skipped.add(step.unsupportedSkips);
          continue;
        }
        if (step.optional) {
          log.warn(`${step.context}: ${(err as Error).message}`);
          continue;
        }
        throw withContext(step.context, err);
      }
    } else if (step.kind === 'routes') {
      if (!skipped.has(step.family)) addRoutes(nl, step, log);
    } else {
      if (skipped.has(6)) continue;
      try {
        linkLocalNodad(nl, step.index, log);
      } catch (err) {
        log.warn(`cannot set nodad for the link-local address in the namespace: ${(err as Error).message}`);
      }
    }
  }
}

/**
 * Add copied routes: passes over the ones not added yet while a pass adds
 * any; EEXIST is done, ENETUNREACH and EHOSTUNREACH wait for the next pass,
 * anything else throws. What is still unreachable in the end is left out
 * (upstream does the same, silently).
 */
function addRoutes(nl: Netlink, step: RoutesStep, log: PlanLog): void {
  let pending = step.routes;
  while (pending.length) {
    const retry: RoutesStep['routes'] = [];
    let added = false;
    for (const route of pending) {
      try {
        nl.request(RTM_NEWROUTE, COPY_FLAGS, route.payload, route.what);
        log.debug(`namespace: ${route.what}`);
        added = true;
      } catch (err) {
        const errno = errnoOf(err);
        if (errno === EEXIST) continue;
        if (errno === ENETUNREACH || errno === EHOSTUNREACH) retry.push(route);
        else throw withContext(step.context, err);
      }
    }
    if (!added) break;
    pending = retry;
  }
  for (const route of pending) log.debug(`namespace: left out, its gateway is unreachable: ${route.what}`);
}

/**
 * Mark the link-local (link-scope) IPv6 addresses of `index` IFA_F_NODAD.
 * One the kernel still has tentative (its DAD work, delayed at random, has
 * not run) is deleted and added again with IFA_F_NODAD, which is never
 * tentative; the others are marked with NLM_F_REPLACE, as upstream does.
 */
function linkLocalNodad(nl: Netlink, index: number, log: PlanLog): void {
  for (const message of nl.addrMessages(6)) {
    const addr = decodeAddr(message);
    if (!addr || addr.index !== index || addr.scope !== RT_SCOPE_LINK) continue;
    const what = `${formatIP(addr.addr)}/${addr.prefixLen} on index ${index}`;
    if (addr.flags & IFA_F_TENTATIVE) {
      nl.request(RTM_DELADDR, 0, message.payload, `RTM_DELADDR ${what}`);
      nl.request(RTM_NEWADDR, SET_FLAGS, addrCopyPayload(message.payload, index)!, `RTM_NEWADDR ${what} nodad`);
      log.debug(`namespace: link-local ${what} added again, nodad (it was tentative)`);
    } else {
      nl.request(RTM_NEWADDR, NLM_F_REPLACE, addrNodadPayload(message.payload)!, `RTM_NEWADDR ${what} nodad`);
      log.debug(`namespace: link-local ${what} nodad`);
    }
  }
}
