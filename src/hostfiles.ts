/**
 * Files of the host that the configuration reads: /etc/resolv.conf and the
 * kernel's ephemeral port range. No addon, no engine: the front ends read
 * these before anything heavy is loaded.
 */
import fs from 'node:fs';

/** The kernel's ephemeral port range, left out of "all" port forwarding. */
export function readEphemeralPorts(): { first: number; last: number } | undefined {
  try {
    const [first, last] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return first > 0 && last >= first ? { first, last } : undefined;
  } catch {
    return undefined;
  }
}

/** The host's /etc/resolv.conf, or '' if there is none. */
export function readResolvConf(): string {
  try {
    return fs.readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}

/** The file's text, or '' if it cannot be read. */
function readText(path: string): string {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Who we run as, for --runas and upstream's switch away from root
 * (conf.ts HostEnv): the effective uid and gid, whether this is the initial
 * user namespace (its uid_map maps every uid to itself, as upstream's
 * ns_is_init() checks), and /etc/passwd and /etc/group for names.
 */
export function readHostEnv(): { euid: number; egid: number; initUserns: boolean; passwd: string; group: string } {
  const euid = process.geteuid?.() ?? 0;
  const egid = process.getegid?.() ?? 0;
  const map = readText('/proc/self/uid_map').trim().split(/\s+/);
  const initUserns = map.length === 3 && map[0] === '0' && map[1] === '0' && map[2] === '4294967295';
  return { euid, egid, initUserns, passwd: readText('/etc/passwd'), group: readText('/etc/group') };
}
