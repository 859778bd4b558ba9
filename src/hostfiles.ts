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
