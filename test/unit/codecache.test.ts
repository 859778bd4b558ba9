/**
 * The code cache loader of the background pasta (src/cli/codecache.cts), on a
 * small dist/ of its own in a temporary directory: modules load with their
 * cached data; data for a source that changed is never used, even when the
 * length is the same (V8 itself checks only the length); a module with an
 * import() of its own works (it is compiled from source, nodejs/node#43663);
 * a damaged cache file only means compiling from source; running the file
 * writes the cache for cli/pasta.js; without
 * --experimental-vm-modules the module is imported the ordinary way; a
 * background copy rewrites a missing cache once it is ready.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const LOADER = path.join(root, 'dist', 'cli', 'codecache.cjs');

let dir: string;
let dist: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codecache-unit-'));
  dist = path.join(dir, 'dist');
  fs.mkdirSync(path.join(dist, 'cli'), { recursive: true });
  fs.copyFileSync(LOADER, path.join(dist, 'cli', 'codecache.cjs'));
  fs.writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}\n');
  fs.writeFileSync(path.join(dist, 'a.js'), "import { b } from './b.js';\nimport os from 'node:os';\nexport const value = b + 1;\nexport const eol = os.EOL;\n");
  fs.writeFileSync(path.join(dist, 'b.js'), 'export const b = 41;\n');
  fs.writeFileSync(
    path.join(dist, 'c.js'),
    "import { value } from './a.js';\nexport const url = import.meta.url;\nexport const d = (await import('./b.js')).b + value;\n",
  );
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Run `body` (an async function body; `m` is the loader module) in a Node with `flags`; its JSON result. */
function run(body: string, flags = ['--experimental-vm-modules', '--no-warnings']): unknown {
  const script = `const m = await import(${JSON.stringify(path.join(dist, 'cli', 'codecache.cjs'))});\n` +
    `const out = await (async () => { ${body} })();\nprocess.stdout.write(JSON.stringify(out));\n`;
  // A file, not -e: the loader looks at the Node options (process.execArgv), and -e is one.
  const file = path.join(dir, 'run.js');
  fs.writeFileSync(file, script);
  const r = spawnSync(process.execPath, [...flags, file], { encoding: 'utf8', cwd: dir });
  if (r.status !== 0) throw new Error(`node exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const load = (file: string, what: string): string =>
  `const r = await m.importWithCodeCache(${JSON.stringify(path.join(dist, file))}); return { v: ${what}, fromCache: r.fromCache() };`;

describe('code cache loader', () => {
  it('writes data for the modules without import() and loads them from it', () => {
    expect(run("return await m.writeCodeCache(['c.js']);")).toBe(2); // a.js, b.js (c.js has an import())
    expect(fs.existsSync(path.join(dist, '.code-cache'))).toBe(true);
    expect(run(load('a.js', '[r.exports.value, r.exports.eol]'))).toEqual({ v: [42, os.EOL], fromCache: 2 });
    const c = run(load('c.js', '[r.exports.d, r.exports.url]')) as { v: [number, string]; fromCache: number };
    expect(c.v).toEqual([83, `file://${path.join(dist, 'c.js')}`]);
    expect(c.fromCache).toBe(2);
  });

  it('never runs data of an older source, even of the same length', () => {
    run("return await m.writeCodeCache(['a.js']);");
    fs.writeFileSync(path.join(dist, 'b.js'), 'export const b = 99;\n');
    expect(run(load('a.js', 'r.exports.value'))).toEqual({ v: 100, fromCache: 1 });
  });

  it('compiles from source when the cache file is damaged or missing', () => {
    run("return await m.writeCodeCache(['a.js']);");
    const file = path.join(dist, '.code-cache');
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, bytes.subarray(0, bytes.length >> 1));
    expect(run(load('a.js', 'r.exports.value'))).toEqual({ v: 42, fromCache: 0 });
    fs.writeFileSync(file, 'garbage');
    expect(run(load('a.js', 'r.exports.value'))).toEqual({ v: 42, fromCache: 0 });
    fs.rmSync(file);
    expect(run(load('a.js', 'r.exports.value'))).toEqual({ v: 42, fromCache: 0 });
  });

  it('refresh() writes the data a run lacked, for the next one', () => {
    expect(run(`${load('a.js', 'r.exports.value').replace('return', 'r.refresh(); return')}`)).toEqual({ v: 42, fromCache: 0 });
    expect(run(load('a.js', 'r.exports.value'))).toEqual({ v: 42, fromCache: 2 });
  });

  it('`node dist/cli/codecache.cjs -v` writes the file for cli/pasta.js and what it imports', () => {
    fs.mkdirSync(path.join(dist, 'cli'), { recursive: true });
    fs.writeFileSync(path.join(dist, 'cli', 'pasta.js'), "import { value } from '../a.js';\nexport const main = () => value;\n");
    const r = spawnSync(process.execPath, [path.join(dist, 'cli', 'codecache.cjs'), '-v'], { encoding: 'utf8', cwd: dir });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`code cache: 3 modules in ${path.join(dist, '.code-cache')}\n`);
    expect(run(load('cli/pasta.js', 'r.exports.main()'))).toEqual({ v: 42, fromCache: 3 });
  });

  it('imports the ordinary way without --experimental-vm-modules', () => {
    expect(run(load('c.js', 'r.exports.d'), [])).toEqual({ v: 83, fromCache: 0 });
  });
});
