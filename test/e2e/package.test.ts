// The package as a user gets it: `npm pack` of (a copy of) the checkout,
// which compiles dist/, the manual and the prebuilt addon through prepack,
// then `npm install` of the tarball into an empty directory with every
// compiler hidden, then `npx pasta`.
//
// Compilers are hidden by giving npm a PATH that holds only node, npm, npx,
// sh and true, plus stand-ins named cc, gcc, g++, c++, make and python3
// that write a marker file and fail: the install must neither need nor try
// them. The only thing fetched is the package's dependencies (pino,
// node-gyp-build, node-addon-api), from the npm registry. `pasta
// --config-net` then runs inside the private test topology's "host".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, type Topology } from './topology.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string; version: string };

const COMPILERS = ['cc', 'gcc', 'g++', 'c++', 'clang', 'make', 'python3', 'python'];
const TOOLS = ['node', 'npm', 'npx', 'sh', 'true'];

/** Our environment without what the surrounding npm and vitest put in it (the tests' own npm must not inherit them). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|NPM_|VITEST|NODE_OPTIONS$|INIT_CWD$|TEST$)/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** Run a command to completion; fail with its output if it fails. */
function run(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env, encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 1 << 26 });
  if (r.error || r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}):\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

/** Where a command lives on our PATH. */
function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && fs.existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

interface PackEntry {
  filename: string;
  files: Array<{ path: string }>;
}

/** The JSON array `npm pack --json` prints, after whatever the prepack scripts printed. */
function packJson(stdout: string): PackEntry[] {
  const start = stdout.search(/^\[$/m);
  if (start < 0) throw new Error(`no JSON in npm pack's output:\n${stdout}`);
  return JSON.parse(stdout.slice(start)) as PackEntry[];
}

/** Files a user must never receive: tests, sources of the build, intermediates, dependencies. */
function forbidden(files: string[]): string[] {
  return files.filter((f) =>
    /^(test|src|scripts|bench|build|node_modules|\.cache|\.ci|\.github)\//.test(f) ||
    /(^|\/)node_modules\//.test(f) ||
    /\.(test|spec)\.[cm]?[jt]s$/.test(f) ||
    /\.(o|a|d|mk|map|tsbuildinfo|log|tgz)$/.test(f) ||
    /(^|\/)(Makefile|config\.gypi|tsconfig\.json|vitest\.config\.ts|package-lock\.json)$/.test(f),
  );
}

describe('the published file list', () => {
  it('(npm pack --dry-run --json) has no tests, no build intermediates, no node_modules', () => {
    const r = run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, env: cleanEnv() });
    const files = packJson(r.stdout)[0].files.map((f) => f.path);
    expect(forbidden(files)).toEqual([]);
    for (const f of ['package.json', 'README.md', 'LICENSE', 'bin/pasta.js', 'binding.gyp', 'doc/pasta.1', 'native/addon.cc']) {
      expect(files).toContain(f);
    }
  });
});

