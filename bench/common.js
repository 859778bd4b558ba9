// Small helpers every section of bench/run.js uses: one copy of each.

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
 * Throughput of one `iperf3 -J` run (the receiver's rate) and its stalls: the
 * one-second intervals in which (almost) nothing moved — stalls, not slowness.
 * Throws naming `what` when the run failed.
 */
export function parseIperf(result, what) {
  const json = iperfJson(result, what);
  const bps = json.end?.sum_received?.bits_per_second;
  if (typeof bps !== 'number' || !(bps > 0)) throw new Error(`${what}: iperf3 reported no throughput`);
  const stalls = (json.intervals ?? []).filter((i) => (i.sum?.bits_per_second ?? 0) < 1e7).length;
  return { gbps: bps / 1e9, stalls };
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
