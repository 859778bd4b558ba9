/**
 * Loading our modules with V8's code cache, for the background copy of an
 * attaching pasta, whose start-up a caller such as Podman waits for.
 *
 * Theory of operation: Node 20 compiles every ES module from source on every
 * start, and its loader spends as much again resolving URLs and reading
 * files asynchronously: for the 40-odd files the background copy needs,
 * some 20 ms of a start-up of well under 100. Node 20 has no compile cache
 * for ES modules (module.enableCompileCache came in Node 22), but
 * `vm.SourceTextModule` (behind --experimental-vm-modules, which
 * cli/background.cts gives the copy) takes V8 code cache data. So this file
 * is a small loader of its own for dist/: it reads each file synchronously,
 * compiles it as a SourceTextModule with its cached data, resolves relative
 * imports of .js files to our modules, and anything else (`node:` modules,
 * packages, .cjs files) to what `require` gives, wrapped as a
 * SyntheticModule; the modules' dynamic `import()`s are answered the same
 * way. Module semantics are V8's own: live bindings, top-level await,
 * `import.meta.url`.
 *
 * The cached data for dist/ is one file, dist/.code-cache, written after
 * each build by running this file (`node dist/cli/codecache.cjs`, which
 * needs no options: npm's "build:ts", "prepare" and "install" and
 * scripts/pretest.js do), and by a background copy that found it missing or
 * out of date, once it is ready, if it may write there. V8 checks that
 * cached data comes from the same V8 version and flags, but of the source
 * it checks only the length: data for an older version of a file of the
 * same length would run the old code. So the file holds each module's
 * source next to its data, and the data is used only when the source on
 * disk is byte for byte the same. Data V8 rejects anyway is ignored.
 * Anything else wrong with the cache file only means compiling from source.
 * One more exception: Node 20 loses the dynamic import callback of a module
 * compiled from cached data (nodejs/node#43663), so a module with an
 * `import()` of its own is always compiled from source. Without
 * vm.SourceTextModule (the option missing), a module is imported the
 * ordinary way.
 *
 * CommonJS (a .cts file), as is bin/pasta.js, which loads it: see
 * cli/background.cts.
 */
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** dist/, where this file is dist/cli/codecache.cjs. */
const distRoot = path.resolve(__dirname, '..');
/** The cache file. */
export const CODE_CACHE_FILE = path.join(distRoot, '.code-cache');
const MAGIC = 'node-passt code cache 1\n';

type Module = vm.SourceTextModule | vm.SyntheticModule;

interface CacheEntry {
  source: Buffer;
  data: Buffer;
}

/** The cache file's entries by path relative to dist/, or an empty map. */
function readCache(): Map<string, CacheEntry> {
  const entries = new Map<string, CacheEntry>();
  let file: Buffer;
  try {
    file = fs.readFileSync(CODE_CACHE_FILE);
  } catch {
    return entries;
  }
  try {
    if (file.toString('latin1', 0, MAGIC.length) !== MAGIC) return entries;
    const headerLength = file.readUInt32LE(MAGIC.length);
    const start = MAGIC.length + 4;
    const header = JSON.parse(file.toString('utf8', start, start + headerLength)) as {
      v8: string;
      modules: [name: string, sourceLength: number, dataLength: number][];
    };
    if (header.v8 !== process.versions.v8) return entries;
    let offset = start + headerLength;
    for (const [name, sourceLength, dataLength] of header.modules) {
      const source = file.subarray(offset, offset + sourceLength);
      const data = file.subarray(offset + sourceLength, offset + sourceLength + dataLength);
      offset += sourceLength + dataLength;
      if (data.length !== dataLength) break;
      entries.set(name, { source, data });
    }
  } catch {
    entries.clear();
  }
  return entries;
}

