// Summarise a V8 CPU profile (node --cpu-prof) by self time per function.
//
// Native addon calls (syscalls) have no frame of their own in a V8 profile:
// their time is counted as self time of the JavaScript function that made
// the call, so "flush" includes the tap write syscalls and "flushTapBatch"
// the socket sendmsg. "(idle)" is time the event loop waited for events.

import fs from 'node:fs';

/**
 * @param {string} file a .cpuprofile
 * @param {number} [top]
 * @returns {{ totalMs: number, idleShare: number, rows: Array<{ share: number, name: string }> }}
 */
export function summarizeProfile(file, top = 12) {
  const p = JSON.parse(fs.readFileSync(file, 'utf8'));
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const selfById = new Map();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    selfById.set(p.samples[i], (selfById.get(p.samples[i]) ?? 0) + dt);
  }
  const byName = new Map();
  for (const [id, t] of selfById) {
    const f = nodes.get(id).callFrame;
    const where = f.url ? `${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}` : '';
    const name = `${f.functionName || '(anonymous)'}${where ? ` (${where})` : ''}`;
    byName.set(name, (byName.get(name) ?? 0) + t);
  }
  const idle = [...byName].filter(([n]) => n.startsWith('(idle)')).reduce((a, [, t]) => a + t, 0);
  const rows = [...byName]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, t]) => ({ share: total ? t / total : 0, name }));
  return { totalMs: total / 1000, idleShare: total ? idle / total : 0, rows };
}
