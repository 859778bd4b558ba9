// pasta without --config-net: the namespace configures itself from our DHCP server
// and router advertisements, as a guest of passt would, and then reaches the remote.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, ADDRESSES as A, type Topology } from './topology.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PASTA = path.join(here, '..', '..', 'bin', 'pasta.js');
const SCRIPT = path.join(here, 'udhcpc-script.sh');

let topo: Topology;

beforeAll(async () => {
  topo = await createTopology();
});

afterAll(async () => {
  await topo?.close();
});

describe('pasta address configuration services', () => {
  it('a DHCP client gets the host address, prefix, gateway, MTU and resolvers; SLAAC from our advertisements; traffic flows', async () => {
    const http = await topo.startRemoteServer('http', ['--port', '80']);
    try {
      const script = [
        'ip link set eth0 up',
        `busybox udhcpc -i eth0 -s ${SCRIPT} -q -n -t 5 -T 1 2>/dev/null`,
        // The kernel solicits a router advertisement once the link is up; wait for SLAAC.
        'for i in 1 2 3 4 5 6 7 8 9 10; do ip -6 route show default | grep -q via && break; sleep 0.5; done',
        'ip -j -6 addr show eth0 scope global',
        `curl -sS --max-time 5 http://${A.serverV4}/`,
        `curl -sS --max-time 5 http://[${A.serverV6}]/`,
      ].join(' && ');
      const r = await topo.execHost([process.execPath, PASTA, '--dhcp-dns', '-D', '192.0.2.53', '-m', '9000', '--', 'sh', '-c', script], { timeoutMs: 30_000 });
      const out = r.stdout.toString();
      expect(out).toContain(`DHCP ip=${A.hostV4} mask=${A.prefixV4} router=${A.gatewayV4} mtu=9000 dns=192.0.2.53`);
      const v6 = JSON.parse(out.split('\n').find((l) => l.startsWith('['))!);
      const slaac = v6[0].addr_info.find((a: any) => a.local.startsWith('2001:db8::') && a.prefixlen === 64);
      expect(slaac).toBeDefined();
      expect(out).toContain('hello from remote\nhello from remote\n');
      expect(r.code).toBe(0);
    } finally {
      await http.stop();
    }
  });

  it('--no-dhcp leaves DHCP requests unanswered', async () => {
    const r = await topo.execHost(
      [process.execPath, PASTA, '--no-dhcp', '--', 'sh', '-c', `ip link set eth0 up; busybox udhcpc -i eth0 -s ${SCRIPT} -q -n -t 2 -T 1 2>/dev/null; echo rc=$?`],
      { timeoutMs: 30_000 },
    );
    expect(r.stdout.toString()).not.toContain('DHCP ip=');
    expect(r.stdout.toString()).toContain('rc=1');
  });
});