describe('npm install of the packed tarball, without a compiler', () => {
  let tmp: string;
  let tarball: string;
  let tarballFiles: string[];
  let app: string;
  let hiddenPath: string;
  let marker: string;
  let topo: Topology | undefined;

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'node-passt-package-'));
    // Started as root, pasta runs its command as nobody (as upstream): it must reach PATH's tools here.
    fs.chmodSync(tmp, 0o755);
    // Pack a copy of the checkout: prepack rewrites dist/ (tsc), and other
    // test files running at the same time start bin/pasta.js from the
    // checkout's dist/. The copy shares node_modules (dev tools) by a link.
    const checkout = path.join(tmp, 'checkout');
    const skip = new Set(['node_modules', '.git', 'build', 'dist', 'prebuilds', '.cache', path.join('bench', 'out')]);
    fs.cpSync(root, checkout, { recursive: true, filter: (from) => !skip.has(path.relative(root, from)) });
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(checkout, 'node_modules'));
    // Runs prepack: dist/, the manual, the prebuilt addon.
    const r = run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: checkout, env: cleanEnv(), timeoutMs: 180_000 });
    const [entry] = packJson(r.stdout);
    tarball = path.join(tmp, entry.filename);
    tarballFiles = entry.files.map((f) => f.path);

    // A PATH with only what an install needs, and tripwires for compilers.
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    for (const tool of TOOLS) {
      const target = tool === 'node' ? process.execPath : which(tool);
      if (!target) throw new Error(`${tool} not found on PATH`);
      fs.symlinkSync(target, path.join(bin, tool));
    }
    marker = path.join(tmp, 'compiler-was-run');
    for (const tool of COMPILERS) {
      fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\necho "$0 $*" >> '${marker}'\nexit 1\n`, { mode: 0o755 });
    }
    hiddenPath = bin;

    app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'package-test-app', version: '1.0.0', private: true }, null, 2));
  }, 240_000);

  afterAll(async () => {
    await topo?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const userEnv = () =>
    cleanEnv({
      PATH: hiddenPath,
      npm_config_build_from_source: 'false',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
    });

  it('the tarball holds dist/ with types, the manual, the sources for a fallback build and a linux-x64 prebuild', () => {
    expect(forbidden(tarballFiles)).toEqual([]);
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/pasta.js', 'dist/native.js', 'doc/pasta.1', 'binding.gyp', 'LICENSE']) {
      expect(tarballFiles).toContain(f);
    }
    expect(tarballFiles.filter((f) => /^prebuilds\/linux-x64\/[^/]+\.node$/.test(f))).toHaveLength(1);
    // arm64 comes along only where a cross compiler was found (see scripts/prebuild.js).
    const arm64 = tarballFiles.filter((f) => f.startsWith('prebuilds/linux-arm64/'));
    expect(arm64.length).toBe(which('aarch64-linux-gnu-g++') ? 1 : 0);
    // Every compiled file in dist/ has its source: nothing stale ships.
    for (const f of tarballFiles.filter((f) => f.startsWith('dist/') && f.endsWith('.js'))) {
      expect(fs.existsSync(path.join(tmp, 'checkout', 'src', f.slice('dist/'.length).replace(/\.js$/, '.ts'))), f).toBe(true);
    }
  });

  it('installs from the prebuild without compiling anything', () => {
    const r = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', tarball], {
      cwd: app,
      env: userEnv(),
      timeoutMs: 120_000,
    });
    const installed = path.join(app, 'node_modules', pkg.name);
    expect(fs.existsSync(marker), fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8') : '').toBe(false);
    expect(r.stdout + r.stderr).not.toMatch(/gyp info|node-gyp rebuild/);
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
    expect(fs.readdirSync(path.join(installed, 'prebuilds', 'linux-x64')).filter((f) => f.endsWith('.node'))).toHaveLength(1);
    // The programs built with the addon come along: the namespace holder, and the launcher that
    // bin/pasta.js execs when run as a program (the shared engine's client).
    for (const program of ['node-passt-nsholder', 'node-passt-launch']) {
      expect(fs.statSync(path.join(installed, 'prebuilds', 'linux-x64', program)).mode & 0o111).not.toBe(0);
    }
    expect(fs.existsSync(path.join(app, 'node_modules', '.bin', 'pasta'))).toBe(true);
  }, 150_000);

  it('npx pasta --version prints the package version', () => {
    const r = run('npx', ['pasta', '--version'], { cwd: app, env: userEnv() });
    expect(r.stdout).toBe(`pasta (node-passt) ${pkg.version}\n`);
  });

  it("ships a launcher that runs here (statically linked), where bin/pasta.js's first line finds it", () => {
    const launcher = path.join(app, 'node_modules', pkg.name, 'prebuilds', 'linux-x64', 'node-passt-launch');
    const r = spawnSync(launcher, [], { encoding: 'utf8', env: userEnv() });
    expect(r.stderr).toBe('usage: node-passt-launch SCRIPT [ARGS...] (see bin/pasta.js)\n');
    expect(r.status).toBe(2);
    expect(fs.readFileSync(path.join(app, 'node_modules', pkg.name, 'bin', 'pasta.js'), 'utf8').split('\n')[1]).toContain('/../prebuilds/linux-x64/node-passt-launch');
  });

  it('the package entry point imports, and TypeScript finds its types with no extra package', () => {
    const r = run('node', ['--input-type=module', '-e', `import { version } from '${pkg.name}'; console.log(version);`], { cwd: app, env: userEnv() });
    expect(r.stdout).toBe(`${pkg.version}\n`);
    fs.writeFileSync(
      path.join(app, 'check.ts'),
      [
        `import { version, createPasta, type PastaOptions, type PastaStats } from '${pkg.name}';`,
        'export const v: string = version;',
        "export const o: PastaOptions = { mtu: 1500, ports: { tcp: ['8080:80'] } };",
        'export const start: (opts?: PastaOptions) => Promise<{ stats(): PastaStats; close(): Promise<void> }> = createPasta;',
        '// @ts-expect-error: mtu is a number, and the types say so',
        "export const bad: PastaOptions = { mtu: '1500' };",
        '// @ts-expect-error: the package has no such export, and its types say so',
        `export { noSuchExport } from '${pkg.name}';`,
        '',
      ].join('\n'),
    );
    fs.writeFileSync(
      path.join(app, 'tsconfig.json'),
      // A TypeScript project for Node has Node's own types (@types/node); here the checkout's.
      JSON.stringify({
        compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, typeRoots: [path.join(root, 'node_modules', '@types')], types: ['node'] },
        files: ['check.ts'],
      }),
    );
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ ...JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8')), type: 'module' }, null, 2));
    // The checkout's TypeScript, so that nothing but the tarball and its dependencies is installed in app/.
    run('node', [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: app, env: userEnv() });
  });

  it('npx pasta --config-net -- true runs in a namespace of the test topology', async () => {
    topo = await createTopology();
    // nsenter and setpriv are found on our PATH; npx and what it runs only on the hidden one.
    const r = await topo.execHost(['env', `PATH=${hiddenPath}`, 'npx', 'pasta', '--config-net', '--', 'true'], {
      cwd: app,
      env: cleanEnv({ npm_config_update_notifier: 'false' }),
      timeoutMs: 60_000,
    });
    expect(r.stderr.toString()).not.toMatch(/pasta:|cannot load/);
    expect(r.code).toBe(0);
    expect(fs.existsSync(marker)).toBe(false);
  }, 120_000);
});
