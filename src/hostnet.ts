/**
 * The host's network as pasta and passt start from it: links, addresses and
 * routes of our own network namespace, read over rtnetlink.
 *
 * Theory of operation: one NETLINK_ROUTE socket, five dumps, closed again.
 * This file needs only the addon and the netlink code, not the engine, so a
 * front end can read the host and validate its options (conf.ts) without
 * loading the translator (cli/pasta.ts does, while its background copy
 * starts).
 */
import { native, C, errnoName } from './native.js';
import { Netlink } from './netlink.js';
import type { HostNet } from './conf.js';

/** Read the host's links, addresses and routes over rtnetlink (in our own namespace). */
export function readHostNet(): HostNet {
  const fd = native.socket(C.AF_NETLINK, C.SOCK_RAW, C.NETLINK_ROUTE);
  if (fd < 0) throw new Error(`cannot open a netlink socket: ${errnoName(fd)}`);
  try {
    const nl = new Netlink(fd);
    return {
      links: nl.links(),
      addrs4: nl.addrs(4),
      addrs6: nl.addrs(6),
      routes4: nl.routes(4),
      routes6: nl.routes(6),
    };
  } finally {
    native.close(fd);
  }
}
