// The shared engines (src/cli/shared.ts) running on this machine, found by
// their environment, for the tests (test/e2e/helpers.ts) and the bench
// (bench/density.js, bench/startup.js) alike.
import fs from 'node:fs';

/**
 * PIDs of the live shared engines whose socket path starts with `under`
 * (their environment names it: NODE_PASTA_ENGINE_SOCKET), in network
 * namespace `netns` (a /proc/PID/ns/net link's text) when given. Zombies and
 * processes being reaped are left out.
 * @param {string} [under]
 * @param {string} [netns]
 * @returns {number[]}
 */
export function sharedEngines(under = '', netns) {
  const found = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (netns && fs.readlinkSync(`/proc/${entry}/ns/net`) !== netns) continue;
      if (/\) [ZX] /.test(fs.readFileSync(`/proc/${entry}/stat`, 'utf8'))) continue;
      const env = fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (env.some((e) => e.startsWith(`NODE_PASTA_ENGINE_SOCKET=${under}`))) found.push(Number(entry));
    } catch {
      // not ours to read, or gone meanwhile
    }
  }
  return found;
}