/** Write the cache file (atomically: a reader sees the old file or the new one). */
function writeCache(modules: Map<string, CacheEntry>): void {
  const list = [...modules].sort(([a], [b]) => (a < b ? -1 : 1));
  const header = Buffer.from(
    JSON.stringify({ v8: process.versions.v8, modules: list.map(([name, e]) => [name, e.source.length, e.data.length]) }),
  );
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  const parts: Buffer[] = [Buffer.from(MAGIC, 'latin1'), length, header];
  for (const [, e] of list) parts.push(e.source, e.data);
  const tmp = `${CODE_CACHE_FILE}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, Buffer.concat(parts), { mode: 0o644 });
    fs.renameSync(tmp, CODE_CACHE_FILE);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * A loader of dist/'s modules. `record`: create code cache data for every
 * module compiled without it, for `save()`.
 */
class Loader {
  private readonly cache: Map<string, CacheEntry>;
  private readonly modules = new Map<string, vm.SourceTextModule>();
  private readonly files = new WeakMap<Module, string>();
  private readonly builtins = new Map<string, vm.SyntheticModule>();
  /** How many modules were compiled from cached data. */
  fromCache = 0;
  /** Modules compiled from source (no usable cached data) and their fresh data, when recording. */
  readonly fresh = new Map<string, CacheEntry>();
  /** Links one graph at a time: two links running at once could each see the other's modules half linked. */
  private linking: Promise<unknown> = Promise.resolve();

  /** `record`: keep fresh cached data for `save()`; `useCache`: use the cache file's. */
  constructor(
    private readonly record: boolean,
    useCache = true,
  ) {
    this.cache = useCache ? readCache() : new Map();
  }

  /** The module of a file of dist/ (compiled, not yet linked). */
  private load(file: string): vm.SourceTextModule {
    let module = this.modules.get(file);
    if (module) return module;
    const name = path.relative(distRoot, file);
    const bytes = fs.readFileSync(file);
    const source = bytes.toString('utf8');
    // See the top of this file: no cached data for a module with an import() of its own.
    const cacheable = !/\bimport\s*\(/.test(source);
    const cached = cacheable ? this.cache.get(name) : undefined;
    const cachedData = cached && cached.source.equals(bytes) ? cached.data : undefined;
    const url = pathToFileURL(file).href;
    const options = {
      identifier: url,
      initializeImportMeta: (meta: ImportMeta) => {
        meta.url = url;
      },
      importModuleDynamically: ((specifier: string) => this.import(this.resolve(specifier, file))) as never,
    };
    let fromCache = false;
    try {
      module = new vm.SourceTextModule(source, { ...options, cachedData });
      fromCache = cachedData !== undefined;
    } catch (err) {
      if (!cachedData) throw err;
      // Rejected by V8 (another version or other flags): compile from source.
      module = new vm.SourceTextModule(source, options);
    }
    if (fromCache) this.fromCache++;
    else if (this.record && cacheable) {
      // Before the module runs: Node makes no cached data of a module that has been evaluated.
      this.fresh.set(name, { source: bytes, data: (module as unknown as { createCachedData(): Buffer }).createCachedData() });
    }
    this.modules.set(file, module);
    this.files.set(module, file);
    return module;
  }

  /** What `require` gives for `specifier` (a `node:` module, a package, a .cjs file), as an ES module. */
  private builtin(specifier: string): vm.SyntheticModule {
    let module = this.builtins.get(specifier);
    if (module) return module;
    const exports = require(specifier) as Record<string, unknown>;
    const names = [...new Set(['default', ...Object.keys(exports)])];
    module = new vm.SyntheticModule(
      names,
      function (this: vm.SyntheticModule) {
        for (const n of names) this.setExport(n, n === 'default' ? exports : exports[n]);
      },
      { identifier: specifier },
    );
    this.builtins.set(specifier, module);
    return module;
  }

  private resolve(specifier: string, from: string): Module {
    let file: string | undefined;
    if (specifier.startsWith('./') || specifier.startsWith('../') || specifier.startsWith('/')) file = path.resolve(path.dirname(from), specifier);
    else if (specifier.startsWith('file:')) file = fileURLToPath(specifier);
    // ES modules are ours to load; Node's modules, packages and CommonJS files are Node's.
    return file?.endsWith('.js') ? this.load(file) : this.builtin(file ?? specifier);
  }

  /** Link a module and its static imports (once). */
  async link(module: Module): Promise<void> {
    if (module.status !== 'unlinked') return;
    const link = this.linking.then(() =>
      module.status === 'unlinked' ? module.link((specifier, referrer) => this.resolve(specifier, this.files.get(referrer)!)) : undefined,
    );
    this.linking = link.catch(() => undefined);
    await link;
  }

  /** Link (once) and evaluate a module; resolves with it. */
  async import(module: Module): Promise<Module> {
    await this.link(module);
    await module.evaluate();
    return module;
  }

  /** Load, link and evaluate a file of dist/; resolves with its namespace. */
  async importFile(file: string): Promise<Record<string, unknown>> {
    return (await this.import(this.load(file))).namespace as Record<string, unknown>;
  }

  /** Compile and link a file's graph without running any of it (for `writeCodeCache`). */
  async linkFile(file: string): Promise<void> {
    await this.link(this.load(file));
  }

  /** Every module loaded so far, by file. */
  loaded(): Map<string, vm.SourceTextModule> {
    return this.modules;
  }

  /** Write the cache file with this run's fresh data and the still valid entries of the old one. */
  save(): void {
    const all = new Map<string, CacheEntry>();
    for (const [name, entry] of this.cache) {
      try {
        if (fs.readFileSync(path.join(distRoot, name)).equals(entry.source)) all.set(name, entry);
      } catch {
        // gone
      }
    }
    for (const [name, entry] of this.fresh) all.set(name, entry);
    writeCache(all);
  }
}

/** The Node options this file is run with, and a background copy (cli/background.cts) has. */
const OWN_NODE_OPTIONS = ['--experimental-vm-modules', '--no-warnings'];

/** Does this Node have vm.SourceTextModule (--experimental-vm-modules)? */
function haveVmModules(): boolean {
  return typeof (vm as { SourceTextModule?: unknown }).SourceTextModule === 'function';
}

/**
 * Import a file of dist/ (and everything it imports) with the code cache,
 * or the ordinary way without --experimental-vm-modules. When the cache
 * lacked some of the modules and this process runs with no Node options but
 * ours, `refresh()` (call it once start-up is done) writes a new cache file
 * if dist/ is writable; otherwise it does nothing. (Cached data is only
 * good for the V8 flags it was made with: those of `writeCodeCache` and the
 * background copy, which have only OWN_NODE_OPTIONS.)
 */
export async function importWithCodeCache<T>(file: string | URL): Promise<{ exports: T; refresh: () => void; fromCache: () => number }> {
  const filePath = file instanceof URL ? fileURLToPath(file) : file;
  if (!haveVmModules()) return { exports: (await import(pathToFileURL(filePath).href)) as T, refresh: () => {}, fromCache: () => 0 };
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(' ').filter(Boolean)];
  const ownOptionsOnly = given.every((a) => OWN_NODE_OPTIONS.includes(a));
  const loader = new Loader(ownOptionsOnly);
  const exports = (await loader.importFile(filePath)) as T;
  const refresh = (): void => {
    if (!loader.fresh.size) return;
    try {
      fs.accessSync(distRoot, fs.constants.W_OK);
      loader.save();
    } catch {
      // Not ours to write, or no room: the next start compiles from source again.
    }
    loader.fresh.clear();
  };
  return { exports, refresh, fromCache: () => loader.fromCache };
}

/**
 * Write dist/.code-cache for the modules of `entries` (files of dist/) and
 * all they import, statically or with `import('./literal.js')`. Runs no
 * module code. Needs --experimental-vm-modules; `node dist/cli/codecache.cjs`
 * runs it with that (see the end of this file).
 */
export async function writeCodeCache(entries: string[]): Promise<number> {
  if (!haveVmModules()) throw new Error('writeCodeCache needs node --experimental-vm-modules');
  const loader = new Loader(true, false);
  const queue = entries.map((e) => path.resolve(distRoot, e));
  const seen = new Set<string>();
  while (queue.length) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    await loader.linkFile(file);
    for (const [loaded] of loader.loaded()) {
      // Dynamic imports with a literal path: their graphs too.
      const text = fs.readFileSync(loaded, 'utf8');
      for (const m of text.matchAll(/\bimport\(\s*'(\.{1,2}\/[^']+\.js)'\s*\)/g)) {
        const target = path.resolve(path.dirname(loaded), m[1]);
        if (!seen.has(target) && fs.existsSync(target)) queue.push(target);
      }
    }
  }
  writeCache(loader.fresh);
  return loader.fresh.size;
}

/**
 * `node dist/cli/codecache.cjs [-v]`: write dist/.code-cache for what a
 * background pasta loads (cli/pasta.js and all it imports). Never fails
 * (exit 0): without the file pasta only starts some milliseconds slower. A
 * problem is reported in one line; `-v` says how many modules it holds.
 */
async function main(): Promise<void> {
  const verbose = process.argv.includes('-v');
  if (!haveVmModules()) {
    // Again, with the background copy's options.
    const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
    spawnSync(process.execPath, [...OWN_NODE_OPTIONS, __filename, ...process.argv.slice(2)], { stdio: 'inherit' });
    return;
  }
  try {
    const count = await writeCodeCache(['cli/pasta.js']);
    if (verbose) process.stdout.write(`code cache: ${count} modules in ${CODE_CACHE_FILE}\n`);
  } catch (err) {
    process.stderr.write(`code cache: ${CODE_CACHE_FILE} not written: ${(err as Error).message}\n`);
  }
}

if (require.main === module) void main();
