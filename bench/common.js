// Small helpers every section of bench/run.js uses: one copy of each.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The median of some numbers (the mean of the middle two for an even count). */
export function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** The first meaningful line of a tool's output, for messages (pasta(1)'s syslog complaints skipped). */
export function firstLine(text) {
  return (
    String(text)
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/^Failed to send \d+ bytes to syslog/.test(l))[0] ?? ''
  ).slice(0, 200);
}

/**
 * Throughput of one `iperf3 -J` run (the receiver's rate and byte count), its
 * stalls — the one-second intervals in which (almost) nothing moved: stalls,
 * not slowness — and the sender's TCP retransmissions (null where iperf3 does
 * not report them). Throws naming `what` when the run failed.
 */
export function parseIperf(result, what) {
  const json = iperfJson(result, what);
  const bps = json.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number' || !(bps > 0)) throw new Error(`${what}: iperf3 reported no throughput`);
  const stalls = (json.intervals ?? []).filter((i) => (i.sum?.bits_per_second ?? 0) < 1e7).length;
  const retransmits = json.end?.sum_sent?.retransmits;
  return {
    gbps: bps / 1e9,
    stalls,
    bytes: Number(json.end.sum_received.bytes) || 0,
    retransmits: typeof retransmits === 'number' ? retransmits : null,
  };
}

/** The JSON report of an `iperf3 -J` run, or throw naming `what` with the reason it failed. */
export function iperfJson(result, what) {
  const text = result.stdout.toString();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    const why = result.timedOut ? 'timed out' : `exit ${result.code ?? result.signal}`;
    throw new Error(`${what}: ${why}: ${firstLine(result.stderr) || firstLine(text) || 'no output'}`);
  }
  if (json.error) throw new Error(`${what}: iperf3: ${json.error}`);
  return json;
}

/**
 * Upstream pasta/passt built from current source by bench/upstream.sh, in
 * `dir` (--upstream-dir, $NODE_PASST_UPSTREAM_DIR, /var/cache/node-passt-upstream;
 * an upstream source tree built in place with `make` serves too, its commit
 * then read from its git HEAD):
 * { available: true, dir, pasta, passt, version ("pasta 2026_07_16.090d739-11-g37a73a2"),
 * tag ("2026_07_16"), commit } or { available: false, dir, reason }.
 */
export function upstreamBuild(dir) {
  const pasta = path.join(dir, 'pasta');
  const passt = path.join(dir, 'passt');
  if (!fs.existsSync(pasta) || !fs.existsSync(passt)) {
    return { available: false, dir, reason: `not available (run bench/upstream.sh: no pasta and passt in ${dir})` };
  }
  let version;
  let commit;
  try {
    const text = fs.readFileSync(path.join(dir, 'VERSION'), 'utf8');
    version = /^version: (.+)$/m.exec(text)?.[1];
    commit = /^commit: (.+)$/m.exec(text)?.[1];
  } catch {
    // ask the binary below
  }
  if (!version) {
    const r = spawnSync(pasta, ['--version'], { encoding: 'utf8', timeout: 10_000 });
    version = r.status === 0 ? r.stdout.split('\n')[0].trim() : undefined;
  }
  if (!version) return { available: false, dir, reason: `not available (${pasta} --version fails: run bench/upstream.sh)` };
  if (!commit) {
    // a source tree built in place (NODE_PASST_UPSTREAM_DIR=/path/to/passt-src): its git HEAD
    const r = spawnSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { encoding: 'utf8', timeout: 10_000 });
    if (r.status === 0 && /^[0-9a-f]{40}$/.test(r.stdout.trim())) {
      const dirty = spawnSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', timeout: 10_000 });
      commit = `${r.stdout.trim()}${dirty.status === 0 && dirty.stdout.trim() ? ' (modified)' : ''}`;
    }
  }
  const tag = /^\S+ ([^.\s]+)/.exec(version)?.[1] ?? version;
  // bench/upstream.sh writes VERSION; a source tree built in place has none
  const built = fs.existsSync(path.join(dir, 'VERSION')) ? `built by bench/upstream.sh in ${dir}` : `a source tree built in place, ${dir}`;
  return { available: true, dir, pasta, passt, version, tag, commit, built };
}

/** The upstream build's label: "pasta (upstream 2026_07_16)" (`what` passt for passt). */
export const upstreamLabel = (tag, what = 'pasta') => `${what} (upstream${tag ? ` ${tag}` : ''})`;

export const DEFAULT_UPSTREAM_DIR = process.env.NODE_PASST_UPSTREAM_DIR || '/var/cache/node-passt-upstream';

/** Resolves once `socketPath` listens (a UNIX socket in the host namespace), or throws. */
export async function waitForListening(topo, socketPath, child, getLog, waitMs = 20_000) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const table = fs.readFileSync(`/proc/${topo.hostPid}/net/unix`, 'utf8');
    if (table.split('\n').some((l) => l.endsWith(` ${socketPath}`) && l.split(/\s+/)[3] === '00010000')) return;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited (${child.exitCode ?? child.signalCode}) before listening: ${getLog().trim().split('\n').slice(-1)[0] ?? ''}`);
    }
    if (Date.now() > deadline) throw new Error(`did not listen on its socket within ${waitMs} ms`);
    await delay(50);
  }
}

/** SIGTERM `child` (a node ChildProcess), SIGKILL if it is still there 3 s later; resolves once it exited. */
export async function stopChild(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}
