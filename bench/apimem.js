// Memory of createPasta() per instance: one program holding 1, 10 and 50
// instances at once, and what they cost in total.
//
// Theory of operation: `node bench/apimem.js [--counts 1,10,50] [--uid N]
// [--sandbox none|process] [--churn MIB]` builds the test topology
// (test/e2e/topology-core.js) and, for each count, runs this file again as
// the unprivileged user (uid 1000 by default; rootless, as Podman's users
// are) in the topology's host namespace, in "--child" mode. The child
// creates the instances one after the other, each with an explicit resolver
// (--dns, an address of the topology: no traffic goes anywhere), then
// optionally allocates and touches --churn MiB of JavaScript objects (a
// program whose heap changes after its instances started: a namespace
// holder forked from it without exec would see its copy-on-write snapshot
// of the old heap become private), then sums the PSS
// (/proc/PID/smaps_rollup) of itself and of every process descended from it:
// the namespace holders, pasta's helpers, a sandboxed engine. PSS shares
// each page out among the processes mapping it, so the sum is what the
// whole set costs the machine. It prints one JSON line; the parent prints a
// table: total PSS and the cost of each instance beyond the first.
//
// Nothing here touches the machine's network: every namespace is the
// topology's or made under it.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

/** PSS and its anonymous part of one process, in KiB, or undefined if it is gone. */
function pss(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { pss: field('Pss'), anon: field('Pss_Anon'), rss: field('Rss') };
  } catch {
    return undefined;
  }
}

/** Every process descended from `pid` (children, theirs, ...). */
function descendants(pid) {
  const parent = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out = [];
  const walk = (p) => {
    for (const [child, pp] of parent) {
      if (pp === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

async function child(count, sandbox, churnMiB, dns) {
  const { createPasta } = await import(path.join(root, 'dist', 'index.js'));
  const pastas = [];
  for (let i = 0; i < count; i++) pastas.push(await createPasta({ dns: [dns], sandbox }));
  // Some heap that changes after the instances started (see the top of this file).
  const junk = [];
  for (let i = 0; i < churnMiB * 16; i++) junk.push(Array.from({ length: 8192 }, (_, j) => ({ i, j })));
  if (global.gc) global.gc();
  // The parent, root, reads every process's PSS (a locked-down helper is not dumpable,
  // so its /proc files are closed to us), then answers on our stdin.
  process.stdout.write(`ready ${process.pid} ${junk.length}\n`);
  await new Promise((resolve) => process.stdin.once('data', resolve));
  process.stdin.destroy();
  for (const p of pastas) await p.close();
}

/** The program's and its descendants' PSS, read by the parent. */
function measure(count, pid) {
  const self = pss(pid);
  const others = descendants(pid).map((p) => {
    let comm = '?';
    try {
      comm = fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim();
    } catch {
      // gone
    }
    return { pid: p, comm, ...pss(p) };
  });
  const byComm = {};
  for (const o of others) {
    byComm[o.comm] ??= { n: 0, pss: 0 };
    byComm[o.comm].n += 1;
    byComm[o.comm].pss += o.pss ?? 0;
  }
  const total = self.pss + others.reduce((s, o) => s + (o.pss ?? 0), 0);
  return { count, selfPss: self.pss, selfAnon: self.anon, selfRss: self.rss, totalPss: total, byComm };
}

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

async function main() {
  const sandbox = arg('--sandbox', 'none');
  const churn = Number(arg('--churn', '0'));
  if (process.argv.includes('--child')) {
    await child(Number(arg('--child')), sandbox, churn, arg('--dns'));
    return;
  }
  const { createTopology, runInHostAsUser } = await import(path.join(root, 'test', 'e2e', 'topology-core.js'));
  const counts = arg('--counts', '1,10,50').split(',').map(Number);
  const uid = Number(arg('--uid', '1000'));
  const topo = await createTopology();
  const rows = [];
  try {
    for (const count of counts) {
      const argv = [process.execPath, '--expose-gc', fileURLToPath(import.meta.url), '--child', String(count), '--sandbox', sandbox, '--churn', String(churn), '--dns', topo.addresses.serverV4];
      const full = topo.fullIdMap ? runInHostAsUser(topo, uid, uid, argv) : topo.hostArgs(argv);
      const proc = topo.spawnArgs(full, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HOME: '/tmp' } });
      let stdout = '';
      let stderr = '';
      proc.stderr.on('data', (d) => (stderr += d));
      const ready = await new Promise((resolve, reject) => {
        proc.stdout.on('data', (d) => {
          stdout += d;
          const m = /^ready (\d+)/m.exec(stdout);
          if (m) resolve(Number(m[1]));
        });
        proc.on('exit', (code) => reject(new Error(`apimem: ${count} instances failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`)));
      });
      const out = measure(count, ready);
      proc.stdin.end('done\n');
      await new Promise((resolve) => (proc.exitCode !== null ? resolve() : proc.once('exit', resolve)));
      rows.push(out);
      process.stderr.write(`apimem: ${JSON.stringify(out)}\n`);
    }
  } finally {
    await topo.close();
  }
  const mib = (kib) => (kib / 1024).toFixed(1);
  process.stdout.write(`createPasta() memory, sandbox '${sandbox}', churn ${churn} MiB, uid ${uid} (total PSS of the program and its descendants)\n\n`);
  process.stdout.write('instances  total PSS MiB  program PSS MiB  descendants (count × comm: PSS MiB)  MiB per instance beyond the first\n');
  for (const r of rows) {
    const desc = Object.entries(r.byComm).map(([c, v]) => `${v.n} × ${c}: ${mib(v.pss)}`).join(', ') || '–';
    const per = r.count > 1 && rows[0].count === 1 ? ((r.totalPss - rows[0].totalPss) / 1024 / (r.count - 1)).toFixed(2) : '–';
    process.stdout.write(`${String(r.count).padEnd(9)}  ${mib(r.totalPss).padEnd(13)}  ${mib(r.selfPss).padEnd(15)}  ${desc.padEnd(36)}  ${per}\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
