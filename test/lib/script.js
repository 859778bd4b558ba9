// Running the test beds' shell scripts (test/podman/setup.sh,
// test/libvirt/setup.sh) from the e2e tests (test/e2e/helpers.ts) and the
// start-up bench (bench/startup.js).
import { spawn } from 'node:child_process';

/**
 * Run `bash SCRIPT ARGS` to its end (SIGKILL after `timeoutMs`), with
 * NODE_BIN naming this node; resolves with its exit code and combined output.
 * @param {string} script @param {string[]} args @param {number} timeoutMs
 * @returns {Promise<{ code: number | null, output: string }>}
 */
export function runScript(script, args, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn('bash', [script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_BIN: process.execPath },
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n(killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, output: `${output}\n${e.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
