// The Node API (createPasta) against real traffic: the script runs inside the
// topology's host namespace, so the namespaces it creates reach only the private
// "remote" network.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, ADDRESSES as A, type Topology } from './topology.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let topo: Topology;

beforeAll(async () => {
  topo = await createTopology();
});

afterAll(async () => {
  await topo?.close();
});

// Both ways the engine can run: in the script's process, and in a sandboxed child of it.
for (const sandbox of ['none', 'process'] as const) describe(`createPasta() (sandbox: '${sandbox}')`, () => {
  it('connects a namespace, spawns in it, forwards ports at run time, counts traffic, and closes without leaks', async () => {
    const http = await topo.startRemoteServer('http', ['--port', '80']);
    try {
      const env = { ...process.env, ...(sandbox === 'process' ? { NODE_PASST_API_SANDBOX: sandbox } : {}) };
      const r = await topo.execHost([process.execPath, path.join(here, 'api-script.mjs'), A.serverV4, '80'], { timeoutMs: 60_000, env });
      expect(r.stderr.toString()).toBe('');
      const out = JSON.parse(r.stdout.toString().trim().split('\n').pop()!);
      expect(out).toMatchObject({
        error_mtu: 'mtu',
        error_bogus: 'bogus',
        'error_ports.tcp': 'ports.tcp',
        'error_dnsForward[0]': 'dnsForward[0]',
        netnsPath: true,
        curl: 'hello from remote\n',
        framesFromTap: true,
        listening8080: true,
        'error_ports.udpNs': 'ports.udpNs',
        list: [{ protocol: 'tcp', spec: '9090:90' }, { protocol: 'udp', spec: '9191:91' }],
        udpEcho: 'ping from 9191',
        udpSpliced: true,
        listening9090: true,
        listening9090After: false,
        curl2: 'hello from remote\n',
        twoDistinct: true,
        listening8080After: false,
        fdLeak: 0,
      });
      if (sandbox === 'process') {
        // As root (the topology made as root): every capability dropped but CAP_NET_BIND_SERVICE,
        // and an empty root; rootless: no capabilities to drop, the filter is the wall.
        expect(out.sandbox).toMatchObject({ child: true, seccomp: '2', noNewPrivs: '1', capEff: topo.fullIdMap ? '0000000000000400' : '0000000000000000' });
        if (topo.fullIdMap) expect(out.sandbox.root).toEqual([]);
      } else {
        expect(out.sandbox).toBeUndefined();
      }
      expect(out.tcpOpened).toBeGreaterThanOrEqual(1);
      expect(out.flow).toMatchObject({ protocol: 'tcp', direction: 'out', family: 4, guest: { address: A.hostV4 }, remote: { address: A.serverV4, port: 80 } });
      expect(out.bytesToTap).toBeGreaterThan(0);
    } finally {
      await http.stop();
    }
  });
});

describe('the README example', () => {
  it('runs as written', async () => {
    const readme = fs.readFileSync(path.join(here, '..', '..', 'README.md'), 'utf8');
    const m = /```js\n(\/\/ README example[^\n]*\n[\s\S]*?)```/.exec(readme);
    expect(m).not.toBeNull();
    const dist = path.join(here, '..', '..', 'dist', 'index.js');
    const code = m![1].replace("from 'node-passt'", `from ${JSON.stringify(dist)}`);
    const file = path.join(os.tmpdir(), `readme-example-${process.pid}.mjs`);
    fs.writeFileSync(file, code);
    const http = await topo.startRemoteServer('http', ['--port', '80']);
    try {
      const r = await topo.execHost([process.execPath, file], { timeoutMs: 30_000 });
      expect(r.stderr.toString()).toBe('');
      expect(r.stdout.toString()).toMatch(/^hello from remote\nTCP connections: 1, bytes to the namespace: \d+\n$/);
      expect(r.code).toBe(0);
    } finally {
      await http.stop();
      fs.rmSync(file, { force: true });
    }
  });
});
